//! Finding processes the tests did not start themselves (an activated
//! helper, a daemon's children) by reading `/proc`, and stopping them.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::wait;

/// The fields of `/proc/<pid>/stat` after the command name: the state,
/// field 3 in stat(5), is element 0.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The parent of `pid`, if it still exists.
pub fn parent(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// When `pid` started, in clock ticks after boot (what polkit calls a
/// process's start time).
pub fn start_time(pid: i32) -> Option<u64> {
    // Field 22 in stat(5).
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Every process id on the machine.
pub fn all() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The children, grandchildren … of `pid`.
pub fn descendants(pid: i32) -> Vec<i32> {
    let pairs: Vec<(i32, i32)> = all()
        .into_iter()
        .filter_map(|p| Some((p, parent(p)?)))
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            pairs
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// A process's command line, arguments joined by spaces.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        String::from_utf8_lossy(&raw)
            .split('\0')
            .filter(|a| !a.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Live processes whose command line contains `needle`.
pub fn with_cmdline_containing(needle: &str) -> Vec<i32> {
    all()
        .into_iter()
        .filter(|&p| wait::pid_alive(p) && cmdline(p).is_some_and(|c| c.contains(needle)))
        .collect()
}

/// A process's environment, `KEY=value` each.
pub fn environ(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|raw| {
            String::from_utf8_lossy(&raw)
                .split('\0')
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Live processes with an environment entry that starts with `prefix`.
pub fn with_environ_entry(prefix: &str) -> Vec<i32> {
    all()
        .into_iter()
        .filter(|&p| wait::pid_alive(p) && environ(p).iter().any(|e| e.starts_with(prefix)))
        .collect()
}

/// CPU time in clock ticks: (the process's own user + system time, that of
/// its reaped children). A zombie still has both.
pub fn cpu_ticks(pid: i32) -> Option<(u64, u64)> {
    let f = stat_fields(pid)?;
    // utime, stime, cutime, cstime are fields 14 to 17.
    let n = |i: usize| -> Option<u64> { f.get(i - 3)?.parse().ok() };
    Some((n(14)? + n(15)?, n(16)? + n(17)?))
}

/// CPU time in clock ticks: (user, system) of the process itself.
pub fn user_system_ticks(pid: i32) -> Option<(u64, u64)> {
    let f = stat_fields(pid)?;
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
}

/// Clock ticks per second, for [`cpu_ticks`].
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// Kills `pid` and everything it started (sshd's session processes leave
/// its process group; runuser does not pass SIGKILL on), children first
/// seen before the parent goes.
pub fn kill_tree(pid: i32) {
    let mut all = descendants(pid);
    all.push(pid);
    for p in all {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
}

/// Asks `pids` to stop with SIGTERM, then SIGKILLs whatever is left after
/// `grace`. For processes a test could not reap itself (a daemon's children).
pub fn terminate(pids: &[i32], grace: Duration) {
    for &p in pids {
        let _ = kill(Pid::from_raw(p), Signal::SIGTERM);
    }
    for &p in pids {
        if !wait::pid_gone_within(p, grace) {
            eprintln!(
                "killing leftover process {p} ({})",
                cmdline(p).unwrap_or_default()
            );
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_child_and_its_command_line() {
        let mut child = std::process::Command::new("sleep")
            .arg("7.25")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(descendants(std::process::id() as i32).contains(&pid));
        assert_eq!(parent(pid), Some(std::process::id() as i32));
        assert!(with_cmdline_containing("sleep 7.25").contains(&pid));
        assert!(cpu_ticks(pid).is_some());
        terminate(&[pid], Duration::from_secs(5));
        child.wait().unwrap();
        assert!(with_cmdline_containing("sleep 7.25").is_empty());
    }
}
