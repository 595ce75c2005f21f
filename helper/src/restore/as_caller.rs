//! What the helper does as a restore's caller, in a child with their uid,
//! gid and groups, no capabilities beyond what root keeps, and the
//! parent-death signal: the copy ([`super::copier`]), and the look at the
//! target folder that picks the copy's name ([`destination`]). Whatever
//! root looked at there would tell the caller of files they may not see.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Pid, Uid};

use super::args::{self, BadArgument};
use super::Credentials;
use crate::privileges;
use crate::privileges::caps::{Cap, CapSet};
use crate::restic::message::clean_text;

/// The environment variables that carry the copy's paths (source, then
/// destination) and the look's (target folder, then name). Not the
/// command line: every local user may read that in `/proc`, and the
/// paths are the caller's business.
pub const COPY: [&str; 2] = ["IGOTCHUU_COPY_SOURCE", "IGOTCHUU_COPY_DEST"];
pub const LOOK: [&str; 2] = ["IGOTCHUU_LOOK_TARGET", "IGOTCHUU_LOOK_NAME"];

/// How long the look at the target may take: a folder on a hung network
/// or FUSE file system must not hold the bus call for ever.
const LOOK_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of the look's answer read.
const MAX_ANSWER: u64 = 8 * 1024;

/// `/proc/self/exe SUBCOMMAND` with `paths` in the environment variables
/// `names` ([`COPY`], [`LOOK`]), to run as `user`: its groups, gid and uid
/// set, then no capabilities (root keeps the ones to read and write every
/// file), its own process group (signalled as one), and SIGTERM when the
/// helper dies (the change of user cleared that). Environment, folder and
/// standard input are the helper's own, never the caller's.
pub fn command(
    user: &Credentials,
    subcommand: &str,
    names: [&str; 2],
    paths: [&OsStr; 2],
) -> Command {
    // Not current_exe(): after a package upgrade (or a rebuild) its path
    // names another binary, or none; /proc/self/exe is still this one.
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg(subcommand)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .envs(names.into_iter().zip(paths))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let uid = Uid::from_raw(user.uid);
    let gid = Gid::from_raw(user.gid);
    let groups: Vec<Gid> = user.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    let caps = if user.uid == 0 {
        CapSet::of(&[Cap::DAC_READ_SEARCH, Cap::DAC_OVERRIDE, Cap::FOWNER])
    } else {
        CapSet::of(&[])
    };
    let parent = Pid::this();
    // SAFETY: only system calls between fork and exec; `groups` was made before.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            nix::unistd::setgroups(&groups)?;
            nix::unistd::setgid(gid)?;
            nix::unistd::setuid(uid)?;
            privileges::caps::limit_to(caps)?;
            crate::priority::die_with_parent(parent, Signal::SIGTERM)
        });
    }
    cmd
}

/// [`args::destination`] as `user` sees the target: what is there, and
/// whether it is there at all, is found out as them
/// (`igotchuu restore-destination`). Root looks itself.
pub fn destination(user: &Credentials, target: &Path, path: &Path) -> Result<PathBuf, BadArgument> {
    if user.uid == 0 {
        return args::destination(target, path);
    }
    let name = args::copy_name(path)?;
    let not_looked = |why: String| {
        args::bad(
            "target",
            format!(
                "{} could not be looked at as uid {}: {why}",
                target.display(),
                user.uid
            ),
        )
    };
    let child = command(
        user,
        "restore-destination",
        LOOK,
        [target.as_os_str(), name],
    )
    .spawn()
    .map_err(|e| not_looked(e.to_string()))?;
    let (code, answer) = finish(child, LOOK_TIMEOUT).map_err(not_looked)?;
    let answer = clean_text(&String::from_utf8_lossy(&answer), MAX_ANSWER as usize);
    match code {
        Some(0) => match answer.parse::<u32>() {
            Ok(slot) if slot <= args::MAX_RESTORED_NAMES => Ok(args::slot_path(target, name, slot)),
            _ => Err(not_looked(format!("unexpected answer {answer:?}"))),
        },
        Some(1) if !answer.is_empty() => Err(args::bad("target", answer)),
        _ => Err(not_looked(format!("it ended with {code:?}"))),
    }
}

