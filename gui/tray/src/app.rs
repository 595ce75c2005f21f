//! The tray's one loop: it waits for the bus, the history file, the menu
//! and the notifications, and for nothing else — no timers.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use crate::icon::TrayIcon;
use crate::item::Command;
use crate::launch;
use crate::notify::{ActionWait, Notifier, SHOW_DETAILS};
use futures_lite::future;
use igotchuu_desktop::control::{self, ControlError, Request};
use igotchuu_desktop::history::{self, HistoryWatcher};
use igotchuu_desktop::texts::{self, Notice};
use igotchuu_desktop::watch::Watcher;
use igotchuu_desktop::{Finished, Update};

type ControlCall = Pin<Box<dyn Future<Output = (Request, Result<(), ControlError>)> + Send>>;

/// What woke the loop.
enum Event {
    Bus(Box<Update>),
    History(std::io::Result<()>),
    Command(Option<Command>),
    Action(Option<String>),
    Control(Request, Result<(), ControlError>),
    RetryIcon,
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
    let mut last_recorded = read_last_run(&state_dir).await;
    let mut notifier = Notifier::default();
    let mut action: Option<ActionWait> = None;
    let mut call: Option<ControlCall> = None;

    loop {
        let event = next_event(
            &mut watcher,
            &mut history_watch,
            &commands,
            &mut action,
            &mut call,
            &mut icon,
        )
        .await;
        let mut redraw = false;
        match event {
            Event::Bus(update) => match *update {
                Update::State => redraw = true,
                Update::ItemError(_) => {}
                Update::Finished(f) => {
                    redraw = true;
                    // The new notification replaces the old, and so does its action.
                    drop(action.take());
                    action = notifier.show(&texts::notification(&f)).await;
                }
            },
            Event::History(Ok(())) => {
                last_recorded = read_last_run(&state_dir).await;
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
            Event::Action(chosen) => {
                action = None;
                if chosen.as_deref() == Some(SHOW_DETAILS) {
                    launch::open_window();
                }
            }
            Event::Control(request, result) => {
                call = None;
                if let Err(e) = result {
                    tracing::warn!("{request}: {e}");
                    let notice = Notice {
                        title: format!("{request} did not work"),
                        body: e.to_string(),
                        urgent: false,
                    };
                    drop(action.take());
                    action = notifier.show(&notice).await;
                }
            }
        }
        if redraw {
            let state = watcher.state().clone();
            let last = texts::latest(last_recorded.as_ref(), state.last_finished.as_ref()).cloned();
            icon.show(state, last).await;
        }
    }
    icon.shutdown().await;
}

/// Waits for whichever source speaks first. Each of them may be dropped
/// half-way without losing anything.
async fn next_event(
    watcher: &mut Watcher,
    history_watch: &mut Option<HistoryWatcher>,
    commands: &async_channel::Receiver<Command>,
    action: &mut Option<ActionWait>,
    call: &mut Option<ControlCall>,
    icon: &mut TrayIcon,
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
        match action {
            Some(wait) => Event::Action(wait.await),
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
    future::or(
        future::or(command, bus),
        future::or(history, future::or(action, future::or(call, retry))),
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

async fn read_last_run(dir: &Path) -> Option<Finished> {
    match history::load(dir).await {
        Ok(h) => h.last().map(Finished::from_record),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}
