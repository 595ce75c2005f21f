//! `igotchuu`: consistent restic backups of btrfs subvolumes.

mod btrfs;
mod bus;
mod cli;
mod commands;
mod conditions;
mod config;
mod events;
mod exit;
mod follow;
mod i18n;
mod namespace;
mod nested;
mod output;
mod priority;
mod privileges;
mod restic;
mod restore;
mod run;
mod snapshots;
mod state;
mod view;

use std::ffi::OsStr;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use commands::operation::Mode;
use igotchuu_dbus::Operation;

fn main() -> ExitCode {
    restore::as_caller::forbid_dumping_early();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    // `serve` speaks to the bus and the journal only, in English.
    if !matches!(
        cli.command,
        Command::Serve | Command::RestoreCopy | Command::RestoreDestination
    ) {
        i18n::init();
    }
    let code = match &cli.command {
        Command::Backup { when } => now(&cli, Operation::Backup, when.scheduled),
        Command::Forget { dry_run: true, .. } => commands::forget::dry_run(&cli),
        Command::Forget { when, .. } => now(&cli, Operation::Forget, when.scheduled),
        Command::Prune { when } => now(&cli, Operation::Prune, when.scheduled),
        Command::Check { when } => now(&cli, Operation::Check, when.scheduled),
        Command::Serve => commands::operation::run(&cli, Mode::OnStartCall),
        Command::BrowseMount { helper } => bus::browse_unit::serve(&cli, *helper),
        Command::Cleanup => commands::cleanup::run(&cli),
        Command::Snapshots => commands::restore::snapshots(&cli),
        Command::Restore {
            snapshot,
            path,
            target,
            ..
        } => commands::operation::run(
            &cli,
            Mode::Restore(commands::restore::Request {
                snapshot: snapshot.clone(),
                path: path.clone(),
                target: target.clone(),
            }),
        ),
        Command::RestoreCopy => commands::restore::copy(),
        Command::RestoreDestination => commands::restore::destination(),
        Command::CheckConfig => commands::config::check(&cli),
        Command::Watch { start, timeout } => commands::watch::run(commands::watch::Options {
            start: *start,
            timeout: timeout.map(std::time::Duration::from_secs),
        }),
        Command::Restic { args } => {
            let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
            commands::restic::exec(&cli, &args)
        }
        Command::Mount { target } => {
            commands::restic::exec(&cli, &["mount".as_ref(), target.as_os_str()])
        }
    };
    ExitCode::from(code)
}

fn now(cli: &Cli, operation: Operation, scheduled: bool) -> u8 {
    commands::operation::run(
        cli,
        Mode::Now {
            operation,
            scheduled,
        },
    )
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("IGOTCHUU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
}
