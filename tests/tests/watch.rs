//! `igotchuu watch` against the real helper on a private system bus with
//! polkitd: `--start` D-Bus-activates a backup and prints it as
//! `igotchuu backup` does, ending with the run's exit code; an unprivileged
//! watcher follows a run someone else started, and exits with its outcome
//! (here `stopped`, 130); an unprivileged `--start` is refused by polkit;
//! no bus, or no backup in time, is exit 69 with a sentence that says so.

use std::time::Duration;

use igotchuu_dbus::{Igotchuu1Proxy, Outcome};
use igotchuu_e2e::bounded::Spawned;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::helper::{exit, helper_bin};
use igotchuu_e2e::{block_on, have_root, wait};
use zbus::proxy::CacheProperties;

fn fixture() -> BusFixture {
    BusFixture::new(BusSetup {
        activation: true,
        ..BusSetup::default()
    })
}

fn watch(w: &BusFixture, user: Option<&str>, args: &[&str]) -> Spawned {
    let bin = helper_bin();
    let bin = bin.to_str().expect("UTF-8 path");
    let mut cmd = match user {
        Some(user) => w.bus.command_as(user, bin),
        None => w.bus.command(bin),
    };
    cmd.arg("watch").args(args);
    Spawned::start("igotchuu watch", cmd)
}

#[test]
fn watch_start_backs_up_through_the_bus_and_prints_the_summary() {
    if !have_root("watch_start_backs_up_through_the_bus_and_prints_the_summary") {
        return;
    }
    let w = fixture();
    let base = w.fx.baseline();
    let ended = watch(&w, None, &["--start"]).wait(wait::DEADLINE);
    ended.assert_code(exit::COMPLETED);

    // One completed run, made by the activated helper, and what watch
    // printed is that run.
    let history = w.fx.env.history();
    assert_eq!(history.runs.len(), 1, "{}", w.fx.env.history_text());
    let run = &history.runs[0];
    assert_eq!(run.outcome, Outcome::Completed, "{}", ended.output());
    let summary = run.summary.as_ref().expect("a summary in the history");
    let snapshots = w.fx.repo.snapshots();
    assert_eq!(snapshots.len(), 1);
    assert!(snapshots[0].id.starts_with(&summary.snapshot_id));
    let out = &ended.stdout;
    let home = w.fx.path("home").display().to_string();
    for line in [
        format!("Backing up {home}"),
        "Taking snapshots…".to_owned(),
        "Backing up…".to_owned(),
        "Removing snapshots…".to_owned(),
        "Summary:".to_owned(),
        format!(
            "  Files                   {} new, {} changed, {} unmodified",
            summary.files_new, summary.files_changed, summary.files_unmodified
        ),
        format!("  Snapshot                {}", summary.snapshot_id),
        format!("Completed: {}", run.reason),
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "no line {line:?}\n{}",
            ended.output()
        );
    }
    assert_eq!(summary.files_new, 2, "the fixture's two files");
    w.fx.assert_clean(&base, "a backup started by igotchuu watch");
}

#[test]
fn an_unprivileged_watcher_follows_a_run_and_exits_with_its_outcome() {
    if !have_root("an_unprivileged_watcher_follows_a_run_and_exits_with_its_outcome") {
        return;
    }
    let w = fixture();
    w.fx.wrapper.hold(true);
    let mut watcher = watch(&w, Some("nobody"), &["--timeout", "60"]);
    watcher.wait_for_output("Waiting for a backup to start", wait::DEADLINE);
    let mut joiner = None;

    // Root starts a backup, restic is held, root stops it.
    block_on(async {
        let conn = w.bus.connect().await;
        let helper = Igotchuu1Proxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .unwrap();
        helper.start().await.expect("root may start");
        let invocation = w.fx.wrapper.wait_started(1, wait::DEADLINE);
        watcher.wait_for_output("Backing up…", wait::DEADLINE);
        // One that comes mid-run learns at once where the run is.
        let mut late = watch(&w, Some("nobody"), &[]);
        late.wait_for_output("Backing up…", wait::DEADLINE);
        assert!(
            !late.stdout_so_far().contains("Waiting for a backup"),
            "{}",
            late.stdout_so_far()
        );
        joiner = Some(late);
        helper.stop().await.expect("root may stop");
        drop(invocation);
    });
    let ended = watcher.wait(wait::DEADLINE);
    ended.assert_code(exit::STOPPED);
    assert!(
        ended
            .stdout
            .lines()
            .any(|l| l.starts_with("Stopped: Stopped on request")),
        "{}",
        ended.output()
    );
    let late = joiner.expect("a late watcher").wait(wait::DEADLINE);
    late.assert_code(exit::STOPPED);
    // An ordinary user learns that a backup runs, not what it reads.
    let home = w.fx.path("home").display().to_string();
    assert_eq!(
        late.stdout.lines().next(),
        Some("Backing up"),
        "{}",
        late.output()
    );
    assert!(!late.output().contains(&home), "{}", late.output());
    let history = w.fx.env.history();
    assert_eq!(
        history.runs.last().map(|r| r.outcome),
        Some(Outcome::Stopped)
    );
}

#[test]
fn an_unprivileged_start_is_refused_by_polkit() {
    if !have_root("an_unprivileged_start_is_refused_by_polkit") {
        return;
    }
    let w = fixture();
    let ended = watch(&w, Some("nobody"), &["--start"]).wait(wait::DEADLINE);
    ended.assert_code(exit::UNAVAILABLE);
    assert!(
        ended.stderr.contains("cannot start a backup")
            && ended.stderr.contains("AccessDenied")
            && ended.stderr.contains("com.nyantec.igotchuu.start"),
        "{}",
        ended.output()
    );
    // The helper D-Bus started for the call ran no backup.
    assert!(w.fx.env.history_text().is_empty() || w.fx.env.history().runs.is_empty());
    assert!(w.fx.repo.snapshots().is_empty());
}

#[test]
fn no_backup_in_time_is_exit_69() {
    if !have_root("no_backup_in_time_is_exit_69") {
        return;
    }
    let w = fixture();
    let started = std::time::Instant::now();
    let ended = watch(&w, Some("nobody"), &["--timeout", "1"]).wait(wait::DEADLINE);
    ended.assert_code(exit::UNAVAILABLE);
    assert!(
        ended.stderr.contains("no backup began within 1 s"),
        "{}",
        ended.output()
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(20),
        "{took:?}"
    );
}

#[test]
fn without_a_system_bus_watch_says_so() {
    // No root needed: nothing is started.
    let mut cmd = std::process::Command::new(helper_bin());
    cmd.arg("watch").env(
        "DBUS_SYSTEM_BUS_ADDRESS",
        "unix:path=/nonexistent/igotchuu-bus",
    );
    let ended = Spawned::start("igotchuu watch", cmd).wait(wait::DEADLINE);
    ended.assert_code(exit::UNAVAILABLE);
    assert!(
        ended.stderr.contains("cannot reach the system bus"),
        "{}",
        ended.output()
    );
}
