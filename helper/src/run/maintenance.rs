//! forget, prune and check: one restic command each, bracketed by
//! `OperationStarted` and `OperationFinished`, with their working phase in
//! between. Prune and check have the progress of their steps, in the
//! Progress property only (the Progress signal is a backup's); no item
//! errors, no `Started`/`Finished` (those are a backup's). How each ended
//! is judged from restic's exit code and what it printed
//! (`restic::{forget, prune, check}`), never from the exit code alone.

use std::path::Path;

use igotchuu_dbus::{Operation, Outcome, Progress, RunCondition};
use tokio::sync::watch;

use super::{begin, end, plural};
use crate::config::Config;
use crate::events::{Event, EventBus, Notice};
use crate::i18n::{gettext, ngettext_n};
use crate::restic::check::{self, Verdict};
use crate::restic::failure::ResticFailure;
use crate::restic::forget::{self, ForgetReport};
use crate::restic::message::{clean_text, MAX_TEXT_BYTES};
use crate::restic::plain::{self, PlainRun};
use crate::restic::step::{self, StepProgress};
use crate::restic::{command, prune};
use crate::state::damage;

/// How many of restic's lines a prune or check passes on (besides the
/// progress of its steps).
const SAID_PASSED: usize = 200;
/// The longest step name shown with its progress.
const MAX_STEP_BYTES: usize = 200;
/// How many forgotten snapshots the terminal lists; the rest are counted.
const LISTED_IN_RUN: usize = 20;

/// Said of a restic that did not end after SIGINT and was killed.
const KILLED_LOCK: &str = "; restic had to be killed, so the repository may keep a stale lock \
     (`igotchuu restic -- unlock` removes it)";

/// Where an upkeep operation runs: the state directory (for the damage
/// marker, `state::damage`), and whether a timer started it.
pub struct Upkeep<'a> {
    pub state_dir: &'a Path,
    pub scheduled: bool,
}

/// Runs `operation` (not a backup) and publishes its events. Returns its
/// outcome.
pub async fn run(
    operation: Operation,
    config: &Config,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
    overridden: &[RunCondition],
    upkeep: &Upkeep<'_>,
) -> Outcome {
    begin(events, config, operation, overridden);
    events.publish(Event::PhaseChanged(operation.working_phase()));
    let damage = (operation == Operation::Prune && upkeep.scheduled)
        .then(|| damage::found(upkeep.state_dir))
        .flatten();
    let (outcome, reason) = if *stop.borrow() {
        (
            Outcome::Stopped,
            "Stopped on request before restic started".to_owned(),
        )
    } else if let Some(damage) = damage {
        (Outcome::Failed, not_pruned(&damage))
    } else {
        match operation {
            Operation::Forget => forget(config, events, stop).await,
            Operation::Prune => prune(config, events, stop).await,
            Operation::Check => check(config, events, stop, upkeep.state_dir).await,
            Operation::Backup | Operation::Restore => {
                unreachable!("a backup is run::backup, a restore run::restore")
            }
        }
    };
    end(events, operation, outcome, reason)
}

/// The policy, as the configuration says it: "keep_last = 2, keep_daily = 7".
pub fn policy_words(config: &Config) -> String {
    let mut words: Vec<String> = config
        .retention
        .counts()
        .map(|(key, n)| format!("{key} = {n}"))
        .collect();
    if let Some(within) = &config.retention.keep_within {
        words.push(format!("keep_within = \"{within}\""));
    }
    words.join(", ")
}

/// Runs restic, or says why it could not start. `on_line` hears its
/// stdout's lines as they come.
async fn start(
    cmd: std::process::Command,
    stop: watch::Receiver<bool>,
    on_line: &mut dyn FnMut(&str),
) -> Result<PlainRun, (Outcome, String)> {
    plain::run(cmd, stop, on_line).await.map_err(|e| {
        (
            Outcome::Failed,
            ResticFailure::from_spawn_error(&e).to_string(),
        )
    })
}

/// How a restic that did not exit 0 ended: stopped, or failed and why.
fn unsuccessful(run: &PlainRun) -> (Outcome, String) {
    if run.stop_sent {
        let killed = if run.killed { KILLED_LOCK } else { "" };
        return (Outcome::Stopped, format!("Stopped on request{killed}"));
    }
    (Outcome::Failed, run.failure().to_string())
}

