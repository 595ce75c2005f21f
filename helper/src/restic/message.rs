//! Parsing restic's `--json` lines. OWNER: restic-parser agent.
//!
//! Every line comes from a child process of a root helper, so it is treated
//! as untrusted: numbers must have the right type, strings are bounded and
//! cleaned, and nothing in a line can make the parsed message grow past a
//! fixed size. The shapes follow DESIGN section 4 for restic 0.14 to 0.19.

use igotchuu_dbus::{ItemError, Progress, Summary};
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;

/// The most bytes kept of one path or message. Longer ones are cut and end
/// in [`ELLIPSIS`].
pub const MAX_TEXT_BYTES: usize = 4096;
/// The most entries kept of `current_files`; restic lists one per reader
/// thread, so more than this is not something a real restic sends.
pub const MAX_CURRENT_FILES: usize = 64;
/// The most bytes kept of an unknown `message_type` (it is only logged).
pub const MAX_MESSAGE_TYPE_BYTES: usize = 64;
/// Appended to a string that was cut.
pub const ELLIPSIS: char = '…';
/// The reason given for an unreadable item when restic does not give one:
/// before 0.17.1 it marshals most Go errors as `{}`.
pub const NO_REASON: &str = "restic gave no reason (restic before 0.17.1 does not report it)";

/// Restic's short (0.14) and full (0.15+) snapshot ID lengths, in hex digits.
const SHORT_ID_LEN: usize = 8;
const FULL_ID_LEN: usize = 64;

/// One message restic printed in `--json` mode.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Progress, on stdout.
    Status(Progress),
    /// One item done, with `--verbose`, on stdout.
    VerboseStatus(VerboseStatus),
    /// The result, on stdout; the last line of a run that saved a snapshot.
    Summary(Summary),
    /// A file or folder that could not be read, on stderr.
    Error(ItemError),
    /// Why restic is about to exit, on stderr; restic 0.18+ only.
    ExitError(ExitError),
}

/// One item restic finished (`verbose_status`), or, with `action` set to
/// `scan_finished`, the end of the scan. Every field is optional in the JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerboseStatus {
    /// `new`, `unchanged`, `modified` or `scan_finished`.
    pub action: String,
    /// The path; empty for `scan_finished`.
    pub item: String,
    /// Seconds.
    pub duration: f64,
    pub data_size: u64,
    pub data_size_in_repo: u64,
    pub metadata_size: u64,
    pub metadata_size_in_repo: u64,
    pub total_files: u64,
}

/// restic's last word before a fatal exit (`exit_error`, 0.18+).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitError {
    pub code: i32,
    pub message: String,
}

/// What one line of restic output turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A message of a known type.
    Message(Message),
    /// Not JSON: restic prints plain lines such as
    /// `Fatal: wrong password or no key found` on stderr even with `--json`.
    /// Cleaned of control characters and bounded.
    Text(String),
    /// A JSON message of a type this version does not know (restic may add
    /// new ones at any time).
    Ignored { message_type: String },
    /// JSON that does not fit the type it claims, or is cut: log and skip.
    Malformed(String),
}

/// Parses one line of restic's output (without its newline).
pub fn parse_line(line: &str) -> Parsed {
    let trimmed = line.trim();
    let value: Value = match serde_json::from_str(trimmed) {
        Ok(value) => value,
        // A line that opens like a JSON object but does not parse is a
        // message cut short (a truncated line), not prose.
        Err(err) if trimmed.starts_with('{') => {
            return malformed(format_args!("not valid JSON: {err}"))
        }
        Err(_) => return Parsed::Text(clean_text(line, MAX_TEXT_BYTES)),
    };
    let Value::Object(object) = value else {
        // A bare number or string is not one of restic's messages.
        return Parsed::Text(clean_text(line, MAX_TEXT_BYTES));
    };
    let message_type = match object.get("message_type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(_) => return malformed(format_args!("message_type is not a string")),
        None => return malformed(format_args!("JSON object without message_type")),
    };
    let parsed = match message_type.as_str() {
        // restic 0.14 prints its `scan_finished` verbose message with
        // message_type "status"; only a verbose message has `action`.
        "status" if object.contains_key("action") => parse_verbose(object),
        "status" => parse_status(object),
        "verbose_status" => parse_verbose(object),
        "summary" => parse_summary(object),
        "error" => parse_error(object),
        "exit_error" => parse_exit_error(object),
        _ => {
            return Parsed::Ignored {
                message_type: clean_text(&message_type, MAX_MESSAGE_TYPE_BYTES),
            }
        }
    };
    match parsed {
        Ok(message) => Parsed::Message(message),
        Err(why) => malformed(format_args!(
            "restic {} message does not fit: {why}",
            clean_text(&message_type, MAX_MESSAGE_TYPE_BYTES)
        )),
    }
}

fn malformed(why: fmt::Arguments<'_>) -> Parsed {
    // serde's messages can quote the input, so they are bounded too.
    Parsed::Malformed(clean_text(&why.to_string(), MAX_TEXT_BYTES))
}

