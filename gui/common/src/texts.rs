//! The sentences the tray and the window show: the state line, the tooltip,
//! and what a notification says when a run ends.
//!
//! Everything takes `now` (seconds since the Unix epoch) instead of reading
//! the clock, so that a caller can compute it when the text is shown and a
//! test can pin it.

use igotchuu_dbus::{Operation, Outcome, Phase, Summary};

use crate::format;
use crate::outlook::{days_since, Outlook, Postponed};
use crate::{DesktopState, Finished};

/// The state of things in one line: "Backing up /home — 42 %, about 3 min
/// left", "Last backup 2 hours ago: 12 new files", "Last backup failed 5
/// minutes ago: <reason>", "Never backed up".
///
/// `last` is the latest finished run known, from the history file or the
/// bus; see [`latest`].
pub fn state_line(state: &DesktopState, last: Option<&Finished>, now: u64) -> String {
    if state.bus_available {
        if let Some(phase) = state.phase {
            return match state.running_operation() {
                Some(op @ (Operation::Forget | Operation::Prune | Operation::Check)) => {
                    operation_line(op, phase)
                }
                _ => run_line(state, phase),
            };
        }
    }
    match last {
        Some(f) => last_run_line(f, now),
        None => "Never backed up".to_owned(),
    }
}

/// A tooltip: a title and a body of one or more lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tooltip {
    pub title: String,
    pub body: String,
}

/// The tray's tooltip: the state line, and what else matters right now.
/// A stale backup is its title, the first thing read; a postponed run a
/// line of its own.
pub fn tooltip(
    state: &DesktopState,
    last: Option<&Finished>,
    outlook: &Outlook,
    now: u64,
) -> Tooltip {
    let mut lines = Vec::new();
    if !state.bus_available {
        lines.push("Cannot reach the system bus; waiting for it.".to_owned());
    }
    lines.push(state_line(state, last, now));
    let running = state.bus_available && state.running();
    if running && state.error_count > 0 {
        lines.push(format!(
            "{} could not be read so far",
            format::count(state.error_count, "file", "files")
        ));
    }
    if let Some(p) = outlook.postponed.as_ref().filter(|_| !running) {
        lines.push(postponed_line(p));
    }
    let title = match stale_title(state, outlook, now) {
        Some(t) => format!("igotchuu: {t}"),
        None => "igotchuu".to_owned(),
    };
    Tooltip {
        title,
        body: lines.join("\n"),
    }
}

/// "No backup for 10 days", "No backup yet": when backups are stale, and
/// no backup runs now.
pub fn stale_title(state: &DesktopState, outlook: &Outlook, now: u64) -> Option<String> {
    let backing_up = state.bus_available && state.running_operation() == Some(Operation::Backup);
    if !outlook.stale || backing_up {
        return None;
    }
    Some(match outlook.last_saved_at {
        None => "No backup yet".to_owned(),
        Some(t) => format!(
            "No backup for {}",
            format::count(days_since(t, now), "day", "days")
        ),
    })
}

/// The daily reminder that backups are stale; it offers "Back up now".
pub fn stale_notice(outlook: &Outlook, now: u64) -> Notice {
    let (title, body) = match outlook.last_saved_at {
        None => (
            "No backup yet".to_owned(),
            "igotchuu has not saved a backup of this computer yet. Back up now, or check \
             that the backup timer runs."
                .to_owned(),
        ),
        Some(t) => {
            let days = format::count(days_since(t, now), "day", "days");
            (
                format!("No backup for {days}"),
                format!(
                    "The last backup finished {days} ago; igotchuu warns after {}. Back up \
                     now, or see the history for why scheduled backups did not run.",
                    format::count(outlook.stale_after_days, "day", "days")
                ),
            )
        }
    };
    Notice {
        title,
        body,
        urgent: false,
        back_up_now: true,
    }
}

/// "Backup postponed: the computer is on battery; it runs when it is
/// plugged in."
pub fn postponed_line(p: &Postponed) -> String {
    let what = capitalize(&operation_name(p.operation));
    let reason = p.reason.trim();
    let reason = reason
        .strip_prefix("Postponed:")
        .or_else(|| reason.strip_prefix("postponed:"))
        .unwrap_or(reason)
        .trim();
    match sentence(reason) {
        Some(r) => format!("{what} postponed: {}{}", r[..1].to_lowercase(), &r[1..]),
        None => format!("{what} postponed until it can run."),
    }
}

