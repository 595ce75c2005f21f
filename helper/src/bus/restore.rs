//! The Snapshots, Restore and RestoreInPlace methods (issue 13).
//!
//! - Snapshots lists every host's snapshots for whoever polkit allows to
//!   browse; the helper stays while it answers (`Gate::set_busy`).
//! - Restore and RestoreInPlace are runs, like Start: the form of the
//!   arguments is checked first (it says nothing about the repository),
//!   then polkit is asked, then the snapshot, path and target are checked
//!   against the repository and the file system, all while the call counts
//!   as a pending Start; the first allowed call claims the run and the
//!   main task runs it (`run::restore`). The caller's uid and groups come
//!   from the bus daemon, which took them from the kernel.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use igotchuu_dbus::errors::Error as BackupError;
use igotchuu_dbus::{SnapshotInfo, ACTION_BROWSE, ACTION_RESTORE, ACTION_RESTORE_IN_PLACE};
use tokio::sync::{oneshot, watch};
use zbus::fdo;
use zbus::message::Header;
use zbus::names::BusName;
use zbus::Connection;

use super::audit::Polkit;
use super::authorize::{authorize, authorize_with};
use super::caller::Caller;
use super::gate::Gate;
use super::object::{exiting, refused, unidentified, BackupObject, StartCheck, StopCheck};
use super::{Job, StartRequest};
use crate::config::Config;
use crate::restore::args::{self, BadArgument};
use crate::restore::{list, Credentials, RestoreJob};

/// What the methods need of the helper: the configuration (the repository)
/// and where the history is.
pub struct Restorer {
    config: Config,
    state_dir: PathBuf,
    /// restic runs on tokio's executor, the bus calls come on zbus's.
    runtime: tokio::runtime::Handle,
}

fn failed(message: String) -> BackupError {
    BackupError::Fdo(fdo::Error::Failed(message))
}

fn invalid(e: BadArgument) -> BackupError {
    BackupError::Fdo(fdo::Error::InvalidArgs(e.to_string()))
}

impl Restorer {
    /// Call it in the tokio runtime.
    pub fn new(config: Config, state_dir: PathBuf) -> Arc<Self> {
        Arc::new(Restorer {
            config,
            state_dir,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// The repository's snapshots, newest first, with the history's runs.
    pub async fn list(self: &Arc<Self>) -> Result<Vec<SnapshotInfo>, BackupError> {
        self.listed(false).await
    }

    /// Every snapshot, not only what a reply carries: to resolve an id.
    pub async fn list_all(self: &Arc<Self>) -> Result<Vec<SnapshotInfo>, BackupError> {
        self.listed(true).await
    }

    async fn listed(self: &Arc<Self>, all: bool) -> Result<Vec<SnapshotInfo>, BackupError> {
        let me = self.clone();
        self.runtime
            .spawn(async move {
                if all {
                    list::list_all(&me.config, &me.state_dir).await
                } else {
                    list::list(&me.config, &me.state_dir).await
                }
            })
            .await
            .map_err(|e| failed(format!("Snapshots failed: {e}")))?
            .map_err(failed)
    }
}

/// Counts a call as keeping the helper, until dropped.
struct Busy<'a>(&'a watch::Sender<Gate>);

impl<'a> Busy<'a> {
    fn begin(gate: &'a watch::Sender<Gate>) -> Self {
        gate.send_modify(|g| g.set_busy(true));
        Busy(gate)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|g| g.set_busy(false));
    }
}

/// The caller's user and groups, as the bus daemon knows them.
async fn caller_credentials(
    conn: &Connection,
    header: &Header<'_>,
) -> Result<Credentials, BackupError> {
    let denied = |why: String| BackupError::Fdo(fdo::Error::AccessDenied(why));
    let sender = header
        .sender()
        .ok_or_else(|| denied("the call has no sender".into()))?;
    let dbus = fdo::DBusProxy::new(conn)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let credentials = dbus
        .get_connection_credentials(BusName::Unique(sender.clone()))
        .await
        .map_err(|e| denied(format!("cannot identify {sender}: {e}")))?;
    let uid = credentials
        .unix_user_id()
        .ok_or_else(|| denied(format!("the bus does not know the uid of {sender}")))?;
    let groups = credentials.unix_group_ids().map(|g| g.as_slice());
    args::credentials(uid, groups).map_err(denied)
}

/// A restore: into `target` as the caller, or in place when it is `None`.
pub struct RestoreCall<'a> {
    pub snapshot: &'a str,
    pub path: &'a str,
    pub target: Option<&'a str>,
}

