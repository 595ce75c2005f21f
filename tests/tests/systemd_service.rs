//! igotchuu.service under real systemd (a container booted on this
//! machine's `/usr` with the meson-installed tree): what its sandbox really
//! applies to the running helper and restic, the logind sleep inhibitor,
//! the state directory's modes and owners, and `systemctl stop` in
//! mid-backup.

use std::collections::BTreeMap;

use igotchuu_dbus::Outcome;
use igotchuu_e2e::have_root;
use igotchuu_e2e::scenario::{Results, Scenario, SOURCE};

/// The highest `systemd-analyze security` exposure the unit may have (the
/// figure the README gives).
const MAX_EXPOSURE: f64 = 3.4;

/// The capabilities the unit's bounding set keeps, by number:
/// CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
/// CAP_SYS_CHROOT, CAP_SYS_ADMIN.
const BOUNDING_SET: [u32; 6] = [0, 1, 2, 3, 18, 21];

/// `Key:\tvalue` lines of a `/proc/<pid>/status`.
fn proc_status(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// The options of the mount at `point` in a mountinfo.
fn mount_options(mountinfo: &str, point: &str) -> String {
    mountinfo
        .lines()
        .rev()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f.get(4) == Some(&point))
        .map(|f| f[5].to_owned())
        .unwrap_or_else(|| panic!("nothing is mounted at {point}:\n{mountinfo}"))
}

