//! The object at `/com/nyantec/igotchuu`: the seed's interface, exactly,
//! plus the additions documented in `dbus/com.nyantec.igotchuu1.xml`.

// The seed's Progress and BackupComplete signals have 9 and 14 arguments.
#![allow(clippy::too_many_arguments)]

use std::future::Future;
use std::sync::{Arc, Mutex};

use igotchuu_dbus::{
    Operation, Phase, Progress, SnapshotInfo, ACTION_BROWSE, ACTION_START, ACTION_STOP,
};
use tokio::sync::{mpsc, oneshot, watch};
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::{interface, Connection};

use super::audit::{self, Polkit};
use super::authorize::authorize;
use super::browse::Browser;
use super::caller::Caller;
use super::gate::{closed_error, Gate, Leave, Refused};
use super::limits::Key;
use super::live::LiveState;
use super::restore::{RestoreCall, Restorer};
use crate::restore::RestoreJob;
use igotchuu_dbus::errors::Error as BackupError;

/// How bus callers steer the helper.
#[derive(Clone)]
pub struct Control {
    /// Asks the running backup to stop.
    pub stop: watch::Sender<bool>,
    /// Present when the helper waits for Start (D-Bus activation).
    pub start: Option<mpsc::Sender<StartRequest>>,
    /// Shared with the main task: see [`Gate`].
    pub gate: watch::Sender<Gate>,
    /// The repository mounted for browsing; absent in a helper that only
    /// announces a postponed operation.
    pub browse: Option<Arc<Browser>>,
    /// Snapshots and restores; absent as `browse` is.
    pub restore: Option<Arc<Restorer>>,
}

/// What a claimed run is.
#[derive(Debug)]
pub enum Job {
    /// Start: a backup.
    Backup,
    /// Restore or RestoreInPlace, its arguments checked.
    Restore(Box<RestoreJob>),
}

/// A Start call that passed polkit and claimed the run, for the main task
/// to accept (it takes the run lock) or refuse.
pub struct StartRequest {
    /// The caller (uid, pid, unique bus name), for the log.
    pub caller: String,
    pub reply: oneshot::Sender<Result<(), BackupError>>,
    pub job: Job,
}

pub struct BackupObject {
    pub live: Arc<Mutex<LiveState>>,
    pub control: Control,
}

impl BackupObject {
    fn live(&self) -> std::sync::MutexGuard<'_, LiveState> {
        // A panic elsewhere must not take the bus down with it.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn may_stop(&self) -> Result<(), BackupError> {
        let (phase, finished) = {
            let live = self.live();
            (live.phase, live.finished)
        };
        self.control.gate.borrow().may_stop(phase, finished)
    }
}

/// A Start call's polkit check, counted in the gate while it is out, so
/// that an activated helper does not leave while a person types a password,
/// and capped per caller (see `limits`).
pub(super) struct StartCheck<'a> {
    gate: &'a watch::Sender<Gate>,
    who: Key,
    counted: bool,
}

impl<'a> StartCheck<'a> {
    pub(super) fn begin(gate: &'a watch::Sender<Gate>, who: Key) -> Result<Self, Refused> {
        let mut begun = Ok(());
        gate.send_modify(|g| begun = g.begin_check(&who));
        begun.map(|()| StartCheck {
            gate,
            who,
            counted: true,
        })
    }

    /// Runs the check; gives up when the helper leaves. Ok means the run is
    /// claimed for this call.
    pub(super) async fn run(
        mut self,
        check: impl Future<Output = (Polkit, Result<(), BackupError>)>,
    ) -> (Polkit, Result<(), BackupError>) {
        let mut gate = self.gate.subscribe();
        let (polkit, checked) = tokio::select! {
            r = check => r,
            g = gate.wait_for(|g| g.closing().is_some()) => {
                let why = g.ok().and_then(|g| g.closing()).unwrap_or(Leave::Signal);
                (Polkit::Cancelled, Err(closed_error(why)))
            }
        };
        self.counted = false;
        let mut claimed = Ok(());
        self.gate
            .send_modify(|g| claimed = g.end_check(&self.who, checked));
        (polkit, claimed)
    }
}

impl Drop for StartCheck<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.gate.send_modify(|g| g.abandon_check(&self.who));
        }
    }
}

/// A Stop call's polkit check, capped like Start's.
pub(super) struct StopCheck<'a> {
    gate: &'a watch::Sender<Gate>,
    who: Key,
}

impl<'a> StopCheck<'a> {
    pub(super) fn begin(gate: &'a watch::Sender<Gate>, who: Key) -> Result<Self, Refused> {
        let mut begun = Ok(());
        gate.send_modify(|g| begun = g.begin_stop_check(&who));
        begun.map(|()| StopCheck { gate, who })
    }
}

impl Drop for StopCheck<'_> {
    fn drop(&mut self) {
        self.gate.send_modify(|g| g.end_stop_check(&self.who));
    }
}

pub(super) fn exiting() -> BackupError {
    BackupError::Fdo(zbus::fdo::Error::Failed(
        "the igotchuu helper exited before it could start the backup; call Start again".into(),
    ))
}

