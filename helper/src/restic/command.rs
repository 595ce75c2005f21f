//! Building restic command lines with the configuration's settings, so that
//! users never export repository or password settings by hand.

use std::process::Command;

use crate::config::{Config, Password};
use crate::{privileges, snapshots};

/// The binary, looked up in `PATH`.
pub const RESTIC: &str = "restic";

/// The inherited variables that could name another repository, or another
/// password, than the configuration's.
const REPOSITORY_VARS: [&str; 2] = ["RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE"];
const PASSWORD_VARS: [&str; 3] = [
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_FILE",
    "RESTIC_PASSWORD_COMMAND",
];

/// `restic <restic_args> <subcommand…>` with the configured environment.
pub fn restic(config: &Config, subcommand: &[&str]) -> Command {
    let mut cmd = Command::new(RESTIC);
    // The configuration decides. Only when it sets no password may one come
    // from the environment (a systemd drop-in, say), as check-config says.
    let password_vars: &[&str] = if config.password.is_some() {
        &PASSWORD_VARS
    } else {
        &[]
    };
    for var in REPOSITORY_VARS.iter().chain(password_vars) {
        cmd.env_remove(var);
    }
    cmd.envs(config.restic_env());
    cmd.args(&config.restic_args);
    cmd.args(subcommand);
    cmd
}

/// The tag of every snapshot igotchuu makes without a profile.
pub const TAG: &str = "igotchuu";

/// The one tag of this configuration's backups: `igotchuu`, or
/// `igotchuu:<profile>`. Forget selects by it, so that it never touches
/// another profile's snapshots, or snapshots made by hand.
pub fn tag(config: &Config) -> String {
    match &config.profile {
        Some(profile) => format!("{TAG}:{profile}"),
        None => TAG.to_owned(),
    }
}

/// [`restic`] for a command that opens the repository. A
/// `password_command` starts at once, run by the helper without
/// capabilities (`privileges::password`): call this in the tokio runtime,
/// right before running restic.
fn with_password(config: &Config, subcommand: &[&str]) -> Command {
    let mut cmd = restic(config, subcommand);
    if let Some(Password::Command(command)) = &config.password {
        privileges::password::hand_over(&mut cmd, command);
    }
    cmd
}

/// `restic mount --allow-other TARGET`: the repository, read-only, for
/// every user, with the kernel's permission checks (restic's default; it
/// never gets `--no-default-permissions`). Call it as [`with_password`]
/// says.
pub fn mount(config: &Config, target: &std::path::Path) -> Command {
    let mut cmd = with_password(config, &["mount", "--allow-other"]);
    cmd.arg(target);
    cmd
}

/// `restic backup --json` of the configured places, with this
/// configuration's [`tag`], leaving out what `excludes` name as well (the
/// contents of kernel filesystems). Call it as [`with_password`] says.
pub fn backup(config: &Config, excludes: &[String]) -> Command {
    let mut cmd = with_password(config, &["backup", "--json"]);
    cmd.arg("--tag").arg(tag(config));
    // The folders igotchuu makes for snapshots hold nothing worth keeping
    // (and are empty while a source's snapshot is taken).
    cmd.arg(format!("--exclude={}", snapshots::OWN_FOLDER));
    cmd.args(excludes);
    cmd.args(&config.restic_backup_args);
    // `--` so that a place can never be taken for an option.
    cmd.arg("--");
    cmd.args(&config.places);
    cmd
}

/// `restic forget --json` with the retention policy, for this host's
/// snapshots of the configured places with this configuration's [`tag`]
/// only: other hosts', other places', other profiles' and untagged
/// snapshots are never selected. Grouped by host, paths and tags, so the
/// policy counts each set of places on its own, as restic does by default.
/// Call it as [`with_password`] says.
pub fn forget(config: &Config, host: &str, dry_run: bool) -> Command {
    let mut cmd = with_password(config, &["forget", "--json"]);
    cmd.arg("--host").arg(host);
    cmd.arg("--tag").arg(tag(config));
    for place in &config.places {
        cmd.arg("--path").arg(as_restic_records(place));
    }
    cmd.args(["--group-by", "host,paths,tags"]);
    cmd.args(config.retention.restic_args());
    if dry_run {
        cmd.arg("--dry-run");
    }
    cmd
}

/// `place` as restic records it in a snapshot's paths (`filepath.Clean`):
/// no trailing slash, no `.`, `..` resolved lexically. forget's `--path`
/// compares with those exactly.
fn as_restic_records(place: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut clean = std::path::PathBuf::new();
    for c in place.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    clean
}

