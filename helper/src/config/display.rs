//! The effective configuration as text for `igotchuu check-config` (its
//! comments in the reader's language, the settings as TOML), and
//! `Debug` that, like it, never shows a secret: the password in a `repo`
//! URL and the `password_command` (which may hold a token) are redacted.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use super::{Config, Password, Repository};
use crate::i18n::{fill, gettext};

const REDACTED: &str = "<redacted>";

impl fmt::Display for Config {
    /// TOML-like: the profile applied, defaults filled in, each snapshot's
    /// location spelled out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.profile {
            Some(profile) => {
                let file = self.file.display().to_string();
                // xgettext: Heads `igotchuu check-config`'s settings, a TOML comment (keep the "# "): the configuration file and the profile applied.
                let text = gettext("# {file}, profile `{profile}`");
                writeln!(
                    f,
                    "{}",
                    fill(&text, &[("file", &file), ("profile", profile)])
                )?
            }
            None => writeln!(f, "# {}", self.file.display())?,
        }
        writeln!(f, "places = {}", array(self.places.iter().map(|p| path(p))))?;
        if let Some(argv) = &self.exec_before_snapshot {
            writeln!(
                f,
                "exec_before_snapshot = {}",
                array(argv.iter().map(|a| quote(a)))
            )?;
        }
        writeln!(
            f,
            "ignore_nested = {}",
            array(self.ignore_nested.iter().map(|p| path(p)))
        )?;
        writeln!(
            f,
            "restic_backup_args = {}",
            array(self.restic_backup_args.iter().map(|a| quote(a)))
        )?;
        writeln!(
            f,
            "restic_args = {}",
            array(self.restic_args.iter().map(|a| quote(a)))
        )?;
        match &self.repository {
            Repository::Location(repo) => writeln!(f, "repo = {}", quote(&redact_url(repo)))?,
            Repository::File(file) => writeln!(f, "repository_file = {}", path(file))?,
        }
        match &self.password {
            Some(Password::File(file)) => writeln!(f, "password_file = {}", path(file))?,
            Some(Password::Command(_)) => writeln!(f, "password_command = {}", quote(REDACTED))?,
            // xgettext: A TOML comment in `igotchuu check-config` (keep the "# "); password_file, password_command and RESTIC_PASSWORD are names to keep.
            None => writeln!(f, "{}", gettext("# Neither password_file nor password_command is set: restic must get the password elsewhere, e.g. RESTIC_PASSWORD in its environment."))?,
        }
        writeln!(
            f,
            "stall_timeout = {}",
            self.stall_timeout.map_or(0, |t| t.as_secs())
        )?;
        self.fmt_maintenance(f)?;
        if self.snapshots.is_empty() {
            return writeln!(f, "snapshot = []");
        }
        for spec in &self.snapshots {
            writeln!(f, "\n[[snapshot]]")?;
            writeln!(f, "source = {}", path(&spec.source))?;
            writeln!(f, "snapshot_location = {}", path(&spec.location))?;
        }
        Ok(())
    }
}

impl Config {
    /// Retention, checks, run conditions and waiting.
    fn fmt_maintenance(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.retention.is_empty() {
            // xgettext: A TOML comment in `igotchuu check-config` (keep the "# "); keep_* are configuration keys.
            let text = gettext("# No keep_* is set: nothing is ever forgotten, the repository keeps every snapshot.");
            writeln!(f, "{text}")?;
        }
        for (key, n) in self.retention.counts() {
            writeln!(f, "{key} = {n}")?;
        }
        if let Some(within) = &self.retention.keep_within {
            writeln!(f, "keep_within = {}", quote(within))?;
        }
        match &self.check_read_data_subset {
            Some(subset) => writeln!(f, "check_read_data_subset = {}", quote(subset))?,
            // xgettext: A TOML comment in `igotchuu check-config` (keep the "# "); check_read_data_subset is a configuration key.
            None => writeln!(f, "{}", gettext("# check_read_data_subset is not set: `igotchuu check` reads the structure, not the data."))?,
        }
        writeln!(f, "run_on_battery = {}", self.run_on_battery)?;
        writeln!(f, "run_on_metered = {}", self.run_on_metered)?;
        writeln!(f, "stale_after_days = {}", self.stale_after_days)?;
        writeln!(
            f,
            "wait_timeout = {}",
            self.wait_timeout.map_or(0, |t| t.as_secs())
        )
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("file", &self.file)
            .field("profile", &self.profile)
            .field("places", &self.places)
            .field("snapshots", &self.snapshots)
            .field("exec_before_snapshot", &self.exec_before_snapshot)
            .field("ignore_nested", &self.ignore_nested)
            .field("restic_backup_args", &self.restic_backup_args)
            .field("restic_args", &self.restic_args)
            .field("repository", &self.repository)
            .field("password", &self.password)
            .field("stall_timeout", &self.stall_timeout)
            .field("retention", &self.retention)
            .field("check_read_data_subset", &self.check_read_data_subset)
            .field("run_on_battery", &self.run_on_battery)
            .field("run_on_metered", &self.run_on_metered)
            .field("stale_after_days", &self.stale_after_days)
            .field("wait_timeout", &self.wait_timeout)
            .finish()
    }
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repository::Location(repo) => {
                f.debug_tuple("Location").field(&redact_url(repo)).finish()
            }
            Repository::File(file) => f.debug_tuple("File").field(file).finish(),
        }
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Password::File(file) => f.debug_tuple("File").field(file).finish(),
            Password::Command(_) => f
                .debug_tuple("Command")
                .field(&format_args!("{REDACTED}"))
                .finish(),
        }
    }
}

/// `repo` with the userinfo of a URL redacted when it holds a password:
/// `rest:https://user:pw@host/` becomes `rest:https://<redacted>@host/`.
/// A user name alone (`sftp://user@host/`, `sftp:user@host:/srv`) is kept:
/// it is no secret and helps tell repositories apart.
pub(super) fn redact_url(repo: &str) -> Cow<'_, str> {
    let Some(scheme_end) = repo.find("://") else {
        return Cow::Borrowed(repo);
    };
    let authority_start = scheme_end + "://".len();
    let rest = &repo[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    // The last `@`: an unescaped `@` in the password belongs to the userinfo.
    match authority.rfind('@') {
        Some(at) if authority[..at].contains(':') => Cow::Owned(format!(
            "{}{REDACTED}{}",
            &repo[..authority_start],
            &repo[authority_start + at..]
        )),
        _ => Cow::Borrowed(repo),
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

fn array(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_a_password_in_url_userinfo() {
        assert_eq!(
            redact_url("rest:https://user:pw@host/"),
            "rest:https://<redacted>@host/"
        );
        assert_eq!(
            redact_url("rest:https://user:p@ss@host:8000/repo"),
            "rest:https://<redacted>@host:8000/repo"
        );
        assert_eq!(
            redact_url("s3:https://key:secret@s3.example.com"),
            "s3:https://<redacted>@s3.example.com"
        );
    }

    #[test]
    fn keeps_what_is_no_secret() {
        for repo in [
            "sftp:user@host:/srv/restic",
            "sftp://user@host/srv/restic",
            "rest:https://host/repo@2",
            "rest:https://host:8000/",
            "/srv/restic",
            "local:/srv/restic",
        ] {
            assert_eq!(redact_url(repo), repo);
        }
    }

    #[test]
    fn quote_escapes_as_toml_does() {
        assert_eq!(quote("a\"b\\c\n\u{1b}"), "\"a\\\"b\\\\c\\n\\u001B\"");
    }
}
