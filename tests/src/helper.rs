//! Running the `igotchuu` helper binary: finding it, giving each test its
//! own config file and state directory, and guarding spawned runs so that a
//! failing test never leaves a helper behind.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use igotchuu_dbus::history::{History, ADMIN_HISTORY_FILE_NAME, HISTORY_FILE_NAME};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::config::ConfigSpec;
use crate::repo::{write_private, RESTIC_ENV};
use crate::wait;
use crate::wrapper::ResticWrapper;

/// The helper's exit codes (the CLI contract).
pub mod exit {
    pub const COMPLETED: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const COMPLETED_WITH_WARNINGS: i32 = 3;
    /// A scheduled run was postponed (on battery, metered) for too long.
    pub const POSTPONED: i32 = 5;
    /// `igotchuu watch`: no bus, Start refused, or no backup began in time.
    pub const UNAVAILABLE: i32 = 69;
    pub const BUSY: i32 = 75;
    pub const CONFIG: i32 = 78;
    pub const STOPPED: i32 = 130;
}

/// The `igotchuu` binary: `$IGOTCHUU_BIN`, or the one cargo built next to
/// this executable (`target/<profile>/igotchuu`).
pub fn helper_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("IGOTCHUU_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "IGOTCHUU_BIN={} is not a file",
            bin.display()
        );
        return bin;
    }
    let exe = std::env::current_exe().expect("current_exe");
    // Tests live in target/<profile>/deps, binaries in target/<profile>.
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join("igotchuu"))
        .collect();
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the igotchuu binary is missing (looked at {candidates:?}); \
                 run `cargo build --workspace --bins` (or with --release for the \
                 benchmark) first, or set IGOTCHUU_BIN"
            )
        })
}

/// One test's setting for the helper: a config file, a state directory
/// and the wrapper's PATH. Runs spawned from the same `HelperEnv` share the
/// state directory (and so its lock and history).
pub struct HelperEnv {
    dir: TempDir,
    path_env: OsString,
    runs: AtomicUsize,
    /// The system bus runs get; `None`: a socket that does not exist.
    bus: Mutex<Option<String>>,
    /// More environment for runs (`RESTIC_PROGRESS_FPS` …).
    extra: Mutex<Vec<(OsString, OsString)>>,
}

/// A helper run in progress. Dropping it kills and reaps the helper.
pub struct Running {
    child: Option<Child>,
    pid: i32,
    label: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// A finished helper run.
#[derive(Debug)]
pub struct Finished {
    pub label: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl HelperEnv {
    pub fn new(wrapper: &ResticWrapper) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-helper-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir(dir.path().join("state")).expect("state dir");
        std::fs::create_dir(dir.path().join("out")).expect("output dir");
        std::fs::create_dir(dir.path().join("scratch")).expect("scratch dir");
        HelperEnv {
            dir,
            path_env: wrapper.path_env(),
            runs: AtomicUsize::new(0),
            bus: Mutex::new(None),
            extra: Mutex::new(Vec::new()),
        }
    }

    /// Points later runs at a (private) system bus, by its address.
    pub fn use_bus(&self, address: &str) {
        *self.bus.lock().unwrap() = Some(address.to_owned());
    }

    /// Later runs get no system bus again.
    pub fn use_no_bus(&self) {
        *self.bus.lock().unwrap() = None;
    }

    /// Sets an environment variable for later runs.
    pub fn set_var(&self, key: &str, value: &str) {
        self.extra.lock().unwrap().push((key.into(), value.into()));
    }

    /// The environment every run from this env gets (besides an environment
    /// without `RESTIC_*`): its state directory, PATH and system bus. A bus
    /// that activates the helper passes these on to it.
    pub fn vars(&self) -> Vec<(OsString, OsString)> {
        // No system bus unless a test gives one: the helper must back up
        // without one, and parallel tests must not compete for the bus name
        // on a machine that has one.
        let bus =
            self.bus.lock().unwrap().clone().unwrap_or_else(|| {
                format!("unix:path={}", self.dir.path().join("no-bus").display())
            });
        let mut v: Vec<(OsString, OsString)> = vec![
            ("STATE_DIRECTORY".into(), self.state_dir().into()),
            ("PATH".into(), self.path_env.clone()),
            ("DBUS_SYSTEM_BUS_ADDRESS".into(), bus.into()),
            ("RUST_BACKTRACE".into(), "1".into()),
        ];
        v.extend(self.extra.lock().unwrap().iter().cloned());
        v
    }

    /// The `STATE_DIRECTORY` of every run from this env.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The config file every run from this env uses.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("igotchuu.toml")
    }

