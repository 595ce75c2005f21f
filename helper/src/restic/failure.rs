//! What a failed restic run means for the user. OWNER: restic-parser agent.
//!
//! Exit code 3 is **not** a failure: restic saved a snapshot, but some files
//! could not be read and are missing from it (success with warnings). So
//! [`classify`] is only called for exits other than 0 and 3.
//!
//! restic 0.14 (Debian 12) exits 1 for every fatal error, so the kind of
//! failure is read from its stderr text. From 0.17 the exit code says it
//! (10 no repository, 11 lock failed, 12 wrong password from 0.17.1, 130
//! interrupted), and 0.18+ also prints an `exit_error` JSON message.

use super::message::{clean_text, ExitError, MAX_TEXT_BYTES};
use std::io;

/// How many of restic's last plain-text stderr lines are kept.
pub const STDERR_TAIL_LINES: usize = 20;

/// restic's exit codes (`cmd/restic/main.go`).
mod exit_code {
    /// 0.17+.
    pub const NO_REPOSITORY: i32 = 10;
    /// 0.17+.
    pub const LOCK_FAILED: i32 = 11;
    /// 0.17.1+.
    pub const WRONG_PASSWORD: i32 = 12;
    /// Every version, after SIGINT.
    pub const INTERRUPTED: i32 = 130;
}

/// Texts restic prints, seen from 0.14 on this machine and in later
/// versions' sources. Matched case-insensitively.
mod text {
    pub const WRONG_PASSWORD: &str = "wrong password or no key found";
    pub const PASSWORD_FAILED: &str = "resolving password failed";
    /// 0.17+: "Fatal: repository does not exist: …".
    pub const NO_REPOSITORY: &str = "repository does not exist";
    /// 0.14: "Fatal: unable to open config file: stat …/config: no such file
    /// or directory". The same opening with another cause (say,
    /// "permission denied") is not a missing repository.
    pub const NO_CONFIG_FILE: &str = "unable to open config file";
    pub const NO_SUCH_FILE: &str = "no such file or directory";
    pub const LOCKED: &str = "repository is already locked";
    /// "…already locked exclusively by PID 7 on nas by root (UID 0, GID 0)".
    pub const LOCK_HOLDER: &str = "by pid ";
    pub const NO_SPACE: &str = "no space left on device";
    pub const INTERRUPTED: &str = "signal interrupt received";
    /// A REST server's answer to a login it does not accept.
    pub const HTTP_UNAUTHORIZED: &str = "401 unauthorized";
    /// ssh's refusal, as restic passes it on: "subprocess ssh:
    /// root@host: Permission denied (publickey)."
    pub const SSH_DENIED: &str = "permission denied (";
    pub const SSH_PREFIX: &str = "subprocess ssh: ";
    /// ssh ended before the sftp server answered; restic may exit before
    /// it has passed on what ssh said, so this can come alone.
    pub const NO_SFTP_SESSION: &str = "unable to start the sftp session";
    pub const FATAL_PREFIX: &str = "Fatal:";
}

