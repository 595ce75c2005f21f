//! The sentences the tray and the window show: the state line, the tooltip,
//! and what a notification says when a run ends.
//!
//! Everything takes `now` (seconds since the Unix epoch) instead of reading
//! the clock, so that a caller can compute it when the text is shown and a
//! test can pin it.

use igotchuu_dbus::{Operation, Outcome, Phase, Summary};

use crate::format;
use crate::i18n::{fill, gettext, ngettext, ngettext_n};
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
                Some(
                    op @ (Operation::Forget
                    | Operation::Prune
                    | Operation::Check
                    | Operation::Restore),
                ) => operation_line(op, phase),
                _ => run_line(state, phase),
            };
        }
    }
    match last {
        Some(f) => last_run_line(f, now),
        None => gettext("Never backed up"),
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
        lines.push(gettext("Cannot reach the system bus; waiting for it."));
    }
    lines.push(state_line(state, last, now));
    let running = state.bus_available && state.running();
    if running && state.error_count > 0 {
        lines.push(ngettext_n(
            "{n} file could not be read so far",
            "{n} files could not be read so far",
            state.error_count,
        ));
    }
    if let Some(p) = outlook.postponed.as_ref().filter(|_| !running) {
        lines.push(postponed_line(p));
    }
    let title = match stale_title(state, outlook, now) {
        // xgettext: {warning} is e.g. "No backup for 10 days".
        Some(t) => fill(&gettext("igotchuu: {warning}"), &[("warning", &t)]),
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
        None => gettext("No backup yet"),
        Some(t) => no_backup_for(days_since(t, now)),
    })
}

/// "No backup for 10 days".
fn no_backup_for(days: u64) -> String {
    ngettext_n("No backup for {n} day", "No backup for {n} days", days)
}

