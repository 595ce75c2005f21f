//! The backups page: the snapshots in the repository, newest first, each
//! with when it was taken, the host, the places, the size it added and the
//! run that made it, and "Restore…"; "Browse Files" above them. Its widgets
//! are in `data/ui/snapshots_page.ui` and `snapshot_row.ui`; the window
//! makes the calls and tells the page what came back.

use std::cell::Cell;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;
use igotchuu_dbus::{Outcome, SnapshotInfo};
use igotchuu_desktop::i18n::{fill, gettext, ngettext_n};
use igotchuu_desktop::texts;

use super::glib_escape;
use crate::clock;

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/com/nyantec/IGotChuu/ui/snapshots_page.ui")]
    pub struct SnapshotsPage {
        #[template_child]
        pub stack: TemplateChild<gtk::Stack>,
        #[template_child]
        pub spinner: TemplateChild<gtk::Spinner>,
        #[template_child]
        pub error_page: TemplateChild<adw::StatusPage>,
        #[template_child]
        pub group: TemplateChild<adw::PreferencesGroup>,
        #[template_child]
        pub list: TemplateChild<gtk::ListBox>,
        #[template_child]
        pub browse_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub close_button: TemplateChild<gtk::Button>,
        /// Whether a list was ever asked for: the first view of the page does.
        pub asked: Cell<bool>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SnapshotsPage {
        const NAME: &'static str = "IgcSnapshotsPage";
        type Type = super::SnapshotsPage;
        type ParentType = adw::Bin;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for SnapshotsPage {}
    impl WidgetImpl for SnapshotsPage {}
    impl BinImpl for SnapshotsPage {}

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/com/nyantec/IGotChuu/ui/snapshot_row.ui")]
    pub struct SnapshotRow {
        #[template_child]
        pub restore_button: TemplateChild<gtk::Button>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SnapshotRow {
        const NAME: &'static str = "IgcSnapshotRow";
        type Type = super::SnapshotRow;
        type ParentType = adw::ActionRow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for SnapshotRow {}
    impl WidgetImpl for SnapshotRow {}
    impl ListBoxRowImpl for SnapshotRow {}
    impl PreferencesRowImpl for SnapshotRow {}
    impl ActionRowImpl for SnapshotRow {}
}

glib::wrapper! {
    /// The "Backups" view of the window.
    pub struct SnapshotsPage(ObjectSubclass<imp::SnapshotsPage>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl Default for SnapshotsPage {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl SnapshotsPage {
    /// True the first time (and the first time after [`stale`](Self::stale)):
    /// the page asks for the list when it is shown.
    pub fn first_view(&self) -> bool {
        !self.imp().asked.replace(true)
    }

    /// The list is out of date (a backup or forget ended); true if it was
    /// loaded, so that it is asked for again, now if it is on screen.
    pub fn stale(&self) -> bool {
        self.imp().asked.replace(false)
    }

    pub fn show_loading(&self) {
        let imp = self.imp();
        imp.spinner.set_spinning(true);
        imp.stack.set_visible_child_name("loading");
    }

    /// Why the list could not be had, in the helper's or our words.
    pub fn show_error(&self, why: &str) {
        let imp = self.imp();
        imp.spinner.set_spinning(false);
        imp.error_page
            .set_description(Some(glib_escape(why).as_str()));
        imp.stack.set_visible_child_name("error");
    }

    /// The snapshots, newest first, as the helper sent them.
    pub fn show_list(&self, snapshots: &[SnapshotInfo], now: u64) {
        let imp = self.imp();
        imp.spinner.set_spinning(false);
        while let Some(child) = imp.list.first_child() {
            imp.list.remove(&child);
        }
        let here = glib::host_name();
        let mut sorted: Vec<&SnapshotInfo> = snapshots.iter().collect();
        sorted.sort_by_key(|s| std::cmp::Reverse(s.time));
        for s in &sorted {
            imp.list.append(&SnapshotRow::new(s, now, &here));
        }
        if sorted.is_empty() {
            let row = adw::ActionRow::builder()
                .title(glib_escape(&gettext("No backups yet")))
                .subtitle(glib_escape(&gettext(
                    "Backups appear here once the first one is saved",
                )))
                .build();
            imp.list.append(&row);
            imp.group.set_description(None);
        } else {
            imp.group.set_description(Some(&glib_escape(&ngettext_n(
                "{n} backup, newest first",
                "{n} backups, newest first",
                sorted.len() as u64,
            ))));
        }
        imp.stack.set_visible_child_name("list");
    }

    /// Whether the file manager has the backups open now.
    pub fn set_browsing(&self, browsing: bool) {
        self.imp().close_button.set_visible(browsing);
    }
}

glib::wrapper! {
    /// One snapshot.
    pub struct SnapshotRow(ObjectSubclass<imp::SnapshotRow>)
        @extends adw::ActionRow, adw::PreferencesRow, gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl SnapshotRow {
    pub fn new(s: &SnapshotInfo, now: u64, here: &str) -> Self {
        let row: Self = glib::Object::new();
        let (title, subtitle) = describe(s, now, here);
        row.set_title(&glib_escape(&title));
        row.set_subtitle(&glib_escape(&subtitle));
        let button = &row.imp().restore_button;
        button.set_action_target_value(Some(&s.id.to_variant()));
        crate::a11y::set_label(
            &button.get(),
            &fill(
                // xgettext: the Restore… button's name for screen readers.
                &gettext("Restore from the backup of {time}"),
                &[("time", &title)],
            ),
        );
        row
    }
}

/// A snapshot's title (when) and the lines under it: where and what from,
/// then the size it added and the run that made it.
pub fn describe(s: &SnapshotInfo, now: u64, here: &str) -> (String, String) {
    let title = clock::day_and_time(s.time, now);
    let mut first = fill(
        // xgettext: a backup's machine and places: "laptop · /home and /srv".
        &gettext("{host} · {places}"),
        &[("host", &s.hostname), ("places", &texts::places(&s.paths))],
    );
    if !s.profile.is_empty() {
        first.push_str(&fill(
            // xgettext: after the places; {profile} is a configuration profile.
            &gettext(", profile “{profile}”"),
            &[("profile", &s.profile)],
        ));
    }
    let size = if s.size_known {
        fill(
            // xgettext: how much a backup added to the repository: "12.3 MB added".
            &gettext("{size} added"),
            &[("size", &glib::format_size(s.data_added))],
        )
    } else {
        gettext("size unknown")
    };
    let second = fill(
        // xgettext: "12.3 MB added · Scheduled backup, completed".
        &gettext("{size} · {run}"),
        &[("size", &size), ("run", &made_by(s, now, here))],
    );
    (title, format!("{first}\n{second}"))
}

/// Which run made the snapshot, as this machine's history knows it.
fn made_by(s: &SnapshotInfo, now: u64, here: &str) -> String {
    if s.run_started_at == 0 {
        return if !s.hostname.is_empty() && s.hostname != here {
            gettext("not made on this computer")
        } else {
            gettext("not in this computer's history")
        };
    }
    let outcome = s.run_outcome.parse::<Outcome>().ok();
    let (when, _) = clock::day_and_time_in_sentence(s.run_started_at, now);
    let template = match outcome {
        Some(Outcome::Completed) => gettext("backup of {time}, completed"),
        Some(Outcome::CompletedWithWarnings) => {
            gettext("backup of {time}, completed with files skipped")
        }
        Some(Outcome::Failed) => gettext("backup of {time}, failed after saving"),
        Some(Outcome::Stopped) => gettext("backup of {time}, stopped after saving"),
        // xgettext: {time} is when the run started: "run of today at 04:00".
        _ => gettext("run of {time}"),
    };
    fill(&template, &[("time", &when)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> SnapshotInfo {
        SnapshotInfo {
            id: "ab".repeat(32),
            time: 1_000_000,
            hostname: "laptop".into(),
            paths: vec!["/home".into(), "/srv".into()],
            ..Default::default()
        }
    }

    #[test]
    fn says_the_size_or_that_it_is_unknown() {
        let s = SnapshotInfo {
            size_known: true,
            data_added: 12_345_678,
            ..snapshot()
        };
        let (_, lines) = describe(&s, 1_000_100, "laptop");
        assert!(lines.starts_with("laptop · /home and /srv\n"), "{lines}");
        assert!(lines.contains("12.3\u{a0}MB added · "), "{lines}");
        let (_, lines) = describe(&snapshot(), 1_000_100, "laptop");
        assert!(lines.contains("size unknown · "), "{lines}");
    }

    #[test]
    fn names_the_run_that_made_it() {
        let known = SnapshotInfo {
            run_started_at: 999_000,
            run_outcome: "completed".into(),
            ..snapshot()
        };
        let (_, lines) = describe(&known, 1_000_100, "laptop");
        assert!(lines.contains("backup of "), "{lines}");
        assert!(lines.ends_with(", completed"), "{lines}");
        let (_, lines) = describe(&snapshot(), 1_000_100, "desktop");
        assert!(lines.ends_with("not made on this computer"), "{lines}");
        let (_, lines) = describe(&snapshot(), 1_000_100, "laptop");
        assert!(lines.ends_with("not in this computer's history"), "{lines}");
        let unknown = SnapshotInfo {
            run_started_at: 999_000,
            ..snapshot()
        };
        let (_, lines) = describe(&unknown, 1_000_100, "laptop");
        assert!(lines.contains("run of "), "{lines}");
    }
}
