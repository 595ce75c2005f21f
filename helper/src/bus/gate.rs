//! What the Start and Stop methods and the helper's main task share: whether
//! a run was accepted, how many Start calls wait for polkit, and when a
//! D-Bus-activated helper that has not started a run has to leave.
//!
//! An activated helper is started by whoever sends to the name, and anyone
//! may. So until a Start call has passed polkit it holds nothing a scheduled
//! run needs, and it leaves when it has no reason to stay: [`IDLE_EXIT`]
//! after it was started, or when a run takes the name from it. A person
//! typing a password keeps it, but only so long.
//!
//! A refused Start does not make it leave early. If it did, every refused
//! call would start the helper anew, and a local user who calls Start in a
//! loop would push the unit into systemd's start limit, after which nobody's
//! "Back up now" would work. Staying, it answers all calls of the next
//! [`IDLE_EXIT`] itself: at most one start of the unit per [`IDLE_EXIT`],
//! however many calls are refused.
//!
//! The Start and Stop calls that wait for polkit are capped per caller and
//! in total ([`Limits`]).
//!
//! Plain state and rules, no I/O, so that they are tested without a bus.

use std::fmt;
use std::time::Duration;

use igotchuu_dbus::errors::Error as BackupError;
use igotchuu_dbus::proxy::AUTH_CALL_TIMEOUT;
use igotchuu_dbus::Phase;
use zbus::fdo;

use super::limits::{Key, Limits};

/// An activated helper that gets no Start call leaves after this long.
pub const IDLE_EXIT: Duration = Duration::from_secs(30);
/// An activated helper leaves after this long even while polkit checks are
/// out: no client waits longer than [`AUTH_CALL_TIMEOUT`] for its reply.
pub const HARD_CAP: Duration =
    Duration::from_secs(IDLE_EXIT.as_secs() + AUTH_CALL_TIMEOUT.as_secs());

/// Where the helper's one run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// An activated helper waits for Start.
    Waiting,
    /// A Start call passed polkit; the main task is taking the run lock.
    Claimed,
    /// The run lock is held: the run is on.
    Accepted,
    /// The run has ended.
    Finished,
}

/// Why an activated helper leaves without a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// No accepted Start call within [`IDLE_EXIT`].
    Idle,
    /// Checks were still pending after [`HARD_CAP`].
    HardCap,
    /// Another run took the name (or the bus went away).
    NameLost,
    /// SIGINT, SIGTERM or SIGHUP.
    Signal,
    /// An accepted Start found the run lock taken.
    Busy,
}

impl fmt::Display for Leave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Leave::Idle => "no Start call was allowed",
            Leave::HardCap => "the authorization of a Start call took too long",
            Leave::NameLost => "another igotchuu backup took over the bus name",
            Leave::Signal => "stopped by a signal",
            Leave::Busy => "another igotchuu backup holds the run lock",
        })
    }
}

/// What the main task of an activated helper should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Wait for a Start call, a change, or this much longer at most.
    Stay(Duration),
    Leave(Leave),
}

/// The shared state. Kept in a `tokio::sync::watch` channel, so that the
/// main task wakes up on every change.
#[derive(Debug, Clone)]
pub struct Gate {
    run: RunState,
    /// Start calls whose polkit check is under way.
    pending: u32,
    /// Start and Stop calls whose polkit check is under way, per caller.
    limits: Limits,
    /// The helper is leaving: pending checks give up, new calls are refused.
    closing: Option<Leave>,
    /// The repository is mounted for browsing (`bus::browse`): an
    /// activated helper stays for as long as it is.
    browsing: bool,
    /// Calls under way that keep an activated helper (Snapshots), up to
    /// [`HARD_CAP`].
    busy: u32,
}

impl Gate {
    /// An activated helper, waiting for Start.
    pub fn waiting() -> Self {
        Gate {
            run: RunState::Waiting,
            pending: 0,
            limits: Limits::default(),
            closing: None,
            browsing: false,
            busy: 0,
        }
    }

    /// `igotchuu backup`: the process is the run.
    pub fn accepted() -> Self {
        Gate {
            run: RunState::Accepted,
            ..Gate::waiting()
        }
    }

    pub fn pending(&self) -> u32 {
        self.pending
    }

    pub fn closing(&self) -> Option<Leave> {
        self.closing
    }

