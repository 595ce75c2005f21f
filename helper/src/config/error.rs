//! Why a configuration is refused. Each message names the file, the key and
//! line where there is one, and says what to do about it.

use std::path::PathBuf;

/// The largest configuration file accepted; a real one is a few hundred bytes.
pub const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{}: no such file; write the configuration there, or name another file with `-c FILE`",
        .file.display()
    )]
    Missing { file: PathBuf },

    #[error("{}: cannot read it: {error}", .file.display())]
    Unreadable {
        file: PathBuf,
        error: std::io::Error,
    },

    #[error("{}: is a {kind}, not a regular file; point `-c` at the configuration file", .file.display())]
    NotRegularFile { file: PathBuf, kind: &'static str },

    #[error(
        "{}: is larger than {} bytes, too large for a configuration file; check that `-c` names the right file",
        .file.display(), MAX_CONFIG_SIZE
    )]
    TooLarge { file: PathBuf },

    #[error(
        "{}: is owned by uid {uid}, not root, and igotchuu runs the commands it names as root; \
         run `chown root:root {} && chmod go-w {}`",
        .file.display(), .file.display(), .file.display()
    )]
    NotOwnedByRoot { file: PathBuf, uid: u32 },

    #[error(
        "{}: is writable by group or others (mode {mode:04o}), and igotchuu runs the commands it names as root; \
         run `chown root:root {} && chmod go-w {}`",
        .file.display(), .file.display(), .file.display()
    )]
    WritableByOthers { file: PathBuf, mode: u32 },

    #[error("{}:{line}: not valid UTF-8; TOML files must be UTF-8", .file.display())]
    NotUtf8 { file: PathBuf, line: usize },

    #[error("{}:{line}: TOML syntax error: {message}", .file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{}:{line}: unknown key `{key}`; {}", .file.display(), unknown_key_advice(.suggestion, .known))]
    UnknownKey {
        file: PathBuf,
        line: usize,
        key: String,
        /// The known key closest to the unknown one, if it is close.
        suggestion: Option<&'static str>,
        /// The keys allowed where this one was found.
        known: &'static [&'static str],
    },

    #[error("{}:{line}: `{key}` = {value} is not {expected}", .file.display())]
    BadValue {
        file: PathBuf,
        line: usize,
        key: String,
        /// The value as written.
        value: String,
        expected: &'static str,
    },

    #[error(
        "{}:{line}: `{key}`: the profile name {name:?} cannot be part of a restic tag \
         (its backups are tagged `igotchuu:NAME`, and forget selects them by it): \
         restic splits tags at commas and trims spaces; use a name without commas, \
         control characters, or spaces at either end",
        .file.display()
    )]
    BadProfileName {
        file: PathBuf,
        line: usize,
        key: String,
        name: String,
    },

    #[error("{}:{line}: `{key}` must be {expected}, not {found}", .file.display())]
    WrongType {
        file: PathBuf,
        line: usize,
        key: String,
        expected: &'static str,
        /// The TOML type that was found.
        found: &'static str,
    },

    #[error(
        "{}:{line}: `{key}` is the relative path \"{path}\"; write an absolute path, starting with `/`",
        .file.display()
    )]
    RelativePath {
        file: PathBuf,
        line: usize,
        key: String,
        path: String,
    },

    #[error(
        "{}:{line}: `{key}` is the relative path \"{repo}\"; write an absolute path, or a restic \
         location such as `sftp:host:/srv/restic` or `rest:https://host/`",
        .file.display()
    )]
    RelativeRepo {
        file: PathBuf,
        line: usize,
        key: String,
        repo: String,
    },

    #[error("{}:{line}: `{key}` contains a NUL byte, which no path or argument can hold; remove it", .file.display())]
    NulByte {
        file: PathBuf,
        line: usize,
        key: String,
    },

    #[error("{}:{line}: `{key}` is empty; {remedy}", .file.display())]
    Empty {
        file: PathBuf,
        line: usize,
        key: String,
        /// What to write instead.
        remedy: &'static str,
    },

    #[error(
        "{}:{line}: `{key}` and `{other_key}` (line {other_line}) are both set, but they are alternatives; keep one",
        .file.display()
    )]
    Conflict {
        file: PathBuf,
        line: usize,
        key: String,
        other_key: String,
        other_line: usize,
    },

    #[error(
        "{}:{line}: `{key}` has no `source`; add `source = \"/path/of/subvolume\"`",
        .file.display()
    )]
    MissingSource {
        file: PathBuf,
        line: usize,
        key: String,
    },

    #[error(
        "{}: `places` is not set{}; list what to back up, e.g. `places = [\"/home\"]`",
        .file.display(), where_not_set(.profile)
    )]
    MissingPlaces {
        file: PathBuf,
        profile: Option<String>,
    },

    #[error(
        "{}: neither `repo` nor `repository_file` is set{}; set one, e.g. `repo = \"sftp:host:/srv/restic\"`",
        .file.display(), where_not_set(.profile)
    )]
    MissingRepository {
        file: PathBuf,
        profile: Option<String>,
    },

    #[error("{}: there is no profile `{profile}`; {}", .file.display(), known_profiles(.known))]
    UnknownProfile {
        file: PathBuf,
        profile: String,
        /// The profiles the file defines.
        known: Vec<String>,
    },

    #[error(
        "{}:{line}: `{key}` snapshots {} again, as `{first_key}` (line {first_line}) does; list each subvolume once",
        .file.display(), .path.display()
    )]
    DuplicateSource {
        file: PathBuf,
        line: usize,
        key: String,
        path: PathBuf,
        first_key: String,
        first_line: usize,
    },

    #[error(
        "{}:{line}: the snapshot of `{key}` would go to {}, where the one of `{first_key}` (line {first_line}) goes; \
         give one of them another `snapshot_location`",
        .file.display(), .location.display()
    )]
    DuplicateLocation {
        file: PathBuf,
        line: usize,
        key: String,
        location: PathBuf,
        first_key: String,
        first_line: usize,
    },

    #[error(
        "{}:{line}: `{key}`: {} is not a btrfs subvolume, so it cannot be snapshotted; make it one \
         (`btrfs subvolume create`), or set `snapshot` to list only subvolumes",
        .file.display(), .path.display()
    )]
    NotSubvolume {
        file: PathBuf,
        line: usize,
        key: String,
        path: PathBuf,
    },

    #[error(
        "{}:{line}: `{key}`: cannot tell whether {} is a btrfs subvolume: {error}; check that it exists",
        .file.display(), .path.display()
    )]
    SubvolumeCheck {
        file: PathBuf,
        line: usize,
        key: String,
        path: PathBuf,
        error: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error(
        "{}:{line}: `{key}`: {} is inside the subvolume {}, which the snapshot of {} does not \
         contain (a snapshot holds an empty folder in place of a nested subvolume), so the \
         backup would miss it; add {} to `snapshot` as well",
        .file.display(), .paths.place.display(), .paths.subvolume.display(),
        .paths.snapshotted.display(), .paths.subvolume.display()
    )]
    HiddenPlace {
        file: PathBuf,
        line: usize,
        key: String,
        paths: Box<HiddenPaths>,
    },
}

