//! Reading the values of the maintenance and run-condition keys: counts,
//! switches, restic durations and data subsets. Each is checked here as
//! restic would check it, so that a mistake is refused with the key and
//! line before anything runs, not found by restic at 3 a.m.

use super::values::value_type;
use super::{At, Entry, Walk};
use crate::config::error::ConfigError;

const COUNT: &str = "a whole number, 1 or more (remove the key to keep no such snapshots)";
const SWITCH: &str = "true or false";
const DAYS: &str = "a whole number of days, 1 or more";
const DURATION: &str =
    "a restic duration: numbers with units y, m, d or h, e.g. \"2y6m\" or \"14d\"";
const SUBSET: &str =
    "a subset of the data: \"n/t\" (1 <= n <= t), a percentage such as \"5%\" or \"2.5%\", or a size such as \"500M\" (k, m, g or t)";

impl Walk<'_> {
    /// A `keep_*` count.
    pub(super) fn count_entry(&self, entry: &Entry) -> Result<At<u32>, ConfigError> {
        self.positive(entry, COUNT)
            .and_then(|at| match u32::try_from(at.value) {
                Ok(n) => Ok(at.map(|_| n)),
                Err(_) => Err(self.bad_value(entry, COUNT)),
            })
    }

    /// `stale_after_days`.
    pub(super) fn days_entry(&self, entry: &Entry) -> Result<At<u64>, ConfigError> {
        self.positive(entry, DAYS)
    }

    pub(super) fn bool_entry(&self, entry: &Entry) -> Result<At<bool>, ConfigError> {
        let value = self.value(entry, SWITCH)?;
        let b = value
            .as_bool()
            .ok_or_else(|| self.wrong_type(entry, SWITCH, value_type(value)))?;
        Ok(self.at(entry, b))
    }

    /// `keep_within`.
    pub(super) fn duration_entry(&self, entry: &Entry) -> Result<At<String>, ConfigError> {
        let text = self.string_entry(entry)?;
        if is_restic_duration(&text.value) {
            Ok(text)
        } else {
            Err(self.bad_value(entry, DURATION))
        }
    }

    /// `check_read_data_subset`.
    pub(super) fn subset_entry(&self, entry: &Entry) -> Result<At<String>, ConfigError> {
        let text = self.string_entry(entry)?;
        if is_data_subset(&text.value) {
            Ok(text)
        } else {
            Err(self.bad_value(entry, SUBSET))
        }
    }

    fn positive(&self, entry: &Entry, expected: &'static str) -> Result<At<u64>, ConfigError> {
        let value = self.value(entry, expected)?;
        let n = value
            .as_integer()
            .ok_or_else(|| self.wrong_type(entry, expected, value_type(value)))?;
        match u64::try_from(n) {
            Ok(n) if n >= 1 => Ok(self.at(entry, n)),
            _ => Err(self.bad_value(entry, expected)),
        }
    }

    fn at<T>(&self, entry: &Entry, value: T) -> At<T> {
        At {
            value,
            key: entry.key.clone(),
            line: entry.line,
        }
    }

    fn bad_value(&self, entry: &Entry, expected: &'static str) -> ConfigError {
        ConfigError::BadValue {
            file: self.file.to_owned(),
            line: entry.line,
            key: entry.key.clone(),
            value: entry.item.to_string().trim().to_owned(),
            expected,
        }
    }
}

/// restic's duration: one or more `<number><unit>`, units y, m, d, h, and
/// not all zero (restic would keep nothing by it).
fn is_restic_duration(s: &str) -> bool {
    let mut digits = String::new();
    let mut parts = 0;
    let mut nonzero = false;
    for c in s.chars() {
        match c {
            '0'..='9' => digits.push(c),
            'y' | 'm' | 'd' | 'h' if !digits.is_empty() => {
                nonzero |= digits.parse::<u32>().is_ok_and(|n| n > 0);
                if digits.parse::<u32>().is_err() {
                    return false;
                }
                digits.clear();
                parts += 1;
            }
            _ => return false,
        }
    }
    digits.is_empty() && parts > 0 && nonzero
}

/// What `restic check --read-data-subset` takes.
fn is_data_subset(s: &str) -> bool {
    if let Some((n, t)) = s.split_once('/') {
        return matches!((n.parse::<u64>(), t.parse::<u64>()), (Ok(n), Ok(t)) if n >= 1 && n <= t);
    }
    if let Some(percent) = s.strip_suffix('%') {
        let plain = !percent.is_empty() && percent.chars().all(|c| c.is_ascii_digit() || c == '.');
        return plain && percent.parse::<f64>().is_ok_and(|p| p > 0.0 && p <= 100.0);
    }
    let digits = s.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', 't', 'T']);
    let suffixes = s.len() - digits.len();
    suffixes <= 1 && digits.parse::<u64>().is_ok_and(|n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_restics() {
        for ok in ["1y", "2y5m7d3h", "14d", "36h", "1d0h"] {
            assert!(is_restic_duration(ok), "{ok}");
        }
        for bad in ["", "1", "d", "1w", "1 d", "0d", "-1d", "1.5d", "7days"] {
            assert!(!is_restic_duration(bad), "{bad}");
        }
    }

    #[test]
    fn subsets_are_restics() {
        for ok in [
            "1/10", "10/10", "5%", "2.5%", "100%", "500M", "2G", "1024", "3t",
        ] {
            assert!(is_data_subset(ok), "{ok}");
        }
        for bad in [
            "", "0/10", "11/10", "1/", "/3", "0%", "101%", "%", "-5%", "5 %", "500MB", "M", "0M",
            "1.5G", "all",
        ] {
            assert!(!is_data_subset(bad), "{bad}");
        }
    }
}
