//! Benchmark: what publishing on the system bus costs, with restic
//! reporting at 60 status lines a second.
//!
//! Run as root, after building the release helper:
//!
//! ```sh
//! cargo build --release --workspace --bins
//! cargo run --release -p igotchuu-e2e --bin bench-bus
//! ```
//!
//! On a loop btrfs it writes 60,000 small files into a subvolume (restic
//! reports as files complete, so it keeps reporting at the full rate), and
//! runs the release helper on a private system bus with the real polkitd,
//! `RESTIC_PROGRESS_FPS=60` and restic's `--force` (every round reads
//! every file). It prints numbers and asserts no timings:
//!
//! - for each of 3 rounds, a full run on the bus and one without a bus (the
//!   control arm: what the helper costs anyway), in alternating order: the
//!   helper's own CPU time as a fraction of restic's (goal < 2%), read
//!   from the helper's zombie (`utime+stime`, and `cutime+cstime` for
//!   restic, less what the restic wrapper used before it exec'd restic);
//!   restic's status lines a second (from a copy of its stdout); and the
//!   helper's signals a second on the bus, all and Progress alone, as a
//!   client that records them sees them; then the medians, and the
//!   difference between the arms: what publishing on the bus costs; and
//!   the same ratio only while restic runs (`steady_%`, sampled from
//!   `/proc` every 20 ms from its exec to its exit), which leaves out the
//!   fixed cost of snapshots and mounts before and after;
//! - for each of 3 runs stopped over the bus once restic reports: how long
//!   the Stop call took (polkit included), and the time from sending Stop
//!   to receiving BackupFinished("stopped").

use igotchuu_e2e::median;
use std::time::{Duration, Instant};

use igotchuu_dbus::proxy;
use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::helper::{exit, helper_bin, Running};
use igotchuu_e2e::{block_on, have_root, procs, wait};
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;

const FILES: usize = 60_000;
const ROUNDS: usize = 3;
/// A full run should never take this long.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// Waits for the helper to exit and reads its CPU time from the zombie:
/// (its own seconds, of them in the kernel, its reaped children's seconds).
fn exit_cpu(running: &Running) -> (f64, f64, f64) {
    waitid(
        Id::Pid(Pid::from_raw(running.pid())),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
    )
    .expect("waitid");
    let (own, children) = procs::cpu_ticks(running.pid()).expect("the zombie's CPU time");
    let (_, system) = procs::user_system_ticks(running.pid()).expect("the zombie's CPU time");
    let hz = procs::clock_ticks_per_second();
    (own as f64 / hz, system as f64 / hz, children as f64 / hz)
}

/// CPU seconds of the helper and of restic while restic runs, from its exec
/// to its last moments: what republishing restic's output costs, without
/// the fixed cost of snapshots and mounts before and after.
#[derive(Debug, Clone, Copy, Default)]
struct Steady {
    helper_s: f64,
    restic_s: f64,
}

impl Steady {
    fn ratio(&self) -> f64 {
        100.0 * self.helper_s / self.restic_s
    }
}

/// How often [`sample_steady`] reads both processes' CPU time.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// Samples the CPU time of the helper and of restic (backup invocation
/// `number`) on a thread, from restic's exec until it is gone.
fn sample_steady(w: &BusFixture, helper: i32, number: usize) -> std::thread::JoinHandle<Steady> {
    let inv = w.fx.wrapper.wait_started(number, wait::DEADLINE);
    std::thread::spawn(move || {
        let restic = inv.pid().expect("restic's pid");
        let is_restic = || {
            std::fs::read_to_string(format!("/proc/{restic}/comm"))
                .is_ok_and(|c| c.trim() == "restic")
        };
        let end = Instant::now() + RUN_LIMIT;
        while !is_restic() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
        let ticks = |pid| procs::user_system_ticks(pid).map(|(u, s)| u + s);
        let (mut first, mut last) = (None, None);
        while is_restic() {
            if let (Some(h), Some(r)) = (ticks(helper), ticks(restic)) {
                first.get_or_insert((h, r));
                last = Some((h, r));
            }
            std::thread::sleep(SAMPLE_EVERY);
        }
        let hz = procs::clock_ticks_per_second();
        match (first, last) {
            (Some((h0, r0)), Some((h1, r1))) => Steady {
                helper_s: (h1 - h0) as f64 / hz,
                restic_s: (r1 - r0) as f64 / hz,
            },
            _ => Steady::default(),
        }
    })
}

