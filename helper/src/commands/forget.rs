//! `igotchuu forget --dry-run`: a look at what the retention policy would
//! forget and keep. It changes nothing, so it takes no run lock, claims no
//! bus name and records nothing; restic's own repository lock keeps it
//! safe next to a running backup. (`igotchuu forget` without `--dry-run`
//! is an operation like the others: `commands::operation`.)

use tokio::sync::watch;

use crate::cli::Cli;
use crate::config::Config;
use crate::exit;
use crate::i18n::{fill, gettext, ngettext};
use crate::restic::command;
use crate::run::maintenance::{forget_report, listing, policy_words};

/// No `forget` without a policy: says which keys make one. Exits 78, like
/// any configuration that cannot do what was asked.
pub fn no_policy(config: &Config) -> u8 {
    let file = config.file.display().to_string();
    let text = match &config.profile {
        // xgettext: `igotchuu forget` without a policy; {file} is the configuration file. keep_* = … are configuration keys and values: keep them.
        None => fill(&gettext("no retention policy is set in {file}, so nothing would be forgotten. Set keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly or keep_within (at the top level or in a profile); for example keep_daily = 7 and keep_weekly = 4."), &[("file", &file)]),
        // xgettext: `igotchuu forget` without a policy; {file} is the configuration file, {profile} a profile in it. keep_* = … are configuration keys and values: keep them.
        Some(p) => fill(&gettext("no retention policy is set in {file} for profile {profile}, so nothing would be forgotten. Set keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly or keep_within (at the top level or in a profile); for example keep_daily = 7 and keep_weekly = 4."), &[("file", &file), ("profile", p)]),
    };
    eprintln!("igotchuu: {text}");
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
        let head = fill(
            // xgettext: The first line of `igotchuu forget --dry-run`. {places} are folders; {tag} is restic's tag; {policy} is the retention policy as configuration keys ("keep_last = 3").
            &gettext("Dry run: which of this machine's snapshots of {places} tagged {tag} would go, with {policy}"),
            &[
                ("places", &places.join(", ")),
                ("tag", &command::tag(&config)),
                ("policy", &policy_words(&config)),
            ],
        );
        println!("{head}");
        match forget_report(&config, true, stop).await {
            Ok(report) => {
                let go = report.removed_count;
                // xgettext: Heads the list of snapshots a dry run would forget.
                let text = ngettext("Would forget {n} snapshot:", "Would forget {n} snapshots:", go as u64);
                println!("{}", fill(&text, &[("n", &go.to_string())]));
                print_lines(listing(&report.removed, go, usize::MAX));
                let kept = report.kept_count;
                // xgettext: Heads the list of snapshots a dry run would keep (English leaves out "snapshots" here).
                let text = ngettext("Would keep {n}:", "Would keep {n}:", kept as u64);
                println!("{}", fill(&text, &[("n", &kept.to_string())]));
                print_lines(listing(&report.kept, kept, usize::MAX));
                println!("{}", gettext("Nothing was changed (dry run)."));
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
        // xgettext: An empty list of snapshots; keep the two spaces.
        println!("{}", gettext("  (none)"));
    }
    for line in lines {
        println!("{line}");
    }
}
