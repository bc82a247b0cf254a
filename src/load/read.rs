//! Readers: file detection, decompression, and the CSV and JSONL readers (Parquet is in `parquet.rs`), each turning a file into a header and raw text rows.
//!
//! Readers do not interpret values; they only split the file into rows and
//! cells, and keep what is needed to quote a row back in the quarantine.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

pub use super::parquet::ParquetRows;

/// Container format of a log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
}

/// Compression wrapped around a CSV or JSONL file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Recognises a log file by its name; `None` for names the contract does not cover.
pub fn detect(path: &Path) -> Option<(Format, Compression)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, compression) = if let Some(s) = name.strip_suffix(".gz") {
        (s, Compression::Gzip)
    } else if let Some(s) = name.strip_suffix(".zst") {
        (s, Compression::Zstd)
    } else {
        (name.as_str(), Compression::None)
    };
    let format = if stem.ends_with(".csv") {
        Format::Csv
    } else if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") {
        Format::Jsonl
    } else if stem.ends_with(".parquet") && compression == Compression::None {
        Format::Parquet
    } else {
        return None;
    };
    Some((format, compression))
}

/// The cells of one row, in header order, held in one buffer; an empty cell is absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cells(csv::StringRecord);

impl Cells {
    /// The cell at header position `i`; `None` when empty or past the end.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i).filter(|s| !s.is_empty())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Room for `fields` cells of `bytes` bytes in all.
    pub fn with_capacity(bytes: usize, fields: usize) -> Cells {
        Cells(csv::StringRecord::with_capacity(bytes, fields))
    }

    /// Appends the next cell (`None`: absent).
    pub fn push(&mut self, v: Option<&str>) {
        self.0.push_field(v.unwrap_or(""));
    }

    pub fn to_vec(&self) -> Vec<Option<String>> {
        (0..self.len())
            .map(|i| self.get(i).map(str::to_string))
            .collect()
    }
}

impl<'a> FromIterator<Option<&'a str>> for Cells {
    fn from_iter<I: IntoIterator<Item = Option<&'a str>>>(iter: I) -> Self {
        let mut r = csv::StringRecord::new();
        for c in iter {
            r.push_field(c.unwrap_or(""));
        }
        Cells(r)
    }
}

/// One data row as the file had it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    /// 1-based line for text formats (the CSV header is line 1), 0-based row index for Parquet.
    pub line: u64,
    /// One cell per header column; `None` is absent (empty string or null).
    /// `Err` when the row could not even be split into cells.
    pub cells: Result<Cells, String>,
    /// Header positions whose JSON value was an object or array.
    pub nested: Vec<usize>,
    /// Byte range of the row in the decoded file, for quoting it back (text formats).
    pub span: (usize, usize),
}

/// A whole file split into rows.
#[derive(Debug, Default)]
pub struct RawFile {
    pub headers: Vec<String>,
    /// The rows of a text file (a Parquet file keeps its rows in `parquet`).
    pub rows: Vec<RawRow>,
    /// The decoded bytes of a text file, to quote rejected rows from.
    pub text: Vec<u8>,
    /// Parquet rows have no text; their quote is rendered from the cells.
    pub from_parquet: bool,
    /// A Parquet slice's columns, made into rows only when validation reaches them.
    pub parquet: Option<ParquetRows>,
}

