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
//! - In place: `restic restore --target / --include PATH` as root, with
//!   the capabilities to give files back their owners and modes
//!   (`privileges::RESTORE_IN_PLACE`).

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use igotchuu_dbus::{Operation, Outcome, Phase, Progress};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Gid, Pid, Uid};
use tokio::sync::watch;

use super::{end, plural};
use crate::bus::browse;
use crate::config::Config;
use crate::events::{Event, EventBus, OperationInfo};
use crate::privileges::caps::{Cap, CapSet};
use crate::privileges::{self, RESTORE_IN_PLACE};
use crate::restic::lines::BoundedLines;
use crate::restic::message::clean_text;
use crate::restic::{command, plain};
use crate::restore::progress::Line;
use crate::restore::{Credentials, Kind, RestoreJob};

/// Where the repository is mounted for a restore; the helper's pid below it.
const ROOT: &str = "/run/igotchuu/restore";
/// How long the copier gets to end after SIGTERM.
const COPIER_GRACE: Duration = Duration::from_secs(10);
/// How long restic mount gets to show the snapshot in `ids/`.
const SNAPSHOT_SHOWN: Duration = Duration::from_secs(60);
/// How long the copier's pipe is read after it exited.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

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
            Kind::InPlace => in_place(job, config, events, stop).await,
        }
    };
    tracing::info!("restore of {}: {outcome}: {reason}", job.path.display());
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
    failed: Option<String>,
}

async fn copy(
    job: &RestoreJob,
    dest: &Path,
    user: &Credentials,
    config: &Config,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
) -> (Outcome, String) {
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
    let ended = if std::fs::symlink_metadata(&source).is_err() {
        (
            Outcome::Failed,
            format!(
                "{} is not in snapshot {}: nothing was restored",
                job.path.display(),
                job.short_id()
            ),
        )
    } else {
        run_copier(&source, dest, user, events, stop).await
    };
    browse::unmount(&mut restic, Some(&namespace), &mount_point).await;
    ended
}

async fn run_copier(
    source: &Path,
    dest: &Path,
    user: &Credentials,
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
                    match Line::parse(&line.text) {
                        Some(Line::Total { files, bytes }) => heard.total = (files, bytes),
                        Some(Line::Done { files, bytes, skipped }) => {
                            heard.done = (files, bytes);
                            heard.skipped = skipped;
                            events.publish(Event::Progress(progress(started, heard.total, heard.done, skipped)));
                        }
                        Some(Line::Failed(why)) => heard.failed = Some(why),
                        None => {}
                    }
                }
                _ => lines = None,
            },
            exited = child.wait(), if status.is_none() => {
                status = Some(exited);
                drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            () = &mut drain => break,
            changed = stop.changed(), if !stopped => {
                if changed.is_err() || *stop.borrow() {
                    stopped = true;
                    signal_group(&child, Signal::SIGTERM);
                    let grace = tokio::time::timeout(COPIER_GRACE, child.wait()).await;
                    if grace.is_err() {
                        signal_group(&child, Signal::SIGKILL);
                    }
                }
            }
        }
        if status.is_some() && lines.is_none() {
            break;
        }
    }
    let code = match status {
        Some(Ok(s)) => s.code(),
        _ => None,
    };
    judge(dest, code, stopped, &heard)
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
    match (code, &heard.failed) {
        (Some(0), _) if heard.skipped == 0 => (
            Outcome::Completed,
            format!("Restored {what} to {}", dest.display()),
        ),
        (Some(0), _) => (
            Outcome::CompletedWithWarnings,
            format!(
                "Restored {what} to {}, but {} could not be read with your permissions and {} left out",
                dest.display(),
                plural(heard.skipped, "file or folder", "files or folders"),
                if heard.skipped == 1 { "was" } else { "were" },
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

/// The copier, as `user`: its groups, gid and uid set, then no
/// capabilities (root keeps the ones to read and write every file) and
/// no_new_privs, and the parent-death signal (the change of user cleared it).
fn spawn_copier(
    source: &Path,
    dest: &Path,
    user: &Credentials,
) -> io::Result<tokio::process::Child> {
    // Not current_exe(): after a package upgrade (or a rebuild) its path
    // names another binary, or none; /proc/self/exe is still this one.
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg("restore-copy")
        .arg("--")
        .arg(source)
        .arg(dest)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let uid = Uid::from_raw(user.uid);
    let gid = Gid::from_raw(user.gid);
    let groups: Vec<Gid> = user.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    let caps = if user.uid == 0 {
        CapSet::of(&[Cap::DAC_READ_SEARCH, Cap::DAC_OVERRIDE, Cap::FOWNER])
    } else {
        CapSet::of(&[])
    };
    let parent = Pid::this();
    // SAFETY: only system calls between fork and exec; `groups` was made before.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            nix::unistd::setgroups(&groups)?;
            nix::unistd::setgid(gid)?;
            nix::unistd::setuid(uid)?;
            privileges::caps::limit_to(caps)?;
            crate::priority::die_with_parent(parent, Signal::SIGTERM)
        });
    }
    tokio::process::Command::from(cmd).spawn()
}

