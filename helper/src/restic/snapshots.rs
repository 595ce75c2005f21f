//! What `restic snapshots --json` says, joined with this machine's run
//! history: the answer of the `Snapshots` method and `igotchuu snapshots`.
//!
//! restic 0.14 to 0.16 print each snapshot without a summary; 0.17 and
//! later add `summary` (with `data_added`). Nothing here is trusted: the
//! repository may hold snapshots any host wrote, so every string is
//! cleaned and bounded; [`parse_all`] keeps every one (to resolve a
//! snapshot argument), [`cap`] at most [`MAX_SNAPSHOTS`] (a bus reply).

use igotchuu_dbus::history::{History, RunRecord};
use igotchuu_dbus::{Operation, SnapshotInfo, MAX_SNAPSHOTS};
use serde::Deserialize;

use super::command::TAG;
use super::message::clean_text;

/// The longest host, user, path or tag kept of one snapshot.
const MAX_FIELD_BYTES: usize = 1024;
/// The most paths and tags kept of one snapshot.
const MAX_LIST: usize = 64;
/// The most text the whole list holds: well under the system bus's largest
/// message, however odd the repository's snapshots are.
const MAX_TOTAL_BYTES: usize = 8 << 20;

/// restic's output could not be read.
#[derive(Debug, thiserror::Error)]
#[error("restic's list of snapshots could not be read: {0}")]
pub struct SnapshotsParseError(String);

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    time: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    summary: Option<RawSummary>,
}

#[derive(Deserialize)]
struct RawSummary {
    #[serde(default)]
    data_added: Option<u64>,
}

fn is_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Seconds since the Unix epoch of restic's RFC 3339 time; 0 if it is not one.
fn unix_time(text: &str) -> u64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp().max(0) as u64)
        .unwrap_or(0)
}

/// The profile of igotchuu's tag `igotchuu:<profile>`; "" for none.
pub fn profile_of(tags: &[String]) -> String {
    tags.iter()
        .find_map(|t| t.strip_prefix(TAG).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_default()
        .to_owned()
}

fn bounded_list(items: &[String]) -> Vec<String> {
    items
        .iter()
        .take(MAX_LIST)
        .map(|s| clean_text(s, MAX_FIELD_BYTES))
        .collect()
}

/// Reads `restic snapshots --json`: newest first, at most [`MAX_SNAPSHOTS`]
/// and [`MAX_TOTAL_BYTES`] of text, what a bus reply carries.
#[cfg(test)]
pub fn parse(stdout: &str) -> Result<Vec<SnapshotInfo>, SnapshotsParseError> {
    let mut list = parse_all(stdout)?;
    cap(&mut list);
    Ok(list)
}

/// Reads `restic snapshots --json`: every snapshot, newest first, each
/// one's fields bounded; the length of `stdout` bounds their number.
/// Snapshots without a hex id are left out.
pub fn parse_all(stdout: &str) -> Result<Vec<SnapshotInfo>, SnapshotsParseError> {
    let text = stdout.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let json = super::message::json_list(text)
        .ok_or_else(|| SnapshotsParseError("no JSON list in it".into()))?;
    let raw: Vec<Raw> =
        serde_json::from_str(json).map_err(|e| SnapshotsParseError(e.to_string()))?;
    let mut list: Vec<SnapshotInfo> = raw
        .into_iter()
        .filter(|r| is_hex(&r.id) && r.id.len() <= 64)
        .map(|r| {
            let tags = bounded_list(r.tags.as_deref().unwrap_or_default());
            let data_added = r.summary.and_then(|s| s.data_added);
            SnapshotInfo {
                id: r.id.to_ascii_lowercase(),
                time: unix_time(&r.time),
                hostname: clean_text(&r.hostname, MAX_FIELD_BYTES),
                username: clean_text(&r.username, MAX_FIELD_BYTES),
                paths: bounded_list(&r.paths),
                profile: profile_of(&tags),
                tags,
                size_known: data_added.is_some(),
                data_added: data_added.unwrap_or(0),
                run_started_at: 0,
                run_outcome: String::new(),
            }
        })
        .collect();
    // Newest first; the id keeps the order stable for equal times.
    list.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.id.cmp(&b.id)));
    Ok(list)
}