    /// A Start call from `who` arrived: is it worth asking polkit? If so it
    /// is counted as pending until [`end_check`](Self::end_check).
    pub fn begin_check(&mut self, who: &Key) -> Result<(), Refused> {
        if let Some(why) = self.closing {
            return Err(Refused::Now(closed_error(why)));
        }
        if self.run != RunState::Waiting {
            return Err(Refused::Now(already_running()));
        }
        self.admit(who)?;
        self.pending += 1;
        Ok(())
    }

    /// polkit answered a counted Start call (or it gave up). The first one
    /// authorized claims the run, atomically: a second one, however close
    /// behind, gets AlreadyRunning. A refusal changes nothing else: the
    /// helper stays for its idle time (see the module's documentation).
    pub fn end_check(
        &mut self,
        who: &Key,
        checked: Result<(), BackupError>,
    ) -> Result<(), BackupError> {
        self.abandon_check(who);
        if let Some(why) = self.closing {
            return Err(checked.err().unwrap_or_else(|| closed_error(why)));
        }
        match checked {
            Err(e) => Err(e),
            Ok(()) if self.run == RunState::Waiting => {
                self.run = RunState::Claimed;
                Ok(())
            }
            Ok(()) => Err(already_running()),
        }
    }

    /// A counted Start check went away unanswered (its call was dropped).
    pub fn abandon_check(&mut self, who: &Key) {
        self.pending = self.pending.saturating_sub(1);
        self.limits.release(who);
    }

    /// A Stop call from `who` is about to ask polkit: counted until
    /// [`end_stop_check`](Self::end_stop_check).
    pub fn begin_stop_check(&mut self, who: &Key) -> Result<(), Refused> {
        self.admit(who)
    }

    pub fn end_stop_check(&mut self, who: &Key) {
        self.limits.release(who);
    }

    fn admit(&mut self, who: &Key) -> Result<(), Refused> {
        self.limits.admit(who).map_err(|cap| {
            Refused::OverLimit(BackupError::Fdo(fdo::Error::LimitsExceeded(
                cap.message(who),
            )))
        })
    }

    /// The main task holds the run lock for a claimed run.
    pub fn accept(&mut self) {
        self.run = RunState::Accepted;
    }

    pub fn finish(&mut self) {
        self.run = RunState::Finished;
    }

    /// A call that keeps an activated helper began (`true`) or ended.
    pub fn set_busy(&mut self, busy: bool) {
        if busy {
            self.busy += 1;
        } else {
            self.busy = self.busy.saturating_sub(1);
        }
    }

    /// A browse session began or ended.
    pub fn set_browsing(&mut self, browsing: bool) {
        self.browsing = browsing;
    }

    /// The helper leaves; the first reason sticks.
    pub fn close(&mut self, why: Leave) {
        self.closing.get_or_insert(why);
    }

    /// Whether Stop may stop the run now, given its phase and whether it has
    /// finished. Stop during cleaning-up would change nothing: restic is
    /// done and the snapshots go in any case.
    pub fn may_stop(&self, phase: Option<Phase>, finished: bool) -> Result<(), BackupError> {
        match self.run {
            RunState::Waiting | RunState::Claimed => {
                Err(BackupError::NotRunning("no backup is running".into()))
            }
            RunState::Finished => Err(over()),
            RunState::Accepted if finished || phase == Some(Phase::CleaningUp) => Err(over()),
            RunState::Accepted => Ok(()),
        }
    }

    /// For the main task of an activated helper, `elapsed` after it started.
    pub fn verdict(&self, elapsed: Duration) -> Verdict {
        let until_cap = HARD_CAP.saturating_sub(elapsed);
        // The browse session has its own ends (Close, the caller's
        // disconnection, its idle time); a signal or a lost name ends both.
        if self.browsing && self.closing.is_none() && self.run != RunState::Claimed {
            return Verdict::Stay(IDLE_EXIT);
        }
        if elapsed >= HARD_CAP {
            return Verdict::Leave(self.closing.unwrap_or(Leave::HardCap));
        }
        // Its request is on the way to the main task, which answers it.
        if self.run == RunState::Claimed {
            return Verdict::Stay(until_cap);
        }
        if let Some(why) = self.closing {
            return Verdict::Leave(why);
        }
        if self.pending > 0 || self.busy > 0 {
            return Verdict::Stay(until_cap);
        }
        match IDLE_EXIT.checked_sub(elapsed) {
            Some(left) if !left.is_zero() => Verdict::Stay(left),
            _ => Verdict::Leave(Leave::Idle),
        }
    }
}

/// Why a call was refused before polkit was asked.
#[derive(Debug)]
pub enum Refused {
    /// Over one of the caps of [`Limits`].
    OverLimit(BackupError),
    /// Asking would change nothing: a run is on, or the helper leaves.
    Now(BackupError),
}

