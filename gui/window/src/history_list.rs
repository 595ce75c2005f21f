//! The runs before, from `history.json`: newest first, one expander row
//! each, with the outcome's icon, when, and a one-line summary; expanding a
//! row shows the details and the files that could not be read.

use std::cell::RefCell;
use std::rc::Rc;

use adw::prelude::*;
use igotchuu_dbus::history::{History, RunRecord};
use igotchuu_desktop::{format, Finished};

use crate::pages::{glib_escape, summary};
use crate::words::{self, Icon};

/// How many runs the list shows.
pub const RUNS_SHOWN: usize = 10;

pub struct HistoryList {
    group: adw::PreferencesGroup,
    list: gtk::ListBox,
    /// Each row with its run, to refresh "2 hours ago".
    rows: RefCell<Vec<(adw::ExpanderRow, Finished)>>,
    shown: RefCell<Option<Vec<RunRecord>>>,
}

impl HistoryList {
    pub fn new() -> Self {
        let list = gtk::ListBox::new();
        list.add_css_class("boxed-list");
        list.set_selection_mode(gtk::SelectionMode::None);
        let group = adw::PreferencesGroup::builder().title("History").build();
        group.add(&list);
        HistoryList {
            group,
            list,
            rows: RefCell::default(),
            shown: RefCell::default(),
        }
    }

    pub fn widget(&self) -> &adw::PreferencesGroup {
        &self.group
    }

    /// Shows `history`, or why it could not be read.
    pub fn show(&self, history: Result<&History, &str>, now: u64) {
        let runs: Vec<RunRecord> = match history {
            Ok(h) => h.runs.iter().rev().take(RUNS_SHOWN).cloned().collect(),
            Err(e) => {
                self.replace_with_note("The history cannot be read", e);
                *self.shown.borrow_mut() = None;
                return;
            }
        };
        if self.shown.borrow().as_ref() == Some(&runs) {
            return;
        }
        if runs.is_empty() {
            self.replace_with_note(
                "No backups yet",
                "Finished backups, forgets, prunes and checks are listed here",
            );
        } else {
            self.clear();
            let mut rows = self.rows.borrow_mut();
            for record in &runs {
                let row = run_row(record, now);
                self.list.append(&row);
                rows.push((row, Finished::from_record(record)));
            }
            let total = history.map_or(0, |h| h.runs.len());
            self.group.set_description(
                (total > RUNS_SHOWN)
                    .then(|| format!("The latest {RUNS_SHOWN} of {total} runs"))
                    .as_deref(),
            );
        }
        *self.shown.borrow_mut() = Some(runs);
    }

    /// Refreshes the times relative to `now`.
    pub fn tick(&self, now: u64) {
        for (row, f) in self.rows.borrow().iter() {
            row.set_subtitle(&subtitle(f, now));
        }
    }

    fn clear(&self) {
        self.rows.borrow_mut().clear();
        while let Some(child) = self.list.first_child() {
            self.list.remove(&child);
        }
    }

    fn replace_with_note(&self, title: &str, text: &str) {
        self.clear();
        self.group.set_description(None);
        let row = adw::ActionRow::builder()
            .title(title)
            .subtitle(glib_escape(text))
            .build();
        self.list.append(&row);
    }
}

fn subtitle(f: &Finished, now: u64) -> String {
    glib_escape(&format!(
        "{} · {}",
        words::capitalized(&format::ago(f.finished_at, now)),
        words::one_line(f)
    ))
}

/// One run's row; its details are built when it is first expanded.
fn run_row(record: &RunRecord, now: u64) -> adw::ExpanderRow {
    let f = Finished::from_record(record);
    let title = format!(
        "{}: {}",
        words::operation_word(f.operation),
        words::outcome_word(f.outcome)
    );
    let row = adw::ExpanderRow::builder()
        .title(glib_escape(&title))
        .subtitle(subtitle(&f, now))
        .build();
    let icon_kind = Icon::Outcome(f.outcome);
    let icon = gtk::Image::from_icon_name(icon_kind.name());
    if let Some(class) = icon_kind.css_class() {
        icon.add_css_class(class);
    }
    crate::a11y::set_label(&icon, &title);
    row.add_prefix(&icon);
    // Building fifty runs' details up front would slow the first frame.
    let pending = Rc::new(RefCell::new(Some(record.clone())));
    row.connect_expanded_notify(move |row| {
        let Some(record) = pending.borrow_mut().take() else {
            return;
        };
        let f = Finished::from_record(&record);
        for r in summary::detail_rows(&f, crate::clock::unix_now()) {
            row.add_row(&r);
        }
        if !record.nested_subvolumes.is_empty() {
            row.add_row(&crate::pages::value_row(
                "Not backed up (nested subvolumes)",
                &record.nested_subvolumes.join(", "),
            ));
        }
        if record.error_count > 0 {
            let heading = crate::pages::value_row(
                &summary::errors_title(record.error_count),
                "Skipped; the rest was backed up",
            );
            heading.add_prefix(&gtk::Image::from_icon_name("dialog-warning-symbolic"));
            row.add_row(&heading);
            for r in summary::error_rows(record.error_count, &record.item_errors) {
                row.add_row(&r);
            }
        }
    });
    row
}
