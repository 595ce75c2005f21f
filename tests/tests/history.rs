//! `history.json`: one record per run, with the right outcome, and no
//! secret in it (nor anywhere in the state directory, nor on restic's
//! command line, which every user can read).

use std::collections::BTreeMap;

use igotchuu_dbus::Outcome;
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::repo::write_private;
use igotchuu_e2e::{have_root, wait};
use nix::sys::signal::Signal;

#[test]
fn history_has_one_record_per_run_and_no_secrets() {
    if !have_root("history_has_one_record_per_run_and_no_secrets") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    fx.write_files(&BTreeMap::from([("home/a.txt", "a\n")]));
    let home = fx.path("home").display().to_string();

    // Run 1 completes, with the password from a command.
    let good_command = format!("cat {}", fx.repo.password_file().display());
    let mut spec = fx.spec(&["home"]);
    spec.password_file = None;
    spec.password_command = Some(good_command.clone());
    fx.env.write_spec(&spec);
    fx.env.run(&["backup"]).assert_code(exit::COMPLETED);

    // Run 2 fails: the command gives a wrong password.
    let wrong_password = "e2e-wrong-password-7f3a";
    let wrong_file = fx.env.scratch().join("wrong");
    write_private(&wrong_file, &format!("{wrong_password}\n"));
    let wrong_command = format!("cat {}", wrong_file.display());
    spec.password_command = Some(wrong_command.clone());
    fx.env.write_spec(&spec);
    fx.env.run(&["backup"]).assert_code(exit::FAILED);

    // Run 3 is stopped while restic is about to run.
    spec.password_command = Some(good_command.clone());
    fx.env.write_spec(&spec);
    fx.wrapper.hold(true);
    let next = fx.wrapper.invocations().len() + 1;
    let run = fx.env.spawn(&["backup"]);
    fx.wrapper.wait_started(next, wait::DEADLINE);
    run.signal(Signal::SIGINT);
    run.wait(wait::DEADLINE).assert_code(exit::STOPPED);

    let history = fx.env.history();
    let outcomes: Vec<Outcome> = history.runs.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Completed, Outcome::Failed, Outcome::Stopped],
        "{history:#?}"
    );
    let mut previous_end = 0;
    for r in &history.runs {
        assert_eq!(r.places, [home.as_str()], "{r:?}");
        assert!(
            r.started_at <= r.finished_at && previous_end <= r.started_at,
            "times out of order: {history:#?}"
        );
        assert!(
            r.started_at > 1_600_000_000,
            "not seconds since the epoch: {r:?}"
        );
        previous_end = r.finished_at;
    }
    assert!(history.runs[0].summary.is_some());
    for r in &history.runs[1..] {
        assert!(r.summary.is_none(), "{r:?}");
        assert!(!r.reason.is_empty(), "no reason given: {r:?}");
    }

    // No secret anywhere in the state directory.
    let state = fx.env.state_text();
    for secret in [
        fx.repo.password(),
        wrong_password,
        good_command.as_str(),
        wrong_command.as_str(),
        fx.repo.location().to_str().unwrap(),
    ] {
        assert!(
            !state.contains(secret),
            "the state directory contains {secret:?}:\n{state}"
        );
    }
    // Nor on restic's command line.
    for inv in fx.wrapper.invocations() {
        let argv = inv.argv().join(" ");
        for secret in [fx.repo.password(), wrong_password] {
            assert!(
                !argv.contains(secret),
                "restic's argv has the password: {argv}"
            );
        }
    }
}