/// The daily reminder that backups are stale; it offers "Back up now".
pub fn stale_notice(outlook: &Outlook, now: u64) -> Notice {
    let (title, body) = match outlook.last_saved_at {
        None => (
            gettext("No backup yet"),
            gettext(
                "igotchuu has not saved a backup of this computer yet. Back up now, or check that the backup timer runs.",
            ),
        ),
        Some(t) => {
            let days = days_since(t, now);
            let finished = ngettext_n(
                "The last backup finished {n} day ago;",
                "The last backup finished {n} days ago;",
                days,
            );
            let warns = ngettext_n(
                "igotchuu warns after {n} day.",
                "igotchuu warns after {n} days.",
                outlook.stale_after_days,
            );
            let body = gettext(
                "Back up now, or see the history for why scheduled backups did not run.",
            );
            (no_backup_for(days), format!("{finished} {warns} {body}"))
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
    let (title, detail) = postponed_parts(p);
    match detail {
        Some(d) => fill(
            // xgettext: "Backup postponed: the computer is on battery."
            &gettext("{title}: {reason}"),
            &[("title", &title), ("reason", &lowercase_first(&d))],
        ),
        None => fill(
            // xgettext: {title} is e.g. "Backup postponed".
            &gettext("{title} until it can run."),
            &[("title", &title)],
        ),
    }
}

/// A postponed run's title ("Backup postponed") and, when the helper said
/// why, the reason as a sentence ("The computer is on battery.").
pub fn postponed_parts(p: &Postponed) -> (String, Option<String>) {
    let reason = p.reason.trim();
    let reason = reason
        .strip_prefix("Postponed:")
        .or_else(|| reason.strip_prefix("postponed:"))
        .unwrap_or(reason)
        .trim();
    let title = outcome_title(p.operation, Some(Outcome::Postponed));
    (title, sentence(reason).map(|r| capitalize(&r)))
}

/// The daily note that a scheduled run waits.
pub fn postponed_notice(p: &Postponed) -> Notice {
    let (title, body) = match postponed_parts(p) {
        (title, Some(body)) => (title, body),
        (_, None) => (postponed_line(p), String::new()),
    };
    Notice {
        title,
        body,
        urgent: false,
        back_up_now: p.operation == Operation::Backup,
    }
}

/// "Backup completed", "Repository check failed": how a run of `op`
/// ended, as a title. Each one whole, so that languages can inflect.
pub fn outcome_title(op: Operation, outcome: Option<Outcome>) -> String {
    use Outcome::*;
    match (op, outcome) {
        (Operation::Backup, None) => gettext("Backup ended, outcome unknown"),
        (Operation::Backup, Some(Completed)) => gettext("Backup completed"),
        (Operation::Backup, Some(CompletedWithWarnings)) => {
            gettext("Backup completed with warnings")
        }
        (Operation::Backup, Some(Failed)) => gettext("Backup failed"),
        (Operation::Backup, Some(Stopped)) => gettext("Backup stopped"),
        (Operation::Backup, Some(Postponed)) => gettext("Backup postponed"),
        (Operation::Forget, None) => gettext("Removing old snapshots ended, outcome unknown"),
        (Operation::Forget, Some(Completed | CompletedWithWarnings)) => {
            gettext("Removing old snapshots completed")
        }
        (Operation::Forget, Some(Failed)) => gettext("Removing old snapshots failed"),
        (Operation::Forget, Some(Stopped)) => gettext("Removing old snapshots stopped"),
        (Operation::Forget, Some(Postponed)) => gettext("Removing old snapshots postponed"),
        (Operation::Prune, None) => gettext("Removing unused data ended, outcome unknown"),
        (Operation::Prune, Some(Completed | CompletedWithWarnings)) => {
            gettext("Removing unused data completed")
        }
        (Operation::Prune, Some(Failed)) => gettext("Removing unused data failed"),
        (Operation::Prune, Some(Stopped)) => gettext("Removing unused data stopped"),
        (Operation::Prune, Some(Postponed)) => gettext("Removing unused data postponed"),
        (Operation::Check, None) => gettext("Repository check ended, outcome unknown"),
        (Operation::Check, Some(Completed | CompletedWithWarnings)) => {
            gettext("Repository check passed")
        }
        (Operation::Check, Some(Failed)) => gettext("Repository check failed"),
        (Operation::Check, Some(Stopped)) => gettext("Repository check stopped"),
        (Operation::Check, Some(Postponed)) => gettext("Repository check postponed"),
        (Operation::Restore, None) => gettext("Restore ended, outcome unknown"),
        (Operation::Restore, Some(Completed)) => gettext("Files restored"),
        (Operation::Restore, Some(CompletedWithWarnings)) => {
            gettext("Files restored, but some were left out")
        }
        (Operation::Restore, Some(Failed)) => gettext("Restore failed"),
        (Operation::Restore, Some(Stopped)) => gettext("Restore stopped"),
        (Operation::Restore, Some(Postponed)) => gettext("Restore postponed"),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
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
        // Someone asked for it and waits for the files.
        (Operation::Restore, _) => true,
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
    let (body, urgent) = match f.outcome {
        // Not a failure, not a success: say so, and where to look. Not
        // urgent (a failure's red): the tray's warning icon stays.
        None => (
            sentence(&reason(f)).unwrap_or_else(|| unknown_end(Operation::Backup)),
            false,
        ),
        Some(Outcome::Completed) => (result_sentences(f), false),
        Some(Outcome::CompletedWithWarnings) => {
            let skipped = ngettext_n(
                "{n} file could not be read and was skipped.",
                "{n} files could not be read and were skipped.",
                f.error_count,
            );
            (format!("{skipped} {}", result_sentences(f)), false)
        }
        Some(Outcome::Failed) => {
            let body =
                sentence(&f.reason).unwrap_or_else(|| gettext("The backup did not complete."));
            (nothing_saved(&body), true)
        }
        Some(Outcome::Stopped) => {
            let body = sentence(&f.reason).unwrap_or_else(|| gettext("Stopped on request."));
            (nothing_saved(&body), false)
        }
        Some(Outcome::Postponed) => (
            sentence(&f.reason).unwrap_or_else(|| gettext("It runs when it can.")),
            false,
        ),
    };
    Notice {
        title: outcome_title(Operation::Backup, f.outcome),
        body: body.trim().to_owned(),
        urgent,
        back_up_now: false,
    }
}

/// The notification for a finished forget, prune or check.
fn operation_notification(f: &Finished) -> Notice {
    let reason = sentence(&reason(f));
    let (body, urgent) = match f.outcome {
        None => (reason.unwrap_or_else(|| unknown_end(f.operation)), false),
        Some(Outcome::Failed) => {
            let fallback = match f.operation {
                Operation::Check => gettext(
                    "The repository could not be checked, or it is damaged. Run \"igotchuu check\" in a terminal to see restic's report.",
                ),
                _ => gettext("It did not complete. See the helper's log."),
            };
            (reason.unwrap_or(fallback), true)
        }
        Some(Outcome::Stopped) => (
            reason.unwrap_or_else(|| gettext("Stopped on request.")),
            false,
        ),
        Some(Outcome::Postponed) => (
            reason.unwrap_or_else(|| gettext("It runs when it can.")),
            false,
        ),
        // The bus does not count another operation's errors: the helper's
        // reason says it, or this.
        Some(Outcome::CompletedWithWarnings) if f.operation == Operation::Restore => (
            reason.unwrap_or_else(|| {
                gettext("Some files could not be restored. Files you may not read are left out.")
            }),
            false,
        ),
        Some(Outcome::Completed | Outcome::CompletedWithWarnings) => {
            (reason.unwrap_or_default(), false)
        }
    };
    Notice {
        title: outcome_title(f.operation, f.outcome),
        body,
        urgent,
        back_up_now: false,
    }
}

/// Why `f` ended as it did, for people: the helper's words, or, when
/// nobody knows how it ended, the follower's, in the reader's language.
pub fn reason(f: &Finished) -> String {
    let unknown = igotchuu_dbus::follow::unknown_end_reason(f.operation);
    if f.outcome.is_none() && f.reason.trim() == unknown {
        unknown_end(f.operation)
    } else {
        f.reason.clone()
    }
}

/// [`igotchuu_dbus::follow::unknown_end_reason`], translated.
fn unknown_end(op: Operation) -> String {
    match op {
        Operation::Backup => gettext("The backup helper did not say how the backup ended, and its history has no record of this run. See the helper's log."),
        Operation::Forget => gettext("The backup helper did not say how the removal of old snapshots ended, and its history has no record of it. See the helper's log."),
        Operation::Prune => gettext("The backup helper did not say how the removal of unused data ended, and its history has no record of it. See the helper's log."),
        Operation::Check => gettext("The backup helper did not say how the repository check ended, and its history has no record of it. See the helper's log."),
        Operation::Restore => gettext("The backup helper did not say how the restore ended, and its history has no record of it. See the helper's log."),
    }
}

/// What a forget, prune or check does while it runs.
fn operation_line(op: Operation, phase: Phase) -> String {
    match (op, phase) {
        (Operation::Forget, Phase::Stopping) => gettext("Stopping the removal of old snapshots…"),
        (Operation::Prune, Phase::Stopping) => gettext("Stopping the removal of unused data…"),
        (Operation::Restore, Phase::Stopping) => gettext("Stopping the restore…"),
        (Operation::Restore, _) => gettext("Restoring files…"),
        (_, Phase::Stopping) => gettext("Stopping the repository check…"),
        (Operation::Forget, _) => gettext("Forgetting old snapshots…"),
        (Operation::Prune, _) => gettext("Removing unused data…"),
        _ => gettext("Checking the repository…"),
    }
}

/// How the last run of a forget, prune or check went, in one line: "Last
/// check 3 days ago: no errors", "Last check failed 2 hours ago: …".
pub fn last_operation_line(f: &Finished, now: u64) -> String {
    let what = match f.operation {
        // xgettext: {what} in "Last {what} 3 days ago: passed".
        Operation::Backup => gettext("backup"),
        // xgettext: {what} in "Last {what} 3 days ago: passed".
        Operation::Forget => gettext("removal of old snapshots"),
        // xgettext: {what} in "Last {what} 3 days ago: passed".
        Operation::Prune => gettext("removal of unused data"),
        // xgettext: {what} in "Last {what} 3 days ago: passed".
        Operation::Check => gettext("check"),
        // xgettext: {what} in "Last {what} 3 days ago: passed".
        Operation::Restore => gettext("restore"),
    };
    let ago = format::ago(f.finished_at, now);
    let reason = sentence(&f.reason).unwrap_or_default();
    let template = match (f.outcome, reason.is_empty()) {
        // xgettext: {ago} is e.g. "3 days ago", {reason} the helper's words.
        (None, _) => gettext("Last {what} ended {ago}; outcome unknown"),
        (Some(Outcome::Failed), false) => gettext("Last {what} failed {ago}: {reason}"),
        (Some(Outcome::Failed), true) => gettext("Last {what} failed {ago}"),
        (Some(Outcome::Stopped), _) => gettext("Last {what} was stopped {ago}"),
        (Some(Outcome::Postponed), _) => gettext("Last {what} was postponed {ago}"),
        (Some(_), false) => gettext("Last {what} {ago}: {reason}"),
        (Some(_), true) => gettext("Last {what} {ago}: passed"),
    };
    fill(
        &template,
        &[("what", &what), ("ago", &ago), ("reason", &reason)],
    )
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
        // xgettext: two places, e.g. "/home and /srv".
        [a, b] => fill(&gettext("{a} and {b}"), &[("a", a), ("b", b)]),
        [first, rest @ ..] => fill(
            &ngettext_n(
                "{first} and {n} more place",
                "{first} and {n} more places",
                rest.len() as u64,
            ),
            &[("first", first)],
        ),
    }
}

/// "12 new and 3 changed files", "1 new file", "3 changed files", "no
/// changed files".
pub fn files_phrase(s: &Summary) -> String {
    match (s.files_new, s.files_changed) {
        (0, 0) => gettext("no changed files"),
        (n, 0) => ngettext_n("{n} new file", "{n} new files", n),
        (0, c) => ngettext_n("{n} changed file", "{n} changed files", c),
        (n, c) => fill(
            // xgettext: the plural follows {changed}: "12 new and 1 changed file".
            &ngettext(
                "{new} new and {changed} changed file",
                "{new} new and {changed} changed files",
                c,
            ),
            &[("new", &n.to_string()), ("changed", &c.to_string())],
        ),
    }
}

fn run_line(state: &DesktopState, phase: Phase) -> String {
    let places = places(&state.places);
    let of = |without: String, with: String| {
        if places.is_empty() {
            without
        } else {
            fill(&with, &[("places", &places)])
        }
    };
    match phase {
        Phase::Preparing => of(
            gettext("Preparing to back up…"),
            // xgettext: {places} is e.g. "/home and /srv".
            gettext("Preparing to back up {places}…"),
        ),
        Phase::Snapshotting => of(
            gettext("Taking snapshots…"),
            // xgettext: {places} is e.g. "/home and /srv".
            gettext("Taking snapshots of {places}…"),
        ),
        Phase::BackingUp => {
            let p = &state.progress;
            let started = p.percent_done > 0.0 || p.bytes_done > 0 || p.files_done > 0;
            if !started {
                return of(
                    gettext("Backing up…"),
                    // xgettext: {places} is e.g. "/home and /srv".
                    gettext("Backing up {places}…"),
                );
            }
            let mut progress = format::percent(p.percent_done);
            if let Some(eta) = p.eta_seconds() {
                progress = fill(
                    // xgettext: "42 %, about 3 min left".
                    &gettext("{percent}, {time_left}"),
                    &[("percent", &progress), ("time_left", &format::eta(eta))],
                );
            }
            let line = of(
                gettext("Backing up — {progress}"),
                // xgettext: {places} is e.g. "/home and /srv", {progress} "42 %, about 3 min left".
                gettext("Backing up {places} — {progress}"),
            );
            fill(&line, &[("progress", &progress)])
        }
        Phase::Forgetting => gettext("Forgetting old snapshots…"),
        Phase::Pruning => gettext("Removing unused data from the repository…"),
        Phase::Checking => gettext("Checking the repository…"),
        Phase::Restoring => gettext("Restoring files…"),
        Phase::Stopping => gettext("Stopping the backup…"),
        Phase::CleaningUp => gettext("Cleaning up after the backup…"),
    }
}

fn last_run_line(f: &Finished, now: u64) -> String {
    let ago = format::ago(f.finished_at, now);
    let skipped = || ngettext_n("{n} file skipped", "{n} files skipped", f.error_count);
    let (template, what) = match f.outcome {
        // xgettext: {ago} is e.g. "2 hours ago".
        None => (
            gettext("Last backup ended {ago}; outcome unknown"),
            String::new(),
        ),
        Some(Outcome::Completed) => match &f.summary {
            // xgettext: {ago} is e.g. "2 hours ago", {what} "12 new files".
            Some(s) => (gettext("Last backup {ago}: {what}"), files_phrase(s)),
            None => (gettext("Last backup {ago}"), String::new()),
        },
        Some(Outcome::CompletedWithWarnings) => match &f.summary {
            Some(s) => (
                gettext("Last backup {ago}: {what}"),
                format!("{}, {}", files_phrase(s), skipped()),
            ),
            None => (gettext("Last backup {ago}: {what}"), skipped()),
        },
        Some(Outcome::Failed) => match sentence(&f.reason) {
            // xgettext: {ago} is e.g. "2 hours ago", {what} the helper's reason.
            Some(reason) => (gettext("Last backup failed {ago}: {what}"), reason),
            None => (gettext("Last backup failed {ago}"), String::new()),
        },
        Some(Outcome::Stopped) => (gettext("Last backup was stopped {ago}"), String::new()),
        Some(Outcome::Postponed) => (gettext("Last backup was postponed {ago}"), String::new()),
    };
    fill(&template, &[("ago", &ago), ("what", &what)])
}

/// "12 new files, 1.2 MB added. Took 3 minutes."
fn result_sentences(f: &Finished) -> String {
    let Some(s) = &f.summary else {
        return gettext("A snapshot was saved.");
    };
    let mut files = files_phrase(s);
    if let Some(first) = files.get(..1) {
        files = first.to_uppercase() + &files[1..];
    }
    let mut out = fill(
        // xgettext: "12 new files, 1.2 MB added."
        &gettext("{files}, {added}."),
        &[("files", &files), ("added", &added_phrase(f))],
    );
    if s.total_duration.is_finite() && s.total_duration >= 0.0 {
        let took = format::duration(s.total_duration.round() as u64);
        out.push(' ');
        // xgettext: {duration} is e.g. "3 minutes".
        out.push_str(&fill(&gettext("Took {duration}."), &[("duration", &took)]));
    }
    out
}

/// "1.2 MB added", or, when the helper did not say (the original helper's
/// summary has no `data_added`), "added size unknown".
pub fn added_phrase(f: &Finished) -> String {
    match f.data_added() {
        // xgettext: {size} is e.g. "1.2 MB".
        Some(bytes) => fill(&gettext("{size} added"), &[("size", &format::size(bytes))]),
        None => gettext("added size unknown"),
    }
}

/// `body`, then that nothing was saved, unless the helper's reason says so
/// already ("Stopped on request; no snapshot was saved.").
fn nothing_saved(body: &str) -> String {
    const NOTHING_SAVED: &str = "no snapshot was saved";
    if body.to_lowercase().contains(NOTHING_SAVED) {
        body.to_owned()
    } else {
        format!("{body} {}", gettext("No snapshot was saved."))
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
    fn unknown_ends_are_said_in_the_same_words_as_the_follower() {
        for op in [
            Operation::Backup,
            Operation::Forget,
            Operation::Prune,
            Operation::Check,
        ] {
            let f = ended(op, None, &igotchuu_dbus::follow::unknown_end_reason(op));
            assert_eq!(reason(&f), igotchuu_dbus::follow::unknown_end_reason(op));
            assert_eq!(
                unknown_end(op),
                igotchuu_dbus::follow::unknown_end_reason(op)
            );
        }
        let told = ended(Operation::Backup, None, "restic was killed");
        assert_eq!(reason(&told), "restic was killed");
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
    fn every_end_of_a_restore_is_notified() {
        let done = ended(
            Operation::Restore,
            Some(Outcome::Completed),
            "Files were restored",
        );
        assert!(worth_notifying(&done));
        let n = notification(&done);
        assert_eq!(
            (n.title.as_str(), n.body.as_str()),
            ("Files restored", "Files were restored.")
        );
        let some = ended(Operation::Restore, Some(Outcome::CompletedWithWarnings), "");
        assert!(worth_notifying(&some));
        let n = notification(&some);
        assert_eq!(n.title, "Files restored, but some were left out");
        assert!(
            n.body.starts_with("Some files could not be restored."),
            "{n:?}"
        );
        for outcome in [Outcome::Failed, Outcome::Stopped] {
            assert!(worth_notifying(&ended(
                Operation::Restore,
                Some(outcome),
                ""
            )));
        }
        let mut s = running(Phase::Restoring, Progress::default());
        s.operation = Some(Operation::Restore);
        assert_eq!(state_line(&s, None, NOW), "Restoring files…");
        s.phase = Some(Phase::Stopping);
        assert_eq!(state_line(&s, None, NOW), "Stopping the restore…");
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