#[test]
fn a_run_is_sandboxed_inhibits_sleep_and_keeps_its_state_as_promised() {
    if !have_root("a_run_is_sandboxed_inhibits_sleep_and_keeps_its_state_as_promised") {
        return;
    }
    let mut scenario = Scenario::install();
    // restic runs long enough to be found and stopped: 6 MiB at 1 MiB/s.
    scenario.slow_backup(6, 1024);

    let results = scenario.run(
        r#"
systemctl start --no-block igotchuu.service
wait_until 60 "restic to run" pgrep -x restic
# Stopped while looked at (its data lasts only seconds), and continued
# however the script ends (the stall timeout is 30 min).
restic=$(pgrep -x restic)
trap 'kill -CONT $restic 2>/dev/null || true' EXIT
trap 'exit 143' TERM
kill -STOP $restic
pid=$(main_pid igotchuu.service)
record helper-status cat /proc/$pid/status
record helper-mountinfo cat /proc/$pid/mountinfo
record restic-status cat /proc/$restic/status
sandbox="-p ProtectSystem -p RestrictNamespaces -p NoNewPrivileges -p PrivateTmp -p PrivateMounts -p ProtectKernelTunables -p ProtectKernelModules -p ProtectKernelLogs -p ProtectControlGroups -p ProtectHostname -p ProtectProc -p ProcSubset -p LockPersonality -p MemoryDenyWriteExecute -p RestrictRealtime -p RestrictSUIDSGID -p RestrictAddressFamilies -p SystemCallArchitectures -p SystemCallErrorNumber -p User -p CapabilityBoundingSet -p SystemCallFilter -p StateDirectory -p StateDirectoryMode -p KillSignal -p KillMode -p SuccessExitStatus -p Nice -p IOSchedulingClass"
record unit systemctl show igotchuu.service $sandbox
record inhibitors-during systemd-inhibit --list --no-pager --no-legend
record state-during stat -c '%n %a %U:%G' /var/lib/igotchuu /var/lib/igotchuu/lock /var/lib/igotchuu/journal.json /var/lib/igotchuu/settings.json
kill -CONT $restic
trap - EXIT TERM
wait_until 120 "the backup to end" unit_done igotchuu.service
record inhibitors-after systemd-inhibit --list --no-pager --no-legend
record state-after stat -c '%n %a %U:%G' /var/lib/igotchuu/history-admin.json /var/lib/igotchuu/history.json /var/lib/igotchuu/settings.json /var/lib/igotchuu/lock
record state-files ls -A /var/lib/igotchuu
record service systemctl show igotchuu.service -p Result -p ExecMainStatus
record history cat /var/lib/igotchuu/history.json
record security systemd-analyze security --no-pager igotchuu.service
# The upkeep services, loaded as installed, in the same sandbox.
for unit in igotchuu-prune.service igotchuu-check.service; do
  record "unit-$unit" systemctl show "$unit" $sandbox -p ExecStart -p RuntimeMaxUSec -p LoadState
  record "security-$unit" systemd-analyze security --no-pager "$unit"
done
"#,
    );

    let service = results.properties("service");
    assert_eq!(
        (
            service["Result"].as_str(),
            service["ExecMainStatus"].as_str()
        ),
        ("success", "0"),
        "{service:?}\n{}",
        results.journal_of("igotchuu").join("\n")
    );
    assert_eq!(
        results.history("history").last().unwrap().outcome,
        Outcome::Completed
    );

    // The kernel's view of the running helper: no_new_privs, a seccomp
    // filter, and only the listed capabilities in its bounding set.
    let helper = proc_status(&results.read("helper-status"));
    let bounding: u64 = BOUNDING_SET.iter().map(|c| 1u64 << c).sum();
    assert_eq!(helper["NoNewPrivs"], "1");
    assert_eq!(helper["Seccomp"], "2", "filter mode");
    assert_eq!(helper["CapBnd"], format!("{bounding:016x}"));
    // restic: CAP_DAC_READ_SEARCH and, for this local repository,
    // CAP_DAC_OVERRIDE; nothing else.
    let restic = proc_status(&results.read("restic-status"));
    assert_eq!(restic["NoNewPrivs"], "1");
    assert_eq!(restic["CapEff"], "0000000000000006");
    // ProtectSystem=full, as the helper's own mount namespace shows it.
    let mountinfo = results.read("helper-mountinfo");
    for point in ["/usr", "/etc"] {
        let options = mount_options(&mountinfo, point);
        assert!(options.split(',').any(|o| o == "ro"), "{point}: {options}");
    }
    let options = mount_options(&mountinfo, "/srv/data");
    assert!(
        options.split(',').any(|o| o == "rw"),
        "/srv/data: {options}"
    );

    // What systemd applied, as it says.
    let unit_properties = results.properties("unit");
    let unit = &unit_properties;
    let expected = [
        ("User", "root"),
        ("ProtectSystem", "full"),
        ("RestrictNamespaces", "mnt"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateMounts", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("ProtectHostname", "yes"),
        ("ProtectProc", "invisible"),
        ("ProcSubset", "pid"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        (
            "RestrictAddressFamilies",
            "AF_INET AF_INET6 AF_NETLINK AF_UNIX",
        ),
        ("SystemCallArchitectures", "native"),
        ("SystemCallErrorNumber", "1"),
        // 3 completed with warnings, 5 postponed, 130 stopped.
        ("SuccessExitStatus", "3 5 130"),
    ];
    for (key, value) in expected {
        assert_eq!(unit[key], value, "{key}");
    }

    // logind's sleep inhibitor while restic runs, and not after.
    // WHO UID USER PID COMM WHAT WHY… MODE, as systemd-inhibit lists them.
    let during = results.read("inhibitors-during");
    let ours: Vec<Vec<&str>> = during
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.first() == Some(&"igotchuu"))
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "igotchuu's inhibitors during the run:\n{during}"
    );
    let lock = &ours[0];
    assert_eq!(lock[3], helper["Pid"], "held by the helper");
    let mut what: Vec<&str> = lock[5].split(':').collect();
    what.sort_unstable();
    assert_eq!(what, ["shutdown", "sleep"]);
    assert_eq!(lock.last(), Some(&"block"));
    let after = results.read("inhibitors-after");
    assert!(!after.contains("igotchuu"), "left behind:\n{after}");

    // The state directory, as the README promises: the journal root's
    // alone while snapshots exist, the full history root's and sudo's,
    // everyone's copy readable by all.
    let during = results.read("state-during");
    for line in [
        "/var/lib/igotchuu 755 root:root",
        "/var/lib/igotchuu/lock 600 root:root",
        "/var/lib/igotchuu/journal.json 600 root:root",
        // Written at the start of every run, for the desktop.
        "/var/lib/igotchuu/settings.json 644 root:root",
    ] {
        assert!(during.lines().any(|l| l == line), "{line}:\n{during}");
    }
    let after = results.read("state-after");
    for line in [
        "/var/lib/igotchuu/history-admin.json 640 root:sudo",
        "/var/lib/igotchuu/history.json 644 root:root",
        // What the desktop may know of the configuration.
        "/var/lib/igotchuu/settings.json 644 root:root",
    ] {
        assert!(after.lines().any(|l| l == line), "{line}:\n{after}");
    }
    let files: Vec<&str> = results.read("state-files").leak().lines().collect();
    assert_eq!(
        files,
        [
            "history-admin.json",
            "history.json",
            "lock",
            "settings.json"
        ]
    );

    // The exposure score stays where the README says.
    let score = exposure(&results, "security", "igotchuu.service");
    assert!(score <= MAX_EXPOSURE, "exposure {score}");

    // igotchuu-prune.service and igotchuu-check.service, as the
    // container's systemd loaded them: the same sandbox, property for
    // property, the same score, and their own command and time limit.
    for (unit, command) in [
        ("igotchuu-prune.service", "prune"),
        ("igotchuu-check.service", "check"),
    ] {
        let mut upkeep = results.properties(&format!("unit-{unit}"));
        assert_eq!(upkeep.remove("LoadState").as_deref(), Some("loaded"));
        let exec = upkeep.remove("ExecStart").unwrap_or_default();
        assert!(
            exec.contains(&format!("argv[]=/usr/bin/igotchuu {command} --scheduled ;")),
            "{unit}: {exec}"
        );
        // 3 days: a postponed run waits up to one for its condition.
        let runtime = upkeep.remove("RuntimeMaxUSec");
        assert_eq!(runtime.as_deref(), Some("3d"), "{unit}");
        assert_eq!(
            upkeep, unit_properties,
            "{unit} differs from igotchuu.service"
        );
        let upkeep_score = exposure(&results, &format!("security-{unit}"), unit);
        assert_eq!(upkeep_score, score, "{unit}'s exposure");
    }
}

