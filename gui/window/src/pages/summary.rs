//! The details of a finished run: what restic did, how long it took, the
//! snapshot it saved, and why it ended the way it did. Shown for the last
//! run on the main page and in each history row.

use adw::prelude::*;
use igotchuu_dbus::{ItemError, Outcome, Summary};
use igotchuu_desktop::i18n::{fill, gettext, ngettext_n};
use igotchuu_desktop::{format, texts, Finished};

use super::{ErrorRow, ValueRow};
use crate::clock;

/// How many item errors a list shows; the title says how many there were.
pub const ERRORS_SHOWN: usize = 100;
/// restic snapshot IDs are shown as git shows commits: the first 8 digits.
const SHORT_ID: usize = 8;

/// The rows that describe `f`, seen from `now`.
pub fn detail_rows(f: &Finished, now: u64) -> Vec<ValueRow> {
    let mut rows = Vec::new();
    let reason = texts::reason(f);
    let reason = reason.trim();
    if !reason.is_empty() && f.outcome != Some(Outcome::Completed) {
        let title = match f.outcome {
            Some(Outcome::Failed) => gettext("Why it failed"),
            Some(Outcome::Stopped) => gettext("Why it stopped"),
            None => gettext("Why it is unknown"),
            _ => gettext("Note"),
        };
        let row = ValueRow::new(&title, reason);
        if f.outcome == Some(Outcome::Failed) {
            row.add_css_class("error");
        }
        rows.push(row);
    }
    if f.started_at > 0 {
        let mut when = clock::day_and_time(f.started_at, now);
        if let Some(took) = took(f) {
            when = fill(
                // xgettext: "Today at 14:05, took 3 minutes".
                &gettext("{when}, took {duration}"),
                &[("when", &when), ("duration", &format::duration(took))],
            );
        }
        rows.push(ValueRow::new(&gettext("Started"), &when));
    }
    if f.operation != igotchuu_dbus::Operation::Backup {
        // A forget, prune or check saves no snapshot: its reason is all.
        if f.outcome == Some(Outcome::Completed) && !reason.is_empty() {
            rows.push(ValueRow::new(&gettext("Result"), reason));
        }
        return rows;
    }
    if let Some(s) = &f.summary {
        rows.extend(summary_rows(s, f.data_added()));
    } else if f.outcome.is_some_and(Outcome::saved_snapshot) {
        rows.push(ValueRow::new(
            &gettext("Summary"),
            &gettext("restic did not report one"),
        ));
    } else if f.outcome.is_none() {
        rows.push(ValueRow::new(&gettext("Snapshot"), &gettext("Unknown")));
    } else {
        rows.push(ValueRow::new(
            &gettext("Snapshot"),
            &gettext("None: nothing was saved"),
        ));
    }
    if !f.places.is_empty() {
        rows.push(ValueRow::new(&gettext("Places"), &f.places.join(", ")));
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
pub fn summary_rows(s: &Summary, data_added: Option<u64>) -> Vec<ValueRow> {
    let counts = |new: u64, changed: u64, unmodified: u64| {
        fill(
            &gettext("{new} new, {changed} changed, {unmodified} unmodified"),
            &[
                ("new", &new.to_string()),
                ("changed", &changed.to_string()),
                ("unmodified", &unmodified.to_string()),
            ],
        )
    };
    let processed = ngettext_n("{n} file", "{n} files", s.total_files_processed);
    let mut rows = vec![
        ValueRow::new(
            &gettext("Files"),
            &counts(s.files_new, s.files_changed, s.files_unmodified),
        ),
        ValueRow::new(
            &gettext("Folders"),
            &counts(s.dirs_new, s.dirs_changed, s.dirs_unmodified),
        ),
        ValueRow::new(
            &gettext("Data"),
            &fill(
                // xgettext: "1.2 MB added; 3.4 GB in 120 files processed".
                &gettext("{added}; {size} in {files} processed"),
                &[
                    ("added", &added(s, data_added)),
                    ("size", &gtk::glib::format_size(s.total_bytes_processed)),
                    ("files", &processed),
                ],
            ),
        ),
    ];
    if s.dry_run {
        rows.push(ValueRow::new(
            &gettext("Dry run"),
            &gettext("Yes: nothing was written to the repository"),
        ));
    }
    if !s.snapshot_id.is_empty() {
        let short: String = s.snapshot_id.chars().take(SHORT_ID).collect();
        let row = ValueRow::new(&gettext("Snapshot"), &short);
        row.set_tooltip_text(Some(&s.snapshot_id));
        rows.push(row);
    }
    rows
}

/// "1.2 MB added", or, when restic compressed it, "1.2 MB added (800.0
/// kB stored)"; "added size unknown" when the helper did not say.
fn added(s: &Summary, data_added: Option<u64>) -> String {
    let Some(data_added) = data_added else {
        return gettext("added size unknown");
    };
    let added = gtk::glib::format_size(data_added);
    match s.data_added_packed {
        Some(packed) if packed != data_added => fill(
            // xgettext: "1.2 MB added (800.0 kB stored)": compressed.
            &gettext("{size} added ({stored} stored)"),
            &[
                ("size", &added),
                ("stored", &gtk::glib::format_size(packed)),
            ],
        ),
        _ => fill(&gettext("{size} added"), &[("size", &added)]),
    }
}

/// "3 files could not be read".
pub fn errors_title(count: u64) -> String {
    ngettext_n(
        "{n} file or folder could not be read",
        "{n} files or folders could not be read",
        count,
    )
}

/// A row for one item error.
pub fn error_row(e: &ItemError) -> ErrorRow {
    let template = match e.during.as_str() {
        // xgettext: {error} is restic's own message.
        "scan" => gettext("{error} (while scanning)"),
        // xgettext: {error} is restic's own message.
        "archival" => gettext("{error} (while backing up)"),
        _ => "{error}".to_owned(),
    };
    ErrorRow::new(&e.item, &fill(&template, &[("error", &e.error)]))
}

/// An expander row titled with the count, holding [`error_rows`].
pub fn errors_expander(count: u64, errors: &[ItemError]) -> adw::ExpanderRow {
    let expander = adw::ExpanderRow::builder()
        .title(errors_title(count))
        .subtitle(gettext("Skipped; the rest was backed up"))
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
    let mut rows: Vec<adw::ActionRow> = shown.iter().map(|e| error_row(e).upcast()).collect();
    let not_listed = count.saturating_sub(shown.len() as u64);
    if not_listed > 0 {
        rows.push(ValueRow::new(&gettext("Not listed"), &more_errors(not_listed)).upcast());
    }
    rows
}

/// "3 more errors": those not listed.
pub fn more_errors(n: u64) -> String {
    ngettext_n("{n} more error", "{n} more errors", n)
}

/// The places of a run, for a status page: "/home and /srv".
pub fn places_line(places: &[String]) -> String {
    texts::places(places)
}
