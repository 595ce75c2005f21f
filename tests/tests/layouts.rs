//! The layouts real btrfs machines have, backed up for real: what restic
//! saves is the live file tree with each snapshotted subvolume replaced by
//! its snapshot, whatever the order or nesting of the sources, with the
//! mounts below a source where they were, across filesystems, and with
//! snapshot folders that the seed's example configuration needs made.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use igotchuu_dbus::Outcome;
use igotchuu_e2e::config::SnapshotEntry;
use igotchuu_e2e::fixture::{write_file, Fixture};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::{have_root, run, LoopBtrfs};

/// The files restic saved below `source` in the latest snapshot, with sizes.
fn saved_under(fx: &Fixture, source: &Path) -> BTreeMap<String, u64> {
    fx.repo.ls("latest").files_under(source)
}

/// A home with a user's folder and a nested subvolume for virtual machines.
fn home_with_vms(fx: &Fixture) -> (PathBuf, PathBuf) {
    let home = fx.path("home");
    std::fs::create_dir(home.join("alice")).unwrap();
    let vms = fx.fs.subvolume("home/alice/vms");
    fx.write_files(&BTreeMap::from([
        ("home/alice/notes.txt", "notes\n"),
        ("home/alice/vms/disk.img", "a virtual disk\n"),
    ]));
    (home, vms)
}

#[test]
fn nested_sources_are_backed_up_in_either_order() {
    if !have_root("nested_sources_are_backed_up_in_either_order") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let (home, vms) = home_with_vms(&fx);
    let base = fx.baseline();
    for places in [[&vms, &home], [&home, &vms]] {
        let mut spec = fx.spec(&[]);
        spec.places = places.iter().map(|p| p.to_path_buf()).collect();
        fx.env.write_spec(&spec);

        let run = fx.env.run(&["backup"]);
        run.assert_code(exit::COMPLETED);
        let saved = saved_under(&fx, &home);
        assert_eq!(
            saved.get("alice/vms/disk.img"),
            Some(&15),
            "the nested source's file is in the backup of {places:?}: {saved:?}\n{run:?}"
        );
        assert_eq!(saved.get("alice/notes.txt"), Some(&6), "{saved:?}");
        assert!(
            !run.output().contains("not backed up"),
            "a listed nested source is backed up, not warned about: {run:?}"
        );
        let record = fx.env.history().runs.pop().unwrap();
        assert_eq!(record.outcome, Outcome::Completed, "{record:?}");
        fx.assert_clean(&base, &format!("backing up {places:?}"));
    }
}

#[test]
fn a_mount_below_a_source_stays_where_it_was() {
    if !have_root("a_mount_below_a_source_stays_where_it_was") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let home = fx.path("home");
    let tmpfs = home.join("bob/scratch");
    std::fs::create_dir_all(&tmpfs).unwrap();
    run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&tmpfs));
    write_file(&tmpfs.join("on-tmpfs.txt"), b"tmpfs\n");
    // Another btrfs below the source, with a subvolume of its own.
    let other = LoopBtrfs::new(120);
    let disk = home.join("bob/disk");
    std::fs::create_dir_all(&disk).unwrap();
    run(Command::new("mount")
        .arg("--bind")
        .arg(other.path())
        .arg(&disk));
    write_file(&disk.join("on-disk.txt"), b"other fs\n");
    fx.write_files(&BTreeMap::from([("home/bob/mine.txt", "mine\n")]));
    let base = fx.baseline();

    fx.env.write_spec(&fx.spec(&["home"]));
    let run = fx.env.run(&["backup"]);
    run.assert_code(exit::COMPLETED);
    let saved = saved_under(&fx, &home);
    for (file, size) in [
        ("bob/mine.txt", 5),
        ("bob/scratch/on-tmpfs.txt", 6),
        ("bob/disk/on-disk.txt", 9),
    ] {
        assert_eq!(saved.get(file), Some(&size), "{file} in {saved:?}\n{run:?}");
    }
    fx.assert_clean(&base, "a backup with mounts below its source");
    run_umount(&disk);
    run_umount(&tmpfs);
}