/// The daily note that a scheduled run waits.
pub fn postponed_notice(p: &Postponed) -> Notice {
    let line = postponed_line(p);
    let (title, body) = match line.split_once(": ") {
        Some((title, body)) => (title.to_owned(), capitalize(body)),
        None => (line.clone(), String::new()),
    };
    Notice {
        title,
        body,
        urgent: false,
        back_up_now: p.operation == Operation::Backup,
    }
}

/// "Backup", "Removing old snapshots", "Removing unused data",
/// "Repository check": an operation's name in a title.
pub fn operation_name(op: Operation) -> String {
    match op {
        Operation::Backup => "backup",
        Operation::Forget => "removing old snapshots",
        Operation::Prune => "removing unused data",
        Operation::Check => "repository check",
    }
    .to_owned()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Whether the end of `f` is worth a notification. Backups: always, but a
/// postponed one (the tray says that at most once a day). Removing old
/// snapshots or unused data happens on its own; only a failure needs
/// someone. A check: when it found damage or could not run, or nobody can
/// say how it ended; a passed check shows in the window.
pub fn worth_notifying(f: &Finished) -> bool {
    match (f.operation, f.outcome) {
        (_, Some(Outcome::Postponed)) => false,
        (Operation::Backup, _) => true,
        (Operation::Check, None) => true,
        (_, outcome) => outcome == Some(Outcome::Failed),
    }
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
    /// The run saved nothing: the notification should stay until seen.
    pub urgent: bool,
    /// Offer "Back up now".
    pub back_up_now: bool,
}

/// The notification for a finished run.
pub fn notification(f: &Finished) -> Notice {
    if f.operation != Operation::Backup {
        return operation_notification(f);
    }
    let (title, body, urgent) = match f.outcome {
        // Not a failure, not a success: say so, and where to look. Not
        // urgent (a failure's red): the tray's warning icon stays.
        None => (
            "Backup ended, outcome unknown",
            sentence(&f.reason).unwrap_or_else(|| crate::UNKNOWN_END_REASON.to_owned()),
            false,
        ),
        Some(Outcome::Completed) => ("Backup completed", result_sentences(f), false),
        Some(Outcome::CompletedWithWarnings) => {
            let skipped = format!(
                "{} could not be read and {} skipped.",
                format::count(f.error_count, "file", "files"),
                if f.error_count == 1 { "was" } else { "were" }
            );
            let body = format!("{skipped} {}", result_sentences(f));
            ("Backup completed with warnings", body, false)
        }
        Some(Outcome::Failed) => {
            let body =
                sentence(&f.reason).unwrap_or_else(|| "The backup did not complete.".to_owned());
            ("Backup failed", nothing_saved(&body), true)
        }
        Some(Outcome::Stopped) => {
            let body = sentence(&f.reason).unwrap_or_else(|| "Stopped on request.".to_owned());
            ("Backup stopped", nothing_saved(&body), false)
        }
        Some(Outcome::Postponed) => {
            let body = sentence(&f.reason).unwrap_or_else(|| "It runs when it can.".to_owned());
            ("Backup postponed", body, false)
        }
    };
    Notice {
        title: title.to_owned(),
        body: body.trim().to_owned(),
        urgent,
        back_up_now: false,
    }
}

/// The notification for a finished forget, prune or check.
fn operation_notification(f: &Finished) -> Notice {
    let name = capitalize(&operation_name(f.operation));
    let reason = sentence(&f.reason);
    let (title, body, urgent) = match f.outcome {
        None => (
            format!("{name} ended, outcome unknown"),
            reason.unwrap_or_else(|| igotchuu_dbus::follow::unknown_end_reason(f.operation)),
            false,
        ),
        Some(Outcome::Failed) => {
            let fallback = match f.operation {
                Operation::Check => {
                    "The repository could not be checked, or it is damaged. Run \
                     \"igotchuu check\" in a terminal to see restic's report."
                }
                _ => "It did not complete. See the helper's log.",
            };
            let title = match f.operation {
                Operation::Check => "Repository check failed".to_owned(),
                _ => format!("{name} failed"),
            };
            (title, reason.unwrap_or_else(|| fallback.to_owned()), true)
        }
        Some(Outcome::Stopped) => (
            format!("{name} stopped"),
            reason.unwrap_or_else(|| "Stopped on request.".to_owned()),
            false,
        ),
        Some(Outcome::Postponed) => (
            format!("{name} postponed"),
            reason.unwrap_or_else(|| "It runs when it can.".to_owned()),
            false,
        ),
        Some(Outcome::Completed | Outcome::CompletedWithWarnings) => {
            let title = match f.operation {
                Operation::Check => "Repository check passed".to_owned(),
                _ => format!("{name} completed"),
            };
            (title, reason.unwrap_or_default(), false)
        }
    };
    Notice {
        title,
        body,
        urgent,
        back_up_now: false,
    }
}

/// What a forget, prune or check does while it runs.
fn operation_line(op: Operation, phase: Phase) -> String {
    match (op, phase) {
        (_, Phase::Stopping) => format!("Stopping the {}…", operation_name(op)),
        (Operation::Forget, _) => "Forgetting old snapshots…".to_owned(),
        (Operation::Prune, _) => "Removing unused data…".to_owned(),
        _ => "Checking the repository…".to_owned(),
    }
}

/// How the last run of a forget, prune or check went, in one line: "Last
/// check 3 days ago: no errors", "Last check failed 2 hours ago: …".
pub fn last_operation_line(f: &Finished, now: u64) -> String {
    let what = match f.operation {
        Operation::Backup => "backup",
        Operation::Forget => "removal of old snapshots",
        Operation::Prune => "removal of unused data",
        Operation::Check => "check",
    };
    let ago = format::ago(f.finished_at, now);
    let reason = sentence(&f.reason);
    match (f.outcome, reason) {
        (None, _) => format!("Last {what} ended {ago}; outcome unknown"),
        (Some(Outcome::Failed), Some(r)) => format!("Last {what} failed {ago}: {r}"),
        (Some(Outcome::Failed), None) => format!("Last {what} failed {ago}"),
        (Some(Outcome::Stopped), _) => format!("Last {what} was stopped {ago}"),
        (Some(Outcome::Postponed), _) => format!("Last {what} was postponed {ago}"),
        (Some(_), Some(r)) => format!("Last {what} {ago}: {r}"),
        (Some(_), None) => format!("Last {what} {ago}: passed"),
    }
}

/// The later of two finished runs: say the one from the history file and
/// the one heard on the bus, which may be the same run. Runs that ended in
/// the same second go by their start; a full tie goes to `b`, which should
/// be the one heard on the bus.
pub fn latest<'a>(a: Option<&'a Finished>, b: Option<&'a Finished>) -> Option<&'a Finished> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let key = |f: &Finished| (f.finished_at, f.started_at);
            Some(if key(b) >= key(a) { b } else { a })
        }
        (a, b) => a.or(b),
    }
}

