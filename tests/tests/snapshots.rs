//! `Snapshots` (issue 13): every host's snapshots, newest first, with the
//! time, host, places, profile and size, and what this machine's history
//! knows of the run that made each; for whoever polkit lets browse. And
//! `igotchuu snapshots`, the same list in a terminal.

use igotchuu_dbus::{proxy::Igotchuu1Proxy, SnapshotInfo, BUS_NAME, INTERFACE, OBJECT_PATH};
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::{block_on, have_root};

const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";

/// How much later than ours the other host's snapshot is dated: the list
/// has whole seconds, and two snapshots in one second would be in the
/// order of their ids.
const OTHER_LATER_BY: u64 = 60;

/// A backup by the helper, then one "from another host" with a profile's
/// tag, made with restic directly and dated [`OTHER_LATER_BY`] after ours
/// ended. Returns the fixture and the other snapshot's time.
fn two_hosts() -> (BusFixture, u64) {
    let w = BusFixture::new(BusSetup {
        activation: true,
        ..BusSetup::default()
    });
    w.fx.env.run(&["backup"]).assert_code(exit::COMPLETED);
    let other_time = w.fx.env.history().runs[0].finished_at + OTHER_LATER_BY;
    // restic reads --time in the local time zone: UTC, for both sides.
    let stamp = time::OffsetDateTime::from_unix_timestamp(other_time as i64)
        .unwrap()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("x.txt"), "x\n").unwrap();
    let out =
        w.fx.repo
            .command()
            .env("TZ", "UTC")
            .args(["backup", "--host", "otherhost", "--tag", "igotchuu:laptop"])
            .args(["--time", &stamp])
            .arg(elsewhere.path())
            .output()
            .unwrap();
    assert!(out.status.success(), "{out:?}");
    (w, other_time)
}

fn list_as_root(w: &BusFixture) -> Vec<SnapshotInfo> {
    block_on(async {
        let conn = w.bus.connect().await;
        let proxy = Igotchuu1Proxy::new(&conn).await.unwrap();
        proxy
            .snapshots()
            .await
            .unwrap_or_else(|e| panic!("Snapshots: {e}\n{}", w.bus.services_stdout()))
    })
}

#[test]
fn snapshots_lists_every_host_with_the_run_that_made_ours() {
    if !have_root("snapshots_lists_every_host_with_the_run_that_made_ours") {
        return;
    }
    let (w, other_time) = two_hosts();
    let list = list_as_root(&w);
    assert_eq!(list.len(), 2, "{list:#?}");
    let (other, ours) = (&list[0], &list[1]);
    // Newest first: the other host's is the later one.
    assert_eq!(other.time, other_time, "{list:#?}");
    assert!(other.time > ours.time, "{list:#?}");
    assert_eq!(other.hostname, "otherhost");
    assert_eq!(other.profile, "laptop");
    assert_eq!(other.tags, ["igotchuu:laptop"]);
    assert_eq!((other.run_started_at, other.run_outcome.as_str()), (0, ""));

    let history = w.fx.env.history();
    let run = &history.runs[0];
    let restic = w.fx.repo.snapshots();
    let saved = restic
        .iter()
        .find(|s| s.hostname != "otherhost")
        .expect("the helper's snapshot");
    assert_eq!(ours.id, saved.id);
    assert_eq!(ours.id.len(), 64);
    assert_eq!(ours.hostname, saved.hostname);
    assert_eq!(ours.username, "root");
    assert_eq!(ours.paths, [w.fx.path("home").display().to_string()]);
    assert_eq!(ours.profile, "");
    assert_eq!(ours.tags, ["igotchuu"]);
    assert!(ours.time >= run.started_at && ours.time <= run.finished_at + 1);
    assert_eq!(ours.run_started_at, run.started_at);
    assert_eq!(ours.run_outcome, "completed");
    assert!(ours.size_known);
    assert_eq!(
        ours.data_added,
        run.summary.as_ref().unwrap().data_added,
        "the size restic reported for the run"
    );
    assert!(ours.data_added > 0);

    // The terminal's list says the same.
    w.fx.env.use_no_bus();
    let out = w.fx.env.run(&["snapshots"]);
    out.assert_code(exit::COMPLETED);
    let text = out.output();
    assert!(
        text.contains(&ours.id[..8]) && text.contains(&other.id[..8]),
        "{text}"
    );
    assert!(
        text.contains("otherhost") && text.contains("laptop"),
        "{text}"
    );
}

#[test]
fn a_caller_polkit_refuses_gets_access_denied() {
    if !have_root("a_caller_polkit_refuses_gets_access_denied") {
        return;
    }
    let (w, _) = two_hosts();
    let out = w
        .bus
        .command_as("nobody", "gdbus")
        .args(["call", "--system", "--dest", BUS_NAME])
        .args(["--object-path", OBJECT_PATH])
        .args(["--method", &format!("{INTERFACE}.Snapshots")])
        .args(["--timeout", "60"])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && said.contains(ACCESS_DENIED),
        "{said}"
    );
    assert!(!said.contains("otherhost"), "{said}");
}
