//! The window's own words and icons for phases and outcomes. Sentences the
//! tray shares come from `igotchuu_desktop::texts`.

use gtk::{gdk, glib};
use igotchuu_dbus::{Outcome, Phase};
use igotchuu_desktop::i18n::{fill, gettext, ngettext_n};
use igotchuu_desktop::{format, Finished};

/// The running page's title.
pub fn phase_title(phase: Phase) -> String {
    match phase {
        Phase::Preparing => gettext("Preparing…"),
        Phase::Snapshotting => gettext("Taking Snapshots…"),
        Phase::BackingUp => gettext("Backing Up…"),
        Phase::Forgetting => gettext("Forgetting Old Snapshots…"),
        Phase::Pruning => gettext("Removing Unused Data…"),
        Phase::Checking => gettext("Checking the Repository…"),
        Phase::Restoring => gettext("Restoring Files…"),
        Phase::Stopping => gettext("Stopping…"),
        Phase::CleaningUp => gettext("Cleaning Up…"),
    }
}

/// A finished run's title; `None`: nobody can say how it ended.
pub fn outcome_title(outcome: Option<Outcome>) -> String {
    match outcome {
        None => gettext("Backup Outcome Unknown"),
        Some(Outcome::Completed) => gettext("Backup Completed"),
        Some(Outcome::CompletedWithWarnings) => gettext("Backup Completed with Warnings"),
        Some(Outcome::Failed) => gettext("Backup Failed"),
        Some(Outcome::Stopped) => gettext("Backup Stopped"),
        Some(Outcome::Postponed) => gettext("Backup Postponed"),
    }
}

/// A finished run's outcome in a list: one or two words.
pub fn outcome_word(outcome: Option<Outcome>) -> String {
    match outcome {
        None => gettext("Outcome unknown"),
        Some(Outcome::Completed) => gettext("Completed"),
        Some(Outcome::CompletedWithWarnings) => gettext("Completed with warnings"),
        Some(Outcome::Failed) => gettext("Failed"),
        Some(Outcome::Stopped) => gettext("Stopped"),
        Some(Outcome::Postponed) => gettext("Postponed"),
    }
}

/// Icons: the app's own, when installed, else Adwaita's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icon {
    App,
    Running,
    /// `None`: how the run ended is unknown.
    Outcome(Option<Outcome>),
}

impl Icon {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Icon::App => ("com.nyantec.IGotChuu-symbolic", "drive-harddisk-symbolic"),
            Icon::Running => (
                "com.nyantec.IGotChuu-backing-up-symbolic",
                "emblem-synchronizing-symbolic",
            ),
            Icon::Outcome(Some(Outcome::Completed)) => {
                ("com.nyantec.IGotChuu-idle-symbolic", "emblem-ok-symbolic")
            }
            Icon::Outcome(Some(Outcome::CompletedWithWarnings)) => (
                "com.nyantec.IGotChuu-warning-symbolic",
                "dialog-warning-symbolic",
            ),
            Icon::Outcome(Some(Outcome::Failed)) => (
                "com.nyantec.IGotChuu-failed-symbolic",
                "dialog-error-symbolic",
            ),
            Icon::Outcome(Some(Outcome::Postponed)) => {
                ("com.nyantec.IGotChuu-postponed-symbolic", "alarm-symbolic")
            }
            Icon::Outcome(Some(Outcome::Stopped)) => {
                ("media-playback-stop-symbolic", "process-stop-symbolic")
            }
            Icon::Outcome(None) => ("dialog-question-symbolic", "dialog-question-symbolic"),
        }
    }

    /// The icon name to use on this display.
    pub fn name(self) -> &'static str {
        let (own, fallback) = self.names();
        let installed =
            gdk::Display::default().is_some_and(|d| gtk::IconTheme::for_display(&d).has_icon(own));
        if installed {
            own
        } else {
            fallback
        }
    }

    /// The style class that colours the icon in a list.
    pub fn css_class(self) -> Option<&'static str> {
        match self {
            Icon::Outcome(Some(Outcome::Completed)) => Some("success"),
            Icon::Outcome(Some(Outcome::CompletedWithWarnings) | None) => Some("warning"),
            Icon::Outcome(Some(Outcome::Failed)) => Some("error"),
            _ => None,
        }
    }
}

