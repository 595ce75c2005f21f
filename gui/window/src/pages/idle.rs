//! The main page when no backup runs: how the last one went and when, the
//! full summary of it, when the next one is due, the runs before it, and
//! "Back Up Now".

use std::cell::RefCell;

use adw::prelude::*;
use igotchuu_dbus::ItemError;
use igotchuu_desktop::Finished;

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
    /// "Tomorrow at 00:30", "No schedule".
    pub schedule: String,
    pub now: u64,
}

pub struct IdlePage {
    page: adw::StatusPage,
    pub backup_button: gtk::Button,
    schedule_row: adw::ActionRow,
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

        let schedule_row = adw::ActionRow::builder()
            .title("Next backup")
            .subtitle("…")
            .build();
        schedule_row.add_prefix(&gtk::Image::from_icon_name("alarm-symbolic"));
        let schedule_group = adw::PreferencesGroup::new();
        schedule_group.add(&schedule_row);

        // Rows are replaced as a whole on each change: a box inside the
        // group holds them, so that the group keeps its title.
        let last_rows = gtk::Box::new(gtk::Orientation::Vertical, 12);
        let last_group = adw::PreferencesGroup::builder()
            .title("Last Backup")
            .build();
        last_group.add(&last_rows);

        let history = HistoryList::new();

        let content = gtk::Box::new(gtk::Orientation::Vertical, 24);
        content.append(&backup_button);
        content.append(&schedule_group);
        content.append(&last_group);
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
            schedule_row,
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
        self.schedule_row.set_subtitle(&view.schedule);
        self.show_last(view);
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
