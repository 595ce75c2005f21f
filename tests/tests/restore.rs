//! "Restore from the desktop" (issue 13): `Restore` copies a file or folder
//! of a snapshot into a folder as the caller, with the caller's user and
//! groups from the bus, so that each user gets back only what they could
//! read, owned by them; `RestoreInPlace` puts the snapshot's files back
//! over the originals, for administrators only. Both are runs (the
//! operation "restore"), recorded in the history. On a private system bus
//! with activation and the real polkitd, as `TempUser`s.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use igotchuu_dbus::{
    Operation, Outcome, ACTION_RESTORE, ACTION_RESTORE_IN_PLACE, BUS_NAME, INTERFACE, OBJECT_PATH,
};
use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::guarded::require_tool;
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::polkit::{Rule, TempUser};
use igotchuu_e2e::restoring::{activated_bus, restic_backup, root_target};
use igotchuu_e2e::{block_on, have_root, wait};

const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
const INVALID_ARGS: &str = "org.freedesktop.DBus.Error.InvalidArgs";
/// Where a restore mounts the repository (in the helper's own namespace).
const MOUNT_ROOT: &str = "/run/igotchuu/restore";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `gdbus call` of `method` with string arguments, as `user` (root if `None`).
fn call(w: &BusFixture, user: Option<&str>, method: &str, args: &[&str]) -> Output {
    let mut cmd = match user {
        Some(user) => w.bus.command_as(user, "gdbus"),
        None => w.bus.command("gdbus"),
    };
    cmd.args(["call", "--system", "--dest", BUS_NAME])
        .args(["--object-path", OBJECT_PATH])
        .args(["--method", &format!("{INTERFACE}.{method}")])
        .args(["--timeout", "120"]);
    for arg in args {
        assert!(!arg.contains('\''), "{arg}");
        cmd.arg(format!("'{arg}'"));
    }
    cmd.output().expect("run gdbus call")
}

/// The one string of a gdbus reply `('…',)`.
fn reply_string(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    let text = text.trim();
    text.strip_prefix("('")
        .and_then(|t| t.strip_suffix("',)"))
        .unwrap_or_else(|| panic!("not a string reply: {text}"))
        .to_owned()
}

fn uid_of(user: &TempUser) -> (u32, u32) {
    let u = nix::unistd::User::from_name(&user.user)
        .unwrap()
        .expect("the temp user exists in this namespace");
    (u.uid.as_raw(), u.gid.as_raw())
}

fn chown(path: &Path, owner: (u32, u32)) {
    std::os::unix::fs::lchown(path, Some(owner.0), Some(owner.1)).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A file's text.
fn contents(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// How many entries a folder has.
fn entries(dir: impl AsRef<Path>) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Every folder from `path` up may be entered by everyone.
fn open_up(path: &Path) {
    let mut dir = path.to_owned();
    loop {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        if mode & 0o005 != 0o005 {
            chmod(&dir, mode | 0o055);
        }
        if !dir.pop() || dir == Path::new("/") {
            break;
        }
    }
}

/// Two users with their files in `home`, backed up; `alice` may Restore
/// and `admin` (a third user) RestoreInPlace by polkit rules.
struct World {
    // Field order is drop order: the bus before the users it resolves.
    w: BusFixture,
    alice: TempUser,
    bob: TempUser,
    admin: TempUser,
    targets: tempfile::TempDir,
    snapshot: String,
}

fn world() -> World {
    require_tool("fusermount3", "fuse3");
    require_tool("gdbus", "libglib2.0-bin");
    let alice = TempUser::new();
    let bob = TempUser::new();
    let admin = TempUser::new();
    let rules = vec![Rule {
        file_name: "50-igotchuu-restore.rules".into(),
        text: format!(
            r#"polkit.addRule(function(action, subject) {{
    if ((action.id == "{ACTION_RESTORE}" || action.id == "com.nyantec.igotchuu.browse")
        && (subject.isInGroup("{}") || subject.isInGroup("{}"))) {{
        return polkit.Result.YES;
    }}
    // Only with the details the helper passes (shown in polkit's dialog):
    // what would be overwritten, from which snapshot.
    if (action.id == "{ACTION_RESTORE_IN_PLACE}" && subject.isInGroup("{}")
        && action.lookup("path") && action.lookup("snapshot").length >= 8) {{
        return polkit.Result.YES;
    }}
}});
"#,
            alice.group, bob.group, admin.group
        ),
    }];
    let w = BusFixture::new(BusSetup {
        activation: true,
        rules,
        ..BusSetup::default()
    });
    let (a, b) = (uid_of(&alice), uid_of(&bob));
    let home = w.fx.path("home");
    let alice_dir = home.join("alice");
    let bob_dir = home.join("bob");
    std::fs::create_dir_all(alice_dir.join("sub")).unwrap();
    std::fs::create_dir_all(&bob_dir).unwrap();
    std::fs::write(alice_dir.join("notes.txt"), "alice's notes\n").unwrap();
    std::fs::write(alice_dir.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(
        alice_dir.join("sub/deep.bin"),
        igotchuu_e2e::fixture::noise(300_000),
    )
    .unwrap();
    std::os::unix::fs::symlink("notes.txt", alice_dir.join("link")).unwrap();
    // In alice's folder, but bob's and private: alice may not read it.
    std::fs::write(alice_dir.join("bobs-secret.txt"), "bob's\n").unwrap();
    std::fs::write(bob_dir.join("bob.txt"), "bob's file\n").unwrap();
    for (path, owner, mode) in [
        (alice_dir.join("notes.txt"), a, 0o640),
        (alice_dir.join("run.sh"), a, 0o4755),
        (alice_dir.join("sub/deep.bin"), a, 0o600),
        (alice_dir.join("sub"), a, 0o750),
        (alice_dir.join("bobs-secret.txt"), b, 0o600),
        (alice_dir.clone(), a, 0o755),
        (bob_dir.join("bob.txt"), b, 0o600),
        (bob_dir.clone(), b, 0o700),
    ] {
        chown(&path, owner);
        chmod(&path, mode);
    }
    chown(&alice_dir.join("link"), a);
    open_up(&home);
    w.fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    let snapshot = w.fx.repo.snapshots()[0].id.clone();
    let targets = tempfile::Builder::new()
        .prefix("igotchuu-restore-")
        .tempdir()
        .unwrap();
    chmod(targets.path(), 0o755);
    World {
        w,
        alice,
        bob,
        admin,
        targets,
        snapshot,
    }
}

