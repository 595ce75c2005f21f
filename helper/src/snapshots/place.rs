//! Where one snapshot of a run goes.
//!
//! A location that the configuration chose (`snapshot_prefix`,
//! `snapshot_location`) is used as it is, its missing folders made, or the
//! run is refused there. The default, next to the source, is kept when its
//! folder is root's alone. When it is not (a subvolume inside a user's home,
//! such as `/home/alice/vms`), the snapshot goes instead into a folder
//! `.igotchuu-snapshots` that igotchuu makes (root, 0700) in the nearest
//! folder above that is root's alone, such as `/home/.igotchuu-snapshots/`.

use std::ffi::OsString;
use std::path::Path;

use super::folder::{flat_name, Folder, FolderError};
use crate::config::SnapshotSpec;

/// The folder made for snapshots whose default folder others can change.
pub const OWN_FOLDER: &str = ".igotchuu-snapshots";

/// A checked folder, and the name of the snapshot to create in it.
#[derive(Debug)]
pub struct Placement {
    pub folder: Folder,
    pub name: OsString,
}

#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("{}:{line}: `{key}`: {error}", .file.display())]
    Chosen {
        file: std::path::PathBuf,
        key: String,
        line: usize,
        error: FolderError,
    },
    #[error("no folder for the snapshot of {}: {error}", .of.display())]
    Default {
        of: std::path::PathBuf,
        error: FolderError,
    },
}

/// Where the snapshot of `spec` for the run stamped `stamp` goes; `file`
/// is the configuration file, for messages.
pub fn place(spec: &SnapshotSpec, stamp: &str, file: &Path) -> Result<Placement, PlaceError> {
    let dest = spec.path_at(stamp);
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        unreachable!("path_at always ends in a name");
    };
    match &spec.chosen_at {
        Some((key, line)) => Folder::open_or_create(parent)
            .map(|folder| Placement {
                folder,
                name: name.to_owned(),
            })
            .map_err(|error| PlaceError::Chosen {
                file: file.to_owned(),
                key: key.clone(),
                line: *line,
                error,
            }),
        None => match Folder::open_or_create(parent) {
            Ok(folder) => Ok(Placement {
                folder,
                name: name.to_owned(),
            }),
            Err(untrusted @ FolderError::Untrusted { .. }) => {
                own_folder(&spec.source, &dest, untrusted)
            }
            Err(error) => Err(PlaceError::Default {
                of: spec.source.clone(),
                error,
            }),
        },
    }
}

/// The snapshot `dest` of `source` in [`OWN_FOLDER`] of the nearest folder
/// above `dest`'s own that is root's alone.
fn own_folder(source: &Path, dest: &Path, error: FolderError) -> Result<Placement, PlaceError> {
    let parent = dest.parent().expect("checked by the caller");
    let mut last_error = error;
    for base in parent.ancestors().skip(1) {
        // `base` exists, so this only looks: nothing is made in a folder
        // that turns out not to be root's.
        if let Err(error) = Folder::open_or_create(base) {
            last_error = error;
            continue;
        }
        return Folder::open_or_create(&base.join(OWN_FOLDER))
            .map(|folder| Placement {
                folder,
                name: flat_name(dest, base),
            })
            .map_err(|error| PlaceError::Default {
                of: source.to_owned(),
                error,
            });
    }
    Err(PlaceError::Default {
        of: source.to_owned(),
        error: last_error,
    })
}
