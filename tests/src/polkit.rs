//! The real polkitd on a private system bus, with the repository's polkit
//! actions and the test's own rules, and nothing of the machine's.
//!
//! polkitd reads actions from `/usr/share/polkit-1/actions` and rules from
//! `/etc/polkit-1/rules.d` and `/usr/share/polkit-1/rules.d`. Temp folders
//! are bind-mounted over all three in the test thread's private mount
//! namespace, so the machine's files are untouched and invisible to it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use tempfile::TempDir;
use zbus::zvariant::{OwnedValue, Value};

use crate::sysbus::{set_mode, SystemBus};
use crate::{ensure_private_mount_namespace, repo_root, wait};

pub const POLKITD: &str = "/usr/lib/polkit-1/polkitd";
/// The repository's polkit actions.
pub const POLICY: &str = "polkit/com.nyantec.igotchuu.policy";
pub const ACTIONS_DIR: &str = "/usr/share/polkit-1/actions";
pub const RULES_DIRS: [&str; 2] = ["/etc/polkit-1/rules.d", "/usr/share/polkit-1/rules.d"];
pub const BUS_NAME: &str = "org.freedesktop.PolicyKit1";
const START_LIMIT: Duration = Duration::from_secs(20);

/// A rule file for `/etc/polkit-1/rules.d`.
pub struct Rule {
    /// e.g. `50-igotchuu-test.rules`.
    pub file_name: String,
    /// The JavaScript.
    pub text: String,
}

impl Rule {
    /// Lets members of `group` do `action` without authentication.
    pub fn allow_group(action: &str, group: &str) -> Self {
        Rule {
            file_name: "50-igotchuu-e2e.rules".into(),
            text: format!(
                r#"polkit.addRule(function(action, subject) {{
    if (action.id == "{action}" && subject.isInGroup("{group}")) {{
        return polkit.Result.YES;
    }}
}});
"#
            ),
        }
    }
}

/// polkitd on a [`SystemBus`]; killed, waited for and unmounted on drop.
pub struct Polkit {
    daemon: Option<Child>,
    mounts: Vec<PathBuf>,
    dir: TempDir,
}

impl Polkit {
    /// polkitd with the repository's actions and no rules.
    pub fn start(bus: &SystemBus) -> Self {
        Self::with_rules(bus, &[])
    }

    pub fn with_rules(bus: &SystemBus, rules: &[Rule]) -> Self {
        assert!(
            Path::new(POLKITD).is_file(),
            "{POLKITD} is missing: install the Debian package polkitd"
        );
        ensure_private_mount_namespace();
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-polkit-")
            .tempdir()
            .expect("temp dir");
        // polkitd drops to its own user: everything must be world-readable.
        set_mode(dir.path(), 0o755);
        let actions = dir.path().join("actions");
        let rules_dir = dir.path().join("rules.d");
        let empty = dir.path().join("empty");
        for d in [&actions, &rules_dir, &empty] {
            std::fs::create_dir(d).expect("polkit dirs");
            set_mode(d, 0o755);
        }
        let policy = repo_root().join(POLICY);
        std::fs::copy(&policy, actions.join("com.nyantec.igotchuu.policy"))
            .unwrap_or_else(|e| panic!("copy {}: {e}", policy.display()));
        for r in rules {
            let path = rules_dir.join(&r.file_name);
            std::fs::write(&path, &r.text).expect("write rule");
            set_mode(&path, 0o644);
        }
        let mut pk = Polkit {
            daemon: None,
            mounts: Vec::new(),
            dir,
        };
        pk.bind(&actions, Path::new(ACTIONS_DIR));
        pk.bind(&rules_dir, Path::new(RULES_DIRS[0]));
        pk.bind(&empty, Path::new(RULES_DIRS[1]));

        let log = pk.dir.path().join("polkitd.log");
        pk.daemon = Some(
            bus.command(POLKITD)
                .arg("--no-debug")
                .stdout(std::fs::File::create(&log).expect("polkitd.log"))
                .stderr(std::fs::File::create(&log).expect("polkitd.log"))
                .spawn()
                .expect("start polkitd"),
        );
        let daemon = pk.daemon.as_mut().expect("just started");
        crate::block_on(async {
            let conn = bus.connect().await;
            let start = std::time::Instant::now();
            while bus.owner(&conn, BUS_NAME).await.is_none() {
                if let Some(status) = daemon.try_wait().expect("wait polkitd") {
                    panic!(
                        "polkitd ended with {status}:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                assert!(
                    start.elapsed() < START_LIMIT,
                    "polkitd did not take {BUS_NAME} within {START_LIMIT:?}"
                );
                async_io::Timer::after(wait::POLL).await;
            }
        });
        pk
    }

    fn bind(&mut self, from: &Path, over: &Path) {
        mount(
            Some(from),
            over,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap_or_else(|e| panic!("bind {} over {}: {e}", from.display(), over.display()));
        self.mounts.push(over.to_owned());
    }

    /// What polkitd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("polkitd.log")).unwrap_or_default()
    }

    /// polkitd's pid.
    pub fn pid(&self) -> i32 {
        self.daemon.as_ref().expect("running").id() as i32
    }
}

impl Drop for Polkit {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        for m in self.mounts.iter().rev() {
            let _ = umount2(m, MntFlags::MNT_DETACH);
        }
    }
}

