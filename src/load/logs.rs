//! The log reader: every line of a file in a declared format (nginx, varnishncsa, W3C, JSON lines or a JSON array) split by its compiled format string into contract cells, lines that do not fit kept with the reason.

use rayon::prelude::*;

use super::raw::{Cells, RawRow};
use super::text::{line_ends, TextRows};
use crate::formats::{Compiled, LogFormat};

/// Lines handed to one worker at a time.
const LINES_PER_TASK: usize = 1 << 14;

/// A log file's lines laid out before any is split: where each line lies, the compiled format
/// in force for it, and the one header every line's cells are placed under.
pub struct LogPlan {
    /// (1-based line, start, end, segment) of every line that is a row.
    spans: Vec<(u64, usize, usize, usize)>,
    /// The format in force from each `#Fields:` directive on (the first: the mapping's own).
    segments: Vec<Result<Compiled, String>>,
    pub headers: Vec<String>,
    /// Where each segment's cells go in `headers`.
    places: Vec<Vec<usize>>,
}

impl LogPlan {
    /// Lays out a log file's text (already undone from a JSON array, see [`as_lines`]). Blank
    /// lines are not rows; in a W3C file, lines starting with `#` are directives, not rows, and
    /// each `#Fields:` directive compiles the spec again for the lines after it.
    pub fn new(text: &[u8], compiled: &Compiled) -> LogPlan {
        let w3c = compiled.format() == LogFormat::W3c;
        let mut segments: Vec<Result<Compiled, String>> = vec![Ok(compiled.clone())];
        // Grown by doubling, the spans were copied and their pages zeroed again; counting every
        // line first cost a second pass over the file. Lines of one log are alike, so the lines of
        // its first MiB size the room for all of it; a file whose lines then grow shorter only
        // grows its spans.
        let mut spans = Vec::with_capacity(lines_expected(text));
        let mut start = 0;
        for (line, end) in line_ends(text).enumerate() {
            let body = trim_eol(&text[start..end]);
            let blank = body.iter().all(u8::is_ascii_whitespace);
            if w3c && body.first() == Some(&b'#') {
                if let Some(fields) = body.strip_prefix(b"#Fields:") {
                    let declared = std::str::from_utf8(fields)
                        .map_err(|e| format!("the #Fields directive is not UTF-8 text ({e})"))
                        .and_then(|f| compiled.redeclare(f))
                        .map_err(|e| format!("the #Fields directive on line {}: {e}", line + 1));
                    segments.push(declared);
                }
            } else if !blank {
                spans.push((line as u64 + 1, start, end, segments.len() - 1));
            }
            start = end;
        }
        // One header for every segment: the contract columns any of them gives, in the contract's
        // order, which is also the order each segment gives its own in. A segment's cells then go
        // to rising places, the columns it lacks left absent.
        let given: Vec<Vec<String>> = segments
            .iter()
            .map(|c| c.as_ref().map(Compiled::headers).unwrap_or_default())
            .collect();
        let headers: Vec<String> = compiled
            .kind()
            .columns()
            .iter()
            .map(|c| c.name.to_string())
            .filter(|name| given.iter().any(|g| g.contains(name)))
            .collect();
        let places = given
            .iter()
            .map(|g| {
                g.iter()
                    .filter_map(|h| headers.iter().position(|x| x == h))
                    .collect()
            })
            .collect();
        LogPlan {
            spans,
            segments,
            headers,
            places,
        }
    }

    /// Lines that are rows.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Every row split, with the text they are quoted from: the file read whole.
    pub fn into_rows(self, text: Vec<u8>) -> TextRows {
        let rows = self.split(&text, 0..self.len());
        TextRows {
            headers: self.headers,
            rows,
            text,
        }
    }

