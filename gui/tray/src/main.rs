//! igotchuu-tray: the backup at a glance. A tray icon that shows whether a
//! backup (or a forget, prune or check) runs, how the last one went,
//! whether backups are stale or postponed, and a menu to start or stop
//! one; a notification when a run ends (for forget and prune only when
//! they fail), and at most once a day that backups are stale, with "Back
//! up now".
//!
//! It follows the root helper on the system bus and the run history on
//! disk, and sleeps in between: its one timer reads the history again
//! every quarter of an hour, since time alone makes backups stale.

mod app;
mod icon;
mod item;
mod launch;
mod notify;

use tracing_subscriber::EnvFilter;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    igotchuu_desktop::i18n::init();
    async_io::block_on(app::run());
}
