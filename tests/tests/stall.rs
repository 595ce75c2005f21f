//! A repository server that stops answering: restic makes no progress, and
//! the run must end by itself with a clear reason, its snapshots removed and
//! its lock released, so that the next run works. The server is rclone's
//! restic REST server on loopback, frozen with SIGSTOP in mid-backup.

use std::time::{Duration, Instant};

use igotchuu_dbus::Outcome;
use igotchuu_e2e::fixture::{noise, write_file, Fixture};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::servers::{self, RestServer};
use igotchuu_e2e::{have_root, run, wait};
use nix::sys::signal::Signal;

/// The test's `stall_timeout`: long enough for restic to start under the
/// recording wrapper.
const STALL: Duration = Duration::from_secs(10);

#[test]
fn a_repository_that_stops_answering_ends_the_run_and_the_next_one_works() {
    if !have_root("a_repository_that_stops_answering_ends_the_run_and_the_next_one_works") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let served = fx.env.scratch().join("served");
    std::fs::create_dir(&served).unwrap();
    let server = RestServer::start(&served);
    let restic = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        run(&mut servers::restic(
            &server.url(),
            &args,
            &fx.repo.password_file(),
            &fx.repo.cache_dir(),
        ))
    };
    restic(&["init", "-q"]);
    // Enough that restic is still reading when the server freezes.
    write_file(&fx.path("home/big.bin"), &noise(64 << 20));
    write_file(&fx.path("home/small.txt"), b"small\n");
    let base = fx.baseline();

    let mut spec = fx.spec(&["home"]);
    spec.repo = Some(server.url());
    spec.raw_top
        .push(format!("stall_timeout = {}", STALL.as_secs()));
    fx.env.write_spec(&spec);
    fx.wrapper.pause_on_status(true);
    let run = fx.env.spawn(&["backup"]);
    let inv = fx.wrapper.wait_started(1, wait::DEADLINE);
    inv.wait_paused(wait::DEADLINE);
    server.signal(Signal::SIGSTOP);
    inv.resume();
    let frozen = Instant::now();
    let done = run.wait(Duration::from_secs(120));
    let took = frozen.elapsed();
    done.assert_code(exit::FAILED);
    let out = done.output();
    assert!(
        out.contains("no progress for 10 seconds") && out.contains("stall_timeout"),
        "{done:?}"
    );
    let record = fx.env.history().runs.pop().unwrap();
    assert_eq!(record.outcome, Outcome::Failed);
    assert!(record.reason.contains("no progress"), "{record:?}");
    fx.assert_clean(&base, "a stalled run");
    // The limit, and at most as long again for restic to act on SIGINT.
    assert!(took >= STALL, "ended {took:?} after the freeze: {done:?}");
    eprintln!("the stalled run ended {took:?} after the server froze");

    // The server answers again: the next run (the default limit) completes.
    server.signal(Signal::SIGCONT);
    fx.wrapper.pause_on_status(false);
    let mut spec = fx.spec(&["home"]);
    spec.repo = Some(server.url());
    fx.env.write_spec(&spec);
    let again = fx.env.run(&["backup"]);
    let unlock_hint = again.output().contains("unlock");
    if unlock_hint {
        // restic was killed and left its lock: what the reason told the user.
        restic(&["unlock"]);
        fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    } else {
        again.assert_code(exit::COMPLETED);
    }
    let snapshots = restic(&["snapshots", "--json"]);
    assert!(snapshots.contains("\"paths\""), "{snapshots}");
    fx.assert_clean(&base, "the run after the stall");
}
