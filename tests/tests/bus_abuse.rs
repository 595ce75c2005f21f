//! What a local user without rights can do to "Back up now" and to a
//! running backup: nothing that matters, and every try is on record.
//!
//! - 100 refused Start calls from `nobody` (D-Bus activation, as the
//!   desktop's "Back up now" does it) start the helper once, not once per
//!   refusal: under systemd, each start of `igotchuu-bus.service` counts
//!   towards its start limit, and a helper started anew per refusal would
//!   let anyone lock "Back up now" out (should a slow machine stretch the
//!   flood past the helper's idle time, once per idle time is still
//!   right). Root's Start then runs a backup.
//! - A flood of Stop calls that polkit holds (a rule asks `nobody` for a
//!   password, and the flooder runs its own agent that never answers) is
//!   capped per connection and per user; the rest get LimitsExceeded at
//!   once, and the backup completes.
//! - A polkit that never answers costs a Stop call 25 s, not for ever, and
//!   its check is cancelled.
//! - Every call is in the helper's audit log, at the default log level,
//!   with the caller's uid and pid from the bus and polkit's result.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use igotchuu_dbus::{
    proxy, Igotchuu1Proxy, Outcome, ACTION_STOP, BUS_NAME, INTERFACE, OBJECT_PATH,
};
use igotchuu_e2e::bounded::Spawned;
use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::polkit::{Answer, PasswordAgent, Rule};
use igotchuu_e2e::sysbus::{open_policy, require_tool, BusOptions, SystemBus};
use igotchuu_e2e::{block_on, have_root, wait};
use zbus::proxy::{CacheProperties, MethodFlags};
use zbus::zvariant::OwnedValue;

/// `nobody`, who runs no session here.
const NOBODY: u32 = 65534;
/// The helper's idle time after activation (IDLE_EXIT in
/// helper/src/bus/gate.rs): refused calls keep the helper, which leaves
/// only this long after it started, so the bus starts it at most once per
/// IDLE_EXIT however many calls are refused.
const IDLE_EXIT: Duration = Duration::from_secs(30);
/// The caps of helper/src/bus/limits.rs.
const PER_NAME: usize = 2;
const PER_UID: usize = 4;
/// A check without interaction (CHECK_TIMEOUT in helper/src/bus/authorize.rs).
const CHECK_TIMEOUT: Duration = Duration::from_secs(25);
const PYTHON: &str = "/usr/bin/python3";
const POLKIT_NAME: &str = "org.freedesktop.PolicyKit1";

const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
const LIMITS_EXCEEDED: &str = "org.freedesktop.DBus.Error.LimitsExceeded";
const TIMED_OUT: &str = "org.freedesktop.DBus.Error.TimedOut";

/// How often the daemon has activated the helper so far.
fn activations(bus: &SystemBus) -> usize {
    bus.log()
        .matches(&format!("Activating service name='{BUS_NAME}'"))
        .count()
}

/// The helper's audit lines in `log`, for `method`.
fn audit_lines<'a>(log: &'a str, method: &str) -> Vec<&'a str> {
    let tag = format!("audit: {method} ");
    log.lines().filter(|l| l.contains(&tag)).collect()
}

/// The value of `key=` in an audit line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// A command run as `nobody` on `bus`, with a clean environment.
fn as_nobody(bus: &SystemBus, program: &str) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
        .uid(NOBODY)
        .gid(NOBODY);
    c
}

/// The crate's proxy on the well-known name, as the desktop uses it.
async fn well_known_proxy(conn: &zbus::Connection) -> Igotchuu1Proxy<'static> {
    Igotchuu1Proxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .unwrap()
}

/// `calls` Start calls as `nobody` through gdbus (interactive, on the
/// well-known name, so each may activate the helper), `parallel` at a
/// time. One line per call: `PID <pid of gdbus> <what gdbus printed>`.
const START_FLOOD: &str = r#"
calls=$1 parallel=$2; shift 2
one() {
    out=$(sh -c 'echo "PID $$"; exec gdbus "$@"' sh "$@" 2>&1 | tr '\n' ' ')
    printf '%s\n' "$out"
}
for l in $(seq "$parallel"); do
    ( for i in $(seq $((calls / parallel))); do one "$@"; done ) &
