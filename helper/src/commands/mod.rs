//! One module per subcommand, and what they share: loading the
//! configuration and getting ready to touch snapshots.

pub mod cleanup;
pub mod config;
pub mod forget;
pub mod operation;
pub mod restic;
pub mod restore;
mod serve;
pub mod watch;

use std::path::{Path, PathBuf};
use std::time::Duration;

use igotchuu_dbus::Operation;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch as channel;

use crate::cli::Cli;
use crate::config::Config;
use crate::exit;
use crate::i18n::{fill, gettext};
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

/// What every run needs and blocks nobody: the configuration and where the
/// state lives.
struct Setup {
    config: Config,
    state_dir: PathBuf,
}

/// What a run holds from its start to its end: the run lock, and the
/// journal read under it. Taking it is what makes another run wait.
struct Claim {
    _lock: RunLock,
    journal: Journal,
}

/// Why a run could not be claimed.
#[derive(Debug, thiserror::Error)]
enum ClaimError {
    /// Another run holds the lock.
    #[error(transparent)]
    Busy(LockError),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Stopped(LockError),
}

impl ClaimError {
    /// Says why on stderr; returns the exit code.
    fn report(&self) -> u8 {
        eprintln!("igotchuu: {self}");
        match self {
            ClaimError::Busy(_) => exit::BUSY,
            ClaimError::Failed(_) => exit::FAILED,
            ClaimError::Stopped(_) => exit::STOPPED,
        }
    }
}

fn setup(cli: &Cli) -> Result<Setup, u8> {
    let config = load_config(cli)?;
    let state_dir = state::state_dir();
    create_state_dir(&state_dir).map_err(|e| fail(format!("{}: {e}", state_dir.display())))?;
    Ok(Setup { config, state_dir })
}

fn claim(state_dir: &Path) -> Result<Claim, ClaimError> {
    claimed(state_dir, RunLock::acquire(state_dir))
}

/// The claim of an operation that waits its turn: up to `wait_timeout`
/// while another run holds the lock, saying once that it waits and what
/// for. A stop ends the wait.
async fn claim_waiting(
    state_dir: &Path,
    wait_timeout: Option<Duration>,
    operation: Operation,
    stop: channel::Receiver<bool>,
) -> Result<Claim, ClaimError> {
    let say = || {
        let limit = wait_timeout.map_or(0, |d| d.as_secs());
        let limit = crate::output::format::duration(limit);
        // The journal's line stays English; the terminal's is the reader's.
        tracing::info!(
            "waiting for the igotchuu run in progress to end before this {operation} starts \
             (at most {limit}; wait_timeout sets this)…"
        );
        eprintln!(
            "igotchuu: {}",
            fill(&waiting_note(operation), &[("limit", &limit)])
        );
    };
    let lock = RunLock::acquire_waiting(state_dir, wait_timeout, say, stop).await;
    claimed(state_dir, lock)
}

/// What a run that waits for the run lock says on the terminal.
fn waiting_note(operation: Operation) -> String {
    match operation {
        // xgettext: A backup waits for another run; {limit} is how long at most, e.g. "1h0m". wait_timeout is a configuration key.
        Operation::Backup => gettext("waiting for the igotchuu run in progress to end before this backup starts (at most {limit}; wait_timeout sets this)…"),
        // xgettext: A forget (of old snapshots) waits for another run; {limit} is how long at most, e.g. "1h0m". wait_timeout is a configuration key.
        Operation::Forget => gettext("waiting for the igotchuu run in progress to end before this forget starts (at most {limit}; wait_timeout sets this)…"),
        // xgettext: A prune of the repository waits for another run; {limit} is how long at most, e.g. "1h0m". wait_timeout is a configuration key.
        Operation::Prune => gettext("waiting for the igotchuu run in progress to end before this prune starts (at most {limit}; wait_timeout sets this)…"),
        // xgettext: A check of the repository waits for another run; {limit} is how long at most, e.g. "1h0m". wait_timeout is a configuration key.
        Operation::Check => gettext("waiting for the igotchuu run in progress to end before this check starts (at most {limit}; wait_timeout sets this)…"),
        // xgettext: A restore waits for another run; {limit} is how long at most, e.g. "1h0m". wait_timeout is a configuration key.
        Operation::Restore => gettext("waiting for the igotchuu run in progress to end before this restore starts (at most {limit}; wait_timeout sets this)…"),
    }
}

fn claimed(state_dir: &Path, lock: Result<RunLock, LockError>) -> Result<Claim, ClaimError> {
    let lock = lock.map_err(|e| match e {
        LockError::Busy(_) | LockError::WaitedTooLong { .. } => ClaimError::Busy(e),
        LockError::Stopped => ClaimError::Stopped(e),
        LockError::Io { .. } => ClaimError::Failed(e.to_string()),
    })?;
    let journal = Journal::open(state_dir).map_err(|e| ClaimError::Failed(e.to_string()))?;
    Ok(Claim {
        _lock: lock,
        journal,
    })
}

/// Everything before a cleanup: refusals, the lock (no waiting), the
/// namespace. It all happens while the process has one thread, as
/// `unshare` requires.
fn prepare(cli: &Cli) -> Result<(Setup, Claim), u8> {
    let setup = setup(cli)?;
    let claim = claim(&setup.state_dir).map_err(|e| e.report())?;
    namespace::enter_private().map_err(fail)?;
    Ok((setup, claim))
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

/// SIGINT, SIGTERM and SIGHUP ask the run to stop in order: restic gets
/// SIGINT and is waited for, then the snapshots are deleted. A run that
/// waits for the lock or the run conditions stops waiting.
fn stop_on_signals(stop: &channel::Sender<bool>) {
    for kind in [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ] {
        let mut stream = signal(kind).expect("signal handler");
        let stop = stop.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                tracing::info!("stop requested by signal");
                stop.send_replace(true);
            }
        });
    }
}
