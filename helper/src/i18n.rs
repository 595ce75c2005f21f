//! Translations of what the helper says to a person at a terminal, through
//! GNU gettext (glibc's), in the desktop's text domain [`DOMAIN`] and
//! catalogues: one `po/<lang>.po` serves the helper, the tray and the
//! window. This is the approach of `igotchuu_desktop::i18n`, kept apart
//! because the helper must not depend on the desktop crates.
//!
//! What is translated: the terminal printer's lines (phases, progress,
//! warnings, the summary, the outcome's label), `igotchuu watch`, the
//! comments of `check-config`, `forget --dry-run`, `cleanup` and
//! `snapshots`, the notes on the run lock and the run conditions a run
//! started by hand prints, and the errors the commands word themselves for
//! the person who ran them. Errors that are also D-Bus replies, reasons or
//! log lines (the configuration's, a restore's arguments, restic's) stay
//! English there and here.
//!
//! What stays English, whatever the locale: anything a program or an
//! administrator reads later or elsewhere. That is JSON and other
//! machine-readable output, every D-Bus payload (an outcome's reason
//! included: the desktop words it in the user's own language), the history
//! file, and the `tracing` log lines that go to the journal. `serve` runs
//! for the bus, never for a person, so it does not call [`init`] at all.
//! System error texts (`strerror`) stay English too: they end up in reasons
//! and the history as well as on the terminal.
//!
//! xgettext reads the Rust sources as C (see `po/meson.build`): messages
//! are plain one-line string literals in `gettext(…)`, `ngettext(…)` or
//! `ngettext_n(…)`, with named placeholders that [`fill`] replaces, never
//! `format!` arguments. A comment starting with `xgettext:` right before
//! a call is for translators.

use std::path::PathBuf;

pub use gettextrs::gettext;

/// The text domain: `<localedir>/<lang>/LC_MESSAGES/igotchuu.mo`.
pub const DOMAIN: &str = "igotchuu";
/// Overrides the catalogues' folder at run time (tests point it at freshly
/// compiled `.mo` files); the desktop reads the same variable.
pub const LOCALEDIR_ENV: &str = "IGOTCHUU_LOCALEDIR";
/// Where distributions install catalogues, unless meson says otherwise at
/// build time (through the same variable).
const DEFAULT_LOCALEDIR: &str = "/usr/share/locale";
/// glibc's own text domain, for `strerror`; bound to a folder without
/// catalogues so that system error texts stay English.
const LIBC_DOMAIN: &str = "libc";

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

/// Takes the language from the environment and binds [`DOMAIN`] to
/// [`localedir`]. Call it first in `main`, before any thread starts, and
/// only for commands that print for a person.
///
/// Only the messages' and the characters' categories are taken: the
/// helper formats numbers and times itself, and runs as root, where less
/// of the caller's environment is better.
pub fn init() {
    use gettextrs::LocaleCategory::{LcCType, LcMessages};
    // SAFETY: called first in main, before any other thread exists that
    // could read the locale while it changes.
    for category in [LcCType, LcMessages] {
        if unsafe { gettextrs::setlocale(category, "") }.is_none() {
            tracing::debug!("the locale from the environment is not installed; using C");
        }
    }
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
    // An absolute path that holds no catalogue: `/` has no `de/LC_MESSAGES`.
    if let Err(e) = gettextrs::bindtextdomain(LIBC_DOMAIN, "/") {
        tracing::debug!("system error texts may be translated: {e}");
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
pub fn ngettext_n(singular: &str, plural: &str, n: u64, shown: &str) -> String {
    fill(&ngettext(singular, plural, n), &[("n", shown)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untranslated_messages_are_the_english_ones() {
        assert_eq!(gettext("Summary:"), "Summary:");
        assert_eq!(ngettext("{n} file", "{n} files", 1), "{n} file");
        assert_eq!(ngettext("{n} file", "{n} files", 2), "{n} files");
        assert_eq!(ngettext("{n} file", "{n} files", 0), "{n} files");
        assert_eq!(ngettext("{n} file", "{n} files", u64::MAX), "{n} files");
        assert_eq!(
            ngettext_n("{n} file", "{n} files", 1500, "1,500"),
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
        // A value is never read as a template.
        assert_eq!(fill("{a}{b}", &[("a", "{b}"), ("b", "y")]), "{b}y");
        assert_eq!(fill("{x} {", &[]), "{x} {");
    }
}
