//! igotchuu-gui: the window of igotchuu, the btrfs-snapshot and restic
//! backup. It shows the backup that runs now (late joiners included), how
//! the last one went, when the next one is due and the runs before; it
//! starts and stops backups through the helper on the system bus.
//!
//! Everything runs on GLib's main loop: the bus watcher, the calls and the
//! history are futures spawned on it, driven by async-io's reactor; nothing
//! blocks the loop, and there is no second executor.

mod a11y;
mod app;
mod clock;
mod history_list;
mod opener;
mod pages;
mod probe;
mod restore;
mod schedule;
mod window;
mod words;

use std::time::Instant;

// For tests/german.rs only; named so that unit tests do not warn of them.
#[cfg(test)]
use {igotchuu_e2e as _, tempfile as _};

use gtk::{gio, glib};
use tracing_subscriber::EnvFilter;

fn main() -> glib::ExitCode {
    let launched = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    igotchuu_desktop::i18n::init();
    // The composite templates (data/ui), compiled by build.rs.
    gio::resources_register_include!("igotchuu-gui.gresource")
        .expect("the window's resources are built in");
    app::run(launched)
}
