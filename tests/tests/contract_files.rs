//! The contract files, checked with the real tools that will read them:
//! the interface XML against the seed, the polkit policy with xmllint and
//! its DTD, the systemd units with `systemd-analyze`, and the bus policy and
//! activation file with a private `dbus-daemon`.
//!
//! The bus tests need root (they own a system-bus name and run a client as
//! `nobody`); the others run anywhere the tools are installed. Every check
//! that a tool accepts a file is paired with one that it refuses a broken
//! copy, so that a tool that accepts anything cannot make a test pass.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use igotchuu_dbus::errors::{self, Error as BusError};
use igotchuu_dbus::{
    proxy, ACTION_BROWSE, ACTION_RESTORE, ACTION_RESTORE_IN_PLACE, ACTION_START, ACTION_STOP,
    BUS_NAME, INTERFACE, OBJECT_PATH, PUBLIC_OBJECT_PATH,
};
use igotchuu_e2e::iface::{
    self, element_children, member, members, parse_xml, read_repo_file, Member,
};
use igotchuu_e2e::sysbus::{
    require_tool, substituted, Activation, BusOptions, SystemBus, BUS_POLICY,
};
use roxmltree::{Document, Node, NodeType};
use tempfile::TempDir;

// ---------------------------------------------------------------- helpers

fn read(rel: &str) -> String {
    read_repo_file(rel)
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ------------------------------------------------------- interface XML

const XML: &str = iface::CONTRACT_XML;
const SEED: &str = iface::SEED_XML;

/// The one interface of a contract file: the root node is the object, and
/// it has nothing else.
fn interface<'a, 'i>(doc: &'a Document<'i>) -> Node<'a, 'i> {
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "node");
    assert_eq!(root.attribute("name"), Some(OBJECT_PATH));
    assert_eq!(iface::interface_names(doc), [INTERFACE], "one interface");
    iface::find_interface(doc, INTERFACE).expect("the interface")
}

fn args(list: &[(&str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned(), String::new()))
        .collect()
}

#[test]
fn interface_keeps_the_seed_argument_for_argument() {
    let seed_xml = read(SEED);
    let seed_doc = parse_xml(&seed_xml);
    let seed = members(interface(&seed_doc));
    // The fixture really is the seed: one method, four signals.
    let names: Vec<_> = seed.keys().map(|(k, n)| format!("{k} {n}")).collect();
    assert_eq!(
        names,
        [
            "method Stop",
            "signal BackupComplete",
            "signal BackupStarted",
            "signal Error",
            "signal Progress",
        ]
    );
    assert_eq!(seed[&("signal".into(), "Progress".into())].args.len(), 9);
    assert_eq!(
        seed[&("signal".into(), "BackupComplete".into())].args.len(),
        14
    );

    let ours_xml = read(XML);
    let ours_doc = parse_xml(&ours_xml);
    let ours = members(interface(&ours_doc));
    for (key, m) in &seed {
        assert_eq!(ours.get(key), Some(m), "{key:?} must stay as in the seed");
    }
}