/// restic's `status` message. Most fields are `omitempty`, so absent is 0.
#[derive(Deserialize)]
struct RawStatus {
    #[serde(default)]
    seconds_elapsed: u64,
    /// Absent while restic is still scanning.
    #[serde(default)]
    seconds_remaining: u64,
    #[serde(default)]
    percent_done: f64,
    #[serde(default)]
    total_files: u64,
    #[serde(default)]
    files_done: u64,
    #[serde(default)]
    total_bytes: u64,
    #[serde(default)]
    bytes_done: u64,
    #[serde(default)]
    error_count: u64,
    #[serde(default, deserialize_with = "bounded_paths")]
    current_files: Vec<String>,
}

fn parse_status(object: Map<String, Value>) -> Result<Message, serde_json::Error> {
    let raw: RawStatus = serde_json::from_value(Value::Object(object))?;
    Ok(Message::Status(Progress {
        seconds_elapsed: raw.seconds_elapsed,
        seconds_remaining: raw.seconds_remaining,
        percent_done: fraction(raw.percent_done),
        total_files: raw.total_files,
        files_done: raw.files_done,
        total_bytes: raw.total_bytes,
        bytes_done: raw.bytes_done,
        error_count: raw.error_count,
        current_files: raw.current_files,
    }))
}

#[derive(Deserialize)]
struct RawVerbose {
    #[serde(default)]
    action: String,
    #[serde(default)]
    item: String,
    #[serde(default)]
    duration: f64,
    #[serde(default)]
    data_size: u64,
    #[serde(default)]
    data_size_in_repo: u64,
    #[serde(default)]
    metadata_size: u64,
    #[serde(default)]
    metadata_size_in_repo: u64,
    #[serde(default)]
    total_files: u64,
}

fn parse_verbose(object: Map<String, Value>) -> Result<Message, serde_json::Error> {
    let raw: RawVerbose = serde_json::from_value(Value::Object(object))?;
    Ok(Message::VerboseStatus(VerboseStatus {
        action: clean_text(&raw.action, MAX_MESSAGE_TYPE_BYTES),
        item: clean_text(&raw.item, MAX_TEXT_BYTES),
        duration: seconds(raw.duration),
        data_size: raw.data_size,
        data_size_in_repo: raw.data_size_in_repo,
        metadata_size: raw.metadata_size,
        metadata_size_in_repo: raw.metadata_size_in_repo,
        total_files: raw.total_files,
    }))
}

#[derive(Deserialize)]
struct RawSummary {
    #[serde(default)]
    files_new: u64,
    #[serde(default)]
    files_changed: u64,
    #[serde(default)]
    files_unmodified: u64,
    #[serde(default)]
    dirs_new: u64,
    #[serde(default)]
    dirs_changed: u64,
    #[serde(default)]
    dirs_unmodified: u64,
    #[serde(default)]
    data_blobs: i64,
    #[serde(default)]
    tree_blobs: i64,
    #[serde(default)]
    data_added: u64,
    #[serde(default)]
    total_files_processed: u64,
    #[serde(default)]
    total_bytes_processed: u64,
    #[serde(default)]
    total_duration: f64,
    /// Absent in 0.17+ when no snapshot was made.
    #[serde(default)]
    snapshot_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// 0.17+.
    #[serde(default)]
    data_added_packed: Option<u64>,
    /// 0.18+.
    #[serde(default)]
    backup_start: Option<String>,
    #[serde(default)]
    backup_end: Option<String>,
}

fn parse_summary(object: Map<String, Value>) -> Result<Message, serde_json::Error> {
    let raw: RawSummary = serde_json::from_value(Value::Object(object))?;
    let snapshot_id = if raw.dry_run {
        // restic 0.14 reports an ID even for a dry run, but it never saved
        // that snapshot; the contract says empty when none was made.
        String::new()
    } else {
        raw.snapshot_id
            .as_deref()
            .map(snapshot_id)
            .unwrap_or_default()
    };
    Ok(Message::Summary(Summary {
        files_new: raw.files_new,
        files_changed: raw.files_changed,
        files_unmodified: raw.files_unmodified,
        dirs_new: raw.dirs_new,
        dirs_changed: raw.dirs_changed,
        dirs_unmodified: raw.dirs_unmodified,
        data_blobs: raw.data_blobs,
        tree_blobs: raw.tree_blobs,
        data_added: raw.data_added,
        total_files_processed: raw.total_files_processed,
        total_bytes_processed: raw.total_bytes_processed,
        total_duration: seconds(raw.total_duration),
        snapshot_id,
        dry_run: raw.dry_run,
        data_added_packed: raw.data_added_packed,
        backup_start: raw.backup_start.as_deref().and_then(timestamp),
        backup_end: raw.backup_end.as_deref().and_then(timestamp),
    }))
}

