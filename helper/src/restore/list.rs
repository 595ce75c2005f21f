//! The repository's snapshots, with what this machine's history knows of
//! the runs that made them: for `Snapshots`, `igotchuu snapshots` and the
//! checks of a restore's snapshot argument.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use igotchuu_dbus::{history, SnapshotInfo};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::config::Config;
use crate::restic::message::clean_text;
use crate::restic::{command, plain, snapshots};

/// How much of restic's error output is read.
const MAX_STDERR: u64 = 64 * 1024;
/// How long restic may take to list the snapshots.
const LIST_TIMEOUT: Duration = Duration::from_secs(300);

async fn read_at_most(pipe: Option<impl AsyncRead + Unpin>, limit: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.take(limit).read_to_end(&mut buf).await;
    }
    buf
}

/// `restic snapshots --json --no-lock`'s stdout, bounded, at restic's
/// priority and with its capabilities; killed if it takes too long.
async fn restic_snapshots(config: &Config) -> Result<String, String> {
    let mut cmd = tokio::process::Command::from(command::snapshots(config));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    crate::priority::restic_child(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run restic: {e}"))?;
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let limit = plain::MAX_STDOUT_BYTES as u64 + 1;
    let all = async {
        tokio::join!(
            read_at_most(out, limit),
            read_at_most(err, MAX_STDERR),
            child.wait()
        )
    };
    let (stdout, stderr, status) = tokio::time::timeout(LIST_TIMEOUT, all).await.map_err(|_| {
        format!(
            "restic snapshots did not end within {} s",
            LIST_TIMEOUT.as_secs()
        )
    })?;
    let status = status.map_err(|e| format!("restic snapshots: {e}"))?;
    if !status.success() {
        let text = String::from_utf8_lossy(&stderr);
        let said = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!(
            "restic snapshots failed ({status}): {}",
            clean_text(said, 500)
        ));
    }
    if stdout.len() as u64 >= limit {
        return Err("restic's list of snapshots was too long to read".into());
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// The snapshots, newest first, joined with the history in `state_dir`.
/// Call it in the tokio runtime.
pub async fn list(config: &Config, state_dir: &Path) -> Result<Vec<SnapshotInfo>, String> {
    let stdout = restic_snapshots(config).await?;
    let mut list = snapshots::parse(&stdout).map_err(|e| e.to_string())?;
    match history::read_file(&state_dir.join(history::ADMIN_HISTORY_FILE_NAME)) {
        Ok(h) if !h.runs.is_empty() => snapshots::join_history(&mut list, &h),
        _ => {
            // An older helper wrote only the public file.
            if let Ok(h) = history::read_file(&state_dir.join(history::HISTORY_FILE_NAME)) {
                snapshots::join_history(&mut list, &h);
            }
        }
    }
    Ok(list)
}
