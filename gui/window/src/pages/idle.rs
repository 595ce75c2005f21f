//! The main page when no backup runs: whether backups are stale or
//! postponed, how the last one went and when, the full summary of it, when
//! the last saved backup and the last check were, the retention policy,
//! when the next backup, prune and check are due, the runs before, and
//! "Back Up Now". Its widgets are in `data/ui/idle_page.ui`.

use std::cell::RefCell;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;
use igotchuu_dbus::{ItemError, Outcome};
use igotchuu_desktop::i18n::{fill, gettext};
use igotchuu_desktop::{format, Finished};

use super::{glib_escape, summary, ValueRow};
use crate::history_list::HistoryList;
use crate::words::{self, Icon};

/// What the page shows.
pub struct IdleView<'a> {
    /// The latest finished run, from the history or the bus.
    pub last: Option<&'a Finished>,
    /// Its item errors, as far as known, and how many there were.
    pub last_errors: &'a [ItemError],
    pub bus_available: bool,
    /// Each of [`crate::schedule::TIMERS`]: "Tomorrow at 00:30", "No schedule".
    pub schedules: Vec<String>,
    /// "No backup for 10 days", when backups are stale.
    pub stale: Option<String>,
    /// What the warning says beyond its title.
    pub stale_detail: String,
    /// "Backup postponed" and why, when a scheduled run waits.
    pub postponed: Option<(String, Option<String>)>,
    /// When the latest backup that saved a snapshot finished.
    pub last_saved_at: Option<u64>,
    /// The latest repository check, if any.
    pub last_check: Option<&'a Finished>,
    /// "Keep the last 3, 7 daily, 4 weekly".
    pub retention: String,
    pub now: u64,
}

