//! The page while a backup runs: the phase in words, a progress bar with
//! the percentage and the time left, files and bytes done out of the total,
//! the files being read now, the files that could not be read, and "Stop".

use std::cell::RefCell;
use std::collections::VecDeque;

use adw::prelude::*;
use gtk::glib;
use igotchuu_dbus::{ItemError, Operation, Phase};
use igotchuu_desktop::{format, DesktopState};

use super::summary::{self, ERRORS_SHOWN};
use super::{glib_escape, value_row};
use crate::a11y;
use crate::words::{self, Icon};

/// How many of restic's current files are listed.
const CURRENT_FILES_SHOWN: usize = 4;

pub struct RunningPage {
    page: adw::StatusPage,
    stop_button: gtk::Button,
    progress: gtk::ProgressBar,
    percent: gtk::Label,
    eta: gtk::Label,
    files_row: adw::ActionRow,
    bytes_row: adw::ActionRow,
    elapsed_row: adw::ActionRow,
    current_group: adw::PreferencesGroup,
    current_list: gtk::ListBox,
    current_shown: RefCell<Vec<String>>,
    errors_group: adw::PreferencesGroup,
    errors: adw::ExpanderRow,
    /// The error rows in the list, oldest first: at most [`ERRORS_SHOWN`].
    error_rows: RefCell<VecDeque<(ItemError, adw::ActionRow)>>,
    not_listed_row: adw::ActionRow,
}

impl RunningPage {
    pub fn new() -> Self {
        let progress = gtk::ProgressBar::builder().hexpand(true).build();
        a11y::set_label(&progress, "Backup progress");
        let percent = gtk::Label::builder().xalign(0.0).build();
        percent.add_css_class("heading");
        percent.add_css_class("numeric");
        let eta = gtk::Label::builder()
            .xalign(1.0)
            .hexpand(true)
            .ellipsize(gtk::pango::EllipsizeMode::End)
            .build();
        eta.add_css_class("dim-label");
        let numbers = gtk::Box::new(gtk::Orientation::Horizontal, 12);
        numbers.append(&percent);
        numbers.append(&eta);
        let bar_box = gtk::Box::new(gtk::Orientation::Vertical, 6);
        bar_box.append(&progress);
        bar_box.append(&numbers);

        let files_row = value_row("Files", "");
        let bytes_row = value_row("Data", "");
        let elapsed_row = value_row("Running for", "");
        let numbers_group = adw::PreferencesGroup::new();
        numbers_group.add(&files_row);
        numbers_group.add(&bytes_row);
        numbers_group.add(&elapsed_row);

        let current_list = gtk::ListBox::new();
        current_list.add_css_class("boxed-list");
        current_list.set_selection_mode(gtk::SelectionMode::None);
        let current_group = adw::PreferencesGroup::builder()
            .title("Now Reading")
            .build();
        current_group.add(&current_list);

        let errors = adw::ExpanderRow::builder()
            .title(summary::errors_title(0))
            .subtitle("They are skipped; the rest is backed up")
            .build();
        let icon = gtk::Image::from_icon_name("dialog-warning-symbolic");
        icon.add_css_class("warning");
        errors.add_prefix(&icon);
        let not_listed_row = value_row("Not listed", "");
        not_listed_row.set_visible(false);
        errors.add_row(&not_listed_row);
        let errors_group = adw::PreferencesGroup::new();
        errors_group.add(&errors);

        let stop_button = gtk::Button::builder()
            .label("_Stop Backup…")
            .use_underline(true)
            .halign(gtk::Align::Center)
            .action_name("app.stop")
            .build();
        stop_button.add_css_class("pill");
        stop_button.add_css_class("destructive-action");

        let content = gtk::Box::new(gtk::Orientation::Vertical, 24);
        content.append(&bar_box);
        content.append(&numbers_group);
        content.append(&current_group);
        content.append(&errors_group);
        content.append(&stop_button);
        let clamp = super::clamped(&content);
        let page = adw::StatusPage::builder()
            .icon_name(Icon::Running.name())
            .title(words::phase_title(Phase::Preparing))
            .child(&clamp)
            .build();
        page.add_css_class("compact");
        RunningPage {
            page,
            stop_button,
            progress,
            percent,
            eta,
            files_row,
            bytes_row,
            elapsed_row,
            current_group,
            current_list,
            current_shown: RefCell::default(),
            errors_group,
            errors,
            error_rows: RefCell::default(),
            not_listed_row,
        }
    }

    pub fn widget(&self) -> &adw::StatusPage {
        &self.page
    }

