//! Translations: every sentence the tray and the window show goes through
//! GNU gettext (glibc's), in the text domain [`DOMAIN`].
//!
//! Both programs call [`init`] first. Until then, and when no catalogue
//! matches the locale, [`gettext`] returns its English argument, so unit
//! tests read English.
//!
//! xgettext reads the Rust sources as C (gettext 0.21 has no Rust mode):
//! messages are plain string literals, with named placeholders that
//! [`fill`] replaces, never `format!` arguments; see `po/meson.build`.

pub use igotchuu_i18n::{fill, gettext, localedir, ngettext, pgettext, DOMAIN, LOCALEDIR_ENV};

/// Takes the locale from the environment and binds [`DOMAIN`] to
/// [`localedir`]. Call it first in `main`, before any thread starts.
pub fn init() {
    // SAFETY: called first in main, before any other thread exists that
    // could read the locale while it changes.
    let locale = unsafe { gettextrs::setlocale(gettextrs::LocaleCategory::LcAll, "") };
    if locale.is_none() {
        tracing::debug!("the locale from the environment is not installed; using C");
    }
    igotchuu_i18n::bind();
}

/// [`ngettext`] with its `{n}` filled in: "1 file", "12 files".
pub fn ngettext_n(singular: &str, plural: &str, n: u64) -> String {
    igotchuu_i18n::ngettext_shown(singular, plural, n, &n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_fills_n() {
        assert_eq!(ngettext_n("{n} file", "{n} files", 12), "12 files");
        assert_eq!(ngettext_n("{n} file", "{n} files", 1), "1 file");
    }
}
