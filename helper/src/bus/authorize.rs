//! polkit checks for the methods that change something. The subject is the
//! caller's unique bus name, never its PID (which can be recycled).
//!
//! Every check has a deadline: a person typing a password gets as long as
//! a client waits for its reply ([`AUTH_CALL_TIMEOUT`]), a check without
//! interaction [`CHECK_TIMEOUT`]. A check that runs out is cancelled in
//! polkitd too, so that its password dialog goes away.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use igotchuu_dbus::errors::Error as BackupError;
use igotchuu_dbus::proxy::AUTH_CALL_TIMEOUT;
use zbus::fdo;
use zbus::message::{Flags, Header};
use zbus::proxy::CacheProperties;
use zbus::Connection;
use zbus_polkit::policykit1::{AuthorityProxy, CheckAuthorizationFlags, Subject};

use super::audit::Polkit;
use super::caller::Caller;
use super::timeout::timeout;

/// A check that may not ask anyone: polkitd answers in milliseconds, and
/// a client that did not allow interaction waits libdbus's and GDBus's
/// default of 25 s for its reply, no longer.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(25);
/// How long the cancellation of a timed-out check may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// The deadline of a check, interactive or not.
pub fn deadline(interactive: bool) -> Duration {
    if interactive {
        AUTH_CALL_TIMEOUT
    } else {
        CHECK_TIMEOUT
    }
}

/// Asks polkit whether `caller`, the sender of `header`, may do `action`
/// (described for messages as `what`, e.g. "stop the running backup").
/// Returns polkit's answer for the audit log and the caller's reply.
pub async fn authorize(
    conn: &Connection,
    header: &Header<'_>,
    caller: &Caller,
    action: &str,
    what: &str,
) -> (Polkit, Result<(), BackupError>) {
    authorize_with(conn, header, caller, action, what, HashMap::new()).await
}

/// [`authorize`], with `details` that polkit's agent shows the person who
/// decides (e.g. which path a restore would overwrite), and rules see.
pub async fn authorize_with(
    conn: &Connection,
    header: &Header<'_>,
    caller: &Caller,
    action: &str,
    what: &str,
    details: HashMap<&str, &str>,
) -> (Polkit, Result<(), BackupError>) {
    let name = &caller.name;
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
    let subject = match Subject::new_for_message_header(header) {
        Ok(s) => s,
        Err(e) => {
            return (
                Polkit::Error,
                denied(format!("cannot identify {name}: {e}")),
            )
        }
    };
    let authority = match AuthorityProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
    {
        Ok(a) => a,
        Err(e) => return (Polkit::Error, Err(e.into())),
    };
    let cancellation = cancellation_id();
    let limit = deadline(interactive);
    let checked = timeout(
        limit,
        authority.check_authorization(&subject, action, &details, flags, &cancellation),
    )
    .await;
    match checked {
        Ok(Ok(r)) if r.is_authorized => (Polkit::Allowed, Ok(())),
        Ok(Ok(r)) if r.is_challenge && !interactive => (
            Polkit::Challenge,
            Err(BackupError::Fdo(
                fdo::Error::InteractiveAuthorizationRequired(format!(
                "authentication is required to {what}; call with interactive authorization allowed"
            )),
            )),
        ),
        Ok(Ok(r)) => (
            if r.is_challenge {
                Polkit::Challenge
            } else {
                Polkit::Denied
            },
            denied(format!(
                "{name} is not authorized to {what} (polkit action {action})"
            )),
        ),
        Ok(Err(e)) if polkit_absent(&e) => root_only(caller, what),
        Ok(Err(e)) => (
            Polkit::Error,
            denied(format!(
                "cannot check whether {name} may {what}: polkit failed: {e}"
            )),
        ),
        Err(_) => {
            let _ = timeout(
                CANCEL_TIMEOUT,
                authority.cancel_check_authorization(&cancellation),
            )
            .await;
            (
                Polkit::TimedOut,
                Err(BackupError::Fdo(fdo::Error::TimedOut(format!(
                    "polkit did not decide within {} s whether {name} may {what}",
                    limit.as_secs()
                )))),
            )
        }
    }
}

/// Unique among this helper's checks, as polkitd wants it per connection.
fn cancellation_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("igotchuu-{}", NEXT.fetch_add(1, Ordering::Relaxed))
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

/// Without polkit, only root may act (as udisks2 and fwupd do). The uid is
/// the one the bus daemon gave for the caller.
fn root_only(caller: &Caller, what: &str) -> (Polkit, Result<(), BackupError>) {
    match caller.uid {
        Some(0) => (Polkit::AbsentRoot, Ok(())),
        Some(uid) => (
            Polkit::AbsentDenied,
            denied(format!(
                "polkit is not running, so only root may {what}; {} is uid {uid}",
                caller.name
            )),
        ),
        None => (
            Polkit::AbsentDenied,
            denied(format!(
                "polkit is not running, so only root may {what}; cannot identify {}",
                caller.name
            )),
        ),
    }
}

fn denied(message: String) -> Result<(), BackupError> {
    Err(BackupError::Fdo(fdo::Error::AccessDenied(message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_gets_as_long_as_the_client_waits() {
        assert_eq!(deadline(true), AUTH_CALL_TIMEOUT);
        assert_eq!(deadline(false), CHECK_TIMEOUT);
        assert!(CHECK_TIMEOUT < AUTH_CALL_TIMEOUT);
    }

    #[test]
    fn cancellation_ids_differ() {
        assert_ne!(cancellation_id(), cancellation_id());
    }

    #[test]
    fn without_polkit_only_root() {
        let c = |uid| Caller {
            name: ":1.3".into(),
            uid,
            pid: Some(1),
        };
        assert_eq!(root_only(&c(Some(0)), "x").0, Polkit::AbsentRoot);
        let (p, r) = root_only(&c(Some(1000)), "start a backup");
        assert_eq!(p, Polkit::AbsentDenied);
        assert!(
            matches!(&r, Err(BackupError::Fdo(fdo::Error::AccessDenied(m))) if m.contains("uid 1000")),
            "{r:?}"
        );
        assert_eq!(root_only(&c(None), "x").0, Polkit::AbsentDenied);
    }
}
