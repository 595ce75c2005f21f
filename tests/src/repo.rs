//! A local restic repository in a temp dir, and reading back what a backup saved.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use tempfile::TempDir;

use crate::run;

/// The restic binary the tests run, both themselves and through the
/// wrapper the helper finds first in its PATH: `IGOTCHUU_TEST_RESTIC` (an
/// absolute path, e.g. the restic 0.18 that `scripts/restic-versions.sh`
/// fetches), or Debian 12's `/usr/bin/restic` (0.14).
pub const RESTIC: &Restic = &Restic;

/// The variable that chooses [`RESTIC`].
pub const RESTIC_VAR: &str = "IGOTCHUU_TEST_RESTIC";
const DEFAULT_RESTIC: &str = "/usr/bin/restic";

/// The restic binary the tests run (see [`RESTIC`]); usable wherever a
/// path is (`Command::new(RESTIC)`, `Path::new(RESTIC)`).
#[derive(Debug)]
pub struct Restic;

/// A restic release, e.g. `0.14.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ResticVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ResticVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        ResticVersion {
            major,
            minor,
            patch,
        }
    }

    /// From `restic version`'s `restic 0.18.0 compiled with …`.
    pub fn parse(text: &str) -> Option<Self> {
        let number = text.strip_prefix("restic ")?.split_whitespace().next()?;
        let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
        Some(ResticVersion::new(
            parts.next()??,
            parts.next()??,
            parts.next().unwrap_or(Some(0))?,
        ))
    }

    /// Whether this release is `major.minor.patch` or newer.
    pub fn at_least(self, major: u32, minor: u32, patch: u32) -> bool {
        self >= ResticVersion::new(major, minor, patch)
    }
}

impl std::fmt::Display for ResticVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Restic {
    /// The binary's absolute path, symlinks resolved (as `/proc/PID/exe`
    /// shows it). Panics if the variable names no restic.
    pub fn path(&self) -> &'static Path {
        static PATH: OnceLock<PathBuf> = OnceLock::new();
        PATH.get_or_init(|| {
            let chosen = std::env::var_os(RESTIC_VAR)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_RESTIC));
            assert!(
                chosen.is_absolute(),
                "{RESTIC_VAR}={} is not an absolute path",
                chosen.display()
            );
            std::fs::canonicalize(&chosen).unwrap_or_else(|e| {
                panic!(
                    "restic {}: {e} (run scripts/restic-versions.sh, or unset {RESTIC_VAR})",
                    chosen.display()
                )
            })
        })
    }

    /// Its release, from `restic version` (asked once per test binary).
    pub fn version(&self) -> ResticVersion {
        static VERSION: OnceLock<ResticVersion> = OnceLock::new();
        *VERSION.get_or_init(|| {
            let out = run(Command::new(self.path()).arg("version"));
            ResticVersion::parse(out.trim())
                .unwrap_or_else(|| panic!("restic version printed {out:?}"))
        })
    }
}

impl AsRef<OsStr> for Restic {
    fn as_ref(&self) -> &OsStr {
        self.path().as_os_str()
    }
}

impl AsRef<Path> for Restic {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl std::fmt::Display for Restic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.path().display().fmt(f)
    }
}

/// Environment variables that would point restic elsewhere; never inherited.
pub const RESTIC_ENV: [&str; 6] = [
    "RESTIC_REPOSITORY",
    "RESTIC_REPOSITORY_FILE",
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_FILE",
    "RESTIC_PASSWORD_COMMAND",
    "RESTIC_CACHE_DIR",
];

/// A fresh, initialised restic repository with its own password and cache.
pub struct Repo {
    dir: TempDir,
    password: String,
}

/// A snapshot as `restic snapshots --json` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ResticSnapshot {
    pub id: String,
    pub short_id: String,
    pub paths: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub parent: Option<String>,
    pub hostname: String,
}

/// A file or folder as `restic ls --json` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The path inside the snapshot. restic 0.14 starts it at the last
    /// component of each backed-up path (`/home/a.txt` for `/x/home`).
    pub path: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub inode: Option<u64>,
}

/// Everything in one snapshot.
#[derive(Debug, Clone)]
pub struct Listing {
    pub snapshot: ResticSnapshot,
    pub nodes: Vec<Node>,
}

