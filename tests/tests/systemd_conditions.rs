//! Run conditions under real systemd (a container booted on this machine's
//! `/usr` with the meson-installed tree): UPower, served by
//! `python3-dbusmock`'s `upower` template on the container's own system
//! bus, says the computer is on battery. `igotchuu.service`, installed and
//! unchanged (`igotchuu backup --scheduled`), reaches it from inside its
//! sandbox, records the backup as postponed with the reason, and waits in
//! the running unit without the bus name; once UPower says it is plugged
//! in (PropertiesChanged), the same unit backs up and ends in success.
//! On battery again, the next run waits too, and `systemctl stop` ends the
//! wait as a stop (130, the unit's success), with nothing run.
//! NetworkManager is absent, which counts as clear.

use igotchuu_dbus::history::History;
use igotchuu_dbus::{Operation, Outcome, RunCondition};
use igotchuu_e2e::have_root;
use igotchuu_e2e::scenario::Scenario;

/// Debian's python, which has the `dbusmock` module.
const PYTHON: &str = "/usr/bin/python3";

/// UPower's bus name for the stand-in: root may own it, anyone may call.
const UPOWER_POLICY: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root"><allow own="org.freedesktop.UPower"/></policy>
  <policy context="default"><allow send_destination="org.freedesktop.UPower"/></policy>
</busconfig>
"#;

fn upower_unit() -> String {
    format!(
        r#"[Unit]
Description=UPower stand-in (python3-dbusmock): on battery

[Service]
Type=dbus
BusName=org.freedesktop.UPower
ExecStart={PYTHON} -m dbusmock --system --template upower -p '{{"OnBattery": true}}'
"#
    )
}

