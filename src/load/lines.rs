//! Reads chosen rows of an input file back as they stand in it: text lines by number, Parquet rows by index.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::parquet::ParquetSource;
use super::read::{log_compression, Compression};

/// The SHA-256 of a file's bytes, as hex, the way the manifest records it.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Rows `wanted` of the file at `path`: for Parquet (`parquet`), rows by 0-based index, each as
/// the JSON object of its cells the quarantine shows; otherwise lines by 1-based number, after
/// undoing the compression its name says, without their line ending. A row the file does not
/// have is left out.
pub fn read_rows(
    path: &Path,
    parquet: bool,
    wanted: &BTreeSet<u64>,
) -> Result<BTreeMap<u64, String>, String> {
    if parquet {
        return parquet_rows(path, wanted);
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let reader: Box<dyn Read> = match log_compression(path) {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| e.to_string())?)
        }
    };
    text_lines(BufReader::new(reader), wanted).map_err(|e| e.to_string())
}

/// Lines `wanted` of a text: only those are kept, so a long file of long lines costs the
/// memory of the lines asked for.
fn text_lines(
    mut r: impl BufRead,
    wanted: &BTreeSet<u64>,
) -> std::io::Result<BTreeMap<u64, String>> {
    let mut out = BTreeMap::new();
    let Some(&last) = wanted.last() else {
        return Ok(out);
    };
    let mut line = 1u64;
    let mut current: Vec<u8> = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let keep = wanted.contains(&line);
        let (took, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if keep {
            current.extend_from_slice(&buf[..took]);
        }
        r.consume(took);
        if ended {
            if keep {
                out.insert(line, finish_line(&mut current));
            }
            if line >= last {
                return Ok(out);
            }
            line += 1;
        }
    }
    if wanted.contains(&line) && !current.is_empty() {
        out.insert(line, finish_line(&mut current));
    }
    Ok(out)
}

/// A line's text without its ending; bytes that are not UTF-8 show as U+FFFD.
fn finish_line(bytes: &mut Vec<u8>) -> String {
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    let s = String::from_utf8_lossy(bytes).into_owned();
    bytes.clear();
    s
}

fn parquet_rows(path: &Path, wanted: &BTreeSet<u64>) -> Result<BTreeMap<u64, String>, String> {
    let src = ParquetSource::open(path)?;
    let mut out = BTreeMap::new();
    for &i in wanted {
        let Ok(row) = usize::try_from(i) else {
            continue;
        };
        if row >= src.rows {
            continue;
        }
        let rows = src.read((row, 1), None)?;
        out.insert(i, rows.quote(&rows.row(0)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_lines_come_back_without_their_endings_and_missing_ones_are_left_out() {
        let text = "h1,h2\r\na,b\nc,d\n\nlast";
        let wanted: BTreeSet<u64> = [2, 4, 5, 9].into();
        let got = text_lines(BufReader::with_capacity(3, text.as_bytes()), &wanted).unwrap();
        let want: BTreeMap<u64, String> = [
            (2, "a,b".to_string()),
            (4, String::new()),
            (5, "last".to_string()),
        ]
        .into();
        assert_eq!(got, want);
    }

    #[test]
    fn compressed_files_are_read_back_by_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, b"ts,x\n1,a\n2,b\n").unwrap();
        std::fs::write(&p, gz.finish().unwrap()).unwrap();
        let got = read_rows(&p, false, &[3].into()).unwrap();
        assert_eq!(got.get(&3).map(String::as_str), Some("2,b"));
        assert_eq!(sha256_of(&p).unwrap().len(), 64);
    }
}
