//! The tray icon's life: registering with the StatusNotifierWatcher, and
//! registering again when a watcher refused it.
//!
//! ksni registers by itself whenever a watcher (re)appears. But a watcher
//! may take its name before it serves its object (the Haskell
//! `status-notifier-watcher` does), and then refuses the registration that
//! ksni made at once. That is retried here, a few times, with a growing
//! wait; this is the only timer of the tray, and only after a refusal.

use std::time::Duration;

use async_io::Timer;
use futures_lite::future;
use igotchuu_desktop::outlook::Outlook;
use igotchuu_desktop::{DesktopState, Finished};
use ksni::TrayMethods;

use crate::item::{Command, TrayItem};

const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_ATTEMPTS: u32 = 6;

pub struct TrayIcon {
    handle: Option<ksni::Handle<TrayItem>>,
    commands: async_channel::Sender<Command>,
    icon_theme_path: String,
    /// What the icon shows, for an item registered anew.
    state: DesktopState,
    last: Option<Finished>,
    outlook: Outlook,
    attempts: u32,
    retry: Option<Timer>,
}

impl TrayIcon {
    pub async fn start(commands: async_channel::Sender<Command>, icon_theme_path: String) -> Self {
        let mut icon = TrayIcon {
            handle: None,
            commands,
            icon_theme_path,
            state: DesktopState::default(),
            last: None,
            outlook: Outlook::default(),
            attempts: 0,
            retry: None,
        };
        icon.spawn().await;
        icon
    }

    async fn spawn(&mut self) {
        let item = TrayItem {
            state: self.state.clone(),
            last: self.last.clone(),
            outlook: self.outlook.clone(),
            icon_theme_path: self.icon_theme_path.clone(),
            commands: self.commands.clone(),
        };
        // Soft about a missing watcher: it may start later, and ksni registers then.
        // Registered under the connection's unique name, which is also the
        // sender of the item's signals: hosts that key items by the
        // registered name and look signals up by sender (gtk-sni-tray) then
        // see each new icon; under a second, well-known name they keep the old one.
        let builder = item.disable_dbus_name(true).assume_sni_available(true);
        match builder.spawn().await {
            Ok(handle) => {
                self.handle = Some(handle);
                self.attempts = 0;
            }
            Err(e) => {
                tracing::warn!("cannot show the tray icon ({e}); notifications still work");
                self.refused();
            }
        }
    }

    /// Shows `state`, the latest finished backup and the outlook.
    pub async fn show(&mut self, state: DesktopState, last: Option<Finished>, outlook: Outlook) {
        self.state = state.clone();
        self.last = last.clone();
        self.outlook = outlook.clone();
        if let Some(handle) = &self.handle {
            handle
                .update(move |item| {
                    item.state = state;
                    item.last = last;
                    item.outlook = outlook;
                })
                .await;
        }
    }

    /// A watcher refused the icon: try again after a while.
    pub fn refused(&mut self) {
        if self.retry.is_some() {
            return;
        }
        if self.attempts >= MAX_ATTEMPTS {
            tracing::warn!(
                "giving up on the tray icon after {MAX_ATTEMPTS} attempts; it comes back when the \
                 StatusNotifierWatcher restarts"
            );
            return;
        }
        self.retry = Some(Timer::after(FIRST_RETRY * 2u32.pow(self.attempts)));
        self.attempts += 1;
    }

    /// Resolves when a retry is due; never while none is.
    pub async fn retry_due(&mut self) {
        match &mut self.retry {
            Some(timer) => {
                timer.await;
            }
            None => future::pending().await,
        }
    }

    /// Registers a new item in place of the refused one.
    pub async fn retry(&mut self) {
        self.retry = None;
        if let Some(old) = self.handle.take() {
            old.shutdown().await;
        }
        tracing::info!("registering the tray icon again");
        self.spawn().await;
    }

    /// A watcher appeared: its refusals start counting afresh.
    pub fn watcher_appeared(&mut self) {
        self.attempts = 0;
    }

    pub async fn shutdown(self) {
        if let Some(handle) = self.handle {
            handle.shutdown().await;
        }
    }
}
