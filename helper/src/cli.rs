//! The command line.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

use crate::config::DEFAULT_CONFIG_PATH;

const AFTER_HELP: &str = "\
Exit codes:
  0    backup completed
  3    backup completed with warnings: a snapshot was saved, but some files
       could not be read and are missing from it (they are listed)
  1    backup failed: no snapshot was saved; forget, prune or check failed
       (for check: it could not run, or it found damage)
  5    a scheduled run was postponed: on battery or on a metered connection,
       and the condition did not clear in time; nothing ran
  2    wrong command-line usage
  69   watch: no system bus, Start refused, or no backup began in time
  75   another igotchuu run was in progress and did not end within
       wait_timeout, or another helper owns the bus name
  76   watch: the backup ended, but the helper did not say how
  78   the configuration was refused, or forget has no retention policy
       (keep_*); nothing was done
  130  stopped on request (Ctrl-C, SIGTERM, or Stop from the desktop)

Examples:
  igotchuu check-config                 show what a backup would do
  igotchuu backup                       run a backup now
  igotchuu -p laptop backup             use the [profiles.laptop] settings
  igotchuu forget --dry-run             show which snapshots the policy would forget
  igotchuu check                        check that the repository can be read back
  igotchuu watch --start                back up now through the system bus, and watch
  igotchuu snapshots                    list the repository's snapshots
  igotchuu restore 1a2b3c4d /home/ana/notes --target /tmp
                                        restore a folder of a snapshot into /tmp
  igotchuu mount /mnt/restore           browse backups with `restic mount`";

/// Consistent restic backups of btrfs subvolumes.
///
/// igotchuu takes read-only btrfs snapshots of the configured subvolumes,
/// mounts each snapshot over its original path in a private mount namespace,
/// and backs that frozen view up with restic, so that the backup is
/// consistent and restic still recognises unchanged files. The snapshots
/// are deleted afterwards, whatever happens.
#[derive(Debug, Parser)]
#[command(name = "igotchuu", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The configuration file.
    #[arg(short, long, global = true, value_name = "FILE", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,

    /// Apply the settings of [profiles.PROFILE] from the configuration.
    #[arg(short, long, global = true, value_name = "PROFILE")]
    pub profile: Option<String>,

    /// Log more; repeat for even more (-vv).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Snapshot, back up with restic, and delete the snapshots. Then, if
    /// a retention policy (keep_*) is set, forget what it does not keep.
    Backup {
        #[command(flatten)]
        when: When,
    },
    /// Forget this machine's snapshots of the configured places that the
    /// retention policy (keep_*) does not keep. Other hosts', other
    /// profiles' and untagged snapshots are never touched. Without a
    /// policy it says which keys make one and exits 78, also with
    /// --dry-run. --dry-run takes no run lock and records nothing.
    Forget {
        /// Only show which snapshots would be forgotten and which kept.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        when: When,
    },
    /// Remove the data that no snapshot needs any more (`restic prune`).
    /// Locks the repository for everyone while it runs.
    Prune {
        #[command(flatten)]
        when: When,
    },
    /// Check that the repository is intact (`restic check`), reading the
    /// check_read_data_subset of the data if the configuration sets one.
    Check {
        #[command(flatten)]
        when: When,
    },
    /// Browse the repository's snapshots as files (`restic mount`).
    Mount {
        /// An empty directory to mount the repository on.
        target: PathBuf,
    },
    /// Run any restic command with the configured repository and password,
    /// e.g. `igotchuu restic -- snapshots`.
    Restic {
        /// restic's arguments, after `--`.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// List the repository's snapshots, every host's, newest first: id,
    /// time, host, profile, the size it added and its places.
    Snapshots,
    /// Restore PATH (a file or folder, as it was backed up) of SNAPSHOT (an
    /// id or a prefix of 8 or more hex digits): into the folder --target
    /// DIR, as DIR/NAME or "DIR/NAME (restored N)" if that exists, or with
    /// --in-place over the original files (their contents, owners and
    /// modes; files made since stay). Runs as a run like a backup, and is
    /// recorded in the history.
    #[command(group(clap::ArgGroup::new("where").required(true).args(["target", "in_place"])))]
    Restore {
        /// The snapshot: `igotchuu snapshots` lists them.
        snapshot: String,
        /// The absolute path, as it was backed up.
        path: PathBuf,
        /// An existing folder to restore into.
        #[arg(long, value_name = "DIR")]
        target: Option<PathBuf>,
        /// Restore over the original files.
        #[arg(long)]
        in_place: bool,
    },
    /// Copy a restore's files into a folder; what a restore into a folder
    /// runs as the person who asked for it. Its paths come in the
    /// environment, never in the command line that every user can read.
    #[command(hide = true)]
    RestoreCopy,
    /// Print the first free name for a restore's copy; what a restore
    /// into a folder runs as the person who asked for it (paths in the
    /// environment, as for restore-copy).
    #[command(hide = true)]
    RestoreDestination,
    /// Check the configuration and print it with the profile applied and
    /// secrets hidden.
    CheckConfig,
    /// Delete snapshots left behind by a run that was killed.
    Cleanup,
    /// Follow a backup on the system bus and print it as `backup` does.
    ///
    /// Prints the progress and restic's summary, then exits with the run's
    /// exit code. Waits for the next backup if none runs, and joins one that
    /// does where it is. Needs no privileges and reads no configuration.
    Watch {
        /// Start a backup now first, as "Back up now" does (D-Bus
        /// activation; polkit action com.nyantec.igotchuu.start).
        #[arg(long)]
        start: bool,
        /// Give up (exit 69) when no backup is under way within SECONDS;
        /// with --start the default is 60.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
    },
    /// Wait on the system bus for a Start call (Back up now), run that
    /// backup, and exit. This is what D-Bus activation starts.
    #[command(hide = true)]
    Serve,
    /// Mount the repository for the browse session of the helper with
    /// process id HELPER, until stopped or the helper is gone. What
    /// igotchuu-browse@.service runs.
    #[command(hide = true)]
    BrowseMount { helper: u32 },
}

