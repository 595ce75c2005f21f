//! "Back up now" under real systemd (a container booted on this machine's
//! `/usr` with the meson-installed tree): a `Start` call to the unowned name
//! makes the system dbus-daemon ask systemd for `igotchuu-bus.service`
//! (the activation file's `SystemdService=`), and the real polkitd decides
//! with the installed actions and a rule: an administrator's backup runs,
//! another user's `Start` is refused.

use igotchuu_dbus::history::History;
use igotchuu_dbus::Outcome;
use igotchuu_e2e::have_root;
use igotchuu_e2e::scenario::{Scenario, SOURCE};

/// Two users: `alice`, in a group that a polkit rule lets back up (the
/// README's rule), and `bob`, whom polkit refuses (not in an active
/// local session, so not even asked for a password).
const USERS: &str = "g igotchuu-admins -
u alice - \"an administrator\"
m alice igotchuu-admins
u bob - \"another user\"
";

const RULE: &str = r#"polkit.addRule(function (action, subject) {
    if ((action.id == "com.nyantec.igotchuu.start" ||
         action.id == "com.nyantec.igotchuu.stop") &&
        subject.isInGroup("igotchuu-admins")) {
        return polkit.Result.YES;
    }
});
"#;

#[test]
fn back_up_now_activates_the_bus_unit_for_an_administrator_and_refuses_another_user() {
    if !have_root(
        "back_up_now_activates_the_bus_unit_for_an_administrator_and_refuses_another_user",
    ) {
        return;
    }
    let mut scenario = Scenario::install();
    scenario.etc_file("sysusers.d/igotchuu-test.conf", USERS, 0o644);
    scenario.etc_file("polkit-1/rules.d/50-igotchuu-test.rules", RULE, 0o644);

    let results = scenario.run(
        r#"
# runuser needs PAM, which this fresh /etc has not.
id -u alice >$R/alice.uid; id -u bob >$R/bob.uid
as_user() { local u=$1; shift; env -i PATH=/usr/bin:/bin setpriv --reuid="$u" --regid="$u" --init-groups "$@"; }
status=0; as_user alice timeout 120 igotchuu watch --start >$R/alice.out 2>&1 || status=$?
echo $status >$R/alice.status
wait_until 60 "igotchuu-bus.service to end" unit_done igotchuu-bus.service
record bus-after-alice systemctl show igotchuu-bus.service -p Result -p ExecMainStatus -p ActiveState -p FragmentPath -p DropInPaths
record history cat /var/lib/igotchuu/history.json
status=0; as_user bob timeout 60 igotchuu watch --start >$R/bob.out 2>&1 || status=$?
echo $status >$R/bob.status
record history-after-bob cat /var/lib/igotchuu/history.json
record scheduled systemctl show igotchuu.service -p ExecMainStartTimestampMonotonic
"#,
    );
    let journal = || results.journal_of("igotchuu").join("\n");

    // The administrator's backup ran in the bus unit and completed.
    assert_eq!(
        results.read("alice.status").trim(),
        "0",
        "{}\n{}",
        results.read("alice.out"),
        journal()
    );
    assert!(results.read("alice.out").contains("Completed"));
    let bus = results.properties("bus-after-alice");
    assert_eq!(
        (
            bus["Result"].as_str(),
            bus["ExecMainStatus"].as_str(),
            bus["ActiveState"].as_str()
        ),
        ("success", "0", "inactive"),
        "{bus:?}\n{}",
        journal()
    );
    assert!(bus["FragmentPath"].ends_with("/lib/systemd/system/igotchuu-bus.service"));
    assert_eq!(bus["DropInPaths"], "");
    let history = History::from_json(results.read("history").as_bytes()).unwrap();
    assert_eq!(history.runs.len(), 1);
    assert_eq!(
        history.runs[0].outcome,
        Outcome::Completed,
        "{}",
        history.runs[0].reason
    );
    assert_eq!(scenario.repo.snapshots().len(), 1);

    // The other user is refused by polkit, and nothing runs.
    let bob = results.read("bob.out");
    assert_eq!(results.read("bob.status").trim(), "69", "{bob}");
    assert!(
        bob.contains("AccessDenied") && bob.contains("not authorized"),
        "{bob}"
    );
    assert_eq!(results.read("history-after-bob"), results.read("history"));
    assert_eq!(scenario.repo.snapshots().len(), 1);

    // Both calls were answered by D-Bus activation through systemd, by the
    // name's unit; the helper was never started otherwise.
    let activations: Vec<String> = results
        .journal()
        .lines()
        .filter(|l| l.contains("Activating via systemd: service name='com.nyantec.IGotChuu' unit='igotchuu-bus.service'"))
        .map(str::to_owned)
        .collect();
    assert_eq!(activations.len(), 2, "{activations:#?}");
    for (activation, user) in activations.iter().zip(["alice", "bob"]) {
        let uid = results.read(&format!("{user}.uid"));
        assert!(
            activation.contains(&format!("(uid={} ", uid.trim())),
            "{user}: {activation}"
        );
    }
    assert_eq!(
        results.properties("scheduled")["ExecMainStartTimestampMonotonic"],
        "0",
        "igotchuu.service ran"
    );
    assert_eq!(scenario.fs.list_subvolumes(), [SOURCE]);
    assert!(scenario.repo.locks().is_empty());
}
