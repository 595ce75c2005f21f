//! Benchmark: `igotchuu backup` against a plain `restic backup` of the same tree.
//!
//! Run as root, after building the release helper:
//!
//! ```sh
//! cargo build --release --workspace --bins
//! cargo run --release -p igotchuu-e2e --bin bench-backup
//! ```
//!
//! On a 1 GiB loop btrfs it writes about 10,000 files (about 200 MB) into a
//! subvolume and makes an initial backup with the helper. Then each of 5
//! rounds runs three incremental backups of the unchanged tree, in rotating
//! order: the helper; plain restic with the arguments, `RESTIC_*`
//! environment and CPU/IO priority the helper gave its restic (read back
//! from the wrapper); and, as a control, that plain restic over a fresh
//! read-only snapshot bind-mounted on the tree, which separates the cost of
//! reading a new snapshot from the helper's own. It prints numbers and
//! asserts no timings: the median wall-time ratio helper/plain (goal ≤ 1.03),
//! the helper's own peak RSS without restic (goal ≤ 8 MiB), its own CPU
//! time, and how long it takes from its start to restic's start (config,
//! lock, snapshots, bind mounts) and from restic's end to its own end.
//!
//! The helper's restic runs under the measuring wrapper (bash, with restic
//! as its child); that costs a few milliseconds, counted against the helper.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use igotchuu_e2e::config::ConfigSpec;
use igotchuu_e2e::helper::{exit, helper_bin, HelperEnv};
use igotchuu_e2e::repo::Repo;
use igotchuu_e2e::wrapper::{Invocation, ResticWrapper, WrapperOptions};
use igotchuu_e2e::{have_root, LoopBtrfs};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;

const FS_MIB: u64 = 1024;
const DIRS: usize = 100;
const FILES_PER_DIR: usize = 100;
/// File sizes are uniform in [MIN, MAX): about 200 MB for 10,000 files.
const MIN_FILE: usize = 1024;
const MAX_FILE: usize = 39 * 1024;
const ROUNDS: usize = 5;
/// A backup of the tree should never take this long.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// How often the helper's memory is sampled.
const RSS_POLL: Duration = Duration::from_millis(50);

/// A small, fast generator: the data must be incompressible and unique,
/// so that restic's deduplication cannot skip it.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Writes the tree; returns (files, bytes).
fn make_tree(root: &Path) -> (usize, u64) {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut buf = vec![0u8; MAX_FILE];
    let mut bytes = 0;
    for d in 0..DIRS {
        let dir = root.join(format!("dir{d:03}"));
        std::fs::create_dir(&dir).expect("mkdir");
        for f in 0..FILES_PER_DIR {
            let size = MIN_FILE + (rng.next() as usize) % (MAX_FILE - MIN_FILE);
            rng.fill(&mut buf[..size]);
            std::fs::write(dir.join(format!("file{f:03}.bin")), &buf[..size]).expect("write");
            bytes += size as u64;
        }
    }
    (DIRS * FILES_PER_DIR, bytes)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The peak resident memory (VmHWM, KiB) of a live process.
fn vm_hwm_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The CPU time (user + system, in clock ticks) a live process has used itself.
fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15; the state, field 3, is first here.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Samples a process's VmHWM until told to stop; keeps the largest value.
/// Rarely, so as not to take CPU from restic, which runs at idle priority:
/// VmHWM only grows, and the wrapper reads it again when restic ends.
/// Kills the process if it runs past [`RUN_LIMIT`], so that a hanging
/// helper fails the benchmark instead of blocking it.
fn sample_hwm(pid: i32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        let start = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if start.elapsed() > RUN_LIMIT {
                eprintln!("the helper ran for more than {RUN_LIMIT:?}; killing it");
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            if let Some(v) = vm_hwm_kib(pid) {
                peak = peak.max(v);
            }
            std::thread::sleep(RSS_POLL);
        }
        peak
    })
}

