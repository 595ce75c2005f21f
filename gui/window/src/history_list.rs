//! The runs before, from `history.json`: newest first, one expander row
//! each, with the outcome's icon, when, and a one-line summary; expanding a
//! row shows the details and the files that could not be read.

use std::cell::RefCell;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;
use igotchuu_dbus::history::{History, RunRecord};
use igotchuu_desktop::i18n::{fill, gettext};
use igotchuu_desktop::{format, Finished};

use crate::pages::{glib_escape, summary, ValueRow};
use crate::words::{self, Icon};

/// How many runs the list shows.
pub const RUNS_SHOWN: usize = 10;

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/com/nyantec/IGotChuu/ui/history_list.ui")]
    pub struct HistoryList {
        #[template_child]
        pub group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub list: TemplateChild<gtk::ListBox>,
        /// Each row, to refresh "2 hours ago".
        pub rows: RefCell<Vec<super::HistoryRow>>,
        pub shown: RefCell<Option<Vec<RunRecord>>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for HistoryList {
        const NAME: &'static str = "IgcHistoryList";
        type Type = super::HistoryList;
        type ParentType = adw::Bin;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for HistoryList {}
    impl WidgetImpl for HistoryList {}
    impl BinImpl for HistoryList {}

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/com/nyantec/IGotChuu/ui/history_row.ui")]
    pub struct HistoryRow {
        #[template_child]
        pub icon: TemplateChild<gtk::Image>,
        pub finished: RefCell<Option<Finished>>,
        /// The run, until its details are built on first expanding.
        pub pending: RefCell<Option<RunRecord>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for HistoryRow {
        const NAME: &'static str = "IgcHistoryRow";
        type Type = super::HistoryRow;
        type ParentType = adw::ExpanderRow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for HistoryRow {
        fn constructed(&self) {
            self.parent_constructed();
            // Building fifty runs' details up front would slow the first frame.
            self.obj().connect_expanded_notify(|row| row.add_details());
        }
    }
    impl WidgetImpl for HistoryRow {}
    impl ListBoxRowImpl for HistoryRow {}
    impl PreferencesRowImpl for HistoryRow {}
    impl ExpanderRowImpl for HistoryRow {}
}

glib::wrapper! {
    /// The "History" group of the main page.
    pub struct HistoryList(ObjectSubclass<imp::HistoryList>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl Default for HistoryList {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl HistoryList {
    /// Shows `history`, or why it could not be read.
    pub fn show(&self, history: Result<&History, &str>, now: u64) {
        let imp = self.imp();
        let runs: Vec<RunRecord> = match history {
            Ok(h) => h.runs.iter().rev().take(RUNS_SHOWN).cloned().collect(),
            Err(e) => {
                self.replace_with_note(&gettext("The history cannot be read"), e);
                *imp.shown.borrow_mut() = None;
                return;
            }
        };
        if imp.shown.borrow().as_ref() == Some(&runs) {
            return;
        }
        if runs.is_empty() {
            self.replace_with_note(
                &gettext("No backups yet"),
                &gettext("Finished backups, forgets, prunes and checks are listed here"),
            );
        } else {
            self.clear();
            let mut rows = imp.rows.borrow_mut();
            for record in &runs {
                let row = HistoryRow::new(record, now);
                imp.list.append(&row);
                rows.push(row);
            }
            let total = history.map_or(0, |h| h.runs.len());
            imp.group.set_description(
                (total > RUNS_SHOWN)
                    .then(|| {
                        fill(
                            &gettext("The latest {shown} of {total} runs"),
                            &[
                                ("shown", &RUNS_SHOWN.to_string()),
                                ("total", &total.to_string()),
                            ],
                        )
                    })
                    .as_deref(),
            );
        }
        *imp.shown.borrow_mut() = Some(runs);
    }

    /// Refreshes the times relative to `now`.
    pub fn tick(&self, now: u64) {
        for row in self.imp().rows.borrow().iter() {
            row.refresh(now);
        }
    }

    fn clear(&self) {
        let imp = self.imp();
        imp.rows.borrow_mut().clear();
        while let Some(child) = imp.list.first_child() {
            imp.list.remove(&child);
        }
    }

    fn replace_with_note(&self, title: &str, text: &str) {
        self.clear();
        let imp = self.imp();
        imp.group.set_description(None);
        let row = adw::ActionRow::builder()
            .title(glib_escape(title))
            .subtitle(glib_escape(text))
            .build();
        imp.list.append(&row);
    }
}

glib::wrapper! {
    /// One run of the history.
    pub struct HistoryRow(ObjectSubclass<imp::HistoryRow>)
        @extends adw::ExpanderRow, adw::PreferencesRow, gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl HistoryRow {
    pub fn new(record: &RunRecord, now: u64) -> Self {
        let row: Self = glib::Object::new();
        let f = Finished::from_record(record);
        let title = fill(
            // xgettext: a run in the history, e.g. "Repository check: Failed".
            &gettext("{operation}: {outcome}"),
            &[
                ("operation", &words::operation_word(f.operation)),
                ("outcome", &words::outcome_word(f.outcome)),
            ],
        );
        row.set_title(&glib_escape(&title));
        let icon_kind = Icon::Outcome(f.outcome);
        let icon = &row.imp().icon;
        icon.set_icon_name(Some(icon_kind.name()));
        if let Some(class) = icon_kind.css_class() {
            icon.add_css_class(class);
        }
        crate::a11y::set_label(&icon.get(), &title);
        *row.imp().finished.borrow_mut() = Some(f);
        *row.imp().pending.borrow_mut() = Some(record.clone());
        row.refresh(now);
        row
    }

    fn refresh(&self, now: u64) {
        if let Some(f) = self.imp().finished.borrow().as_ref() {
            self.set_subtitle(&subtitle(f, now));
        }
    }

    fn add_details(&self) {
        let Some(record) = self.imp().pending.borrow_mut().take() else {
            return;
        };
        let f = Finished::from_record(&record);
        for r in summary::detail_rows(&f, crate::clock::unix_now()) {
            self.add_row(&r);
        }
        if !record.nested_subvolumes.is_empty() {
            self.add_row(&ValueRow::new(
                &gettext("Not backed up (nested subvolumes)"),
                &record.nested_subvolumes.join(", "),
            ));
        }
        if record.error_count > 0 {
            let heading = ValueRow::new(
                &summary::errors_title(record.error_count),
                &gettext("Skipped; the rest was backed up"),
            );
            heading.add_prefix(&gtk::Image::from_icon_name("dialog-warning-symbolic"));
            self.add_row(&heading);
            for r in summary::error_rows(record.error_count, &record.item_errors) {
                self.add_row(&r);
            }
        }
    }
}

fn subtitle(f: &Finished, now: u64) -> String {
    glib_escape(&fill(
        // xgettext: "2 hours ago · 12 new files, 1.2 MB added".
        &gettext("{ago} · {what}"),
        &[
            ("ago", &words::capitalized(&format::ago(f.finished_at, now))),
            ("what", &words::one_line(f)),
        ],
    ))
}