/// Why a restic run failed, and what the user can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResticFailure {
    #[error(
        "restic is not installed: the `restic` program was not found. \
         Install it, for example with `apt install restic`."
    )]
    NotInstalled,
    #[error("restic could not be started: {message}")]
    SpawnFailed { message: String },
    #[error(
        "restic could not open the repository: wrong password. Check \
         `password_file` or `password_command` in the configuration."
    )]
    WrongPassword,
    #[error(
        "restic could not get the repository password ({message}). Check \
         `password_file` or `password_command` in the configuration."
    )]
    PasswordUnavailable { message: String },
    #[error(
        "the repository server refused the login ({said}). Check the user \
         and password in `repo` for a REST server, or the user and ssh key \
         for sftp (root's ssh configuration, or `-o sftp.command=…` in \
         `restic_args`)."
    )]
    LoginRefused { said: String },
    #[error(
        "restic could not start an sftp session{}. The server may have \
         refused the login, or not be reachable: check the host, the user \
         and the ssh key (root's ssh configuration, or `-o sftp.command=…` \
         in `restic_args`); `ssh` run by hand as root shows why.",
        ssh_said.as_ref().map(|s| format!(" (ssh: {s})")).unwrap_or_default()
    )]
    NoSftpSession { ssh_said: Option<String> },
    #[error(
        "there is no restic repository at the configured location. Check \
         `repo` or `repository_file` in the configuration; to create a new \
         repository there, run `igotchuu restic -- init`."
    )]
    NoRepository,
    #[error(
        "the repository is locked by another restic process{}. Wait for it \
         to finish; if no restic is running, remove the stale lock with \
         `igotchuu restic -- unlock`.",
        holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    Locked {
        /// Who holds it, as restic said: "PID 7 on host nas, user root".
        holder: Option<String>,
    },
    #[error(
        "a disk restic writes to is full: {said}. Free some space there \
         (for a local repository, on its disk), then start the backup again."
    )]
    NoSpace { said: String },
    #[error("restic was interrupted before it saved a snapshot. Start the backup again.")]
    Interrupted,
    #[error(
        "restic was killed by {} before it saved a snapshot. {}",
        signal_name(*.signal),
        signal_hint(*.signal)
    )]
    Killed { signal: i32 },
    #[error("restic failed: {message}")]
    Fatal { message: String },
    #[error("restic failed with {}; its output is in the log.", describe_code(*.code))]
    Other { code: Option<i32> },
}

impl ResticFailure {
    /// The failure for a restic that could not be started at all.
    pub fn from_spawn_error(err: &io::Error) -> Self {
        if err.kind() == io::ErrorKind::NotFound {
            ResticFailure::NotInstalled
        } else {
            ResticFailure::SpawnFailed {
                message: clean_text(&err.to_string(), MAX_TEXT_BYTES),
            }
        }
    }
}

fn signal_name(signal: i32) -> String {
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(known) => format!("{} (signal {signal})", known.as_str()),
        Err(_) => format!("signal {signal}"),
    }
}

/// What a signal that ended restic usually means.
fn signal_hint(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL often means the system ran out of memory; see the system log.",
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGABRT | libc::SIGFPE => {
            "restic crashed; start the backup again, and if it crashes again, \
             check the restic binary (`restic version`) and the system log."
        }
        _ => "Something outside igotchuu stopped it; see the system log.",
    }
}

fn describe_code(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "no exit code".to_owned(),
    }
}

