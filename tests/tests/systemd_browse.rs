//! "Browse" under real systemd (a container booted on this machine's `/usr`
//! with the meson-installed tree, and the host's `/dev/fuse`): an
//! administrator's Browse call activates `igotchuu-bus.service`, whose
//! sandbox has a private mount namespace, and the repository is mounted
//! all the same under `/run/igotchuu/browse` in the container's own
//! namespace (by `igotchuu-browse@<pid>.service`, in PID 1's namespace),
//! where other users' processes see it with the kernel's permission
//! checks; another user's Browse is refused, and a mount that fails says
//! why. CloseBrowse unmounts it and the unit exits; so does `systemctl
//! stop`, and killing the helper, or the browse unit, outright leaves
//! nothing mounted either.

use std::time::Duration;

use igotchuu_dbus::{BUS_NAME, INTERFACE, OBJECT_PATH};
use igotchuu_e2e::have_root;
use igotchuu_e2e::scenario::{Scenario, DATA, SOURCE};

/// `alice`, in a group a polkit rule lets start backups and browse, and
/// `bob`, who may do neither.
const USERS: &str = "g igotchuu-admins -
u alice - \"an administrator\"
m alice igotchuu-admins
u bob - \"another user\"
";

const RULE: &str = r#"polkit.addRule(function (action, subject) {
    if ((action.id == "com.nyantec.igotchuu.start" ||
         action.id == "com.nyantec.igotchuu.browse") &&
        subject.isInGroup("igotchuu-admins")) {
        return polkit.Result.YES;
    }
});
"#;

/// A D-Bus client that keeps its connection while it browses (the mount
/// lasts as long as the caller is on the bus), in Python's standard
/// library alone: `gdbus` and `busctl` leave the bus right after the
/// reply. Its arguments: the file that says close, then the bus name,
/// object path and interface. It prints Browse's reply (the path, or `ERROR name: message`),
/// then waits until that file exists and calls
/// CloseBrowse, or until it gets SIGTERM and leaves without a word.
const CLIENT: &str = r#"import os, socket, struct, sys, time

def pad(b, n):
    return b + b"\0" * (-len(b) % n)

