//! The file as written: each table's keys checked one by one, typed, and kept
//! with their key path and line. Profiles are not applied here, and every
//! profile is checked, so a mistake in one that is rarely used shows up early.
//!
//! This walks a `toml_edit` document rather than deserializing with serde:
//! its document knows the span of every key and value (implicit tables such
//! as `profiles` in `[profiles.laptop]` included), which `toml::Spanned`
//! cannot give for those, and a hand walk names the exact key on every error.

use std::path::{Path, PathBuf};

use toml_edit::{ImDocument, Item, TableLike, Value};

mod policy;
mod values;

use super::error::{line_at, ConfigError};
use super::{Password, Repository};
use values::{item_type, value_type};

/// The keys of the top level and of a profile table.
const TABLE_KEY_ARRAY: [&str; 24] = [
    "places",
    "snapshot",
    "snapshot_prefix",
    "exec_before_snapshot",
    "ignore_nested",
    "restic_backup_args",
    "restic_args",
    "repo",
    "repository_file",
    "password_file",
    "password_command",
    "stall_timeout",
    "keep_last",
    "keep_hourly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "keep_yearly",
    "keep_within",
    "check_read_data_subset",
    "run_on_battery",
    "run_on_metered",
    "stale_after_days",
    "wait_timeout",
];
pub(super) const TABLE_KEYS: &[&str] = &TABLE_KEY_ARRAY;

/// [`TABLE_KEYS`] and `profiles`, which only the top level may have.
const TOP_KEYS: &[&str] = &{
    let mut keys = ["profiles"; TABLE_KEY_ARRAY.len() + 1];
    let mut i = 0;
    while i < TABLE_KEY_ARRAY.len() {
        keys[i] = TABLE_KEY_ARRAY[i];
        i += 1;
    }
    keys
};

/// The keys of a `snapshot` table.
const SNAPSHOT_KEYS: &[&str] = &["source", "snapshot_location"];

/// How close (Jaro-Winkler) an unknown key must be to a known one to suggest it.
const SUGGESTION_THRESHOLD: f64 = 0.85;

/// Shorter unknown keys (`arg`) are inside too many known ones to mean one.
const MIN_CONTAINED_LEN: usize = 4;

/// A value, with the key path and line where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct At<T> {
    pub value: T,
    /// e.g. `profiles.laptop.snapshot[1].source`
    pub key: String,
    pub line: usize,
}

impl<T> At<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> At<U> {
        At {
            value: f(self.value),
            key: self.key,
            line: self.line,
        }
    }
}

/// One item of a `snapshot` array, either form.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RawSnapshot {
    pub source: At<PathBuf>,
    pub location: Option<At<PathBuf>>,
}

/// The settings of one table, the top level or a profile; `None` where unset.
#[derive(Debug, Clone, Default)]
pub(super) struct RawTable {
    pub places: Option<At<Vec<At<PathBuf>>>>,
    pub snapshot: Option<At<Vec<RawSnapshot>>>,
    pub snapshot_prefix: Option<At<PathBuf>>,
    pub exec_before_snapshot: Option<At<Vec<String>>>,
    pub ignore_nested: Option<At<Vec<At<PathBuf>>>>,
    pub restic_backup_args: Option<At<Vec<String>>>,
    pub restic_args: Option<At<Vec<String>>>,
    /// `repo` or `repository_file`: a table never holds both.
    pub repository: Option<At<Repository>>,
    /// `password_file` or `password_command`: a table never holds both.
    pub password: Option<At<Password>>,
    /// Seconds; 0 turns the limit off.
    pub stall_timeout: Option<At<u64>>,
    /// The `keep_*` keys, each on its own, so that a profile may change one.
    pub keep: Keep,
    pub check_read_data_subset: Option<At<String>>,
    pub run_on_battery: Option<At<bool>>,
    pub run_on_metered: Option<At<bool>>,
    pub stale_after_days: Option<At<u64>>,
    /// Seconds; 0: don't wait.
    pub wait_timeout: Option<At<u64>>,
}

