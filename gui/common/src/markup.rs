//! Notification bodies as markup: the Desktop Notifications spec lets a
//! server that has the capability `body-markup` read a subset of markup in
//! the body (`<b>`, `<i>`, `<u>`, `<a href>`, `<img>` and entities). Every
//! body the desktop sends carries the helper's words (reasons, file names,
//! paths, profile names, error messages), which must show as written,
//! never as bold text or a link. The summary is plain text by the spec.

/// The capability of a server that reads markup in the body.
pub const BODY_MARKUP: &str = "body-markup";

/// `text` as markup that shows it literally: `&`, `<` and `>` as entities.
/// (Quotes matter only inside an attribute, and a body's text is never in
/// one.)
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The body to send to a server with `capabilities`: escaped when it reads
/// markup, and when they are unknown (`None`), as most servers read it.
pub fn body_for(text: &str, capabilities: Option<&[String]>) -> String {
    match capabilities {
        Some(caps) if !caps.iter().any(|c| c == BODY_MARKUP) => text.to_owned(),
        _ => escape(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"<b>x</b> & <a href="http://evil">click</a> &amp;"#;

    #[test]
    fn escapes_what_markup_reads() {
        assert_eq!(
            escape(HOSTILE),
            r#"&lt;b&gt;x&lt;/b&gt; &amp; &lt;a href="http://evil"&gt;click&lt;/a&gt; &amp;amp;"#
        );
        let plain = "12 new files, 1.2\u{a0}MB added. Took 3 minutes.";
        assert_eq!(escape(plain), plain);
    }

    #[test]
    fn escapes_unless_the_server_reads_plain_text() {
        let caps = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let markup = caps(&["actions", "body", BODY_MARKUP]);
        let plain = caps(&["actions", "body", "body-hyperlinks"]);
        assert_eq!(body_for(HOSTILE, Some(&markup)), escape(HOSTILE));
        assert_eq!(body_for(HOSTILE, None), escape(HOSTILE));
        assert_eq!(body_for(HOSTILE, Some(&plain)), HOSTILE);
    }
}
