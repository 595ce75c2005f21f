//! A `restic` wrapper script put first in the helper's PATH.
//!
//! For `restic … backup …` it records, from inside the helper's mount
//! namespace, what the helper set up (mount table, directory listings, open
//! file descriptors, argv, timestamps), then optionally holds until the test
//! releases it, then `exec`s the real restic
//! ([`RESTIC`], chosen with `IGOTCHUU_TEST_RESTIC`). Every other subcommand goes
//! straight to the real restic. Holding makes signal and consistency tests
//! deterministic: the test acts while restic is known to be about to run.
//!
//! Each backup invocation gets a numbered record directory (1, 2, …);
//! `started` is created last, so a record is complete once it exists.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::mounts::{self, MountEntry};
use crate::repo::RESTIC;
use crate::wait;

/// How long a held wrapper waits for the test before giving up on its own,
/// so that a test that died without cleaning up leaves nothing running.
const HOLD_LIMIT_SECONDS: u32 = 180;
/// The PATH after the wrapper's own directory.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How the wrapper behaves.
#[derive(Debug, Clone, Default)]
pub struct WrapperOptions {
    /// Directories whose entries are recorded (as seen in the helper's namespace).
    pub list_dirs: Vec<PathBuf>,
    /// Run restic as a child instead of `exec`ing it, and record its end time
    /// and the parent's peak memory after it ends (for the benchmark). Signals
    /// sent to the wrapper then do not reach restic: don't use it in signal tests.
    pub measure: bool,
}

/// The wrapper: a directory with `restic` in it, and the records it writes.
pub struct ResticWrapper {
    dir: TempDir,
}

