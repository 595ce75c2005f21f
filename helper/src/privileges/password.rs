//! `password_command`, run by the helper with no capabilities at all, its
//! output handed to restic through a pipe.
//!
//! restic would run the command itself, as its child: as uid 0 with
//! restic's capabilities, which no child can shed. So the helper runs it,
//! split into words as restic splits it, with an empty capability set and
//! no_new_privs, and restic gets a fixed stand-in as its password command:
//! a shell line that reads the outcome from a pipe the helper fills. On
//! success the stand-in prints the password; on failure it exits with the
//! command's exit code, and restic says "Resolving password failed: exit
//! status N" as it did before, which `restic::failure` classifies as
//! before. The password is never in an argument, a variable or a file.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{ExitStatus, Stdio};

use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use super::caps::{self, CapSet};
use crate::priority;
use crate::restic::lines::BoundedLines;

/// The variable restic takes the password command from.
const PASSWORD_COMMAND_VAR: &str = "RESTIC_PASSWORD_COMMAND";
/// The outcome line and the password go into the pipe in one write of at
/// most `PIPE_BUF` bytes: into an empty pipe, such a write never blocks.
const MAX_WRITE: usize = libc::PIPE_BUF;
/// Room for the outcome line ("0\n").
const MAX_PASSWORD: usize = MAX_WRITE - 2;
/// Exit codes for a command that never ran, as a shell gives them.
const NOT_FOUND: u8 = 127;
const NOT_EXECUTABLE: u8 = 126;
const OTHER_FAILURE: u8 = 1;

/// Runs `command` for `restic` (a `restic backup` not yet spawned, whose
/// environment the command gets too) and gives restic a stand-in that
/// takes the outcome from a pipe. The command starts now, in a task of
/// the current tokio runtime, and is killed if `restic` is dropped before
/// it ends.
pub fn hand_over(restic: &mut std::process::Command, command: &str) {
    let (read, write) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(pipe) => pipe,
        Err(e) => {
            // Never let restic run it with its capabilities: restic fails
            // to get a password, and says so.
            tracing::error!("cannot make a pipe for password_command: {e}");
            restic.env(PASSWORD_COMMAND_VAR, "/bin/false");
            return;
        }
    };
    let env: Vec<(OsString, Option<OsString>)> = restic
        .get_envs()
        .filter(|(k, _)| *k != PASSWORD_COMMAND_VAR)
        .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
        .collect();
    restic.env(PASSWORD_COMMAND_VAR, stand_in(read.as_raw_fd()));

    // Dropped with `restic`'s last pre_exec closure, that is with `restic`:
    // the command then has nobody left to serve.
    let (keep, dropped) = oneshot::channel::<()>();
    let fd = read.as_raw_fd();
    // SAFETY: fcntl(2) is async-signal-safe; nothing is allocated.
    unsafe {
        restic.pre_exec(move || {
            let _ = (&keep, &read);
            // restic, and the stand-in it starts, inherit the read end.
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let command = command.to_owned();
    tokio::spawn(async move {
        tokio::select! {
            outcome = run(&command, env) => deliver(write, &outcome),
            _ = dropped => {}
        }
    });
}

/// restic's password command: reads the outcome line from the pipe
/// (through /proc, since dash takes only one-digit descriptors); a 0
/// means the password follows. restic splits it into words itself
/// (`SplitShellStrings`), so it holds no backslash and no inner `'`.
fn stand_in(fd: RawFd) -> String {
    format!(
        "/bin/sh -c 'exec 3</proc/self/fd/{fd}; read -r code <&3 || exit 1; \
         [ \"$code\" = 0 ] || exit \"$code\"; exec cat <&3'"
    )
}

/// What the command gave.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Password(Vec<u8>),
    /// Failed, with this exit code for the stand-in.
    Failed(u8),
}

/// Writes the outcome line, and the password after it, in one write.
fn deliver(write: OwnedFd, outcome: &Outcome) {
    let mut buf = Vec::with_capacity(MAX_WRITE);
    match outcome {
        Outcome::Password(password) => {
            buf.extend_from_slice(b"0\n");
            buf.extend_from_slice(password);
        }
        Outcome::Failed(code) => buf.extend_from_slice(format!("{code}\n").as_bytes()),
    }
    debug_assert!(buf.len() <= MAX_WRITE);
    if let Err(e) = std::fs::File::from(write).write_all(&buf) {
        // restic ended without asking (EPIPE); nothing is waiting for it.
        tracing::debug!("handing the password to restic: {e}");
    }
}

/// Runs the command with no capabilities and collects its password.
async fn run(command: &str, env: Vec<(OsString, Option<OsString>)>) -> Outcome {
    let words = match split_words(command) {
        Ok(words) => words,
        Err(why) => {
            tracing::error!("password_command cannot be split into words: {why}");
            return Outcome::Failed(OTHER_FAILURE);
        }
    };
    let mut cmd = tokio::process::Command::new(&words[0]);
    cmd.args(&words[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.env_remove(PASSWORD_COMMAND_VAR);
    priority::plain_child(&mut cmd);
    // SAFETY: setpgid(2) and limit_to make system calls only.
    unsafe {
        cmd.pre_exec(|| {
            // Out of the terminal's process group, as restic's child was:
            // a Ctrl-C reaches the helper, which stops the run in order.
            nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0))?;
            caps::limit_to(CapSet::EMPTY)
        });
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            tracing::error!("password_command could not be started: {e}");
            return Outcome::Failed(match e.kind() {
                io::ErrorKind::NotFound => NOT_FOUND,
                io::ErrorKind::PermissionDenied => NOT_EXECUTABLE,
                _ => OTHER_FAILURE,
            });
        }
    };
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = BoundedLines::new(child.stderr.take().expect("piped"));
    let mut password = Vec::new();
    let read_password = async {
        let read = (&mut stdout)
            .take(MAX_PASSWORD as u64 + 1)
            .read_to_end(&mut password)
            .await;
        if password.len() > MAX_PASSWORD {
            // It may go on printing; its stderr ends when it does.
            let _ = child.start_kill();
        }
        read
    };
    let log_stderr = async {
        while let Ok(Some(line)) = stderr.next_line().await {
            tracing::warn!("password_command: {}", line.text);
        }
    };
    let (read, ()) = tokio::join!(read_password, log_stderr);
    if let Err(e) = read {
        tracing::error!("reading password_command's output: {e}");
        return Outcome::Failed(OTHER_FAILURE);
    }
    if password.len() > MAX_PASSWORD {
        tracing::error!("password_command printed more than {MAX_PASSWORD} bytes");
        return Outcome::Failed(OTHER_FAILURE);
    }
    match child.wait().await {
        Ok(status) if status.success() => Outcome::Password(password),
        Ok(status) => Outcome::Failed(exit_code(status)),
        Err(e) => {
            tracing::error!("waiting for password_command: {e}");
            Outcome::Failed(OTHER_FAILURE)
        }
    }
}

