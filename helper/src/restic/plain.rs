//! Running restic's maintenance commands (`forget`, `prune`, `check`):
//! one document or some text on stdout, errors on stderr, and an exit
//! code. Nothing here is trusted: stdout is kept up to [`MAX_STDOUT_BYTES`],
//! stderr's first [`STDERR_HEAD_LINES`] and last lines, each line bounded.
//!
//! Unlike a backup, these may print nothing for long stretches (a step of a
//! prune or a check of a large repository whose total restic cannot tell
//! yet; forget not at all), so there is no stall watchdog: only a Stop ends
//! them early. The progress lines of prune's and check's steps
//! (`restic::step`) are passed on, and not kept.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};

use super::failure::{classify, ResticFailure, StderrTail};
use super::lines::BoundedLines;
use super::message::{parse_line, ExitError, Message, Parsed};
use super::runner::ChildGuard;
use super::step;
use crate::priority;
use crate::privileges::caps::CapSet;

/// The most of stdout that is kept: forget's JSON lists every snapshot of
/// the group it looked at, a few hundred bytes each.
pub const MAX_STDOUT_BYTES: usize = 16 << 20;
/// The first lines of stderr that are kept: what `check` found.
pub const STDERR_HEAD_LINES: usize = 50;
/// How long restic gets to end after a Stop (it removes its lock), before
/// it is killed.
const STOP_GRACE: Duration = Duration::from_secs(120);
/// How long to keep reading after restic exited, for a grandchild (ssh,
/// rclone) that still holds the pipes.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// Lines of stdout passed on as they come, and the longest (forget's JSON
/// is one long line, and is not passed on).
const SAID_DEPTH: usize = 64;
const MAX_SAID_BYTES: usize = 4096;
/// Far enough to never come, near enough not to overflow an `Instant`.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// What a maintenance restic did.
#[derive(Debug)]
pub struct PlainRun {
    pub status: ExitStatus,
    /// stdout, at most [`MAX_STDOUT_BYTES`] of it.
    pub stdout: Vec<u8>,
    /// stdout was longer than what was kept.
    pub stdout_truncated: bool,
    /// The first [`STDERR_HEAD_LINES`] plain-text lines of stderr.
    pub stderr_head: Vec<String>,
    /// How many plain-text lines stderr had in all.
    pub stderr_lines: usize,
    /// The last lines of stderr, for [`classify`].
    pub stderr_tail: StderrTail,
    /// restic 0.18+'s own account of a fatal error.
    pub exit_error: Option<ExitError>,
    /// A stop was requested (and SIGINT sent) while restic ran.
    pub stop_sent: bool,
    /// restic did not end after SIGINT and was killed.
    pub killed: bool,
}

impl PlainRun {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Why it failed, for a run that did not exit 0.
    pub fn failure(&self) -> ResticFailure {
        classify(
            self.status.code(),
            self.status.signal(),
            self.exit_error.as_ref(),
            self.stderr_tail.lines(),
        )
    }

    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn take_stderr(&mut self, text: String) {
        match parse_line(&text) {
            Parsed::Message(Message::ExitError(e)) => self.exit_error = Some(e),
            _ => {
                tracing::info!("restic: {text}");
                self.stderr_lines += 1;
                self.stderr_tail.push(&text);
                if self.stderr_head.len() < STDERR_HEAD_LINES {
                    self.stderr_head.push(text);
                }
            }
        }
    }
}

/// Spawns `cmd` at idle priority with restic's reduced capabilities
/// (`priority::restic_child`) and follows it to its end. When `stop`
/// turns true, restic gets SIGINT and is waited for (it removes its
/// repository lock), and SIGKILL only after [`STOP_GRACE`].
pub async fn run<F: FnMut(&str) + ?Sized>(
    cmd: std::process::Command,
    stop: watch::Receiver<bool>,
    on_line: &mut F,
) -> io::Result<PlainRun> {
    run_with_caps(cmd, CapSet::of(&[]), stop, on_line).await
}

