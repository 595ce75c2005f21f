//! `igotchuu cleanup`: delete the snapshots of a run that was killed.

use crate::cli::Cli;
use crate::events::Notice;
use crate::exit;
use crate::snapshots;

pub fn run(cli: &Cli) -> u8 {
    let (setup, mut claim) = match super::prepare(cli) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let journal = &mut claim.journal;
    let before = journal.entries().len();
    let mut notices = snapshots::remove_stale(journal, false);
    if !journal.entries().is_empty() {
        if let Some(argv) = &setup.config.exec_before_snapshot {
            // The stale snapshots may live where only this command mounts.
            let status = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .status();
            if !status.is_ok_and(|s| s.success()) {
                return super::fail(format!("exec_before_snapshot {argv:?} failed"));
            }
        }
        notices.extend(snapshots::remove_stale(journal, true));
    }
    let mut left = 0;
    for n in notices {
        match n {
            Notice::StaleSnapshotRemoved { path } => println!("Removed {}", path.display()),
            Notice::SnapshotLeft { path, error } => {
                left += 1;
                eprintln!("igotchuu: cannot delete {}: {error}", path.display());
            }
            _ => {}
        }
    }
    if before == 0 {
        println!("No snapshots left behind; nothing to do.");
    }
    if left > 0 {
        exit::FAILED
    } else {
        exit::COMPLETED
    }
}
