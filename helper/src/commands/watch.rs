//! `igotchuu watch`: follow a backup on the system bus and print it as
//! `igotchuu backup` does on a terminal, then exit with the run's exit
//! code. `--start` first asks for a backup now, as "Back up now" does (a
//! `Start` call, which may D-Bus-activate the helper). Needs no privileges:
//! the bus lets anyone listen, and polkit decides about `Start`.

use std::time::Duration;

use futures_lite::StreamExt;
use igotchuu_dbus::errors::Error as CallError;
use igotchuu_dbus::proxy::{Igotchuu1Proxy, AUTH_CALL_TIMEOUT};
use igotchuu_dbus::signal::{self, HelperSignal, Properties};
use tokio::time::Instant;
use zbus::names::OwnedUniqueName;

use crate::events::EventSink;
use crate::exit;
use crate::follow::{Follower, Heard};
use crate::output::terminal::TerminalPrinter;

/// With `--start` and no `--timeout`: how long the run may take to begin
/// after the helper accepted Start.
pub const START_LIMIT: Duration = Duration::from_secs(60);
/// Reading properties is quick; a helper that takes longer is stuck.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages held for this client while it reads properties.
const QUEUE: usize = 1024;

/// What `igotchuu watch` was asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Ask for a backup now (polkit action `com.nyantec.igotchuu.start`).
    pub start: bool,
    /// Give up when no run is under way within this long.
    pub timeout: Option<Duration>,
}

/// Why watching could not even begin, or ended without an outcome.
#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error("cannot reach the system bus: {0}")]
    Bus(#[from] zbus::Error),
    #[error("lost the system bus while following the backup")]
    Lost,
    #[error("cannot start a backup: {0}")]
    Start(CallError),
    #[error("no backup began within {} s", .0.as_secs())]
    Timeout(Duration),
}

pub fn run(options: Options) -> u8 {
    super::runtime().block_on(async {
        match watch(options).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("igotchuu: {e}");
                exit::UNAVAILABLE
            }
        }
    })
}

async fn watch(options: Options) -> Result<u8, WatchError> {
    let conn = zbus::connection::Builder::system()?
        .method_timeout(AUTH_CALL_TIMEOUT)
        .max_queued(QUEUE)
        .build()
        .await?;
    let (mut messages, mut owner) = signal::subscribe(&conn).await?;
    let mut follower = Follower::default();
    let mut printer = TerminalPrinter::new();
    let mut show = |follower: &mut Follower, heard: Heard| {
        for event in follower.feed(heard) {
            printer.handle(&event);
        }
    };
    if let Some(o) = &owner {
        if let Some(p) = read(&conn, o).await {
            show(&mut follower, Heard::Joined(p));
        }
    }

    let timeout = options.timeout.or(options.start.then_some(START_LIMIT));
    if options.start {
        start(&conn, follower.run_open()).await?;
    } else if !follower.run_open() {
        println!("Waiting for a backup to start…");
    }
    let deadline = timeout.map(|t| Instant::now() + t);

    loop {
        let next = messages.next();
        let msg = match deadline.filter(|_| !follower.run_open()) {
            Some(at) => tokio::time::timeout_at(at, next)
                .await
                .map_err(|_| WatchError::Timeout(timeout.unwrap_or_default()))?,
            None => next.await,
        };
        let msg = match msg {
            Some(Ok(msg)) => msg,
            Some(Err(_)) | None => return Err(WatchError::Lost),
        };
        if let Some(new_owner) = signal::owner_change(&msg) {
            if owner.is_some() && new_owner != owner {
                show(&mut follower, Heard::Gone);
            }
            owner = new_owner;
        } else if signal::from_owner(&msg, owner.as_deref()) {
            match signal::parse(&msg) {
                Ok(Some(HelperSignal::BackupStarted)) => {
                    let heard = match owner.as_ref() {
                        Some(o) => read(&conn, o).await.map(Heard::Started),
                        None => None,
                    };
                    let heard = heard.unwrap_or(Heard::Signal(HelperSignal::BackupStarted));
                    show(&mut follower, heard);
                }
                Ok(Some(s)) => show(&mut follower, Heard::Signal(s)),
                Ok(None) => {}
                Err(e) => tracing::warn!("ignoring a malformed signal from the helper: {e}"),
            }
        }
        if let Some(outcome) = follower.finished() {
            return Ok(exit::for_outcome(outcome));
        }
    }
}

/// "Back up now". A backup already under way is followed instead.
async fn start(conn: &zbus::Connection, following: bool) -> Result<(), WatchError> {
    // Not on a proxy that caches properties: reading them on the
    // well-known name would start the helper by itself.
    let helper = Igotchuu1Proxy::builder(conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?;
    match helper.start().await {
        Ok(()) => Ok(()),
        Err(CallError::AlreadyRunning(_)) => {
            if !following {
                println!("A backup is already running; following it.");
            }
            Ok(())
        }
        Err(e) => Err(WatchError::Start(e)),
    }
}

/// The helper's properties, or `None` (with a note) when they cannot be
/// read in time: its signals still tell the run.
async fn read(conn: &zbus::Connection, owner: &OwnedUniqueName) -> Option<Properties> {
    match tokio::time::timeout(READ_TIMEOUT, Properties::read(conn, owner)).await {
        Ok(Ok(p)) => Some(p),
        Ok(Err(e)) => {
            tracing::info!("cannot read the helper's properties: {e}");
            None
        }
        Err(_) => {
            tracing::info!("the helper did not answer a property read within {READ_TIMEOUT:?}");
            None
        }
    }
}
