//! What restic and `password_command` may do: restic runs with
//! `CAP_DAC_READ_SEARCH`, plus `CAP_DAC_OVERRIDE` for a local repository
//! and nothing else, with no_new_privs; `password_command` runs with no
//! capabilities at all; both also when the helper has no `CAP_SETPCAP`
//! (as under the systemd units) and so cannot narrow the bounding set.
//! The sets are read from `/proc/PID/status` of restic itself, stopped
//! mid-backup, and of the password command.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use igotchuu_e2e::bounded::Spawned;
use igotchuu_e2e::fixture::{write_file, Fixture};
use igotchuu_e2e::helper::{exit, helper_bin, Finished};
use igotchuu_e2e::repo::{write_private, RESTIC};
use igotchuu_e2e::servers::spawn_listening;
use igotchuu_e2e::wrapper::Invocation;
use igotchuu_e2e::{have_root, run, wait};

const CAP_DAC_OVERRIDE: u64 = 1 << 1;
const CAP_DAC_READ_SEARCH: u64 = 1 << 2;
const CAP_SETPCAP: u64 = 1 << 8;

/// The capability lines of a `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Caps {
    effective: u64,
    permitted: u64,
    bounding: u64,
    inheritable: u64,
    ambient: u64,
    no_new_privs: bool,
}

impl Caps {
    fn parse(status: &str) -> Caps {
        let field = |key: &str| {
            let value = status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in:\n{status}"));
            u64::from_str_radix(value.trim(), 16).expect("hex")
        };
        Caps {
            effective: field("CapEff:"),
            permitted: field("CapPrm:"),
            bounding: field("CapBnd:"),
            inheritable: field("CapInh:"),
            ambient: field("CapAmb:"),
            no_new_privs: field("NoNewPrivs:") == 1,
        }
    }

    /// Exactly `set`, which no exec can widen; with `bounding` as the
    /// bounding set.
    fn exactly(set: u64, bounding: u64) -> Caps {
        Caps {
            effective: set,
            permitted: set,
            bounding,
            inheritable: 0,
            ambient: 0,
            no_new_privs: true,
        }
    }

