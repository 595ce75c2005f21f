//! The bus is the helper's window, not its lifeline: a backup survives its
//! bus dying under it, comes back when the bus does, and runs without any
//! bus at all, saying so once.

use igotchuu_dbus::Outcome;
use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::{block_on, have_root, wait};
use std::collections::BTreeMap;

#[test]
fn a_backup_survives_the_bus_dying() {
    if !have_root("a_backup_survives_the_bus_dying") {
        return;
    }
    let mut w = BusFixture::new(BusSetup::default());
    let base = w.fx.baseline();
    let recorder = SignalRecorder::start(&w.bus);
    w.fx.wrapper.hold(true);
    let run = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);
    recorder.wait_for("BackupStarted", wait::DEADLINE);

    let daemon = w.bus.kill();
    assert!(!wait::pid_alive(daemon));
    inv.release();
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
    assert!(
        done.stderr.contains("lost the system bus"),
        "the helper should say it lost the bus:\n{}",
        done.output()
    );
    let history = w.fx.env.history();
    assert_eq!(history.runs.len(), 1);
    assert_eq!(history.runs[0].outcome, Outcome::Completed);
    assert_eq!(w.fx.repo.snapshots().len(), 1);
    w.fx.assert_clean(&base, "a backup that lost its bus");
}

#[test]
fn the_helper_comes_back_when_the_bus_does() {
    if !have_root("the_helper_comes_back_when_the_bus_does") {
        return;
    }
    let mut w = BusFixture::new(BusSetup::default());
    // restic goes on for about 20 s after it is resumed: the helper, which
    // tries the bus again 3 s after it lost it, is back well before the end
    // of the backup phase even on a busy machine.
    w.slow_backup(20, 1024);
    w.fx.wrapper.pause_on_status(true);
    let run = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);
    inv.wait_paused(wait::DEADLINE);

    // The bus restarts while restic is paused.
    w.bus.kill();
    w.bus.restart();
    let recorder = SignalRecorder::start(&w.bus);
    inv.resume();

    // The next report finds the bus gone; the helper tries again 3 s later.
    let pid = block_on(async {
        let conn = w.bus.connect().await;
        w.bus
            .wait_owner(&conn, igotchuu_dbus::BUS_NAME, wait::DEADLINE)
            .await
            .1
    });
    assert_eq!(pid as i32, run.pid(), "the helper owns its name again");
    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    let (outcome, reason): (String, String) = fin.body();
    assert_eq!(outcome, "completed", "{reason}");
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
    assert_eq!(
        done.stderr.matches("lost the system bus").count(),
        1,
        "{}",
        done.output()
    );
    // Back on the bus, it said which phase the run was in.
    let phases: Vec<String> = recorder
        .signals()
        .iter()
        .filter(|r| r.member == "PropertiesChanged")
        .filter_map(|r| {
            let (_, changed, _): (
                String,
                std::collections::HashMap<String, zbus::zvariant::OwnedValue>,
                Vec<String>,
            ) = r.body();
            changed
                .get("Phase")
                .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
        })
        .collect();
    assert_eq!(
        phases.first().map(String::as_str),
        Some("backing-up"),
        "{phases:?}"
    );
}

#[test]
fn without_a_system_bus_the_backup_runs_with_one_warning() {
    if !have_root("without_a_system_bus_the_backup_runs_with_one_warning") {
        return;
    }
    // A helper env points at a bus socket that does not exist.
    let fx = Fixture::new(&["home"]);
    fx.write_files(&BTreeMap::from([("home/a.txt", "a\n")]));
    fx.env.write_spec(&fx.spec(&["home"]));
    let done = fx.env.run(&["backup"]);
    done.assert_code(exit::COMPLETED);
    let lines: Vec<&str> = done.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one line on stderr:\n{}",
        done.output()
    );
    assert!(
        lines[0].contains("WARN") && lines[0].contains("system bus"),
        "a warning about the bus: {}",
        lines[0]
    );
    assert_eq!(fx.env.history().runs[0].outcome, Outcome::Completed);
}
