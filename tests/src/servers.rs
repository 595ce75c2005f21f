//! Remote restic repositories on loopback, from Debian's packages: a REST
//! server (`rclone serve restic`, optionally with `--htpasswd` logins and
//! TLS) and an sftp server (`openssh-server`'s `sshd` on a port of its
//! own, key login for root). Each keeps its files in a temp dir of its own
//! and is killed, with every process it started, when dropped.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::bounded::Spawned;
use crate::guarded::require_tool;
use crate::repo::{write_private, RESTIC, RESTIC_ENV};
use crate::{procs, run, wait};

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts `cmd` and waits until that process listens on 127.0.0.1:`port`.
/// The port was only free when [`free_port`] asked: another process may
/// have taken it since, and answer a connection in its stead.
pub fn spawn_listening(what: &str, cmd: Command, port: u16) -> Spawned {
    let server = Spawned::start(what, cmd);
    let pid = server.pid();
    let listening = wait::until(
        &format!("{what} to listen on port {port}"),
        wait::DEADLINE,
        || {
            if !wait::pid_alive(pid) {
                return Some(false);
            }
            listens(pid, port).then_some(true)
        },
    );
    if !listening {
        // Its other threads may still be ending: it is not reaped yet.
        let ended = server.wait_or_kill(Duration::from_secs(5));
        let output = ended.map(|e| format!("{}\n{}", e.status, e.output()));
        panic!(
            "{what} ended before it listened on port {port}: {}",
            output.unwrap_or_default()
        );
    }
    server
}

/// Whether `pid` holds a socket listening on 127.0.0.1:`port`.
fn listens(pid: i32, port: u16) -> bool {
    // sl local_address rem_address st … inode; 0A is LISTEN.
    let local = format!("0100007F:{port:04X}");
    let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")) else {
        return false;
    };
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[1] == local && f[3] == "0A")
        .map(|f| format!("socket:[{}]", f[9]))
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
    })
}

/// How a [`RestServer`] is set up.
#[derive(Debug, Clone, Default)]
pub struct RestOptions {
    /// A login (user, password) in an htpasswd file (`--htpasswd`).
    pub login: Option<(String, String)>,
    /// HTTPS with a self-signed certificate (restic needs `--cacert`).
    pub tls: bool,
}

/// `rclone serve restic` on a free loopback port; killed on drop.
pub struct RestServer {
    server: Option<Spawned>,
    port: u16,
    addr: String,
    data: PathBuf,
    options: RestOptions,
    dir: TempDir,
}

impl RestServer {
    /// A plain server (no login, no TLS) serving `data`.
    pub fn start(data: &Path) -> Self {
        Self::with(data, RestOptions::default())
    }

    /// A server serving `data` as `options` say.
    pub fn with(data: &Path, options: RestOptions) -> Self {
        require_tool("rclone", "rclone");
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-rest-")
            .tempdir()
            .expect("temp dir");
        if let Some((user, password)) = &options.login {
            // Apache's MD5 scheme, which rclone reads, made with openssl.
            let hash = run(Command::new("openssl").args(["passwd", "-apr1", password]));
            write_private(
                &dir.path().join("htpasswd"),
                &format!("{user}:{}\n", hash.trim()),
            );
        }
        if options.tls {
            run(Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                    "-keyout",
                ])
                .arg(dir.path().join("key.pem"))
                .arg("-out")
                .arg(dir.path().join("cert.pem"))
                .stderr(std::process::Stdio::null()));
        }
        let port = free_port();
        let mut server = RestServer {
            server: None,
            port,
            addr: format!("127.0.0.1:{port}"),
            data: data.to_owned(),
            options,
            dir,
        };
        server.restart();
        server
    }

    /// Starts the server (again, after [`RestServer::kill`]) on the same
    /// address and folder.
    pub fn restart(&mut self) {
        assert!(self.server.is_none(), "the REST server is running");
        let mut cmd = Command::new("rclone");
        cmd.args([
            "serve",
            "restic",
            "--config",
            "/dev/null",
            "--addr",
            &self.addr,
        ]);
        if self.options.login.is_some() {
            cmd.arg("--htpasswd").arg(self.dir.path().join("htpasswd"));
        }
        if self.options.tls {
            cmd.arg("--cert")
                .arg(self.cert())
                .arg("--key")
                .arg(self.dir.path().join("key.pem"));
        }
        cmd.arg(&self.data);
        self.server = Some(spawn_listening("rclone serve restic", cmd, self.port));
    }

    /// The self-signed certificate (with TLS).
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The repository URL with the configured login in it, if any.
    pub fn url(&self) -> String {
        match &self.options.login {
            Some((user, password)) => self.url_as(user, password),
            None => self.url_without_login(),
        }
    }

    /// The repository URL with this login in it.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        let scheme = if self.options.tls { "https" } else { "http" };
        format!("rest:{scheme}://{user}:{password}@{}/", self.addr)
    }

    pub fn url_without_login(&self) -> String {
        let scheme = if self.options.tls { "https" } else { "http" };
        format!("rest:{scheme}://{}/", self.addr)
    }

    /// What restic needs besides the URL: `--cacert` with TLS.
    pub fn restic_args(&self) -> Vec<String> {
        if self.options.tls {
            vec![
                "--cacert".into(),
                self.cert().to_str().expect("UTF-8").into(),
            ]
        } else {
            Vec::new()
        }
    }

    /// Sends `sig` to rclone.
    pub fn signal(&self, sig: Signal) {
        let server = self.server.as_ref().expect("the REST server is running");
        kill(Pid::from_raw(server.pid()), sig).expect("signal rclone");
    }

    /// Kills rclone (SIGKILL), as a crash or a power cut would.
    pub fn kill(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.wait_or_kill(Duration::ZERO);
        }
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `sshd` on a free loopback port with a host key of its own, accepting
/// root with [`SftpServer::key`] only (no password, no PAM) and serving
/// sftp in-process; killed, with its sessions, on drop.
pub struct SftpServer {
    server: Option<Spawned>,
    port: u16,
    dir: TempDir,
}