impl Refused {
    pub fn into_error(self) -> BackupError {
        match self {
            Refused::OverLimit(e) | Refused::Now(e) => e,
        }
    }
}

fn already_running() -> BackupError {
    BackupError::AlreadyRunning("a backup is already running".into())
}

fn over() -> BackupError {
    BackupError::NotRunning(
        "the backup is already over: igotchuu is deleting its snapshots and finishing".into(),
    )
}

/// The answer to a Start call that finds the helper leaving.
pub fn closed_error(why: Leave) -> BackupError {
    match why {
        Leave::NameLost | Leave::Busy => {
            BackupError::AlreadyRunning(format!("{why}; that backup is running now"))
        }
        Leave::HardCap => BackupError::Fdo(fdo::Error::TimedOut(format!(
            "polkit did not decide within {} s",
            HARD_CAP.as_secs()
        ))),
        _ => BackupError::Fdo(fdo::Error::Failed(format!(
            "this igotchuu helper is exiting ({why}); call Start again"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::limits::{PER_NAME, PER_UID};

    const S: Duration = Duration::from_secs(1);

    fn denied() -> BackupError {
        BackupError::Fdo(fdo::Error::AccessDenied("no".into()))
    }

    fn key(name: &str, uid: u32) -> Key {
        Key {
            name: name.into(),
            uid,
        }
    }

    fn root() -> Key {
        key(":1.1", 0)
    }

    #[test]
    fn an_idle_helper_leaves_after_the_idle_time() {
        let g = Gate::waiting();
        assert_eq!(g.verdict(Duration::ZERO), Verdict::Stay(IDLE_EXIT));
        assert_eq!(g.verdict(10 * S), Verdict::Stay(IDLE_EXIT - 10 * S));
        assert_eq!(g.verdict(IDLE_EXIT), Verdict::Leave(Leave::Idle));
    }

    #[test]
    fn a_browse_session_keeps_it_until_it_ends_or_a_signal_comes() {
        let mut g = Gate::waiting();
        g.set_browsing(true);
        assert_eq!(g.verdict(10 * HARD_CAP), Verdict::Stay(IDLE_EXIT));
        g.set_browsing(false);
        assert_eq!(g.verdict(10 * HARD_CAP), Verdict::Leave(Leave::HardCap));
        g.set_browsing(true);
        g.close(Leave::Signal);
        assert_eq!(g.verdict(S), Verdict::Leave(Leave::Signal));
    }

    #[test]
    fn a_busy_call_keeps_it_but_only_until_the_hard_cap() {
        let mut g = Gate::waiting();
        g.set_busy(true);
        assert_eq!(
            g.verdict(IDLE_EXIT + S),
            Verdict::Stay(HARD_CAP - IDLE_EXIT - S)
        );
        assert_eq!(g.verdict(HARD_CAP), Verdict::Leave(Leave::HardCap));
        g.set_busy(false);
        assert_eq!(g.verdict(IDLE_EXIT + S), Verdict::Leave(Leave::Idle));
    }

    #[test]
    fn a_pending_authorization_keeps_it_but_only_until_the_hard_cap() {
        let mut g = Gate::waiting();
        g.begin_check(&root()).unwrap();
        assert_eq!(
            g.verdict(IDLE_EXIT + S),
            Verdict::Stay(HARD_CAP - IDLE_EXIT - S)
        );
        assert_eq!(g.verdict(HARD_CAP), Verdict::Leave(Leave::HardCap));
        // Authorized after the idle time: the run is claimed, not dropped.
        assert!(g.end_check(&root(), Ok(())).is_ok());
        assert_eq!(g.run, RunState::Claimed);
        assert!(matches!(g.verdict(IDLE_EXIT + 2 * S), Verdict::Stay(_)));
        g.accept();
        assert_eq!(g.run, RunState::Accepted);
    }

    #[test]
    fn a_refused_start_keeps_the_helper_for_its_idle_time() {
        let mut g = Gate::waiting();
        let nobody = key(":1.7", 65534);
        for _ in 0..100 {
            g.begin_check(&nobody).unwrap();
            assert!(g.end_check(&nobody, Err(denied())).is_err());
            // Still here for the next call, so that it is not started anew.
            assert_eq!(g.verdict(2 * S), Verdict::Stay(IDLE_EXIT - 2 * S));
        }
        assert_eq!(g.verdict(IDLE_EXIT), Verdict::Leave(Leave::Idle));
        // And an allowed Start after all those is still a run.
        g.begin_check(&root()).unwrap();
        assert!(g.end_check(&root(), Ok(())).is_ok());
        assert_eq!(g.run, RunState::Claimed);
    }

    #[test]
    fn two_authorized_starts_make_one_run() {
        let mut g = Gate::waiting();
        let (a, b) = (key(":1.2", 0), key(":1.3", 0));
        g.begin_check(&a).unwrap();
        g.begin_check(&b).unwrap();
        assert!(g.end_check(&a, Ok(())).is_ok());
        let second = g.end_check(&b, Ok(()));
        assert!(
            matches!(second, Err(BackupError::AlreadyRunning(_))),
            "{second:?}"
        );
        // And once claimed, a new call does not even ask polkit.
        assert!(matches!(
            g.begin_check(&a),
            Err(Refused::Now(BackupError::AlreadyRunning(_)))
        ));
        assert_eq!(g.pending(), 0);
        assert_eq!(g.limits.pending(), 0);
    }

    #[test]
    fn a_closing_helper_refuses_and_its_pending_checks_give_up() {
        let mut g = Gate::waiting();
        g.begin_check(&root()).unwrap();
        g.close(Leave::NameLost);
        g.close(Leave::Idle);
        assert_eq!(
            g.closing(),
            Some(Leave::NameLost),
            "the first reason sticks"
        );
        assert!(matches!(
            g.end_check(&root(), Ok(())),
            Err(BackupError::AlreadyRunning(_))
        ));
        assert!(matches!(
            g.begin_check(&root()),
            Err(Refused::Now(BackupError::AlreadyRunning(_)))
        ));
        assert_eq!(g.verdict(S), Verdict::Leave(Leave::NameLost));
    }

    #[test]
    fn a_claimed_run_is_answered_before_the_helper_leaves() {
        let mut g = Gate::waiting();
        g.begin_check(&root()).unwrap();
        g.end_check(&root(), Ok(())).unwrap();
        g.close(Leave::Signal);
        assert!(matches!(g.verdict(S), Verdict::Stay(_)));
        assert_eq!(g.verdict(HARD_CAP), Verdict::Leave(Leave::Signal));
    }

    #[test]
    fn pending_checks_are_capped_per_caller_for_start_and_stop_together() {
        let mut g = Gate::waiting();
        let nobody = |c: u32| key(&format!(":1.{c}"), 65534);
        for _ in 0..PER_NAME {
            g.begin_check(&nobody(0)).unwrap();
        }
        let over = g.begin_stop_check(&nobody(0));
        assert!(
            matches!(&over, Err(Refused::OverLimit(BackupError::Fdo(fdo::Error::LimitsExceeded(m)))) if m.contains(":1.0")),
            "{over:?}"
        );
        for c in 1..=(PER_UID - PER_NAME) {
            g.begin_stop_check(&nobody(c)).unwrap();
        }
        assert!(matches!(
            g.begin_check(&nobody(99)),
            Err(Refused::OverLimit(_))
        ));
        // Someone else is not held up, and a refusal costs no pending slot.
        g.begin_check(&root()).unwrap();
        assert_eq!(g.pending(), PER_NAME + 1);
        g.abandon_check(&nobody(0));
        g.end_stop_check(&nobody(1));
        g.begin_check(&nobody(0)).unwrap();
        g.begin_stop_check(&nobody(1)).unwrap();
    }

    #[test]
    fn stop_needs_an_accepted_run_that_is_not_cleaning_up() {
        let mut g = Gate::waiting();
        assert!(matches!(
            g.may_stop(None, false),
            Err(BackupError::NotRunning(_))
        ));
        g.begin_check(&root()).unwrap();
        g.end_check(&root(), Ok(())).unwrap();
        g.accept();
        // Accepted, before the first phase: Stop stops it.
        assert!(g.may_stop(None, false).is_ok());
        assert!(g.may_stop(Some(Phase::BackingUp), false).is_ok());
        assert!(g.may_stop(Some(Phase::Stopping), false).is_ok());
        let late = g.may_stop(Some(Phase::CleaningUp), false);
        assert!(
            matches!(&late, Err(BackupError::NotRunning(m)) if m.contains("deleting its snapshots")),
            "{late:?}"
        );
        assert!(g.may_stop(None, true).is_err());
        g.finish();
        assert!(g.may_stop(None, false).is_err());
        assert!(Gate::accepted().may_stop(None, false).is_ok());
    }
}
