//! A scenario under real systemd: the tree `meson install` made, shown at
//! its real paths (an overlay over `/usr` in this thread's private mount
//! namespace), booted in a container (`nspawn`), with a loop btrfs holding
//! the data to back up and the repository, and a configuration in
//! `/etc/igotchuu.toml`. The units, the bus policy and activation file and
//! the polkit actions are the installed ones, loaded by the container's
//! own systemd, dbus-daemon and polkitd.
//!
//! A scenario is a bash script that a oneshot unit wanted by
//! `multi-user.target` runs once the system is up. It writes what it sees
//! into [`RESULTS`]; the unit powers the container off when the script
//! ends, however it ends, after saving the boot's journal there too.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::config::ConfigSpec;
use crate::fixture::write_file;
use crate::install::{Overlay, Staged};
use crate::nspawn::{tail, Container};
use crate::repo::{write_private, Repo};
use crate::LoopBtrfs;

/// Where the loop btrfs is inside the container (not below /tmp, which
/// the units' PrivateTmp= hides).
pub const DATA: &str = "/srv/data";
/// Where the scenario writes what it sees.
pub const RESULTS: &str = "/srv/results";
/// The one subvolume backed up.
pub const SOURCE: &str = "home";
/// The longest a whole boot, scenario and power-off may take, unless the
/// scenario sets its own ([`Scenario::time_limit`]).
pub const BOOT_LIMIT: Duration = Duration::from_secs(180);
/// The part of the limit the boot and the power-off get; the script gets
/// the rest.
const BOOT_AND_POWEROFF: Duration = Duration::from_secs(30);
const FS_MIB: u64 = 300;
/// How much of the journal a failure shows.
const JOURNAL_TAIL: usize = 150;
/// The installed units' folder, on merged-/usr Debian the same as /lib's.
const UNIT_DIR: &str = "/usr/lib/systemd/system";

/// Helpers every scenario script starts with. Every wait is bounded.
const PRELUDE: &str = r#"set -euo pipefail
R=/srv/results
# wait_until SECONDS WHAT COMMAND...: polls COMMAND until it succeeds.
wait_until() {
  local limit=$1 what=$2 end=$((SECONDS + $1)); shift 2
  until "$@"; do
    if ((SECONDS >= end)); then echo "timed out after ${limit}s waiting for $what" >&2; return 1; fi
    sleep 0.1
  done
}
# record NAME COMMAND...: COMMAND's output (and a failure's status) in $R/NAME.
record() { local name=$1; shift; "$@" >"$R/$name" 2>&1 || echo "exit status $?" >>"$R/$name"; }
# main_pid UNIT: the unit's main process, or nothing.
main_pid() { local p; p=$(systemctl show -P MainPID "$1"); [ "$p" != 0 ] && echo "$p"; }
# unit_done UNIT: the unit ran and is no longer active.
unit_done() { [ "$(systemctl show -P ExecMainExitTimestampMonotonic "$1")" != 0 ] && [ "$(systemctl show -P ActiveState "$1")" != active ] && [ "$(systemctl show -P ActiveState "$1")" != deactivating ]; }
"#;

/// The unit that runs the scenario and powers off after it; the script
/// gets `timeout`.
fn scenario_unit(timeout: Duration) -> String {
    format!(
        "[Unit]
Description=igotchuu test scenario
After=multi-user.target
# Only a reference: it keeps systemd from unloading the services once
# they are inactive, which would reset what `systemctl show` says of them.
After=igotchuu.service igotchuu-bus.service igotchuu-prune.service igotchuu-check.service
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=oneshot
ExecStart=/bin/bash /srv/scenario/run.sh
ExecStopPost=/bin/sh -c 'journalctl -b --no-pager -o short-monotonic >/srv/results/journal.txt 2>&1'
StandardOutput=append:/srv/results/scenario.log
StandardError=append:/srv/results/scenario.log
TimeoutStartSec={}
",
        timeout.as_secs()
    )
}

// Field order is drop order: the overlay goes before the install it shows,
// the repository before the filesystem it is on.
pub struct Scenario {
    _usr: Overlay,
    dir: TempDir,
    _staged: Staged,
    pub repo: Repo,
    pub fs: LoopBtrfs,
    container: Container,
    limit: Duration,
}

