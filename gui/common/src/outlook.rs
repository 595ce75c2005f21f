//! Whether backups can be relied on: how long ago the latest backup that
//! saved a snapshot finished (staleness), and whether a scheduled run is
//! postponed. Pure: it takes the history, the helper's settings, what was
//! heard on the bus and `now`; the clock is the caller's, and the times
//! are the history's.

use igotchuu_dbus::history::{History, RunRecord};
use igotchuu_dbus::settings::Settings;
use igotchuu_dbus::{Operation, Outcome, Retention};

use crate::i18n::{fill, gettext, ngettext_n};
use crate::Finished;

pub const DAY: u64 = 24 * 3600;

/// What the tray and the window warn about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlook {
    /// When the latest backup that saved a snapshot finished (Unix
    /// seconds), from the history or the bus; `None`: never.
    pub last_saved_at: Option<u64>,
    /// The helper's `stale_after_days`.
    pub stale_after_days: u64,
    /// The latest backup is older than that, or there never was one.
    pub stale: bool,
    /// A scheduled run that waits for a condition to clear, if the latest
    /// run of its operation is one.
    pub postponed: Option<Postponed>,
}

/// A postponed run, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postponed {
    pub operation: Operation,
    /// When it was recorded (Unix seconds).
    pub at: u64,
    /// The helper's sentence, e.g. "Postponed: the computer is on battery;
    /// it runs when it is plugged in".
    pub reason: String,
}

impl Default for Outlook {
    /// Before anything was read: nothing to warn about yet.
    fn default() -> Self {
        Outlook {
            last_saved_at: None,
            stale_after_days: igotchuu_dbus::settings::DEFAULT_STALE_AFTER_DAYS,
            stale: false,
            postponed: None,
        }
    }
}

/// The outlook at `now`. `heard` is the latest backup this client heard
/// end on the bus (the history may not have it: the original helper
/// writes none).
pub fn outlook(
    history: &History,
    settings: &Settings,
    heard: Option<&Finished>,
    now: u64,
) -> Outlook {
    let from_history = history.last_saved_backup().map(|r| r.finished_at);
    let from_bus = heard
        .filter(|f| f.operation == Operation::Backup)
        .filter(|f| f.outcome.is_some_and(Outcome::saved_snapshot))
        .map(|f| f.finished_at);
    let last_saved_at = from_history.max(from_bus);
    let days = settings.stale_after_days.max(1);
    let stale = last_saved_at.is_none_or(|t| now.saturating_sub(t) > days * DAY);
    Outlook {
        last_saved_at,
        stale_after_days: days,
        stale,
        postponed: postponed(history),
    }
}

/// The newest postponed record whose operation has not run since.
fn postponed(history: &History) -> Option<Postponed> {
    Operation::ALL
        .iter()
        .filter_map(|&op| history.last_of(op))
        .filter(|r| r.outcome == Outcome::Postponed)
        .max_by_key(|r| r.finished_at)
        .map(|r: &RunRecord| Postponed {
            operation: r.operation,
            at: r.finished_at,
            reason: r.reason.clone(),
        })
}

/// Whole days since `t`.
pub fn days_since(t: u64, now: u64) -> u64 {
    now.saturating_sub(t) / DAY
}

/// The retention policy in words: "Keep the last 3, 7 daily, 4 weekly",
/// "Keep everything (no retention policy)".
pub fn retention(r: &Retention) -> String {
    if r.is_empty() {
        return gettext("Keep everything (no retention policy)");
    }
    let mut parts: Vec<String> = r
        .counts()
        .map(|(key, n)| {
            let template = match key {
                // xgettext: in "Keep the last 3, 7 daily, 4 weekly".
                "keep_last" => gettext("the last {n}"),
                "keep_hourly" => gettext("{n} hourly"),
                "keep_daily" => gettext("{n} daily"),
                "keep_weekly" => gettext("{n} weekly"),
                "keep_monthly" => gettext("{n} monthly"),
                "keep_yearly" => gettext("{n} yearly"),
                other => format!("{{n}} ({other})"),
            };
            fill(&template, &[("n", &n.to_string())])
        })
        .collect();
    if let Some(within) = &r.keep_within {
        parts.push(fill(
            // xgettext: {duration} is e.g. "2 years 5 months".
            &gettext("all within {duration}"),
            &[("duration", &duration_words(within))],
        ));
    }
    // xgettext: {policy} is e.g. "the last 3, 7 daily, 4 weekly".
    fill(&gettext("Keep {policy}"), &[("policy", &parts.join(", "))])
}