/// What a restic run that ended with `code` (or was killed by `signal`)
/// means. `exit_error` is restic 0.18+'s own account; `stderr_tail` is its
/// last plain-text stderr lines (see [`StderrTail`]). Not for exit 0 or 3,
/// which are successes.
pub fn classify(
    code: Option<i32>,
    signal: Option<i32>,
    exit_error: Option<&ExitError>,
    stderr_tail: &[String],
) -> ResticFailure {
    if let Some(signal) = signal {
        return if signal == libc::SIGINT {
            ResticFailure::Interrupted
        } else {
            ResticFailure::Killed { signal }
        };
    }
    // restic's own code in exit_error and the process's code agree; take
    // either.
    match code.or(exit_error.map(|e| e.code)) {
        Some(exit_code::NO_REPOSITORY) => return ResticFailure::NoRepository,
        // 0.17+ also exits 11 when it could not write its lock.
        Some(exit_code::LOCK_FAILED) if !mentions(stderr_tail, exit_error, text::NO_SPACE) => {
            return ResticFailure::Locked {
                holder: lock_holder(stderr_tail, exit_error),
            }
        }
        Some(exit_code::WRONG_PASSWORD) => return ResticFailure::WrongPassword,
        Some(exit_code::INTERRUPTED) => return ResticFailure::Interrupted,
        _ => {}
    }
    // Older restic exits 1 for all of these: read what it said.
    let said: Vec<&str> = exit_error
        .map(|e| e.message.as_str())
        .into_iter()
        .chain(stderr_tail.iter().map(String::as_str))
        .collect();
    let lower: Vec<String> = said.iter().map(|line| line.to_lowercase()).collect();
    let any = |needle: &str| lower.iter().any(|line| line.contains(needle));
    if any(text::WRONG_PASSWORD) {
        return ResticFailure::WrongPassword;
    }
    if let Some(line) = said
        .iter()
        .find(|line| line.to_lowercase().contains(text::PASSWORD_FAILED))
    {
        // 0.14 prints "Resolving password failed: exit status 1"; 0.18's
        // exit_error says "Fatal: Resolving password failed: …".
        let line = line.strip_prefix(text::FATAL_PREFIX).unwrap_or(line);
        let message = line
            .split_once(':')
            .map_or(line, |(_, rest)| rest)
            .trim_start();
        return ResticFailure::PasswordUnavailable {
            message: clean_text(message, MAX_TEXT_BYTES),
        };
    }
    if any(text::HTTP_UNAUTHORIZED) {
        return ResticFailure::LoginRefused {
            said: "HTTP 401 Unauthorized".to_owned(),
        };
    }
    if let Some(line) = said.iter().find(|line| {
        let line = line.to_lowercase();
        line.starts_with(text::SSH_PREFIX) && line.contains(text::SSH_DENIED)
    }) {
        let said = line[text::SSH_PREFIX.len()..].trim_end_matches('.');
        return ResticFailure::LoginRefused {
            said: format!("ssh: {}", clean_text(said, MAX_TEXT_BYTES)),
        };
    }
    if any(text::NO_SFTP_SESSION) {
        let ssh_said = said
            .iter()
            .rev()
            .filter_map(|line| line.strip_prefix(text::SSH_PREFIX))
            .find(|line| !line.starts_with("Warning: Permanently added"))
            .map(|line| clean_text(line.trim_end_matches('.'), MAX_TEXT_BYTES));
        return ResticFailure::NoSftpSession { ssh_said };
    }
    if any(text::NO_REPOSITORY)
        || lower
            .iter()
            .any(|line| line.contains(text::NO_CONFIG_FILE) && line.contains(text::NO_SUCH_FILE))
    {
        return ResticFailure::NoRepository;
    }
    if let Some(line) = said
        .iter()
        .find(|l| l.to_lowercase().contains(text::NO_SPACE))
    {
        let said = line.strip_prefix(text::FATAL_PREFIX).unwrap_or(line).trim();
        return ResticFailure::NoSpace {
            said: clean_text(said, MAX_TEXT_BYTES),
        };
    }
    // "unable to create lock" alone is not someone else's lock: that
    // failure's cause is on another line (a full disk, say).
    if any(text::LOCKED) {
        return ResticFailure::Locked {
            holder: lock_holder(stderr_tail, exit_error),
        };
    }
    if any(text::INTERRUPTED) {
        return ResticFailure::Interrupted;
    }
    let fatal = stderr_tail
        .iter()
        .rev()
        .find_map(|line| line.strip_prefix(text::FATAL_PREFIX))
        .or_else(|| exit_error.map(|e| e.message.as_str()))
        .map(|message| message.strip_prefix(text::FATAL_PREFIX).unwrap_or(message))
        .map(|message| clean_text(message, MAX_TEXT_BYTES))
        .filter(|message| !message.is_empty());
    match fatal {
        Some(message) => ResticFailure::Fatal { message },
        None => ResticFailure::Other { code },
    }
}

/// Whether restic said `needle` (lower case) anywhere.
fn mentions(stderr_tail: &[String], exit_error: Option<&ExitError>, needle: &str) -> bool {
    exit_error
        .map(|e| e.message.as_str())
        .into_iter()
        .chain(stderr_tail.iter().map(String::as_str))
        .any(|line| line.to_lowercase().contains(needle))
}

