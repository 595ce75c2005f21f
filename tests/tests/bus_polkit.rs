//! Who may stop a backup, decided by the real polkitd with the repository's
//! actions: root may; `nobody` may not (and may not own the name); a
//! polkit rule can let a group do it.

use std::process::Output;

use igotchuu_dbus::{errors, proxy, Outcome, ACTION_STOP, BUS_NAME, INTERFACE, OBJECT_PATH};
use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::helper::{exit, Running};
use igotchuu_e2e::polkit::{Rule, TempUser};
use igotchuu_e2e::sysbus::SystemBus;
use igotchuu_e2e::wrapper::Invocation;
use igotchuu_e2e::{block_on, have_root, wait};

const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
const INTERACTIVE_REQUIRED: &str = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `gdbus call … Stop` as `user`, with or without
/// ALLOW_INTERACTIVE_AUTHORIZATION.
fn stop_as(bus: &SystemBus, user: &str, interactive: bool) -> Output {
    let mut cmd = bus.command_as(user, "gdbus");
    cmd.args(["call", "--system", "--dest", BUS_NAME])
        .args(["--object-path", OBJECT_PATH])
        .args(["--method", &format!("{INTERFACE}.Stop")])
        .args(["--timeout", "30"]);
    if interactive {
        cmd.arg("--interactive");
    }
    cmd.output().expect("run gdbus call")
}

/// A backup held in the wrapper, with a recorder listening.
fn held_run(w: &BusFixture) -> (SignalRecorder, Running, Invocation) {
    let recorder = SignalRecorder::start(&w.bus);
    w.fx.wrapper.hold(true);
    let run = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);
    (recorder, run, inv)
}

/// The run was stopped over the bus: restic got SIGINT, the helper exited
/// 130 after BackupFinished("stopped"), and nothing was saved or left.
fn assert_stopped(w: &BusFixture, recorder: &SignalRecorder, run: Running, inv: &Invocation) {
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::STOPPED);
    assert_eq!(
        inv.signal().as_deref(),
        Some("INT"),
        "restic must be stopped with SIGINT"
    );
    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    let (outcome, reason): (String, String) = fin.body();
    assert_eq!(outcome, "stopped", "{reason}");
    recorder.wait_for("OperationFinished", wait::DEADLINE);
    let members = recorder.members();
    assert_eq!(
        members[members.len() - 2..],
        ["BackupFinished", "OperationFinished"]
    );
    assert!(
        w.fx.repo.snapshots().is_empty(),
        "a stopped run saved a snapshot"
    );
    assert!(w.fx.repo.locks().is_empty(), "stale repository lock");
    let history = w.fx.env.history();
    assert_eq!(history.runs.len(), 1);
    assert_eq!(history.runs[0].outcome, Outcome::Stopped);
}

#[test]
fn nobody_cannot_own_the_name_nor_stop_the_backup() {
    if !have_root("nobody_cannot_own_the_name_nor_stop_the_backup") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    let base = w.fx.baseline();
    let (recorder, run, inv) = held_run(&w);

    // The bus policy: only root may own the name.
    let out = w
        .bus
        .command_as("nobody", "dbus-send")
        .args(["--system", "--print-reply", "--dest=org.freedesktop.DBus"])
        .args(["/org/freedesktop/DBus", "org.freedesktop.DBus.RequestName"])
        .args([&format!("string:{BUS_NAME}"), "uint32:4"])
        .output()
        .unwrap();
    assert!(
        !out.status.success() && text(&out).contains(ACCESS_DENIED),
        "nobody could ask for the name: {}",
        text(&out)
    );

    // polkit: the actions allow nobody outside an active local session
    // (allow_any is "no"), and nobody has no session here: polkit says no
    // without a challenge, so the answer is AccessDenied whether or not the
    // call allows interactive authorization.
    for interactive in [false, true] {
        let out = stop_as(&w.bus, "nobody", interactive);
        assert!(
            !out.status.success()
                && text(&out).contains(ACCESS_DENIED)
                && text(&out).contains(
                    "is not authorized to stop the running backup \
                     (polkit action com.nyantec.igotchuu.stop)"
                ),
            "nobody's Stop (interactive: {interactive}) should be denied:\n{}\npolkitd:\n{}",
            text(&out),
            w.polkit.log()
        );
    }

    // The backup goes on and completes.
    assert!(recorder.members().iter().all(|m| m != "BackupFinished"));
    inv.release();
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    assert_eq!(fin.body::<(String, String)>().0, "completed");
    assert_eq!(inv.signal(), None, "restic was signalled");
    assert_eq!(w.fx.repo.snapshots().len(), 1);
    assert_eq!(w.fx.env.history().runs[0].outcome, Outcome::Completed);
    w.fx.assert_clean(&base, "a backup nobody tried to stop");
}