/// The three ways of backing up the tree that each round compares.
#[derive(Debug, Clone, Copy)]
enum Arm {
    /// `igotchuu backup`.
    Helper,
    /// restic on the live tree, set up as the helper sets it up.
    Plain,
    /// The same over a fresh snapshot bind-mounted on the tree (control).
    Snapshot,
}

impl Arm {
    fn name(self) -> &'static str {
        match self {
            Arm::Helper => "helper",
            Arm::Plain => "plain",
            Arm::Snapshot => "snapshot",
        }
    }
}

struct HelperRun {
    wall: f64,
    /// Helper start → restic start.
    before_restic: f64,
    /// restic end → helper end.
    after_restic: f64,
    /// restic start → restic end.
    restic: f64,
    /// The wrapper's own recording before it started restic.
    wrapper: f64,
    /// The helper's own CPU seconds (not restic's).
    cpu: f64,
    /// The helper's VmHWM (KiB): the larger of the sampled top-level
    /// process and restic's parent just after restic ended.
    hwm_kib: u64,
}

fn helper_run(env: &HelperEnv, wrapper: &ResticWrapper) -> (HelperRun, Invocation) {
    let before = wrapper.invocations().len();
    let t0 = now_epoch();
    let clock = Instant::now();
    let running = env.spawn(&["backup"]);
    let pid = running.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_hwm(pid, stop.clone());
    // Wait for the exit without reaping, to read the helper's own CPU time
    // from its zombie (wait4's rusage would add restic's).
    waitid(
        Id::Pid(Pid::from_raw(pid)),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
    )
    .expect("waitid");
    let wall = clock.elapsed().as_secs_f64();
    let t1 = now_epoch();
    let cpu = cpu_ticks(pid).expect("the zombie's CPU time") as f64 / clock_ticks_per_second();
    stop.store(true, Ordering::Relaxed);
    let sampled_kib = sampler.join().expect("sampler");
    let done = running.wait_blocking();
    done.assert_code(exit::COMPLETED);
    let invs = wrapper.invocations();
    assert_eq!(invs.len(), before + 1, "the helper ran restic backup once");
    let inv = invs.last().unwrap().clone();
    let end = inv.end_time().expect("wrapper recorded restic's end");
    let exec = inv.exec_time().expect("wrapper recorded restic's start");
    let run = HelperRun {
        wall,
        before_restic: inv.start_time() - t0,
        after_restic: t1 - end,
        restic: end - exec,
        wrapper: exec - inv.start_time(),
        cpu,
        hwm_kib: sampled_kib.max(inv.parent_vm_hwm_kib().unwrap_or(0)),
    };
    (run, inv)
}

/// ioprio_set(2) constants (libc has only the syscall number).
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_SHIFT: libc::c_int = 13;

/// The ioprio value for `ionice -p`'s output, if it names a class.
fn ioprio_value(text: &str) -> Option<libc::c_int> {
    const CLASSES: [(&str, libc::c_int); 3] = [("realtime", 1), ("best-effort", 2), ("idle", 3)];
    let (name, level) = match text.split_once(": prio ") {
        Some((name, level)) => (name, level.trim().parse().ok()?),
        None => (text, 0),
    };
    let class = CLASSES.iter().find(|(n, _)| *n == name)?.1;
    Some((class << IOPRIO_CLASS_SHIFT) | level)
}

/// Plain restic gets the CPU and IO priority the helper gave its restic,
/// so that the comparison measures the helper's overhead only.
fn same_priority(cmd: &mut std::process::Command, template: &Invocation) {
    use std::os::unix::process::CommandExt;
    let (policy, nice) = template.sched();
    let ioprio = ioprio_value(&template.io_priority());
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, policy, &param);
            libc::setpriority(libc::PRIO_PROCESS, 0, nice);
            if let Some(v) = ioprio {
                libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, v);
            }
            Ok(())
        });
    }
}

