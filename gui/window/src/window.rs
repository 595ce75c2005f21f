//! The window: a header bar with the title and the primary menu, and two
//! pages, one while a backup runs and one for the rest. State flows one
//! way: the watcher, the history file and systemd report to the window,
//! which keeps what they said in its [`Model`] and renders it.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

use adw::prelude::*;
use gtk::{gio, glib};
use igotchuu_dbus::history::History;
use igotchuu_dbus::settings::Settings;
use igotchuu_dbus::{ItemError, Operation};
use igotchuu_desktop::control::{self, ControlError, Request};
use igotchuu_desktop::history::{self, HistoryWatcher};
use igotchuu_desktop::outlook;
use igotchuu_desktop::watch::Watcher;
use igotchuu_desktop::{format, texts, DesktopState, Finished, Update};

use crate::clock::unix_now;
use crate::pages::idle::{IdlePage, IdleView};
use crate::pages::running::RunningPage;
use crate::probe::Probe;
use crate::schedule::{self, Schedule};

pub const DEFAULT_SIZE: (i32, i32) = (640, 760);
/// Narrow enough for a phone or a tiled half of a small screen.
pub const MIN_SIZE: (i32, i32) = (360, 360);
/// How long the window waits for the helper's state after reaching the bus,
/// before it takes the helper to be away (the usual case between runs).
const HELPER_GRACE: Duration = Duration::from_millis(150);
/// How often "2 minutes ago" is brought up to date.
const TICK: Duration = Duration::from_secs(30);
/// A refusal stays until read, up to this long.
const ERROR_TOAST_SECONDS: u32 = 10;

/// Until the watcher first reports: empty, rather than a stale outcome
/// that a running backup would replace a moment later.
const PAGE_WAITING: &str = "waiting";
const PAGE_IDLE: &str = "idle";
const PAGE_RUNNING: &str = "running";

/// What the window knows; everything it shows comes from here.
struct Model {
    state: DesktopState,
    /// Whether what the watcher said so far is worth showing; until then
    /// the window is empty. See [`Window::on_update`].
    heard: bool,
    /// The grace period for the helper to answer is running.
    grace_pending: bool,
    history: Result<History, String>,
    /// What the helper published of its configuration (`settings.json`).
    settings: Settings,
    /// Each of [`schedule::TIMERS`].
    schedules: [Schedule; 3],
    /// The Start or Stop call under way, if any.
    pending: Option<Request>,
}

pub struct Window {
    window: adw::ApplicationWindow,
    title: adw::WindowTitle,
    toasts: adw::ToastOverlay,
    stack: adw::ViewStack,
    idle: IdlePage,
    running: RunningPage,
    backup_now: gio::SimpleAction,
    stop: gio::SimpleAction,
    model: RefCell<Model>,
    probe: Rc<Probe>,
}