/// Keeps the newest of `list` (newest first) that a bus reply carries: at
/// most [`MAX_SNAPSHOTS`], and [`MAX_TOTAL_BYTES`] of text.
pub fn cap(list: &mut Vec<SnapshotInfo>) {
    list.truncate(MAX_SNAPSHOTS);
    let mut total = 0;
    let within = list
        .iter()
        .take_while(|s| {
            total += s.id.len() + s.hostname.len() + s.username.len() + 64;
            total += s
                .paths
                .iter()
                .chain(&s.tags)
                .map(|t| t.len() + 8)
                .sum::<usize>();
            total <= MAX_TOTAL_BYTES
        })
        .count();
    list.truncate(within);
}

/// The backup of `history` that saved `id`: restic 0.14 reports the short
/// id, newer ones the full id, so either is a prefix of the full id.
fn run_of<'h>(history: &'h History, id: &str) -> Option<&'h RunRecord> {
    history.runs.iter().rev().find(|r| {
        r.operation == Operation::Backup
            && r.summary.as_ref().is_some_and(|s| {
                let saved = s.snapshot_id.to_ascii_lowercase();
                saved.len() >= 8 && id.starts_with(&saved)
            })
    })
}

/// Adds what this machine's history knows of the runs that made them.
pub fn join_history(list: &mut [SnapshotInfo], history: &History) {
    for info in list {
        let Some(run) = run_of(history, &info.id) else {
            continue;
        };
        info.run_started_at = run.started_at;
        info.run_outcome = run.outcome.to_string();
        if !info.size_known {
            if let Some(summary) = &run.summary {
                info.size_known = true;
                info.data_added = summary.data_added;
            }
        }
    }
}

/// Why a snapshot argument names no one snapshot of `list`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("snapshot must be at least 8 hex digits, not {0:?}")]
    Malformed(String),
    #[error("snapshot {0} is not in the repository")]
    Unknown(String),
    #[error("snapshot {0} is ambiguous: more than one snapshot's id starts with it")]
    Ambiguous(String),
}

/// Checks the form of a snapshot argument: 8 to 64 hex digits.
pub fn check_id(arg: &str) -> Result<String, ResolveError> {
    if arg.len() < 8 || arg.len() > 64 || !is_hex(arg) {
        return Err(ResolveError::Malformed(clean_text(arg, 80)));
    }
    Ok(arg.to_ascii_lowercase())
}

