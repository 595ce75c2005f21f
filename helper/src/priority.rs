//! How children run: restic at idle CPU and IO priority and with only the
//! capabilities it needs (`privileges`), and no child outliving the helper.

use std::io;

use nix::sys::signal::Signal;
use nix::unistd::{getppid, Pid};

use crate::privileges;

/// ioprio_set(2) constants; libc has the syscall number but no names.
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_IDLE: libc::c_int = 3;
const IOPRIO_CLASS_SHIFT: libc::c_int = 13;

/// restic: idle CPU and IO priority, its own process group (so a terminal's
/// Ctrl-C reaches the helper, which stops restic in order), SIGINT when the
/// helper dies, so it never outlives it or leaves its lock behind, and
/// only the capabilities `privileges` gives it for its repository.
///
/// Call it last, right before the spawn: its pre_exec drops the
/// capabilities, so every step before it that needs one (the view's
/// chroot, `CAP_SYS_CHROOT`) must already have run.
pub fn restic_child(cmd: &mut tokio::process::Command) {
    restic_child_with(cmd, privileges::caps::CapSet::of(&[]));
}

/// [`restic_child`], with `extra` capabilities besides restic's own.
pub fn restic_child_with(cmd: &mut tokio::process::Command, extra: privileges::caps::CapSet) {
    let parent = Pid::this();
    let own = privileges::restic_caps(privileges::repository_of(cmd.as_std()).as_ref());
    let caps = privileges::caps::CapSet(own.0 | extra.0);
    tracing::debug!("restic runs with {caps}");
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || {
            die_with_parent(parent, Signal::SIGINT)?;
            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            let param = libc::sched_param { sched_priority: 0 };
            // Best effort: a kernel or container may refuse; the backup
            // still runs, just not as politely.
            libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            libc::syscall(
                libc::SYS_ioprio_set,
                IOPRIO_WHO_PROCESS,
                0,
                IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
            );
            privileges::caps::limit_to(caps)
        });
    }
}

/// A helper command: terminated with the helper. Its capabilities are
/// left alone: exec_before_snapshot keeps all of the helper's, since it is
/// there to mount (password_command drops them: `privileges::password`).
pub fn plain_child(cmd: &mut tokio::process::Command) {
    let parent = Pid::this();
    // SAFETY: as above, only async-signal-safe calls.
    unsafe {
        cmd.pre_exec(move || die_with_parent(parent, Signal::SIGTERM));
    }
}

/// Sets the parent-death signal, and closes the race where the parent
/// died before it was set.
pub(crate) fn die_with_parent(parent: Pid, signal: Signal) -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(signal)?;
    if getppid() != parent {
        return Err(io::Error::other("igotchuu exited while starting a child"));
    }
    Ok(())
}