class Bus:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect("/run/dbus/system_bus_socket")
        self.s.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
        assert self.s.recv(4096).startswith(b"OK "), "auth"
        self.s.sendall(b"BEGIN\r\n")
        self.serial = 0
        self.buf = b""

    def call(self, dest, path, iface, member):
        self.serial += 1
        fields = b""
        for code, sig, val in ((1, "o", path), (2, "s", iface), (3, "s", member), (6, "s", dest)):
            v = val.encode()
            fields = pad(fields, 8) + bytes([code, 1]) + sig.encode() + b"\0" + struct.pack("<I", len(v)) + v + b"\0"
        self.s.sendall(pad(b"l\1\0\1" + struct.pack("<III", 0, self.serial, len(fields)) + fields, 8))
        want = self.serial
        while True:
            kind, hdr, body = self.read()
            if kind in (2, 3) and hdr.get(5) == want:
                text = body[4:4 + struct.unpack_from("<I", body)[0]].decode() if body else ""
                return (text, None) if kind == 2 else (text, hdr.get(4))

    def recv(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            assert chunk, "the bus hung up"
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read(self):
        fixed = self.recv(16)
        assert fixed[0:1] == b"l"
        kind = fixed[1]
        body_len, _, fields_len = struct.unpack_from("<III", fixed, 4)
        raw = self.recv(fields_len + (-fields_len % 8))
        body = self.recv(body_len)
        hdr, i = {}, 0
        while i < fields_len:
            i += -i % 8
            code, siglen = raw[i], raw[i + 1]
            sig = raw[i + 2:i + 2 + siglen].decode()
            i += 3 + siglen
            if sig in ("s", "o"):
                i += -(i + 16) % 4
                n = struct.unpack_from("<I", raw, i)[0]
                hdr[code] = raw[i + 4:i + 4 + n].decode()
                i += 5 + n
            elif sig == "g":
                n = raw[i]
                hdr[code] = raw[i + 1:i + 1 + n].decode()
                i += 2 + n
            elif sig == "u":
                i += -(i + 16) % 4
                hdr[code] = struct.unpack_from("<I", raw, i)[0]
                i += 4
            else:
                raise ValueError(sig)
        return kind, hdr, body

bus = Bus()
bus.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")
name, path, iface = sys.argv[2:5]
text, error = bus.call(name, path, iface, "Browse")
print(text if error is None else "ERROR %s: %s" % (error, text), flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.1)
text, error = bus.call(name, path, iface, "CloseBrowse")
print("closed" if error is None else "ERROR %s: %s" % (error, text), flush=True)
"#;

#[test]
fn browse_mounts_in_the_host_namespace_under_systemd_and_every_end_unmounts() {
    if !have_root("browse_mounts_in_the_host_namespace_under_systemd_and_every_end_unmounts") {
        return;
    }
    let mut scenario = Scenario::install();
    // A backup, six mounts and a wait for the helper's idle exit
    // (helper/src/bus/gate.rs) may come near BOOT_LIMIT on a busy machine.
    scenario.time_limit(Duration::from_secs(300));
    scenario.with_fuse();
    scenario.etc_file("sysusers.d/igotchuu-test.conf", USERS, 0o644);
    scenario.etc_file("polkit-1/rules.d/50-igotchuu-test.rules", RULE, 0o644);
    scenario.scenario_file("browse.py", CLIENT);
    let home = scenario.fs.path().join(SOURCE);
    for (name, text, mode) in [
        ("open.txt", "open\n", 0o644),
        ("secret.txt", "secret\n", 0o600),
    ] {
        std::fs::write(home.join(name), text).unwrap();
        std::os::unix::fs::chown(home.join(name), Some(0), Some(0)).unwrap();
        std::fs::set_permissions(
            home.join(name),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .unwrap();
    }

    let password = scenario
        .inside(&scenario.repo.password_file())
        .display()
        .to_string();
    let locks = scenario
        .inside(&scenario.repo.location())
        .join("locks")
        .display()
        .to_string();
    let results = scenario.run(&format!(
        r#"
as_user() {{ local u=$1; shift; env -i PATH=/usr/bin:/bin setpriv --reuid="$u" --regid="$u" --init-groups "$@"; }}
# restic's FUSE mounts under /run/igotchuu/browse in this (the container's own) namespace.
# (No awk: /etc/alternatives is not in the container's fresh /etc.)
browse_mounts() {{ grep -E ' - fuse[^ ]* restic ' /proc/self/mountinfo | cut -d' ' -f5 | grep '^/run/igotchuu/browse/' || true; }}
mounted() {{ [ -n "$(browse_mounts)" ]; }}
unmounted() {{ [ -z "$(browse_mounts)" ]; }}
bus_gone() {{ [ "$(systemctl show -P ActiveState igotchuu-bus.service)" != active ] && [ "$(systemctl show -P ActiveState igotchuu-bus.service)" != deactivating ] && [ "$(systemctl show -P ActiveState igotchuu-bus.service)" != activating ]; }}
# browse NAME: alice browses in the background; her client's output in $R/NAME.
second_line() {{ [ -n "$(sed -n 2p "$1")" ]; }}
browse() {{ as_user alice python3 /srv/scenario/browse.py "$R/close-$1" {BUS_NAME} {OBJECT_PATH} {INTERFACE} >"$R/$1" 2>&1 & echo $! >"$R/$1.pid"; wait_until 120 "Browse's reply" test -s "$R/$1"; }}
record mounts-before cat /proc/self/mountinfo
record fuse ls -l /dev/fuse

# A backup to browse.
as_user alice timeout 120 igotchuu watch --start >$R/backup.out 2>&1 || echo "exit status $?" >>$R/backup.out
wait_until 60 "the backup's unit to end" unit_done igotchuu-bus.service

# 0. A mount that fails: the caller learns restic's reason.
cp {password} $R/password.saved
echo wrong >{password}
browse failing
touch $R/close-failing
wait_until 60 "CloseBrowse's reply" second_line $R/failing
cat $R/password.saved >{password}
record failing-unit systemctl list-units --all --no-legend --plain 'igotchuu-browse@*'

# 1. Browse, read as another user, CloseBrowse.
browse first
record first-mounts browse_mounts
P=$(head -n1 $R/first)
# Nothing more to see if Browse failed.
if ! [ -d "$P" ]; then touch "$R/done"; exit 0; fi
F="$P/snapshots/latest{DATA}/{SOURCE}"
# The browse unit mounted, in PID 1's namespace; the helper's is its own.
H=${{P##*/}}
record browse-unit systemctl show "igotchuu-browse@$H.service" -p ActiveState -p Type
BM=$(systemctl show -P MainPID "igotchuu-browse@$H.service")
same_ns() {{ [ "$(readlink /proc/$1/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ] && echo same || echo different; }}
same_ns "$BM" >$R/browse-unit-ns; same_ns "$H" >$R/helper-ns
# Another user's Browse is refused and changes nothing.
touch $R/close-bob
as_user bob timeout 60 python3 /srv/scenario/browse.py $R/close-bob {BUS_NAME} {OBJECT_PATH} {INTERFACE} >$R/bob-browse 2>&1 || true
record mounts-after-bob browse_mounts
record bob-open as_user bob cat "$F/open.txt"
record bob-secret as_user bob cat "$F/secret.txt"
record root-secret cat "$F/secret.txt"
record bus-while-browsing systemctl show igotchuu-bus.service -p ActiveState -p SubState
touch $R/close-first
wait_until 60 "CloseBrowse's reply" second_line $R/first
wait_until 30 "the unmount" unmounted
record first-mounts-after browse_mounts
wait_until 60 "igotchuu-bus.service to exit" bus_gone
record bus-after-close systemctl show igotchuu-bus.service -p ActiveState -p Result -p ExecMainStatus
record dir-after-close ls -A /run/igotchuu/browse
record browse-unit-after systemctl show "igotchuu-browse@$H.service" -p ActiveState

# 2. systemctl stop while mounted.
browse second
record second-mounts browse_mounts
systemctl stop igotchuu-bus.service
wait_until 30 "the unmount after systemctl stop" unmounted || true
record second-mounts-after browse_mounts
kill $(cat $R/second.pid) 2>/dev/null || true

# 3. The helper killed outright while mounted.
wait_until 60 "igotchuu-bus.service to exit" bus_gone
browse third
record third-mounts browse_mounts
systemctl kill -s KILL --kill-whom=main igotchuu-bus.service
wait_until 30 "the unmount after SIGKILL" unmounted || true
record third-mounts-after browse_mounts
kill $(cat $R/third.pid) 2>/dev/null || true
wait_until 60 "igotchuu-bus.service to exit" bus_gone

record locks-before-fourth ls -A {locks}
# 4. The browse unit killed outright, restic too: its ExecStopPost= detaches
# the dead mount; the helper notices at the next Browse and mounts again.
browse fourth
record fourth-mounts browse_mounts
H=$(head -n1 $R/fourth); H=${{H##*/}}
systemctl kill -s KILL "igotchuu-browse@$H.service"
wait_until 30 "the unmount after the browse unit was killed" unmounted || true
record fourth-mounts-after browse_mounts
# ExecStopPost= removes the folder after the mount is gone: give it time.
no_browse_dirs() {{ [ -z "$(ls -A /run/igotchuu/browse)" ]; }}
wait_until 30 "ExecStopPost to remove the folder" no_browse_dirs || true
record fourth-dir ls -A /run/igotchuu/browse
browse fourth-again
record fourth-again-mounts browse_mounts
touch $R/close-fourth $R/close-fourth-again
wait_until 60 "CloseBrowse's reply" second_line $R/fourth-again
wait_until 30 "the unmount" unmounted || true
record fourth-mounts-closed browse_mounts
# Its idle exit is seen in 1: no need to wait for it again.
systemctl stop igotchuu-bus.service
record units-after systemctl list-units --all --no-legend --plain 'igotchuu*'
"#
    ));
    let journal = || results.journal_of("igotchuu").join("\n");
    // The failed mount's reason came from the browse unit's STATUS=.
    let failing = results.read("failing");
    assert!(
        failing.starts_with(
            "ERROR org.freedesktop.DBus.Error.Failed: cannot mount the repository: restic mount failed"
        ) && failing.contains("wrong password"),
        "{failing}\n{}",
        journal()
    );
    assert!(
        results.read("failing-unit").contains(" failed "),
        "{}",
        results.read("failing-unit")
    );
    let first = results.read("first");
    let path = first.lines().next().unwrap_or_default();
    assert!(
        path.starts_with("/run/igotchuu/browse/"),
        "Browse under systemd: {first}\n/dev/fuse: {}\n{}",
        results.read("fuse"),
        journal()
    );
    assert_eq!(results.read("first-mounts").trim(), path, "{}", journal());
    let unit = results.properties("browse-unit");
    assert_eq!(
        (unit["ActiveState"].as_str(), unit["Type"].as_str()),
        ("active", "notify"),
        "{unit:?}"
    );
    assert_eq!(results.read("browse-unit-ns").trim(), "same");
    assert_eq!(results.read("helper-ns").trim(), "different");
    let bob = results.read("bob-browse");
    assert!(
        bob.starts_with("ERROR org.freedesktop.DBus.Error.AccessDenied"),
        "{bob}"
    );
    assert_eq!(results.read("mounts-after-bob").trim(), path);
    assert_eq!(results.read("bob-open"), "open\n");
    let refused = results.read("bob-secret");
    assert!(refused.contains("Permission denied"), "{refused}");
    assert_eq!(results.read("root-secret"), "secret\n");
    assert!(results
        .read("bus-while-browsing")
        .contains("ActiveState=active"));
    assert_eq!(first.lines().nth(1), Some("closed"), "{first}");
    assert_eq!(results.read("first-mounts-after"), "");
    let after = results.properties("bus-after-close");
    assert_eq!(
        (after["ActiveState"].as_str(), after["Result"].as_str()),
        ("inactive", "success"),
        "{after:?}\n{}",
        journal()
    );
    assert_eq!(results.read("dir-after-close"), "");
    assert_eq!(
        results.properties("browse-unit-after")["ActiveState"],
        "inactive"
    );

    for (case, what) in [("second", "systemctl stop"), ("third", "SIGKILL")] {
        let reply = results.read(case);
        assert!(
            reply.starts_with("/run/igotchuu/browse/"),
            "{case}: {reply}\n{}",
            journal()
        );
        assert!(!results.read(&format!("{case}-mounts")).is_empty());
        assert_eq!(
            results.read(&format!("{case}-mounts-after")),
            "",
            "still mounted after {what}\n{}",
            journal()
        );
    }
    assert!(!results.read("fourth-mounts").is_empty());
    assert_eq!(
        results.read("fourth-mounts-after"),
        "",
        "still mounted after the browse unit was killed\n{}",
        results.journal_of("systemd").join("\n")
    );
    assert_eq!(results.read("fourth-dir"), "");
    // The session's mount was gone: the next Browse mounted again.
    let again = results.read("fourth-again");
    assert!(again.starts_with("/run/igotchuu/browse/"), "{again}");
    assert_eq!(
        results.read("fourth-again-mounts").trim(),
        again.lines().next().unwrap()
    );
    assert_eq!(results.read("fourth-mounts-closed"), "");
    // Nothing but what browse-mount and restic say, and systemd of them.
    let noise: Vec<String> = results
        .journal()
        .lines()
        .filter(|l| l.contains(" umount[") || l.contains(" rmdir[") || l.contains(" sh["))
        .map(str::to_owned)
        .collect();
    assert!(noise.is_empty(), "{noise:#?}");
    let units = results.read("units-after");
    assert!(!units.contains(" active "), "{units}");
    // restic's locks went with each mount; only a restic killed outright
    // (case 4) leaves its non-exclusive lock, stale once its process is gone.
    assert_eq!(results.read("locks-before-fourth"), "");
}
