//! The terminal printer: a live progress line on a terminal, terse
//! periodic lines under systemd, and a full summary at the end.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use igotchuu_dbus::{Operation, Outcome, Phase, Progress, Summary};

use super::format::{bytes, duration, keep_tail};
use crate::events::{Event, EventSink, Finish, Notice, OperationEnd, OperationInfo};
use crate::run::plural;

/// Redraws of the live line; more is flicker, not information.
const TTY_INTERVAL: Duration = Duration::from_millis(100);
/// Lines in the journal: often enough to see it move, rarely enough to read.
const LOG_INTERVAL: Duration = Duration::from_secs(5);
/// Unreadable files printed as they happen; the rest are counted.
const ITEM_ERRORS_SHOWN: u64 = 20;
/// Used when the terminal does not say how wide it is.
const DEFAULT_WIDTH: usize = 100;

pub struct TerminalPrinter {
    tty: bool,
    last_progress: Option<Instant>,
    /// The live line is on screen and must be cleared before other output.
    line_drawn: bool,
    /// Not on a terminal: the latest progress not logged yet, so that the
    /// log ends each backup with where restic got to.
    unlogged: Option<Progress>,
    item_errors: u64,
}

impl TerminalPrinter {
    pub fn new() -> Self {
        TerminalPrinter {
            tty: io::stdout().is_terminal(),
            last_progress: None,
            line_drawn: false,
            unlogged: None,
            item_errors: 0,
        }
    }

    fn clear_line(&mut self) {
        if self.line_drawn {
            print!("\r\x1b[2K");
            self.line_drawn = false;
        }
    }

    /// Prints a whole line, above the live progress line.
    fn say(&mut self, text: &str) {
        self.clear_line();
        println!("{text}");
    }

    fn warn(&mut self, text: &str) {
        self.clear_line();
        let _ = io::stdout().flush();
        eprintln!("warning: {text}");
    }

    fn progress(&mut self, p: &Progress) {
        let interval = if self.tty { TTY_INTERVAL } else { LOG_INTERVAL };
        let now = Instant::now();
        if self
            .last_progress
            .is_some_and(|t| now.duration_since(t) < interval)
        {
            if !self.tty {
                self.unlogged = Some(p.clone());
            }
            return;
        }
        self.last_progress = Some(now);
        self.unlogged = None;
        let eta = p.eta_seconds().map_or_else(
            || "ETA unknown".to_owned(),
            |s| format!("ETA {}", duration(s)),
        );
        let head = format!(
            "{:5.1}%  {eta}  {}/{} files  {}/{}",
            p.percent_done * 100.0,
            p.files_done,
            p.total_files,
            bytes(p.bytes_done),
            bytes(p.total_bytes),
        );
        if self.tty {
            let width = terminal_width();
            let room = width.saturating_sub(head.chars().count() + 2);
            let current = p.current_files.first().map_or("", String::as_str);
            print!("\r\x1b[2K{head}  {}", keep_tail(current, room));
            let _ = io::stdout().flush();
            self.line_drawn = true;
        } else {
            println!("progress: {head}");
        }
    }

    /// Logs the progress held back since the last line, if any.
    fn log_unlogged(&mut self) {
        if let Some(p) = self.unlogged.take() {
            self.last_progress = None;
            self.progress(&p);
        }
    }

    fn finished(&mut self, f: &Finish) {
        self.log_unlogged();
        self.clear_line();
        if let Some(s) = &f.summary {
            print_summary(s);
        }
        if f.outcome == Outcome::CompletedWithWarnings && !f.item_errors.is_empty() {
            println!("Skipped, because they could not be read:");
            for e in &f.item_errors {
                println!("  {}: {}", e.item, e.error);
            }
            let more = f.error_count.saturating_sub(f.item_errors.len() as u64);
            if more > 0 {
                println!("  … and {more} more");
            }
        }
        print_outcome(f.outcome, &f.reason);
    }

    /// The end of an operation other than a backup (a backup's is
    /// [`Self::finished`]).
    fn operation_finished(&mut self, end: &OperationEnd) {
        self.clear_line();
        print_outcome(end.outcome, &end.reason);
    }
}

fn print_outcome(outcome: Outcome, reason: &str) {
    let label = match outcome {
        Outcome::Completed => "Completed",
        Outcome::CompletedWithWarnings => "Completed with warnings",
        Outcome::Failed => "FAILED",
        Outcome::Stopped => "Stopped",
        Outcome::Postponed => "Postponed",
    };
    println!("{label}: {reason}");
    let _ = io::stdout().flush();
}

/// What the terminal says when an operation other than a backup starts
/// (its phase line follows, and says what it does).
fn operation_heading(info: &OperationInfo) -> Option<String> {
    let profile = info
        .profile
        .as_ref()
        .map_or(String::new(), |p| format!(" (profile {p})"));
    let places: Vec<_> = info
        .places
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    match info.operation {
        // Started says it, as before.
        Operation::Backup => None,
        Operation::Forget if !places.is_empty() => Some(format!(
            "Applying the retention policy to this machine's snapshots of {}{profile}",
            places.join(", ")
        )),
        _ => info.profile.as_ref().map(|p| format!("Profile {p}")),
    }
}

