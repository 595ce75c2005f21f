//! What every local user may learn about a backup: that it runs, how far it
//! got, its counts, and how it ended. Never a path, a file name, a command
//! line or an error text: the helper reads every user's files, so those
//! are for root and administrators only.

use crate::history::RunRecord;
use crate::{Outcome, Progress};

/// The reason everyone may read, for a run that ended as `outcome`.
pub fn public_reason(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Completed => "Backup completed",
        Outcome::CompletedWithWarnings => {
            "Backup completed, but some files could not be read; an administrator can see which"
        }
        Outcome::Failed => "Backup failed; an administrator can see why",
        Outcome::Stopped => "Stopped on request; no snapshot was saved",
    }
}

/// `record` as every local user may see it.
pub fn run_record(record: &RunRecord) -> RunRecord {
    RunRecord {
        reason: public_reason(record.outcome).to_owned(),
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
            started_at: 1,
            finished_at: 2,
            outcome: Outcome::CompletedWithWarnings,
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
        };
        let public = run_record(&record);
        let json = serde_json::to_string(&public).unwrap();
        assert!(!json.contains("alice"), "{json}");
        assert_eq!(public.error_count, 1);
        assert_eq!(public.summary, record.summary);
        assert_eq!((public.started_at, public.outcome), (1, record.outcome));
        let p = progress(&Progress {
            percent_done: 0.5,
            current_files: vec![secret.into()],
            ..Progress::default()
        });
        assert!(p.current_files.is_empty() && p.percent_done == 0.5);
        for o in [
            Outcome::Completed,
            Outcome::CompletedWithWarnings,
            Outcome::Failed,
            Outcome::Stopped,
        ] {
            assert!(!public_reason(o).is_empty());
        }
    }
}