    pub fn show(&self, state: &DesktopState, now: u64) {
        let phase = state.phase.unwrap_or(Phase::Preparing);
        self.page.set_title(words::phase_title(phase));
        let mut description = summary::places_line(&state.places);
        if !state.profile.is_empty() {
            description = format!("{description}\nProfile “{}”", state.profile);
        }
        let description = glib_escape(&description);
        self.page
            .set_description(Some(description.as_str()).filter(|d| !d.is_empty()));

        let p = &state.progress;
        let fraction = if p.percent_done.is_finite() {
            p.percent_done.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.progress.set_fraction(fraction);
        let percent = format::percent(fraction);
        // A forget, prune or check has no files of its own to count.
        let backup = state.running_operation().unwrap_or_default() == Operation::Backup;
        self.files_row.set_visible(backup);
        self.bytes_row.set_visible(backup);
        let stop = words::stop_button(state.running_operation().unwrap_or_default());
        if self.stop_button.label().as_deref() != Some(stop) {
            self.stop_button.set_label(stop);
        }
        let eta = match (phase, p.eta_seconds()) {
            (Phase::Forgetting | Phase::Pruning | Phase::Checking, Some(s)) => format::eta(s),
            (Phase::Forgetting | Phase::Pruning | Phase::Checking, None) => {
                "This can take a while…".to_owned()
            }
            (Phase::BackingUp, Some(s)) => format::eta(s),
            (Phase::BackingUp, None) if p.total_files == 0 => "Counting files…".to_owned(),
            (Phase::BackingUp, None) => "Estimating the time left…".to_owned(),
            (Phase::Stopping, _) => "Stopping…".to_owned(),
            (Phase::CleaningUp, _) => "Removing the snapshots…".to_owned(),
            _ => "Starting…".to_owned(),
        };
        self.percent.set_text(&percent);
        self.eta.set_text(&eta);
        a11y::set_value_text(&self.progress, &format!("{percent}, {eta}"));

        self.files_row.set_subtitle(&format!(
            "{} of {}",
            p.files_done,
            format::count(p.total_files, "file", "files")
        ));
        self.bytes_row.set_subtitle(&glib_escape(&format!(
            "{} of {}",
            glib::format_size(p.bytes_done),
            glib::format_size(p.total_bytes)
        )));
        let elapsed = if p.seconds_elapsed > 0 {
            p.seconds_elapsed
        } else if state.started_at > 0 {
            now.saturating_sub(state.started_at)
        } else {
            0
        };
        self.elapsed_row.set_subtitle(&format::duration(elapsed));

        self.show_current(&p.current_files);
        self.show_errors(state);
    }

    fn show_current(&self, files: &[String]) {
        let files: Vec<String> = files.iter().take(CURRENT_FILES_SHOWN).cloned().collect();
        self.current_group.set_visible(!files.is_empty());
        if *self.current_shown.borrow() == files {
            return;
        }
        while let Some(row) = self.current_list.first_child() {
            self.current_list.remove(&row);
        }
        for f in &files {
            let label = gtk::Label::builder()
                .label(f)
                .xalign(0.0)
                .ellipsize(gtk::pango::EllipsizeMode::Middle)
                .tooltip_text(f)
                .margin_top(12)
                .margin_bottom(12)
                .margin_start(12)
                .margin_end(12)
                .build();
            self.current_list.append(&label);
        }
        *self.current_shown.borrow_mut() = files;
    }

    /// Brings the error list in line with the state: new rows were added by
    /// [`add_error`](Self::add_error); a new run starts it afresh.
    fn show_errors(&self, state: &DesktopState) {
        self.errors_group.set_visible(state.error_count > 0);
        self.errors
            .set_title(&summary::errors_title(state.error_count));
        let in_sync = {
            let rows = self.error_rows.borrow();
            let want = state.item_errors.len().min(ERRORS_SHOWN);
            rows.len() == want && rows.back().map(|r| &r.0) == state.item_errors.back()
        };
        if !in_sync {
            self.clear_errors();
            let skip = state.item_errors.len().saturating_sub(ERRORS_SHOWN);
            for e in state.item_errors.iter().skip(skip) {
                self.add_error(e);
            }
        }
        let listed = self.error_rows.borrow().len() as u64;
        let not_listed = state.error_count.saturating_sub(listed);
        self.not_listed_row.set_visible(not_listed > 0);
        self.not_listed_row.set_subtitle(&format!(
            "{} more",
            format::count(not_listed, "error", "errors")
        ));
    }

    /// Adds one error at the end of the list, dropping the oldest beyond
    /// [`ERRORS_SHOWN`].
    pub fn add_error(&self, e: &ItemError) {
        let mut rows = self.error_rows.borrow_mut();
        if rows.len() >= ERRORS_SHOWN {
            if let Some((_, old)) = rows.pop_front() {
                self.errors.remove(&old);
            }
        }
        let row = summary::error_row(e);
        self.errors.add_row(&row);
        rows.push_back((e.clone(), row));
    }

    fn clear_errors(&self) {
        for (_, row) in self.error_rows.borrow_mut().drain(..) {
            self.errors.remove(&row);
        }
    }
}
