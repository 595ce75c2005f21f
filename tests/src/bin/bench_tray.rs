//! What the tray costs while nothing happens: its resident memory, and how
//! often its threads wake up. Goals: at most 16 MiB, and no timers (so no
//! wake-ups at all while idle).
//!
//!     cargo run --release -p igotchuu-e2e --bin bench-tray [-- SECONDS]
//!
//! It runs the release tray in a private desktop (Xvfb, session bus,
//! watcher, tray host, dunst) and on a private system bus with no helper,
//! lets it settle, then watches it for SECONDS (default 60). It prints
//! numbers and asserts nothing.

use std::process::Command;
use std::time::{Duration, Instant};

use igotchuu_e2e::desktop::{self, Desktop, Tray};
use igotchuu_e2e::standin::standin_bus;

const SETTLE: Duration = Duration::from_secs(5);

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("SECONDS is a number"))
        .unwrap_or(60);
    build_tray();

    let system = standin_bus();
    let desktop = Desktop::start(true);
    let state = tempfile::tempdir().expect("temp dir");
    let tray = Tray::start(
        &desktop,
        system.address(),
        state.path(),
        "/bin/true".as_ref(),
    );
    tray.wait_for_log("following the backup helper");
    std::thread::sleep(SETTLE);
    let pid = tray.pid();

    let (rss_before, _) = desktop::proc_status(pid).expect("the tray runs");
    let wakeups_before = desktop::wakeups(pid);
    let threads_before = desktop::wakeups_by_thread(pid);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let elapsed = start.elapsed().as_secs_f64();
    let (rss_after, _) = desktop::proc_status(pid).expect("the tray still runs");
    let woke = desktop::wakeups(pid) - wakeups_before;
    let threads_after = desktop::wakeups_by_thread(pid);
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());

    println!("igotchuu-tray, idle for {elapsed:.0} s (no helper; registered with a tray host)");
    println!(
        "  resident memory: {:.1} MiB at the start, {:.1} MiB at the end (goal: at most 16 MiB)",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    println!("  threads: {threads}");
    println!(
        "  wake-ups (voluntary context switches, all threads): {woke} in {elapsed:.0} s = {:.1} per minute (goal: 0)",
        woke as f64 * 60.0 / elapsed
    );
    for (tid, name, n) in threads_after {
        let before = threads_before
            .iter()
            .find(|(t, _, _)| *t == tid)
            .map_or(0, |(_, _, b)| *b);
        println!("    thread {tid} {name:?}: {}", n - before);
    }
    drop(tray);
}

/// The bench measures the release tray; `cargo run` built only this binary.
fn build_tray() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "igotchuu-tray"])
        .status()
        .expect("run cargo");
    assert!(status.success(), "cannot build the release tray");
}