/// "PID 7 on host nas, user root" (and whether the lock is exclusive) from
/// restic's "repository is already locked [exclusively] by PID 7 on nas by
/// root (UID 0, GID 0)".
fn lock_holder(stderr_tail: &[String], exit_error: Option<&ExitError>) -> Option<String> {
    exit_error
        .map(|e| e.message.as_str())
        .into_iter()
        .chain(stderr_tail.iter().map(String::as_str))
        .find_map(|line| {
            let lower = line.to_lowercase();
            let at = lower.find(text::LOCKED)?;
            let rest = &line[at + text::LOCKED.len()..];
            let exclusive = rest.trim_start().starts_with("exclusively");
            let by = rest.to_lowercase().find(text::LOCK_HOLDER)?;
            let rest = &rest[by + text::LOCK_HOLDER.len()..];
            let (pid, rest) = rest.split_once(" on ")?;
            let (host, rest) = rest.split_once(" by ")?;
            let user = rest.split(" (").next()?.trim();
            let kind = if exclusive { ", an exclusive lock" } else { "" };
            Some(clean_text(
                &format!("PID {pid} on host {host}, user {user}{kind}"),
                MAX_TEXT_BYTES,
            ))
        })
}

/// Whether `line` is part of a Go stack trace, which restic 0.14 prints
/// after some errors ("github.com/…/local.(*Local).Save", "runtime/proc.go:250"):
/// logged, but kept out of the tail so that the error above it is not
/// pushed out.
fn is_stack_frame(line: &str) -> bool {
    if line.is_empty() || line.contains(char::is_whitespace) || line.contains("://") {
        return false;
    }
    let file_line = line.rsplit_once(':').is_some_and(|(file, n)| {
        (file.ends_with(".go") || file.ends_with(".s"))
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
    });
    let function = [
        "main.",
        "runtime.",
        "github.com/",
        "golang.org/",
        "gopkg.in/",
    ]
    .iter()
    .any(|p| line.starts_with(p));
    file_line || function
}

/// The last [`STDERR_TAIL_LINES`] plain-text lines restic wrote to stderr
/// (its JSON messages are handled on their own), each cleaned and bounded,
/// for [`classify`] and the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StderrTail {
    lines: Vec<String>,
}

impl StderrTail {
    /// Keeps `line` (a `Parsed::Text` from stderr), dropping the oldest if
    /// full. Blank lines carry nothing and are skipped.
    pub fn push(&mut self, line: &str) {
        let line = clean_text(line, MAX_TEXT_BYTES);
        if line.is_empty() || is_stack_frame(&line) {
            return;
        }
        if self.lines.len() == STDERR_TAIL_LINES {
            self.lines.remove(0);
        }
        self.lines.push(line);
    }

    /// Oldest first.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::{parse_line, Message, Parsed};
    use super::*;

    const V014_WRONG_PASSWORD: &str = include_str!("fixtures/restic-0.14-wrong-password.txt");
    const V014_NO_REPOSITORY: &str = include_str!("fixtures/restic-0.14-no-repository.txt");
    const V014_LOCKED: &str = include_str!("fixtures/restic-0.14-locked.txt");
    const V014_INTERRUPTED: &str = include_str!("fixtures/restic-0.14-interrupted-stderr.txt");
    const V014_PASSWORD_COMMAND: &str =
        include_str!("fixtures/restic-0.14-password-command-failed.txt");
    const V014_UNREADABLE_ERR: &str = include_str!("fixtures/restic-0.14-unreadable-stderr.jsonl");
    const V016_WRONG_PASSWORD: &str = include_str!("fixtures/restic-0.16-wrong-password.txt");
    const V0170_NO_REPOSITORY: &str = include_str!("fixtures/restic-0.17.0-no-repository.txt");
    const V0171_WRONG_PASSWORD: &str = include_str!("fixtures/restic-0.17.1-wrong-password.txt");
    const V018_NO_REPOSITORY: &str = include_str!("fixtures/restic-0.18-no-repository.jsonl");
    /// Captured from Debian 13's restic 0.18.0 with a password command
    /// that exits 3.
    const V018_PASSWORD_COMMAND: &str =
        include_str!("fixtures/restic-0.18-password-command-failed.jsonl");
    const V019_WRONG_PASSWORD: &str = include_str!("fixtures/restic-0.19-wrong-password.jsonl");