/// What restic 0.16 and later print with `restore --json`.
#[derive(serde::Deserialize)]
struct RestoreStatus {
    message_type: String,
    #[serde(default)]
    total_files: u64,
    #[serde(default)]
    files_restored: u64,
    #[serde(default)]
    total_bytes: u64,
    #[serde(default)]
    bytes_restored: u64,
}

async fn in_place(
    job: &RestoreJob,
    config: &Config,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
) -> (Outcome, String) {
    let cmd = command::restore_in_place(config, &job.snapshot.id, &job.path);
    let started = Instant::now();
    let mut last = (0, 0);
    let mut on_line = |line: &str| {
        let Ok(status) = serde_json::from_str::<RestoreStatus>(line) else {
            return;
        };
        if status.message_type == "status" || status.message_type == "summary" {
            last = (status.files_restored, status.bytes_restored);
            events.publish(Event::Progress(progress(
                started,
                (status.total_files, status.total_bytes),
                last,
                0,
            )));
        }
    };
    let run = match plain::run_with_caps(cmd, RESTORE_IN_PLACE, stop, &mut on_line).await {
        Ok(r) => r,
        Err(e) => return (Outcome::Failed, format!("cannot run restic: {e}")),
    };
    let path = job.path.display();
    let short = job.short_id();
    match run.code() {
        Some(0) => (
            Outcome::Completed,
            format!("Restored {path} from snapshot {short} over the original files"),
        ),
        _ if run.stop_sent => (
            Outcome::Stopped,
            format!("Stopped on request; {path} may be restored in part"),
        ),
        _ if restic_errors(&run).is_some() => {
            let n = restic_errors(&run).unwrap_or(0);
            let first = first_error(&run.stderr_head)
                .map(|l| format!("; the first: {l}"))
                .unwrap_or_default();
            (
                Outcome::CompletedWithWarnings,
                format!(
                    "Restored {path} from snapshot {short} over the original files, but {} could not be restored{first}",
                    plural(n, "file or folder", "files or folders")
                ),
            )
        }
        _ => {
            // restic 0.14 says "ignoring error for PATH: …" for each, then
            // counts them at the end: the first one says the most.
            let first = first_error(&run.stderr_head)
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            (
                Outcome::Failed,
                format!(
                    "Restoring {path} from snapshot {short} failed: {}{first}",
                    run.failure()
                ),
            )
        }
    }
}

/// restic restore's count of the files it could not restore ("There were
/// 3 errors"), when that is how it ended: the rest was restored.
fn item_errors(tail: &[String]) -> Option<u64> {
    tail.iter().rev().find_map(|l| {
        // "Fatal: There were 3 errors" from restic 0.17 on.
        let (_, rest) = l.trim().split_once("There were ")?;
        rest.strip_suffix(" errors")?.parse().ok()
    })
}

/// [`item_errors`] from restic's last words, or from restic 0.18's own
/// account of how it ended (`exit_error` with `--json`).
fn restic_errors(run: &plain::PlainRun) -> Option<u64> {
    let said = run.exit_error.as_ref().map(|e| vec![e.message.clone()]);
    item_errors(run.stderr_tail.lines()).or_else(|| item_errors(&said?))
}

/// restic's first error, cleaned: "ignoring error for PATH: …" (0.14), or
/// the message of a JSON error (`--json`, 0.16 and later).
fn first_error(head: &[String]) -> Option<String> {
    let line = head.iter().find(|l| l.to_lowercase().contains("error"))?;
    let json = serde_json::from_str::<serde_json::Value>(line).ok();
    let message = json
        .as_ref()
        .and_then(|v| v.get("error")?.get("message")?.as_str());
    Some(clean_text(message.unwrap_or(line), 500))
}

/// For the terminal: where a restore put the files.
pub fn destination(job: &RestoreJob) -> PathBuf {
    match &job.kind {
        Kind::Copy { dest, .. } => dest.clone(),
        Kind::InPlace => job.path.clone(),
    }
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
    fn restics_count_of_errors_is_read_from_its_last_words() {
        let tail = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(item_errors(&tail(&["x", "There were 3 errors"])), Some(3));
        assert_eq!(item_errors(&tail(&["Fatal: wrong password"])), None);
        assert_eq!(item_errors(&tail(&["Fatal: There were 1 errors"])), Some(1));
        let head = tail(&["restoring <Snapshot>", "ignoring error for /a: file exists"]);
        assert_eq!(
            first_error(&head).as_deref(),
            Some("ignoring error for /a: file exists")
        );
        // restic 0.18, with --json.
        let json = tail(&[
            r#"{"message_type":"error","error":{"message":"chmod /d/f: operation not permitted"},"during":"restore","item":"/d/f"}"#,
        ]);
        assert_eq!(
            first_error(&json).as_deref(),
            Some("chmod /d/f: operation not permitted")
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
