//! `igotchuu backup`, `forget`, `prune` and `check` (a timer, a terminal),
//! and `igotchuu serve` (D-Bus activation: wait for a polkit-checked
//! Start, run that backup, exit).
//!
//! The order matters, and is the same for every operation:
//!
//! 1. the configuration, the state directory and the private mount
//!    namespace, while the process has one thread (`unshare`);
//! 2. the run conditions (`conditions::gate`): a scheduled run may wait
//!    here, holding nothing;
//! 3. the run lock: a run that finds it taken waits its turn, up to
//!    `wait_timeout`, still holding no bus name;
//! 4. the bus name, `settings.json` for the desktop, the sleep inhibitor,
//!    and the operation (a backup that saved a snapshot is followed by a
//!    forget when a policy is set);
//! 5. the bus name goes, then the inhibitor, then the run lock, so that the
//!    next run in line finds the name free once it has the lock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use igotchuu_dbus::{Operation, Outcome, RunCondition};
use tokio::sync::{mpsc, watch};

use super::serve::{self, Waited};
use super::{Claim, Setup};
use crate::bus::browse::Browser;
use crate::bus::restore::Restorer;
use crate::bus::{self, inhibit, Control, Gate, Job, LiveState, NameRole, Publisher, StartRequest};
use crate::cli::Cli;
use crate::conditions;
use crate::events::EventBus;
use crate::exit;
use crate::i18n::{fill, gettext};
use crate::output;
use crate::restore::RestoreJob;
use crate::run;
use crate::state;

/// How long the last signals may take to leave before the helper exits.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long giving up the bus name may take.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// What to run, and when.
pub enum Mode {
    /// `operation` now; `scheduled` when a timer started it (the run
    /// conditions apply).
    Now {
        operation: Operation,
        scheduled: bool,
    },
    /// `igotchuu restore`: this restore now, once its arguments are checked
    /// against the repository.
    Restore(super::restore::Request),
    /// A backup, once a Start call on the bus was allowed.
    OnStartCall,
}

pub fn run(cli: &Cli, mode: Mode) -> u8 {
    let setup = match super::setup(cli) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Mode::Now {
        operation: Operation::Forget,
        ..
    } = mode
    {
        if setup.config.retention.is_empty() {
            return super::forget::no_policy(&setup.config);
        }
    }
    if let Err(e) = crate::namespace::enter_private() {
        return super::fail(e);
    }
    super::runtime().block_on(run_async(setup, mode))
}

async fn run_async(setup: Setup, mode: Mode) -> u8 {
    let (stop_tx, stop_rx) = watch::channel(false);
    super::stop_on_signals(&stop_tx);
    let (start_tx, start_rx) = mpsc::channel(1);
    let live = Arc::new(Mutex::new(LiveState::default()));
    let standby = matches!(mode, Mode::OnStartCall);
    let gate = watch::Sender::new(if standby {
        Gate::waiting()
    } else {
        Gate::accepted()
    });
    let browser = Browser::new(setup.config.clone(), gate.clone());
    // What a helper that is gone left mounted; before this one can mount.
    browser.remove_stale();
    let control = Control {
        stop: stop_tx,
        start: standby.then_some(start_tx),
        gate,
        browse: Some(browser.clone()),
        restore: Some(Restorer::new(setup.config.clone(), setup.state_dir.clone())),
    };
    let code = run_with(setup, mode, control, live, start_rx, stop_rx).await;
    browser.close("the igotchuu helper exits").await;
    code
}

