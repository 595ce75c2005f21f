//! "Restore" under real systemd (a container booted on this machine's
//! `/usr` with the meson-installed tree, and the host's `/dev/fuse`): a
//! user's Restore call activates `igotchuu-bus.service`, whose sandbox is
//! what users have, and the copy is made as that user: their own 0600
//! file comes back, theirs, and root's 0600 file is left out and counted.
//! A user who is not an administrator cannot restore in place.

use igotchuu_dbus::{Operation, Outcome, BUS_NAME, INTERFACE, OBJECT_PATH};
use igotchuu_e2e::have_root;
use igotchuu_e2e::scenario::{Scenario, DATA, SOURCE};

/// `alice`, whom a polkit rule lets back up and restore into a folder,
/// and `bob`, who may do neither.
const USERS: &str = "g igotchuu-restorers -
u alice - \"a user\"
m alice igotchuu-restorers
u bob - \"another user\"
";

const RULE: &str = r#"polkit.addRule(function (action, subject) {
    if ((action.id == "com.nyantec.igotchuu.start" ||
         action.id == "com.nyantec.igotchuu.restore") &&
        subject.isInGroup("igotchuu-restorers")) {
        return polkit.Result.YES;
    }
});
"#;

#[test]
fn restore_under_systemd_copies_as_the_caller() {
    if !have_root("restore_under_systemd_copies_as_the_caller") {
        return;
    }
    let mut scenario = Scenario::install();
    scenario.with_fuse();
    scenario.etc_file("sysusers.d/igotchuu-test.conf", USERS, 0o644);
    scenario.etc_file("polkit-1/rules.d/50-igotchuu-test.rules", RULE, 0o644);
    let home = scenario.fs.path().join(SOURCE);
    std::fs::write(home.join("alices.txt"), "alice's\n").unwrap();
    std::fs::write(home.join("roots.txt"), "root's\n").unwrap();
    let results = scenario.run(&format!(
        r#"
as_user() {{ local u=$1; shift; env -i PATH=/usr/bin:/bin setpriv --reuid="$u" --regid="$u" --init-groups "$@"; }}
H={DATA}/{SOURCE}
chown alice "$H/alices.txt"; chmod 0600 "$H/alices.txt"
chown root "$H/roots.txt"; chmod 0600 "$H/roots.txt"
chmod 0755 "$H"
as_user alice timeout 120 igotchuu watch --start >$R/backup.out 2>&1 || echo "exit status $?" >>$R/backup.out
wait_until 60 "the backup's unit to end" unit_done igotchuu-bus.service
ID=$(igotchuu snapshots | sed -n 2p | cut -c1-8)
echo "$ID" >$R/id
# Not below /tmp or /var/tmp: the unit has its own (PrivateTmp=yes), and
# says so.
install -d -o alice -m 0700 /var/tmp/alice /srv/alice
call() {{ local u=$1; shift; as_user "$u" busctl --timeout=120 call {BUS_NAME} {OBJECT_PATH} {INTERFACE} "$@"; }}
record restore-tmp call alice Restore sss "$ID" "$H" /var/tmp/alice
record restore call alice Restore sss "$ID" "$H" /srv/alice
bus_gone() {{ [ "$(systemctl show -P ActiveState igotchuu-bus.service)" = inactive ] || [ "$(systemctl show -P ActiveState igotchuu-bus.service)" = failed ]; }}
wait_until 120 "the restore's unit to end" bus_gone
record listing ls -ln /srv/alice/{SOURCE}
record alices cat /srv/alice/{SOURCE}/alices.txt
record owner stat -c %U /srv/alice/{SOURCE}/alices.txt
record history cat /var/lib/igotchuu/history-admin.json
record in-place call bob RestoreInPlace ss "$ID" "$H/roots.txt"
record mounts cat /proc/self/mountinfo
"#
    ));
    let journal = || results.journal_of("igotchuu").join("\n");
    let reply = results.read("restore");
    assert!(
        reply.contains("/srv/alice/home"),
        "Restore under systemd: {reply}\n{}",
        journal()
    );
    assert_eq!(results.read("alices"), "alice's\n", "{}", journal());
    let tmp = results.read("restore-tmp");
    assert!(
        tmp.contains("target: \"/var/tmp/alice\"") && tmp.contains("choose a folder in your home"),
        "{tmp}"
    );
    assert_eq!(results.read("owner").trim(), "alice");
    let listing = results.read("listing");
    assert!(!listing.contains("roots.txt"), "{listing}");
    let history = results.history("history");
    let restore = history
        .runs
        .iter()
        .rev()
        .find(|r| r.operation == Operation::Restore)
        .unwrap_or_else(|| panic!("no restore in the history\n{}", journal()));
    assert_eq!(
        restore.outcome,
        Outcome::CompletedWithWarnings,
        "{}",
        restore.reason
    );
    assert!(
        restore
            .reason
            .contains("1 file or folder could not be read"),
        "{}",
        restore.reason
    );
    let refused = results.read("in-place");
    assert!(
        refused.contains("Access denied")
            || refused.contains("AccessDenied")
            || refused.contains("not authorized"),
        "{refused}"
    );
    let mounts = results.read("mounts");
    assert!(!mounts.contains(" - fuse restic "), "{mounts}");
}