type LastKey = (u64, u64, Option<igotchuu_dbus::Outcome>, u64, usize, bool);

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/com/nyantec/IGotChuu/ui/idle_page.ui")]
    pub struct IdlePage {
        #[template_child]
        pub page: TemplateChild<adw::StatusPage>,
        #[template_child]
        pub backup_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub warnings: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub stale_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub check_failed_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub postponed_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub saved_row: TemplateChild<ValueRow>,
        #[template_child]
        pub check_row: TemplateChild<ValueRow>,
        #[template_child]
        pub check_icon: TemplateChild<gtk::Image>,
        #[template_child]
        pub retention_row: TemplateChild<ValueRow>,
        #[template_child]
        pub backup_schedule_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub prune_schedule_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub check_schedule_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub last_group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub last_rows: TemplateChild<gtk::Box>,
        #[template_child]
        pub history: TemplateChild<HistoryList>,
        /// Which run the rows describe, so that a refresh keeps an expanded
        /// list expanded.
        pub last_key: RefCell<Option<LastKey>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for IdlePage {
        const NAME: &'static str = "IgcIdlePage";
        type Type = super::IdlePage;
        type ParentType = adw::Bin;

        fn class_init(klass: &mut Self::Class) {
            ValueRow::ensure_type();
            HistoryList::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for IdlePage {
        fn constructed(&self) {
            self.parent_constructed();
            self.page.set_icon_name(Some(Icon::App.name()));
        }
    }
    impl WidgetImpl for IdlePage {}
    impl BinImpl for IdlePage {}
}

glib::wrapper! {
    pub struct IdlePage(ObjectSubclass<imp::IdlePage>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl IdlePage {
    /// "Back Up Now", which gets the focus whenever the page appears.
    pub fn backup_button(&self) -> gtk::Button {
        self.imp().backup_button.get()
    }

    pub fn history(&self) -> HistoryList {
        self.imp().history.get()
    }

    pub fn show(&self, view: &IdleView<'_>) {
        let imp = self.imp();
        let (icon, title, mut description) = match view.last {
            Some(f) => (
                Icon::Outcome(f.outcome),
                words::outcome_title(f.outcome),
                fill(
                    // xgettext: "Finished 2 hours ago.\n12 new files, 1.2 MB added."
                    &gettext("{when}.\n{what}."),
                    &[
                        ("when", &words::finished_ago(f, view.now)),
                        ("what", &words::one_line(f)),
                    ],
                ),
            ),
            None => (
                Icon::App,
                gettext("No Backups Yet"),
                gettext("Back up now, or wait for the schedule."),
            ),
        };
        if !view.bus_available {
            description.push('\n');
            description.push_str(&gettext("Cannot reach the system bus; waiting for it."));
        }
        imp.page.set_icon_name(Some(icon.name()));
        imp.page.set_title(&title);
        imp.page.set_description(Some(&glib_escape(&description)));
        let rows = [
            &imp.backup_schedule_row,
            &imp.prune_schedule_row,
            &imp.check_schedule_row,
        ];
        for (row, text) in rows.into_iter().zip(&view.schedules) {
            row.set_subtitle(&glib_escape(text));
        }
        self.show_warnings(view);
        self.show_overview(view);
        self.show_last(view);
    }

    fn show_warnings(&self, view: &IdleView<'_>) {
        let imp = self.imp();
        imp.stale_row.set_visible(view.stale.is_some());
        if let Some(title) = &view.stale {
            imp.stale_row.set_title(&glib_escape(title));
            imp.stale_row.set_subtitle(&glib_escape(&view.stale_detail));
        }
        imp.postponed_row.set_visible(view.postponed.is_some());
        if let Some((title, detail)) = &view.postponed {
            imp.postponed_row.set_title(&glib_escape(title));
            imp.postponed_row
                .set_subtitle(&glib_escape(detail.as_deref().unwrap_or_default()));
        }
        let check_failed = view
            .last_check
            .filter(|f| f.outcome == Some(Outcome::Failed));
        imp.check_failed_row.set_visible(check_failed.is_some());
        if let Some(f) = check_failed {
            let reason = f.reason.trim();
            let detail = if reason.is_empty() {
                gettext("Run \"igotchuu check\" in a terminal to see restic's report.")
            } else {
                reason.to_owned()
            };
            imp.check_failed_row.set_subtitle(&glib_escape(&detail));
        }
        imp.warnings.set_visible(
            view.stale.is_some() || view.postponed.is_some() || check_failed.is_some(),
        );
    }

    fn show_overview(&self, view: &IdleView<'_>) {
        let imp = self.imp();
        let saved = match view.last_saved_at {
            Some(t) => fill(
                // xgettext: "2 hours ago (Today at 14:05)".
                &gettext("{ago} ({when})"),
                &[
                    ("ago", &words::capitalized(&format::ago(t, view.now))),
                    ("when", &crate::clock::day_and_time(t, view.now)),
                ],
            ),
            None => gettext("Never"),
        };
        imp.saved_row.set_value(&saved);
        let (check, icon) = match view.last_check {
            None => (gettext("Never"), Icon::Outcome(Some(Outcome::Stopped))),
            Some(f) => (words::check_line(f, view.now), Icon::Outcome(f.outcome)),
        };
        imp.check_row.set_value(&check);
        imp.check_icon.set_icon_name(Some(match view.last_check {
            None => "dialog-question-symbolic",
            Some(_) => icon.name(),
        }));
        for class in ["success", "warning", "error"] {
            imp.check_icon.remove_css_class(class);
        }
        if let Some(class) = view.last_check.and(icon.css_class()) {
            imp.check_icon.add_css_class(class);
        }
        imp.retention_row.set_value(&view.retention);
    }

    fn show_last(&self, view: &IdleView<'_>) {
        let imp = self.imp();
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
        if *imp.last_key.borrow() == key && key.is_some() {
            return;
        }
        *imp.last_key.borrow_mut() = key;
        super::clear(&imp.last_rows);
        let Some(f) = view.last else {
            imp.last_group.set_visible(false);
            return;
        };
        imp.last_group.set_visible(true);
        let list = gtk::ListBox::new();
        list.add_css_class("boxed-list");
        list.set_selection_mode(gtk::SelectionMode::None);
        for row in summary::detail_rows(f, view.now) {
            list.append(&row);
        }
        imp.last_rows.append(&list);
        if f.error_count > 0 {
            let errors = gtk::ListBox::new();
            errors.add_css_class("boxed-list");
            errors.set_selection_mode(gtk::SelectionMode::None);
            errors.append(&summary::errors_expander(f.error_count, view.last_errors));
            imp.last_rows.append(&errors);
        }
    }
}