    /// Rows `range` (positions among the rows, not line numbers) split into cells, in parallel.
    pub fn split(&self, text: &[u8], range: std::ops::Range<usize>) -> Vec<RawRow> {
        let width = self.headers.len();
        self.spans[range]
            .par_chunks(LINES_PER_TASK)
            .flat_map_iter(|chunk| {
                let mut scratch: Vec<_> = self
                    .segments
                    .iter()
                    .map(|c| c.as_ref().ok().map(Compiled::scratch))
                    .collect();
                let mut room = 0;
                chunk
                    .iter()
                    .map(move |&(line, a, b, seg)| {
                        let cells = match (
                            std::str::from_utf8(trim_eol(&text[a..b])),
                            &self.segments[seg],
                        ) {
                            (Err(e), _) => Err(format!("the line is not UTF-8 text ({e})")),
                            (Ok(_), Err(why)) => Err(why.clone()),
                            (Ok(s), Ok(c)) => {
                                let scratch = scratch[seg]
                                    .as_mut()
                                    .expect("a scratch per compiled segment");
                                split_line(s, c, scratch, &self.places[seg], width, &mut room)
                            }
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
            .collect()
    }
}

/// One line's cells under the plan's header: the segment's cells at `places`, the rest absent.
/// `room` carries the bytes the previous line's cells took to the next line.
fn split_line<'a>(
    s: &'a str,
    c: &Compiled,
    scratch: &mut crate::formats::Scratch<'a>,
    places: &[usize],
    width: usize,
    room: &mut usize,
) -> Result<Cells, String> {
    let mut place = places.iter();
    // Cells are a part of the line, a small one in a JSON entry. Lines of one log are alike, so
    // the previous line's cells size the room (each row keeps all of it, zeroed when taken), and
    // only the first line guesses half of itself. A line that needs more grows its room.
    let guess = match *room {
        0 => s.len() / 2,
        r => r + r / 8 + 8,
    };
    let mut cells = Cells::with_capacity(guess, width);
    let mut next = 0;
    let mut too_long = Ok(());
    c.row(s, scratch, |v| {
        let at = place.next().copied().unwrap_or(next);
        for _ in next..at {
            cells.push_absent();
        }
        too_long = too_long.and(cells.push(v));
        next = at + 1;
    })?;
    too_long.map_err(|e| e.to_string())?;
    for _ in next..width {
        cells.push_absent();
    }
    *room = cells.bytes();
    Ok(cells)
}

/// Splits a whole log file's text into rows of contract cells, every line that is a row with
/// its cells or with the reason it could not be read: what the slices of a file read in slices
/// must add up to.
#[cfg(test)]
pub fn split_log(text: Vec<u8>, compiled: &Compiled) -> TextRows {
    let text = as_lines(text, compiled);
    LogPlan::new(&text, compiled).into_rows(text)
}

/// The text a JSON format's file is split from: one line per element when it is one array.
pub fn as_lines(text: Vec<u8>, compiled: &Compiled) -> Vec<u8> {
    if compiled.format().is_json() {
        json_array_as_lines(text)
    } else {
        text
    }
}

/// A file that is one JSON array (Keycloak's `GET /admin/realms/{realm}/events`), as one line
/// per element, so that element N is line N. Text that is not an array is left as it is; an
/// array that does not parse is left too, and its lines are rejected one by one.
fn json_array_as_lines(text: Vec<u8>) -> Vec<u8> {
    let body = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
    if body.iter().find(|c| !c.is_ascii_whitespace()) != Some(&b'[') {
        return text;
    }
    match serde_json::from_slice::<Vec<serde_json::Value>>(body) {
        Ok(elements) => {
            let mut lines = Vec::with_capacity(text.len());
            for e in elements {
                lines.extend(e.to_string().into_bytes());
                lines.push(b'\n');
            }
            lines
        }
        Err(_) => text,
    }
}

/// The lines `text` may hold, judged from its first MiB.
fn lines_expected(text: &[u8]) -> usize {
    const SAMPLE: usize = 1 << 20;
    let sample = &text[..text.len().min(SAMPLE)];
    let lines = line_ends(sample).count();
    if sample.len() == text.len() {
        return lines;
    }
    // A tenth more than the sample's density: under it a file of alike lines never grows.
    let per_line = (sample.len() / lines.max(1)).max(1);
    (text.len() / per_line).saturating_add(text.len() / per_line / 10)
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
    fn room_for_lines_is_judged_from_the_first_mib() {
        assert_eq!(lines_expected(b""), 0);
        assert_eq!(lines_expected(b"a\nbb\nccc"), 3);
        // 3 MiB of 64-byte lines: 49152 lines, a tenth more room.
        let text = [[b'x'; 63].as_slice(), b"\n"].concat().repeat(3 << 14);
        assert_eq!(lines_expected(&text), 49152 + 4915);
        // One line of 2 MiB: its first MiB, a cut line, counts as one; room for two.
        assert_eq!(lines_expected(&vec![b'y'; 2 << 20]), 2);
    }

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
