//! Following the helper on the system bus.
//!
//! The [`Watcher`] keeps a [`DesktopState`] current and reports each change
//! as an [`Update`]. It listens to `NameOwnerChanged` for
//! `com.nyantec.IGotChuu` (the helper appearing, leaving, restarting). When
//! the helper appears, it subscribes to the signals of that one process
//! (by its unique name, so a stale or rogue sender is never heard) and reads
//! all its properties at once, which tells a client that starts mid-backup
//! everything at once. Calls to a unique name never activate the helper.
//!
//! It survives the bus daemon restarting: it reconnects with a growing
//! backoff and reads everything again. While connected it only waits for
//! messages: it has no timers.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_io::Timer;
use futures_lite::{future, StreamExt};
use igotchuu_dbus::history::RunRecord;
use igotchuu_dbus::proxy::{self as contract, BackupComplete, BackupFinished, ErrorsFolded};
use igotchuu_dbus::{ItemError, Outcome, Phase, Progress, BUS_NAME, INTERFACE, OBJECT_PATH};
use zbus::fdo::{NameOwnerChanged, PropertiesChanged, PropertiesProxy};
use zbus::message::{Message, Type as MessageType};
use zbus::names::{BusName, InterfaceName, OwnedUniqueName};
use zbus::zvariant::OwnedValue;
use zbus::{MatchRule, MessageStream};

use crate::history;
use crate::state::{DesktopState, Input, Properties, Signal, Tracker, Update};

/// The first wait before connecting again after losing the bus; it doubles
/// up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Reading properties is quick; a helper that does not answer in this time
/// is stuck, and must not stall the client.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages queued for this client before the bus connection waits for it.
/// The helper sends a few a second; this covers a busy main loop.
const QUEUE: usize = 1024;

const DBUS_NAME: &str = "org.freedesktop.DBus";
const PROPERTIES_INTERFACE: &str = "org.freedesktop.DBus.Properties";

/// Follows the helper on the system bus. See the [crate documentation](crate)
/// for how to drive it.
pub struct Watcher {
    state: Tracker,
    queue: VecDeque<Update>,
    link: Link,
    state_dir: PathBuf,
    backoff: Duration,
    retry_at: Option<Instant>,
    /// Whether the current outage was logged (once) and reported.
    outage_reported: bool,
}

enum Link {
    Down,
    Up(Box<Bus>),
}

struct Bus {
    conn: zbus::Connection,
    /// `NameOwnerChanged` for the helper's name.
    names: MessageStream,
    helper: Helper,
}

enum Helper {
    Absent,
    /// Owns the name; to be subscribed to and read. Kept here so that a
    /// `next()` dropped half-way picks it up again.
    Pending(OwnedUniqueName),
    Attached {
        owner: OwnedUniqueName,
        signals: MessageStream,
    },
}

/// What the bus said next.
enum Heard {
    Helper(Option<zbus::Result<Message>>),
    Names(Option<zbus::Result<Message>>),
}

impl Default for Watcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Watcher {
    /// A watcher of the system bus (`$DBUS_SYSTEM_BUS_ADDRESS` is honoured),
    /// which reads the history in [`history::state_dir`] to learn how a run
    /// ended whose end it missed. It connects on the first [`next`](Self::next).
    pub fn new() -> Self {
        Self::with_state_dir(history::state_dir())
    }

    /// As [`new`](Self::new), with the helper's state directory given.
    pub fn with_state_dir(state_dir: PathBuf) -> Self {
        Watcher {
            state: Tracker::default(),
            queue: VecDeque::new(),
            link: Link::Down,
            state_dir,
            backoff: FIRST_BACKOFF,
            retry_at: None,
            outage_reported: false,
        }
    }

    /// What is known now.
    pub fn state(&self) -> &DesktopState {
        &self.state
    }

    /// Waits for the next change. Never ends: while the bus is away, it
    /// keeps trying to reconnect.
    ///
    /// Dropping the future loses nothing that was heard: updates are queued
    /// in the watcher, and a half-done connection or subscription is redone
    /// by the next call.
    pub async fn next(&mut self) -> Update {
        loop {
            if let Some(update) = self.queue.pop_front() {
                return update;
            }
            self.step().await;
        }
    }

