//! One module per subcommand, and what they share: loading the
//! configuration and getting ready to touch snapshots.

pub mod backup;
pub mod cleanup;
pub mod config;
pub mod restic;
pub mod watch;

use std::path::{Path, PathBuf};

use crate::cli::Cli;
use crate::config::Config;
use crate::exit;
use crate::namespace;
use crate::state::{self, journal::Journal, lock::LockError, lock::RunLock};

fn load_config(cli: &Cli) -> Result<Config, u8> {
    Config::load(&cli.config, cli.profile.as_deref()).map_err(|e| {
        eprintln!("igotchuu: {e}");
        exit::CONFIG
    })
}

fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("igotchuu: {message}");
    exit::FAILED
}

/// What a run holds from start to end.
struct Prepared {
    config: Config,
    state_dir: PathBuf,
    _lock: RunLock,
    journal: Journal,
}

/// Everything before a run: refusals, the lock, the namespace. It all
/// happens while the process has one thread, as `unshare` requires.
fn prepare(cli: &Cli) -> Result<Prepared, u8> {
    let config = load_config(cli)?;
    let state_dir = state::state_dir();
    create_state_dir(&state_dir).map_err(|e| fail(format!("{}: {e}", state_dir.display())))?;
    let lock = RunLock::acquire(&state_dir).map_err(|e| match e {
        LockError::Busy(_) => {
            eprintln!("igotchuu: {e}");
            exit::BUSY
        }
        LockError::Io { .. } => fail(e),
    })?;
    let journal = Journal::open(&state_dir).map_err(fail)?;
    namespace::enter_private().map_err(fail)?;
    Ok(Prepared {
        config,
        state_dir,
        _lock: lock,
        journal,
    })
}

fn create_state_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    // Readable by all: the desktop reads the run history from here.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
}

fn runtime() -> tokio::runtime::Runtime {
    // One thread: restic's parent-death signal follows the thread that
    // spawned it, and this way that thread lives as long as the process.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
