//! Republishing the run's events on the system bus.
//!
//! The sink side runs on the run's task and never blocks: it keeps the
//! live state exact, and decides what is worth a signal. Progress is
//! coalesced to a few signals a second (the first and the last are always
//! sent, and one held back goes out when its interval is over, see
//! `throttle.rs`); item errors pass a token bucket, and those held back are counted
//! in an `ErrorsFolded` signal. The bus side sends them on its own task,
//! and survives losing the bus: the backup goes on, and it reconnects.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::borrow::Cow;
use std::collections::HashMap;

use enumflags2::BitFlags;
use igotchuu_dbus::{
    redact, ItemError, Operation, Outcome, Phase, Progress, BUS_NAME, INTERFACE, OBJECT_PATH,
    PUBLIC_OBJECT_PATH,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zbus::fdo::{DBusProxy, NameLostStream, RequestNameFlags, RequestNameReply};
use zbus::names::{BusName, WellKnownName};
use zbus::object_server::InterfaceRef;
use zbus::Connection;

use super::live::{Changed, LiveState};
use super::object::{BackupObject, Control};
use super::public::PublicObject;
use super::throttle::{Due, Offer, ProgressThrottle};
use crate::events::{Event, EventSink};

/// At most this many Progress signals a second.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// Item errors: a burst of this many, then `ERRORS_PER_SECOND`.
const ERROR_BURST: f64 = 20.0;
const ERRORS_PER_SECOND: f64 = 10.0;
/// Signals waiting for the bus. Beyond this (a stalled bus), progress and
/// item errors are folded instead of queued, so memory stays bounded.
const MAX_QUEUED: usize = 256;
/// How often to try the bus again after losing it.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(3);

/// How the helper holds its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRole {
    /// A run: it takes the name even from a helper that only waits for
    /// Start (whoever sent to the name may have had it activated), and it
    /// lets nobody take it.
    Run,
    /// An activated helper waiting for Start: any run may take the name.
    Standby,
}

impl NameRole {
    fn flags(self) -> BitFlags<RequestNameFlags> {
        // Never queue: a second run is refused, not kept waiting.
        match self {
            NameRole::Run => RequestNameFlags::ReplaceExisting | RequestNameFlags::DoNotQueue,
            NameRole::Standby => RequestNameFlags::AllowReplacement | RequestNameFlags::DoNotQueue,
        }
    }
}

/// Why the helper could not take its place on the bus.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("another igotchuu backup is running: {BUS_NAME} is already owned on the system bus")]
    NameTaken,
    #[error("{0}")]
    NoBus(zbus::Error),
}

enum Outgoing {
    OperationStarted(Operation),
    Started,
    /// The phase as it was when it changed: the property may have moved on.
    Phase(Option<Phase>),
    Progress(Progress),
    /// The Progress property changed, without a Progress signal (a restore).
    ProgressProperty,
    /// A report is held back: the bus task sends it at this time if no
    /// newer one has gone out by then.
    WakeAt(Instant),
    Error(ItemError),
    Folded(u64),
    Finished {
        outcome: Outcome,
        reason: String,
        complete: Option<igotchuu_dbus::Summary>,
    },
    OperationFinished {
        operation: Operation,
        outcome: Outcome,
        reason: String,
    },
}

/// The helper's connection, before the run starts.
pub struct Publisher {
    conn: Connection,
    live: Arc<Mutex<LiveState>>,
    control: Control,
}

