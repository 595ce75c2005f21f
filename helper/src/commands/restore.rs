//! `igotchuu snapshots`, `igotchuu restore` and the hidden
//! `igotchuu restore-copy` and `igotchuu restore-destination` that a restore
//! into a folder runs as the caller.

use std::path::{Path, PathBuf};

use crate::restore::as_caller;

use igotchuu_dbus::SnapshotInfo;

use super::Setup;
use crate::cli::Cli;
use crate::exit;
use crate::i18n::gettext;
use crate::output::format;
use crate::restore::{args, list, Credentials, RestoreJob};

/// `igotchuu restore`'s arguments, before they are checked.
pub struct Request {
    pub snapshot: String,
    pub path: PathBuf,
    /// `None` for `--in-place`.
    pub target: Option<PathBuf>,
}

/// The restore `request` asks for, checked against the repository. As
/// root (the only one who runs the helper) the copy is root's.
pub(super) async fn job(setup: &Setup, request: &Request) -> Result<RestoreJob, u8> {
    let usage = |e: args::BadArgument| {
        eprintln!("igotchuu: {e}");
        exit::USAGE
    };
    let path = request.path.to_string_lossy();
    let target = request.target.as_ref().map(|t| t.to_string_lossy());
    let (id, path, target) =
        args::check_form(&request.snapshot, &path, target.as_deref()).map_err(usage)?;
    let snapshots = list::list_all(&setup.config, &setup.state_dir)
        .await
        .map_err(super::fail)?;
    let host = crate::restic::command::backup_host(&setup.config).map_err(|e| {
        eprintln!("igotchuu: cannot tell this machine's host name: {e}");
        exit::USAGE
    })?;
    match target {
        Some(target) => args::copy_job(&snapshots, &id, &path, &target, Credentials::root(), &host),
        None => args::in_place_job(&snapshots, &id, &path, &host),
    }
    .map_err(usage)
}

/// `igotchuu snapshots`: the repository's snapshots, newest first.
pub fn snapshots(cli: &Cli) -> u8 {
    let setup = match super::setup(cli) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let listed = super::runtime().block_on(list::list(&setup.config, &setup.state_dir));
    match listed {
        Ok(list) => {
            print_list(&list);
            exit::COMPLETED
        }
        Err(e) => super::fail(e),
    }
}

fn when(unix: u64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "?".into())
}

fn print_list(list: &[SnapshotInfo]) {
    if list.is_empty() {
        println!("{}", gettext("The repository holds no snapshots."));
        return;
    }
    // xgettext: Column headings of `igotchuu snapshots`: a snapshot's short id. Headings are padded to the column (8, 19, 16, 10 and 10 characters): keep them as short.
    let id = gettext("id");
    // xgettext: Column heading: when the snapshot was taken, in UTC.
    let time = gettext("time (UTC)");
    // xgettext: Column heading: the machine that took the snapshot.
    let host = gettext("host");
    // xgettext: Column heading: the configuration profile of the snapshot.
    let profile = gettext("profile");
    // xgettext: Column heading: how much data the snapshot added to the repository (at most 10 characters).
    let added = gettext("added");
    // xgettext: Column heading: the folders in the snapshot.
    let paths = gettext("paths");
    println!("{id:<8}  {time:<19}  {host:<16}  {profile:<10}  {added:>10}  {paths}");
    for s in list {
        let added = if s.size_known {
            format::bytes(s.data_added)
        } else {
            "?".into()
        };
        println!(
            "{:<8}  {:<19}  {:<16}  {:<10}  {:>10}  {}",
            s.id.get(..8).unwrap_or(&s.id),
            when(s.time),
            s.hostname,
            s.profile,
            added,
            s.paths.join(", ")
        );
    }
}

/// `igotchuu restore-copy`, as the caller.
pub fn copy() -> u8 {
    match as_caller::paths(as_caller::COPY) {
        Some([source, dest]) => crate::restore::copier::run(Path::new(&source), Path::new(&dest)),
        None => 2,
    }
}

/// `igotchuu restore-destination`, as the caller.
pub fn destination() -> u8 {
    match as_caller::paths(as_caller::LOOK) {
        Some([target, name]) => as_caller::look(Path::new(&target), &name),
        None => 2,
    }
}