/// restic's "2y5m7d3h" as "2 years 5 months 7 days 3 hours"; anything
/// else as written.
fn duration_words(d: &str) -> String {
    let mut out = Vec::new();
    let mut number = String::new();
    for c in d.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let Ok(n) = number.parse::<u64>() else {
            return d.to_owned();
        };
        out.push(match c {
            'y' => ngettext_n("{n} year", "{n} years", n),
            'm' => ngettext_n("{n} month", "{n} months", n),
            'd' => ngettext_n("{n} day", "{n} days", n),
            'h' => ngettext_n("{n} hour", "{n} hours", n),
            _ => return d.to_owned(),
        });
        number.clear();
    }
    if !number.is_empty() || out.is_empty() {
        return d.to_owned();
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use igotchuu_dbus::settings::Settings;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn record(op: Operation, outcome: Outcome, finished_ago: u64) -> RunRecord {
        RunRecord {
            reason: format!("{outcome}"),
            ..RunRecord::new(op, outcome, NOW - finished_ago - 60, NOW - finished_ago)
        }
    }

    fn history(records: Vec<RunRecord>) -> History {
        let mut h = History::default();
        for r in records {
            h.push(r);
        }
        h
    }

    #[test]
    fn stale_after_the_threshold_or_never() {
        let s = Settings::default();
        let never = outlook(&History::default(), &s, None, NOW);
        assert!(never.stale);
        assert_eq!(never.last_saved_at, None);
        // A failed backup and a check save nothing.
        let h = history(vec![
            record(Operation::Backup, Outcome::Failed, 3600),
            record(Operation::Check, Outcome::Completed, 60),
        ]);
        assert!(outlook(&h, &s, None, NOW).stale);
        let ten_days = history(vec![
            record(Operation::Backup, Outcome::Completed, 10 * DAY),
            record(Operation::Backup, Outcome::Failed, DAY),
        ]);
        let o = outlook(&ten_days, &s, None, NOW);
        assert!(o.stale);
        assert_eq!(o.last_saved_at, Some(NOW - 10 * DAY));
        assert_eq!(days_since(o.last_saved_at.unwrap(), NOW), 10);
        let lenient = Settings {
            stale_after_days: 14,
            ..Settings::default()
        };
        assert!(!outlook(&ten_days, &lenient, None, NOW).stale);
        let fresh = history(vec![record(
            Operation::Backup,
            Outcome::CompletedWithWarnings,
            7 * DAY,
        )]);
        assert!(!outlook(&fresh, &s, None, NOW).stale, "7 days is not older");
    }

    #[test]
    fn a_backup_heard_on_the_bus_counts() {
        let heard = Finished {
            operation: Operation::Backup,
            outcome: Some(Outcome::Completed),
            reason: String::new(),
            summary: None,
            data_added_unknown: false,
            started_at: NOW - 100,
            finished_at: NOW - 10,
            error_count: 0,
            places: vec![],
        };
        let o = outlook(&History::default(), &Settings::default(), Some(&heard), NOW);
        assert!(!o.stale);
        let check = Finished {
            operation: Operation::Check,
            ..heard
        };
        let o = outlook(&History::default(), &Settings::default(), Some(&check), NOW);
        assert!(o.stale);
    }

    #[test]
    fn postponed_until_its_operation_runs() {
        let h = history(vec![
            record(Operation::Backup, Outcome::Completed, 2 * DAY),
            record(Operation::Backup, Outcome::Postponed, DAY),
        ]);
        let p = outlook(&h, &Settings::default(), None, NOW)
            .postponed
            .unwrap();
        assert_eq!(p.operation, Operation::Backup);
        assert_eq!(p.at, NOW - DAY);
        let ran = history(vec![
            record(Operation::Backup, Outcome::Postponed, DAY),
            record(Operation::Backup, Outcome::Completed, 60),
        ]);
        assert_eq!(
            outlook(&ran, &Settings::default(), None, NOW).postponed,
            None
        );
    }

    #[test]
    fn retention_in_words() {
        assert_eq!(
            retention(&Retention::default()),
            "Keep everything (no retention policy)"
        );
        let r = Retention {
            keep_last: Some(3),
            keep_daily: Some(7),
            keep_weekly: Some(4),
            ..Retention::default()
        };
        assert_eq!(retention(&r), "Keep the last 3, 7 daily, 4 weekly");
        let r = Retention {
            keep_monthly: Some(12),
            keep_within: Some("2y5m7d3h".into()),
            ..Retention::default()
        };
        assert_eq!(
            retention(&r),
            "Keep 12 monthly, all within 2 years 5 months 7 days 3 hours"
        );
        assert_eq!(duration_words("1d"), "1 day");
        assert_eq!(duration_words("7"), "7");
        assert_eq!(duration_words("3w"), "3w");
    }
}
