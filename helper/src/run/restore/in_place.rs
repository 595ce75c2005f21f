//! A restore over the originals: `restic restore --target / --include
//! PATH` as root, with the capabilities to give files back their owners
//! and modes (`privileges::RESTORE_IN_PLACE`), and restic's output read.
//!
//! Only into a tree nobody but root can change (`restore::guard`), checked
//! again right before restic runs; only a PATH the snapshot holds (restic
//! would otherwise restore nothing and succeed).

use std::time::Instant;

use igotchuu_dbus::Outcome;
use tokio::sync::watch;

use super::progress;
use crate::config::Config;
use crate::events::{Event, EventBus};
use crate::privileges::RESTORE_IN_PLACE;
use crate::restic::message::clean_text;
use crate::restic::{command, plain};
use crate::restore::{args, RestoreJob};
use crate::run::plural;

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

pub(super) async fn in_place(
    job: &RestoreJob,
    config: &Config,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
) -> (Outcome, String) {
    let path = job.path.clone();
    let short = job.short_id();
    // Again: the call was checked before it waited for the run.
    match tokio::task::spawn_blocking(move || args::in_place_tree(&path)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return (Outcome::Failed, format!("Nothing was restored: {e}")),
        Err(e) => return (Outcome::Failed, format!("cannot check the path: {e}")),
    }
    match in_snapshot(job, config, stop.clone()).await {
        Ok(true) => {}
        Ok(false) => {
            return (
                Outcome::Failed,
                format!(
                    "{:?} is not in snapshot {short}: nothing was restored",
                    job.path
                ),
            )
        }
        Err(e) => return (Outcome::Failed, e),
    }
    let cmd = command::restore_in_place(config, &job.snapshot.id, &job.path);
    let started = Instant::now();
    let mut summary_total = None;
    let mut on_line = |line: &str| {
        let Ok(status) = serde_json::from_str::<RestoreStatus>(line) else {
            return;
        };
        if status.message_type == "status" || status.message_type == "summary" {
            if status.message_type == "summary" {
                summary_total = Some(status.total_files);
            }
            events.publish(Event::Progress(progress(
                started,
                (status.total_files, status.total_bytes),
                (status.files_restored, status.bytes_restored),
                0,
            )));
        }
    };
    let run = match plain::run_with_caps(cmd, RESTORE_IN_PLACE, stop, &mut on_line).await {
        Ok(r) => r,
        Err(e) => return (Outcome::Failed, format!("cannot run restic: {e}")),
    };
    judge(job, &run, summary_total)
}

fn judge(job: &RestoreJob, run: &plain::PlainRun, summary_total: Option<u64>) -> (Outcome, String) {
    let path = format!("{:?}", job.path);
    let short = job.short_id();
    let errors = restic_errors(run);
    match (run.code(), errors) {
        // restic 0.16+ counts what it restored: none is no restore.
        (Some(0), _) if summary_total == Some(0) => (
            Outcome::Failed,
            format!("restic restored nothing of {path} from snapshot {short}"),
        ),
        (Some(0), _) => (
            Outcome::Completed,
            format!("Restored {path} from snapshot {short} over the original files"),
        ),
        _ if run.stop_sent => (
            Outcome::Stopped,
            format!("Stopped on request; {path} may be restored in part"),
        ),
        (_, Some(n)) => {
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
        (_, None) => {
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

/// Whether the snapshot holds the job's path: `restic ls ID PATH` prints
/// the snapshot, then PATH's node first. restic is stopped once a node
/// came (a large folder lists for long).
async fn in_snapshot(
    job: &RestoreJob,
    config: &Config,
    mut stop: watch::Receiver<bool>,
) -> Result<bool, String> {
    let cmd = command::ls_path(config, &job.snapshot.id, &job.path);
    let (quit, quit_rx) = watch::channel(false);
    let quit = std::sync::Arc::new(quit);
    let forward = {
        let quit = quit.clone();
        tokio::spawn(async move {
            while stop.changed().await.is_ok() {
                if *stop.borrow() {
                    let _ = quit.send(true);
                    return;
                }
            }
        })
    };
    let mut on_line = |line: &str| {
        if node_path(line).is_some() {
            let _ = quit.send(true);
        }
    };
    let run = plain::run(cmd, quit_rx, &mut on_line).await;
    forward.abort();
    let run = run.map_err(|e| format!("cannot run restic: {e}"))?;
    let text = run.stdout_text();
    let first = text.lines().find_map(node_path);
    match first {
        Some(p) => Ok(p == job.path.to_string_lossy()),
        None if run.code() == Some(0) => Ok(false),
        None if run.stop_sent => Err("Stopped on request before the restore started".into()),
        None => Err(format!(
            "cannot list snapshot {}: {}",
            job.short_id(),
            run.failure()
        )),
    }
}

/// The path of a node line of `restic ls --json` (0.14: struct_type,
/// 0.17+: message_type too).
fn node_path(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let node = v.get("struct_type").and_then(|t| t.as_str()) == Some("node")
        || v.get("message_type").and_then(|t| t.as_str()) == Some("node");
    if !node {
        return None;
    }
    v.get("path")?.as_str().map(str::to_owned)
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_node_of_restic_ls_names_its_path() {
        assert_eq!(
            node_path(r#"{"name":"a","type":"file","path":"/d/a","struct_type":"node"}"#),
            Some("/d/a".into())
        );
        assert_eq!(
            node_path(r#"{"message_type":"node","path":"/d/*"}"#),
            Some("/d/*".into())
        );
        assert_eq!(
            node_path(r#"{"paths":["/d"],"struct_type":"snapshot"}"#),
            None
        );
    }
}
