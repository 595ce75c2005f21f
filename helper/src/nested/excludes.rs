//! The exclude options on restic's command line, read as restic reads them,
//! so that a nested subvolume that restic leaves out anyway is not reported.

use std::path::Path;

use super::pattern::Pattern;

/// restic's one-letter flags that take no value, which may come before
/// `e` in one argument (`-xe PATTERN`).
const BOOLEAN_SHORTHANDS: &[char] = &['x', 'f', 'n', 'q', 'v'];

/// Every exclude pattern given to restic, in restic's order.
#[derive(Debug, Default)]
pub struct Excludes {
    /// `--exclude`, then the lines of each `--exclude-file`.
    patterns: Vec<Pattern>,
    /// `--iexclude` and `--iexclude-file`, lower-cased.
    insensitive: Vec<Pattern>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Flag {
    Exclude,
    InsensitiveExclude,
    ExcludeFile,
    InsensitiveExcludeFile,
}

impl Excludes {
    /// The excludes in `args`. An exclude file that cannot be read is left
    /// out (restic then refuses to run, and says why).
    pub fn from_args<'a>(args: impl IntoIterator<Item = &'a String>) -> Excludes {
        let (mut flags, mut files) = (Vec::new(), Vec::new());
        for (flag, value) in exclude_options(args) {
            match flag {
                Flag::Exclude | Flag::InsensitiveExclude => flags.push((flag, value)),
                Flag::ExcludeFile | Flag::InsensitiveExcludeFile => files.push((flag, value)),
            }
        }
        let mut excludes = Excludes::default();
        // restic appends the files' patterns after the flags'.
        for (flag, text) in flags {
            excludes.add(flag == Flag::InsensitiveExclude, &text);
        }
        for (flag, file) in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    for line in file_patterns(&text) {
                        excludes.add(flag == Flag::InsensitiveExcludeFile, &line);
                    }
                }
                Err(e) => tracing::warn!("cannot read restic's exclude file {file}: {e}"),
            }
        }
        excludes
    }

    fn add(&mut self, insensitive: bool, text: &str) {
        if insensitive {
            self.insensitive
                .extend(Pattern::parse(&text.to_lowercase()));
        } else {
            self.patterns.extend(Pattern::parse(text));
        }
    }

    /// Whether `restic backup PLACE` leaves `path` out: it, or a folder it
    /// is in below `place`, is excluded. (restic does not descend into an
    /// excluded folder, and never checks the folders above a place.)
    pub fn leave_out(&self, place: &Path, path: &Path) -> bool {
        path.ancestors()
            .take_while(|folder| folder.starts_with(place))
            .filter_map(Path::to_str)
            .any(|folder| self.excluded(folder))
    }

    /// restic's verdict on one path: its last matching pattern decides
    /// (a `!pattern` includes again); the two lists each reject on their own.
    fn excluded(&self, path: &str) -> bool {
        verdict(&self.patterns, path) || verdict(&self.insensitive, &path.to_lowercase())
    }
}

fn verdict(patterns: &[Pattern], path: &str) -> bool {
    patterns.iter().fold(false, |excluded, pattern| {
        match (pattern.negated, pattern.matches(path)) {
            (false, true) => true,
            (true, true) => false,
            (_, false) => excluded,
        }
    })
}

/// The exclude options in restic arguments, as its flag parser (pflag)
/// reads them: `--exclude P`, `--exclude=P`, `-e P`, `-eP`, `-e=P`,
/// `-xe P`, and the same for `--iexclude`, `--exclude-file` and
/// `--iexclude-file`. Nothing after `--` is an option.
fn exclude_options<'a>(args: impl IntoIterator<Item = &'a String>) -> Vec<(Flag, String)> {
    let mut args = args.into_iter();
    let mut found = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        let (flag, inline) = if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            let flag = match name {
                "exclude" => Flag::Exclude,
                "iexclude" => Flag::InsensitiveExclude,
                "exclude-file" => Flag::ExcludeFile,
                "iexclude-file" => Flag::InsensitiveExcludeFile,
                _ => continue,
            };
            (flag, inline)
        } else if let Some(short) = arg.strip_prefix('-') {
            let Some(rest) = short
                .trim_start_matches(BOOLEAN_SHORTHANDS)
                .strip_prefix('e')
            else {
                continue;
            };
            let inline = rest.strip_prefix('=').unwrap_or(rest);
            (Flag::Exclude, (!inline.is_empty()).then_some(inline))
        } else {
            continue;
        };
        // A flag that needs a value takes the next argument, whatever it is.
        let value = match inline {
            Some(value) => Some(value.to_owned()),
            None => args.next().cloned(),
        };
        found.extend(value.map(|value| (flag, value)));
    }
    found
}

/// The patterns of an exclude file, as restic reads them: lines trimmed,
/// blank lines and `#` comments skipped, `$VAR` and `${VAR}` expanded.
fn file_patterns(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| expand_env(line, |name| std::env::var(name).ok()))
        .collect()
}

