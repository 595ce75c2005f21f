//! The operation "restore": files of a snapshot brought back, bracketed by
//! `OperationStarted` and `OperationFinished` like every operation, with
//! the phase `restoring`, the Progress property (files and bytes restored;
//! no Progress signal) and a record in the history.
//!
//! - Into a folder: the repository is mounted with `restic mount` in the
//!   helper's own (private) mount namespace, and the copier
//!   (`restore::copier`) copies `<mount>/ids/<id>/<path>` as the caller.
//!   Its report lines are untrusted (`restore::progress`). The mount goes
//!   afterwards, whatever happened.
//!   A copy as root goes only into a folder nobody but root can change
//!   (checked again here), and a copier that says nothing for the
//!   configuration's `stall_timeout` is killed.
//! - In place: [`in_place`].

mod in_place;

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use igotchuu_dbus::{Operation, Outcome, Phase, Progress};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::sync::watch;

use super::{end, plural};
use crate::bus::browse;
use crate::config::Config;
use crate::events::{Event, EventBus, OperationInfo};
use crate::restic::lines::BoundedLines;
use crate::restore::progress::{Line, Special};
use crate::restore::{args, as_caller, Credentials, Kind, RestoreJob};

// Where the repository is mounted for a restore (the helper's pid below
// it): the folder the stale cleanup knows.
use crate::bus::browse::RESTORE_ROOT as ROOT;

/// How long the copier gets to end after SIGTERM.
const COPIER_GRACE: Duration = Duration::from_secs(10);
/// How long a copier is waited for after SIGKILL.
const KILLED_GRACE: Duration = Duration::from_secs(30);
/// How long restic mount gets to show the snapshot in `ids/`.
const SNAPSHOT_SHOWN: Duration = Duration::from_secs(60);
/// How long the copier's pipe is read after it exited.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// Far enough to never come, near enough not to overflow an `Instant`.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Runs `job` and publishes its events; returns its outcome.
pub async fn run(
    job: &RestoreJob,
    config: &Config,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
) -> Outcome {
    events.publish(Event::OperationStarted(OperationInfo {
        operation: Operation::Restore,
        started_at: SystemTime::now(),
        profile: config.profile.clone(),
        places: vec![job.path.clone()],
        overridden: Vec::new(),
    }));
    events.publish(Event::PhaseChanged(Phase::Restoring));
    let (outcome, reason) = if *stop.borrow() {
        (
            Outcome::Stopped,
            "Stopped on request before the restore started".to_owned(),
        )
    } else {
        match &job.kind {
            Kind::Copy { dest, user } => copy(job, dest, user, config, events, stop).await,
            Kind::InPlace => in_place::in_place(job, config, events, stop).await,
        }
    };
    tracing::info!("restore of {:?}: {outcome}: {reason}", job.path);
    end(events, Operation::Restore, outcome, reason)
}

fn progress(started: Instant, total: (u64, u64), done: (u64, u64), skipped: u64) -> Progress {
    let (total_files, total_bytes) = total;
    let (files_done, bytes_done) = done;
    let percent_done = if total_bytes > 0 {
        (bytes_done as f64 / total_bytes as f64).min(1.0)
    } else if total_files > 0 {
        (files_done as f64 / total_files as f64).min(1.0)
    } else {
        0.0
    };
    Progress {
        seconds_elapsed: started.elapsed().as_secs(),
        seconds_remaining: 0,
        percent_done,
        total_files,
        files_done,
        total_bytes,
        bytes_done,
        error_count: skipped,
        current_files: Vec::new(),
    }
}

/// What the copier said, as far as it is believed.
#[derive(Default)]
struct Heard {
    total: (u64, u64),
    done: (u64, u64),
    skipped: u64,
    /// Of `skipped`: devices, named pipes and sockets, which a restore
    /// never copies.
    special: u64,
    failed: Option<String>,
    /// Killed after saying nothing for this long.
    stalled: Option<Duration>,
}

