//! The repository's upkeep under real systemd (a container booted on this
//! machine's `/usr` with the meson-installed tree): `igotchuu-prune.timer`
//! and `igotchuu-check.timer`, enabled as `systemctl enable` does, are
//! loaded with their calendars (weekly, monthly) and wait for their next
//! elapse; and `igotchuu-check.service` and `igotchuu-prune.service`,
//! started as their timers would start them, run `igotchuu check` and
//! `igotchuu prune` against a real repository in the installed sandbox,
//! end in success and are recorded in the run history. With a retention
//! policy (`keep_last = 1`), each backup in `igotchuu.service` is followed
//! by its forget, which leaves the newest snapshot only.

use igotchuu_dbus::{Operation, Outcome};
use igotchuu_e2e::have_root;
use igotchuu_e2e::scenario::{Results, Scenario};

const DAY: i64 = 86_400;
/// The installed timers' `RandomizedDelaySec=1h`.
const RANDOM_DELAY: i64 = 3_600;

#[test]
fn the_upkeep_timers_wait_for_their_calendar_and_the_services_check_and_prune() {
    if !have_root("the_upkeep_timers_wait_for_their_calendar_and_the_services_check_and_prune") {
        return;
    }
    let mut scenario = Scenario::install();
    for timer in ["igotchuu-prune.timer", "igotchuu-check.timer"] {
        scenario.enable(timer, "timers.target");
    }
    // A retention policy: each backup's forget, in igotchuu.service, keeps
    // the newest snapshot only.
    let mut spec = scenario.spec();
    spec.raw_top.push("keep_last = 1".into());
    scenario.configure(&spec);

    let results = scenario.run(
        r#"
wait_until 30 "the timers to start" sh -c 'systemctl is-active -q igotchuu-prune.timer && systemctl is-active -q igotchuu-check.timer'
record clock date +'%s %z'
for timer in igotchuu-prune.timer igotchuu-check.timer; do
  record "$timer" systemctl show --timestamp=unix "$timer" -p ActiveState -p Unit -p Persistent -p RandomizedDelayUSec -p TimersCalendar -p LastTriggerUSec -p FragmentPath
  # The next elapse, random delay included, in Unix seconds.
  record "$timer-next" date -d "$(systemctl show -P NextElapseUSecRealtime "$timer")" +%s
done
record list-timers systemctl list-timers --all --no-pager --no-legend
# Two backups first, each followed by its forget, so that the check has
# a snapshot to read and the prune a forgotten one to free.
systemctl start --no-block igotchuu.service
wait_until 120 "the backup to end" unit_done igotchuu.service
systemctl start --wait igotchuu.service || true
# As the timers start them.
systemctl start --no-block igotchuu-check.service
wait_until 120 "the check to end" unit_done igotchuu-check.service
record check-service systemctl show igotchuu-check.service -p Result -p ExecMainStatus -p ExecMainCode -p ActiveState
systemctl start --no-block igotchuu-prune.service
wait_until 120 "the prune to end" unit_done igotchuu-prune.service
record prune-service systemctl show igotchuu-prune.service -p Result -p ExecMainStatus -p ExecMainCode -p ActiveState
record backup-service systemctl show igotchuu.service -p Result -p ExecMainStatus
record history cat /var/lib/igotchuu/history.json
record state-files ls -A /var/lib/igotchuu
"#,
    );
    // The helper logs as `igotchuu` in all three units.
    let journal = || results.journal_of("igotchuu").join("\n");

    // The clock the container's systemd reckons calendars in.
    let clock = results.read("clock");
    let (now, offset) = clock
        .split_once(' ')
        .map(|(s, z)| (s.parse::<i64>().unwrap(), utc_offset(z.trim())))
        .unwrap_or_else(|| panic!("clock: {clock}"));
    assert_timer(
        &results,
        "igotchuu-prune.timer",
        "Mon *-*-* 00:00:00",
        next_monday(now, offset),
    );
    assert_timer(
        &results,
        "igotchuu-check.timer",
        "*-*-01 00:00:00",
        next_first_of_month(now, offset),
    );
    // `systemctl list-timers` shows each with the service it starts.
    let listed = results.read("list-timers");
    for (timer, service) in [
        ("igotchuu-prune.timer", "igotchuu-prune.service"),
        ("igotchuu-check.timer", "igotchuu-check.service"),
    ] {
        assert!(
            listed.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.ends_with(&[timer, service])
            }),
            "{timer} is not listed with {service}:\n{listed}"
        );
    }

    let backup = results.properties("backup-service");
    assert_eq!(backup["Result"], "success", "{backup:?}\n{}", journal());
    for (unit, file) in [
        ("igotchuu-check", "check-service"),
        ("igotchuu-prune", "prune-service"),
    ] {
        let service = results.properties(file);
        assert_eq!(
            (
                service["Result"].as_str(),
                service["ExecMainStatus"].as_str(),
                service["ExecMainCode"].as_str(),
            ),
            ("success", "0", "1"),
            "{unit}.service: {service:?}\n{}",
            journal()
        );
    }

    // One record each, in the order they ran, all completed; each backup
    // followed by its forget.
    let history = results.history("history");
    let runs: Vec<(Operation, Outcome)> = history
        .runs
        .iter()
        .map(|r| (r.operation, r.outcome))
        .collect();
    assert_eq!(
        runs,
        [
            (Operation::Backup, Outcome::Completed),
            (Operation::Forget, Outcome::Completed),
            (Operation::Backup, Outcome::Completed),
            (Operation::Forget, Outcome::Completed),
            (Operation::Check, Outcome::Completed),
            (Operation::Prune, Outcome::Completed),
        ],
        "{history:?}"
    );
    let check = history.last_of(Operation::Check).unwrap();
    assert!(check.finished_at >= check.started_at);
    // Started by hand here, not held back: no condition was overridden
    // or met (the container has no UPower and no NetworkManager).
    assert!(check.conditions.is_empty(), "{:?}", check.conditions);

    // Nothing of the runs is left: no repository lock, no journal.
    assert!(scenario.repo.locks().is_empty());
    let files = results.read("state-files");
    assert!(!files.contains("journal.json"), "{files}");
    // keep_last = 1: the first backup's snapshot was forgotten.
    let snapshots = scenario.repo.snapshots();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
}