impl World {
    /// A folder of `user`'s own, 0700, to restore into.
    fn target_of(&self, user: &TempUser) -> PathBuf {
        let dir = self.targets.path().join(&user.user);
        std::fs::create_dir(&dir).unwrap();
        chown(&dir, uid_of(user));
        chmod(&dir, 0o700);
        dir
    }

    /// Waits for the restore's OperationFinished; returns (outcome, reason).
    fn finished(&self, recorder: &SignalRecorder) -> (String, String) {
        let fin = recorder.wait_for("OperationFinished", wait::DEADLINE);
        let (operation, outcome, reason): (String, String, String) = fin.body();
        assert_eq!(operation, "restore");
        // The helper has left: the next call activates a new one.
        block_on(async {
            let conn = self.w.bus.connect().await;
            self.w
                .bus
                .wait_unowned(&conn, BUS_NAME, wait::DEADLINE)
                .await;
        });
        (outcome, reason)
    }

    fn restore_as(&self, user: &TempUser, path: &Path, target: &Path) -> (PathBuf, String, String) {
        let recorder = SignalRecorder::start(&self.w.bus);
        let out = call(
            &self.w,
            Some(&user.user),
            "Restore",
            &[
                &self.snapshot[..8],
                path.to_str().unwrap(),
                target.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "Restore as {}: {}\n{}\n{}",
            user.user,
            text(&out),
            self.w.bus.services_stdout(),
            self.w.polkit.log()
        );
        let restored_to = PathBuf::from(reply_string(&out));
        let (outcome, reason) = self.finished(&recorder);
        let members = recorder.members();
        assert_eq!(
            members.first().map(String::as_str),
            Some("OperationStarted"),
            "{members:?}"
        );
        assert!(!members.iter().any(|m| m == "Progress"), "{members:?}");
        (restored_to, outcome, reason)
    }
}

/// A tree only root can change, outside the fixture (whose `/tmp` anyone
/// may write to): `data/` (root's, 0755) with alice's `notes.txt` (0640),
/// root's `run.sh` and a symlink. Only such a tree is restored in place,
/// and only there does a root copy go. Gone on drop.
struct RootTree {
    dir: tempfile::TempDir,
}

impl RootTree {
    fn new(alice: (u32, u32)) -> Self {
        let tree = RootTree { dir: root_target() };
        let data = tree.path("data");
        std::fs::create_dir(&data).unwrap();
        chmod(&data, 0o755);
        std::fs::write(data.join("notes.txt"), "alice's notes\n").unwrap();
        chown(&data.join("notes.txt"), alice);
        chmod(&data.join("notes.txt"), 0o640);
        std::fs::write(data.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        chmod(&data.join("run.sh"), 0o755);
        std::os::unix::fs::symlink("notes.txt", data.join("link")).unwrap();
        tree
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

impl World {
    /// A [`RootTree`] with alice's notes.
    fn root_tree(&self) -> RootTree {
        RootTree::new(uid_of(&self.alice))
    }

    /// alice's `Restore` call with `args`, as gdbus ended.
    fn alice_restores(&self, args: &[&str]) -> Output {
        call(&self.w, Some(&self.alice.user), "Restore", args)
    }

    /// `RestoreInPlace` as `user`: Ok((outcome, reason)) once it ended, or
    /// Err(what gdbus said) when the call was refused.
    fn in_place_as(
        &self,
        user: &TempUser,
        snapshot: &str,
        path: &Path,
    ) -> Result<(String, String), String> {
        let recorder = SignalRecorder::start(&self.w.bus);
        let out = call(
            &self.w,
            Some(&user.user),
            "RestoreInPlace",
            &[snapshot, path.to_str().unwrap()],
        );
        if !out.status.success() {
            return Err(text(&out));
        }
        Ok(self.finished(&recorder))
    }
}

/// How many restores the history holds.
fn restores(w: &BusFixture) -> usize {
    let runs = w.fx.env.history().runs;
    runs.iter()
        .filter(|r| r.operation == Operation::Restore)
        .count()
}

fn nothing_mounted() {
    let mountinfo = contents("/proc/thread-self/mountinfo");
    assert!(
        !mountinfo.contains(MOUNT_ROOT) && !mountinfo.contains(" - fuse restic "),
        "{mountinfo}"
    );
}

#[test]
fn restore_into_a_folder_as_the_user_who_asked() {
    if !have_root("restore_into_a_folder_as_the_user_who_asked") {
        return;
    }
    let world = world();
    let w = &world.w;
    let alice = uid_of(&world.alice);
    let target = world.target_of(&world.alice);
    let original = w.fx.path("home/alice");
    let (restored_to, outcome, reason) = world.restore_as(&world.alice, &original, &target);
    assert_eq!(restored_to, target.join("alice"));
    assert_eq!(outcome, "completed-with-warnings", "{reason}");
    assert!(
        reason.contains("1 file or folder could not be read"),
        "{reason}"
    );

    // Byte for byte, alice's, modes kept without setuid, the symlink a symlink.
    for rel in ["notes.txt", "run.sh", "sub/deep.bin"] {
        assert_eq!(
            std::fs::read(restored_to.join(rel)).unwrap(),
            std::fs::read(original.join(rel)).unwrap(),
            "{rel}"
        );
    }
    for (rel, mode) in [
        ("", 0o755),
        ("notes.txt", 0o640),
        ("run.sh", 0o755),
        ("sub", 0o750),
        ("sub/deep.bin", 0o600),
    ] {
        let meta = std::fs::symlink_metadata(restored_to.join(rel)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), alice, "{rel}");
        assert_eq!(meta.mode() & 0o7777, mode, "{rel}");
        let before = std::fs::symlink_metadata(original.join(rel)).unwrap();
        if !meta.is_dir() {
            assert_eq!(meta.mtime(), before.mtime(), "{rel}");
        }
    }
    let link = restored_to.join("link");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("notes.txt"));
    assert_eq!(std::fs::symlink_metadata(&link).unwrap().uid(), alice.0);
    // bob's private file in alice's folder was left out.
    assert!(!restored_to.join("bobs-secret.txt").exists());

    // The history: one restore, as it ended, of that path.
    let history = w.fx.env.history();
    let record = history.last().unwrap();
    assert_eq!(record.operation, Operation::Restore);
    assert_eq!(record.outcome, Outcome::CompletedWithWarnings);
    assert_eq!(record.reason, reason);
    assert_eq!(record.places, [original.display().to_string()]);

    // A path the snapshot's places hold, but not the snapshot: it says so.
    let (_, outcome, reason) =
        world.restore_as(&world.alice, &original.join("never-there"), &target);
    assert_eq!(outcome, "failed");
    let said = "is not in the snapshot, or you may not read it";
    assert!(reason.contains(said), "{reason}");
    assert_eq!(entries(&target), 1);
    // bob's private file is there, but alice learns no more than of a file
    // that is not (review M2): the same words.
    let (_, outcome, secret) =
        world.restore_as(&world.alice, &original.join("bobs-secret.txt"), &target);
    assert_eq!(outcome, "failed");
    assert_eq!(
        secret.replace("bobs-secret.txt", "never-there"),
        reason,
        "a file alice may not read is told apart from one that is not there"
    );
    assert_eq!(entries(&target), 1);

    // Again: a second copy beside the first, never over it.
    let (again, outcome, reason) =
        world.restore_as(&world.alice, &original.join("notes.txt"), &target);
    assert_eq!(again, target.join("notes.txt"));
    assert_eq!(outcome, "completed", "{reason}");
    let (third, _, _) = world.restore_as(&world.alice, &original.join("notes.txt"), &target);
    assert_eq!(third, target.join("notes.txt (restored 1)"));
    assert_eq!(contents(&third), "alice's notes\n");
    nothing_mounted();
    assert!(w.fx.repo.locks().is_empty(), "a repository lock stayed");
}

#[test]
fn two_users_each_restore_only_their_own_files() {
    if !have_root("two_users_each_restore_only_their_own_files") {
        return;
    }
    let world = world();
    let home = world.w.fx.path("home");
    let for_alice = world.target_of(&world.alice);
    let for_bob = world.target_of(&world.bob);

    let (a, outcome, reason) = world.restore_as(&world.alice, &home, &for_alice);
    assert_eq!(outcome, "completed-with-warnings", "{reason}");
    assert!(a.join("alice/notes.txt").exists());
    assert!(a.join("a.txt").exists(), "the fixture's 0644 file");
    assert!(!a.join("bob").exists(), "bob's 0700 folder");
    assert!(!a.join("alice/bobs-secret.txt").exists());

    let (b, outcome, reason) = world.restore_as(&world.bob, &home, &for_bob);
    assert_eq!(outcome, "completed-with-warnings", "{reason}");
    assert_eq!(contents(b.join("bob/bob.txt")), "bob's file\n");
    assert_eq!(
        std::fs::metadata(b.join("bob/bob.txt")).unwrap().uid(),
        uid_of(&world.bob).0
    );
    // alice's 0640 notes are her group's; her 0600 file is hers.
    assert!(!b.join("alice/notes.txt").exists());
    assert!(!b.join("alice/sub/deep.bin").exists());
    // The folder bob may read, but no further: alice/sub is 0750.
    assert!(b.join("alice/run.sh").exists());
    assert_eq!(restores(&world.w), 2);
    nothing_mounted();
}

/// The name of a copy is picked as the caller: root looking into the
/// target would answer a user differently when a file they may not see
/// is there (`… (restored 1)`) or not, and when a folder in it exists or
/// not (review: the leftover of issue 13).
#[test]
fn the_target_is_looked_at_as_the_caller() {
    if !have_root("the_target_is_looked_at_as_the_caller") {
        return;
    }
    let world = world();
    let notes = world.w.fx.path("home/alice/notes.txt");
    let notes = notes.to_str().unwrap();
    // bob's folder (0700) with a file and a folder of his, and without.
    let bobs = world.target_of(&world.bob);
    std::fs::write(
        bobs.join("notes.txt"),
        "bob's own notes
",
    )
    .unwrap();
    std::fs::create_dir(bobs.join("sub")).unwrap();
    let asked = |target: &Path| {
        let out = world.alice_restores(&[&world.snapshot, notes, target.to_str().unwrap()]);
        // What alice learns, without the path she gave.
        (
            out.status.success(),
            text(&out).replace(target.to_str().unwrap(), "TARGET"),
        )
    };
    let there = asked(&bobs);
    let sub_there = asked(&bobs.join("sub"));
    let sub_missing = asked(&bobs.join("missing"));
    std::fs::remove_file(bobs.join("notes.txt")).unwrap();
    let not_there = asked(&bobs);
    for (what, (ok, said)) in [
        ("bob's folder with notes.txt", &there),
        ("bob's folder without it", &not_there),
        ("a folder in bob's", &sub_there),
        ("no folder in bob's", &sub_missing),
    ] {
        assert!(
            !ok && said.contains(INVALID_ARGS)
                && said.contains("target:")
                && said.contains("Permission denied"),
            "{what}: {said}"
        );
    }
    assert_eq!(there, not_there, "whether bob has notes.txt");
    assert_eq!(sub_there, sub_missing, "whether bob has a folder");
    assert_eq!(restores(&world.w), 0);
    assert_eq!(entries(&bobs), 1, "bob's sub, and nothing new");
}

#[test]
fn restore_in_place_is_for_administrators() {
    if !have_root("restore_in_place_is_for_administrators") {
        return;
    }
    let world = world();
    let w = &world.w;
    let tree = world.root_tree();
    let data = tree.path("data");
    let snapshot = restic_backup(&w.fx, &data, None);
    let notes = data.join("notes.txt");
    std::fs::write(&notes, "changed since\n").unwrap();
    chmod(&notes, 0o666);
    // Gone since (restic 0.14 does not replace a symlink that is there).
    let link = data.join("link");
    std::fs::remove_file(&link).unwrap();
    let later = data.join("later.txt");
    std::fs::write(&later, "made after the snapshot\n").unwrap();

    // bob may restore into a folder, but not in place.
    let refused = world
        .in_place_as(&world.bob, &snapshot, &notes)
        .unwrap_err();
    assert!(refused.contains(ACCESS_DENIED), "{refused}");
    assert_eq!(contents(&notes), "changed since\n");

    let (outcome, reason) = world
        .in_place_as(&world.admin, &snapshot[..8], &data)
        .unwrap_or_else(|e| panic!("{e}\n{}", w.bus.services_stdout()));
    assert_eq!(outcome, "completed", "{reason}");
    assert_eq!(contents(&notes), "alice's notes\n");
    let meta = std::fs::metadata(&notes).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!(meta.uid(), uid_of(&world.alice).0);
    assert!(later.exists(), "a file made after the snapshot stays");
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("notes.txt"));
    let record = w.fx.env.history().last().cloned().unwrap();
    assert_eq!(
        (record.operation, record.outcome),
        (Operation::Restore, Outcome::Completed)
    );

