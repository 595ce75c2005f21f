//! exec_before_snapshot: the user's command that readies the filesystem,
//! run in the helper's mount namespace before any snapshot.

use std::process::Stdio;

use tokio::sync::watch;

use crate::priority;
use crate::restic::lines::BoundedLines;

/// Why exec_before_snapshot did not ready the run. The messages go to the
/// bus and the run history, which other users may read, so they name
/// neither the command nor what it printed: both are in the helper's log
/// (the terminal, or the journal, which only administrators read).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("exec_before_snapshot could not be started ({kind}); {LOG_HINT}")]
    Spawn { kind: std::io::ErrorKind },
    #[error("exec_before_snapshot failed with {status}; {LOG_HINT}")]
    Failed { status: String },
    #[error("stopped on request while exec_before_snapshot ran")]
    Stopped,
}

/// Where the details of a failed exec_before_snapshot are.
const LOG_HINT: &str = "its command and error output are in igotchuu's log \
    (`journalctl -u igotchuu` for a scheduled run)";

/// Runs `argv` to completion. Its stderr is logged and, on failure, quoted.
pub async fn run(argv: &[String], mut stop: watch::Receiver<bool>) -> Result<(), PrepareError> {
    let (program, args) = argv.split_first().expect("config refuses an empty argv");
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    priority::plain_child(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| spawn_error(argv, &e))?;
    let mut lines = BoundedLines::new(child.stderr.take().expect("piped"));
    let reader = async {
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::warn!("exec_before_snapshot: {}", line.text);
        }
    };
    let status = tokio::select! {
        (status, ()) = async { tokio::join!(child.wait(), reader) } => status,
        _ = stop.wait_for(|s| *s) => {
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let _ = child.wait().await;
            return Err(PrepareError::Stopped);
        }
    };
    let status = status.map_err(|e| spawn_error(argv, &e))?;
    if status.success() {
        return Ok(());
    }
    let status = crate::restic::runner::describe_status(status);
    tracing::error!("exec_before_snapshot {argv:?} failed with {status}");
    Err(PrepareError::Failed { status })
}

fn spawn_error(argv: &[String], e: &std::io::Error) -> PrepareError {
    tracing::error!("exec_before_snapshot {argv:?} could not be started: {e}");
    PrepareError::Spawn { kind: e.kind() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failure_names_neither_the_command_nor_its_output() {
        let secret = "s3cr3t-token";
        let (_tx, stop) = watch::channel(false);
        let script = format!("echo 'mount: {secret} refused' >&2; exit 32");
        let argv: Vec<String> = ["sh", "-c", &script].map(String::from).to_vec();
        let e = run(&argv, stop.clone()).await.unwrap_err();
        let reason = e.to_string();
        assert!(
            reason.starts_with("exec_before_snapshot failed with exit code 32"),
            "{reason}"
        );
        assert!(
            !reason.contains(secret) && !reason.contains("echo"),
            "{reason}"
        );
        assert!(reason.contains("journalctl"), "{reason}");

        let argv = vec![format!("/nonexistent/{secret}")];
        let reason = run(&argv, stop).await.unwrap_err().to_string();
        assert!(
            reason.contains("could not be started (entity not found)"),
            "{reason}"
        );
        assert!(!reason.contains(secret), "{reason}");
    }
}
