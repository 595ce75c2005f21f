//! Writing the helper's TOML configuration.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::repo::Repo;

/// One `snapshot` entry.
#[derive(Debug, Clone)]
pub enum SnapshotEntry {
    /// A plain string: snapshot this source at the default location.
    Source(PathBuf),
    /// A `{ source, snapshot_location }` table.
    Table {
        source: PathBuf,
        location: Option<PathBuf>,
    },
}

/// The settings a test wants; [`ConfigSpec::to_toml`] writes them out.
#[derive(Debug, Clone, Default)]
pub struct ConfigSpec {
    pub places: Vec<PathBuf>,
    /// Empty: the key is left out (the helper snapshots `places`).
    pub snapshot: Vec<SnapshotEntry>,
    pub snapshot_prefix: Option<PathBuf>,
    pub exec_before_snapshot: Option<Vec<String>>,
    pub restic_backup_args: Vec<String>,
    pub restic_args: Vec<String>,
    pub repo: Option<String>,
    pub repository_file: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    pub password_command: Option<String>,
    /// Raw top-level lines (`key = value`), written before any table.
    pub raw_top: Vec<String>,
    /// Raw tables (`[profiles.x]` …), written last.
    pub raw_tables: String,
}

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => write!(out, "\\u{:04X}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML basic string for a path.
pub fn toml_path(p: &Path) -> String {
    toml_string(p.to_str().expect("test paths are UTF-8"))
}

/// A TOML array of strings.
pub fn toml_array<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<String> = items.iter().map(|s| toml_string(s.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

impl ConfigSpec {
    /// Backs up (and snapshots) `places` into `repo`, with its password file.
    pub fn for_repo(repo: &Repo, places: &[PathBuf]) -> Self {
        ConfigSpec {
            places: places.to_vec(),
            repo: Some(repo.location().to_str().expect("UTF-8").to_owned()),
            password_file: Some(repo.password_file()),
            ..Default::default()
        }
    }

    pub fn to_toml(&self) -> String {
        let mut t = String::new();
        let paths = |ps: &[PathBuf]| {
            let v: Vec<&str> = ps.iter().map(|p| p.to_str().expect("UTF-8")).collect();
            toml_array(&v)
        };
        writeln!(t, "places = {}", paths(&self.places)).unwrap();
        if let Some(p) = &self.snapshot_prefix {
            writeln!(t, "snapshot_prefix = {}", toml_path(p)).unwrap();
        }
        if let Some(argv) = &self.exec_before_snapshot {
            writeln!(t, "exec_before_snapshot = {}", toml_array(argv)).unwrap();
        }
        if !self.restic_backup_args.is_empty() {
            writeln!(
                t,
                "restic_backup_args = {}",
                toml_array(&self.restic_backup_args)
            )
            .unwrap();
        }
        if !self.restic_args.is_empty() {
            writeln!(t, "restic_args = {}", toml_array(&self.restic_args)).unwrap();
        }
        if let Some(r) = &self.repo {
            writeln!(t, "repo = {}", toml_string(r)).unwrap();
        }
        if let Some(f) = &self.repository_file {
            writeln!(t, "repository_file = {}", toml_path(f)).unwrap();
        }
        if let Some(f) = &self.password_file {
            writeln!(t, "password_file = {}", toml_path(f)).unwrap();
        }
        if let Some(c) = &self.password_command {
            writeln!(t, "password_command = {}", toml_string(c)).unwrap();
        }
        for line in &self.raw_top {
            writeln!(t, "{line}").unwrap();
        }
        let plain: Option<Vec<&Path>> = self
            .snapshot
            .iter()
            .map(|e| match e {
                SnapshotEntry::Source(p) => Some(p.as_path()),
                SnapshotEntry::Table { .. } => None,
            })
            .collect();
        match plain {
            _ if self.snapshot.is_empty() => {}
            Some(sources) => {
                let v: Vec<&str> = sources.iter().map(|p| p.to_str().unwrap()).collect();
                writeln!(t, "snapshot = {}", toml_array(&v)).unwrap();
            }
            None => {
                for e in &self.snapshot {
                    t.push_str("\n[[snapshot]]\n");
                    match e {
                        SnapshotEntry::Source(source) => {
                            writeln!(t, "source = {}", toml_path(source)).unwrap();
                        }
                        SnapshotEntry::Table { source, location } => {
                            writeln!(t, "source = {}", toml_path(source)).unwrap();
                            if let Some(l) = location {
                                writeln!(t, "snapshot_location = {}", toml_path(l)).unwrap();
                            }
                        }
                    }
                }
            }
        }
        if !self.raw_tables.is_empty() {
            t.push('\n');
            t.push_str(&self.raw_tables);
            t.push('\n');
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_tables_after_top_level_keys() {
        let spec = ConfigSpec {
            places: vec!["/a".into(), "/b".into()],
            snapshot: vec![
                SnapshotEntry::Source("/a".into()),
                SnapshotEntry::Table {
                    source: "/b".into(),
                    location: Some("/s/b".into()),
                },
            ],
            repo: Some("/r \"x\"".into()),
            password_command: Some("cat /pw".into()),
            raw_tables: "[profiles.p]\nplaces = [\"/a\"]".into(),
            ..Default::default()
        };
        let t = spec.to_toml();
        assert!(t.starts_with("places = [\"/a\", \"/b\"]\n"));
        assert!(t.contains("repo = \"/r \\\"x\\\"\"\n"));
        let table = t.find("[[snapshot]]").unwrap();
        assert!(t.find("password_command").unwrap() < table);
        assert!(t.contains("source = \"/b\"\nsnapshot_location = \"/s/b\"\n"));
        assert!(t.ends_with("[profiles.p]\nplaces = [\"/a\"]\n"));
    }

    #[test]
    fn plain_sources_are_one_array() {
        let spec = ConfigSpec {
            places: vec!["/a".into()],
            snapshot: vec![SnapshotEntry::Source("/a".into())],
            ..Default::default()
        };
        assert!(spec.to_toml().contains("snapshot = [\"/a\"]\n"));
    }
}
