//! The restore dialog: what to restore from a snapshot (one of its places,
//! or any path inside it, typed or picked in the browsed backup) and the
//! folder that the copy goes into; for administrators also "Restore Over
//! the Original…", after a second dialog that names what will be
//! overwritten. The choices are a composite template,
//! `data/ui/restore_form.ui`, inside an AdwMessageDialog (libadwaita 1.2).

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use adw::prelude::*;
use adw::subclass::prelude::*;
use gtk::{gio, glib};
use igotchuu_dbus::SnapshotInfo;
use igotchuu_desktop::i18n::{fill, gettext};

use crate::pages::glib_escape;

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
        pub target: RefCell<PathBuf>,
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
        form.set_target(target);
        form
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