/// A caller the caps cannot count: the bus could not say its uid, most
/// likely because it has gone already.
pub(super) fn unidentified(caller: &Caller) -> (Polkit, Result<(), BackupError>) {
    (
        Polkit::NotAsked,
        Err(BackupError::Fdo(zbus::fdo::Error::AccessDenied(format!(
            "cannot identify {}: the bus does not know its uid",
            caller.name
        )))),
    )
}

/// For the audit log: a refusal before polkit.
pub(super) fn refused(r: Refused) -> (Polkit, Result<(), BackupError>) {
    let polkit = match r {
        Refused::OverLimit(_) => Polkit::OverLimit,
        Refused::Now(_) => Polkit::NotAsked,
    };
    (polkit, Err(r.into_error()))
}

impl BackupObject {
    async fn stop_for(
        &self,
        caller: &Caller,
        header: &Header<'_>,
        conn: &Connection,
    ) -> (Polkit, Result<(), BackupError>) {
        if let Err(e) = self.may_stop() {
            return (Polkit::NotAsked, Err(e));
        }
        let Some(who) = caller.key() else {
            return unidentified(caller);
        };
        let check = match StopCheck::begin(&self.control.gate, who) {
            Ok(c) => c,
            Err(r) => return refused(r),
        };
        let (polkit, authorized) =
            authorize(conn, header, caller, ACTION_STOP, "stop the running backup").await;
        drop(check);
        // The run may have moved on while polkit was asked.
        let reply = authorized.and_then(|()| self.may_stop());
        if reply.is_ok() {
            self.control.stop.send_replace(true);
        }
        (polkit, reply)
    }

    async fn start_for(
        &self,
        caller: &Caller,
        header: &Header<'_>,
        conn: &Connection,
    ) -> (Polkit, Result<(), BackupError>) {
        let Some(start) = self.control.start.as_ref() else {
            return (
                Polkit::NotAsked,
                Err(BackupError::AlreadyRunning(
                    "a backup is already running".into(),
                )),
            );
        };
        let Some(who) = caller.key() else {
            return unidentified(caller);
        };
        let check = match StartCheck::begin(&self.control.gate, who) {
            Ok(c) => c,
            Err(r) => return refused(r),
        };
        let (polkit, claimed) = check
            .run(authorize(
                conn,
                header,
                caller,
                ACTION_START,
                "start a backup",
            ))
            .await;
        if let Err(e) = claimed {
            return (polkit, Err(e));
        }
        let (reply, answer) = oneshot::channel();
        let request = StartRequest {
            caller: caller.to_string(),
            reply,
            job: Job::Backup,
        };
        // Only the call that claimed the run gets here, so there is room.
        if start.try_send(request).is_err() {
            return (polkit, Err(exiting()));
        }
        (polkit, answer.await.unwrap_or_else(|_| Err(exiting())))
    }
}

impl BackupObject {
    async fn browse_for(
        &self,
        caller: &Caller,
        header: &Header<'_>,
        conn: &Connection,
    ) -> (Polkit, Result<String, BackupError>) {
        let Some(who) = caller.key() else {
            let (polkit, e) = unidentified(caller);
            return (polkit, e.map(|()| String::new()));
        };
        let check = match StopCheck::begin(&self.control.gate, who) {
            Ok(c) => c,
            Err(r) => {
                let (polkit, e) = refused(r);
                return (polkit, e.map(|()| String::new()));
            }
        };
        let (polkit, authorized) =
            authorize(conn, header, caller, ACTION_BROWSE, "browse the backups").await;
        drop(check);
        if let Err(e) = authorized {
            return (polkit, Err(e));
        }
        let Some(browser) = &self.control.browse else {
            return (
                polkit,
                Err(BackupError::Fdo(zbus::fdo::Error::Failed(
                    "this igotchuu helper is exiting; call Browse again".into(),
                ))),
            );
        };
        (polkit, browser.open(conn, &caller.name).await)
    }
}

/// Writes the audit line of a call that returns a value (the log says
/// how it ended, never the value), and gives the reply back.
fn audited<T>(
    method: &str,
    caller: &Caller,
    polkit: Polkit,
    reply: Result<T, BackupError>,
) -> Result<T, BackupError> {
    match reply {
        Ok(v) => {
            audit::record(method, caller, polkit, &Ok(()));
            Ok(v)
        }
        Err(e) => {
            let reply = Err(e);
            audit::record(method, caller, polkit, &reply);
            reply.map(|()| unreachable!("an error"))
        }
    }
}