/// A user and a group of the test's own, in the test thread's private
/// mount namespace only: copies of the account files with them added are
/// bind-mounted over `/etc/passwd`, `/etc/group`, `/etc/shadow` and
/// `/etc/gshadow`. polkitd, the bus and `runuser`, started from this
/// thread, see them; the machine never does, even if the test is killed.
pub struct TempUser {
    pub user: String,
    pub group: String,
    mounted: Vec<PathBuf>,
    /// The copies; `None` once dropped.
    dir: Option<TempDir>,
}

/// Where the ids of a [`TempUser`] are taken from: the system range, free
/// in the machine's files.
const TEMP_IDS: std::ops::Range<u32> = 900..1000;

impl TempUser {
    /// A system user `igotchuu-e2e-u<n>` (no home, no login) in a group
    /// `igotchuu-e2e-g<n>` of its own.
    pub fn new() -> Self {
        ensure_private_mount_namespace();
        let tag = format!("{:x}", std::process::id() ^ (nanos() as u32));
        let group = format!("igotchuu-e2e-g{tag}");
        let user = format!("igotchuu-e2e-u{tag}");
        let uid = free_id("/etc/passwd");
        let gid = free_id("/etc/group");
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-accounts-")
            .tempdir()
            .expect("temp dir");
        // The guard exists before the first mount, to undo it.
        let mut guard = TempUser {
            user,
            group,
            mounted: Vec::new(),
            dir: Some(dir),
        };
        let (user, group) = (&guard.user, &guard.group);
        let entries = [
            (
                "/etc/passwd",
                format!("{user}:x:{uid}:{gid}::/nonexistent:/usr/sbin/nologin"),
            ),
            ("/etc/group", format!("{group}:x:{gid}:{user}")),
            ("/etc/shadow", format!("{user}:!:1::::::")),
            ("/etc/gshadow", format!("{group}:!::{user}")),
        ];
        for (file, line) in entries {
            let copy = guard.copies().join(file.trim_start_matches("/etc/"));
            // fs::copy keeps the mode: shadow stays unreadable to others.
            std::fs::copy(file, &copy).unwrap_or_else(|e| panic!("copy {file}: {e}"));
            let mut text = std::fs::read_to_string(&copy).expect("read the copy");
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&line);
            text.push('\n');
            std::fs::write(&copy, text).expect("write the copy");
            mount(
                Some(&copy),
                file,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .unwrap_or_else(|e| panic!("bind-mount over {file}: {e}"));
            guard.mounted.push(PathBuf::from(file));
        }
        guard
    }
}

