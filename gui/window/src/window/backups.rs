//! The window's backups view at work: listing the snapshots, browsing them
//! in the file manager, and restoring. Each call may make polkit ask for a
//! password, so each runs in the background and the window goes on.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use adw::prelude::*;
use gtk::glib;
use igotchuu_dbus::{Outcome, SnapshotInfo};
use igotchuu_desktop::control::{self, Browsing, Request};
use igotchuu_desktop::i18n::{fill, gettext};
use igotchuu_desktop::{texts, Finished};

use super::{Window, CLOSE_BROWSE_WAIT, VIEW_BACKUPS, VIEW_STATUS};
use crate::clock::{self, unix_now};
use crate::restore::{self, RestoreForm};

impl Window {
    /// Asks the helper for the snapshots and shows them.
    pub(super) fn load_snapshots(self: &Rc<Self>) {
        if !self.begin_backups_call(Request::Snapshots) {
            return;
        }
        self.snapshots.show_loading();
        let weak = Rc::downgrade(self);
        glib::MainContext::default().spawn_local(async move {
            let result = control::snapshots().await;
            let Some(w) = weak.upgrade() else {
                return;
            };
            w.model.borrow_mut().backups_call = false;
            match result {
                Ok(list) => {
                    w.snapshots.show_list(&list, unix_now());
                    w.model.borrow_mut().snapshots = list;
                }
                Err(e) => {
                    tracing::info!("{e}");
                    w.snapshots.show_error(&e.to_string());
                }
            }
            w.render();
        });
    }

    /// A run may have added or removed snapshots: a list that was shown is
    /// asked for again, now if it is on screen, else when it is next shown.
    pub(super) fn snapshots_changed(self: &Rc<Self>) {
        if !self.snapshots.stale() {
            return;
        }
        if self.views.visible_child_name().as_deref() == Some(VIEW_BACKUPS) {
            self.snapshots.first_view();
            self.load_snapshots();
        }
    }

    /// Mounts the snapshots and opens them in the file manager.
    pub(super) fn browse_files(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        glib::MainContext::default().spawn_local(async move {
            let Some(w) = weak.upgrade() else {
                return;
            };
            let Some(path) = Rc::clone(&w).mount().await else {
                return;
            };
            if let Err(e) = crate::opener::open_folder(Path::new(&path)).await {
                w.toast(&fill(
                    // xgettext: {error} says why no file manager opened.
                    &gettext("The backups are in {path}, but no file manager opened: {error}"),
                    &[("path", &path), ("error", &e)],
                ));
            }
        });
    }

    /// Mounts the snapshots (or asks again, on the same connection: the
    /// mount may have gone idle) and returns the folder; `None`, with a
    /// toast saying why, when it could not be had.
    pub(super) async fn mount(self: Rc<Self>) -> Option<String> {
        if !self.begin_backups_call(Request::Browse) {
            return None;
        }
        let existing = self.model.borrow().browsing.clone();
        let result = match existing {
            Some(b) => b.reopen().await.map(|path| (b, path)),
            None => Browsing::open().await,
        };
        self.model.borrow_mut().backups_call = false;
        let path = match result {
            Ok((browsing, path)) => {
                self.model.borrow_mut().browsing = Some(browsing);
                self.probe.event("browse", &path);
                Some(path)
            }
            Err(e) => {
                tracing::info!("{e}");
                self.toast(&e.to_string());
                None
            }
        };
        self.render();
        path
    }

    /// Tells the helper that this window stops browsing; when `closing`,
    /// the window then goes (hidden at once, gone once the helper answered
    /// or [`CLOSE_BROWSE_WAIT`] passed).
    pub(super) fn stop_browsing(self: &Rc<Self>, closing: bool) {
        let Some(browsing) = self.model.borrow_mut().browsing.take() else {
            return;
        };
        self.probe.event("call", "CloseBrowse");
        if closing {
            self.window.set_visible(false);
        }
        self.render();
        let weak = Rc::downgrade(self);
        glib::MainContext::default().spawn_local(async move {
            match glib::future_with_timeout(CLOSE_BROWSE_WAIT, browsing.close()).await {
                Ok(Ok(())) => tracing::info!("stopped browsing the backups"),
                Ok(Err(e)) => tracing::info!("CloseBrowse: {e}"),
                Err(_) => tracing::info!("CloseBrowse: no answer in time"),
            }
            if let (true, Some(w)) = (closing, weak.upgrade()) {
                w.window.close();
            }
        });
    }