    // What restic cannot write (an immutable file) is counted, the rest done.
    let script = data.join("run.sh");
    std::fs::write(&script, "changed\n").unwrap();
    std::fs::write(&notes, "changed again\n").unwrap();
    let _immutable = Immutable::set(&script);
    let (outcome, reason) = world.in_place_as(&world.admin, &snapshot, &data).unwrap();
    assert_eq!(outcome, "completed-with-warnings", "{reason}");
    assert!(reason.contains("could not be restored"), "{reason}");
    assert!(reason.contains("run.sh"), "{reason}");
    assert_eq!(contents(&script), "changed\n");
    assert_eq!(contents(&notes), "alice's notes\n");
}

/// The review's attack (H1): alice's folder in a root-only tree, backed
/// up; she swaps it for a symlink to a root-only folder and asks an
/// administrator to restore her file in place. restic would follow the
/// symlink (and chmod its target to her folder's mode): it is refused
/// before restic runs, as is anything a user could change.
#[test]
fn in_place_refuses_what_a_user_can_change() {
    if !have_root("in_place_refuses_what_a_user_can_change") {
        return;
    }
    let world = world();
    let w = &world.w;
    let alice = uid_of(&world.alice);
    let tree = RootTree::new(alice);
    let x = tree.path("data/x");
    std::fs::create_dir(&x).unwrap();
    std::fs::write(x.join("y"), "alice's y\n").unwrap();
    chown(&x.join("y"), alice);
    chown(&x, alice);
    chmod(&x, 0o777);
    let snapshot = restic_backup(&w.fx, &tree.path("data"), None);
    let secret = tree.path("secret");
    std::fs::create_dir(&secret).unwrap();
    chmod(&secret, 0o700);
    std::fs::rename(&x, tree.path("data/x.old")).unwrap();
    std::os::unix::fs::symlink(&secret, &x).unwrap();
    chown(&x, alice);

    let refused = world
        .in_place_as(&world.admin, &snapshot, &x.join("y"))
        .unwrap_err();
    assert!(refused.contains(INVALID_ARGS), "{refused}");
    assert!(refused.contains(&format!("{x:?}")), "{refused}");
    assert!(refused.contains(&world.alice.user), "{refused}");
    assert!(
        refused.contains("restore it into a folder instead"),
        "{refused}"
    );
    let meta = std::fs::metadata(&secret).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o700, 0));
    assert!(!secret.join("y").exists());

    // A user's file, a user's folder below, a folder anyone may write to.
    std::fs::remove_file(&x).unwrap();
    std::fs::rename(tree.path("data/x.old"), &x).unwrap();
    let notes = tree.path("data/notes.txt");
    for (path, offender) in [
        (notes.clone(), notes.clone()),
        (x.join("y"), x.clone()),
        (tree.path("data"), x.clone()),
    ] {
        let refused = world
            .in_place_as(&world.admin, &snapshot, &path)
            .unwrap_err();
        assert!(
            refused.contains(INVALID_ARGS) && refused.contains(&format!("{offender:?}")),
            "{}: {refused}",
            path.display()
        );
    }
    // The fixture's tree is below the sticky /tmp: refused as well.
    let refused = world
        .in_place_as(&world.admin, &world.snapshot, &w.fx.path("home/alice"))
        .unwrap_err();
    assert!(refused.contains("\"/tmp\""), "{refused}");
    // The command line too, with its usage code.
    w.fx.env.use_no_bus();
    let cli =
        w.fx.env
            .run(&["restore", "--in-place", &snapshot, notes.to_str().unwrap()]);
    cli.assert_code(2);
    assert!(
        cli.output().contains("restore it into a folder instead"),
        "{}",
        cli.output()
    );
    assert_eq!(restores(w), 0);
}

