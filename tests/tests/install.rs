//! The meson install, checked as a distribution would see it: `meson setup`,
//! `meson compile` and `DESTDIR=… meson install` give exactly the listed
//! files, each with the right mode and contents; and the installed helper,
//! started the way the desktop starts it (a `Start` call that D-Bus
//! activation answers with the installed activation file, under the
//! installed bus policy, checked by a real polkitd against the installed
//! polkit actions), runs a whole backup.
//!
//! meson builds in this test's own cargo target dir and profile, so the
//! build it runs finds everything fresh. The installed tree is made to
//! appear at its real paths (`/usr/bin/igotchuu`, …) only inside this
//! test's private mount namespace.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use igotchuu_dbus::history::HISTORY_FILE_NAME;
use igotchuu_dbus::{proxy, Outcome, Phase, ACTION_START, ACTION_STOP, BUS_NAME};
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::install::{source_root, Overlay, Staged, PREFIX};
use igotchuu_e2e::installbus::{
    bus_dir, BusConfig, Polkitd, PrivateBus, POLKIT_BUS_POLICY, POLKIT_NAME,
};
use igotchuu_e2e::repo::{write_private, RESTIC_ENV};
use igotchuu_e2e::{have_root, wait};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The unit dir meson picks by default: with systemd's own prefix, what
/// its pkg-config file says; otherwise `<prefix>/lib/systemd/system`.
fn default_unitdir() -> String {
    let variable = |name: &str| {
        Command::new("pkg-config")
            .arg(format!("--variable={name}"))
            .arg("systemd")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match variable("prefix") {
        Some(p) if p == PREFIX => variable("systemdsystemunitdir").expect("systemd's unit dir"),
        _ => format!("{PREFIX}/lib/systemd/system"),
    }
}

/// One file the install must have.
struct Expected {
    /// Its path on the target system.
    path: String,
    mode: u32,
    /// The repository file it is a copy of; `None` for a file meson
    /// configures or builds.
    source: Option<String>,
}

fn file(path: impl Into<String>, mode: u32, source: Option<&str>) -> Expected {
    Expected {
        path: path.into(),
        mode,
        source: source.map(str::to_owned),
    }
}

/// What a server gets (`-Dgui=disabled`): the helper, its system files
/// and the translations.
fn helper_files(unitdir: &str) -> Vec<Expected> {
    let mut v = vec![
        // Unreadable for users, so that what runs as them is never dumpable.
        file("/usr/bin/igotchuu", 0o711, None),
        file(
            "/usr/share/dbus-1/system.d/com.nyantec.IGotChuu.conf",
            0o644,
            Some("dbus/com.nyantec.IGotChuu.conf"),
        ),
        file(
            "/usr/share/dbus-1/system-services/com.nyantec.IGotChuu.service",
            0o644,
            None,
        ),
        file(
            "/usr/share/polkit-1/actions/com.nyantec.igotchuu.policy",
            0o644,
            Some("polkit/com.nyantec.igotchuu.policy"),
        ),
        file(
            "/usr/share/doc/igotchuu/igotchuu.toml.example",
            0o644,
            Some("data/igotchuu.toml"),
        ),
        file(
            "/usr/share/man/man8/igotchuu.8",
            0o644,
            Some("data/igotchuu.8"),
        ),
        file(
            "/usr/share/man/man5/igotchuu.toml.5",
            0o644,
            Some("data/igotchuu.toml.5"),
        ),
        file(format!("{unitdir}/igotchuu.service"), 0o644, None),
        file(format!("{unitdir}/igotchuu-bus.service"), 0o644, None),
        file(format!("{unitdir}/igotchuu-prune.service"), 0o644, None),
        file(format!("{unitdir}/igotchuu-check.service"), 0o644, None),
        file(format!("{unitdir}/igotchuu-browse@.service"), 0o644, None),
        file(
            format!("{unitdir}/igotchuu.timer"),
            0o644,
            Some("data/igotchuu.timer"),
        ),
        file(
            format!("{unitdir}/igotchuu-prune.timer"),
            0o644,
            Some("data/igotchuu-prune.timer"),
        ),
        file(
            format!("{unitdir}/igotchuu-check.timer"),
            0o644,
            Some("data/igotchuu-check.timer"),
        ),
    ];
    v.extend(catalogues());
    v
}

/// The icons, below data/icons/hicolor/ and /usr/share/icons/hicolor/.
const ICONS: [&str; 10] = [
    "scalable/apps/com.nyantec.IGotChuu.svg",
    "scalable/status/com.nyantec.IGotChuu-idle.svg",
    "scalable/status/com.nyantec.IGotChuu-backing-up.svg",
    "scalable/status/com.nyantec.IGotChuu-warning.svg",
    "scalable/status/com.nyantec.IGotChuu-failed.svg",
    "symbolic/apps/com.nyantec.IGotChuu-symbolic.svg",
    "scalable/status/com.nyantec.IGotChuu-idle-symbolic.svg",
    "scalable/status/com.nyantec.IGotChuu-backing-up-symbolic.svg",
    "scalable/status/com.nyantec.IGotChuu-warning-symbolic.svg",
    "scalable/status/com.nyantec.IGotChuu-failed-symbolic.svg",
];

/// What the desktop side adds (`-Dgui=enabled`).
fn desktop_files() -> Vec<Expected> {
    let mut v = vec![
        file("/usr/bin/igotchuu-tray", 0o755, None),
        file("/usr/bin/igotchuu-gui", 0o755, None),
        file(
            "/usr/share/applications/com.nyantec.IGotChuu.desktop",
            0o644,
            Some("data/com.nyantec.IGotChuu.desktop"),
        ),
        file(
            "/etc/xdg/autostart/com.nyantec.IGotChuu.Tray.desktop",
            0o644,
            Some("data/com.nyantec.IGotChuu.Tray.desktop"),
        ),
        file(
            "/usr/share/metainfo/com.nyantec.IGotChuu.metainfo.xml",
            0o644,
            None,
        ),
    ];
    for icon in ICONS {
        v.push(file(
            format!("/usr/share/icons/hicolor/{icon}"),
            0o644,
            Some(&format!("data/icons/hicolor/{icon}")),
        ));
    }
    v
}

/// A catalogue for each language in po/LINGUAS, built by msgfmt: the
/// helper's terminal output is translated too, so servers get them.
fn catalogues() -> Vec<Expected> {
    let linguas = std::fs::read_to_string(source_root().join("po/LINGUAS")).unwrap();
    linguas
        .split_whitespace()
        .map(|lang| {
            file(
                format!("/usr/share/locale/{lang}/LC_MESSAGES/igotchuu.mo"),
                0o644,
                None,
            )
        })
        .collect()
}

/// Asserts that `staged` holds exactly `expected`, with those modes, and
/// that each file copied from the repository is that file, byte for byte.
fn assert_tree(staged: &Staged, expected: &[Expected]) {
    let want: BTreeMap<&str, u32> = expected.iter().map(|e| (e.path.as_str(), e.mode)).collect();
    let have = staged.files();
    let missing: Vec<_> = want.keys().filter(|p| !have.contains_key(**p)).collect();
    let extra: Vec<_> = have
        .keys()
        .filter(|p| !want.contains_key(p.as_str()))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the installed tree differs from the list:\nmissing: {missing:#?}\nnot listed: {extra:#?}"
    );
    for e in expected {
        assert_eq!(
            have[&e.path], e.mode,
            "mode of {}: {:o}",
            e.path, have[&e.path]
        );
        if let Some(source) = &e.source {
            let installed = std::fs::read(staged.path(&e.path)).unwrap();
            let original = std::fs::read(source_root().join(source)).unwrap();
            assert!(
                installed == original,
                "{} is not a copy of {source}",
                e.path
            );
        }
    }
}

fn read(staged: &Staged, path: &str) -> String {
    std::fs::read_to_string(staged.path(path))
        .unwrap_or_else(|e| panic!("read installed {path}: {e}"))
}

/// Asserts what meson configured: the helper's installed path in the units
/// and the activation file, and no placeholder left anywhere.
fn assert_configured(staged: &Staged, unitdir: &str) {
    let activation = read(
        staged,
        "/usr/share/dbus-1/system-services/com.nyantec.IGotChuu.service",
    );
    assert!(
        activation
            .lines()
            .any(|l| l == "Exec=/usr/bin/igotchuu serve"),
        "{activation}"
    );
    assert!(!activation.contains("@bindir@"), "{activation}");
    for (unit, command) in [
        ("igotchuu.service", "backup --scheduled"),
        ("igotchuu-bus.service", "serve"),
        ("igotchuu-prune.service", "prune --scheduled"),
        ("igotchuu-check.service", "check --scheduled"),
        ("igotchuu-browse@.service", "browse-mount %i"),
    ] {
        let text = read(staged, &format!("{unitdir}/{unit}"));
        let exec = format!("ExecStart=/usr/bin/igotchuu {command}");
        assert!(text.lines().any(|l| l == exec), "{unit}: no {exec}\n{text}");
        assert!(!text.contains("@bindir@"), "{unit} still says @bindir@");
    }

    // The binary is the one cargo built, and knows the version.
    let out = Command::new(staged.path("/usr/bin/igotchuu"))
        .arg("--version")
        .output()
        .expect("run the installed igotchuu");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("igotchuu {VERSION}")
    );
}

