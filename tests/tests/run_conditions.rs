//! Run conditions, against UPower and NetworkManager as
//! `python3-dbusmock` serves them (their real names, paths, interfaces
//! and PropertiesChanged) on a private system bus, and the real helper,
//! restic and repositories:
//!
//! - a scheduled backup on battery is recorded as postponed and waits,
//!   holding neither the run lock nor the bus name, running nothing; once
//!   the machine is plugged in, the same process backs up, within seconds
//!   (a scheduled check likewise);
//! - a metered connection holds back a backup to a REST repository, not
//!   one to a local repository; `run_on_battery = true` lets it run;
//! - "Back up now" (Start on the bus) and `igotchuu backup` from a
//!   terminal run on battery, and say and record that they overrode it;
//!   one that completes while a postponed backup waits (activated by the
//!   bus, as the waiting one has no name) leaves it nothing to do;
//! - without UPower and NetworkManager (or any bus), backups run, also
//!   when UPower goes away while one waits; a UPower that never answers
//!   costs a scheduled backup 5 s, not its run;
//! - SIGTERM during the wait: exit 130, nothing left.

use std::time::{Duration, Instant};

use igotchuu_dbus::history::RunRecord;
use igotchuu_dbus::{Igotchuu1Proxy, Operation, Outcome, RunCondition, BUS_NAME};
use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::dbusmock::{self, metered, DbusMock};
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::helper::{exit, Running};
use igotchuu_e2e::repo::write_private;
use igotchuu_e2e::servers::{self, RestServer};
use igotchuu_e2e::{block_on, have_root, procs, wait};
use nix::sys::signal::Signal;
use zbus::proxy::CacheProperties;

/// Plugged in to running restic: a PropertiesChanged, not the 5-minute
/// re-check, must be what wakes the wait. The wait began well under
/// 4 minutes before, so waking within a minute can only be the signal.
const WAKE_LIMIT: Duration = Duration::from_secs(60);
/// How long a postponed run is watched doing nothing.
const IDLE_WATCH: Duration = Duration::from_secs(3);

fn fixture(activation: bool) -> BusFixture {
    BusFixture::new(BusSetup {
        activation,
        extra_policy: dbusmock::policy(),
        ..BusSetup::default()
    })
}

/// Adds top-level lines to the fixture's config.
fn configure(fx: &Fixture, lines: &[&str]) {
    let mut spec = fx.spec(&["home"]);
    spec.raw_top = lines.iter().map(|l| l.to_string()).collect();
    fx.env.write_spec(&spec);
}

/// Waits for the postponed record `run` writes; returns it.
fn wait_postponed(fx: &Fixture, run: &Running) -> RunRecord {
    wait::until("a postponed record", wait::DEADLINE, || {
        assert!(
            wait::pid_alive(run.pid()),
            "the helper ended before it recorded a postponed run:\n{}",
            run.stderr_so_far()
        );
        fx.env
            .history()
            .runs
            .into_iter()
            .find(|r| r.outcome == Outcome::Postponed)
    })
}

/// Waits until the postponed run has said so on the bus (it holds the
/// name for that long; a Start meanwhile would reach it, and be refused)
/// and given the name up.
fn wait_announced(bfx: &BusFixture, recorder: &SignalRecorder) {
    recorder.wait_for("OperationFinished", wait::DEADLINE);
    wait::until(
        "the postponed run to give the name up",
        wait::DEADLINE,
        || name_owner(bfx).is_none().then_some(()),
    );
}

/// Whether some process holds a lock on `path` (`/proc/locks`, by inode).
fn locked(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let inode = format!(":{}", meta.ino());
    std::fs::read_to_string("/proc/locks")
        .expect("/proc/locks")
        .lines()
        .any(|l| l.split_whitespace().any(|f| f.ends_with(&inode)))
}

/// The current owner of the helper's bus name, if any.
fn name_owner(bfx: &BusFixture) -> Option<String> {
    block_on(async {
        let conn = bfx.bus.connect().await;
        bfx.bus.owner(&conn, BUS_NAME).await
    })
}