/// What a finished run did, in one line: "12 new files, 1.2 MB added",
/// "3 files could not be read", or the reason it failed.
pub fn one_line(f: &Finished) -> String {
    let Some(outcome) = f.outcome else {
        return gettext("The backup helper did not say how it ended");
    };
    if f.operation != igotchuu_dbus::Operation::Backup {
        // No files or snapshots of its own: its reason says what it did.
        let reason = f.reason.trim().trim_end_matches('.');
        return match (outcome, reason.is_empty()) {
            (_, false) => reason.to_owned(),
            (Outcome::Completed | Outcome::CompletedWithWarnings, true) => {
                if f.operation == igotchuu_dbus::Operation::Check {
                    gettext("No errors were found")
                } else {
                    gettext("Done")
                }
            }
            (Outcome::Stopped, true) => gettext("Stopped on request"),
            (Outcome::Postponed, true) => gettext("Waits for its conditions"),
            (Outcome::Failed, true) => gettext("It did not complete"),
        };
    }
    match (outcome, &f.summary) {
        (Outcome::Completed | Outcome::CompletedWithWarnings, Some(s)) => {
            let added = match f.data_added() {
                Some(bytes) => fill(
                    &gettext("{size} added"),
                    &[("size", &glib::format_size(bytes))],
                ),
                None => gettext("added size unknown"),
            };
            let mut line = format!(
                "{}, {added}",
                capitalized(&igotchuu_desktop::texts::files_phrase(s)),
            );
            if f.error_count > 0 {
                line.push_str(", ");
                line.push_str(&skipped(f.error_count));
            }
            line
        }
        (Outcome::CompletedWithWarnings, None) => skipped(f.error_count),
        (Outcome::Completed, None) => gettext("A snapshot was saved"),
        (Outcome::Failed | Outcome::Stopped | Outcome::Postponed, _) => {
            let reason = f.reason.trim().trim_end_matches('.');
            match (outcome, reason.is_empty()) {
                (Outcome::Stopped, true) => gettext("Stopped on request"),
                (_, true) => gettext("No snapshot was saved"),
                _ => reason.to_owned(),
            }
        }
    }
}

/// "3 files skipped".
fn skipped(n: u64) -> String {
    ngettext_n("{n} file skipped", "{n} files skipped", n)
}

/// A repository check, in one line: "Passed today at 02:00", "Failed
/// Sun 1 Nov at 02:00 (1 month ago)" (the page's warning says why).
pub fn check_line(f: &Finished, now: u64) -> String {
    let (when, named) = crate::clock::day_and_time_in_sentence(f.finished_at, now);
    // "yesterday at 02:00" says how long ago; "Sun 1 Nov at 02:00" not.
    let when = if named {
        when
    } else {
        fill(
            // xgettext: "Sun 1 Nov at 02:00 (1 month ago)".
            &gettext("{when} ({ago})"),
            &[("when", &when), ("ago", &format::ago(f.finished_at, now))],
        )
    };
    let template = match f.outcome {
        // xgettext: {when} is e.g. "today at 02:00" or "Sun 1 Nov at 02:00 (1 month ago)".
        None => gettext("Ended {when}, outcome unknown"),
        Some(Outcome::Completed | Outcome::CompletedWithWarnings) => gettext("Passed {when}"),
        Some(Outcome::Failed) => gettext("Failed {when}"),
        Some(Outcome::Stopped) => gettext("Stopped {when}"),
        Some(Outcome::Postponed) => gettext("Postponed {when}"),
    };
    fill(&template, &[("when", &when)])
}

/// The Stop dialog's heading, body and button for `op`.
pub fn stop_dialog(op: igotchuu_dbus::Operation) -> (String, String, String) {
    use igotchuu_dbus::Operation;
    match op {
        Operation::Backup => (
            gettext("Stop the Backup?"),
            gettext(
                "No snapshot will be saved. The next backup starts from the last snapshot, as if this one never ran.",
            ),
            gettext("_Stop Backup"),
        ),
        Operation::Forget => (
            gettext("Stop Forgetting Old Snapshots?"),
            gettext(
                "The snapshots the policy would remove stay until the next backup forgets them.",
            ),
            gettext("_Stop"),
        ),
        Operation::Prune => (
            gettext("Stop Removing Unused Data?"),
            gettext("The repository stays as it is; its unused data is removed the next time."),
            gettext("_Stop"),
        ),
        Operation::Check => (
            gettext("Stop the Repository Check?"),
            gettext("Nothing is changed; the repository is checked the next time."),
            gettext("_Stop Check"),
        ),
        Operation::Restore => (
            gettext("Stop the Restore?"),
            gettext("The files restored so far stay where they are; the rest are not restored."),
            gettext("_Stop Restore"),
        ),
    }
}

