//! The window: a header bar with the view switcher and the primary menu,
//! and two views: the status (one page while a backup runs and one for the
//! rest) and the backups (the snapshots, to browse and restore). Its widgets are the
//! composite template `data/ui/window.ui` ([`MainWindow`]); [`Window`]
//! drives them. State flows one way: the watcher, the history file and
//! systemd report to the window, which keeps what they said in its
//! [`Model`] and renders it.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::time::Duration;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};
use igotchuu_dbus::history::History;
use igotchuu_dbus::settings::Settings;
use igotchuu_dbus::{ItemError, Operation, SnapshotInfo};
use igotchuu_desktop::control::{self, Browsing, ControlError, Request};
use igotchuu_desktop::history::{self, HistoryWatcher};
use igotchuu_desktop::i18n::{fill, gettext};
use igotchuu_desktop::outlook;
use igotchuu_desktop::watch::Watcher;
use igotchuu_desktop::{format, texts, DesktopState, Finished, Update};

use crate::clock::unix_now;
use crate::pages::idle::{IdlePage, IdleView};
use crate::pages::running::RunningPage;
use crate::pages::snapshots::SnapshotsPage;
use crate::probe::Probe;
use crate::schedule::{self, Schedule};

mod backups;

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
/// The views of the window (the switcher's).
const VIEW_STATUS: &str = "status";
const VIEW_BACKUPS: &str = "backups";
/// How long a closing window waits for CloseBrowse before it goes anyway
/// (the helper also ends the mount when the window leaves the bus).
const CLOSE_BROWSE_WAIT: Duration = Duration::from_secs(3);

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
    /// The snapshots, as last listed.
    snapshots: Vec<SnapshotInfo>,
    /// A Snapshots or Browse call is under way.
    backups_call: bool,
    /// This window's browsing connection, while it browses.
    browsing: Option<Browsing>,
    /// The folder the last restore copied into, to open when it is done.
    restored_into: Option<PathBuf>,
}

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/com/nyantec/IGotChuu/ui/window.ui")]
    pub struct MainWindow {
        #[template_child]
        pub title: TemplateChild<adw::ViewSwitcherTitle>,
        #[template_child]
        pub views: TemplateChild<adw::ViewStack>,
        #[template_child]
        pub snapshots: TemplateChild<SnapshotsPage>,
        #[template_child]
        pub toasts: TemplateChild<adw::ToastOverlay>,
        #[template_child]
        pub stack: TemplateChild<adw::ViewStack>,
        #[template_child]
        pub idle: TemplateChild<IdlePage>,
        #[template_child]
        pub running: TemplateChild<RunningPage>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for MainWindow {
        const NAME: &'static str = "IgcMainWindow";
        type Type = super::MainWindow;
        type ParentType = adw::ApplicationWindow;

        fn class_init(klass: &mut Self::Class) {
            IdlePage::ensure_type();
            RunningPage::ensure_type();
            SnapshotsPage::ensure_type();
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for MainWindow {}
    impl WidgetImpl for MainWindow {}
    impl WindowImpl for MainWindow {}
    impl ApplicationWindowImpl for MainWindow {}
    impl AdwApplicationWindowImpl for MainWindow {}
}

glib::wrapper! {
    /// The window's widgets, from `data/ui/window.ui`.
    pub struct MainWindow(ObjectSubclass<imp::MainWindow>)
        @extends adw::ApplicationWindow, gtk::ApplicationWindow, gtk::Window, gtk::Widget,
        @implements gio::ActionGroup, gio::ActionMap, gtk::Buildable,
            gtk::ConstraintTarget, gtk::Native, gtk::Root, gtk::ShortcutManager;
}

pub struct Window {
    window: MainWindow,
    title: adw::ViewSwitcherTitle,
    views: adw::ViewStack,
    snapshots: SnapshotsPage,
    toasts: adw::ToastOverlay,
    stack: adw::ViewStack,
    idle: IdlePage,
    running: RunningPage,
    backup_now: gio::SimpleAction,
    stop: gio::SimpleAction,
    /// The backups view's actions (app actions, so that tests and the
    /// desktop may call them over the session bus too).
    refresh_backups: gio::SimpleAction,
    browse: gio::SimpleAction,
    close_browse: gio::SimpleAction,
    restore: gio::SimpleAction,
    model: RefCell<Model>,
    probe: Rc<Probe>,
}

impl Window {
    pub fn new(app: &adw::Application, probe: Rc<Probe>) -> Rc<Self> {
        let (width, height) = Probe::window_size().unwrap_or(DEFAULT_SIZE);
        let window: MainWindow = glib::Object::builder()
            .property("application", app)
            .property("default-width", width)
            .property("default-height", height)
            .property("width-request", MIN_SIZE.0)
            .property("height-request", MIN_SIZE.1)
            .build();
        let widgets = window.imp();
        let title = widgets.title.get();
        let toasts = widgets.toasts.get();
        let stack = widgets.stack.get();
        let idle = widgets.idle.get();
        let running = widgets.running.get();
        let views = widgets.views.get();
        let snapshots = widgets.snapshots.get();

        let backup_now = gio::SimpleAction::new("backup-now", None);
        let stop = gio::SimpleAction::new("stop", None);
        let refresh_backups = gio::SimpleAction::new("refresh-backups", None);
        let browse = gio::SimpleAction::new("browse", None);
        let close_browse = gio::SimpleAction::new("close-browse", None);
        let restore = gio::SimpleAction::new("restore", Some(glib::VariantTy::STRING));
        let show_view = gio::SimpleAction::new("show-view", Some(glib::VariantTy::STRING));
        let open_restored = gio::SimpleAction::new("open-restored", None);
        for a in [
            &backup_now,
            &stop,
            &refresh_backups,
            &browse,
            &close_browse,
            &restore,
            &show_view,
            &open_restored,
        ] {
            app.add_action(a);
        }
        app.set_accels_for_action("app.show-view('status')", &["<Alt>1"]);
        app.set_accels_for_action("app.show-view('backups')", &["<Alt>2"]);
        app.set_accels_for_action("app.refresh-backups", &["<Control>r"]);

        let win = Rc::new(Window {
            window,
            title,
            toasts,
            stack,
            idle,
            running,
            backup_now,
            stop,
            refresh_backups,
            browse,
            close_browse,
            restore,
            views,
            snapshots,
            model: RefCell::new(Model {
                state: DesktopState::default(),
                heard: false,
                grace_pending: false,
                history: Ok(History::default()),
                settings: Settings::default(),
                schedules: [Schedule::Unknown, Schedule::Unknown, Schedule::Unknown],
                pending: None,
                snapshots: Vec::new(),
                backups_call: false,
                browsing: None,
                restored_into: None,
            }),
            probe,
        });
        let weak = Rc::downgrade(&win);
        win.refresh_backups.connect_activate(move |_, _| {
            if let Some(w) = weak.upgrade() {
                w.load_snapshots();
            }
        });
        let weak = Rc::downgrade(&win);
        win.browse.connect_activate(move |_, _| {
            if let Some(w) = weak.upgrade() {
                w.browse_files();
            }
        });
        let weak = Rc::downgrade(&win);
        win.close_browse.connect_activate(move |_, _| {
            if let Some(w) = weak.upgrade() {
                w.stop_browsing(false);
            }
        });
        let weak = Rc::downgrade(&win);
        win.restore.connect_activate(move |_, id| {
            let (Some(w), Some(id)) = (weak.upgrade(), id.and_then(|v| v.str())) else {
                return;
            };
            w.ask_restore(id);
        });
        let weak = Rc::downgrade(&win);
        show_view.connect_activate(move |_, name| {
            if let (Some(w), Some(name)) = (weak.upgrade(), name.and_then(|v| v.str())) {
                if name == VIEW_STATUS || name == VIEW_BACKUPS {
                    w.views.set_visible_child_name(name);
                }
            }
        });
        let weak = Rc::downgrade(&win);
        open_restored.connect_activate(move |_, _| {
            if let Some(w) = weak.upgrade() {
                w.open_restored();
            }
        });
        let weak = Rc::downgrade(&win);
        win.views.connect_visible_child_name_notify(move |views| {
            let Some(w) = weak.upgrade() else {
                return;
            };
            // The list is asked for when first wanted: polkit may ask for
            // a password, which nobody should meet on opening the window.
            if views.visible_child_name().as_deref() == Some(VIEW_BACKUPS)
                && w.snapshots.first_view()
            {
                w.load_snapshots();
            }
            w.probe.changed();
        });
        let weak = Rc::downgrade(&win);
        win.window
            .connect_close_request(move |_| match weak.upgrade() {
                Some(w) if w.model.borrow().browsing.is_some() => {
                    w.stop_browsing(true);
                    glib::Propagation::Stop
                }
                _ => glib::Propagation::Proceed,
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
                if let Update::Finished(f) = &update {
                    match f.operation {
                        Operation::Restore => self.restore_finished(f),
                        // Snapshots came or went.
                        Operation::Backup | Operation::Forget | Operation::Prune => {
                            self.snapshots_changed()
                        }
                        Operation::Check => {}
                    }
                }
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
                .history()
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
        self.idle.history().tick(unix_now());
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
        self.restore.set_enabled(idle_ok);
        self.refresh_backups
            .set_enabled(!m.backups_call && m.state.bus_available);
        self.browse
            .set_enabled(!m.backups_call && m.state.bus_available);
        self.close_browse.set_enabled(m.browsing.is_some());
        self.snapshots.set_browsing(m.browsing.is_some());
        // A dot on "Status" while something runs and the backups are shown.
        if let Some(status) = self.views.child_by_name(VIEW_STATUS) {
            let elsewhere = self.views.visible_child_name().as_deref() != Some(VIEW_STATUS);
            self.views
                .page(&status)
                .set_needs_attention(running && elsewhere);
        }
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
                Some(igotchuu_dbus::Phase::BackingUp) if p.percent_done > 0.0 => fill(
                    // xgettext: the window's subtitle: "Backing up — 42 %".
                    &gettext("Backing up — {percent}"),
                    &[("percent", &format::percent(p.percent_done))],
                ),
                Some(phase) => crate::words::phase_title(phase),
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
            let schedules = m.schedules.iter().map(|s| s.describe(now)).collect();
            self.idle.show(&IdleView {
                last,
                last_errors: &errors,
                bus_available: m.state.bus_available,
                schedules,
                stale: texts::stale_title(&m.state, &outlook, now),
                stale_detail: texts::stale_notice(&outlook, now).body,
                postponed: outlook
                    .postponed
                    .as_ref()
                    .map(|p| match texts::postponed_parts(p) {
                        (title, Some(why)) => (title, Some(why)),
                        // Nothing to say beyond the title: the line says it all.
                        (_, None) => (texts::postponed_line(p), None),
                    }),
                last_saved_at: outlook.last_saved_at,
                last_check: last_check.as_ref(),
                retention: outlook::retention(&m.settings.retention),
                now,
            });
            if self.stack.visible_child_name().as_deref() != Some(PAGE_IDLE) {
                self.stack.set_visible_child_name(PAGE_IDLE);
                self.idle.backup_button().grab_focus();
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

    /// A question before something that cannot be undone: Cancel, the
    /// default and what Escape answers, or the destructive `yes`.
    fn destructive_question(
        &self,
        heading: &str,
        body: &str,
        yes: (&str, &str),
    ) -> adw::MessageDialog {
        let dialog = adw::MessageDialog::builder()
            .transient_for(&self.window)
            .modal(true)
            .heading(heading)
            .body(body)
            .build();
        dialog.add_responses(&[("cancel", &gettext("_Cancel")), yes]);
        dialog.set_response_appearance(yes.0, adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        dialog
    }

    fn confirm_stop(self: &Rc<Self>) {
        let operation = self.model.borrow().state.running_operation();
        let (heading, body, stop) = crate::words::stop_dialog(operation.unwrap_or_default());
        let dialog = self.destructive_question(&heading, &body, ("stop", &stop));
        let weak = Rc::downgrade(self);
        dialog.connect_response(None, move |_, response| {
            if let Some(w) = weak.upgrade() {
                if response == "stop" {
                    w.stop_backup();
                }
                w.probe.changed();
            }
        });
        self.present_dialog(&dialog, &heading, &body);
    }

    /// Shows a dialog and tells the probe what it says.
    fn present_dialog(&self, dialog: &adw::MessageDialog, heading: &str, body: &str) {
        self.probe.watch_frames(dialog, false);
        dialog.present();
        self.probe.event("dialog", &format!("{heading} — {body}"));
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
            .comments(gettext(
                "Backs up your files with btrfs snapshots and restic",
            ))
            .website(env!("CARGO_PKG_REPOSITORY"))
            .issue_url(concat!(env!("CARGO_PKG_REPOSITORY"), "/issues"))
            .license_type(gtk::License::MitX11)
            .build();
        // xgettext: your names, one a line, as "Name <email>" or "Name https://…".
        let credits = gettext("translator-credits");
        if credits != "translator-credits" {
            about.set_translator_credits(&credits);
        }
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
