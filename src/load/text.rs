//! The CSV reader: a file's decompressed text split into a header and raw text rows (and the line ends the line-based readers share).
//!
//! They do not interpret values; they only split the text into rows and cells, and keep the
//! text to quote a row back in the quarantine.

use super::raw::{Cells, RawRow, RecordError};

/// A CSV or JSONL file split into rows, with the text they are quoted from.
#[derive(Debug, Default)]
pub struct TextRows {
    pub headers: Vec<String>,
    pub rows: Vec<RawRow>,
    /// The decoded bytes, to quote rejected rows from.
    pub text: Vec<u8>,
}

impl TextRows {
    /// The row as it stood in the file, for the quarantine.
    pub fn quote(&self, row: &RawRow) -> String {
        let (a, b) = row.span;
        let bytes = self.text.get(a..b.min(self.text.len())).unwrap_or(&[]);
        let s = String::from_utf8_lossy(bytes);
        s.trim_end_matches(['\r', '\n']).to_string()
    }
}

/// Splits CSV text. Records that cannot be split are kept as rows with a reason.
pub fn split_csv(text: Vec<u8>) -> TextRows {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_slice());
    let mut file = TextRows::default();
    let mut record = csv::ByteRecord::new();
    let mut pending: Option<(u64, usize, Result<Cells, String>)> = None;
    let mut header_seen = false;
    let mut lines = LineCounter::new(&text);
    let finish = |file: &mut TextRows,
                  pending: &mut Option<(u64, usize, Result<Cells, String>)>,
                  end: usize| {
        if let Some((line, start, cells)) = pending.take() {
            file.rows.push(RawRow {
                line,
                cells,
                nested: Vec::new(),
                span: (start, end),
            });
        }
    };
    loop {
        let pos_before = rdr.position().clone();
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let pos = record.position().cloned().unwrap_or(pos_before);
                let start = lines.skip_blank(pos.byte() as usize);
                finish(&mut file, &mut pending, start);
                if !header_seen {
                    header_seen = true;
                    file.headers = record
                        .iter()
                        .enumerate()
                        .map(|(i, h)| {
                            let h = String::from_utf8_lossy(h);
                            let h = if i == 0 {
                                h.trim_start_matches('\u{feff}')
                            } else {
                                &h
                            };
                            h.trim().to_string()
                        })
                        .collect();
                    continue;
                }
                let cells = if record.len() != file.headers.len() {
                    Err(format!(
                        "record has {} fields, the header has {}",
                        record.len(),
                        file.headers.len()
                    ))
                } else {
                    Cells::from_record(&record).map_err(|e| match e {
                        RecordError::NotText(field) => {
                            format!("invalid UTF-8 in column {:?}", file.headers[field])
                        }
                        RecordError::TooLong(e) => e.to_string(),
                    })
                };
                pending = Some((lines.line_at(start), start, cells));
            }
            Err(e) => {
                let start = lines.skip_blank(pos_before.byte() as usize);
                finish(&mut file, &mut pending, start);
                let line = lines.line_at(start);
                if !header_seen {
                    header_seen = true;
                    continue;
                }
                pending = Some((line, start, Err(format!("malformed CSV record: {e}"))));
                if rdr.position().byte() == pos_before.byte() {
                    break;
                }
            }
        }
    }
    let end = text.len();
    finish(&mut file, &mut pending, end);
    file.text = text;
    file
}

/// The end of every line of `text` (past its `\n`), and of a last line without one.
pub(super) fn line_ends(text: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let last = (!text.ends_with(b"\n") && !text.is_empty()).then_some(text.len());
    memchr::memchr_iter(b'\n', text).map(|i| i + 1).chain(last)
}

/// Turns byte offsets into 1-based line numbers, for offsets visited in increasing order.
struct LineCounter<'a> {
    text: &'a [u8],
    byte: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a [u8]) -> Self {
        LineCounter {
            text,
            byte: 0,
            line: 1,
        }
    }

    /// The first byte at or after `at` that is not a line break: where a record really starts,
    /// since the CSV reader counts blank lines before a record as part of it.
    fn skip_blank(&self, mut at: usize) -> usize {
        while at < self.text.len() && matches!(self.text[at], b'\n' | b'\r') {
            at += 1;
        }
        at
    }

    fn line_at(&mut self, at: usize) -> u64 {
        let at = at.min(self.text.len());
        if at > self.byte {
            self.line += self.text[self.byte..at]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.byte = at;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_keep_lines_and_quotes() {
        let f = split_csv(b"a,b\n1,\"x\ny\"\n\n2,z\n3\n".to_vec());
        assert_eq!(f.headers, vec!["a", "b"]);
        assert_eq!(f.rows.len(), 3);
        assert_eq!(f.rows[0].line, 2);
        assert_eq!(
            f.rows[0].cells.as_ref().unwrap().to_vec(),
            vec![Some("1".into()), Some("x\ny".into())]
        );
        assert_eq!(f.rows[1].line, 5);
        assert_eq!(f.quote(&f.rows[1]), "2,z");
        assert!(f.rows[2].cells.is_err());
        assert_eq!(f.quote(&f.rows[2]), "3");
    }

    #[test]
    fn csv_bom_and_bad_utf8() {
        let mut text = "\u{feff}a,b\n".as_bytes().to_vec();
        text.extend_from_slice(b"\xff,1\n");
        let f = split_csv(text);
        assert_eq!(f.headers, vec!["a", "b"]);
        assert_eq!(f.rows.len(), 1);
        assert!(f.rows[0]
            .cells
            .as_ref()
            .unwrap_err()
            .contains("invalid UTF-8"));
    }
}
