//! The progress restic's prune and check print as text: one line per
//! update of each step, `[0:12] 37.50%  3 / 8 packs processed`, when
//! `RESTIC_PROGRESS_FPS` is set (also on a pipe; 0.14 and 0.18 alike).
//! Untrusted like every line of restic's: anything else is not progress.

/// How often prune and check report, as `RESTIC_PROGRESS_FPS`: a long check
/// is followed without filling the log.
pub const REPORTS_PER_SECOND: &str = "1";
/// The longest unit word kept ("packs processed", "old indexes deleted").
const MAX_UNIT_CHARS: usize = 40;

/// One progress line of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepProgress {
    /// A fraction from 0 to 1.
    pub fraction: f64,
    pub done: u64,
    pub total: u64,
    /// What is counted: "snapshots", "packs processed".
    pub unit: String,
}

/// `line` as step progress, if it is one: `[H:MM:SS] P%  DONE / TOTAL UNIT`
/// (the time may be `M:SS`; restic leaves out the percentage while it does
/// not know the total).
pub fn parse(line: &str) -> Option<StepProgress> {
    let rest = line.trim().strip_prefix('[')?;
    let (clock, rest) = rest.split_once(']')?;
    let clock_ok = !clock.is_empty()
        && clock.len() <= 12
        && clock
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !clock_ok || !clock.contains(':') {
        return None;
    }
    let mut words = rest.split_whitespace().peekable();
    let percent = match words.peek() {
        Some(w) if w.ends_with('%') => {
            let p: f64 = w.trim_end_matches('%').parse().ok()?;
            words.next();
            Some(p)
        }
        _ => None,
    };
    let done: u64 = words.next()?.parse().ok()?;
    let (total, unit_words): (u64, Vec<&str>) = if words.peek() == Some(&"/") {
        words.next();
        (words.next()?.parse().ok()?, words.collect())
    } else {
        (0, words.collect())
    };
    let unit = unit_words.join(" ");
    if unit.is_empty()
        || unit.chars().count() > MAX_UNIT_CHARS
        || unit.chars().any(char::is_control)
    {
        return None;
    }
    let fraction = match (percent, total) {
        (Some(p), _) if p.is_finite() => (p / 100.0).clamp(0.0, 1.0),
        (_, t) if t > 0 => (done as f64 / t as f64).clamp(0.0, 1.0),
        _ => 0.0,
    };
    Some(StepProgress {
        fraction,
        done,
        total,
        unit,
    })
}

/// Whether the bytes of a line are step progress (stdout is bytes).
pub fn is_progress(line: &[u8]) -> bool {
    line.first() == Some(&b'[') && std::str::from_utf8(line).is_ok_and(|text| parse(text).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restics_lines_are_read() {
        // restic 0.14 and 0.18, check and prune, as they print on a pipe.
        let read = parse("[0:00] 37.50%  3 / 8 packs processed").unwrap();
        assert_eq!(read.done, 3);
        assert_eq!(read.total, 8);
        assert_eq!(read.unit, "packs processed");
        assert!((read.fraction - 0.375).abs() < 1e-9);
        let snapshots = parse("[1:02:03] 100.00%  1 / 1 snapshots").unwrap();
        assert_eq!(
            (snapshots.fraction, snapshots.unit.as_str()),
            (1.0, "snapshots")
        );
        assert_eq!(
            parse("[0:00] 0.00%  0 / 3 packs").unwrap(),
            StepProgress {
                fraction: 0.0,
                done: 0,
                total: 3,
                unit: "packs".into()
            }
        );
        // No total yet.
        let counting = parse("[0:03] 12 files deleted").unwrap();
        assert_eq!(
            (counting.done, counting.total, counting.fraction),
            (12, 0, 0.0)
        );
    }

    #[test]
    fn anything_else_is_not_progress() {
        for line in [
            "",
            "check snapshots, trees and blobs",
            "read 50.0% of data packs",
            "[0:00]",
            "[x:00] 1 / 2 packs",
            "[0:00] 50.00%  1 / 2",
            "[0:00] 50.00%  one / 2 packs",
            "[0:00] 1 / 2 \u{1b}[31mpacks",
            "[] 1 / 2 packs",
            "to delete:            43 blobs / 47.689 MiB",
        ] {
            assert_eq!(parse(line), None, "{line:?}");
            assert!(!is_progress(line.as_bytes()), "{line:?}");
        }
        let long = format!("[0:00] 1 / 2 {}", "x".repeat(41));
        assert_eq!(parse(&long), None);
        // Out of range: clamped.
        assert_eq!(parse("[0:00] 250.00%  5 / 2 packs").unwrap().fraction, 1.0);
        assert!(is_progress(b"[0:01] 50.00%  1 / 2 packs"));
        assert!(!is_progress(b"[0:01] 50.00%  1 / 2 packs\xff"));
    }
}
