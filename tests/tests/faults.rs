//! Faults, each with a clear outcome, no snapshot or mount left, and the
//! next run working: the repository server killed in mid-backup, the
//! repository locked by another host's restic, `password_command` failing
//! or hanging, the disk that holds the snapshots full, restic missing, and
//! restic crashing. (A server that freezes is `stall.rs`.)

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use igotchuu_dbus::Outcome;
use igotchuu_e2e::fixture::{noise, write_file, Baseline, Fixture};
use igotchuu_e2e::helper::{exit, Finished};
use igotchuu_e2e::repo::{Repo, RESTIC};
use igotchuu_e2e::servers::{restic, RestServer};
use igotchuu_e2e::{have_root, run, wait};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A failed run: exit 1, `reason_has` in what the helper printed and in the
/// history's reason, and nothing left.
fn failed_saying(fx: &Fixture, base: &Baseline, done: &Finished, reason_has: &str) -> String {
    done.assert_code(exit::FAILED);
    let record = fx.env.history().runs.pop().expect("a history record");
    eprintln!("{}: {}", done.label, record.reason);
    assert_eq!(record.outcome, Outcome::Failed, "{record:?}");
    assert!(record.reason.contains(reason_has), "{record:?}\n{done:?}");
    assert!(done.output().contains(reason_has), "{done:?}");
    fx.assert_clean(base, &done.label);
    record.reason
}

/// The next run completes, and leaves nothing either.
fn next_run_completes(fx: &Fixture, base: &Baseline) {
    let done = fx.env.run(&["backup"]);
    done.assert_code(exit::COMPLETED);
    fx.assert_clean(base, "the run after the fault");
}

fn small_files(fx: &Fixture) {
    fx.write_files(&BTreeMap::from([
        ("home/a.txt", "alpha\n"),
        ("home/b.txt", "bravo\n"),
    ]));
}

/// The `stall_timeout` of the runs whose repository server is killed.
/// (restic 0.14 prints a line for each retry of a failed request, which
/// the helper takes as a sign of life; only once the pause between two
/// retries, growing by half each time, exceeds the limit does the run end.)
const STALL: Duration = Duration::from_secs(5);

#[test]
fn the_rest_server_killed_in_mid_backup() {
    if !have_root("the_rest_server_killed_in_mid_backup") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let data = fx.env.scratch().join("served");
    std::fs::create_dir(&data).unwrap();
    let mut server = RestServer::start(&data);
    let cache = fx.env.scratch().join("check-cache");
    run(restic(&server.url(), &[], &fx.repo.password_file(), &cache).args(["init", "-q"]));
    write_file(&fx.path("home/big.bin"), &noise(64 << 20));
    small_files(&fx);
    let base = fx.baseline();
    let mut spec = fx.spec(&["home"]);
    spec.repo = Some(server.url());
    // restic 0.14 retries a dead server for many minutes, and after SIGINT
    // it tries to remove its lock there as long: the stall limit ends it.
    spec.raw_top
        .push(format!("stall_timeout = {}", STALL.as_secs()));
    fx.env.write_spec(&spec);

    fx.wrapper.pause_on_status(true);
    let running = fx.env.spawn(&["backup"]);
    let inv = fx.wrapper.wait_started(1, wait::DEADLINE);
    inv.wait_paused(wait::DEADLINE);
    server.kill();
    inv.resume();
    let killed = Instant::now();
    let done = running.wait(Duration::from_secs(240));
    let took = killed.elapsed();
    eprintln!("ended {took:?} after the server was killed");
    let reason = failed_saying(&fx, &base, &done, "no progress for 5 seconds");
    assert!(reason.contains("connection refused"), "{reason}");
    assert!(took >= STALL, "{took:?}");

    fx.wrapper.pause_on_status(false);
    server.restart();
    next_run_completes(&fx, &base);
}

/// `restic key passwd` run as host `other` (a UTS namespace of its own):
/// it holds an exclusive lock while it waits for the new password on a
/// stdin that never gives one. SIGINT ends it, and it removes its lock.
struct OtherHostLock {
    child: Child,
}

