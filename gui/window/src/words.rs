//! The window's own words and icons for phases and outcomes. Sentences the
//! tray shares come from `igotchuu_desktop::texts`.

use gtk::{gdk, glib};
use igotchuu_dbus::{Outcome, Phase};
use igotchuu_desktop::{format, Finished};

/// The running page's title.
pub fn phase_title(phase: Phase) -> &'static str {
    match phase {
        Phase::Preparing => "Preparing…",
        Phase::Snapshotting => "Taking Snapshots…",
        Phase::BackingUp => "Backing Up…",
        Phase::Forgetting => "Forgetting Old Snapshots…",
        Phase::Pruning => "Removing Unused Data…",
        Phase::Checking => "Checking the Repository…",
        Phase::Stopping => "Stopping…",
        Phase::CleaningUp => "Cleaning Up…",
    }
}

/// A finished run's title; `None`: nobody can say how it ended.
pub fn outcome_title(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        None => "Backup Outcome Unknown",
        Some(Outcome::Completed) => "Backup Completed",
        Some(Outcome::CompletedWithWarnings) => "Backup Completed with Warnings",
        Some(Outcome::Failed) => "Backup Failed",
        Some(Outcome::Stopped) => "Backup Stopped",
        Some(Outcome::Postponed) => "Backup Postponed",
    }
}

/// A finished run's outcome in a list: one or two words.
pub fn outcome_word(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        None => "Outcome unknown",
        Some(Outcome::Completed) => "Completed",
        Some(Outcome::CompletedWithWarnings) => "Completed with warnings",
        Some(Outcome::Failed) => "Failed",
        Some(Outcome::Stopped) => "Stopped",
        Some(Outcome::Postponed) => "Postponed",
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
        return "The backup helper did not say how it ended".to_owned();
    };
    if f.operation != igotchuu_dbus::Operation::Backup {
        // No files or snapshots of its own: its reason says what it did.
        let reason = f.reason.trim().trim_end_matches('.');
        return match (outcome, reason.is_empty()) {
            (_, false) => reason.to_owned(),
            (Outcome::Completed | Outcome::CompletedWithWarnings, true) => {
                if f.operation == igotchuu_dbus::Operation::Check {
                    "No errors were found".to_owned()
                } else {
                    "Done".to_owned()
                }
            }
            (Outcome::Stopped, true) => "Stopped on request".to_owned(),
            (Outcome::Postponed, true) => "Waits for its conditions".to_owned(),
            (Outcome::Failed, true) => "It did not complete".to_owned(),
        };
    }
    match (outcome, &f.summary) {
        (Outcome::Completed | Outcome::CompletedWithWarnings, Some(s)) => {
            let added = match f.data_added() {
                Some(bytes) => format!("{} added", glib::format_size(bytes)),
                None => "added size unknown".to_owned(),
            };
            let mut line = format!(
                "{}, {added}",
                capitalized(&igotchuu_desktop::texts::files_phrase(s)),
            );
            if f.error_count > 0 {
                line.push_str(&format!(
                    ", {} skipped",
                    format::count(f.error_count, "file", "files")
                ));
            }
            line
        }
        (Outcome::CompletedWithWarnings, None) => {
            format!("{} skipped", format::count(f.error_count, "file", "files"))
        }
        (Outcome::Completed, None) => "A snapshot was saved".to_owned(),
        (Outcome::Failed | Outcome::Stopped | Outcome::Postponed, _) => {
            let reason = f.reason.trim().trim_end_matches('.');
            match (outcome, reason.is_empty()) {
                (Outcome::Stopped, true) => "Stopped on request".to_owned(),
                (_, true) => "No snapshot was saved".to_owned(),
                _ => reason.to_owned(),
            }
        }
    }
}

/// A repository check, in one line: "Passed today at 02:00", "Failed
/// Sun 1 Nov at 02:00 (1 month ago)" (the page's warning says why).
pub fn check_line(f: &Finished, now: u64) -> String {
    let when = crate::clock::day_and_time(f.finished_at, now);
    // "Yesterday at 02:00" says how long ago; "Sun 1 Nov at 02:00" not.
    let when = match when.split_once(' ') {
        Some((day @ ("Today" | "Yesterday"), rest)) => format!("{} {rest}", day.to_lowercase()),
        _ => format!("{when} ({})", format::ago(f.finished_at, now)),
    };
    match f.outcome {
        None => format!("Ended {when}, outcome unknown"),
        Some(Outcome::Completed | Outcome::CompletedWithWarnings) => format!("Passed {when}"),
        Some(Outcome::Failed) => format!("Failed {when}"),
        Some(Outcome::Stopped) => format!("Stopped {when}"),
        Some(Outcome::Postponed) => format!("Postponed {when}"),
    }
}

/// The Stop dialog's heading, body and button for `op`.
pub fn stop_dialog(op: igotchuu_dbus::Operation) -> (&'static str, &'static str, &'static str) {
    use igotchuu_dbus::Operation;
    match op {
        Operation::Backup => (
            "Stop the Backup?",
            "No snapshot will be saved. The next backup starts from the last snapshot, as \
             if this one never ran.",
            "_Stop Backup",
        ),
        Operation::Forget => (
            "Stop Forgetting Old Snapshots?",
            "The snapshots the policy would remove stay until the next backup forgets them.",
            "_Stop",
        ),
        Operation::Prune => (
            "Stop Removing Unused Data?",
            "The repository stays as it is; its unused data is removed the next time.",
            "_Stop",
        ),
        Operation::Check => (
            "Stop the Repository Check?",
            "Nothing is changed; the repository is checked the next time.",
            "_Stop Check",
        ),
    }
}

/// The running page's Stop button for `op`.
pub fn stop_button(op: igotchuu_dbus::Operation) -> &'static str {
    match op {
        igotchuu_dbus::Operation::Backup => "_Stop Backup…",
        igotchuu_dbus::Operation::Check => "_Stop Check…",
        _ => "_Stop…",
    }
}

/// An operation's name in a list: "Backup", "Forget", "Prune", "Check".
pub fn operation_word(op: igotchuu_dbus::Operation) -> &'static str {
    match op {
        igotchuu_dbus::Operation::Backup => "Backup",
        igotchuu_dbus::Operation::Forget => "Forget old snapshots",
        igotchuu_dbus::Operation::Prune => "Remove unused data",
        igotchuu_dbus::Operation::Check => "Repository check",
    }
}

/// "Finished 2 hours ago", "Finished just now".
pub fn finished_ago(f: &Finished, now: u64) -> String {
    format!("Finished {}", format::ago(f.finished_at, now))
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
