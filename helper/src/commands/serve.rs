//! `igotchuu serve`, before its run: the D-Bus-activated helper waits for
//! a Start call that polkit allows, and only then takes the run lock and
//! the journal. Until then it blocks no scheduled run (which may also take
//! the name from it), and it leaves as soon as the [`Gate`] says so.

use std::path::Path;
use std::time::Duration;

use futures_lite::StreamExt;
use igotchuu_dbus::errors::Error as BackupError;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use zbus::fdo;

use super::{Claim, ClaimError};
use crate::bus::gate::{closed_error, Leave, Verdict};
use crate::bus::{Control, Gate, Job, Publisher, StartRequest};
use crate::exit;

/// How long pending Start calls get to be answered when the helper leaves.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// How the wait ended.
pub enum Waited {
    /// A Start (or Restore) call was accepted: the run is claimed for its job.
    Run(Claim, Job),
    /// Exit with this code, having run nothing.
    Exit(u8),
}

pub async fn wait_for_start(
    publisher: &Publisher,
    control: &Control,
    requests: &mut mpsc::Receiver<StartRequest>,
    state_dir: &Path,
    mut stop: watch::Receiver<bool>,
) -> Waited {
    let started = Instant::now();
    let mut gate = control.gate.subscribe();
    let mut name_lost = match publisher.name_lost().await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!("cannot watch the bus name: {e}");
            return Waited::Exit(leave(publisher, control, requests, Leave::NameLost).await);
        }
    };
    // A run may have taken the name before NameLost was subscribed to.
    if !publisher.owns_name().await {
        control.gate.send_modify(|g| g.close(Leave::NameLost));
    }
    loop {
        let (verdict, open) = {
            let g = gate.borrow_and_update();
            (g.verdict(started.elapsed()), g.closing().is_none())
        };
        let wait = match verdict {
            Verdict::Stay(wait) => wait,
            Verdict::Leave(why) => {
                return Waited::Exit(leave(publisher, control, requests, why).await);
            }
        };
        // Once closing, a claimed Start may still be on its way; the name
        // and the signals have said what they had to say.
        tokio::select! {
            // A claimed Start first: its caller waits for the answer.
            biased;
            Some(request) = requests.recv() => {
                return accept(publisher, control, requests, request, state_dir).await;
            }
            _ = name_lost.next(), if open => control.gate.send_modify(|g| g.close(Leave::NameLost)),
            _ = stop.wait_for(|s| *s), if open => control.gate.send_modify(|g| g.close(Leave::Signal)),
            _ = gate.changed() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Takes the run for a Start call that claimed it, or refuses it.
async fn accept(
    publisher: &Publisher,
    control: &Control,
    requests: &mut mpsc::Receiver<StartRequest>,
    request: StartRequest,
    state_dir: &Path,
) -> Waited {
    let closing = control.gate.borrow().closing();
    let claimed = match closing {
        // Another run took the name, or a signal came, while polkit was asked.
        Some(why) => Err((closed_error(why), why)),
        None => super::claim(state_dir).map_err(|e| {
            let error = match &e {
                ClaimError::Busy(_) => BackupError::AlreadyRunning(e.to_string()),
                ClaimError::Failed(m) => BackupError::Fdo(fdo::Error::Failed(m.clone())),
                ClaimError::Stopped(_) => BackupError::Fdo(fdo::Error::Failed(e.to_string())),
            };
            e.report();
            (error, Leave::Busy)
        }),
    };
    // The method, for the log: a restore is no Start.
    let method = match &request.job {
        Job::Backup => "Start",
        Job::Restore(job) if job.kind == crate::restore::Kind::InPlace => "RestoreInPlace",
        Job::Restore(_) => "Restore",
    };
    match claimed {
        Ok(claim) => {
            control.gate.send_modify(Gate::accept);
            // Before the caller hears Ok: from now on the name stays ours.
            publisher.hold_name().await;
            tracing::info!("{method} from {} accepted", request.caller);
            let _ = request.reply.send(Ok(()));
            Waited::Run(claim, request.job)
        }
        Err((error, why)) => {
            tracing::info!("{method} from {} refused: {error}", request.caller);
            let _ = request.reply.send(Err(error));
            let code = leave(publisher, control, requests, why).await;
            Waited::Exit(if why == Leave::Busy { exit::BUSY } else { code })
        }
    }
}

/// Leaves without a run: pending Start calls give up and are answered,
/// then the name goes, so that the next call activates a new helper.
async fn leave(
    publisher: &Publisher,
    control: &Control,
    requests: &mut mpsc::Receiver<StartRequest>,
    why: Leave,
) -> u8 {
    control.gate.send_modify(|g| g.close(why));
    tracing::info!("exiting without a backup: {why}");
    let mut gate = control.gate.subscribe();
    let answered = async {
        let _ = gate.wait_for(|g| g.pending() == 0).await;
    };
    if tokio::time::timeout(ANSWER_TIMEOUT, answered)
        .await
        .is_err()
    {
        tracing::warn!("Start calls still unanswered after {ANSWER_TIMEOUT:?}");
    }
    while let Ok(late) = requests.try_recv() {
        let _ = late.reply.send(Err(closed_error(why)));
    }
    publisher.release_name().await;
    exit::COMPLETED
}
