//! What clients see of a run on the bus: a client that knows only the
//! seed's XML follows a whole run; a client that joins mid-backup reads
//! the state at once; Progress is coalesced to a few signals a second,
//! the first and the last always sent.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use igotchuu_dbus::{proxy, Outcome, INTERFACE, OBJECT_PATH};
use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::gdbus::{GdbusMonitor, XmlClient};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::iface::{read_repo_file, SEED_XML};
use igotchuu_e2e::standin::stats_policy;
use igotchuu_e2e::wrapper::Invocation;
use igotchuu_e2e::{block_on, have_root, wait};
use serde_json::Value;
use zbus::zvariant::OwnedValue;

/// restic at its old default rate: 60 status lines a second.
const FPS: &str = "60";

/// The Progress signal's arguments (and the Progress property's fields).
type ProgressArgs = (u64, u64, f64, u64, u64, u64, u64, u64, Vec<String>);

/// The Progress arguments for one of restic's `status` lines, read here
/// from restic's JSON (not with the helper's parser): omitted fields are 0.
fn status_args(line: &str) -> ProgressArgs {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["message_type"], "status", "{line}");
    let n = |k: &str| v.get(k).map_or(0, |x| x.as_u64().expect(k));
    let files = v
        .get("current_files")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (
        n("seconds_elapsed"),
        n("seconds_remaining"),
        // A fraction, as the helper reports it: restic 0.14 prints more
        // than 1 early on, when it has done more files than it has counted.
        v.get("percent_done")
            .map_or(0.0, |x| x.as_f64().unwrap().clamp(0.0, 1.0)),
        n("total_files"),
        n("files_done"),
        n("total_bytes"),
        n("bytes_done"),
        n("error_count"),
        files,
    )
}

/// BackupComplete's arguments, grouped as the test compares them.
type SummaryArgs = (
    (u64, u64, u64, u64, u64, u64),
    (i64, i64),
    (u64, u64, u64),
    f64,
    String,
    bool,
);

/// BackupComplete's arguments for restic's one `summary` message of
/// backup `inv`, read here from restic's JSON: omitted fields are 0.
fn summary_args(inv: &Invocation) -> SummaryArgs {
    let summaries = inv.restic_messages("summary");
    assert_eq!(summaries.len(), 1, "one summary: {:?}", inv.stdout_lines());
    let v = &summaries[0];
    let u = |k: &str| v.get(k).map_or(0, |x| x.as_u64().expect(k));
    let i = |k: &str| v.get(k).map_or(0, |x| x.as_i64().expect(k));
    (
        (
            u("files_new"),
            u("files_changed"),
            u("files_unmodified"),
            u("dirs_new"),
            u("dirs_changed"),
            u("dirs_unmodified"),
        ),
        (i("data_blobs"), i("tree_blobs")),
        (
            u("data_added"),
            u("total_files_processed"),
            u("total_bytes_processed"),
        ),
        v["total_duration"].as_f64().expect("total_duration"),
        v["snapshot_id"].as_str().expect("snapshot_id").to_owned(),
        v.get("dry_run").and_then(Value::as_bool).unwrap_or(false),
    )
}

