//! The tray's one loop: it waits for the bus, the history file, the menu
//! and the notifications, and for one slow timer: time alone makes
//! backups stale, so the history and the settings are read again every
//! [`REFRESH`], besides whenever the history changes.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::icon::TrayIcon;
use crate::item::Command;
use crate::launch;
use crate::notify::{ActionWait, Notifier, BACK_UP_NOW, SHOW_DETAILS};
use async_io::Timer;
use futures_lite::future;
use igotchuu_dbus::history::History;
use igotchuu_dbus::settings::{self, Settings};
use igotchuu_desktop::control::{self, ControlError, Request};
use igotchuu_desktop::history::{self, HistoryWatcher};
use igotchuu_desktop::i18n::{fill, gettext};
use igotchuu_desktop::outlook::{self, Outlook};
use igotchuu_desktop::reminders::{self, Reminder, Reminders};
use igotchuu_desktop::texts::{self, Notice};
use igotchuu_desktop::watch::Watcher;
use igotchuu_desktop::{DesktopState, Finished, Update};

/// How often the history and the settings are read again without a
/// change: staleness comes with time alone. A warning a quarter of an hour
/// late is fine; a tray that wakes up more often is not.
pub const REFRESH: Duration = Duration::from_secs(15 * 60);
/// How long after starting the tray holds back reminders: the bus needs a
/// moment to say whether a backup runs right now.
const SETTLE: Duration = Duration::from_secs(2);

type ControlCall = Pin<Box<dyn Future<Output = (Request, Result<(), ControlError>)> + Send>>;

/// What woke the loop.
enum Event {
    Bus(Box<Update>),
    History(std::io::Result<()>),
    Command(Option<Command>),
    /// What was chosen on a notification; `reminder`: on a reminder's.
    Action {
        reminder: bool,
        chosen: Option<String>,
    },
    Control(Request, Result<(), ControlError>),
    RetryIcon,
    Refresh,
}

/// The actions of the notifications shown: of how a run ended, and of a
/// reminder, each waited for until chosen or closed.
#[derive(Default)]
struct Actions {
    run: Option<ActionWait>,
    reminder: Option<ActionWait>,
}

/// What the tray read from the helper's state directory.
struct OnDisk {
    history: History,
    settings: Settings,
}