async fn copy(
    job: &RestoreJob,
    dest: &Path,
    user: &Credentials,
    config: &Config,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
) -> (Outcome, String) {
    if user.uid == 0 {
        // Again: the call was checked before it waited for the run.
        let target = dest.parent().unwrap_or(dest).to_owned();
        match tokio::task::spawn_blocking(move || args::root_target(&target)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return (Outcome::Failed, format!("Nothing was restored: {e}")),
            Err(e) => return (Outcome::Failed, format!("cannot check the target: {e}")),
        }
    }
    let namespace = match File::open("/proc/self/ns/mnt") {
        Ok(f) => f,
        Err(e) => {
            return (
                Outcome::Failed,
                format!("cannot open the mount namespace: {e}"),
            )
        }
    };
    let mount_point = Path::new(ROOT).join(std::process::id().to_string());
    let mut restic = match browse::mount(config, &namespace, &mount_point).await {
        Ok(r) => r,
        Err(e) => {
            return (
                Outcome::Failed,
                format!("the repository could not be mounted: {e}"),
            )
        }
    };
    let relative = job.path.strip_prefix("/").unwrap_or(&job.path);
    let snapshot = mount_point.join("ids").join(job.short_id());
    let source = snapshot.join(relative);
    // restic 0.17 and later show the mount before its list of snapshots.
    let shown = Instant::now();
    while std::fs::symlink_metadata(&snapshot).is_err() && shown.elapsed() < SNAPSHOT_SHOWN {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Whether the path is there is the copier's to find out, as the
    // caller: root looking first would tell them of files they may not
    // read (review M2).
    let ended = run_copier(&source, dest, user, config.stall_timeout, events, stop).await;
    browse::unmount(&mut restic, Some(&namespace), &mount_point).await;
    ended
}

async fn run_copier(
    source: &Path,
    dest: &Path,
    user: &Credentials,
    stall_timeout: Option<Duration>,
    events: &mut EventBus,
    mut stop: watch::Receiver<bool>,
) -> (Outcome, String) {
    let mut child = match spawn_copier(source, dest, user) {
        Ok(c) => c,
        Err(e) => return (Outcome::Failed, format!("cannot start the copy: {e}")),
    };
    let started = Instant::now();
    let mut heard = Heard::default();
    let mut lines = child.stdout.take().map(BoundedLines::new);
    let mut stopped = false;
    let mut status = None;
    // Once the copier exited, its pipe gets this long to close (the
    // caller's own processes may hold it).
    let drain = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drain);
    // A copier that says nothing for this long is killed: it is the
    // caller's, who could stop it (SIGSTOP) and hold the run for ever.
    let stall_after = stall_timeout.unwrap_or(NEVER);
    let stall = tokio::time::sleep(stall_after);
    tokio::pin!(stall);
    // A killed copier stuck in a file system the caller serves (a FUSE
    // mount of theirs as the target, that never answers) does not end even
    // on SIGKILL: the run does not wait for it beyond this.
    let given_up = tokio::time::sleep(NEVER);
    tokio::pin!(given_up);
    let mut abandoned = false;
    loop {
        let next = async {
            match lines.as_mut() {
                Some(l) => l.next_line().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            line = next => match line {
                Ok(Some(line)) => {
                    stall.as_mut().reset(tokio::time::Instant::now() + stall_after);
                    match Line::parse(&line.text) {
                        Some(Line::Total { files, bytes }) => heard.total = (files, bytes),
                        Some(Line::Done { files, bytes, skipped }) => {
                            heard.done = (files, bytes);
                            heard.skipped = skipped;
                            events.publish(Event::Progress(progress(started, heard.total, heard.done, skipped)));
                        }
                        Some(Line::Failed(why)) => heard.failed = Some(why),
                        None => if let Some(Special(n)) = Special::parse(&line.text) {
                            heard.special = n;
                        },
                    }
                }
                _ => lines = None,
            },
            exited = child.wait(), if status.is_none() => {
                status = Some(exited);
                drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            () = &mut drain => break,
            () = &mut stall, if heard.stalled.is_none() && status.is_none() => {
                tracing::warn!("the restore's copy said nothing for {stall_after:?}; killing it");
                heard.stalled = Some(stall_after);
                signal_group(&child, Signal::SIGKILL);
                given_up.as_mut().reset(tokio::time::Instant::now() + KILLED_GRACE);
            }
            () = &mut given_up, if status.is_none() => {
                tracing::warn!("the restore's copy did not end {KILLED_GRACE:?} after SIGKILL; leaving it");
                abandoned = true;
                break;
            }
            changed = stop.changed(), if !stopped => {
                if changed.is_err() || *stop.borrow() {
                    stopped = true;
                    signal_group(&child, Signal::SIGTERM);
                    let grace = tokio::time::timeout(COPIER_GRACE, child.wait()).await;
                    if grace.is_err() {
                        signal_group(&child, Signal::SIGKILL);
                        given_up.as_mut().reset(tokio::time::Instant::now() + KILLED_GRACE);
                    }
                }
            }
        }
        if status.is_some() && lines.is_none() {
            break;
        }
    }
    if abandoned {
        // Reaped whenever the kernel lets it go.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
    }
    let code = match status {
        Some(Ok(s)) => s.code(),
        _ => None,
    };
    judge(dest, code, stopped, &heard)
}

/// What a copy left out: unreadable items and special files.
fn left_out(skipped: u64, special: u64) -> String {
    let unreadable = skipped.saturating_sub(special);
    let was = |n: u64| if n == 1 { "was" } else { "were" };
    let mut parts = Vec::new();
    if unreadable > 0 {
        parts.push(format!(
            "{} could not be read with your permissions and {} left out",
            plural(unreadable, "file or folder", "files or folders"),
            was(unreadable)
        ));
    }
    if special > 0 {
        parts.push(format!(
            "{} (devices, named pipes or sockets) {} left out: a restore copies none",
            plural(special, "special file", "special files"),
            was(special)
        ));
    }
    parts.join(", and ")
}

fn judge(dest: &Path, code: Option<i32>, stopped: bool, heard: &Heard) -> (Outcome, String) {
    let (files, bytes) = heard.done;
    let what = format!("{} ({bytes} bytes)", plural(files, "file", "files"));
    if stopped {
        return (
            Outcome::Stopped,
            format!(
                "Stopped on request; {what} had been restored to {}, and stay there",
                dest.display()
            ),
        );
    }
    if let Some(after) = heard.stalled {
        return (
            Outcome::Failed,
            format!(
                "The restore failed: the copy stalled (no progress for {} s) and was killed; \
                 {what} had been restored to {dest:?}",
                after.as_secs()
            ),
        );
    }
    match (code, &heard.failed) {
        (Some(0), _) if heard.skipped == 0 => (
            Outcome::Completed,
            format!("Restored {what} to {}", dest.display()),
        ),
        (Some(0), _) => (
            Outcome::CompletedWithWarnings,
            format!(
                "Restored {what} to {}, but {}",
                dest.display(),
                left_out(heard.skipped, heard.special)
            ),
        ),
        (_, Some(why)) => (Outcome::Failed, format!("The restore failed: {why}")),
        (Some(code), None) => (
            Outcome::Failed,
            format!("The restore failed: the copy exited with code {code}"),
        ),
        (None, None) => (
            Outcome::Failed,
            "The restore failed: the copy was killed".to_owned(),
        ),
    }
}

fn signal_group(child: &tokio::process::Child, signal: Signal) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(-(pid as i32)), signal);
    }
}

