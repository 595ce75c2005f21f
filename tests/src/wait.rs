//! Bounded waiting: a broken helper must fail a test, never hang it.

use std::path::Path;
use std::time::{Duration, Instant};

/// How long any single wait in the tests may take.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// How often a condition is polled.
pub const POLL: Duration = Duration::from_millis(10);

/// Polls `check` until it returns `Some`, or panics after `timeout` naming `what`.
pub fn until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// Whether `pid` names a live (not zombie) process.
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses
        // and may itself contain spaces or parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone; false if it still lives after `timeout`.
pub fn pid_gone_within(pid: i32, timeout: Duration) -> bool {
    let start = Instant::now();
    while pid_alive(pid) {
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(POLL);
    }
    true
}

/// Waits until `path` exists.
pub fn file_exists(what: &str, path: &Path, timeout: Duration) {
    until(what, timeout, || path.exists().then_some(()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_a_reaped_child_is_not() {
        assert!(pid_alive(std::process::id() as i32));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert!(pid_gone_within(pid, Duration::from_secs(5)));
    }

    #[test]
    #[should_panic(expected = "timed out")]
    fn until_gives_up() {
        until("nothing", Duration::from_millis(30), || None::<()>);
    }
}
