//! The window's pages: one for a backup that is running, one for the rest
//! (the last run's outcome and summary, the schedule, the history).

pub mod idle;
pub mod running;
pub mod summary;

use gtk::prelude::*;

/// A row with a title and a value under it, which wraps at narrow widths
/// and can be selected and copied.
pub fn value_row(title: &str, value: &str) -> adw::ActionRow {
    let row = adw::ActionRow::builder()
        .title(title)
        .subtitle(glib_escape(value))
        .build();
    row.add_css_class("property");
    row
}

/// Rows take markup; values from the helper are plain text.
pub fn glib_escape(s: &str) -> String {
    gtk::glib::markup_escape_text(s).to_string()
}

/// A page's content, kept to a readable width on wide windows (600 px, as
/// GNOME's own apps) and using all of a narrow one.
pub fn clamped(content: &impl IsA<gtk::Widget>) -> adw::Clamp {
    adw::Clamp::builder()
        .maximum_size(600)
        .tightening_threshold(400)
        .child(content)
        .build()
}

/// Removes every child of a box.
pub fn clear(b: &gtk::Box) {
    while let Some(child) = b.first_child() {
        b.remove(&child);
    }
}
