//! The StatusNotifierItem: icon, title, tooltip and menu, from what the
//! watcher knows.
//!
//! Texts that say "how long ago" are computed when the host reads them, not
//! on a timer: the tray sleeps while nothing happens.

use std::time::{SystemTime, UNIX_EPOCH};

use igotchuu_dbus::Outcome;
use igotchuu_desktop::i18n::gettext;
use igotchuu_desktop::outlook::Outlook;
use igotchuu_desktop::{texts, DesktopState, Finished};
use ksni::menu::{MenuItem, StandardItem};
use ksni::{OfflineReason, ToolTip};

/// What the menu asks the main loop to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    OpenWindow,
    Start,
    Stop,
    Quit,
    /// A watcher is there, but refused the icon: register again later.
    Reregister,
    /// A watcher appeared (ksni registers with it by itself).
    Registered,
}

/// Icon names; the SVGs are in `data/icons/hicolor/…/status/`.
pub const ICON_IDLE: &str = "com.nyantec.IGotChuu-idle";
pub const ICON_BACKING_UP: &str = "com.nyantec.IGotChuu-backing-up";
pub const ICON_WARNING: &str = "com.nyantec.IGotChuu-warning";
pub const ICON_FAILED: &str = "com.nyantec.IGotChuu-failed";

pub struct TrayItem {
    pub state: DesktopState,
    /// The latest finished backup, from the history or the bus.
    pub last: Option<Finished>,
    /// Whether backups are stale, or a run is postponed.
    pub outlook: Outlook,
    /// Where hosts find our icons when they are not installed in a theme.
    pub icon_theme_path: String,
    pub commands: async_channel::Sender<Command>,
}

impl TrayItem {
    fn send(&self, command: Command) {
        // Unbounded: only fails once the main loop has ended, when it no longer matters.
        let _ = self.commands.try_send(command);
    }

    /// Which icon shows the state.
    pub fn icon(&self) -> &'static str {
        // Without the bus the run's state is unknown; the last result is not.
        if self.state.bus_available && self.state.running() {
            return ICON_BACKING_UP;
        }
        match self.last.as_ref().map(|f| f.outcome) {
            Some(Some(Outcome::Failed)) => ICON_FAILED,
            // Unknown is not fine: someone should look.
            Some(Some(Outcome::CompletedWithWarnings) | None) => ICON_WARNING,
            // No backup for too long is not fine either.
            _ if self.outlook.stale => ICON_WARNING,
            _ => ICON_IDLE,
        }
    }
}

