//! A stand-in for logind's inhibitor locks, on a private system bus:
//! `org.freedesktop.login1.Manager.Inhibit` hands out the write end of a
//! pipe, as logind does, and watches the read end: the lock is held until
//! every copy of the write end is closed (EOF on the read end).
//!
//! The bus needs [`open_policy`](crate::sysbus::open_policy)`("org.freedesktop.login1")`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sysbus::SystemBus;
use crate::wait;

pub const BUS_NAME: &str = "org.freedesktop.login1";
pub const OBJECT_PATH: &str = "/org/freedesktop/login1";

/// One Inhibit call.
#[derive(Debug, Clone)]
pub struct InhibitCall {
    pub at: Instant,
    pub what: String,
    pub who: String,
    pub why: String,
    pub mode: String,
    /// The caller's unique bus name.
    pub sender: String,
    /// When the last copy of the handed-out fd was closed, if it was.
    pub released: Arc<Mutex<Option<Instant>>>,
}

impl InhibitCall {
    pub fn released_at(&self) -> Option<Instant> {
        *self.released.lock().unwrap()
    }

    /// Waits until the lock is released.
    pub fn wait_released(&self, timeout: Duration) -> Instant {
        wait::until("the inhibitor fd to be closed", timeout, || {
            self.released_at()
        })
    }
}

struct Manager {
    calls: Arc<Mutex<Vec<InhibitCall>>>,
    stop: Arc<AtomicBool>,
    /// Whether Inhibit is answered at all (a hung logind is not).
    answers: bool,
}

#[zbus::interface(name = "org.freedesktop.login1.Manager")]
impl Manager {
    async fn inhibit(
        &self,
        what: String,
        who: String,
        why: String,
        mode: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) -> zbus::fdo::Result<zbus::zvariant::OwnedFd> {
        let released = Arc::new(Mutex::new(None));
        self.calls.lock().unwrap().push(InhibitCall {
            at: Instant::now(),
            what,
            who,
            why,
            mode,
            sender: header.sender().map(|s| s.to_string()).unwrap_or_default(),
            released: released.clone(),
        });
        if !self.answers {
            while !self.stop.load(Ordering::Relaxed) {
                async_io::Timer::after(Duration::from_millis(20)).await;
            }
            return Err(zbus::fdo::Error::Failed("the stand-in was stopped".into()));
        }
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| zbus::fdo::Error::Failed(format!("pipe: {e}")))?;
        let stop = self.stop.clone();
        std::thread::spawn(move || watch_eof(read, released, stop));
        // Our copy of the write end goes once the reply is sent.
        Ok(zbus::zvariant::OwnedFd::from(write))
    }
}

/// Waits for EOF on `read` (every write end closed) and records when.
fn watch_eof(read: OwnedFd, released: Arc<Mutex<Option<Instant>>>, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd {
            fd: read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 20) };
        if n <= 0 {
            continue;
        }
        // SAFETY: reading into a buffer we own from an fd we own.
        let got = unsafe { libc::read(read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if got == 0 {
            *released.lock().unwrap() = Some(Instant::now());
            return;
        }
    }
}

/// The stand-in: owns `org.freedesktop.login1` until dropped.
pub struct Login1 {
    calls: Arc<Mutex<Vec<InhibitCall>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Login1 {
    pub fn start(bus: &SystemBus) -> Self {
        Self::with(bus, true)
    }

    /// A logind that takes Inhibit calls and never answers them (until it
    /// is dropped): hung, or stuck behind something else.
    pub fn never_answering(bus: &SystemBus) -> Self {
        Self::with(bus, false)
    }

    fn with(bus: &SystemBus, answers: bool) -> Self {
        let address = bus.address().to_owned();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let manager = Manager {
                calls: calls.clone(),
                stop: stop.clone(),
                answers,
            };
            let stop = stop.clone();
            std::thread::spawn(move || {
                crate::block_on(async move {
                    let conn = zbus::connection::Builder::address(address.as_str())
                        .and_then(|b| b.serve_at(OBJECT_PATH, manager))
                        .and_then(|b| b.name(BUS_NAME));
                    let conn = match conn {
                        Ok(b) => b.build().await,
                        Err(e) => Err(e),
                    };
                    let _ = ready_tx.send(conn.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                    while !stop.load(Ordering::Relaxed) {
                        async_io::Timer::after(Duration::from_millis(20)).await;
                    }
                    drop(conn);
                })
            })
        };
        let ready = ready_rx
            .recv_timeout(wait::DEADLINE)
            .expect("the login1 stand-in did not start");
        let l = Login1 {
            calls,
            stop,
            thread: Some(thread),
        };
        if let Err(e) = ready {
            panic!("the login1 stand-in could not take {BUS_NAME}: {e}");
        }
        l
    }

    /// The Inhibit calls so far.
    pub fn calls(&self) -> Vec<InhibitCall> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits for the first Inhibit call.
    pub fn wait_call(&self, timeout: Duration) -> InhibitCall {
        wait::until("an Inhibit call", timeout, || self.calls().first().cloned())
    }
}

impl Drop for Login1 {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