/// The code a shell would report for `status`: its exit code, or 128 +
/// the signal that ended it.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(OTHER_FAILURE).max(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(OTHER_FAILURE),
        _ => OTHER_FAILURE,
    }
}

/// Splits `command` into words exactly as restic does
/// (`backend.SplitShellStrings`, the same from 0.14 to 0.18): at white
/// space and unquoted backslashes, with '…' and "…" quoting and a
/// backslash keeping the next quote character literal.
fn split_words(command: &str) -> Result<Vec<String>, &'static str> {
    let mut quote: Option<char> = None;
    let mut last = '\0';
    let mut splits_at = |c: char| -> bool {
        if last != '\\' {
            if quote == Some(c) {
                quote = None;
                return true;
            }
            if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
                return true;
            }
        }
        last = c;
        quote.is_none() && (c == '\\' || c.is_whitespace())
    };
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in command.char_indices() {
        if splits_at(c) {
            if let Some(s) = start.take() {
                words.push(command[s..i].to_owned());
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        words.push(command[s..].to_owned());
    }
    match quote {
        Some('\'') => return Err("single-quoted string not terminated"),
        Some(_) => return Err("double-quoted string not terminated"),
        None => {}
    }
    if words.is_empty() {
        return Err("command string is empty");
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_as_restic_splits_them() {
        // Cases from restic's internal/backend/shell_split_test.go.
        let cases: &[(&str, &[&str])] = &[
            ("foo", &["foo"]),
            ("'foo'", &["foo"]),
            ("foo bar baz", &["foo", "bar", "baz"]),
            ("foo 'bar' baz", &["foo", "bar", "baz"]),
            ("'bar box' baz", &["bar box", "baz"]),
            ("\"bar 'box'\" baz", &["bar 'box'", "baz"]),
            ("'bar \"box\"' baz", &["bar \"box\"", "baz"]),
            ("\\\"bar box baz", &["\"bar", "box", "baz"]),
            ("\"bar/foo/x\" \"box baz\"", &["bar/foo/x", "box baz"]),
            (
                "secret-tool lookup restic laptop",
                &["secret-tool", "lookup", "restic", "laptop"],
            ),
        ];
        for (input, words) in cases {
            assert_eq!(split_words(input).unwrap(), *words, "{input}");
        }
        assert!(split_words("foo 'bar").is_err());
        assert!(split_words("foo \"bar").is_err());
        assert!(split_words("  ").is_err());
    }

    #[test]
    fn the_stand_in_survives_restics_splitting() {
        let words = split_words(&stand_in(17)).expect("splits");
        assert_eq!(words[..2], ["/bin/sh", "-c"]);
        assert_eq!(words.len(), 3);
        assert!(
            words[2].starts_with("exec 3</proc/self/fd/17;"),
            "{}",
            words[2]
        );
    }

    #[test]
    fn exit_codes_are_a_shells() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 137);
    }

    async fn outcome_of(command: &str) -> Outcome {
        run(command, Vec::new()).await
    }

    #[tokio::test]
    async fn the_command_runs_without_capabilities() {
        let Outcome::Password(out) =
            outcome_of("grep -E ^Cap(Eff|Prm|Inh|Amb) /proc/self/status").await
        else {
            panic!("grep failed");
        };
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(text.lines().count(), 4, "{text}");
        for line in text.lines() {
            assert!(line.ends_with("\t0000000000000000"), "{text}");
        }
    }

    #[tokio::test]
    async fn failures_become_exit_codes() {
        assert_eq!(outcome_of("sh -c 'exit 3'").await, Outcome::Failed(3));
        assert_eq!(
            outcome_of("igotchuu-no-such-command").await,
            Outcome::Failed(NOT_FOUND)
        );
        assert_eq!(outcome_of("'unterminated").await, Outcome::Failed(1));
        let long = format!("head -c {} /dev/zero", MAX_PASSWORD + 1);
        assert_eq!(outcome_of(&long).await, Outcome::Failed(1));
        let just = format!("head -c {MAX_PASSWORD} /dev/zero");
        assert!(matches!(outcome_of(&just).await, Outcome::Password(p) if p.len() == MAX_PASSWORD));
    }
}
