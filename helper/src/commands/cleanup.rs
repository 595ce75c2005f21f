//! `igotchuu cleanup`: delete the snapshots of a run that was killed, and
//! the folders (and restic mounts) a killed restore left in
//! `/run/igotchuu/restore`.

use crate::cli::Cli;
use crate::events::Notice;
use crate::exit;
use crate::i18n::{fill, gettext};
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
                // xgettext: exec_before_snapshot is a configuration key; {command} is the command, as a list.
                let text = gettext("exec_before_snapshot {command} failed");
                return super::fail(fill(&text, &[("command", &format!("{argv:?}"))]));
            }
        }
        notices.extend(snapshots::remove_stale(journal, true));
    }
    // The host's namespace is the caller's (a root shell); this process
    // entered a private one.
    let host = std::fs::File::open(format!("/proc/{}/ns/mnt", nix::unistd::getppid())).ok();
    let folders = crate::bus::browse::remove_stale_restores(host.as_ref());
    for path in &folders {
        // xgettext: `igotchuu cleanup` deleted {path}: a btrfs snapshot, or the folder a killed restore left.
        let text = gettext("Removed {path}");
        println!("{}", fill(&text, &[("path", &path.display().to_string())]));
    }
    let mut left = 0;
    for n in notices {
        match n {
            Notice::StaleSnapshotRemoved { path } => {
                // xgettext: `igotchuu cleanup` deleted the btrfs snapshot {path}.
                let text = gettext("Removed {path}");
                println!("{}", fill(&text, &[("path", &path.display().to_string())]));
            }
            Notice::SnapshotLeft { path, error } => {
                left += 1;
                // xgettext: {path} is a btrfs snapshot; {error} is the system's reason, in English.
                let text = gettext("cannot delete {path}: {error}");
                let path = path.display().to_string();
                eprintln!(
                    "igotchuu: {}",
                    fill(&text, &[("path", &path), ("error", &error)])
                );
            }
            _ => {}
        }
    }
    if before == 0 && folders.is_empty() {
        println!("{}", gettext("No snapshots left behind; nothing to do."));
    }
    if left > 0 {
        exit::FAILED
    } else {
        exit::COMPLETED
    }
}
