//! `igotchuu backup` (a timer, a terminal) and `igotchuu serve` (D-Bus
//! activation: wait for a polkit-checked Start, run it, exit).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use super::Prepared;
use crate::bus::{inhibit, Control, LiveState, Publisher};
use crate::cli::Cli;
use crate::events::EventBus;
use crate::exit;
use crate::output;
use crate::run;

/// An activated helper that gets no Start call exits after this long.
const IDLE_EXIT: Duration = Duration::from_secs(30);
/// How long the last signals may take to leave before the helper exits.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the run starts at once or waits for Start on the bus.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Now,
    OnStartCall,
}

pub fn run(cli: &Cli, mode: Mode) -> u8 {
    let prepared = match super::prepare(cli) {
        Ok(p) => p,
        Err(code) => return code,
    };
    super::runtime().block_on(run_async(prepared, mode))
}

async fn run_async(prepared: Prepared, mode: Mode) -> u8 {
    let (stop_tx, stop_rx) = watch::channel(false);
    stop_on_signals(&stop_tx);
    let (start_tx, mut start_rx) = mpsc::channel(1);
    let live = Arc::new(Mutex::new(LiveState::default()));
    let control = Control {
        stop: stop_tx,
        start: (mode == Mode::OnStartCall).then_some(start_tx),
    };

    let publisher = match Publisher::attach(live, control).await {
        Ok(p) => Some(p),
        Err(e @ crate::bus::AttachError::NameTaken) => {
            eprintln!("igotchuu: {e}");
            return exit::BUSY;
        }
        Err(e) if mode == Mode::OnStartCall => return super::fail(format!("system bus: {e}")),
        Err(e) => {
            tracing::warn!("no system bus ({e}); backing up without publishing progress on D-Bus");
            None
        }
    };

    if mode == Mode::OnStartCall {
        let mut stop = stop_rx.clone();
        tokio::select! {
            Some(()) = start_rx.recv() => {}
            () = tokio::time::sleep(IDLE_EXIT) => {
                tracing::info!("no Start call within {}s; exiting", IDLE_EXIT.as_secs());
                return exit::COMPLETED;
            }
            _ = stop.wait_for(|s| *s) => return exit::COMPLETED,
        }
    }

    let inhibitor = match &publisher {
        Some(p) => inhibit::sleep_and_shutdown(p.connection()).await,
        None => None,
    };
    let mut events = EventBus::default();
    events.subscribe(Box::new(output::terminal::TerminalPrinter::new()));
    events.subscribe(Box::new(output::history::HistorySink::new(
        prepared.state_dir.clone(),
    )));
    let bus_task = publisher.map(|p| {
        let (sink, task) = p.start();
        events.subscribe(Box::new(sink));
        task
    });

    let outcome = run::backup(&prepared.config, prepared.journal, &mut events, stop_rx).await;

    // The sink goes with the event bus; its task sends what is left, then ends.
    drop(events);
    if let Some(task) = bus_task {
        if tokio::time::timeout(FLUSH_TIMEOUT, task).await.is_err() {
            tracing::warn!("the last D-Bus signals could not be sent in time");
        }
    }
    drop(inhibitor);
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