/// restic's --include is a pattern (M1): a file named `*` restored in
/// place leaves its siblings alone, `[1]` in a name is no character class,
/// and a path the snapshot does not hold fails instead of restoring
/// nothing.
#[test]
fn in_place_restores_the_path_literally() {
    if !have_root("in_place_restores_the_path_literally") {
        return;
    }
    let world = world();
    let w = &world.w;
    let tree = world.root_tree();
    let data = tree.path("data");
    let star = data.join("*");
    let sibling = data.join("sibling.txt");
    let bracket = data.join("report[1].txt");
    std::fs::write(&star, "the star\n").unwrap();
    std::fs::write(&sibling, "the sibling\n").unwrap();
    std::fs::write(&bracket, "the report\n").unwrap();
    let snapshot = restic_backup(&w.fx, &data, None);
    for f in [&star, &sibling, &bracket] {
        std::fs::write(f, "changed\n").unwrap();
    }
    let (outcome, reason) = world.in_place_as(&world.admin, &snapshot, &star).unwrap();
    assert_eq!(outcome, "completed", "{reason}");
    assert_eq!(contents(&star), "the star\n");
    assert_eq!(contents(&sibling), "changed\n");
    assert_eq!(contents(data.join("notes.txt")), "alice's notes\n");
    let (outcome, reason) = world
        .in_place_as(&world.admin, &snapshot, &bracket)
        .unwrap();
    assert_eq!(outcome, "completed", "{reason}");
    assert_eq!(contents(&bracket), "the report\n");
    assert_eq!(contents(&sibling), "changed\n");
    let (outcome, reason) = world
        .in_place_as(&world.admin, &snapshot, &data.join("never-there"))
        .unwrap();
    assert_eq!(outcome, "failed", "{reason}");
    assert!(reason.contains("is not in snapshot"), "{reason}");
}

