//! Waiting, in the process, for the run conditions to clear: woken by the
//! services' change signals, with a slow re-check as a backstop (a signal
//! may be missed, a service may come or go without one), bounded in time.

use std::future::Future;
use std::time::Duration;

use igotchuu_dbus::RunCondition;

/// Where the wait learns the conditions.
pub trait Sensors {
    /// The conditions unmet now.
    fn unmet(&mut self) -> impl Future<Output = Vec<RunCondition>>;
    /// Resolves when something may have changed. Cancel-safe.
    fn changed(&mut self) -> impl Future<Output = ()>;
}

/// How long the wait goes on.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The backstop: re-check at least this often.
    pub recheck: Duration,
    /// Give up after this long: the next scheduled run tries again.
    pub give_up: Duration,
}

impl Limits {
    /// Every 5 minutes, for at most a day.
    pub const SCHEDULED: Limits = Limits {
        recheck: Duration::from_secs(5 * 60),
        give_up: Duration::from_secs(24 * 60 * 60),
    };
}

/// How the wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    /// Every condition is met: run.
    Clear,
    /// Another run did the work meanwhile: nothing is left to do.
    Satisfied,
    /// The conditions did not clear in time; these were still unmet.
    GaveUp(Vec<RunCondition>),
    /// SIGINT or SIGTERM.
    Interrupted,
}

/// Waits until `sensors` report nothing unmet, `satisfied()` says another
/// run did the work, `interrupt` resolves, or `limits.give_up` passes.
/// `unmet` is what held the run back at the start.
pub async fn until_clear<S: Sensors>(
    sensors: &mut S,
    mut unmet: Vec<RunCondition>,
    limits: Limits,
    mut satisfied: impl FnMut() -> bool,
    interrupt: impl Future<Output = ()>,
) -> Waited {
    let deadline = tokio::time::sleep(limits.give_up);
    tokio::pin!(deadline, interrupt);
    loop {
        tokio::select! {
            // A stop request and the deadline come before a change.
            biased;
            () = &mut interrupt => return Waited::Interrupted,
            () = &mut deadline => return Waited::GaveUp(unmet),
            () = sensors.changed() => tracing::debug!("run conditions: a service said something changed"),
            () = tokio::time::sleep(limits.recheck) => tracing::debug!("run conditions: re-checking"),
        }
        if satisfied() {
            return Waited::Satisfied;
        }
        let now = sensors.unmet().await;
        if now.is_empty() {
            return Waited::Clear;
        }
        if now != unmet {
            tracing::info!(
                "run conditions: still waiting for {}",
                now.iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            unmet = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Readings in turn, and change signals at given times.
    struct Script {
        readings: VecDeque<Vec<RunCondition>>,
        reads: usize,
        changes: VecDeque<Duration>,
    }

    impl Sensors for Script {
        async fn unmet(&mut self) -> Vec<RunCondition> {
            self.reads += 1;
            self.readings
                .pop_front()
                .unwrap_or_else(|| vec![RunCondition::OnBattery])
        }
        async fn changed(&mut self) {
            match self.changes.front().copied() {
                Some(after) => {
                    tokio::time::sleep(after).await;
                    self.changes.pop_front();
                }
                None => std::future::pending().await,
            }
        }
    }

    fn script(readings: Vec<Vec<RunCondition>>, changes: Vec<u64>) -> Script {
        Script {
            readings: readings.into(),
            reads: 0,
            changes: changes.into_iter().map(Duration::from_secs).collect(),
        }
    }

    const LIMITS: Limits = Limits {
        recheck: Duration::from_secs(300),
        give_up: Duration::from_secs(3600),
    };
    const BATTERY: RunCondition = RunCondition::OnBattery;

    #[tokio::test(start_paused = true)]
    async fn a_change_signal_ends_the_wait_at_once() {
        let start = tokio::time::Instant::now();
        let mut s = script(vec![vec![]], vec![7]);
        let w = until_clear(
            &mut s,
            vec![BATTERY],
            LIMITS,
            || false,
            std::future::pending(),
        )
        .await;
        assert_eq!(w, Waited::Clear);
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn without_signals_the_backstop_finds_the_change() {
        let start = tokio::time::Instant::now();
        let mut s = script(vec![vec![BATTERY], vec![BATTERY], vec![]], vec![]);
        let w = until_clear(
            &mut s,
            vec![BATTERY],
            LIMITS,
            || false,
            std::future::pending(),
        )
        .await;
        assert_eq!(w, Waited::Clear);
        assert_eq!(s.reads, 3);
        assert_eq!(start.elapsed(), Duration::from_secs(900));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_limit_with_what_is_still_unmet() {
        let start = tokio::time::Instant::now();
        let mut s = script(vec![], vec![]);
        let w = until_clear(
            &mut s,
            vec![RunCondition::Metered],
            LIMITS,
            || false,
            std::future::pending(),
        )
        .await;
        assert_eq!(w, Waited::GaveUp(vec![BATTERY]));
        assert_eq!(start.elapsed(), LIMITS.give_up);
        assert_eq!(s.reads, 11, "one re-check every 5 minutes");
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_meanwhile_satisfies_the_wait_before_the_conditions_are_read() {
        let checks = AtomicUsize::new(0);
        let mut s = script(vec![vec![]], vec![1]);
        let w = until_clear(
            &mut s,
            vec![BATTERY],
            LIMITS,
            || checks.fetch_add(1, Ordering::SeqCst) == 0,
            std::future::pending(),
        )
        .await;
        assert_eq!(w, Waited::Satisfied);
        assert_eq!(s.reads, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_interrupt_ends_the_wait() {
        let start = tokio::time::Instant::now();
        let mut s = script(vec![], vec![]);
        let w = until_clear(
            &mut s,
            vec![BATTERY],
            LIMITS,
            || false,
            tokio::time::sleep(Duration::from_secs(42)),
        )
        .await;
        assert_eq!(w, Waited::Interrupted);
        assert_eq!(start.elapsed(), Duration::from_secs(42));
    }
}
