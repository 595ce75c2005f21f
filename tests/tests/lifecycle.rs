//! How runs end: restic failing, SIGINT, SIGTERM, SIGKILL, and a second
//! run while one is going. Whatever happens, no snapshot, mount or restic
//! process may remain, and a killed run's snapshots are cleaned up next time.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use igotchuu_dbus::Outcome;
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::repo::{write_private, RESTIC};
use igotchuu_e2e::wrapper::Invocation;
use igotchuu_e2e::{have_root, snapshots, wait};
use nix::sys::signal::Signal;

/// How long restic may outlive a SIGKILLed helper (parent-death signal).
const ORPHAN_GRACE: Duration = Duration::from_secs(10);

fn fixture_with_home() -> Fixture {
    let fx = Fixture::new(&["home"]);
    fx.write_files(&BTreeMap::from([
        ("home/a.txt", "a\n"),
        ("home/b/c.txt", "c\n"),
    ]));
    fx.env.write_spec(&fx.spec(&["home"]));
    fx
}

fn assert_restic_gone_now(inv: &Invocation, after: &str) {
    let pid = inv.pid().expect("restic pid");
    assert!(
        !wait::pid_alive(pid),
        "restic (pid {pid}) still runs after {after}"
    );
}

#[test]
fn a_restic_failure_fails_the_run_and_cleans_up() {
    if !have_root("a_restic_failure_fails_the_run_and_cleans_up") {
        return;
    }
    let fx = fixture_with_home();
    let wrong = fx.env.scratch().join("wrong-password");
    write_private(&wrong, "not the password\n");
    let mut spec = fx.spec(&["home"]);
    spec.password_file = Some(wrong);
    fx.env.write_spec(&spec);
    let base = fx.baseline();

    let done = fx.env.run(&["backup"]);
    done.assert_code(exit::FAILED);
    assert!(
        done.stdout
            .contains("FAILED: restic could not open the repository: wrong password."),
        "the helper did not pass on restic's reason (wrong password):\n{}",
        done.output()
    );
    // restic's own words: a plain line on stderr, which the helper logs,
    // before 0.18; an `exit_error` message (exit code 12) from 0.18.
    if !RESTIC.version().at_least(0, 18, 0) {
        assert!(
            done.stderr.contains("restic: Fatal: wrong password"),
            "the helper did not log restic's reason:\n{}",
            done.output()
        );
    }
    for inv in fx.wrapper.invocations() {
        assert_restic_gone_now(&inv, "the helper ended");
    }
    fx.assert_clean(&base, "a failed backup");
    assert!(fx.repo.snapshots().is_empty());

    let history = fx.env.history();
    assert_eq!(history.runs.len(), 1, "{history:?}");
    assert_eq!(history.runs[0].outcome, Outcome::Failed);
    assert!(!history.runs[0].reason.is_empty());
}

/// Stops a run held in the wrapper with `sig`, and checks it ends as stopped.
fn stop_with(test: &str, sig: Signal) {
    if !have_root(test) {
        return;
    }
    let fx = fixture_with_home();
    let base = fx.baseline();
    fx.wrapper.hold(true);

    let run = fx.env.spawn(&["backup"]);
    let inv = fx.wrapper.wait_started(1, wait::DEADLINE);
    let during = snapshots::added(&base.subvolumes, &fx.fs.list_subvolumes());
    assert_eq!(during.len(), 1, "{during:?}");
    run.signal(sig);
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::STOPPED);
    assert_restic_gone_now(&inv, &format!("the helper ended on {sig}"));
    assert_eq!(
        inv.signal().as_deref(),
        Some("INT"),
        "the helper must stop restic with SIGINT (restic < 0.17 leaves a stale \
         lock on SIGTERM)"
    );
    fx.assert_clean(&base, &format!("{sig}"));
    assert!(fx.repo.snapshots().is_empty());
    assert_eq!(
        fx.repo.locks(),
        Vec::<String>::new(),
        "stale repository lock"
    );

    let history = fx.env.history();
    assert_eq!(history.runs.len(), 1, "{history:?}");
    assert_eq!(history.runs[0].outcome, Outcome::Stopped);
}

#[test]
fn sigint_stops_restic_and_cleans_up() {
    stop_with("sigint_stops_restic_and_cleans_up", Signal::SIGINT);
}

#[test]
fn sigterm_stops_restic_and_cleans_up() {
    stop_with("sigterm_stops_restic_and_cleans_up", Signal::SIGTERM);
}