/// "/home", "/home and /srv", "/home and 2 more places".
pub fn places(places: &[String]) -> String {
    match places {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [first, rest @ ..] => format!(
            "{first} and {}",
            format::count(rest.len() as u64, "more place", "more places")
        ),
    }
}

/// "12 new and 3 changed files", "1 new file", "3 changed files", "no
/// changed files".
pub fn files_phrase(s: &Summary) -> String {
    let noun = |n: u64| if n == 1 { "file" } else { "files" };
    match (s.files_new, s.files_changed) {
        (0, 0) => "no changed files".to_owned(),
        (n, 0) => format!("{n} new {}", noun(n)),
        (0, c) => format!("{c} changed {}", noun(c)),
        (n, c) => format!("{n} new and {c} changed {}", noun(c)),
    }
}

fn run_line(state: &DesktopState, phase: Phase) -> String {
    let places = places(&state.places);
    let of = |what: &str| {
        if places.is_empty() {
            format!("{what}…")
        } else {
            format!("{what} {places}…")
        }
    };
    match phase {
        Phase::Preparing => of("Preparing to back up"),
        Phase::Snapshotting => of("Taking snapshots of"),
        Phase::BackingUp => {
            let p = &state.progress;
            let started = p.percent_done > 0.0 || p.bytes_done > 0 || p.files_done > 0;
            if !started {
                return of("Backing up");
            }
            let mut line = if places.is_empty() {
                "Backing up".to_owned()
            } else {
                format!("Backing up {places}")
            };
            line.push_str(" — ");
            line.push_str(&format::percent(p.percent_done));
            if let Some(eta) = p.eta_seconds() {
                line.push_str(", ");
                line.push_str(&format::eta(eta));
            }
            line
        }
        Phase::Forgetting => "Forgetting old snapshots…".to_owned(),
        Phase::Pruning => "Removing unused data from the repository…".to_owned(),
        Phase::Checking => "Checking the repository…".to_owned(),
        Phase::Stopping => "Stopping the backup…".to_owned(),
        Phase::CleaningUp => "Cleaning up after the backup…".to_owned(),
    }
}

