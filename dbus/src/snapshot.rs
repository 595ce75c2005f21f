//! One entry of the `Snapshots` method's answer: a snapshot in the
//! repository, and what this machine's history knows of the run that made
//! it.

use serde::{Deserialize, Serialize};
use zbus::zvariant::Type;

/// How many snapshots `Snapshots` returns at most, newest first: a bound on
/// the reply, not on the repository.
pub const MAX_SNAPSHOTS: usize = 1000;

/// A snapshot, as `(stssasassbtts)` on the bus, the fields in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
#[zvariant(crate = "zbus::zvariant")]
pub struct SnapshotInfo {
    /// restic's full snapshot id (64 hex digits).
    pub id: String,
    /// When the snapshot was taken, in seconds since the Unix epoch.
    pub time: u64,
    /// The host that took it.
    pub hostname: String,
    /// The user restic ran as.
    pub username: String,
    /// The places backed up: absolute paths.
    pub paths: Vec<String>,
    /// restic's tags (igotchuu tags its own `igotchuu` and `igotchuu:<profile>`).
    pub tags: Vec<String>,
    /// The igotchuu profile that made it; empty for the default
    /// configuration or a snapshot igotchuu did not make.
    pub profile: String,
    /// Whether [`data_added`](Self::data_added) is known: from restic's
    /// snapshot summary (restic 0.17 and later) or from this machine's
    /// history of the run.
    pub size_known: bool,
    /// Bytes the snapshot added to the repository.
    pub data_added: u64,
    /// When the run that made it started (seconds since the Unix epoch);
    /// 0 when this machine's history has no such run.
    pub run_started_at: u64,
    /// How that run ended (an [`Outcome`](crate::Outcome) name); empty when
    /// unknown.
    pub run_outcome: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_xmls() {
        assert_eq!(SnapshotInfo::SIGNATURE.to_string(), "(stssasassbtts)");
    }
}
