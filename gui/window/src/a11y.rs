//! Screen-reader properties. gtk4-rs wraps `gtk_accessible_update_property`
//! only from GTK 4.10 on, but the C function is in GTK since 4.0, and every
//! widget is a GtkAccessible; Debian 12 has 4.8, so this calls it directly.

use std::ffi::{c_int, c_void};

use gtk::glib::gobject_ffi::GValue;
use gtk::glib::translate::ToGlibPtr;
use gtk::glib::value::ToValue;
use gtk::prelude::*;

/// `GTK_ACCESSIBLE_PROPERTY_LABEL` (GtkAccessibleProperty, GTK 4.0).
const PROPERTY_LABEL: c_int = 4;
/// `GTK_ACCESSIBLE_PROPERTY_VALUE_TEXT`.
const PROPERTY_VALUE_TEXT: c_int = 18;

extern "C" {
    // GTK 4.0: void gtk_accessible_update_property_value (GtkAccessible *self,
    //   int n_properties, GtkAccessibleProperty properties[], const GValue values[]);
    fn gtk_accessible_update_property_value(
        accessible: *mut c_void,
        n_properties: c_int,
        properties: *mut c_int,
        values: *const GValue,
    );
}

/// What a screen reader says for a widget that has no text of its own, such
/// as an icon-only button.
pub fn set_label(widget: &impl IsA<gtk::Widget>, label: &str) {
    set(widget, PROPERTY_LABEL, label);
}

/// A range's value in words, such as "42 %, about 3 min left".
pub fn set_value_text(widget: &impl IsA<gtk::Widget>, text: &str) {
    set(widget, PROPERTY_VALUE_TEXT, text);
}

fn set(widget: &impl IsA<gtk::Widget>, property: c_int, text: &str) {
    let mut properties = [property];
    let value = text.to_value();
    let widget: *mut gtk::ffi::GtkWidget = widget.as_ref().to_glib_none().0;
    // SAFETY: every GtkWidget implements GtkAccessible; one property and one
    // GValue holding a string, the type GTK expects for LABEL and
    // VALUE_TEXT. GTK copies the value before returning.
    unsafe {
        gtk_accessible_update_property_value(
            widget.cast(),
            1,
            properties.as_mut_ptr(),
            value.to_glib_none().0,
        );
    }
}