/// Runs until Quit.
pub async fn run() {
    tracing::info!(
        "igotchuu-tray {}: following the backup helper on the system bus",
        env!("CARGO_PKG_VERSION")
    );
    let state_dir = history::state_dir();
    let (commands_tx, commands) = async_channel::unbounded();
    let mut icon = TrayIcon::start(commands_tx, launch::icon_theme_path()).await;

    let mut watcher = Watcher::with_state_dir(state_dir.clone());
    let mut history_watch = watch_history(&state_dir);
    let mut on_disk = read_state(&state_dir).await;
    let mut reminders = match reminders::user_state_dir() {
        Some(dir) => Reminders::load(&dir),
        None => {
            tracing::warn!("neither XDG_STATE_HOME nor HOME is set: reminders are not kept");
            Reminders::load(Path::new("/nonexistent"))
        }
    };
    // The first refresh ends the settling time; the next come every REFRESH.
    let mut refresh = Timer::after(SETTLE);
    let mut settled = false;
    // Reminders have notifications of their own, so that a reminder never
    // replaces how a run ended, nor the other way round.
    let mut notifier = Notifier::default();
    let mut reminder_notifier = Notifier::default();
    // What the reminder on screen is about, if one is.
    let mut reminding: Vec<Reminder> = Vec::new();
    let mut actions = Actions::default();
    let mut call: Option<ControlCall> = None;

    loop {
        let event = next_event(
            &mut watcher,
            &mut history_watch,
            &commands,
            &mut actions,
            &mut call,
            &mut icon,
            &mut refresh,
        )
        .await;
        let mut redraw = false;
        match event {
            Event::Bus(update) => match *update {
                Update::State => redraw = true,
                Update::ItemError(_) => {}
                Update::Finished(f) => {
                    redraw = true;
                    if texts::worth_notifying(&f) {
                        // The new notification replaces the old, and so does its action.
                        drop(actions.run.take());
                        actions.run = notifier.show(&texts::notification(&f)).await;
                    } else {
                        tracing::info!(
                            "{} ended: {}; no notification",
                            f.operation,
                            f.outcome.map_or("outcome unknown", |o| o.as_str())
                        );
                    }
                }
            },
            Event::History(Ok(())) => {
                on_disk = read_state(&state_dir).await;
                redraw = true;
            }
            Event::Refresh => {
                settled = true;
                refresh = Timer::after(REFRESH);
                on_disk = read_state(&state_dir).await;
                redraw = true;
            }
            Event::History(Err(e)) => {
                tracing::warn!("stopped watching the run history: {e}");
                history_watch = None;
            }
            Event::Command(Some(Command::Quit)) | Event::Command(None) => break,
            Event::Command(Some(Command::OpenWindow)) => launch::open_window(),
            Event::Command(Some(Command::Start)) => start_call(&mut call, Request::Start),
            Event::Command(Some(Command::Stop)) => start_call(&mut call, Request::Stop),
            Event::Command(Some(Command::Reregister)) => icon.refused(),
            Event::Command(Some(Command::Registered)) => icon.watcher_appeared(),
            Event::RetryIcon => {
                icon.retry().await;
                redraw = true;
            }
            Event::Action { reminder, chosen } => {
                if reminder {
                    actions.reminder = None;
                } else {
                    actions.run = None;
                }
                match chosen.as_deref() {
                    Some(SHOW_DETAILS) => launch::open_window(),
                    Some(BACK_UP_NOW) => start_call(&mut call, Request::Start),
                    _ => {}
                }
            }
            Event::Control(request, result) => {
                call = None;
                if let Err(e) = result {
                    tracing::warn!("{request}: {e}");
                    let notice = Notice {
                        title: fill(
                            // xgettext: {action} is "Back up now" or "Stop backup".
                            &gettext("{action} did not work"),
                            &[("action", &request.to_string())],
                        ),
                        body: e.to_string(),
                        urgent: false,
                        back_up_now: false,
                    };
                    drop(actions.run.take());
                    actions.run = notifier.show(&notice).await;
                }
            }
        }
        if redraw {
            let state = watcher.state().clone();
            let recorded = history::last_backup(&on_disk.history).map(Finished::from_record);
            let last = texts::latest(recorded.as_ref(), state.last_finished.as_ref()).cloned();
            let now = unix_now();
            let outlook = outlook::outlook(
                &on_disk.history,
                &on_disk.settings,
                state.last_finished.as_ref(),
                now,
            );
            if settled {
                if let Some((notice, about)) = remind(&mut reminders, &state, &outlook, now) {
                    drop(actions.reminder.take());
                    actions.reminder = reminder_notifier.show(&notice).await;
                    reminding = about;
                } else if !reminding.is_empty() && !reminding.iter().any(|r| holds(*r, &outlook)) {
                    // What it reminded of is over (a backup completed): a
                    // reminder left on screen would be wrong.
                    tracing::info!("withdrew the reminder: {reminding:?} no longer holds");
                    drop(actions.reminder.take());
                    reminder_notifier.withdraw().await;
                    reminding.clear();
                }
            }
            icon.show(state, last, outlook).await;
        }
    }
    icon.shutdown().await;
}

/// Whether what `reminder` reminds of still holds.
fn holds(reminder: Reminder, outlook: &Outlook) -> bool {
    match reminder {
        Reminder::Stale => outlook.stale,
        Reminder::Postponed => outlook.postponed.is_some(),
    }
}