impl BackupObject {
    pub(super) async fn snapshots_for(
        &self,
        caller: &Caller,
        header: &Header<'_>,
        conn: &Connection,
    ) -> (Polkit, Result<Vec<SnapshotInfo>, BackupError>) {
        let Some(who) = caller.key() else {
            let (polkit, e) = unidentified(caller);
            return (polkit, e.map(|()| Vec::new()));
        };
        let _busy = Busy::begin(&self.control.gate);
        let check = match StopCheck::begin(&self.control.gate, who) {
            Ok(c) => c,
            Err(r) => {
                let (polkit, e) = refused(r);
                return (polkit, e.map(|()| Vec::new()));
            }
        };
        let (polkit, authorized) =
            authorize(conn, header, caller, ACTION_BROWSE, "list the backups").await;
        drop(check);
        if let Err(e) = authorized {
            return (polkit, Err(e));
        }
        let Some(restorer) = &self.control.restore else {
            return (
                polkit,
                Err(failed(
                    "this igotchuu helper is exiting; call Snapshots again".into(),
                )),
            );
        };
        (polkit, restorer.list().await)
    }

    pub(super) async fn restore_for(
        &self,
        caller: &Caller,
        header: &Header<'_>,
        conn: &Connection,
        call: RestoreCall<'_>,
    ) -> (Polkit, Result<String, BackupError>) {
        let Some(start) = self.control.start.as_ref() else {
            return (
                Polkit::NotAsked,
                Err(BackupError::AlreadyRunning(
                    "another igotchuu operation is running".into(),
                )),
            );
        };
        let Some(who) = caller.key() else {
            let (polkit, e) = unidentified(caller);
            return (polkit, e.map(|()| String::new()));
        };
        let (id, path, target) = match args::check_form(call.snapshot, call.path, call.target) {
            Ok(checked) => checked,
            Err(e) => return (Polkit::NotAsked, Err(invalid(e))),
        };
        let Some(restorer) = self.control.restore.clone() else {
            return (Polkit::NotAsked, Err(exiting()));
        };
        let check = match StartCheck::begin(&self.control.gate, who) {
            Ok(c) => c,
            Err(r) => {
                let (polkit, e) = refused(r);
                return (polkit, e.map(|()| String::new()));
            }
        };
        // The audit line names the caller; this one what they asked for.
        tracing::info!(
            "{} from {caller}: snapshot {id:?}, path {path:?}, target {target:?}",
            if target.is_some() {
                "Restore"
            } else {
                "RestoreInPlace"
            }
        );
        let (action, what) = match target {
            Some(_) => (ACTION_RESTORE, "restore files from a backup"),
            None => (ACTION_RESTORE_IN_PLACE, "restore files over the originals"),
        };
        let mut job: Option<RestoreJob> = None;
        let checked = async {
            // Shown in polkit's dialog: what would be restored, and where.
            let (path_text, target_text) = (
                path.display().to_string(),
                target.as_ref().map(|t| t.display().to_string()),
            );
            let mut details =
                HashMap::from([("snapshot", id.as_str()), ("path", path_text.as_str())]);
            if let Some(t) = &target_text {
                details.insert("target", t);
            }
            let (polkit, authorized) =
                authorize_with(conn, header, caller, action, what, details).await;
            if let Err(e) = authorized {
                return (polkit, Err(e));
            }
            let made = async {
                let snapshots = restorer.list_all().await?;
                let host = crate::restic::command::backup_host(&restorer.config)
                    .map_err(|e| failed(format!("cannot tell this machine's host name: {e}")))?;
                let user = match target {
                    Some(_) => Some(caller_credentials(conn, header).await?),
                    None => None,
                };
                // The file system is looked at (a walk of the tree, for an
                // in-place restore) off the bus's executor.
                let (id, path, target) = (id.clone(), path.clone(), target.clone());
                restorer
                    .runtime
                    .spawn_blocking(move || match (target, user) {
                        (Some(target), Some(user)) => {
                            args::copy_job(&snapshots, &id, &path, &target, user, &host)
                        }
                        _ => args::in_place_job(&snapshots, &id, &path, &host),
                    })
                    .await
                    .map_err(|e| failed(format!("the restore could not be checked: {e}")))?
                    .map_err(invalid)
            };
            match made.await {
                Ok(j) => {
                    job = Some(j);
                    (polkit, Ok(()))
                }
                Err(e) => (polkit, Err(e)),
            }
        };
        let (polkit, claimed) = check.run(checked).await;
        if let Err(e) = claimed {
            return (polkit, Err(e));
        }
        let job = job.expect("a claimed restore has its job");
        let restored_to = job.destination().display().to_string();
        let (reply, answer) = oneshot::channel();
        let request = StartRequest {
            caller: caller.to_string(),
            reply,
            job: Job::Restore(Box::new(job)),
        };
        if start.try_send(request).is_err() {
            return (polkit, Err(exiting()));
        }
        let answered = answer.await.unwrap_or_else(|_| Err(exiting()));
        (polkit, answered.map(|()| restored_to))
    }
}