/// The running page's Stop button for `op`.
pub fn stop_button(op: igotchuu_dbus::Operation) -> String {
    match op {
        igotchuu_dbus::Operation::Backup => gettext("_Stop Backup…"),
        igotchuu_dbus::Operation::Check => gettext("_Stop Check…"),
        _ => gettext("_Stop…"),
    }
}

/// An operation's name in a list: "Backup", "Forget", "Prune", "Check".
pub fn operation_word(op: igotchuu_dbus::Operation) -> String {
    match op {
        igotchuu_dbus::Operation::Backup => gettext("Backup"),
        igotchuu_dbus::Operation::Forget => gettext("Forget old snapshots"),
        igotchuu_dbus::Operation::Prune => gettext("Remove unused data"),
        igotchuu_dbus::Operation::Check => gettext("Repository check"),
        igotchuu_dbus::Operation::Restore => gettext("Restore"),
    }
}

/// "Finished 2 hours ago", "Finished just now".
pub fn finished_ago(f: &Finished, now: u64) -> String {
    fill(
        // xgettext: {ago} is e.g. "2 hours ago" or "just now".
        &gettext("Finished {ago}"),
        &[("ago", &format::ago(f.finished_at, now))],
    )
}

pub fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use igotchuu_dbus::Summary;

    use super::*;

    fn finished(outcome: Outcome, reason: &str, summary: Option<Summary>, errors: u64) -> Finished {
        Finished {
            operation: igotchuu_dbus::Operation::Backup,
            outcome: Some(outcome),
            reason: reason.into(),
            summary,
            data_added_unknown: false,
            started_at: 100,
            finished_at: 200,
            error_count: errors,
            places: vec!["/home".into()],
        }
    }

    #[test]
    fn one_line_says_what_matters_for_each_outcome() {
        let s = Summary {
            files_new: 12,
            files_changed: 3,
            data_added: 1_234_567,
            ..Default::default()
        };
        assert_eq!(
            one_line(&finished(Outcome::Completed, "", Some(s.clone()), 0)),
            "12 new and 3 changed files, 1.2\u{a0}MB added"
        );
        assert_eq!(
            one_line(&finished(Outcome::CompletedWithWarnings, "", Some(s), 2)),
            "12 new and 3 changed files, 1.2\u{a0}MB added, 2 files skipped"
        );
        assert_eq!(
            one_line(&finished(
                Outcome::Failed,
                "The repository is locked.",
                None,
                0
            )),
            "The repository is locked"
        );
        assert_eq!(
            one_line(&finished(Outcome::Failed, " ", None, 0)),
            "No snapshot was saved"
        );
        assert_eq!(
            one_line(&finished(Outcome::Stopped, "", None, 0)),
            "Stopped on request"
        );
    }

    #[test]
    fn other_operations_say_their_reason() {
        let mut f = finished(Outcome::Completed, "", None, 0);
        f.operation = igotchuu_dbus::Operation::Check;
        assert_eq!(one_line(&f), "No errors were found");
        f.outcome = Some(Outcome::Failed);
        f.reason = "The repository is damaged. Run igotchuu check.".into();
        assert_eq!(
            one_line(&f),
            "The repository is damaged. Run igotchuu check"
        );
        f.operation = igotchuu_dbus::Operation::Forget;
        f.outcome = Some(Outcome::Completed);
        f.reason = String::new();
        assert_eq!(one_line(&f), "Done");
        assert_eq!(
            operation_word(igotchuu_dbus::Operation::Check),
            "Repository check"
        );
    }

    #[test]
    fn titles_never_confuse_outcomes() {
        let all = [
            Outcome::Completed,
            Outcome::CompletedWithWarnings,
            Outcome::Failed,
            Outcome::Stopped,
        ];
        let all = all.map(Some);
        let titles: std::collections::HashSet<_> = all
            .iter()
            .chain([&None])
            .map(|o| outcome_title(*o))
            .collect();
        assert_eq!(titles.len(), all.len() + 1);
        assert_eq!(capitalized("no changed files"), "No changed files");
    }
}