    fn of_pid(pid: i32) -> Caps {
        Caps::parse(&std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status"))
    }
}

/// A backup that takes a couple of seconds and reports progress all along,
/// so that the wrapper can stop restic mid-run (`pause_on_status`).
fn slow_data(fx: &Fixture) {
    let mut data = vec![0u8; 2 << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for b in data.iter_mut() {
        // Incompressible enough for restic's packer; no need for urandom.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *b = state as u8;
    }
    write_file(&fx.path("home/big.bin"), &data);
    let files: BTreeMap<String, String> = (0..100)
        .map(|i| (format!("home/many/{i:03}.txt"), format!("{i}\n")))
        .collect();
    fx.write_files(
        &files
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
    );
    fx.wrapper.pause_on_status(true);
    fx.env.set_var("RESTIC_PROGRESS_FPS", "30");
}

fn slow_args() -> Vec<String> {
    vec!["--limit-upload".into(), "1024".into()]
}

/// Waits for backup `number` to be stopped mid-run, checks that it is the
/// real restic, and returns its capabilities.
fn paused_restic(fx: &Fixture, number: usize) -> (Invocation, Caps) {
    let inv = fx.wrapper.wait_started(number, wait::DEADLINE);
    inv.wait_paused(wait::DEADLINE);
    let pid = inv.pid().expect("restic's pid");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("restic's exe");
    assert_eq!(
        exe,
        Path::new(RESTIC),
        "the stopped process is restic itself"
    );
    (inv, Caps::of_pid(pid))
}

/// A password command that writes its own capabilities to `out` and then
/// prints `password_file`.
fn caps_reporting_password_command(fx: &Fixture, out: &Path) -> String {
    let script = fx.env.scratch().join("password.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ngrep -E '^(Cap|NoNewPrivs)' /proc/self/status > '{}'\nexec cat '{}'\n",
            out.display(),
            fx.repo.password_file().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    script.display().to_string()
}

#[test]
fn restic_gets_read_search_and_dac_override_for_a_local_repository() {
    if !have_root("restic_gets_read_search_and_dac_override_for_a_local_repository") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    slow_data(&fx);
    let mut spec = fx.spec(&["home"]);
    spec.restic_args = slow_args();
    fx.env.write_spec(&spec);
    let base = fx.baseline();

    let run = fx.env.spawn(&["backup"]);
    let (inv, caps) = paused_restic(&fx, 1);
    let local = CAP_DAC_READ_SEARCH | CAP_DAC_OVERRIDE;
    assert_eq!(
        caps,
        Caps::exactly(local, local),
        "restic with {}",
        fx.repo.location().display()
    );
    inv.resume();
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    assert_eq!(fx.repo.snapshots().len(), 1);
    fx.assert_clean(&base, "the backup");
}

/// `rclone serve restic` on a loopback port: a REST repository, so not a
/// local one.
struct RestServer {
    _server: Spawned,
    url: String,
    password_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl RestServer {
    fn start() -> RestServer {
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-rest-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new("rclone");
        cmd.args(["serve", "restic", "--addr", &addr])
            .arg(&data)
            .env("RCLONE_CONFIG", dir.path().join("rclone.conf"));
        let server = spawn_listening("rclone serve restic", cmd, port);
        let password_file = dir.path().join("password");
        write_private(&password_file, "rest password\n");
        let url = format!("rest:http://{addr}/");
        run(Command::new(RESTIC)
            .args(["init", "-q", "--no-cache", "-r", &url, "--password-file"])
            .arg(&password_file));
        RestServer {
            _server: server,
            url,
            password_file,
            _dir: dir,
        }
    }
}

#[test]
fn restic_gets_only_read_search_for_a_remote_repository() {
    if !have_root("restic_gets_only_read_search_for_a_remote_repository") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let server = RestServer::start();
    slow_data(&fx);
    let mut spec = fx.spec(&["home"]);
    spec.repo = Some(server.url.clone());
    spec.password_file = Some(server.password_file.clone());
    spec.restic_args = slow_args();
    fx.env.write_spec(&spec);

    let run = fx.env.spawn(&["backup"]);
    let (inv, caps) = paused_restic(&fx, 1);
    assert_eq!(
        caps,
        Caps::exactly(CAP_DAC_READ_SEARCH, CAP_DAC_READ_SEARCH),
        "restic with {}",
        server.url
    );
    inv.resume();
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
}

#[test]
fn the_password_command_runs_without_capabilities() {
    if !have_root("the_password_command_runs_without_capabilities") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    fx.write_files(&BTreeMap::from([("home/a.txt", "a\n")]));
    let report = fx.env.scratch().join("password-command-caps");
    let command = caps_reporting_password_command(&fx, &report);
    let mut spec = fx.spec(&["home"]);
    spec.password_file = None;
    spec.password_command = Some(command.clone());
    fx.env.write_spec(&spec);

    fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    assert_eq!(fx.repo.snapshots().len(), 1);
    let caps = Caps::parse(&std::fs::read_to_string(&report).expect("the command ran"));
    assert_eq!(caps, Caps::exactly(0, 0), "password_command");
    // restic was not given the command: it could only have run it with
    // its own capabilities.
    let inv = &fx.wrapper.invocations()[0];
    for (key, value) in inv.restic_env() {
        assert!(!value.contains(&command), "restic got {key}={value}");
    }
}

fn output_of(run: &Finished) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

#[test]
fn a_failing_or_missing_password_command_fails_the_run_as_before() {
    if !have_root("a_failing_or_missing_password_command_fails_the_run_as_before") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    fx.write_files(&BTreeMap::from([("home/a.txt", "a\n")]));
    let base = fx.baseline();
    let mut spec = fx.spec(&["home"]);
    spec.password_file = None;

    spec.password_command = Some("sh -c 'echo the keyring is locked >&2; exit 3'".into());
    fx.env.write_spec(&spec);
    let failed = fx.env.run(&["backup"]);
    failed.assert_code(exit::FAILED);
    let out = output_of(&failed);
    assert!(
        out.contains("could not get the repository password (exit status 3)"),
        "{out}"
    );
    assert!(
        out.contains("the keyring is locked"),
        "its stderr is logged: {out}"
    );

    spec.password_command = Some("igotchuu-no-such-command --show".into());
    fx.env.write_spec(&spec);
    let missing = fx.env.run(&["backup"]);
    missing.assert_code(exit::FAILED);
    let out = output_of(&missing);
    assert!(
        out.contains("could not get the repository password"),
        "{out}"
    );

    assert!(fx.repo.snapshots().is_empty());
    fx.assert_clean(&base, "the failed runs");
}

/// The systemd units' bounding set has no `CAP_SETPCAP`, so the helper
/// cannot narrow its children's bounding sets: no_new_privs and the
/// permitted set alone hold them.
#[test]
fn without_cap_setpcap_restic_and_the_password_command_are_limited_all_the_same() {
    if !have_root("without_cap_setpcap_restic_and_the_password_command_are_limited_all_the_same") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    slow_data(&fx);
    let report = fx.env.scratch().join("password-command-caps");
    let command = caps_reporting_password_command(&fx, &report);
    let mut spec = fx.spec(&["home"]);
    spec.password_file = None;
    spec.password_command = Some(command);
    spec.restic_args = slow_args();
    fx.env.write_spec(&spec);

    let helper = fx.env.command(&["backup"]);
    let mut cmd = Command::new("setpriv");
    cmd.arg("--bounding-set=-setpcap")
        .arg("--")
        .arg(helper_bin())
        .args(helper.get_args());
    for (key, value) in helper.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    let run = Spawned::start("igotchuu backup without CAP_SETPCAP", cmd);
    let (inv, caps) = paused_restic(&fx, 1);
    // setpriv has long exec'd the helper, which has started restic.
    let helper_caps = Caps::of_pid(run.pid());
    assert_eq!(helper_caps.effective & CAP_SETPCAP, 0, "{helper_caps:?}");
    assert_ne!(helper_caps.effective & !CAP_SETPCAP, 0, "{helper_caps:?}");
    let local = CAP_DAC_READ_SEARCH | CAP_DAC_OVERRIDE;
    assert_eq!(caps, Caps::exactly(local, helper_caps.bounding), "restic");
    let password = Caps::parse(&std::fs::read_to_string(&report).expect("the command ran"));
    assert_eq!(
        password,
        Caps::exactly(0, helper_caps.bounding),
        "password_command"
    );
    inv.resume();
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
}