    /// Feeds stderr through the parser the way the runner does: JSON
    /// messages apart, plain lines into the tail.
    fn read_stderr(stderr: &str) -> (StderrTail, Option<ExitError>) {
        let mut tail = StderrTail::default();
        let mut exit = None;
        for line in stderr.lines() {
            match parse_line(line) {
                Parsed::Text(text) => tail.push(&text),
                Parsed::Message(Message::ExitError(e)) => exit = Some(e),
                _ => {}
            }
        }
        (tail, exit)
    }

    fn classify_stderr(code: i32, stderr: &str) -> ResticFailure {
        let (tail, exit) = read_stderr(stderr);
        classify(Some(code), None, exit.as_ref(), tail.lines())
    }

    #[test]
    fn restic_0_14_texts_with_exit_1() {
        assert_eq!(
            classify_stderr(1, V014_WRONG_PASSWORD),
            ResticFailure::WrongPassword
        );
        assert_eq!(
            classify_stderr(1, V014_NO_REPOSITORY),
            ResticFailure::NoRepository
        );
        let locked = classify_stderr(1, V014_LOCKED);
        assert_eq!(
            locked,
            ResticFailure::Locked {
                holder: Some("PID 11227 on host vm, user nobody, an exclusive lock".into())
            }
        );
        assert!(locked
            .to_string()
            .starts_with("the repository is locked by another restic process (PID 11227 on host vm, user nobody, an exclusive lock). Wait"));
        assert_eq!(
            classify_stderr(1, V014_PASSWORD_COMMAND),
            ResticFailure::PasswordUnavailable {
                message: "exit status 1".into()
            }
        );
        assert_eq!(
            classify_stderr(130, V014_INTERRUPTED),
            ResticFailure::Interrupted
        );
        // The same text without the exit code still says it.
        assert_eq!(
            classify_stderr(1, V014_INTERRUPTED),
            ResticFailure::Interrupted
        );
    }

    #[test]
    fn restic_0_18_failed_password_command_names_its_exit_status() {
        assert_eq!(
            classify_stderr(1, V018_PASSWORD_COMMAND),
            ResticFailure::PasswordUnavailable {
                message: "exit status 3".into()
            }
        );
    }

    #[test]
    fn newer_exit_codes_decide_without_text() {
        assert_eq!(
            classify(Some(10), None, None, &[]),
            ResticFailure::NoRepository
        );
        assert_eq!(
            classify(Some(11), None, None, &[]),
            ResticFailure::Locked { holder: None }
        );
        assert_eq!(
            classify(Some(12), None, None, &[]),
            ResticFailure::WrongPassword
        );
        assert_eq!(
            classify(Some(130), None, None, &[]),
            ResticFailure::Interrupted
        );
        assert_eq!(
            classify_stderr(10, V0170_NO_REPOSITORY),
            ResticFailure::NoRepository
        );
        assert_eq!(
            classify_stderr(12, V0171_WRONG_PASSWORD),
            ResticFailure::WrongPassword
        );
        // 0.16 has no code of its own for it.
        assert_eq!(
            classify_stderr(1, V016_WRONG_PASSWORD),
            ResticFailure::WrongPassword
        );
    }

    #[test]
    fn exit_error_messages_are_used() {
        assert_eq!(
            classify_stderr(10, V018_NO_REPOSITORY),
            ResticFailure::NoRepository
        );
        assert_eq!(
            classify_stderr(12, V019_WRONG_PASSWORD),
            ResticFailure::WrongPassword
        );
        let (tail, exit) = read_stderr(V019_WRONG_PASSWORD);
        assert!(tail.lines().is_empty());
        // Without the process's code, exit_error's code is enough.
        assert_eq!(
            classify(None, None, exit.as_ref(), &[]),
            ResticFailure::WrongPassword
        );
        let other = ExitError {
            code: 1,
            message: "Fatal: unable to save snapshot: disk full".into(),
        };
        assert_eq!(
            classify(Some(1), None, Some(&other), &[]),
            ResticFailure::Fatal {
                message: "unable to save snapshot: disk full".into()
            }
        );
    }

