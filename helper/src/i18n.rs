//! Translations of what the helper says to a person at a terminal, through
//! GNU gettext (glibc's), in the desktop's text domain `igotchuu` and
//! catalogues: one `po/<lang>.po` serves the helper, the tray and the
//! window. The shared pieces are `igotchuu_i18n`'s; what is the helper's
//! own is which locale categories it takes, and glibc's error texts.
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

pub use igotchuu_i18n::{fill, gettext, ngettext};

/// glibc's own text domain, for `strerror`; bound to a folder without
/// catalogues so that system error texts stay English.
const LIBC_DOMAIN: &str = "libc";

/// Takes the language from the environment and binds igotchuu's text
/// domain (`igotchuu_i18n::bind`). Call it first in `main`, before any thread starts, and
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
    igotchuu_i18n::bind();
    // An absolute path that holds no catalogue: `/` has no `de/LC_MESSAGES`.
    if let Err(e) = gettextrs::bindtextdomain(LIBC_DOMAIN, "/") {
        tracing::debug!("system error texts may be translated: {e}");
    }
}

/// [`ngettext`] with its `{n}` filled in with `shown` (`n` as people read
/// it, e.g. with thousands separators): "1 file", "1,500 files".
pub fn ngettext_n(singular: &str, plural: &str, n: u64, shown: &str) -> String {
    igotchuu_i18n::ngettext_shown(singular, plural, n, shown)
}
