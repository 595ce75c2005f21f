//! What every local user may learn about a backup: that it runs, how far it
//! got, its counts, and how it ended. Never a path, a file name, a command
//! line or an error text: the helper reads every user's files, so those
//! are for root and administrators only.

use crate::history::RunRecord;
use crate::{Operation, Outcome, Progress};

/// The reason everyone may read, for a run of `operation` that ended as
/// `outcome`. (A postponed run's conditions are in its record, and public.)
pub fn public_reason(operation: Operation, outcome: Outcome) -> &'static str {
    use Operation::*;
    use Outcome::*;
    match (operation, outcome) {
        (Backup, Completed) => "Backup completed",
        (Backup, CompletedWithWarnings) => {
            "Backup completed, but some files could not be read; an administrator can see which"
        }
        (Backup, Failed) => "Backup failed; an administrator can see why",
        (Backup, Stopped) => "Stopped on request; no snapshot was saved",
        (Forget, Completed | CompletedWithWarnings) => "Old snapshots were forgotten",
        (Prune, Completed | CompletedWithWarnings) => "Unused data was removed",
        (Check, Completed | CompletedWithWarnings) => "The repository is intact",
        (Restore, Completed) => "Files were restored",
        (Restore, CompletedWithWarnings) => {
            "Files were restored, but some could not be; the person who restored them can see which"
        }
        (Check, Failed) => "The repository check failed; an administrator can see why",
        (_, Failed) => "Failed; an administrator can see why",
        (_, Stopped) => "Stopped on request",
        (_, Postponed) => "Postponed until the run conditions are met",
    }
}

/// `record` as every local user may see it.
pub fn run_record(record: &RunRecord) -> RunRecord {
    RunRecord {
        // Which operation ran, and the run conditions (on battery,
        // metered), name nobody's files: everyone may see them.
        operation: record.operation,
        conditions: record.conditions.clone(),
        reason: public_reason(record.operation, record.outcome).to_owned(),
        places: Vec::new(),
        item_errors: Vec::new(),
        nested_subvolumes: Vec::new(),
        ..record.clone()
    }
}

/// `progress` without the names of the files restic is reading.
pub fn progress(progress: &Progress) -> Progress {
    Progress {
        current_files: Vec::new(),
        ..progress.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ItemError, Summary};

    #[test]
    fn nothing_that_names_a_file_is_left() {
        let secret = "/home/alice/private/diary.txt";
        let record = RunRecord {
            conditions: vec![crate::RunCondition::OnBattery],
            reason: format!("{secret} could not be read"),
            profile: Some("laptop".into()),
            places: vec![secret.into()],
            summary: Some(Summary {
                files_new: 3,
                ..Summary::default()
            }),
            error_count: 1,
            item_errors: vec![ItemError {
                error: format!("open {secret}: permission denied"),
                during: "archival".into(),
                item: secret.into(),
            }],
            nested_subvolumes: vec![secret.into()],
            ..RunRecord::new(
                crate::Operation::Check,
                Outcome::CompletedWithWarnings,
                1,
                2,
            )
        };
        let public = run_record(&record);
        let json = serde_json::to_string(&public).unwrap();
        assert!(!json.contains("alice"), "{json}");
        assert_eq!(public.error_count, 1);
        assert_eq!(public.summary, record.summary);
        assert_eq!((public.started_at, public.outcome), (1, record.outcome));
        // What ran and under which conditions is everyone's to know.
        assert_eq!(public.operation, crate::Operation::Check);
        assert_eq!(public.conditions, [crate::RunCondition::OnBattery]);
        let p = progress(&Progress {
            percent_done: 0.5,
            current_files: vec![secret.into()],
            ..Progress::default()
        });
        assert!(p.current_files.is_empty() && p.percent_done == 0.5);
        for op in Operation::ALL {
            for o in [
                Outcome::Completed,
                Outcome::CompletedWithWarnings,
                Outcome::Failed,
                Outcome::Stopped,
                Outcome::Postponed,
            ] {
                assert!(!public_reason(op, o).is_empty());
            }
        }
    }
}