    async fn step(&mut self) {
        let Link::Up(bus) = &mut self.link else {
            return self.connect().await;
        };
        if let Helper::Pending(owner) = &bus.helper {
            let owner = owner.clone();
            return self.attach(owner).await;
        }
        let Bus { names, helper, .. } = &mut **bus;
        let heard = match helper {
            // Helper signals first: a signal the helper sent before it left
            // is queued before the NameOwnerChanged that says it left.
            Helper::Attached { signals, .. } => {
                future::or(
                    async { Heard::Helper(signals.next().await) },
                    async { Heard::Names(names.next().await) },
                )
                .await
            }
            _ => Heard::Names(names.next().await),
        };
        match heard {
            Heard::Helper(Some(Ok(msg))) => self.helper_message(&msg),
            Heard::Names(Some(Ok(msg))) => self.name_changed(&msg).await,
            Heard::Helper(Some(Err(e))) | Heard::Names(Some(Err(e))) => self.lost(&e),
            Heard::Helper(None) | Heard::Names(None) => {
                self.lost(&zbus::Error::Failure("connection closed".into()))
            }
        }
    }

    async fn connect(&mut self) {
        if let Some(at) = self.retry_at {
            Timer::at(at).await;
        }
        match connect().await {
            Ok((conn, names, owner)) => {
                if self.outage_reported {
                    tracing::info!("connected to the system bus again");
                }
                self.backoff = FIRST_BACKOFF;
                self.retry_at = None;
                self.outage_reported = false;
                let helper = match owner {
                    Some(owner) => Helper::Pending(owner),
                    None => Helper::Absent,
                };
                let absent = matches!(helper, Helper::Absent);
                self.link = Link::Up(Box::new(Bus {
                    conn,
                    names,
                    helper,
                }));
                self.feed(Input::BusUp);
                if absent {
                    let record = self.record_of_open_run().await;
                    self.feed(Input::HelperGone { record });
                }
            }
            Err(e) => {
                if !self.outage_reported {
                    tracing::warn!(
                        "cannot reach the system bus ({e}); trying again, at most every {} s",
                        MAX_BACKOFF.as_secs()
                    );
                    self.outage_reported = true;
                    // Even if nothing changed, a client must learn the bus is away.
                    self.queue.push_back(Update::State);
                } else {
                    tracing::debug!("system bus still unreachable: {e}");
                }
                self.feed(Input::BusLost);
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    /// Subscribes to `owner`'s signals, then reads all its properties.
    async fn attach(&mut self, owner: OwnedUniqueName) {
        let Link::Up(bus) = &mut self.link else {
            return;
        };
        let conn = bus.conn.clone();
        let signals = match helper_signals(&conn, &owner).await {
            Ok(s) => s,
            Err(e) => return self.lost(&e),
        };
        let properties = match read_properties(&conn, &owner).await {
            Ok(p) => p,
            Err(e) if is_disconnect(&e) => return self.lost(&e),
            Err(e) => {
                // It left or is stuck; NameOwnerChanged will tell which.
                tracing::warn!("cannot read the backup helper's properties: {e}");
                Properties::default()
            }
        };
        let record = self.record_of_open_run().await;
        if let Link::Up(bus) = &mut self.link {
            bus.helper = Helper::Attached { owner, signals };
        }
        self.feed(Input::HelperPresent { properties, record });
    }

    async fn name_changed(&mut self, msg: &Message) {
        let Some(signal) = NameOwnerChanged::from_message(msg.clone()) else {
            return;
        };
        let Ok(args) = signal.args() else {
            return;
        };
        if args.name.as_str() != BUS_NAME {
            return;
        }
        let new_owner = args
            .new_owner
            .as_ref()
            .map(|o| OwnedUniqueName::from(o.to_owned()));
        let Link::Up(bus) = &mut self.link else {
            return;
        };
        let current = match &bus.helper {
            Helper::Absent => None,
            Helper::Pending(o) | Helper::Attached { owner: o, .. } => Some(o.clone()),
        };
        if new_owner == current {
            return;
        }
        // Another process, or none: the old one is gone either way.
        bus.helper = Helper::Absent;
        if current.is_some() || new_owner.is_none() {
            let record = self.record_of_open_run().await;
            self.feed(Input::HelperGone { record });
        }
        if let (Some(owner), Link::Up(bus)) = (new_owner, &mut self.link) {
            bus.helper = Helper::Pending(owner);
        }
    }

    fn helper_message(&mut self, msg: &Message) {
        match parse_signal(msg) {
            Ok(Some(signal)) => self.feed(Input::Signal(signal)),
            Ok(None) => {}
            Err(e) => {
                let header = msg.header();
                tracing::warn!(
                    "ignoring a malformed {} signal from the backup helper: {e}",
                    header.member().map_or("unnamed", |m| m.as_str())
                );
            }
        }
    }

    fn lost(&mut self, e: &zbus::Error) {
        tracing::warn!("lost the system bus ({e}); reconnecting");
        self.link = Link::Down;
        self.outage_reported = true;
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.feed(Input::BusLost);
    }

    /// The history's record of the run this client saw open, if there is
    /// one: how it ended, when its end was not heard.
    async fn record_of_open_run(&self) -> Option<RunRecord> {
        let started_at = self.state.open_run()?;
        match history::load(&self.state_dir).await {
            Ok(h) => history::find_run(&h, started_at).cloned(),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        }
    }

    fn feed(&mut self, input: Input) {
        self.state.apply(input, unix_now(), &mut self.queue);
    }
}

async fn connect() -> zbus::Result<(zbus::Connection, MessageStream, Option<OwnedUniqueName>)> {
    let conn = zbus::connection::Builder::system()?
        .method_timeout(CALL_TIMEOUT)
        .build()
        .await?;
    // Subscribed before asking for the owner, so that no change falls between.
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(DBUS_NAME)?
        .interface(DBUS_NAME)?
        .member("NameOwnerChanged")?
        .arg(0, BUS_NAME)?
        .build();
    let names = MessageStream::for_match_rule(rule, &conn, Some(QUEUE)).await?;
    let owner = contract::running(&conn).await?.and_then(|p| match p.inner().destination() {
        BusName::Unique(u) => Some(OwnedUniqueName::from(u.to_owned())),
        BusName::WellKnown(_) => None,
    });
    Ok((conn, names, owner))
}

/// Every signal on the helper's object from `owner`: its own interface's
/// and `PropertiesChanged`, in one stream so that their order is kept.
async fn helper_signals(
    conn: &zbus::Connection,
    owner: &OwnedUniqueName,
) -> zbus::Result<MessageStream> {
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(owner.as_ref())?
        .path(OBJECT_PATH)?
        .build();
    MessageStream::for_match_rule(rule, conn, Some(QUEUE)).await
}

async fn read_properties(
    conn: &zbus::Connection,
    owner: &OwnedUniqueName,
) -> zbus::Result<Properties> {
    let proxy = PropertiesProxy::builder(conn)
        .destination(owner.as_ref())?
        .path(OBJECT_PATH)?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?;
    let all = proxy
        .get_all(InterfaceName::from_static_str_unchecked(INTERFACE))
        .await?;
    Ok(properties(all))
}

/// The known properties among `values`; others, and malformed ones, are
/// left out (with a warning for the latter).
fn properties(values: HashMap<String, OwnedValue>) -> Properties {
    let mut p = Properties::default();
    for (name, value) in values {
        if let Err(e) = set_property(&mut p, &name, value) {
            tracing::warn!("ignoring the backup helper's property {name}: {e}");
        }
    }
    p
}

fn set_property(p: &mut Properties, name: &str, value: OwnedValue) -> Result<(), String> {
    let e = |e: zbus::zvariant::Error| e.to_string();
    match name {
        "Phase" => {
            let s = String::try_from(value).map_err(e)?;
            p.phase = Some(Phase::from_property(&s).map_err(|e| e.to_string())?);
        }
        "Progress" => p.progress = Some(Progress::try_from(value).map_err(e)?),
        "StartedAt" => p.started_at = Some(u64::try_from(value).map_err(e)?),
        "Profile" => p.profile = Some(String::try_from(value).map_err(e)?),
        "Places" => p.places = Some(Vec::<String>::try_from(value).map_err(e)?),
        "ErrorCount" => p.error_count = Some(u64::try_from(value).map_err(e)?),
        _ => {}
    }
    Ok(())
}

/// The helper's signal in `msg`; `None` for one this client does not use.
fn parse_signal(msg: &Message) -> zbus::Result<Option<Signal>> {
    let header = msg.header();
    let (Some(interface), Some(member)) = (header.interface(), header.member()) else {
        return Ok(None);
    };
    if interface.as_str() == PROPERTIES_INTERFACE {
        let Some(changed) = PropertiesChanged::from_message(msg.clone()) else {
            return Ok(None);
        };
        let args = changed.args()?;
        if args.interface_name.as_str() != INTERFACE {
            return Ok(None);
        }
        let mut values = HashMap::new();
        for (name, value) in args.changed_properties() {
            values.insert(name.to_string(), OwnedValue::try_from(value)?);
        }
        return Ok(Some(Signal::Properties(properties(values))));
    }
    if interface.as_str() != INTERFACE {
        return Ok(None);
    }
    let signal = match member.as_str() {
        "BackupStarted" => Signal::Started,
        "Progress" => Signal::Progress(msg.body().deserialize::<Progress>()?),
        "Error" => Signal::Error(msg.body().deserialize::<ItemError>()?),
        "ErrorsFolded" => match ErrorsFolded::from_message(msg.clone()) {
            Some(s) => Signal::Folded(*s.args()?.count()),
            None => return Ok(None),
        },
        "BackupComplete" => match BackupComplete::from_message(msg.clone()) {
            Some(s) => Signal::Complete(summary(&s.args()?)),
            None => return Ok(None),
        },
        "BackupFinished" => match BackupFinished::from_message(msg.clone()) {
            Some(s) => {
                let args = s.args()?;
                let outcome = args.outcome().parse().unwrap_or_else(|e| {
                    tracing::warn!("unknown outcome from the backup helper ({e}); taking it as failed");
                    Outcome::Failed
                });
                Signal::Finished {
                    outcome,
                    reason: args.reason().clone(),
                }
            }
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(signal))
}

fn summary(a: &igotchuu_dbus::proxy::BackupCompleteArgs<'_>) -> igotchuu_dbus::Summary {
    igotchuu_dbus::Summary {
        files_new: *a.files_new(),
        files_changed: *a.files_changed(),
        files_unmodified: *a.files_unmodified(),
        dirs_new: *a.dirs_new(),
        dirs_changed: *a.dirs_changed(),
        dirs_unmodified: *a.dirs_unmodified(),
        data_blobs: *a.data_blobs(),
        tree_blobs: *a.tree_blobs(),
        data_added: *a.data_added(),
        total_files_processed: *a.total_files_processed(),
        total_bytes_processed: *a.total_bytes_processed(),
        total_duration: *a.total_duration(),
        snapshot_id: a.snapshot_id().clone(),
        dry_run: *a.dry_run(),
        ..Default::default()
    }
}

fn is_disconnect(e: &zbus::Error) -> bool {
    match e {
        zbus::Error::InputOutput(io) => io.kind() != std::io::ErrorKind::TimedOut,
        zbus::Error::FDO(fdo) => matches!(**fdo, zbus::fdo::Error::IOError(_)),
        _ => false,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use igotchuu_dbus::Summary;
    use zbus::zvariant::Value;

    use super::*;

    fn signal<B>(interface: &str, member: &str, body: &B) -> Message
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        Message::signal(OBJECT_PATH, interface, member)
            .unwrap()
            .build(body)
            .unwrap()
    }

    #[test]
    fn parses_every_signal_of_the_contract() {
        let p = Progress {
            percent_done: 0.25,
            current_files: vec!["/home/a".into()],
            ..Default::default()
        };
        assert_eq!(
            parse_signal(&signal(INTERFACE, "Progress", &p)).unwrap(),
            Some(Signal::Progress(p))
        );
        let e = ItemError {
            error: "permission denied".into(),
            during: "scan".into(),
            item: "/root".into(),
        };
        assert_eq!(
            parse_signal(&signal(INTERFACE, "Error", &e)).unwrap(),
            Some(Signal::Error(e))
        );
        assert_eq!(
            parse_signal(&signal(INTERFACE, "BackupStarted", &())).unwrap(),
            Some(Signal::Started)
        );
        assert_eq!(
            parse_signal(&signal(INTERFACE, "ErrorsFolded", &(7u64,))).unwrap(),
            Some(Signal::Folded(7))
        );
        let s = Summary {
            files_new: 12,
            data_blobs: -1,
            total_duration: 2.5,
            snapshot_id: "abc".into(),
            ..Default::default()
        };
        assert_eq!(
            parse_signal(&signal(INTERFACE, "BackupComplete", &s.backup_complete_body())).unwrap(),
            Some(Signal::Complete(s))
        );
        assert_eq!(
            parse_signal(&signal(
                INTERFACE,
                "BackupFinished",
                &("completed-with-warnings", "3 files skipped")
            ))
            .unwrap(),
            Some(Signal::Finished {
                outcome: Outcome::CompletedWithWarnings,
                reason: "3 files skipped".into()
            })
        );
        // An outcome from a newer helper is a failure, not a success.
        assert_eq!(
            parse_signal(&signal(INTERFACE, "BackupFinished", &("exploded", "")))
                .unwrap(),
            Some(Signal::Finished {
                outcome: Outcome::Failed,
                reason: String::new()
            })
        );
        // Other interfaces and members are not ours.
        assert_eq!(
            parse_signal(&signal("org.example.Other", "Progress", &p_default())).unwrap(),
            None
        );
        assert_eq!(
            parse_signal(&signal(INTERFACE, "Unheard", &())).unwrap(),
            None
        );
        // A malformed body is an error, not a panic.
        assert!(parse_signal(&signal(INTERFACE, "Progress", &("x",))).is_err());
    }

    fn p_default() -> Progress {
        Progress::default()
    }

    #[test]
    fn parses_properties_changed_for_our_interface_only() {
        let changed: HashMap<&str, Value<'_>> = HashMap::from([
            ("Phase", Value::from("backing-up")),
            ("StartedAt", Value::from(42u64)),
            ("Places", Value::from(vec!["/home".to_owned()])),
            ("ErrorCount", Value::from(3u64)),
            ("Profile", Value::from("laptop")),
            ("Unknown", Value::from(1u8)),
        ]);
        let empty: &[&str] = &[];
        let msg = signal(
            PROPERTIES_INTERFACE,
            "PropertiesChanged",
            &(INTERFACE, &changed, empty),
        );
        let Some(Signal::Properties(p)) = parse_signal(&msg).unwrap() else {
            panic!("not parsed as properties");
        };
        assert_eq!(p.phase, Some(Some(Phase::BackingUp)));
        assert_eq!(p.started_at, Some(42));
        assert_eq!(p.places, Some(vec!["/home".to_owned()]));
        assert_eq!(p.error_count, Some(3));
        assert_eq!(p.profile.as_deref(), Some("laptop"));
        assert_eq!(p.progress, None);

        let other = signal(
            PROPERTIES_INTERFACE,
            "PropertiesChanged",
            &("org.example.Other", &changed, empty),
        );
        assert_eq!(parse_signal(&other).unwrap(), None);
    }

    #[test]
    fn reads_all_properties_and_skips_bad_ones() {
        let progress = Progress {
            percent_done: 0.5,
            ..Default::default()
        };
        let values = HashMap::from([
            ("Phase".to_owned(), OwnedValue::from(zbus::zvariant::Str::from("idle"))),
            (
                "Progress".to_owned(),
                OwnedValue::try_from(progress.clone()).unwrap(),
            ),
            ("StartedAt".to_owned(), OwnedValue::from(0u64)),
            // Wrong type: left out.
            ("ErrorCount".to_owned(), OwnedValue::from(zbus::zvariant::Str::from("x"))),
        ]);
        let p = properties(values);
        assert_eq!(p.phase, Some(None));
        assert_eq!(p.progress, Some(progress));
        assert_eq!(p.started_at, Some(0));
        assert_eq!(p.error_count, None);
        let bad_phase = HashMap::from([(
            "Phase".to_owned(),
            OwnedValue::from(zbus::zvariant::Str::from("dancing")),
        )]);
        assert_eq!(properties(bad_phase).phase, None);
    }
}