/// Another machine's snapshot (M5): its owners are that machine's uids.
/// Neither a user's Restore nor RestoreInPlace takes it; root's command
/// line restores it into a folder.
#[test]
fn only_this_machines_snapshots_are_restored_for_users_and_in_place() {
    if !have_root("only_this_machines_snapshots_are_restored_for_users_and_in_place") {
        return;
    }
    let world = world();
    let w = &world.w;
    let tree = world.root_tree();
    let data = tree.path("data");
    let other = restic_backup(&w.fx, &data, Some("elsewhere"));
    let target = world.target_of(&world.alice);
    let out = world.alice_restores(&[&other, data.to_str().unwrap(), target.to_str().unwrap()]);
    let said = text(&out);
    assert!(
        said.contains(INVALID_ARGS) && said.contains("snapshot:") && said.contains("\"elsewhere\""),
        "{said}"
    );
    let refused = world.in_place_as(&world.admin, &other, &data).unwrap_err();
    assert!(
        refused.contains(INVALID_ARGS) && refused.contains("\"elsewhere\""),
        "{refused}"
    );
    assert_eq!(entries(&target), 0);
    w.fx.env.use_no_bus();
    let root_target = tree.path("restored");
    std::fs::create_dir(&root_target).unwrap();
    w.fx.env
        .run(&[
            "restore",
            &other,
            data.to_str().unwrap(),
            "--target",
            root_target.to_str().unwrap(),
        ])
        .assert_code(exit::COMPLETED);
    assert_eq!(
        contents(root_target.join("data/notes.txt")),
        "alice's notes\n"
    );
}

