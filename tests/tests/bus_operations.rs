//! Operations on the bus: every operation is bracketed by OperationStarted
//! and OperationFinished; only backups send the seed's signals; a backup
//! with a retention policy is followed by a forget in the same run. One
//! run lock covers them all: an operation that finds it taken waits its
//! turn without the bus name, and takes the name once the holder is gone.

use std::time::Duration;

use igotchuu_dbus::{Operation, Outcome, BUS_NAME};
use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::{block_on, have_root, wait};

/// The signals that bracket operations and backups, in order.
const BRACKETS: [&str; 5] = [
    "OperationStarted",
    "BackupStarted",
    "BackupComplete",
    "BackupFinished",
    "OperationFinished",
];

/// The pid of the current owner of the helper's name, if any.
fn name_owner_pid(address: &str) -> Option<u32> {
    block_on(async {
        let conn = zbus::connection::Builder::address(address)
            .expect("address")
            .build()
            .await
            .expect("connect");
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.expect("proxy");
        dbus.get_connection_unix_process_id(BUS_NAME.try_into().unwrap())
            .await
            .ok()
    })
}

#[test]
fn every_operation_is_bracketed_and_only_backups_send_the_seed_signals() {
    if !have_root("every_operation_is_bracketed_and_only_backups_send_the_seed_signals") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    let mut spec = w.fx.spec(&["home"]);
    spec.raw_top = vec!["keep_last = 3".into()];
    w.fx.env.write_spec(&spec);
    let recorder = SignalRecorder::start(&w.bus);

    w.fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    w.fx.env.run(&["check"]).assert_code(exit::COMPLETED);
    wait::until("the check's OperationFinished", wait::DEADLINE, || {
        let finished = recorder
            .signals()
            .into_iter()
            .filter(|r| r.is("OperationFinished"))
            .count();
        (finished == 3).then_some(())
    });

    let signals = recorder.signals();
    let brackets: Vec<String> = signals
        .iter()
        .filter(|r| BRACKETS.iter().any(|b| r.is(b)))
        .map(|r| match r.member.as_str() {
            "OperationStarted" => format!("OperationStarted({})", r.body::<String>()),
            "OperationFinished" => {
                let (op, outcome, _reason): (String, String, String) = r.body();
                format!("OperationFinished({op}, {outcome})")
            }
            m => m.to_owned(),
        })
        .collect();
    assert_eq!(
        brackets,
        [
            "OperationStarted(backup)",
            "BackupStarted",
            "BackupComplete",
            "BackupFinished",
            "OperationFinished(backup, completed)",
            "OperationStarted(forget)",
            "OperationFinished(forget, completed)",
            "OperationStarted(check)",
            "OperationFinished(check, completed)",
        ]
    );
    // Nothing of the seed's after the backup: a seed client hears backups
    // exactly as before, and nothing else.
    let backup_end = signals.iter().position(|r| r.is("BackupFinished")).unwrap();
    let seed_after: Vec<&str> = signals[backup_end + 1..]
        .iter()
        .filter(|r| {
            ["Progress", "Error", "BackupStarted", "BackupComplete"]
                .iter()
                .any(|m| r.is(m))
        })
        .map(|r| r.member.as_str())
        .collect();
    assert!(
        seed_after.is_empty(),
        "seed signals outside a backup: {seed_after:?}"
    );
    // Each OperationFinished has a reason for people.
    for r in signals.iter().filter(|r| r.is("OperationFinished")) {
        let (_, _, reason): (String, String, String) = r.body();
        assert!(
            !reason.trim().is_empty(),
            "an OperationFinished without a reason"
        );
    }
    let history = w.fx.env.history();
    let ops: Vec<(Operation, Outcome)> = history
        .runs
        .iter()
        .map(|r| (r.operation, r.outcome))
        .collect();
    assert_eq!(
        ops,
        [
            (Operation::Backup, Outcome::Completed),
            (Operation::Forget, Outcome::Completed),
            (Operation::Check, Outcome::Completed),
        ]
    );
}

#[test]
fn an_operation_waits_its_turn_without_the_name_then_takes_it() {
    if !have_root("an_operation_waits_its_turn_without_the_name_then_takes_it") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    let recorder = SignalRecorder::start(&w.bus);
    w.fx.wrapper.hold(true);
    let backup = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);
    let holder = backup.pid() as u32;
    assert_eq!(name_owner_pid(w.bus.address()), Some(holder));

    let check = w.fx.env.spawn(&["check"]);
    wait::until("the check to say it waits", wait::DEADLINE, || {
        check
            .stderr_so_far()
            .to_lowercase()
            .contains("wait")
            .then_some(())
    });
    // It waits without the name: the backup's clients are not disturbed.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(name_owner_pid(w.bus.address()), Some(holder));
    assert!(
        !recorder
            .signals()
            .iter()
            .any(|r| r.is("OperationStarted") && r.body::<String>() == "check"),
        "the check started while the backup held the lock"
    );

    inv.release();
    backup.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    // Once the backup is gone the check runs, and publishes under the name.
    let done = check.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
    let check_finished = || -> Vec<(String, String, String)> {
        recorder
            .signals()
            .iter()
            .filter(|r| r.is("OperationFinished"))
            .map(|r| r.body())
            .filter(|(op, _, _): &(String, String, String)| op == "check")
            .collect()
    };
    // The recorder stores on its own thread: the signal may land a moment
    // after the check has exited.
    let checks = wait::until("the check's OperationFinished", wait::DEADLINE, || {
        Some(check_finished()).filter(|c| !c.is_empty())
    });
    assert_eq!(
        checks.len(),
        1,
        "the check was heard more than once: {:?}",
        recorder.members()
    );
    assert_eq!(checks[0].1, "completed");
    let ops: Vec<Operation> =
        w.fx.env
            .history()
            .runs
            .iter()
            .map(|r| r.operation)
            .collect();
    assert_eq!(ops, [Operation::Backup, Operation::Check]);

    // With wait_timeout = 0 it does not wait: busy at once.
    let mut spec = w.fx.spec(&["home"]);
    spec.raw_top = vec!["wait_timeout = 0".into()];
    w.fx.env.write_spec(&spec);
    let backup = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(2, wait::DEADLINE);
    let busy = w.fx.env.run(&["check"]);
    busy.assert_code(exit::BUSY);
    inv.release();
    backup.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
}
