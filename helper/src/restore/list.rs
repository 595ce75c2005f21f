//! The repository's snapshots, with what this machine's history knows of
//! the runs that made them: for `Snapshots`, `igotchuu snapshots` and the
//! checks of a restore's snapshot argument.
//!
//! - [`list`] is capped (`MAX_SNAPSHOTS`, and a bound on the text): what a
//!   bus reply may carry. A snapshot argument is resolved against
//!   [`list_all`], which only the bound on restic's output limits, so that
//!   older snapshots can be restored too.
//! - One `restic snapshots` at a time in a helper: a caller who comes
//!   while one runs waits for it and shares its output, however many
//!   callers polkit lets in.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use igotchuu_dbus::{history, SnapshotInfo};
use tokio::sync::watch;

use crate::config::Config;
use crate::restic::message::clean_text;
use crate::restic::{command, plain, snapshots};

/// How long restic may take to list the snapshots.
const LIST_TIMEOUT: Duration = Duration::from_secs(300);

/// What one `restic snapshots` gave: its stdout, or why not.
type Output = Arc<Result<String, String>>;

/// The run there is, if there is one: its output comes here.
type Slot = Mutex<Option<watch::Receiver<Option<Output>>>>;

/// The `restic snapshots` of this helper that runs.
static RUNNING: Slot = Mutex::new(None);

/// Empties its slot when the run that filled it ends (or is dropped).
struct Ran(&'static Slot);

impl Drop for Ran {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// `restic snapshots`' output: of the run there is, or of a new one.
async fn shared_snapshots(config: &Config) -> Output {
    let cmd = || command::snapshots(config);
    shared(&RUNNING, || async { snapshots_of(cmd()).await }).await
}

/// The output of the run in `slot`, waited for; if none runs, of `run`,
/// which the callers who come meanwhile share.
async fn shared<F, Fut>(slot: &'static Slot, run: F) -> Output
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    loop {
        let running = {
            let mut held = slot.lock().unwrap_or_else(|e| e.into_inner());
            match held.as_ref() {
                Some(running) => Err(running.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    *held = Some(rx);
                    Ok(tx)
                }
            }
        };
        let mut waiting = match running {
            Ok(tx) => {
                let _ran = Ran(slot);
                let output = Arc::new(run().await);
                tx.send_replace(Some(output.clone()));
                return output;
            }
            Err(waiting) => waiting,
        };
        let output = match waiting.wait_for(Option::is_some).await {
            Ok(output) => output.clone(),
            // That run was dropped before it ended: run again.
            Err(_) => None,
        };
        if let Some(output) = output {
            return output;
        }
    }
}

/// `restic snapshots --json --no-lock`'s stdout, bounded
/// (`plain::MAX_STDOUT_BYTES`; the rest is read and dropped, so restic
/// never dies of a closed pipe), at restic's priority and with its
/// capabilities; stopped if it takes too long.
async fn snapshots_of(cmd: std::process::Command) -> Result<String, String> {
    let (stop_tx, stop) = watch::channel(false);
    let timer = tokio::spawn(async move {
        tokio::time::sleep(LIST_TIMEOUT).await;
        stop_tx.send_replace(true);
        // Kept until the run ends: a closed channel would read as a stop.
        std::future::pending::<()>().await;
    });
    let ran = plain::run(cmd, stop, &mut |_| {}).await;
    timer.abort();
    let run = ran.map_err(|e| format!("cannot run restic: {e}"))?;
    if run.stop_sent {
        return Err(format!(
            "restic snapshots did not end within {} s",
            LIST_TIMEOUT.as_secs()
        ));
    }
    if run.stdout_truncated {
        return Err(format!(
            "restic's list of snapshots was too long to read (more than {} MiB)",
            plain::MAX_STDOUT_BYTES >> 20
        ));
    }
    if !run.status.success() {
        let said = run
            .exit_error
            .as_ref()
            .map(|e| e.message.clone())
            .or_else(|| run.stderr_tail.lines().last().cloned())
            .unwrap_or_default();
        return Err(format!(
            "restic snapshots failed ({}): {}",
            run.status,
            clean_text(&said, 500)
        ));
    }
    Ok(run.stdout_text())
}

/// Adds this machine's history (in `state_dir`) to `list`.
fn join_history(list: &mut [SnapshotInfo], state_dir: &Path) {
    match history::read_file(&state_dir.join(history::ADMIN_HISTORY_FILE_NAME)) {
        Ok(h) if !h.runs.is_empty() => snapshots::join_history(list, &h),
        _ => {
            // An older helper wrote only the public file.
            if let Ok(h) = history::read_file(&state_dir.join(history::HISTORY_FILE_NAME)) {
                snapshots::join_history(list, &h);
            }
        }
    }
}

/// The snapshots, newest first, joined with the history in `state_dir`,
/// at most what a bus reply carries (`snapshots::cap`). Call it in the
/// tokio runtime.
pub async fn list(config: &Config, state_dir: &Path) -> Result<Vec<SnapshotInfo>, String> {
    let mut list = list_all(config, state_dir).await?;
    snapshots::cap(&mut list);
    Ok(list)
}

/// Every snapshot, newest first, joined with the history in `state_dir`:
/// to resolve a snapshot argument. Call it in the tokio runtime.
pub async fn list_all(config: &Config, state_dir: &Path) -> Result<Vec<SnapshotInfo>, String> {
    let output = shared_snapshots(config).await;
    let stdout = output.as_ref().as_ref().map_err(Clone::clone)?;
    let mut list = snapshots::parse_all(stdout).map_err(|e| e.to_string())?;
    join_history(&mut list, state_dir);
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn callers_who_come_while_it_runs_share_one_run() {
        static SLOT: Slot = Mutex::new(None);
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let run = || async {
            RUNS.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok("[]".to_owned())
        };
        let (a, b, c) = tokio::join!(shared(&SLOT, run), shared(&SLOT, run), shared(&SLOT, run));
        assert_eq!(RUNS.load(Ordering::SeqCst), 1);
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&b, &c));
        // Once it ended, the next caller runs it again.
        let d = shared(&SLOT, run).await;
        assert_eq!(RUNS.load(Ordering::SeqCst), 2);
        assert!(!Arc::ptr_eq(&a, &d));
    }

    #[tokio::test]
    async fn output_beyond_the_bound_is_too_long_not_a_broken_pipe() {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c").arg(format!(
            "head -c {} /dev/zero",
            plain::MAX_STDOUT_BYTES + (1 << 20)
        ));
        let why = snapshots_of(cmd).await.unwrap_err();
        assert!(why.contains("too long"), "{why}");
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg("echo '[]'; echo 'Fatal: no repository' >&2; exit 1");
        let why = snapshots_of(cmd).await.unwrap_err();
        assert!(why.ends_with("Fatal: no repository"), "{why}");
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c").arg("echo '[]'");
        assert_eq!(snapshots_of(cmd).await.unwrap().trim(), "[]");
    }
}
