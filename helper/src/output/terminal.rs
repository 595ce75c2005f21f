//! The terminal printer: a live progress line on a terminal, terse
//! periodic lines under systemd, and a full summary at the end.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use igotchuu_dbus::{Operation, Outcome, Phase, Progress, Summary};

use super::format::{bytes, duration, keep_tail};
use crate::events::{Event, EventSink, Finish, Notice, OperationEnd, OperationInfo};
use crate::i18n::{fill, gettext, ngettext, ngettext_n};

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
    /// What runs: a prune's or check's progress is a step's, not files.
    operation: Operation,
}

impl TerminalPrinter {
    pub fn new() -> Self {
        TerminalPrinter {
            tty: io::stdout().is_terminal(),
            last_progress: None,
            line_drawn: false,
            unlogged: None,
            item_errors: 0,
            operation: Operation::Backup,
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
        // xgettext: A warning on the terminal; {message} says what is wrong.
        let line = fill(&gettext("warning: {message}"), &[("message", text)]);
        eprintln!("{line}");
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
        let tail = p.current_files.first().map_or("", String::as_str);
        if matches!(self.operation, Operation::Prune | Operation::Check) {
            // A step: "37.5%  read 5% of data packs: 3 / 8 packs", the step
            // in restic's words, also in the log.
            let percent = format!("{:5.1}%", p.percent_done * 100.0);
            return self.draw(&percent, tail, &format!("{percent}  {tail}"));
        }
        let eta = p.eta_seconds().map_or_else(
            // xgettext: The live progress line's estimated time left, unknown.
            || gettext("ETA unknown"),
            // xgettext: The live progress line's estimated time left, e.g. "ETA 1m15s".
            |s| fill(&gettext("ETA {time}"), &[("time", &duration(s))]),
        );
        let head = fill(
            &ngettext(
                // xgettext: The live progress line: "  2.5%  ETA 1m15s  10/400 files  1.5 MiB/3.0 GiB". {eta} is "ETA …"; {done} of {total} files (the plural follows {total}; English says "files" even for 1), {bytes_done} of {bytes_total}. Keep the double spaces.
                "{percent}%  {eta}  {done}/{total} files  {bytes_done}/{bytes_total}",
                "{percent}%  {eta}  {done}/{total} files  {bytes_done}/{bytes_total}",
                p.total_files,
            ),
            &[
                ("percent", &format!("{:5.1}", p.percent_done * 100.0)),
                ("eta", &eta),
                ("done", &p.files_done.to_string()),
                ("total", &p.total_files.to_string()),
                ("bytes_done", &bytes(p.bytes_done)),
                ("bytes_total", &bytes(p.total_bytes)),
            ],
        );
        // The current file is for the live line only.
        self.draw(&head, tail, &head);
    }

    /// On a terminal the live line, `head` then as much of the end of
    /// `tail` as fits; otherwise `logged` as a line of the log.
    fn draw(&mut self, head: &str, tail: &str, logged: &str) {
        if self.tty {
            let room = terminal_width().saturating_sub(head.chars().count() + 2);
            print!("\r\x1b[2K{head}  {}", keep_tail(tail, room));
            let _ = io::stdout().flush();
            self.line_drawn = true;
        } else {
            // xgettext: A progress line in the journal, when not on a terminal; {line} is the progress line.
            println!(
                "{}",
                fill(&gettext("progress: {line}"), &[("line", logged)])
            );
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
            print_summary(s, true);
        }
        if f.outcome == Outcome::CompletedWithWarnings && !f.item_errors.is_empty() {
            println!("{}", gettext("Skipped, because they could not be read:"));
            for e in &f.item_errors {
                println!("  {}: {}", e.item, e.error);
            }
            let more = f.error_count.saturating_sub(f.item_errors.len() as u64);
            if more > 0 {
                // xgettext: After a list of unreadable files: how many more there were.
                let text = ngettext_n("… and {n} more", "… and {n} more", more, &more.to_string());
                println!("  {text}");
            }
        }
        print_outcome(f.outcome, &f.reason);
    }

    /// The end of an operation other than a backup (a backup's is
    /// [`Self::finished`]).
    fn operation_finished(&mut self, end: &OperationEnd) {
        self.log_unlogged();
        self.clear_line();
        print_outcome(end.outcome, &end.reason);
    }
}

fn print_outcome(outcome: Outcome, reason: &str) {
    let label = match outcome {
        Outcome::Completed => gettext("Completed"),
        Outcome::CompletedWithWarnings => gettext("Completed with warnings"),
        // xgettext: A failed operation's outcome on the terminal, in capitals to stand out.
        Outcome::Failed => gettext("FAILED"),
        Outcome::Stopped => gettext("Stopped"),
        Outcome::Postponed => gettext("Postponed"),
    };
    let line = fill(
        // xgettext: The last line of a run: {outcome} is "Completed", "FAILED", …; {reason} stays English (it is also the history's).
        &gettext("{outcome}: {reason}"),
        &[("outcome", &label), ("reason", reason)],
    );
    println!("{line}");
    let _ = io::stdout().flush();
}

/// What the terminal says when an operation other than a backup starts
/// (its phase line follows, and says what it does).
fn operation_heading(info: &OperationInfo) -> Option<String> {
    let places = places(&info.places);
    match info.operation {
        // Started says it, as before.
        Operation::Backup => None,
        Operation::Forget if !places.is_empty() => Some(with_profile(
            fill(
                &gettext("Applying the retention policy to this machine's snapshots of {places}"),
                &[("places", &places)],
            ),
            info.profile.as_deref(),
        )),
        _ => info
            .profile
            .as_ref()
            .map(|p| fill(&gettext("Profile {profile}"), &[("profile", p)])),
    }
}

/// The places, as a list: "/home, /srv".
fn places(places: &[std::path::PathBuf]) -> String {
    let names: Vec<_> = places.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

/// `heading`, and the profile after it when there is one.
fn with_profile(heading: String, profile: Option<&str>) -> String {
    match profile {
        Some(p) => fill(
            // xgettext: What an operation does, {heading}, then the configuration profile it uses.
            &gettext("{heading} (profile {profile})"),
            &[("heading", &heading), ("profile", p)],
        ),
        None => heading,
    }
}

impl Default for TerminalPrinter {
    fn default() -> Self {
        Self::new()
    }
}

/// restic's summary of a backup. `size_known` is false for the original
/// helper's, which does not say how much data was added.
pub fn print_summary(s: &Summary, size_known: bool) {
    println!("{}", gettext("Summary:"));
    // Labels are padded to one column, whatever their language.
    let row = |name: String, value: String| println!("  {name:<24}{value}");
    let counts = |new: u64, changed: u64, unmodified: u64| {
        fill(
            // xgettext: A summary row's value: how many files or folders restic found new, changed and unmodified.
            &gettext("{new} new, {changed} changed, {unmodified} unmodified"),
            &[
                ("new", &new.to_string()),
                ("changed", &changed.to_string()),
                ("unmodified", &unmodified.to_string()),
            ],
        )
    };
    row(
        gettext("Files"),
        counts(s.files_new, s.files_changed, s.files_unmodified),
    );
    row(
        gettext("Folders"),
        counts(s.dirs_new, s.dirs_changed, s.dirs_unmodified),
    );
    row(
        // xgettext: restic's data blobs (file contents) and tree blobs (folder listings) added to the repository.
        gettext("Blobs added"),
        fill(
            &gettext("{data} data, {tree} tree"),
            &[
                ("data", &s.data_blobs.to_string()),
                ("tree", &s.tree_blobs.to_string()),
            ],
        ),
    );
    let added = match s.data_added_packed {
        _ if !size_known => gettext("unknown (the helper did not say)"),
        Some(p) => fill(
            // xgettext: The data a backup added, {added}, and what it took in the repository after compression, {stored}.
            &gettext("{added} ({stored} stored)"),
            &[("added", &bytes(s.data_added)), ("stored", &bytes(p))],
        ),
        None => bytes(s.data_added),
    };
    row(gettext("Data added"), added);
    row(
        // xgettext: How many files restic read, and how much data.
        gettext("Processed"),
        fill(
            &ngettext(
                // xgettext: How many files restic read, and their size.
                "{n} file, {size}",
                "{n} files, {size}",
                s.total_files_processed,
            ),
            &[
                ("n", &s.total_files_processed.to_string()),
                ("size", &bytes(s.total_bytes_processed)),
            ],
        ),
    );
    row(
        gettext("Duration"),
        fill(
            // xgettext: Seconds, with one decimal: "12.5s".
            &gettext("{seconds}s"),
            &[("seconds", &format!("{:.1}", s.total_duration))],
        ),
    );
    if let (Some(start), Some(end)) = (&s.backup_start, &s.backup_end) {
        row(
            // xgettext: When the backup ran: from {start} to {end} (restic's times).
            gettext("Ran"),
            fill(
                &gettext("{start} to {end}"),
                &[("start", start), ("end", end)],
            ),
        );
    }
    let id = if s.snapshot_id.is_empty() {
        // xgettext: The snapshot row of a summary, when restic saved none.
        gettext("none")
    } else {
        s.snapshot_id.clone()
    };
    row(gettext("Snapshot"), id);
    if s.dry_run {
        row(gettext("Dry run"), gettext("yes: nothing was saved"));
    }
}

fn phase_text(phase: Phase) -> String {
    match phase {
        Phase::Preparing => gettext("Preparing…"),
        Phase::Snapshotting => gettext("Taking snapshots…"),
        Phase::BackingUp => gettext("Backing up…"),
        Phase::Forgetting => gettext("Forgetting old snapshots…"),
        Phase::Pruning => gettext("Removing unused data (prune)…"),
        Phase::Checking => gettext("Checking the repository…"),
        Phase::Restoring => gettext("Restoring files…"),
        Phase::Stopping => gettext("Stopping: waiting for restic to finish cleanly…"),
        // xgettext: The btrfs snapshots taken for the backup are deleted.
        Phase::CleaningUp => gettext("Removing snapshots…"),
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
                self.operation = info.operation;
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
                let places = places(&info.places);
                // `watch` as a user who is not an administrator is not told
                // the places.
                let what = if places.is_empty() {
                    gettext("Backing up")
                } else {
                    fill(&gettext("Backing up {places}"), &[("places", &places)])
                };
                self.say(&with_profile(what, info.profile.as_deref()));
            }
            Event::PhaseChanged(phase) => {
                self.log_unlogged();
                // `watch` hears no OperationStarted: an operation's own
                // phase says which one runs (the shared ones do not).
                if !matches!(
                    phase,
                    Phase::Preparing | Phase::Stopping | Phase::CleaningUp
                ) {
                    self.operation = igotchuu_dbus::follow::operation_of_phase(*phase);
                }
                self.say(&phase_text(*phase))
            }
            Event::Notice(Notice::StaleSnapshotRemoved { path }) => self.say(&fill(
                // xgettext: {path} is a btrfs snapshot that a killed run left behind.
                &gettext("Removed snapshot {path} left by an earlier run that was killed"),
                &[("path", &path.display().to_string())],
            )),
            Event::Notice(Notice::SnapshotLeft { path, error }) => self.warn(&fill(
                // xgettext: {path} is a btrfs snapshot; {error} is the system's reason.
                &gettext("snapshot {path} could not be deleted ({error}); the next run will retry"),
                &[("path", &path.display().to_string()), ("error", error)],
            )),
            Event::Notice(Notice::PrepareCommandRan { argv }) => self.say(&fill(
                // xgettext: exec_before_snapshot is a configuration key; {command} is the command it ran.
                &gettext("Ran exec_before_snapshot: {command}"),
                &[("command", &argv.join(" "))],
            )),
            Event::Notice(Notice::ResticSaid(line)) => {
                // The log shows where the step before got to.
                self.log_unlogged();
                self.say(&format!("  {line}"))
            }
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
                    self.warn(&fill(
                        // xgettext: {item} is a file; {during} is restic's step ("archival", "scan"…); {error} is restic's reason, in English.
                        &gettext("cannot read {item} ({during}): {error}"),
                        &[
                            ("item", &e.item),
                            ("during", &e.during),
                            ("error", &e.error),
                        ],
                    ));
                } else if self.item_errors == ITEM_ERRORS_SHOWN + 1 {
                    self.warn(&gettext(
                        "more files cannot be read; they are counted in the summary",
                    ));
                }
            }
            Event::Finished(f) => {
                if f.error_count > 0 && f.outcome == Outcome::Failed {
                    self.warn(&ngettext_n(
                        // xgettext: Files or folders restic could not read, in a failed backup.
                        "{n} item was unreadable",
                        "{n} items were unreadable",
                        f.error_count,
                        &f.error_count.to_string(),
                    ));
                }
                self.finished(f)
            }
        }
    }
}