/// The snapshot ID if it is one: 8 or 64 hex digits, not all
/// zero (restic's null ID). Anything else is logged and treated as absent,
/// because clients put the ID into `restic` command lines.
fn snapshot_id(id: &str) -> String {
    let hex = id.bytes().all(|b| b.is_ascii_hexdigit());
    let null = id.bytes().all(|b| b == b'0');
    if hex && !null && (id.len() == SHORT_ID_LEN || id.len() == FULL_ID_LEN) {
        id.to_owned()
    } else {
        tracing::warn!(
            snapshot_id = %clean_text(id, FULL_ID_LEN),
            "restic's summary has a snapshot ID that is not 8 or 64 hex digits; treating it as absent"
        );
        String::new()
    }
}

/// Go's RFC 3339 times are short and printable; anything else is dropped.
fn timestamp(text: &str) -> Option<String> {
    /// Longer than any RFC 3339 time with nanoseconds and an offset.
    const MAX_TIMESTAMP_BYTES: usize = 64;
    let fits = !text.is_empty()
        && text.len() <= MAX_TIMESTAMP_BYTES
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-:.+".contains(&b));
    if fits {
        Some(text.to_owned())
    } else {
        tracing::warn!("restic's summary has a backup time that is not RFC 3339; dropping it");
        None
    }
}

/// restic's `error` message. All three fields are always written.
#[derive(Deserialize)]
struct RawError {
    error: Value,
    during: String,
    item: String,
}

fn parse_error(object: Map<String, Value>) -> Result<Message, serde_json::Error> {
    let raw: RawError = serde_json::from_value(Value::Object(object))?;
    let error = error_text(&raw.error)
        .ok_or_else(|| de::Error::custom("`error` is neither an object, a string nor null"))?;
    Ok(Message::Error(ItemError {
        error: clean_text(&error, MAX_TEXT_BYTES),
        during: clean_text(&raw.during, MAX_MESSAGE_TYPE_BYTES),
        item: clean_text(&raw.item, MAX_TEXT_BYTES),
    }))
}

/// The reason in restic's `error` field. restic marshals a Go `error`:
/// from 0.17.1 as `{"message": …}`; before that as the error's exported
/// fields, which is `{}` for most errors but `{"Op", "Path", "Err": errno}`
/// for a failed file operation (seen from 0.14 on this machine).
fn error_text(error: &Value) -> Option<String> {
    let fields = match error {
        Value::Null => return Some(NO_REASON.to_owned()),
        Value::String(text) => return Some(text.clone()),
        Value::Object(fields) => fields,
        _ => return None,
    };
    if let Some(Value::String(message)) = fields.get("message") {
        return Some(message.clone());
    }
    let text_of = |key: &str| fields.get(key).and_then(Value::as_str);
    let errno = fields
        .get("Err")
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n > 0)
        .map(|n| std::io::Error::from_raw_os_error(n).to_string());
    match (text_of("Op"), text_of("Path"), errno) {
        (Some(op), Some(path), Some(errno)) => Some(format!("{op} {path}: {errno}")),
        (Some(op), Some(path), None) => Some(format!("{op} {path}: {NO_REASON}")),
        (_, _, Some(errno)) => Some(errno),
        _ => Some(NO_REASON.to_owned()),
    }
}

#[derive(Deserialize)]
struct RawExitError {
    code: i32,
    #[serde(default)]
    message: String,
}

fn parse_exit_error(object: Map<String, Value>) -> Result<Message, serde_json::Error> {
    let raw: RawExitError = serde_json::from_value(Value::Object(object))?;
    Ok(Message::ExitError(ExitError {
        code: raw.code,
        message: clean_text(&raw.message, MAX_TEXT_BYTES),
    }))
}

/// A fraction from 0 to 1 whatever restic sent.
fn fraction(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    }
}

/// A duration in seconds: finite and not negative.
fn seconds(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else {
        0.0
    }
}

/// `current_files`, keeping at most [`MAX_CURRENT_FILES`] bounded paths and
/// skipping the rest without storing it.
fn bounded_paths<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct Paths;
    impl<'de> Visitor<'de> for Paths {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of paths")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut paths = Vec::new();
            while paths.len() < MAX_CURRENT_FILES {
                match seq.next_element::<String>()? {
                    Some(path) => paths.push(clean_text(&path, MAX_TEXT_BYTES)),
                    None => return Ok(paths),
                }
            }
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(paths)
        }
    }
    deserializer.deserialize_any(Paths)
}

/// `text` made safe to log and to send over D-Bus: ANSI escape sequences
/// (restic 0.14 writes `ESC[2K` before "signal interrupt received" even to a
/// pipe) and other control characters removed, NUL included, which D-Bus
/// strings cannot carry; surrounding whitespace trimmed; at most `max_bytes`
/// bytes, cut on a character boundary and marked with [`ELLIPSIS`].
/// restic before 0.17 skips a backup target that does not exist with only
/// a plain-text line on stderr, and still exits 0. That is a place missing
/// from the backup: the run reports it as an item error.
pub fn skipped_target(text: &str) -> Option<ItemError> {
    let item = text.strip_suffix(" does not exist, skipping")?;
    Some(ItemError {
        error: "does not exist; restic skipped it".to_owned(),
        during: "scan".to_owned(),
        item: clean_text(item, MAX_TEXT_BYTES),
    })
}