#[test]
fn additions_are_the_decided_ones_and_each_is_documented() {
    let seed_xml = read(SEED);
    let seed_doc = parse_xml(&seed_xml);
    let seed = members(interface(&seed_doc));
    let ours_xml = read(XML);
    let ours_doc = parse_xml(&ours_xml);
    let iface = interface(&ours_doc);

    let prop = |name: &str, ty: &str| Member {
        kind: "property".into(),
        name: name.into(),
        args: vec![(String::new(), ty.into(), "read".into())],
        annotations: vec![],
    };
    let expected: BTreeSet<Member> = [
        Member {
            kind: "method".into(),
            name: "Start".into(),
            args: vec![],
            annotations: vec![],
        },
        Member {
            kind: "method".into(),
            name: "Browse".into(),
            args: vec![("path".into(), "s".into(), "out".into())],
            annotations: vec![],
        },
        Member {
            kind: "method".into(),
            name: "CloseBrowse".into(),
            args: vec![],
            annotations: vec![],
        },
        Member {
            kind: "method".into(),
            name: "Snapshots".into(),
            args: vec![("snapshots".into(), "a(stssasassbtts)".into(), "out".into())],
            annotations: vec![],
        },
        Member {
            kind: "method".into(),
            name: "Restore".into(),
            args: [
                ("snapshot", "in"),
                ("path", "in"),
                ("target", "in"),
                ("restored_to", "out"),
            ]
            .map(|(n, d)| (n.to_owned(), "s".to_owned(), d.to_owned()))
            .into(),
            annotations: vec![],
        },
        Member {
            kind: "method".into(),
            name: "RestoreInPlace".into(),
            args: [("snapshot", "in"), ("path", "in")]
                .map(|(n, d)| (n.to_owned(), "s".to_owned(), d.to_owned()))
                .into(),
            annotations: vec![],
        },
        Member {
            kind: "signal".into(),
            name: "BackupFinished".into(),
            args: args(&[("outcome", "s"), ("reason", "s")]),
            annotations: vec![],
        },
        Member {
            kind: "signal".into(),
            name: "ErrorsFolded".into(),
            args: args(&[("count", "t")]),
            annotations: vec![],
        },
        // Issue 12: every operation (backup, forget, prune, check) is
        // bracketed by these two, and the property says which one runs.
        Member {
            kind: "signal".into(),
            name: "OperationStarted".into(),
            args: args(&[("operation", "s")]),
            annotations: vec![],
        },
        Member {
            kind: "signal".into(),
            name: "OperationFinished".into(),
            args: args(&[("operation", "s"), ("outcome", "s"), ("reason", "s")]),
            annotations: vec![],
        },
        prop("Operation", "s"),
        prop("Phase", "s"),
        prop("Progress", "(ttdtttttas)"),
        prop("StartedAt", "t"),
        prop("Profile", "s"),
        prop("Places", "as"),
        prop("ErrorCount", "t"),
    ]
    .into_iter()
    .collect();

    let mut additions = BTreeSet::new();
    for node in element_children(iface) {
        let m = member(node);
        // Every type is a valid D-Bus signature.
        for (_, ty, _) in &m.args {
            zbus::zvariant::Signature::try_from(ty.as_str())
                .unwrap_or_else(|e| panic!("{} has a bad type {ty}: {e}", m.name));
        }
        if seed.contains_key(&(m.kind.clone(), m.name.clone())) {
            continue;
        }
        // The nearest non-blank node before an addition is its comment.
        let comment = node
            .prev_siblings()
            .skip(1)
            .find(|n| !(n.is_text() && n.text().is_some_and(|t| t.trim().is_empty())))
            .filter(|n| n.node_type() == NodeType::Comment)
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("{} {} has no comment before it", m.kind, m.name));
        assert!(
            comment.contains("Addition"),
            "the comment before {} says it is an addition: {comment}",
            m.name
        );
        // No annotation may turn PropertiesChanged off.
        assert!(element_children(node).all(|a| !a.has_tag_name("annotation")));
        additions.insert(m);
    }
    assert_eq!(additions, expected);

    // The Progress property is the Progress signal's fields, in order.
    let signal_types: String = member(
        element_children(iface)
            .find(|n| n.has_tag_name("signal") && n.attribute("name") == Some("Progress"))
            .unwrap(),
    )
    .args
    .iter()
    .map(|(_, t, _)| t.as_str())
    .collect();
    assert_eq!(format!("({signal_types})"), "(ttdtttttas)");
}

#[test]
fn interface_documents_the_names_the_crate_uses() {
    let xml = read(XML);
    for name in [
        errors::ALREADY_RUNNING,
        errors::NOT_RUNNING,
        ACTION_START,
        ACTION_STOP,
        ACTION_BROWSE,
        BUS_NAME,
        "org.freedesktop.DBus.Error.AccessDenied",
        "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
    ] {
        assert!(xml.contains(name), "{XML} does not mention {name}");
    }
    for outcome in [
        "completed",
        "completed-with-warnings",
        "failed",
        "stopped",
        "postponed",
    ] {
        assert!(xml.contains(&format!("\"{outcome}\"")), "outcome {outcome}");
        outcome.parse::<igotchuu_dbus::Outcome>().unwrap();
    }
    for phase in [
        "idle",
        "preparing",
        "snapshotting",
        "backing-up",
        "forgetting",
        "pruning",
        "checking",
        "stopping",
        "cleaning-up",
    ] {
        assert!(xml.contains(&format!("\"{phase}\"")), "phase {phase}");
        igotchuu_dbus::Phase::from_property(phase).unwrap();
    }
    for operation in ["backup", "forget", "prune", "check"] {
        assert!(
            xml.contains(&format!("\"{operation}\"")),
            "operation {operation}"
        );
        operation.parse::<igotchuu_dbus::Operation>().unwrap();
    }
}