/// Control characters in an argument (L3) would forge journal lines.
#[test]
fn control_characters_are_refused() {
    if !have_root("control_characters_are_refused") {
        return;
    }
    let world = world();
    let w = &world.w;
    let target = world.target_of(&world.alice);
    let home = w.fx.path("home/alice");
    // gdbus reads `\n` in a string as a newline.
    let forged = format!("{}\\nFake journal line", home.display());
    let out = world.alice_restores(&[&world.snapshot, &forged, target.to_str().unwrap()]);
    let said = text(&out);
    assert!(
        said.contains(INVALID_ARGS) && said.contains("path:") && said.contains("control character"),
        "{said}"
    );
    let out = world.alice_restores(&[
        &world.snapshot,
        home.to_str().unwrap(),
        &format!("{}\\x1b", target.display()),
    ]);
    assert!(text(&out).contains("target:"), "{}", text(&out));
}

/// `chattr +i` on a file, undone on drop (else the fixture could not
/// remove it).
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Self {
        require_tool("chattr", "e2fsprogs");
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "chattr +i {}", path.display());
        Immutable(path.to_owned())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn invalid_arguments_are_refused_naming_the_argument() {
    if !have_root("invalid_arguments_are_refused_naming_the_argument") {
        return;
    }
    let world = world();
    let w = &world.w;
    let target = world.target_of(&world.alice);
    let home = w.fx.path("home/alice");
    let home = home.to_str().unwrap();
    let target = target.to_str().unwrap();
    let dotdot = format!("{home}/../bob");
    let cases: [(&str, [&str; 3], &str); 6] = [
        ("..", [&world.snapshot, &dotdot, target], "path"),
        (
            "relative path",
            [&world.snapshot, "home/alice", target],
            "path",
        ),
        ("relative target", [&world.snapshot, home, "tmp"], "target"),
        (
            "missing target",
            [&world.snapshot, home, "/nonexistent/x"],
            "target",
        ),
        (
            "unknown snapshot",
            ["deadbeefdeadbeef", home, target],
            "snapshot",
        ),
        ("short snapshot", ["abc", home, target], "snapshot"),
    ];
    for (what, args, argument) in cases {
        let out = world.alice_restores(&args);
        let said = text(&out);
        assert!(
            !out.status.success()
                && said.contains(INVALID_ARGS)
                && said.contains(&format!("{argument}:")),
            "{what}: {said}"
        );
    }
    // "/etc": a path the snapshot does not hold.
    for path in ["/etc/../etc", "/etc"] {
        let out = call(w, None, "RestoreInPlace", &[&world.snapshot, path]);
        assert!(
            text(&out).contains(INVALID_ARGS) && text(&out).contains("path:"),
            "{path}: {}",
            text(&out)
        );
    }
    // Nothing ran.
    assert_eq!(restores(w), 0);
    assert_eq!(entries(target), 0);
}