    /// A directory for the test's own files (mount points, scripts …).
    pub fn scratch(&self) -> PathBuf {
        self.dir.path().join("scratch")
    }

    /// Writes the config file: owned by root, mode 0600 (as the helper requires).
    pub fn write_config(&self, toml: &str) {
        let path = self.config_path();
        write_private(&path, toml);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    /// Writes `spec` as the config file.
    pub fn write_spec(&self, spec: &ConfigSpec) {
        self.write_config(&spec.to_toml());
    }

    /// The helper with this env's config file (`-c`), state directory and PATH;
    /// `args` follow `-c FILE`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(helper_bin());
        for var in RESTIC_ENV {
            cmd.env_remove(var);
        }
        cmd.arg("-c")
            .arg(self.config_path())
            .args(args)
            .envs(self.vars())
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `igotchuu -c CONFIG args…`.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let label = format!("run #{n}: igotchuu {}", args.join(" "));
        let out = self.dir.path().join("out");
        let stdout = out.join(format!("{n}.stdout"));
        let stderr = out.join(format!("{n}.stderr"));
        let child = self
            .command(args)
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", helper_bin().display()));
        Running {
            pid: child.id() as i32,
            child: Some(child),
            label,
            stdout,
            stderr,
        }
    }

    /// Runs `igotchuu -c CONFIG args…` to the end (at most [`wait::DEADLINE`]).
    pub fn run(&self, args: &[&str]) -> Finished {
        self.spawn(args).wait(wait::DEADLINE)
    }

    /// The text of the administrators' history, `history-admin.json`
    /// (empty if there is none).
    pub fn history_text(&self) -> String {
        std::fs::read_to_string(self.state_dir().join(ADMIN_HISTORY_FILE_NAME)).unwrap_or_default()
    }

    /// The parsed administrators' history, every detail in it (empty if
    /// there is none).
    pub fn history(&self) -> History {
        parse_history(ADMIN_HISTORY_FILE_NAME, &self.history_text())
    }

    /// The history as every local user reads it, `history.json`.
    pub fn public_history(&self) -> History {
        let text =
            std::fs::read_to_string(self.state_dir().join(HISTORY_FILE_NAME)).unwrap_or_default();
        parse_history(HISTORY_FILE_NAME, &text)
    }

    /// Everything in the state directory, concatenated (to search for secrets).
    pub fn state_text(&self) -> String {
        let mut all = String::new();
        for e in std::fs::read_dir(self.state_dir()).expect("read state dir") {
            let path = e.expect("dir entry").path();
            if let Ok(bytes) = std::fs::read(&path) {
                all.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        all
    }
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `sig` to the helper.
    pub fn signal(&self, sig: Signal) {
        assert!(self.child.is_some(), "{} already ended", self.label);
        kill(Pid::from_raw(self.pid), sig).unwrap_or_else(|e| panic!("kill {sig}: {e}"));
    }

    /// What the helper has written to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for the helper to end. On timeout it is killed and the test fails.
    pub fn wait(mut self, timeout: Duration) -> Finished {
        let mut child = self.child.take().expect("not yet waited");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for helper") {
                break status;
            }
            if start.elapsed() >= timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not end within {timeout:?}; killed it. stderr:\n{}",
                    self.label,
                    self.stderr_so_far()
                );
            }
            std::thread::sleep(wait::POLL);
        };
        self.finish(status)
    }
}

impl Running {
    /// Waits for the helper to end, blocking, with no timeout. For the
    /// benchmark only, where polling would add its interval to the timings.
    pub fn wait_blocking(mut self) -> Finished {
        let status = self
            .child
            .take()
            .expect("not yet waited")
            .wait()
            .expect("wait for helper");
        self.finish(status)
    }

    fn finish(&mut self, status: ExitStatus) -> Finished {
        Finished {
            label: std::mem::take(&mut self.label),
            status,
            stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Finished {
    /// The exit code; panics (showing the output) if a signal ended the helper.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "{} was killed by signal {:?}\n{}",
                self.label,
                self.status.signal(),
                self.output()
            )
        })
    }

    /// Asserts the exit code, showing the output if it differs.
    pub fn assert_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.status.code(),
            Some(expected),
            "{} ended with {} instead of exit code {expected}\n{}",
            self.label,
            self.status,
            self.output()
        );
        self
    }

    /// stdout and stderr, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.stdout, self.stderr
        )
    }
}

fn parse_history(name: &str, text: &str) -> History {
    if text.is_empty() {
        return History::default();
    }
    History::from_json(text.as_bytes())
        .unwrap_or_else(|e| panic!("{name} does not parse: {e}\n{text}"))
}
