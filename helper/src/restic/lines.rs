//! Bounded line reading from restic's pipes. OWNER: restic-parser agent.
//!
//! `AsyncBufReadExt::lines` keeps a whole line in memory however long it is;
//! restic runs as root's child and its output is untrusted, so this reader
//! keeps at most [`MAX_LINE_BYTES`] of any line and drops the rest.

use std::io;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// The most bytes kept of one line. restic's longest real lines are status
/// messages listing a few paths, far below this.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One line, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line's text; invalid UTF-8 is replaced by U+FFFD.
    pub text: String,
    /// Whether the line was longer than [`MAX_LINE_BYTES`] and was cut.
    pub truncated: bool,
}

/// Reads lines from a pipe with bounded memory.
pub struct BoundedLines<R: AsyncRead + Unpin> {
    reader: BufReader<R>,
    /// The current line's bytes; never more than [`MAX_LINE_BYTES`].
    line: Vec<u8>,
}

impl<R: AsyncRead + Unpin> BoundedLines<R> {
    pub fn new(reader: R) -> Self {
        BoundedLines {
            reader: BufReader::new(reader),
            line: Vec::new(),
        }
    }

    /// The next line, or `None` at the end of the stream. A last line
    /// without a newline is still returned.
    pub async fn next_line(&mut self) -> io::Result<Option<Line>> {
        self.line.clear();
        let mut truncated = false;
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                if self.line.is_empty() && !truncated {
                    return Ok(None);
                }
                return Ok(Some(self.finish(truncated)));
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let content = &available[..newline.unwrap_or(available.len())];
            let room = MAX_LINE_BYTES - self.line.len();
            if content.len() > room {
                truncated = true;
            }
            self.line
                .extend_from_slice(&content[..content.len().min(room)]);
            let used = newline.map_or(available.len(), |at| at + 1);
            self.reader.consume(used);
            if newline.is_some() {
                return Ok(Some(self.finish(truncated)));
            }
        }
    }

    fn finish(&mut self, truncated: bool) -> Line {
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        let mut bytes = &self.line[..];
        if truncated {
            // Don't let the cut split a character into a U+FFFD.
            if let Err(err) = std::str::from_utf8(bytes) {
                if err.error_len().is_none() {
                    bytes = &bytes[..err.valid_up_to()];
                }
            }
        }
        Line {
            text: String::from_utf8_lossy(bytes).into_owned(),
            truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Larger than any buffer here, so the line can only be handled in parts.
    const HUGE_LINE_BYTES: usize = 10 * 1024 * 1024;
    /// A small pipe, like a real one, so the writer must wait for the reader.
    const PIPE_BYTES: usize = 64 * 1024;
    const WRITE_CHUNK_BYTES: usize = 100_000;

    async fn read_all<R: AsyncRead + Unpin>(lines: &mut BoundedLines<R>) -> Vec<Line> {
        let mut all = Vec::new();
        while let Some(line) = lines.next_line().await.expect("read") {
            all.push(line);
        }
        all
    }

    fn line(text: &str) -> Line {
        Line {
            text: text.into(),
            truncated: false,
        }
    }

    #[tokio::test]
    async fn splits_lines_and_returns_a_last_line_without_newline() {
        let mut lines = BoundedLines::new(&b"one\ntwo\r\n\nthree"[..]);
        assert_eq!(
            read_all(&mut lines).await,
            [line("one"), line("two"), line(""), line("three")]
        );
        assert_eq!(lines.next_line().await.unwrap(), None);
    }

    #[tokio::test]
    async fn empty_input_has_no_lines() {
        let mut lines = BoundedLines::new(&b""[..]);
        assert_eq!(lines.next_line().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_huge_line_is_cut_and_the_next_lines_survive() {
        let (mut writer, reader) = tokio::io::duplex(PIPE_BYTES);
        let writing = tokio::spawn(async move {
            let chunk = vec![b'x'; WRITE_CHUNK_BYTES];
            let mut written = 0;
            while written < HUGE_LINE_BYTES {
                let n = WRITE_CHUNK_BYTES.min(HUGE_LINE_BYTES - written);
                writer.write_all(&chunk[..n]).await.unwrap();
                written += n;
            }
            writer.write_all(b"\nafter\n{\"a\":1}").await.unwrap();
        });
        let mut lines = BoundedLines::new(reader);
        let huge = lines.next_line().await.unwrap().unwrap();
        assert!(huge.truncated);
        assert_eq!(huge.text.len(), MAX_LINE_BYTES);
        assert!(huge.text.bytes().all(|b| b == b'x'));
        // The buffer never grew past the limit.
        assert!(lines.line.capacity() <= 2 * MAX_LINE_BYTES);
        assert_eq!(lines.next_line().await.unwrap(), Some(line("after")));
        assert_eq!(lines.next_line().await.unwrap(), Some(line("{\"a\":1}")));
        assert_eq!(lines.next_line().await.unwrap(), None);
        writing.await.unwrap();
    }

    #[tokio::test]
    async fn a_huge_last_line_without_newline_is_cut() {
        let input = vec![b'y'; HUGE_LINE_BYTES];
        let mut lines = BoundedLines::new(&input[..]);
        let all = read_all(&mut lines).await;
        assert_eq!(all.len(), 1);
        assert!(all[0].truncated);
        assert_eq!(all[0].text.len(), MAX_LINE_BYTES);
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_is_whole() {
        let mut input = vec![b'z'; MAX_LINE_BYTES];
        input.extend_from_slice(b"\nnext\n");
        let mut lines = BoundedLines::new(&input[..]);
        let all = read_all(&mut lines).await;
        assert_eq!(all.len(), 2);
        assert!(!all[0].truncated);
        assert_eq!(all[0].text.len(), MAX_LINE_BYTES);
        assert_eq!(all[1], line("next"));
    }

    #[tokio::test]
    async fn invalid_utf8_becomes_replacement_characters() {
        let mut lines = BoundedLines::new(&b"caf\xe9 ok\n\xff\xfe\n"[..]);
        assert_eq!(
            read_all(&mut lines).await,
            [line("caf\u{fffd} ok"), line("\u{fffd}\u{fffd}")]
        );
    }

    #[tokio::test]
    async fn a_cut_does_not_split_a_character() {
        // One byte short of the limit, then a two-byte character.
        let mut input = vec![b'a'; MAX_LINE_BYTES - 1];
        input.extend_from_slice("éé\n".as_bytes());
        let mut lines = BoundedLines::new(&input[..]);
        let cut = lines.next_line().await.unwrap().unwrap();
        assert!(cut.truncated);
        assert_eq!(cut.text.len(), MAX_LINE_BYTES - 1);
        assert!(!cut.text.contains('\u{fffd}'));
    }
}
