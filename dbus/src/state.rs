//! The vocabularies of a run: which operation it is, where it is, and how
//! it ended.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What the helper does in one run. A backup may be followed, in the same
/// run and under the same lock, by a forget (the retention policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Snapshots, `restic backup`, cleanup. History records without an
    /// operation (written before there were others) are backups.
    #[default]
    Backup,
    /// `restic forget` with the retention policy, for this host, profile
    /// and places only.
    Forget,
    /// `restic prune`: removes the data no snapshot needs any more.
    Prune,
    /// `restic check`: reads the repository's structure, and a subset of
    /// its data if configured.
    Check,
    /// Files of a snapshot brought back: into a folder the caller chose,
    /// copied as the caller (Restore), or over the originals by an
    /// administrator (RestoreInPlace).
    Restore,
}

/// What a run is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Preparing,
    Snapshotting,
    BackingUp,
    /// restic forget runs (Operation::Forget).
    Forgetting,
    /// restic prune runs (Operation::Prune).
    Pruning,
    /// restic check runs (Operation::Check).
    Checking,
    /// Files are restored (Operation::Restore).
    Restoring,
    Stopping,
    CleaningUp,
}

/// How a run ended. Every run ends with exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// restic saved a snapshot of everything.
    Completed,
    /// restic saved a snapshot, but skipped some unreadable files.
    CompletedWithWarnings,
    /// No snapshot was saved.
    Failed,
    /// Stopped on request; no snapshot was saved.
    Stopped,
    /// A scheduled operation did not start because a run condition was not
    /// met (on battery, a metered connection); it runs once the condition
    /// clears. Never sent in BackupFinished: a postponed backup never began.
    Postponed,
}

/// A condition under which scheduled runs wait (unless the configuration
/// allows them), and which "Back up now" overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunCondition {
    /// UPower says the machine runs on battery (`run_on_battery`).
    OnBattery,
    /// NetworkManager says the connection is metered, and the repository
    /// is reached over the network (`run_on_metered`).
    Metered,
}

/// A phase or outcome name that this version does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown name {0:?}")]
pub struct UnknownName(pub String);

macro_rules! wire_names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The name used on the bus and in the history file.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s { $($name => Ok(Self::$variant),)* _ => Err(UnknownName(s.to_owned())) }
            }
        }
    };
}

wire_names!(Operation {
    Backup => "backup",
    Forget => "forget",
    Prune => "prune",
    Check => "check",
    Restore => "restore",
});

wire_names!(RunCondition {
    OnBattery => "on-battery",
    Metered => "metered",
});

wire_names!(Phase {
    Preparing => "preparing",
    Snapshotting => "snapshotting",
    BackingUp => "backing-up",
    Forgetting => "forgetting",
    Pruning => "pruning",
    Checking => "checking",
    Restoring => "restoring",
    Stopping => "stopping",
    CleaningUp => "cleaning-up",
});

wire_names!(Outcome {
    Completed => "completed",
    CompletedWithWarnings => "completed-with-warnings",
    Failed => "failed",
    Stopped => "stopped",
    Postponed => "postponed",
});

impl Operation {
    /// The `Operation` property's value while no run is active.
    pub const NONE: &'static str = "";

    /// Every operation, in the order a desktop lists them.
    pub const ALL: [Operation; 5] = [
        Self::Backup,
        Self::Forget,
        Self::Prune,
        Self::Check,
        Self::Restore,
    ];

    /// The `Operation` property's value: an operation, or [`Operation::NONE`].
    pub fn property_value(operation: Option<Operation>) -> &'static str {
        operation.map_or(Self::NONE, Operation::as_str)
    }

    /// Parses the `Operation` property: `None` for [`Operation::NONE`].
    pub fn from_property(value: &str) -> Result<Option<Operation>, UnknownName> {
        if value == Self::NONE {
            return Ok(None);
        }
        value.parse().map(Some)
    }

    /// The phase in which restic does this operation's work.
    pub fn working_phase(self) -> Phase {
        match self {
            Self::Backup => Phase::BackingUp,
            Self::Forget => Phase::Forgetting,
            Self::Prune => Phase::Pruning,
            Self::Check => Phase::Checking,
            Self::Restore => Phase::Restoring,
        }
    }
}

impl Phase {
    /// The `Phase` property's value while no run is active.
    pub const IDLE: &'static str = "idle";

    /// The `Phase` property's value: a phase, or [`Phase::IDLE`] for none.
    pub fn property_value(phase: Option<Phase>) -> &'static str {
        phase.map_or(Self::IDLE, Phase::as_str)
    }

    /// Parses the `Phase` property: `None` for [`Phase::IDLE`].
    pub fn from_property(value: &str) -> Result<Option<Phase>, UnknownName> {
        if value == Self::IDLE {
            return Ok(None);
        }
        value.parse().map(Some)
    }
}

impl Outcome {
    /// Whether restic saved a snapshot in this run.
    pub fn saved_snapshot(self) -> bool {
        matches!(self, Self::Completed | Self::CompletedWithWarnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for o in [
            Outcome::Completed,
            Outcome::CompletedWithWarnings,
            Outcome::Failed,
            Outcome::Stopped,
            Outcome::Postponed,
        ] {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{o}\""));
        }
        assert_eq!(Phase::BackingUp.to_string(), "backing-up");
        assert_eq!(Phase::property_value(None), "idle");
        assert_eq!(Phase::from_property("idle").unwrap(), None);
        for p in [
            Phase::Preparing,
            Phase::Snapshotting,
            Phase::BackingUp,
            Phase::Forgetting,
            Phase::Pruning,
            Phase::Checking,
            Phase::Restoring,
            Phase::Stopping,
            Phase::CleaningUp,
        ] {
            assert_eq!(
                Phase::from_property(Phase::property_value(Some(p))).unwrap(),
                Some(p)
            );
        }
        assert!(Phase::from_property("").is_err());
        assert!("done".parse::<Outcome>().is_err());
        for op in Operation::ALL {
            assert_eq!(Operation::from_property(op.as_str()).unwrap(), Some(op));
            assert_eq!(serde_json::to_string(&op).unwrap(), format!("\"{op}\""));
        }
        assert_eq!(Operation::from_property("").unwrap(), None);
        assert_eq!(Operation::default(), Operation::Backup);
        assert!(Operation::from_property("mirror").is_err());
    }
}
