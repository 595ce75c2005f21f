//! restic's exclude patterns (its `internal/filter`), enough to tell
//! whether `restic backup` leaves a path out.
//!
//! A pattern is cleaned and split into path components, each a Go
//! `filepath.Match` glob; `**` spans any number of components. An absolute
//! pattern is matched from the root, a relative one at any depth. Either
//! matches a run of components, not necessarily to the end: `/var/cache`
//! and `cache` both match `/var/cache/apt`, so a pattern that matches a
//! folder matches everything in it.

/// One component of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// The leading `/` of an absolute pattern.
    Root,
    /// `**`: any number of components, none included.
    AnyDepth,
    Literal(String),
    Glob(Glob),
}

/// A parsed exclude pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    parts: Vec<Part>,
    /// `!pattern` (restic 0.16+): a path it matches is included again.
    pub negated: bool,
}

impl Pattern {
    /// Parses a pattern as restic does; `None` for the empty pattern,
    /// which restic ignores.
    pub fn parse(text: &str) -> Option<Pattern> {
        if text.is_empty() {
            return None;
        }
        let (negated, text) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let parts = split(&clean(text))
            .into_iter()
            .map(|part| match part.as_str() {
                "/" => Part::Root,
                // restic reads an empty component (only `/` cleans to one) as `**`.
                "**" | "" => Part::AnyDepth,
                _ if !part.contains(['\\', '[', ']', '*', '?']) => Part::Literal(part),
                // A malformed glob matches nothing (newer restic refuses it).
                _ => Glob::parse(&part).map_or(Part::Glob(Glob::nothing()), Part::Glob),
            })
            .collect();
        Some(Pattern { parts, negated })
    }

    /// Whether the pattern matches the absolute `path`, or a folder it is in.
    pub fn matches(&self, path: &str) -> bool {
        match_parts(&self.parts, &split(path))
    }
}

/// `text` as a pattern that matches it literally: Go's glob characters
/// and its escape character are escaped. For an absolute path only (a
/// relative one could begin with restic's `!`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '?' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// restic's `match`: `**` is tried as zero, one, two… `*` components; then
/// the parts must match consecutive components, from the root for an
/// absolute pattern, else at any depth.
fn match_parts(parts: &[Part], names: &[String]) -> bool {
    if let Some(pos) = parts.iter().position(|p| *p == Part::AnyDepth) {
        let most = names.len() as isize - parts.len() as isize + 1;
        return (0..=most).any(|stars| {
            let mut expanded = parts[..pos].to_vec();
            expanded.extend((0..stars).map(|_| Part::Glob(Glob::star())));
            expanded.extend_from_slice(&parts[pos + 1..]);
            match_parts(&expanded, names)
        });
    }
    if parts.is_empty() {
        return names.is_empty();
    }
    if parts.len() > names.len() {
        return false;
    }
    let last = names.len() - parts.len();
    let offsets = match (&parts[0], names[0].as_str()) {
        (Part::Root, _) => 0..=0,
        // A relative pattern never matches the root marker itself.
        (_, "/") => 1..=last,
        _ => 0..=last,
    };
    offsets.rev().any(|offset| {
        parts
            .iter()
            .zip(&names[offset..])
            .all(|(part, name)| part_matches(part, name))
    })
}

fn part_matches(part: &Part, name: &str) -> bool {
    match part {
        Part::Root => name == "/",
        Part::AnyDepth => true,
        Part::Literal(literal) => literal == name,
        Part::Glob(glob) => glob.matches(name),
    }
}

/// Go's `filepath.Clean`, lexically: no empty, `.` or resolvable `..`
/// components, no trailing slash.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for name in path.split('/') {
        match name {
            "" | "." => {}
            ".." if out.last().is_some_and(|last| *last != "..") => {
                out.pop();
            }
            ".." if rooted => {}
            name => out.push(name),
        }
    }
    match (rooted, out.is_empty()) {
        (true, _) => format!("/{}", out.join("/")),
        (false, true) => ".".to_owned(),
        (false, false) => out.join("/"),
    }
}

/// restic's `splitPath`: the components, with `/` first for an absolute path.
fn split(path: &str) -> Vec<String> {
    let mut names: Vec<String> = path.split('/').map(str::to_owned).collect();
    if names[0].is_empty() {
        names[0] = "/".to_owned();
    }
    names
}

/// One component of a Go `filepath.Match` pattern.
#[derive(Debug, Clone, PartialEq)]
struct Glob(Vec<Token>);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// `*`: any run of characters.
    Star,
    /// `?`: any one character.
    Any,
    Char(char),
    /// `[a-z]`, `[^0-9]`
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    fn star() -> Glob {
        Glob(vec![Token::Star])
    }

    /// A glob no name matches: an empty class.
    fn nothing() -> Glob {
        Glob(vec![Token::Class {
            negated: false,
            ranges: Vec::new(),
        }])
    }

    /// Parses Go's syntax; `None` where Go says `ErrBadPattern`.
    fn parse(text: &str) -> Option<Glob> {
        let mut chars = text.chars().peekable();
        let mut tokens = Vec::new();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => Token::Star,
                '?' => Token::Any,
                '\\' => Token::Char(chars.next()?),
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                            break;
                        }
                        let lo = class_char(&mut chars)?;
                        let hi = match chars.next_if_eq(&'-') {
                            Some(_) => class_char(&mut chars)?,
                            None => lo,
                        };
                        ranges.push((lo, hi));
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Char(c),
            });
        }
        Some(Glob(tokens))
    }

    /// Whether the glob matches all of `name`; backtracks to the last `*`.
    fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let tokens = &self.0;
        let (mut t, mut n) = (0, 0);
        let mut retry: Option<(usize, usize)> = None;
        while n < name.len() {
            match tokens.get(t) {
                Some(Token::Star) => {
                    retry = Some((t, n));
                    t += 1;
                    continue;
                }
                Some(token) if token_matches(token, name[n]) => {
                    t += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            // Let the last `*` take one more character, or fail.
            let Some((star, taken)) = retry else {
                return false;
            };
            retry = Some((star, taken + 1));
            t = star + 1;
            n = taken + 1;
        }
        tokens[t..].iter().all(|token| *token == Token::Star)
    }
}