done
wait
"#;

#[test]
fn a_hundred_refused_starts_start_the_helper_once_and_back_up_now_still_works() {
    if !have_root("a_hundred_refused_starts_start_the_helper_once_and_back_up_now_still_works") {
        return;
    }
    require_tool("gdbus", "libglib2.0-bin");
    let w = BusFixture::new(BusSetup {
        activation: true,
        ..BusSetup::default()
    });
    let base = w.fx.baseline();
    let recorder = SignalRecorder::start(&w.bus);

    // Ten at a time: a few seconds here, well within IDLE_EXIT.
    let mut flood = as_nobody(&w.bus, "sh");
    flood
        .args(["-c", START_FLOOD, "sh", "100", "10"])
        .args(["call", "--system", "--dest", BUS_NAME])
        .args(["--object-path", OBJECT_PATH])
        .args(["--method", &format!("{INTERFACE}.Start")])
        .args(["--interactive", "--timeout", "60"]);
    let started = Instant::now();
    let done = Spawned::start("nobody's Start flood", flood).wait(wait::DEADLINE);
    let took = started.elapsed();
    assert!(w.fx.wrapper.invocations().is_empty(), "nothing ran");

    // "Back up now" from root still works, at once, on the helper that
    // refused (the answers are looked at afterwards).
    block_on(async {
        let conn = w.bus.connect().await;
        well_known_proxy(&conn)
            .await
            .start()
            .await
            .expect("root's Start after the flood");
    });
    // The helper that accepted it runs the backup.
    let serving = w.bus.activated();
    // One helper answered them all: refusals do not start it anew. Each
    // start keeps the name for IDLE_EXIT at least, so only a flood (and
    // Start) stretched past it by a slow machine may have met a second.
    let activated = activations(&w.bus);
    let allowed = 1 + (started.elapsed().as_secs() / IDLE_EXIT.as_secs()) as usize;
    assert!(
        activated <= allowed,
        "the bus started the helper {activated} times in {:?} for 100 refused Starts and \
         one allowed; under systemd that runs igotchuu-bus.service into its start limit",
        started.elapsed()
    );
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines.len(), 100, "{}", done.output());
    let mut pids = BTreeSet::new();
    let mut over_limit = 0;
    for line in &lines {
        let pid: u32 = line
            .strip_prefix("PID ")
            .and_then(|l| l.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no pid in {line:?}"));
        pids.insert(pid);
        if line.contains(LIMITS_EXCEEDED) {
            over_limit += 1;
        } else {
            assert!(
                line.contains(ACCESS_DENIED)
                    && line.contains("is not authorized to start a backup"),
                "nobody's Start: {line}\nbus log:\n{}",
                w.bus.log()
            );
        }
    }
    eprintln!("100 refused Starts in {took:?}, {over_limit} of them over the limit");
    assert_eq!(pids.len(), 100);

    // Every call is on record: nobody's uid, the pid of each gdbus (root's
    // own Start, from this process, is looked at below).
    let log = w.bus.log();
    let me = std::process::id().to_string();
    let audited: Vec<&str> = audit_lines(&log, "Start")
        .into_iter()
        .filter(|l| field(l, "pid") != Some(me.as_str()))
        .collect();
    assert_eq!(audited.len(), 100, "{log}");
    let mut audited_pids = BTreeSet::new();
    for line in &audited {
        assert!(line.contains("WARN"), "not at the default level: {line}");
        assert_eq!(field(line, "uid"), Some("65534"), "{line}");
        assert!(
            field(line, "sender").is_some_and(|s| s.starts_with(':')),
            "{line}"
        );
        let polkit = field(line, "polkit").unwrap_or_default();
        let reply = field(line, "reply").unwrap_or_default();
        assert!(
            (polkit == "denied" && reply == ACCESS_DENIED)
                || (polkit == "over-limit" && reply == LIMITS_EXCEEDED),
            "{line}"
        );
        audited_pids.insert(field(line, "pid").unwrap().parse::<u32>().unwrap());
    }
    assert_eq!(audited_pids, pids, "the audit log names each caller's pid");

    // Root's backup ran in the activated helper, which then left, and
    // nothing was started since.
    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    let (outcome, reason): (String, String) = fin.body();
    assert_eq!(outcome, "completed", "{reason}\nbus log:\n{}", w.bus.log());
    let runner = w.fx.wrapper.invocations()[0].ppid();
    assert!(serving.contains(&runner), "{runner} not in {serving:?}");
    assert!(wait::pid_gone_within(runner, wait::DEADLINE));
    assert_eq!(activations(&w.bus), activated);
    let history = w.fx.env.history();
    assert_eq!(history.runs.len(), 1, "{history:?}");
    assert_eq!(history.runs[0].outcome, Outcome::Completed);
    assert_eq!(w.fx.repo.snapshots().len(), 1);

    let log = w.bus.log();
    let root: Vec<&str> = audit_lines(&log, "Start")
        .into_iter()
        .filter(|l| field(l, "uid") == Some("0"))
        .collect();
    assert_eq!(root.len(), 1, "{log}");
    assert_eq!(field(root[0], "pid"), Some(me.as_str()), "{}", root[0]);
    assert_eq!(field(root[0], "polkit"), Some("allowed"), "{}", root[0]);
    assert_eq!(field(root[0], "reply"), Some("ok"), "{}", root[0]);
    w.fx.assert_clean(&base, "a Start flood and a backup");
}

