//! `igotchuu check` and `igotchuu prune` against a real repository: an
//! intact repository passes; prune frees what forget left unreferenced;
//! a corrupted pack is found, recorded as a failed check, and the user is
//! told what to do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use igotchuu_dbus::{Operation, Outcome};
use igotchuu_e2e::fixture::{noise, write_file, Fixture};
use igotchuu_e2e::have_root;
use igotchuu_e2e::helper::exit;

const MIB: usize = 1 << 20;

/// Every pack file of the repository at `repo`, with its size.
fn packs(repo: &Path) -> Vec<(PathBuf, u64)> {
    let mut packs = Vec::new();
    for dir in std::fs::read_dir(repo.join("data")).expect("data/") {
        for pack in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let pack = pack.unwrap();
            packs.push((pack.path(), pack.metadata().unwrap().len()));
        }
    }
    packs
}

fn data_bytes(repo: &Path) -> u64 {
    packs(repo).iter().map(|(_, size)| size).sum()
}

/// The last record, which must be of `operation`.
fn last_record(fx: &Fixture, operation: Operation) -> igotchuu_dbus::history::RunRecord {
    let history = fx.env.history();
    let last = history.last().cloned().expect("a record");
    assert_eq!(last.operation, operation, "{history:#?}");
    last
}

#[test]
fn check_passes_on_an_intact_repository_and_prune_frees_forgotten_data() {
    if !have_root("check_passes_on_an_intact_repository_and_prune_frees_forgotten_data") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    fx.write_files(&BTreeMap::from([("home/small.txt", "small\n")]));
    write_file(&fx.path("home/big.bin"), &noise(3 * MIB));
    let mut spec = fx.spec(&["home"]);
    spec.raw_top = vec!["keep_last = 1".into()];
    fx.env.write_spec(&spec);
    fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    std::fs::remove_file(fx.path("home/big.bin")).unwrap();
    // The second backup forgets the first, so big.bin's data is unused.
    fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    assert_eq!(fx.repo.snapshots().len(), 1);
    let before = data_bytes(&fx.repo.location());

    let prune = fx.env.run(&["prune"]);
    prune.assert_code(exit::COMPLETED);
    let record = last_record(&fx, Operation::Prune);
    assert_eq!(record.outcome, Outcome::Completed, "{record:?}");
    // restic's steps are followed with their progress, each step's last
    // report logged before the next begins.
    assert!(
        prune
            .stdout
            .contains("progress: 100.0%  finding data that is still in use"),
        "{}",
        prune.output()
    );
    let after = data_bytes(&fx.repo.location());
    assert!(
        after + 2 * MIB as u64 <= before,
        "prune freed {} bytes of the 3 MiB that no snapshot needs ({before} → {after}):\n{}",
        before.saturating_sub(after),
        prune.output()
    );

    // The structure, then all the data.
    for subset in [None, Some("100%")] {
        spec.raw_top = vec!["keep_last = 1".into()];
        if let Some(subset) = subset {
            spec.raw_top
                .push(format!("check_read_data_subset = \"{subset}\""));
        }
        fx.env.write_spec(&spec);
        let check = fx.env.run(&["check"]);
        check.assert_code(exit::COMPLETED);
        let record = last_record(&fx, Operation::Check);
        assert_eq!(record.outcome, Outcome::Completed, "{subset:?}: {record:?}");
        assert!(!record.reason.is_empty());
        if subset.is_some() {
            assert!(
                check
                    .stdout
                    .contains("progress: 100.0%  read 100.0% of data packs: "),
                "{}",
                check.output()
            );
        }
    }
    // The small file is still there, whole.
    let listing = fx.repo.ls("latest");
    assert!(listing.find(&fx.path("home"), "small.txt").is_some());
}

#[test]
fn a_corrupted_pack_is_found_and_the_user_is_told_what_to_do() {
    if !have_root("a_corrupted_pack_is_found_and_the_user_is_told_what_to_do") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    write_file(&fx.path("home/big.bin"), &noise(2 * MIB));
    let mut spec = fx.spec(&["home"]);
    fx.env.write_spec(&spec);
    fx.env.run(&["backup"]).assert_code(exit::COMPLETED);

    // Flip bytes in the middle of the largest pack, keeping its size: only
    // reading the data can find it.
    let (pack, size) = packs(&fx.repo.location())
        .into_iter()
        .max_by_key(|(_, size)| *size)
        .expect("a pack");
    let mut bytes = std::fs::read(&pack).unwrap();
    let intact = bytes.clone();
    let middle = (size / 2) as usize;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0xff;
    }
    // Pack files are read-only, as restic writes them.
    let mut perms = std::fs::metadata(&pack).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&pack, perms).unwrap();
    std::fs::write(&pack, &bytes).unwrap();

    spec.raw_top = vec!["check_read_data_subset = \"100%\"".into()];
    fx.env.write_spec(&spec);
    let check = fx.env.run(&["check"]);
    check.assert_code(exit::FAILED);
    let record = last_record(&fx, Operation::Check);
    assert_eq!(record.outcome, Outcome::Failed, "{record:?}");
    let reason = record.reason.to_lowercase();
    assert!(
        reason.contains("damage") || reason.contains("error"),
        "the reason does not say that the repository is damaged: {}",
        record.reason
    );
    assert!(
        reason.contains("rebuild-index") || reason.contains("repair"),
        "the reason does not say what to do: {}",
        record.reason
    );
    assert!(
        check.output().contains(&record.reason)
            || check.output().to_lowercase().contains("repair")
            || check.output().contains("rebuild-index"),
        "the terminal does not tell the user what to do:\n{}",
        check.output()
    );
    // Everyone may learn that the check failed, not what it found.
    let public = fx.env.public_history();
    let public_check = public.last_of(Operation::Check).expect("public record");
    assert_eq!(public_check.outcome, Outcome::Failed);
    assert_ne!(public_check.reason, record.reason);

    // The weekly prune does not touch a damaged repository...
    let prune = fx.env.run(&["prune", "--scheduled"]);
    prune.assert_code(exit::FAILED);
    let refused = last_record(&fx, Operation::Prune);
    assert_eq!(refused.outcome, Outcome::Failed, "{refused:?}");
    assert!(
        refused
            .reason
            .starts_with("Not pruned: the last repository check found damage"),
        "{}",
        refused.reason
    );
    assert_eq!(
        packs(&fx.repo.location())
            .iter()
            .find(|(p, _)| *p == pack)
            .map(|(_, s)| *s),
        Some(size),
        "the damaged pack was rewritten"
    );
    // ...until a check passes again (here: the pack put back as it was).
    std::fs::write(&pack, &intact).unwrap();
    fx.env.run(&["check"]).assert_code(exit::COMPLETED);
    fx.env
        .run(&["prune", "--scheduled"])
        .assert_code(exit::COMPLETED);
    assert_eq!(
        last_record(&fx, Operation::Prune).outcome,
        Outcome::Completed
    );
}
