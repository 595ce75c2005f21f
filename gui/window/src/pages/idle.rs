//! The main page when no backup runs: whether backups are stale or
//! postponed, how the last one went and when, the full summary of it, when
//! the last saved backup and the last check were, the retention policy,
//! when the next backup, prune and check are due, the runs before, and
//! "Back Up Now".

use std::cell::RefCell;

use adw::prelude::*;
use igotchuu_dbus::{ItemError, Outcome};
use igotchuu_desktop::{format, Finished};

use super::summary;
use crate::history_list::HistoryList;
use crate::words::{self, Icon};

/// What the page shows.
pub struct IdleView<'a> {
    /// The latest finished run, from the history or the bus.
    pub last: Option<&'a Finished>,
    /// Its item errors, as far as known, and how many there were.
    pub last_errors: &'a [ItemError],
    pub bus_available: bool,
    /// Each timer's row: its title and "Tomorrow at 00:30", "No schedule".
    pub schedules: Vec<(&'static str, String)>,
    /// "No backup for 10 days", when backups are stale.
    pub stale: Option<String>,
    /// What the warning says beyond its title.
    pub stale_detail: String,
    /// "Backup postponed: …", when a scheduled run waits.
    pub postponed: Option<String>,
    /// When the latest backup that saved a snapshot finished.
    pub last_saved_at: Option<u64>,
    /// The latest repository check, if any.
    pub last_check: Option<&'a Finished>,
    /// "Keep the last 3, 7 daily, 4 weekly".
    pub retention: String,
    pub now: u64,
}

pub struct IdlePage {
    page: adw::StatusPage,
    pub backup_button: gtk::Button,
    warnings: adw::PreferencesGroup,
    stale_row: adw::ActionRow,
    check_failed_row: adw::ActionRow,
    postponed_row: adw::ActionRow,
    saved_row: adw::ActionRow,
    check_row: adw::ActionRow,
    check_icon: gtk::Image,
    retention_row: adw::ActionRow,
    schedule_rows: Vec<adw::ActionRow>,
    last_group: adw::PreferencesGroup,
    last_rows: gtk::Box,
    /// Which run the rows describe, so that a refresh keeps an expanded
    /// list expanded.
    last_key: RefCell<Option<LastKey>>,
    pub history: HistoryList,
}

type LastKey = (u64, u64, Option<igotchuu_dbus::Outcome>, u64, usize, bool);

impl IdlePage {
    pub fn new() -> Self {
        let backup_button = gtk::Button::builder()
            .label("_Back Up Now")
            .use_underline(true)
            .halign(gtk::Align::Center)
            .action_name("app.backup-now")
            .receives_default(true)
            .build();
        backup_button.add_css_class("pill");
        backup_button.add_css_class("suggested-action");

        // The warnings first: they are what matters when they are there.
        let stale_row = adw::ActionRow::builder().title("…").build();
        let warning = gtk::Image::from_icon_name("dialog-warning-symbolic");
        warning.add_css_class("warning");
        stale_row.add_prefix(&warning);
        stale_row.add_css_class("property");
        let check_failed_row = adw::ActionRow::builder()
            .title("The last repository check failed")
            .build();
        let error = gtk::Image::from_icon_name("dialog-error-symbolic");
        error.add_css_class("error");
        check_failed_row.add_prefix(&error);
        let postponed_row = adw::ActionRow::builder().title("Postponed").build();
        postponed_row.add_prefix(&gtk::Image::from_icon_name("alarm-symbolic"));
        let warnings = adw::PreferencesGroup::new();
        warnings.add(&stale_row);
        warnings.add(&check_failed_row);
        warnings.add(&postponed_row);

        let saved_row = super::value_row("Last saved backup", "…");
        saved_row.add_prefix(&gtk::Image::from_icon_name("document-save-symbolic"));
        let check_icon = gtk::Image::from_icon_name("emblem-ok-symbolic");
        let check_row = super::value_row("Last repository check", "…");
        check_row.add_prefix(&check_icon);
        let retention_row = super::value_row("Retention policy", "…");
        retention_row.add_prefix(&gtk::Image::from_icon_name("edit-clear-all-symbolic"));
        let overview = adw::PreferencesGroup::builder().title("Safety").build();
        overview.add(&saved_row);
        overview.add(&check_row);
        overview.add(&retention_row);

        let schedule_group = adw::PreferencesGroup::builder().title("Schedule").build();
        let schedule_rows: Vec<adw::ActionRow> = crate::schedule::TIMERS
            .iter()
            .map(|(_, title)| {
                let row = adw::ActionRow::builder()
                    .title(*title)
                    .subtitle("…")
                    .build();
                row.add_prefix(&gtk::Image::from_icon_name("alarm-symbolic"));
                schedule_group.add(&row);
                row
            })
            .collect();

        // Rows are replaced as a whole on each change: a box inside the
        // group holds them, so that the group keeps its title.
        let last_rows = gtk::Box::new(gtk::Orientation::Vertical, 12);
        let last_group = adw::PreferencesGroup::builder()
            .title("Last Backup")
            .build();
        last_group.add(&last_rows);

        let history = HistoryList::new();

        let content = gtk::Box::new(gtk::Orientation::Vertical, 24);
        content.append(&warnings);
        content.append(&backup_button);
        content.append(&last_group);
        content.append(&overview);
        content.append(&schedule_group);
        content.append(history.widget());
        let clamp = super::clamped(&content);

        let page = adw::StatusPage::builder()
            .icon_name(Icon::App.name())
            .title("No Backups Yet")
            .child(&clamp)
            .build();
        page.add_css_class("compact");
        IdlePage {
            page,
            backup_button,
            warnings,
            stale_row,
            check_failed_row,
            postponed_row,
            saved_row,
            check_row,
            check_icon,
            retention_row,
            schedule_rows,
            last_group,
            last_rows,
            last_key: RefCell::new(None),
            history,
        }
    }

