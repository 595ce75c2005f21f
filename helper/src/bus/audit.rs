//! The audit trail: one line for every Start and Stop call, accepted or
//! refused, with who made it (uid and pid from the bus daemon, and the
//! unique bus name), what polkit said and what the caller was answered.
//!
//! The lines go to stderr (the journal, under systemd) at WARN, under the
//! target `audit`: the helper's default filter is `warn`, and an audit trail
//! that only shows with `-v` is none. `IGOTCHUU_LOG=warn,audit=off` hides
//! it.

use std::fmt;

use igotchuu_dbus::errors::Error as BackupError;
use zbus::DBusError;

use super::caller::Caller;

/// The tracing target of audit lines.
pub const TARGET: &str = "audit";

/// What came of asking polkit, or why it was not asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polkit {
    /// Refused before polkit: no run to stop, one running already, the
    /// helper leaving, or a caller the bus could not name.
    NotAsked,
    /// Refused before polkit: the caller, or everyone, has too many checks
    /// waiting (see `limits`).
    OverLimit,
    Allowed,
    Denied,
    /// polkit would want a password.
    Challenge,
    /// polkit failed.
    Error,
    /// polkit did not answer in time.
    TimedOut,
    /// The helper left while polkit was asked.
    Cancelled,
    /// No polkit on the bus: root is allowed.
    AbsentRoot,
    /// No polkit on the bus: everyone else is refused.
    AbsentDenied,
}

impl fmt::Display for Polkit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Polkit::NotAsked => "not-asked",
            Polkit::OverLimit => "over-limit",
            Polkit::Allowed => "allowed",
            Polkit::Denied => "denied",
            Polkit::Challenge => "challenge",
            Polkit::Error => "error",
            Polkit::TimedOut => "timed-out",
            Polkit::Cancelled => "cancelled",
            Polkit::AbsentRoot => "absent-root-allowed",
            Polkit::AbsentDenied => "absent-denied",
        })
    }
}

/// The line, without the level:
/// `audit: Start uid=65534 pid=4242 sender=:1.17 polkit=denied reply=org.freedesktop.DBus.Error.AccessDenied`.
pub fn line(
    method: &str,
    caller: &Caller,
    polkit: Polkit,
    reply: &Result<(), BackupError>,
) -> String {
    let reply = match reply {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.name().to_string(),
    };
    format!("audit: {method} {caller} polkit={polkit} reply={reply}")
}

/// Writes the audit line of one call.
pub fn record(method: &str, caller: &Caller, polkit: Polkit, reply: &Result<(), BackupError>) {
    tracing::warn!(target: TARGET, "{}", line(method, caller, polkit, reply));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nobody() -> Caller {
        Caller {
            name: ":1.17".into(),
            uid: Some(65534),
            pid: Some(4242),
        }
    }

    #[test]
    fn a_refusal_names_the_caller_polkit_and_the_error() {
        let denied = Err(BackupError::Fdo(zbus::fdo::Error::AccessDenied(
            "no".into(),
        )));
        assert_eq!(
            line("Start", &nobody(), Polkit::Denied, &denied),
            "audit: Start uid=65534 pid=4242 sender=:1.17 polkit=denied reply=org.freedesktop.DBus.Error.AccessDenied"
        );
        let over = Err(BackupError::Fdo(zbus::fdo::Error::LimitsExceeded(
            "x".into(),
        )));
        assert!(line("Stop", &nobody(), Polkit::OverLimit, &over)
            .ends_with("polkit=over-limit reply=org.freedesktop.DBus.Error.LimitsExceeded"));
        let busy = Err(BackupError::AlreadyRunning("x".into()));
        assert!(line("Start", &nobody(), Polkit::NotAsked, &busy)
            .ends_with("polkit=not-asked reply=com.nyantec.igotchuu1.Error.AlreadyRunning"));
    }

    #[test]
    fn an_accepted_call_says_ok() {
        let root = Caller {
            uid: Some(0),
            ..nobody()
        };
        assert_eq!(
            line("Stop", &root, Polkit::Allowed, &Ok(())),
            "audit: Stop uid=0 pid=4242 sender=:1.17 polkit=allowed reply=ok"
        );
    }
}