/// The overall exposure level that the scenario's `systemd-analyze
/// security` of `unit` (in the results file `name`) gave.
fn exposure(results: &Results, name: &str, unit: &str) -> f64 {
    let security = results.read(name);
    let score = security
        .lines()
        .find_map(|l| {
            l.split(&format!("Overall exposure level for {unit}:"))
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level for {unit} in:\n{security}"));
    eprintln!("systemd-analyze security {unit}: {score}");
    score
}

#[test]
fn systemctl_stop_in_mid_backup_stops_through_sigint_and_leaves_nothing() {
    if !have_root("systemctl_stop_in_mid_backup_stops_through_sigint_and_leaves_nothing") {
        return;
    }
    let mut scenario = Scenario::install();
    // Two minutes at this rate: it is stopped long before.
    scenario.slow_backup(30, 256);
    let locks = scenario.inside(&scenario.repo.location()).join("locks");

    let results = scenario.run(&format!(
        r#"
systemctl start --no-block igotchuu.service
# restic 0.14 takes its lock a moment (200 ms) before it registers it for
# removal on SIGINT; its first report comes after that.
wait_until 60 "restic to lock the repository" sh -c '[ -n "$(ls -A {locks})" ]'
wait_until 60 "restic's first report" sh -c 'journalctl -u igotchuu.service | grep -q progress:'
record kill-signal systemctl show igotchuu.service -p KillSignal -p KillMode
systemctl stop igotchuu.service
record service systemctl show igotchuu.service -p Result -p ExecMainStatus -p ExecMainCode -p ActiveState
record history cat /var/lib/igotchuu/history.json
record state-files ls -A /var/lib/igotchuu
record restic sh -c 'pgrep -x restic || echo none'
"#,
        locks = locks.display()
    ));

    let service = results.properties("service");
    let journal = || results.journal_of("igotchuu").join("\n");
    // 130 is "stopped on request", a success of the unit.
    assert_eq!(
        (
            service["ActiveState"].as_str(),
            service["Result"].as_str(),
            service["ExecMainStatus"].as_str()
        ),
        ("inactive", "success", "130"),
        "{service:?}\n{}",
        journal()
    );
    // ExecMainCode 1: it exited by itself (CLD_EXITED), not killed.
    assert_eq!(service["ExecMainCode"], "1");
    let signal = results.properties("kill-signal");
    assert_eq!(
        (signal["KillSignal"].as_str(), signal["KillMode"].as_str()),
        ("2", "mixed")
    );
    let run = results.history("history").runs.pop().expect("a run");
    assert_eq!(run.outcome, Outcome::Stopped, "{}", run.reason);
    assert_eq!(results.read("restic").trim(), "none");

    // No snapshot, no journal, no repository lock, no restic snapshot.
    assert_eq!(scenario.fs.list_subvolumes(), [SOURCE]);
    let files: Vec<&str> = results.read("state-files").leak().lines().collect();
    assert!(!files.contains(&"journal.json"), "{files:?}");
    let locks = scenario.repo.locks();
    assert!(locks.is_empty(), "a lock is left: {locks:?}\n{}", journal());
    assert!(scenario.repo.snapshots().is_empty());
}
