//! The application: one instance per session. A second launch (from the
//! tray, the app grid or a notification) activates the first, which
//! presents its window.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use gtk::prelude::*;
use gtk::{gio, glib};

use crate::probe::Probe;
use crate::window::Window;

pub const APP_ID: &str = "com.nyantec.IGotChuu";

pub fn run(launched: Instant) -> glib::ExitCode {
    let app = adw::Application::builder().application_id(APP_ID).build();
    // The one window, once built; owned here rather than in a global.
    let window: Rc<RefCell<Option<Rc<Window>>>> = Rc::default();

    app.connect_startup(|app| {
        let quit = gio::SimpleAction::new("quit", None);
        let weak_app = app.downgrade();
        quit.connect_activate(move |_, _| {
            let Some(app) = weak_app.upgrade() else {
                return;
            };
            // Through the window's close, which ends its browsing first;
            // the last window closed ends the app.
            match app.active_window() {
                Some(window) => window.close(),
                None => app.quit(),
            }
        });
        app.add_action(&quit);
        app.set_accels_for_action("app.quit", &["<Control>q"]);
        app.set_accels_for_action("window.close", &["<Control>w"]);
    });

    let w = Rc::clone(&window);
    app.connect_activate(move |app| {
        if let Some(existing) = w.borrow().as_ref() {
            tracing::info!("already running: presenting the window");
            existing.present();
            return;
        }
        let probe = Probe::from_env(launched);
        let win = Window::new(app, probe);
        let about = gio::SimpleAction::new("about", None);
        let weak = Rc::downgrade(&win);
        about.connect_activate(move |_, _| {
            if let Some(w) = weak.upgrade() {
                w.show_about();
            }
        });
        app.add_action(&about);
        // Connecting to the bus goes first: the main loop runs it while GTK
        // still sets up and draws the first frame, which waits for it.
        win.start();
        win.present();
        *w.borrow_mut() = Some(win);
    });

    // The window is all there is: closing it ends the process.
    let w = Rc::clone(&window);
    app.connect_shutdown(move |_| {
        w.borrow_mut().take();
    });
    app.run()
}
