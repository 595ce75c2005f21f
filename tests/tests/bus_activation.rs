//! D-Bus activation with the repository's activation file: a Start call
//! with no helper running starts `igotchuu serve`, which runs one backup
//! and exits; reading a property with NO_AUTO_START or calling Stop starts
//! nothing; a helper activated without a Start call goes away by itself,
//! and one whose Start polkit refused at once.
//!
//! Anyone may have the helper activated, so an activated helper must not
//! stand in the way of a scheduled backup: it takes nothing until a Start
//! passed polkit, and gives its name up to a run. Two Start calls make one
//! run; a helper stays while polkit waits for a person's password; two runs
//! on one bus are one too many.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use igotchuu_dbus::{
    errors, proxy, Igotchuu1Proxy, Outcome, ACTION_START, BUS_NAME, INTERFACE, OBJECT_PATH,
};
use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::helper::{exit, HelperEnv};
use igotchuu_e2e::login1::{self, Login1};
use igotchuu_e2e::polkit::{Answer, PasswordAgent, Rule};
use igotchuu_e2e::sysbus::{open_policy, SystemBus};
use igotchuu_e2e::{block_on, have_root, procs, wait};
use zbus::proxy::{CacheProperties, MethodFlags};
use zbus::zvariant::OwnedValue;

/// The helper waits this long for Start after activation (IDLE_EXIT in
/// helper/src/bus/gate.rs), plus slack.
const IDLE_EXIT_LIMIT: Duration = Duration::from_secs(40);
/// IDLE_EXIT itself.
const IDLE_EXIT: Duration = Duration::from_secs(30);
/// Slack for telling "at once" from "after IDLE_EXIT" (see
/// [`before_idle_exit`]).
const IDLE_EXIT_MARGIN: Duration = Duration::from_secs(1);
/// `nobody`, who runs no session here.
const NOBODY: u32 = 65534;
const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";