#[test]
fn a_desktop_install_has_exactly_the_listed_files() {
    let staged = Staged::install(&["-Dgui=enabled"]);
    let unitdir = default_unitdir();
    let mut expected = helper_files(&unitdir);
    expected.extend(desktop_files());
    assert_tree(&staged, &expected);
    assert_configured(&staged, &unitdir);

    // The metainfo's newest release is the workspace version.
    let metainfo = read(
        &staged,
        "/usr/share/metainfo/com.nyantec.IGotChuu.metainfo.xml",
    );
    let release = metainfo
        .split("<release ")
        .nth(1)
        .expect("a <release> in the metainfo");
    assert!(
        release.starts_with(&format!("version=\"{VERSION}\"")),
        "newest release: <release {}",
        release.lines().next().unwrap_or_default()
    );
    assert!(!metainfo.contains("@VERSION@"));
}

#[test]
fn a_server_install_has_only_the_helper_side() {
    // The unit dir given explicitly: the option overrides pkg-config.
    let unitdir = "/usr/lib/systemd/system";
    let staged = Staged::install(&[
        "-Dgui=disabled",
        &format!("-Dsystemdsystemunitdir={unitdir}"),
    ]);
    assert_tree(&staged, &helper_files(unitdir));
    assert_configured(&staged, unitdir);
}

