//! The D-Bus errors of `com.nyantec.igotchuu1`, by name and as a type.
//!
//! The helper returns [`Error`] from its methods; the [`proxy`](crate::proxy)
//! turns error replies back into it, so a client can `match` instead of
//! comparing strings. polkit's refusals are the standard
//! `org.freedesktop.DBus.Error.AccessDenied` and
//! `…InteractiveAuthorizationRequired`, carried as [`Error::Fdo`] with those
//! names, both ways.
//!
//! `DBusError` is implemented by hand: zbus's derive would send every
//! wrapped standard error under one generic name, and a client could no
//! longer tell "not allowed" from "something broke".

use zbus::message::{Header, Message};
use zbus::names::ErrorName;
use zbus::DBusError;

/// The prefix every igotchuu error name shares.
pub const PREFIX: &str = "com.nyantec.igotchuu1.Error";
/// `Start` while a backup runs.
pub const ALREADY_RUNNING: &str = "com.nyantec.igotchuu1.Error.AlreadyRunning";
/// `Stop` while no backup runs.
pub const NOT_RUNNING: &str = "com.nyantec.igotchuu1.Error.NotRunning";
/// What zbus calls an error that has no D-Bus name of its own.
const GENERIC: &str = "org.freedesktop.zbus.Error";

/// An error reply of `com.nyantec.igotchuu1`. Strings are sentences for
/// people.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// See [`ALREADY_RUNNING`].
    #[error("{ALREADY_RUNNING}: {0}")]
    AlreadyRunning(String),
    /// See [`NOT_RUNNING`].
    #[error("{NOT_RUNNING}: {0}")]
    NotRunning(String),
    /// A standard D-Bus error, under its own name: polkit's `AccessDenied`
    /// and `InteractiveAuthorizationRequired`, `ServiceUnknown`, `NoReply`.
    #[error(transparent)]
    Fdo(zbus::fdo::Error),
    /// Anything else: transport errors, unexpected replies.
    #[error(transparent)]
    ZBus(zbus::Error),
}

impl DBusError for Error {
    fn name(&self) -> ErrorName<'_> {
        match self {
            Self::AlreadyRunning(_) => ErrorName::from_static_str_unchecked(ALREADY_RUNNING),
            Self::NotRunning(_) => ErrorName::from_static_str_unchecked(NOT_RUNNING),
            Self::Fdo(e) => e.name(),
            Self::ZBus(zbus::Error::MethodError(name, ..)) => name.inner().clone(),
            Self::ZBus(_) => ErrorName::from_static_str_unchecked(GENERIC),
        }
    }

    fn description(&self) -> Option<&str> {
        match self {
            Self::AlreadyRunning(d) | Self::NotRunning(d) => Some(d),
            Self::Fdo(e) => e.description(),
            Self::ZBus(zbus::Error::MethodError(_, d, _)) => d.as_deref(),
            Self::ZBus(_) => None,
        }
    }

    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<Message> {
        if let Self::Fdo(e) = self {
            return e.create_reply(call);
        }
        let text = match self.description() {
            Some(d) => d.to_owned(),
            None => self.to_string(),
        };
        Message::error(call, self.name())?.build(&(text,))
    }
}

impl From<zbus::Error> for Error {
    fn from(e: zbus::Error) -> Self {
        if let zbus::Error::MethodError(name, desc, _) = &e {
            let desc = desc.clone().unwrap_or_default();
            match name.as_str() {
                ALREADY_RUNNING => return Self::AlreadyRunning(desc),
                NOT_RUNNING => return Self::NotRunning(desc),
                _ => {}
            }
        }
        zbus::fdo::Error::from(e).into()
    }
}

impl From<zbus::fdo::Error> for Error {
    fn from(e: zbus::fdo::Error) -> Self {
        match e {
            zbus::fdo::Error::ZBus(e) => Self::ZBus(e),
            e => Self::Fdo(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A method call to reply to.
    fn call() -> Message {
        Message::method_call(crate::OBJECT_PATH, "Stop")
            .unwrap()
            .destination(crate::BUS_NAME)
            .unwrap()
            .interface(crate::INTERFACE)
            .unwrap()
            .build(&())
            .unwrap()
    }

    /// What a client makes of `e` after it went over the wire.
    fn round_trip(e: &Error) -> (String, Error) {
        let reply = e.create_reply(&call().header()).unwrap();
        let name = reply.header().error_name().unwrap().to_string();
        (name, Error::from(zbus::Error::from(reply)))
    }

    #[test]
    fn names_match_the_constants() {
        assert_eq!(Error::AlreadyRunning(String::new()).name(), ALREADY_RUNNING);
        assert_eq!(Error::NotRunning(String::new()).name(), NOT_RUNNING);
        for name in [ALREADY_RUNNING, NOT_RUNNING] {
            assert!(name.starts_with(&format!("{PREFIX}.")));
            ErrorName::try_from(name).expect("a valid D-Bus error name");
        }
    }

    #[test]
    fn our_errors_come_back_as_themselves() {
        let (name, back) = round_trip(&Error::NotRunning("No backup is running.".into()));
        assert_eq!(name, NOT_RUNNING);
        assert!(matches!(back, Error::NotRunning(d) if d == "No backup is running."));

        let (name, back) = round_trip(&Error::AlreadyRunning("Busy.".into()));
        assert_eq!(name, ALREADY_RUNNING);
        assert!(matches!(back, Error::AlreadyRunning(d) if d == "Busy."));
    }

    #[test]
    fn polkit_refusals_keep_their_standard_names() {
        let denied = Error::Fdo(zbus::fdo::Error::AccessDenied("Not authorized.".into()));
        let (name, back) = round_trip(&denied);
        assert_eq!(name, "org.freedesktop.DBus.Error.AccessDenied");
        assert!(
            matches!(back, Error::Fdo(zbus::fdo::Error::AccessDenied(d)) if d == "Not authorized.")
        );

        let challenge = Error::Fdo(zbus::fdo::Error::InteractiveAuthorizationRequired(
            "Authentication is required.".into(),
        ));
        let (name, back) = round_trip(&challenge);
        assert_eq!(
            name,
            "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
        );
        assert!(matches!(
            back,
            Error::Fdo(zbus::fdo::Error::InteractiveAuthorizationRequired(_))
        ));
    }

    #[test]
    fn unknown_errors_keep_their_name() {
        let other = zbus::Error::from(
            Message::error(&call().header(), "org.example.Weird")
                .unwrap()
                .build(&("odd",))
                .unwrap(),
        );
        let e = Error::from(other);
        assert!(matches!(e, Error::ZBus(_)));
        assert_eq!(e.name(), "org.example.Weird");
        assert_eq!(e.description(), Some("odd"));
        assert!(matches!(
            Error::from(zbus::Error::InvalidReply),
            Error::ZBus(zbus::Error::InvalidReply)
        ));
    }
}
