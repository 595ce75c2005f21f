//! A flood of item errors (100,000 files restic cannot read) does not
//! flood the system bus: the helper sends a short burst of `Error` signals,
//! folds the rest into `ErrorsFolded` counts that add up exactly, keeps its
//! memory bounded, and still reports every error in the run's outcome.
//!
//! The errors are restic's own JSON lines, printed by the test's restic
//! wrapper on restic's stderr before the real backup starts: as root, every
//! file is readable, so a real flood cannot be made here.

use std::time::Duration;

use igotchuu_dbus::history::ITEM_ERRORS_RECORDED;
use igotchuu_dbus::Outcome;
use igotchuu_e2e::busclient::SignalRecorder;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::{have_root, wait};

const FLOOD: u64 = 100_000;
/// Far more than the helper's burst and rate allow in a run of seconds,
/// and far fewer than the flood.
const ERROR_SIGNALS_AT_MOST: usize = 500;
/// The helper's peak resident memory must stay well below what holding the
/// flood would take (100,000 errors of ~100 bytes, with their signals).
const PEAK_RSS_AT_MOST_KIB: u64 = 48 * 1024;

/// The peak resident memory (VmHWM) of `pid`, read every 20 ms until it
/// is gone; returns the last value read.
fn watch_peak_rss(pid: i32) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            {
                peak = kib;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    })
}

#[test]
fn an_error_flood_is_folded_and_counted_and_memory_stays_bounded() {
    if !have_root("an_error_flood_is_folded_and_counted_and_memory_stays_bounded") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    let recorder = SignalRecorder::start(&w.bus);
    w.fx.wrapper.inject_errors(FLOOD as usize);

    let run = w.fx.env.spawn(&["backup"]);
    let peak = watch_peak_rss(run.pid());
    let done = run.wait(wait::DEADLINE);
    done.assert_code(exit::COMPLETED_WITH_WARNINGS);
    let peak_kib = peak.join().expect("the memory watcher");
    recorder.wait_for("BackupFinished", wait::DEADLINE);

    let signals = recorder.signals();
    let errors: Vec<_> = signals.iter().filter(|s| s.is("Error")).collect();
    let folded: u64 = signals
        .iter()
        .filter(|s| s.is("ErrorsFolded"))
        .map(|s| s.body::<u64>())
        .sum();
    eprintln!(
        "{} Error signals, {folded} folded, {} signals in all; helper peak RSS {} KiB",
        errors.len(),
        signals.len(),
        peak_kib
    );
    assert!(
        errors.len() <= ERROR_SIGNALS_AT_MOST,
        "{} Error signals for a flood of {FLOOD}",
        errors.len()
    );
    assert!(!errors.is_empty(), "the first errors are sent as they are");
    let (error, during, item): (String, String, String) = errors[0].body();
    assert_eq!(
        (during.as_str(), item.as_str()),
        ("archival", "/flood/0"),
        "{error}"
    );
    assert_eq!(
        errors.len() as u64 + folded,
        FLOOD,
        "every error is either sent or counted in ErrorsFolded"
    );
    assert!(
        signals.len() < 2 * ERROR_SIGNALS_AT_MOST,
        "{} signals in all",
        signals.len()
    );
    assert!(
        peak_kib > 0 && peak_kib <= PEAK_RSS_AT_MOST_KIB,
        "the helper's peak RSS was {peak_kib} KiB"
    );

    // The run still says how many files were skipped, and keeps a few.
    let history = w.fx.env.history();
    let run = &history.runs[0];
    assert_eq!(run.outcome, Outcome::CompletedWithWarnings);
    assert_eq!(run.error_count, FLOOD);
    assert!(
        run.item_errors.len() == ITEM_ERRORS_RECORDED,
        "{} item errors kept",
        run.item_errors.len()
    );
    let finished = recorder.wait_for("BackupFinished", wait::DEADLINE);
    let (outcome, reason): (String, String) = finished.body();
    assert_eq!(outcome, "completed-with-warnings", "{reason}");
    assert!(reason.contains("100000 files or folders"), "{reason}");
}