/// Kernel filesystems below a place, as a chroot or a container's tree has
/// them, hold the running kernel's entries, not anyone's files: restic is
/// told to leave them out by name, before it looks at them, and their mount
/// points stay as empty folders. (A `/proc` entry that went away while
/// restic listed it once made a backup of `/` "completed with warnings",
/// `--one-file-system` notwithstanding: it rejects only after `lstat`.)
#[test]
fn kernel_filesystems_below_a_place_are_kept_as_empty_folders() {
    if !have_root("kernel_filesystems_below_a_place_are_kept_as_empty_folders") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let home = fx.path("home");
    // Glob characters and spaces in the path: restic must read the
    // escaped pattern as this one folder.
    let chroot = "bob/odd [x]* y";
    let pts = home.join(chroot).join("dev/pts");
    let mqueue = home.join(chroot).join("dev/mqueue");
    for dir in [&pts, &mqueue] {
        std::fs::create_dir_all(dir).unwrap();
    }
    // A devpts of its own holds `ptmx` (a device node, safe to back up).
    run(Command::new("mount")
        .args(["-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts"])
        .arg(&pts));
    run(Command::new("mount")
        .args(["-t", "mqueue", "mqueue"])
        .arg(&mqueue));
    assert!(pts.join("ptmx").exists());
    fx.write_files(&BTreeMap::from([
        ("home/bob/odd [x]* y/etc/hostname", "jail\n"),
        // Matched by `odd [x]* y` read as a glob rather than as a name.
        ("home/bob/odd x-anything y/dev/pts/kept.txt", "kept\n"),
    ]));
    let base = fx.baseline();

    fx.env.write_spec(&fx.spec(&["home"]));
    let run = fx.env.run(&["backup"]);
    run.assert_code(exit::COMPLETED);
    let listing = fx.repo.ls("latest");
    for folder in ["dev/pts", "dev/mqueue"] {
        let node = listing.find(&home, &format!("{chroot}/{folder}"));
        assert_eq!(
            node.map(|n| n.kind.as_str()),
            Some("dir"),
            "{folder}\n{run:?}"
        );
    }
    assert!(
        listing
            .find(&home, &format!("{chroot}/dev/pts/ptmx"))
            .is_none(),
        "the devpts's ptmx was backed up:\n{:#?}",
        listing.nodes
    );
    for kept in [
        format!("{chroot}/etc/hostname"),
        "bob/odd x-anything y/dev/pts/kept.txt".to_owned(),
    ] {
        assert!(listing.find(&home, &kept).is_some(), "{kept}\n{run:?}");
    }
    fx.assert_clean(&base, "a backup with kernel filesystems below its source");
    run_umount(&mqueue);
    run_umount(&pts);
}

fn run_umount(path: &Path) {
    run(Command::new("umount").arg(path));
}

#[test]
fn sources_on_two_filesystems_are_backed_up_in_one_run() {
    if !have_root("sources_on_two_filesystems_are_backed_up_in_one_run") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let second = LoopBtrfs::new(120);
    let data = second.subvolume("data");
    write_file(&data.join("second.txt"), b"second fs\n");
    fx.write_files(&BTreeMap::from([("home/first.txt", "first\n")]));
    let base = fx.baseline();
    let second_before = second.list_subvolumes();

    let mut spec = fx.spec(&["home"]);
    spec.places.push(data.clone());
    fx.env.write_spec(&spec);
    let run = fx.env.run(&["backup"]);
    run.assert_code(exit::COMPLETED);
    let listing = fx.repo.ls("latest");
    assert_eq!(
        listing.files_under(&fx.path("home")).get("first.txt"),
        Some(&6)
    );
    assert_eq!(listing.files_under(&data).get("second.txt"), Some(&10));
    fx.assert_clean(&base, "a backup of two filesystems");
    assert_eq!(second.list_subvolumes(), second_before);
}