/// A character of a class: any but `-` and `]` unless escaped.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<char> {
    match chars.next()? {
        '\\' => chars.next(),
        '-' | ']' => None,
        c => Some(c),
    }
}

fn token_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Star => true,
        Token::Any => c != '/',
        Token::Char(want) => *want == c,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(path)
    }

    #[test]
    fn globs_follow_go_filepath_match() {
        let glob = |p: &str, name: &str| Glob::parse(p).unwrap().matches(name);
        assert!(glob("*", "anything"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("*.tmp", ".tmp"));
        assert!(glob("?x", "ax"));
        assert!(!glob("?x", "x"));
        assert!(glob("[a-c]1", "b1"));
        assert!(!glob("[^a-c]1", "b1"));
        assert!(glob("[^a-c]1", "d1"));
        assert!(glob("\\*", "*"));
        assert!(!glob("\\*", "x"));
        assert!(glob("[\\]]", "]"));
        // Go's ErrBadPattern.
        for bad in ["[", "[]", "[a", "[-a]", "x\\", "[a-]"] {
            assert_eq!(Glob::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn absolute_patterns_match_from_the_root_and_everything_below() {
        assert!(matches("/var/lib/docker", "/var/lib/docker"));
        assert!(matches(
            "/var/lib/docker/",
            "/var/lib/docker/btrfs/subvolumes/x"
        ));
        assert!(matches(
            "/var/lib/*/btrfs",
            "/var/lib/docker/btrfs/subvolumes/x"
        ));
        assert!(!matches("/var/lib/docker", "/var/lib"));
        assert!(!matches("/lib/docker", "/var/lib/docker"));
        assert!(!matches("/var/lib/docker", "/var/lib/docker2"));
        assert!(matches("/var/./lib/../lib//docker", "/var/lib/docker"));
    }

    #[test]
    fn relative_patterns_match_at_any_depth() {
        assert!(matches("docker", "/var/lib/docker"));
        assert!(matches("docker", "/var/lib/docker/btrfs"));
        assert!(matches(
            "btrfs/subvolumes",
            "/var/lib/docker/btrfs/subvolumes/x"
        ));
        assert!(matches("*.snapshots", "/home/.snapshots/1/snapshot"));
        assert!(matches("var", "/var"));
        assert!(!matches("lib/btrfs", "/var/lib/docker/btrfs"));
        assert!(!matches("ocker", "/var/lib/docker"));
    }

    #[test]
    fn double_stars_span_components() {
        assert!(matches(
            "/var/**/subvolumes",
            "/var/lib/docker/btrfs/subvolumes"
        ));
        assert!(matches("/var/**/subvolumes", "/var/subvolumes"));
        assert!(matches(
            "**/subvolumes",
            "/var/lib/docker/btrfs/subvolumes/a"
        ));
        assert!(matches("/home/**", "/home/alice/vms"));
        assert!(matches("/**/.snapshots", "/home/.snapshots"));
        assert!(!matches("/var/**/subvolumes", "/home/x/subvolumes"));
        assert!(matches("/a/**/b/**/c", "/a/x/b/y/z/c"));
        assert!(!matches("/a/**/b/**/c", "/a/x/c"));
    }

    #[test]
    fn negation_and_the_empty_pattern() {
        let p = Pattern::parse("!/var/lib/docker").unwrap();
        assert!(p.negated);
        assert!(p.matches("/var/lib/docker/x"));
        assert_eq!(Pattern::parse(""), None);
        // A malformed glob matches nothing rather than everything.
        assert!(!matches("/var/[", "/var/["));
    }

    #[test]
    fn an_escaped_path_matches_itself_and_nothing_else() {
        for path in [
            "/srv/a*b",
            "/srv/[x]",
            "/srv/q?",
            "/srv/back\\slash",
            "/srv/**",
        ] {
            let pattern = Pattern::parse(&format!("{}/*", escape(path))).unwrap();
            assert!(pattern.matches(&format!("{path}/child")), "{path}");
            assert!(pattern.matches(&format!("{path}/child/deeper")), "{path}");
            assert!(!pattern.matches(path), "{path} itself");
            assert!(!pattern.matches("/srv/other/child"), "{path}");
        }
        assert!(!Pattern::parse(&format!("{}/*", escape("/srv/a*b")))
            .unwrap()
            .matches("/srv/axxb/child"));
    }

    #[test]
    fn clean_is_go_filepath_clean() {
        for (path, want) in [
            ("/a/b/", "/a/b"),
            ("a//b/./c", "a/b/c"),
            ("/../a", "/a"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("./", "."),
            ("/", "/"),
        ] {
            assert_eq!(clean(path), want, "{path}");
        }
    }
}