fn is_status(line: &str) -> bool {
    line.contains(r#""message_type":"status""#)
}

#[test]
fn a_seed_client_follows_a_whole_run() {
    if !have_root("a_seed_client_follows_a_whole_run") {
        return;
    }
    let w = BusFixture::new(BusSetup {
        extra_policy: stats_policy(),
        ..BusSetup::default()
    });
    // Long enough for restic to report progress.
    w.slow_backup(2, 1024);
    w.fx.env.set_var("RESTIC_PROGRESS_FPS", FPS);
    w.fx.wrapper.tee_stdout(true);
    // The helper waits for Start with the name taken: gdbus subscribes to
    // its owner before the run's first signal.
    let helper = w.serve();
    let monitor = GdbusMonitor::start(&w.bus, igotchuu_dbus::BUS_NAME);
    let seed = XmlClient::new(&read_repo_file(SEED_XML), INTERFACE);

    w.start_as_root();
    helper.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    let lines = monitor.wait_for("OperationFinished", wait::DEADLINE);

    let all: Vec<_> = lines
        .iter()
        .filter(|l| l.interface == INTERFACE && l.path == OBJECT_PATH)
        .collect();
    // The additions OperationStarted and OperationFinished bracket the
    // seed's signals; between them, the run is as the seed sends it.
    let all_names: Vec<&str> = all.iter().map(|l| l.member.as_str()).collect();
    assert_eq!(
        all_names.first(),
        Some(&"OperationStarted"),
        "{all_names:?}"
    );
    assert_eq!(
        all_names.last(),
        Some(&"OperationFinished"),
        "{all_names:?}"
    );
    let ours = &all[1..all.len() - 1];
    let names: Vec<&str> = ours.iter().map(|l| l.member.as_str()).collect();
    // BackupStarted, Progress…, BackupComplete, BackupFinished; nothing else
    // in a run without unreadable files.
    assert_eq!(names.first(), Some(&"BackupStarted"), "{names:?}");
    assert_eq!(names.last(), Some(&"BackupFinished"), "{names:?}");
    let complete_at = names
        .iter()
        .position(|n| *n == "BackupComplete")
        .unwrap_or_else(|| panic!("no BackupComplete: {names:?}"));
    assert_eq!(complete_at, names.len() - 2, "{names:?}");
    let middle = &names[1..complete_at];
    assert!(
        !middle.is_empty() && middle.iter().all(|n| *n == "Progress"),
        "only Progress between BackupStarted and BackupComplete: {names:?}"
    );

    // Every seed signal reads with the seed's names and types alone.
    let read: Vec<_> = ours.iter().filter_map(|l| seed.read(l)).collect();
    assert_eq!(
        read.len(),
        names.len() - 1,
        "all but BackupFinished are the seed's"
    );
    let last_progress = read.iter().rev().find(|s| s.member == "Progress").unwrap();
    assert!(
        last_progress.args["files_done"].u64() > 0,
        "{last_progress:?}"
    );
    assert!(last_progress.args["total_bytes"].u64() >= 2 << 20);

    // BackupComplete carries restic's summary: the line restic printed, and
    // what history.json has of it.
    let c = &read
        .iter()
        .find(|s| s.member == "BackupComplete")
        .unwrap()
        .args;
    let history = w.fx.env.history();
    assert_eq!(history.runs.len(), 1);
    let run = &history.runs[0];
    assert_eq!(run.outcome, Outcome::Completed);
    let s = run.summary.as_ref().expect("history has the summary");
    let got: SummaryArgs = (
        (
            c["files_new"].u64(),
            c["files_changed"].u64(),
            c["files_unmodified"].u64(),
            c["dirs_new"].u64(),
            c["dirs_changed"].u64(),
            c["dirs_unmodified"].u64(),
        ),
        (c["data_blobs"].i64(), c["tree_blobs"].i64()),
        (
            c["data_added"].u64(),
            c["total_files_processed"].u64(),
            c["total_bytes_processed"].u64(),
        ),
        c["total_duration"].f64(),
        c["snapshot_id"].str().to_owned(),
        c["dry_run"].bool(),
    );
    let want = (
        (
            s.files_new,
            s.files_changed,
            s.files_unmodified,
            s.dirs_new,
            s.dirs_changed,
            s.dirs_unmodified,
        ),
        (s.data_blobs, s.tree_blobs),
        (
            s.data_added,
            s.total_files_processed,
            s.total_bytes_processed,
        ),
        s.total_duration,
        s.snapshot_id.clone(),
        s.dry_run,
    );
    assert_eq!(got, want, "BackupComplete against history.json");
    let raw = summary_args(&w.fx.wrapper.invocations()[0]);
    assert_eq!(got, raw, "BackupComplete against restic's summary line");
    // 203 files: big.bin, a.txt, b/c.txt and many/000…199.
    assert_eq!(c["files_new"].u64(), 203);
    assert!(!c["dry_run"].bool());
    // And the snapshot is the one restic lists.
    let snapshots = w.fx.repo.snapshots();
    assert_eq!(snapshots.len(), 1);
    let id = c["snapshot_id"].str();
    assert!(
        !id.is_empty() && snapshots[0].id.starts_with(id),
        "BackupComplete names snapshot {id:?}, restic has {}",
        snapshots[0].id
    );

    // BackupFinished (an addition, not in the seed): "completed", with a reason.
    let fin = ours.last().unwrap();
    assert!(!seed.knows("BackupFinished"));
    assert_eq!(fin.args.len(), 2, "{fin:?}");
    assert_eq!(fin.args[0].str(), "completed");
    assert_eq!(fin.args[1].str(), run.reason);
}

#[test]
fn a_client_that_joins_mid_backup_reads_the_state_at_once() {
    if !have_root("a_client_that_joins_mid_backup_reads_the_state_at_once") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    w.slow_backup(2, 1024);
    w.fx.env.set_var("RESTIC_PROGRESS_FPS", FPS);
    w.fx.wrapper.pause_on_status(true);
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let run = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);
    // restic has printed a status with numbers in it, and is stopped: no
    // more progress, so no more signals, until it is resumed.
    let status = inv.wait_paused(wait::DEADLINE);
    let want = status_args(&status);
    assert!(want.3 > 0, "a status with files in it: {status}");

    block_on(async {
        // A client that connects now.
        let conn = w.bus.connect().await;
        let helper = proxy::running(&conn)
            .await
            .unwrap()
            .expect("the helper owns its name");
        assert_eq!(helper.phase().await.unwrap(), "backing-up");
        let props = zbus::fdo::PropertiesProxy::builder(&conn)
            .destination(helper.inner().destination().to_owned())
            .unwrap()
            .path(OBJECT_PATH)
            .unwrap()
            .build()
            .await
            .unwrap();
        let iface = zbus::names::InterfaceName::try_from(INTERFACE).unwrap();
        // The helper may still be reading the line restic printed last.
        let start = Instant::now();
        let all = loop {
            let all = props.get_all(iface.clone()).await.expect("GetAll");
            let progress: ProgressArgs = all["Progress"].try_clone().unwrap().try_into().unwrap();
            if progress == want {
                break all;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "Progress is {progress:?}, restic's last status was {want:?}"
            );
            async_io::Timer::after(wait::POLL).await;
        };
        let get = |k: &str| -> OwnedValue { all[k].try_clone().unwrap() };
        assert_eq!(String::try_from(get("Phase")).unwrap(), "backing-up");
        let started = u64::try_from(get("StartedAt")).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            (before..=now).contains(&started),
            "StartedAt {started} not in [{before}, {now}]"
        );
        let home = w.fx.path("home").display().to_string();
        assert_eq!(Vec::<String>::try_from(get("Places")).unwrap(), [home]);
        assert_eq!(String::try_from(get("Profile")).unwrap(), "");
        assert_eq!(u64::try_from(get("ErrorCount")).unwrap(), 0);
        // Get reads the same as GetAll.
        let one: ProgressArgs = props
            .get(iface.clone(), "Progress")
            .await
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(one, want);
    });

    inv.resume();
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
}