/// The paths of [`ConfigError::HiddenPlace`].
#[derive(Debug)]
pub struct HiddenPaths {
    pub place: PathBuf,
    /// The nested subvolume the place is in.
    pub subvolume: PathBuf,
    /// The source whose snapshot would hide it.
    pub snapshotted: PathBuf,
}

fn unknown_key_advice(suggestion: &Option<&'static str>, known: &[&str]) -> String {
    match suggestion {
        Some(key) => format!("did you mean `{key}`?"),
        None => format!("remove it; the keys allowed here are {}", known.join(", ")),
    }
}

fn where_not_set(profile: &Option<String>) -> String {
    match profile {
        Some(name) => format!(" (neither at the top level nor in profile `{name}`)"),
        None => String::new(),
    }
}

fn known_profiles(known: &[String]) -> String {
    if known.is_empty() {
        "the file defines none; add a `[profiles.NAME]` table or leave out `-p`".to_owned()
    } else {
        format!("the file defines {}", known.join(", "))
    }
}

/// The 1-based line holding byte `offset` of `text`.
pub(super) fn line_at(text: &[u8], offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text[..end].iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_at_counts_newlines_before_the_offset() {
        let text = b"a = 1\nb = 2\n\nc = 3";
        assert_eq!(line_at(text, 0), 1);
        assert_eq!(line_at(text, 5), 1);
        assert_eq!(line_at(text, 6), 2);
        assert_eq!(line_at(text, 13), 4);
        // Past the end (an error at EOF) stays on the last line.
        assert_eq!(line_at(text, 100), 4);
    }
}
