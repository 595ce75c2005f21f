//! Remote restic repositories on loopback, from Debian's packages: a REST
//! server (`rclone serve restic`, optionally with `--htpasswd` logins and
//! TLS) and an sftp server (`openssh-server`'s `sshd` on a port of its
//! own, key login for root). Each keeps its files in a temp dir of its own
//! and is killed, with every process it started, when dropped.

use std::net::{TcpListener, TcpStream};
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

fn wait_listening(what: &str, addr: &str) {
    wait::until(
        &format!("{what} to listen on {addr}"),
        wait::DEADLINE,
        || TcpStream::connect(addr).ok(),
    );
}

/// Kills `pid` and everything it started (sshd's session processes leave
/// its process group), children first seen before the parent goes.
fn kill_tree(pid: i32) {
    let mut all = procs::descendants(pid);
    all.push(pid);
    for p in all {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
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
        let mut server = RestServer {
            server: None,
            addr: format!("127.0.0.1:{}", free_port()),
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
        self.server = Some(Spawned::start("rclone serve restic", cmd));
        wait_listening("rclone", &self.addr);
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
        self.server = Some(Spawned::start("sshd", cmd));
        wait_listening("sshd", &format!("127.0.0.1:{}", self.port));
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
            kill_tree(server.pid());
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