impl Window {
    pub fn new(app: &adw::Application, probe: Rc<Probe>) -> Rc<Self> {
        let (width, height) = Probe::window_size().unwrap_or(DEFAULT_SIZE);
        let window = adw::ApplicationWindow::builder()
            .application(app)
            .title("igotchuu")
            .icon_name(crate::app::APP_ID)
            .default_width(width)
            .default_height(height)
            .width_request(MIN_SIZE.0)
            .height_request(MIN_SIZE.1)
            .build();

        let title = adw::WindowTitle::new("igotchuu", "");
        let menu_button = gtk::MenuButton::builder()
            .icon_name("open-menu-symbolic")
            .menu_model(&primary_menu())
            .tooltip_text("Main Menu")
            .primary(true)
            .build();
        crate::a11y::set_label(&menu_button, "Main Menu");
        let header = adw::HeaderBar::builder().title_widget(&title).build();
        header.pack_end(&menu_button);

        let idle = IdlePage::new();
        let running = RunningPage::new();
        let stack = adw::ViewStack::new();
        stack.add_named(&adw::Bin::new(), Some(PAGE_WAITING));
        stack.add_named(idle.widget(), Some(PAGE_IDLE));
        stack.add_named(running.widget(), Some(PAGE_RUNNING));
        let toasts = adw::ToastOverlay::new();
        toasts.set_child(Some(&stack));
        toasts.set_vexpand(true);
        let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
        content.append(&header);
        content.append(&toasts);
        window.set_content(Some(&content));

        let backup_now = gio::SimpleAction::new("backup-now", None);
        let stop = gio::SimpleAction::new("stop", None);
        app.add_action(&backup_now);
        app.add_action(&stop);

        let win = Rc::new(Window {
            window,
            title,
            toasts,
            stack,
            idle,
            running,
            backup_now,
            stop,
            model: RefCell::new(Model {
                state: DesktopState::default(),
                heard: false,
                grace_pending: false,
                history: Ok(History::default()),
                settings: Settings::default(),
                schedules: [Schedule::Unknown, Schedule::Unknown, Schedule::Unknown],
                pending: None,
            }),
            probe,
        });
        let weak = Rc::downgrade(&win);
        win.backup_now.connect_activate(move |_, _| {
            if let Some(w) = weak.upgrade() {
                w.start_backup();
            }
        });
        let weak = Rc::downgrade(&win);
        win.stop.connect_activate(move |_, _| {
            if let Some(w) = weak.upgrade() {
                w.confirm_stop();
            }
        });
        win.probe.watch_frames(&win.window, true);
        win.render();
        win
    }

    pub fn present(&self) {
        self.window.present();
    }

    /// Starts following the helper, the history and the schedule.
    pub fn start(self: &Rc<Self>) {
        let ctx = glib::MainContext::default();
        ctx.spawn_local(follow_helper(Rc::downgrade(self)));
        // Its first load also asks systemd for the schedule.
        ctx.spawn_local(follow_history(Rc::downgrade(self)));
        let weak = Rc::downgrade(self);
        glib::timeout_add_seconds_local(TICK.as_secs() as u32, move || match weak.upgrade() {
            Some(w) => {
                w.tick();
                glib::ControlFlow::Continue
            }
            None => glib::ControlFlow::Break,
        });
    }

    /// The watcher reports the bus first and the helper's state a few round
    /// trips later; showing "Backup Completed" in between would flash a
    /// stale page before a running backup. So the window shows something
    /// once it knows the helper's state, knows the bus is away, or has
    /// given the helper [`HELPER_GRACE`] to answer (when none is there,
    /// nothing will).
    fn on_update(self: &Rc<Self>, update: Update, state: &DesktopState) {
        match update {
            // The State update that follows brings the count; the row is
            // added here so that the list is not rebuilt for each error.
            Update::ItemError(e) => self.running.add_error(&e),
            Update::State | Update::Finished(_) => {
                tracing::debug!(
                    "update: bus {}, helper {}, phase {:?}",
                    state.bus_available,
                    state.helper_present,
                    state.phase
                );
                let start_grace = {
                    let mut m = self.model.borrow_mut();
                    m.state = state.clone();
                    let known = !state.bus_available || state.helper_present || state.running();
                    m.heard |= known;
                    let start = !m.heard && !m.grace_pending;
                    m.grace_pending |= start;
                    start
                };
                if start_grace {
                    let weak = Rc::downgrade(self);
                    glib::timeout_add_local_once(HELPER_GRACE, move || {
                        if let Some(w) = weak.upgrade() {
                            tracing::debug!("no word from the backup helper: it is not running");
                            w.model.borrow_mut().heard = true;
                            w.render();
                        }
                    });
                }
                self.render();
            }
        }
    }

    fn set_history(&self, history: Result<History, String>, settings: Settings) {
        if let Err(e) = &history {
            tracing::warn!("{e}");
        }
        {
            let mut m = self.model.borrow_mut();
            m.history = history;
            m.settings = settings;
        }
        {
            let m = self.model.borrow();
            self.idle
                .history
                .show(m.history.as_ref().map_err(String::as_str), unix_now());
        }
        self.render();
    }

    fn refresh_schedule(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        glib::MainContext::default().spawn_local(async move {
            let schedules = schedule::next_runs().await;
            if let Some(w) = weak.upgrade() {
                w.model.borrow_mut().schedules = schedules;
                w.render();
            }
        });
    }