/// `restic prune`. Call it as [`with_password`] says.
pub fn prune(config: &Config) -> Command {
    with_step_progress(with_password(config, &["prune"]))
}

/// restic prints the progress of each step of a prune or check also on a
/// pipe (`restic::step`).
fn with_step_progress(mut cmd: Command) -> Command {
    cmd.env("RESTIC_PROGRESS_FPS", super::step::REPORTS_PER_SECOND);
    cmd
}

/// `restic check`, reading `check_read_data_subset` of the data if set.
/// Call it as [`with_password`] says.
pub fn check(config: &Config) -> Command {
    let mut cmd = with_step_progress(with_password(config, &["check"]));
    if let Some(subset) = &config.check_read_data_subset {
        cmd.arg(format!("--read-data-subset={subset}"));
    }
    cmd
}

/// `restic snapshots --json --no-lock`: every host's snapshots, read
/// without taking restic's lock. Call it as [`with_password`] says.
pub fn snapshots(config: &Config) -> Command {
    with_password(config, &["snapshots", "--json", "--no-lock"])
}

/// `restic restore --json ID --target / --include PATH`: `path` of the
/// snapshot `id` over the original files. `--json` is global since 0.14;
/// restic 0.16 and later print their progress with it. Call it as
/// [`with_password`] says.
pub fn restore_in_place(config: &Config, id: &str, path: &std::path::Path) -> Command {
    let mut cmd = with_password(config, &["restore", "--json", "--target", "/", "--include"]);
    cmd.arg(literal_pattern(path));
    // `--` so that the id can never be taken for an option (it is hex anyway).
    cmd.arg("--").arg(id);
    cmd
}

/// `path` as a restic pattern that matches it alone: restic matches each
/// component with Go's `filepath.Match`, where `*`, `?` and `[` are special
/// and `\` escapes.
pub fn literal_pattern(path: &std::path::Path) -> std::ffi::OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut out = Vec::with_capacity(path.as_os_str().len());
    for &b in path.as_os_str().as_bytes() {
        if matches!(b, b'\\' | b'*' | b'?' | b'[') {
            out.push(b'\\');
        }
        out.push(b);
    }
    std::ffi::OsString::from_vec(out)
}

/// `restic ls --json ID PATH`: PATH's node first, then what is below it
/// (restic matches PATH literally, as a prefix).
pub fn ls_path(config: &Config, id: &str, path: &std::path::Path) -> Command {
    let mut cmd = with_password(config, &["ls", "--json", "--"]);
    cmd.arg(id).arg(path);
    cmd
}

/// The host restic records in this configuration's backups: the one
/// `restic_backup_args` or `restic_args` set with `--host`/`-H`, if any
/// (the last wins, as with restic), else this machine's [`hostname`].
pub fn backup_host(config: &Config) -> std::io::Result<String> {
    let args = config.restic_args.iter().chain(&config.restic_backup_args);
    let mut host = None;
    let mut next_is_host = false;
    for arg in args {
        if next_is_host {
            host = Some(arg.clone());
            next_is_host = false;
        } else if arg == "--host" || arg == "-H" {
            next_is_host = true;
        } else if let Some(h) = arg.strip_prefix("--host=") {
            host = Some(h.to_owned());
        }
    }
    match host {
        Some(h) => Ok(h),
        None => hostname(),
    }
}