impl Scenario {
    /// Installs with meson, makes the loop btrfs with [`SOURCE`] and a
    /// repository on it, and configures a backup of [`SOURCE`] into it.
    pub fn install() -> Self {
        let staged = Staged::install(&[
            "-Dgui=disabled",
            &format!("-Dsystemdsystemunitdir={UNIT_DIR}"),
        ]);
        let fs = LoopBtrfs::new(FS_MIB);
        fs.subvolume(SOURCE);
        write_file(&fs.path().join(SOURCE).join("notes.txt"), b"backed up\n");
        let repo = Repo::init_in(fs.path());
        let usr = Overlay::over(Path::new("/usr"), &[&staged.path("/usr")]);
        let dir = tempfile::Builder::new()
            .prefix("igotchuu-systemd-")
            .tempdir()
            .expect("temp dir");
        for sub in ["units", "results", "scenario", "etc"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        // Any user in the container may write results.
        std::fs::set_permissions(
            dir.path().join("results"),
            std::fs::Permissions::from_mode(0o1777),
        )
        .unwrap();
        let mut container = Container::new();
        container
            .bind(fs.path(), DATA)
            .bind(&dir.path().join("results"), RESULTS)
            .bind_ro(&dir.path().join("scenario"), "/srv/scenario")
            .bind_ro(&dir.path().join("units"), "/etc/systemd/system.control");
        let mut scenario = Scenario {
            _usr: usr,
            dir,
            _staged: staged,
            repo,
            fs,
            container,
            limit: BOOT_LIMIT,
        };
        // A machine id of its own: a machine booted for the first time
        // would enable every unit by its preset (ssh, timers, …).
        scenario.etc_file("machine-id", &format!("{}\n", machine_id()), 0o444);
        let spec = scenario.spec();
        scenario.configure(&spec);
        scenario
    }

    /// `host`, a path on the loop btrfs, as the container sees it.
    pub fn inside(&self, host: &Path) -> PathBuf {
        Path::new(DATA).join(
            host.strip_prefix(self.fs.path())
                .expect("on the loop btrfs"),
        )
    }

    /// The backup of [`SOURCE`] into the repository, in the container's paths.
    pub fn spec(&self) -> ConfigSpec {
        ConfigSpec {
            places: vec![Path::new(DATA).join(SOURCE)],
            repo: Some(self.inside(&self.repo.location()).display().to_string()),
            password_file: Some(self.inside(&self.repo.password_file())),
            ..Default::default()
        }
    }

    /// Writes `spec` to the container's `/etc/igotchuu.toml` (root's, 0600).
    pub fn configure(&mut self, spec: &ConfigSpec) {
        self.etc_file("igotchuu.toml", &spec.to_toml(), 0o600);
    }

    /// Makes the backup take a while: `mib` of random data, which restic
    /// writes at `kib_per_s`.
    pub fn slow_backup(&mut self, mib: usize, kib_per_s: u32) {
        let mut data = vec![0u8; mib << 20];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut data))
            .expect("read /dev/urandom");
        write_file(&self.fs.path().join(SOURCE).join("big.bin"), &data);
        let mut spec = self.spec();
        spec.restic_args = vec!["--limit-upload".into(), kib_per_s.to_string()];
        self.configure(&spec);
    }

    /// Gives the whole boot, scenario and power-off `limit` instead of
    /// [`BOOT_LIMIT`].
    pub fn time_limit(&mut self, limit: Duration) {
        assert!(
            limit > BOOT_AND_POWEROFF,
            "{limit:?} leaves the script no time"
        );
        self.limit = limit;
    }

    /// Gives the container the host's `/dev/fuse`, for `restic mount`.
    pub fn with_fuse(&mut self) {
        crate::guarded::require_tool("fusermount3", "fuse3");
        self.container.device("/dev/fuse");
    }

    /// A read-only file of root's at `/etc/<rel>` in the container, with `mode`.
    pub fn etc_file(&mut self, rel: &str, text: &str, mode: u32) {
        let host = self.dir.path().join("etc").join(rel.replace('/', "_"));
        // A file written again shows through the bind it already has.
        let bound = host.exists();
        write_private(&host, text);
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode)).unwrap();
        if !bound {
            self.container.bind_ro(&host, &format!("/etc/{rel}"));
        }
    }

    /// A file the script may read (any user), at `/srv/scenario/<name>`.
    pub fn scenario_file(&self, name: &str, text: &str) {
        write_file(
            &self.dir.path().join("scenario").join(name),
            text.as_bytes(),
        );
    }

    /// A unit (or a drop-in, `NAME.d/x.conf`) for the container's systemd,
    /// in `/etc/systemd/system.control`.
    pub fn unit(&self, name: &str, text: &str) {
        write_file(&self.dir.path().join("units").join(name), text.as_bytes());
    }

    /// Has `target` want `unit` at boot, as `systemctl enable` would.
    pub fn enable(&self, unit: &str, target: &str) {
        let wants = self
            .dir
            .path()
            .join("units")
            .join(format!("{target}.wants"));
        std::fs::create_dir_all(&wants).unwrap();
        let installed = if self.dir.path().join("units").join(unit).exists() {
            format!("/etc/systemd/system.control/{unit}")
        } else {
            format!("{UNIT_DIR}/{unit}")
        };
        std::os::unix::fs::symlink(installed, wants.join(unit)).unwrap();
    }

    /// Boots the container (once per scenario), runs `script` (bash, after
    /// [`PRELUDE`]) once the system is up, and waits for the power-off. Panics with the script's
    /// output and the journal's end if the script failed.
    pub fn run(&mut self, script: &str) -> Results {
        std::fs::write(
            self.dir.path().join("scenario/run.sh"),
            format!("{PRELUDE}\n{script}\ntouch \"$R/done\"\n"),
        )
        .unwrap();
        self.unit(
            "igotchuu-test-scenario.service",
            &scenario_unit(self.limit - BOOT_AND_POWEROFF),
        );
        self.enable("igotchuu-test-scenario.service", "multi-user.target");
        let console = self.dir.path().join("console.log");
        let status = self.container.boot(&console).wait(self.limit);
        let results = Results {
            dir: self.dir.path().join("results"),
            console,
        };
        assert!(
            results.dir.join("done").exists(),
            "the scenario did not finish (nspawn: {status})\n{}\n{}\n{}",
            tail(&results.dir.join("scenario.log"), 40),
            tail(&results.dir.join("journal.txt"), JOURNAL_TAIL),
            tail(&results.console, 20),
        );
        results
    }
}

