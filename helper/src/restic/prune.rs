//! What `restic prune` says it removed: its table's "total prune" and
//! "remaining" lines, the same from 0.14 to 0.18:
//!
//! ```text
//! total prune:          14 blobs / 3.010 KiB
//! remaining:            15 blobs / 3.257 KiB
//! ```

use super::message::clean_text;

/// The longest amount kept ("14 blobs / 3.010 KiB" is 20 bytes).
const MAX_AMOUNT_BYTES: usize = 80;

/// What prune said, as far as it said it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// "14 blobs / 3.010 KiB"
    pub removed: Option<String>,
    /// Whether that was nothing ("0 blobs / 0 B").
    pub removed_nothing: bool,
    pub remaining: Option<String>,
}

/// Reads prune's stdout.
pub fn parse(stdout: &str) -> PruneReport {
    let mut report = PruneReport::default();
    for line in stdout.lines() {
        if let Some(amount) = value_of(line, "total prune:") {
            report.removed_nothing = amount.starts_with("0 blobs");
            report.removed = Some(amount);
        } else if let Some(amount) = value_of(line, "remaining:") {
            report.remaining = Some(amount);
        }
    }
    report
}

fn value_of(line: &str, label: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix(label)?;
    let amount = rest.trim();
    (!amount.is_empty()).then(|| clean_text(amount, MAX_AMOUNT_BYTES))
}

impl PruneReport {
    /// A sentence for people.
    pub fn sentence(&self) -> String {
        let remain = self
            .remaining
            .as_ref()
            .map(|r| format!("; {r} remain"))
            .unwrap_or_default();
        match &self.removed {
            Some(_) if self.removed_nothing => {
                format!("Prune completed: there was no unused data to remove{remain}")
            }
            Some(removed) => format!("Prune completed: removed {removed} of unused data{remain}"),
            None => "Prune completed".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_freed_in_014_and_018() {
        let r = parse(include_str!("fixtures/restic-0.14-prune.txt"));
        assert_eq!(r.removed.as_deref(), Some("14 blobs / 3.010 KiB"));
        assert_eq!(r.remaining.as_deref(), Some("15 blobs / 3.257 KiB"));
        assert_eq!(
            r.sentence(),
            "Prune completed: removed 14 blobs / 3.010 KiB of unused data; 15 blobs / 3.257 KiB remain"
        );
        let r = parse(include_str!("fixtures/restic-0.18-prune.txt"));
        assert_eq!(r.removed.as_deref(), Some("14 blobs / 3.013 KiB"));
        for nothing in [
            include_str!("fixtures/restic-0.14-prune-nothing.txt"),
            include_str!("fixtures/restic-0.18-prune-nothing.txt"),
        ] {
            let r = parse(nothing);
            assert!(r.removed_nothing);
            assert!(r.sentence().contains("no unused data"), "{}", r.sentence());
        }
        assert_eq!(parse("done\n").sentence(), "Prune completed");
    }
}
