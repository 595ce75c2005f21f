//! Following the helper on the system bus.
//!
//! The [`Watcher`] keeps a [`DesktopState`] current and reports each change
//! as an [`Update`]. It hears, in one stream and so in the order they were
//! sent, `NameOwnerChanged` for `com.nyantec.IGotChuu` (the helper
//! appearing, leaving, restarting) and the signals on the helper's object.
//! It takes signals only from the process that owns the name as of the last
//! `NameOwnerChanged` it heard: a helper's first signals are never lost,
//! and a stale or rogue sender is never heard. When the helper appears, it
//! reads all its properties at once from that process's unique name (which
//! never activates the helper), so a client that starts mid-backup knows
//! everything at once.
//!
//! It survives the bus daemon restarting: it reconnects with a growing
//! backoff and reads everything again. While connected it only waits for
//! messages: it has no timers.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_io::Timer;
use futures_lite::StreamExt;
use igotchuu_dbus::history::RunRecord;
use igotchuu_dbus::proxy::{self as contract, BackupComplete, BackupFinished, ErrorsFolded};
use igotchuu_dbus::{ItemError, Outcome, Phase, Progress, BUS_NAME, INTERFACE, OBJECT_PATH};
use zbus::fdo::{DBusProxy, NameOwnerChanged, PropertiesChanged, PropertiesProxy};
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
    /// Everything this connection receives: `NameOwnerChanged` for the
    /// helper's name and the signals on its object, in order.
    messages: MessageStream,
    /// The name's owner as of the last `NameOwnerChanged` heard.
    owner: Option<OwnedUniqueName>,
    /// Its properties are still to be read. Kept here so that a `next()`
    /// dropped half-way reads them on the next call.
    unread: bool,
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
    /// in the watcher, and a half-done connection or property read is
    /// redone by the next call.
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
        if bus.unread {
            if let Some(owner) = bus.owner.clone() {
                return self.read_helper(owner).await;
            }
        }
        match bus.messages.next().await {
            Some(Ok(msg)) => self.heard(&msg).await,
            Some(Err(e)) => self.lost(&e),
            None => self.lost(&zbus::Error::Failure("connection closed".into())),
        }
    }

    async fn connect(&mut self) {
        if let Some(at) = self.retry_at {
            Timer::at(at).await;
        }
        match connect().await {
            Ok((conn, messages, owner)) => {
                if self.outage_reported {
                    tracing::info!("connected to the system bus again");
                }
                self.backoff = FIRST_BACKOFF;
                self.retry_at = None;
                self.outage_reported = false;
                let absent = owner.is_none();
                self.link = Link::Up(Box::new(Bus {
                    conn,
                    messages,
                    unread: owner.is_some(),
                    owner,
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

    /// Reads all of `owner`'s properties at once. Its signals sent
    /// meanwhile wait in the stream, and follow.
    async fn read_helper(&mut self, owner: OwnedUniqueName) {
        let Link::Up(bus) = &self.link else {
            return;
        };
        let conn = bus.conn.clone();
        let properties = match read_properties(&conn, &owner).await {
            Ok(p) => p,
            Err(e) if is_disconnect(&e) => return self.lost(&e),
            Err(e) => {
                // It left already, or is stuck: its signals and its leaving will tell.
                tracing::debug!("cannot read the backup helper's properties: {e}");
                Properties::default()
            }
        };
        let record = self.record_of_open_run().await;
        if let Link::Up(bus) = &mut self.link {
            bus.unread = false;
        }
        self.feed(Input::HelperPresent { properties, record });
    }

    async fn heard(&mut self, msg: &Message) {
        let header = msg.header();
        if header.message_type() != MessageType::Signal {
            return;
        }
        let from_bus = header.sender().is_some_and(|s| s.as_str() == DBUS_NAME);
        if from_bus
            && header
                .member()
                .is_some_and(|m| m.as_str() == "NameOwnerChanged")
        {
            return self.name_changed(msg).await;
        }
        let Link::Up(bus) = &self.link else {
            return;
        };
        let from_owner = match (header.sender(), &bus.owner) {
            (Some(sender), Some(owner)) => sender == owner.inner(),
            _ => false,
        };
        let on_object = header.path().is_some_and(|p| p.as_str() == OBJECT_PATH);
        if from_owner && on_object {
            self.helper_message(msg);
        }
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
        if new_owner == bus.owner {
            return;
        }
        // Another process, or none: the old one is gone either way.
        let had_owner = bus.owner.is_some();
        bus.unread = new_owner.is_some();
        bus.owner = new_owner.clone();
        if had_owner || new_owner.is_none() {
            let record = self.record_of_open_run().await;
            self.feed(Input::HelperGone { record });
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
        .max_queued(QUEUE)
        .build()
        .await?;
    // The stream exists before the rules, and the rules before asking for
    // the owner, so that nothing falls in between.
    let messages = MessageStream::from(&conn);
    let dbus = DBusProxy::new(&conn).await?;
    let names = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(DBUS_NAME)?
        .interface(DBUS_NAME)?
        .member("NameOwnerChanged")?
        .arg(0, BUS_NAME)?
        .build();
    dbus.add_match_rule(names).await?;
    // Our interface's signals and PropertiesChanged; the sender is checked
    // for each against the owner.
    let object = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .path(OBJECT_PATH)?
        .build();
    dbus.add_match_rule(object).await?;
    let owner = contract::running(&conn)
        .await?
        .and_then(|p| match p.inner().destination() {
            BusName::Unique(u) => Some(OwnedUniqueName::from(u.to_owned())),
            BusName::WellKnown(_) => None,
        });
    Ok((conn, messages, owner))
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
                    tracing::warn!(
                        "unknown outcome from the backup helper ({e}); taking it as failed"
                    );
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
            parse_signal(&signal(
                INTERFACE,
                "BackupComplete",
                &s.backup_complete_body()
            ))
            .unwrap(),
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
            parse_signal(&signal(INTERFACE, "BackupFinished", &("exploded", ""))).unwrap(),
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
            (
                "Phase".to_owned(),
                OwnedValue::from(zbus::zvariant::Str::from("idle")),
            ),
            (
                "Progress".to_owned(),
                OwnedValue::try_from(progress.clone()).unwrap(),
            ),
            ("StartedAt".to_owned(), OwnedValue::from(0u64)),
            // Wrong type: left out.
            (
                "ErrorCount".to_owned(),
                OwnedValue::from(zbus::zvariant::Str::from("x")),
            ),
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