/// The copier, as `user` ([`as_caller::command`]).
fn spawn_copier(
    source: &Path,
    dest: &Path,
    user: &Credentials,
) -> io::Result<tokio::process::Child> {
    let cmd = as_caller::command(
        user,
        "restore-copy",
        as_caller::COPY,
        [source.as_os_str(), dest.as_os_str()],
    );
    tokio::process::Command::from(cmd).spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_judged_by_its_exit_what_it_skipped_and_a_stop() {
        let dest = Path::new("/tmp/x");
        let mut heard = Heard {
            done: (2, 10),
            ..Heard::default()
        };
        assert_eq!(judge(dest, Some(0), false, &heard).0, Outcome::Completed);
        heard.skipped = 1;
        let (outcome, reason) = judge(dest, Some(0), false, &heard);
        assert_eq!(outcome, Outcome::CompletedWithWarnings);
        assert!(
            reason.contains("1 file or folder could not be read"),
            "{reason}"
        );
        heard.skipped = 3;
        heard.special = 2;
        let (_, reason) = judge(dest, Some(0), false, &heard);
        assert!(
            reason.ends_with(
                "but 1 file or folder could not be read with your permissions and was left out, \
                 and 2 special files (devices, named pipes or sockets) were left out: a restore \
                 copies none"
            ),
            "{reason}"
        );
        heard.skipped = 1;
        heard.special = 1;
        let (_, reason) = judge(dest, Some(0), false, &heard);
        assert!(reason.ends_with("but 1 special file (devices, named pipes or sockets) was left out: a restore copies none"), "{reason}");
        assert_eq!(judge(dest, Some(0), true, &heard).0, Outcome::Stopped);
        heard.failed = Some("no such file".into());
        let (outcome, reason) = judge(dest, Some(1), false, &heard);
        assert_eq!(outcome, Outcome::Failed);
        assert!(reason.contains("no such file"));
        assert_eq!(
            judge(dest, None, false, &Heard::default()).0,
            Outcome::Failed
        );
    }

    #[test]
    fn progress_counts_bytes_then_files() {
        let p = progress(Instant::now(), (4, 100), (1, 50), 2);
        assert_eq!((p.percent_done, p.error_count), (0.5, 2));
        let p = progress(Instant::now(), (4, 0), (1, 0), 0);
        assert_eq!(p.percent_done, 0.25);
        assert_eq!(
            progress(Instant::now(), (0, 0), (0, 0), 0).percent_done,
            0.0
        );
    }
}
