//! "Back up now" and "Stop backup", and the calls of the backups page:
//! the snapshots, browsing them in the file manager, and restoring.
//!
//! Each may make polkit ask for a password, so they carry
//! ALLOW_INTERACTIVE_AUTHORIZATION and wait up to
//! [`AUTH_CALL_TIMEOUT`](igotchuu_dbus::proxy::AUTH_CALL_TIMEOUT) for the
//! reply: a person may be typing. Each call opens its own connection with
//! that timeout, so that a watcher's short timeout never cuts a password
//! prompt short. Errors come back as sentences for people.

use std::fmt;

use igotchuu_dbus::errors::Error as BusError;
use igotchuu_dbus::proxy::{self, AUTH_CALL_TIMEOUT};
use igotchuu_dbus::Igotchuu1Proxy;
use zbus::fdo::Error as Fdo;

use crate::i18n::{fill, gettext};

/// What was asked of the helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Start,
    Stop,
    /// The list of snapshots (Snapshots).
    Snapshots,
    /// Mounting them for the file manager (Browse).
    Browse,
    /// A copy into a folder the person chose (Restore).
    Restore,
    /// Over the original files (RestoreInPlace).
    RestoreInPlace,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&match self {
            Request::Start => gettext("Back up now"),
            Request::Stop => gettext("Stop backup"),
            Request::Snapshots => gettext("List the backups"),
            Request::Browse => gettext("Browse the backups"),
            Request::Restore => gettext("Restore files"),
            Request::RestoreInPlace => gettext("Restore over the original files"),
        })
    }
}

/// Why Start or Stop did not happen, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    /// polkit said no.
    NotAllowed(Request),
    /// polkit wanted a password, and no authentication agent could ask for it.
    AuthenticationNeeded(Request),
    NotRunning,
    AlreadyRunning,
    /// Nothing can start the helper: it is not installed for D-Bus activation.
    NoHelper,
    TimedOut,
    NoBus(String),
    /// Anything else, with the helper's or the bus's own words.
    Other(Request, String),
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Request::{Browse, Restore, RestoreInPlace, Snapshots, Start, Stop};
        let text = match self {
            ControlError::NotAllowed(Start) => gettext("You are not allowed to start backups"),
            ControlError::NotAllowed(Stop) => gettext("You are not allowed to stop backups"),
            ControlError::NotAllowed(Snapshots | Browse) => {
                gettext("You are not allowed to see the backups")
            }
            ControlError::NotAllowed(Restore) => gettext("You are not allowed to restore files"),
            ControlError::NotAllowed(RestoreInPlace) => {
                gettext("Only administrators may restore over the original files")
            }
            ControlError::AuthenticationNeeded(Start) => gettext(
                "You need to authenticate to start backups, but no authentication agent is running",
            ),
            ControlError::AuthenticationNeeded(Stop) => gettext(
                "You need to authenticate to stop backups, but no authentication agent is running",
            ),
            ControlError::AuthenticationNeeded(Snapshots | Browse) => gettext(
                "You need to authenticate to see the backups, but no authentication agent is running",
            ),
            ControlError::AuthenticationNeeded(Restore | RestoreInPlace) => gettext(
                "You need to authenticate to restore files, but no authentication agent is running",
            ),
            ControlError::NotRunning => gettext("No backup is running"),
            ControlError::AlreadyRunning => gettext("A backup is already running"),
            ControlError::NoHelper => gettext("The igotchuu backup helper is not installed"),
            ControlError::TimedOut => gettext("The backup helper did not answer in time"),
            ControlError::NoBus(e) => fill(
                // xgettext: {error} is the bus library's own message.
                &gettext("Cannot reach the system bus: {error}"),
                &[("error", e)],
            ),
            ControlError::Other(Start, e) => fill(
                // xgettext: {error} is the helper's or the bus's own message.
                &gettext("The backup helper could not start the backup: {error}"),
                &[("error", e)],
            ),
            ControlError::Other(Stop, e) => fill(
                // xgettext: {error} is the helper's or the bus's own message.
                &gettext("The backup helper could not stop the backup: {error}"),
                &[("error", e)],
            ),
            ControlError::Other(Snapshots, e) => fill(
                // xgettext: {error} is the helper's or the bus's own message.
                &gettext("The backup helper could not list the backups: {error}"),
                &[("error", e)],
            ),
            ControlError::Other(Browse, e) => fill(
                // xgettext: {error} is the helper's or the bus's own message.
                &gettext("The backup helper could not open the backups: {error}"),
                &[("error", e)],
            ),
            ControlError::Other(Restore | RestoreInPlace, e) => fill(
                // xgettext: {error} is the helper's or the bus's own message.
                &gettext("The backup helper could not restore the files: {error}"),
                &[("error", e)],
            ),
        };
        f.write_str(&text)
    }
}