/// 32 hex digits, different for each scenario.
fn machine_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:016x}{nanos:016x}",
        u64::from(std::process::id()) | 1 << 60
    )[..32]
        .to_owned()
}

/// What a scenario wrote into [`RESULTS`].
pub struct Results {
    dir: PathBuf,
    console: PathBuf,
}

impl Results {
    /// The run history the scenario saved as `name`; panics if it is not one.
    pub fn history(&self, name: &str) -> igotchuu_dbus::history::History {
        let text = self.read(name);
        igotchuu_dbus::history::History::from_json(text.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}: {text}"))
    }

    /// The file `name` the scenario wrote; panics if it did not.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_else(|e| {
            panic!(
                "the scenario wrote no {name}: {e}\n{}",
                tail(&self.dir.join("scenario.log"), 40)
            )
        })
    }

    /// `KEY=VALUE` lines (as `systemctl show` prints them) from `name`.
    pub fn properties(&self, name: &str) -> BTreeMap<String, String> {
        self.read(name)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// The boot's journal, for assertions and failure messages.
    pub fn journal(&self) -> String {
        self.read("journal.txt")
    }

    /// The journal's lines of one unit (`igotchuu-bus.service`) or process
    /// (`dbus-daemon`), by the syslog identifier or unit in each line.
    pub fn journal_of(&self, who: &str) -> Vec<String> {
        self.journal()
            .lines()
            .filter(|l| l.contains(&format!(" {who}[")) || l.contains(&format!(" {who}:")))
            .map(str::to_owned)
            .collect()
    }
}
