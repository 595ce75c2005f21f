//! What tests and the benchmark read from the window, on standard output.
//!
//! - `IGOTCHUU_BENCH=1`: one line when the first frame is painted, with the
//!   milliseconds since the process started.
//! - `IGOTCHUU_GUI_PROBE=1`: after each change, the texts that are on screen
//!   now (every mapped label, an entry's text, and the progress bar's
//!   fraction), one line.
//!   Read from the widgets themselves, so a test sees what a person sees;
//!   a button that cannot be pressed adds `insensitive <its label>`, and
//!   the widget with the keyboard focus is preceded by `focused`.
//! - `IGOTCHUU_WINDOW_SIZE=WxH`: the window's first size, for screenshots
//!   (there is no window manager to resize it on a test display).

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::rc::Rc;
use std::time::Instant;

use gtk::glib;
use gtk::prelude::*;

pub const BENCH_ENV: &str = "IGOTCHUU_BENCH";
pub const PROBE_ENV: &str = "IGOTCHUU_GUI_PROBE";
pub const SIZE_ENV: &str = "IGOTCHUU_WINDOW_SIZE";
/// How each probe line starts.
pub const PREFIX: &str = "igotchuu-gui:";
/// Separates texts in a `texts` line.
pub const SEPARATOR: char = '\t';

/// Reports for tests and the benchmark; inert unless asked for.
pub struct Probe {
    launched: Instant,
    bench: bool,
    texts: bool,
    dump_pending: Cell<bool>,
    last_dump: RefCell<String>,
}

fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

impl Probe {
    pub fn from_env(launched: Instant) -> Rc<Self> {
        Rc::new(Probe {
            launched,
            bench: flag(BENCH_ENV),
            texts: flag(PROBE_ENV),
            dump_pending: Cell::new(false),
            last_dump: RefCell::new(String::new()),
        })
    }

    /// The window's first size, when the environment asks for one.
    pub fn window_size() -> Option<(i32, i32)> {
        let v = std::env::var(SIZE_ENV).ok()?;
        let (w, h) = v.split_once('x')?;
        Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
    }

    /// Prints `first-frame <ms>` after the window's first paint (if
    /// `main`) and, when probing texts, what is on screen after every paint
    /// that changed it. Dialogs have frame clocks of their own.
    pub fn watch_frames(self: &Rc<Self>, window: &impl IsA<gtk::Widget>, main: bool) {
        if !self.bench && !self.texts {
            return;
        }
        let probe = Rc::clone(self);
        window.connect_realize(move |w| {
            let Some(clock) = w.frame_clock() else {
                return;
            };
            let probe = Rc::clone(&probe);
            let first = Cell::new(main);
            clock.connect_after_paint(move |_| {
                if first.replace(false) {
                    let ms = probe.launched.elapsed().as_secs_f64() * 1000.0;
                    emit(&format!("first-frame {ms:.1}"));
                }
                // Focus moves, rows expanding, toasts: all end in a paint.
                probe.changed();
            });
        });
    }

    /// Prints an event line, e.g. `toast You are not allowed…`.
    pub fn event(&self, what: &str, text: &str) {
        if self.texts {
            emit(&format!("{what} {}", one_line(text)));
        }
    }

    /// Prints what is on screen, once the main loop has drawn it.
    pub fn changed(self: &Rc<Self>) {
        if !self.texts || self.dump_pending.replace(true) {
            return;
        }
        let probe = Rc::clone(self);
        // After GTK's layout and drawing, which run at higher priority.
        glib::idle_add_local_full(glib::Priority::DEFAULT_IDLE, move || {
            probe.dump_pending.set(false);
            probe.dump();
            glib::ControlFlow::Break
        });
    }

    fn dump(&self) {
        let mut texts = Vec::new();
        for toplevel in gtk::Window::list_toplevels() {
            collect(&toplevel, &mut texts);
        }
        let line = texts.join(&SEPARATOR.to_string());
        if *self.last_dump.borrow() == line {
            return;
        }
        let ms = self.launched.elapsed().as_secs_f64() * 1000.0;
        emit(&format!("texts {ms:.1}{SEPARATOR}{line}"));
        *self.last_dump.borrow_mut() = line;
    }
}

fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    // A test that stopped reading must not take the window down.
    let _ = writeln!(out, "{PREFIX} {line}");
    let _ = out.flush();
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\t'], " ")
}

/// The texts of `widget` and its descendants that are drawn.
fn collect(widget: &gtk::Widget, out: &mut Vec<String>) {
    if !widget.is_drawable() {
        return;
    }
    if widget.has_focus() {
        out.push("focused".to_owned());
    }
    if let Some(label) = widget.downcast_ref::<gtk::Label>() {
        let text = one_line(label.text().trim());
        if !text.is_empty() {
            out.push(text);
        }
    } else if let Some(entry) = widget.downcast_ref::<gtk::Text>() {
        // What is typed in an entry, as a person reads it there.
        let text = one_line(entry.text().trim());
        if !text.is_empty() {
            out.push(text);
        }
    } else if let Some(bar) = widget.downcast_ref::<gtk::ProgressBar>() {
        out.push(format!("progress {:.3}", bar.fraction()));
    } else if let Some(button) = widget.downcast_ref::<gtk::Button>() {
        if let (false, Some(label)) = (button.is_sensitive(), button.label()) {
            out.push(format!("insensitive {}", label.replace('_', "")));
        }
    }
    let mut child = widget.first_child();
    while let Some(c) = child {
        collect(&c, out);
        child = c.next_sibling();
    }
}