#[test]
fn a_scheduled_backup_on_battery_waits_in_its_unit_and_runs_when_plugged_in() {
    if !have_root("a_scheduled_backup_on_battery_waits_in_its_unit_and_runs_when_plugged_in") {
        return;
    }
    assert!(
        std::path::Path::new("/usr/lib/python3/dist-packages/dbusmock/__init__.py").is_file(),
        "python3-dbusmock is not installed (apt-get install python3-dbusmock)"
    );
    let mut scenario = Scenario::install();
    scenario.etc_file(
        "dbus-1/system.d/igotchuu-test-upower.conf",
        UPOWER_POLICY,
        0o644,
    );
    scenario.unit("igotchuu-test-upower.service", &upower_unit());
    scenario.enable("igotchuu-test-upower.service", "multi-user.target");

    let results = scenario.run(
        r#"
on_battery() { busctl --system "$1" org.freedesktop.UPower /org/freedesktop/UPower org.freedesktop.UPower OnBattery "${@:2}"; }
wait_until 30 "UPower" on_battery get-property
record on-battery on_battery get-property
# The helper's OperationFinished, heard from before it starts: it takes the
# name to announce the postponement (after writing the record), then lets
# it go; the wait is looked at after that.
dbus-monitor --system "type='signal',interface='com.nyantec.igotchuu1',member='OperationFinished'" >"$R/signals" 2>&1 &
monitor=$!
wait_until 30 "the bus monitor" grep -qs 'member=NameLost' "$R/signals"
systemctl start --no-block igotchuu.service
wait_until 60 "the postponed record" grep -qs '"postponed"' /var/lib/igotchuu/history.json
wait_until 60 "the postponement on the bus" grep -qs 'member=OperationFinished' "$R/signals"
kill "$monitor" || true
wait_until 30 "the name to be free" sh -c '! busctl --system status com.nyantec.IGotChuu >/dev/null 2>&1'
sleep 2
# Waiting: the unit runs, the helper holds no bus name, restic never ran.
record waiting systemctl show igotchuu.service -p ActiveState -p SubState
record name-while-waiting sh -c 'busctl --system status com.nyantec.IGotChuu >/dev/null 2>&1 && echo owned || echo free'
record restic-while-waiting sh -c 'pgrep -x restic || echo none'
record history-while-waiting cat /var/lib/igotchuu/history-admin.json
# Plugged in: UPower sends PropertiesChanged.
on_battery set-property b false
wait_until 60 "the backup to end" unit_done igotchuu.service
record service systemctl show igotchuu.service -p Result -p ExecMainStatus -p ExecMainCode
record history cat /var/lib/igotchuu/history.json
# On battery again: the next scheduled run waits, and `systemctl stop`
# ends the wait (SIGINT) as a stop, not a failure.
on_battery set-property b true
systemctl start --no-block igotchuu.service
wait_until 60 "the second postponed record" sh -c '[ "$(grep -o "\"postponed\"" /var/lib/igotchuu/history.json | wc -l)" = 2 ]'
systemctl stop igotchuu.service
record stopped systemctl show igotchuu.service -p Result -p ExecMainStatus -p ExecMainCode -p ActiveState
record history-stopped cat /var/lib/igotchuu/history.json
"#,
    );
    let journal = || results.journal_of("igotchuu").join("\n");

    assert_eq!(results.read("on-battery").trim(), "b true");
    let waiting = results.properties("waiting");
    assert_eq!(
        (
            waiting["ActiveState"].as_str(),
            waiting["SubState"].as_str()
        ),
        ("active", "running"),
        "{waiting:?}\n{}",
        journal()
    );
    assert_eq!(results.read("name-while-waiting").trim(), "free");
    // The desktop heard why it waits.
    let signals = results.read("signals");
    assert!(signals.contains(r#"string "postponed""#), "{signals}");
    assert_eq!(results.read("restic-while-waiting").trim(), "none");
    let before = results.history("history-while-waiting");
    assert_eq!(before.runs.len(), 1, "{before:?}");
    let postponed = &before.runs[0];
    assert_eq!(
        (postponed.operation, postponed.outcome),
        (Operation::Backup, Outcome::Postponed),
        "{before:?}"
    );
    assert_eq!(
        postponed.conditions,
        [RunCondition::OnBattery],
        "{before:?}"
    );
    // The full history says why; everyone's copy only that it waits.
    assert!(
        postponed.reason.contains("battery"),
        "the reason says why: {}",
        postponed.reason
    );
    let public = results.read("history");
    let public = History::from_json(public.as_bytes()).unwrap();
    assert_eq!(public.runs[0].outcome, Outcome::Postponed);
    assert!(!public.runs[0].reason.is_empty());

    let service = results.properties("service");
    assert_eq!(
        (
            service["Result"].as_str(),
            service["ExecMainStatus"].as_str(),
            service["ExecMainCode"].as_str()
        ),
        ("success", "0", "1"),
        "{service:?}\n{}",
        journal()
    );
    let after = results.history("history");
    let runs: Vec<(Operation, Outcome)> = after
        .runs
        .iter()
        .map(|r| (r.operation, r.outcome))
        .collect();
    assert_eq!(
        runs,
        [
            (Operation::Backup, Outcome::Postponed),
            (Operation::Backup, Outcome::Completed),
        ],
        "{after:?}\n{}",
        journal()
    );

    // Stopped while it waited: exit 130 by itself, a success of the unit,
    // and nothing ran (no record but the postponed one).
    let stopped = results.properties("stopped");
    assert_eq!(
        (
            stopped["ActiveState"].as_str(),
            stopped["Result"].as_str(),
            stopped["ExecMainStatus"].as_str(),
            stopped["ExecMainCode"].as_str()
        ),
        ("inactive", "success", "130", "1"),
        "{stopped:?}\n{}",
        journal()
    );
    let last = results.history("history-stopped");
    let outcomes: Vec<Outcome> = last.runs.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Postponed, Outcome::Completed, Outcome::Postponed],
        "{last:?}"
    );
    assert_eq!(scenario.repo.snapshots().len(), 1);
    assert!(scenario.repo.locks().is_empty());
}