fn last_run_line(f: &Finished, now: u64) -> String {
    let ago = format::ago(f.finished_at, now);
    match f.outcome {
        None => format!("Last backup ended {ago}; outcome unknown"),
        Some(Outcome::Completed) => match &f.summary {
            Some(s) => format!("Last backup {ago}: {}", files_phrase(s)),
            None => format!("Last backup {ago}"),
        },
        Some(Outcome::CompletedWithWarnings) => {
            let skipped = format!("{} skipped", format::count(f.error_count, "file", "files"));
            match &f.summary {
                Some(s) => format!("Last backup {ago}: {}, {skipped}", files_phrase(s)),
                None => format!("Last backup {ago}: {skipped}"),
            }
        }
        Some(Outcome::Failed) => match sentence(&f.reason) {
            Some(reason) => format!("Last backup failed {ago}: {reason}"),
            None => format!("Last backup failed {ago}"),
        },
        Some(Outcome::Stopped) => format!("Last backup was stopped {ago}"),
        Some(Outcome::Postponed) => format!("Last backup was postponed {ago}"),
    }
}

/// "12 new files, 1.2 MB added. Took 3 minutes."
fn result_sentences(f: &Finished) -> String {
    let Some(s) = &f.summary else {
        return "A snapshot was saved.".to_owned();
    };
    let mut files = files_phrase(s);
    if let Some(first) = files.get(..1) {
        files = first.to_uppercase() + &files[1..];
    }
    let took = if s.total_duration.is_finite() && s.total_duration >= 0.0 {
        format!(
            " Took {}.",
            format::duration(s.total_duration.round() as u64)
        )
    } else {
        String::new()
    };
    format!("{files}, {}.{took}", added_phrase(f))
}

/// "1.2 MB added", or, when the helper did not say (the original helper's
/// summary has no `data_added`), "added size unknown".
pub fn added_phrase(f: &Finished) -> String {
    match f.data_added() {
        Some(bytes) => format!("{} added", format::size(bytes)),
        None => "added size unknown".to_owned(),
    }
}

/// `body`, then that nothing was saved, unless the helper's reason says so
/// already ("Stopped on request; no snapshot was saved.").
fn nothing_saved(body: &str) -> String {
    const NOTHING_SAVED: &str = "no snapshot was saved";
    if body.to_lowercase().contains(NOTHING_SAVED) {
        body.to_owned()
    } else {
        format!("{body} No snapshot was saved.")
    }
}

/// `reason` as a sentence: trimmed, with a full stop; `None` when empty.
fn sentence(reason: &str) -> Option<String> {
    let r = reason.trim();
    if r.is_empty() {
        return None;
    }
    if r.ends_with(['.', '!', '?']) {
        Some(r.to_owned())
    } else {
        Some(format!("{r}."))
    }
}

#[cfg(test)]
mod tests {
    use igotchuu_dbus::Progress;

    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn summary() -> Summary {
        Summary {
            files_new: 12,
            files_changed: 3,
            data_added: 1_234_567,
            total_duration: 185.4,
            snapshot_id: "abcd1234".into(),
            ..Default::default()
        }
    }

    fn finished(outcome: Outcome, ago: u64) -> Finished {
        Finished {
            operation: Operation::Backup,
            outcome: Some(outcome),
            reason: String::new(),
            summary: outcome.saved_snapshot().then(summary),
            data_added_unknown: false,
            started_at: NOW - ago - 200,
            finished_at: NOW - ago,
            error_count: 0,
            places: vec!["/home".into()],
        }
    }

    fn running(phase: Phase, progress: Progress) -> DesktopState {
        DesktopState {
            bus_available: true,
            helper_present: true,
            phase: Some(phase),
            progress,
            places: vec!["/home".into()],
            ..Default::default()
        }
    }

