//! The restore dialog: what to restore from a snapshot (one of its places,
//! or any path inside it, typed or picked in the browsed backup) and the
//! folder that the copy goes into; for administrators also "Restore Over
//! the Original…", after a second dialog that names what will be
//! overwritten. The choices are a composite template,
//! `data/ui/restore_form.ui`, inside an AdwMessageDialog (libadwaita 1.2).

use std::cell::RefCell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};
use igotchuu_dbus::SnapshotInfo;
use igotchuu_desktop::i18n::{fill, gettext};

use crate::pages::glib_escape;

/// Mounts the snapshots for browsing and gives the folder, if it can.
pub type Mounter = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<PathBuf>>>>>;

/// The groups whose members administer the machine on Debian (sudo),
/// Fedora and Arch (wheel), and Ubuntu before 12.04 (admin).
const ADMIN_GROUPS: [&str; 3] = ["sudo", "wheel", "admin"];

mod imp {
    use super::*;

    #[derive(Default, gtk::CompositeTemplate)]
    #[template(resource = "/com/nyantec/IGotChuu/ui/restore_form.ui")]
    pub struct RestoreForm {
        #[template_child]
        pub path_row: TemplateChild<adw::EntryRow>,
        #[template_child]
        pub target_row: TemplateChild<adw::ActionRow>,
        #[template_child]
        pub target_button: TemplateChild<gtk::Button>,
        #[template_child]
        pub pick_file: TemplateChild<gtk::Button>,
        #[template_child]
        pub pick_folder: TemplateChild<gtk::Button>,
        pub target: RefCell<PathBuf>,
        /// The snapshot's full id.
        pub id: RefCell<String>,
        pub mounter: RefCell<Option<Mounter>>,
        /// Kept while it is open: GTK holds no reference to a native dialog.
        pub chooser: RefCell<Option<gtk::FileChooserNative>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for RestoreForm {
        const NAME: &'static str = "IgcRestoreForm";
        type Type = super::RestoreForm;
        type ParentType = adw::Bin;

        fn class_init(klass: &mut Self::Class) {
            klass.bind_template();
        }

        fn instance_init(obj: &glib::subclass::InitializingObject<Self>) {
            obj.init_template();
        }
    }

    impl ObjectImpl for RestoreForm {
        fn constructed(&self) {
            self.parent_constructed();
            let form = self.obj().downgrade();
            self.target_button.connect_clicked(move |_| {
                if let Some(f) = form.upgrade() {
                    f.choose_target();
                }
            });
            for (button, action) in [
                (&self.pick_file, gtk::FileChooserAction::Open),
                (&self.pick_folder, gtk::FileChooserAction::SelectFolder),
            ] {
                let form = self.obj().downgrade();
                button.connect_clicked(move |_| {
                    if let Some(f) = form.upgrade() {
                        f.pick_in_backup(action);
                    }
                });
            }
        }
    }
    impl WidgetImpl for RestoreForm {}
    impl BinImpl for RestoreForm {}
}

glib::wrapper! {
    /// What to restore and where to.
    pub struct RestoreForm(ObjectSubclass<imp::RestoreForm>)
        @extends adw::Bin, gtk::Widget,
        @implements gtk::Buildable, gtk::ConstraintTarget;
}

impl RestoreForm {
    /// The first place of `snapshot` to restore, into `target`.
    pub fn new(snapshot: &SnapshotInfo, target: &Path) -> Self {
        let form: Self = glib::Object::new();
        let path = snapshot
            .paths
            .first()
            .cloned()
            .unwrap_or_else(|| "/".into());
        form.imp().path_row.set_text(&path);
        *form.imp().id.borrow_mut() = snapshot.id.clone();
        form.set_target(target);
        form
    }