impl OtherHostLock {
    fn take(repo: &Repo) -> Self {
        let restic_env: Vec<_> = repo
            .command()
            .get_envs()
            .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
            .collect();
        let mut unshare = Command::new("unshare");
        unshare
            .args(["--uts", "sh", "-c", "hostname other && exec \"$0\" \"$@\""])
            .arg(RESTIC)
            .args(["key", "passwd"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in restic_env {
            match v {
                Some(v) => unshare.env(k, v),
                None => unshare.env_remove(k),
            };
        }
        let child = unshare.spawn().expect("unshare --uts restic key passwd");
        let lock = OtherHostLock { child };
        wait::until("the other host's lock", wait::DEADLINE, || {
            (!repo.locks().is_empty()).then_some(())
        });
        lock
    }
}

impl Drop for OtherHostLock {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(wait::POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_repository_locked_by_another_host() {
    if !have_root("a_repository_locked_by_another_host") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    small_files(&fx);
    fx.env.write_spec(&fx.spec(&["home"]));
    let base = fx.baseline();
    let lock = OtherHostLock::take(&fx.repo);
    let done = fx.env.run(&["backup"]);
    let reason = failed_saying(&fx, &base, &done, "locked by another restic process (PID ");
    assert!(
        reason.contains(" on host other, user root, an exclusive lock)"),
        "{reason}"
    );
    if RESTIC.version().at_least(0, 16, 0) {
        // restic 0.16+ waits for a lock when asked (`--retry-lock` in
        // `restic_backup_args`): the run completes once the other goes.
        let mut spec = fx.spec(&["home"]);
        spec.restic_backup_args = vec!["--retry-lock".into(), "1m".into()];
        fx.env.write_spec(&spec);
        let running = fx.env.spawn(&["backup"]);
        fx.wrapper.wait_started(2, wait::DEADLINE);
        std::thread::sleep(Duration::from_secs(2));
        drop(lock);
        running.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
        fx.assert_clean(&base, "a run that waited for the lock");
        assert_eq!(fx.repo.snapshots().len(), 1);
    } else {
        drop(lock);
        assert!(fx.repo.snapshots().is_empty());
    }
    assert!(fx.repo.locks().is_empty(), "a lock stayed");
    next_run_completes(&fx, &base);
}

#[test]
fn a_failing_password_command() {
    if !have_root("a_failing_password_command") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    small_files(&fx);
    let base = fx.baseline();
    let mut spec = fx.spec(&["home"]);
    spec.password_file = None;
    spec.password_command = Some("false".into());
    fx.env.write_spec(&spec);
    let done = fx.env.run(&["backup"]);
    failed_saying(&fx, &base, &done, "could not get the repository password");

    spec.password_command = Some(format!("cat {}", fx.repo.password_file().display()));
    fx.env.write_spec(&spec);
    next_run_completes(&fx, &base);
}

/// A password command that never ends (a number no other test uses).
const HANGING: &str = "sleep 271";

#[test]
fn a_hanging_password_command() {
    if !have_root("a_hanging_password_command") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    small_files(&fx);
    let base = fx.baseline();
    let mut spec = fx.spec(&["home"]);
    spec.password_file = None;
    spec.password_command = Some(HANGING.into());
    spec.raw_top.push("stall_timeout = 3".into());
    fx.env.write_spec(&spec);
    let start = Instant::now();
    let done = fx.env.spawn(&["backup"]).wait(Duration::from_secs(120));
    eprintln!(
        "the hanging password command's run took {:?}",
        start.elapsed()
    );
    let reason = failed_saying(&fx, &base, &done, "no progress for 3 seconds");
    assert!(
        reason.contains("`password_command` may not have ended"),
        "{reason}"
    );
    // SIGKILLed as the helper ends; give the kernel a moment to finish it.
    wait::until(
        "the hanging password_command to be gone",
        Duration::from_secs(10),
        || {
            igotchuu_e2e::procs::with_cmdline_containing(HANGING)
                .is_empty()
                .then_some(())
        },
    );

    spec.password_command = Some(format!("cat {}", fx.repo.password_file().display()));
    spec.raw_top.clear();
    fx.env.write_spec(&spec);
    next_run_completes(&fx, &base);
}

#[test]
fn the_disk_that_holds_the_snapshots_is_full() {
    if !have_root("the_disk_that_holds_the_snapshots_is_full") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    // The repository on the same disk, as `/var/backups` would be on `/`.
    let repo = Repo::init_in(fx.fs.path());
    write_file(&fx.path("home/new.bin"), &noise(8 << 20));
    small_files(&fx);
    let filler = fx.path("filler");
    let out = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "status=none"])
        .arg(format!("of={}", filler.display()))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No space left"),
        "{out:?}"
    );
    let base = fx.baseline();
    let mut spec = fx.spec(&["home"]);
    spec.repo = Some(repo.location().to_str().unwrap().into());
    spec.password_file = Some(repo.password_file());
    fx.env.write_spec(&spec);
    let start = Instant::now();
    let done = fx.env.spawn(&["backup"]).wait(Duration::from_secs(180));
    eprintln!("the run on a full disk took {:?}", start.elapsed());
    let reason = failed_saying(&fx, &base, &done, "a disk restic writes to is full");
    assert!(reason.contains("no space left on device"), "{reason}");
    // (restic cannot even lock the repository to list them.)
    let saved = std::fs::read_dir(repo.location().join("snapshots"))
        .unwrap()
        .count();
    assert_eq!(saved, 0, "a snapshot was saved");

    std::fs::remove_file(&filler).unwrap();
    run(Command::new("btrfs")
        .args(["filesystem", "sync"])
        .arg(fx.fs.path()));
    next_run_completes(&fx, &base);
    assert_eq!(repo.snapshots().len(), 1);
}

/// A folder with an executable `restic` script in it.
fn fake_restic(dir: &Path, body: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let exe = dir.join("restic");
    std::fs::write(&exe, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn restic_missing_or_crashing() {
    if !have_root("restic_missing_or_crashing") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    small_files(&fx);
    fx.env.write_spec(&fx.spec(&["home"]));
    let base = fx.baseline();

    let empty = fx.env.scratch().join("no-restic");
    std::fs::create_dir(&empty).unwrap();
    fx.env.set_var("PATH", empty.to_str().unwrap());
    let done = fx.env.run(&["backup"]);
    failed_saying(&fx, &base, &done, "restic is not installed");

    let crashing = fx.env.scratch().join("crashing");
    fake_restic(&crashing, "ulimit -c 0\nkill -SEGV $$");
    fx.env
        .set_var("PATH", &format!("{}:/usr/bin:/bin", crashing.display()));
    let done = fx.env.run(&["backup"]);
    let reason = failed_saying(&fx, &base, &done, "killed by SIGSEGV (signal 11)");
    assert!(reason.contains("restic crashed"), "{reason}");

    fx.env
        .set_var("PATH", fx.wrapper.path_env().to_str().unwrap());
    next_run_completes(&fx, &base);
}