/// One recorded `restic backup` invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub number: usize,
    dir: PathBuf,
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn script(rec: &Path, cache: &Path, measure: bool) -> String {
    let rec = shell_quote(&rec.to_string_lossy());
    let cache = shell_quote(&cache.to_string_lossy());
    let real = shell_quote(&RESTIC.path().to_string_lossy());
    let finish = if measure {
        r#"
echo "$EPOCHREALTIME" > "$d/exec_time"
"$REAL" "$@"
rc=$?
echo "$EPOCHREALTIME" > "$d/end_time"
# Builtins only: a fork here would be counted as the helper's time.
while read -r k v _; do [ "$k" = VmHWM: ] && echo "$k $v" > "$d/parent_hwm"; done < "/proc/$PPID/status"
exit $rc
"#
    } else {
        r#"
# What the shell used so far (the recording above) is counted as restic's
# once it execs: the benchmark subtracts it.
times > "$d/times"
if [ -e "$REC/inject_errors" ]; then
    # A flood of item errors, as restic 0.14 writes them on stderr for
    # files it cannot read, before the real backup starts.
    n=$(< "$REC/inject_errors")
    for ((i = 0; i < n; i++)); do
        printf '{"message_type":"error","error":{},"during":"archival","item":"/flood/%d"}\n' $i
    done >&2
fi
if [ -e "$REC/tee" ] && [ ! -e "$REC/pause_on_status" ]; then
    # tee(1) passes each chunk on as it comes; bash's read below takes a
    # pipe a byte at a time, which a busy machine can slow below restic's
    # pace (and the helper would see restic's seconds stretched).
    exec "$REAL" "$@" > >(tee -a "$d/stdout")
fi
if [ -e "$REC/pause_on_status" ]; then
    # restic's stdout through a filter that copies it, or that stops restic
    # (SIGSTOP; restic stays this pid, so signals still reach it) right
    # after it has passed on the first status with progress in it (restic
    # leaves out bytes_done while it is 0).
    tee=0; [ -e "$REC/tee" ] && tee=1
    pause=0; [ -e "$REC/pause_on_status" ] && pause=1
    main=$$
    exec "$REAL" "$@" > >(
        while IFS= read -r line; do
            printf '%s\n' "$line"
            [ $tee = 1 ] && printf '%s\n' "$line" >> "$d/stdout"
            if [ $pause = 1 ] && [[ $line == *'"message_type":"status"'*'"total_files"'*'"bytes_done"'* ]]; then
                pause=0
                kill -STOP $main
                printf '%s\n' "$line" > "$d/paused_status"
                : > "$d/paused"
                end=$((SECONDS + LIMIT))
                until [ -e "$d/resume" ] || [ -e "$REC/abort" ] || [ $SECONDS -ge $end ]; do sleep 0.02; done
                kill -CONT $main
            fi
        done
    )
fi
exec "$REAL" "$@"
"#
    };
    format!(
        r#"#!/bin/bash
# restic wrapper written by the igotchuu end-to-end tests
LC_ALL=C
LIMIT={HOLD_LIMIT_SECONDS}
REAL={real}
REC={rec}
[ -n "$RESTIC_CACHE_DIR" ] || RESTIC_CACHE_DIR={cache}
export RESTIC_CACHE_DIR
is_backup=0
for a in "$@"; do [ "$a" = backup ] && is_backup=1; done
[ $is_backup = 1 ] || exec "$REAL" "$@"
t0=$EPOCHREALTIME
n=1
until mkdir "$REC/$n" 2>/dev/null; do n=$((n + 1)); done
d=$REC/$n
echo "$t0" > "$d/start_time"
echo $$ > "$d/pid"
echo $PPID > "$d/ppid"
printf '%s\0' "$@" > "$d/argv"
cat /proc/self/mountinfo > "$d/mountinfo"
for f in /proc/$$/fd/*; do readlink "$f"; done > "$d/fds" 2>/dev/null
env | grep '^RESTIC_' | grep -v '^RESTIC_PASSWORD=' > "$d/env"
cat /proc/$$/stat > "$d/stat"
ionice -p $$ > "$d/ioprio" 2>/dev/null
while IFS= read -r dir; do echo "== $dir"; ls -1A "$dir" 2>&1; done < "$REC/list" > "$d/listing"
if [ -e "$REC/hold" ]; then
    trap 'echo INT > "$d/signal"; exit 130' INT
    trap 'echo TERM > "$d/signal"; exit 143' TERM
    : > "$d/held"
    : > "$d/started"
    end=$((SECONDS + {HOLD_LIMIT_SECONDS}))
    until [ -e "$d/go" ] || [ -e "$REC/abort" ] || [ $SECONDS -ge $end ]; do sleep 0.02; done
    [ -e "$d/go" ] || {{ echo ABORT > "$d/signal"; exit 99; }}
    trap - INT TERM
else
    : > "$d/started"
fi
{finish}
"#
    )
}

impl ResticWrapper {
    /// A wrapper that records and `exec`s restic, without holding.
    pub fn new() -> Self {
        Self::with(WrapperOptions::default())
    }

    pub fn with(options: WrapperOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-wrapper-")
            .tempdir()
            .expect("temp dir");
        let bin = dir.path().join("bin");
        let rec = dir.path().join("rec");
        let cache = dir.path().join("cache");
        for d in [&bin, &rec, &cache] {
            std::fs::create_dir(d).expect("wrapper dirs");
        }
        let exe = bin.join("restic");
        std::fs::write(&exe, script(&rec, &cache, options.measure)).expect("write wrapper");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let wrapper = ResticWrapper { dir };
        wrapper.list_dirs(&options.list_dirs);
        wrapper
    }

    /// Sets the directories whose entries later backups record.
    pub fn list_dirs(&self, dirs: &[PathBuf]) {
        let mut text = String::new();
        for d in dirs {
            let d = d.to_str().expect("UTF-8 path");
            assert!(!d.contains('\n'), "newline in {d:?}");
            text.push_str(d);
            text.push('\n');
        }
        std::fs::write(self.rec().join("list"), text).expect("write list");
    }

    fn rec(&self) -> PathBuf {
        self.dir.path().join("rec")
    }

    /// The directory holding the `restic` wrapper.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// The restic cache the wrapper points restic at (unless the caller set one).
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// A PATH that finds the wrapper first, then the system's tools.
    pub fn path_env(&self) -> OsString {
        let mut p = self.bin_dir().into_os_string();
        p.push(":");
        p.push(SYSTEM_PATH);
        p
    }

    /// Whether backups starting from now wait for [`Invocation::release`].
    pub fn hold(&self, on: bool) {
        let flag = self.rec().join("hold");
        if on {
            std::fs::write(flag, "").expect("set hold");
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// Whether backups starting from now copy restic's stdout (see
    /// [`Invocation::stdout_lines`]).
    pub fn tee_stdout(&self, on: bool) {
        self.flag("tee", on);
    }

    /// Backups starting from now first print `n` item errors on stderr, as
    /// restic does for files it cannot read (none when `n` is 0).
    pub fn inject_errors(&self, n: usize) {
        let flag = self.rec().join("inject_errors");
        if n > 0 {
            std::fs::write(flag, n.to_string()).expect("set inject_errors");
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// Whether backups starting from now stop restic (SIGSTOP) right after
    /// it printed its first status with progress in it (totals, and some
    /// bytes done), until
    /// [`Invocation::resume`]. The helper has that status, and no later one.
    pub fn pause_on_status(&self, on: bool) {
        self.flag("pause_on_status", on);
    }

    fn flag(&self, name: &str, on: bool) {
        let flag = self.rec().join(name);
        if on {
            std::fs::write(flag, "").expect("set flag");
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// The backup invocations that have started so far, in order.
    pub fn invocations(&self) -> Vec<Invocation> {
        let mut v: Vec<Invocation> = std::fs::read_dir(self.rec())
            .expect("read records")
            .filter_map(|e| {
                let e = e.ok()?;
                let number: usize = e.file_name().to_str()?.parse().ok()?;
                e.path().join("started").exists().then(|| Invocation {
                    number,
                    dir: e.path(),
                })
            })
            .collect();
        v.sort_by_key(|i| i.number);
        v
    }

    /// Waits until backup invocation `number` (from 1) has started.
    pub fn wait_started(&self, number: usize, timeout: Duration) -> Invocation {
        let dir = self.rec().join(number.to_string());
        wait::file_exists(
            &format!("restic backup #{number} to start"),
            &dir.join("started"),
            timeout,
        );
        Invocation { number, dir }
    }
}

impl Default for ResticWrapper {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ResticWrapper {
    fn drop(&mut self) {
        // Held wrappers give up on this, then anything still running is ours to kill.
        let _ = std::fs::write(self.rec().join("abort"), "");
        for inv in self.invocations() {
            let Some(pid) = inv.pid() else { continue };
            if wait::pid_gone_within(pid, Duration::from_secs(2)) {
                continue;
            }
            let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("restic"));
            if ours {
                eprintln!("killing leftover restic (pid {pid})");
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

fn parse_time(text: &str) -> f64 {
    text.trim()
        .replace(',', ".")
        .parse()
        .unwrap_or_else(|e| panic!("bad time {text:?}: {e}"))
}

impl Invocation {
    fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(name)).ok()
    }

    fn must_read(&self, name: &str) -> String {
        self.read(name)
            .unwrap_or_else(|| panic!("backup #{} recorded no {name}", self.number))
    }

    /// Lets a held backup go on to restic.
    pub fn release(&self) {
        std::fs::write(self.dir.join("go"), "").expect("release wrapper");
    }

    /// Waits until restic is paused after a status (see
    /// [`ResticWrapper::pause_on_status`]); returns that status line.
    pub fn wait_paused(&self, timeout: Duration) -> String {
        wait::file_exists(
            &format!("restic backup #{} to print a status and pause", self.number),
            &self.dir.join("paused"),
            timeout,
        );
        self.must_read("paused_status").trim().to_owned()
    }

    /// Lets a paused restic go on.
    pub fn resume(&self) {
        std::fs::write(self.dir.join("resume"), "").expect("resume restic");
    }

    /// What restic printed on stdout so far (see [`ResticWrapper::tee_stdout`]).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.read("stdout")
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// restic's JSON messages of one `message_type` ("status", "summary")
    /// on stdout so far, in order (see [`ResticWrapper::tee_stdout`]).
    pub fn restic_messages(&self, message_type: &str) -> Vec<serde_json::Value> {
        self.stdout_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["message_type"] == message_type)
            .collect()
    }

    /// CPU seconds the wrapper used before it exec'd restic (its own and
    /// its children's); exec mode only.
    pub fn cpu_before_exec(&self) -> Option<f64> {
        let text = self.read("times")?;
        let mut total = 0.0;
        for t in text.split_whitespace() {
            // `times` prints e.g. 0m0.004s.
            let (m, s) = t.strip_suffix('s')?.split_once('m')?;
            total += m.parse::<f64>().ok()? * 60.0 + s.replace(',', ".").parse::<f64>().ok()?;
        }
        Some(total)
    }

    /// Whether this invocation was held.
    pub fn was_held(&self) -> bool {
        self.dir.join("held").exists()
    }

    /// The wrapper's pid, which becomes restic's when it `exec`s.
    pub fn pid(&self) -> Option<i32> {
        self.read("pid")?.trim().parse().ok()
    }

    /// The pid of the process that started restic.
    pub fn ppid(&self) -> i32 {
        self.must_read("ppid").trim().parse().expect("ppid")
    }

    /// restic's arguments (after the program name).
    pub fn argv(&self) -> Vec<String> {
        self.must_read("argv")
            .split('\0')
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The mount table restic saw.
    pub fn mountinfo(&self) -> Vec<MountEntry> {
        mounts::parse(&self.must_read("mountinfo"))
    }

    /// What each of the wrapper's list directories held, as restic saw them.
    pub fn listing(&self) -> BTreeMap<PathBuf, Vec<String>> {
        let mut map: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
        let mut current = None;
        for line in self.must_read("listing").lines() {
            if let Some(dir) = line.strip_prefix("== ") {
                current = Some(PathBuf::from(dir));
                map.entry(PathBuf::from(dir)).or_default();
            } else if let Some(dir) = &current {
                map.get_mut(dir).unwrap().push(line.to_owned());
            }
        }
        map
    }

    /// The targets of the file descriptors restic inherited.
    pub fn inherited_fds(&self) -> Vec<String> {
        self.must_read("fds").lines().map(str::to_owned).collect()
    }

    /// restic's `RESTIC_*` environment (without `RESTIC_PASSWORD`).
    pub fn restic_env(&self) -> Vec<(String, String)> {
        self.must_read("env")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// restic's scheduling policy (`SCHED_*`) and nice value, as the helper set them.
    pub fn sched(&self) -> (i32, i32) {
        let stat = self.must_read("stat");
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("stat has a command name")
            .1
            .split_whitespace()
            .collect();
        // stat(5) numbers fields from 1; the state, field 3, is first here.
        let field = |n: usize| -> i32 { fields[n - 3].parse().expect("numeric stat field") };
        (field(41), field(19))
    }

    /// restic's IO priority as `ionice -p` prints it (`idle`, `best-effort: prio 4` …).
    pub fn io_priority(&self) -> String {
        self.must_read("ioprio").trim().to_owned()
    }

    /// The signal a held wrapper received (`INT`, `TERM`), if any.
    pub fn signal(&self) -> Option<String> {
        self.read("signal").map(|s| s.trim().to_owned())
    }

    /// When the wrapper started (seconds since the epoch).
    pub fn start_time(&self) -> f64 {
        parse_time(&self.must_read("start_time"))
    }

    /// When the wrapper, done recording, started restic (measure mode only).
    pub fn exec_time(&self) -> Option<f64> {
        self.read("exec_time").map(|t| parse_time(&t))
    }

    /// When restic ended (measure mode only).
    pub fn end_time(&self) -> Option<f64> {
        self.read("end_time").map(|t| parse_time(&t))
    }

    /// The peak memory (KiB) of restic's parent just after restic ended
    /// (measure mode only).
    pub fn parent_vm_hwm_kib(&self) -> Option<u64> {
        let line = self.read("parent_hwm")?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn restic(w: &ResticWrapper, args: &[&str]) -> Command {
        let mut c = Command::new("restic");
        c.env_remove("RESTIC_CACHE_DIR");
        c.args(args)
            .env("PATH", w.path_env())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    #[test]
    fn passes_other_commands_through_unrecorded() {
        let w = ResticWrapper::new();
        let out = restic(&w, &["version"]).output().unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("restic "));
        assert!(w.invocations().is_empty());
    }

    #[test]
    fn records_holds_and_releases_a_backup() {
        let w = ResticWrapper::with(WrapperOptions {
            list_dirs: vec!["/proc/self".into()],
            measure: false,
        });
        w.hold(true);
        let mut child = restic(&w, &["--no-cache", "backup", "--help"])
            .spawn()
            .unwrap();
        let inv = w.wait_started(1, wait::DEADLINE);
        assert!(inv.was_held());
        assert_eq!(inv.pid(), Some(child.id() as i32));
        assert_eq!(inv.ppid(), std::process::id() as i32);
        assert_eq!(inv.argv(), ["--no-cache", "backup", "--help"]);
        assert!(inv
            .mountinfo()
            .iter()
            .any(|m| m.mount_point == Path::new("/")));
        assert!(inv.listing()[Path::new("/proc/self")].contains(&"status".to_owned()));
        assert!(inv.start_time() > 1e9);
        assert_eq!(inv.sched().0, libc::SCHED_OTHER);
        let cache = w.cache_dir().display().to_string();
        assert!(inv
            .restic_env()
            .contains(&("RESTIC_CACHE_DIR".to_owned(), cache)));
        assert!(!inv.io_priority().is_empty());
        // Still held: not yet exec'd into restic.
        assert!(child.try_wait().unwrap().is_none());
        inv.release();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("restic backup"));
        assert_eq!(inv.signal(), None);
    }

    #[test]
    fn a_held_wrapper_records_the_signal_it_gets() {
        let w = ResticWrapper::new();
        w.hold(true);
        let mut child = restic(&w, &["backup", "--help"]).spawn().unwrap();
        let inv = w.wait_started(1, wait::DEADLINE);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130));
        assert_eq!(inv.signal().as_deref(), Some("INT"));
    }

    #[test]
    fn measure_mode_records_the_end() {
        let w = ResticWrapper::with(WrapperOptions {
            list_dirs: vec![],
            measure: true,
        });
        let status = restic(&w, &["backup", "--help"]).status().unwrap();
        assert!(status.success());
        let inv = &w.invocations()[0];
        assert!(inv.exec_time().unwrap() >= inv.start_time());
        assert!(inv.end_time().unwrap() >= inv.exec_time().unwrap());
        assert!(inv.parent_vm_hwm_kib().unwrap() > 0);
    }
}