    /// How "Pick in the backup" gets the browsed folder.
    pub fn set_mounter<F>(&self, mounter: impl Fn() -> Pin<Box<F>> + 'static)
    where
        F: Future<Output = Option<PathBuf>> + 'static,
    {
        let m: Mounter =
            Rc::new(move || -> Pin<Box<dyn Future<Output = Option<PathBuf>>>> { mounter() });
        *self.imp().mounter.borrow_mut() = Some(m);
    }

    /// A file or folder chooser in this snapshot's folder of the browsed
    /// backups; what is picked there becomes the path as it was backed up.
    fn pick_in_backup(&self, action: gtk::FileChooserAction) {
        let Some(mounter) = self.imp().mounter.borrow().clone() else {
            return;
        };
        let form = self.downgrade();
        glib::MainContext::default().spawn_local(async move {
            let Some(mount) = mounter().await else {
                return;
            };
            let Some(form) = form.upgrade() else {
                return;
            };
            let root = snapshot_root(&mount, &form.imp().id.borrow());
            let start = original_in(&root, &form.path());
            form.open_picker(action, &root, &start);
        });
    }

    fn open_picker(&self, action: gtk::FileChooserAction, root: &Path, start: &Path) {
        let parent = self.root().and_downcast::<gtk::Window>();
        let title = match action {
            gtk::FileChooserAction::SelectFolder => gettext("Pick a Folder in the Backup"),
            _ => gettext("Pick a File in the Backup"),
        };
        let chooser = gtk::FileChooserNative::new(
            Some(&title),
            parent.as_ref(),
            action,
            Some(&gettext("_Select")),
            Some(&gettext("_Cancel")),
        );
        chooser.set_modal(true);
        let folder = if start.is_dir() { start } else { root };
        let _ = chooser.set_current_folder(Some(&gio::File::for_path(folder)));
        let form = self.downgrade();
        let root = root.to_owned();
        chooser.connect_response(move |c, response| {
            let Some(form) = form.upgrade() else {
                return;
            };
            if response == gtk::ResponseType::Accept {
                let picked = c.file().and_then(|f| f.path());
                match picked.as_deref().and_then(|p| backed_up_path(&root, p)) {
                    Some(original) => {
                        form.imp().path_row.remove_css_class("error");
                        form.imp().path_row.set_text(&original);
                    }
                    // Outside this snapshot: not something it can restore.
                    None => form.imp().path_row.add_css_class("error"),
                }
            }
            form.imp().chooser.borrow_mut().take();
        });
        chooser.show();
        *self.imp().chooser.borrow_mut() = Some(chooser);
    }

    /// The path to restore, as it was backed up.
    pub fn path(&self) -> String {
        self.imp().path_row.text().trim().to_owned()
    }

    pub fn target(&self) -> PathBuf {
        self.imp().target.borrow().clone()
    }

    fn set_target(&self, target: &Path) {
        self.imp()
            .target_row
            .set_subtitle(&glib_escape(&target.display().to_string()));
        *self.imp().target.borrow_mut() = target.to_owned();
    }

    /// A folder chooser: the portal's where there is one, else GTK's.
    fn choose_target(&self) {
        let parent = self.root().and_downcast::<gtk::Window>();
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Copy Into")),
            parent.as_ref(),
            gtk::FileChooserAction::SelectFolder,
            Some(&gettext("_Select")),
            Some(&gettext("_Cancel")),
        );
        chooser.set_modal(true);
        let _ = chooser.set_current_folder(Some(&gio::File::for_path(self.target())));
        let form = self.downgrade();
        chooser.connect_response(move |c, response| {
            let Some(form) = form.upgrade() else {
                return;
            };
            if response == gtk::ResponseType::Accept {
                if let Some(path) = c.file().and_then(|f| f.path()) {
                    form.set_target(&path);
                }
            }
            form.imp().chooser.borrow_mut().take();
        });
        chooser.show();
        *self.imp().chooser.borrow_mut() = Some(chooser);
    }
}

/// The folder of snapshot `id` in restic's mount: `ids/` and its short id.
pub fn snapshot_root(mount: &Path, id: &str) -> PathBuf {
    mount.join("ids").join(id.get(..8).unwrap_or(id))
}

/// Where `original` (absolute, as backed up) is below `root`.
fn original_in(root: &Path, original: &str) -> PathBuf {
    root.join(original.trim_start_matches('/'))
}

/// The path as it was backed up, of `picked` below `root`; `None` outside.
pub fn backed_up_path(root: &Path, picked: &Path) -> Option<String> {
    let rest = picked.strip_prefix(root).ok()?;
    Some(format!("/{}", rest.display()))
}

/// Where a copy goes unless the person picks another folder: their
/// Downloads folder, else their home.
pub fn default_target() -> PathBuf {
    glib::user_special_dir(glib::UserDirectory::Downloads)
        .filter(|d| d.is_dir())
        .unwrap_or_else(glib::home_dir)
}

/// Whether the person may restore over the original files: root, or a
/// member of an administrators' group (polkit's auth_admin asks them for
/// their password; others would be asked for someone else's).
pub fn is_administrator() -> bool {
    use std::os::unix::fs::MetadataExt;
    // The owner of one's own /proc entry is one's user.
    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        return true;
    }
    let Ok(out) = std::process::Command::new("id").arg("-Gn").output() else {
        return false;
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .any(|g| ADMIN_GROUPS.contains(&g))
}

/// The restore dialog's words: heading and body.
pub fn dialog_texts(when: &str) -> (String, String) {
    (
        gettext("Restore Files"),
        fill(
            &gettext(
                "Choose a file or folder of the backup of {time} and the folder that the copy goes into. Only files that you may read are restored, and the copy is yours.",
            ),
            &[("time", when)],
        ),
    )
}

/// The confirmation before restoring over the originals: heading, body and
/// the destructive button, naming what is overwritten.
pub fn in_place_texts(path: &str, when: &str) -> (String, String, String) {
    (
        gettext("Overwrite the Original Files?"),
        fill(
            &gettext(
                "{path} is overwritten with its state of {time}: files that exist now are replaced, with their owners and permissions of then. Files made since then stay. This cannot be undone.",
            ),
            &[("path", path), ("time", when)],
        ),
        gettext("_Overwrite"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_picked_in_the_mount_is_the_path_as_backed_up() {
        let root = snapshot_root(Path::new("/run/igotchuu/browse/1"), &"ab".repeat(32));
        assert_eq!(root, Path::new("/run/igotchuu/browse/1/ids/abababab"));
        let picked = root.join("home/alice/Documents/thesis.odt");
        assert_eq!(
            backed_up_path(&root, &picked).as_deref(),
            Some("/home/alice/Documents/thesis.odt")
        );
        assert_eq!(backed_up_path(&root, &root).as_deref(), Some("/"));
        assert_eq!(backed_up_path(&root, Path::new("/home/alice")), None);
        let other = Path::new("/run/igotchuu/browse/1/ids/cdcdcdcd/home");
        assert_eq!(backed_up_path(&root, other), None);
        assert_eq!(original_in(&root, "/home"), root.join("home"));
    }
}
