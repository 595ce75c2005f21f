//! What igotchuu's tray and window share: following the backup helper on
//! the system bus, the run history, and the words and numbers they show.
//!
//! It has no GTK and no executor of its own. Everything async runs on
//! whatever polls it (GLib's main loop, or `async_io::block_on`); I/O is
//! driven by `async-io`'s reactor, like zbus's.
//!
//! - [`watch::Watcher`] follows the helper and keeps a [`DesktopState`]
//!   current; each [`Watcher::next`](watch::Watcher::next) returns an
//!   [`Update`]. It drives the follower of `igotchuu-dbus`
//!   ([`igotchuu_dbus::follow`]), where every rule of following lives.
//! - [`history`] reads `history.json` and wakes up when it changes.
//! - [`control`] starts and stops backups ("Back up now", "Stop backup").
//! - [`format`] and [`texts`] turn it all into words: sizes exactly as
//!   GLib's `g_format_size()` writes them, the state line, tooltips and
//!   notifications.
//! - [`outlook`] says whether backups are stale (no backup for longer
//!   than the helper's `stale_after_days`) or a scheduled run is postponed;
//!   [`reminders`] keeps the tray's notifications of it to one a day.
//! - [`i18n`]: every text above goes through gettext; the programs call
//!   [`i18n::init`] first.
//! - [`markup`] makes a notification's body show the helper's words as
//!   written, on servers that read markup.
//!
//! # Driving it from GTK
//!
//! The watcher is one object, polled by one task; `next()` never ends, and
//! dropping it loses nothing. From a GTK app:
//!
//! ```no_run
//! # // Stand-ins for GTK, so that this example compiles without it.
//! # mod glib { pub struct MainContext; impl MainContext {
//! #   pub fn default() -> Self { MainContext }
//! #   pub fn spawn_local<F: std::future::Future<Output = ()> + 'static>(&self, _f: F) {} } }
//! # fn show_state(_: &igotchuu_desktop::DesktopState) {}
//! # fn append_error_row(_: &igotchuu_dbus::ItemError) {}
//! # fn show_result(_: &str, _: &str) {}
//! use igotchuu_desktop::{texts, watch::Watcher, Update};
//!
//! glib::MainContext::default().spawn_local(async move {
//!     let mut watcher = Watcher::new();
//!     loop {
//!         match watcher.next().await {
//!             Update::State => show_state(watcher.state()),
//!             Update::ItemError(e) => append_error_row(&e),
//!             Update::Finished(f) => {
//!                 let notice = texts::notification(&f);
//!                 show_result(&notice.title, &notice.body);
//!             }
//!         }
//!     }
//! });
//! ```
//!
//! The history is watched the same way, in a second task:
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use igotchuu_desktop::history::{self, HistoryWatcher};
//!
//! let dir = history::state_dir();
//! let mut watcher = HistoryWatcher::new(&dir)?;
//! loop {
//!     match history::load(&dir).await {
//!         Ok(h) => println!("{} runs", h.runs.len()),
//!         Err(e) => eprintln!("{e}"),
//!     }
//!     watcher.changed().await?;
//! }
//! # }
//! ```
//!
//! "Back up now" is `control::start().await`, and its error is a sentence
//! to show as is:
//!
//! ```no_run
//! # async fn example() {
//! if let Err(e) = igotchuu_desktop::control::start().await {
//!     eprintln!("{e}"); // e.g. "You are not allowed to start backups"
//! }
//! # }
//! ```

// Only in Cargo.toml to hold zbus's thread pool at 1.6 (see the workspace
// Cargo.toml); named here so that `unused_crate_dependencies` knows.
use blocking as _;

pub mod control;
pub mod format;
pub mod history;
pub mod i18n;
pub mod markup;
pub mod outlook;
pub mod reminders;
pub mod texts;
pub mod watch;

/// What the desktop knows about the helper: the one follower's state
/// ([`igotchuu_dbus::follow`]), which `igotchuu watch` follows too.
pub use igotchuu_dbus::follow::State as DesktopState;
pub use igotchuu_dbus::follow::{Finished, Update, ITEM_ERRORS_FOLLOWED, UNKNOWN_END_REASON};