/// The seed's example: exec_before_snapshot mounts the filesystem's top
/// level, and `snapshot_prefix` is a folder there that does not exist yet,
/// so `prefix + /var/lib` needs `var` made first.
#[test]
fn the_seed_example_makes_its_snapshot_folders() {
    if !have_root("the_seed_example_makes_its_snapshot_folders") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    std::fs::create_dir(fx.path("var")).unwrap();
    fx.fs.subvolume("var/lib");
    fx.write_files(&BTreeMap::from([
        ("home/h.txt", "home\n"),
        ("var/lib/state.db", "state\n"),
    ]));
    let top = fx.env.scratch().join("mnt");
    std::fs::create_dir(&top).unwrap();
    let base = fx.baseline();

    let mut spec = fx.spec(&["home", "var/lib"]);
    spec.exec_before_snapshot = Some(vec![
        "mount".into(),
        "--bind".into(),
        fx.fs.path().to_str().unwrap().into(),
        top.to_str().unwrap().into(),
    ]);
    let prefix = top.join("snapshots");
    spec.snapshot_prefix = Some(prefix.clone());
    fx.env.write_spec(&spec);

    let run = fx.env.run(&["backup"]);
    run.assert_code(exit::COMPLETED);
    let listing = fx.repo.ls("latest");
    assert_eq!(
        listing.files_under(&fx.path("var/lib")).get("state.db"),
        Some(&6)
    );
    assert_eq!(listing.files_under(&fx.path("home")).get("h.txt"), Some(&5));
    // The folders were made on the filesystem's top level, root's alone.
    let made = fx
        .path("snapshots")
        .join(fx.path("var").strip_prefix("/").unwrap());
    let meta = std::fs::metadata(&made).unwrap_or_else(|e| panic!("{}: {e}", made.display()));
    assert_eq!(
        (meta.uid(), meta.mode() & 0o7777),
        (0, 0o700),
        "{}",
        made.display()
    );
    fx.assert_clean(&base, "the seed's example");
}

/// Who a test pretends to be: an ordinary local user.
const NOBODY: u32 = 65534;

/// Runs `script` with `sh -c` as `nobody`, and says whether it succeeded.
fn as_nobody(script: &str) -> bool {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
        ])
        .arg(script)
        .status()
        .expect("setpriv")
        .success()
}

/// A subvolume inside a user's own folder: its default snapshot folder is
/// the user's, who could take the predictable name first or plant a
/// symlink there. The snapshot goes into a folder of root's instead, and
/// the run neither fails nor touches what the user made.
#[test]
fn a_user_cannot_block_or_redirect_a_snapshot_in_their_folder() {
    if !have_root("a_user_cannot_block_or_redirect_a_snapshot_in_their_folder") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let alice = fx.path("home/alice");
    std::fs::create_dir(&alice).unwrap();
    let vms = fx.fs.subvolume("home/alice/vms");
    write_file(&vms.join("disk.img"), b"a virtual disk\n");
    std::os::unix::fs::chown(&alice, Some(NOBODY), Some(NOBODY)).unwrap();
    // Every name the next two minutes could use, taken by the user, and one
    // symlink pointing at a folder of root's.
    let target = fx.path("root-only");
    std::fs::create_dir(&target).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut planted = Vec::new();
    for s in 0..120 {
        let t = now + time::Duration::seconds(s);
        let name = format!(
            "vms-{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        planted.push(alice.join(&name));
        let cmd = if s % 2 == 0 {
            format!("mkdir '{}'", alice.join(&name).display())
        } else {
            format!(
                "ln -s '{}' '{}'",
                target.display(),
                alice.join(&name).display()
            )
        };
        assert!(as_nobody(&cmd), "{cmd}");
    }
    let base = fx.baseline();

    let mut spec = fx.spec(&[]);
    spec.places = vec![vms.clone(), fx.path("home")];
    fx.env.write_spec(&spec);
    let run = fx.env.run(&["backup"]);
    run.assert_code(exit::COMPLETED);
    let listing = fx.repo.ls("latest");
    let saved = listing.files_under(&fx.path("home"));
    assert_eq!(
        saved.get("alice/vms/disk.img"),
        Some(&15),
        "{saved:?}\n{run:?}"
    );
    // igotchuu's own folder is not part of the backup.
    assert!(
        !listing
            .nodes
            .iter()
            .any(|n| n.path.contains(".igotchuu-snapshots")),
        "{:?}",
        listing.nodes
    );
    // What the user made is as it was; nothing landed in their folders.
    for p in &planted {
        let meta = p.symlink_metadata().unwrap();
        assert_eq!(meta.uid(), NOBODY, "{}", p.display());
    }
    assert!(std::fs::read_dir(&target).unwrap().next().is_none());
    // The snapshot folder of root's is there, and closed to the user.
    let own = fx.path("home/.igotchuu-snapshots");
    let meta = std::fs::metadata(&own).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o700));
    assert!(!as_nobody(&format!("ls '{}'", own.display())));
    fx.assert_clean(&base, "a run with a user's planted names");
}