impl Default for TerminalPrinter {
    fn default() -> Self {
        Self::new()
    }
}

fn print_summary(s: &Summary) {
    println!("Summary:");
    let row = |name: &str, value: String| println!("  {name:<24}{value}");
    row(
        "Files",
        format!(
            "{} new, {} changed, {} unmodified",
            s.files_new, s.files_changed, s.files_unmodified
        ),
    );
    row(
        "Folders",
        format!(
            "{} new, {} changed, {} unmodified",
            s.dirs_new, s.dirs_changed, s.dirs_unmodified
        ),
    );
    row(
        "Blobs added",
        format!("{} data, {} tree", s.data_blobs, s.tree_blobs),
    );
    let packed = s
        .data_added_packed
        .map_or(String::new(), |p| format!(" ({} stored)", bytes(p)));
    row("Data added", format!("{}{packed}", bytes(s.data_added)));
    row(
        "Processed",
        format!(
            "{} files, {}",
            s.total_files_processed,
            bytes(s.total_bytes_processed)
        ),
    );
    row("Duration", format!("{:.1}s", s.total_duration));
    if let (Some(start), Some(end)) = (&s.backup_start, &s.backup_end) {
        row("Ran", format!("{start} to {end}"));
    }
    let id = if s.snapshot_id.is_empty() {
        "none"
    } else {
        &s.snapshot_id
    };
    row("Snapshot", id.to_owned());
    if s.dry_run {
        row("Dry run", "yes: nothing was saved".to_owned());
    }
}

fn phase_text(phase: Phase) -> &'static str {
    match phase {
        Phase::Preparing => "Preparing…",
        Phase::Snapshotting => "Taking snapshots…",
        Phase::BackingUp => "Backing up…",
        Phase::Forgetting => "Forgetting old snapshots…",
        Phase::Pruning => "Removing unused data (prune)…",
        Phase::Checking => "Checking the repository…",
        Phase::Restoring => "Restoring files…",
        Phase::Stopping => "Stopping: waiting for restic to finish cleanly…",
        Phase::CleaningUp => "Removing snapshots…",
    }
}

fn terminal_width() -> usize {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we own.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        size.ws_col as usize
    } else {
        DEFAULT_WIDTH
    }
}

impl EventSink for TerminalPrinter {
    fn handle(&mut self, event: &Event) {
        match event {
            Event::OperationStarted(info) => {
                if let Some(heading) = operation_heading(info) {
                    self.say(&heading);
                }
            }
            Event::OperationFinished(end) => {
                if end.operation != Operation::Backup {
                    self.operation_finished(end);
                }
            }
            Event::Started(info) => {
                let places: Vec<_> = info
                    .places
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                let profile = info
                    .profile
                    .as_ref()
                    .map_or(String::new(), |p| format!(" (profile {p})"));
                // `watch` as a user who is not an administrator is not told
                // the places.
                let what = if places.is_empty() {
                    "Backing up".to_owned()
                } else {
                    format!("Backing up {}", places.join(", "))
                };
                self.say(&format!("{what}{profile}"));
            }
            Event::PhaseChanged(phase) => {
                self.log_unlogged();
                self.say(phase_text(*phase))
            }
            Event::Notice(Notice::StaleSnapshotRemoved { path }) => self.say(&format!(
                "Removed snapshot {} left by an earlier run that was killed",
                path.display()
            )),
            Event::Notice(Notice::SnapshotLeft { path, error }) => self.warn(&format!(
                "snapshot {} could not be deleted ({error}); the next run will retry",
                path.display()
            )),
            Event::Notice(Notice::PrepareCommandRan { argv }) => {
                self.say(&format!("Ran exec_before_snapshot: {}", argv.join(" ")))
            }
            Event::Notice(Notice::ResticSaid(line)) => self.say(&format!("  {line}")),
            Event::Notice(Notice::Report(lines)) => {
                for line in lines {
                    self.say(line);
                }
            }
            // The nested-subvolume notices.
            Event::Notice(notice) => {
                if let Some(text) = super::nested::warning(notice) {
                    self.warn(&text);
                }
            }
            Event::Progress(p) => self.progress(p),
            Event::ItemError(e) => {
                self.item_errors += 1;
                if self.item_errors <= ITEM_ERRORS_SHOWN {
                    self.warn(&format!(
                        "cannot read {} ({}): {}",
                        e.item, e.during, e.error
                    ));
                } else if self.item_errors == ITEM_ERRORS_SHOWN + 1 {
                    self.warn("more files cannot be read; they are counted in the summary");
                }
            }
            Event::Finished(f) => {
                if f.error_count > 0 && f.outcome == Outcome::Failed {
                    self.warn(&plural(
                        f.error_count,
                        "item was unreadable",
                        "items were unreadable",
                    ));
                }
                self.finished(f)
            }
        }
    }
}
