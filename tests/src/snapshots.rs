//! Recognising the helper's btrfs snapshots: `<location>-<UTC stamp>`,
//! with a stamp like `2026-11-22T10-15-30Z`.

use std::path::Path;
use std::process::Command;

use crate::run;

/// Whether `stamp` has the form `YYYY-MM-DDTHH-MM-SSZ`.
pub fn is_stamp(stamp: &str) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd-dd-ddZ";
    stamp.len() == SHAPE.len()
        && stamp.bytes().zip(SHAPE).all(|(c, &s)| match s {
            b'd' => c.is_ascii_digit(),
            s => c == s,
        })
}

/// If `name` is `<location>-<stamp>`, the stamp.
pub fn stamp_of<'a>(name: &'a str, location: &str) -> Option<&'a str> {
    let stamp = name.strip_prefix(location)?.strip_prefix('-')?;
    is_stamp(stamp).then_some(stamp)
}

/// The entries of `after` that are not in `before`.
pub fn added(before: &[String], after: &[String]) -> Vec<String> {
    after
        .iter()
        .filter(|a| !before.contains(a))
        .cloned()
        .collect()
}

/// Whether the subvolume at `path` is read-only.
pub fn is_read_only(path: &Path) -> bool {
    let out = run(Command::new("btrfs")
        .args(["property", "get", "-ts"])
        .arg(path)
        .arg("ro"));
    match out.trim() {
        "ro=true" => true,
        "ro=false" => false,
        other => panic!("unexpected `btrfs property get` output: {other}"),
    }
}

/// The subvolume (tree) id of the subvolume containing `path`.
pub fn subvolume_id(path: &Path) -> u64 {
    let out = run(Command::new("btrfs")
        .args(["inspect-internal", "rootid"])
        .arg(path));
    out.trim()
        .parse()
        .unwrap_or_else(|e| panic!("rootid of {}: {e}: {out}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_stamps() {
        assert!(is_stamp("2026-11-22T10-15-30Z"));
        assert!(!is_stamp("2026-11-22T10:15:30Z"));
        assert!(!is_stamp("2026-11-22T10-15-30"));
        assert_eq!(
            stamp_of("home-2026-11-22T10-15-30Z", "home"),
            Some("2026-11-22T10-15-30Z")
        );
        assert_eq!(stamp_of("home2-2026-11-22T10-15-30Z", "home"), None);
        assert_eq!(stamp_of("home", "home"), None);
    }
}
