//! `igotchuu check-config | head -1`: a reader that has gone is no reason
//! to panic. The settings are printed to a pipe whose reading end is closed
//! before the helper starts, so its write fails with EPIPE (Rust ignores
//! SIGPIPE); `print!` would panic with "failed printing to stdout".

// Integration tests see all of the crate's dependencies and use few.
#![allow(unused_crate_dependencies)]

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use igotchuu_e2e::helper::{exit, helper_bin};

#[test]
fn check_config_into_a_closed_pipe_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("igotchuu.toml");
    std::fs::write(
        &file,
        "places = [\"/srv\"]\nsnapshot = []\nrepo = \"/srv/repo\"\n",
    )
    .unwrap();
    let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
    drop(read);
    let out = Command::new(helper_bin())
        .args(["--config", file.to_str().unwrap(), "check-config"])
        .env("LC_ALL", "C.UTF-8")
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .expect("run the helper");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(exit::COMPLETED), "{stderr}");
}
