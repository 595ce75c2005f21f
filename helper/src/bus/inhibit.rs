//! Holding off sleep and shutdown while a backup runs, through logind.

use zbus::zvariant::OwnedFd;
use zbus::Connection;

/// Takes a logind "block" inhibitor lock for sleep and shutdown. The lock
/// is held for as long as the returned fd is open. Without logind (a
/// container, a rescue shell) it logs that and returns `None`.
pub async fn sleep_and_shutdown(conn: &Connection) -> Option<OwnedFd> {
    let reply = conn
        .call_method(
            Some("org.freedesktop.login1"),
            "/org/freedesktop/login1",
            Some("org.freedesktop.login1.Manager"),
            "Inhibit",
            &("sleep:shutdown", "igotchuu", "A backup is running", "block"),
        )
        .await;
    match reply.and_then(|m| m.body().deserialize::<OwnedFd>()) {
        Ok(fd) => Some(fd),
        Err(e) => {
            tracing::warn!("not holding off sleep and shutdown during the backup: logind is not available ({e})");
            None
        }
    }
}
