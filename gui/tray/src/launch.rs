//! Finding what the tray starts or shows: the window's binary and the icons.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The window's binary.
pub const GUI_BINARY: &str = "igotchuu-gui";
/// Overrides which program opens the window (tests, unusual installs).
pub const GUI_ENV: &str = "IGOTCHUU_GUI";
/// Overrides where hosts look for the tray's icons (a directory holding
/// `hicolor/`).
pub const ICON_DIR_ENV: &str = "IGOTCHUU_ICON_DIR";
/// One of the icons, to tell a directory that has them.
const ICON_PROBE: &str = "hicolor/scalable/status/com.nyantec.IGotChuu-idle.svg";

/// Starts the window. It runs on its own; a thread waits for it so that it
/// leaves no zombie, and exists only while the window does.
pub fn open_window() {
    let Some(gui) = find_gui() else {
        tracing::warn!(
            "cannot open the window: {GUI_BINARY} is neither next to the tray nor in PATH"
        );
        return;
    };
    match Command::new(&gui).stdin(Stdio::null()).spawn() {
        Ok(mut child) => {
            tracing::info!("opened the window ({})", gui.display());
            let spawned = std::thread::Builder::new()
                .name("igotchuu-gui wait".into())
                .spawn(move || {
                    if let Ok(status) = child.wait() {
                        if !status.success() {
                            tracing::warn!("the window exited with {status}");
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot wait for the window: {e}");
            }
        }
        Err(e) => tracing::warn!("cannot open the window ({}): {e}", gui.display()),
    }
}

/// `$IGOTCHUU_GUI`, else `igotchuu-gui` next to this binary (a build tree,
/// or the same `bin/`), else the first in `PATH`.
fn find_gui() -> Option<PathBuf> {
    if let Some(gui) = std::env::var_os(GUI_ENV).filter(|g| !g.is_empty()) {
        return Some(PathBuf::from(gui));
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(GUI_BINARY)))
        .filter(|p| is_executable(p));
    beside.or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join(GUI_BINARY))
            .find(|p| is_executable(p))
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The icon theme path to give hosts: `$IGOTCHUU_ICON_DIR`, else
/// `../share/icons` next to the binary, else the source tree's
/// `data/icons` (a development build). Empty when the icons are only in the
/// system's theme, where hosts look anyway.
pub fn icon_theme_path() -> String {
    if let Some(dir) = std::env::var_os(ICON_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).display().to_string();
    }
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share/icons")));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/icons");
    installed
        .into_iter()
        .chain([source])
        .find(|d| d.join(ICON_PROBE).is_file())
        .and_then(|d| d.canonicalize().ok())
        .map(|d| d.display().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_tree_has_the_icons() {
        // Without the variable, a development build finds data/icons.
        if std::env::var_os(ICON_DIR_ENV).is_none() {
            let path = icon_theme_path();
            assert!(Path::new(&path).join(ICON_PROBE).is_file(), "{path:?}");
        }
    }

    #[test]
    fn executables_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        assert!(!is_executable(&plain));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(is_executable(&plain));
        assert!(!is_executable(dir.path()), "a directory");
    }
}
