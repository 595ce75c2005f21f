//! The pure part of the run conditions: which services matter under the
//! configuration, which conditions the readings leave unmet, what people
//! are told, and whether a postponed run still has anything to do.

use igotchuu_dbus::history::History;
use igotchuu_dbus::{Operation, RunCondition};

use crate::config::Config;
use crate::i18n::{fill, gettext};

/// NetworkManager's `NM_METERED_YES`.
const NM_METERED_YES: u32 = 1;
/// NetworkManager's `NM_METERED_GUESS_YES`: a phone's hotspot, usually.
const NM_METERED_GUESS_YES: u32 = 3;

/// What the configuration lets scheduled runs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub run_on_battery: bool,
    pub run_on_metered: bool,
    /// The repository is reached over the network: only then does a
    /// metered connection matter.
    pub repository_is_remote: bool,
}

impl Policy {
    pub fn of(config: &Config) -> Self {
        Policy {
            run_on_battery: config.run_on_battery,
            run_on_metered: config.run_on_metered,
            repository_is_remote: config.repository_is_remote(),
        }
    }

    /// Whether UPower is worth asking.
    pub fn watches_battery(self) -> bool {
        !self.run_on_battery
    }

    /// Whether NetworkManager is worth asking.
    pub fn watches_metered(self) -> bool {
        self.repository_is_remote && !self.run_on_metered
    }
}

/// What the services said. `None`: the service is absent, failed, or was
/// not asked; that condition counts as clear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readings {
    /// UPower's `OnBattery`.
    pub on_battery: Option<bool>,
    /// NetworkManager's `Metered` (`NMMetered`).
    pub metered: Option<u32>,
}

/// Whether NetworkManager's `Metered` value means "metered": yes and
/// guess-yes; unknown, no and guess-no do not.
pub fn is_metered(nm_metered: u32) -> bool {
    matches!(nm_metered, NM_METERED_YES | NM_METERED_GUESS_YES)
}

/// The conditions that hold a scheduled run back, in a fixed order.
pub fn unmet(readings: Readings, policy: Policy) -> Vec<RunCondition> {
    let mut unmet = Vec::new();
    if policy.watches_battery() && readings.on_battery == Some(true) {
        unmet.push(RunCondition::OnBattery);
    }
    if policy.watches_metered() && readings.metered.is_some_and(is_metered) {
        unmet.push(RunCondition::Metered);
    }
    unmet
}

/// The operation as the subject of a sentence.
fn subject(operation: Operation) -> &'static str {
    match operation {
        Operation::Backup => "the backup",
        Operation::Forget => "removing old snapshots",
        Operation::Prune => "pruning the repository",
        Operation::Check => "the repository check",
        Operation::Restore => "the restore",
    }
}

/// What holds the run back, as a clause.
fn cause(condition: RunCondition) -> &'static str {
    match condition {
        RunCondition::OnBattery => "the computer runs on battery",
        RunCondition::Metered => {
            "the network connection is metered and the repository is on the network"
        }
    }
}

/// What clears it, as a clause after "when".
fn remedy(condition: RunCondition) -> &'static str {
    match condition {
        RunCondition::OnBattery => "it is plugged in",
        RunCondition::Metered => "a connection that is not metered is up",
    }
}

