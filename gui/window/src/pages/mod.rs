//! The window's pages: one for a backup that is running, one for the rest
//! (the last run's outcome and summary, the schedule, the history), the
//! backups (snapshots) to browse and restore; and the rows they share. Each is a widget with a composite template
//! (`data/ui/*.ui`).

pub mod idle;
pub mod running;
pub mod snapshots;
pub mod summary;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::glib;

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/com/nyantec/IGotChuu/ui/value_row.ui")]
    pub struct ValueRow;

    #[glib::object_subclass]
    impl ObjectSubclass for ValueRow {
        const NAME: &'static str = "IgcValueRow";
        type Type = super::ValueRow;
        type ParentType = adw::ActionRow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for ValueRow {}
    impl WidgetImpl for ValueRow {}
    impl ListBoxRowImpl for ValueRow {}
    impl PreferencesRowImpl for ValueRow {}
    impl ActionRowImpl for ValueRow {}

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/com/nyantec/IGotChuu/ui/error_row.ui")]
    pub struct ErrorRow;

    #[glib::object_subclass]
    impl ObjectSubclass for ErrorRow {
        const NAME: &'static str = "IgcErrorRow";
        type Type = super::ErrorRow;
        type ParentType = adw::ActionRow;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for ErrorRow {}
    impl WidgetImpl for ErrorRow {}
    impl ListBoxRowImpl for ErrorRow {}
    impl PreferencesRowImpl for ErrorRow {}
    impl ActionRowImpl for ErrorRow {}
}

glib::wrapper! {
    /// A row with a title and a value under it, which wraps at narrow
    /// widths.
    pub struct ValueRow(ObjectSubclass<imp::ValueRow>)
        @extends adw::ActionRow, adw::PreferencesRow, gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl ValueRow {
    /// `value` is plain text (rows take markup).
    pub fn new(title: &str, value: &str) -> Self {
        let row: Self = glib::Object::new();
        row.set_title(&glib_escape(title));
        row.set_value(value);
        row
    }

    pub fn set_value(&self, value: &str) {
        self.set_subtitle(&glib_escape(value));
    }
}

glib::wrapper! {
    /// A file or folder that restic could not read, and why.
    pub struct ErrorRow(ObjectSubclass<imp::ErrorRow>)
        @extends adw::ActionRow, adw::PreferencesRow, gtk::ListBoxRow, gtk::Widget,
        @implements gtk::Actionable, gtk::Buildable, gtk::ConstraintTarget;
}

impl ErrorRow {
    /// Both plain text.
    pub fn new(item: &str, what: &str) -> Self {
        let row: Self = glib::Object::new();
        row.set_title(&glib_escape(item));
        row.set_subtitle(&glib_escape(what));
        row
    }
}

/// Rows take markup; values from the helper are plain text.
pub fn glib_escape(s: &str) -> String {
    glib::markup_escape_text(s).to_string()
}

/// Removes every child of a box.
pub fn clear(b: &gtk::Box) {
    while let Some(child) = b.first_child() {
        b.remove(&child);
    }
}