impl std::error::Error for ControlError {}

/// Starts a backup now. This is the one call that may D-Bus-activate the
/// helper.
pub async fn start() -> Result<(), ControlError> {
    let conn = connect().await?;
    start_on(&conn).await
}

/// Stops the running backup. Never starts the helper.
pub async fn stop() -> Result<(), ControlError> {
    let conn = connect().await?;
    stop_on(&conn).await
}

/// [`start`] on a given connection; give it a long method timeout.
pub async fn start_on(conn: &zbus::Connection) -> Result<(), ControlError> {
    let proxy = Igotchuu1Proxy::builder(conn)
        // Reading no properties: nothing but Start may activate the helper.
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(|e| from_zbus(Request::Start, e))?;
    proxy.start().await.map_err(|e| from_bus(Request::Start, e))
}

/// [`stop`] on a given connection; give it a long method timeout.
pub async fn stop_on(conn: &zbus::Connection) -> Result<(), ControlError> {
    let proxy = proxy::running(conn)
        .await
        .map_err(|e| from_zbus(Request::Stop, e))?
        .ok_or(ControlError::NotRunning)?;
    proxy.stop().await.map_err(|e| from_bus(Request::Stop, e))
}

/// A connection of its own for browsing: the helper keeps the snapshots
/// mounted for as long as this caller browses, which it tells by the bus
/// name, so Browse and CloseBrowse go over the same connection.
#[derive(Debug, Clone)]
pub struct Browsing {
    conn: zbus::Connection,
}

impl Browsing {
    /// Asks the helper to mount the snapshots; returns the folder.
    pub async fn open() -> Result<(Browsing, String), ControlError> {
        let conn = connect().await?;
        let path = activating(&conn, Request::Browse)
            .await?
            .browse()
            .await
            .map_err(|e| from_bus(Request::Browse, e))?;
        Ok((Browsing { conn }, path))
    }

    /// Asks again on the same connection (the mount may have gone idle).
    pub async fn reopen(&self) -> Result<String, ControlError> {
        activating(&self.conn, Request::Browse)
            .await?
            .browse()
            .await
            .map_err(|e| from_bus(Request::Browse, e))
    }

    /// This window stops browsing. Never starts the helper; a helper that
    /// is gone has unmounted already.
    pub async fn close(&self) -> Result<(), ControlError> {
        let proxy = activating(&self.conn, Request::Browse).await?;
        match proxy.close_browse().await {
            Err(BusError::Fdo(Fdo::ServiceUnknown(_) | Fdo::NameHasNoOwner(_))) => Ok(()),
            other => other.map_err(|e| from_bus(Request::Browse, e)),
        }
    }
}

/// The repository's snapshots, newest first. May start the helper.
pub async fn snapshots() -> Result<Vec<igotchuu_dbus::SnapshotInfo>, ControlError> {
    let conn = connect().await?;
    activating(&conn, Request::Snapshots)
        .await?
        .snapshots()
        .await
        .map_err(|e| from_bus(Request::Snapshots, e))
}

/// Restores `path` of `snapshot` into the folder `target`, as the caller;
/// returns where the copy goes. The restore then runs as an operation.
pub async fn restore(snapshot: &str, path: &str, target: &str) -> Result<String, ControlError> {
    let conn = connect().await?;
    activating(&conn, Request::Restore)
        .await?
        .restore(snapshot, path, target)
        .await
        .map_err(|e| from_bus(Request::Restore, e))
}

/// Restores `path` of `snapshot` over the original files (administrators).
pub async fn restore_in_place(snapshot: &str, path: &str) -> Result<(), ControlError> {
    let conn = connect().await?;
    activating(&conn, Request::RestoreInPlace)
        .await?
        .restore_in_place(snapshot, path)
        .await
        .map_err(|e| from_bus(Request::RestoreInPlace, e))
}

/// A proxy that reads no properties, so that only its calls (which may)
/// start the helper.
async fn activating(
    conn: &zbus::Connection,
    request: Request,
) -> Result<Igotchuu1Proxy<'static>, ControlError> {
    Igotchuu1Proxy::builder(conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(|e| from_zbus(request, e))
}

async fn connect() -> Result<zbus::Connection, ControlError> {
    zbus::connection::Builder::system()
        .map_err(|e| ControlError::NoBus(e.to_string()))?
        .method_timeout(AUTH_CALL_TIMEOUT)
        .build()
        .await
        .map_err(|e| ControlError::NoBus(e.to_string()))
}

fn from_zbus(request: Request, e: zbus::Error) -> ControlError {
    from_bus(request, BusError::from(e))
}