/// This machine's name as restic records it in its snapshots
/// (`os.Hostname`, the kernel's hostname).
pub fn hostname() -> std::io::Result<String> {
    // HOST_NAME_MAX is 64 on Linux; room for more, and for the NUL.
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..len].to_vec())
        .map_err(|_| std::io::Error::other("the hostname is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_becomes_a_pattern_matching_only_itself() {
        let p = literal_pattern(std::path::Path::new("/d/*/a?[1]\\b"));
        assert_eq!(p, std::ffi::OsStr::new("/d/\\*/a\\?\\[1]\\\\b"));
    }
    use crate::config::Repository;

    fn config(password: Option<Password>) -> Config {
        let text = "places = [\"/srv\"]\nsnapshot = []\nrepo = \"/srv/repo\"\n";
        let mut c = Config::parse(text, "/etc/igotchuu.toml".as_ref(), None).unwrap();
        c.password = password;
        c.restic_args = vec!["--no-cache".into()];
        c.restic_backup_args = vec!["--one-file-system".into()];
        c
    }

    fn env_of(cmd: &Command) -> Vec<(String, Option<String>)> {
        cmd.get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect()
    }

    #[test]
    fn the_configuration_decides_the_repository_and_password() {
        let excludes = ["--exclude=/srv/proc/*".to_owned()];
        let cmd = backup(&config(Some(Password::File("/etc/pw".into()))), &excludes);
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            args,
            [
                "--no-cache",
                "backup",
                "--json",
                "--tag",
                "igotchuu",
                "--exclude=.igotchuu-snapshots",
                "--exclude=/srv/proc/*",
                "--one-file-system",
                "--",
                "/srv"
            ]
        );
        let env = env_of(&cmd);
        assert!(env.contains(&("RESTIC_REPOSITORY".into(), Some("/srv/repo".into()))));
        assert!(env.contains(&("RESTIC_PASSWORD_FILE".into(), Some("/etc/pw".into()))));
        // Inherited password settings are removed, not passed on.
        assert!(env.contains(&("RESTIC_PASSWORD".into(), None)));
        assert!(env.contains(&("RESTIC_REPOSITORY_FILE".into(), None)));
        // Every variable the configuration can set is one we clear first.
        let c = config(Some(Password::Command("x".into())));
        for (name, _) in c.restic_env() {
            assert!(REPOSITORY_VARS.contains(&name) || PASSWORD_VARS.contains(&name));
        }
        assert!(matches!(c.repository, Repository::Location(_)));
    }

    #[test]
    fn without_a_configured_password_the_environment_may_supply_one() {
        let env = env_of(&restic(&config(None), &["snapshots"]));
        assert!(!env.iter().any(|(k, _)| k.starts_with("RESTIC_PASSWORD")));
        assert!(env.contains(&("RESTIC_REPOSITORY_FILE".into(), None)));
    }

    fn args_of(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn forget_selects_the_host_the_backups_were_made_with() {
        let mut c = config(None);
        c.restic_backup_args = vec![];
        assert_eq!(backup_host(&c).unwrap(), hostname().unwrap());
        c.restic_backup_args = vec!["--host".into(), "nas".into()];
        assert_eq!(backup_host(&c).unwrap(), "nas");
        c.restic_args = vec!["-H".into(), "first".into()];
        c.restic_backup_args = vec!["--host=laptop".into()];
        assert_eq!(backup_host(&c).unwrap(), "laptop");
    }

    #[test]
    fn each_backup_gets_one_tag_of_its_profile() {
        let mut c = config(None);
        assert_eq!(tag(&c), "igotchuu");
        c.profile = Some("laptop".into());
        assert_eq!(tag(&c), "igotchuu:laptop");
        let args = args_of(&backup(&c, &[]));
        assert_eq!(args.iter().filter(|a| *a == "--tag").count(), 1);
        let at = args.iter().position(|a| a == "--tag").unwrap();
        assert_eq!(args[at + 1], "igotchuu:laptop");
    }

    #[test]
    fn forget_selects_this_host_tag_and_places_only() {
        let mut c = config(Some(Password::File("/etc/pw".into())));
        c.places = vec!["/home".into(), "/srv".into()];
        c.retention.keep_daily = Some(7);
        c.retention.keep_within = Some("1y".into());
        assert_eq!(
            args_of(&forget(&c, "laptop", false)),
            [
                "--no-cache",
                "forget",
                "--json",
                "--host",
                "laptop",
                "--tag",
                "igotchuu",
                "--path",
                "/home",
                "--path",
                "/srv",
                "--group-by",
                "host,paths,tags",
                "--keep-daily=7",
                "--keep-within=1y",
            ]
        );
        assert_eq!(
            args_of(&forget(&c, "laptop", true)).last().unwrap(),
            "--dry-run"
        );
        c.places = vec!["/home/".into(), "/srv/./x/../y".into(), "/".into()];
        let args = args_of(&forget(&c, "laptop", false));
        let paths: Vec<_> = args
            .windows(2)
            .filter(|w| w[0] == "--path")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(paths, ["/home", "/srv/y", "/"]);
        // No --exclude or backup arguments leak into other commands.
        assert_eq!(args_of(&prune(&c)), ["--no-cache", "prune"]);
        assert_eq!(args_of(&check(&c)), ["--no-cache", "check"]);
        c.check_read_data_subset = Some("5%".into());
        assert_eq!(
            args_of(&check(&c)),
            ["--no-cache", "check", "--read-data-subset=5%"]
        );
        let env = env_of(&prune(&c));
        assert!(env.contains(&("RESTIC_PASSWORD_FILE".into(), Some("/etc/pw".into()))));
    }
}