impl Publisher {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured),
    /// serves the object and takes the name, without queueing for it.
    pub async fn attach(
        live: Arc<Mutex<LiveState>>,
        control: Control,
        role: NameRole,
    ) -> Result<Self, AttachError> {
        let conn = connect(&live, &control, role).await?;
        Ok(Publisher {
            conn,
            live,
            control,
        })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// NameLost for the helper's name: a run took it from a standby helper.
    pub async fn name_lost(&self) -> zbus::Result<NameLostStream> {
        DBusProxy::new(&self.conn)
            .await?
            .receive_name_lost_with_args(&[(0, BUS_NAME)])
            .await
    }

    /// Whether this connection owns the helper's name now.
    pub async fn owns_name(&self) -> bool {
        let owner = async {
            DBusProxy::new(&self.conn)
                .await?
                .get_name_owner(BusName::WellKnown(
                    WellKnownName::from_static_str_unchecked(BUS_NAME),
                ))
                .await
        };
        match (owner.await, self.conn.unique_name()) {
            (Ok(owner), Some(me)) => owner.as_str() == me.as_str(),
            _ => false,
        }
    }

    /// A standby helper's run was accepted: from now on nobody may take the
    /// name. The bus updates the flags of a name's owner that asks again.
    pub async fn hold_name(&self) {
        let held = async {
            DBusProxy::new(&self.conn)
                .await?
                .request_name(
                    WellKnownName::from_static_str_unchecked(BUS_NAME),
                    NameRole::Run.flags(),
                )
                .await
        };
        match held.await {
            Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => {}
            Ok(reply) => tracing::warn!(
                "{BUS_NAME} is no longer this helper's ({reply:?}); backing up anyway"
            ),
            Err(e) => tracing::warn!("cannot keep {BUS_NAME} from being taken over: {e}"),
        }
    }

    /// Gives the name up, so that the next call to it activates a new
    /// helper. The reply also means that the bus has what was sent before.
    pub async fn release_name(&self) {
        release_name(&self.conn).await;
    }

    /// Starts the bus task; returns the sink that feeds it.
    pub fn start(self) -> (BusSink, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let throttle = Arc::new(Mutex::new(ProgressThrottle::new(PROGRESS_INTERVAL)));
        let task = tokio::spawn(
            BusTask {
                conn: Some(self.conn),
                iface: None,
                public: None,
                live: self.live.clone(),
                control: self.control,
                queued: queued.clone(),
                throttle: throttle.clone(),
                announced_errors: None,
            }
            .run(rx),
        );
        (BusSink::new(tx, queued, self.live, throttle), task)
    }
}

/// Gives the helper's name up on `conn`, and waits for the bus to say so.
pub async fn release_name(conn: &Connection) {
    let released = async {
        DBusProxy::new(conn)
            .await?
            .release_name(WellKnownName::from_static_str_unchecked(BUS_NAME))
            .await
    };
    if let Err(e) = released.await {
        tracing::debug!("releasing {BUS_NAME}: {e}");
    }
}

async fn connect(
    live: &Arc<Mutex<LiveState>>,
    control: &Control,
    role: NameRole,
) -> Result<Connection, AttachError> {
    let object = BackupObject {
        live: live.clone(),
        control: control.clone(),
    };
    let public = PublicObject { live: live.clone() };
    let conn = zbus::connection::Builder::system()
        .and_then(|b| b.serve_at(OBJECT_PATH, object))
        .and_then(|b| b.serve_at(PUBLIC_OBJECT_PATH, public))
        .map_err(AttachError::NoBus)?
        .build()
        .await
        .map_err(AttachError::NoBus)?;
    match conn.request_name_with_flags(BUS_NAME, role.flags()).await {
        Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => Ok(conn),
        // zbus turns the bus's Exists reply into an error of its own.
        Ok(_) | Err(zbus::Error::NameTaken) => Err(AttachError::NameTaken),
        Err(e) => Err(AttachError::NoBus(e)),
    }
}

/// The run's side: decides what is sent.
pub struct BusSink {
    tx: mpsc::UnboundedSender<Outgoing>,
    queued: Arc<AtomicUsize>,
    live: Arc<Mutex<LiveState>>,
    throttle: Arc<Mutex<ProgressThrottle>>,
    tokens: f64,
    tokens_at: Instant,
    folded: u64,
    /// When the Progress property of a restore was last announced.
    property_at: Option<Instant>,
}

impl BusSink {
    fn new(
        tx: mpsc::UnboundedSender<Outgoing>,
        queued: Arc<AtomicUsize>,
        live: Arc<Mutex<LiveState>>,
        throttle: Arc<Mutex<ProgressThrottle>>,
    ) -> Self {
        BusSink {
            tx,
            queued,
            live,
            throttle,
            tokens: ERROR_BURST,
            tokens_at: Instant::now(),
            folded: 0,
            property_at: None,
        }
    }

