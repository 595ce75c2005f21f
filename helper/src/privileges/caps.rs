//! Linux capabilities as children need them: a set, and limiting a process
//! to it before it execs. Raw system calls only, so that [`limit_to`] can
//! run between fork and exec.
//!
//! A uid-0 process regains every capability of its bounding set when it
//! execs. [`limit_to`] therefore sets no_new_privs first: from then on an
//! exec never yields more than the process had (the kernel intersects the
//! new permitted set with the old one), so dropping the rest from the
//! permitted set is for good, for the process and everything it starts.
//! With `CAP_SETPCAP` the bounding set is narrowed too, so that
//! `/proc/PID/status` shows the limit plainly. Under the systemd units,
//! whose bounding set has no `CAP_SETPCAP`, no_new_privs alone holds it.

use std::fmt;
use std::io;

/// One capability, by its number in `linux/capability.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap(u8);

impl Cap {
    pub const CHOWN: Cap = Cap(0);
    pub const DAC_OVERRIDE: Cap = Cap(1);
    pub const DAC_READ_SEARCH: Cap = Cap(2);
    pub const FOWNER: Cap = Cap(3);
    pub const FSETID: Cap = Cap(4);
    pub const SETPCAP: Cap = Cap(8);
    pub const SYS_CHROOT: Cap = Cap(18);
    pub const SYS_ADMIN: Cap = Cap(21);
    pub const MKNOD: Cap = Cap(27);

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Cap::DAC_OVERRIDE => "cap_dac_override",
            Cap::DAC_READ_SEARCH => "cap_dac_read_search",
            Cap::FOWNER => "cap_fowner",
            Cap::SETPCAP => "cap_setpcap",
            Cap::SYS_CHROOT => "cap_sys_chroot",
            Cap::SYS_ADMIN => "cap_sys_admin",
            _ => return None,
        })
    }
}

/// A set of capabilities, as the kernel's 64-bit masks (`CapEff:` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(pub u64);

impl CapSet {
    pub const EMPTY: CapSet = CapSet(0);

    pub const fn of(caps: &[Cap]) -> CapSet {
        let mut bits = 0;
        let mut i = 0;
        while i < caps.len() {
            bits |= 1u64 << caps[i].0;
            i += 1;
        }
        CapSet(bits)
    }

    pub const fn with(self, cap: Cap) -> CapSet {
        CapSet(self.0 | (1u64 << cap.0))
    }

    pub const fn contains(self, cap: Cap) -> bool {
        self.0 & (1u64 << cap.0) != 0
    }

    /// The mask, as `/proc/PID/status` prints it in hex.
    #[cfg(test)]
    pub const fn bits(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        let mut first = true;
        for n in 0..64u8 {
            let cap = Cap(n);
            if !self.contains(cap) {
                continue;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            match cap.name() {
                Some(name) => f.write_str(name)?,
                None => write!(f, "cap_{n}")?,
            }
        }
        Ok(())
    }
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, as two 32-bit halves.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct Header {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// This process's (effective, permitted) sets.
fn current() -> io::Result<(CapSet, CapSet)> {
    let mut header = Header {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget(2) writes two `Data` for version 3, which `data` holds.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |lo: u32, hi: u32| CapSet(u64::from(lo) | u64::from(hi) << 32);
    Ok((
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
    ))
}

/// Sets permitted and effective to `set`, inheritable to nothing.
fn set_own(set: CapSet) -> io::Result<()> {
    let mut header = Header {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |bits: u64| Data {
        effective: bits as u32,
        permitted: bits as u32,
        inheritable: 0,
    };
    let data = [half(set.0), half(set.0 >> 32)];
    // SAFETY: capset(2) reads two `Data` for version 3.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: these prctl(2) options take integers and no pointers.
    if unsafe { libc::prctl(option, arg, 0 as libc::c_ulong, 0 as libc::c_ulong, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Limits this process, and all it will exec, to `set` (and to what it
/// has of it): no_new_privs, no ambient or inheritable capabilities, the
/// bounding set narrowed when this process may, permitted and effective
/// cut down. Only system calls and no allocation: safe between fork and
/// exec, and it must be the last step there that needs a capability.
pub fn limit_to(set: CapSet) -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1)?;
    match prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
    ) {
        // A kernel before 4.3 has no ambient set to clear.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        other => other?,
    }
    let (effective, permitted) = current()?;
    if effective.contains(Cap::SETPCAP) {
        for n in 0..64u8 {
            if set.contains(Cap(n)) {
                continue;
            }
            match prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(n)) {
                // Past the last capability this kernel knows.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
                other => other?,
            }
        }
    }
    set_own(CapSet(permitted.0 & set.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn sets_print_as_capsh_names_them() {
        let set = CapSet::of(&[Cap::DAC_READ_SEARCH]).with(Cap::DAC_OVERRIDE);
        assert_eq!(set.bits(), 0b110);
        assert_eq!(set.to_string(), "cap_dac_override,cap_dac_read_search");
        assert!(!set.contains(Cap::SYS_ADMIN));
        assert_eq!(CapSet::EMPTY.to_string(), "none");
        assert_eq!(CapSet::of(&[Cap(40)]).to_string(), "cap_40");
    }

    fn status_field(status: &str, key: &str) -> u64 {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {status}"));
        u64::from_str_radix(line.trim(), 16).expect("hex mask")
    }

    #[test]
    fn a_limited_child_keeps_only_the_set() {
        let set = CapSet::of(&[Cap::DAC_READ_SEARCH]);
        let (_, permitted) = current().expect("capget");
        let mut cmd = std::process::Command::new("cat");
        cmd.arg("/proc/self/status");
        // SAFETY: limit_to only makes system calls.
        unsafe { cmd.pre_exec(move || limit_to(set)) };
        let out = cmd.output().expect("run cat");
        assert!(out.status.success());
        let status = String::from_utf8(out.stdout).expect("UTF-8");
        let expected = permitted.bits() & set.bits();
        assert_eq!(status_field(&status, "CapEff:"), expected, "{status}");
        assert_eq!(status_field(&status, "CapPrm:"), expected, "{status}");
        assert_eq!(status_field(&status, "CapInh:"), 0);
        assert_eq!(status_field(&status, "CapAmb:"), 0);
        assert_eq!(status_field(&status, "NoNewPrivs:"), 1);
    }
}
