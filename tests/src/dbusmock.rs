//! UPower and NetworkManager on a private system bus, served by
//! `python3-dbusmock`'s `upower` and `networkmanager` templates (their
//! real bus names, paths and interfaces), for the run conditions. Each
//! mock is killed with its process group on drop.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;
use zbus::zvariant::Value;

use crate::bounded::Spawned;
use crate::guarded::require_tool;
use crate::sysbus::{open_policy, SystemBus};
use crate::{block_on, wait};

/// Debian's python, which has the `dbusmock` module (a python first in
/// PATH, such as pyenv's, may not).
pub const PYTHON: &str = "/usr/bin/python3";

pub const UPOWER: &str = "org.freedesktop.UPower";
pub const UPOWER_PATH: &str = "/org/freedesktop/UPower";
pub const NETWORK_MANAGER: &str = "org.freedesktop.NetworkManager";
pub const NETWORK_MANAGER_PATH: &str = "/org/freedesktop/NetworkManager";

/// NetworkManager's `NMMetered` values.
pub mod metered {
    pub const UNKNOWN: u32 = 0;
    pub const YES: u32 = 1;
    pub const NO: u32 = 2;
    pub const GUESS_YES: u32 = 3;
    pub const GUESS_NO: u32 = 4;
}

/// Bus policy that lets root own both names and anyone call them: add it
/// to the bus's `extra_policy`.
pub fn policy() -> String {
    format!("{}\n{}", open_policy(UPOWER), open_policy(NETWORK_MANAGER))
}

/// A template served on a bus.
pub struct DbusMock {
    name: &'static str,
    path: &'static str,
    address: String,
    process: Spawned,
    dir: TempDir,
}

impl DbusMock {
    /// UPower, saying `OnBattery`.
    pub fn upower(bus: &SystemBus, on_battery: bool) -> Self {
        Self::start(
            bus,
            "upower",
            UPOWER,
            UPOWER_PATH,
            &format!(r#"{{"OnBattery": {on_battery}}}"#),
        )
    }

    /// NetworkManager, saying `Metered` (the template has no such
    /// property; it is added as NetworkManager has it, a `u`).
    pub fn network_manager(bus: &SystemBus, metered: u32) -> Self {
        let mock = Self::start(
            bus,
            "networkmanager",
            NETWORK_MANAGER,
            NETWORK_MANAGER_PATH,
            "{}",
        );
        mock.call(
            "org.freedesktop.DBus.Mock",
            "AddProperty",
            &(NETWORK_MANAGER, "Metered", Value::U32(metered)),
        );
        mock
    }

    fn start(
        bus: &SystemBus,
        template: &str,
        name: &'static str,
        path: &'static str,
        parameters: &str,
    ) -> Self {
        require_tool(PYTHON, "python3");
        let module = std::path::Path::new("/usr/lib/python3/dist-packages/dbusmock");
        require_tool(
            module.join("__init__.py").to_str().expect("UTF-8"),
            "python3-dbusmock",
        );
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-dbusmock-")
            .tempdir()
            .expect("temp dir");
        let log = dir.path().join("calls.log");
        let mut cmd = Command::new(PYTHON);
        cmd.args(["-m", "dbusmock", "--system", "--template", template])
            .arg("-l")
            .arg(&log)
            .args(["-p", parameters])
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address());
        let process = Spawned::start(&format!("dbusmock {template}"), cmd);
        let mock = DbusMock {
            name,
            path,
            address: bus.address().to_owned(),
            process,
            dir,
        };
        let conn = block_on(bus.connect());
        wait::until(&format!("dbusmock to own {name}"), wait::DEADLINE, || {
            assert!(
                wait::pid_alive(mock.pid()),
                "dbusmock {template} ended before it owned {name} (is {name} in the bus \
                 policy? see dbusmock::policy); bus log:\n{}",
                bus.log()
            );
            block_on(bus.owner(&conn, name)).map(|_| ())
        });
        mock
    }

    /// Calls `method` of `interface` on the main object; panics on an error.
    fn call<B>(&self, interface: &str, method: &str, body: &B)
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        block_on(async {
            let conn = zbus::connection::Builder::address(self.address.as_str())
                .expect("bus address")
                .method_timeout(wait::DEADLINE)
                .build()
                .await
                .expect("connect to the private bus");
            conn.call_method(Some(self.name), self.path, Some(interface), method, body)
                .await
                .unwrap_or_else(|e| panic!("{}.{method} on {}: {e}", interface, self.name));
        });
    }

    /// Sets a property of the main object's main interface with
    /// `org.freedesktop.DBus.Properties.Set`: the mock sends
    /// PropertiesChanged, as the real service does.
    pub fn set(&self, property: &str, value: Value<'_>) {
        self.call(
            "org.freedesktop.DBus.Properties",
            "Set",
            &(self.name, property, value),
        );
    }

    /// UPower: plugged in (false) or unplugged (true).
    pub fn set_on_battery(&self, on_battery: bool) {
        self.set("OnBattery", Value::Bool(on_battery));
    }

    /// NetworkManager: the connection's `NMMetered`.
    pub fn set_metered(&self, metered: u32) {
        self.set("Metered", Value::U32(metered));
    }

    /// The calls the mock got (its `-l` log), e.g. `Get … OnBattery`.
    pub fn calls(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// How many times the mock was asked for `property`.
    pub fn gets_of(&self, property: &str) -> usize {
        self.calls()
            .lines()
            .filter(|l| l.contains(" Get ") && l.contains(property))
            .count()
    }

    /// Waits until the mock was asked for `property` at least `n` times.
    pub fn wait_gets(&self, property: &str, n: usize, timeout: Duration) {
        wait::until(
            &format!("{} to be asked for {property} {n} times", self.name),
            timeout,
            || (self.gets_of(property) >= n).then_some(()),
        );
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("calls.log")
    }

    pub fn pid(&self) -> i32 {
        self.process.pid()
    }
}