    fn send(&self, out: Outgoing) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(out).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn congested(&self) -> bool {
        self.queued.load(Ordering::Relaxed) >= MAX_QUEUED
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, ProgressThrottle> {
        self.throttle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn progress(&mut self, p: &Progress) {
        let may_send = !self.congested();
        let offer = self.throttle().offer(p, Instant::now(), may_send);
        match offer {
            Offer::Send(p) => self.send(Outgoing::Progress(p)),
            Offer::Hold(Some(at)) => self.send(Outgoing::WakeAt(at)),
            Offer::Hold(None) => {}
        }
    }

    fn item_error(&mut self, e: &ItemError) {
        let now = Instant::now();
        let refill = now.duration_since(self.tokens_at).as_secs_f64() * ERRORS_PER_SECOND;
        self.tokens = (self.tokens + refill).min(ERROR_BURST);
        self.tokens_at = now;
        if self.tokens >= 1.0 && !self.congested() {
            self.tokens -= 1.0;
            self.flush_folded();
            self.send(Outgoing::Error(e.clone()));
        } else {
            self.folded += 1;
        }
    }

    /// Sends what was held back, before an event that must follow it.
    fn flush(&mut self) {
        let held = self.throttle().flush(Instant::now());
        if let Some(p) = held {
            self.send(Outgoing::Progress(p));
        }
        self.flush_folded();
    }

    fn flush_folded(&mut self) {
        if self.folded > 0 {
            let folded = std::mem::take(&mut self.folded);
            self.send(Outgoing::Folded(folded));
        }
    }
}

impl EventSink for BusSink {
    fn handle(&mut self, event: &Event) {
        let not_a_backup = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            let _: Changed = live.apply(event);
            live.operation.is_some_and(|o| o != Operation::Backup)
        };
        match event {
            // The seed's Progress signal is a backup's: a restore's, a
            // prune's or a check's shows in the property alone, at most
            // every PROGRESS_INTERVAL.
            Event::Progress(_) if not_a_backup => {
                let due = self
                    .property_at
                    .is_none_or(|at| at.elapsed() >= PROGRESS_INTERVAL);
                if due && !self.congested() {
                    self.property_at = Some(Instant::now());
                    self.send(Outgoing::ProgressProperty);
                }
            }
            Event::Progress(p) => self.progress(p),
            Event::ItemError(e) => self.item_error(e),
            Event::Started(_) => self.send(Outgoing::Started),
            Event::PhaseChanged(phase) => {
                self.flush();
                self.send(Outgoing::Phase(Some(*phase)));
            }
            Event::Finished(f) => {
                self.flush();
                let complete = f.summary.clone().filter(|_| f.outcome.saved_snapshot());
                self.send(Outgoing::Finished {
                    outcome: f.outcome,
                    reason: f.reason.clone(),
                    complete,
                });
            }
            Event::OperationStarted(info) => {
                self.flush();
                self.send(Outgoing::OperationStarted(info.operation));
            }
            Event::OperationFinished(end) => {
                self.flush();
                if end.operation != Operation::Backup && self.property_at.take().is_some() {
                    self.send(Outgoing::ProgressProperty);
                }
                self.send(Outgoing::OperationFinished {
                    operation: end.operation,
                    outcome: end.outcome,
                    reason: end.reason.clone(),
                });
            }
            Event::Notice(_) => {}
        }
    }
}

/// The seed's Progress signal on either object (the interface is the same).
async fn send_progress(
    em: &zbus::object_server::SignalEmitter<'_>,
    p: &Progress,
) -> zbus::Result<()> {
    BackupObject::progress(
        em,
        p.seconds_elapsed,
        p.seconds_remaining,
        p.percent_done,
        p.total_files,
        p.files_done,
        p.total_bytes,
        p.bytes_done,
        p.error_count,
        &p.current_files,
    )
    .await
}

/// The seed's BackupComplete signal on either object.
async fn send_complete(
    em: &zbus::object_server::SignalEmitter<'_>,
    s: &igotchuu_dbus::Summary,
) -> zbus::Result<()> {
    BackupObject::backup_complete(
        em,
        s.files_new,
        s.files_changed,
        s.files_unmodified,
        s.dirs_new,
        s.dirs_changed,
        s.dirs_unmodified,
        s.data_blobs,
        s.tree_blobs,
        s.data_added,
        s.total_files_processed,
        s.total_bytes_processed,
        s.total_duration,
        &s.snapshot_id,
        s.dry_run,
    )
    .await
}

/// PropertiesChanged for Phase with the value it had, so that a watcher
/// sees every phase even when the run moved on before the signal left.
async fn announce_phase(
    em: &zbus::object_server::SignalEmitter<'_>,
    phase: Option<Phase>,
) -> zbus::Result<()> {
    announce(em, "Phase", Phase::property_value(phase)).await
}

/// PropertiesChanged for Operation with the value it had.
async fn announce_operation(
    em: &zbus::object_server::SignalEmitter<'_>,
    operation: Option<Operation>,
) -> zbus::Result<()> {
    announce(em, "Operation", Operation::property_value(operation)).await
}

async fn announce(
    em: &zbus::object_server::SignalEmitter<'_>,
    name: &str,
    value: &str,
) -> zbus::Result<()> {
    zbus::fdo::Properties::properties_changed(
        em,
        INTERFACE.try_into()?,
        HashMap::from([(name, zbus::zvariant::Value::from(value))]),
        Cow::Borrowed(&[]),
    )
    .await
}

/// The bus side: sends, and reconnects after losing the bus.
struct BusTask {
    conn: Option<Connection>,
    iface: Option<InterfaceRef<BackupObject>>,
    public: Option<InterfaceRef<PublicObject>>,
    live: Arc<Mutex<LiveState>>,
    control: Control,
    queued: Arc<AtomicUsize>,
    throttle: Arc<Mutex<ProgressThrottle>>,
    /// ErrorCount as last announced, so unchanged counts cost no signal.
    announced_errors: Option<u64>,
}

impl BusTask {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
        let retry = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(retry);
        // When to send the progress report held back, if it is still the latest.
        let held = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(held);
        let mut held_armed = false;
        loop {
            let out = tokio::select! {
                out = rx.recv() => {
                    let Some(out) = out else { break };
                    self.queued.fetch_sub(1, Ordering::Relaxed);
                    if let Outgoing::WakeAt(at) = out {
                        held.as_mut().reset(at);
                        held_armed = true;
                        continue;
                    }
                    out
                }
                () = &mut held, if held_armed => {
                    held_armed = false;
                    let due = self.throttle.lock().unwrap_or_else(|e| e.into_inner()).wake(Instant::now());
                    match due {
                        Due::Send(p) => Outgoing::Progress(p),
                        Due::WakeAt(at) => {
                            held.as_mut().reset(at);
                            held_armed = true;
                            continue;
                        }
                        Due::Nothing => continue,
                    }
                }
                () = &mut retry, if self.conn.is_none() => {
                    // The task runs only once a run is on.
                    match connect(&self.live, &self.control, NameRole::Run).await {
                        Ok(conn) => {
                            tracing::info!("back on the system bus");
                            self.conn = Some(conn);
                            // Whatever changed meanwhile, clients re-read on NameOwnerChanged.
                            let phase = self.live.lock().unwrap_or_else(|e| e.into_inner()).phase;
                            let _ = self.emit(&Outgoing::Phase(phase)).await;
                        }
                        Err(e) => {
                            tracing::debug!("system bus still unavailable: {e}");
                            retry.as_mut().reset(Instant::now() + RECONNECT_INTERVAL);
                        }
                    }
                    continue;
                }
            };
            if self.conn.is_some() {
                if let Err(e) = self.emit(&out).await {
                    tracing::warn!("lost the system bus ({e}); the backup goes on, and igotchuu will reconnect");
                    self.conn = None;
                    self.iface = None;
                    self.public = None;
                    retry.as_mut().reset(Instant::now() + RECONNECT_INTERVAL);
                }
            }
        }
        // Everything is sent: the name goes now, before the run lets go of
        // the run lock, so that a run waiting for the lock finds it free.
        if let Some(conn) = &self.conn {
            release_name(conn).await;
        }
    }