/// The one snapshot of `list` whose id starts with `arg`.
pub fn resolve<'l>(list: &'l [SnapshotInfo], arg: &str) -> Result<&'l SnapshotInfo, ResolveError> {
    let prefix = check_id(arg)?;
    let mut found = list.iter().filter(|s| s.id.starts_with(&prefix));
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(ResolveError::Unknown(prefix)),
        (Some(_), Some(_)) => Err(ResolveError::Ambiguous(prefix)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use igotchuu_dbus::{Outcome, Summary};

    const V14: &str = include_str!("fixtures/restic-0.14-snapshots.json");
    const V18: &str = include_str!("fixtures/restic-0.18-snapshots.json");

    #[test]
    fn reads_restic_014_without_a_summary_newest_first() {
        let list = parse(V14).unwrap();
        assert_eq!(list.len(), 2);
        let (newer, older) = (&list[0], &list[1]);
        assert!(newer.id.starts_with("30930fbd") && newer.id.len() == 64);
        assert_eq!(newer.hostname, "otherhost");
        assert_eq!(newer.profile, "");
        assert_eq!(older.profile, "laptop");
        assert_eq!(older.tags, ["igotchuu:laptop"]);
        assert_eq!(older.paths, ["/tmp/s16r/data"]);
        assert_eq!(older.username, "root");
        assert!(newer.time > older.time && older.time > 1_700_000_000);
        assert!(!newer.size_known);
    }

    #[test]
    fn reads_the_summary_of_restic_017_and_later() {
        let list = parse(V18).unwrap();
        assert!(list.len() >= 2);
        let newest = &list[0];
        assert!(newest.id.starts_with("93e46203"), "{}", newest.id);
        assert!(newest.size_known);
        assert_eq!(newest.data_added, 2116);
        assert_eq!(newest.hostname, "vm");
        assert!(list.windows(2).all(|w| w[0].time >= w[1].time));
    }

    #[test]
    fn nothing_or_garbage() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("null").is_err());
        assert!(parse("{\"id\":1}").is_err());
        let odd = r#"[{"id":"../etc","time":"x"},{"id":"abcdef0123","time":"bad","hostname":"h\u001b[31m"}]"#;
        let list = parse(odd).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].time, 0);
        assert!(!list[0].hostname.contains('\u{1b}'));
    }

    #[test]
    fn the_list_is_bounded_however_large_the_snapshots() {
        let path = "/p".repeat(400);
        let one = format!(
            r#"{{"id":"{{}}","time":"2026-01-01T00:00:00Z","paths":[{}]}}"#,
            vec![format!("{path:?}"); 64].join(",")
        );
        let all: Vec<String> = (0..MAX_SNAPSHOTS)
            .map(|n| one.replace("{}", &format!("{n:064x}")))
            .collect();
        let list = parse(&format!("[{}]", all.join(","))).unwrap();
        assert!(
            !list.is_empty() && list.len() < MAX_SNAPSHOTS,
            "{}",
            list.len()
        );
        let bytes: usize = list.iter().flat_map(|s| &s.paths).map(String::len).sum();
        assert!(bytes <= MAX_TOTAL_BYTES);
    }

    #[test]
    fn every_snapshot_can_be_resolved_though_a_reply_is_capped() {
        let one = r#"{"id":"{}","time":"2026-01-01T00:00:00Z","paths":["/home"]}"#;
        let all: Vec<String> = (0..MAX_SNAPSHOTS + 5)
            .map(|n| one.replace("{}", &format!("{n:064x}")))
            .collect();
        let stdout = format!("[{}]", all.join(","));
        assert_eq!(parse(&stdout).unwrap().len(), MAX_SNAPSHOTS);
        let every = parse_all(&stdout).unwrap();
        assert_eq!(every.len(), MAX_SNAPSHOTS + 5);
        let last = format!("{:064x}", MAX_SNAPSHOTS + 4);
        assert_eq!(resolve(&every, &last[..]).unwrap().id, last);
        assert!(resolve(&parse(&stdout).unwrap(), &last).is_err());
    }

    fn backup(id: &str, started_at: u64, data_added: u64) -> RunRecord {
        let mut r = RunRecord::new(
            Operation::Backup,
            Outcome::Completed,
            started_at,
            started_at + 5,
        );
        r.summary = Some(Summary {
            snapshot_id: id.into(),
            data_added,
            ..Summary::default()
        });
        r
    }

    #[test]
    fn the_history_adds_the_run_by_short_or_full_id() {
        let mut list = parse(V14).unwrap();
        let mut history = History::default();
        history.push(backup("bb192522", 1000, 77));
        history.push(backup(&list[0].id.clone(), 2000, 88));
        history.push(RunRecord::new(
            Operation::Forget,
            Outcome::Completed,
            3000,
            3001,
        ));
        join_history(&mut list, &history);
        assert_eq!((list[0].run_started_at, list[0].data_added), (2000, 88));
        assert_eq!((list[1].run_started_at, list[1].data_added), (1000, 77));
        assert!(list[1].size_known);
        assert_eq!(list[1].run_outcome, "completed");
    }

    #[test]
    fn a_snapshot_argument_names_one_snapshot_or_says_why_not() {
        let list = parse(V14).unwrap();
        assert!(resolve(&list, "bb192522")
            .unwrap()
            .id
            .starts_with("bb192522"));
        assert!(resolve(&list, "BB192522CD").is_ok());
        assert!(matches!(
            resolve(&list, "bb19"),
            Err(ResolveError::Malformed(_))
        ));
        assert!(matches!(
            resolve(&list, "bb19252x"),
            Err(ResolveError::Malformed(_))
        ));
        assert!(matches!(
            resolve(&list, "deadbeef"),
            Err(ResolveError::Unknown(_))
        ));
        let mut twice = list.clone();
        twice[0].id = format!("bb192522{}", "0".repeat(56));
        assert!(matches!(
            resolve(&twice, "bb192522"),
            Err(ResolveError::Ambiguous(_))
        ));
    }
}