/// A postponed run that waits: nothing runs, nothing is held. It holds
/// the name while it announces the postponement (after its record; each
/// step may take seconds on a busy machine), so that is waited for first.
fn assert_waits_holding_nothing(bfx: &BusFixture, recorder: &SignalRecorder, run: &Running) {
    wait_announced(bfx, recorder);
    std::thread::sleep(IDLE_WATCH);
    assert!(wait::pid_alive(run.pid()), "{}", run.stderr_so_far());
    assert!(
        bfx.fx.wrapper.invocations().is_empty(),
        "restic ran while postponed"
    );
    assert!(
        procs::descendants(run.pid()).is_empty(),
        "the waiting helper has children"
    );
    assert!(
        !locked(&bfx.fx.env.state_dir().join("lock")),
        "the waiting run holds the run lock"
    );
    assert_eq!(
        name_owner(bfx),
        None,
        "the waiting run took the bus name again"
    );
}

/// "Back up now": Start on the well-known name, which activates the
/// helper (root: polkit allows it).
fn start_on_the_bus(bfx: &BusFixture) {
    block_on(async {
        let conn = bfx.bus.connect().await;
        let p = Igotchuu1Proxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .unwrap();
        p.start().await.expect("root's Start is accepted");
    });
}

fn completed_runs(fx: &Fixture) -> Vec<RunRecord> {
    fx.env
        .history()
        .runs
        .into_iter()
        .filter(|r| r.outcome == Outcome::Completed)
        .collect()
}

/// The outcomes in the history, oldest first.
fn outcomes(bfx: &BusFixture) -> Vec<Outcome> {
    bfx.fx
        .env
        .history()
        .runs
        .iter()
        .map(|r| r.outcome)
        .collect()
}

#[test]
fn a_scheduled_backup_on_battery_waits_and_runs_once_plugged_in() {
    if !have_root("a_scheduled_backup_on_battery_waits_and_runs_once_plugged_in") {
        return;
    }
    let bfx = fixture(false);
    let upower = DbusMock::upower(&bfx.bus, true);
    let base = bfx.fx.baseline();
    let recorder = SignalRecorder::start(&bfx.bus);

    let run = bfx.fx.env.spawn(&["backup", "--scheduled"]);
    let record = wait_postponed(&bfx.fx, &run);
    // The desktop hears it: the operation began, and ended postponed.
    let finished = recorder.wait_for("OperationFinished", wait::DEADLINE);
    let (operation, outcome, reason): (String, String, String) = finished.body();
    assert_eq!(
        (operation.as_str(), outcome.as_str()),
        ("backup", "postponed")
    );
    assert_eq!(reason, record.reason);
    assert_eq!(
        recorder.members(),
        ["OperationStarted", "OperationFinished"],
        "a postponed backup sends nothing else"
    );
    assert_eq!(record.operation, Operation::Backup);
    assert_eq!(record.conditions, [RunCondition::OnBattery]);
    assert_eq!(
        record.reason,
        "Postponed: the computer runs on battery; the backup starts when it is plugged in."
    );
    assert_eq!(record.places, [bfx.fx.path("home").display().to_string()]);
    assert_eq!(record.profile, None);
    assert!(record.summary.is_none());
    // Everyone may see why (the desktop says so).
    let public = bfx.fx.env.public_history();
    assert_eq!(public.runs[0].outcome, Outcome::Postponed);
    assert_eq!(public.runs[0].conditions, [RunCondition::OnBattery]);
    assert!(upower.gets_of("OnBattery") >= 1, "{}", upower.calls());
    assert_waits_holding_nothing(&bfx, &recorder, &run);
    assert!(bfx.fx.repo.snapshots().is_empty());

    let plugged_in = Instant::now();
    upower.set_on_battery(false);
    bfx.fx.wrapper.wait_started(1, WAKE_LIMIT);
    let woke = plugged_in.elapsed();
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
    assert!(
        done.stdout
            .contains("Postponed: the computer runs on battery"),
        "{}",
        done.output()
    );
    eprintln!(
        "plugged in → restic started after {woke:?}; backup done {:?} after",
        plugged_in.elapsed()
    );
    let runs = bfx.fx.env.history().runs;
    let outcomes: Vec<Outcome> = runs.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Postponed, Outcome::Completed]);
    assert!(runs[1].conditions.is_empty(), "{:?}", runs[1]);
    assert_eq!(bfx.fx.repo.snapshots().len(), 1);
    assert_eq!(bfx.fx.wrapper.invocations().len(), 1);
    // The recorder stores on its own thread: the backup's OperationFinished
    // may land a moment after the helper exited.
    wait::until("the backup's OperationFinished", wait::DEADLINE, || {
        let finished = recorder
            .signals()
            .iter()
            .filter(|r| r.is("OperationFinished"))
            .count();
        (finished >= 2).then_some(())
    });
    let members = recorder.members();
    assert_eq!(
        members.iter().filter(|m| *m == "OperationStarted").count(),
        2,
        "{members:?}"
    );
    assert!(
        members.contains(&"BackupStarted".to_string()),
        "{members:?}"
    );
    assert_eq!(
        members.last().map(String::as_str),
        Some("OperationFinished")
    );
    bfx.fx.assert_clean(&base, "a postponed backup");
}