    async fn iface(&mut self) -> zbus::Result<InterfaceRef<BackupObject>> {
        if self.iface.is_none() {
            let conn = self.conn.as_ref().ok_or(zbus::Error::InvalidReply)?;
            self.iface = Some(
                conn.object_server()
                    .interface::<_, BackupObject>(OBJECT_PATH)
                    .await?,
            );
        }
        Ok(self.iface.clone().expect("just set"))
    }

    async fn announce_errors(
        &mut self,
        obj: &BackupObject,
        em: &zbus::object_server::SignalEmitter<'_>,
    ) -> zbus::Result<()> {
        let count = obj
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error_count;
        if self.announced_errors != Some(count) {
            self.announced_errors = Some(count);
            obj.error_count_changed(em).await?;
        }
        Ok(())
    }

    async fn public(&mut self) -> zbus::Result<InterfaceRef<PublicObject>> {
        if self.public.is_none() {
            let conn = self.conn.as_ref().ok_or(zbus::Error::InvalidReply)?;
            self.public = Some(
                conn.object_server()
                    .interface::<_, PublicObject>(PUBLIC_OBJECT_PATH)
                    .await?,
            );
        }
        Ok(self.public.clone().expect("just set"))
    }

    async fn emit(&mut self, out: &Outgoing) -> zbus::Result<()> {
        self.emit_detailed(out).await?;
        self.emit_public(out).await
    }

