//! `igotchuu forget --dry-run`: a look at what the retention policy would
//! forget and keep. It changes nothing, so it takes no run lock, claims no
//! bus name and records nothing; restic's own repository lock keeps it
//! safe next to a running backup. (`igotchuu forget` without `--dry-run`
//! is an operation like the others: `commands::operation`.)

use tokio::sync::watch;

use crate::cli::Cli;
use crate::config::Config;
use crate::exit;
use crate::restic::command;
use crate::run::maintenance::{forget_report, listing, policy_words};

/// No `forget` without a policy: says which keys make one. Exits 78, like
/// any configuration that cannot do what was asked.
pub fn no_policy(config: &Config) -> u8 {
    eprintln!(
        "igotchuu: no retention policy is set in {}{}, so nothing would be forgotten. \
         Set keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly \
         or keep_within (at the top level or in a profile); for example keep_daily = 7 \
         and keep_weekly = 4.",
        config.file.display(),
        config
            .profile
            .as_ref()
            .map_or(String::new(), |p| format!(" for profile {p}")),
    );
    exit::CONFIG
}

pub fn dry_run(cli: &Cli) -> u8 {
    let config = match super::load_config(cli) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if config.retention.is_empty() {
        return no_policy(&config);
    }
    super::runtime().block_on(async {
        let (stop_tx, stop) = watch::channel(false);
        super::stop_on_signals(&stop_tx);
        let places: Vec<String> = config
            .places
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        println!(
            "Dry run: which of this machine's snapshots of {} tagged {} would go, with {}",
            places.join(", "),
            command::tag(&config),
            policy_words(&config)
        );
        match forget_report(&config, true, stop).await {
            Ok(report) => {
                let go = report.removed_count;
                println!(
                    "Would forget {go} snapshot{}:",
                    if go == 1 { "" } else { "s" }
                );
                print_lines(listing(&report.removed, go, usize::MAX));
                println!("Would keep {}:", report.kept_count);
                print_lines(listing(&report.kept, report.kept_count, usize::MAX));
                println!("Nothing was changed (dry run).");
                exit::COMPLETED
            }
            Err((outcome, reason)) => {
                eprintln!("igotchuu: {reason}");
                exit::for_outcome(outcome)
            }
        }
    })
}

fn print_lines(lines: Vec<String>) {
    if lines.is_empty() {
        println!("  (none)");
    }
    for line in lines {
        println!("{line}");
    }
}
