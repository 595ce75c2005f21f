/// Well-known name the helper owns on the system bus while a run is active.
pub const BUS_NAME: &str = "com.nyantec.IGotChuu";
/// Object path of the backup object, with every detail: file names, the
/// places, reasons and item errors. The bus policy lets only root and the
/// members of [`ADMIN_GROUP`] read its properties and receive its signals.
pub const OBJECT_PATH: &str = "/com/nyantec/igotchuu";
/// Object path of the same interface for every other local user: the same
/// signals and properties, without a path, file name or error text in them
/// (see `dbus/com.nyantec.igotchuu1.xml`).
pub const PUBLIC_OBJECT_PATH: &str = "/com/nyantec/igotchuu/public";
/// Whether `path` is one of the helper's two objects. A client listens to
/// both: the bus policy lets it receive the signals of exactly one.
pub fn is_helper_object(path: &str) -> bool {
    path == OBJECT_PATH || path == PUBLIC_OBJECT_PATH
}

/// The group whose members see what root sees; meson's `admin_group`.
pub const ADMIN_GROUP: &str = match option_env!("IGOTCHUU_ADMIN_GROUP") {
    Some(group) => group,
    None => "sudo",
};
/// The versioned interface name.
pub const INTERFACE: &str = "com.nyantec.igotchuu1";
/// polkit action checked before a running backup is stopped.
pub const ACTION_STOP: &str = "com.nyantec.igotchuu.stop";
/// polkit action checked before an on-demand backup is started.
pub const ACTION_START: &str = "com.nyantec.igotchuu.start";
/// polkit action checked before the repository is mounted for browsing.
pub const ACTION_BROWSE: &str = "com.nyantec.igotchuu.browse";
/// polkit action checked before files are restored into a folder, as the caller.
pub const ACTION_RESTORE: &str = "com.nyantec.igotchuu.restore";
/// polkit action checked before files are restored over the originals, as root.
pub const ACTION_RESTORE_IN_PLACE: &str = "com.nyantec.igotchuu.restore-in-place";
/// Where the helper keeps its lock, journal and run history, unless
/// systemd's `StateDirectory=` hands it another one through `$STATE_DIRECTORY`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/igotchuu";

#[cfg(test)]
mod tests {
    use zbus::names::{InterfaceName, WellKnownName};
    use zbus::zvariant::ObjectPath;

    use super::*;

    #[test]
    fn names_are_valid_and_consistent() {
        WellKnownName::try_from(BUS_NAME).unwrap();
        InterfaceName::try_from(INTERFACE).unwrap();
        ObjectPath::try_from(OBJECT_PATH).unwrap();
        ObjectPath::try_from(PUBLIC_OBJECT_PATH).unwrap();
        assert!(PUBLIC_OBJECT_PATH.starts_with(OBJECT_PATH));
        // The path is the name's, as D-Bus convention has it.
        assert_eq!(
            OBJECT_PATH.to_lowercase(),
            format!("/{}", BUS_NAME.replace('.', "/")).to_lowercase()
        );
        // The version is in the interface name: additions keep it, breaks bump it.
        assert!(INTERFACE.ends_with('1'));
        for action in [
            ACTION_START,
            ACTION_STOP,
            ACTION_BROWSE,
            ACTION_RESTORE,
            ACTION_RESTORE_IN_PLACE,
        ] {
            assert!(action.starts_with("com.nyantec.igotchuu."), "{action}");
        }
        assert_ne!(ACTION_START, ACTION_STOP);
    }
}