/// restic set up as the helper set it up: same arguments, `RESTIC_*`
/// environment and priority.
fn plain_command(repo: &Repo, wrapper: &ResticWrapper, template: &Invocation) -> Command {
    let mut cmd = repo.command();
    same_priority(&mut cmd, template);
    for (k, v) in template.restic_env() {
        cmd.env(k, v);
    }
    cmd.env("RESTIC_CACHE_DIR", wrapper.cache_dir())
        .args(template.argv());
    cmd
}

/// Checks that [`same_priority`] works: a child set up like plain restic
/// reports the helper's restic's policy and nice value.
fn check_same_priority(template: &Invocation) {
    let mut cmd = Command::new("cat");
    cmd.arg("/proc/self/stat");
    same_priority(&mut cmd, template);
    let stat = igotchuu_e2e::run(&mut cmd);
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let (policy, nice): (i32, i32) = (fields[38].parse().unwrap(), fields[16].parse().unwrap());
    assert_eq!(
        (policy, nice),
        template.sched(),
        "plain restic would not run at the helper's priority"
    );
}

/// Plain restic, set up as the helper's; returns wall seconds.
fn plain_run(repo: &Repo, wrapper: &ResticWrapper, template: &Invocation) -> f64 {
    let mut cmd = plain_command(repo, wrapper, template);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let clock = Instant::now();
    let out = cmd.output().expect("run restic");
    let wall = clock.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "plain restic failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wall
}

/// One control run: plain restic over a fresh snapshot.
struct ControlRun {
    /// restic's wall seconds.
    restic: f64,
    /// `btrfs subvolume snapshot -r` and `delete`, in seconds (with the
    /// CLI's own start-up): the kernel's part of what the helper does.
    create: f64,
    delete: f64,
}

