//! Holding off sleep and shutdown while a backup runs, through logind.

use std::time::Duration;

use zbus::zvariant::OwnedFd;
use zbus::Connection;

/// How long logind gets to answer. One that does not must not hold up the
/// backup: it runs without the lock.
const INHIBIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Takes a logind "block" inhibitor lock for sleep and shutdown. The lock
/// is held for as long as the returned fd is open. Without logind (a
/// container, a rescue shell), or when logind does not answer within
/// [`INHIBIT_TIMEOUT`], it logs that and returns `None`.
pub async fn sleep_and_shutdown(conn: &Connection, why: &str) -> Option<OwnedFd> {
    let body = ("sleep:shutdown", "igotchuu", why, "block");
    let call = conn.call_method(
        Some("org.freedesktop.login1"),
        "/org/freedesktop/login1",
        Some("org.freedesktop.login1.Manager"),
        "Inhibit",
        &body,
    );
    let Ok(reply) = tokio::time::timeout(INHIBIT_TIMEOUT, call).await else {
        tracing::warn!(
            "not holding off sleep and shutdown during the backup: logind did not answer within {} s",
            INHIBIT_TIMEOUT.as_secs()
        );
        return None;
    };
    match reply.and_then(|m| m.body().deserialize::<OwnedFd>()) {
        Ok(fd) => Some(fd),
        Err(e) => {
            tracing::warn!("not holding off sleep and shutdown during the backup: logind is not available ({e})");
            None
        }
    }
}
