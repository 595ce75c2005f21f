//! A run lets go of `com.nyantec.IGotChuu` before it lets go of the run
//! lock. The next operation in line takes the lock, then the name; were
//! the name still taken when it got the lock, it would give up with 75
//! (another run owns the name). Checked at the moment the lock goes: a
//! thread blocks in flock(2) on the helper's lock file and, the instant it
//! has it, asks the bus (on a connection opened beforehand) whether the
//! name has an owner.

use std::fs::OpenOptions;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use igotchuu_dbus::BUS_NAME;
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::{block_on, have_root, wait};
use nix::fcntl::{Flock, FlockArg};
use zbus::names::BusName;

#[test]
fn the_name_is_free_when_the_lock_goes() {
    if !have_root("the_name_is_free_when_the_lock_goes") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    w.fx.wrapper.hold(true);
    let backup = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);
    let lock_path = w.fx.env.state_dir().join("lock");

    let conn = block_on(w.bus.connect());
    let dbus = block_on(zbus::fdo::DBusProxy::new(&conn)).expect("the bus's own proxy");
    let name = BusName::try_from(BUS_NAME).unwrap();
    assert!(
        block_on(dbus.name_has_owner(name.clone())).unwrap(),
        "the backup owns the name while it runs"
    );

    let (tx, rx) = mpsc::channel();
    let asker = std::thread::spawn(move || {
        let file = OpenOptions::new().read(true).open(&lock_path).unwrap();
        // Blocks until the backup lets go.
        let held = Flock::lock(file, FlockArg::LockExclusive).expect("flock");
        let owned = block_on(dbus.name_has_owner(name)).expect("NameHasOwner");
        drop(held);
        tx.send((owned, Instant::now())).unwrap();
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        rx.try_recv().is_err(),
        "the lock was free while the backup ran"
    );

    inv.release();
    let (owned, _) = rx
        .recv_timeout(wait::DEADLINE)
        .expect("the backup let go of the lock");
    asker.join().unwrap();
    backup.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
    assert!(
        !owned,
        "{BUS_NAME} was still owned when the run lock was let go: a run \
         waiting for the lock would then find the name taken"
    );
}
