//! Real remote repositories over loopback: rclone's restic REST server with
//! an htpasswd login and TLS, and openssh's sshd serving sftp with key
//! login for root. A backup completes to each and the second is
//! incremental; a wrong repository password and a refused login each fail
//! with a reason that says so, leave no snapshot, and never show the URL's
//! password.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use igotchuu_dbus::Outcome;
use igotchuu_e2e::fixture::Fixture;
use igotchuu_e2e::helper::{exit, Finished};
use igotchuu_e2e::repo::write_private;
use igotchuu_e2e::servers::{restic, RestOptions, RestServer, SftpServer};
use igotchuu_e2e::{have_root, run};

/// The REST server's login; the password must never be shown.
const USER: &str = "backup";
const LOGIN_PASSWORD: &str = "login-secret-7f3a9c";

/// A remote repository as the helper's configuration names it.
struct Remote {
    url: String,
    args: Vec<String>,
    password_file: PathBuf,
    cache: PathBuf,
}

impl Remote {
    fn new(fx: &Fixture, url: String, args: Vec<String>) -> Remote {
        let remote = Remote {
            url,
            args,
            password_file: fx.env.scratch().join("repo-password"),
            cache: fx.env.scratch().join("check-cache"),
        };
        write_private(&remote.password_file, "remote repository password\n");
        run(restic(
            &remote.url,
            &remote.args,
            &remote.password_file,
            &remote.cache,
        )
        .args(["init", "-q"]));
        remote
    }

    /// How many snapshots the repository has (checked with the real restic).
    fn snapshot_count(&self) -> usize {
        let out = run(
            restic(&self.url, &self.args, &self.password_file, &self.cache)
                .args(["snapshots", "--json"]),
        );
        serde_json::from_str::<Vec<serde_json::Value>>(&out)
            .unwrap_or_else(|e| panic!("restic snapshots: {e}: {out}"))
            .len()
    }

    /// Writes the helper's configuration for this repository.
    fn configure(&self, fx: &Fixture, url: &str, args: &[String], password_file: &Path) {
        let mut spec = fx.spec(&["home"]);
        spec.repo = Some(url.to_owned());
        spec.restic_args = args.to_vec();
        spec.password_file = Some(password_file.to_owned());
        fx.env.write_spec(&spec);
    }
}

fn some_files(fx: &Fixture) {
    fx.write_files(&BTreeMap::from([
        ("home/a.txt", "alpha\n"),
        ("home/docs/b.txt", "bravo\n"),
        ("home/docs/c.txt", "charlie\n"),
    ]));
}

/// A completed first backup, then an incremental one: every file unmodified.
fn backs_up_incrementally(fx: &Fixture, remote: &Remote) -> Vec<Finished> {
    remote.configure(fx, &remote.url, &remote.args, &remote.password_file);
    let base = fx.baseline();
    let first = fx.env.run(&["backup"]);
    first.assert_code(exit::COMPLETED);
    let second = fx.env.run(&["backup"]);
    second.assert_code(exit::COMPLETED);
    fx.assert_clean(&base, "two remote backups");
    assert_eq!(remote.snapshot_count(), 2);
    let runs = fx.env.history().runs;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let s1 = runs[0].summary.clone().expect("first summary");
    let s2 = runs[1].summary.clone().expect("second summary");
    assert_eq!(s1.files_new, 3, "{s1:?}");
    assert_eq!(
        (s2.files_new, s2.files_changed, s2.files_unmodified),
        (0, 0, 3),
        "the second backup is not incremental: {s2:?}"
    );
    assert!(runs.iter().all(|r| r.outcome == Outcome::Completed));
    vec![first, second]
}

/// A failed run: exit 1, `reason_has` in the output and the history, no
/// snapshot or mount left, none saved.
fn fails_saying(fx: &Fixture, remote: &Remote, reason_has: &str) -> Finished {
    let base = fx.baseline();
    let before = remote.snapshot_count();
    let done = fx.env.run(&["backup"]);
    done.assert_code(exit::FAILED);
    assert!(done.output().contains(reason_has), "{done:?}");
    let record = fx.env.history().runs.pop().expect("a history record");
    assert_eq!(record.outcome, Outcome::Failed);
    assert!(record.reason.contains(reason_has), "{record:?}");
    fx.assert_clean(&base, "a failed remote backup");
    assert_eq!(remote.snapshot_count(), before, "a snapshot was saved");
    done
}

