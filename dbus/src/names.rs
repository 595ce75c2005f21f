/// Well-known name the helper owns on the system bus while a run is active.
pub const BUS_NAME: &str = "com.nyantec.IGotChuu";
/// Object path of the backup object.
pub const OBJECT_PATH: &str = "/com/nyantec/igotchuu";
/// The versioned interface name.
pub const INTERFACE: &str = "com.nyantec.igotchuu1";
/// polkit action checked before a running backup is stopped.
pub const ACTION_STOP: &str = "com.nyantec.igotchuu.stop";
/// polkit action checked before an on-demand backup is started.
pub const ACTION_START: &str = "com.nyantec.igotchuu.start";
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
        // The path is the name's, as D-Bus convention has it.
        assert_eq!(
            OBJECT_PATH.to_lowercase(),
            format!("/{}", BUS_NAME.replace('.', "/")).to_lowercase()
        );
        // The version is in the interface name: additions keep it, breaks bump it.
        assert!(INTERFACE.ends_with('1'));
        for action in [ACTION_START, ACTION_STOP] {
            assert!(action.starts_with("com.nyantec.igotchuu."), "{action}");
        }
        assert_ne!(ACTION_START, ACTION_STOP);
    }
}