    #[test]
    fn refused_logins_say_so() {
        // restic 0.14 against `rclone serve restic --htpasswd`.
        let rest = [
            "Fatal: unable to open config file: unexpected HTTP response (401): 401 Unauthorized"
                .to_owned(),
            "Is there a repository at the following location?".to_owned(),
            "rest:https://mallory:***@127.0.0.1:40001/".to_owned(),
        ];
        let refused = classify(Some(1), None, None, &rest);
        assert_eq!(
            refused,
            ResticFailure::LoginRefused {
                said: "HTTP 401 Unauthorized".into()
            }
        );
        assert!(refused.to_string().contains("refused the login"));
        // restic 0.14 with an ssh key sshd does not know.
        let ssh = [
            "subprocess ssh: root@127.0.0.1: Permission denied (publickey).".to_owned(),
            "Fatal: unable to open repository at sftp:root@127.0.0.1:/srv/r: unable to start \
             the sftp session, error: EOF"
                .to_owned(),
        ];
        assert_eq!(
            classify(Some(1), None, None, &ssh),
            ResticFailure::LoginRefused {
                said: "ssh: root@127.0.0.1: Permission denied (publickey)".into()
            }
        );
        // restic 0.18 exiting before it passed on ssh's words (a race).
        let alone = classify(
            Some(1),
            None,
            Some(&ExitError {
                code: 1,
                message:
                    "Fatal: unable to open repository at sftp:root@127.0.0.1:/srv/r: \
                          unable to start the sftp session, error: error receiving version \
                          packet from server: server unexpectedly closed connection: unexpected EOF"
                        .into(),
            }),
            &[],
        );
        assert_eq!(alone, ResticFailure::NoSftpSession { ssh_said: None });
        assert!(alone.to_string().contains("may have refused the login"));
        // ssh's other complaints are passed on.
        let down = [
            "subprocess ssh: ssh: connect to host 127.0.0.1 port 9: Connection refused".to_owned(),
            "Fatal: unable to open repository at sftp:x:/r: unable to start the sftp session, error: EOF"
                .to_owned(),
        ];
        assert_eq!(
            classify(Some(1), None, None, &down),
            ResticFailure::NoSftpSession {
                ssh_said: Some("ssh: connect to host 127.0.0.1 port 9: Connection refused".into())
            }
        );
        // A file the repository cannot read is not a login.
        let denied = ["Fatal: unable to open config file: open /srv/r/config: permission denied (os error 13)".to_owned()];
        assert!(matches!(
            classify(Some(1), None, None, &denied),
            ResticFailure::Fatal { .. }
        ));
    }

    #[test]
    fn a_full_disk_is_not_a_lock() {
        // restic 0.14 with its local repository on a full btrfs: the cause,
        // a Go stack trace (kept out of the tail), then the lock failure.
        let mut tail = StderrTail::default();
        tail.push("write /mnt/repo/locks/7da0f5e7-tmp-1283873594: no space left on device");
        for frame in [
            "github.com/restic/restic/internal/backend/local.(*Local).Save",
            "\tgithub.com/restic/restic/internal/backend/local/local.go:170",
            "main.glob..func2",
            "runtime/asm_amd64.s:1594",
        ] {
            for _ in 0..10 {
                tail.push(frame);
            }
        }
        tail.push("unable to create lock in backend");
        assert_eq!(tail.lines().len(), 2, "{:?}", tail.lines());
        let full = classify(Some(1), None, None, tail.lines());
        assert_eq!(
            full,
            ResticFailure::NoSpace {
                said: "write /mnt/repo/locks/7da0f5e7-tmp-1283873594: no space left on device"
                    .into()
            }
        );
        assert!(full
            .to_string()
            .starts_with("a disk restic writes to is full: write /mnt"));
        // 0.17+ exits 11 for it.
        assert!(matches!(
            classify(Some(11), None, None, tail.lines()),
            ResticFailure::NoSpace { .. }
        ));
        // What is not a frame stays.
        assert!(!is_stack_frame("rest:https://alice:***@127.0.0.1:18555/"));
        assert!(!is_stack_frame("Fatal: unable to save snapshot"));
        assert!(!is_stack_frame("unable"));
    }

