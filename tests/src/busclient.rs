//! A bus client that records, with the time it got each, the signals of
//! whoever owns `com.nyantec.IGotChuu` (the bus matches the sender against
//! the name's current owner, as the contract asks of clients).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_lite::{FutureExt, StreamExt};
use igotchuu_dbus::{BUS_NAME, INTERFACE, OBJECT_PATH};
use zbus::message::Type;
use zbus::{MatchRule, Message, MessageStream};

use crate::sysbus::SystemBus;
use crate::wait;

/// How long a barrier's ping may take.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the recorder looks at its stop flag and requests.
const TICK: Duration = Duration::from_millis(20);

/// One signal, as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub interface: String,
    pub member: String,
    pub msg: Message,
}

impl Recorded {
    /// A signal of `com.nyantec.igotchuu1` called `member`.
    pub fn is(&self, member: &str) -> bool {
        self.interface == INTERFACE && self.member == member
    }

    /// The body, deserialized.
    pub fn body<T>(&self) -> T
    where
        T: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
    {
        self.msg
            .body()
            .deserialize()
            .unwrap_or_else(|e| panic!("{} body: {e}", self.member))
    }
}

type Barrier = (String, mpsc::Sender<Result<(), String>>);

/// Records the helper's signals on a thread of its own; stops on drop.
pub struct SignalRecorder {
    log: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    barriers: mpsc::Sender<Barrier>,
    thread: Option<JoinHandle<()>>,
}

impl SignalRecorder {
    /// Subscribes to every signal the owner of the helper's name sends on
    /// its object; returns once the subscription is in place.
    pub fn start(bus: &SystemBus) -> Self {
        let address = bus.address().to_owned();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let (barrier_tx, barrier_rx) = mpsc::channel::<Barrier>();
        let thread = {
            let log = log.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                crate::block_on(record(address, log, stop, ready_tx, barrier_rx));
            })
        };
        ready_rx
            .recv_timeout(wait::DEADLINE)
            .expect("the signal recorder did not subscribe");
        SignalRecorder {
            log,
            stop,
            barriers: barrier_tx,
            thread: Some(thread),
        }
    }

    /// Everything recorded so far.
    pub fn signals(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// The names of the helper's interface's signals so far, in order.
    pub fn members(&self) -> Vec<String> {
        self.signals()
            .iter()
            .filter(|r| r.interface == INTERFACE)
            .map(|r| r.member.clone())
            .collect()
    }

    /// Waits for the first signal `member` of the helper's interface.
    pub fn wait_for(&self, member: &str, timeout: Duration) -> Recorded {
        wait::until(&format!("the {member} signal"), timeout, || {
            self.signals().into_iter().find(|r| r.is(member))
        })
    }

    /// Pings `dest` on the recorder's own connection and returns what was
    /// recorded once the reply (or error) came. The bus delivers a sender's
    /// messages in order, so every signal `dest` sent before it answered
    /// is in the result.
    pub fn after_barrier(&self, dest: &str) -> Vec<Recorded> {
        let (tx, rx) = mpsc::channel();
        self.barriers
            .send((dest.to_owned(), tx))
            .expect("the recorder is running");
        let _: Result<(), String> = rx
            .recv_timeout(wait::DEADLINE)
            .expect("the recorder answered the barrier");
        self.signals()
    }
}

impl Drop for SignalRecorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn record(
    address: String,
    log: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<()>,
    barriers: mpsc::Receiver<Barrier>,
) {
    let conn = zbus::connection::Builder::address(address.as_str())
        .expect("bus address")
        .method_timeout(BARRIER_TIMEOUT)
        .build()
        .await
        .expect("recorder: connect");
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .sender(BUS_NAME)
        .expect("sender")
        .path(OBJECT_PATH)
        .expect("path")
        .build();
    let mut stream = MessageStream::for_match_rule(rule, &conn, Some(1_000_000))
        .await
        .expect("recorder: subscribe");
    let _ = ready.send(());
    let push = |msg: Message| {
        let h = msg.header();
        let r = Recorded {
            at: Instant::now(),
            interface: h.interface().map(|i| i.to_string()).unwrap_or_default(),
            member: h.member().map(|m| m.to_string()).unwrap_or_default(),
            msg: msg.clone(),
        };
        log.lock().unwrap().push(r);
    };
    while !stop.load(Ordering::Relaxed) {
        if let Ok((dest, reply)) = barriers.try_recv() {
            let r = conn
                .call_method(
                    Some(dest.as_str()),
                    "/",
                    Some("org.freedesktop.DBus.Peer"),
                    "Ping",
                    &(),
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            // Whatever came before the reply is queued in the stream now.
            while let Some(Some(Ok(msg))) = futures_lite::future::poll_once(stream.next()).await {
                push(msg);
            }
            let _ = reply.send(r);
            continue;
        }
        let next = async { Some(stream.next().await) }
            .or(async {
                async_io::Timer::after(TICK).await;
                None
            })
            .await;
        match next {
            Some(Some(Ok(msg))) => push(msg),
            Some(None) => break,
            Some(Some(Err(_))) | None => {}
        }
    }
}