/// [`run`], restic getting `extra` capabilities besides its own. Generic
/// over `on_line`, so that the run is `Send` when `on_line` is.
pub async fn run_with_caps<F: FnMut(&str) + ?Sized>(
    cmd: std::process::Command,
    extra: CapSet,
    mut stop: watch::Receiver<bool>,
    on_line: &mut F,
) -> io::Result<PlainRun> {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    priority::restic_child_with(&mut cmd, extra);
    let mut child = cmd.spawn()?;
    let guard = ChildGuard::new(child.id());

    let (said_tx, mut said) = mpsc::channel(SAID_DEPTH);
    let stdout = tokio::spawn(read_bounded(child.stdout.take(), MAX_STDOUT_BYTES, said_tx));
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(forward_lines(child.stderr.take(), tx));

    let mut run = PlainRun {
        status: ExitStatus::from_raw(0),
        stdout: Vec::new(),
        stdout_truncated: false,
        stderr_head: Vec::new(),
        stderr_lines: 0,
        stderr_tail: StderrTail::default(),
        exit_error: None,
        stop_sent: false,
        killed: false,
    };
    let mut status = None;
    let mut stderr_open = true;
    let deadline = tokio::time::sleep(Duration::MAX);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            Some(line) = said.recv() => on_line(&line),
            line = rx.recv(), if stderr_open => match line {
                Some(text) => run.take_stderr(text),
                None => stderr_open = false,
            },
            exited = child.wait(), if status.is_none() => {
                status = Some(exited?);
                deadline.as_mut().reset(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            changed = stop.changed(), if !run.stop_sent => {
                if changed.is_err() || *stop.borrow() {
                    run.stop_sent = true;
                    guard.interrupt();
                    deadline.as_mut().reset(tokio::time::Instant::now() + STOP_GRACE);
                }
            }
            () = &mut deadline => {
                if status.is_some() {
                    break;
                }
                tracing::warn!(
                    "restic did not end after SIGINT; killing it (its repository \
                     lock may stay: `igotchuu restic -- unlock` removes it)"
                );
                run.killed = true;
                guard.kill();
                deadline.as_mut().reset(tokio::time::Instant::now() + NEVER);
            }
        }
        if status.is_some() && !stderr_open {
            break;
        }
    }
    guard.disarm();
    run.status = status.expect("loop ends only after restic exited");
    // A grandchild that keeps stdout open must not hold the run.
    let stdout = tokio::time::timeout(DRAIN_AFTER_EXIT, stdout).await;
    while let Ok(line) = said.try_recv() {
        on_line(&line);
    }
    match stdout {
        Ok(Ok((bytes, truncated))) => {
            run.stdout = bytes;
            run.stdout_truncated = truncated;
        }
        _ => tracing::warn!("restic's output could not be read to its end"),
    }
    if run.stdout_truncated {
        tracing::warn!("restic printed more than {MAX_STDOUT_BYTES} bytes; the rest was not read");
    }
    Ok(run)
}

/// Reads `pipe` to its end, keeping at most `limit` bytes of it besides
/// its step progress lines ([`step`]); says whether there was more. Each
/// short line is also sent to `said` as it comes
/// (what prune and check are doing); none is waited for: a full channel
/// drops them.
async fn read_bounded(
    pipe: Option<impl AsyncRead + Unpin>,
    limit: usize,
    said: mpsc::Sender<String>,
) -> (Vec<u8>, bool) {
    let Some(mut pipe) = pipe else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut line_start = 0;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => return (kept, truncated),
            // Once cut, nothing more is kept: what is kept stays a prefix.
            Ok(_) if truncated => {}
            Ok(n) => {
                let room = limit - kept.len();
                if n > room {
                    truncated = true;
                }
                let mut scan_from = kept.len();
                kept.extend_from_slice(&chunk[..n.min(room)]);
                while let Some(at) = kept[scan_from..].iter().position(|&b| b == b'\n') {
                    let at = scan_from + at;
                    let line = &kept[line_start..at];
                    let progress = step::is_progress(line);
                    if line.len() <= MAX_SAID_BYTES {
                        let text = String::from_utf8_lossy(line);
                        let _ = said.try_send(text.trim_end_matches('\r').to_owned());
                    }
                    if progress {
                        // Passed on, not kept: a check of days prints one a
                        // second, and what is kept is read for its verdict.
                        kept.drain(line_start..=at);
                    } else {
                        line_start = at + 1;
                    }
                    scan_from = line_start;
                }
            }
        }
    }
}