#[test]
fn the_command_line_restores_as_root() {
    if !have_root("the_command_line_restores_as_root") {
        return;
    }
    let world = world();
    let w = &world.w;
    w.fx.env.use_no_bus();
    let tree = world.root_tree();
    let target = tree.path("restored");
    std::fs::create_dir(&target).unwrap();
    let original = w.fx.path("home/alice");
    let done = w.fx.env.run(&[
        "restore",
        &world.snapshot[..8],
        original.to_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
    ]);
    done.assert_code(exit::COMPLETED);
    // Root reads everything; the copies are root's.
    let secret = target.join("alice/bobs-secret.txt");
    assert_eq!(contents(&secret), "bob's\n");
    assert_eq!(std::fs::metadata(&secret).unwrap().uid(), 0);

    // Root's copy goes only where no user can change the way (H2): not
    // into alice's folder, nor below the sticky /tmp.
    let alices = tree.path("alices");
    std::fs::create_dir(&alices).unwrap();
    chown(&alices, uid_of(&world.alice));
    chmod(&alices, 0o700);
    for (into, offender) in [
        (alices.clone(), alices.clone()),
        (world.targets.path().to_owned(), PathBuf::from("/tmp")),
    ] {
        let refused = w.fx.env.run(&[
            "restore",
            &world.snapshot,
            original.to_str().unwrap(),
            "--target",
            into.to_str().unwrap(),
        ]);
        refused.assert_code(2);
        assert!(
            refused.output().contains(&format!("{offender:?}"))
                && refused.output().contains("/root/restored"),
            "{}",
            refused.output()
        );
    }
    assert_eq!(entries(&alices), 0);
    // In place, as root, in a root-only tree.
    let notes = tree.path("data/notes.txt");
    let snapshot = restic_backup(&w.fx, &tree.path("data"), None);
    std::fs::write(&notes, "changed\n").unwrap();
    // restic 0.14 does not replace a symlink that is there.
    std::fs::remove_file(tree.path("data/link")).unwrap();
    w.fx.env
        .run(&[
            "restore",
            "--in-place",
            &snapshot[..8],
            tree.path("data").to_str().unwrap(),
        ])
        .assert_code(exit::COMPLETED);
    assert_eq!(contents(&notes), "alice's notes\n");
    assert_eq!(restores(w), 2);
    let bad =
        w.fx.env
            .run(&["restore", "deadbeef", "/x", "--target", "/tmp"]);
    bad.assert_code(2);
    assert!(bad.output().contains("snapshot"), "{}", bad.output());
    // The same for root on the bus.
    let out = call(
        w,
        None,
        "Restore",
        &[
            &world.snapshot,
            original.to_str().unwrap(),
            alices.to_str().unwrap(),
        ],
    );
    assert!(text(&out).contains(INVALID_ARGS), "{}", text(&out));
}

