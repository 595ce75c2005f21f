//! What `restic check` found. It says "no errors were found" on stdout
//! when the repository is intact. When it finds damage it prints what it
//! found on stderr ("error for tree …", "pack …: does not exist", "Pack
//! ID does not match …"), then "Fatal: repository contains errors", and
//! exits 1. Any other failure (wrong password, no repository, a lock)
//! means it could not check at all: see `failure::classify`.

use super::message::clean_text;

const NO_ERRORS: &str = "no errors were found";
const CONTAINS_ERRORS: &str = "repository contains errors";
/// What restic 0.16+ adds to its findings: advice, not findings.
const ADVICE: [&str; 6] = [
    "the repository is damaged",
    "damaged pack files can be caused",
    "restic repair ",
    "please read the troubleshooting guide",
    "please follow the troubleshooting guide",
    "these damaged files must be removed",
];
/// How many of the findings a reason quotes, and how long each may be.
pub const QUOTED_LINES: usize = 5;
const MAX_QUOTED_BYTES: usize = 300;

/// restic's troubleshooting guide (damaged repositories).
pub const TROUBLESHOOTING: &str =
    "https://restic.readthedocs.io/en/stable/077_troubleshooting.html";

/// What a check that ran to its end said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// "no errors were found".
    Intact,
    /// The repository is damaged: the first findings, and how many lines
    /// were not quoted.
    Damaged { found: Vec<String>, more: usize },
    /// Neither: it failed for another reason (or said nothing we know).
    Other,
}

/// Reads a finished check: its stdout, and the first (`stderr_head`) and
/// last (`stderr_tail`) of its `stderr_lines` plain-text stderr lines.
pub fn verdict(
    stdout: &str,
    stderr_head: &[String],
    stderr_tail: &[String],
    stderr_lines: usize,
) -> Verdict {
    let damaged = stderr_head
        .iter()
        .chain(stderr_tail)
        .any(|l| l.to_lowercase().contains(CONTAINS_ERRORS));
    if damaged {
        let findings: Vec<&String> = stderr_head.iter().filter(|l| is_finding(l)).collect();
        let found: Vec<String> = findings
            .iter()
            .take(QUOTED_LINES)
            .map(|l| clean_text(l.trim(), MAX_QUOTED_BYTES))
            .collect();
        // Lines beyond the head were findings too, most likely.
        let more = findings.len().saturating_sub(found.len())
            + stderr_lines.saturating_sub(stderr_head.len());
        return Verdict::Damaged { found, more };
    }
    if stdout.lines().any(|l| l.trim() == NO_ERRORS) {
        return Verdict::Intact;
    }
    Verdict::Other
}

fn is_finding(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    !lower.is_empty()
        && !lower.contains(CONTAINS_ERRORS)
        && !ADVICE.iter().any(|a| lower.starts_with(a))
}

/// How [`damage_reason`] begins.
pub const DAMAGE_FOUND: &str = "The repository check found damage";

/// The reason of a check that found damage: what, and what to do.
pub fn damage_reason(found: &[String], more: usize) -> String {
    // restic says "error for tree X:" and, on the next line, what it was.
    let mut said = String::new();
    for line in found {
        if !said.is_empty() {
            said.push_str(if said.ends_with(':') { " " } else { "; " });
        }
        said.push_str(line);
    }
    if said.is_empty() {
        said = "restic did not say where".to_owned();
    }
    if more > 0 {
        said.push_str(&format!(" (and {more} more lines in the log)"));
    }
    format!(
        "{DAMAGE_FOUND}: {said}. Do not prune until it is \
         repaired. To repair it: with restic 0.14 or 0.15, run `igotchuu restic \
         -- rebuild-index`; with restic 0.16 or later, `igotchuu restic -- repair \
         index`, and for damaged packs `igotchuu restic -- repair packs ID…` \
         then `igotchuu restic -- repair snapshots --forget`. Then back up again \
         and run `igotchuu check` once more. See {TROUBLESHOOTING}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn an_intact_repository_in_014_and_018() {
        for out in [
            include_str!("fixtures/restic-0.14-check.txt"),
            include_str!("fixtures/restic-0.18-check.txt"),
            include_str!("fixtures/restic-0.14-check-subset.txt"),
            include_str!("fixtures/restic-0.18-check-subset.txt"),
        ] {
            assert_eq!(verdict(out, &[], &[], 0), Verdict::Intact);
        }
        assert_eq!(verdict("load indexes\n", &[], &[], 0), Verdict::Other);
        let no_password = lines("Fatal: wrong password or no key found");
        assert_eq!(verdict("", &no_password, &no_password, 1), Verdict::Other);
    }

    #[test]
    fn damage_is_quoted_without_restics_advice() {
        let err = lines(include_str!(
            "fixtures/restic-0.18-check-damaged-stderr.txt"
        ));
        let Verdict::Damaged { found, more } = verdict("", &err, &err, err.len()) else {
            panic!("not damaged")
        };
        assert_eq!(
            found,
            [
                "error for tree 395e6677:",
                "decrypting blob <tree/395e6677> from b95a35c0 failed: ciphertext verification failed",
                "error for tree c6bcc7d5:",
                "decrypting blob <tree/c6bcc7d5> from 6fa2f286 failed: ciphertext verification failed",
            ]
        );
        assert_eq!(more, 0);
        let err = lines(include_str!(
            "fixtures/restic-0.14-check-missing-pack-stderr.txt"
        ));
        let Verdict::Damaged { found, .. } = verdict("", &err, &err, err.len()) else {
            panic!("not damaged")
        };
        assert!(found[0].ends_with(": does not exist"), "{found:?}");
        let err = lines(include_str!(
            "fixtures/restic-0.18-check-read-data-damaged-stderr.txt"
        ));
        let Verdict::Damaged { found, .. } = verdict("", &err, &err, err.len()) else {
            panic!("not damaged")
        };
        assert!(found[0].starts_with("pack facddaf3"), "{found:?}");
        assert!(
            found.iter().all(|l| !l.starts_with("restic repair")),
            "{found:?}"
        );
        // Many findings: the head is quoted, the Fatal line is in the tail.
        let err = lines(include_str!(
            "fixtures/restic-0.14-check-damaged-stderr.txt"
        ));
        let Verdict::Damaged { found, more } = verdict("", &err[..4], &err[4..], 500) else {
            panic!("not damaged")
        };
        assert_eq!(found.len(), 4);
        assert_eq!(more, 496);
        let two = damage_reason(
            &[
                "error for tree 0e92c403:".into(),
                "decrypting blob 0e92 failed".into(),
                "pack 9b96: does not exist".into(),
            ],
            0,
        );
        assert!(
            two.starts_with("The repository check found damage: error for tree 0e92c403: decrypting blob 0e92 failed; pack 9b96: does not exist. Do not prune"),
            "{two}"
        );
        let reason = damage_reason(&["pack 9b96: does not exist".into()], 3);
        assert!(
            reason.contains("pack 9b96: does not exist (and 3 more"),
            "{reason}"
        );
        assert!(reason.contains("rebuild-index") && reason.contains("repair index"));
        assert!(reason.contains("Do not prune") && reason.contains(TROUBLESHOOTING));
    }
}
