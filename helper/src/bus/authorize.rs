//! polkit checks for the methods that change something. The subject is the
//! caller's unique bus name, never its PID (which can be recycled).

use std::collections::HashMap;

use zbus::message::{Flags, Header};
use zbus::Connection;
use zbus_polkit::policykit1::{AuthorityProxy, CheckAuthorizationFlags, Subject};

use igotchuu_dbus::errors::Error as BackupError;
use zbus::fdo;

/// Asks polkit whether the sender of `header` may do `action` (described
/// for messages as `what`, e.g. "stop the running backup").
pub async fn authorize(
    conn: &Connection,
    header: &Header<'_>,
    action: &str,
    what: &str,
) -> Result<(), BackupError> {
    let caller = header
        .sender()
        .map_or_else(|| "an unknown caller".to_owned(), |s| s.to_string());
    // Only ask for a password when the caller said a person is waiting.
    let interactive = header
        .primary()
        .flags()
        .contains(Flags::AllowInteractiveAuth);
    let flags = if interactive {
        CheckAuthorizationFlags::AllowUserInteraction.into()
    } else {
        Default::default()
    };
    let subject = Subject::new_for_message_header(header)
        .map_err(|e| denied(format!("cannot identify {caller}: {e}")))?;
    let authority = AuthorityProxy::new(conn).await?;
    match authority
        .check_authorization(&subject, action, &HashMap::new(), flags, "")
        .await
    {
        Ok(r) if r.is_authorized => Ok(()),
        Ok(r) if r.is_challenge && !interactive => Err(BackupError::Fdo(
            fdo::Error::InteractiveAuthorizationRequired(format!(
                "authentication is required to {what}; call with interactive authorization allowed"
            )),
        )),
        Ok(_) => Err(denied(format!(
            "{caller} is not authorized to {what} (polkit action {action})"
        ))),
        Err(e) if polkit_absent(&e) => root_only(conn, header, &caller, what).await,
        Err(e) => Err(denied(format!(
            "cannot check whether {caller} may {what}: polkit failed: {e}"
        ))),
    }
}

fn polkit_absent(e: &zbus::Error) -> bool {
    matches!(
        e,
        zbus::Error::FDO(f) if matches!(
            **f,
            zbus::fdo::Error::ServiceUnknown(_) | zbus::fdo::Error::NameHasNoOwner(_)
        )
    ) || matches!(e, zbus::Error::MethodError(name, _, _)
        if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
            || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner")
}

/// Without polkit, only root may act (as udisks2 and fwupd do).
async fn root_only(
    conn: &Connection,
    header: &Header<'_>,
    caller: &str,
    what: &str,
) -> Result<(), BackupError> {
    let sender = header
        .sender()
        .ok_or_else(|| denied("the call has no sender".into()))?;
    let dbus = zbus::fdo::DBusProxy::new(conn).await?;
    let uid = dbus
        .get_connection_unix_user(sender.clone().into())
        .await
        .map_err(|e| denied(format!("cannot identify {caller}: {e}")))?;
    if uid == 0 {
        Ok(())
    } else {
        Err(denied(format!(
            "polkit is not running, so only root may {what}; {caller} is uid {uid}"
        )))
    }
}

fn denied(message: String) -> BackupError {
    BackupError::Fdo(fdo::Error::AccessDenied(message))
}
