//! A [`Fixture`] with a private system bus (and polkitd) that its helper
//! runs use, set up and torn down in the right order: polkitd, then the
//! bus (stopping what it activated), then the fixture.

use std::collections::BTreeMap;
use std::io::Read;

use igotchuu_dbus::proxy::Igotchuu1Proxy;
use zbus::proxy::CacheProperties;

use crate::fixture::{write_file, Fixture};
use crate::helper::Running;
use crate::polkit::{Polkit, Rule};
use crate::sysbus::{Activation, BusOptions, SystemBus};

/// What the bus side of a test needs. polkitd always runs, with the
/// repository's actions: the helper asks the real polkitd, as on a desktop.
#[derive(Default)]
pub struct BusSetup {
    /// Rules for polkitd.
    pub rules: Vec<Rule>,
    /// Install the activation file for `igotchuu serve` with the fixture's config.
    pub activation: bool,
    /// More bus policy (e.g. for a logind stand-in).
    pub extra_policy: String,
}

// Field order is drop order.
pub struct BusFixture {
    pub polkit: Polkit,
    pub bus: SystemBus,
    pub fx: Fixture,
}

impl BusFixture {
    /// A fixture with subvolume `home` (two small files) backed up by the
    /// config, and a bus its runs use.
    pub fn new(setup: BusSetup) -> Self {
        let fx = Fixture::new(&["home"]);
        fx.write_files(&BTreeMap::from([
            ("home/a.txt", "a\n"),
            ("home/b/c.txt", "c\n"),
        ]));
        fx.env.write_spec(&fx.spec(&["home"]));
        let options = BusOptions {
            extra_policy: setup.extra_policy,
            activation: setup.activation.then(|| Activation::helper(&fx.env)),
            ..BusOptions::default()
        };
        let bus = SystemBus::with(options);
        fx.env.use_bus(bus.address());
        let polkit = Polkit::with_rules(&bus, &setup.rules);
        BusFixture { polkit, bus, fx }
    }

    /// `igotchuu serve`, returned once it owns the name. Until Start it
    /// sends nothing, so a client that subscribes now misses none of a run.
    pub fn serve(&self) -> Running {
        let run = self.fx.env.spawn(&["serve"]);
        crate::block_on(async {
            let conn = self.bus.connect().await;
            self.bus
                .wait_owner(&conn, igotchuu_dbus::BUS_NAME, crate::wait::DEADLINE)
                .await;
        });
        run
    }

    /// Root calls Start on the helper ("Back up now"), which must accept.
    pub fn start_as_root(&self) {
        crate::block_on(async {
            let conn = self.bus.connect().await;
            let helper = Igotchuu1Proxy::builder(&conn)
                .cache_properties(CacheProperties::No)
                .build()
                .await
                .expect("proxy");
            helper.start().await.expect("root may start");
        });
    }

    /// Makes the backup take a while and report often: `n` small files in
    /// `home/many/` (restic reports progress as files complete, at most
    /// `RESTIC_PROGRESS_FPS` times a second, and else once a second).
    pub fn many_files(&self, n: usize) {
        let dir = self.fx.path("home/many");
        for d in 0..n.div_ceil(500) {
            std::fs::create_dir_all(dir.join(format!("{d:03}"))).expect("mkdir");
        }
        for i in 0..n {
            let path = dir.join(format!("{:03}/{i:06}", i / 500));
            std::fs::write(&path, format!("file {i}\n")).expect("write");
        }
    }

    /// Makes the backup take a while: `mib` MiB of incompressible data in
    /// `home`, and restic's writes to the repository limited to `kib_per_s`.
    /// restic prints status all along (at `RESTIC_PROGRESS_FPS`).
    pub fn slow_backup(&self, mib: usize, kib_per_s: u32) {
        let mut data = vec![0u8; mib << 20];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut data))
            .expect("read /dev/urandom");
        write_file(&self.fx.path("home/big.bin"), &data);
        for i in 0..200 {
            write_file(
                &self.fx.path(&format!("home/many/{i:03}.txt")),
                format!("{i}\n").as_bytes(),
            );
        }
        let mut spec = self.fx.spec(&["home"]);
        spec.restic_args = vec!["--limit-upload".into(), kib_per_s.to_string()];
        self.fx.env.write_spec(&spec);
    }
}