/// The first id in [`TEMP_IDS`] that no line of `file` (passwd or group
/// format: the id is the third field) uses.
fn free_id(file: &str) -> u32 {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {file}: {e}"));
    let used: Vec<u32> = text
        .lines()
        .filter_map(|l| l.split(':').nth(2)?.parse().ok())
        .collect();
    TEMP_IDS
        .clone()
        .find(|id| !used.contains(id))
        .unwrap_or_else(|| panic!("no free id in {TEMP_IDS:?} in {file}"))
}

impl TempUser {
    /// The folder with this user's copies of the account files.
    fn copies(&self) -> &Path {
        self.dir.as_ref().expect("a live TempUser's folder").path()
    }

    /// Adds the user to `group`, which must exist (such as `sudo`), in the
    /// test's copy of `/etc/group`.
    pub fn join(&self, group: &str) {
        let file = self.copies().join("group");
        let text = std::fs::read_to_string(&file).expect("read the copy");
        let prefix = format!("{group}:");
        let mut found = false;
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                if !l.starts_with(&prefix) {
                    return l.to_owned();
                }
                found = true;
                let sep = if l.ends_with(':') { "" } else { "," };
                format!("{l}{sep}{}", self.user)
            })
            .collect();
        assert!(found, "no group {group} in /etc/group");
        std::fs::write(&file, lines.join("\n") + "\n").expect("write the copy");
    }
}

impl Default for TempUser {
    fn default() -> Self {
        Self::new()
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Folders of dropped [`TempUser`]s that could not be removed yet: with
/// several users in one thread, each one's copies are bind-mounted over the
/// one before, so a copy stays a mount point until the users after it are
/// gone, whatever order they are dropped in.
static LEFT_FOLDERS: Mutex<Vec<TempDir>> = Mutex::new(Vec::new());

impl Drop for TempUser {
    fn drop(&mut self) {
        // Detaches the newest mount over each file: with several users the
        // count, not the owner, is what matters.
        for file in self.mounted.iter().rev() {
            let _ = umount2(file, MntFlags::MNT_DETACH);
        }
        let mut left = LEFT_FOLDERS.lock().unwrap_or_else(|e| e.into_inner());
        left.extend(self.dir.take());
        // Each try is a removal that may fail while a copy is a mount point.
        left.retain(|d| std::fs::remove_dir_all(d.path()).is_err());
    }
}

/// How the person at the password dialog answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Types the right password: polkit authorizes the call.
    Authenticate,
    /// Closes the dialog: polkit refuses the call.
    Dismiss,
}

/// An authentication request polkitd made of a [`PasswordAgent`].
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub at: std::time::Instant,
    pub action_id: String,
    pub cookie: String,
}

#[derive(Default)]
struct AgentState {
    requests: Vec<AuthRequest>,
    answer: Option<Answer>,
}

/// Polls `state` until the test has answered (or the agent goes).
async fn wait_answer(state: &Mutex<AgentState>, stop: &AtomicBool) -> Option<Answer> {
    while !stop.load(Ordering::Relaxed) {
        if let Some(a) = state.lock().unwrap().answer {
            return Some(a);
        }
        async_io::Timer::after(wait::POLL).await;
    }
    None
}

struct AgentObject {
    state: Arc<Mutex<AgentState>>,
    stop: Arc<AtomicBool>,
}

