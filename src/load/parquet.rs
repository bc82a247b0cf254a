//! Parquet reader: typed columns rendered as the text cells every other format gives, a slice of row groups at a time.

use std::path::Path;

use polars::prelude::*;

use super::read::{RawFile, RawRow};

/// The whole file at once (small files, tests).
pub fn read_whole(path: &Path) -> Result<RawFile, String> {
    let src = ParquetSource::open(path)?;
    src.read((0, src.rows), None)
}

/// Rows per Parquet slice: slices are whole row groups, merged up to about this many rows.
const PARQUET_SLICE_ROWS: usize = 262_144;

/// A Parquet file read a slice of row groups at a time, so that a 10^8-row file costs the
/// memory of one slice, not of the file.
#[derive(Debug)]
pub struct ParquetSource {
    path: std::path::PathBuf,
    pub headers: Vec<String>,
    /// Timestamp columns that are instants (the file's schema names a zone).
    zoned: std::collections::HashSet<String>,
    /// Columns with a native timestamp type.
    timestamps: std::collections::HashSet<String>,
    pub rows: usize,
    /// (first row, rows) of each slice, in file order.
    pub slices: Vec<(usize, usize)>,
}

/// Runs a decoder call so that a corrupt file costs only itself, even if the decoder panics on it.
fn guarded<T>(f: impl FnOnce() -> PolarsResult<T>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| "bad Parquet file: the decoder gave up on it".to_string())?
        .map_err(|e| format!("bad Parquet file: {e}"))
}

impl ParquetSource {
    pub fn open(path: &Path) -> Result<ParquetSource, String> {
        ParquetSource::open_with(path, PARQUET_SLICE_ROWS)
    }

    /// Opens with slices of about `slice_rows` rows (tests use tiny ones).
    pub fn open_with(path: &Path, slice_rows: usize) -> Result<ParquetSource, String> {
        let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
        guarded(|| {
            let mut reader = ParquetReader::new(f);
            // polars is built without time-zone support, which drops the zone from the frame's
            // types; the file's own schema still says which timestamps are instants.
            let schema = reader.schema()?;
            let mut src = ParquetSource {
                path: path.to_path_buf(),
                headers: schema.iter_values().map(|f| f.name.to_string()).collect(),
                zoned: Default::default(),
                timestamps: Default::default(),
                rows: 0,
                slices: Vec::new(),
            };
            for field in schema.iter_values() {
                if let ArrowDataType::Timestamp(_, tz) = field.dtype() {
                    src.timestamps.insert(field.name.to_string());
                    if tz.as_ref().is_some_and(|tz| !tz.is_empty()) {
                        src.zoned.insert(field.name.to_string());
                    }
                }
            }
            let mut at = 0;
            let mut slice_start = 0;
            for rg in &reader.get_metadata()?.row_groups {
                at += rg.num_rows();
                if at - slice_start >= slice_rows {
                    src.slices.push((slice_start, at - slice_start));
                    slice_start = at;
                }
            }
            if at > slice_start || src.slices.is_empty() {
                src.slices.push((slice_start, at - slice_start));
            }
            src.rows = at;
            Ok(src)
        })
    }

    /// Whether `header` has a native timestamp type, and if so whether it is an instant (zoned).
    pub fn timestamp_type(&self, header: &str) -> Option<bool> {
        self.timestamps
            .contains(header)
            .then(|| self.zoned.contains(header))
    }

    /// Reads rows `[offset, offset + len)` as text rows numbered by their 0-based row index,
    /// all columns or only `columns`.
    pub fn read(
        &self,
        (offset, len): (usize, usize),
        columns: Option<Vec<String>>,
    ) -> Result<RawFile, String> {
        let df = self.frame((offset, len), columns)?;
        let mut file = RawFile {
            from_parquet: true,
            ..RawFile::default()
        };
        let height = df.height();
        let mut columns: Vec<StringChunked> = Vec::with_capacity(df.width());
        for col in df.columns() {
            file.headers.push(col.name().to_string());
            let text = column_as_text(
                col.as_materialized_series(),
                self.zoned.contains(col.name().as_str()),
            )
            .map_err(|e| format!("column {:?} cannot be read as text: {e}", col.name()))?;
            columns.push(text.rechunk().into_owned());
        }
        drop(df);
        file.rows = (0..height)
            .map(|i| RawRow {
                line: (offset + i) as u64,
                cells: Ok(columns.iter().map(|c| c.get(i)).collect()),
                nested: Vec::new(),
                span: (0, 0),
            })
            .collect();
        Ok(file)
    }