// ----------------------------------------------------------------- polkit

const POLICY: &str = "polkit/com.nyantec.igotchuu.policy";
const POLKIT_DTD: &str = "/usr/share/polkit-1/policyconfig-1.dtd";

fn xmllint_dtd(file: &Path) -> Output {
    output(
        Command::new("xmllint")
            .args(["--noout", "--nonet", "--dtdvalid", POLKIT_DTD])
            .arg(file),
    )
}

#[test]
fn polkit_policy_is_valid_and_has_both_actions() {
    require_tool("xmllint", "libxml2-utils");
    assert!(
        Path::new(POLKIT_DTD).is_file(),
        "{POLKIT_DTD} is missing: install the Debian package polkitd"
    );
    let out = xmllint_dtd(&igotchuu_e2e::repo_root().join(POLICY));
    assert!(out.status.success(), "xmllint: {}", text(&out));

    // xmllint really validates: an element the DTD does not allow fails.
    let dir = TempDir::new().unwrap();
    let broken = dir.path().join("broken.policy");
    let policy = read(POLICY);
    std::fs::write(&broken, policy.replace("<defaults>", "<defaults><bogus/>")).unwrap();
    assert!(
        !xmllint_dtd(&broken).status.success(),
        "xmllint took a bad policy"
    );

    let doc = parse_xml(&policy);
    let mut ids = BTreeSet::new();
    for action in doc.descendants().filter(|n| n.has_tag_name("action")) {
        let id = action.attribute("id").unwrap();
        ids.insert(id.to_owned());
        let child_text = |tag: &str| {
            action
                .descendants()
                .find(|n| n.has_tag_name(tag))
                .and_then(|n| n.text())
                .unwrap_or_else(|| panic!("{id} has no {tag}"))
                .trim()
                .to_owned()
        };
        assert!(!child_text("description").is_empty());
        assert!(
            child_text("message").starts_with("Authentication is required to "),
            "{id}: the message says what needs authentication"
        );
        assert_eq!(child_text("allow_any"), "no", "{id}");
        assert_eq!(child_text("allow_inactive"), "no", "{id}");
        // Restoring over the originals asks an administrator every time.
        let active = if id == ACTION_RESTORE_IN_PLACE {
            "auth_admin"
        } else {
            "auth_admin_keep"
        };
        assert_eq!(child_text("allow_active"), active, "{id}");
    }
    let expected: BTreeSet<String> = [
        ACTION_START,
        ACTION_STOP,
        ACTION_BROWSE,
        ACTION_RESTORE,
        ACTION_RESTORE_IN_PLACE,
    ]
    .map(String::from)
    .into();
    assert_eq!(ids, expected);
}

// ---------------------------------------------------------------- systemd

const SERVICE: &str = "igotchuu.service";
const BUS_SERVICE: &str = "igotchuu-bus.service";
const PRUNE_SERVICE: &str = "igotchuu-prune.service";
const CHECK_SERVICE: &str = "igotchuu-check.service";
/// Every service, each running the helper in the same sandbox.
const SERVICES: [&str; 4] = [SERVICE, BUS_SERVICE, PRUNE_SERVICE, CHECK_SERVICE];
/// The template the helper has systemd start to mount for Browse: not the
/// helper's sandbox (see browse_unit_mounts_for_the_host_with_less_than_the_helper).
const BROWSE_SERVICE: &str = "igotchuu-browse@.service";
const TIMERS: [&str; 3] = [
    "igotchuu.timer",
    "igotchuu-prune.timer",
    "igotchuu-check.timer",
];

