//! What `restic forget --json` says: for each group of snapshots, which it
//! keeps and which it removes (or, with `--dry-run`, would remove).
//! The same shape from 0.14 to 0.18 (0.18 adds fields, which are ignored).
//! restic prints nothing at all when no snapshot matched.

use serde::Deserialize;

use super::message::clean_text;

/// The most snapshots listed by name in each list; the rest are counted.
pub const LISTED: usize = 1000;
/// The longest path or time kept of one snapshot.
const MAX_FIELD_BYTES: usize = 1024;

/// One snapshot, as much as a person needs to recognise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotLine {
    /// RFC 3339, as restic gives it.
    pub time: String,
    /// restic's short id (8 hex digits).
    pub short_id: String,
    pub paths: Vec<String>,
}

impl std::fmt::Display for SnapshotLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // "2026-12-02T16:45:53" of "2026-12-02T16:45:53.327534702Z".
        let time = self.time.get(..19).unwrap_or(&self.time).replace('T', " ");
        write!(f, "{}  {time}  {}", self.short_id, self.paths.join(", "))
    }
}

/// What forget kept and removed, over all groups.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ForgetReport {
    pub kept: Vec<SnapshotLine>,
    pub removed: Vec<SnapshotLine>,
    pub kept_count: usize,
    pub removed_count: usize,
}

/// restic's output could not be read.
#[derive(Debug, thiserror::Error)]
#[error("restic forget's report could not be read: {0}")]
pub struct ForgetParseError(String);

#[derive(Deserialize)]
struct Group {
    #[serde(default)]
    keep: Option<Vec<Snapshot>>,
    #[serde(default)]
    remove: Option<Vec<Snapshot>>,
}

#[derive(Deserialize)]
struct Snapshot {
    #[serde(default)]
    time: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    short_id: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
}

impl Snapshot {
    fn line(&self) -> SnapshotLine {
        let short = self
            .short_id
            .clone()
            .unwrap_or_else(|| self.id.chars().take(8).collect());
        SnapshotLine {
            time: clean_text(&self.time, MAX_FIELD_BYTES),
            short_id: clean_text(&short, 64),
            paths: self
                .paths
                .iter()
                .map(|p| clean_text(p, MAX_FIELD_BYTES))
                .collect(),
        }
    }
}

/// Reads forget's stdout. Empty output means no snapshot matched.
pub fn parse(stdout: &str) -> Result<ForgetReport, ForgetParseError> {
    let text = stdout.trim();
    if text.is_empty() {
        return Ok(ForgetReport::default());
    }
    // The JSON is one line; be liberal about anything printed around it.
    let json = super::message::json_list(text)
        .ok_or_else(|| ForgetParseError("no JSON list in it".into()))?;
    let groups: Vec<Group> =
        serde_json::from_str(json).map_err(|e| ForgetParseError(e.to_string()))?;
    let mut report = ForgetReport::default();
    for group in &groups {
        for s in group.keep.iter().flatten() {
            report.kept_count += 1;
            if report.kept.len() < LISTED {
                report.kept.push(s.line());
            }
        }
        for s in group.remove.iter().flatten() {
            report.removed_count += 1;
            if report.removed.len() < LISTED {
                report.removed.push(s.line());
            }
        }
    }
    // Oldest first, as people read a list of backups.
    report.kept.sort_by(|a, b| a.time.cmp(&b.time));
    report.removed.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V14: &str = include_str!("fixtures/restic-0.14-forget-dry-run.json");
    const V18: &str = include_str!("fixtures/restic-0.18-forget-dry-run.json");

    #[test]
    fn reads_what_was_kept_and_removed_in_014_and_018() {
        let r = parse(V14).unwrap();
        assert_eq!((r.kept_count, r.removed_count), (1, 2));
        assert_eq!(r.kept[0].short_id, "fbee2019");
        assert_eq!(
            r.removed
                .iter()
                .map(|s| s.short_id.as_str())
                .collect::<Vec<_>>(),
            ["00690e8e", "bca14520"]
        );
        assert_eq!(r.removed[0].paths, ["/srv/data/home"]);
        assert_eq!(
            r.removed[0].to_string(),
            "00690e8e  2026-12-02 16:45:51  /srv/data/home"
        );
        let r = parse(V18).unwrap();
        assert_eq!((r.kept_count, r.removed_count), (1, 2));
        assert_eq!(r.kept[0].short_id, "93e46203");
        assert_eq!(
            parse(
                &std::fs::read_to_string(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/src/restic/fixtures/restic-0.14-forget.json"
                ))
                .unwrap()
            )
            .unwrap()
            .removed_count,
            2
        );
    }

    #[test]
    fn nothing_matched_is_an_empty_report_and_garbage_is_an_error() {
        assert_eq!(parse("").unwrap(), ForgetReport::default());
        assert_eq!(parse("\n").unwrap(), ForgetReport::default());
        assert!(parse("Fatal: no").is_err());
        assert!(parse("[{\"keep\": 3}]").is_err());
        // Lists of null (Go's nil slices) and unknown fields are fine.
        let r = parse("[{\"keep\":null,\"remove\":null,\"new\":1}]").unwrap();
        assert_eq!(r, ForgetReport::default());
    }

    #[test]
    fn long_lists_are_counted_not_all_kept() {
        let one = r#"{"time":"2026-01-01T00:00:00Z","id":"0123456789abcdef","paths":["/home"]}"#;
        let json = format!(
            "[{{\"keep\":[{one}],\"remove\":[{}]}}]",
            vec![one; LISTED + 5].join(",")
        );
        let r = parse(&json).unwrap();
        assert_eq!(r.removed_count, LISTED + 5);
        assert_eq!(r.removed.len(), LISTED);
        // Without short_id (restic always gives one), the id's start.
        assert_eq!(r.kept[0].short_id, "01234567");
    }
}
