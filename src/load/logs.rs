//! The access-log reader: every line of a file in a declared format (nginx, varnishncsa) split by its compiled format string into contract cells, lines that do not fit kept with the reason.

use rayon::prelude::*;

use super::raw::{Cells, RawRow};
use super::text::TextRows;
use crate::formats::Compiled;

/// Lines handed to one worker at a time.
const LINES_PER_TASK: usize = 1 << 14;

/// Splits a log file's text into rows of contract cells. Blank lines are not rows; every other
/// line is one, with cells or with the reason it could not be read.
pub fn split_log(text: Vec<u8>, compiled: &Compiled) -> TextRows {
    let mut spans = Vec::new();
    let mut start = 0;
    for (line, end) in line_ends(&text).enumerate() {
        let body = trim_eol(&text[start..end]);
        if !body.iter().all(u8::is_ascii_whitespace) {
            spans.push((line as u64 + 1, start, end));
        }
        start = end;
    }
    let headers = compiled.headers();
    let rows: Vec<RawRow> = spans
        .par_chunks(LINES_PER_TASK)
        .flat_map_iter(|chunk| {
            let mut scratch = compiled.scratch();
            let text = &text;
            chunk
                .iter()
                .map(move |&(line, a, b)| {
                    let cells = match std::str::from_utf8(trim_eol(&text[a..b])) {
                        Ok(s) => {
                            let mut cells = Cells::with_capacity(s.len(), compiled.width());
                            compiled
                                .row(s, &mut scratch, |v| cells.push(v))
                                .map(|()| cells)
                        }
                        Err(e) => Err(format!("the line is not UTF-8 text ({e})")),
                    };
                    RawRow {
                        line,
                        cells,
                        nested: Vec::new(),
                        span: (a, b),
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    TextRows {
        headers,
        rows,
        text,
    }
}

/// The end of every line (past its `\n`), and of a last line without one.
fn line_ends(text: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let last = (!text.ends_with(b"\n") && !text.is_empty()).then_some(text.len());
    memchr::memchr_iter(b'\n', text).map(|i| i + 1).chain(last)
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::FormatSpec;
    use crate::schema::Kind;

    #[test]
    fn lines_become_rows_and_misfits_keep_their_line() {
        let t: toml::Table = r#"
format = "nginx"
log_format = '$msec $hostname "$request" $upstream_cache_status "$cookie_sid"'
[derive]
session_id = "cookie_sid"
requested_stream_id = { from = "request", regex = '^GET /cam/([^/]+)/' }
cache_key = { from = "request", regex = '^GET (\S+)' }
"#
        .parse()
        .unwrap();
        let spec = FormatSpec::parse(Kind::Deliveries, &t).unwrap().unwrap();
        let c = Compiled::new(Kind::Deliveries, &spec, None).unwrap();
        let text = "1.5 e1 \"GET /cam/a/x HTTP/1.1\" HIT \"s1\"\r\n\n2.0 e1 broken\n3.25 e2 \"GET /cam/b/y HTTP/1.1\" MISS \"s2\"";
        let rows = split_log(text.as_bytes().to_vec(), &c);
        assert_eq!(
            rows.headers,
            [
                "ts",
                "session_id",
                "requested_stream_id",
                "cache_node",
                "cache_key",
                "cache_status"
            ]
        );
        assert_eq!(rows.rows.len(), 3);
        let lines: Vec<u64> = rows.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 3, 4]);
        let first = rows.rows[0].cells.as_ref().unwrap();
        assert_eq!(
            first.to_vec()[..3],
            [Some("1500".into()), Some("s1".into()), Some("a".into())]
        );
        assert!(rows.rows[1]
            .cells
            .as_ref()
            .unwrap_err()
            .contains("ends inside"));
        assert_eq!(rows.quote(&rows.rows[1]), "2.0 e1 broken");
        let last = rows.rows[2].cells.as_ref().unwrap();
        assert_eq!(last.get(0), Some("3250"));
        assert_eq!(last.get(5), Some("miss"));
    }
}