/// A folder with a stub `igotchuu` that records its arguments in `args`,
/// to stand for `@bindir@`.
fn stub_bindir() -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("igotchuu-contract-")
        .tempdir()
        .unwrap();
    let stub = dir.path().join("igotchuu");
    let record = dir.path().join("args");
    std::fs::write(
        &stub,
        format!("#!/bin/sh\necho \"$@\" > '{}'\nexit 1\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Readable by everyone: the bus tests put sockets here too.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Every unit side by side, as they would be installed: the services
/// first (the browse template last), then the timers.
fn write_units(dir: &Path) -> Vec<PathBuf> {
    let mut units = Vec::new();
    for name in SERVICES.iter().chain(&[BROWSE_SERVICE]) {
        let unit = dir.join(name);
        std::fs::write(&unit, substituted(&format!("data/{name}.in"), dir)).unwrap();
        units.push(unit);
    }
    for name in TIMERS {
        let unit = dir.join(name);
        std::fs::write(&unit, read(&format!("data/{name}"))).unwrap();
        units.push(unit);
    }
    units
}

fn verify(units: &[PathBuf]) -> Output {
    output(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .args(units)
            .env("SYSTEMD_LOG_COLOR", "0"),
    )
}

#[test]
fn systemd_units_verify_together() {
    require_tool("systemd-analyze", "systemd");
    let dir = stub_bindir();
    let units = write_units(dir.path());
    // All at once: systemd refuses some combinations that each unit alone
    // would pass (two units with one BusName=, for one).
    let out = verify(&units);
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}",
        text(&out)
    );
    // Warnings (an unknown key, a bad value) do not change the exit status;
    // none may name our units.
    let all = text(&out);
    for unit in SERVICES.iter().chain(&[BROWSE_SERVICE]).chain(&TIMERS) {
        assert!(!all.contains(unit), "systemd-analyze warned:\n{all}");
    }

    // systemd-analyze really checks: a unit whose program is missing fails.
    let broken = dir.path().join(BUS_SERVICE);
    let unit = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(
        &broken,
        unit.replace(dir.path().to_str().unwrap(), "/nonexistent"),
    )
    .unwrap();
    assert!(
        !verify(&units).status.success(),
        "verify took a broken unit"
    );
}

#[test]
fn systemd_services_stay_hardened() {
    require_tool("systemd-analyze", "systemd");
    let dir = stub_bindir();
    let units = write_units(dir.path());
    // Exposure 4.0 or less ("OK"): a sandbox line lost on the way fails this.
    // And one sandbox, one score: the upkeep services are no more exposed
    // than the backup.
    let mut scores = BTreeMap::new();
    for (unit, name) in units.iter().zip(SERVICES) {
        let out = output(
            Command::new("systemd-analyze")
                .args(["security", "--offline=true", "--threshold=40", "--no-pager"])
                .arg(unit),
        );
        assert!(out.status.success(), "{name}: {}", text(&out));
        scores.insert(name, exposure(&text(&out), name));
    }
    eprintln!("systemd-analyze security --offline: {scores:?}");
    // The bus unit alone keeps CAP_SETUID and CAP_SETGID (the copy of a
    // Restore runs as the caller): that much more, and no more.
    for name in SERVICES {
        let allowed = if name == BUS_SERVICE { 0.3 } else { 0.0 };
        assert!(
            scores[name] <= scores[SERVICE] + allowed + 1e-9,
            "{name}: {scores:?}"
        );
    }
}