    /// The same as [`BusTask::emit_detailed`] on the public object, without
    /// file names, item errors or reasons.
    async fn emit_public(&mut self, out: &Outgoing) -> zbus::Result<()> {
        let iface = self.public().await?;
        let em = iface.signal_emitter();
        let obj = iface.get().await;
        match out {
            Outgoing::OperationStarted(operation) => {
                PublicObject::operation_started(em, operation.as_str()).await?;
                announce_operation(em, Some(*operation)).await?;
                if *operation != Operation::Backup {
                    obj.started_at_changed(em).await?;
                    obj.profile_changed(em).await?;
                }
            }
            Outgoing::OperationFinished {
                operation, outcome, ..
            } => {
                PublicObject::operation_finished(
                    em,
                    operation.as_str(),
                    outcome.as_str(),
                    redact::public_reason(*operation, *outcome),
                )
                .await?;
                if *operation != Operation::Backup {
                    announce_phase(em, None).await?;
                }
                announce_operation(em, None).await?;
            }
            Outgoing::Started => {
                PublicObject::backup_started(em).await?;
                obj.started_at_changed(em).await?;
                obj.profile_changed(em).await?;
                obj.error_count_changed(em).await?;
                obj.progress_changed(em).await?;
            }
            Outgoing::Phase(phase) => announce_phase(em, *phase).await?,
            Outgoing::Progress(p) => {
                let p = redact::progress(p);
                send_progress(em, &p).await?;
                obj.progress_changed(em).await?;
                obj.error_count_changed(em).await?;
            }
            Outgoing::ProgressProperty => obj.progress_changed(em).await?,
            Outgoing::WakeAt(_) | Outgoing::Error(_) | Outgoing::Folded(_) => {}
            Outgoing::Finished {
                outcome, complete, ..
            } => {
                if let Some(s) = complete {
                    send_complete(em, s).await?;
                }
                PublicObject::backup_finished(
                    em,
                    outcome.as_str(),
                    redact::public_reason(Operation::Backup, *outcome),
                )
                .await?;
                announce_phase(em, None).await?;
                obj.error_count_changed(em).await?;
            }
        }
        Ok(())
    }