/// A `snapshot_prefix` that a user can change, directly or through a
/// symlink of theirs, is refused before any snapshot, naming the key.
#[test]
fn a_snapshot_prefix_that_a_user_can_change_is_refused() {
    if !have_root("a_snapshot_prefix_that_a_user_can_change_is_refused") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let shared = fx.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let users = fx.path("users");
    std::fs::create_dir(&users).unwrap();
    std::os::unix::fs::chown(&users, Some(NOBODY), Some(NOBODY)).unwrap();
    let root_only = fx.path("root-only");
    std::fs::create_dir(&root_only).unwrap();
    assert!(as_nobody(&format!(
        "ln -s '{}' '{}'",
        root_only.display(),
        shared.join("link").display()
    )));
    let base = fx.baseline();

    for prefix in [
        users.join("snaps"),
        shared.clone(),
        shared.join("link"),
        shared.join("new"),
    ] {
        let mut spec = fx.spec(&["home"]);
        spec.snapshot_prefix = Some(prefix.clone());
        fx.env.write_spec(&spec);
        let run = fx.env.run(&["backup"]);
        run.assert_code(exit::FAILED);
        let out = run.output();
        let config = fx.env.config_path().display().to_string();
        assert!(
            out.contains(&config) && out.contains("`snapshot_prefix`"),
            "the refusal names the file and key for {}: {run:?}",
            prefix.display()
        );
        assert!(out.contains("root alone"), "{run:?}");
        assert!(fx.repo.snapshots().is_empty());
        fx.assert_clean(&base, &format!("refusing {}", prefix.display()));
    }
    assert!(std::fs::read_dir(&root_only).unwrap().next().is_none());
    assert!(!users.join("snaps").exists(), "made a folder in the user's");
}

/// A place inside a subvolume that is not snapshotted while its parent is
/// would be an empty folder in the backup: refused before anything runs.
#[test]
fn a_place_hidden_by_a_parents_snapshot_is_refused() {
    if !have_root("a_place_hidden_by_a_parents_snapshot_is_refused") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let (home, vms) = home_with_vms(&fx);
    let base = fx.baseline();
    let mut spec = fx.spec(&[]);
    spec.places = vec![vms.clone(), home.clone()];
    spec.snapshot = vec![SnapshotEntry::Source(home.clone())];
    fx.env.write_spec(&spec);
    for cmd in ["check-config", "backup"] {
        let run = fx.env.run(&[cmd]);
        run.assert_code(exit::CONFIG);
        let out = run.output();
        assert!(
            out.contains(&fx.env.config_path().display().to_string())
                && out.contains("`places[0]`")
                && out.contains(&vms.display().to_string()),
            "{run:?}"
        );
    }
    assert!(fx.repo.snapshots().is_empty());
    fx.assert_clean(&base, "a refused configuration");
}

