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
