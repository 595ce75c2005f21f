//! An ordinary local user tries to learn what root's backup reads: by
//! listening on the system bus, by reading the helper's properties, and by
//! reading the files in its state directory. They may learn that a backup
//! runs, how far it is and how it ended; never a path, a file name or an
//! error text. An administrator (a member of `sudo`) sees every detail, as
//! a client written against the seed's interface expects, and nothing twice.

use std::os::unix::fs::PermissionsExt;

use igotchuu_dbus::{BUS_NAME, INTERFACE, OBJECT_PATH, PUBLIC_OBJECT_PATH};
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::gdbus::GdbusMonitor;
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::polkit::TempUser;
use igotchuu_e2e::standin::stats_policy;
use igotchuu_e2e::{have_root, wait};

/// In the names of the files a private folder holds: nobody else may see it.
const SECRET: &str = "SECRET-diary";

/// Runs `args` (a `gdbus call` or a shell command) as `user`; its output
/// and whether it succeeded.
fn as_user(bf: &BusFixture, user: &str, program: &str, args: &[&str]) -> (bool, String) {
    let out = bf
        .bus
        .command_as(user, program)
        .args(args)
        .output()
        .expect("run as user");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn get_all(bf: &BusFixture, user: &str, path: &str) -> (bool, String) {
    as_user(
        bf,
        user,
        "gdbus",
        &[
            "call",
            "--system",
            "--dest",
            BUS_NAME,
            "--object-path",
            path,
            "--method",
            "org.freedesktop.DBus.Properties.GetAll",
            INTERFACE,
        ],
    )
}

/// Each line of a monitor's signals from the object at `path` exactly.
fn lines_from(monitor: &GdbusMonitor, path: &str) -> Vec<String> {
    let prefix = format!("{path}: ");
    monitor
        .text()
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn other_users_learn_how_far_and_how_it_ended_but_no_file_name() {
    if !have_root("other_users_learn_how_far_and_how_it_ended_but_no_file_name") {
        return;
    }
    let admin = TempUser::new();
    admin.join("sudo");
    let bf = BusFixture::new(BusSetup {
        extra_policy: stats_policy(),
        ..BusSetup::default()
    });
    // A run of a few seconds, so that restic reports progress: restic 0.18
    // prints no status at all for a backup shorter than its interval.
    bf.slow_backup(1, 512);
    // alice's private folder, with names that must not get out.
    let private = bf.fx.path("home/alice");
    std::fs::create_dir(&private).unwrap();
    for i in 0..400 {
        std::fs::write(private.join(format!("{SECRET}-{i:03}.txt")), "x\n").unwrap();
    }
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The state directory is world-readable, as systemd makes it (0755).
    let state = bf.fx.env.state_dir();
    for dir in [state.parent().unwrap(), state.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let place = bf.fx.path("home").display().to_string();

    // The helper waits for Start with the name taken: both listen from the
    // run's first signal.
    let run = bf.serve();
    let nobody_hears = GdbusMonitor::start_as(&bf.bus, BUS_NAME, "nobody");
    let admin_hears = GdbusMonitor::start_as(&bf.bus, BUS_NAME, &admin.user);
    bf.fx.wrapper.hold(true);
    bf.start_as_root();
    let inv = bf.fx.wrapper.wait_started(1, wait::DEADLINE);

    // While it runs: the properties.
    let (ok, detailed) = get_all(&bf, "nobody", OBJECT_PATH);
    assert!(!ok && detailed.contains("AccessDenied"), "{detailed}");
    let (ok, public) = get_all(&bf, "nobody", PUBLIC_OBJECT_PATH);
    assert!(ok, "{public}");
    assert!(public.contains("'Phase': <'backing-up'>"), "{public}");
    assert!(public.contains("'Places': <@as []>"), "{public}");
    assert!(!public.contains(&place), "{public}");
    let (ok, full) = get_all(&bf, &admin.user, OBJECT_PATH);
    assert!(ok && full.contains(&place), "{full}");
    // The snapshot journal names the snapshots and their sources.
    let journal = state.join("journal.json");
    assert!(journal.exists());
    let (ok, text) = as_user(&bf, "nobody", "cat", &[journal.to_str().unwrap()]);
    assert!(!ok && text.contains("Permission denied"), "{text}");

    inv.release();
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    nobody_hears.wait_for("BackupFinished", wait::DEADLINE);
    admin_hears.wait_for("BackupFinished", wait::DEADLINE);

    // What nobody heard: all from the public object, and nothing named.
    let heard = nobody_hears.text();
    assert!(lines_from(&nobody_hears, OBJECT_PATH).is_empty(), "{heard}");
    let public_lines = lines_from(&nobody_hears, PUBLIC_OBJECT_PATH);
    for member in [
        "BackupStarted",
        "Progress",
        "BackupComplete",
        "BackupFinished",
    ] {
        assert!(
            public_lines
                .iter()
                .any(|l| l.contains(&format!("{INTERFACE}.{member} "))),
            "nobody hears {member}: {heard}"
        );
    }
    assert!(
        !heard.contains(SECRET) && !heard.contains(&place),
        "{heard}"
    );
    // What the administrator heard: the seed's signals with every detail,
    // once each.
    let told = admin_hears.text();
    assert!(
        lines_from(&admin_hears, PUBLIC_OBJECT_PATH).is_empty(),
        "{told}"
    );
    let detailed_lines = lines_from(&admin_hears, OBJECT_PATH);
    assert_eq!(
        detailed_lines
            .iter()
            .filter(|l| l.contains(&format!("{INTERFACE}.BackupFinished ")))
            .count(),
        1,
        "{told}"
    );
    assert!(
        told.contains(&place),
        "the places reach administrators: {told}"
    );

    // The history: everyone's copy says how it ended, the full one is closed.
    let (ok, public) = as_user(
        &bf,
        "nobody",
        "cat",
        &[state.join("history.json").to_str().unwrap()],
    );
    assert!(ok && public.contains("\"completed\""), "{public}");
    assert!(
        !public.contains(&place) && !public.contains(SECRET),
        "{public}"
    );
    let admin_file = state.join("history-admin.json");
    let (ok, text) = as_user(&bf, "nobody", "cat", &[admin_file.to_str().unwrap()]);
    assert!(!ok && text.contains("Permission denied"), "{text}");
    let (ok, full) = as_user(&bf, &admin.user, "cat", &[admin_file.to_str().unwrap()]);
    assert!(ok && full.contains(&place), "{full}");
}