/// The retention keys as written.
#[derive(Debug, Clone, Default)]
pub(super) struct Keep {
    pub last: Option<At<u32>>,
    pub hourly: Option<At<u32>>,
    pub daily: Option<At<u32>>,
    pub weekly: Option<At<u32>>,
    pub monthly: Option<At<u32>>,
    pub yearly: Option<At<u32>>,
    pub within: Option<At<String>>,
}

impl Keep {
    /// Whether the table sets any `keep_*` key.
    pub fn is_set(&self) -> bool {
        self.last.is_some()
            || self.hourly.is_some()
            || self.daily.is_some()
            || self.weekly.is_some()
            || self.monthly.is_some()
            || self.yearly.is_some()
            || self.within.is_some()
    }

    pub fn policy(self) -> igotchuu_dbus::Retention {
        igotchuu_dbus::Retention {
            keep_last: self.last.map(|a| a.value),
            keep_hourly: self.hourly.map(|a| a.value),
            keep_daily: self.daily.map(|a| a.value),
            keep_weekly: self.weekly.map(|a| a.value),
            keep_monthly: self.monthly.map(|a| a.value),
            keep_yearly: self.yearly.map(|a| a.value),
            keep_within: self.within.map(|a| a.value),
        }
    }
}

/// The whole file: the top level and the profiles in file order.
#[derive(Debug)]
pub(super) struct RawFile {
    pub top: RawTable,
    pub profiles: Vec<(String, RawTable)>,
}

/// Parses and checks `text`, read from `file` (named in messages).
pub(super) fn parse(text: &str, file: &Path) -> Result<RawFile, ConfigError> {
    let doc = ImDocument::parse(text).map_err(|e| ConfigError::Syntax {
        file: file.to_owned(),
        line: e
            .span()
            .map_or(1, |span| line_at(text.as_bytes(), span.start)),
        message: one_line(e.message()),
    })?;
    Walk { text, file }.file(doc.as_table())
}

/// toml_edit messages span lines ("invalid string\nexpected `\"`"); a
/// refusal reads better as one.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// One `key = value` of a table.
/// Whether `igotchuu:<name>` stays one tag, exactly as written, through
/// restic's `--tag` (which splits at commas and trims spaces).
fn fits_in_a_tag(name: &str) -> bool {
    !name.is_empty()
        && name.trim() == name
        && !name.contains(',')
        && !name.chars().any(char::is_control)
}

struct Entry<'d> {
    name: &'d str,
    /// The full key path, for messages.
    key: String,
    /// The line of the key, for unknown keys.
    key_line: usize,
    /// The line of the value, for everything wrong with it.
    line: usize,
    item: &'d Item,
}