/// "Stop backup", or what else runs: Stop ends any operation.
fn stop_label(op: Option<igotchuu_dbus::Operation>) -> String {
    use igotchuu_dbus::Operation;
    match op {
        None | Some(Operation::Backup) => gettext("Stop backup"),
        Some(Operation::Forget) => gettext("Stop forgetting old snapshots"),
        Some(Operation::Prune) => gettext("Stop removing unused data"),
        Some(Operation::Check) => gettext("Stop the repository check"),
        Some(Operation::Restore) => gettext("Stop the restore"),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ksni::Tray for TrayItem {
    fn id(&self) -> String {
        "igotchuu".into()
    }

    fn title(&self) -> String {
        "igotchuu".into()
    }

    fn icon_name(&self) -> String {
        self.icon().into()
    }

    fn icon_theme_path(&self) -> String {
        self.icon_theme_path.clone()
    }

    fn tool_tip(&self) -> ToolTip {
        let t = texts::tooltip(&self.state, self.last.as_ref(), &self.outlook, now());
        ToolTip {
            icon_name: self.icon().into(),
            title: t.title,
            description: t.body,
            ..Default::default()
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        self.send(Command::OpenWindow);
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        let running = self.state.running();
        let now = now();
        let line = texts::state_line(&self.state, self.last.as_ref(), now);
        // The warnings, as lines that cannot be clicked, under the state.
        let stale = texts::stale_title(&self.state, &self.outlook, now);
        let postponed = (!running)
            .then(|| self.outlook.postponed.as_ref().map(texts::postponed_line))
            .flatten();
        let note = |label: Option<String>| -> MenuItem<Self> {
            StandardItem {
                visible: label.is_some(),
                label: label.unwrap_or_default(),
                enabled: false,
                ..Default::default()
            }
            .into()
        };
        vec![
            note(Some(line)),
            note(stale),
            note(postponed),
            MenuItem::Separator,
            StandardItem {
                label: gettext("Open igotchuu"),
                activate: Box::new(|t: &mut Self| t.send(Command::OpenWindow)),
                ..Default::default()
            }
            .into(),
            StandardItem {
                label: gettext("Back up now"),
                enabled: !running,
                activate: Box::new(|t: &mut Self| t.send(Command::Start)),
                ..Default::default()
            }
            .into(),
            StandardItem {
                label: stop_label(self.state.running_operation()),
                visible: running,
                activate: Box::new(|t: &mut Self| t.send(Command::Stop)),
                ..Default::default()
            }
            .into(),
            MenuItem::Separator,
            StandardItem {
                label: gettext("Quit"),
                activate: Box::new(|t: &mut Self| t.send(Command::Quit)),
                ..Default::default()
            }
            .into(),
        ]
    }

    fn watcher_online(&self) {
        tracing::info!("a StatusNotifierWatcher appeared; the tray icon is shown");
        self.send(Command::Registered);
    }

    fn watcher_offline(&self, reason: OfflineReason) -> bool {
        match reason {
            OfflineReason::No => tracing::warn!(
                "the StatusNotifierWatcher went away; the tray icon will be back when it does, \
                 and notifications still work"
            ),
            OfflineReason::Error(ksni::Error::Watcher(zbus::fdo::Error::ServiceUnknown(e))) => {
                tracing::warn!(
                    "no tray to show the icon in ({e}); it will appear when a \
                     StatusNotifierWatcher starts, and notifications still work"
                )
            }
            OfflineReason::Error(e) => {
                tracing::warn!(
                    "the StatusNotifierWatcher refused the tray icon ({e}); trying again"
                );
                self.send(Command::Reregister);
            }
            _ => tracing::warn!("the tray icon cannot be shown for now"),
        }
        // Keep running: the watcher may come (back), and notifications need no tray.
        true
    }
}

#[cfg(test)]
mod tests {
    use igotchuu_dbus::Phase;
    use ksni::Tray;

    use super::*;

    fn item(state: DesktopState, last: Option<Outcome>) -> TrayItem {
        item_ended(state, last.map(Some))
    }

    /// `last`: `Some(None)` for a run whose outcome is unknown.
    fn item_ended(state: DesktopState, last: Option<Option<Outcome>>) -> TrayItem {
        let (commands, _) = async_channel::unbounded();
        TrayItem {
            state,
            last: last.map(|outcome| Finished {
                operation: igotchuu_dbus::Operation::Backup,
                outcome,
                reason: "No network.".into(),
                summary: None,
                data_added_unknown: false,
                started_at: 1,
                finished_at: now() - 300,
                error_count: 2,
                places: vec![],
            }),
            icon_theme_path: String::new(),
            outlook: Outlook::default(),
            commands,
        }
    }

    fn running() -> DesktopState {
        DesktopState {
            bus_available: true,
            helper_present: true,
            phase: Some(Phase::BackingUp),
            ..Default::default()
        }
    }

    fn labels(t: &TrayItem) -> Vec<(String, bool, bool)> {
        t.menu()
            .into_iter()
            .filter_map(|m| match m {
                MenuItem::Standard(s) => Some((s.label, s.enabled, s.visible)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn icons_tell_the_states_apart() {
        let idle = DesktopState {
            bus_available: true,
            ..Default::default()
        };
        assert_eq!(item(idle.clone(), None).icon(), ICON_IDLE);
        assert_eq!(
            item(idle.clone(), Some(Outcome::Completed)).icon(),
            ICON_IDLE
        );
        assert_eq!(item(idle.clone(), Some(Outcome::Stopped)).icon(), ICON_IDLE);
        assert_eq!(
            item(idle.clone(), Some(Outcome::CompletedWithWarnings)).icon(),
            ICON_WARNING
        );
        assert_eq!(
            item(idle.clone(), Some(Outcome::Failed)).icon(),
            ICON_FAILED
        );
        assert_eq!(item_ended(idle, Some(None)).icon(), ICON_WARNING);
        assert_eq!(
            item(running(), Some(Outcome::Failed)).icon(),
            ICON_BACKING_UP
        );
        let mut unknown = running();
        unknown.bus_available = false;
        assert_eq!(item(unknown, Some(Outcome::Failed)).icon(), ICON_FAILED);
    }

    #[test]
    fn menu_offers_stop_only_while_running() {
        let idle = item(
            DesktopState {
                bus_available: true,
                ..Default::default()
            },
            Some(Outcome::Failed),
        );
        let l = labels(&idle);
        assert_eq!(l[0].0, "Last backup failed 5 minutes ago: No network.");
        assert!(!l[0].1, "the state line is not clickable");
        assert!(!l[1].2 && !l[2].2, "no warnings to show");
        assert_eq!(l[3], ("Open igotchuu".into(), true, true));
        assert_eq!(l[4], ("Back up now".into(), true, true));
        assert_eq!(l[5], ("Stop backup".into(), true, false));
        assert_eq!(l[6], ("Quit".into(), true, true));

        let l = labels(&item(running(), None));
        assert_eq!(l[4], ("Back up now".into(), false, true));
        assert_eq!(l[5], ("Stop backup".into(), true, true));

        let mut checking = running();
        checking.phase = Some(Phase::Checking);
        checking.operation = Some(igotchuu_dbus::Operation::Check);
        let t = item(checking, None);
        let l = labels(&t);
        assert_eq!(l[0].0, "Checking the repository…");
        assert_eq!(l[5], ("Stop the repository check".into(), true, true));
        assert_eq!(t.tool_tip().description, "Checking the repository…");
    }

    #[test]
    fn staleness_shows_in_the_icon_and_the_menu() {
        let idle = DesktopState {
            bus_available: true,
            ..Default::default()
        };
        let mut t = item(idle, Some(Outcome::Completed));
        t.outlook = Outlook {
            last_saved_at: Some(now() - 10 * 86_400),
            stale_after_days: 7,
            stale: true,
            postponed: Some(igotchuu_desktop::outlook::Postponed {
                operation: igotchuu_dbus::Operation::Backup,
                at: now(),
                reason: "Postponed: the computer is on battery".into(),
            }),
        };
        assert_eq!(t.icon(), ICON_WARNING);
        let l = labels(&t);
        assert_eq!(l[1], ("No backup for 10 days".into(), false, true));
        assert_eq!(
            l[2],
            (
                "Backup postponed: the computer is on battery.".into(),
                false,
                true
            )
        );
        assert_eq!(t.tool_tip().title, "igotchuu: No backup for 10 days");
        // A failure stays red.
        t.last.as_mut().unwrap().outcome = Some(Outcome::Failed);
        assert_eq!(t.icon(), ICON_FAILED);
        t.state = running();
        assert_eq!(t.icon(), ICON_BACKING_UP);
        assert!(!labels(&t)[1].2, "no staleness while a backup runs");
    }

    #[test]
    fn menu_items_send_commands() {
        let (tx, rx) = async_channel::unbounded();
        let mut t = item(running(), None);
        t.commands = tx;
        for m in t.menu() {
            if let MenuItem::Standard(s) = m {
                (s.activate)(&mut t);
            }
        }
        t.activate(0, 0);
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(
            got,
            [
                Command::OpenWindow,
                Command::Start,
                Command::Stop,
                Command::Quit,
                Command::OpenWindow
            ]
        );
    }
}
