//! `igotchuu watch`: follow a backup (or a forget, prune or check) on the
//! system bus and print it as `igotchuu backup` does on a terminal, then
//! exit with the run's exit code. A scheduled run that is postponed is
//! said, and waited for. `--start` first asks for a backup now, as "Back up now" does (a
//! `Start` call, which may D-Bus-activate the helper). Needs no privileges:
//! the bus lets anyone listen, and polkit decides about `Start`.
//!
//! It follows any helper that speaks the interface, the original one too,
//! by the desktop's rules ([`igotchuu_dbus::follow`]): a run whose helper
//! left without `BackupFinished` ends as its history record says (only a
//! record that is provably that run's), as completed if restic's summary
//! was heard, or else with an unknown outcome: exit
//! [`exit::OUTCOME_UNKNOWN`].

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_lite::StreamExt;
use igotchuu_dbus::errors::Error as CallError;
use igotchuu_dbus::follow::Input;
use igotchuu_dbus::history::{self, History};
use igotchuu_dbus::proxy::{Igotchuu1Proxy, AUTH_CALL_TIMEOUT};
use igotchuu_dbus::signal::{self, HelperSignal, Properties};
use igotchuu_dbus::{Operation, Outcome, Summary};
use tokio::time::Instant;
use zbus::names::OwnedUniqueName;

use crate::events::{Event, EventSink};
use crate::exit;
use crate::follow::{Ended, RunFollower};
use crate::i18n::{fill, gettext, ngettext_n};
use crate::output::terminal::{print_summary, TerminalPrinter};

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
#[derive(Debug)]
enum WatchError {
    Bus(zbus::Error),
    Lost,
    Start(CallError),
    Timeout(Duration),
}

impl From<zbus::Error> for WatchError {
    fn from(e: zbus::Error) -> Self {
        WatchError::Bus(e)
    }
}

impl std::fmt::Display for WatchError {
    /// In the person's language; the bus's own errors stay as zbus and
    /// polkit word them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            WatchError::Bus(e) => fill(
                // xgettext: {error} is the D-Bus library's reason, in English.
                &gettext("cannot reach the system bus: {error}"),
                &[("error", &e.to_string())],
            ),
            WatchError::Lost => gettext("lost the system bus while following the backup"),
            WatchError::Start(e) => fill(
                // xgettext: {error} is the helper's or polkit's reason, in English.
                &gettext("cannot start a backup: {error}"),
                &[("error", &e.to_string())],
            ),
            WatchError::Timeout(t) => ngettext_n(
                // xgettext: watch --timeout: no backup began within {n} seconds.
                "no backup began within {n} s",
                "no backup began within {n} s",
                t.as_secs(),
                &t.as_secs().to_string(),
            ),
        };
        f.write_str(&text)
    }
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
    let mut follower = RunFollower::default();
    let mut printer = TerminalPrinter::new();
    let mut show = |follower: &mut RunFollower, inputs: Vec<Input>| {
        for event in follower.feed(inputs, unix_now()) {
            if let (Event::Finished(_), Some(s)) = (&event, follower.summary_without_size()) {
                print_summary_without_size(s);
            }
            printer.handle(&event);
        }
    };
    show(&mut follower, vec![Input::BusUp]);
    if let Some(o) = &owner {
        if let Some(properties) = read(&conn, o).await {
            // No run is open yet: nothing the history could end.
            let present = Input::HelperPresent {
                properties,
                history: None,
            };
            show(&mut follower, vec![present]);
        }
    }

    let timeout = options.timeout.or(options.start.then_some(START_LIMIT));
    if options.start {
        start(&conn, follower.run_open()).await?;
    } else if !follower.run_open() {
        println!("{}", gettext("Waiting for a backup to start…"));
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
                let history = history_if(follower.wants_history());
                show(&mut follower, vec![Input::HelperGone { history }]);
            }
            owner = new_owner;
        } else if signal::from_owner(&msg, owner.as_deref()) {
            match signal::parse(&msg) {
                Ok(Some(HelperSignal::BackupStarted)) => {
                    // With the places, if the helper has them; the phase
                    // comes from the signals that follow, in their order,
                    // not from the read (which may already be ahead).
                    let mut inputs = vec![Input::Signal(HelperSignal::BackupStarted)];
                    if let Some(o) = owner.as_ref() {
                        if let Some(p) = read(&conn, o).await {
                            inputs.push(Input::Signal(HelperSignal::PropertiesChanged(
                                Properties {
                                    phase: None,
                                    progress: None,
                                    ..p
                                },
                            )));
                        }
                    }
                    show(&mut follower, inputs);
                }
                Ok(Some(s)) => {
                    if let Some(line) = postponed_line(&s) {
                        clear_live_line();
                        println!("{line}");
                    }
                    if let Some(name) = s.unknown_outcome() {
                        tracing::warn!(
                            "the helper sent an outcome this version does not know ({name:?}); \
                             taking it as failed"
                        );
                    }
                    show(&mut follower, vec![Input::Signal(s)]);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("ignoring a malformed signal from the helper: {e}"),
            }
        }
        match follower.ended() {
            Some(Ended::Outcome(outcome)) => return Ok(exit::for_outcome(*outcome)),
            Some(Ended::Unknown(why)) => {
                clear_live_line();
                // xgettext: {why} says why watch could not learn how the run ended (in English).
                let line = fill(&gettext("Ended, outcome unknown: {why}"), &[("why", why)]);
                println!("{line}");
                let _ = std::io::stdout().flush();
                return Ok(exit::OUTCOME_UNKNOWN);
            }
            None => {}
        }
    }
}

