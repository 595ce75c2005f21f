//! The details of a finished run: what restic did, how long it took, the
//! snapshot it saved, and why it ended the way it did. Shown for the last
//! run on the main page and in each history row.

use adw::prelude::*;
use igotchuu_dbus::{ItemError, Outcome, Summary};
use igotchuu_desktop::{format, texts, Finished};

use super::{glib_escape, value_row};
use crate::clock;

/// How many item errors a list shows; the title says how many there were.
pub const ERRORS_SHOWN: usize = 100;
/// restic snapshot IDs are shown as git shows commits: the first 8 digits.
const SHORT_ID: usize = 8;

/// The rows that describe `f`, seen from `now`.
pub fn detail_rows(f: &Finished, now: u64) -> Vec<adw::ActionRow> {
    let mut rows = Vec::new();
    let reason = f.reason.trim();
    if !reason.is_empty() && f.outcome != Some(Outcome::Completed) {
        let title = match f.outcome {
            Some(Outcome::Failed) => "Why it failed",
            Some(Outcome::Stopped) => "Why it stopped",
            None => "Why it is unknown",
            _ => "Note",
        };
        let row = value_row(title, reason);
        if f.outcome == Some(Outcome::Failed) {
            row.add_css_class("error");
        }
        rows.push(row);
    }
    if f.started_at > 0 {
        let mut when = clock::day_and_time(f.started_at, now);
        if let Some(took) = took(f) {
            when.push_str(&format!(", took {}", format::duration(took)));
        }
        rows.push(value_row("Started", &when));
    }
    if f.operation != igotchuu_dbus::Operation::Backup {
        // A forget, prune or check saves no snapshot: its reason is all.
        if f.outcome == Some(Outcome::Completed) && !reason.is_empty() {
            rows.push(value_row("Result", reason));
        }
        return rows;
    }
    if let Some(s) = &f.summary {
        rows.extend(summary_rows(s, f.data_added()));
    } else if f.outcome.is_some_and(Outcome::saved_snapshot) {
        rows.push(value_row("Summary", "restic did not report one"));
    } else if f.outcome.is_none() {
        rows.push(value_row("Snapshot", "Unknown"));
    } else {
        rows.push(value_row("Snapshot", "None: nothing was saved"));
    }
    if !f.places.is_empty() {
        rows.push(value_row("Places", &f.places.join(", ")));
    }
    rows
}

/// How long the run took, in seconds: restic's own count, else the clock's.
fn took(f: &Finished) -> Option<u64> {
    match &f.summary {
        Some(s) if s.total_duration.is_finite() && s.total_duration >= 0.0 => {
            Some(s.total_duration.round() as u64)
        }
        _ => (f.finished_at >= f.started_at && f.started_at > 0)
            .then(|| f.finished_at - f.started_at),
    }
}

/// restic's summary, row by row; `data_added` is `None` when the helper
/// did not say it (the original helper).
pub fn summary_rows(s: &Summary, data_added: Option<u64>) -> Vec<adw::ActionRow> {
    let mut rows = vec![
        value_row(
            "Files",
            &format!(
                "{} new, {} changed, {} unmodified",
                s.files_new, s.files_changed, s.files_unmodified
            ),
        ),
        value_row(
            "Folders",
            &format!(
                "{} new, {} changed, {} unmodified",
                s.dirs_new, s.dirs_changed, s.dirs_unmodified
            ),
        ),
        value_row(
            "Data",
            &format!(
                "{}; {} in {} processed",
                added(s, data_added),
                gtk::glib::format_size(s.total_bytes_processed),
                format::count(s.total_files_processed, "file", "files"),
            ),
        ),
    ];
    if s.dry_run {
        rows.push(value_row(
            "Dry run",
            "Yes: nothing was written to the repository",
        ));
    }
    if !s.snapshot_id.is_empty() {
        let short: String = s.snapshot_id.chars().take(SHORT_ID).collect();
        let row = value_row("Snapshot", &short);
        row.set_tooltip_text(Some(&s.snapshot_id));
        rows.push(row);
    }
    rows
}

/// "1.2 MB added", or, when restic compressed it, "1.2 MB added (800.0
/// kB stored)"; "added size unknown" when the helper did not say.
fn added(s: &Summary, data_added: Option<u64>) -> String {
    let Some(data_added) = data_added else {
        return "added size unknown".to_owned();
    };
    let added = gtk::glib::format_size(data_added);
    match s.data_added_packed {
        Some(packed) if packed != data_added => {
            format!("{added} added ({} stored)", gtk::glib::format_size(packed))
        }
        _ => format!("{added} added"),
    }
}

/// "3 files could not be read".
pub fn errors_title(count: u64) -> String {
    format!(
        "{} could not be read",
        format::count(count, "file or folder", "files or folders")
    )
}

/// A row for one item error.
pub fn error_row(e: &ItemError) -> adw::ActionRow {
    let during = match e.during.as_str() {
        "scan" => "while scanning",
        "archival" => "while backing up",
        _ => "",
    };
    let what = if during.is_empty() {
        e.error.clone()
    } else {
        format!("{} ({during})", e.error)
    };
    let row = adw::ActionRow::builder()
        .title(glib_escape(&e.item))
        .subtitle(glib_escape(&what))
        .build();
    row.set_title_lines(2);
    row
}

/// An expander row titled with the count, holding [`error_rows`].
pub fn errors_expander(count: u64, errors: &[ItemError]) -> adw::ExpanderRow {
    let expander = adw::ExpanderRow::builder()
        .title(errors_title(count))
        .subtitle("Skipped; the rest was backed up")
        .build();
    let icon = gtk::Image::from_icon_name("dialog-warning-symbolic");
    icon.add_css_class("warning");
    expander.add_prefix(&icon);
    for row in error_rows(count, errors) {
        expander.add_row(&row);
    }
    expander
}

/// The latest [`ERRORS_SHOWN`] of `errors`, and a note for those not listed.
pub fn error_rows(count: u64, errors: &[ItemError]) -> Vec<adw::ActionRow> {
    let shown = &errors[errors.len().saturating_sub(ERRORS_SHOWN)..];
    let mut rows: Vec<_> = shown.iter().map(error_row).collect();
    let not_listed = count.saturating_sub(shown.len() as u64);
    if not_listed > 0 {
        rows.push(value_row(
            "Not listed",
            &format!("{} more", format::count(not_listed, "error", "errors")),
        ));
    }
    rows
}

/// The places of a run, for a status page: "/home and /srv".
pub fn places_line(places: &[String]) -> String {
    texts::places(places)
}
