//! Opens a folder in the file manager: through the desktop portal's
//! OpenURI.OpenFile when `org.freedesktop.portal.Desktop` is on the session
//! bus (it picks the file manager, also in a sandbox), else with
//! `xdg-open`, else with GIO's default application for folders.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;

use gtk::gio;
use gtk::prelude::*;
use zbus::zvariant::{Fd, Value};

const PORTAL: &str = "org.freedesktop.portal.Desktop";
const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";
const OPEN_URI: &str = "org.freedesktop.portal.OpenURI";

/// Opens `folder`; says how, or why not, in the log. Returns an error for
/// the person when nothing could open it.
pub async fn open_folder(folder: &Path) -> Result<(), String> {
    match through_portal(folder).await {
        Ok(true) => {
            tracing::info!("opened {} through the desktop portal", folder.display());
            return Ok(());
        }
        Ok(false) => {}
        Err(e) => tracing::info!("the desktop portal did not open the folder: {e}"),
    }
    match gio::Subprocess::newv(
        &["xdg-open".as_ref(), folder.as_os_str()],
        gio::SubprocessFlags::NONE,
    ) {
        Ok(_) => {
            tracing::info!("opened {} with xdg-open", folder.display());
            Ok(())
        }
        Err(e) => {
            tracing::info!("no xdg-open ({e}); asking GIO for the default application");
            let uri = gio::File::for_path(folder).uri();
            gio::AppInfo::launch_default_for_uri(&uri, None::<&gio::AppLaunchContext>)
                .map_err(|e| e.to_string())
        }
    }
}

/// True if the portal took it; false if there is no portal.
async fn through_portal(folder: &Path) -> zbus::Result<bool> {
    let conn = zbus::Connection::session().await?;
    let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
    if !dbus.name_has_owner(PORTAL.try_into()?).await? {
        return Ok(false);
    }
    let fd: OwnedFd = std::fs::File::open(folder)?.into();
    let options: HashMap<&str, Value<'_>> = HashMap::new();
    conn.call_method(
        Some(PORTAL),
        PORTAL_PATH,
        Some(OPEN_URI),
        "OpenFile",
        &("", Fd::from(&fd), options),
    )
    .await?;
    Ok(true)
}