async fn run_with(
    setup: Setup,
    mode: Mode,
    control: Control,
    live: Arc<Mutex<LiveState>>,
    mut start_rx: mpsc::Receiver<StartRequest>,
    stop_rx: watch::Receiver<bool>,
) -> u8 {
    let (job, claim, publisher, overridden) = match mode {
        Mode::Now { .. } | Mode::Restore(_) => {
            let (operation, scheduled, job) = match mode {
                Mode::Now {
                    operation,
                    scheduled,
                } => (operation, scheduled, Job::Backup),
                Mode::Restore(request) => match super::restore::job(&setup, &request).await {
                    Ok(job) => (Operation::Restore, false, Job::Restore(Box::new(job))),
                    Err(code) => return code,
                },
                Mode::OnStartCall => unreachable!("matched above"),
            };
            let overridden = if operation == Operation::Restore {
                // A restore is always by hand, and what it waits for is the person.
                Overridden::Known(Vec::new())
            } else {
                match pass_gate(&setup, operation, scheduled, stop_rx.clone()).await {
                    Ok(o) => Overridden::Known(o),
                    Err(code) => return code,
                }
            };
            let claim = match super::claim_waiting(
                &setup.state_dir,
                setup.config.wait_timeout,
                operation,
                stop_rx.clone(),
            )
            .await
            {
                Ok(c) => c,
                Err(e) => return e.report(),
            };
            let publisher = match Publisher::attach(live, control.clone(), NameRole::Run).await {
                Ok(p) => Some(p),
                Err(bus::AttachError::NameTaken) => return name_taken(),
                Err(e) => {
                    tracing::warn!(
                        "no system bus ({e}); running without publishing progress on D-Bus"
                    );
                    None
                }
            };
            let job = match job {
                Job::Backup => Work::Maintenance {
                    operation,
                    scheduled,
                },
                Job::Restore(job) => Work::Restore(job),
            };
            (job, claim, publisher, overridden)
        }
        Mode::OnStartCall => {
            let publisher = match Publisher::attach(live, control.clone(), NameRole::Standby).await
            {
                Ok(p) => p,
                Err(bus::AttachError::NameTaken) => return name_taken(),
                Err(e) => {
                    // xgettext: The helper cannot use the system bus; {error} is the bus's reason, in English.
                    let text = gettext("system bus: {error}");
                    return super::fail(fill(&text, &[("error", &e.to_string())]));
                }
            };
            let (claim, job) = match serve::wait_for_start(
                &publisher,
                &control,
                &mut start_rx,
                &setup.state_dir,
                stop_rx.clone(),
            )
            .await
            {
                Waited::Run(claim, job) => (claim, job),
                Waited::Exit(code) => return code,
            };
            let (job, overridden) = match job {
                Job::Backup => (
                    Work::Maintenance {
                        operation: Operation::Backup,
                        scheduled: false,
                    },
                    Overridden::ByHand,
                ),
                Job::Restore(job) => (Work::Restore(job), Overridden::Known(Vec::new())),
            };
            (job, claim, Some(publisher), overridden)
        }
    };
    run_claimed(&setup, claim, publisher, &control, job, overridden, stop_rx).await
}

/// What a claimed run does.
enum Work {
    /// A backup, forget, prune or check; `scheduled`: a timer started it.
    Maintenance {
        operation: Operation,
        scheduled: bool,
    },
    Restore(Box<RestoreJob>),
}

impl Work {
    fn operation(&self) -> Operation {
        match self {
            Work::Maintenance { operation, .. } => *operation,
            Work::Restore(_) => Operation::Restore,
        }
    }
}

/// The run conditions a run overrides.
enum Overridden {
    /// The gate has been passed.
    Known(Vec<RunCondition>),
    /// A Start call (by hand): the gate only says what it overrides, once
    /// the run holds its inhibitor. A Stop from now on stops the run, which
    /// then ends as stopped, with its signals.
    ByHand,
}

impl Overridden {
    async fn learn(self, setup: &Setup) -> Vec<RunCondition> {
        match self {
            Overridden::Known(conditions) => conditions,
            Overridden::ByHand => {
                match conditions::gate(&setup.config, Operation::Backup, false, &setup.state_dir)
                    .await
                {
                    conditions::Gate::Go { overridden } => overridden,
                    conditions::Gate::Exit(code) => {
                        tracing::warn!(
                            "the run conditions said exit {code} to a run by hand; running it"
                        );
                        Vec::new()
                    }
                }
            }
        }
    }
}

