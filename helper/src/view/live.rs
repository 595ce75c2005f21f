//! The folders restic writes to, which must stay live (writable) in the
//! view even when they lie inside a snapshotted source: a local repository,
//! restic's cache, and the temporary folder it writes packs to.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::config::{Config, Repository};

/// The repository file holds one location; anything longer is not one.
const MAX_REPOSITORY_FILE: u64 = 64 * 1024;

/// Those of restic's writable folders that exist, as absolute paths.
pub fn live_folders(config: &Config) -> Vec<PathBuf> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut folders = Vec::new();
    folders.extend(local_repository(config));
    if let Some(cache) = cache_folder(&config.restic_args, env) {
        // restic would make it on its first run, which a read-only view
        // forbids; made here, it is live from the start.
        if let Err(e) = std::fs::create_dir_all(&cache) {
            tracing::warn!("cannot make restic's cache folder {}: {e}", cache.display());
        }
        folders.push(cache);
    }
    folders.push(env("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from));
    folders.retain(|f| f.is_absolute() && f.is_dir());
    folders
}

/// The repository's folder, when it is on this machine.
fn local_repository(config: &Config) -> Option<PathBuf> {
    repository_folder(&config.repository)
}

/// The folder `repository` names, when it is one on this machine (restic
/// also gets write access to it: `privileges`).
pub fn repository_folder(repository: &Repository) -> Option<PathBuf> {
    let location = match repository {
        Repository::Location(repo) => repo.clone(),
        Repository::File(file) => read_first_line(file)?,
    };
    local_path(&location)
}

fn read_first_line(file: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(file)
        .ok()?
        .take(MAX_REPOSITORY_FILE)
        .read_to_string(&mut text)
        .ok()?;
    text.lines().next().map(|l| l.trim().to_owned())
}

/// A repository location that names a local folder: `/path` or `local:/path`.
fn local_path(location: &str) -> Option<PathBuf> {
    let path = location.strip_prefix("local:").unwrap_or(location);
    path.starts_with('/').then(|| PathBuf::from(path))
}

/// restic's cache folder, as restic itself picks it; none with `--no-cache`.
fn cache_folder(
    restic_args: &[String],
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let mut args = restic_args.iter();
    let mut chosen = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-cache" => return None,
            "--cache-dir" => chosen = args.next().map(PathBuf::from),
            other => {
                if let Some(dir) = other.strip_prefix("--cache-dir=") {
                    chosen = Some(PathBuf::from(dir));
                }
            }
        }
    }
    chosen
        .or_else(|| env("RESTIC_CACHE_DIR").map(PathBuf::from))
        .or_else(|| env("XDG_CACHE_HOME").map(|d| Path::new(&d).join("restic")))
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".cache").join(OsStr::new("restic"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn local_repositories_are_recognised() {
        assert_eq!(local_path("/srv/repo"), Some(PathBuf::from("/srv/repo")));
        assert_eq!(
            local_path("local:/srv/repo"),
            Some(PathBuf::from("/srv/repo"))
        );
        assert_eq!(local_path("sftp:host:/srv/repo"), None);
        assert_eq!(local_path("rest:http://localhost:8000/"), None);
    }

    #[test]
    fn the_cache_folder_is_restics_choice() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let home = env(&[("HOME", "/root")]);
        assert_eq!(
            cache_folder(&[], home),
            Some(PathBuf::from("/root/.cache/restic"))
        );
        let xdg = env(&[("HOME", "/root"), ("XDG_CACHE_HOME", "/var/cache")]);
        assert_eq!(
            cache_folder(&[], xdg),
            Some(PathBuf::from("/var/cache/restic"))
        );
        let own = env(&[("RESTIC_CACHE_DIR", "/c"), ("HOME", "/root")]);
        assert_eq!(cache_folder(&[], own), Some(PathBuf::from("/c")));
        assert_eq!(
            cache_folder(&args(&["--cache-dir", "/x"]), home),
            Some(PathBuf::from("/x"))
        );
        assert_eq!(
            cache_folder(&args(&["--cache-dir=/y"]), home),
            Some(PathBuf::from("/y"))
        );
        assert_eq!(cache_folder(&args(&["--no-cache"]), home), None);
    }
}