/// The overall exposure level `systemd-analyze security` gives `unit`.
fn exposure(report: &str, unit: &str) -> f64 {
    report
        .lines()
        .find_map(|l| {
            l.split(&format!("Overall exposure level for {unit}:"))
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level for {unit} in:\n{report}"))
}

/// `section` → `key` → values, comments and blank lines left out.
type Unit = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn parse_unit(s: &str) -> Unit {
    let mut unit = Unit::new();
    let mut section = String::new();
    for line in s.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').expect("key=value");
        unit.entry(section.clone())
            .or_default()
            .entry(key.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    unit
}

fn one<'a>(unit: &'a Unit, section: &str, key: &str) -> &'a str {
    match unit
        .get(section)
        .and_then(|s| s.get(key))
        .map(Vec::as_slice)
    {
        Some([v]) => v,
        other => panic!("[{section}] {key}: expected one value, found {other:?}"),
    }
}

#[test]
fn systemd_units_say_what_was_decided() {
    let service = parse_unit(&read("data/igotchuu.service.in"));
    let bus = parse_unit(&read("data/igotchuu-bus.service.in"));
    let prune = parse_unit(&read("data/igotchuu-prune.service.in"));
    let check = parse_unit(&read("data/igotchuu-check.service.in"));

    // Timers start the scheduled runs, to which the run conditions apply;
    // "Back up now" (serve) overrides them.
    assert_eq!(
        one(&service, "Service", "ExecStart"),
        "@bindir@/igotchuu backup --scheduled"
    );
    assert_eq!(
        one(&prune, "Service", "ExecStart"),
        "@bindir@/igotchuu prune --scheduled"
    );
    assert_eq!(
        one(&check, "Service", "ExecStart"),
        "@bindir@/igotchuu check --scheduled"
    );
    assert_eq!(one(&bus, "Service", "ExecStart"), "@bindir@/igotchuu serve");
    assert_eq!(one(&bus, "Service", "Type"), "dbus");
    assert_eq!(one(&bus, "Service", "BusName"), BUS_NAME);
    // Only one unit may claim the bus name (see systemd_units_verify_together).
    for unit in [&service, &prune, &check] {
        assert!(!unit["Service"].contains_key("BusName"));
        assert_eq!(one(unit, "Service", "Type"), "exec");
    }

    for unit in [&service, &bus, &prune, &check] {
        assert_eq!(one(unit, "Service", "StateDirectory"), "igotchuu");
        assert_eq!(one(unit, "Service", "KillSignal"), "SIGINT");
        assert_eq!(one(unit, "Service", "RestrictNamespaces"), "mnt");
        // 3 completed with warnings, 5 postponed, 130 stopped: none fails.
        let success: Vec<&str> = one(unit, "Service", "SuccessExitStatus")
            .split_whitespace()
            .collect();
        assert_eq!(success, ["3", "5", "130"]);
        let filter = one(unit, "Service", "SystemCallFilter");
        assert!(filter.contains("@system-service") && filter.contains("@mount"));
        let caps = one(unit, "Service", "CapabilityBoundingSet");
        for cap in ["CAP_SYS_ADMIN", "CAP_DAC_READ_SEARCH"] {
            assert!(caps.split_whitespace().any(|c| c == cap), "{cap}");
        }
        // /home is what gets backed up.
        assert!(!unit["Service"].contains_key("ProtectHome"));
    }

    // The services share one sandbox: everything but what they run, and
    // how long the upkeep may take.
    let sandbox = |u: &Unit| {
        let mut u = u.clone();
        for key in [
            "Type",
            "BusName",
            "ExecStart",
            "RuntimeMaxSec",
            "CapabilityBoundingSet",
        ] {
            u.get_mut("Service").unwrap().remove(key);
        }
        u.get_mut("Unit").unwrap().remove("Description");
        u
    };
    for (name, unit) in [
        (BUS_SERVICE, &bus),
        (PRUNE_SERVICE, &prune),
        (CHECK_SERVICE, &check),
    ] {
        assert_eq!(
            sandbox(&service),
            sandbox(unit),
            "{name} drifted apart from {SERVICE}"
        );
    }
    // One bounding set, but the bus unit's restores copy as the caller.
    let caps = |u: &Unit| -> BTreeSet<String> {
        one(u, "Service", "CapabilityBoundingSet")
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(caps(&prune), caps(&service));
    assert_eq!(caps(&check), caps(&service));
    let mut with_setuid = caps(&service);
    with_setuid.extend(["CAP_SETUID".to_owned(), "CAP_SETGID".to_owned()]);
    assert_eq!(caps(&bus), with_setuid);
    // A postponed scheduled run waits up to 24 h for its condition to clear
    // before it runs: each limit leaves a day or more after that.
    assert_eq!(one(&service, "Service", "RuntimeMaxSec"), "2d");
    assert_eq!(one(&bus, "Service", "RuntimeMaxSec"), "2d");
    assert_eq!(one(&prune, "Service", "RuntimeMaxSec"), "3d");
    assert_eq!(one(&check, "Service", "RuntimeMaxSec"), "3d");

    for (name, calendar) in [
        ("igotchuu.timer", "daily"),
        ("igotchuu-prune.timer", "weekly"),
        ("igotchuu-check.timer", "monthly"),
    ] {
        let timer = parse_unit(&read(&format!("data/{name}")));
        assert_eq!(one(&timer, "Timer", "OnCalendar"), calendar, "{name}");
        assert_eq!(one(&timer, "Timer", "Persistent"), "true", "{name}");
        assert_eq!(one(&timer, "Timer", "RandomizedDelaySec"), "1h", "{name}");
        assert_eq!(one(&timer, "Install", "WantedBy"), "timers.target");
        // Each starts the service of its own name.
        assert!(!timer["Timer"].contains_key("Unit"), "{name}");
    }
    assert!(TIMERS
        .iter()
        .all(|t| SERVICES.contains(&t.replace(".timer", ".service").as_str())));
}

#[test]
fn activation_file_names_the_helper_and_its_unit() {
    let file = read("dbus/com.nyantec.IGotChuu.service.in");
    let unit = parse_unit(&file);
    assert_eq!(one(&unit, "D-BUS Service", "Name"), BUS_NAME);
    assert_eq!(
        one(&unit, "D-BUS Service", "Exec"),
        "@bindir@/igotchuu serve"
    );
    assert_eq!(one(&unit, "D-BUS Service", "User"), "root");
    let systemd_unit = one(&unit, "D-BUS Service", "SystemdService");
    assert_eq!(systemd_unit, BUS_SERVICE);
    assert!(igotchuu_e2e::repo_root()
        .join(format!("data/{systemd_unit}.in"))
        .is_file());
}

// -------------------------------------------------------- private bus

/// A private bus (see the harness's `sysbus`) whose activation file runs
/// a stub `igotchuu` that records its arguments in `args` and fails.
struct PrivateBus {
    bus: SystemBus,
    address: String,
    stub: TempDir,
}

impl PrivateBus {
    /// Starts a bus with the repository's policy, or with none.
    fn start(with_policy: bool) -> Self {
        let stub = stub_bindir();
        let bus = SystemBus::with(BusOptions {
            policy: with_policy,
            polkit: false,
            activation: Some(Activation {
                program: stub.path().join("igotchuu"),
                extra_args: vec![],
                env: vec![],
            }),
            ..BusOptions::default()
        });
        let address = bus.address().to_owned();
        PrivateBus { bus, address, stub }
    }

    /// `dbus-send` on this bus, as root or as `nobody`.
    async fn send(&self, as_nobody: bool, args: &[&str]) -> Output {
        let std = if as_nobody {
            self.bus.command_as("nobody", "dbus-send")
        } else {
            self.bus.command("dbus-send")
        };
        let mut cmd = tokio::process::Command::from(std);
        cmd.args(["--system", "--print-reply", "--reply-timeout=10000"])
            .args(args);
        cmd.output().await.expect("run dbus-send")
    }

    async fn request_name(&self, as_nobody: bool) -> Output {
        self.send(
            as_nobody,
            &[
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.RequestName",
                &format!("string:{BUS_NAME}"),
                "uint32:4",
            ],
        )
        .await
    }

    async fn connect(&self) -> zbus::Connection {
        self.bus.connect().await
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";

#[test]
fn dbus_daemon_accepts_the_policy_and_refuses_a_broken_one() {
    if !igotchuu_e2e::have_root("dbus_daemon_accepts_the_policy_and_refuses_a_broken_one") {
        return;
    }
    // Accepted: the bus starts (PrivateBus::start asserts it).
    drop(PrivateBus::start(true));

    let dir = stub_bindir();
    let broken = dir.path().join("broken.conf");
    let policy = read(BUS_POLICY);
    std::fs::write(&broken, policy.replace("</busconfig>", "")).unwrap();
    let refused = SystemBus::try_with(BusOptions {
        policy: false,
        polkit: false,
        includes: vec![broken],
        ..BusOptions::default()
    });
    assert!(
        refused.is_err(),
        "dbus-daemon started with a broken policy file"
    );
}

#[test]
fn only_root_may_own_the_name() {
    if !igotchuu_e2e::have_root("only_root_may_own_the_name") {
        return;
    }
    runtime().block_on(async {
        let bus = PrivateBus::start(true);
        let out = bus.request_name(false).await;
        // 1: DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER.
        assert!(
            out.status.success() && text(&out).contains("uint32 1"),
            "root could not own the name: {}",
            text(&out)
        );
        let out = bus.request_name(true).await;
        assert!(!out.status.success(), "nobody owned the name");
        assert!(text(&out).contains(DENIED), "{}", text(&out));

        // The permission is the policy file's: without it root is refused too.
        let bare = PrivateBus::start(false);
        let out = bare.request_name(false).await;
        assert!(text(&out).contains(DENIED), "{}", text(&out));
    });
}

/// Stands in for the helper: enough of the interface to see which calls
/// the bus lets through.
struct Stub;

#[zbus::interface(name = "com.nyantec.igotchuu1")]
impl Stub {
    async fn stop(&self) -> Result<(), BusError> {
        Err(BusError::NotRunning("No backup is running.".into()))
    }

    async fn start(&self) -> Result<(), BusError> {
        Err(BusError::Fdo(zbus::fdo::Error::AccessDenied(
            "Not authorized.".into(),
        )))
    }

    #[zbus(property)]
    async fn phase(&self) -> String {
        igotchuu_dbus::Phase::IDLE.into()
    }
}

#[test]
fn anyone_may_call_the_interface_and_nothing_else() {
    if !igotchuu_e2e::have_root("anyone_may_call_the_interface_and_nothing_else") {
        return;
    }
    runtime().block_on(async {
        let bus = PrivateBus::start(true);
        let _helper = zbus::connection::Builder::address(bus.address.as_str())
            .unwrap()
            .name(BUS_NAME)
            .unwrap()
            .serve_at(OBJECT_PATH, Stub)
            .unwrap()
            .serve_at(PUBLIC_OBJECT_PATH, Stub)
            .unwrap()
            .build()
            .await
            .expect("root owns the name and serves the object");

        let dest = format!("--dest={BUS_NAME}");
        let call = |member: &str| format!("{INTERFACE}.{member}");

        // Delivered: the stub's own error comes back, not the bus's refusal.
        let out = bus.send(true, &[&dest, OBJECT_PATH, &call("Stop")]).await;
        assert!(text(&out).contains(errors::NOT_RUNNING), "{}", text(&out));
        let out = bus.send(true, &[&dest, OBJECT_PATH, &call("Start")]).await;
        assert!(text(&out).contains(DENIED), "{}", text(&out));
        assert!(
            text(&out).contains("Not authorized."),
            "the stub said so, not the bus"
        );

        // The detailed object's properties are for root and administrators;
        // everyone reads the public object's.
        let get = |path| {
            [
                dest.clone(),
                String::from(path),
                "org.freedesktop.DBus.Properties.Get".to_owned(),
                format!("string:{INTERFACE}"),
                "string:Phase".to_owned(),
            ]
        };
        let detailed = get(OBJECT_PATH);
        let detailed: Vec<&str> = detailed.iter().map(String::as_str).collect();
        let out = bus.send(true, &detailed).await;
        let t = text(&out);
        assert!(
            t.contains(DENIED) && t.contains("ejected send message"),
            "{t}"
        );
        let out = bus.send(false, &detailed).await;
        assert!(out.status.success(), "root may: {}", text(&out));
        let public = get(PUBLIC_OBJECT_PATH);
        let public: Vec<&str> = public.iter().map(String::as_str).collect();
        let out = bus.send(true, &public).await;
        assert!(
            out.status.success() && text(&out).contains("\"idle\""),
            "{}",
            text(&out)
        );
        let out = bus
            .send(
                true,
                &[
                    &dest,
                    OBJECT_PATH,
                    "org.freedesktop.DBus.Introspectable.Introspect",
                ],
            )
            .await;
        assert!(
            out.status.success() && text(&out).contains(INTERFACE),
            "{}",
            text(&out)
        );
        let out = bus
            .send(
                true,
                &[&dest, OBJECT_PATH, "org.freedesktop.DBus.Peer.Ping"],
            )
            .await;
        assert!(out.status.success(), "{}", text(&out));

        // Refused by the bus: any other interface on the name.
        for member in [
            "org.freedesktop.DBus.ObjectManager.GetManagedObjects",
            "com.example.Other.Method",
        ] {
            let out = bus.send(true, &[&dest, OBJECT_PATH, member]).await;
            let t = text(&out);
            // The bus's own refusal ("Rejected send message"), not a reply.
            assert!(
                t.contains(DENIED) && t.contains("ejected send message"),
                "{member}: {t}"
            );
        }
    });
}

#[test]
fn the_proxy_never_starts_the_helper_except_with_start() {
    if !igotchuu_e2e::have_root("the_proxy_never_starts_the_helper_except_with_start") {
        return;
    }
    runtime().block_on(async {
        let bus = PrivateBus::start(true);
        let conn = bus.connect().await;
        let started = bus.stub.path().join("args");

        // Nobody owns the name, and asking does not activate it.
        assert!(proxy::running(&conn).await.unwrap().is_none());
        let well_known = proxy::Igotchuu1Proxy::new(&conn).await.unwrap();
        match well_known.stop().await {
            Err(BusError::Fdo(zbus::fdo::Error::NameHasNoOwner(_))) => {}
            other => panic!("Stop with no helper: {other:?}"),
        }
        assert!(!started.exists(), "the helper was started");

        // Start may activate it: the activation file runs `igotchuu serve`
        // (a stub here, which exits at once, so the call fails).
        assert!(well_known.start().await.is_err());
        let args = std::fs::read_to_string(&started).expect("Start activated the helper");
        assert_eq!(args.trim(), "serve");

        // With a helper on the bus, the proxy reaches it by its unique name,
        // and its errors come back typed.
        let helper = zbus::connection::Builder::address(bus.address.as_str())
            .unwrap()
            .name(BUS_NAME)
            .unwrap()
            .serve_at(OBJECT_PATH, Stub)
            .unwrap()
            .build()
            .await
            .unwrap();
        let p = proxy::running(&conn)
            .await
            .unwrap()
            .expect("a running helper");
        assert_eq!(
            p.inner().destination().as_str(),
            helper.unique_name().unwrap().as_str()
        );
        assert_eq!(p.phase().await.unwrap(), "idle");
        assert!(matches!(p.stop().await, Err(BusError::NotRunning(_))));
        assert!(matches!(
            p.start().await,
            Err(BusError::Fdo(zbus::fdo::Error::AccessDenied(_)))
        ));
    });
}

#[test]
fn browse_unit_mounts_for_the_host_with_less_than_the_helper() {
    let bus = parse_unit(&read("data/igotchuu-bus.service.in"));
    let browse = parse_unit(&read(&format!("data/{BROWSE_SERVICE}.in")));
    assert_eq!(
        one(&browse, "Service", "ExecStart"),
        "@bindir@/igotchuu browse-mount %i"
    );
    assert_eq!(one(&browse, "Service", "Type"), "notify");
    // The helper's sandbox stays as it is: the mount goes through this unit.
    assert_eq!(one(&bus, "Service", "PrivateMounts"), "yes");
    assert_eq!(one(&bus, "Service", "ProtectProc"), "invisible");
    // Any of these would give the unit a mount namespace of its own, and
    // the mount would not reach the users' sessions.
    for key in [
        "PrivateMounts",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectSystem",
        "ProtectHome",
        "ProtectProc",
        "ProcSubset",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ReadOnlyPaths",
        "ReadWritePaths",
        "InaccessiblePaths",
        "BindPaths",
        "TemporaryFileSystem",
        "RootDirectory",
        "MountFlags",
    ] {
        assert!(!browse["Service"].contains_key(key), "{key}");
    }
    // Fewer capabilities than the helper's units, and never CAP_SYS_PTRACE.
    let caps = |u: &Unit| -> BTreeSet<String> {
        one(u, "Service", "CapabilityBoundingSet")
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert!(caps(&browse).is_subset(&caps(&bus)), "{:?}", caps(&browse));
    assert!(caps(&browse).len() < caps(&bus).len());
    assert!(
        caps(&browse).contains("CAP_SYS_ADMIN"),
        "fusermount3 mounts"
    );
    assert_eq!(one(&browse, "Service", "NoNewPrivileges"), "yes");
    assert_eq!(one(&browse, "Service", "DevicePolicy"), "closed");
    assert_eq!(one(&browse, "Service", "DeviceAllow"), "/dev/fuse rw");
    // Never UMask=0077: the mount's folders must stay open to the users.
    assert!(!browse["Service"].contains_key("UMask"));
}