/// A REST repository (`rclone serve restic`) with the fixture's places.
fn rest_repository(bfx: &BusFixture) -> (RestServer, impl Fn() -> usize + '_) {
    let data = bfx.fx.env.scratch().join("served");
    std::fs::create_dir(&data).unwrap();
    let server = RestServer::start(&data);
    let password = bfx.fx.env.scratch().join("rest-password");
    write_private(&password, "rest password\n");
    let cache = bfx.fx.env.scratch().join("rest-cache");
    let url = server.url();
    igotchuu_e2e::run(&mut servers::restic(
        &url,
        &["init".into(), "-q".into()],
        &password,
        &cache,
    ));
    let mut spec = bfx.fx.spec(&["home"]);
    spec.repo = Some(url.clone());
    spec.password_file = Some(password.clone());
    bfx.fx.env.write_spec(&spec);
    let count = move || {
        let out = igotchuu_e2e::run(&mut servers::restic(
            &url,
            &["snapshots".into(), "--json".into()],
            &password,
            &cache,
        ));
        serde_json::from_str::<Vec<serde_json::Value>>(&out)
            .expect("restic snapshots --json")
            .len()
    };
    (server, count)
}

#[test]
fn a_metered_connection_holds_back_a_backup_to_a_network_repository() {
    if !have_root("a_metered_connection_holds_back_a_backup_to_a_network_repository") {
        return;
    }
    let bfx = fixture(false);
    let (_server, snapshots) = rest_repository(&bfx);
    let _upower = DbusMock::upower(&bfx.bus, false);
    // A phone's hotspot: NetworkManager guesses it is metered.
    let nm = DbusMock::network_manager(&bfx.bus, metered::GUESS_YES);
    let recorder = SignalRecorder::start(&bfx.bus);

    let run = bfx.fx.env.spawn(&["backup", "--scheduled"]);
    let record = wait_postponed(&bfx.fx, &run);
    assert_eq!(record.conditions, [RunCondition::Metered]);
    assert!(
        record
            .reason
            .starts_with("Postponed: the network connection is metered"),
        "{record:?}"
    );
    assert_waits_holding_nothing(&bfx, &recorder, &run);
    assert_eq!(snapshots(), 0);

    // Still metered, for sure now: it keeps waiting.
    nm.set_metered(metered::YES);
    std::thread::sleep(IDLE_WATCH);
    assert!(bfx.fx.wrapper.invocations().is_empty());

    let unmetered = Instant::now();
    nm.set_metered(metered::NO);
    bfx.fx.wrapper.wait_started(1, WAKE_LIMIT);
    eprintln!("not metered → restic after {:?}", unmetered.elapsed());
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    assert_eq!(snapshots(), 1);
    let outcomes = outcomes(&bfx);
    assert_eq!(outcomes, [Outcome::Postponed, Outcome::Completed]);
}

