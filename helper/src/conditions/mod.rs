//! Run conditions for scheduled runs: not on battery (UPower) and not over
//! a metered connection to a network repository (NetworkManager), unless
//! the configuration allows it. A scheduled run that finds a condition
//! unmet is recorded as postponed and waits, without the run lock or the
//! bus name, until the condition clears. A run started by hand (a
//! terminal, "Back up now") runs at once and says what it overrides.
//!
//! - [`decision`]: which conditions are unmet, and the words for people;
//! - [`services`]: UPower and NetworkManager on the system bus, bounded;
//! - [`waiting`]: the wait, woken by their signals, with a slow backstop;
//! - [`postponed`]: the postponed run's history record;
//! - [`announce`]: its OperationStarted and OperationFinished on the bus.

mod announce;
mod decision;
mod postponed;
mod services;
mod waiting;

use std::future::Future;
use std::path::Path;
use std::task::Poll;

use igotchuu_dbus::{Operation, RunCondition};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::config::Config;
use crate::exit;
use decision::Policy;
use services::{Changes, SystemBus};
use waiting::{Limits, Sensors, Waited};

/// What the gate decided.
#[derive(Debug)]
pub enum Gate {
    /// Go ahead. The conditions that are unmet but overridden, because the
    /// operation was started by hand: the run says so and records them.
    Go { overridden: Vec<RunCondition> },
    /// A postponed scheduled run has nothing left to do (a backup completed
    /// while it waited), or the conditions did not clear in time: exit
    /// with this code.
    Exit(u8),
}

impl Gate {
    fn go() -> Self {
        Gate::Go {
            overridden: Vec::new(),
        }
    }
}

/// Decides whether `operation` may run now; for a `scheduled` run with a
/// condition unmet, records it as postponed in `state_dir` and waits.
/// Called on the helper's runtime after the mount namespace is private and
/// before the run lock is taken (a waiting run must block nobody); for a
/// Start call (by hand) after the call was accepted, to learn what it
/// overrides. A run started by hand with conditions unmet prints (and
/// logs) what it overrides here; the caller records them.
pub async fn gate(
    config: &Config,
    operation: Operation,
    scheduled: bool,
    state_dir: &Path,
) -> Gate {
    let policy = Policy::of(config);
    let sources = services::sources(policy);
    if sources.is_empty() {
        // run_on_battery, and run_on_metered or a local repository.
        return Gate::go();
    }
    let Some(bus) = SystemBus::connect().await else {
        return Gate::go();
    };
    let unmet = decision::unmet(bus.readings(policy).await, policy);
    if unmet.is_empty() {
        return Gate::go();
    }
    if !scheduled {
        let note = decision::overridden_note(operation, &unmet);
        tracing::info!("{note}");
        println!("{}", decision::overridden_words(operation, &unmet));
        return Gate::Go { overridden: unmet };
    }
    // Subscribe, then read again: a change in between is not missed.
    let changes = bus.changes(&sources).await;
    let unmet = decision::unmet(bus.readings(policy).await, policy);
    if unmet.is_empty() {
        return Gate::go();
    }
    let mut sensors = Live {
        bus,
        changes,
        policy,
    };
    hold_back(config, operation, state_dir, &mut sensors, unmet).await
}

/// Records the postponed run, then waits for the conditions to clear.
async fn hold_back(
    config: &Config,
    operation: Operation,
    state_dir: &Path,
    sensors: &mut Live,
    unmet: Vec<RunCondition>,
) -> Gate {
    // Before anything says "postponed": a SIGTERM from then on ends the
    // wait in order.
    let interrupt = stop_requested();
    let at = postponed::now();
    let record = postponed::record(config, operation, &unmet, at);
    tracing::info!("{}", record.reason);
    println!("{}", record.reason);
    postponed::append(state_dir, record.clone());
    announce::postponed(&sensors.bus, config, &record).await;
    let profile = config.profile.as_deref();
    let waited = waiting::until_clear(
        sensors,
        unmet,
        Limits::SCHEDULED,
        || postponed::satisfied_since(state_dir, operation, profile, at),
        interrupt,
    )
    .await;
    match waited {
        Waited::Clear => {
            println!("{}", decision::cleared_note(operation));
            Gate::go()
        }
        Waited::Satisfied => {
            println!("{}", decision::satisfied_note(operation));
            Gate::Exit(exit::COMPLETED)
        }
        Waited::GaveUp(unmet) => {
            let hours = Limits::SCHEDULED.give_up.as_secs() / 3600;
            let note = decision::gave_up_note(operation, &unmet, hours);
            tracing::info!("{note}");
            println!("{note}");
            Gate::Exit(exit::POSTPONED)
        }
        Waited::Interrupted => {
            let text =
                crate::i18n::gettext("Stopped while waiting for the run conditions; nothing ran.");
            println!("{text}");
            Gate::Exit(exit::STOPPED)
        }
    }
}

/// The services themselves.
struct Live {
    bus: SystemBus,
    changes: Changes,
    policy: Policy,
}

impl Sensors for Live {
    async fn unmet(&mut self) -> Vec<RunCondition> {
        decision::unmet(self.bus.readings(self.policy).await, self.policy)
    }

    fn changed(&mut self) -> impl Future<Output = ()> {
        self.changes.next()
    }
}

/// Resolves on SIGINT, SIGTERM or SIGHUP, as they stop a run.
fn stop_requested() -> impl Future<Output = ()> {
    let mut signals: Vec<Signal> = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ]
    .into_iter()
    .filter_map(|kind| {
        signal(kind)
            .inspect_err(|e| tracing::warn!("cannot handle signal {kind:?}: {e}"))
            .ok()
    })
    .collect();
    std::future::poll_fn(move |cx| {
        for s in &mut signals {
            if s.poll_recv(cx).is_ready() {
                tracing::info!("stop requested by signal while waiting for the run conditions");
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
}