    async fn emit_detailed(&mut self, out: &Outgoing) -> zbus::Result<()> {
        let iface = self.iface().await?;
        let em = iface.signal_emitter();
        let obj = iface.get().await;
        match out {
            Outgoing::OperationStarted(operation) => {
                BackupObject::operation_started(em, operation.as_str()).await?;
                announce_operation(em, Some(*operation)).await?;
                // A backup's Started says these, as it always did.
                if *operation != Operation::Backup {
                    obj.started_at_changed(em).await?;
                    obj.profile_changed(em).await?;
                    obj.places_changed(em).await?;
                }
            }
            Outgoing::OperationFinished {
                operation,
                outcome,
                reason,
            } => {
                BackupObject::operation_finished(em, operation.as_str(), outcome.as_str(), reason)
                    .await?;
                // A backup's Finished said it.
                if *operation != Operation::Backup {
                    announce_phase(em, None).await?;
                }
                announce_operation(em, None).await?;
            }
            Outgoing::Started => {
                BackupObject::backup_started(em).await?;
                obj.started_at_changed(em).await?;
                obj.profile_changed(em).await?;
                obj.places_changed(em).await?;
                self.announce_errors(&obj, em).await?;
                obj.progress_changed(em).await?;
            }
            Outgoing::Phase(phase) => announce_phase(em, *phase).await?,
            Outgoing::Progress(p) => {
                send_progress(em, p).await?;
                obj.progress_changed(em).await?;
                self.announce_errors(&obj, em).await?;
            }
            Outgoing::ProgressProperty => {
                obj.progress_changed(em).await?;
                self.announce_errors(&obj, em).await?;
            }
            // The run loop keeps these for its timer.
            Outgoing::WakeAt(_) => {}
            Outgoing::Error(e) => BackupObject::error(em, &e.error, &e.during, &e.item).await?,
            Outgoing::Folded(n) => BackupObject::errors_folded(em, *n).await?,
            Outgoing::Finished {
                outcome,
                reason,
                complete,
            } => {
                if let Some(s) = complete {
                    send_complete(em, s).await?;
                }
                BackupObject::backup_finished(em, outcome.as_str(), reason).await?;
                announce_phase(em, None).await?;
                self.announce_errors(&obj, em).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Finish;
    use igotchuu_dbus::{Outcome, Phase};

    fn sink() -> (BusSink, mpsc::UnboundedReceiver<Outgoing>, Arc<AtomicUsize>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(Mutex::new(LiveState::default()));
        let throttle = Arc::new(Mutex::new(ProgressThrottle::new(PROGRESS_INTERVAL)));
        (BusSink::new(tx, queued.clone(), live, throttle), rx, queued)
    }

    fn progress(n: u64) -> Event {
        Event::Progress(Progress {
            files_done: n,
            ..Progress::default()
        })
    }

    fn finished() -> Event {
        Event::Finished(Finish {
            outcome: Outcome::Failed,
            reason: "r".into(),
            summary: None,
            error_count: 0,
            item_errors: vec![],
        })
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<Outgoing>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(o) = rx.try_recv() {
            out.push(match o {
                Outgoing::OperationStarted(o) => format!("operation {o}"),
                Outgoing::OperationFinished {
                    operation, outcome, ..
                } => format!("operation {operation} {outcome}"),
                Outgoing::Started => "started".to_owned(),
                Outgoing::Phase(p) => format!("phase {}", Phase::property_value(p)),
                Outgoing::Progress(p) => format!("progress {}", p.files_done),
                Outgoing::ProgressProperty => "progress property".to_owned(),
                Outgoing::WakeAt(_) => "wake".to_owned(),
                Outgoing::Error(e) => format!("error {}", e.item),
                Outgoing::Folded(n) => format!("folded {n}"),
                Outgoing::Finished { outcome, .. } => format!("finished {outcome}"),
            });
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn progress_is_coalesced_but_the_first_and_last_always_go_out() {
        let (mut sink, mut rx, _) = sink();
        for n in 1..=1000 {
            sink.handle(&progress(n));
        }
        tokio::time::advance(PROGRESS_INTERVAL).await;
        sink.handle(&progress(1001));
        for n in 1002..=1500 {
            sink.handle(&progress(n));
        }
        sink.handle(&Event::PhaseChanged(Phase::CleaningUp));
        assert_eq!(
            drain(&mut rx),
            [
                "progress 1",
                // The bus task is asked once to send what is held, should
                // restic say nothing more (see throttle.rs).
                "wake",
                "progress 1001",
                "progress 1500",
                "phase cleaning-up"
            ]
        );
        // The live state is exact even for what was not sent.
        assert_eq!(sink.live.lock().unwrap().progress.files_done, 1500);
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_flood_is_folded_and_counted() {
        let (mut sink, mut rx, _) = sink();
        for n in 0..100_000 {
            sink.handle(&Event::ItemError(ItemError {
                item: n.to_string(),
                ..ItemError::default()
            }));
        }
        tokio::time::advance(Duration::from_millis(100)).await;
        sink.handle(&Event::ItemError(ItemError {
            item: "late".into(),
            ..ItemError::default()
        }));
        sink.handle(&finished());
        let out = drain(&mut rx);
        let burst = ERROR_BURST as usize;
        assert_eq!(out.len(), burst + 3, "{out:?}");
        assert_eq!(out[burst - 1], format!("error {}", burst - 1));
        // Everything after the burst is reported as one count, before the
        // next error that gets through.
        assert_eq!(out[burst], format!("folded {}", 100_000 - burst));
        assert_eq!(out[burst + 1], "error late");
        assert_eq!(out[burst + 2], "finished failed");
        assert_eq!(sink.live.lock().unwrap().error_count, 100_001);
    }

    fn operation(operation: Operation) -> Event {
        Event::OperationStarted(crate::events::OperationInfo {
            operation,
            started_at: std::time::SystemTime::now(),
            profile: None,
            places: vec![],
            overridden: vec![],
        })
    }

    fn operation_end(operation: Operation, outcome: Outcome) -> Event {
        Event::OperationFinished(crate::events::OperationEnd {
            operation,
            outcome,
            reason: "r".into(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn operations_bracket_a_backup_and_the_forget_after_it() {
        let (mut sink, mut rx, _) = sink();
        sink.handle(&operation(Operation::Backup));
        sink.handle(&Event::Started(crate::events::RunInfo {
            started_at: std::time::SystemTime::now(),
            profile: None,
            places: vec![],
        }));
        sink.handle(&progress(1));
        sink.handle(&finished());
        sink.handle(&operation_end(Operation::Backup, Outcome::Failed));
        sink.handle(&operation(Operation::Forget));
        sink.handle(&Event::PhaseChanged(Phase::Forgetting));
        sink.handle(&operation_end(Operation::Forget, Outcome::Completed));
        assert_eq!(
            drain(&mut rx),
            [
                "operation backup",
                "started",
                "progress 1",
                "finished failed",
                "operation backup failed",
                "operation forget",
                "phase forgetting",
                "operation forget completed",
            ]
        );
        let live = sink.live.lock().unwrap();
        assert_eq!((live.operation, live.phase), (None, None));
    }

    #[tokio::test(start_paused = true)]
    async fn a_restore_prune_or_check_shows_its_progress_in_the_property_alone() {
        for (kind, phase) in [
            (Operation::Restore, Phase::Restoring),
            (Operation::Prune, Phase::Pruning),
            (Operation::Check, Phase::Checking),
        ] {
            let (mut sink, mut rx, _) = sink();
            sink.handle(&operation(kind));
            sink.handle(&Event::PhaseChanged(phase));
            sink.handle(&progress(1));
            sink.handle(&progress(2));
            tokio::time::advance(PROGRESS_INTERVAL).await;
            sink.handle(&progress(3));
            sink.handle(&operation_end(kind, Outcome::Completed));
            assert_eq!(
                drain(&mut rx),
                [
                    format!("operation {kind}"),
                    format!("phase {}", Phase::property_value(Some(phase))),
                    "progress property".into(),
                    "progress property".into(),
                    "progress property".into(),
                    format!("operation {kind} completed"),
                ]
            );
            assert_eq!(sink.live.lock().unwrap().progress.files_done, 3);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_bus_gets_no_more_than_it_can_hold() {
        let (mut sink, mut rx, queued) = sink();
        queued.store(MAX_QUEUED, Ordering::Relaxed);
        sink.handle(&progress(1));
        sink.handle(&Event::ItemError(ItemError::default()));
        // Only the bus task's wake-up for the report it holds.
        assert_eq!(drain(&mut rx), ["wake"]);
        // Events that end phases and runs are never dropped.
        sink.handle(&finished());
        let out = drain(&mut rx);
        assert_eq!(out, ["progress 1", "folded 1", "finished failed"]);
    }
}