/// Asserts that `timer` is active, persistent, spread over an hour, on
/// `calendar`, and that its next elapse is at `next` plus its random delay.
fn assert_timer(results: &Results, timer: &str, calendar: &str, next: i64) {
    let shown = results.properties(timer);
    let context = format!("{timer}: {shown:#?}");
    // Active after boot: timers.target wants it, as `systemctl enable` does.
    assert_eq!(shown["ActiveState"], "active", "{context}");
    assert_eq!(
        shown["Unit"],
        timer.replace(".timer", ".service"),
        "{context}"
    );
    assert_eq!(shown["Persistent"], "yes", "{context}");
    assert_eq!(shown["RandomizedDelayUSec"], "1h", "{context}");
    // The calendar's own next elapse, and the one with the random delay.
    assert!(
        shown["TimersCalendar"].contains(&format!("OnCalendar={calendar} ; next_elapse=@{next} ")),
        "{context}, expected the next elapse at @{next}"
    );
    assert_installed(&shown["FragmentPath"], timer);
    // Never triggered: a fresh timer does not catch up a run it never had.
    assert!(
        matches!(shown["LastTriggerUSec"].as_str(), "" | "n/a"),
        "{context}"
    );
    let next_text = results.read(&format!("{timer}-next"));
    let elapse: i64 = next_text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no next elapse: {next_text} {context}"));
    assert!(
        (next..next + RANDOM_DELAY).contains(&elapse),
        "{timer} elapses at {elapse}, not within an hour after {next}: {context}"
    );
    eprintln!("{timer}: next elapse {elapse} (calendar {next})");
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

/// `date +%z`'s `+hhmm` in seconds east of UTC.
fn utc_offset(z: &str) -> i64 {
    let sign = if z.starts_with('-') { -1 } else { 1 };
    let digits: i64 = z[1..].parse().unwrap_or_else(|_| panic!("offset {z}"));
    sign * (digits / 100 * 3600 + digits % 100 * 60)
}

/// The local day `now` falls on, in days since 1970-01-01.
fn local_day(now: i64, offset: i64) -> i64 {
    (now + offset).div_euclid(DAY)
}

/// The next Monday's local midnight after `now`, in Unix seconds.
fn next_monday(now: i64, offset: i64) -> i64 {
    let day = local_day(now, offset);
    // 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays.
    let ahead = 7 - (day + 3).rem_euclid(7);
    (day + ahead) * DAY - offset
}

/// The next first of a month's local midnight after `now`, in Unix seconds.
fn next_first_of_month(now: i64, offset: i64) -> i64 {
    let (year, month, _) = civil_from_days(local_day(now, offset));
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    days_from_civil(year, month, 1) * DAY - offset
}

/// Howard Hinnant's days_from_civil: a proleptic Gregorian date to days
/// since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[test]
fn calendar_arithmetic_matches_known_dates() {
    // 2026-12-02 16:41 UTC is a Wednesday.
    let now = 1_796_229_660;
    assert_eq!(civil_from_days(local_day(now, 0)), (2026, 12, 2));
    assert_eq!(civil_from_days(next_monday(now, 0) / DAY), (2026, 12, 7));
    assert_eq!(
        civil_from_days(next_first_of_month(now, 0) / DAY),
        (2027, 1, 1)
    );
    // A Monday just after midnight: the next is a week later.
    let monday = days_from_civil(2026, 12, 7) * DAY + 1;
    assert_eq!(next_monday(monday, 0), monday - 1 + 7 * DAY);
    // East of UTC, local midnight is earlier in UTC.
    assert_eq!(
        next_monday(now, 3600),
        days_from_civil(2026, 12, 7) * DAY - 3600
    );
    assert_eq!(utc_offset("+0530"), 19_800);
    assert_eq!(utc_offset("-0100"), -3_600);
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
}
