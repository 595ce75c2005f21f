//! What a running helper shows on the bus is the contract: its live
//! introspection of `/com/nyantec/igotchuu` equals
//! `dbus/com.nyantec.igotchuu1.xml` for `com.nyantec.igotchuu1`, member for
//! member and argument for argument, and so contains the seed's interface.

use igotchuu_dbus::{BUS_NAME, INTERFACE, OBJECT_PATH};
use igotchuu_e2e::busfixture::{BusFixture, BusSetup};
use igotchuu_e2e::helper::exit;
use igotchuu_e2e::iface::{self, diff, interface_members, repo_interface};
use igotchuu_e2e::{block_on, have_root, wait};

#[test]
fn live_introspection_is_the_contract() {
    if !have_root("live_introspection_is_the_contract") {
        return;
    }
    let w = BusFixture::new(BusSetup::default());
    w.fx.wrapper.hold(true);
    let run = w.fx.env.spawn(&["backup"]);
    let inv = w.fx.wrapper.wait_started(1, wait::DEADLINE);

    let xml = block_on(async {
        let conn = w.bus.connect().await;
        let p = zbus::fdo::IntrospectableProxy::builder(&conn)
            .destination(BUS_NAME)
            .unwrap()
            .path(OBJECT_PATH)
            .unwrap()
            .build()
            .await
            .unwrap();
        p.introspect().await.expect("introspect the helper")
    });
    let live = interface_members(&xml, INTERFACE);
    let contract = repo_interface(iface::CONTRACT_XML, INTERFACE);
    let differences = diff("live", &live, iface::CONTRACT_XML, &contract);
    assert!(
        differences.is_empty(),
        "the helper's interface is not the contract:\n{}\n\nlive XML:\n{xml}",
        differences.join("\n")
    );

    // The seed's interface, argument for argument (the contract file keeps
    // it; contract_files.rs checks that too, this checks the live object).
    let seed = repo_interface(iface::SEED_XML, INTERFACE);
    assert_eq!(
        seed.len(),
        5,
        "the seed fixture has one method, four signals"
    );
    for (key, m) in &seed {
        assert_eq!(live.get(key), Some(m), "{key:?} must be as in the seed");
    }

    // Nothing else is served on the object but the standard interfaces.
    let doc = iface::parse_xml(&xml);
    let mut names = iface::interface_names(&doc);
    names.sort();
    assert_eq!(
        names,
        [
            INTERFACE,
            "org.freedesktop.DBus.Introspectable",
            "org.freedesktop.DBus.Peer",
            "org.freedesktop.DBus.Properties",
        ]
    );

    inv.release();
    run.wait(wait::DEADLINE).assert_code(exit::COMPLETED);
}