/// `restic forget` with the policy; dry or not, what it kept and removed.
pub async fn forget_report(
    config: &Config,
    dry_run: bool,
    stop: watch::Receiver<bool>,
) -> Result<ForgetReport, (Outcome, String)> {
    let host = command::backup_host(config).map_err(|e| {
        (
            Outcome::Failed,
            format!("cannot tell this machine's hostname, which selects its snapshots: {e}"),
        )
    })?;
    let run = start(command::forget(config, &host, dry_run), stop, &mut |_| {}).await?;
    if run.code() != Some(0) {
        return Err(unsuccessful(&run));
    }
    if run.stdout_truncated {
        return Err((
            Outcome::CompletedWithWarnings,
            "Forget completed, but restic's report was too long to read; \
             `igotchuu restic -- snapshots` lists what is left"
                .to_owned(),
        ));
    }
    forget::parse(&run.stdout_text()).map_err(|e| {
        (
            Outcome::CompletedWithWarnings,
            format!("Forget completed, but {e}; `igotchuu restic -- snapshots` lists what is left"),
        )
    })
}

async fn forget(
    config: &Config,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
) -> (Outcome, String) {
    let report = match forget_report(config, false, stop).await {
        Ok(r) => r,
        Err(ended) => return ended,
    };
    if report.removed_count > 0 {
        // Report lines go to the terminal only, never the history or the bus.
        // xgettext: Heads the list of snapshots that forget removed.
        let mut lines = vec![gettext("Forgotten:")];
        lines.extend(listing(
            &report.removed,
            report.removed_count,
            LISTED_IN_RUN,
        ));
        events.publish(Event::Notice(Notice::Report(lines)));
    }
    (
        Outcome::Completed,
        forget_sentence(&report, &policy_words(config)),
    )
}

/// "Forgot 2 old snapshots and kept 3 (keep_last = 3)".
fn forget_sentence(report: &ForgetReport, policy: &str) -> String {
    let kept = plural(report.kept_count as u64, "snapshot", "snapshots");
    match (report.removed_count, report.kept_count) {
        (0, 0) => format!(
            "Nothing to forget: this machine has no snapshots of these places with this \
             profile's tag yet ({policy})"
        ),
        (0, _) => format!("Nothing to forget: the policy keeps all {kept} ({policy})"),
        (n, _) => format!(
            "Forgot {} and kept {kept} ({policy}); the next prune frees their space",
            plural(n as u64, "old snapshot", "old snapshots"),
        ),
    }
}

/// Up to `shown` snapshots, one a line, and a count of the rest.
pub fn listing(lines: &[forget::SnapshotLine], count: usize, shown: usize) -> Vec<String> {
    let mut out: Vec<String> = lines.iter().take(shown).map(|s| format!("  {s}")).collect();
    let more = count.saturating_sub(out.len());
    if more > 0 {
        // xgettext: After a list of snapshots: how many more there were.
        let text = ngettext_n(
            "… and {n} more",
            "… and {n} more",
            more as u64,
            &more.to_string(),
        );
        out.push(format!("  {text}"));
    }
    out
}

/// Passes what restic says it is doing on to the terminal and the log
/// (prune and check can take hours, and say little), and the progress of
/// each of their steps as the operation's Progress: the step's fraction,
/// what it counts, and the step itself in `current_files` ("read 5% of
/// data packs: 3 / 8 packs"), in restic's words.
fn passing_on(events: &mut EventBus) -> impl FnMut(&str) + '_ {
    let started = std::time::Instant::now();
    let mut passed = 0;
    let mut step = String::new();
    move |line: &str| {
        let line = line.trim_end();
        if let Some(p) = step::parse(line) {
            events.publish(Event::Progress(step_progress(&step, &p, started.elapsed())));
            return;
        }
        if line.is_empty() {
            return;
        }
        step = clean_text(line, MAX_STEP_BYTES);
        if passed >= SAID_PASSED {
            return;
        }
        passed += 1;
        let said = clean_text(line, MAX_TEXT_BYTES);
        events.publish(Event::Notice(Notice::ResticSaid(said)));
    }
}

/// A step's progress line as the operation's Progress.
fn step_progress(step: &str, p: &StepProgress, elapsed: std::time::Duration) -> Progress {
    let counted = if p.total > 0 {
        format!("{} / {} {}", p.done, p.total, p.unit)
    } else {
        format!("{} {}", p.done, p.unit)
    };
    let shown = if step.is_empty() {
        counted
    } else {
        format!("{step}: {counted}")
    };
    Progress {
        seconds_elapsed: elapsed.as_secs(),
        percent_done: p.fraction,
        current_files: vec![shown],
        ..Progress::default()
    }
}

