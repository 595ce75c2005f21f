//! igotchuu-tray: the backup at a glance. A tray icon that shows whether a
//! backup runs, how the last one went, and a menu to start or stop one;
//! a notification when a run ends.
//!
//! It follows the root helper on the system bus and the run history on
//! disk, and sleeps in between: no timers, no polling.

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
    async_io::block_on(app::run());
}