/// A polkit action as `EnumerateActions` describes it: id, description,
/// message, vendor, vendor URL, icon, then the implicit authorizations for
/// any, inactive and active sessions, and the annotations.
type ActionDescription = (
    String,
    String,
    String,
    String,
    String,
    String,
    u32,
    u32,
    u32,
    std::collections::HashMap<String, String>,
);

/// polkit's PolkitImplicitAuthorization values.
const NOT_AUTHORIZED: u32 = 0;
const ADMIN_AUTH_RETAINED: u32 = 4;

#[test]
fn the_installed_helper_backs_up_when_the_desktop_starts_it() {
    if !have_root("the_installed_helper_backs_up_when_the_desktop_starts_it") {
        return;
    }
    let staged = Staged::install(&["-Dgui=disabled"]);

    // A loop btrfs in this thread's private mount namespace, a repository,
    // and a restic wrapper that holds the backup until released.
    let fx = Fixture::new(&["home"]);
    let files = BTreeMap::from([("home/notes.txt", "backed up by the installed helper\n")]);
    fx.write_files(&files);
    fx.wrapper.hold(true);

    // The installed tree at its real paths, for this thread only. The
    // helper D-Bus starts reads /etc/igotchuu.toml, so that comes from a
    // layer of its own.
    let etc_layer = fx.env.scratch().join("etc");
    std::fs::create_dir(&etc_layer).unwrap();
    write_private(
        &etc_layer.join("igotchuu.toml"),
        &fx.spec(&["home"]).to_toml(),
    );
    let usr = Overlay::over(Path::new("/usr"), &[&staged.path("/usr")]);
    let etc = Overlay::over(Path::new("/etc"), &[&etc_layer]);
    let base = fx.baseline();

    // The bus takes the installed policy and the installed activation file.
    // Activated services inherit the daemon's environment: the state
    // folder, and the wrapper first in PATH.
    let config = BusConfig {
        includes: vec![POLKIT_BUS_POLICY.into()],
        includedirs: vec![staged.path("/usr/share/dbus-1/system.d")],
        servicedirs: vec![staged.path("/usr/share/dbus-1/system-services")],
    };
    let bus = PrivateBus::start_with(bus_dir("igotchuu-install-bus-"), &config, |cmd| {
        for var in RESTIC_ENV {
            cmd.env_remove(var);
        }
        cmd.env("STATE_DIRECTORY", fx.env.state_dir())
            .env("PATH", fx.wrapper.path_env())
            .env("IGOTCHUU_LOG", "info");
    });
    let polkitd = Polkitd::start(&bus);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let helper_pid = runtime.block_on(async {
        let conn = zbus::connection::Builder::address(bus.address())
            .unwrap()
            .build()
            .await
            .expect("connect to the private bus");

        // polkitd read the installed actions, with their defaults.
        let reply = conn
            .call_method(
                Some(POLKIT_NAME),
                "/org/freedesktop/PolicyKit1/Authority",
                Some("org.freedesktop.PolicyKit1.Authority"),
                "EnumerateActions",
                &("",),
            )
            .await
            .expect("EnumerateActions");
        let actions: Vec<ActionDescription> = reply.body().deserialize().unwrap();
        for id in [ACTION_START, ACTION_STOP] {
            let action = actions
                .iter()
                .find(|a| a.0 == id)
                .unwrap_or_else(|| panic!("polkitd does not know {id}"));
            assert_eq!(
                (action.6, action.7, action.8),
                (NOT_AUTHORIZED, NOT_AUTHORIZED, ADMIN_AUTH_RETAINED),
                "{id}: implicit authorizations"
            );
        }

        // "Back up now", from root: nobody owns the name, so the bus starts
        // the helper its activation file names.
        assert!(!bus.name_has_owner(BUS_NAME));
        let well_known = proxy::Igotchuu1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        well_known
            .start()
            .await
            .unwrap_or_else(|e| panic!("Start failed: {e}\n--- bus log ---\n{}", bus.log()));

        let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
        let owner_pid = dbus
            .get_connection_unix_process_id(BUS_NAME.try_into().unwrap())
            .await
            .expect("the helper owns the name") as i32;

        // It publishes its phase while restic (held) is about to run.
        let running = proxy::running(&conn)
            .await
            .unwrap()
            .expect("a helper on the bus");
        let deadline = std::time::Instant::now() + wait::DEADLINE;
        loop {
            let phase = running.phase().await.unwrap();
            if phase == Phase::BackingUp.as_str() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "phase stayed {phase}");
            tokio::time::sleep(wait::POLL).await;
        }
        owner_pid
    });

    // The process D-Bus started is the installed binary, run as the
    // installed activation file says, and it is restic's parent.
    let invocation = fx.wrapper.wait_started(1, wait::DEADLINE);
    assert_eq!(invocation.ppid(), helper_pid, "restic's parent");
    let cmdline = std::fs::read(format!("/proc/{helper_pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"/usr/bin/igotchuu\0serve\0");
    let running_binary = std::fs::read(format!("/proc/{helper_pid}/exe")).unwrap();
    assert!(
        running_binary == std::fs::read(staged.path("/usr/bin/igotchuu")).unwrap(),
        "the helper that runs is not the installed binary"
    );

    invocation.release();
    assert!(
        wait::pid_gone_within(helper_pid, wait::DEADLINE),
        "the helper did not exit after its backup\n--- bus log ---\n{}",
        bus.log()
    );
    assert!(
        !bus.name_has_owner(BUS_NAME),
        "the name outlived the helper"
    );

    // One completed run in the history, and the file in the repository.
    let history = fx.env.history();
    assert_eq!(
        history.runs.len(),
        1,
        "{HISTORY_FILE_NAME}: {}",
        fx.env.history_text()
    );
    assert_eq!(
        history.runs[0].outcome,
        Outcome::Completed,
        "{}\n--- bus log ---\n{}",
        fx.env.history_text(),
        bus.log()
    );
    let listing = fx.repo.ls("latest");
    let node = listing
        .find(&fx.path("home"), "notes.txt")
        .expect("notes.txt in the backup");
    assert_eq!(
        fx.repo.dump("latest", &node.path),
        files["home/notes.txt"].as_bytes()
    );
    fx.assert_clean(&base, "the installed helper's backup");

    // Everything stops in order: polkitd, the bus, the overlays, then the
    // fixture and the staged install.
    drop(polkitd);
    drop(bus);
    drop(etc);
    drop(usr);
}
