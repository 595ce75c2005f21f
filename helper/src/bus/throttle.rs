//! Progress coalescing, shared by the run's sink and the bus task: at most
//! one Progress signal an interval; the first report goes out at once, and
//! the latest one held back goes out when its interval is over, also when
//! restic says nothing more for a while (a stalled upload, a paused
//! process), so that no client is left showing an older state.
//!
//! The sink offers every report; the bus task's timer takes what was held.

use std::time::Duration;

use igotchuu_dbus::Progress;
use tokio::time::Instant;

/// What to do with a report just offered.
#[derive(Debug, PartialEq)]
pub enum Offer {
    /// Send it now.
    Send(Progress),
    /// It is held; wake the bus task at this time to send it, unless a wake
    /// is already due (`None`).
    Hold(Option<Instant>),
}

/// What the bus task's timer found.
#[derive(Debug, PartialEq)]
pub enum Due {
    /// Send this, the latest report held back.
    Send(Progress),
    /// A report is held, but a newer one went out since the wake was set:
    /// wake again at this time.
    WakeAt(Instant),
    /// Nothing is held.
    Nothing,
}

#[derive(Debug)]
pub struct ProgressThrottle {
    interval: Duration,
    last_sent: Option<Instant>,
    held: Option<Progress>,
    /// The bus task has been asked to wake, and has not yet.
    wake_set: bool,
}

impl ProgressThrottle {
    pub fn new(interval: Duration) -> Self {
        ProgressThrottle {
            interval,
            last_sent: None,
            held: None,
            wake_set: false,
        }
    }

    fn next_slot(&self, now: Instant) -> Instant {
        self.last_sent.map_or(now, |t| (t + self.interval).max(now))
    }

    /// A new report. `may_send` is false while the bus is congested: then
    /// it is held whatever the time.
    pub fn offer(&mut self, p: &Progress, now: Instant, may_send: bool) -> Offer {
        if may_send && self.next_slot(now) <= now {
            self.last_sent = Some(now);
            self.held = None;
            return Offer::Send(p.clone());
        }
        self.held = Some(p.clone());
        if self.wake_set {
            Offer::Hold(None)
        } else {
            self.wake_set = true;
            Offer::Hold(Some(self.next_slot(now)))
        }
    }

    /// The bus task's timer went off.
    pub fn wake(&mut self, now: Instant) -> Due {
        if self.held.is_none() {
            self.wake_set = false;
            return Due::Nothing;
        }
        let slot = self.next_slot(now);
        if slot > now {
            return Due::WakeAt(slot);
        }
        self.wake_set = false;
        self.last_sent = Some(now);
        Due::Send(self.held.take().expect("checked above"))
    }

    /// The report held back, whatever the time: it must go out before the
    /// event that follows (a phase change, the end of the run).
    pub fn flush(&mut self, now: Instant) -> Option<Progress> {
        let held = self.held.take()?;
        self.last_sent = Some(now);
        Some(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(250);

    fn p(n: u64) -> Progress {
        Progress {
            files_done: n,
            ..Progress::default()
        }
    }

    #[test]
    fn the_first_goes_out_and_the_last_held_goes_out_when_its_slot_comes() {
        let t0 = Instant::now();
        let mut t = ProgressThrottle::new(INTERVAL);
        assert_eq!(t.offer(&p(1), t0, true), Offer::Send(p(1)));
        // Within the interval: held, and one wake is asked for, at the slot.
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(t.offer(&p(2), ms(10), true), Offer::Hold(Some(ms(250))));
        assert_eq!(t.offer(&p(3), ms(20), true), Offer::Hold(None));
        // restic then says nothing more: the timer sends the latest.
        assert_eq!(t.wake(ms(250)), Due::Send(p(3)));
        assert_eq!(t.wake(ms(260)), Due::Nothing);
        // The next slot counts from that send.
        assert_eq!(t.offer(&p(4), ms(300), true), Offer::Hold(Some(ms(500))));
        assert_eq!(t.offer(&p(5), ms(500), true), Offer::Send(p(5)));
        // The wake set for p(4) finds nothing: p(5) replaced it.
        assert_eq!(t.wake(ms(500)), Due::Nothing);
    }

    #[test]
    fn a_wake_after_a_newer_send_waits_for_the_next_slot() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = ProgressThrottle::new(INTERVAL);
        assert_eq!(t.offer(&p(1), t0, true), Offer::Send(p(1)));
        assert_eq!(t.offer(&p(2), ms(100), true), Offer::Hold(Some(ms(250))));
        // The timer is late; a report at the slot went out directly.
        assert_eq!(t.offer(&p(3), ms(255), true), Offer::Send(p(3)));
        assert_eq!(t.offer(&p(4), ms(256), true), Offer::Hold(None));
        assert_eq!(t.wake(ms(257)), Due::WakeAt(ms(505)));
        assert_eq!(t.wake(ms(505)), Due::Send(p(4)));
    }

    #[test]
    fn a_congested_bus_holds_and_a_flush_sends_what_was_held() {
        let t0 = Instant::now();
        let mut t = ProgressThrottle::new(INTERVAL);
        assert_eq!(t.offer(&p(1), t0, false), Offer::Hold(Some(t0)));
        assert_eq!(t.flush(t0), Some(p(1)));
        assert_eq!(t.flush(t0), None);
    }
}