/// One full run's numbers.
struct Run {
    restic_s: f64,
    restic_cpu: f64,
    helper_cpu: f64,
    /// Of `helper_cpu`, in the kernel (snapshots, mounts, pipes, sockets).
    helper_sys: f64,
    status_rate: f64,
    signal_rate: f64,
    progress_rate: f64,
    /// While restic runs.
    steady: Steady,
}

impl Run {
    /// The helper's own CPU time, in percent of restic's.
    fn ratio(&self) -> f64 {
        100.0 * self.helper_cpu / self.restic_cpu
    }

    /// The helper's own user-space CPU time, in percent of restic's.
    fn user_ratio(&self) -> f64 {
        100.0 * (self.helper_cpu - self.helper_sys) / self.restic_cpu
    }
}

/// A full backup of the tree; the recorder sees nothing without a bus.
fn full_run(w: &BusFixture) -> Run {
    let recorder = SignalRecorder::start(&w.bus);
    let before = w.fx.wrapper.invocations().len();
    let running = w.fx.env.spawn(&["backup"]);
    let killer = kill_after(running.pid(), RUN_LIMIT);
    let sampler = sample_steady(w, running.pid(), before + 1);
    let (own, system, children) = exit_cpu(&running);
    let steady = sampler.join().expect("the sampler");
    drop(killer);
    running.wait_blocking().assert_code(exit::COMPLETED);
    let inv = w.fx.wrapper.invocations()[before].clone();
    let statuses = inv.restic_messages("status");
    // restic's own measure of the backup's length.
    let restic_s = inv
        .restic_messages("summary")
        .first()
        .and_then(|v| v["total_duration"].as_f64())
        .expect("restic printed a summary");
    // The last signals may still be on their way.
    std::thread::sleep(Duration::from_millis(200));
    let signals = recorder.signals();
    let all: Vec<Instant> = signals.iter().map(|r| r.at).collect();
    let progress: Vec<Instant> = signals
        .iter()
        .filter(|r| r.is("Progress"))
        .map(|r| r.at)
        .collect();
    Run {
        restic_s,
        restic_cpu: children - inv.cpu_before_exec().unwrap_or(0.0),
        helper_cpu: own,
        helper_sys: system,
        status_rate: statuses.len() as f64 / restic_s,
        signal_rate: rate(&all),
        progress_rate: rate(&progress),
        steady,
    }
}

/// Signals a second between the first and the last of `times`.
fn rate(times: &[Instant]) -> f64 {
    match (times.first(), times.last()) {
        (Some(a), Some(b)) if b > a => times.len() as f64 / (*b - *a).as_secs_f64(),
        _ => 0.0,
    }
}

