//! What the helper's terminal output, the tray and the window share to be
//! translated: one GNU gettext (glibc's) text domain, [`DOMAIN`], whose
//! `po/<lang>.po` serves them all; where its catalogues are; plurals; and
//! named placeholders.
//!
//! Each program chooses for itself which of the environment's locale
//! categories it takes, then calls [`bind`]. Until then, and when no
//! catalogue matches the locale, [`gettext`] returns its English argument,
//! so unit tests read English.
//!
//! xgettext reads the Rust sources as C (gettext 0.21 has no Rust mode):
//! messages are plain string literals, with named placeholders that
//! [`fill`] replaces, never `format!` arguments; see `po/meson.build`.

use std::path::PathBuf;

pub use gettextrs::{gettext, pgettext};

/// The text domain: `<localedir>/<lang>/LC_MESSAGES/igotchuu.mo`.
pub const DOMAIN: &str = "igotchuu";
/// Overrides the catalogues' folder at run time: tests point it at a
/// folder with freshly compiled `.mo` files.
pub const LOCALEDIR_ENV: &str = "IGOTCHUU_LOCALEDIR";
/// Where distributions install catalogues, unless meson says otherwise at
/// build time (through the same variable).
const DEFAULT_LOCALEDIR: &str = "/usr/share/locale";

/// The folder with the catalogues: the environment's, meson's, or the
/// system's.
pub fn localedir() -> PathBuf {
    match std::env::var_os(LOCALEDIR_ENV).filter(|d| !d.is_empty()) {
        Some(dir) => dir.into(),
        None => option_env!("IGOTCHUU_LOCALEDIR")
            .unwrap_or(DEFAULT_LOCALEDIR)
            .into(),
    }
}

/// Binds [`DOMAIN`] to [`localedir`], read as UTF-8, and makes it the
/// default domain. Call it after `setlocale`.
pub fn bind() {
    let dir = localedir();
    if let Err(e) = gettextrs::bindtextdomain(DOMAIN, dir.clone()) {
        tracing::warn!("cannot use the translations in {}: {e}", dir.display());
    }
    if let Err(e) = gettextrs::bind_textdomain_codeset(DOMAIN, "UTF-8") {
        tracing::warn!("translations will not be read as UTF-8: {e}");
    }
    if let Err(e) = gettextrs::textdomain(DOMAIN) {
        tracing::warn!("cannot select the translations: {e}");
    }
}

/// The singular or plural of a message for `n`, as the language counts.
///
/// glibc takes an `unsigned long`, gettext-rs a `u32`; beyond that, `n`
/// is brought into range keeping its last six digits, which is what
/// every language's plural rules look at.
pub fn ngettext(singular: &str, plural: &str, n: u64) -> String {
    const KEEP: u64 = 1_000_000;
    let n = u32::try_from(n).unwrap_or((n % KEEP + KEEP) as u32);
    gettextrs::ngettext(singular, plural, n)
}

/// `template` with each `{name}` replaced by its value: translators may
/// move placeholders, which positional `format!` arguments cannot express.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            let v = values.iter().find(|(n, _)| *n == name)?.1;
            Some((v, close))
        });
        match value {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// [`ngettext`] with its `{n}` filled in with `shown` (`n` as people read
/// it, e.g. with thousands separators): "1 file", "1,500 files".
pub fn ngettext_shown(singular: &str, plural: &str, n: u64, shown: &str) -> String {
    fill(&ngettext(singular, plural, n), &[("n", shown)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untranslated_messages_are_the_english_ones() {
        assert_eq!(gettext("Backup completed"), "Backup completed");
        assert_eq!(ngettext("{n} file", "{n} files", 1), "{n} file");
        assert_eq!(ngettext("{n} file", "{n} files", 2), "{n} files");
        assert_eq!(ngettext("{n} file", "{n} files", 0), "{n} files");
        assert_eq!(ngettext("{n} file", "{n} files", u64::MAX), "{n} files");
        assert_eq!(
            ngettext_shown("{n} file", "{n} files", 1500, "1,500"),
            "1,500 files"
        );
    }

    #[test]
    fn fills_named_placeholders_in_any_order() {
        assert_eq!(
            fill("{done} of {total}", &[("total", "9"), ("done", "3")]),
            "3 of 9"
        );
        assert_eq!(fill("{a} {a}", &[("a", "x")]), "x x");
        assert_eq!(fill("none", &[("a", "x")]), "none");
        // A value is never read as a template.
        assert_eq!(fill("{a}{b}", &[("a", "{b}"), ("b", "y")]), "{b}y");
        assert_eq!(fill("{x} {", &[]), "{x} {");
    }
}