/// "Backup postponed: the computer is on battery; …", for a scheduled
/// operation that waits for a run condition: it did not begin, and watch
/// waits on for it.
fn postponed_line(s: &HelperSignal) -> Option<String> {
    let HelperSignal::OperationFinished {
        operation,
        outcome,
        reason,
    } = s
    else {
        return None;
    };
    if outcome.parse::<Outcome>().ok()? != Outcome::Postponed {
        return None;
    }
    let what = match operation.parse::<Operation>().ok()? {
        Operation::Backup => gettext("Backup"),
        Operation::Forget => gettext("Forgetting old snapshots"),
        Operation::Prune => gettext("Removing unused data"),
        Operation::Check => gettext("Repository check"),
        Operation::Restore => gettext("Restore"),
    };
    let reason = reason.trim();
    let reason = reason.strip_prefix("Postponed:").unwrap_or(reason).trim();
    Some(if reason.is_empty() {
        fill(
            // xgettext: {operation} is "Backup", "Repository check", …; watch waits until it runs.
            &gettext("{operation} postponed; waiting for it"),
            &[("operation", &what)],
        )
    } else {
        fill(
            // xgettext: {operation} is "Backup", "Repository check", …; {reason} is the helper's, in English.
            &gettext("{operation} postponed: {reason}"),
            &[("operation", &what), ("reason", reason)],
        )
    })
}

/// restic's summary as `igotchuu backup` prints it, from the original
/// helper, which does not say how much data was added: "unknown", not 0 B.
fn print_summary_without_size(s: &Summary) {
    clear_live_line();
    print_summary(s, false);
}

/// Clears the printer's live progress line on a terminal, before a line
/// of our own.
fn clear_live_line() {
    if std::io::stdout().is_terminal() {
        print!("\r\x1b[2K");
    }
}

/// The run history, when the follower may need it to learn how a run
/// ended. Read at once: it is small and bounded, and watch waits for it.
fn history_if(wanted: bool) -> Option<History> {
    if !wanted {
        return None;
    }
    let dir = history::state_dir();
    match history::read(&dir) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::info!("{e}");
            None
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
                println!("{}", gettext("A backup is already running; following it."));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postponed_operation_is_said() {
        let postponed = |op: &str, reason: &str| HelperSignal::OperationFinished {
            operation: op.into(),
            outcome: "postponed".into(),
            reason: reason.into(),
        };
        assert_eq!(
            postponed_line(&postponed(
                "backup",
                "Postponed: the computer is on battery; it runs when it is plugged in"
            ))
            .as_deref(),
            Some("Backup postponed: the computer is on battery; it runs when it is plugged in")
        );
        assert_eq!(
            postponed_line(&postponed("check", "")).as_deref(),
            Some("Repository check postponed; waiting for it")
        );
        let failed = HelperSignal::OperationFinished {
            operation: "check".into(),
            outcome: "failed".into(),
            reason: "x".into(),
        };
        assert_eq!(postponed_line(&failed), None);
        assert_eq!(postponed_line(&HelperSignal::BackupStarted), None);
    }
}