#[test]
fn progress_is_coalesced_and_the_first_and_last_are_sent() {
    if !have_root("progress_is_coalesced_and_the_first_and_last_are_sent") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    // restic 0.14 reports as files complete (at most 60/s), else once a
    // second; later restic at 60/s all along. So many files make a burst
    // while they are read: about 1 s for 50,000 on CI, so 100,000 leave
    // room for a machine several times faster. The upload limit keeps
    // the run going for some seconds after it.
    w.many_files(100_000);
    let mut spec = w.fx.spec(&["home"]);
    spec.restic_args = vec!["--limit-upload".into(), "1024".into()];
    w.fx.env.write_spec(&spec);
    w.fx.env.set_var("RESTIC_PROGRESS_FPS", FPS);
    w.fx.wrapper.tee_stdout(true);
    let recorder = SignalRecorder::start(&w.bus);

    // A deadline far beyond the ~30 s it takes: the upload is not faster
    // on a faster machine.
    let done = w.fx.env.spawn(&["backup"]).wait(4 * wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
    recorder.wait_for("BackupFinished", wait::DEADLINE);

    let inv = &w.fx.wrapper.invocations()[0];
    let statuses: Vec<ProgressArgs> = inv
        .stdout_lines()
        .iter()
        .filter(|l| is_status(l))
        .map(|l| status_args(l))
        .collect();
    let signals: Vec<ProgressArgs> = recorder
        .signals()
        .iter()
        .filter(|r| r.is("Progress"))
        .map(|r| r.body::<ProgressArgs>())
        .collect();
    // What the test needs from restic is a burst: many more reports in some
    // second than the helper may pass on. The busiest second of restic's
    // own clock (`seconds_elapsed`) is what is checked.
    let restic_seconds = statuses.last().map_or(0, |s| s.0);
    let busiest_second = most_in_one_second(&statuses);
    assert!(
        busiest_second >= 20 && restic_seconds >= 2,
        "restic should report many times a second for a while: {} status lines over {restic_seconds} s, at most {busiest_second} in one second",
        statuses.len()
    );
    assert!(signals.len() >= 3, "{} Progress signals", signals.len());

    // At most 4 a second (one each 250 ms), and the last one held back.
    // Counted by the second of restic's clock each signal carries, not by
    // when the recorder got it: a busy machine may deliver several at once.
    // One second of restic's holds at most 5 slots of 250 ms, and the flush.
    let per_second = most_in_one_second(&signals);
    assert!(
        per_second <= 6,
        "{per_second} Progress signals carry the same second of restic's (it printed {busiest_second} in its busiest)"
    );
    let span = signals.last().unwrap().0 - signals[0].0 + 1;
    assert!(
        signals.len() as u64 <= 4 * span + 2,
        "{} Progress signals over {span} s of restic's (restic printed {} status lines)",
        signals.len(),
        statuses.len()
    );
    println!(
        "restic: {} status lines ({busiest_second} in its busiest second); helper: {} Progress signals over {span} s ({:.1}/s, at most {per_second} in one second)",
        statuses.len(),
        signals.len(),
        signals.len() as f64 / span as f64
    );

    // The first and the last report always go out, exactly as restic made them.
    assert_eq!(signals[0], statuses[0], "the first Progress");
    assert_eq!(
        signals.last().unwrap(),
        statuses.last().unwrap(),
        "the last Progress"
    );
    // Each signal is one of restic's reports, in restic's order.
    let mut at = 0;
    for s in &signals {
        at += statuses[at..]
            .iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("{s:?} is not a later status of restic's"));
    }
}

/// The most reports that carry the same second of restic's clock
/// (`seconds_elapsed`).
fn most_in_one_second(reports: &[ProgressArgs]) -> usize {
    let mut per_second = std::collections::BTreeMap::<u64, usize>::new();
    for s in reports {
        *per_second.entry(s.0).or_default() += 1;
    }
    per_second.into_values().max().unwrap_or(0)
}
