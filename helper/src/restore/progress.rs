//! The copier's report lines, and the helper's reading of them. The
//! copier runs as the caller, who may replace it with anything: the
//! helper reads each line bounded ([`MAX_LINE`]) and believes only numbers.

use std::fmt;

/// The longest line the helper reads; longer ones are cut and ignored.
pub const MAX_LINE: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// What there is to copy: files (symlinks included) and bytes.
    Total { files: u64, bytes: u64 },
    /// What has been copied so far, and how many items were left out.
    Done {
        files: u64,
        bytes: u64,
        skipped: u64,
    },
    /// The copy could not be made at all.
    Failed(String),
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Total { files, bytes } => write!(f, "total {files} {bytes}"),
            Line::Done {
                files,
                bytes,
                skipped,
            } => write!(f, "done {files} {bytes} {skipped}"),
            Line::Failed(why) => write!(f, "failed {}", why.replace('\n', " ")),
        }
    }
}

impl Line {
    /// Reads one line; `None` for anything else.
    pub fn parse(line: &str) -> Option<Line> {
        if line.len() > MAX_LINE {
            return None;
        }
        let (word, rest) = line.trim_end().split_once(' ')?;
        let numbers = || -> Option<Vec<u64>> { rest.split(' ').map(|n| n.parse().ok()).collect() };
        match word {
            "total" => match numbers()?.as_slice() {
                [files, bytes] => Some(Line::Total {
                    files: *files,
                    bytes: *bytes,
                }),
                _ => None,
            },
            "done" => match numbers()?.as_slice() {
                [files, bytes, skipped] => Some(Line::Done {
                    files: *files,
                    bytes: *bytes,
                    skipped: *skipped,
                }),
                _ => None,
            },
            "failed" => Some(Line::Failed(crate::restic::message::clean_text(rest, 300))),
            _ => None,
        }
    }
}

/// Of the items the copier left out, how many were special files
/// (devices, named pipes, sockets), which a restore does not copy: a line
/// of its own (`special N`), said before the last `done` line, which a
/// reader of [`Line`] alone ignores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Special(pub u64);

impl fmt::Display for Special {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "special {}", self.0)
    }
}

impl Special {
    /// Reads one line; `None` for anything else.
    pub fn parse(line: &str) -> Option<Special> {
        if line.len() > MAX_LINE {
            return None;
        }
        let n = line.trim_end().strip_prefix("special ")?;
        n.parse().ok().map(Special)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_as_written_and_nothing_else() {
        for line in [
            Line::Total {
                files: 3,
                bytes: 10,
            },
            Line::Done {
                files: 1,
                bytes: 2,
                skipped: 3,
            },
            Line::Failed("no such file".into()),
        ] {
            assert_eq!(Line::parse(&line.to_string()), Some(line));
        }
        for junk in [
            "",
            "total",
            "total 1",
            "total 1 2 3",
            "done -1 2 3",
            "done 1 2 99999999999999999999999",
            "hello world",
        ] {
            assert_eq!(Line::parse(junk), None, "{junk}");
        }
        assert_eq!(Line::parse(&format!("failed {}", "x".repeat(600))), None);
        let Some(Line::Failed(why)) = Line::parse("failed \u{1b}[31mred") else {
            panic!()
        };
        assert!(!why.contains('\u{1b}'));
    }

    #[test]
    fn the_special_line_reads_back_and_is_no_other_line() {
        assert_eq!(Special::parse(&Special(2).to_string()), Some(Special(2)));
        assert_eq!(Line::parse(&Special(2).to_string()), None);
        for junk in ["special", "special -1", "special 1 2", "done 1 2 3"] {
            assert_eq!(Special::parse(junk), None, "{junk}");
        }
    }
}
