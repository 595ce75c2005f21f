//! Judging how a restic run ended. The one rule that matters: a run is a
//! success only if restic says it saved a snapshot.

use std::os::unix::process::ExitStatusExt;

use igotchuu_dbus::Outcome;

use crate::restic::failure::classify;
use crate::restic::runner::ResticRun;

/// restic's exit code when it saved a snapshot but could not read some files.
const RESTIC_PARTIAL: i32 = 3;
/// What restic prints on SIGINT ("signal interrupt received, cleaning up").
const INTERRUPT_NOTE: &str = "signal interrupt received";

/// The outcome of a backup, and a sentence that explains it.
pub fn judge(run: &ResticRun) -> (Outcome, String) {
    let code = run.status.code();
    let snapshot = run
        .summary
        .as_ref()
        .filter(|s| !s.snapshot_id.is_empty() || s.dry_run);
    match (code, snapshot) {
        (Some(0), Some(s)) if s.dry_run => (
            Outcome::Completed,
            "Dry run completed; no snapshot was saved, as asked".to_owned(),
        ),
        (Some(0), Some(s)) if run.error_count == 0 => (
            Outcome::Completed,
            format!("Backup completed: snapshot {}", short_id(&s.snapshot_id)),
        ),
        // restic before 0.17 exits 0 after skipping a missing target.
        (Some(0 | RESTIC_PARTIAL), Some(s)) => (
            Outcome::CompletedWithWarnings,
            format!(
                "Snapshot {} saved, but {} could not be read and {} missing from it",
                short_id(&s.snapshot_id),
                plural(run.error_count, "file or folder", "files or folders"),
                if run.error_count == 1 { "is" } else { "are" },
            ),
        ),
        (Some(0 | RESTIC_PARTIAL), None) => (
            Outcome::Failed,
            "restic exited without reporting a saved snapshot".to_owned(),
        ),
        _ if run.stalled.is_some() => (Outcome::Failed, stalled_reason(run)),
        _ if run.stop_sent && run.killed => (
            Outcome::Stopped,
            format!("Stopped on request; no snapshot was saved{KILLED_LOCK}"),
        ),
        _ if run.stop_sent => (
            Outcome::Stopped,
            "Stopped on request; no snapshot was saved".to_owned(),
        ),
        _ => {
            let failure = classify(
                code,
                run.status.signal(),
                run.exit_error.as_ref(),
                run.stderr_tail.lines(),
            );
            (Outcome::Failed, failure.to_string())
        }
    }
}

/// Said of a restic that did not end after SIGINT and was killed.
const KILLED_LOCK: &str = "; restic had to be killed, so the repository may keep a stale lock \
     (`igotchuu restic -- unlock` removes it)";

/// Why a run whose restic stalled failed, and what the user can do.
fn stalled_reason(run: &ResticRun) -> String {
    let limit = run.stalled.map_or(0, |d| d.as_secs());
    let lock = if run.killed { KILLED_LOCK } else { "" };
    let said = last_words(run)
        .map(|line| format!("; restic last said: {line}"))
        .unwrap_or_default();
    format!(
        "restic made no progress for {}, so the backup was stopped: the \
         repository may have stopped answering, or a `password_command` may \
         not have ended (check the network, the server and the command; \
         `stall_timeout` sets this limit); no snapshot was saved{lock}{said}",
        duration_words(limit)
    )
}

/// restic's last line on stderr before it was stopped (a retried request's
/// error says what went wrong), without its own note that it was interrupted.
fn last_words(run: &ResticRun) -> Option<&str> {
    run.stderr_tail
        .lines()
        .iter()
        .rev()
        .map(String::as_str)
        .find(|line| {
            let line = line.to_lowercase();
            !line.contains(INTERRUPT_NOTE) && !line.contains("cleaning up")
        })
}

/// `1800` → "30 minutes", `45` → "45 seconds".
fn duration_words(seconds: u64) -> String {
    match seconds {
        s if s % 3600 == 0 && s > 0 => plural(s / 3600, "hour", "hours"),
        s if s % 60 == 0 && s > 0 => plural(s / 60, "minute", "minutes"),
        s => plural(s, "second", "seconds"),
    }
}

fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restic::failure::StderrTail;
    use igotchuu_dbus::Summary;
    use std::process::ExitStatus;

    fn run(code: i32, snapshot_id: Option<&str>, stop_sent: bool) -> ResticRun {
        ResticRun {
            status: ExitStatus::from_raw(code << 8),
            summary: snapshot_id.map(|id| Summary {
                snapshot_id: id.into(),
                ..Summary::default()
            }),
            error_count: 0,
            item_errors: vec![],
            exit_error: None,
            stderr_tail: StderrTail::default(),
            stop_sent,
            stalled: None,
            killed: false,
        }
    }

    #[test]
    fn a_stalled_restic_fails_the_run_and_says_why() {
        let mut stalled = run(130, None, false);
        stalled.stalled = Some(std::time::Duration::from_secs(1800));
        let (outcome, reason) = judge(&stalled);
        assert_eq!(outcome, Outcome::Failed);
        assert!(reason.contains("no progress for 30 minutes"), "{reason}");
        assert!(reason.contains("no snapshot was saved"), "{reason}");
        assert!(!reason.contains("unlock"), "{reason}");
        assert!(!reason.contains("last said"), "{reason}");
        // A retried request's error is the best clue there is.
        stalled.stderr_tail.push(
            "Save(<data/1f2e>) returned error, retrying after 1.2s: Post \
             \"http://127.0.0.1:9/data/1f2e\": dial tcp 127.0.0.1:9: connect: connection refused",
        );
        stalled
            .stderr_tail
            .push("signal interrupt received, cleaning up");
        let reason = judge(&stalled).1;
        assert!(
            reason.ends_with("restic last said: Save(<data/1f2e>) returned error, retrying after 1.2s: Post \"http://127.0.0.1:9/data/1f2e\": dial tcp 127.0.0.1:9: connect: connection refused"),
            "{reason}"
        );
        stalled.killed = true;
        stalled.status = ExitStatus::from_raw(libc::SIGKILL);
        assert!(judge(&stalled).1.contains("igotchuu restic -- unlock"));
        assert_eq!(duration_words(45), "45 seconds");
        assert_eq!(duration_words(7200), "2 hours");
    }

    #[test]
    fn success_needs_a_saved_snapshot() {
        assert_eq!(
            judge(&run(0, Some("1a71ac18"), false)).0,
            Outcome::Completed
        );
        assert_eq!(judge(&run(0, None, false)).0, Outcome::Failed);
        assert_eq!(judge(&run(0, Some(""), false)).0, Outcome::Failed);
        assert_eq!(judge(&run(3, None, false)).0, Outcome::Failed);
    }

    #[test]
    fn unreadable_files_are_a_warning_not_a_failure() {
        let mut partial = run(3, Some("1a71ac18ffff"), false);
        partial.error_count = 2;
        let (outcome, reason) = judge(&partial);
        assert_eq!(outcome, Outcome::CompletedWithWarnings);
        assert!(reason.contains("1a71ac18 saved"), "{reason}");
        assert!(reason.contains("2 files or folders"), "{reason}");
    }

    #[test]
    fn reported_errors_make_a_warning_even_when_restic_exits_0() {
        let mut skipped = run(0, Some("1a71ac18"), false);
        skipped.error_count = 1;
        let (outcome, reason) = judge(&skipped);
        assert_eq!(outcome, Outcome::CompletedWithWarnings);
        assert!(reason.contains("1 file or folder"), "{reason}");
    }

    #[test]
    fn a_stop_is_not_a_failure_but_a_finished_snapshot_still_counts() {
        assert_eq!(judge(&run(130, None, true)).0, Outcome::Stopped);
        assert_eq!(judge(&run(1, None, true)).0, Outcome::Stopped);
        assert_eq!(judge(&run(0, Some("abcdef12"), true)).0, Outcome::Completed);
        assert_eq!(judge(&run(130, None, false)).0, Outcome::Failed);
    }
}