impl Listing {
    /// The node for `rel` below the backed-up path `source`, if the snapshot has it.
    pub fn find(&self, source: &Path, rel: &str) -> Option<&Node> {
        let suffix = snapshot_suffix(source, rel);
        let hits: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| n.path == suffix || n.path.ends_with(&suffix))
            .collect();
        assert!(
            hits.len() <= 1,
            "{suffix} is ambiguous in the snapshot: {hits:?}"
        );
        hits.first().copied()
    }

    /// Every file (not folder) below `source`, by path relative to it.
    pub fn files_under(&self, source: &Path) -> BTreeMap<String, u64> {
        let prefix = snapshot_suffix(source, "");
        self.nodes
            .iter()
            .filter(|n| n.kind == "file")
            .filter_map(|n| {
                let at = n.path.find(&prefix)?;
                Some((n.path[at + prefix.len()..].to_owned(), n.size.unwrap_or(0)))
            })
            .collect()
    }
}

/// `/<last component of source>/<rel>`: how restic names it in a snapshot.
fn snapshot_suffix(source: &Path, rel: &str) -> String {
    let base = source
        .file_name()
        .unwrap_or_else(|| panic!("{} has no last component", source.display()))
        .to_string_lossy();
    if rel.is_empty() {
        format!("/{base}/")
    } else {
        format!("/{base}/{rel}")
    }
}

/// A password nobody could guess and any test can search for.
fn fresh_secret(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("e2e-{what}-{:x}-{nanos:x}", std::process::id())
}

/// Writes `text` to `path` with mode 0600.
pub fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(text.as_bytes()).expect("write");
}

impl Repo {
    /// Creates and initialises a repository in a new temp dir.
    pub fn init() -> Self {
        Self::init_in(&std::env::temp_dir())
    }

    /// Creates and initialises a repository in a new temp dir below `parent`.
    pub fn init_in(parent: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-repo-")
            .tempdir_in(parent)
            .expect("temp dir");
        let repo = Repo {
            dir,
            password: fresh_secret("password"),
        };
        write_private(&repo.password_file(), &format!("{}\n", repo.password));
        run(repo.command().args(["init", "-q"]));
        repo
    }

    /// The repository's location (a local path).
    pub fn location(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// The repository password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A 0600 file holding the password.
    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }

    /// A restic cache directory that goes away with the repository.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// `restic` set up for this repository; add the subcommand and arguments.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(RESTIC);
        for var in RESTIC_ENV {
            cmd.env_remove(var);
        }
        cmd.env("RESTIC_REPOSITORY", self.location())
            .env("RESTIC_PASSWORD_FILE", self.password_file())
            .env("RESTIC_CACHE_DIR", self.cache_dir());
        cmd
    }

    /// All snapshots, oldest first.
    pub fn snapshots(&self) -> Vec<ResticSnapshot> {
        let out = run(self.command().args(["snapshots", "--json"]));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("restic snapshots: {e}: {out}"))
    }

    /// Everything in `snapshot` (an id or `latest`).
    pub fn ls(&self, snapshot: &str) -> Listing {
        let out = run(self.command().args(["ls", "--json", snapshot]));
        let mut lines = out.lines();
        let first = lines.next().expect("restic ls printed nothing");
        let snapshot: ResticSnapshot =
            serde_json::from_str(first).unwrap_or_else(|e| panic!("restic ls: {e}: {first}"));
        let nodes = lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("restic ls: {e}: {l}")))
            .collect();
        Listing { snapshot, nodes }
    }

    /// The contents of the file at `node_path` (as in [`Node::path`]) in `snapshot`.
    pub fn dump(&self, snapshot: &str, node_path: &str) -> Vec<u8> {
        let out = self
            .command()
            .args(["dump", snapshot, node_path])
            .output()
            .expect("run restic dump");
        assert!(
            out.status.success(),
            "restic dump {snapshot} {node_path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The ids of the repository's lock files.
    pub fn locks(&self) -> Vec<String> {
        run(self.command().args(["list", "locks", "--no-lock"]))
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::ResticVersion;

    #[test]
    fn versions_are_read_from_restic_version() {
        let v014 = ResticVersion::parse("restic 0.14.0 compiled with go1.19.8 on linux/amd64");
        assert_eq!(v014, Some(ResticVersion::new(0, 14, 0)));
        let v018 = ResticVersion::parse("restic 0.18.0 compiled with go1.24.4 on linux/amd64")
            .expect("0.18.0");
        assert!(v018.at_least(0, 17, 1) && v018.at_least(0, 18, 0));
        assert!(!v018.at_least(0, 18, 1));
        assert_eq!(ResticVersion::parse("rustic 0.9.0"), None);
    }
}