struct Walk<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Walk<'_> {
    fn line(&self, span: Option<std::ops::Range<usize>>, fallback: usize) -> usize {
        span.map_or(fallback, |span| line_at(self.text.as_bytes(), span.start))
    }

    /// The entries of `table`, whose keys get `prefix`. Tables that were
    /// never written out (`profiles` in `[profiles.x]`) have no span, so
    /// their lines fall back to `fallback`.
    fn entries<'d>(
        &self,
        table: &'d dyn TableLike,
        prefix: &str,
        fallback: usize,
    ) -> Vec<Entry<'d>> {
        table
            .iter()
            .map(|(name, item)| {
                let key_line = self.line(table.key(name).and_then(|k| k.span()), fallback);
                Entry {
                    name,
                    key: format!("{prefix}{}", key_segment(name)),
                    key_line,
                    line: self.line(item.span(), key_line),
                    item,
                }
            })
            .collect()
    }

    fn file(&self, root: &toml_edit::Table) -> Result<RawFile, ConfigError> {
        let mut profiles = Vec::new();
        let mut settings = Vec::new();
        for entry in self.entries(root, "", 1) {
            if entry.name == "profiles" {
                profiles = self.profiles(&entry)?;
            } else {
                settings.push(entry);
            }
        }
        let top = self.settings(settings, TOP_KEYS)?;
        Ok(RawFile { top, profiles })
    }

    fn profiles(&self, entry: &Entry) -> Result<Vec<(String, RawTable)>, ConfigError> {
        let table = entry.item.as_table_like().ok_or_else(|| {
            self.wrong_type(
                entry,
                "a table of profiles, e.g. `[profiles.laptop]`",
                item_type(entry.item),
            )
        })?;
        let mut profiles = Vec::new();
        for profile in self.entries(table, &format!("{}.", entry.key), entry.line) {
            let settings = profile.item.as_table_like().ok_or_else(|| {
                self.wrong_type(
                    &profile,
                    "a table of settings, e.g. `[profiles.NAME]`",
                    item_type(profile.item),
                )
            })?;
            if !fits_in_a_tag(profile.name) {
                return Err(ConfigError::BadProfileName {
                    file: self.file.to_owned(),
                    line: profile.key_line,
                    key: profile.key.clone(),
                    name: profile.name.to_owned(),
                });
            }
            let entries = self.entries(settings, &format!("{}.", profile.key), profile.line);
            profiles.push((profile.name.to_owned(), self.settings(entries, TABLE_KEYS)?));
        }
        Ok(profiles)
    }

    /// The settings of the top level (`known` = [`TOP_KEYS`]) or of a profile.
    fn settings(
        &self,
        entries: Vec<Entry>,
        known: &'static [&'static str],
    ) -> Result<RawTable, ConfigError> {
        let mut table = RawTable::default();
        let (mut repo, mut repository_file) = (None, None);
        let (mut password_file, mut password_command) = (None, None);
        for entry in &entries {
            match entry.name {
                "places" => {
                    let places = self.paths(entry, "an array of absolute paths")?;
                    self.non_empty(
                        entry,
                        &places.value,
                        "list at least one absolute path to back up",
                    )?;
                    table.places = Some(places);
                }
                "snapshot" => table.snapshot = Some(self.snapshots(entry)?),
                "snapshot_prefix" => table.snapshot_prefix = Some(self.path_entry(entry)?),
                "exec_before_snapshot" => {
                    let argv =
                        self.strings(entry, "an array of strings: the command and its arguments")?;
                    self.non_empty(
                        entry,
                        &argv.value,
                        "give the command and its arguments, e.g. [\"mount\", \"/mnt\"], or remove the key",
                    )?;
                    if argv.value[0].is_empty() {
                        return Err(self.empty(
                            &format!("{}[0]", entry.key),
                            entry.line,
                            "name the program to run",
                        ));
                    }
                    table.exec_before_snapshot = Some(argv);
                }
                // May be empty: a profile may acknowledge nothing.
                "ignore_nested" => {
                    table.ignore_nested = Some(self.paths(entry, "an array of absolute paths")?)
                }
                "stall_timeout" => table.stall_timeout = Some(self.seconds_entry(entry)?),
                "keep_last" => table.keep.last = Some(self.count_entry(entry)?),
                "keep_hourly" => table.keep.hourly = Some(self.count_entry(entry)?),
                "keep_daily" => table.keep.daily = Some(self.count_entry(entry)?),
                "keep_weekly" => table.keep.weekly = Some(self.count_entry(entry)?),
                "keep_monthly" => table.keep.monthly = Some(self.count_entry(entry)?),
                "keep_yearly" => table.keep.yearly = Some(self.count_entry(entry)?),
                "keep_within" => table.keep.within = Some(self.duration_entry(entry)?),
                "check_read_data_subset" => {
                    table.check_read_data_subset = Some(self.subset_entry(entry)?)
                }
                "run_on_battery" => table.run_on_battery = Some(self.bool_entry(entry)?),
                "run_on_metered" => table.run_on_metered = Some(self.bool_entry(entry)?),
                "stale_after_days" => table.stale_after_days = Some(self.days_entry(entry)?),
                "wait_timeout" => table.wait_timeout = Some(self.seconds_entry(entry)?),
                "restic_backup_args" => {
                    table.restic_backup_args = Some(self.strings(entry, "an array of strings")?);
                }
                "restic_args" => {
                    table.restic_args = Some(self.strings(entry, "an array of strings")?)
                }
                "repo" => repo = Some(self.repo(entry)?),
                "repository_file" => repository_file = Some(self.path_entry(entry)?),
                "password_file" => password_file = Some(self.path_entry(entry)?),
                "password_command" => {
                    let command = self.string_entry(entry)?;
                    if command.value.is_empty() {
                        return Err(self.empty(
                            &entry.key,
                            entry.line,
                            "give the command that prints the password, or remove the key",
                        ));
                    }
                    password_command = Some(command);
                }
                _ => return Err(self.unknown(entry, known)),
            }
        }
        table.repository = self.one_of(
            repo,
            repository_file,
            Repository::Location,
            Repository::File,
        )?;
        table.password = self.one_of(
            password_file,
            password_command,
            Password::File,
            Password::Command,
        )?;
        Ok(table)
    }

    /// At most one of a pair of alternatives, as the enum they form.
    fn one_of<A, B, T>(
        &self,
        a: Option<At<A>>,
        b: Option<At<B>>,
        from_a: impl FnOnce(A) -> T,
        from_b: impl FnOnce(B) -> T,
    ) -> Result<Option<At<T>>, ConfigError> {
        match (a, b) {
            (Some(a), Some(b)) => {
                // Reported at the later of the two, pointing back at the earlier.
                let mut pair = [(a.key, a.line), (b.key, b.line)];
                pair.sort_by_key(|&(_, line)| line);
                let [(other_key, other_line), (key, line)] = pair;
                Err(ConfigError::Conflict {
                    file: self.file.to_owned(),
                    line,
                    key,
                    other_key,
                    other_line,
                })
            }
            (Some(a), None) => Ok(Some(a.map(from_a))),
            (None, Some(b)) => Ok(Some(b.map(from_b))),
            (None, None) => Ok(None),
        }
    }

    fn snapshots(&self, entry: &Entry) -> Result<At<Vec<RawSnapshot>>, ConfigError> {
        const ITEM: &str = "a path or a table with `source` and optionally `snapshot_location`";
        let mut snapshots = Vec::new();
        match entry.item {
            // [[snapshot]] tables
            Item::ArrayOfTables(tables) => {
                for (i, table) in tables.iter().enumerate() {
                    let line = self.line(table.span(), entry.line);
                    snapshots.push(self.snapshot_table(
                        table,
                        format!("{}[{i}]", entry.key),
                        line,
                    )?);
                }
            }
            // snapshot = ["/home", { source = "/var", snapshot_location = "/x" }]
            Item::Value(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let key = format!("{}[{i}]", entry.key);
                    let line = self.line(item.span(), entry.line);
                    snapshots.push(match item {
                        Value::String(_) => RawSnapshot {
                            source: At {
                                value: self.path(&key, line, item)?,
                                key,
                                line,
                            },
                            location: None,
                        },
                        Value::InlineTable(table) => self.snapshot_table(table, key, line)?,
                        other => {
                            return Err(ConfigError::WrongType {
                                file: self.file.to_owned(),
                                line,
                                key,
                                expected: ITEM,
                                found: value_type(other),
                            })
                        }
                    });
                }
            }
            other => {
                return Err(self.wrong_type(
                    entry,
                    "an array of paths and `{ source = ... }` tables, or `[[snapshot]]` tables",
                    item_type(other),
                ))
            }
        }
        Ok(At {
            value: snapshots,
            key: entry.key.clone(),
            line: entry.line,
        })
    }

    fn snapshot_table(
        &self,
        table: &dyn TableLike,
        key: String,
        line: usize,
    ) -> Result<RawSnapshot, ConfigError> {
        let (mut source, mut location) = (None, None);
        for entry in self.entries(table, &format!("{key}."), line) {
            match entry.name {
                "source" => source = Some(self.path_entry(&entry)?),
                "snapshot_location" => location = Some(self.path_entry(&entry)?),
                _ => return Err(self.unknown(&entry, SNAPSHOT_KEYS)),
            }
        }
        let source = source.ok_or_else(|| ConfigError::MissingSource {
            file: self.file.to_owned(),
            line,
            key,
        })?;
        Ok(RawSnapshot { source, location })
    }

    fn non_empty<T>(
        &self,
        entry: &Entry,
        items: &[T],
        remedy: &'static str,
    ) -> Result<(), ConfigError> {
        if items.is_empty() {
            return Err(self.empty(&entry.key, entry.line, remedy));
        }
        Ok(())
    }

    fn empty(&self, key: &str, line: usize, remedy: &'static str) -> ConfigError {
        ConfigError::Empty {
            file: self.file.to_owned(),
            line,
            key: key.to_owned(),
            remedy,
        }
    }

    fn wrong_type(
        &self,
        entry: &Entry,
        expected: &'static str,
        found: &'static str,
    ) -> ConfigError {
        ConfigError::WrongType {
            file: self.file.to_owned(),
            line: entry.line,
            key: entry.key.clone(),
            expected,
            found,
        }
    }

    fn unknown(&self, entry: &Entry, known: &'static [&'static str]) -> ConfigError {
        ConfigError::UnknownKey {
            file: self.file.to_owned(),
            line: entry.key_line,
            key: entry.key.clone(),
            suggestion: closest(entry.name, known),
            known,
        }
    }
}

