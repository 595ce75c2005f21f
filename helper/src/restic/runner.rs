//! Running `restic backup --json` as a child that can never outlive us,
//! and turning what it prints into events.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use igotchuu_dbus::history::ITEM_ERRORS_RECORDED;
use igotchuu_dbus::{ItemError, Phase, Summary};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncRead;
use tokio::sync::{mpsc, watch};

use super::failure::StderrTail;
use super::lines::BoundedLines;
use super::message::{parse_line, skipped_target, ExitError, Message, Parsed};
use crate::events::{Event, EventBus};
use crate::priority;

/// restic's default of 60 status lines a second is far more than anyone can
/// read; a lower rate saves CPU in restic and here. An explicit
/// `RESTIC_PROGRESS_FPS` in the environment wins.
const PROGRESS_FPS: &str = "10";
/// How long to keep reading after restic exited, for a grandchild (ssh,
/// rclone) that still holds the pipes.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// Lines in flight between the pipe readers and the run.
const CHANNEL_DEPTH: usize = 64;
/// How long a stalled restic gets to act on SIGINT before it is killed: it
/// tries to remove its lock from a repository that may not answer any more.
const STALL_GRACE: Duration = Duration::from_secs(60);
/// How long restic gets to end after a Stop: removing its lock takes a
/// moment, but a dead server would make it retry for ever. Well within the
/// units' TimeoutStopSec=, so that the snapshots are still deleted.
const STOP_GRACE: Duration = Duration::from_secs(120);