/// Plain restic over a fresh read-only snapshot bind-mounted on the source
/// (what the helper does, without the helper): separates the cost of backing
/// up a new snapshot from the helper's own.
fn snapshot_run(
    fs: &LoopBtrfs,
    source: &Path,
    repo: &Repo,
    wrapper: &ResticWrapper,
    template: &Invocation,
) -> ControlRun {
    let snap = fs.path().join("bench-control-snapshot");
    let clock = Instant::now();
    igotchuu_e2e::run(
        Command::new("btrfs")
            .args(["-q", "subvolume", "snapshot", "-r"])
            .arg(source)
            .arg(&snap),
    );
    let create = clock.elapsed().as_secs_f64();
    mount(
        Some(&snap),
        source,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .expect("bind");
    let restic = plain_run(repo, wrapper, template);
    umount2(source, MntFlags::empty()).expect("unmount");
    let clock = Instant::now();
    igotchuu_e2e::run(
        Command::new("btrfs")
            .args(["-q", "subvolume", "delete"])
            .arg(&snap),
    );
    ControlRun {
        restic,
        create,
        delete: clock.elapsed().as_secs_f64(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    if !have_root("bench-backup") {
        return;
    }
    println!("helper: {}", helper_bin().display());
    let fs = LoopBtrfs::new(FS_MIB);
    let source = fs.subvolume("data");
    let clock = Instant::now();
    let (files, bytes) = make_tree(&source);
    println!(
        "tree: {files} files, {:.1} MB in {} (written in {:.1} s)",
        bytes as f64 / 1e6,
        source.display(),
        clock.elapsed().as_secs_f64()
    );
    // Repository and cache on the loop filesystem too, outside the subvolume.
    let repo = Repo::init_in(fs.path());
    let wrapper = ResticWrapper::with(WrapperOptions {
        list_dirs: vec![],
        measure: true,
    });
    let env = HelperEnv::new(&wrapper);
    env.write_spec(&ConfigSpec::for_repo(&repo, std::slice::from_ref(&source)));

    let (initial, template) = helper_run(&env, &wrapper);
    println!(
        "initial backup (helper): {:.2} s\nrestic argv: {:?}\nrestic env: {:?}\n\
         restic priority (plain runs get the same): policy {} nice {} io {:?}",
        initial.wall,
        template.argv(),
        template.restic_env(),
        template.sched().0,
        template.sched().1,
        template.io_priority()
    );

    check_same_priority(&template);

    println!(
        "\n{:<5} {:<22} {:>8} {:>8} {:>8} {:>7} {:>8} {:>7} {:>9} {:>8} {:>6} {:>7}",
        "round",
        "order",
        "helper_s",
        "plain_s",
        "snap_s",
        "h/p",
        "restic_s",
        "wrap_ms",
        "before_ms",
        "after_ms",
        "cpu_ms",
        "hwm_KiB"
    );
    let mut ratios = Vec::new();
    let mut net_ratios = Vec::new();
    let mut creates = Vec::new();
    let mut deletes = Vec::new();
    let mut control_ratios = Vec::new();
    let mut befores = Vec::new();
    let mut afters = Vec::new();
    let mut peak_kib = initial.hwm_kib;
    for round in 0..ROUNDS {
        let mut order = [Arm::Helper, Arm::Plain, Arm::Snapshot];
        order.rotate_left(round % 3);
        let (mut helper, mut plain, mut control) = (None, 0.0, None);
        for arm in order {
            match arm {
                Arm::Helper => helper = Some(helper_run(&env, &wrapper).0),
                Arm::Plain => plain = plain_run(&repo, &wrapper, &template),
                Arm::Snapshot => {
                    control = Some(snapshot_run(&fs, &source, &repo, &wrapper, &template))
                }
            }
        }
        let h = helper.expect("the helper ran");
        let control = control.expect("the control ran");
        let snap = control.restic;
        creates.push(control.create * 1e3);
        deletes.push(control.delete * 1e3);
        let names: Vec<&str> = order.iter().map(|a| a.name()).collect();
        println!(
            "{:<5} {:<22} {:>8.3} {:>8.3} {:>8.3} {:>7.3} {:>8.3} {:>7.1} {:>9.1} {:>8.1} {:>6.0} {:>7}",
            round + 1,
            names.join(","),
            h.wall,
            plain,
            snap,
            h.wall / plain,
            h.restic,
            h.wrapper * 1e3,
            h.before_restic * 1e3,
            h.after_restic * 1e3,
            h.cpu * 1e3,
            h.hwm_kib
        );
        std::io::stdout().flush().ok();
        ratios.push(h.wall / plain);
        net_ratios.push((h.wall - h.wrapper) / plain);
        control_ratios.push(snap / plain);
        befores.push(h.before_restic * 1e3);
        afters.push(h.after_restic * 1e3);
        peak_kib = peak_kib.max(h.hwm_kib);
    }

    let summary = env.history();
    let last = summary.last().and_then(|r| r.summary.clone());
    println!();
    if let Some(s) = last {
        println!(
            "last incremental (helper): files new {}, changed {}, unmodified {}",
            s.files_new, s.files_changed, s.files_unmodified
        );
    }
    println!(
        "median wall-time ratio helper/plain: {:.3} (goal <= 1.03)",
        median(ratios)
    );
    println!(
        "  the same without the test wrapper's recording time: {:.3}",
        median(net_ratios)
    );
    println!(
        "median wall-time ratio snapshot/plain (plain restic over a fresh snapshot, no helper): {:.3}",
        median(control_ratios)
    );
    println!(
        "helper peak RSS (VmHWM, without restic): {:.2} MiB (goal <= 8 MiB)",
        peak_kib as f64 / 1024.0
    );
    println!(
        "median helper start -> restic start (config, lock, snapshot, bind mount): {:.1} ms",
        median(befores)
    );
    println!(
        "median restic end -> helper end (unmount, delete snapshot, history): {:.1} ms",
        median(afters)
    );
    println!(
        "median `btrfs subvolume snapshot -r` / `delete` of the tree (control, CLI): {:.1} / {:.1} ms",
        median(creates),
        median(deletes)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ionice_output() {
        assert_eq!(ioprio_value("idle"), Some(3 << 13));
        assert_eq!(ioprio_value("best-effort: prio 4"), Some((2 << 13) | 4));
        assert_eq!(ioprio_value("none: prio 4"), None);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