    /// The restore dialog for the snapshot `id`.
    pub(super) fn ask_restore(self: &Rc<Self>, id: &str) {
        let Some(snapshot) = self
            .model
            .borrow()
            .snapshots
            .iter()
            .find(|s| s.id == id)
            .cloned()
        else {
            tracing::info!("restore: no snapshot {id} in the list");
            return;
        };
        let when = clock::day_and_time(snapshot.time, unix_now());
        let (heading, body) = restore::dialog_texts(&when);
        let form = RestoreForm::new(&snapshot, &restore::default_target());
        // "Pick in the backup" browses first: the chooser opens the mount.
        let weak = Rc::downgrade(self);
        form.set_mounter(move || {
            let w = weak.upgrade();
            Box::pin(async move { w?.mount().await.map(PathBuf::from) })
        });
        let dialog = adw::MessageDialog::builder()
            .transient_for(&self.window)
            .modal(true)
            .heading(&heading)
            .body(&body)
            .extra_child(&form)
            .build();
        dialog.add_response("cancel", &gettext("_Cancel"));
        if restore::is_administrator() {
            dialog.add_response("in-place", &gettext("Restore Over the _Original…"));
            dialog.set_response_appearance("in-place", adw::ResponseAppearance::Destructive);
        }
        dialog.add_response("restore", &gettext("_Restore"));
        dialog.set_response_appearance("restore", adw::ResponseAppearance::Suggested);
        dialog.set_default_response(Some("restore"));
        dialog.set_close_response("cancel");
        let weak = Rc::downgrade(self);
        dialog.connect_response(None, move |_, response| {
            let Some(w) = weak.upgrade() else {
                return;
            };
            let path = form.path();
            match response {
                "restore" => w.start_restore(&snapshot, &path, &form.target()),
                "in-place" => w.confirm_in_place(&snapshot, &path),
                _ => {}
            }
            w.probe.changed();
        });
        self.present_dialog(&dialog, &heading, &body);
    }

    /// The second dialog before restoring over the originals: it names
    /// the path and the snapshot's time.
    fn confirm_in_place(self: &Rc<Self>, snapshot: &SnapshotInfo, path: &str) {
        let when = clock::day_and_time(snapshot.time, unix_now());
        let (heading, body, overwrite) = restore::in_place_texts(path, &when);
        let dialog = self.destructive_question(&heading, &body, ("overwrite", &overwrite));
        let weak = Rc::downgrade(self);
        let (id, path) = (snapshot.id.clone(), path.to_owned());
        dialog.connect_response(None, move |_, response| {
            if let (Some(w), "overwrite") = (weak.upgrade(), response) {
                w.start_restore_in_place(&id, &path);
            }
        });
        self.present_dialog(&dialog, &heading, &body);
    }

    fn start_restore(self: &Rc<Self>, snapshot: &SnapshotInfo, path: &str, target: &Path) {
        if !self.begin_call(Request::Restore) {
            return;
        }
        let (id, path, target) = (snapshot.id.clone(), path.to_owned(), target.to_owned());
        let weak = Rc::downgrade(self);
        glib::MainContext::default().spawn_local(async move {
            let result = control::restore(&id, &path, &target.to_string_lossy()).await;
            let Some(w) = weak.upgrade() else {
                return;
            };
            if let Ok(to) = &result {
                tracing::info!("restoring {path} of {id} to {to}");
                w.model.borrow_mut().restored_into = Some(target);
                w.views.set_visible_child_name(VIEW_STATUS);
            }
            w.end_call(result.map(|_| ()));
        });
    }

    fn start_restore_in_place(self: &Rc<Self>, id: &str, path: &str) {
        if !self.begin_call(Request::RestoreInPlace) {
            return;
        }
        let (id, path) = (id.to_owned(), path.to_owned());
        let weak = Rc::downgrade(self);
        glib::MainContext::default().spawn_local(async move {
            let result = control::restore_in_place(&id, &path).await;
            let Some(w) = weak.upgrade() else {
                return;
            };
            if result.is_ok() {
                let folder = Path::new(&path).parent().map(Path::to_owned);
                w.model.borrow_mut().restored_into = folder;
                w.views.set_visible_child_name(VIEW_STATUS);
            }
            w.end_call(result);
        });
    }

    /// A restore ended: its outcome in a toast, with the folder to open
    /// when files came back. The tray notifies too.
    pub(super) fn restore_finished(&self, f: &Finished) {
        let restored = matches!(
            f.outcome,
            Some(Outcome::Completed | Outcome::CompletedWithWarnings)
        );
        let folder = self.model.borrow().restored_into.clone();
        let notice = texts::notification(f);
        let toast = adw::Toast::builder()
            .title(glib::markup_escape_text(&notice.title).as_str())
            .timeout(0)
            .priority(adw::ToastPriority::High)
            .build();
        if restored && folder.is_some() {
            toast.set_button_label(Some(&gettext("_Open Folder")));
            toast.set_action_name(Some("app.open-restored"));
        }
        self.toasts.add_toast(toast);
        self.probe.event("toast", &notice.title);
    }

    pub(super) fn open_restored(self: &Rc<Self>) {
        let Some(folder): Option<PathBuf> = self.model.borrow().restored_into.clone() else {
            return;
        };
        let weak = Rc::downgrade(self);
        glib::MainContext::default().spawn_local(async move {
            if let (Err(e), Some(w)) = (crate::opener::open_folder(&folder).await, weak.upgrade()) {
                w.toast(&e);
            }
        });
    }

    /// Marks a Snapshots or Browse call as under way; false if one is.
    fn begin_backups_call(&self, request: Request) -> bool {
        {
            let mut m = self.model.borrow_mut();
            if m.backups_call {
                return false;
            }
            m.backups_call = true;
        }
        self.probe.event("call", &request.to_string());
        self.render();
        true
    }
}