/// polkit's agent interface, as polkitd calls it.
#[zbus::interface(name = "org.freedesktop.PolicyKit1.AuthenticationAgent")]
impl AgentObject {
    // polkit's method has six arguments; zbus adds the connection.
    #[allow(clippy::too_many_arguments)]
    async fn begin_authentication(
        &self,
        action_id: String,
        _message: String,
        _icon_name: String,
        _details: HashMap<String, String>,
        cookie: String,
        _identities: Vec<(String, HashMap<String, OwnedValue>)>,
        #[zbus(connection)] conn: &zbus::Connection,
    ) -> zbus::fdo::Result<()> {
        self.state.lock().unwrap().requests.push(AuthRequest {
            at: std::time::Instant::now(),
            action_id,
            cookie: cookie.clone(),
        });
        match wait_answer(&self.state, &self.stop).await {
            Some(Answer::Authenticate) => {
                // What polkit's setuid helper does once PAM accepted the
                // password: only root may, and the test is root.
                let root = ("unix-user", HashMap::from([("uid", Value::from(0u32))]));
                conn.call_method(
                    Some(BUS_NAME),
                    AUTHORITY_PATH,
                    Some(AUTHORITY_INTERFACE),
                    "AuthenticationAgentResponse2",
                    &(0u32, cookie.as_str(), root),
                )
                .await?;
                Ok(())
            }
            _ => Err(zbus::fdo::Error::Failed("dismissed".into())),
        }
    }

    async fn cancel_authentication(&self, _cookie: String) {}
}

const AUTHORITY_PATH: &str = "/org/freedesktop/PolicyKit1/Authority";
const AUTHORITY_INTERFACE: &str = "org.freedesktop.PolicyKit1.Authority";
const AGENT_PATH: &str = "/com/nyantec/igotchuu/e2e/PasswordAgent";

/// A polkit authentication agent for one process: a stand-in for a person
/// at the password dialog, who takes as long as the test likes and then
/// types the password or gives up ([`answer`](Self::answer)).
pub struct PasswordAgent {
    state: Arc<Mutex<AgentState>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PasswordAgent {
    /// Registers with polkitd (which must run on `bus`) as the agent of
    /// process `pid`: polkitd then asks it whenever a call from that
    /// process needs a password and allows interaction.
    pub fn for_process(bus: &SystemBus, pid: i32) -> Self {
        let start_time = crate::procs::start_time(pid).expect("the process runs");
        let address = bus.address().to_owned();
        let state = Arc::new(Mutex::new(AgentState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let object = AgentObject {
            state: state.clone(),
            stop: stop.clone(),
        };
        let stop_thread = stop.clone();
        let thread = std::thread::spawn(move || {
            crate::block_on(async move {
                let registered = async {
                    let conn = zbus::connection::Builder::address(address.as_str())?
                        .serve_at(AGENT_PATH, object)?
                        .build()
                        .await?;
                    let subject = (
                        "unix-process",
                        HashMap::from([
                            ("pid", Value::from(pid as u32)),
                            ("start-time", Value::from(start_time)),
                        ]),
                    );
                    conn.call_method(
                        Some(BUS_NAME),
                        AUTHORITY_PATH,
                        Some(AUTHORITY_INTERFACE),
                        "RegisterAuthenticationAgent",
                        &(subject, "C", AGENT_PATH),
                    )
                    .await?;
                    zbus::Result::Ok(conn)
                };
                let conn = registered.await;
                let _ = ready_tx.send(conn.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                while !stop_thread.load(Ordering::Relaxed) {
                    async_io::Timer::after(Duration::from_millis(20)).await;
                }
                drop(conn);
            })
        });
        let agent = PasswordAgent {
            state,
            stop,
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(wait::DEADLINE) {
            Ok(Ok(())) => agent,
            Ok(Err(e)) => panic!("polkitd refused the password agent for pid {pid}: {e}"),
            Err(_) => panic!("the password agent did not register in time"),
        }
    }

    /// Waits until polkitd asks for a password.
    pub fn wait_request(&self, timeout: Duration) -> AuthRequest {
        wait::until("polkitd to ask the agent for a password", timeout, || {
            self.state.lock().unwrap().requests.first().cloned()
        })
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<AuthRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The person answers every request, now and later.
    pub fn answer(&self, answer: Answer) {
        self.state.lock().unwrap().answer = Some(answer);
    }
}

impl Drop for PasswordAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