fn joined(conditions: &[RunCondition], part: fn(RunCondition) -> &'static str) -> String {
    conditions
        .iter()
        .map(|c| part(*c))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The record's reason for a postponed run, a sentence for people.
pub fn postponed_reason(operation: Operation, conditions: &[RunCondition]) -> String {
    format!(
        "Postponed: {}; {} starts when {}.",
        joined(conditions, cause),
        subject(operation),
        joined(conditions, remedy)
    )
}

/// What a run started by hand says about the conditions it overrides.
pub fn overridden_note(operation: Operation, conditions: &[RunCondition]) -> String {
    let mut subject = subject(operation).to_owned();
    if let Some(first) = subject.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    format!(
        "{subject} runs now although {}: it was started by hand, which overrides the run \
         conditions (scheduled runs wait).",
        joined(conditions, cause)
    )
}

/// [`overridden_note`] in the reader's language, for the terminal (the
/// log keeps the English one). Whole sentences per operation and set of
/// conditions: the English pieces do not combine in other languages.
pub fn overridden_words(operation: Operation, conditions: &[RunCondition]) -> String {
    let battery = conditions.contains(&RunCondition::OnBattery);
    let metered = conditions.contains(&RunCondition::Metered);
    let causes = match (battery, metered) {
        // xgettext: Why a run would wait, a clause after "although" in "The backup runs now although …".
        (true, false) => gettext("the computer runs on battery"),
        // xgettext: Why a run would wait, a clause after "although" in "The backup runs now although …".
        (false, true) => gettext("the network connection is metered and the repository is on the network"),
        // xgettext: Why a run would wait, a clause after "although" in "The backup runs now although …".
        (true, true) => gettext("the computer runs on battery and the network connection is metered and the repository is on the network"),
        (false, false) => return overridden_note(operation, conditions),
    };
    let template = match operation {
        // xgettext: A backup started by hand while a run condition is unmet; {conditions} is a clause such as "the computer runs on battery".
        Operation::Backup => gettext("The backup runs now although {conditions}: it was started by hand, which overrides the run conditions (scheduled runs wait)."),
        // xgettext: A forget (of old snapshots) started by hand while a run condition is unmet; {conditions} is a clause such as "the computer runs on battery".
        Operation::Forget => gettext("Removing old snapshots runs now although {conditions}: it was started by hand, which overrides the run conditions (scheduled runs wait)."),
        // xgettext: A prune started by hand while a run condition is unmet; {conditions} is a clause such as "the computer runs on battery".
        Operation::Prune => gettext("Pruning the repository runs now although {conditions}: it was started by hand, which overrides the run conditions (scheduled runs wait)."),
        // xgettext: A repository check started by hand while a run condition is unmet; {conditions} is a clause such as "the computer runs on battery".
        Operation::Check => gettext("The repository check runs now although {conditions}: it was started by hand, which overrides the run conditions (scheduled runs wait)."),
        // xgettext: A restore started by hand while a run condition is unmet; {conditions} is a clause such as "the computer runs on battery".
        Operation::Restore => gettext("The restore runs now although {conditions}: it was started by hand, which overrides the run conditions (scheduled runs wait)."),
    };
    fill(&template, &[("conditions", &causes)])
}

/// What a postponed run says when the conditions cleared.
pub fn cleared_note(operation: Operation) -> String {
    format!(
        "The run conditions are met now: {} starts.",
        subject(operation)
    )
}

/// What a postponed run says when another run did its work meanwhile.
pub fn satisfied_note(operation: Operation) -> String {
    match operation {
        Operation::Backup => {
            "Nothing left to do: a backup saved a snapshot while this one waited.".to_owned()
        }
        other => format!(
            "Nothing left to do: {} was done while this one waited.",
            subject(other)
        ),
    }
}

/// What a postponed run says when it gives up after `hours`.
pub fn gave_up_note(operation: Operation, conditions: &[RunCondition], hours: u64) -> String {
    format!(
        "Still postponed after {hours} hours: {}; {} waits for the next scheduled run.",
        joined(conditions, cause),
        subject(operation)
    )
}

/// Whether a run of `operation` for `profile` that did what the postponed
/// one was for began at or after `since` (seconds since the epoch): then
/// the postponed run has nothing left to do. For a backup, one that saved
/// a snapshot ("Back up now" while it waited); for the others, one that
/// completed.
pub fn satisfied_since(
    history: &History,
    operation: Operation,
    profile: Option<&str>,
    since: u64,
) -> bool {
    history.runs.iter().any(|r| {
        r.operation == operation
            && r.profile.as_deref() == profile
            && r.outcome.saved_snapshot()
            && r.started_at >= since
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use igotchuu_dbus::history::RunRecord;
    use igotchuu_dbus::Outcome;

    const STRICT: Policy = Policy {
        run_on_battery: false,
        run_on_metered: false,
        repository_is_remote: true,
    };

    fn read(on_battery: Option<bool>, metered: Option<u32>) -> Readings {
        Readings {
            on_battery,
            metered,
        }
    }

    #[test]
    fn on_battery_holds_a_run_back_unless_allowed() {
        assert_eq!(
            unmet(read(Some(true), None), STRICT),
            [RunCondition::OnBattery]
        );
        assert_eq!(unmet(read(Some(false), None), STRICT), []);
        let allowed = Policy {
            run_on_battery: true,
            ..STRICT
        };
        assert_eq!(unmet(read(Some(true), None), allowed), []);
        assert!(!allowed.watches_battery());
    }

    #[test]
    fn only_yes_and_guess_yes_are_metered() {
        let metered: Vec<u32> = (0..=5).filter(|v| is_metered(*v)).collect();
        assert_eq!(metered, [1, 3]);
        for v in [0, 2, 4] {
            assert_eq!(unmet(read(None, Some(v)), STRICT), [], "{v}");
        }
        for v in [1, 3] {
            assert_eq!(unmet(read(None, Some(v)), STRICT), [RunCondition::Metered]);
        }
    }

    #[test]
    fn metered_matters_only_for_a_network_repository_that_is_not_allowed_it() {
        let local = Policy {
            repository_is_remote: false,
            ..STRICT
        };
        assert!(!local.watches_metered());
        assert_eq!(unmet(read(None, Some(1)), local), []);
        let allowed = Policy {
            run_on_metered: true,
            ..STRICT
        };
        assert!(!allowed.watches_metered());
        assert_eq!(unmet(read(None, Some(1)), allowed), []);
    }

    #[test]
    fn an_absent_service_is_clear() {
        assert_eq!(unmet(Readings::default(), STRICT), []);
    }

    #[test]
    fn both_conditions_are_listed_in_order() {
        assert_eq!(
            unmet(read(Some(true), Some(3)), STRICT),
            [RunCondition::OnBattery, RunCondition::Metered]
        );
    }

    #[test]
    fn reasons_say_what_holds_the_run_back_and_what_clears_it() {
        assert_eq!(
            postponed_reason(Operation::Backup, &[RunCondition::OnBattery]),
            "Postponed: the computer runs on battery; the backup starts when it is plugged in."
        );
        let both = postponed_reason(
            Operation::Check,
            &[RunCondition::OnBattery, RunCondition::Metered],
        );
        assert!(both.starts_with("Postponed: the computer runs on battery and the network"));
        assert!(both.contains("the repository check starts when it is plugged in and a connection that is not metered is up"), "{both}");
        let note = overridden_note(Operation::Backup, &[RunCondition::OnBattery]);
        assert!(
            note.starts_with("The backup runs now although the computer runs on battery"),
            "{note}"
        );
        assert!(note.contains("started by hand"));
        assert_eq!(
            cleared_note(Operation::Prune),
            "The run conditions are met now: pruning the repository starts."
        );
        assert!(satisfied_note(Operation::Backup).contains("a backup saved a snapshot"));
        assert_eq!(
            satisfied_note(Operation::Check),
            "Nothing left to do: the repository check was done while this one waited."
        );
        assert_eq!(
            gave_up_note(Operation::Backup, &[RunCondition::OnBattery], 24),
            "Still postponed after 24 hours: the computer runs on battery; the backup \
             waits for the next scheduled run."
        );
    }

    #[test]
    fn the_terminal_note_is_the_logged_one_when_untranslated() {
        use RunCondition::{Metered, OnBattery};
        let ops = [
            Operation::Backup,
            Operation::Forget,
            Operation::Prune,
            Operation::Check,
            Operation::Restore,
        ];
        for operation in ops {
            for conditions in [&[OnBattery][..], &[Metered], &[OnBattery, Metered]] {
                assert_eq!(
                    overridden_words(operation, conditions),
                    overridden_note(operation, conditions)
                );
            }
        }
    }

    fn record(operation: Operation, outcome: Outcome, started_at: u64) -> RunRecord {
        RunRecord::new(operation, outcome, started_at, started_at + 1)
    }

    #[test]
    fn a_snapshot_saved_since_satisfies_a_postponed_backup() {
        let mut h = History::default();
        h.push(record(Operation::Backup, Outcome::Completed, 90));
        h.push(record(Operation::Backup, Outcome::Postponed, 100));
        assert!(!satisfied_since(&h, Operation::Backup, None, 100));
        h.push(record(Operation::Backup, Outcome::Failed, 110));
        h.push(record(Operation::Check, Outcome::Completed, 111));
        assert!(!satisfied_since(&h, Operation::Backup, None, 100));
        h.push(record(
            Operation::Backup,
            Outcome::CompletedWithWarnings,
            120,
        ));
        assert!(satisfied_since(&h, Operation::Backup, None, 100));
        assert!(
            !satisfied_since(&h, Operation::Backup, Some("laptop"), 100),
            "another profile's backup is not this one's"
        );
        assert!(satisfied_since(&h, Operation::Check, None, 100));
        assert!(!satisfied_since(&h, Operation::Prune, None, 0));
    }
}