/// SIGKILLs a run held in the wrapper; returns the stale snapshot's path
/// (relative to the filesystem) and subvolume id.
fn kill_a_run(fx: &Fixture, base: &[String]) -> (String, u64) {
    fx.wrapper.hold(true);
    let run = fx.env.spawn(&["backup"]);
    let inv = fx.wrapper.wait_started(1, wait::DEADLINE);
    let during = snapshots::added(base, &fx.fs.list_subvolumes());
    assert_eq!(during.len(), 1, "{during:?}");
    let stale = during[0].clone();
    let stale_id = snapshots::subvolume_id(&fx.path(&stale));

    // restic must not hold the run's lock, or it would outlive the run.
    let lock = fx.env.state_dir().join("lock");
    let fds = inv.inherited_fds();
    assert!(
        !fds.iter().any(|f| f.starts_with(&*lock.to_string_lossy())),
        "restic inherited the lock file: {fds:?}"
    );
    let journal = std::fs::read_to_string(fx.env.state_dir().join("journal.json"))
        .expect("no journal.json while a run holds a snapshot");
    let stale_name = stale.rsplit('/').next().unwrap();
    assert!(
        journal.contains(stale_name),
        "journal.json does not name {stale_name}: {journal}"
    );

    run.signal(Signal::SIGKILL);
    let done = run.wait(wait::DEADLINE);
    assert_eq!(
        done.status.signal(),
        Some(libc::SIGKILL),
        "{}",
        done.output()
    );
    let pid = inv.pid().expect("restic pid");
    assert!(
        wait::pid_gone_within(pid, ORPHAN_GRACE),
        "restic (pid {pid}) outlived its SIGKILLed helper: no parent-death signal?"
    );
    assert_eq!(
        inv.signal().as_deref(),
        Some("INT"),
        "restic's parent-death signal must be SIGINT, on which restic removes \
         its repository lock (SIGKILL leaves it; restic < 0.17 ignores SIGTERM)"
    );
    // Nothing was left to remove the snapshot.
    assert!(fx.fs.list_subvolumes().contains(&stale));
    fx.wrapper.hold(false);
    (stale, stale_id)
}

#[test]
fn after_sigkill_the_next_backup_removes_the_stale_snapshot_first() {
    if !have_root("after_sigkill_the_next_backup_removes_the_stale_snapshot_first") {
        return;
    }
    let fx = fixture_with_home();
    let base = fx.baseline();
    let (stale, stale_id) = kill_a_run(&fx, &base.subvolumes);

    fx.wrapper.hold(true);
    let run = fx.env.spawn(&["backup"]);
    let inv = fx.wrapper.wait_started(2, wait::DEADLINE);
    let during = snapshots::added(&base.subvolumes, &fx.fs.list_subvolumes());
    assert_eq!(
        during.len(),
        1,
        "stale snapshot {stale} still there next to the new one: {during:?}"
    );
    assert_ne!(
        snapshots::subvolume_id(&fx.path(&during[0])),
        stale_id,
        "the stale snapshot {stale} was not replaced"
    );
    inv.release();
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    fx.assert_clean(&base, "the backup after a SIGKILL");
    assert_eq!(fx.repo.snapshots().len(), 1);
    assert_eq!(
        fx.repo.locks(),
        Vec::<String>::new(),
        "stale repository lock"
    );
    assert_eq!(
        fx.env.history().last().map(|r| r.outcome),
        Some(Outcome::Completed)
    );
}

#[test]
fn after_sigkill_cleanup_removes_the_stale_snapshot() {
    if !have_root("after_sigkill_cleanup_removes_the_stale_snapshot") {
        return;
    }
    let fx = fixture_with_home();
    let base = fx.baseline();
    let (stale, _) = kill_a_run(&fx, &base.subvolumes);

    let done = fx.env.run(&["cleanup"]);
    done.assert_code(exit::COMPLETED);
    assert!(
        !fx.fs.list_subvolumes().contains(&stale),
        "cleanup left {stale}"
    );
    fx.assert_clean(&base, "cleanup");
    // Only the killed run's backup ever started.
    assert_eq!(fx.wrapper.invocations().len(), 1);
    // A second cleanup has nothing to do and must not touch the sources.
    fx.env.run(&["cleanup"]).assert_code(exit::COMPLETED);
    fx.assert_clean(&base, "a second cleanup");
}

#[test]
fn a_second_run_is_refused_while_one_is_going() {
    if !have_root("a_second_run_is_refused_while_one_is_going") {
        return;
    }
    let fx = fixture_with_home();
    // A run that does not wait its turn (wait_timeout = 0) is refused.
    let mut spec = fx.spec(&["home"]);
    spec.raw_top = vec!["wait_timeout = 0".into()];
    fx.env.write_spec(&spec);
    let base = fx.baseline();
    fx.wrapper.hold(true);

    let first = fx.env.spawn(&["backup"]);
    let inv = fx.wrapper.wait_started(1, wait::DEADLINE);
    let during = fx.fs.list_subvolumes();

    // Same state directory, so the same lock.
    let second = fx.env.run(&["backup"]);
    second.assert_code(exit::BUSY);
    let message = second.stderr.to_lowercase();
    assert!(
        message.contains("another") && message.contains("running"),
        "the refusal does not say another run is running:\n{}",
        second.output()
    );
    assert_eq!(
        fx.fs.list_subvolumes(),
        during,
        "the refused run touched snapshots"
    );
    assert_eq!(
        fx.wrapper.invocations().len(),
        1,
        "the refused run started restic"
    );
    // cleanup must not remove the live run's snapshots either (it may
    // refuse as busy, or find nothing of a dead run to remove).
    let cleanup = fx.env.run(&["cleanup"]);
    assert!(
        [exit::COMPLETED, exit::BUSY].contains(&cleanup.code()),
        "{}",
        cleanup.output()
    );
    assert_eq!(
        fx.fs.list_subvolumes(),
        during,
        "cleanup removed a live run's snapshot"
    );

    inv.release();
    first.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    fx.assert_clean(&base, "the first run");
    assert_eq!(fx.repo.snapshots().len(), 1);
    let history = fx.env.history();
    assert_eq!(
        history
            .runs
            .iter()
            .filter(|r| r.outcome == Outcome::Completed)
            .count(),
        1,
        "{history:?}"
    );
}