/// Backs up `home` (3000 files, so that the copy takes a while) and starts
/// a Restore of it as root into a root-only folder; that folder and the
/// recorder of the run's signals.
fn start_root_restore(w: &BusFixture) -> (tempfile::TempDir, SignalRecorder) {
    w.many_files(3000);
    w.fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    let snapshot = w.fx.repo.snapshots()[0].id.clone();
    let target = root_target();
    let recorder = SignalRecorder::start(&w.bus);
    let home = w.fx.path("home");
    let out = call(
        w,
        None,
        "Restore",
        &[
            &snapshot,
            home.to_str().unwrap(),
            target.path().to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    (target, recorder)
}

/// The copier among the activated helper's descendants, held still
/// (SIGSTOP); its pid.
fn stop_the_copier(w: &BusFixture) -> i32 {
    let copier = wait::until("the copier", wait::DEADLINE, || {
        w.bus.activated().into_iter().find_map(|helper| {
            igotchuu_e2e::procs::descendants(helper)
                .into_iter()
                .find(|p| {
                    igotchuu_e2e::procs::cmdline(*p).is_some_and(|c| c.contains("restore-copy"))
                })
        })
    });
    signal(copier, nix::sys::signal::SIGSTOP).unwrap();
    // What it copies is the caller's business: not in the command line,
    // which every local user may read.
    let cmdline = igotchuu_e2e::procs::cmdline(copier).unwrap_or_default();
    let fixture = w.fx.path("home");
    assert!(
        !cmdline.contains(fixture.to_str().unwrap()) && !cmdline.contains("/ids/"),
        "{cmdline}"
    );
    copier
}

fn signal(pid: i32, signal: nix::sys::signal::Signal) -> nix::Result<()> {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
}

/// (operation, outcome, reason) of the next OperationFinished.
fn finished_body(recorder: &SignalRecorder) -> (String, String, String) {
    recorder
        .wait_for("OperationFinished", wait::DEADLINE)
        .body()
}

fn wait_gone(pid: i32) {
    wait::until("the copier to be gone", wait::DEADLINE, || {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
}

#[test]
fn stop_ends_a_restore_as_stopped() {
    if !have_root("stop_ends_a_restore_as_stopped") {
        return;
    }
    let w = activated_bus();
    // Root's copy goes only into a folder no user can change.
    let (_target, recorder) = start_root_restore(&w);
    // Held still so that the Stop comes mid-copy.
    let copier = stop_the_copier(&w);
    let out = call(&w, None, "Stop", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let _ = signal(copier, nix::sys::signal::SIGCONT);
    let (operation, outcome, reason) = finished_body(&recorder);
    assert_eq!(
        (operation.as_str(), outcome.as_str()),
        ("restore", "stopped"),
        "{reason}"
    );
    let record = w.fx.env.history().last().cloned().unwrap();
    assert_eq!(
        (record.operation, record.outcome),
        (Operation::Restore, Outcome::Stopped)
    );
    wait_gone(copier);
}

/// The copier runs as the caller, who may SIGSTOP it (M4): after the
/// configuration's stall_timeout without a word it is killed and the
/// restore fails, saying so.
#[test]
fn a_stalled_copy_is_killed() {
    if !have_root("a_stalled_copy_is_killed") {
        return;
    }
    let w = activated_bus();
    let mut spec = w.fx.spec(&["home"]);
    spec.raw_top.push("stall_timeout = 3".into());
    w.fx.env.write_spec(&spec);
    let (_target, recorder) = start_root_restore(&w);
    let copier = stop_the_copier(&w);
    let (operation, outcome, reason) = finished_body(&recorder);
    assert_eq!(
        (operation.as_str(), outcome.as_str()),
        ("restore", "failed"),
        "{reason}"
    );
    assert!(reason.contains("stalled"), "{reason}");
    wait_gone(copier);
    nothing_mounted();
}
