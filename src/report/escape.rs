//! Escaping: makes any string (log fields are attacker-controlled) inert in HTML, in Markdown and in a spreadsheet.

use std::borrow::Cow;

/// A CSV cell that a spreadsheet will not run as a formula (the OWASP rule): a cell that begins
/// with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, which spreadsheets show as
/// text and do not display. Only the lists meant for spreadsheets go through it; the Parquet
/// tables and the quarantine keep every value exactly as logged.
pub fn spreadsheet(s: &str) -> Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

/// Text for HTML element content and quoted attribute values: `& < > " '` become entities, and
/// control characters other than tab and newline are dropped.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Plain Markdown text on one line: every character that could open markup, a link or inline HTML
/// (backslash, backtick, `* _ [ ] < > & | ~ !`) is backslash-escaped, as is a leading `#`, `+`, `-`, `=`;
/// line breaks and control characters become spaces.
pub fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '#' | '+' | '-' | '=' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An identifier as a Markdown code span, safe inside a table cell: no HTML is read inside a code
/// span, `|` is escaped for tables, and the fence is longer than any backtick run inside.
pub fn md_code(s: &str) -> String {
    let body: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad =
        if body.starts_with('`') || body.ends_with('`') || body.starts_with(' ') || body.is_empty()
        {
            " "
        } else {
            ""
        };
    format!("{fence}{pad}{body}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_plain_ids_kept() {
        for (given, want) in [
            (
                "=HYPERLINK(\"http://evil/\",\"x\")",
                "'=HYPERLINK(\"http://evil/\",\"x\")",
            ),
            ("@SUM(1+1)*cmd", "'@SUM(1+1)*cmd"),
            ("+1+cmd", "'+1+cmd"),
            ("-2+3", "'-2+3"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("acct-7", "acct-7"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet(given), want, "{given:?}");
        }
    }

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(
            html(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(html("a\u{0}b\u{1b}[31mc"), "ab[31mc");
        assert_eq!(html("plain-id_1"), "plain-id_1");
    }

    #[test]
    fn markdown_text_cannot_open_html_or_links() {
        let s = md_text("<img src=x onerror=alert(1)> [a](javascript:x) | *b*\nline");
        assert!(s.starts_with("\\<img"));
        assert_eq!(s.matches('<').count(), s.matches("\\<").count());
        assert!(s.contains("\\[a\\](javascript:x)"));
        assert_eq!(md_text("# v2.1 - ok"), "\\# v2.1 - ok");
        assert!(s.contains("\\|"));
        assert!(!s.contains('\n'));
    }

    #[test]
    fn markdown_code_spans_hold_anything() {
        assert_eq!(md_code("google_home"), "`google_home`");
        assert_eq!(md_code("a|b"), "`a\\|b`");
        assert_eq!(md_code("x`y"), "``x`y``");
        assert_eq!(md_code("`"), "`` ` ``");
        assert_eq!(md_code("<script>\n"), "`<script> `");
    }
}
