//! D-Bus activation with the repository's activation file: a Start call
//! with no helper running starts `igotchuu serve`, which runs one backup
//! and exits; reading a property with NO_AUTO_START or calling Stop starts
//! nothing; a helper activated without a Start call goes away by itself.

use std::time::{Duration, Instant};

use igotchuu_dbus::{errors, proxy, Igotchuu1Proxy, Outcome, BUS_NAME, INTERFACE, OBJECT_PATH};
use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::sysbus::SystemBus;
use igotchuu_e2e::{block_on, have_root, procs, wait};
use zbus::proxy::{CacheProperties, MethodFlags};
use zbus::zvariant::OwnedValue;

/// The helper waits this long for Start after activation (IDLE_EXIT in
/// helper/src/commands/backup.rs), plus slack.
const IDLE_EXIT_LIMIT: Duration = Duration::from_secs(40);

fn activated_fixture() -> BusFixture {
    BusFixture::new(BusSetup {
        polkit: true,
        activation: true,
        ..BusSetup::default()
    })
}

/// How often the daemon has activated the helper so far.
fn activations(bus: &SystemBus) -> usize {
    bus.log()
        .matches(&format!("Activating service name='{BUS_NAME}'"))
        .count()
}

/// The helper's pid, checked to be `igotchuu serve` with the fixture's
/// config, started by the bus daemon.
fn activated_helper(w: &BusFixture, pid: u32) -> i32 {
    let pid = pid as i32;
    let cmdline = procs::cmdline(pid).unwrap_or_default();
    let config = w.fx.env.config_path().display().to_string();
    assert!(
        cmdline.contains(" serve") && cmdline.contains(&config),
        "the name's owner (pid {pid}) is not the activated helper: {cmdline}"
    );
    assert!(
        w.bus.activated().contains(&pid),
        "pid {pid} was not started by the bus"
    );
    pid
}

/// The crate's proxy on the well-known name, as the desktop uses it for
/// Start and Stop; no property cache, which would read with auto-start.
async fn well_known_proxy(conn: &zbus::Connection) -> Igotchuu1Proxy<'static> {
    Igotchuu1Proxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .unwrap()
}

#[test]
fn start_activates_a_helper_that_backs_up_once_and_exits() {
    if !have_root("start_activates_a_helper_that_backs_up_once_and_exits") {
        return;
    }
    let w = activated_fixture();
    let base = w.fx.baseline();
    let recorder = SignalRecorder::start(&w.bus);
    w.fx.wrapper.hold(true);
    assert_eq!(activations(&w.bus), 0);

    let pid = block_on(async {
        let conn = w.bus.connect().await;
        assert!(proxy::running(&conn).await.unwrap().is_none());
        // "Back up now", as the desktop sends it: to the well-known name,
        // which activates the helper.
        let p = well_known_proxy(&conn).await;
        p.start()
            .await
            .expect("Start activates the helper, which accepts it");
        let (_, pid) = w.bus.wait_owner(&conn, BUS_NAME, wait::DEADLINE).await;
        pid
    });
    assert_eq!(activations(&w.bus), 1);
    let pid = activated_helper(&w, pid);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);
    // The run is the activated helper's.
    assert_eq!(inv.ppid(), pid);
    inv.release();

    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    let (outcome, reason): (String, String) = fin.body();
    assert_eq!(outcome, "completed", "{reason}\nbus log:\n{}", w.bus.log());
    assert_eq!(recorder.members()[0], "BackupStarted");
    // And then it exits.
    assert!(
        wait::pid_gone_within(pid, wait::DEADLINE),
        "the activated helper still runs after its backup"
    );
    let history = w.fx.env.history();
    assert_eq!(history.runs.len(), 1, "{history:?}");
    assert_eq!(history.runs[0].outcome, Outcome::Completed);
    assert_eq!(w.fx.repo.snapshots().len(), 1);
    w.fx.assert_clean(&base, "an activated backup");

    // With no helper, reading a property with NO_AUTO_START and calling
    // Stop (which the proxy sends with NO_AUTO_START) start nothing.
    block_on(async {
        let conn = w.bus.connect().await;
        let props = zbus::Proxy::new(
            &conn,
            BUS_NAME,
            OBJECT_PATH,
            "org.freedesktop.DBus.Properties",
        )
        .await
        .unwrap();
        let got: zbus::Result<OwnedValue> = props
            .call_with_flags(
                "Get",
                MethodFlags::NoAutoStart.into(),
                &(INTERFACE, "Phase"),
            )
            .await
            .map(|v| v.expect("a reply"));
        assert!(
            matches!(&got, Err(zbus::Error::MethodError(name, _, _)) if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown" || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner"),
            "a NO_AUTO_START Get with no helper: {got:?}"
        );
        match well_known_proxy(&conn).await.stop().await {
            Err(errors::Error::Fdo(zbus::fdo::Error::NameHasNoOwner(_))) => {}
            other => panic!("Stop with no helper: {other:?}"),
        }
        // Give a wrongly started helper time to show up.
        async_io::Timer::after(Duration::from_secs(2)).await;
        assert!(proxy::running(&conn).await.unwrap().is_none());
    });
    assert_eq!(activations(&w.bus), 1, "bus log:\n{}", w.bus.log());
    assert!(w.bus.activated().is_empty());
    assert_eq!(w.fx.env.history().runs.len(), 1);
    assert_eq!(w.fx.wrapper.invocations().len(), 1);
}

#[test]
fn an_activated_helper_without_start_exits_on_its_own() {
    if !have_root("an_activated_helper_without_start_exits_on_its_own") {
        return;
    }
    let w = activated_fixture();
    let recorder = SignalRecorder::start(&w.bus);
    let started = Instant::now();
    let pid = block_on(async {
        let conn = w.bus.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
        // Activation without a call to the helper (as a Start call that
        // polkit then refuses would leave it).
        let name = zbus::names::WellKnownName::try_from(BUS_NAME).unwrap();
        dbus.start_service_by_name(name, 0)
            .await
            .expect("the bus activates the helper");
        let (_, pid) = w.bus.wait_owner(&conn, BUS_NAME, wait::DEADLINE).await;
        // It waits for Start: idle.
        let p = proxy::running(&conn).await.unwrap().expect("the helper");
        assert_eq!(p.phase().await.unwrap(), "idle");
        pid
    });
    let pid = activated_helper(&w, pid);
    assert!(
        wait::pid_gone_within(pid, IDLE_EXIT_LIMIT),
        "the activated helper still waits after {IDLE_EXIT_LIMIT:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(25),
        "it left after {waited:?}, before anyone could have called Start"
    );
    // It backed nothing up and said nothing.
    assert!(w.fx.wrapper.invocations().is_empty());
    assert!(w.fx.env.history().runs.is_empty());
    assert!(recorder.members().is_empty(), "{:?}", recorder.members());
}