/// A flood client as `nobody`: `conns` connections, each sending `calls`
/// interactive Stop calls at once, once the file `go` exists. It prints
/// `READY`, then a line `<connection> <reply>` per answer.
const STOP_FLOOD: &str = r#"
import os, sys, time
from gi.repository import Gio, GLib
addr, conns, calls, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
cs = [Gio.DBusConnection.new_for_address_sync(addr, flags, None, None) for _ in range(conns)]
print("READY", flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
loop = GLib.MainLoop()
left = [conns * calls]
def done(c, res, i):
    try:
        c.call_finish(res)
        out = "ok"
    except GLib.Error as e:
        out = Gio.DBusError.get_remote_error(e) or e.message
    print(i, out, flush=True)
    left[0] -= 1
    if left[0] == 0:
        loop.quit()
call_flags = Gio.DBusCallFlags.NO_AUTO_START | Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
for i, c in enumerate(cs):
    for _ in range(calls):
        c.call("com.nyantec.IGotChuu", "/com/nyantec/igotchuu", "com.nyantec.igotchuu1",
               "Stop", None, None, call_flags, 120000, None, done, i)
loop.run()
"#;

#[test]
fn a_flood_of_stops_is_capped_and_the_backup_completes() {
    if !have_root("a_flood_of_stops_is_capped_and_the_backup_completes") {
        return;
    }
    assert!(
        std::path::Path::new(PYTHON).exists(),
        "{PYTHON} with python3-gi is needed"
    );
    // polkit asks nobody for a password: a check that waits for a person.
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
    let base = w.fx.baseline();
    let recorder = SignalRecorder::start(&w.bus);
    w.fx.wrapper.hold(true);
    let run = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);

    const CONNS: usize = 3;
    const CALLS: usize = 10;
    let go_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        go_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let go = go_dir.path().join("go");
    let mut cmd = as_nobody(&w.bus, PYTHON);
    cmd.args(["-c", STOP_FLOOD, w.bus.address()])
        .arg(CONNS.to_string())
        .arg(CALLS.to_string())
        .arg(&go);
    let mut client = Spawned::start("nobody's Stop flood", cmd);
    let flooder = client.pid().to_string();
    client.wait_for_output("READY", wait::DEADLINE);
    // The flooder's own agent: it holds every check polkit gives it.
    let agent = PasswordAgent::for_process(&w.bus, client.pid());
    std::fs::write(&go, "").unwrap();

    // All but the capped few are refused at once.
    let over = CONNS * CALLS - PER_UID;
    let answers = |c: &Spawned| {
        c.stdout_so_far()
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect::<Vec<String>>()
    };
    wait::until(
        "the calls over the caps to be refused",
        wait::DEADLINE,
        || (answers(&client).len() >= over).then_some(()),
    );
    // Give a check that should not have been held time to be answered.
    std::thread::sleep(Duration::from_secs(1));
    let early = answers(&client);
    assert_eq!(early.len(), over, "{early:?}");
    let mut per_conn: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &early {
        let (conn, reply) = a.split_once(' ').unwrap();
        assert_eq!(reply, LIMITS_EXCEEDED, "{a}");
        *per_conn.entry(conn).or_default() += 1;
    }
    // Each connection had at most PER_NAME checks held, and the user
    // PER_UID in all; which connections got them is the race's to decide.
    let held: Vec<usize> = (0..CONNS)
        .map(|c| CALLS - per_conn.get(c.to_string().as_str()).copied().unwrap_or(0))
        .collect();
    assert!(held.iter().all(|&h| h <= PER_NAME), "{per_conn:?}");
    assert_eq!(held.iter().sum::<usize>(), PER_UID, "{per_conn:?}");
    // polkitd asks the agent in its own time, which a busy machine stretches.
    let request = agent.wait_request(wait::DEADLINE);
    assert_eq!(request.action_id, ACTION_STOP);

    // The person gives up; the held checks are refused.
    agent.answer(Answer::Dismiss);
    let done = client.wait(wait::DEADLINE);
    let replies: Vec<&str> = done.stdout.lines().skip(1).collect();
    assert_eq!(replies.len(), CONNS * CALLS);
    let denied = replies
        .iter()
        .filter(|r| r.ends_with(ACCESS_DENIED))
        .count();
    assert_eq!(denied, PER_UID, "{replies:?}");

    // The backup was never stopped.
    inv.release();
    let finished = run.wait(wait::DEADLINE);
    finished.assert_code(exit::COMPLETED);
    let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
    assert_eq!(fin.body::<(String, String)>().0, "completed");
    assert_eq!(w.fx.repo.snapshots().len(), 1);

    // Each call is on record with the flooder's uid and pid.
    let audited = audit_lines(&finished.stderr, "Stop");
    assert_eq!(audited.len(), CONNS * CALLS, "{}", finished.stderr);
    let mut results: HashMap<(String, String), usize> = HashMap::new();
    let mut senders = BTreeSet::new();
    for line in &audited {
        assert!(line.contains("WARN"), "not at the default level: {line}");
        assert_eq!(field(line, "uid"), Some("65534"), "{line}");
        assert_eq!(field(line, "pid"), Some(flooder.as_str()), "{line}");
        senders.insert(field(line, "sender").unwrap().to_owned());
        *results
            .entry((
                field(line, "polkit").unwrap().to_owned(),
                field(line, "reply").unwrap().to_owned(),
            ))
            .or_default() += 1;
    }
    assert_eq!(senders.len(), CONNS, "{senders:?}");
    assert_eq!(
        results,
        HashMap::from([
            (("over-limit".into(), LIMITS_EXCEEDED.into()), over),
            (("denied".into(), ACCESS_DENIED.into()), PER_UID),
        ]),
        "{}",
        finished.stderr
    );
    w.fx.assert_clean(&base, "a Stop flood and a backup");
}