/// `/` as a source, as Fedora and openSUSE install it: the helper runs with
/// a loop btrfs subvolume as its `/`, with `/proc`, `/dev`, `/tmp`, `/usr`
/// and `/etc` mounted below it, `/home` a nested subvolume, and the
/// repository and restic's cache inside `/` itself, which must stay
/// writable while everything else is the snapshot.
#[test]
fn the_root_subvolume_is_backed_up_with_what_is_mounted_below_it() {
    if !have_root("the_root_subvolume_is_backed_up_with_what_is_mounted_below_it") {
        return;
    }
    let fs = LoopBtrfs::new(300);
    let root = fs.subvolume("@");
    // As on a real machine, `/` is a mount point.
    run(Command::new("mount").arg("--bind").arg(&root).arg(&root));
    for dir in [
        "usr",
        "etc",
        "proc",
        "dev",
        "tmp",
        "var/lib/igotchuu",
        "root",
        "srv",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for (link, to) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("sbin", "usr/sbin"),
    ] {
        std::os::unix::fs::symlink(to, root.join(link)).unwrap();
    }
    fs.subvolume("@/home");
    // A nested subvolume that is not a source, with a mount inside: the
    // snapshot of `/` has an empty folder there, and the run goes on.
    fs.subvolume("@/opt");
    std::fs::create_dir(root.join("opt/mnt")).unwrap();
    write_file(&root.join("srv/site.txt"), b"served\n");
    write_file(&root.join("home/alice/h.txt"), b"alice's\n");
    for (what, at) in [("/usr", "usr"), ("/etc", "etc"), ("/dev", "dev")] {
        run(Command::new("mount")
            .args(["--rbind", what])
            .arg(root.join(at)));
    }
    run(Command::new("mount")
        .args(["-t", "proc", "proc"])
        .arg(root.join("proc")));
    run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(root.join("opt/mnt")));
    run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
        .arg(root.join("tmp")));
    std::fs::copy(igotchuu_e2e::helper::helper_bin(), root.join("igotchuu")).unwrap();
    let repo = root.join("var/repo");
    let password = root.join("root/pw");
    igotchuu_e2e::repo::write_private(&password, "root's password\n");
    let restic = |args: &[&str]| {
        run(Command::new(igotchuu_e2e::repo::RESTIC)
            .env("RESTIC_REPOSITORY", &repo)
            .env("RESTIC_PASSWORD_FILE", &password)
            .env("RESTIC_CACHE_DIR", fs.path().join("cache"))
            .args(args))
    };
    restic(&["init", "-q"]);
    igotchuu_e2e::repo::write_private(
        &root.join("igotchuu.toml"),
        "places = [\"/\", \"/home\"]\n\
         restic_backup_args = [\"--one-file-system\", \"--exclude\", \"/var/repo\"]\n\
         repo = \"/var/repo\"\n\
         password_file = \"/root/pw\"\n",
    );
    let subvolumes = fs.list_subvolumes();
    let mounts = igotchuu_e2e::mounts::ours();

    let out = Command::new("chroot")
        .arg(&root)
        .args(["/igotchuu", "-c", "/igotchuu.toml", "backup"])
        .env_clear()
        .envs([
            ("PATH", "/usr/bin:/usr/sbin"),
            ("HOME", "/root"),
            ("STATE_DIRECTORY", "/var/lib/igotchuu"),
            ("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent"),
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(exit::COMPLETED), "{text}");

    let listing = restic(&["ls", "--json", "latest"]);
    for file in ["/srv/site.txt", "/home/alice/h.txt"] {
        assert!(
            listing.contains(&format!("\"path\":\"{file}\"")),
            "{file} is in the backup:\n{listing}\n{text}"
        );
    }
    // The backup is of the snapshot, not of what was mounted below `/`.
    assert!(!listing.contains("\"path\":\"/proc/"), "{text}");
    assert!(!listing.contains("\"path\":\"/usr/"), "{text}");
    // restic's cache was written to the live tree.
    assert!(root.join("root/.cache/restic").is_dir(), "{text}");
    assert_eq!(fs.list_subvolumes(), subvolumes, "{text}");
    assert_eq!(igotchuu_e2e::mounts::ours(), mounts, "{text}");
}