/// sshd's privilege-separation folder (compiled in; its unit makes it).
const PRIVSEP_DIR: &str = "/run/sshd";

impl SftpServer {
    pub fn start() -> Self {
        require_tool("/usr/sbin/sshd", "openssh-server");
        require_tool("ssh", "openssh-client");
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-sftp-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        for key in ["host_key", "key", "stranger_key"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(d.join(key)));
        }
        std::fs::copy(d.join("key.pub"), d.join("authorized_keys")).expect("authorized_keys");
        std::fs::create_dir(d.join("data")).expect("data dir");
        if !Path::new(PRIVSEP_DIR).is_dir() {
            std::fs::create_dir_all(PRIVSEP_DIR).expect("sshd's privilege separation folder");
            std::fs::set_permissions(PRIVSEP_DIR, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let config = format!(
            "ListenAddress 127.0.0.1\n\
             HostKey {host}\n\
             PidFile none\n\
             AuthorizedKeysFile {auth}\n\
             PermitRootLogin prohibit-password\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             Subsystem sftp internal-sftp\n",
            host = d.join("host_key").display(),
            auth = d.join("authorized_keys").display(),
        );
        write_private(&d.join("sshd_config"), &config);
        let mut server = SftpServer {
            server: None,
            port: free_port(),
            dir,
        };
        server.restart();
        server
    }

    /// Starts sshd (again, after [`SftpServer::kill`]) on the same port.
    pub fn restart(&mut self) {
        assert!(self.server.is_none(), "sshd is running");
        let mut cmd = Command::new("/usr/sbin/sshd");
        cmd.args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .args(["-p", &self.port.to_string()]);
        self.server = Some(spawn_listening("sshd", cmd, self.port));
    }

    /// The folder the repository is in (on the server's side: the same
    /// machine).
    pub fn repo_path(&self) -> PathBuf {
        self.dir.path().join("data/repo")
    }

    /// The repository's `sftp:` location.
    pub fn url(&self) -> String {
        format!("sftp:root@127.0.0.1:{}", self.repo_path().display())
    }

    /// The key root logs in with (0600, root's).
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key")
    }

    /// A key the server does not know.
    pub fn stranger_key(&self) -> PathBuf {
        self.dir.path().join("stranger_key")
    }

    /// `restic_args` that make restic's ssh log in with `key`: no ssh
    /// configuration or known hosts of the machine's are read or written.
    pub fn restic_args(&self, key: &Path) -> Vec<String> {
        vec![
            "-o".into(),
            format!(
                "sftp.command=ssh -F /dev/null -i {} -p {} -o BatchMode=yes \
                 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
                 -o LogLevel=ERROR root@127.0.0.1 -s sftp",
                key.display(),
                self.port
            ),
        ]
    }

    /// Kills sshd and its sessions (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(server) = self.server.take() {
            procs::kill_tree(server.pid());
            let _ = server.wait_or_kill(Duration::ZERO);
        }
    }
}

impl Drop for SftpServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `restic` (the real one, not the wrapper) for `url` with `args`, the
/// password in `password_file` and its own cache below `cache`.
pub fn restic(url: &str, args: &[String], password_file: &Path, cache: &Path) -> Command {
    let mut cmd = Command::new(RESTIC);
    for var in RESTIC_ENV {
        cmd.env_remove(var);
    }
    cmd.env("RESTIC_REPOSITORY", url)
        .env("RESTIC_PASSWORD_FILE", password_file)
        .env("RESTIC_CACHE_DIR", cache)
        .args(args);
    cmd
}
