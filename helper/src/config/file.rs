//! Reading the configuration file, refusing one that someone other than root
//! could have written: it names commands that igotchuu runs as root.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::error::{line_at, ConfigError, MAX_CONFIG_SIZE};

/// Group- and other-write bits.
const WRITABLE_BY_OTHERS: u32 = 0o022;

/// The text of `path`, after checking the file it opened: a regular file of
/// sane size, owned by root and writable by no one else. The checks use
/// fstat on the open descriptor, so the file read is the file checked.
pub(super) fn read(path: &Path) -> Result<String, ConfigError> {
    let file = OpenOptions::new()
        .read(true)
        // A FIFO would block the open until a writer comes; it is refused below.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|error| match error.kind() {
            ErrorKind::NotFound => ConfigError::Missing {
                file: path.to_owned(),
            },
            _ => ConfigError::Unreadable {
                file: path.to_owned(),
                error,
            },
        })?;
    check(&file, path)?;

    // Read one byte past the bound: the file may have grown since fstat.
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| ConfigError::Unreadable {
            file: path.to_owned(),
            error,
        })?;
    if bytes.len() as u64 > MAX_CONFIG_SIZE {
        return Err(ConfigError::TooLarge {
            file: path.to_owned(),
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        ConfigError::NotUtf8 {
            file: path.to_owned(),
            line: line_at(e.as_bytes(), bad),
        }
    })
}

fn check(file: &File, path: &Path) -> Result<(), ConfigError> {
    // `File::metadata` is fstat(2) (statx with AT_EMPTY_PATH) on the descriptor.
    let meta = file.metadata().map_err(|error| ConfigError::Unreadable {
        file: path.to_owned(),
        error,
    })?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let kind = if kind.is_dir() {
            "directory"
        } else if kind.is_fifo() {
            "FIFO"
        } else if kind.is_socket() {
            "socket"
        } else if kind.is_block_device() || kind.is_char_device() {
            "device"
        } else {
            "special file"
        };
        return Err(ConfigError::NotRegularFile {
            file: path.to_owned(),
            kind,
        });
    }
    if meta.len() > MAX_CONFIG_SIZE {
        return Err(ConfigError::TooLarge {
            file: path.to_owned(),
        });
    }
    if meta.uid() != 0 {
        return Err(ConfigError::NotOwnedByRoot {
            file: path.to_owned(),
            uid: meta.uid(),
        });
    }
    if meta.mode() & WRITABLE_BY_OTHERS != 0 {
        return Err(ConfigError::WritableByOthers {
            file: path.to_owned(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    /// A root-owned 0644 file holding `text`.
    fn config_file(text: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text).unwrap();
        file.as_file()
            .set_permissions(Permissions::from_mode(0o644))
            .unwrap();
        file
    }

    /// Ownership checks need files owned by root, and chown needs root.
    fn is_root() -> bool {
        let root = nix::unistd::geteuid().is_root();
        if !root {
            eprintln!("skipped: needs root");
        }
        root
    }

    #[test]
    fn reads_a_root_owned_file() {
        if !is_root() {
            return;
        }
        let file = config_file(b"places = [\"/home\"]\n");
        assert_eq!(read(file.path()).unwrap(), "places = [\"/home\"]\n");
    }

    #[test]
    fn missing_file_names_it_and_mentions_dash_c() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("igotchuu.toml");
        let err = read(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("-c FILE"), "{message}");
    }

    #[test]
    fn refuses_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::NotRegularFile {
                    kind: "directory",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn refuses_a_fifo_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let err = read(&path).unwrap_err();
        assert!(
            matches!(err, ConfigError::NotRegularFile { kind: "FIFO", .. }),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_a_file_not_owned_by_root() {
        if !is_root() {
            return;
        }
        let file = config_file(b"places = [\"/home\"]\n");
        nix::unistd::chown(file.path(), Some(65534.into()), Some(65534.into())).unwrap();
        let err = read(file.path()).unwrap_err();
        assert!(
            matches!(err, ConfigError::NotOwnedByRoot { uid: 65534, .. }),
            "{err:?}"
        );
        let name = file.path().display();
        assert!(
            err.to_string()
                .contains(&format!("chown root:root {name} && chmod go-w {name}")),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_file_writable_by_group_or_others() {
        if !is_root() {
            return;
        }
        for mode in [0o664, 0o646, 0o666] {
            let file = config_file(b"places = [\"/home\"]\n");
            file.as_file()
                .set_permissions(Permissions::from_mode(mode))
                .unwrap();
            let err = read(file.path()).unwrap_err();
            assert!(
                matches!(err, ConfigError::WritableByOthers { mode: m, .. } if m == mode),
                "{err:?}"
            );
            let message = err.to_string();
            assert!(message.contains(&format!("mode {mode:04o}")), "{message}");
            assert!(message.contains("chmod go-w"), "{message}");
        }
        // Readable by all, writable by root only, is fine.
        let file = config_file(b"");
        file.as_file()
            .set_permissions(Permissions::from_mode(0o444))
            .unwrap();
        assert!(read(file.path()).is_ok());
    }

    #[test]
    fn refuses_a_file_over_the_size_bound() {
        if !is_root() {
            return;
        }
        let file = config_file(&vec![b'#'; MAX_CONFIG_SIZE as usize + 1]);
        let err = read(file.path()).unwrap_err();
        assert!(matches!(err, ConfigError::TooLarge { .. }), "{err:?}");
        // Exactly at the bound is accepted.
        let file = config_file(&vec![b'#'; MAX_CONFIG_SIZE as usize]);
        assert!(read(file.path()).is_ok());
    }

    #[test]
    fn refuses_invalid_utf8_naming_the_line() {
        if !is_root() {
            return;
        }
        let file = config_file(b"places = [\"/home\"]\n# caf\xe9\n");
        let err = read(file.path()).unwrap_err();
        assert!(
            matches!(err, ConfigError::NotUtf8 { line: 2, .. }),
            "{err:?}"
        );
    }
}