fn main() {
    if !have_root("bench-bus") {
        return;
    }
    println!("helper: {}", helper_bin().display());
    let w = BusFixture::new(BusSetup::default());
    let clock = Instant::now();
    w.many_files(FILES);
    println!(
        "tree: {FILES} small files (written in {:.1} s)",
        clock.elapsed().as_secs_f64()
    );
    let mut spec = w.fx.spec(&["home"]);
    spec.restic_backup_args = vec!["--force".into()];
    w.fx.env.write_spec(&spec);
    w.fx.env.set_var("RESTIC_PROGRESS_FPS", "60");
    w.fx.wrapper.tee_stdout(true);

    println!(
        "\n{:<5} {:<4} {:>9} {:>12} {:>13} {:>10} {:>8} {:>12} {:>9} {:>10} {:>11}",
        "round",
        "bus",
        "restic_s",
        "restic_cpu_s",
        "helper_cpu_ms",
        "of_sys_ms",
        "ratio_%",
        "steady_%",
        "status/s",
        "signals/s",
        "progress/s"
    );
    let (mut with_bus, mut without_bus) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        // Alternate the order, so that neither arm always runs on a warm cache.
        let arms = if round % 2 == 1 {
            [true, false]
        } else {
            [false, true]
        };
        for bus in arms {
            if bus {
                w.fx.env.use_bus(w.bus.address());
            } else {
                w.fx.env.use_no_bus();
            }
            let r = full_run(&w);
            println!(
                "{round:<5} {:<4} {:>9.2} {:>12.2} {:>13.0} {:>10.0} {:>8.2} {:>12.2} {:>9.1} {:>10.1} {:>11.1}",
                if bus { "yes" } else { "no" },
                r.restic_s,
                r.restic_cpu,
                r.helper_cpu * 1000.0,
                r.helper_sys * 1000.0,
                r.ratio(),
                r.steady.ratio(),
                r.status_rate,
                r.signal_rate,
                r.progress_rate,
            );
            if bus {
                with_bus.push(r);
            } else {
                without_bus.push(r);
            }
        }
    }
    let med = |v: &[Run], f: fn(&Run) -> f64| median(v.iter().map(f).collect());
    println!(
        "median helper CPU / restic CPU: {:.2}% on the bus (goal < 2%), {:.2}% without a bus",
        med(&with_bus, Run::ratio),
        med(&without_bus, Run::ratio)
    );
    println!(
        "while restic runs (its exec to its exit; what republishing its output costs): \
         {:.2}% on the bus (goal < 2%), {:.2}% without a bus",
        med(&with_bus, |r| r.steady.ratio()),
        med(&without_bus, |r| r.steady.ratio())
    );
    println!(
        "of which in user space: {:.2}% on the bus, {:.2}% without (the rest is the kernel's \
         work in the helper's syscalls: snapshots, mounts)",
        med(&with_bus, Run::user_ratio),
        med(&without_bus, Run::user_ratio)
    );
    println!(
        "what the bus costs the helper: {:.0} ms CPU a run ({:.2}% of restic's)",
        (med(&with_bus, |r| r.helper_cpu) - med(&without_bus, |r| r.helper_cpu)) * 1000.0,
        med(&with_bus, Run::ratio) - med(&without_bus, Run::ratio)
    );
    w.fx.env.use_bus(w.bus.address());

    println!(
        "\n{:<5} {:>12} {:>22}",
        "stop", "call_ms", "stop_to_finished_ms"
    );
    let mut latencies = Vec::new();
    for round in 1..=ROUNDS {
        let recorder = SignalRecorder::start(&w.bus);
        let running = w.fx.env.spawn(&["backup"]);
        // Mid-backup: restic is reporting.
        recorder.wait_for("Progress", wait::DEADLINE);
        let (sent, call) = block_on(async {
            let conn = w.bus.connect().await;
            let helper = proxy::running(&conn)
                .await
                .unwrap()
                .expect("the helper is on the bus");
            let sent = Instant::now();
            helper.stop().await.expect("root may stop");
            (sent, sent.elapsed())
        });
        let fin = recorder.wait_for("BackupFinished", wait::DEADLINE);
        let (outcome, _): (String, String) = fin.body();
        assert_eq!(outcome, "stopped");
        running.wait(wait::DEADLINE).assert_code(exit::STOPPED);
        let latency = fin.at - sent;
        latencies.push(latency.as_secs_f64() * 1000.0);
        println!(
            "{round:<5} {:>12.1} {:>22.1}",
            call.as_secs_f64() * 1000.0,
            latency.as_secs_f64() * 1000.0
        );
    }
    println!("median Stop to BackupFinished: {:.1} ms", median(latencies));
}

/// Kills the helper if it runs past `limit`, so that a hanging helper fails
/// the benchmark instead of blocking it. Dropping the guard disarms it.
struct Killer {
    _disarm: std::sync::mpsc::Sender<()>,
}

fn kill_after(pid: i32, limit: Duration) -> Killer {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!("the helper ran for more than {limit:?}; killing it");
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    });
    Killer { _disarm: tx }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_rate() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        let t = Instant::now();
        assert_eq!(rate(&[t, t + Duration::from_secs(2)]), 1.0);
        assert_eq!(rate(&[t]), 0.0);
    }
}
