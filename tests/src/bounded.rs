//! A command run with a deadline: its output goes to files (a pipe nobody
//! reads could block it), it gets a process group of its own, and the whole
//! group is killed when the deadline passes or the guard is dropped, so a
//! stuck command fails a test and leaves nothing running.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::wait;

/// A started command; killed with its process group when dropped.
pub struct Spawned {
    child: Option<Child>,
    label: String,
    dir: TempDir,
}

/// How a command ended, and what it printed: the same as a helper run's.
pub use crate::helper::Finished as Ended;

impl Spawned {
    /// Starts `cmd` (stdin from /dev/null) in a process group of its own.
    pub fn start(label: &str, mut cmd: Command) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-cmd-")
            .tempdir()
            .expect("temp dir");
        let out = std::fs::File::create(dir.path().join("stdout")).expect("stdout file");
        let err = std::fs::File::create(dir.path().join("stderr")).expect("stderr file");
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label} ({cmd:?}): {e}"));
        Spawned {
            child: Some(child),
            label: label.to_owned(),
            dir,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("not waited yet").id() as i32
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What it printed to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        std::fs::read_to_string(self.path("stdout")).unwrap_or_default()
    }

    /// Waits until its stdout contains `needle`; panics (with the output)
    /// after `timeout` or if it ends first.
    pub fn wait_for_output(&mut self, needle: &str, timeout: Duration) {
        let label = self.label.clone();
        wait::until(&format!("{label} to print {needle:?}"), timeout, || {
            if self.stdout_so_far().contains(needle) {
                return Some(());
            }
            let child = self.child.as_mut().expect("not waited yet");
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!(
                    "{label} ended ({status}) without printing {needle:?}\n{}",
                    self.output()
                );
            }
            None
        });
    }

    /// Waits for it to end; on timeout kills its group and panics with
    /// what it printed.
    pub fn wait(mut self, timeout: Duration) -> Ended {
        self.finish(timeout).unwrap_or_else(|| {
            panic!(
                "{} did not end within {timeout:?}; killed it\n{}",
                self.label,
                self.output()
            )
        })
    }

    /// Waits for it to end; on timeout kills its group and returns `None`.
    /// Never panics, so a guard's `Drop` may use it.
    pub fn wait_or_kill(mut self, timeout: Duration) -> Option<Ended> {
        self.finish(timeout)
    }

    fn finish(&mut self, timeout: Duration) -> Option<Ended> {
        let mut child = self.child.take()?;
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() < timeout => std::thread::sleep(wait::POLL * 10),
                _ => {
                    kill_group(&mut child);
                    return None;
                }
            }
        };
        Some(Ended {
            label: self.label.clone(),
            status,
            stdout: std::fs::read_to_string(self.path("stdout")).unwrap_or_default(),
            stderr: std::fs::read_to_string(self.path("stderr")).unwrap_or_default(),
        })
    }

    fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.stdout_so_far(),
            std::fs::read_to_string(self.path("stderr")).unwrap_or_default()
        )
    }
}

/// Kills the group while its leader is not yet reaped, so that the group's
/// id cannot belong to anyone else.
fn kill_group(child: &mut Child) {
    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
    }
}