fn activated_fixture() -> BusFixture {
    BusFixture::new(BusSetup {
        activation: true,
        ..BusSetup::default()
    })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The arguments of `gdbus call … Start` on the well-known name, which
/// activates the helper, allowing interactive authorization.
fn gdbus_start_args() -> Vec<String> {
    [
        "call",
        "--system",
        "--dest",
        BUS_NAME,
        "--object-path",
        OBJECT_PATH,
        "--method",
        &format!("{INTERFACE}.Start"),
        "--interactive",
        "--timeout",
        "600",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// How long is left before an activated helper asked for at `asked` could
/// leave by its idle time (IDLE_EXIT after it started, which was after
/// `asked`). Something done within it, such as the helper going away or a
/// run starting, did not wait for that. Typically it is done in well under
/// a second, leaving the rest as room for a busy machine.
fn before_idle_exit(asked: Instant) -> Duration {
    IDLE_EXIT
        .saturating_sub(IDLE_EXIT_MARGIN)
        .saturating_sub(asked.elapsed())
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
    assert_eq!(
        recorder.members()[..2],
        ["OperationStarted", "BackupStarted"]
    );
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
        // Activation without a call to the helper: anyone may ask the bus
        // for that.
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

#[test]
fn nobodys_start_runs_nothing_and_blocks_no_scheduled_backup() {
    if !have_root("nobodys_start_runs_nothing_and_blocks_no_scheduled_backup") {
        return;
    }
    let w = activated_fixture();
    let base = w.fx.baseline();
    // Anyone may send to the name, and so have the helper activated.
    let asked = Instant::now();
    let out = w
        .bus
        .command_as("nobody", "gdbus")
        .args(gdbus_start_args())
        .output()
        .expect("run gdbus");
    assert!(
        !out.status.success()
            && text(&out).contains(ACCESS_DENIED)
            && text(&out).contains("is not authorized to start a backup"),
        "nobody's Start: {}\npolkitd:\n{}",
        text(&out),
        w.polkit.log()
    );
    assert_eq!(activations(&w.bus), 1, "bus log:\n{}", w.bus.log());
    let helpers = w.bus.activated();

    // The timer's backup, right away: the refused helper holds no lock and
    // no name it would not give up.
    let done = w.fx.env.run(&["backup"]);
    done.assert_code(exit::COMPLETED);

    // The refused helper left once the backup took its name, not after
    // its idle time.
    for pid in helpers {
        assert!(
            wait::pid_gone_within(pid, before_idle_exit(asked)),
            "the activated helper (pid {pid}) still runs {:?} after it was asked for",
            asked.elapsed()
        );
    }
    assert!(w.bus.activated().is_empty());
    // It ran nothing: the one backup is the scheduled one.
    let invocations = w.fx.wrapper.invocations();
    assert_eq!(invocations.len(), 1);
    let history = w.fx.env.history();
    assert_eq!(history.runs.len(), 1, "{history:?}");
    assert_eq!(history.runs[0].outcome, Outcome::Completed);
    w.fx.assert_clean(&base, "a refused Start and a backup");
}

#[test]
fn a_backup_takes_the_name_from_an_idle_activated_helper() {
    if !have_root("a_backup_takes_the_name_from_an_idle_activated_helper") {
        return;
    }
    let w = activated_fixture();
    let asked = Instant::now();
    let standby = block_on(async {
        let conn = w.bus.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
        // Activated, and no Start: idle, owning the name.
        let name = zbus::names::WellKnownName::try_from(BUS_NAME).unwrap();
        dbus.start_service_by_name(name, 0)
            .await
            .expect("the bus activates the helper");
        w.bus.wait_owner(&conn, BUS_NAME, wait::DEADLINE).await.1
    });
    let standby = activated_helper(&w, standby);

    w.fx.wrapper.hold(true);
    let run = w.fx.env.spawn(&["backup"]);
    // At once, not once the idle helper has given up.
    let inv = w.fx.wrapper.wait_started(1, before_idle_exit(asked));
    assert_eq!(inv.ppid(), run.pid(), "the scheduled backup runs restic");
    assert!(
        wait::pid_gone_within(standby, before_idle_exit(asked)),
        "the idle helper still runs after a backup took its name"
    );
    block_on(async {
        let conn = w.bus.connect().await;
        let (_, owner) = w.bus.wait_owner(&conn, BUS_NAME, wait::DEADLINE).await;
        assert_eq!(owner as i32, run.pid(), "the backup owns the name");
        // Start now reaches the running backup.
        match well_known_proxy(&conn).await.start().await {
            Err(errors::Error::AlreadyRunning(_)) => {}
            other => panic!("Start during a backup: {other:?}"),
        }
    });
    inv.release();
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    assert_eq!(w.fx.wrapper.invocations().len(), 1);
    assert_eq!(w.fx.env.history().runs.len(), 1);
}

#[test]
fn two_start_calls_make_one_run() {
    if !have_root("two_start_calls_make_one_run") {
        return;
    }
    let w = activated_fixture();
    let recorder = SignalRecorder::start(&w.bus);
    w.fx.wrapper.hold(true);
    let (first, second) = block_on(async {
        let (a, b) = (w.bus.connect().await, w.bus.connect().await);
        let (a, b) = (well_known_proxy(&a).await, well_known_proxy(&b).await);
        // Both wait for the same activation, and reach the helper together.
        futures_lite::future::zip(a.start(), b.start()).await
    });
    let ok = [&first, &second].iter().filter(|r| r.is_ok()).count();
    let busy = [&first, &second]
        .iter()
        .filter(|r| matches!(r, Err(errors::Error::AlreadyRunning(_))))
        .count();
    assert_eq!(
        (ok, busy),
        (1, 1),
        "one Start is accepted, the other is AlreadyRunning: {first:?}, {second:?}"
    );
    assert_eq!(activations(&w.bus), 1);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);
    inv.release();
    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    assert_eq!(fin.body::<(String, String)>().0, "completed");
    let pid = inv.ppid();
    assert!(wait::pid_gone_within(pid, wait::DEADLINE));
    assert_eq!(w.fx.wrapper.invocations().len(), 1, "one run");
    assert_eq!(w.fx.env.history().runs.len(), 1);
    assert_eq!(
        recorder
            .members()
            .iter()
            .filter(|m| *m == "BackupStarted")
            .count(),
        1
    );
}

#[test]
fn a_start_waiting_for_a_password_keeps_the_helper_until_it_is_typed() {
    if !have_root("a_start_waiting_for_a_password_keeps_the_helper_until_it_is_typed") {
        return;
    }
    // As for a person in a desktop session: polkit asks for a password.
    let w = BusFixture::new(BusSetup {
        activation: true,
        rules: vec![Rule {
            file_name: "50-igotchuu-e2e.rules".into(),
            text: format!(
                r#"polkit.addRule(function(action, subject) {{
    if (action.id == "{ACTION_START}" && subject.user == "nobody") {{
        return polkit.Result.AUTH_ADMIN;
    }}
}});
"#
            ),
        }],
        ..BusSetup::default()
    });
    let recorder = SignalRecorder::start(&w.bus);
    // The client, as nobody: it waits for a line, so that the agent can be
    // registered for its process first; then it becomes gdbus.
    let mut client = Command::new("sh")
        .arg("-c")
        .arg(r#"read -r _ && exec gdbus "$@""#)
        .arg("sh")
        .args(gdbus_start_args())
        .env("DBUS_SYSTEM_BUS_ADDRESS", w.bus.address())
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    let agent = PasswordAgent::for_process(&w.bus, client.id() as i32);
    writeln!(client.stdin.take().unwrap()).expect("let the client go");

    let request = agent.wait_request(wait::DEADLINE);
    assert_eq!(request.action_id, ACTION_START);
    let helper = block_on(async {
        let conn = w.bus.connect().await;
        w.bus.wait_owner(&conn, BUS_NAME, wait::DEADLINE).await.1
    });
    let helper = activated_helper(&w, helper);
    // The person takes longer than the helper's idle time to type.
    assert!(
        !wait::pid_gone_within(helper, IDLE_EXIT + Duration::from_secs(5)),
        "the helper left while polkit waited for a password"
    );
    assert!(w.fx.wrapper.invocations().is_empty(), "nothing runs yet");

    agent.answer(Answer::Authenticate);
    let out = client.wait_with_output().expect("wait for gdbus");
    assert!(
        out.status.success(),
        "Start, authorized late: {}\npolkitd:\n{}",
        text(&out),
        w.polkit.log()
    );
    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    assert_eq!(fin.body::<(String, String)>().0, "completed");
    assert!(wait::pid_gone_within(helper, wait::DEADLINE));
    assert_eq!(w.fx.wrapper.invocations()[0].ppid(), helper);
    assert_eq!(w.fx.env.history().runs.len(), 1);
    assert_eq!(agent.requests().len(), 1);
}

#[test]
fn a_stop_right_after_start_stops_the_run() {
    if !have_root("a_stop_right_after_start_stops_the_run") {
        return;
    }
    // logind does not answer: the accepted run waits a few seconds for its
    // inhibitor lock before its first phase.
    let w = BusFixture::new(BusSetup {
        activation: true,
        extra_policy: open_policy(login1::BUS_NAME),
        ..BusSetup::default()
    });
    let base = w.fx.baseline();
    let logind = Login1::never_answering(&w.bus);
    let recorder = SignalRecorder::start(&w.bus);
    block_on(async {
        let conn = w.bus.connect().await;
        well_known_proxy(&conn)
            .await
            .start()
            .await
            .expect("root may start a backup");
        let helper = proxy::running(&conn).await.unwrap().expect("the helper");
        assert_eq!(helper.phase().await.unwrap(), "idle");
        helper
            .stop()
            .await
            .expect("a Stop between Start and the first phase stops the run");
    });
    // The stand-in records on a thread of its own, and the run may ask for
    // its lock after Stop was answered.
    logind.wait_call(wait::DEADLINE);
    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    let (outcome, reason): (String, String) = fin.body();
    assert_eq!(outcome, "stopped", "{reason}");
    assert!(w.fx.wrapper.invocations().is_empty(), "restic never ran");
    assert!(w.fx.repo.snapshots().is_empty());
    assert_eq!(w.fx.env.history().runs[0].outcome, Outcome::Stopped);
    block_on(async {
        let conn = w.bus.connect().await;
        let start = Instant::now();
        while w.bus.owner(&conn, BUS_NAME).await.is_some() {
            assert!(start.elapsed() < wait::DEADLINE, "the helper did not exit");
            async_io::Timer::after(wait::POLL).await;
        }
    });
    assert_eq!(logind.calls().len(), 1, "one inhibitor lock asked for");
    w.fx.assert_clean(&base, "a run stopped before it began");
}

#[test]
fn a_second_backup_on_the_bus_says_so_and_touches_nothing() {
    if !have_root("a_second_backup_on_the_bus_says_so_and_touches_nothing") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    w.fx.wrapper.hold(true);
    let first = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);
    let during = w.fx.baseline();

    // Another helper with a state directory of its own, so its run lock is
    // free: only the name on the bus tells it that a run is in progress.
    let other = HelperEnv::new(&w.fx.wrapper);
    other.write_spec(&w.fx.spec(&["home"]));
    other.use_bus(w.bus.address());
    let done = other.run(&["backup"]);
    done.assert_code(exit::BUSY);
    assert!(
        done.stderr.contains("another igotchuu backup is running"),
        "{}",
        done.output()
    );
    // No snapshot, no restic, no journal, no history.
    assert_eq!(w.fx.fs.list_subvolumes(), during.subvolumes);
    assert_eq!(w.fx.wrapper.invocations().len(), 1);
    let state: Vec<String> = std::fs::read_dir(other.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lock")
        .collect();
    assert!(state.is_empty(), "the refused run wrote {state:?}");
    block_on(async {
        let conn = w.bus.connect().await;
        let (_, owner) = w.bus.wait_owner(&conn, BUS_NAME, wait::DEADLINE).await;
        assert_eq!(owner as i32, first.pid(), "the first run keeps the name");
    });

    inv.release();
    first.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    assert_eq!(w.fx.repo.snapshots().len(), 1);
    assert_eq!(w.fx.env.history().runs.len(), 1);
}