async fn prune(
    config: &Config,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
) -> (Outcome, String) {
    let run = match start(command::prune(config), stop, &mut passing_on(events)).await {
        Ok(r) => r,
        Err(ended) => return ended,
    };
    if run.code() != Some(0) {
        return unsuccessful(&run);
    }
    (
        Outcome::Completed,
        prune::parse(&run.stdout_text()).sentence(),
    )
}

/// Why a scheduled prune did not run.
fn not_pruned(damage: &str) -> String {
    format!(
        "Not pruned: the last repository check found damage, and scheduled prunes wait \
         until a check passes. Repair the repository and run `igotchuu check`, or prune \
         by hand with `igotchuu prune`. The check said: {damage}"
    )
}

async fn check(
    config: &Config,
    events: &mut EventBus,
    stop: watch::Receiver<bool>,
    state_dir: &Path,
) -> (Outcome, String) {
    let run = match start(command::check(config), stop, &mut passing_on(events)).await {
        Ok(r) => r,
        Err(ended) => return ended,
    };
    let subset = config
        .check_read_data_subset
        .as_ref()
        .map(|s| format!(", and read {s} of the data"))
        .unwrap_or_default();
    let verdict = check::verdict(
        &run.stdout_text(),
        &run.stderr_head,
        run.stderr_tail.lines(),
        run.stderr_lines,
    );
    let (outcome, reason) = judge_check(&run, verdict, &subset, events);
    let kept = match outcome {
        Outcome::Completed => damage::clear(state_dir),
        _ if reason.starts_with(check::DAMAGE_FOUND) => damage::record(state_dir, &reason),
        _ => Ok(()),
    };
    if let Err(e) = kept {
        tracing::error!(
            "cannot keep the check's verdict in {}: {e}",
            state_dir.display()
        );
    }
    (outcome, reason)
}

fn judge_check(
    run: &PlainRun,
    verdict: Verdict,
    subset: &str,
    events: &mut EventBus,
) -> (Outcome, String) {
    match (run.code(), verdict) {
        (Some(0), Verdict::Intact) => (
            Outcome::Completed,
            format!("The repository is intact: restic check found no errors{subset}"),
        ),
        (Some(0), _) => (
            Outcome::Completed,
            format!("restic check ended without errors{subset}"),
        ),
        _ if run.stop_sent => unsuccessful(run),
        (_, Verdict::Damaged { found, more }) => {
            // xgettext: Heads restic's words about the damage that `restic check` found.
            let mut lines = vec![gettext("restic check found:")];
            lines.extend(found.iter().map(|l| format!("  {l}")));
            events.publish(Event::Notice(Notice::Report(lines)));
            (Outcome::Failed, check::damage_reason(&found, more))
        }
        _ => {
            let (outcome, why) = unsuccessful(run);
            (
                outcome,
                format!("The repository could not be checked: {why}"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restic::forget::SnapshotLine;

    fn line(id: &str) -> SnapshotLine {
        SnapshotLine {
            time: "2026-12-02T16:45:51.9Z".into(),
            short_id: id.into(),
            paths: vec!["/home".into()],
        }
    }

    #[test]
    fn forget_says_how_many_went_and_stayed_and_by_which_policy() {
        let report = ForgetReport {
            kept: vec![line("a"), line("b")],
            removed: vec![line("c"), line("d")],
            kept_count: 2,
            removed_count: 2,
        };
        assert_eq!(
            forget_sentence(&report, "keep_last = 2"),
            "Forgot 2 old snapshots and kept 2 snapshots (keep_last = 2); the next prune frees their space"
        );
        let nothing = ForgetReport {
            kept_count: 1,
            ..ForgetReport::default()
        };
        assert!(forget_sentence(&nothing, "keep_last = 2").starts_with("Nothing to forget"));
        assert_eq!(
            listing(&report.removed, 30, 1),
            ["  c  2026-12-02 16:45:51  /home", "  … and 29 more"]
        );
    }

    #[test]
    fn the_policy_reads_as_the_configuration_says_it() {
        let text = "places = [\"/srv\"]\nsnapshot = []\nrepo = \"/srv/repo\"\nkeep_last = 3\nkeep_within = \"2y\"\n";
        let config = Config::parse(text, "/etc/igotchuu.toml".as_ref(), None).unwrap();
        assert_eq!(policy_words(&config), "keep_last = 3, keep_within = \"2y\"");
    }
}