/// The look's exit code and what it printed. Nothing here waits without
/// a deadline: a look stuck in a file system the caller serves (their own
/// FUSE mount that never answers) is not ended even by SIGKILL, and a
/// caller who got hold of its stdout could keep the pipe open.
fn finish(mut child: Child, timeout: Duration) -> Result<(Option<i32>, Vec<u8>), String> {
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                abandon(child);
                return Err(format!("no answer within {} s", timeout.as_secs()));
            }
            Err(e) => {
                abandon(child);
                return Err(e.to_string());
            }
        }
    };
    let mut answer = Vec::new();
    if let Some(out) = child.stdout.take() {
        // It has exited, so what it wrote is in the pipe: read what is
        // there, never wait for more.
        rustix::fs::fcntl_setfl(&out, rustix::fs::OFlags::NONBLOCK).map_err(|e| e.to_string())?;
        match out.take(MAX_ANSWER).read_to_end(&mut answer) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok((status.code(), answer))
}

/// Kills `child`'s process group and leaves the reaping to a thread of
/// its own, which may wait for as long as the kernel keeps it.
fn abandon(mut child: Child) {
    let group = Pid::from_raw(-(child.id() as i32));
    let _ = nix::sys::signal::kill(group, Signal::SIGKILL);
    let _ = child.kill();
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

/// The copy and the look run as the caller, who may ptrace them or open
/// their `/proc` files (their stdout, the helper's mount namespace) while
/// they are dumpable, as every program is right after exec unless it is
/// installed unreadable (meson installs the helper 0711). So they make
/// themselves undumpable before anything else, even the parsing of the
/// command line; and again where they begin (`forbid_dumping`), so that
/// it is never missed.
pub fn forbid_dumping_early() {
    let hidden = std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == OsStr::new("restore-copy") || a == OsStr::new("restore-destination"));
    if hidden {
        let _ = super::copier::forbid_dumping();
    }
}

/// The two paths of [`COPY`] or [`LOOK`] from the environment; `None`,
/// said on stderr, when one is missing.
pub fn paths(names: [&str; 2]) -> Option<[std::ffi::OsString; 2]> {
    let [a, b] = names.map(std::env::var_os);
    match (a, b) {
        (Some(a), Some(b)) => Some([a, b]),
        _ => {
            eprintln!("igotchuu: {} and {} must be set", names[0], names[1]);
            None
        }
    }
}

/// `igotchuu restore-destination`, as the caller, for TARGET and NAME
/// ([`LOOK`]): prints the free slot ([`args::slot_path`]) and exits 0, or
/// prints why not and exits 1.
pub fn look(target: &Path, name: &OsStr) -> u8 {
    use std::io::Write;
    let mut out = io::stdout().lock();
    if let Err(e) = super::copier::forbid_dumping() {
        let _ = write!(out, "cannot make the look undumpable: {e}");
        return 1;
    }
    match args::free_slot(target, name) {
        Ok(slot) => {
            let _ = write!(out, "{slot}");
            0
        }
        Err(e) => {
            let _ = write!(out, "{}", e.why);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Child {
        Command::new("sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap()
    }

    #[test]
    fn a_look_whose_pipe_someone_else_holds_is_not_waited_for() {
        // The answer, then a process that keeps stdout open for long.
        let started = Instant::now();
        let look = sh("echo 3; sleep 30 & exit 0");
        let group = Pid::from_raw(-(look.id() as i32));
        let ended = finish(look, LOOK_TIMEOUT);
        let _ = nix::sys::signal::kill(group, Signal::SIGKILL);
        let (code, answer) = ended.unwrap();
        assert_eq!((code, answer.as_slice()), (Some(0), &b"3\n"[..]));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_look_that_does_not_end_is_given_up() {
        let started = Instant::now();
        let e = finish(sh("sleep 30"), Duration::from_millis(200)).unwrap_err();
        assert!(e.contains("no answer within"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
