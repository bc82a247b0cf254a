//! Readers: a file recognised by its name, decompressed, and read by its format's reader (`text.rs` for CSV and
//! JSONL, `parquet.rs`) into a header and raw rows (`raw.rs`).

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

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

/// Reads and splits one file in a contract format. An `Err` means the file as a whole is unreadable.
pub fn read_file(path: &Path, format: Format, compression: Compression) -> Result<RawFile, String> {
    match format {
        Format::Parquet => super::parquet::read_whole(path).map(RawFile::Parquet),
        Format::Csv => Ok(RawFile::Text(text::split_csv(decode(path, compression)?))),
        Format::Jsonl => Ok(RawFile::Text(jsonl::split_jsonl(decode(
            path,
            compression,
        )?))),
        Format::Log(f) => Err(format!(
            "a {} log is read with its mapping's format (a bug of ours if this is seen)",
            f.name()
        )),
    }
}

/// Reads a text file and undoes its compression.
pub(super) fn decode(path: &Path, compression: Compression) -> Result<Vec<u8>, String> {
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