/// The known key most like `name`, if it is like it at all: a near spelling
/// (`plces`), or else the one key that contains it (`location`).
fn closest(name: &str, known: &'static [&'static str]) -> Option<&'static str> {
    let name = name.to_lowercase();
    let spelled = known
        .iter()
        .map(|&key| (key, strsim::jaro_winkler(&name, key)))
        .filter(|&(_, score)| score >= SUGGESTION_THRESHOLD)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(key, _)| key);
    spelled.or_else(|| {
        let mut containing = known
            .iter()
            .filter(|key| name.len() >= MIN_CONTAINED_LEN && key.contains(name.as_str()));
        match (containing.next(), containing.next()) {
            (Some(&key), None) => Some(key),
            _ => None,
        }
    })
}

/// A key as it is written in a dotted key path.
fn key_segment(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_near_spellings_and_unique_containers() {
        assert_eq!(closest("plces", TOP_KEYS), Some("places"));
        assert_eq!(closest("Places", TOP_KEYS), Some("places"));
        assert_eq!(closest("snapshots", TOP_KEYS), Some("snapshot"));
        assert_eq!(closest("password", TOP_KEYS), Some("password_file"));
        assert_eq!(
            closest("location", SNAPSHOT_KEYS),
            Some("snapshot_location")
        );
        assert_eq!(closest("backup_args", TOP_KEYS), Some("restic_backup_args"));
        // Like several keys (`profiles`, the `_file`s): no guess.
        assert_eq!(closest("file", TOP_KEYS), None);
        assert_eq!(closest("colour", TOP_KEYS), None);
        assert_eq!(closest("profiles", TABLE_KEYS), None);
    }

    #[test]
    fn key_paths_quote_keys_that_are_not_bare() {
        assert_eq!(key_segment("laptop-2_x"), "laptop-2_x");
        assert_eq!(key_segment("my laptop"), "\"my laptop\"");
        assert_eq!(key_segment(""), "\"\"");
    }
}
