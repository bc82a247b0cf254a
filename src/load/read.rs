//! Readers: a file recognised by its name, decompressed, and read by its format's reader (`text.rs` for CSV and
//! JSONL, `parquet.rs`) into a header and raw rows (`raw.rs`).

use std::borrow::Cow;
use std::path::Path;

use super::bounded::{read_bounded, read_bounded_sized, Decoded, SetAside};
use super::jsonl;
use super::parquet::ParquetRows;
use super::raw::RawRow;
use super::text::{self, TextRows};
use crate::formats::LogFormat;

/// Container format of a log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
    /// A server's own log format, declared in the mapping for the file's kind.
    #[serde(untagged)]
    Log(LogFormat),
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

/// A file, or a slice of a Parquet file, split into rows.
#[derive(Debug)]
pub enum RawFile {
    /// CSV or JSONL: every row, and the text to quote them from.
    Text(TextRows),
    /// A slice of a Parquet file's row groups, kept as columns; rows are made when asked for.
    Parquet(ParquetRows),
}

impl RawFile {
    pub fn headers(&self) -> &[String] {
        match self {
            RawFile::Text(t) => &t.headers,
            RawFile::Parquet(p) => &p.headers,
        }
    }

    /// Rows in the file (or Parquet slice).
    pub fn len(&self) -> usize {
        match self {
            RawFile::Text(t) => t.rows.len(),
            RawFile::Parquet(p) => p.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i` (0-based within this file or slice).
    pub fn row(&self, i: usize) -> Cow<'_, RawRow> {
        match self {
            RawFile::Text(t) => Cow::Borrowed(&t.rows[i]),
            RawFile::Parquet(p) => Cow::Owned(p.row(i)),
        }
    }

    /// The present values of header column `col`, in row order (rows that could not be split have none).
    pub fn column_values(&self, col: usize, f: impl FnMut(&str)) {
        match self {
            RawFile::Text(t) => t
                .rows
                .iter()
                .filter_map(|r| r.cells.as_ref().ok().and_then(|c| c.get(col)))
                .for_each(f),
            RawFile::Parquet(p) => p.column_values(col, f),
        }
    }

    /// The size of row `i` for the row-size limit: its bytes in the text, or a Parquet row's
    /// text cells ([`ParquetRows::text_bytes`]).
    pub fn row_bytes(&self, i: usize) -> u64 {
        match self {
            RawFile::Text(t) => {
                let (a, b) = t.rows[i].span;
                b.saturating_sub(a) as u64
            }
            RawFile::Parquet(p) => p.text_bytes(i..i + 1)[0],
        }
    }

    /// The row as it stood in the file, for the quarantine.
    pub fn quote(&self, row: &RawRow) -> String {
        match self {
            RawFile::Text(t) => t.quote(row),
            RawFile::Parquet(p) => p.quote(row),
        }
    }

    /// The decoded text rows are quoted from (none for Parquet).
    pub fn into_text(self) -> Vec<u8> {
        match self {
            RawFile::Text(t) => t.text,
            RawFile::Parquet(_) => Vec::new(),
        }
    }
}

/// The compression of a file in a declared log format, by its name (`access.log.2.gz`).
pub fn log_compression(path: &Path) -> Compression {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".gz") {
        Compression::Gzip
    } else if name.ends_with(".zst") {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// One file in a contract format, split into rows, with the lines set aside as beyond the
/// row-size limit.
#[derive(Debug)]
pub struct ReadFile {
    pub raw: RawFile,
    /// Nothing for Parquet, which has no lines.
    pub set_aside: SetAside,
}

/// Reads and splits one file in a contract format, no line longer than `max_row_bytes`. An `Err`
/// means the file as a whole is unreadable.
pub fn read_file(
    path: &Path,
    format: Format,
    compression: Compression,
    max_row_bytes: u64,
) -> Result<ReadFile, String> {
    let text = |d: Decoded, split: fn(Vec<u8>) -> TextRows| ReadFile {
        raw: RawFile::Text(split(d.text)),
        set_aside: d.set_aside,
    };
    match format {
        Format::Parquet => Ok(ReadFile {
            raw: RawFile::Parquet(super::parquet::read_whole(path)?),
            set_aside: SetAside::default(),
        }),
        Format::Csv => {
            let d = decode(path, compression, max_row_bytes)?;
            header_within_limit(&d, max_row_bytes)?;
            Ok(text(d, text::split_csv))
        }
        Format::Jsonl => Ok(text(
            decode(path, compression, max_row_bytes)?,
            jsonl::split_jsonl,
        )),
        Format::Log(f) => Err(format!(
            "a {} log is read with its mapping's format (a bug of ours if this is seen)",
            f.name()
        )),
    }
}

/// A CSV file whose header is beyond the limit has no columns to read its rows by.
fn header_within_limit(d: &Decoded, limit: u64) -> Result<(), String> {
    let blank = d.text.iter().take_while(|&&b| matches!(b, b'\n' | b'\r'));
    let header_line = 1 + blank.filter(|&&b| b == b'\n').count() as u64;
    match d.set_aside.oversized.first() {
        Some(o) if o.line <= header_line => Err(format!(
            "its header (line {}) is {} bytes, beyond the row-size limit of {limit} bytes (max_row_bytes)",
            o.line, o.bytes
        )),
        _ => Ok(()),
    }
}

/// Reads a text file and undoes its compression; lines longer than `max_row_bytes` are set aside
/// as they stream by, so a file of one endless line takes no more memory than the limit.
pub(super) fn decode(
    path: &Path,
    compression: Compression,
    max_row_bytes: u64,
) -> Result<Decoded, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let res = match compression {
        Compression::None => {
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            read_bounded_sized(file, max_row_bytes, size)
        }
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(file), max_row_bytes),
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(file).and_then(|d| read_bounded(d, max_row_bytes))
        }
    };
    res.map_err(|e| match compression {
        Compression::None => e.to_string(),
        Compression::Gzip => format!("bad gzip stream: {e}"),
        Compression::Zstd => format!("bad zstd stream: {e}"),
    })
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
}