/// Go's `os.Expand` as restic uses it: `$$` is `$`, unset variables are empty.
fn expand_env(text: &str, var: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else if after.starts_with('$') {
            ("$", 1)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match (name, len) {
            // A lone `$` stays.
            (_, 0) => out.push('$'),
            ("$", _) => out.push('$'),
            (name, _) => out.push_str(&var(name).unwrap_or_default()),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    fn options(args: &[&str]) -> Vec<(Flag, String)> {
        exclude_options(&strings(args))
    }

    #[test]
    fn reads_every_spelling_of_the_exclude_options() {
        use Flag::*;
        let got = options(&[
            "--one-file-system",
            "--exclude",
            "/a",
            "--exclude=/b",
            "-e",
            "/c",
            "-e/d",
            "-e=/e",
            "-xe",
            "/f",
            "--iexclude=*.ISO",
            "--exclude-file",
            "/etc/x",
            "--iexclude-file=/etc/y",
            "--exclude-caches",
            "--tag",
            "e",
            "--",
            "--exclude=/after",
        ]);
        assert_eq!(
            got,
            [
                (Exclude, "/a".into()),
                (Exclude, "/b".into()),
                (Exclude, "/c".into()),
                (Exclude, "/d".into()),
                (Exclude, "/e".into()),
                (Exclude, "/f".into()),
                (InsensitiveExclude, "*.ISO".into()),
                (ExcludeFile, "/etc/x".into()),
                (InsensitiveExcludeFile, "/etc/y".into()),
            ]
        );
        // Other one-letter flags, and a value-less flag at the end.
        assert!(options(&["-v", "-H", "host", "-o", "x=y", "--exclude"]).is_empty());
    }

    #[test]
    fn leaves_out_what_a_pattern_or_a_folder_above_excludes() {
        let excludes = Excludes::from_args(&strings(&[
            "--exclude=/var/lib/docker",
            "--iexclude=VMS",
            "-e",
            "*.cache",
        ]));
        let out = |place: &str, path: &str| excludes.leave_out(place.as_ref(), path.as_ref());
        assert!(out("/var/lib", "/var/lib/docker/btrfs/subvolumes/x"));
        assert!(out("/home", "/home/alice/vms"));
        assert!(out("/home", "/home/alice/Vms/disk"));
        assert!(out("/home", "/home/alice/x.cache/sub"));
        assert!(!out("/var/lib", "/var/lib/machines"));
        assert!(!out("/home", "/home/alice/vms2"));
    }

    #[test]
    fn a_later_negated_pattern_includes_again() {
        let excludes = Excludes::from_args(&strings(&[
            "--exclude=/var/lib/*",
            "--exclude=!/var/lib/machines",
        ]));
        let out = |path: &str| excludes.leave_out("/var".as_ref(), path.as_ref());
        assert!(out("/var/lib/docker"));
        assert!(!out("/var/lib/machines"));
        // Included again, but the folder above is what restic checks first.
        let excludes = Excludes::from_args(&strings(&["-e", "/srv", "-e", "!/srv/keep"]));
        assert!(excludes.leave_out("/".as_ref(), "/srv/keep".as_ref()));
        // restic never checks the folders above a place.
        assert!(!excludes.leave_out("/srv/keep".as_ref(), "/srv/keep/x".as_ref()));
    }

    #[test]
    fn exclude_files_are_read_as_restic_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("excludes");
        std::fs::write(&file, "# docker\n\n  /var/lib/docker  \n*.ISO\n").unwrap();
        let ifile = dir.path().join("iexcludes");
        std::fs::write(&ifile, "VMS\n").unwrap();
        let excludes = Excludes::from_args(&strings(&[
            &format!("--exclude-file={}", file.display()),
            "--iexclude-file",
            ifile.to_str().unwrap(),
            "--exclude-file=/nonexistent/igotchuu-excludes",
        ]));
        let out = |path: &str| excludes.leave_out("/".as_ref(), path.as_ref());
        assert!(out("/var/lib/docker/x"));
        assert!(out("/home/a/vms"));
        assert!(out("/home/a/b.ISO"));
        assert!(!out("/home/a/b.iso"));
        assert!(!out("/home/# docker"));
    }

    #[test]
    fn expands_the_environment_as_go_does() {
        let var = |name: &str| (name == "HOME").then(|| "/root".to_owned());
        assert_eq!(expand_env("$HOME/x", var), "/root/x");
        assert_eq!(expand_env("${HOME}x", var), "/rootx");
        assert_eq!(expand_env("a$$b", var), "a$b");
        assert_eq!(expand_env("$UNSET/x", var), "/x");
        assert_eq!(expand_env("cost$", var), "cost$");
        assert_eq!(expand_env("${open", var), "${open");
    }
}
