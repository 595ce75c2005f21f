//! What the restore tests (restore.rs, restore_hardening.rs) share: a bus
//! whose helper is activated and may mount with FUSE, a folder a root copy
//! may go into, and a backup made with restic itself.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::busfixture::{BusFixture, BusSetup};
use crate::fixture::Fixture;
use crate::guarded::require_tool;

/// A private system bus that activates the helper, with `fusermount3` there
/// for its restic mount.
pub fn activated_bus() -> BusFixture {
    require_tool("fusermount3", "fuse3");
    BusFixture::new(BusSetup {
        activation: true,
        ..BusSetup::default()
    })
}

/// A folder that only root may change (0755 in /run), as a root copy's
/// target must be; gone on drop.
pub fn root_target() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("igotchuu-e2e-")
        .tempdir_in("/run")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A backup of `path` made with restic itself (as another machine would,
/// with `host`); its id.
pub fn restic_backup(fx: &Fixture, path: &Path, host: Option<&str>) -> String {
    let mut cmd = fx.repo.command();
    cmd.args(["backup", "--json"]);
    if let Some(host) = host {
        cmd.args(["--host", host]);
    }
    let out = cmd.arg(path).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "restic backup: {said}");
    said.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .and_then(|v| v["snapshot_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no summary: {said}"))
}