/// The reminder due now, if any, marked as shown, with what it is about:
/// that backups are stale, else that a scheduled run is postponed; each at
/// most once a day, and never while a run is on (it may be the backup that
/// ends it).
fn remind(
    reminders: &mut Reminders,
    state: &DesktopState,
    outlook: &Outlook,
    now: u64,
) -> Option<(Notice, Vec<Reminder>)> {
    if state.bus_available && state.running() {
        return None;
    }
    if outlook.stale && reminders.due(Reminder::Stale, now) {
        reminders.shown(Reminder::Stale, now);
        let mut notice = texts::stale_notice(outlook, now);
        let mut about = vec![Reminder::Stale];
        // One reminder says both, rather than one replacing the other.
        if let Some(p) = &outlook.postponed {
            reminders.shown(Reminder::Postponed, now);
            notice.body = format!("{}\n{}", notice.body, texts::postponed_line(p));
            about.push(Reminder::Postponed);
        }
        return Some((notice, about));
    }
    let postponed = outlook.postponed.as_ref()?;
    if reminders.due(Reminder::Postponed, now) {
        reminders.shown(Reminder::Postponed, now);
        return Some((
            texts::postponed_notice(postponed),
            vec![Reminder::Postponed],
        ));
    }
    None
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Waits for whichever source speaks first. Each of them may be dropped
/// half-way without losing anything.
async fn next_event(
    watcher: &mut Watcher,
    history_watch: &mut Option<HistoryWatcher>,
    commands: &async_channel::Receiver<Command>,
    actions: &mut Actions,
    call: &mut Option<ControlCall>,
    icon: &mut TrayIcon,
    refresh: &mut Timer,
) -> Event {
    let bus = async { Event::Bus(Box::new(watcher.next().await)) };
    let history = async {
        match history_watch {
            Some(w) => Event::History(w.changed().await),
            None => future::pending().await,
        }
    };
    let command = async { Event::Command(commands.recv().await.ok()) };
    let action = async {
        match &mut actions.run {
            Some(wait) => Event::Action {
                reminder: false,
                chosen: wait.await,
            },
            None => future::pending().await,
        }
    };
    let reminder_action = async {
        match &mut actions.reminder {
            Some(wait) => Event::Action {
                reminder: true,
                chosen: wait.await,
            },
            None => future::pending().await,
        }
    };
    let call = async {
        match call {
            Some(c) => {
                let (request, result) = c.await;
                Event::Control(request, result)
            }
            None => future::pending().await,
        }
    };
    let retry = async {
        icon.retry_due().await;
        Event::RetryIcon
    };
    let tick = async {
        refresh.await;
        Event::Refresh
    };
    future::or(
        future::or(command, bus),
        future::or(
            history,
            future::or(
                future::or(action, reminder_action),
                future::or(call, future::or(retry, tick)),
            ),
        ),
    )
    .await
}

/// Starts Start or Stop in the background: polkit may ask for a password,
/// and the tray must go on meanwhile.
fn start_call(call: &mut Option<ControlCall>, request: Request) {
    if call.is_some() {
        tracing::info!("{request}: still waiting for the previous request");
        return;
    }
    *call = Some(Box::pin(async move {
        let result = match request {
            Request::Start => control::start().await,
            Request::Stop => control::stop().await,
            // The tray asks for nothing else; the window does.
            other => Err(ControlError::Other(other, String::new())),
        };
        (request, result)
    }));
}

fn watch_history(dir: &Path) -> Option<HistoryWatcher> {
    match HistoryWatcher::new(dir) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                "cannot watch the run history in {} ({e}); the last backup shown may be stale",
                dir.display()
            );
            None
        }
    }
}

/// The history and the settings. Either unreadable: logged, and as if
/// empty (the settings' defaults).
async fn read_state(dir: &Path) -> OnDisk {
    let history = history::load(dir).await.unwrap_or_else(|e| {
        tracing::warn!("{e}");
        History::default()
    });
    // A few hundred bytes, bounded: read here.
    let settings = settings::read(dir).unwrap_or_else(|e| {
        tracing::warn!("{e}; using the default settings");
        Settings::default()
    });
    OnDisk { history, settings }
}

#[cfg(test)]
mod tests {
    use igotchuu_dbus::{Operation, Phase};
    use igotchuu_desktop::outlook::Postponed;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn stale_and_postponed() -> Outlook {
        Outlook {
            last_saved_at: Some(NOW - 10 * outlook::DAY),
            stale_after_days: 7,
            stale: true,
            postponed: Some(Postponed {
                operation: Operation::Backup,
                at: NOW - 60,
                reason: "Postponed: the computer is on battery".into(),
            }),
        }
    }

    #[test]
    fn one_reminder_a_day_says_all_and_none_while_a_run_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Reminders::load(dir.path());
        let idle = DesktopState {
            bus_available: true,
            ..Default::default()
        };
        let running = DesktopState {
            phase: Some(Phase::BackingUp),
            ..idle.clone()
        };
        let o = stale_and_postponed();
        assert_eq!(remind(&mut r, &running, &o, NOW), None, "a run is on");
        let (n, about) = remind(&mut r, &idle, &o, NOW).expect("a reminder");
        assert_eq!(about, [Reminder::Stale, Reminder::Postponed]);
        assert!(about.iter().all(|a| holds(*a, &o)));
        assert!(!holds(Reminder::Stale, &Outlook::default()));
        assert_eq!(n.title, "No backup for 10 days");
        assert!(n.back_up_now);
        assert!(
            n.body
                .ends_with("\nBackup postponed: the computer is on battery."),
            "{}",
            n.body
        );
        assert_eq!(remind(&mut r, &idle, &o, NOW + 60), None, "once a day");
        let (n, _) = remind(&mut r, &idle, &o, NOW + outlook::DAY).expect("the next day");
        assert_eq!(n.title, "No backup for 11 days");
        // Only postponed: its own reminder.
        let mut r = Reminders::load(&dir.path().join("other"));
        let postponed_only = Outlook {
            stale: false,
            ..stale_and_postponed()
        };
        let (n, about) = remind(&mut r, &idle, &postponed_only, NOW).expect("a reminder");
        assert_eq!(about, [Reminder::Postponed]);
        assert_eq!(n.title, "Backup postponed");
        assert_eq!(remind(&mut r, &idle, &postponed_only, NOW + 5), None);
        let fine = Outlook::default();
        let mut r = Reminders::load(&dir.path().join("third"));
        assert_eq!(remind(&mut r, &idle, &fine, NOW), None);
    }
}