    fn idle() -> DesktopState {
        DesktopState {
            bus_available: true,
            ..Default::default()
        }
    }

    #[test]
    fn state_line_while_running() {
        let p = Progress {
            percent_done: 0.4251,
            seconds_remaining: 170,
            files_done: 10,
            ..Default::default()
        };
        assert_eq!(
            state_line(&running(Phase::BackingUp, p.clone()), None, NOW),
            "Backing up /home — 42\u{a0}%, about 3 min left"
        );
        let scanning = Progress {
            seconds_remaining: 0,
            ..p
        };
        assert_eq!(
            state_line(&running(Phase::BackingUp, scanning), None, NOW),
            "Backing up /home — 42\u{a0}%"
        );
        assert_eq!(
            state_line(&running(Phase::BackingUp, Progress::default()), None, NOW),
            "Backing up /home…"
        );
        let mut s = running(Phase::Snapshotting, Progress::default());
        s.places = vec!["/home".into(), "/srv".into(), "/etc".into()];
        assert_eq!(
            state_line(&s, None, NOW),
            "Taking snapshots of /home and 2 more places…"
        );
        assert_eq!(
            state_line(&running(Phase::Stopping, Progress::default()), None, NOW),
            "Stopping the backup…"
        );
    }

    #[test]
    fn state_line_when_idle() {
        assert_eq!(state_line(&idle(), None, NOW), "Never backed up");
        let ok = finished(Outcome::Completed, 2 * 3600 + 100);
        assert_eq!(
            state_line(&idle(), Some(&ok), NOW),
            "Last backup 2 hours ago: 12 new and 3 changed files"
        );
        let mut warn = finished(Outcome::CompletedWithWarnings, 30);
        warn.error_count = 1;
        assert_eq!(
            state_line(&idle(), Some(&warn), NOW),
            "Last backup just now: 12 new and 3 changed files, 1 file skipped"
        );
        let mut failed = finished(Outcome::Failed, 5 * 60);
        failed.reason = "The repository is locked by another restic".into();
        assert_eq!(
            state_line(&idle(), Some(&failed), NOW),
            "Last backup failed 5 minutes ago: The repository is locked by another restic."
        );
        let stopped = finished(Outcome::Stopped, 86_400 + 5);
        assert_eq!(
            state_line(&idle(), Some(&stopped), NOW),
            "Last backup was stopped yesterday"
        );
    }

    #[test]
    fn without_the_bus_the_last_run_is_shown_with_a_warning() {
        let mut s = running(Phase::BackingUp, Progress::default());
        s.bus_available = false;
        let ok = finished(Outcome::Completed, 120);
        let t = tooltip(&s, Some(&ok), &Outlook::default(), NOW);
        assert_eq!(t.title, "igotchuu");
        assert_eq!(
            t.body,
            "Cannot reach the system bus; waiting for it.\n\
             Last backup 2 minutes ago: 12 new and 3 changed files"
        );
    }

    #[test]
    fn tooltip_counts_unreadable_files_while_running() {
        let mut s = running(
            Phase::BackingUp,
            Progress {
                percent_done: 0.5,
                ..Default::default()
            },
        );
        s.error_count = 2;
        assert_eq!(
            tooltip(&s, None, &Outlook::default(), NOW).body,
            "Backing up /home — 50\u{a0}%\n2 files could not be read so far"
        );
    }

    #[test]
    fn notifications() {
        let n = notification(&finished(Outcome::Completed, 0));
        assert_eq!(n.title, "Backup completed");
        assert_eq!(
            n.body,
            "12 new and 3 changed files, 1.2\u{a0}MB added. Took 3 minutes."
        );
        assert!(!n.urgent);

        let mut warn = finished(Outcome::CompletedWithWarnings, 0);
        warn.error_count = 3;
        let n = notification(&warn);
        assert_eq!(n.title, "Backup completed with warnings");
        assert_eq!(
            n.body,
            "3 files could not be read and were skipped. \
             12 new and 3 changed files, 1.2\u{a0}MB added. Took 3 minutes."
        );

        let mut failed = finished(Outcome::Failed, 0);
        failed.reason = "Wrong repository password.".into();
        let n = notification(&failed);
        assert_eq!(n.title, "Backup failed");
        assert_eq!(n.body, "Wrong repository password. No snapshot was saved.");
        assert!(n.urgent);
        failed.reason = String::new();
        assert_eq!(
            notification(&failed).body,
            "The backup did not complete. No snapshot was saved."
        );

        let n = notification(&finished(Outcome::Stopped, 0));
        assert_eq!(n.title, "Backup stopped");
        assert_eq!(n.body, "Stopped on request. No snapshot was saved.");
        // The helper's own reason says it already: not twice.
        let mut stopped = finished(Outcome::Stopped, 0);
        stopped.reason = "Stopped on request; no snapshot was saved".into();
        assert_eq!(
            notification(&stopped).body,
            "Stopped on request; no snapshot was saved."
        );
    }

