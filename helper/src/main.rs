//! `igotchuu`: consistent restic backups of btrfs subvolumes.

mod btrfs;
mod cli;
mod config;
mod events;
mod exit;
mod namespace;
mod output;
mod priority;
mod restic;
mod run;
mod snapshots;
mod state;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use cli::{Cli, Command};
use config::Config;
use events::EventBus;
use state::journal::Journal;
use state::lock::{LockError, RunLock};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let code = match &cli.command {
        Command::Backup => backup(&cli),
        Command::Cleanup => cleanup(&cli),
        Command::CheckConfig => check_config(&cli),
        Command::Restic { args } => {
            let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
            exec_restic(&cli, &args)
        }
        Command::Mount { target } => exec_restic(&cli, &["mount".as_ref(), target.as_os_str()]),
    };
    ExitCode::from(code)
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("IGOTCHUU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
}

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

/// Everything before the run: refusals, the lock, the namespace. All of it
/// happens while the process has one thread, as `unshare` requires.
fn prepare(cli: &Cli) -> Result<(Config, std::path::PathBuf, RunLock, Journal), u8> {
    let config = load_config(cli)?;
    let dir = state::state_dir();
    create_state_dir(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
    let lock = RunLock::acquire(&dir).map_err(|e| match e {
        LockError::Busy(_) => {
            eprintln!("igotchuu: {e}");
            exit::BUSY
        }
        LockError::Io { .. } => fail(e),
    })?;
    let journal = Journal::open(&dir).map_err(fail)?;
    namespace::enter_private().map_err(fail)?;
    Ok((config, dir, lock, journal))
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

fn backup(cli: &Cli) -> u8 {
    let (config, dir, _lock, journal) = match prepare(cli) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let outcome = runtime().block_on(async {
        let stop = stop_on_signals();
        let mut events = EventBus::default();
        events.subscribe(Box::new(output::terminal::TerminalPrinter::new()));
        events.subscribe(Box::new(output::history::HistorySink::new(dir)));
        run::backup(&config, journal, &mut events, stop).await
    });
    exit::for_outcome(outcome)
}

/// SIGINT, SIGTERM and SIGHUP ask the run to stop in order: restic gets
/// SIGINT and is waited for, then the snapshots are deleted.
fn stop_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    for kind in [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ] {
        let mut stream = signal(kind).expect("signal handler");
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                tracing::info!("stop requested by signal");
                let _ = tx.send(true);
            }
        });
    }
    rx
}

fn cleanup(cli: &Cli) -> u8 {
    let (config, _dir, _lock, mut journal) = match prepare(cli) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let before = journal.entries().len();
    let mut notices = snapshots::remove_stale(&mut journal, false);
    if !journal.entries().is_empty() {
        if let Some(argv) = &config.exec_before_snapshot {
            // The stale snapshots may live where only this command mounts.
            let status = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .status();
            if !status.is_ok_and(|s| s.success()) {
                return fail(format!("exec_before_snapshot {argv:?} failed"));
            }
        }
        notices.extend(snapshots::remove_stale(&mut journal, true));
    }
    let mut left = 0;
    for n in notices {
        match n {
            events::Notice::StaleSnapshotRemoved { path } => println!("Removed {}", path.display()),
            events::Notice::SnapshotLeft { path, error } => {
                left += 1;
                eprintln!("igotchuu: cannot delete {}: {error}", path.display());
            }
            _ => {}
        }
    }
    if before == 0 {
        println!("No snapshots left behind; nothing to do.");
    }
    if left > 0 {
        exit::FAILED
    } else {
        exit::COMPLETED
    }
}

fn check_config(cli: &Cli) -> u8 {
    match load_config(cli) {
        Ok(config) => {
            println!("# {} is valid. Effective settings:", cli.config.display());
            print!("{config}");
            exit::COMPLETED
        }
        Err(code) => code,
    }
}

/// Replaces this process with restic, configured; it keeps the terminal.
fn exec_restic(cli: &Cli, args: &[&std::ffi::OsStr]) -> u8 {
    let config = match load_config(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut cmd = restic::command::restic(&config, &[]);
    cmd.args(args);
    let err = cmd.exec();
    fail(restic::failure::ResticFailure::from_spawn_error(&err))
}
