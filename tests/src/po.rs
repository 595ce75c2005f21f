//! Reading gettext catalogues (`.po`, `.pot`) in tests: enough of the
//! format for what xgettext, msgmerge and translators write.

use std::path::Path;
use std::process::Command;

/// The source files listed in `po/POTFILES.in` (relative to the
/// repository), comments and blank lines left out.
pub fn potfiles(po_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(po_dir.join("POTFILES.in"))
        .expect("po/POTFILES.in")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The messages xgettext finds in `files` (relative to `repo`), with the
/// keywords `po/meson.build` gives it; the `.pot` goes to `pot`.
pub fn extract(repo: &Path, files: &[String], pot: &Path) -> Vec<Message> {
    let out = Command::new("xgettext")
        .args([
            "--from-code=UTF-8",
            "--add-comments=xgettext:",
            "--keyword=gettext",
            "--keyword=ngettext:1,2",
            "--keyword=ngettext_n:1,2",
            "--keyword=pgettext:1c,2",
            "-o",
        ])
        .arg(pot)
        .args(files)
        .current_dir(repo)
        .output()
        .expect("run xgettext");
    assert!(out.status.success(), "xgettext: {out:?}");
    messages(pot)
}

/// One message of a catalogue: its msgid (and plural), and translations.
#[derive(Debug)]
pub struct Message {
    pub id: String,
    pub plural: Option<String>,
    pub strs: Vec<String>,
    pub fuzzy: bool,
}

/// A `.po` or `.pot` file's messages, header excluded.
pub fn messages(path: &Path) -> Vec<Message> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut m = Message {
            id: String::new(),
            plural: None,
            strs: Vec::new(),
            fuzzy: false,
        };
        // Which string the next continuation line belongs to.
        let mut current: Option<&mut String> = None;
        for line in block.lines().map(str::trim) {
            if line.starts_with("#,") && line.contains("fuzzy") {
                m.fuzzy = true;
            }
            let (target, rest): (&mut String, &str) =
                if let Some(r) = line.strip_prefix("msgid_plural ") {
                    (m.plural.insert(String::new()), r)
                } else if let Some(r) = line.strip_prefix("msgid ") {
                    (&mut m.id, r)
                } else if let Some(r) = line.strip_prefix("msgstr") {
                    let r = r.split_once(' ').map_or("", |(_, r)| r);
                    m.strs.push(String::new());
                    (m.strs.last_mut().unwrap(), r)
                } else {
                    if line.starts_with('"') {
                        if let Some(t) = current.as_deref_mut() {
                            t.push_str(&unquote(line));
                        }
                    }
                    continue;
                };
            target.push_str(&unquote(rest));
            current = Some(target);
        }
        if !m.id.is_empty() {
            out.push(m);
        }
    }
    out
}

/// The text of one quoted string: its outer quotes off (one each; a
/// message may end with an escaped quote), its escapes read.
fn unquote(s: &str) -> String {
    let s = s.trim();
    let inner = s.strip_prefix('"').unwrap_or(s);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ids_plurals_continuations_and_fuzziness() {
        let dir = tempfile::tempdir().unwrap();
        let po = dir.path().join("x.po");
        std::fs::write(
            &po,
            "msgid \"\"\nmsgstr \"header\"\n\n#, fuzzy\nmsgid \"a \\\"b\\\"\"\n\"c\"\nmsgstr \"x\"\n\n\
             msgid \"{n} file\"\nmsgid_plural \"{n} files\"\nmsgstr[0] \"{n} Datei\"\nmsgstr[1] \"{n} Dateien\"\n",
        )
        .unwrap();
        let m = messages(&po);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].id, "a \"b\"c");
        assert!(m[0].fuzzy);
        assert_eq!(m[1].plural.as_deref(), Some("{n} files"));
        assert_eq!(m[1].strs, ["{n} Datei", "{n} Dateien"]);
    }
}