pub fn clean_text(text: &str, max_bytes: usize) -> String {
    let mut clean = String::with_capacity(text.len().min(max_bytes));
    let mut chars = text.trim().chars().peekable();
    let budget = max_bytes.saturating_sub(ELLIPSIS.len_utf8());
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            skip_escape(&mut chars);
            continue;
        }
        // Line breaks inside a message (restic's lock error spans four
        // lines) become spaces so the text stays one line.
        let c = match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => continue,
            c => c,
        };
        if clean.len() + c.len_utf8() > budget {
            // Cut only if the rest does not fit: a string of exactly
            // max_bytes stays whole.
            let rest: usize = c.len_utf8() + chars.clone().map(char::len_utf8).sum::<usize>();
            if clean.len() + rest > max_bytes {
                clean.push(ELLIPSIS);
                return clean;
            }
        }
        clean.push(c);
    }
    clean
}

/// Skips the rest of an escape sequence after ESC: a CSI sequence
/// (`[`, parameters, one final byte) or a single character.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    if chars.peek() == Some(&'[') {
        chars.next();
        // Parameter and intermediate bytes are 0x20..=0x3f; the final byte
        // is 0x40..=0x7e.
        for c in chars.by_ref() {
            if ('\u{40}'..='\u{7e}').contains(&c) {
                break;
            }
        }
    } else {
        chars.next();
    }
}

