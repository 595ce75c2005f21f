//! Compiles the window's composite templates (`data/ui/*.ui`) into one
//! GResource bundle, which `main.rs` includes in the binary.
//!
//! It runs GLib's own `glib-compile-resources` (Debian: libglib2.0-dev-bin),
//! as glib-build-tools does, without that crate's newer Rust.

use std::path::Path;
use std::process::Command;

const MANIFEST: &str = "data/igotchuu-gui.gresource.xml";
const SOURCES: &str = "data/ui";
const BUNDLE: &str = "igotchuu-gui.gresource";

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let status = Command::new("glib-compile-resources")
        .args(["--sourcedir", SOURCES, "--target"])
        .arg(Path::new(&out).join(BUNDLE))
        .arg(MANIFEST)
        .status()
        .expect("run glib-compile-resources (Debian: libglib2.0-dev-bin)");
    assert!(status.success(), "glib-compile-resources failed: {status}");

    println!("cargo:rerun-if-changed={MANIFEST}");
    let deps = Command::new("glib-compile-resources")
        .args(["--sourcedir", SOURCES, "--generate-dependencies", MANIFEST])
        .output()
        .expect("run glib-compile-resources");
    for dep in String::from_utf8_lossy(&deps.stdout).split_whitespace() {
        println!("cargo:rerun-if-changed={dep}");
    }
}