/// What restic did.
pub struct ResticRun {
    pub status: ExitStatus,
    pub summary: Option<Summary>,
    pub error_count: u64,
    pub item_errors: Vec<ItemError>,
    pub exit_error: Option<ExitError>,
    pub stderr_tail: StderrTail,
    /// A stop was requested (and SIGINT sent) while restic ran.
    pub stop_sent: bool,
    /// restic made no progress for this long and was stopped.
    pub stalled: Option<Duration>,
    /// A stalled restic did not end after SIGINT and was killed.
    pub killed: bool,
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Spawns `cmd` (a `restic backup --json`) and follows it to its end.
/// When `stop` turns true, restic gets SIGINT and is waited for: never
/// SIGKILL, which would leave a stale repository lock. When restic makes
/// no progress for `stall` (a repository that stopped answering), it gets
/// SIGINT too, and SIGKILL if that does not end it: a run must not hold
/// the snapshots, the run lock and the sleep inhibitor for ever.
pub async fn run(
    cmd: std::process::Command,
    events: &mut EventBus,
    mut stop: watch::Receiver<bool>,
    stall: Option<Duration>,
) -> io::Result<ResticRun> {
    let mut cmd = tokio::process::Command::from(cmd);
    if std::env::var_os("RESTIC_PROGRESS_FPS").is_none() {
        cmd.env("RESTIC_PROGRESS_FPS", PROGRESS_FPS);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    priority::restic_child(&mut cmd);
    let mut child = cmd.spawn()?;
    let guard = ChildGuard::new(child.id());

    let (tx, mut rx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::spawn(forward(child.stdout.take(), Stream::Stdout, tx.clone()));
    tokio::spawn(forward(child.stderr.take(), Stream::Stderr, tx));

    let mut run = ResticRun {
        status: ExitStatus::from_raw(0),
        summary: None,
        error_count: 0,
        item_errors: Vec::new(),
        exit_error: None,
        stderr_tail: StderrTail::default(),
        stop_sent: false,
        stalled: None,
        killed: false,
    };
    let mut status = None;
    let mut pipes_open = true;
    let drain = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drain);
    let mut watchdog = Watchdog::new(stall);
    let stalled = tokio::time::sleep_until(watchdog.deadline());
    tokio::pin!(stalled);
    loop {
        tokio::select! {
            line = rx.recv(), if pipes_open => match line {
                Some((stream, text)) => {
                    let seen = run.take_line(stream, &text, events);
                    let interrupted = run.stalled.is_some() || run.stop_sent;
                    if watchdog.saw(seen) && !interrupted {
                        stalled.as_mut().reset(watchdog.deadline());
                    }
                }
                None => pipes_open = false,
            },
            () = &mut stalled, if status.is_none() => {
                if run.stalled.is_none() && !run.stop_sent {
                    let limit = stall.expect("no deadline without a limit");
                    tracing::warn!(
                        "restic made no progress for {} s; stopping it",
                        limit.as_secs()
                    );
                    run.stalled = Some(limit);
                    events.publish(Event::PhaseChanged(Phase::Stopping));
                    guard.interrupt();
                    stalled.as_mut().reset(tokio::time::Instant::now() + STALL_GRACE.min(limit));
                } else if !run.killed {
                    tracing::warn!(
                        "restic did not end after SIGINT; killing it (its repository \
                         lock may stay: `igotchuu restic -- unlock` removes it)"
                    );
                    events.publish(Event::PhaseChanged(Phase::Stopping));
                    run.killed = true;
                    guard.kill();
                }
            }
            exited = child.wait(), if status.is_none() => {
                status = Some(exited?);
                drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            changed = stop.changed(), if !run.stop_sent => {
                if changed.is_err() || *stop.borrow() {
                    run.stop_sent = true;
                    events.publish(Event::PhaseChanged(Phase::Stopping));
                    guard.interrupt();
                    if run.stalled.is_none() {
                        stalled.as_mut().reset(tokio::time::Instant::now() + STOP_GRACE);
                    }
                }
            }
            () = &mut drain => break,
        }
        if status.is_some() && !pipes_open {
            break;
        }
    }
    guard.disarm();
    run.status = status.expect("loop ends only after restic exited");
    Ok(run)
}

impl ResticRun {
    /// Handles one line, and says what it was to the watchdog.
    fn take_line(&mut self, stream: Stream, text: &str, events: &mut EventBus) -> Seen {
        match parse_line(text) {
            // restic repeats its status at a fixed rate, also while it
            // waits for a repository that does not answer.
            Parsed::Message(Message::Status(progress)) => {
                let done = Done::of(&progress);
                events.publish(Event::Progress(progress));
                return Seen::Status(done);
            }
            Parsed::Message(Message::Summary(summary)) => self.summary = Some(summary),
            Parsed::Message(Message::Error(item)) => self.item_error(item, events),
            Parsed::Message(Message::ExitError(e)) => self.exit_error = Some(e),
            Parsed::Message(Message::VerboseStatus(v)) => tracing::debug!("{v:?}"),
            Parsed::Text(line) => match stream {
                Stream::Stderr if skipped_target(&line).is_some() => {
                    tracing::warn!("restic: {line}");
                    self.item_error(skipped_target(&line).expect("checked"), events);
                }
                // Complaints such as "Load(…) returned error, retrying
                // after …": a restic that only retries is not getting on.
                Stream::Stderr => {
                    tracing::warn!("restic: {line}");
                    self.stderr_tail.push(&line);
                    return Seen::Complaint;
                }
                Stream::Stdout => tracing::info!("restic: {line}"),
            },
            Parsed::Ignored { message_type } => {
                tracing::debug!("ignoring restic message of type {message_type:?}")
            }
            Parsed::Malformed(why) => tracing::warn!("skipping a restic line: {why}"),
        }
        Seen::Other
    }
}

/// What a line of restic's showed.
enum Seen {
    Status(Done),
    /// A plain line on stderr: an error, or a retry.
    Complaint,
    Other,
}

/// The counts of a status line that grow while restic gets on: scanning
/// (totals), reading (done), or finding errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    files: (u64, u64),
    bytes: (u64, u64),
    errors: u64,
}

impl Done {
    fn of(p: &igotchuu_dbus::Progress) -> Self {
        Done {
            files: (p.files_done, p.total_files),
            bytes: (p.bytes_done, p.total_bytes),
            errors: p.error_count,
        }
    }
}

/// When restic counts as stalled: `limit` after the last sign of progress,
/// which is any line but a status line that repeats the one before.
struct Watchdog {
    limit: Option<Duration>,
    last: tokio::time::Instant,
    last_done: Option<Done>,
}

impl Watchdog {
    fn new(limit: Option<Duration>) -> Self {
        Watchdog {
            limit,
            last: tokio::time::Instant::now(),
            last_done: None,
        }
    }

    /// Takes note of a line; says whether it was progress.
    fn saw(&mut self, seen: Seen) -> bool {
        let progress = match seen {
            Seen::Status(done) => self.last_done.replace(done) != Some(done),
            Seen::Complaint => false,
            Seen::Other => true,
        };
        if progress {
            self.last = tokio::time::Instant::now();
        }
        progress
    }

    fn deadline(&self) -> tokio::time::Instant {
        match self.limit {
            // Far enough to never come, near enough not to overflow.
            None => self.last + Duration::from_secs(100 * 365 * 24 * 3600),
            Some(limit) => self.last + limit,
        }
    }
}

impl ResticRun {
    fn item_error(&mut self, item: ItemError, events: &mut EventBus) {
        self.error_count += 1;
        if self.item_errors.len() < ITEM_ERRORS_RECORDED {
            self.item_errors.push(item.clone());
        }
        events.publish(Event::ItemError(item));
    }
}

async fn forward(
    pipe: Option<impl AsyncRead + Unpin>,
    stream: Stream,
    tx: mpsc::Sender<(Stream, String)>,
) {
    let Some(pipe) = pipe else { return };
    let mut lines = BoundedLines::new(pipe);
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                if line.truncated {
                    tracing::warn!("a restic output line was too long and was cut");
                }
                if tx.send((stream, line.text)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("reading restic's output: {e}");
                return;
            }
        }
    }
}