/// A polkitd that takes every check and never answers it; it records the
/// checks and their cancellations.
struct HungPolkit {
    checks: Arc<Mutex<Vec<String>>>,
    cancelled: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    _conn: zbus::Connection,
}

struct HungAuthority {
    checks: Arc<Mutex<Vec<String>>>,
    cancelled: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

type Subject = (String, HashMap<String, OwnedValue>);

#[zbus::interface(name = "org.freedesktop.PolicyKit1.Authority")]
impl HungAuthority {
    async fn check_authorization(
        &self,
        _subject: Subject,
        _action_id: String,
        _details: HashMap<String, String>,
        _flags: u32,
        cancellation_id: String,
    ) -> zbus::fdo::Result<(bool, bool, HashMap<String, String>)> {
        self.checks.lock().unwrap().push(cancellation_id.clone());
        loop {
            if self.stop.load(Ordering::Relaxed)
                || self.cancelled.lock().unwrap().contains(&cancellation_id)
            {
                return Err(zbus::fdo::Error::Failed("cancelled".into()));
            }
            async_io::Timer::after(Duration::from_millis(20)).await;
        }
    }

    async fn cancel_check_authorization(&self, cancellation_id: String) {
        self.cancelled.lock().unwrap().push(cancellation_id);
    }
}

impl HungPolkit {
    fn start(bus: &SystemBus) -> Self {
        let checks = Arc::new(Mutex::new(Vec::new()));
        let cancelled = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let authority = HungAuthority {
            checks: checks.clone(),
            cancelled: cancelled.clone(),
            stop: stop.clone(),
        };
        let conn = block_on(async {
            zbus::connection::Builder::address(bus.address())
                .unwrap()
                .serve_at("/org/freedesktop/PolicyKit1/Authority", authority)
                .unwrap()
                .name(POLKIT_NAME)
                .unwrap()
                .build()
                .await
                .expect("the stand-in owns polkit's name")
        });
        HungPolkit {
            checks,
            cancelled,
            stop,
            _conn: conn,
        }
    }
}

impl Drop for HungPolkit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_polkit_that_never_answers_costs_a_stop_25_seconds_not_for_ever() {
    if !have_root("a_polkit_that_never_answers_costs_a_stop_25_seconds_not_for_ever") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    fx.write_files(&BTreeMap::from([("home/a.txt", "a\n")]));
    fx.env.write_spec(&fx.spec(&["home"]));
    // Root may own polkit's name (polkitd's own policy says user polkitd).
    let bus = SystemBus::with(BusOptions {
        extra_policy: open_policy(POLKIT_NAME),
        ..BusOptions::default()
    });
    fx.env.use_bus(bus.address());
    let polkit = HungPolkit::start(&bus);
    let base = fx.baseline();
    fx.wrapper.hold(true);
    let run = fx.env.spawn(&["backup"]);
    let inv = fx.wrapper.wait_started(1, wait::DEADLINE);

