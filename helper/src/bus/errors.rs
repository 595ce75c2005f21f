//! The errors the helper's methods return on the bus.

use zbus::DBusError;

/// Errors of `com.nyantec.igotchuu1`. Authorization failures use the
/// standard `org.freedesktop.DBus.Error.*` names, through the `ZBus` variant.
#[derive(Debug, DBusError)]
#[zbus(prefix = "com.nyantec.igotchuu1.Error")]
pub enum BackupError {
    #[zbus(error)]
    ZBus(zbus::Error),
    /// Stop was called, but no backup is running.
    NotRunning(String),
    /// Start was called while a backup runs (or just finished).
    AlreadyRunning(String),
}

impl BackupError {
    pub fn access_denied(message: String) -> Self {
        BackupError::ZBus(zbus::Error::FDO(Box::new(zbus::fdo::Error::AccessDenied(
            message,
        ))))
    }

    pub fn interactive_authorization_required(message: String) -> Self {
        BackupError::ZBus(zbus::Error::FDO(Box::new(
            zbus::fdo::Error::InteractiveAuthorizationRequired(message),
        )))
    }
}