/// The run conditions; `Err` is the exit code of a run that ends here.
async fn pass_gate(
    setup: &Setup,
    operation: Operation,
    scheduled: bool,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<RunCondition>, u8> {
    let gate = conditions::gate(&setup.config, operation, scheduled, &setup.state_dir);
    tokio::select! {
        decided = gate => match decided {
            conditions::Gate::Go { overridden } => Ok(overridden),
            conditions::Gate::Exit(code) => Err(code),
        },
        _ = stop.wait_for(|s| *s) => {
            let text = gettext("stopped on request while waiting for the run conditions");
            eprintln!("igotchuu: {text}");
            Err(exit::STOPPED)
        }
    }
}

/// What the desktop may know of the configuration; a failure costs the
/// desktop its view of the settings, not the run.
/// Another helper owns the bus name: says so on the terminal (the bus
/// error's own text stays English for the log).
fn name_taken() -> u8 {
    // xgettext: {name} is the helper's D-Bus name, com.nyantec.IGotChuu.
    let text =
        gettext("another igotchuu backup is running: {name} is already owned on the system bus");
    eprintln!(
        "igotchuu: {}",
        fill(&text, &[("name", igotchuu_dbus::BUS_NAME)])
    );
    exit::BUSY
}

fn write_settings(setup: &Setup) {
    if let Err(e) = state::settings::write(&setup.state_dir, &setup.config.public_settings()) {
        tracing::warn!(
            "cannot write the settings file in {}: {e}",
            setup.state_dir.display()
        );
    }
}

/// Runs `operation` under `claim`, publishing on the bus if there is one;
/// then lets go of the name, the inhibitor and the lock, in that order.
async fn run_claimed(
    setup: &Setup,
    claim: Claim,
    publisher: Option<Publisher>,
    control: &Control,
    work: Work,
    overridden: Overridden,
    stop: watch::Receiver<bool>,
) -> u8 {
    let operation = work.operation();
    let scheduled = matches!(
        work,
        Work::Maintenance {
            scheduled: true,
            ..
        }
    );
    let Claim {
        _lock: lock,
        journal,
    } = claim;
    // Sleep waits from the moment the run is accepted; the rest after.
    let inhibitor = match &publisher {
        Some(p) => inhibit::sleep_and_shutdown(p.connection(), inhibit_reason(operation)).await,
        None => None,
    };
    write_settings(setup);
    let overridden = &overridden.learn(setup).await;
    let mut events = EventBus::default();
    events.subscribe(Box::new(output::terminal::TerminalPrinter::new()));
    events.subscribe(Box::new(output::history::HistorySink::new(
        setup.state_dir.clone(),
    )));
    let conn = publisher.as_ref().map(|p| p.connection().clone());
    let bus_task = publisher.map(|p| {
        let (sink, task) = p.start();
        events.subscribe(Box::new(sink));
        task
    });

    let config = &setup.config;
    let upkeep = run::maintenance::Upkeep {
        state_dir: &setup.state_dir,
        scheduled,
    };
    let outcome = match work {
        Work::Restore(job) => {
            drop(journal);
            run::restore::run(&job, config, &mut events, stop).await
        }
        Work::Maintenance {
            operation: Operation::Backup,
            ..
        } => {
            let outcome = run::backup(
                config,
                journal,
                &mut events,
                stop.clone(),
                &setup.state_dir,
                overridden,
            )
            .await;
            if forget_follows(outcome, config, &stop) {
                close_browse(control, Operation::Forget).await;
                // Its own record and signals; the exit code stays the backup's.
                run::maintenance::run(
                    Operation::Forget,
                    config,
                    &mut events,
                    stop,
                    overridden,
                    &upkeep,
                )
                .await;
            }
            outcome
        }
        Work::Maintenance {
            operation: other, ..
        } => {
            drop(journal);
            close_browse(control, other).await;
            run::maintenance::run(other, config, &mut events, stop, overridden, &upkeep).await
        }
    };
    control.gate.send_modify(Gate::finish);

    // The sink goes with the event bus; its task sends what is left, gives
    // up the name, then ends.
    drop(events);
    if let Some(task) = bus_task {
        if tokio::time::timeout(FLUSH_TIMEOUT, task).await.is_err() {
            tracing::warn!("the last D-Bus signals could not be sent in time");
        }
    }
    if let Some(conn) = conn {
        // Again, in case the task did not get to it.
        let _ = tokio::time::timeout(RELEASE_TIMEOUT, bus::release_name(&conn)).await;
        drop(conn);
    }
    drop(inhibitor);
    drop(lock);
    exit::for_outcome(outcome)
}

/// forget and prune take restic's exclusive lock, which a mounted
/// repository's lock keeps them from (restic 0.14 does not retry), and
/// check's repository must not change under it: the browse session ends.
async fn close_browse(control: &Control, operation: Operation) {
    if let Some(browser) = &control.browse {
        browser
            .close(&format!("{operation} needs the repository to itself"))
            .await;
    }
}

/// What logind shows as the reason sleep and shutdown wait.
fn inhibit_reason(operation: Operation) -> &'static str {
    match operation {
        Operation::Backup => "A backup is running",
        Operation::Forget => "Old backups are being forgotten",
        Operation::Prune => "The backup repository is being pruned",
        Operation::Check => "The backup repository is being checked",
        Operation::Restore => "Files are being restored from a backup",
    }
}

/// Whether a forget runs after a backup that ended as `outcome`: it saved
/// a snapshot, a policy is set, and no stop was asked for.
fn forget_follows(
    outcome: Outcome,
    config: &crate::config::Config,
    stop: &watch::Receiver<bool>,
) -> bool {
    outcome.saved_snapshot() && !config.retention.is_empty() && !*stop.borrow()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forget_follows_only_a_saved_snapshot_with_a_policy_and_no_stop() {
        let text = "places = [\"/srv\"]\nsnapshot = []\nrepo = \"/srv/repo\"\n";
        let path = std::path::Path::new("/etc/igotchuu.toml");
        let plain = crate::config::Config::parse(text, path, None).unwrap();
        let policy =
            crate::config::Config::parse(&format!("{text}keep_last = 3\n"), path, None).unwrap();
        let (tx, stop) = watch::channel(false);
        assert!(!forget_follows(Outcome::Completed, &plain, &stop));
        assert!(forget_follows(Outcome::Completed, &policy, &stop));
        assert!(forget_follows(
            Outcome::CompletedWithWarnings,
            &policy,
            &stop
        ));
        assert!(!forget_follows(Outcome::Failed, &policy, &stop));
        assert!(!forget_follows(Outcome::Stopped, &policy, &stop));
        tx.send_replace(true);
        assert!(!forget_follows(Outcome::Completed, &policy, &stop));
    }
}
