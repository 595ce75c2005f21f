//! `igotchuu backup` (a timer, a terminal) and `igotchuu serve` (D-Bus
//! activation: wait for a polkit-checked Start, run it, exit).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use super::serve::{self, Waited};
use super::{Claim, Setup};
use crate::bus::{inhibit, Control, Gate, LiveState, NameRole, Publisher};
use crate::cli::Cli;
use crate::events::EventBus;
use crate::exit;
use crate::output;
use crate::run;

/// How long the last signals may take to leave before the helper exits.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the run starts at once or waits for Start on the bus.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Now,
    OnStartCall,
}

pub fn run(cli: &Cli, mode: Mode) -> u8 {
    let prepared = match mode {
        Mode::Now => super::prepare(cli).map(|(setup, claim)| (setup, Some(claim))),
        // The run lock and the journal wait for a Start call that polkit
        // allowed: whoever activated this helper must not block a run.
        Mode::OnStartCall => super::prepare_standby(cli).map(|setup| (setup, None)),
    };
    match prepared {
        Ok((setup, claim)) => super::runtime().block_on(run_async(setup, claim)),
        Err(code) => code,
    }
}

/// With a `claim`, backs up now; without one, waits for Start first.
async fn run_async(setup: Setup, claim: Option<Claim>) -> u8 {
    let (stop_tx, stop_rx) = watch::channel(false);
    stop_on_signals(&stop_tx);
    let (start_tx, mut start_rx) = mpsc::channel(1);
    let live = Arc::new(Mutex::new(LiveState::default()));
    let standby = claim.is_none();
    let control = Control {
        stop: stop_tx,
        start: standby.then_some(start_tx),
        gate: watch::Sender::new(if standby {
            Gate::waiting()
        } else {
            Gate::accepted()
        }),
    };
    let role = if standby {
        NameRole::Standby
    } else {
        NameRole::Run
    };

    let publisher = match Publisher::attach(live, control.clone(), role).await {
        Ok(p) => Some(p),
        Err(e @ crate::bus::AttachError::NameTaken) => {
            eprintln!("igotchuu: {e}");
            return exit::BUSY;
        }
        Err(e) if standby => return super::fail(format!("system bus: {e}")),
        Err(e) => {
            tracing::warn!("no system bus ({e}); backing up without publishing progress on D-Bus");
            None
        }
    };

    let claim = match (claim, &publisher) {
        (Some(claim), _) => claim,
        (None, Some(p)) => {
            match serve::wait_for_start(
                p,
                &control,
                &mut start_rx,
                &setup.state_dir,
                stop_rx.clone(),
            )
            .await
            {
                Waited::Run(claim) => claim,
                Waited::Exit(code) => return code,
            }
        }
        (None, None) => unreachable!("a standby helper without a bus has returned"),
    };
    let Claim {
        _lock: lock,
        journal,
    } = claim;

    let inhibitor = match &publisher {
        Some(p) => inhibit::sleep_and_shutdown(p.connection()).await,
        None => None,
    };
    let mut events = EventBus::default();
    events.subscribe(Box::new(output::terminal::TerminalPrinter::new()));
    events.subscribe(Box::new(output::history::HistorySink::new(
        setup.state_dir.clone(),
    )));
    let bus_task = publisher.map(|p| {
        let (sink, task) = p.start();
        events.subscribe(Box::new(sink));
        task
    });

    let outcome = run::backup(
        &setup.config,
        journal,
        &mut events,
        stop_rx,
        &setup.state_dir,
    )
    .await;
    control.gate.send_modify(Gate::finish);

    // The sink goes with the event bus; its task sends what is left, then ends.
    drop(events);
    if let Some(task) = bus_task {
        if tokio::time::timeout(FLUSH_TIMEOUT, task).await.is_err() {
            tracing::warn!("the last D-Bus signals could not be sent in time");
        }
    }
    drop(inhibitor);
    drop(lock);
    exit::for_outcome(outcome)
}

/// SIGINT, SIGTERM and SIGHUP ask the run to stop in order: restic gets
/// SIGINT and is waited for, then the snapshots are deleted.
fn stop_on_signals(stop: &watch::Sender<bool>) {
    for kind in [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ] {
        let mut stream = signal(kind).expect("signal handler");
        let stop = stop.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                tracing::info!("stop requested by signal");
                stop.send_replace(true);
            }
        });
    }
}