    // Root's Stop, without interaction (a script, not a person).
    let started = Instant::now();
    let reply = block_on(async {
        let conn = zbus::connection::Builder::address(bus.address())
            .unwrap()
            .method_timeout(CHECK_TIMEOUT + Duration::from_secs(20))
            .build()
            .await
            .unwrap();
        let owner = proxy::owner(&conn).await.unwrap().expect("the backup");
        let p = zbus::Proxy::new(&conn, owner, OBJECT_PATH, INTERFACE)
            .await
            .unwrap();
        p.call_with_flags::<_, _, ()>("Stop", MethodFlags::NoAutoStart.into(), &())
            .await
    });
    let took = started.elapsed();
    match &reply {
        Err(zbus::Error::MethodError(name, _, _)) if name.as_str() == TIMED_OUT => {}
        other => panic!("Stop with a hung polkit after {took:?}: {other:?}"),
    }
    assert!(
        took >= CHECK_TIMEOUT - Duration::from_secs(1)
            && took < CHECK_TIMEOUT + Duration::from_secs(10),
        "answered after {took:?}"
    );
    let checks = polkit.checks.lock().unwrap().clone();
    assert_eq!(checks.len(), 1);
    assert!(!checks[0].is_empty(), "the check has a cancellation id");
    wait::until("the check to be cancelled", wait::DEADLINE, || {
        (*polkit.cancelled.lock().unwrap() == checks).then_some(())
    });

    // The run goes on, and ends as it would have.
    inv.release();
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED);
    let audited = audit_lines(&done.stderr, "Stop");
    assert_eq!(audited.len(), 1, "{}", done.output());
    let me = std::process::id().to_string();
    assert_eq!(field(audited[0], "uid"), Some("0"));
    assert_eq!(field(audited[0], "pid"), Some(me.as_str()));
    assert_eq!(field(audited[0], "polkit"), Some("timed-out"));
    assert_eq!(field(audited[0], "reply"), Some(TIMED_OUT));
    drop(polkit);
    drop(bus);
    fx.assert_clean(&base, "a Stop that polkit never answered");
}
