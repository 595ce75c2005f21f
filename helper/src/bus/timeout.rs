//! A deadline for a future on zbus's executor thread. The bus object's
//! methods run there, outside the tokio runtime, so tokio's timers do not
//! work in them, and the helper has no other timer. A small thread sleeps
//! until the deadline, or until the future is done or dropped, whichever
//! comes first; the callers' caps (see `limits`) bound how many there are.

use std::future::Future;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use futures_lite::FutureExt;
use tokio::sync::oneshot;

/// The thread only waits.
const STACK_SIZE: usize = 64 * 1024;

/// The deadline passed (or no timer thread could be made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// `fut`'s output, or [`Elapsed`] once `limit` has passed.
pub async fn timeout<F: Future>(limit: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let (fire, fired) = oneshot::channel::<()>();
    // Dropped when this function returns: the thread wakes up and ends.
    let (_done, done_rx) = mpsc::channel::<()>();
    let timer = std::thread::Builder::new()
        .name("igotchuu-timer".into())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit) {
                let _ = fire.send(());
            }
        });
    if timer.is_err() {
        return Err(Elapsed);
    }
    async { Ok(fut.await) }
        .or(async {
            let _ = fired.await;
            Err(Elapsed)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn block_on<F: Future>(f: F) -> F::Output {
        futures_lite::future::block_on(f)
    }

    /// The thread count below is the process's: the tests that make timer
    /// threads take turns.
    static TIMERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        TIMERS.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn a_prompt_future_is_not_cut() {
        let _turn = one_at_a_time();
        assert_eq!(
            block_on(timeout(Duration::from_secs(5), async { 7 })),
            Ok(7)
        );
    }

    #[test]
    fn a_hanging_future_is_cut_at_the_deadline() {
        let _turn = one_at_a_time();
        let start = Instant::now();
        let r = block_on(timeout(
            Duration::from_millis(200),
            futures_lite::future::pending::<()>(),
        ));
        assert_eq!(r, Err(Elapsed));
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }

    #[test]
    fn the_timer_thread_ends_with_the_future() {
        let _turn = one_at_a_time();
        let threads = || {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter(|t| {
                    let t = t.as_ref().unwrap().path().join("comm");
                    std::fs::read_to_string(t).unwrap_or_default().trim() == "igotchuu-timer"
                })
                .count()
        };
        let before = threads();
        for _ in 0..20 {
            block_on(timeout(Duration::from_secs(600), async {})).unwrap();
        }
        // Generous for a loaded machine; it ends as soon as they are gone.
        let deadline = Instant::now() + Duration::from_secs(60);
        while threads() > before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(threads() <= before, "timer threads outlive their futures");
    }
}
