//! The vocabularies of a run: where it is, and how it ended.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a run is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Preparing,
    Snapshotting,
    BackingUp,
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

wire_names!(Phase {
    Preparing => "preparing",
    Snapshotting => "snapshotting",
    BackingUp => "backing-up",
    Stopping => "stopping",
    CleaningUp => "cleaning-up",
});

wire_names!(Outcome {
    Completed => "completed",
    CompletedWithWarnings => "completed-with-warnings",
    Failed => "failed",
    Stopped => "stopped",
});

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
    }
}