    #[test]
    fn signals() {
        assert_eq!(
            classify(None, Some(libc::SIGINT), None, &[]),
            ResticFailure::Interrupted
        );
        let killed = classify(None, Some(libc::SIGKILL), None, &[]);
        assert_eq!(killed, ResticFailure::Killed { signal: 9 });
        assert!(killed.to_string().contains("SIGKILL (signal 9)"));
        let crashed = classify(None, Some(libc::SIGSEGV), None, &[]).to_string();
        assert!(crashed.contains("SIGSEGV (signal 11)"), "{crashed}");
        assert!(
            crashed.contains("restic crashed") && !crashed.contains("memory"),
            "{crashed}"
        );
        assert!(ResticFailure::Killed { signal: 99 }
            .to_string()
            .contains("signal 99"));
    }

    #[test]
    fn last_fatal_line_or_the_code() {
        let tail = [
            "Fatal: first".to_owned(),
            "Fatal: unable to open repository at /srv/r: permission denied".to_owned(),
            "some detail".to_owned(),
        ];
        assert_eq!(
            classify(Some(1), None, None, &tail),
            ResticFailure::Fatal {
                message: "unable to open repository at /srv/r: permission denied".into()
            }
        );
        // A config file that exists but cannot be read is not "no repository".
        let denied = [
            "Fatal: unable to open config file: open /srv/r/config: permission denied".to_owned(),
            "Is there a repository at the following location?".to_owned(),
        ];
        assert!(matches!(
            classify(Some(1), None, None, &denied),
            ResticFailure::Fatal { .. }
        ));
        // JSON error items never reach the tail, so they cannot be mistaken
        // for the reason of the failure.
        let (tail, _) = read_stderr(V014_UNREADABLE_ERR);
        assert_eq!(
            tail.lines(),
            ["Warning: at least one source file could not be read"]
        );
        assert_eq!(
            classify(Some(2), None, None, &[]),
            ResticFailure::Other { code: Some(2) }
        );
        assert_eq!(
            ResticFailure::Other { code: Some(2) }.to_string(),
            "restic failed with exit code 2; its output is in the log."
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        assert!(ResticFailure::NotInstalled
            .to_string()
            .contains("apt install restic"));
        let password = ResticFailure::WrongPassword.to_string();
        assert!(password.contains("password_file") && password.contains("password_command"));
        let repo = ResticFailure::NoRepository.to_string();
        assert!(repo.contains("repository_file") && repo.contains("igotchuu restic -- init"));
        assert!(ResticFailure::Locked { holder: None }
            .to_string()
            .contains("igotchuu restic -- unlock"));
    }

    #[test]
    fn spawn_errors() {
        let missing = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(
            ResticFailure::from_spawn_error(&missing),
            ResticFailure::NotInstalled
        );
        let denied = io::Error::from_raw_os_error(libc::EACCES);
        assert!(matches!(
            ResticFailure::from_spawn_error(&denied),
            ResticFailure::SpawnFailed { message } if message.contains("Permission denied")
        ));
    }

    #[test]
    fn tail_keeps_the_last_lines_bounded() {
        let mut tail = StderrTail::default();
        for i in 0..100 {
            tail.push(&format!("line {i}"));
        }
        tail.push("   ");
        tail.push(&"x".repeat(1_000_000));
        assert_eq!(tail.lines().len(), STDERR_TAIL_LINES);
        assert_eq!(tail.lines()[0], "line 81");
        assert!(tail.lines()[STDERR_TAIL_LINES - 1].len() <= MAX_TEXT_BYTES);
    }
}