    fn tick(&self) {
        self.idle.history.tick(unix_now());
        self.render();
    }

    /// Shows the model.
    fn render(&self) {
        let m = self.model.borrow();
        let now = unix_now();
        let running = m.state.bus_available && m.state.running();
        // First, so that the button that gets the focus below can take it.
        let idle_ok = !running && m.pending.is_none() && m.state.bus_available;
        self.backup_now.set_enabled(idle_ok);
        let can_stop =
            running && m.pending.is_none() && m.state.phase != Some(igotchuu_dbus::Phase::Stopping);
        self.stop.set_enabled(can_stop);
        if !m.heard {
            self.stack.set_visible_child_name(PAGE_WAITING);
        } else if running {
            self.running.show(&m.state, now);
            self.stack.set_visible_child_name(PAGE_RUNNING);
            let p = &m.state.progress;
            let subtitle = match m.state.phase {
                Some(igotchuu_dbus::Phase::BackingUp) if p.percent_done > 0.0 => {
                    format!("Backing up — {}", format::percent(p.percent_done))
                }
                Some(phase) => crate::words::phase_title(phase).to_owned(),
                None => String::new(),
            };
            self.title.set_subtitle(&subtitle);
        } else {
            let empty = History::default();
            let history = m.history.as_ref().unwrap_or(&empty);
            let from_history = history::last_backup(history).map(Finished::from_record);
            let last = texts::latest(from_history.as_ref(), m.state.last_finished.as_ref());
            let errors = last.map(|f| item_errors_of(f, &m)).unwrap_or_default();
            let outlook =
                outlook::outlook(history, &m.settings, m.state.last_finished.as_ref(), now);
            let last_check = history
                .last_of(Operation::Check)
                .filter(|r| r.outcome != igotchuu_dbus::Outcome::Postponed)
                .map(Finished::from_record);
            let schedules = schedule::TIMERS
                .iter()
                .zip(&m.schedules)
                .map(|((_, title), s)| (*title, s.describe(now)))
                .collect();
            self.idle.show(&IdleView {
                last,
                last_errors: &errors,
                bus_available: m.state.bus_available,
                schedules,
                stale: texts::stale_title(&m.state, &outlook, now),
                stale_detail: texts::stale_notice(&outlook, now).body,
                postponed: outlook.postponed.as_ref().map(texts::postponed_line),
                last_saved_at: outlook.last_saved_at,
                last_check: last_check.as_ref(),
                retention: outlook::retention(&m.settings.retention),
                now,
            });
            if self.stack.visible_child_name().as_deref() != Some(PAGE_IDLE) {
                self.stack.set_visible_child_name(PAGE_IDLE);
                self.idle.backup_button.grab_focus();
            }
            self.title.set_subtitle("");
        }
        drop(m);
        self.probe.changed();
    }

    // ------------------------------------------------------ Start, Stop

    fn start_backup(self: &Rc<Self>) {
        if !self.begin_call(Request::Start) {
            return;
        }
        let weak = Rc::downgrade(self);
        glib::MainContext::default().spawn_local(async move {
            let result = control::start().await;
            if let Some(w) = weak.upgrade() {
                w.end_call(result);
            }
        });
    }