    pub fn widget(&self) -> &adw::StatusPage {
        &self.page
    }

    pub fn show(&self, view: &IdleView<'_>) {
        let (icon, title, mut description) = match view.last {
            Some(f) => (
                Icon::Outcome(f.outcome),
                words::outcome_title(f.outcome),
                format!(
                    "{}.\n{}.",
                    words::finished_ago(f, view.now),
                    words::one_line(f)
                ),
            ),
            None => (
                Icon::App,
                "No Backups Yet",
                "Back up now, or wait for the schedule.".to_owned(),
            ),
        };
        if !view.bus_available {
            description.push_str("\nCannot reach the system bus; waiting for it.");
        }
        self.page.set_icon_name(Some(icon.name()));
        self.page.set_title(title);
        self.page
            .set_description(Some(&super::glib_escape(&description)));
        for (row, (title, text)) in self.schedule_rows.iter().zip(&view.schedules) {
            row.set_title(title);
            row.set_subtitle(&super::glib_escape(text));
        }
        self.show_warnings(view);
        self.show_overview(view);
        self.show_last(view);
    }

    fn show_warnings(&self, view: &IdleView<'_>) {
        self.stale_row.set_visible(view.stale.is_some());
        if let Some(title) = &view.stale {
            self.stale_row.set_title(&super::glib_escape(title));
            self.stale_row
                .set_subtitle(&super::glib_escape(&view.stale_detail));
        }
        self.postponed_row.set_visible(view.postponed.is_some());
        if let Some(line) = &view.postponed {
            let (title, detail) = line.split_once(": ").unwrap_or((line, ""));
            self.postponed_row.set_title(&super::glib_escape(title));
            self.postponed_row
                .set_subtitle(&super::glib_escape(&words::capitalized(detail)));
        }
        let check_failed = view
            .last_check
            .filter(|f| f.outcome == Some(Outcome::Failed));
        self.check_failed_row.set_visible(check_failed.is_some());
        if let Some(f) = check_failed {
            let reason = f.reason.trim();
            let detail = if reason.is_empty() {
                "Run \"igotchuu check\" in a terminal to see restic's report."
            } else {
                reason
            };
            self.check_failed_row
                .set_subtitle(&super::glib_escape(detail));
        }
        self.warnings.set_visible(
            view.stale.is_some() || view.postponed.is_some() || check_failed.is_some(),
        );
    }

    fn show_overview(&self, view: &IdleView<'_>) {
        let saved = match view.last_saved_at {
            Some(t) => format!(
                "{} ({})",
                words::capitalized(&format::ago(t, view.now)),
                crate::clock::day_and_time(t, view.now)
            ),
            None => "Never".to_owned(),
        };
        self.saved_row.set_subtitle(&super::glib_escape(&saved));
        let (check, icon) = match view.last_check {
            None => ("Never".to_owned(), Icon::Outcome(Some(Outcome::Stopped))),
            Some(f) => (words::check_line(f, view.now), Icon::Outcome(f.outcome)),
        };
        self.check_row.set_subtitle(&super::glib_escape(&check));
        self.check_icon.set_icon_name(Some(match view.last_check {
            None => "dialog-question-symbolic",
            Some(_) => icon.name(),
        }));
        for class in ["success", "warning", "error"] {
            self.check_icon.remove_css_class(class);
        }
        if let Some(class) = view.last_check.and(icon.css_class()) {
            self.check_icon.add_css_class(class);
        }
        self.retention_row
            .set_subtitle(&super::glib_escape(&view.retention));
    }

    fn show_last(&self, view: &IdleView<'_>) {
        let key = view.last.map(|f| {
            (
                f.started_at,
                f.finished_at,
                f.outcome,
                f.error_count,
                view.last_errors.len(),
                f.summary.is_some(),
            )
        });
        if *self.last_key.borrow() == key && key.is_some() {
            return;
        }
        *self.last_key.borrow_mut() = key;
        super::clear(&self.last_rows);
        let Some(f) = view.last else {
            self.last_group.set_visible(false);
            return;
        };
        self.last_group.set_visible(true);
        let list = gtk::ListBox::new();
        list.add_css_class("boxed-list");
        list.set_selection_mode(gtk::SelectionMode::None);
        for row in summary::detail_rows(f, view.now) {
            list.append(&row);
        }
        self.last_rows.append(&list);
        if f.error_count > 0 {
            let errors = gtk::ListBox::new();
            errors.add_css_class("boxed-list");
            errors.set_selection_mode(gtk::SelectionMode::None);
            errors.append(&summary::errors_expander(f.error_count, view.last_errors));
            self.last_rows.append(&errors);
        }
    }
}