async fn forward_lines(pipe: Option<impl AsyncRead + Unpin>, tx: mpsc::Sender<String>) {
    let Some(pipe) = pipe else { return };
    let mut lines = BoundedLines::new(pipe);
    while let Ok(Some(line)) = lines.next_line().await {
        if tx.send(line.text).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[tokio::test]
    async fn keeps_stdout_and_the_first_and_last_lines_of_stderr() {
        let (_tx, stop) = watch::channel(false);
        let script = "echo '[1,2]'; i=0; while [ $i -lt 200 ]; do echo \"line $i\" >&2; i=$((i+1)); done; \
                      echo '{\"message_type\":\"exit_error\",\"code\":12,\"message\":\"Fatal: wrong password or no key found\"}' >&2; exit 12";
        let mut said = Vec::new();
        let run = run(sh(script), stop, &mut |l| said.push(l.to_owned()))
            .await
            .unwrap();
        assert_eq!(said, ["[1,2]"]);
        assert_eq!(run.code(), Some(12));
        assert_eq!(run.stdout, b"[1,2]\n");
        assert_eq!(run.stderr_lines, 200);
        assert_eq!(run.stderr_head.len(), STDERR_HEAD_LINES);
        assert_eq!(run.stderr_head[0], "line 0");
        assert_eq!(run.stderr_tail.lines().last().unwrap(), "line 199");
        assert_eq!(run.exit_error.as_ref().unwrap().code, 12);
        assert_eq!(run.failure(), ResticFailure::WrongPassword);
    }

    #[tokio::test]
    async fn step_progress_is_passed_on_but_not_kept() {
        let (_tx, stop) = watch::channel(false);
        // As restic 0.14 prints a check on a pipe with RESTIC_PROGRESS_FPS.
        let script =
            "printf 'check snapshots, trees and blobs\\n[0:00] 0.00%%  0 / 3 snapshots\\n'; \
                      printf '[0:01] 100.00%%  3 / 3 snapshots\\n\\nno errors were found\\n'";
        let mut said = Vec::new();
        let run = run(sh(script), stop, &mut |l| said.push(l.to_owned()))
            .await
            .unwrap();
        assert_eq!(
            said,
            [
                "check snapshots, trees and blobs",
                "[0:00] 0.00%  0 / 3 snapshots",
                "[0:01] 100.00%  3 / 3 snapshots",
                "",
                "no errors were found"
            ]
        );
        assert_eq!(
            run.stdout_text(),
            "check snapshots, trees and blobs\n\nno errors were found\n"
        );
    }

    #[tokio::test]
    async fn a_stop_interrupts_and_waits() {
        let (tx, stop) = watch::channel(false);
        let script = "trap 'echo cleaning up >&2; exit 130' INT; echo ready >&2; while :; do sleep 0.05; done";
        let mut ignore = |_: &str| {};
        let stopping = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            tx.send_replace(true);
        };
        let running =
            tokio::time::timeout(Duration::from_secs(10), run(sh(script), stop, &mut ignore));
        let (run, ()) = tokio::join!(running, stopping);
        let run = run.expect("restic ends on SIGINT").unwrap();
        assert!(run.stop_sent && !run.killed);
        assert_eq!(run.code(), Some(130));
    }

    #[tokio::test]
    async fn stdout_is_bounded() {
        let (tx, _rx) = mpsc::channel(SAID_DEPTH);
        let (bytes, truncated) = read_bounded(Some(&[b'x'; 1000][..]), 100, tx.clone()).await;
        assert_eq!(bytes.len(), 100);
        assert!(truncated);
        let (bytes, truncated) = read_bounded(Some(&b"abc"[..]), 100, tx).await;
        assert_eq!(bytes, b"abc");
        assert!(!truncated);
        // Lines as they come; a long one is kept but not passed on.
        let (tx, mut rx) = mpsc::channel(SAID_DEPTH);
        let mut input = b"loading indexes...\r\n".to_vec();
        input.extend(vec![b'['; MAX_SAID_BYTES + 1]);
        input.extend(b"\ndone\n");
        let (bytes, _) = read_bounded(Some(&input[..]), 1 << 20, tx).await;
        assert_eq!(bytes.len(), input.len());
        let mut said = Vec::new();
        while let Ok(l) = rx.try_recv() {
            said.push(l);
        }
        assert_eq!(said, ["loading indexes...", "done"]);
    }
}
