//! igotchuu.timer under real systemd (a container booted on this machine's
//! `/usr` with the meson-installed tree): a run missed while the machine
//! was off is caught up right after boot (`Persistent=true`), and the
//! backup it starts completes in the installed unit's full sandbox.

use igotchuu_dbus::history::History;
use igotchuu_dbus::Outcome;
use igotchuu_e2e::have_root;
use igotchuu_e2e::scenario::{Scenario, SOURCE};

/// The timer's last run, three days before this boot.
const MISSED_RUN: &str = "[Unit]
Description=igotchuu.timer last ran three days ago
DefaultDependencies=no
After=local-fs.target
Before=timers.target igotchuu.timer

[Service]
Type=oneshot
ExecStart=/bin/mkdir -p /var/lib/systemd/timers
ExecStart=/bin/touch -d '3 days ago' /var/lib/systemd/timers/stamp-igotchuu.timer
";

/// The only change to the installed units: no random delay.
const NO_DELAY: &str = "[Timer]\nRandomizedDelaySec=0\n";

#[test]
fn a_missed_run_is_caught_up_after_boot_and_completes_in_the_sandbox() {
    if !have_root("a_missed_run_is_caught_up_after_boot_and_completes_in_the_sandbox") {
        return;
    }
    let mut scenario = Scenario::install();
    scenario.unit("igotchuu-test-missed-run.service", MISSED_RUN);
    scenario.enable("igotchuu-test-missed-run.service", "timers.target");
    // What `systemctl enable igotchuu.timer` does.
    scenario.enable("igotchuu.timer", "timers.target");
    // The installed timer spreads every start, a caught-up one too, over
    // an hour (RandomizedDelaySec=1h); a test cannot wait that long.
    scenario.unit("igotchuu.timer.d/no-delay.conf", NO_DELAY);

    let results = scenario.run(
        r#"
wait_until 120 "the timer to start igotchuu.service" unit_done igotchuu.service
record service systemctl show igotchuu.service -p Result -p ExecMainStatus -p ExecMainCode -p ActiveState -p TriggeredBy -p ExecMainStartTimestampMonotonic -p FragmentPath -p DropInPaths
record timer systemctl show igotchuu.timer -p ActiveState -p LastTriggerUSec -p Persistent -p FragmentPath
record boot systemctl show -p UserspaceTimestampMonotonic
record history cat /var/lib/igotchuu/history.json
"#,
    );

    let service = results.properties("service");
    let journal = || results.journal_of("igotchuu").join("\n");
    assert_eq!(service["TriggeredBy"], "igotchuu.timer");
    assert_eq!(
        (
            service["Result"].as_str(),
            service["ExecMainStatus"].as_str()
        ),
        ("success", "0"),
        "{service:?}\n{}",
        journal()
    );
    // The installed unit, as it is: no drop-in.
    assert_installed(&service["FragmentPath"], "igotchuu.service");
    assert_eq!(service["DropInPaths"], "");
    // Caught up at boot, not at the next midnight: typically within seconds
    // of userspace starting; a minute and a half leaves room for a slow boot.
    let started_us: u64 = service["ExecMainStartTimestampMonotonic"].parse().unwrap();
    let boot_us: u64 = results.properties("boot")["UserspaceTimestampMonotonic"]
        .parse()
        .unwrap();
    let after_boot = started_us - boot_us;
    assert!(
        after_boot < 90_000_000,
        "the missed run started {after_boot} µs after boot"
    );
    let timer = results.properties("timer");
    assert_eq!(timer["Persistent"], "yes");
    assert_eq!(timer["ActiveState"], "active");
    assert_installed(&timer["FragmentPath"], "igotchuu.timer");

    let text = results.read("history");
    let history = History::from_json(text.as_bytes())
        .unwrap_or_else(|e| panic!("history.json: {e}: {text}\n{}", journal()));
    let run = history.runs.last().expect("a run in the history");
    assert_eq!(run.outcome, Outcome::Completed, "{}", run.reason);
    assert_eq!(history.runs.len(), 1);

    // The backup is in the repository, and nothing of the run is left.
    let snapshots = scenario.repo.snapshots();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert_eq!(snapshots[0].paths, [format!("/srv/data/{SOURCE}")]);
    assert_eq!(scenario.fs.list_subvolumes(), [SOURCE]);
    assert!(scenario.repo.locks().is_empty());
}

/// `path` is the installed unit `name` (systemd names it by /lib or /usr/lib).
fn assert_installed(path: &str, name: &str) {
    assert!(
        [
            format!("/lib/systemd/system/{name}"),
            format!("/usr/lib/systemd/system/{name}")
        ]
        .iter()
        .any(|p| p == path),
        "{name} was loaded from {path}"
    );
}
