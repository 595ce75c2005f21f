//! exec_before_snapshot: the user's command that readies the filesystem,
//! run in the helper's mount namespace before any snapshot.

use std::process::Stdio;

use tokio::sync::watch;

use crate::priority;
use crate::restic::failure::StderrTail;
use crate::restic::lines::BoundedLines;

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("exec_before_snapshot {argv:?} could not be started: {source}")]
    Spawn {
        argv: Vec<String>,
        source: std::io::Error,
    },
    #[error("exec_before_snapshot {argv:?} failed with {status}{}", stderr_suffix(.stderr))]
    Failed {
        argv: Vec<String>,
        status: String,
        stderr: String,
    },
    #[error("stopped on request while exec_before_snapshot ran")]
    Stopped,
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// Runs `argv` to completion. Its stderr is logged and, on failure, quoted.
pub async fn run(argv: &[String], mut stop: watch::Receiver<bool>) -> Result<(), PrepareError> {
    let (program, args) = argv.split_first().expect("config refuses an empty argv");
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    priority::plain_child(&mut cmd);
    let mut child = cmd.spawn().map_err(|source| PrepareError::Spawn {
        argv: argv.to_vec(),
        source,
    })?;
    let mut lines = BoundedLines::new(child.stderr.take().expect("piped"));
    let mut tail = StderrTail::default();
    let reader = async {
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::warn!("exec_before_snapshot: {}", line.text);
            tail.push(&line.text);
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
    let status = status.map_err(|source| PrepareError::Spawn {
        argv: argv.to_vec(),
        source,
    })?;
    if status.success() {
        return Ok(());
    }
    Err(PrepareError::Failed {
        argv: argv.to_vec(),
        status: crate::restic::runner::describe_status(status),
        stderr: tail.lines().join("\n"),
    })
}
