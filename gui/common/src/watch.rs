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
//! everything at once. The messages themselves are read by
//! [`igotchuu_dbus::signal`], leniently: a malformed property is left out
//! with a warning, and the rest of the state still shown.
//!
//! It survives the bus daemon restarting: it reconnects with a growing
//! backoff and reads everything again. While connected it only waits for
//! messages: it has no timers.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_io::Timer;
use futures_lite::StreamExt;
use igotchuu_dbus::follow::{Follower, Input};
use igotchuu_dbus::history::History;
use igotchuu_dbus::signal::{self, Properties};
use zbus::message::Message;
use zbus::names::OwnedUniqueName;
use zbus::MessageStream;

use crate::history;
use crate::{DesktopState, Update};

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

/// Follows the helper on the system bus. See the [crate documentation](crate)
/// for how to drive it.
pub struct Watcher {
    state: Follower,
    queue: VecDeque<Update>,
    link: Link,
    state_dir: PathBuf,
    backoff: Duration,
    retry_at: Option<Instant>,
    /// Whether the current outage was logged (once) and reported.
    outage_reported: bool,
    /// Said once: the first connection, after which nothing is missed.
    connected_once: bool,
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
            state: Follower::default(),
            queue: VecDeque::new(),
            link: Link::Down,
            state_dir,
            backoff: FIRST_BACKOFF,
            retry_at: None,
            outage_reported: false,
            connected_once: false,
        }
    }

    /// What is known now.
    pub fn state(&self) -> &DesktopState {
        self.state.state()
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
                } else if !self.connected_once {
                    // From here on no signal of the helper's is missed.
                    tracing::info!("listening to the backup helper on the system bus");
                }
                self.connected_once = true;
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
                    let history = self.history_for_open_run().await;
                    self.feed(Input::HelperGone { history });
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
        let properties = match Properties::read_lenient(&conn, &owner, skipped).await {
            Ok(p) => p,
            Err(e) if is_disconnect(&e) => return self.lost(&e),
            Err(e) => {
                // It left already, or is stuck: its signals and its leaving will tell.
                tracing::debug!("cannot read the backup helper's properties: {e}");
                Properties::default()
            }
        };
        let history = self.history_for_open_run().await;
        if let Link::Up(bus) = &mut self.link {
            bus.unread = false;
        }
        self.feed(Input::HelperPresent {
            properties,
            history,
        });
    }

    async fn heard(&mut self, msg: &Message) {
        if let Some(new_owner) = signal::owner_change(msg) {
            return self.name_changed(new_owner).await;
        }
        let Link::Up(bus) = &self.link else {
            return;
        };
        if signal::from_owner(msg, bus.owner.as_deref()) {
            self.helper_message(msg);
        }
    }

    async fn name_changed(&mut self, new_owner: Option<OwnedUniqueName>) {
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
            let history = self.history_for_open_run().await;
            self.feed(Input::HelperGone { history });
        }
    }

    fn helper_message(&mut self, msg: &Message) {
        match signal::parse_lenient(msg, skipped) {
            Ok(Some(signal)) => {
                if let Some(name) = signal.unknown_outcome() {
                    tracing::warn!(
                        "unknown outcome {name:?} from the backup helper; taking it as failed"
                    );
                }
                self.feed(Input::Signal(signal));
            }
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

    /// The history, while a run is open: it may tell how the run ended,
    /// when its end was not heard (the follower decides which record, if
    /// any, is provably that run's).
    async fn history_for_open_run(&self) -> Option<History> {
        if !self.state.wants_history() {
            return None;
        }
        match history::load(&self.state_dir).await {
            Ok(h) => Some(h),
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
    let (messages, owner) = signal::subscribe(&conn).await?;
    Ok((conn, messages, owner))
}

/// A malformed property of the helper's: the others are still shown.
fn skipped(name: &str, e: zbus::Error) {
    tracing::warn!("ignoring the backup helper's property {name}: {e}");
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