#[test]
fn roots_stop_stops_the_run() {
    if !have_root("roots_stop_stops_the_run") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    let base = w.fx.baseline();
    let (recorder, run, inv) = held_run(&w);

    block_on(async {
        let conn = w.bus.connect().await;
        let helper = proxy::running(&conn).await.unwrap().expect("a helper");
        helper.stop().await.expect("root may stop the backup");
    });
    assert_stopped(&w, &recorder, run, &inv);
    w.fx.assert_clean(&base, "a backup stopped over the bus");

    // With no run, Stop says so (the name is gone: nothing is activated).
    block_on(async {
        let conn = w.bus.connect().await;
        assert!(proxy::running(&conn).await.unwrap().is_none());
        let p = igotchuu_dbus::Igotchuu1Proxy::new(&conn).await.unwrap();
        match p.stop().await {
            Err(errors::Error::Fdo(zbus::fdo::Error::NameHasNoOwner(_))) => {}
            other => panic!("Stop with no helper: {other:?}"),
        }
    });
}

#[test]
fn a_polkit_rule_lets_a_group_stop_the_backup() {
    if !have_root("a_polkit_rule_lets_a_group_stop_the_backup") {
        return;
    }
    let user = TempUser::new();
    let w = BusFixture::new(BusSetup {
        rules: vec![Rule::allow_group(ACTION_STOP, &user.group)],
        ..BusSetup::default()
    });
    let base = w.fx.baseline();
    let (recorder, run, inv) = held_run(&w);

    // Not in the group: still refused.
    let out = stop_as(&w.bus, "nobody", true);
    assert!(text(&out).contains(ACCESS_DENIED), "{}", text(&out));
    assert!(inv.signal().is_none());

    // In the group: allowed, without a password.
    let out = stop_as(&w.bus, &user.user, false);
    assert!(
        out.status.success(),
        "{} (in {}) could not stop the backup: {}\npolkitd:\n{}",
        user.user,
        user.group,
        text(&out),
        w.polkit.log()
    );
    assert_stopped(&w, &recorder, run, &inv);
    w.fx.assert_clean(&base, "a backup stopped by a group member");
}

#[test]
fn a_password_challenge_needs_interactive_authorization() {
    if !have_root("a_password_challenge_needs_interactive_authorization") {
        return;
    }
    // As if nobody sat at the machine: polkit would ask for a password.
    let w = BusFixture::new(BusSetup {
        rules: vec![Rule {
            file_name: "50-igotchuu-e2e.rules".into(),
            text: format!(
                r#"polkit.addRule(function(action, subject) {{
    if (action.id == "{ACTION_STOP}" && subject.user == "nobody") {{
        return polkit.Result.AUTH_ADMIN;
    }}
}});
"#
            ),
        }],
        ..BusSetup::default()
    });
    let (recorder, run, inv) = held_run(&w);

    // Without ALLOW_INTERACTIVE_AUTHORIZATION: the caller is told to ask
    // again with it.
    let out = stop_as(&w.bus, "nobody", false);
    assert!(
        text(&out).contains(INTERACTIVE_REQUIRED)
            && text(&out).contains("authentication is required to stop the running backup"),
        "{}\npolkitd:\n{}",
        text(&out),
        w.polkit.log()
    );
    // With it, polkit finds no agent to ask the password with: denied.
    let out = stop_as(&w.bus, "nobody", true);
    assert!(
        !out.status.success() && text(&out).contains(ACCESS_DENIED),
        "{}",
        text(&out)
    );

    inv.release();
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    assert_eq!(fin.body::<(String, String)>().0, "completed");
}