/// The JSON list in the output of a command that prints one (`forget`,
/// `snapshots`): the whole text, or the first line that starts with `[`,
/// whatever restic printed around it; `None` if there is none.
pub fn json_list(text: &str) -> Option<&str> {
    let text = text.trim();
    if text.starts_with('[') {
        return Some(text);
    }
    text.lines().map(str::trim).find(|l| l.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V014_BACKUP: &str = include_str!("fixtures/restic-0.14-backup.jsonl");
    const V014_VERBOSE: &str = include_str!("fixtures/restic-0.14-verbose.jsonl");
    const V014_UNREADABLE_OUT: &str = include_str!("fixtures/restic-0.14-unreadable-stdout.jsonl");
    const V014_UNREADABLE_ERR: &str = include_str!("fixtures/restic-0.14-unreadable-stderr.jsonl");
    const V014_DRY_RUN: &str = include_str!("fixtures/restic-0.14-dry-run.jsonl");
    const V014_WRONG_PASSWORD: &str = include_str!("fixtures/restic-0.14-wrong-password.txt");
    const V014_NO_REPOSITORY: &str = include_str!("fixtures/restic-0.14-no-repository.txt");
    const V014_LOCKED: &str = include_str!("fixtures/restic-0.14-locked.txt");
    const V014_INTERRUPTED: &str = include_str!("fixtures/restic-0.14-interrupted-stderr.txt");
    const V015_OUT: &str = include_str!("fixtures/restic-0.15-stdout.jsonl");
    const V015_ERR: &str = include_str!("fixtures/restic-0.15-stderr.jsonl");
    const V016_OUT: &str = include_str!("fixtures/restic-0.16-stdout.jsonl");
    const V0170_OUT: &str = include_str!("fixtures/restic-0.17.0-stdout.jsonl");
    const V0170_ERR: &str = include_str!("fixtures/restic-0.17.0-stderr.jsonl");
    const V0171_OUT: &str = include_str!("fixtures/restic-0.17.1-stdout.jsonl");
    const V0171_ERR: &str = include_str!("fixtures/restic-0.17.1-stderr.jsonl");
    const V018_OUT: &str = include_str!("fixtures/restic-0.18-stdout.jsonl");
    const V018_ERR: &str = include_str!("fixtures/restic-0.18-stderr.jsonl");
    const V018_NO_REPOSITORY: &str = include_str!("fixtures/restic-0.18-no-repository.jsonl");
    const V019_OUT: &str = include_str!("fixtures/restic-0.19-stdout.jsonl");
    const V019_ERR: &str = include_str!("fixtures/restic-0.19-stderr.jsonl");
    const V019_WRONG_PASSWORD: &str = include_str!("fixtures/restic-0.19-wrong-password.jsonl");

    /// The temp dir the 0.14 fixtures were captured in.
    const CAPTURE_DIR: &str = "/tmp/igotchuu-fixtures.ncEdYD";

    fn parse_all(text: &str) -> Vec<Parsed> {
        text.lines().map(parse_line).collect()
    }

    fn status(parsed: &Parsed) -> &Progress {
        match parsed {
            Parsed::Message(Message::Status(progress)) => progress,
            other => panic!("expected a status, got {other:?}"),
        }
    }

    fn verbose(parsed: &Parsed) -> &VerboseStatus {
        match parsed {
            Parsed::Message(Message::VerboseStatus(verbose)) => verbose,
            other => panic!("expected a verbose_status, got {other:?}"),
        }
    }

    fn summary(parsed: &Parsed) -> &Summary {
        match parsed {
            Parsed::Message(Message::Summary(summary)) => summary,
            other => panic!("expected a summary, got {other:?}"),
        }
    }

    fn item_error(parsed: &Parsed) -> &ItemError {
        match parsed {
            Parsed::Message(Message::Error(error)) => error,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn exit_error(parsed: &Parsed) -> &ExitError {
        match parsed {
            Parsed::Message(Message::ExitError(error)) => error,
            other => panic!("expected an exit_error, got {other:?}"),
        }
    }

    fn text(parsed: &Parsed) -> &str {
        match parsed {
            Parsed::Text(text) => text,
            other => panic!("expected text, got {other:?}"),
        }
    }

    fn is_malformed(parsed: &Parsed) -> bool {
        matches!(parsed, Parsed::Malformed(_))
    }

    #[test]
    fn restic_0_14_backup() {
        let all = parse_all(V014_BACKUP);
        assert_eq!(all.len(), 7);
        // During the scan: no elapsed time, no estimate.
        let scan = status(&all[0]);
        assert_eq!(scan.seconds_elapsed, 0);
        assert_eq!(scan.eta_seconds(), None);
        assert_eq!(scan.percent_done, 0.0);
        assert_eq!((scan.total_files, scan.total_bytes), (1, 5000));
        assert!(scan.current_files.is_empty());

        let first = status(&all[1]);
        assert_eq!(first.seconds_elapsed, 1);
        assert_eq!(first.eta_seconds(), Some(6));
        assert!((first.percent_done - 0.1582522233100859).abs() < 1e-12);
        assert_eq!((first.total_files, first.files_done), (6, 5));
        assert_eq!(
            (first.total_bytes, first.bytes_done),
            (3238230486, 512457174)
        );
        assert_eq!(first.error_count, 0);
        assert_eq!(
            first.current_files,
            [format!("{CAPTURE_DIR}/data/photos/sparse.img")]
        );
        let last = status(&all[5]);
        assert_eq!((last.seconds_elapsed, last.seconds_remaining), (5, 1));

        let summary = summary(&all[6]);
        assert_eq!(
            (
                summary.files_new,
                summary.files_changed,
                summary.files_unmodified
            ),
            (1, 0, 5)
        );
        assert_eq!(
            (
                summary.dirs_new,
                summary.dirs_changed,
                summary.dirs_unmodified
            ),
            (0, 4, 1)
        );
        assert_eq!((summary.data_blobs, summary.tree_blobs), (1, 5));
        assert_eq!(summary.data_added, 939889);
        assert_eq!(summary.total_files_processed, 6);
        assert_eq!(summary.total_bytes_processed, 3238230486);
        assert!((summary.total_duration - 6.210625965).abs() < 1e-9);
        assert_eq!(summary.snapshot_id, "c62a0452");
        assert!(!summary.dry_run);
        assert_eq!(summary.data_added_packed, None);
        assert_eq!(
            (
                summary.backup_start.as_deref(),
                summary.backup_end.as_deref()
            ),
            (None, None)
        );
    }

    #[test]
    fn restic_0_14_verbose() {
        let all = parse_all(V014_VERBOSE);
        assert_eq!(all.len(), 14);
        assert_eq!(status(&all[0]).total_bytes, 5005);
        // 0.14 sends scan_finished as message_type "status"; it must not be
        // taken for progress (it would reset the bar to 0).
        let scan = verbose(&all[1]);
        assert_eq!(scan.action, "scan_finished");
        assert_eq!(scan.item, "");
        assert_eq!((scan.data_size, scan.total_files), (17005028, 6));
        assert!((scan.duration - 0.204987181).abs() < 1e-12);

        let items: Vec<&VerboseStatus> = all[2..13].iter().map(verbose).collect();
        let new: Vec<_> = items.iter().filter(|v| v.action == "new").collect();
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].item, format!("{CAPTURE_DIR}/data/docs/todo.txt"));
        assert_eq!((new[0].data_size, new[0].data_size_in_repo), (9, 91));
        let docs = items
            .iter()
            .find(|v| v.item == format!("{CAPTURE_DIR}/data/docs/"))
            .expect("the docs folder");
        assert_eq!(docs.action, "modified");
        assert_eq!(
            (docs.metadata_size, docs.metadata_size_in_repo),
            (1083, 450)
        );
        assert_eq!(items.iter().filter(|v| v.action == "modified").count(), 10);

        let summary = summary(&all[13]);
        assert_eq!((summary.files_new, summary.files_changed), (1, 5));
        assert_eq!(summary.snapshot_id, "0a07e8c2");
    }

    #[test]
    fn restic_0_14_unreadable_files() {
        let out = parse_all(V014_UNREADABLE_OUT);
        assert_eq!(out.len(), 2);
        // Exit 3: the snapshot was saved despite the errors.
        assert_eq!(summary(&out[1]).snapshot_id, "b3f79439");

        let err = parse_all(V014_UNREADABLE_ERR);
        assert_eq!(err.len(), 4);
        let scan = item_error(&err[0]);
        assert_eq!(scan.during, "scan");
        assert_eq!(scan.error, NO_REASON);
        assert_eq!(scan.item, format!("{CAPTURE_DIR}/data/locked"));
        // 0.14 marshals a failed open as Go's PathError fields.
        let open = item_error(&err[1]);
        assert_eq!(open.during, "archival");
        assert_eq!(
            open.error,
            format!("open {CAPTURE_DIR}/data/docs/secret.txt: Permission denied (os error 13)")
        );
        assert_eq!(open.item, format!("{CAPTURE_DIR}/data/docs/secret.txt"));
        let dir = item_error(&err[2]);
        assert_eq!(
            (dir.during.as_str(), dir.error.as_str()),
            ("archival", NO_REASON)
        );
        assert_eq!(
            text(&err[3]),
            "Warning: at least one source file could not be read"
        );
    }

    #[test]
    fn restic_0_14_dry_run_has_no_snapshot() {
        let all = parse_all(V014_DRY_RUN);
        let summary = summary(&all[1]);
        assert!(summary.dry_run);
        // restic prints an ID it never saved.
        assert_eq!(summary.snapshot_id, "");
        assert_eq!(summary.files_new, 1);
    }

    #[test]
    fn restic_0_14_plain_text_on_stderr() {
        assert_eq!(
            parse_all(V014_WRONG_PASSWORD),
            [Parsed::Text("Fatal: wrong password or no key found".into())]
        );
        let missing = parse_all(V014_NO_REPOSITORY);
        assert_eq!(missing.len(), 3);
        assert!(text(&missing[0]).starts_with("Fatal: unable to open config file: stat "));
        assert_eq!(
            text(&missing[1]),
            "Is there a repository at the following location?"
        );
        let locked = parse_all(V014_LOCKED);
        assert_eq!(locked.len(), 4);
        assert!(text(&locked[0]).contains("repository is already locked exclusively by PID"));
        assert_eq!(
            text(&locked[3]),
            "the `unlock` command can be used to remove stale locks"
        );
        // The escape sequence restic writes before this line is removed.
        assert_eq!(
            parse_all(V014_INTERRUPTED),
            [Parsed::Text(
                "signal interrupt received, cleaning up".into()
            )]
        );
    }

    #[test]
    fn restic_0_15_full_ids_and_verbose_scan_finished() {
        let all = parse_all(V015_OUT);
        assert_eq!(all.len(), 6);
        assert_eq!(status(&all[0]).eta_seconds(), None);
        let scan = verbose(&all[1]);
        assert_eq!(
            (scan.action.as_str(), scan.total_files),
            ("scan_finished", 3)
        );
        assert_eq!(scan.data_size, 3145728);
        let new = verbose(&all[2]);
        assert_eq!(new.item, "/home/alice/notes.txt");
        assert_eq!((new.data_size, new.data_size_in_repo), (1048576, 1049120));
        assert_eq!(verbose(&all[3]).action, "unchanged");
        let progress = status(&all[4]);
        assert_eq!(progress.eta_seconds(), Some(3));
        assert_eq!(progress.percent_done, 0.4);
        assert_eq!(progress.error_count, 1);
        assert_eq!(
            progress.current_files,
            ["/home/alice/big.iso", "/home/alice/photo.jpg"]
        );
        let summary = summary(&all[5]);
        assert_eq!(
            summary.snapshot_id,
            "07fc5f96f49d5f763cc67271977dd0a33572124805e663983e39ac36e6f15630"
        );
        assert_eq!(summary.files_unmodified, 1);
        assert_eq!(summary.data_added_packed, None);

        let err = parse_all(V015_ERR);
        assert_eq!(item_error(&err[0]).error, NO_REASON);
        assert_eq!(item_error(&err[0]).during, "scan");
        assert_eq!(
            item_error(&err[1]).error,
            "open /home/alice/private.key: Permission denied (os error 13)"
        );
        assert_eq!(
            text(&err[2]),
            "Warning: at least one source file could not be read"
        );
    }

    #[test]
    fn restic_0_16_dry_run_null_id() {
        let all = parse_all(V016_OUT);
        assert_eq!(status(&all[1]).eta_seconds(), Some(9));
        assert_eq!(status(&all[1]).current_files, ["/srv/www/index.html"]);
        let summary = summary(&all[2]);
        assert!(summary.dry_run);
        assert_eq!(summary.snapshot_id, "");
        assert_eq!(summary.files_new, 400);
        assert_eq!(summary.total_duration, 10.5);
    }

    #[test]
    fn restic_0_17_0_no_snapshot_and_packed_size() {
        let all = parse_all(V0170_OUT);
        assert_eq!(all.len(), 3);
        let done = status(&all[1]);
        assert_eq!(done.percent_done, 1.0);
        assert_eq!(done.eta_seconds(), None);
        let summary = summary(&all[2]);
        // Nothing changed and no snapshot made: snapshot_id is omitted.
        assert_eq!(summary.snapshot_id, "");
        assert_eq!(summary.data_added_packed, Some(0));
        assert_eq!(summary.files_unmodified, 5);
        let err = parse_all(V0170_ERR);
        assert_eq!(
            item_error(&err[0]),
            &ItemError {
                error: NO_REASON.into(),
                during: "archival".into(),
                item: "/home/alice/.cache/locked.db".into(),
            }
        );
    }

    #[test]
    fn restic_0_17_1_error_messages() {
        let all = parse_all(V0171_OUT);
        let summary = summary(&all[2]);
        assert_eq!(summary.data_added, 2101248);
        assert_eq!(summary.data_added_packed, Some(1890123));
        assert_eq!(
            summary.snapshot_id,
            "f038802ecb6fa2e3e4c6adaa6b4dab3f95198f47aa2b0eb2f6ea72f6db9b65ca"
        );
        assert_eq!(status(&all[1]).percent_done, 0.75);
        let err = parse_all(V0171_ERR);
        assert_eq!(
            item_error(&err[0]),
            &ItemError {
                error: "open /home/alice/music/secret.flac: permission denied".into(),
                during: "archival".into(),
                item: "/home/alice/music/secret.flac".into(),
            }
        );
        assert!(matches!(err[1], Parsed::Text(_)));
    }

    #[test]
    fn restic_0_18_times_and_exit_error() {
        let all = parse_all(V018_OUT);
        let progress = status(&all[1]);
        assert_eq!(
            (progress.seconds_elapsed, progress.seconds_remaining),
            (12, 30)
        );
        assert_eq!(progress.current_files.len(), 2);
        let summary = summary(&all[2]);
        assert_eq!(
            summary.backup_start.as_deref(),
            Some("2025-03-27T20:11:05.123456789+01:00")
        );
        assert_eq!(
            summary.backup_end.as_deref(),
            Some("2025-03-27T20:11:47.987654321+01:00")
        );
        assert_eq!(summary.data_added_packed, Some(6543210));
        assert_eq!(summary.snapshot_id.len(), FULL_ID_LEN);

        let err = parse_all(V018_ERR);
        assert_eq!(item_error(&err[0]).during, "scan");
        assert_eq!(
            item_error(&err[0]).error,
            "lstat /home/bob/gone: no such file or directory"
        );
        let exit = parse_all(V018_NO_REPOSITORY);
        let exit = exit_error(&exit[0]);
        assert_eq!(exit.code, 10);
        // The three lines of the message are kept on one line.
        assert!(exit
            .message
            .starts_with("Fatal: repository does not exist:"));
        assert!(exit.message.ends_with("location? /srv/restic-repo"));
        assert!(!exit.message.contains('\n'));
    }

    #[test]
    fn restic_0_19_shapes() {
        let all = parse_all(V019_OUT);
        assert_eq!(status(&all[1]).error_count, 2);
        let summary = summary(&all[2]);
        assert_eq!(
            summary.backup_start.as_deref(),
            Some("2025-09-01T08:00:00.5Z")
        );
        assert_eq!((summary.files_changed, summary.files_unmodified), (2, 97));
        assert_eq!(
            summary.snapshot_id,
            "023fab6cc294d94c48919b719e9d33c2f731ae7f75dea489cc9bcbc69689fe5d"
        );
        let err = parse_all(V019_ERR);
        assert_eq!(item_error(&err[0]).item, "/home/carol/.ssh/id_ed25519");
        assert_eq!(item_error(&err[1]).during, "scan");
        let exit = parse_all(V019_WRONG_PASSWORD);
        assert_eq!(
            exit_error(&exit[0]),
            &ExitError {
                code: 12,
                message: "Fatal: wrong password or no key found".into()
            }
        );
    }

    #[test]
    fn percent_done_is_a_fraction() {
        let over = parse_line(r#"{"message_type":"status","percent_done":1.5}"#);
        assert_eq!(status(&over).percent_done, 1.0);
        let under = parse_line(r#"{"message_type":"status","percent_done":-0.25}"#);
        assert_eq!(status(&under).percent_done, 0.0);
        assert_eq!(fraction(f64::NAN), 0.0);
        assert_eq!(fraction(f64::INFINITY), 1.0);
    }

    #[test]
    fn snapshot_ids_that_are_not_ids_are_dropped() {
        for id in [
            "[null]",
            "c62a045",
            "c62a0452a",
            "c62a045g",
            "00000000",
            "",
            "../../etc",
        ] {
            let line = format!(r#"{{"message_type":"summary","snapshot_id":"{id}"}}"#);
            assert_eq!(summary(&parse_line(&line)).snapshot_id, "", "{id}");
        }
        let upper = parse_line(r#"{"message_type":"summary","snapshot_id":"C62A0452"}"#);
        assert_eq!(summary(&upper).snapshot_id, "C62A0452");
    }

    #[test]
    fn strings_and_lists_are_bounded() {
        let long = "x".repeat(100 * MAX_TEXT_BYTES);
        let files: Vec<String> = (0..1000).map(|i| format!("/f{i}")).collect();
        let line = serde_json::json!({
            "message_type": "status",
            "current_files": files,
        })
        .to_string();
        let progress = parse_line(&line);
        let progress = status(&progress);
        assert_eq!(progress.current_files.len(), MAX_CURRENT_FILES);
        assert_eq!(progress.current_files[0], "/f0");

        let line = serde_json::json!({
            "message_type": "error", "error": {"message": long}, "during": "scan", "item": long,
        })
        .to_string();
        let error = parse_line(&line);
        let error = item_error(&error);
        assert!(error.item.len() <= MAX_TEXT_BYTES);
        assert!(error.item.ends_with(ELLIPSIS));
        assert!(error.error.len() <= MAX_TEXT_BYTES);

        let text = parse_line(&long);
        assert!(matches!(&text, Parsed::Text(t) if t.len() <= MAX_TEXT_BYTES));
    }

    #[test]
    fn clean_text_cuts_on_char_boundaries_only_when_needed() {
        let exact = "é".repeat(MAX_TEXT_BYTES / 2);
        assert_eq!(clean_text(&exact, MAX_TEXT_BYTES), exact);
        let over = format!("{exact}é");
        let cut = clean_text(&over, MAX_TEXT_BYTES);
        assert!(cut.len() <= MAX_TEXT_BYTES);
        assert!(cut.ends_with(ELLIPSIS));
        assert!(cut.starts_with("éé"));
        assert_eq!(clean_text("a\0b\u{7}c\x1b[31md\x1b[0m", 100), "abcd");
        assert_eq!(clean_text("one\ntwo\r\n", 100), "one two");
    }

    #[test]
    fn nul_in_a_path_is_removed() {
        let error =
            parse_line(r#"{"message_type":"error","error":{},"during":"scan","item":"/a\u0000b"}"#);
        assert_eq!(item_error(&error).item, "/ab");
    }

    #[test]
    fn wrong_types_are_malformed() {
        for line in [
            r#"{"message_type":"status","percent_done":"half"}"#,
            r#"{"message_type":"status","files_done":-1}"#,
            r#"{"message_type":"status","total_bytes":1.5}"#,
            r#"{"message_type":"status","current_files":"/a"}"#,
            r#"{"message_type":"summary","snapshot_id":42}"#,
            r#"{"message_type":"summary","files_new":"1"}"#,
            r#"{"message_type":"error","error":{},"during":"scan"}"#,
            r#"{"message_type":"error","error":[1],"during":"scan","item":"/a"}"#,
            r#"{"message_type":"exit_error","message":"no code"}"#,
            r#"{"message_type":"exit_error","code":4294967296,"message":""}"#,
            r#"{"message_type":7}"#,
            r#"{"percent_done":0.5}"#,
            r#"{"message_type":"status","percent_do"#,
        ] {
            assert!(is_malformed(&parse_line(line)), "{line}");
        }
    }

    #[test]
    fn unknown_types_are_ignored_and_prose_is_text() {
        assert_eq!(
            parse_line(r#"{"message_type":"heartbeat","x":1}"#),
            Parsed::Ignored {
                message_type: "heartbeat".into()
            }
        );
        assert_eq!(parse_line("42"), Parsed::Text("42".into()));
        assert_eq!(parse_line("  "), Parsed::Text(String::new()));
        assert_eq!(
            parse_line("Fatal: wrong password or no key found\r"),
            Parsed::Text("Fatal: wrong password or no key found".into())
        );
    }

    #[test]
    fn error_field_shapes() {
        let line = |error: &str| {
            format!(r#"{{"message_type":"error","error":{error},"during":"archival","item":"/a"}}"#)
        };
        let reason = |error: &str| item_error(&parse_line(&line(error))).error.clone();
        assert_eq!(reason("null"), NO_REASON);
        assert_eq!(reason(r#""plain""#), "plain");
        assert_eq!(
            reason(r#"{"Op":"read","Path":"/a","Err":5}"#),
            "read /a: Input/output error (os error 5)"
        );
        assert_eq!(
            reason(r#"{"Op":"read","Path":"/a","Err":{}}"#),
            format!("read /a: {NO_REASON}")
        );
        assert_eq!(
            reason(r#"{"Syscall":"getxattr","Err":61}"#),
            "No data available (os error 61)"
        );
    }

    #[test]
    fn negative_durations_and_odd_times_are_dropped() {
        let negative = parse_line(r#"{"message_type":"summary","total_duration":-3}"#);
        assert_eq!(summary(&negative).total_duration, 0.0);
        let odd = parse_line(
            r#"{"message_type":"summary","backup_start":"<script>","backup_end":"2025-01-01T00:00:00Z"}"#,
        );
        let odd = summary(&odd);
        assert_eq!(odd.backup_start, None);
        assert_eq!(odd.backup_end.as_deref(), Some("2025-01-01T00:00:00Z"));
    }

    #[test]
    fn a_skipped_target_is_an_item_error() {
        let e = skipped_target("/srv/missing does not exist, skipping").unwrap();
        assert_eq!(
            (e.item.as_str(), e.during.as_str()),
            ("/srv/missing", "scan")
        );
        assert!(skipped_target("Fatal: wrong password or no key found").is_none());
    }
}
