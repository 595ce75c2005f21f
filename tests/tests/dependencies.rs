//! The dependency tree keeps one D-Bus stack: zbus 5, shared by the helper,
//! ksni, notify-rust and zbus_polkit. A second zbus (notify-rust 4.19 moved
//! to zbus 6) doubles the tray's code and memory and splits its executors.

use igotchuu_e2e::repo_root;

/// The versions of `crate_name` that Cargo.lock pins.
fn locked_versions(lock: &str, crate_name: &str) -> Vec<String> {
    let name_line = format!("name = \"{crate_name}\"");
    let mut lines = lock.lines();
    let mut versions = Vec::new();
    while let Some(line) = lines.next() {
        if line == name_line {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = ")) {
                versions.push(v.trim_matches('"').to_owned());
            }
        }
    }
    versions
}

#[test]
fn one_zbus_and_it_is_zbus_5() {
    let lock = std::fs::read_to_string(repo_root().join("Cargo.lock")).expect("read Cargo.lock");
    for name in ["zbus", "zvariant", "zbus_names"] {
        let versions = locked_versions(&lock, name);
        assert_eq!(versions.len(), 1, "{name} is locked at {versions:?}");
    }
    let zbus = &locked_versions(&lock, "zbus")[0];
    assert!(zbus.starts_with("5."), "zbus {zbus}: ksni 0.3 needs zbus 5");
}

#[test]
fn locked_versions_reads_every_entry() {
    let lock = "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\n\n[[package]]\nname = \"a\"\nversion = \"2.1.0\"\n";
    assert_eq!(locked_versions(lock, "a"), ["1.0.0", "2.1.0"]);
    assert!(locked_versions(lock, "b").is_empty());
}