#[test]
fn a_metered_connection_does_not_hold_back_a_backup_to_a_local_repository() {
    if !have_root("a_metered_connection_does_not_hold_back_a_backup_to_a_local_repository") {
        return;
    }
    let bfx = fixture(false);
    let _upower = DbusMock::upower(&bfx.bus, false);
    let nm = DbusMock::network_manager(&bfx.bus, metered::YES);
    let done = bfx.fx.env.run(&["backup", "--scheduled"]);
    done.assert_code(exit::COMPLETED);
    let runs = bfx.fx.env.history().runs;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome, Outcome::Completed);
    assert!(runs[0].conditions.is_empty());
    assert_eq!(bfx.fx.repo.snapshots().len(), 1);
    assert_eq!(nm.gets_of("Metered"), 0, "{}", nm.calls());
}

#[test]
fn run_on_battery_lets_a_scheduled_backup_run_on_battery() {
    if !have_root("run_on_battery_lets_a_scheduled_backup_run_on_battery") {
        return;
    }
    let bfx = fixture(false);
    let upower = DbusMock::upower(&bfx.bus, true);
    configure(&bfx.fx, &["run_on_battery = true"]);
    let done = bfx.fx.env.run(&["backup", "--scheduled"]);
    done.assert_code(exit::COMPLETED);
    assert!(!done.stdout.contains("battery"), "{}", done.output());
    let runs = bfx.fx.env.history().runs;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome, Outcome::Completed);
    assert!(runs[0].conditions.is_empty(), "nothing was overridden");
    assert_eq!(upower.gets_of("OnBattery"), 0, "{}", upower.calls());
}

#[test]
fn back_up_now_on_battery_runs_and_says_it_overrides_the_condition() {
    if !have_root("back_up_now_on_battery_runs_and_says_it_overrides_the_condition") {
        return;
    }
    let bfx = fixture(true);
    let _upower = DbusMock::upower(&bfx.bus, true);
    let base = bfx.fx.baseline();

    start_on_the_bus(&bfx);
    let done = wait::until("the activated backup's record", wait::DEADLINE, || {
        let runs = completed_runs(&bfx.fx);
        (!runs.is_empty()).then_some(runs)
    });
    assert_eq!(
        done[0].conditions,
        [RunCondition::OnBattery],
        "the record says what it overrode"
    );
    let all = bfx.fx.env.history().runs;
    assert!(
        all.iter().all(|r| r.outcome != Outcome::Postponed),
        "{all:?}"
    );
    assert_eq!(bfx.fx.repo.snapshots().len(), 1);
    wait::until("the activated helper to exit", wait::DEADLINE, || {
        bfx.bus.activated().is_empty().then_some(())
    });
    let said = bfx.bus.services_stdout() + &bfx.bus.log();
    assert!(
        said.contains("runs now although the computer runs on battery"),
        "{said}"
    );

    // From a terminal.
    let done = bfx.fx.env.run(&["backup"]);
    done.assert_code(exit::COMPLETED);
    assert!(
        done.output()
            .contains("The backup runs now although the computer runs on battery"),
        "{}",
        done.output()
    );
    let runs = completed_runs(&bfx.fx);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].conditions, [RunCondition::OnBattery]);
    assert_eq!(bfx.fx.repo.snapshots().len(), 2);
    bfx.fx.assert_clean(&base, "backups by hand on battery");
}