    #[test]
    fn an_unknown_end_and_an_unknown_size_are_said_as_such() {
        let mut unknown = finished(Outcome::Failed, 120);
        unknown.outcome = None;
        unknown.reason = crate::UNKNOWN_END_REASON.to_owned();
        let n = notification(&unknown);
        assert_eq!(n.title, "Backup ended, outcome unknown");
        assert_eq!(n.body, crate::UNKNOWN_END_REASON);
        assert!(!n.urgent, "not shown as a failure");
        assert_eq!(
            state_line(&idle(), Some(&unknown), NOW),
            "Last backup ended 2 minutes ago; outcome unknown"
        );

        // The original helper's summary has no data_added: no number.
        let mut original = finished(Outcome::Completed, 0);
        original.data_added_unknown = true;
        assert_eq!(
            notification(&original).body,
            "12 new and 3 changed files, added size unknown. Took 3 minutes."
        );
    }

    #[test]
    fn phrases() {
        let mut s = summary();
        assert_eq!(files_phrase(&s), "12 new and 3 changed files");
        s.files_changed = 1;
        assert_eq!(files_phrase(&s), "12 new and 1 changed file");
        s.files_changed = 0;
        s.files_new = 1;
        assert_eq!(files_phrase(&s), "1 new file");
        s.files_new = 0;
        assert_eq!(files_phrase(&s), "no changed files");
        let mut f = finished(Outcome::Completed, 0);
        f.summary = Some(s);
        assert_eq!(
            notification(&f).body,
            "No changed files, 1.2\u{a0}MB added. Took 3 minutes."
        );
        assert_eq!(places(&[]), "");
        assert_eq!(places(&["/a".into(), "/b".into()]), "/a and /b");
        assert_eq!(
            places(&["/a".into(), "/b".into(), "/c".into(), "/d".into()]),
            "/a and 3 more places"
        );
    }

    #[test]
    fn latest_picks_the_later_run() {
        let old = finished(Outcome::Failed, 3600);
        let new = finished(Outcome::Completed, 60);
        assert_eq!(latest(Some(&old), Some(&new)), Some(&new));
        assert_eq!(latest(Some(&new), Some(&old)), Some(&new));
        assert_eq!(latest(None, Some(&old)), Some(&old));
        // Ended in the same second: the one that started later.
        let mut first = finished(Outcome::Completed, 0);
        first.started_at -= 100;
        let second = finished(Outcome::Failed, 0);
        assert_eq!(latest(Some(&second), Some(&first)), Some(&second));
        assert_eq!(latest(Some(&first), Some(&second)), Some(&second));
        let same = second.clone();
        assert!(std::ptr::eq(
            latest(Some(&same), Some(&second)).unwrap(),
            &second
        ));
        assert_eq!(latest(None, None), None);
    }

    fn ended(op: Operation, outcome: Option<Outcome>, reason: &str) -> Finished {
        Finished {
            operation: op,
            outcome,
            reason: reason.into(),
            summary: None,
            data_added_unknown: false,
            started_at: NOW - 400,
            finished_at: NOW - 300,
            error_count: 0,
            places: vec![],
        }
    }

    #[test]
    fn operations_while_they_run() {
        let mut s = running(Phase::Checking, Progress::default());
        s.operation = Some(Operation::Check);
        assert_eq!(state_line(&s, None, NOW), "Checking the repository…");
        s.phase = Some(Phase::Preparing);
        assert_eq!(state_line(&s, None, NOW), "Checking the repository…");
        s.phase = Some(Phase::Stopping);
        assert_eq!(state_line(&s, None, NOW), "Stopping the repository check…");
        s.operation = Some(Operation::Prune);
        s.phase = Some(Phase::Pruning);
        assert_eq!(state_line(&s, None, NOW), "Removing unused data…");
        // A helper that does not say the operation: the phase tells.
        s.operation = None;
        s.phase = Some(Phase::Forgetting);
        assert_eq!(state_line(&s, None, NOW), "Forgetting old snapshots…");
    }

