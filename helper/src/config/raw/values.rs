//! Reading one value: its type, then what the key demands of it (no NUL
//! bytes, absolute paths, a `repo` that restic will not take as relative).

use std::path::{Path, PathBuf};

use toml_edit::{Item, Value};

use super::{At, Entry, Walk};
use crate::config::error::ConfigError;

impl Walk<'_> {
    /// The entry's value, when it is a plain value (not a `[table]`).
    pub(super) fn value<'d>(
        &self,
        entry: &Entry<'d>,
        expected: &'static str,
    ) -> Result<&'d Value, ConfigError> {
        entry
            .item
            .as_value()
            .ok_or_else(|| self.wrong_type(entry, expected, item_type(entry.item)))
    }

    pub(super) fn string(
        &self,
        key: &str,
        line: usize,
        value: &Value,
        expected: &'static str,
    ) -> Result<String, ConfigError> {
        let string = value.as_str().ok_or_else(|| ConfigError::WrongType {
            file: self.file.to_owned(),
            line,
            key: key.to_owned(),
            expected,
            found: value_type(value),
        })?;
        if string.contains('\0') {
            return Err(ConfigError::NulByte {
                file: self.file.to_owned(),
                line,
                key: key.to_owned(),
            });
        }
        Ok(string.to_owned())
    }

    pub(super) fn string_entry(&self, entry: &Entry) -> Result<At<String>, ConfigError> {
        let value = self.value(entry, "a string")?;
        Ok(At {
            value: self.string(&entry.key, entry.line, value, "a string")?,
            key: entry.key.clone(),
            line: entry.line,
        })
    }

    pub(super) fn path(
        &self,
        key: &str,
        line: usize,
        value: &Value,
    ) -> Result<PathBuf, ConfigError> {
        let path = self.string(key, line, value, "an absolute path")?;
        if !path.starts_with('/') {
            return Err(ConfigError::RelativePath {
                file: self.file.to_owned(),
                line,
                key: key.to_owned(),
                path,
            });
        }
        Ok(normalize(&path))
    }

    pub(super) fn path_entry(&self, entry: &Entry) -> Result<At<PathBuf>, ConfigError> {
        let value = self.value(entry, "an absolute path")?;
        Ok(At {
            value: self.path(&entry.key, entry.line, value)?,
            key: entry.key.clone(),
            line: entry.line,
        })
    }

    /// A whole number of seconds, 0 or more.
    pub(super) fn seconds_entry(&self, entry: &Entry) -> Result<At<u64>, ConfigError> {
        const EXPECTED: &str = "a whole number of seconds, 0 or more";
        let value = self.value(entry, EXPECTED)?;
        let seconds = value
            .as_integer()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| self.wrong_type(entry, EXPECTED, value_type(value)))?;
        Ok(At {
            value: seconds,
            key: entry.key.clone(),
            line: entry.line,
        })
    }

    pub(super) fn paths(
        &self,
        entry: &Entry,
        expected: &'static str,
    ) -> Result<At<Vec<At<PathBuf>>>, ConfigError> {
        let array = self.array(entry, expected)?;
        let paths = array
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let key = format!("{}[{i}]", entry.key);
                let line = self.line(item.span(), entry.line);
                Ok(At {
                    value: self.path(&key, line, item)?,
                    key,
                    line,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(At {
            value: paths,
            key: entry.key.clone(),
            line: entry.line,
        })
    }

    pub(super) fn strings(
        &self,
        entry: &Entry,
        expected: &'static str,
    ) -> Result<At<Vec<String>>, ConfigError> {
        let array = self.array(entry, expected)?;
        let strings = array
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let line = self.line(item.span(), entry.line);
                self.string(&format!("{}[{i}]", entry.key), line, item, "a string")
            })
            .collect::<Result<_, _>>()?;
        Ok(At {
            value: strings,
            key: entry.key.clone(),
            line: entry.line,
        })
    }

    pub(super) fn array<'d>(
        &self,
        entry: &Entry<'d>,
        expected: &'static str,
    ) -> Result<&'d toml_edit::Array, ConfigError> {
        let value = self.value(entry, expected)?;
        value
            .as_array()
            .ok_or_else(|| self.wrong_type(entry, expected, value_type(value)))
    }

    /// `repo`: a restic location (`scheme:...`) or an absolute local path.
    pub(super) fn repo(&self, entry: &Entry) -> Result<At<String>, ConfigError> {
        let repo = self.string_entry(entry)?;
        if repo.value.is_empty() {
            return Err(self.empty(
                &entry.key,
                entry.line,
                "write an absolute path, or a restic location such as `sftp:host:/srv/restic`",
            ));
        }
        let local_path = match repo.value.split_once(':') {
            Some(("local", path)) => Some(path),
            Some((scheme, _)) if is_scheme(scheme) => None,
            _ => Some(repo.value.as_str()),
        };
        if local_path.is_some_and(|path| !path.starts_with('/')) {
            return Err(ConfigError::RelativeRepo {
                file: self.file.to_owned(),
                line: entry.line,
                key: entry.key.clone(),
                repo: repo.value,
            });
        }
        Ok(repo)
    }
}

/// A URI scheme as restic's `backend:` prefixes are: a letter, then letters,
/// digits, `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Drops trailing slashes, `//` and `.`, so `/home/` and `/home` are the same
/// source and `prefix + source` never yields `//` or `/home/-<stamp>`.
fn normalize(path: &str) -> PathBuf {
    Path::new(path).components().collect()
}

pub(super) fn item_type(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(value) => value_type(value),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

pub(super) fn value_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn scheme_is_a_uri_scheme() {
        assert!(is_scheme("sftp"));
        assert!(is_scheme("s3"));
        assert!(!is_scheme(""));
        assert!(!is_scheme("3s"));
        assert!(!is_scheme("./repo"));
    }
}