#[test]
fn a_backup_by_hand_while_one_is_postponed_leaves_it_nothing_to_do() {
    if !have_root("a_backup_by_hand_while_one_is_postponed_leaves_it_nothing_to_do") {
        return;
    }
    let bfx = fixture(true);
    let upower = DbusMock::upower(&bfx.bus, true);
    let recorder = SignalRecorder::start(&bfx.bus);
    let waiting = bfx.fx.env.spawn(&["backup", "--scheduled"]);
    wait_postponed(&bfx.fx, &waiting);
    wait_announced(&bfx, &recorder);

    // "Back up now" while it waits: the bus activates a helper (the
    // waiting one holds no name), which backs up on battery.
    start_on_the_bus(&bfx);
    wait::until("the backup by hand", wait::DEADLINE, || {
        (!completed_runs(&bfx.fx).is_empty() && bfx.bus.activated().is_empty()).then_some(())
    });
    assert!(wait::pid_alive(waiting.pid()), "it waits for the power");
    upower.set_on_battery(false);
    let done = waiting.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
    assert!(
        done.stdout.contains("Nothing left to do"),
        "{}",
        done.output()
    );
    assert_eq!(bfx.fx.wrapper.invocations().len(), 1, "one restic backup");
    assert_eq!(bfx.fx.repo.snapshots().len(), 1);
    let outcomes = outcomes(&bfx);
    assert_eq!(outcomes, [Outcome::Postponed, Outcome::Completed]);
}

#[test]
fn without_upower_and_networkmanager_scheduled_backups_run() {
    if !have_root("without_upower_and_networkmanager_scheduled_backups_run") {
        return;
    }
    let bfx = fixture(false);
    // A network repository, so that NetworkManager would matter too.
    let (_server, snapshots) = rest_repository(&bfx);
    let started = Instant::now();
    bfx.fx
        .env
        .run(&["backup", "--scheduled"])
        .assert_code(exit::COMPLETED);
    eprintln!(
        "a scheduled backup with neither service took {:?}",
        started.elapsed()
    );
    assert_eq!(snapshots(), 1);
    // No system bus at all.
    bfx.fx.env.use_no_bus();
    bfx.fx
        .env
        .run(&["backup", "--scheduled"])
        .assert_code(exit::COMPLETED);
    assert_eq!(snapshots(), 2);
    let runs = bfx.fx.env.history().runs;
    assert!(
        runs.iter()
            .all(|r| r.outcome == Outcome::Completed && r.conditions.is_empty()),
        "{runs:?}"
    );
}

#[test]
fn sigterm_while_postponed_ends_the_wait_cleanly() {
    if !have_root("sigterm_while_postponed_ends_the_wait_cleanly") {
        return;
    }
    let bfx = fixture(false);
    let _upower = DbusMock::upower(&bfx.bus, true);
    let base = bfx.fx.baseline();
    let run = bfx.fx.env.spawn(&["backup", "--scheduled"]);
    wait_postponed(&bfx.fx, &run);
    let pid = run.pid();
    run.signal(Signal::SIGTERM);
    let stopped = Instant::now();
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::STOPPED);
    // At once, not at the 5-minute re-check (typically well under a second).
    assert!(
        stopped.elapsed() < Duration::from_secs(20),
        "{:?}",
        stopped.elapsed()
    );
    assert!(!wait::pid_alive(pid));
    assert!(bfx.fx.wrapper.invocations().is_empty());
    assert!(bfx.fx.repo.snapshots().is_empty());
    let outcomes = outcomes(&bfx);
    assert_eq!(outcomes, [Outcome::Postponed]);
    assert!(!bfx.fx.env.state_dir().join("journal.json").exists());
    assert!(!locked(&bfx.fx.env.state_dir().join("lock")));
    bfx.fx.assert_clean(&base, "SIGTERM while postponed");
}