#[interface(name = "com.nyantec.igotchuu1")]
impl BackupObject {
    /// Mounts the repository read-only for browsing; returns where.
    #[zbus(out_args("path"))]
    async fn browse(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<String, BackupError> {
        let caller = Caller::identify(conn, &header).await;
        let (polkit, reply) = self.browse_for(&caller, &header, conn).await;
        match reply {
            Ok(path) => {
                audit::record("Browse", &caller, polkit, &Ok(()));
                Ok(path)
            }
            Err(e) => {
                let reply = Err(e);
                audit::record("Browse", &caller, polkit, &reply);
                reply.map(|()| String::new())
            }
        }
    }

    /// The repository's snapshots, newest first.
    #[zbus(out_args("snapshots"))]
    async fn snapshots(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<Vec<SnapshotInfo>, BackupError> {
        let caller = Caller::identify(conn, &header).await;
        let (polkit, reply) = self.snapshots_for(&caller, &header, conn).await;
        audited("Snapshots", &caller, polkit, reply)
    }

    /// Restores `path` of `snapshot` into the folder `target`, as the caller.
    #[zbus(out_args("restored_to"))]
    async fn restore(
        &self,
        snapshot: String,
        path: String,
        target: String,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<String, BackupError> {
        let caller = Caller::identify(conn, &header).await;
        let call = RestoreCall {
            snapshot: &snapshot,
            path: &path,
            target: Some(&target),
        };
        let (polkit, reply) = self.restore_for(&caller, &header, conn, call).await;
        audited("Restore", &caller, polkit, reply)
    }

    /// Restores `path` of `snapshot` over the original files, as root.
    async fn restore_in_place(
        &self,
        snapshot: String,
        path: String,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), BackupError> {
        let caller = Caller::identify(conn, &header).await;
        let call = RestoreCall {
            snapshot: &snapshot,
            path: &path,
            target: None,
        };
        let (polkit, reply) = self.restore_for(&caller, &header, conn, call).await;
        let reply = reply.map(|_| ());
        audit::record("RestoreInPlace", &caller, polkit, &reply);
        reply
    }

    /// The caller stops browsing; the mount goes once nobody browses.
    async fn close_browse(&self, #[zbus(header)] header: Header<'_>) {
        if let (Some(sender), Some(browser)) = (header.sender(), &self.control.browse) {
            browser.close_for(sender.as_str(), "CloseBrowse").await;
        }
    }

    /// Stops the running backup: restic is interrupted and waited for, the
    /// snapshots are deleted, and the run ends with `stopped`.
    async fn stop(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), BackupError> {
        let caller = Caller::identify(conn, &header).await;
        let (polkit, reply) = self.stop_for(&caller, &header, conn).await;
        audit::record("Stop", &caller, polkit, &reply);
        reply
    }

    /// Back up now.
    async fn start(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] conn: &Connection,
    ) -> Result<(), BackupError> {
        let caller = Caller::identify(conn, &header).await;
        let (polkit, reply) = self.start_for(&caller, &header, conn).await;
        audit::record("Start", &caller, polkit, &reply);
        reply
    }

    #[zbus(signal)]
    pub async fn backup_started(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn progress(
        emitter: &SignalEmitter<'_>,
        seconds_elapsed: u64,
        seconds_remaining: u64,
        percent_done: f64,
        total_files: u64,
        files_done: u64,
        total_bytes: u64,
        bytes_done: u64,
        error_count: u64,
        current_files: &[String],
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn backup_complete(
        emitter: &SignalEmitter<'_>,
        files_new: u64,
        files_changed: u64,
        files_unmodified: u64,
        dirs_new: u64,
        dirs_changed: u64,
        dirs_unmodified: u64,
        data_blobs: i64,
        tree_blobs: i64,
        data_added: u64,
        total_files_processed: u64,
        total_bytes_processed: u64,
        total_duration: f64,
        snapshot_id: &str,
        dry_run: bool,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn error(
        emitter: &SignalEmitter<'_>,
        error: &str,
        during: &str,
        item: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn backup_finished(
        emitter: &SignalEmitter<'_>,
        outcome: &str,
        reason: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn errors_folded(emitter: &SignalEmitter<'_>, count: u64) -> zbus::Result<()>;

    /// An operation began: "backup", "forget", "prune" or "check".
    #[zbus(signal)]
    pub async fn operation_started(
        emitter: &SignalEmitter<'_>,
        operation: &str,
    ) -> zbus::Result<()>;

    /// An operation ended; always the last signal of that operation.
    #[zbus(signal)]
    pub async fn operation_finished(
        emitter: &SignalEmitter<'_>,
        operation: &str,
        outcome: &str,
        reason: &str,
    ) -> zbus::Result<()>;

    #[zbus(property)]
    fn phase(&self) -> String {
        Phase::property_value(self.live().phase).to_owned()
    }

    #[zbus(property)]
    fn operation(&self) -> String {
        Operation::property_value(self.live().operation).to_owned()
    }

    #[zbus(property, name = "Progress")]
    fn progress_property(&self) -> Progress {
        self.live().progress.clone()
    }

    #[zbus(property)]
    fn started_at(&self) -> u64 {
        self.live().started_at
    }

    #[zbus(property)]
    fn profile(&self) -> String {
        self.live().profile.clone()
    }

    #[zbus(property)]
    fn places(&self) -> Vec<String> {
        self.live().places.clone()
    }

    #[zbus(property)]
    fn error_count(&self) -> u64 {
        self.live().error_count
    }
}