    fn frame(
        &self,
        (offset, len): (usize, usize),
        columns: Option<Vec<String>>,
    ) -> Result<DataFrame, String> {
        let f = std::fs::File::open(&self.path).map_err(|e| e.to_string())?;
        guarded(|| {
            ParquetReader::new(f)
                .with_slice(Some((offset, len)))
                .with_columns(columns)
                .finish()
        })
    }

    /// Non-null values of a column, without rendering them (for natively typed timestamps).
    pub fn non_null(&self, (offset, len): (usize, usize), header: &str) -> Result<usize, String> {
        let df = self.frame((offset, len), Some(vec![header.to_string()]))?;
        Ok(df
            .columns()
            .first()
            .map(|c| c.len() - c.null_count())
            .unwrap_or(0))
    }
}

/// Renders a Parquet column as the text the other formats would carry, so one validator serves all.
fn column_as_text(s: &Series, zoned: bool) -> PolarsResult<StringChunked> {
    if let DataType::Datetime(unit, tz) = s.dtype() {
        let zoned = zoned || tz.is_some();
        let per_ms: i64 = match unit {
            TimeUnit::Milliseconds => 1,
            TimeUnit::Microseconds => 1_000,
            TimeUnit::Nanoseconds => 1_000_000,
        };
        let phys = s.to_physical_repr();
        let ca = phys.i64()?;
        return Ok(ca
            .iter()
            .map(|v| v.and_then(|raw| datetime_text(raw, per_ms, zoned)))
            .collect());
    }
    let text = s.cast(&DataType::String)?;
    Ok(text.str()?.clone())
}

/// A Parquet timestamp as RFC 3339 (with a zone) or naive text (without), keeping its full precision.
fn datetime_text(raw: i64, per_ms: i64, zoned: bool) -> Option<String> {
    let ms = raw.div_euclid(per_ms);
    let sub_ms = raw.rem_euclid(per_ms);
    let dt = chrono::DateTime::from_timestamp_millis(ms)?;
    let frac = match per_ms {
        1 => format!("{:03}", ms.rem_euclid(1000)),
        1_000 => format!("{:03}{:03}", ms.rem_euclid(1000), sub_ms),
        _ => format!("{:03}{:06}", ms.rem_euclid(1000), sub_ms),
    };
    // Fields written one by one: a strftime pattern is re-parsed on every call, which showed
    // in the load profile at 10^7 timestamps.
    use chrono::{Datelike, Timelike};
    let (sep, zone) = if zoned { ('T', "Z") } else { (' ', "") };
    if !(0..=9999).contains(&dt.year()) {
        return Some(format!(
            "{}.{frac}{zone}",
            dt.format(&format!("%Y-%m-%d{sep}%H:%M:%S"))
        ));
    }
    Some(format!(
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}.{frac}{zone}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_text_matches_the_strftime_rendering() {
        for (raw, per_ms) in [
            (1_577_318_400_123, 1),
            (0, 1),
            (-1, 1),
            (253_402_300_799_999, 1),
            (253_402_300_800_000, 1),
            (-62_167_219_200_001, 1),
            (1_577_318_400_123_456, 1_000),
            (1_577_318_400_123_456_789, 1_000_000),
        ] {
            for zoned in [true, false] {
                let ms = i64::div_euclid(raw, per_ms);
                let dt = chrono::DateTime::from_timestamp_millis(ms).unwrap();
                let got = datetime_text(raw, per_ms, zoned).unwrap();
                let pattern = if zoned {
                    "%Y-%m-%dT%H:%M:%S"
                } else {
                    "%Y-%m-%d %H:%M:%S"
                };
                let head = dt.format(pattern).to_string();
                assert!(
                    got.starts_with(&format!("{head}.")),
                    "{raw}: {got} vs {head}"
                );
                assert_eq!(got.ends_with('Z'), zoned, "{got}");
            }
        }
    }
}
