//! bench-window: how fast the window comes up, on a test display against a
//! stand-in for the helper.
//!
//! It builds the release `igotchuu-gui` (next to itself), and for each case
//! launches it several times and reports, in milliseconds from the
//! process's start:
//! - `first frame`: its first painted frame (the frame clock's after-paint),
//! - `state shown`: the first screenful with the helper's state on it
//!   (a running backup at 42 %, or the idle page with a 50-run history),
//!
//! and the time a second launch takes to hand over to the first and exit,
//! and the window's resident memory once it has settled.
//!
//! ```text
//! cargo run --release -p igotchuu-e2e --bin bench-window [-- RUNS]
//! ```
//!
//! Needs root (the stand-in owns the helper's name), Xvfb, dbus-daemon.
//! Xvfb has no GPU: GTK's GL renderer runs on llvmpipe there, so both it and
//! the cairo renderer are measured.

use std::time::{Duration, Instant};

use igotchuu_dbus::{Outcome, Phase};
use igotchuu_e2e::desktop::proc_status;
use igotchuu_e2e::standin::{
    sample_progress, sample_record, standin_bus, unix_now, Initial, Standin, StateDir,
};
use igotchuu_e2e::window::{gui_binary, Gui, GuiOptions, Screen};

const DEFAULT_RUNS: usize = 7;
const HISTORY_RUNS: u64 = 50;
/// Time for the window to settle before its memory is read.
const SETTLE: Duration = Duration::from_secs(2);

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(DEFAULT_RUNS);
    assert!(
        nix::unistd::geteuid().is_root(),
        "bench-window needs root: only root may own the helper's name on the bus"
    );
    // Built next to this benchmark: in release mode.
    let binary = gui_binary();
    let history: Vec<_> = (0..HISTORY_RUNS)
        .map(|i| {
            let outcome = match i % 7 {
                3 => Outcome::Failed,
                5 => Outcome::CompletedWithWarnings,
                _ => Outcome::Completed,
            };
            let errors = if outcome == Outcome::CompletedWithWarnings {
                40
            } else {
                0
            };
            sample_record(
                (HISTORY_RUNS - i) * 86_400,
                outcome,
                "the repository is locked",
                errors,
            )
        })
        .collect();
    let state = StateDir::new(history);

    println!(
        "bench-window: {runs} launches per case, release build, {HISTORY_RUNS} runs of history"
    );
    println!(
        "{:<34} {:>22} {:>22}",
        "case", "first frame ms", "state shown ms"
    );
    println!(
        "{:<34} {:>22} {:>22}",
        "", "median (min–max)", "median (min–max)"
    );
    for renderer in ["cairo", "gl"] {
        // The harness passes GSK_RENDERER on to the window.
        std::env::set_var("GSK_RENDERER", renderer);
        for running in [true, false] {
            let case = format!(
                "{} ({renderer})",
                if running {
                    "late join, 42 %"
                } else {
                    "idle, history"
                }
            );
            let (frames, shown) = launches(runs, running, &state, &binary);
            println!("{case:<34} {:>22} {:>22}", stats(&frames), stats(&shown));
        }
    }
    std::env::set_var("GSK_RENDERER", "cairo");
    second_launch_and_memory(runs, &state, &binary);
}

/// Launches the window `runs` times on a fresh screen and bus; returns the
/// first-frame and state-shown times.
fn launches(
    runs: usize,
    running: bool,
    state: &StateDir,
    binary: &std::path::Path,
) -> (Vec<f64>, Vec<f64>) {
    let bus = standin_bus();
    let initial = if running {
        Initial {
            phase: Some(Phase::BackingUp),
            progress: sample_progress(0.42),
            started_at: unix_now() - 95,
            places: vec!["/home".into()],
            error_count: 0,
        }
    } else {
        Initial::default()
    };
    let _standin = Standin::start(&bus, initial);
    let screen = Screen::start(1000, 900);
    let mut frames = Vec::new();
    let mut shown = Vec::new();
    for _ in 0..runs {
        let mut gui = Gui::launch(
            &screen,
            &GuiOptions {
                system_bus: bus.address(),
                state_dir: state.path(),
                size: None,
                binary: binary.to_owned(),
            },
        );
        let t = if running {
            gui.wait_for("the running backup", |t| t.progress() == Some(0.42))
        } else {
            gui.wait_for("the idle page with its history", |t| {
                t.has("History") && t.has("Back Up Now")
            })
        };
        let first = wait_first_frame(&gui);
        frames.push(first);
        shown.push(t.ms);
        drop(gui);
    }
    (frames, shown)
}

fn wait_first_frame(gui: &Gui) -> f64 {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(ms) = gui.first_frame_ms() {
            return ms;
        }
        assert!(Instant::now() < end, "no first frame");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A second launch's hand-over time, and the first window's memory.
fn second_launch_and_memory(runs: usize, state: &StateDir, binary: &std::path::Path) {
    let bus = standin_bus();
    let _standin = Standin::start(&bus, Initial::default());
    let screen = Screen::start(1000, 900);
    let options = GuiOptions {
        system_bus: bus.address(),
        state_dir: state.path(),
        size: None,
        binary: binary.to_owned(),
    };
    let mut first = Gui::launch(&screen, &options);
    first.wait_for("the idle page", |t| t.has("Back Up Now"));
    std::thread::sleep(SETTLE);
    let rss = proc_status(first.pid()).map_or(0, |(rss, _)| rss);
    let mut handover = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut second = Gui::launch(&screen, &options);
        assert!(
            second.wait_exit(Duration::from_secs(30)),
            "the second launch did not exit"
        );
        handover.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "{:<34} {:>22}",
        "second launch hands over, ms",
        stats(&handover)
    );
    println!(
        "{:<34} {:>22}",
        "window memory (RSS), idle",
        format!("{:.1} MiB", rss as f64 / 1024.0)
    );
}

/// "123 (110–140)".
fn stats(values: &[f64]) -> String {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match (v.first(), v.last()) {
        (Some(min), Some(max)) => format!("{:.0} ({min:.0}–{max:.0})", v[v.len() / 2]),
        _ => "-".into(),
    }
}
