//! The page while a backup runs: the phase in words, a progress bar with
//! the percentage and the time left, files and bytes done out of the total,
//! the files being read now, the files that could not be read, and "Stop".

use std::cell::RefCell;
use std::collections::VecDeque;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;
use igotchuu_dbus::{ItemError, Operation, Phase};
use igotchuu_desktop::i18n::{fill, gettext, ngettext_n};
use igotchuu_desktop::{format, DesktopState};

use super::summary::{self, ERRORS_SHOWN};
use super::{glib_escape, ErrorRow, ValueRow};
use crate::a11y;
use crate::words::{self, Icon};

/// How many of restic's current files are listed.
const CURRENT_FILES_SHOWN: usize = 4;

/// The page's icon while files are restored (Adwaita's).
const RESTORE_ICON: &str = "folder-download-symbolic";

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/com/nyantec/IGotChuu/ui/running_page.ui")]
    pub struct RunningPage {
        #[template_child]
        pub page: TemplateChild<adw::StatusPage>,
        #[template_child]
        pub stop_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub progress: TemplateChild<gtk::ProgressBar>,
        #[template_child]
        pub percent: TemplateChild<gtk::Label>,
        #[template_child]
        pub eta: TemplateChild<gtk::Label>,
        #[template_child]
        pub files_row: TemplateChild<ValueRow>,
        #[template_child]
        pub bytes_row: TemplateChild<ValueRow>,
        #[template_child]
        pub elapsed_row: TemplateChild<ValueRow>,
        #[template_child]
        pub current_group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub current_list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub errors_group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub errors: TemplateChild<adw::ExpanderRow>,
        #[template_child]
        pub not_listed_row: TemplateChild<ValueRow>,
        pub current_shown: RefCell<Vec<String>>,
        /// The error rows in the list, oldest first: at most [`ERRORS_SHOWN`].
        pub error_rows: RefCell<VecDeque<(ItemError, ErrorRow)>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RunningPage {
        const NAME: &'static str = "IgcRunningPage";
        type Type = super::RunningPage;
        type ParentType = adw::Bin;

        fn class_init(klass: &mut Self::Class) {
            ValueRow::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for RunningPage {
        fn constructed(&self) {
            self.parent_constructed();
            self.page.set_icon_name(Some(Icon::Running.name()));
            self.errors.set_title(&summary::errors_title(0));
        }
    }
    impl WidgetImpl for RunningPage {}
    impl BinImpl for RunningPage {}
}

glib::wrapper! {
    pub struct RunningPage(ObjectSubclass<imp::RunningPage>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl RunningPage {
    pub fn show(&self, state: &DesktopState, now: u64) {
        let imp = self.imp();
        let phase = state.phase.unwrap_or(Phase::Preparing);
        imp.page.set_title(&words::phase_title(phase));
        let mut description = summary::places_line(&state.places);
        if !state.profile.is_empty() {
            description.push('\n');
            description.push_str(&fill(
                // xgettext: {profile} is the name of a configuration profile.
                &gettext("Profile “{profile}”"),
                &[("profile", &state.profile)],
            ));
        }
        let description = glib_escape(&description);
        imp.page
            .set_description(Some(description.as_str()).filter(|d| !d.is_empty()));

        let p = &state.progress;
        let fraction = if p.percent_done.is_finite() {
            p.percent_done.clamp(0.0, 1.0)
        } else {
            0.0
        };
        imp.progress.set_fraction(fraction);
        let percent = format::percent(fraction);
        // A forget, prune or check has no files of its own to count; a
        // backup and a restore count theirs.
        let operation = state.running_operation().unwrap_or_default();
        let counts = matches!(operation, Operation::Backup | Operation::Restore);
        // Files coming back, not going up.
        let icon = match operation {
            Operation::Restore => RESTORE_ICON,
            _ => Icon::Running.name(),
        };
        imp.page.set_icon_name(Some(icon));
        imp.files_row.set_visible(counts);
        imp.bytes_row.set_visible(counts);
        let stop = words::stop_button(state.running_operation().unwrap_or_default());
        if imp.stop_button.label().as_deref() != Some(stop.as_str()) {
            imp.stop_button.set_label(&stop);
        }
        let eta = match (phase, p.eta_seconds()) {
            (Phase::Forgetting | Phase::Pruning | Phase::Checking, Some(s)) => format::eta(s),
            // A prune's or check's step, in restic's words:
            // "read 5% of data packs: 3 / 8 packs".
            (Phase::Pruning | Phase::Checking, None) if !p.current_files.is_empty() => {
                p.current_files[0].clone()
            }
            (Phase::Forgetting | Phase::Pruning | Phase::Checking, None) => {
                gettext("This can take a while…")
            }
            (Phase::BackingUp | Phase::Restoring, Some(s)) => format::eta(s),
            (Phase::Restoring, None) => gettext("This can take a while…"),
            (Phase::BackingUp, None) if p.total_files == 0 => gettext("Counting files…"),
            (Phase::BackingUp, None) => gettext("Estimating the time left…"),
            (Phase::Stopping, _) => gettext("Stopping…"),
            (Phase::CleaningUp, _) => gettext("Removing the snapshots…"),
            _ => gettext("Starting…"),
        };
        imp.percent.set_text(&percent);
        imp.eta.set_text(&eta);
        a11y::set_value_text(
            &*imp.progress,
            &fill(
                &gettext("{percent}, {time_left}"),
                &[("percent", &percent), ("time_left", &eta)],
            ),
        );

        imp.files_row.set_value(&fill(
            // xgettext: "10 of 120 files".
            &ngettext_n("{done} of {n} file", "{done} of {n} files", p.total_files),
            &[("done", &p.files_done.to_string())],
        ));
        imp.bytes_row.set_value(&fill(
            // xgettext: "1.2 MB of 3.4 GB".
            &gettext("{done} of {total}"),
            &[
                ("done", &glib::format_size(p.bytes_done)),
                ("total", &glib::format_size(p.total_bytes)),
            ],
        ));
        let elapsed = if p.seconds_elapsed > 0 {
            p.seconds_elapsed
        } else if state.started_at > 0 {
            now.saturating_sub(state.started_at)
        } else {
            0
        };
        imp.elapsed_row.set_value(&format::duration(elapsed));

        // A prune's or check's step is the line under the bar, not a file.
        self.show_current(if counts { &p.current_files } else { &[] });
        self.show_errors(state);
    }

    fn show_current(&self, files: &[String]) {
        let imp = self.imp();
        let files: Vec<String> = files.iter().take(CURRENT_FILES_SHOWN).cloned().collect();
        imp.current_group.set_visible(!files.is_empty());
        if *imp.current_shown.borrow() == files {
            return;
        }
        while let Some(row) = imp.current_list.first_child() {
            imp.current_list.remove(&row);
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
            imp.current_list.append(&label);
        }
        *imp.current_shown.borrow_mut() = files;
    }

    /// Brings the error list in line with the state: new rows were added by
    /// [`add_error`](Self::add_error); a new run starts it afresh.
    fn show_errors(&self, state: &DesktopState) {
        let imp = self.imp();
        imp.errors_group.set_visible(state.error_count > 0);
        imp.errors
            .set_title(&summary::errors_title(state.error_count));
        let in_sync = {
            let rows = imp.error_rows.borrow();
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
        let listed = imp.error_rows.borrow().len() as u64;
        let not_listed = state.error_count.saturating_sub(listed);
        imp.not_listed_row.set_visible(not_listed > 0);
        imp.not_listed_row
            .set_value(&summary::more_errors(not_listed));
    }

    /// Adds one error at the end of the list, dropping the oldest beyond
    /// [`ERRORS_SHOWN`].
    pub fn add_error(&self, e: &ItemError) {
        let imp = self.imp();
        let mut rows = imp.error_rows.borrow_mut();
        if rows.len() >= ERRORS_SHOWN {
            if let Some((_, old)) = rows.pop_front() {
                imp.errors.remove(&old);
            }
        }
        let row = summary::error_row(e);
        imp.errors.add_row(&row);
        rows.push_back((e.clone(), row));
    }

    fn clear_errors(&self) {
        let imp = self.imp();
        for (_, row) in imp.error_rows.borrow_mut().drain(..) {
            imp.errors.remove(&row);
        }
    }
}
