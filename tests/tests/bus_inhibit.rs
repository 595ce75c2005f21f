//! Sleep and shutdown are held off while a backup runs: the helper takes a
//! logind inhibitor lock (here from a stand-in for logind on the private
//! bus) before the run starts and holds its fd until the run has ended and
//! said so. Without logind, or with one that does not answer, the backup
//! runs all the same, and says once that nothing holds off sleep.

use std::time::{Duration, Instant};

use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::login1::{self, Login1};
use igotchuu_e2e::sysbus::open_policy;
use igotchuu_e2e::{have_root, wait};

#[test]
fn the_inhibitor_is_held_from_the_start_to_the_end_of_the_run() {
    if !have_root("the_inhibitor_is_held_from_the_start_to_the_end_of_the_run") {
        return;
    }
    let w = BusFixture::new(BusSetup {
        extra_policy: open_policy(login1::BUS_NAME),
        ..BusSetup::default()
    });
    let logind = Login1::start(&w.bus);
    let recorder = SignalRecorder::start(&w.bus);
    w.fx.wrapper.hold(true);
    let run = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);

    let call = logind.wait_call(wait::DEADLINE);
    assert_eq!(
        (call.what.as_str(), call.who.as_str(), call.mode.as_str()),
        ("sleep:shutdown", "igotchuu", "block")
    );
    assert!(!call.why.is_empty());
    // Taken before the run started …
    let started = recorder.wait_for("BackupStarted", wait::DEADLINE);
    assert!(call.at < started.at, "Inhibit came after BackupStarted");
    // … and held while restic runs.
    assert_eq!(
        call.released_at(),
        None,
        "the lock was let go during the run"
    );

    inv.release();
    call.wait_released(wait::DEADLINE);
    // Everything the helper sent before it answered a ping after the lock
    // went is in: BackupFinished must be among it.
    let before_release = recorder.after_barrier(&call.sender);
    let members: Vec<_> = before_release
        .iter()
        .filter(|r| r.interface == igotchuu_dbus::INTERFACE)
        .map(|r| r.member.as_str())
        .collect();
    assert_eq!(
        members[members.len().saturating_sub(2)..],
        ["BackupFinished", "OperationFinished"],
        "the lock went before the run had ended: {members:?}"
    );
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    assert_eq!(logind.calls().len(), 1, "one lock per run");
}

#[test]
fn without_logind_the_backup_runs_and_says_so_once() {
    if !have_root("without_logind_the_backup_runs_and_says_so_once") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    let recorder = SignalRecorder::start(&w.bus);
    let done = w.fx.env.run(&["backup"]);
    done.assert_code(exit::COMPLETED);
    let about_logind: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("logind"))
        .collect();
    assert_eq!(
        about_logind.len(),
        1,
        "one line about logind:\n{}",
        done.output()
    );
    assert!(
        about_logind[0].contains("sleep"),
        "it says what is not held off: {}",
        about_logind[0]
    );
    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    assert_eq!(fin.body::<(String, String)>().0, "completed");
}

#[test]
fn a_logind_that_never_answers_does_not_hold_up_the_backup() {
    if !have_root("a_logind_that_never_answers_does_not_hold_up_the_backup") {
        return;
    }
    let w = BusFixture::new(BusSetup {
        extra_policy: open_policy(login1::BUS_NAME),
        ..BusSetup::default()
    });
    let logind = Login1::never_answering(&w.bus);
    let recorder = SignalRecorder::start(&w.bus);
    let started = Instant::now();
    // A helper that waited for ever would be killed after wait::DEADLINE.
    let done = w.fx.env.run(&["backup"]);
    let took = started.elapsed();
    done.assert_code(exit::COMPLETED);
    assert_eq!(logind.calls().len(), 1, "the helper asked logind once");
    let about_logind: Vec<&str> = done
        .stderr
        .lines()
        .filter(|l| l.contains("logind"))
        .collect();
    assert!(
        about_logind.len() == 1
            && about_logind[0].contains("sleep")
            && about_logind[0].contains("did not answer"),
        "one warning that logind did not answer:\n{}",
        done.output()
    );
    // It gave logind a few seconds, not the backup's time.
    assert!(
        took < Duration::from_secs(30),
        "the backup took {took:?} with a silent logind"
    );
    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    assert_eq!(fin.body::<(String, String)>().0, "completed");
}