fn from_bus(request: Request, e: BusError) -> ControlError {
    match e {
        BusError::AlreadyRunning(_) => ControlError::AlreadyRunning,
        BusError::NotRunning(_) => ControlError::NotRunning,
        BusError::Fdo(Fdo::AccessDenied(_)) => ControlError::NotAllowed(request),
        BusError::Fdo(Fdo::InteractiveAuthorizationRequired(_)) => {
            ControlError::AuthenticationNeeded(request)
        }
        // Start: no activation file. Stop: the helper left meanwhile.
        BusError::Fdo(Fdo::ServiceUnknown(_) | Fdo::NameHasNoOwner(_)) => match request {
            Request::Stop => ControlError::NotRunning,
            _ => ControlError::NoHelper,
        },
        BusError::Fdo(Fdo::NoReply(_) | Fdo::Timeout(_) | Fdo::TimedOut(_)) => {
            ControlError::TimedOut
        }
        BusError::ZBus(zbus::Error::InputOutput(io))
            if io.kind() == std::io::ErrorKind::TimedOut =>
        {
            ControlError::TimedOut
        }
        BusError::ZBus(zbus::Error::InputOutput(io)) => ControlError::NoBus(io.to_string()),
        BusError::Fdo(Fdo::IOError(msg)) => ControlError::NoBus(msg),
        other => ControlError::Other(request, description(&other)),
    }
}

/// The error's own words, without its D-Bus name when it has some.
fn description(e: &BusError) -> String {
    use zbus::DBusError;
    match e.description() {
        Some(d) if !d.is_empty() => d.to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_plain_words() {
        let denied = BusError::Fdo(Fdo::AccessDenied("Not authorized.".into()));
        let e = from_bus(Request::Stop, denied);
        assert_eq!(e, ControlError::NotAllowed(Request::Stop));
        assert_eq!(e.to_string(), "You are not allowed to stop backups");
        let denied = BusError::Fdo(Fdo::AccessDenied(String::new()));
        assert_eq!(
            from_bus(Request::Start, denied).to_string(),
            "You are not allowed to start backups"
        );
        let challenge = BusError::Fdo(Fdo::InteractiveAuthorizationRequired(String::new()));
        assert_eq!(
            from_bus(Request::Stop, challenge).to_string(),
            "You need to authenticate to stop backups, but no authentication agent is running"
        );
        assert_eq!(
            from_bus(Request::Stop, BusError::NotRunning("x".into())),
            ControlError::NotRunning
        );
        assert_eq!(
            from_bus(Request::Start, BusError::AlreadyRunning("x".into())).to_string(),
            "A backup is already running"
        );
        let unknown = BusError::Fdo(Fdo::ServiceUnknown("no .service file".into()));
        assert_eq!(from_bus(Request::Start, unknown), ControlError::NoHelper);
        let gone = BusError::Fdo(Fdo::ServiceUnknown(String::new()));
        assert_eq!(from_bus(Request::Stop, gone), ControlError::NotRunning);
        let slow = BusError::ZBus(zbus::Error::InputOutput(
            std::io::Error::from(std::io::ErrorKind::TimedOut).into(),
        ));
        assert_eq!(from_bus(Request::Start, slow), ControlError::TimedOut);
        let odd = BusError::Fdo(Fdo::Failed("restic is not installed".into()));
        assert_eq!(
            from_bus(Request::Start, odd).to_string(),
            "The backup helper could not start the backup: restic is not installed"
        );
    }

    #[test]
    fn the_backups_pages_refusals_say_what_was_refused() {
        let denied = || BusError::Fdo(Fdo::AccessDenied("Not authorized.".into()));
        assert_eq!(
            from_bus(Request::Snapshots, denied()).to_string(),
            "You are not allowed to see the backups"
        );
        assert_eq!(
            from_bus(Request::Browse, denied()).to_string(),
            "You are not allowed to see the backups"
        );
        assert_eq!(
            from_bus(Request::Restore, denied()).to_string(),
            "You are not allowed to restore files"
        );
        let bad = BusError::Fdo(Fdo::InvalidArgs("no such path in the snapshot".into()));
        assert_eq!(
            from_bus(Request::Restore, bad).to_string(),
            "The backup helper could not restore the files: no such path in the snapshot"
        );
        let unknown = BusError::Fdo(Fdo::ServiceUnknown(String::new()));
        assert_eq!(
            from_bus(Request::Snapshots, unknown),
            ControlError::NoHelper
        );
    }

    #[test]
    fn requests_name_the_menu_items() {
        assert_eq!(Request::Start.to_string(), "Back up now");
        assert_eq!(Request::Stop.to_string(), "Stop backup");
    }
}