    #[test]
    fn which_ends_are_notified_and_how() {
        let damaged = ended(
            Operation::Check,
            Some(Outcome::Failed),
            "restic check found damage in the repository: run \"igotchuu check\" again",
        );
        assert!(worth_notifying(&damaged));
        let n = notification(&damaged);
        assert_eq!(n.title, "Repository check failed");
        assert_eq!(
            n.body,
            "restic check found damage in the repository: run \"igotchuu check\" again."
        );
        assert!(n.urgent);
        let no_reason = ended(Operation::Check, Some(Outcome::Failed), "");
        assert!(notification(&no_reason).body.contains("igotchuu check"));
        assert!(!worth_notifying(&ended(
            Operation::Check,
            Some(Outcome::Completed),
            ""
        )));
        assert!(worth_notifying(&ended(Operation::Check, None, "")));
        for op in [Operation::Forget, Operation::Prune] {
            assert!(!worth_notifying(&ended(op, Some(Outcome::Completed), "")));
            assert!(!worth_notifying(&ended(op, Some(Outcome::Stopped), "")));
            assert!(worth_notifying(&ended(op, Some(Outcome::Failed), "x")));
        }
        let n = notification(&ended(
            Operation::Prune,
            Some(Outcome::Failed),
            "The repository is locked",
        ));
        assert_eq!(n.title, "Removing unused data failed");
        assert_eq!(n.body, "The repository is locked.");
        assert!(!worth_notifying(&ended(
            Operation::Backup,
            Some(Outcome::Postponed),
            ""
        )));
        assert!(worth_notifying(&finished(Outcome::Completed, 0)));
        assert_eq!(
            last_operation_line(&ended(Operation::Check, Some(Outcome::Completed), ""), NOW),
            "Last check 5 minutes ago: passed"
        );
        assert_eq!(
            last_operation_line(&damaged, NOW),
            "Last check failed 5 minutes ago: restic check found damage in the repository: \
             run \"igotchuu check\" again."
        );
    }

    #[test]
    fn stale_and_postponed_in_the_tooltip() {
        let day = crate::outlook::DAY;
        let stale = Outlook {
            last_saved_at: Some(NOW - 10 * day - 5),
            stale_after_days: 7,
            stale: true,
            postponed: Some(Postponed {
                operation: Operation::Backup,
                at: NOW - 60,
                reason: "Postponed: the computer is on battery; it runs when it is plugged in"
                    .into(),
            }),
        };
        let last = finished(Outcome::Completed, 10 * day + 5);
        let t = tooltip(&idle(), Some(&last), &stale, NOW);
        assert_eq!(t.title, "igotchuu: No backup for 10 days");
        assert_eq!(
            t.body,
            "Last backup 10 days ago: 12 new and 3 changed files\n\
             Backup postponed: the computer is on battery; it runs when it is plugged in."
        );
        let n = stale_notice(&stale, NOW);
        assert_eq!(n.title, "No backup for 10 days");
        assert!(n
            .body
            .starts_with("The last backup finished 10 days ago; igotchuu warns after 7 days."));
        assert!(n.back_up_now);
        let p = postponed_notice(stale.postponed.as_ref().unwrap());
        assert_eq!(p.title, "Backup postponed");
        assert_eq!(
            p.body,
            "The computer is on battery; it runs when it is plugged in."
        );
        // While a backup runs, it is not stale, and nothing is postponed.
        let s = running(Phase::BackingUp, Progress::default());
        let t = tooltip(&s, Some(&last), &stale, NOW);
        assert_eq!(t.title, "igotchuu");
        assert_eq!(t.body, "Backing up /home…");
        let never = Outlook {
            last_saved_at: None,
            postponed: None,
            ..stale
        };
        assert_eq!(
            tooltip(&idle(), None, &never, NOW).title,
            "igotchuu: No backup yet"
        );
        assert_eq!(stale_notice(&never, NOW).title, "No backup yet");
        let fine = Outlook::default();
        assert_eq!(tooltip(&idle(), None, &fine, NOW).title, "igotchuu");
    }
}