#[test]
fn a_hung_upower_delays_a_scheduled_backup_by_seconds_only() {
    if !have_root("a_hung_upower_delays_a_scheduled_backup_by_seconds_only") {
        return;
    }
    let bfx = fixture(false);
    let upower = DbusMock::upower(&bfx.bus, true);
    // It owns the name and never answers: the bus queues the calls.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(upower.pid()), Signal::SIGSTOP)
        .expect("SIGSTOP the UPower mock");
    let started = Instant::now();
    let done = bfx.fx.env.run(&["backup", "--scheduled"]);
    let took = started.elapsed();
    done.assert_code(exit::COMPLETED);
    eprintln!("a scheduled backup with UPower hung took {took:?}");
    // It asked, waited its 5 s for an answer, and went on.
    assert!(took >= Duration::from_secs(5), "{took:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    let runs = bfx.fx.env.history().runs;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome, Outcome::Completed);
    assert!(runs[0].conditions.is_empty());
}

#[test]
fn a_scheduled_check_on_battery_waits_too() {
    if !have_root("a_scheduled_check_on_battery_waits_too") {
        return;
    }
    let bfx = fixture(false);
    let upower = DbusMock::upower(&bfx.bus, true);
    let recorder = SignalRecorder::start(&bfx.bus);
    let run = bfx.fx.env.spawn(&["check", "--scheduled"]);
    let record = wait_postponed(&bfx.fx, &run);
    assert_eq!(record.operation, Operation::Check);
    assert_eq!(record.conditions, [RunCondition::OnBattery]);
    assert_eq!(
        record.reason,
        "Postponed: the computer runs on battery; the repository check starts when it is \
         plugged in."
    );
    assert_waits_holding_nothing(&bfx, &recorder, &run);
    upower.set_on_battery(false);
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
    let runs: Vec<(Operation, Outcome)> = bfx
        .fx
        .env
        .history()
        .runs
        .iter()
        .map(|r| (r.operation, r.outcome))
        .collect();
    assert_eq!(
        runs,
        [
            (Operation::Check, Outcome::Postponed),
            (Operation::Check, Outcome::Completed)
        ]
    );
}

#[test]
fn a_postponed_backup_leaves_a_helper_waiting_for_start_alone() {
    if !have_root("a_postponed_backup_leaves_a_helper_waiting_for_start_alone") {
        return;
    }
    let bfx = fixture(true);
    let _upower = DbusMock::upower(&bfx.bus, true);
    let recorder = SignalRecorder::start(&bfx.bus);
    // A helper the bus activated, waiting for a Start call (someone may be
    // typing their password for "Back up now").
    let standby = block_on(async {
        let conn = bfx.bus.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
        let name = zbus::names::WellKnownName::try_from(BUS_NAME).unwrap();
        dbus.start_service_by_name(name, 0)
            .await
            .expect("the bus activates the helper");
        bfx.bus.wait_owner(&conn, BUS_NAME, wait::DEADLINE).await
    });

    let waiting = bfx.fx.env.spawn(&["backup", "--scheduled"]);
    wait_postponed(&bfx.fx, &waiting);
    std::thread::sleep(IDLE_WATCH);
    let owner = name_owner(&bfx);
    assert_eq!(
        owner.as_deref(),
        Some(standby.0.as_str()),
        "the postponed run took the name from the helper waiting for Start"
    );
    assert!(wait::pid_alive(standby.1 as i32));
    assert!(recorder.members().is_empty(), "{:?}", recorder.members());

    // Its Start still runs the backup.
    start_on_the_bus(&bfx);
    wait::until("the backup by hand", wait::DEADLINE, || {
        (!completed_runs(&bfx.fx).is_empty()).then_some(())
    });
    assert!(wait::pid_alive(waiting.pid()));
}

#[test]
fn upower_going_away_while_a_backup_waits_lets_it_run() {
    if !have_root("upower_going_away_while_a_backup_waits_lets_it_run") {
        return;
    }
    let bfx = fixture(false);
    let upower = DbusMock::upower(&bfx.bus, true);
    let run = bfx.fx.env.spawn(&["backup", "--scheduled"]);
    wait_postponed(&bfx.fx, &run);
    std::thread::sleep(IDLE_WATCH);
    assert!(bfx.fx.wrapper.invocations().is_empty());
    // UPower ends (killed): the bus says its name has no owner, and an
    // absent UPower holds nothing back.
    let gone = Instant::now();
    drop(upower);
    bfx.fx.wrapper.wait_started(1, WAKE_LIMIT);
    eprintln!("UPower gone → restic after {:?}", gone.elapsed());
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    assert_eq!(bfx.fx.repo.snapshots().len(), 1);
}