/// Interrupts restic and waits for it if the run is unwound (a panic)
/// while restic still runs, so that snapshots are deleted only after
/// restic has let go of them.
pub(super) struct ChildGuard(Option<Pid>);

impl ChildGuard {
    /// Guards the child with this process id (`None`: it has exited).
    pub(super) fn new(id: Option<u32>) -> Self {
        ChildGuard(id.map(|id| Pid::from_raw(id as i32)))
    }

    pub(super) fn interrupt(&self) {
        if let Some(pid) = self.0 {
            let _ = kill(pid, Signal::SIGINT);
        }
    }

    /// SIGKILL, for a restic that does not end on SIGINT.
    pub(super) fn kill(&self) {
        if let Some(pid) = self.0 {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }

    pub(super) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            self.interrupt();
            let _ = nix::sys::wait::waitpid(pid, None);
        }
    }
}

/// A short description of how restic ended, for messages.
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(files_done: u64, bytes_done: u64) -> Seen {
        Seen::Status(Done::of(&igotchuu_dbus::Progress {
            files_done,
            bytes_done,
            total_files: 10,
            total_bytes: 1000,
            ..Default::default()
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn repeated_status_lines_are_not_progress() {
        let limit = Duration::from_secs(30);
        let mut dog = Watchdog::new(Some(limit));
        let start = tokio::time::Instant::now();
        assert_eq!(dog.deadline(), start + limit);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(dog.saw(status(1, 100)));
        assert_eq!(dog.deadline(), start + Duration::from_secs(5) + limit);
        tokio::time::advance(Duration::from_secs(5)).await;
        // restic repeats its status while it waits: the deadline stays.
        assert!(!dog.saw(status(1, 100)));
        assert_eq!(dog.deadline(), start + Duration::from_secs(5) + limit);
        assert!(dog.saw(status(1, 200)));
        // Retrying is not getting on.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!dog.saw(Seen::Complaint));
        assert_eq!(dog.deadline(), start + Duration::from_secs(10) + limit);
        assert!(dog.saw(Seen::Other));
        assert_eq!(dog.deadline(), start + Duration::from_secs(15) + limit);
        // Without a limit, the deadline never comes.
        assert!(Watchdog::new(None).deadline() > start + Duration::from_secs(3600 * 24 * 365));
    }
}