/// Nothing the helper printed or stored shows `secret`.
fn never_shows(fx: &Fixture, runs: &[Finished], secret: &str) {
    for r in runs {
        assert!(!r.output().contains(secret), "{r:?}");
    }
    assert!(
        !fx.env.state_text().contains(secret),
        "the state directory has it"
    );
    let check = fx
        .env
        .command(&["check-config"])
        .output()
        .expect("check-config");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(text.contains("<redacted>"), "{text}");
    assert!(!text.contains(secret), "{text}");
}

fn rest_server(fx: &Fixture) -> RestServer {
    let data = fx.env.scratch().join("served");
    std::fs::create_dir(&data).unwrap();
    RestServer::with(
        &data,
        RestOptions {
            login: Some((USER.into(), LOGIN_PASSWORD.into())),
            tls: true,
        },
    )
}

#[test]
fn rest_with_login_and_tls_backs_up_incrementally() {
    if !have_root("rest_with_login_and_tls_backs_up_incrementally") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let server = rest_server(&fx);
    assert!(server.url().starts_with("rest:https://"));
    let remote = Remote::new(&fx, server.url(), server.restic_args());
    some_files(&fx);
    let runs = backs_up_incrementally(&fx, &remote);
    never_shows(&fx, &runs, LOGIN_PASSWORD);
}

#[test]
fn rest_wrong_password_and_refused_login_say_so() {
    if !have_root("rest_wrong_password_and_refused_login_say_so") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let server = rest_server(&fx);
    let remote = Remote::new(&fx, server.url(), server.restic_args());
    some_files(&fx);
    let wrong = fx.env.scratch().join("wrong-password");
    write_private(&wrong, "not the repository password\n");

    remote.configure(&fx, &remote.url, &remote.args, &wrong);
    let a = fails_saying(&fx, &remote, "wrong password");

    // A user the server does not know, and the right user with a wrong
    // login password: the server answers 401 to both.
    let mut runs = vec![a];
    for url in [
        server.url_as("mallory", LOGIN_PASSWORD),
        server.url_as(USER, "not-the-login"),
    ] {
        remote.configure(&fx, &url, &remote.args, &remote.password_file);
        runs.push(fails_saying(&fx, &remote, "refused the login"));
    }
    never_shows(&fx, &runs, LOGIN_PASSWORD);
    assert_eq!(remote.snapshot_count(), 0);
}

fn sftp_remote(fx: &Fixture, server: &SftpServer) -> Remote {
    Remote::new(fx, server.url(), server.restic_args(&server.key()))
}

#[test]
fn sftp_with_a_root_key_backs_up_incrementally() {
    if !have_root("sftp_with_a_root_key_backs_up_incrementally") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let server = SftpServer::start();
    let remote = sftp_remote(&fx, &server);
    some_files(&fx);
    backs_up_incrementally(&fx, &remote);
    assert!(server.repo_path().join("config").is_file());
}

#[test]
fn sftp_wrong_password_and_unknown_key_say_so() {
    if !have_root("sftp_wrong_password_and_unknown_key_say_so") {
        return;
    }
    let fx = Fixture::new(&["home"]);
    let server = SftpServer::start();
    let remote = sftp_remote(&fx, &server);
    some_files(&fx);
    let wrong = fx.env.scratch().join("wrong-password");
    write_private(&wrong, "not the repository password\n");

    remote.configure(&fx, &remote.url, &remote.args, &wrong);
    fails_saying(&fx, &remote, "wrong password");

    let stranger = server.restic_args(&server.stranger_key());
    remote.configure(&fx, &remote.url, &stranger, &remote.password_file);
    let done = fails_saying(&fx, &remote, "refused the login");
    // ssh's own words when restic passed them on before it exited (it
    // may not: restic races its ssh's stderr), else restic's alone.
    let out = done.output();
    assert!(
        out.contains("the repository server refused the login (ssh: root@127.0.0.1: Permission denied (publickey))")
            || out.contains("restic could not start an sftp session. The server may have refused the login"),
        "{done:?}"
    );
    assert_eq!(remote.snapshot_count(), 0);
}