impl RawFile {
    /// Rows in the file (or Parquet slice).
    pub fn len(&self) -> usize {
        match &self.parquet {
            Some(p) => p.len(),
            None => self.rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i` (0-based within this file or slice).
    pub fn row(&self, i: usize) -> Cow<'_, RawRow> {
        match &self.parquet {
            Some(p) => Cow::Owned(p.row(i)),
            None => Cow::Borrowed(&self.rows[i]),
        }
    }

    /// The present values of header column `col`, in row order (rows that could not be split have none).
    pub fn column_values(&self, col: usize, f: impl FnMut(&str)) {
        match &self.parquet {
            Some(p) => p.column_values(col, f),
            None => self
                .rows
                .iter()
                .filter_map(|r| r.cells.as_ref().ok().and_then(|c| c.get(col)))
                .for_each(f),
        }
    }

    /// The row as it stood in the file, for the quarantine.
    pub fn quote(&self, row: &RawRow) -> String {
        if self.from_parquet {
            let mut obj = serde_json::Map::new();
            if let Ok(cells) = &row.cells {
                for (i, h) in self.headers.iter().enumerate() {
                    let v = cells
                        .get(i)
                        .map(|c| serde_json::Value::String(c.to_string()))
                        .unwrap_or(serde_json::Value::Null);
                    obj.insert(h.clone(), v);
                }
            }
            return serde_json::Value::Object(obj).to_string();
        }
        let (a, b) = row.span;
        let bytes = self.text.get(a..b.min(self.text.len())).unwrap_or(&[]);
        let s = String::from_utf8_lossy(bytes);
        s.trim_end_matches(['\r', '\n']).to_string()
    }
}

/// Reads and splits one file. An `Err` means the file as a whole is unreadable.
pub fn read_file(path: &Path, format: Format, compression: Compression) -> Result<RawFile, String> {
    match format {
        Format::Parquet => super::parquet::read_whole(path),
        Format::Csv => Ok(split_csv(decode(path, compression)?)),
        Format::Jsonl => Ok(split_jsonl(decode(path, compression)?)),
    }
}

fn decode(path: &Path, compression: Compression) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let res = match compression {
        Compression::None => std::io::BufReader::new(file).read_to_end(&mut out),
        Compression::Gzip => flate2::read::MultiGzDecoder::new(file).read_to_end(&mut out),
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(file).and_then(|mut d| d.read_to_end(&mut out))
        }
    };
    res.map_err(|e| match compression {
        Compression::None => e.to_string(),
        Compression::Gzip => format!("bad gzip stream: {e}"),
        Compression::Zstd => format!("bad zstd stream: {e}"),
    })?;
    Ok(out)
}

/// Splits CSV text. Records that cannot be split are kept as rows with a reason.
pub fn split_csv(text: Vec<u8>) -> RawFile {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_slice());
    let mut file = RawFile::default();
    let mut record = csv::ByteRecord::new();
    let mut pending: Option<(u64, usize, Result<Cells, String>)> = None;
    let mut header_seen = false;
    let mut lines = LineCounter::new(&text);
    let finish = |file: &mut RawFile,
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
                    match csv::StringRecord::from_byte_record(record.clone()) {
                        Ok(r) => Ok(Cells(r)),
                        Err(e) => {
                            let field = e.utf8_error().field();
                            Err(format!("invalid UTF-8 in column {:?}", file.headers[field]))
                        }
                    }
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

/// Splits JSON Lines text; every non-blank line is one row.
pub fn split_jsonl(text: Vec<u8>) -> RawFile {
    let mut file = RawFile::default();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // Each object is reduced to (header position, text) pairs as soon as it is parsed, so a
    // large file never holds every parsed JSON map at once; cells are laid out at the end,
    // when the union of keys (the header) is known.
    struct ParsedLine {
        line: u64,
        span: (usize, usize),
        pairs: Result<Vec<(usize, Option<String>)>, String>,
        nested: Vec<usize>,
    }
    let mut parsed: Vec<ParsedLine> = Vec::new();
    let mut start = 0usize;
    let mut line_no = 0u64;
    while start < text.len() {
        line_no += 1;
        let end = text[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| start + p + 1)
            .unwrap_or(text.len());
        let raw = &text[start..end];
        let span = (start, end);
        start = end;
        let trimmed = raw.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        let mut nested = Vec::new();
        let res = match std::str::from_utf8(trimmed) {
            Err(_) => Err("invalid UTF-8".to_string()),
            Ok(s) => match serde_json::from_str::<serde_json::Value>(s) {
                Ok(serde_json::Value::Object(m)) => Ok(m
                    .into_iter()
                    .map(|(k, v)| {
                        let i = match index.get(&k) {
                            Some(&i) => i,
                            None => {
                                let i = file.headers.len();
                                file.headers.push(k.clone());
                                index.insert(k, i);
                                i
                            }
                        };
                        let text = match v {
                            serde_json::Value::Null => None,
                            serde_json::Value::String(s) => Some(s),
                            serde_json::Value::Bool(b) => Some(b.to_string()),
                            serde_json::Value::Number(n) => Some(n.to_string()),
                            other => {
                                nested.push(i);
                                Some(other.to_string())
                            }
                        };
                        (i, text)
                    })
                    .collect()),
                Ok(_) => Err("line is JSON but not an object".to_string()),
                Err(e) => Err(format!("invalid JSON: {e}")),
            },
        };
        parsed.push(ParsedLine {
            line: line_no,
            span,
            pairs: res,
            nested,
        });
    }
    let width = file.headers.len();
    let mut cells: Vec<Option<String>> = vec![None; width];
    for ParsedLine {
        line,
        span,
        pairs,
        nested,
    } in parsed
    {
        let row = pairs.map(|pairs| {
            cells.iter_mut().for_each(|c| *c = None);
            for (i, v) in pairs {
                cells[i] = v;
            }
            cells.iter().map(|c| c.as_deref()).collect()
        });
        file.rows.push(RawRow {
            line,
            cells: row,
            nested,
            span,
        });
    }
    file.text = text;
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_by_name() {
        assert_eq!(
            detect(Path::new("a.csv")),
            Some((Format::Csv, Compression::None))
        );
        assert_eq!(
            detect(Path::new("a.CSV.GZ")),
            Some((Format::Csv, Compression::Gzip))
        );
        assert_eq!(
            detect(Path::new("a.ndjson.zst")),
            Some((Format::Jsonl, Compression::Zstd))
        );
        assert_eq!(
            detect(Path::new("a.parquet")),
            Some((Format::Parquet, Compression::None))
        );
        assert_eq!(detect(Path::new("a.parquet.gz")), None);
        assert_eq!(detect(Path::new("README.md")), None);
    }

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

    #[test]
    fn jsonl_rows_union_keys() {
        let f = split_jsonl(
            b"{\"a\":1,\"b\":null}\n\n{\"c\":\"x\",\"a\":\"\"}\n[1]\nnot json\n{\"a\":{\"k\":1}}"
                .to_vec(),
        );
        assert_eq!(f.headers, vec!["a", "b", "c"]);
        assert_eq!(f.rows.len(), 5);
        assert_eq!(
            f.rows[0].cells.as_ref().unwrap().to_vec(),
            vec![Some("1".into()), None, None]
        );
        assert_eq!(f.rows[1].line, 3);
        assert_eq!(
            f.rows[1].cells.as_ref().unwrap().to_vec(),
            vec![None, None, Some("x".into())]
        );
        assert!(f.rows[2].cells.is_err());
        assert!(f.rows[3].cells.is_err());
        assert_eq!(f.rows[4].nested, vec![0]);
        assert_eq!(f.quote(&f.rows[3]), "not json");
    }
}