/// Who started an operation, which decides whether the run conditions
/// (run_on_battery, run_on_metered) apply.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct When {
    /// Started by a timer: wait while on battery or on a metered connection
    /// (unless the configuration allows it). Without it, the operation runs
    /// at once, and says which condition it overrides.
    #[arg(long)]
    pub scheduled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_anywhere_and_restic_args_pass_through() {
        let cli = Cli::parse_from(["igotchuu", "restic", "-p", "x", "--", "snapshots", "--json"]);
        assert_eq!(cli.profile.as_deref(), Some("x"));
        let Command::Restic { args } = cli.command else {
            panic!("not restic")
        };
        assert_eq!(args, ["snapshots", "--json"]);
        let cli = Cli::parse_from(["igotchuu", "-c", "/x.toml", "backup", "-v"]);
        assert_eq!(cli.config, PathBuf::from("/x.toml"));
        assert_eq!(cli.verbose, 1);
        assert!(matches!(
            cli.command,
            Command::Backup {
                when: When { scheduled: false }
            }
        ));
    }

    #[test]
    fn operations_take_scheduled_and_forget_a_dry_run() {
        let cli = Cli::parse_from(["igotchuu", "backup", "--scheduled"]);
        assert!(matches!(
            cli.command,
            Command::Backup {
                when: When { scheduled: true }
            }
        ));
        let cli = Cli::parse_from(["igotchuu", "forget", "--dry-run"]);
        let Command::Forget { dry_run, when } = cli.command else {
            panic!("not forget")
        };
        assert!(dry_run && !when.scheduled);
        for op in ["prune", "check"] {
            let cli = Cli::parse_from(["igotchuu", op, "--scheduled"]);
            assert!(matches!(
                cli.command,
                Command::Prune { when } | Command::Check { when } if when.scheduled
            ));
        }
        assert!(Cli::try_parse_from(["igotchuu", "check", "--dry-run"]).is_err());
    }

    #[test]
    fn restore_takes_a_target_or_in_place() {
        let cli = Cli::parse_from([
            "igotchuu", "restore", "1a2b3c4d", "/home/a", "--target", "/tmp",
        ]);
        let Command::Restore {
            target, in_place, ..
        } = cli.command
        else {
            panic!("not restore")
        };
        assert_eq!((target, in_place), (Some(PathBuf::from("/tmp")), false));
        let cli = Cli::parse_from(["igotchuu", "restore", "--in-place", "1a2b3c4d", "/home/a"]);
        assert!(matches!(
            cli.command,
            Command::Restore {
                in_place: true,
                target: None,
                ..
            }
        ));
        assert!(Cli::try_parse_from(["igotchuu", "restore", "1a2b3c4d", "/home/a"]).is_err());
        assert!(Cli::try_parse_from([
            "igotchuu",
            "restore",
            "1a2b3c4d",
            "/a",
            "--in-place",
            "--target",
            "/t"
        ])
        .is_err());
    }

    #[test]
    fn watch_takes_start_and_a_timeout() {
        let cli = Cli::parse_from(["igotchuu", "watch", "--start", "--timeout", "5"]);
        let Command::Watch { start, timeout } = cli.command else {
            panic!("not watch")
        };
        assert!(start);
        assert_eq!(timeout, Some(5));
        let cli = Cli::parse_from(["igotchuu", "watch"]);
        assert!(matches!(
            cli.command,
            Command::Watch {
                start: false,
                timeout: None
            }
        ));
        assert!(Cli::try_parse_from(["igotchuu", "watch", "--timeout", "soon"]).is_err());
    }
}
