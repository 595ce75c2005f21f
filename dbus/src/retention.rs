//! The retention policy: which of this machine's snapshots `restic forget`
//! keeps. The helper reads it from the configuration (`keep_*` keys) and
//! publishes it in the settings file; the desktop shows it.

use serde::{Deserialize, Serialize};

/// restic's `--keep-*` options. Unset ones are `None`; with all unset,
/// there is no policy and nothing is ever forgotten.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    /// A restic duration such as `2y5m7d3h`: keep everything newer than
    /// this, relative to the latest snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_within: Option<String>,
}

impl Retention {
    /// Whether no `keep_*` is set: then nothing is forgotten.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The counted rules as (config key, count), in restic's order.
    pub fn counts(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        [
            ("keep_last", self.keep_last),
            ("keep_hourly", self.keep_hourly),
            ("keep_daily", self.keep_daily),
            ("keep_weekly", self.keep_weekly),
            ("keep_monthly", self.keep_monthly),
            ("keep_yearly", self.keep_yearly),
        ]
        .into_iter()
        .filter_map(|(key, n)| n.map(|n| (key, n)))
    }

    /// restic's options for this policy, e.g. `--keep-daily=7`.
    pub fn restic_args(&self) -> Vec<String> {
        let mut args: Vec<String> = self
            .counts()
            .map(|(key, n)| format!("--{}={n}", key.replace('_', "-")))
            .collect();
        if let Some(within) = &self.keep_within {
            args.push(format!("--keep-within={within}"));
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restic_args_follow_the_keys() {
        assert!(Retention::default().is_empty());
        assert!(Retention::default().restic_args().is_empty());
        let r = Retention {
            keep_daily: Some(7),
            keep_weekly: Some(4),
            keep_within: Some("2d".into()),
            ..Retention::default()
        };
        assert!(!r.is_empty());
        assert_eq!(
            r.restic_args(),
            ["--keep-daily=7", "--keep-weekly=4", "--keep-within=2d"]
        );
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"keep_daily":7,"keep_weekly":4,"keep_within":"2d"}"#
        );
        assert_eq!(serde_json::from_str::<Retention>(&json).unwrap(), r);
    }
}