    fn confirm_stop(self: &Rc<Self>) {
        let operation = self.model.borrow().state.running_operation();
        let (heading, body, stop) = crate::words::stop_dialog(operation.unwrap_or_default());
        let dialog = adw::MessageDialog::builder()
            .transient_for(&self.window)
            .modal(true)
            .heading(heading)
            .body(body)
            .build();
        dialog.add_responses(&[("cancel", "_Cancel"), ("stop", stop)]);
        dialog.set_response_appearance("stop", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        let weak = Rc::downgrade(self);
        dialog.connect_response(None, move |_, response| {
            if let Some(w) = weak.upgrade() {
                if response == "stop" {
                    w.stop_backup();
                }
                w.probe.changed();
            }
        });
        self.probe.watch_frames(&dialog, false);
        dialog.present();
        self.probe.event("dialog", heading);
        self.probe.changed();
    }

    fn stop_backup(self: &Rc<Self>) {
        if !self.model.borrow().state.running() || !self.begin_call(Request::Stop) {
            return;
        }
        let weak = Rc::downgrade(self);
        glib::MainContext::default().spawn_local(async move {
            let result = control::stop().await;
            if let Some(w) = weak.upgrade() {
                w.end_call(result);
            }
        });
    }

    /// Marks a call as under way, which makes the buttons insensitive;
    /// false if one already is.
    fn begin_call(&self, request: Request) -> bool {
        {
            let mut m = self.model.borrow_mut();
            if m.pending.is_some() {
                return false;
            }
            m.pending = Some(request);
        }
        self.probe.event("call", &request.to_string());
        self.render();
        true
    }

    fn end_call(&self, result: Result<(), ControlError>) {
        self.model.borrow_mut().pending = None;
        if let Err(e) = result {
            tracing::info!("{e}");
            self.toast(&e.to_string());
        }
        self.render();
    }

    fn toast(&self, text: &str) {
        let toast = adw::Toast::builder()
            .title(glib::markup_escape_text(text).as_str())
            .timeout(ERROR_TOAST_SECONDS)
            .priority(adw::ToastPriority::High)
            .build();
        self.toasts.add_toast(toast);
        self.probe.event("toast", text);
    }

    pub fn show_about(&self) {
        let about = adw::AboutWindow::builder()
            .transient_for(&self.window)
            .modal(true)
            .application_name("igotchuu")
            .application_icon(crate::app::APP_ID)
            .developer_name("nyantec")
            .version(env!("CARGO_PKG_VERSION"))
            .comments("Backs up your files with btrfs snapshots and restic")
            .website(env!("CARGO_PKG_REPOSITORY"))
            .issue_url(concat!(env!("CARGO_PKG_REPOSITORY"), "/issues"))
            .license_type(gtk::License::MitX11)
            .build();
        about.present();
    }
}

/// The item errors of the finished run `f`: from its history record, or
/// for the run this window watched, from the bus.
fn item_errors_of(f: &Finished, m: &Model) -> Vec<ItemError> {
    if f.started_at != 0 {
        if let Ok(h) = &m.history {
            if let Some(r) = history::find_run(h, f.started_at) {
                return r.item_errors.clone();
            }
        }
    }
    if f.started_at == m.state.started_at {
        return m.state.item_errors.iter().cloned().collect();
    }
    Vec::new()
}

fn primary_menu() -> gio::Menu {
    let menu = gio::Menu::new();
    let actions = gio::Menu::new();
    actions.append(Some("_Back Up Now"), Some("app.backup-now"));
    menu.append_section(None, &actions);
    let app = gio::Menu::new();
    app.append(Some("_About igotchuu"), Some("app.about"));
    menu.append_section(None, &app);
    menu
}

async fn follow_helper(window: Weak<Window>) {
    let mut watcher = Watcher::new();
    loop {
        let update = watcher.next().await;
        let Some(w) = window.upgrade() else {
            return;
        };
        w.on_update(update, watcher.state());
    }
}

async fn follow_history(window: Weak<Window>) {
    let dir = history::state_dir();
    let mut changes = match HistoryWatcher::new(&dir) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("the history will not refresh by itself: {e}");
            None
        }
    };
    loop {
        let loaded = history::load(&dir).await.map_err(|e| e.to_string());
        // Small and bounded; the helper rewrites it when an operation starts.
        let settings = igotchuu_dbus::settings::read(&dir).unwrap_or_else(|e| {
            tracing::warn!("{e}; using the default settings");
            Settings::default()
        });
        match window.upgrade() {
            Some(w) => {
                w.set_history(loaded, settings);
                // A run ended: the timer's next elapse moved too.
                w.refresh_schedule();
            }
            None => return,
        }
        let Some(c) = &mut changes else {
            return;
        };
        if let Err(e) = c.changed().await {
            tracing::warn!("stopped watching the history: {e}");
            return;
        }
    }
}
