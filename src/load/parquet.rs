//! Parquet reader: a slice of row groups at a time, its columns kept typed for the column-wise
//! validator (`columnar.rs`) and rendered as the text cells every other format gives where a row
//! needs them.

use std::io::Seek;
use std::ops::Range;
use std::path::Path;

use polars::prelude::*;

use super::parquet_pages::Chunk;
use super::raw::{Cells, RawRow};
use crate::time::TimeForm;

/// The whole file at once (small files, tests).
pub fn read_whole(path: &Path) -> Result<ParquetRows, String> {
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
    /// The time form a column's type fixes, whatever its values: native timestamps are RFC 3339
    /// instants (zoned) or naive times, signed integers are epoch milliseconds.
    typed_forms: std::collections::HashMap<String, TimeForm>,
    /// Whether a column has any value, where every row group's statistics say how many nulls
    /// it holds.
    present_by_statistics: std::collections::HashMap<String, bool>,
    pub rows: usize,
    /// (first row, rows) of each slice, in file order.
    pub slices: Vec<(usize, usize)>,
}

/// Every column chunk of every row group, as the footer describes it, for the page-header check.
pub(super) fn chunks_of(metadata: &polars::io::parquet::read::FileMetadata) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for (i, rg) in metadata.row_groups.iter().enumerate() {
        for col in rg.parquet_columns() {
            let descriptor = col.descriptor();
            let range = col.byte_range();
            chunks.push(Chunk {
                column: descriptor.path_in_schema.join("."),
                row_group: i,
                rows: rg.num_rows(),
                flat: descriptor.descriptor.max_rep_level == 0,
                values: col.num_values(),
                start: range.start,
                end: range.end,
            });
        }
    }
    chunks
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
        let len = f.metadata().map_err(|e| e.to_string())?.len();
        let mut pages = f.try_clone().map_err(|e| e.to_string())?;
        super::parquet_pages::check_footer(&mut pages, len)?;
        let src = guarded(|| {
            let mut reader = ParquetReader::new(f);
            // polars is built without time-zone support, which drops the zone from the frame's
            // types; the file's own schema still says which timestamps are instants.
            let schema = reader.schema()?;
            let mut src = ParquetSource {
                path: path.to_path_buf(),
                headers: schema.iter_values().map(|f| f.name.to_string()).collect(),
                zoned: Default::default(),
                typed_forms: Default::default(),
                present_by_statistics: Default::default(),
                rows: 0,
                slices: Vec::new(),
            };
            for field in schema.iter_values() {
                let name = field.name.to_string();
                let form = match field.dtype() {
                    ArrowDataType::Timestamp(_, tz)
                        if tz.as_ref().is_some_and(|tz| !tz.is_empty()) =>
                    {
                        src.zoned.insert(name.clone());
                        Some(TimeForm::Rfc3339)
                    }
                    ArrowDataType::Timestamp(..) => Some(TimeForm::Naive),
                    ArrowDataType::Int8
                    | ArrowDataType::Int16
                    | ArrowDataType::Int32
                    | ArrowDataType::Int64 => Some(TimeForm::EpochMs),
                    _ => None,
                };
                if let Some(form) = form {
                    src.typed_forms.insert(name, form);
                }
            }
            let metadata = reader.get_metadata()?.clone();
            for name in src.typed_forms.keys() {
                let mut present = Some(false);
                for rg in &metadata.row_groups {
                    let nulls = rg.columns_under_root_iter(name).and_then(|mut cols| {
                        let col = cols.next()?;
                        col.statistics(&metadata.footer_buf)?.ok()?.null_count()
                    });
                    present = match (present, nulls) {
                        (Some(p), Some(n)) => {
                            usize::try_from(n).ok().map(|n| p || n < rg.num_rows())
                        }
                        _ => None,
                    };
                }
                if let Some(p) = present {
                    src.present_by_statistics.insert(name.clone(), p);
                }
            }
            let mut at = 0;
            let mut slice_start = 0;
            for rg in &metadata.row_groups {
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
            Ok((src, chunks_of(&metadata)))
        })?;
        let (src, chunks) = src;
        pages.rewind().map_err(|e| e.to_string())?;
        super::parquet_pages::check(&mut pages, len, &chunks)?;
        Ok(src)
    }

    /// The time form `header`'s type fixes, if it does: then the file-wide vote needs only to
    /// know whether the column holds a value ([`ParquetSource::present`]).
    pub fn typed_form(&self, header: &str) -> Option<TimeForm> {
        self.typed_forms.get(header).copied()
    }

    /// Reads rows `[offset, offset + len)` as text rows numbered by their 0-based row index,
    /// all columns or only `columns`. The rows are made from the columns when asked for.
    pub fn read(
        &self,
        (offset, len): (usize, usize),
        columns: Option<Vec<String>>,
    ) -> Result<ParquetRows, String> {
        let df = self.frame((offset, len), columns)?;
        let mut rows = ParquetRows {
            headers: Vec::with_capacity(df.width()),
            offset,
            height: df.height(),
            columns: Vec::with_capacity(df.width()),
        };
        for col in df.columns() {
            rows.headers.push(col.name().to_string());
            let text = ParquetColumn::of(
                col.as_materialized_series(),
                self.zoned.contains(col.name().as_str()),
            )
            .map_err(|e| format!("column {:?} cannot be read as text: {e}", col.name()))?;
            rows.columns.push(text);
        }
        Ok(rows)
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

    /// Whether any value of a column is not null: from the row groups' statistics where they
    /// count the nulls, else read slice by slice until one is found (a column that has values
    /// nearly always has one in its first slice).
    pub fn any_present(&self, header: &str) -> Result<bool, String> {
        if let Some(&p) = self.present_by_statistics.get(header) {
            return Ok(p);
        }
        for &slice in &self.slices {
            let df = self.frame(slice, Some(vec![header.to_string()]))?;
            if df
                .columns()
                .first()
                .is_some_and(|c| c.len() > c.null_count())
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The rows of a Parquet slice, kept as columns: validated column by column, and a row's text
/// cells rendered only for the rows that need them, on whichever thread validates that chunk.
#[derive(Debug, Default)]
pub struct ParquetRows {
    pub headers: Vec<String>,
    /// File-wide index of the first row.
    offset: usize,
    height: usize,
    columns: Vec<ParquetColumn>,
}

impl ParquetRows {
    /// The rows of a frame as a slice starting at row `offset`, the columns named in `zoned`
    /// read as instants, without a file (tests).
    #[cfg(test)]
    pub(super) fn of_frame(df: &DataFrame, offset: usize, zoned: &[&str]) -> ParquetRows {
        ParquetRows {
            headers: df.columns().iter().map(|c| c.name().to_string()).collect(),
            offset,
            height: df.height(),
            columns: df
                .columns()
                .iter()
                .map(|c| {
                    let zoned = zoned.contains(&c.name().as_str());
                    ParquetColumn::of(c.as_materialized_series(), zoned).unwrap()
                })
                .collect(),
        }
    }

    /// The columns, in header order.
    pub(super) fn columns(&self) -> &[ParquetColumn] {
        &self.columns
    }

    /// File-wide index of the slice's first row.
    pub(super) fn offset(&self) -> usize {
        self.offset
    }

    pub fn len(&self) -> usize {
        self.height
    }

    pub fn is_empty(&self) -> bool {
        self.height == 0
    }

    /// Row `i` of the slice as the text cells every other format gives, numbered by its file-wide index.
    /// The bytes of the text cells of each row in `rows`: a Parquet row's size for the row-size
    /// limit (numbers, times and flags are a few bytes each, and cannot make a row large).
    pub fn text_bytes(&self, rows: Range<usize>) -> Vec<u64> {
        let mut sizes = vec![0u64; rows.len()];
        for c in &self.columns {
            let ParquetColumn::Text(a) = c else { continue };
            let part = a.slice(rows.start as i64, rows.len());
            let mut k = 0;
            for arr in part.downcast_iter() {
                for v in arr.views().iter() {
                    sizes[k] += u64::from(v.length);
                    k += 1;
                }
            }
        }
        sizes
    }

    pub fn row(&self, i: usize) -> RawRow {
        let mut cells = Cells::with_capacity(32 * self.columns.len(), self.columns.len());
        let mut buf = String::new();
        let mut fits = Ok(());
        for c in &self.columns {
            fits = fits.and(cells.push(c.cell(i, &mut buf)));
        }
        RawRow {
            line: (self.offset + i) as u64,
            cells: fits.map(|()| cells).map_err(|e| e.to_string()),
            nested: Vec::new(),
            span: (0, 0),
        }
    }

    /// The row as the quarantine shows it: Parquet rows have no text, so a JSON object of its cells.
    pub fn quote(&self, row: &RawRow) -> String {
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
        serde_json::Value::Object(obj).to_string()
    }

    /// The present values of column `col`, in row order.
    pub fn column_values(&self, col: usize, mut f: impl FnMut(&str)) {
        let Some(c) = self.columns.get(col) else {
            return;
        };
        let mut buf = String::new();
        for i in 0..self.height {
            if let Some(v) = c.cell(i, &mut buf) {
                f(v);
            }
        }
    }
}

/// A Parquet column of a slice, one chunk. The types the validator takes by value are kept as
/// they are; every other type is cast to text, as the other formats carry it. Each cell renders
/// as the text a cast to text gives ([`ParquetColumn::cell`]), so a row checked cell by cell is
/// checked as it always was.
#[derive(Debug)]
pub(super) enum ParquetColumn {
    /// Strings, and every type not below, cast to text.
    Text(StringChunked),
    /// Signed integers, rendered per cell as the decimal digits a cast to text would give.
    Int(Int64Chunked),
    /// Native timestamps in units of `1 / per_ms` milliseconds, rendered per cell.
    Datetime {
        raw: Int64Chunked,
        per_ms: i64,
        zoned: bool,
    },
    /// 64-bit floats. Their text is polars' own (shortest round trip), cast for the whole slice
    /// the first time a cell is rendered: most slices never need it.
    Float {
        values: Float64Chunked,
        text: std::sync::OnceLock<Option<StringChunked>>,
    },
    /// Booleans, rendered as `true` and `false`, as a cast to text gives them.
    Bool(BooleanChunked),
}

impl ParquetColumn {
    fn of(s: &Series, zoned: bool) -> PolarsResult<ParquetColumn> {
        if let DataType::Datetime(unit, tz) = s.dtype() {
            let per_ms: i64 = match unit {
                TimeUnit::Milliseconds => 1,
                TimeUnit::Microseconds => 1_000,
                TimeUnit::Nanoseconds => 1_000_000,
            };
            let raw = s.to_physical_repr().i64()?.rechunk().into_owned();
            return Ok(ParquetColumn::Datetime {
                raw,
                per_ms,
                zoned: zoned || tz.is_some(),
            });
        }
        // Only the types that widen to i64 losslessly (not `is_signed_integer`, which takes in
        // 128-bit integers, whose cast would turn large values into nulls).
        if matches!(
            s.dtype(),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
        ) {
            // Rendered per cell rather than cast to a text column: the column is the size of the
            // log (timestamps, byte counts), and each cell is read once.
            let ints = s.cast(&DataType::Int64)?;
            return Ok(ParquetColumn::Int(ints.i64()?.rechunk().into_owned()));
        }
        // Float32 is not here: its text is the shortest that rounds back to the 32-bit value,
        // which read as a 64-bit number is not the same number, so it goes through its text.
        if s.dtype() == &DataType::Float64 {
            return Ok(ParquetColumn::Float {
                values: s.f64()?.rechunk().into_owned(),
                text: std::sync::OnceLock::new(),
            });
        }
        if s.dtype() == &DataType::Boolean {
            return Ok(ParquetColumn::Bool(s.bool()?.rechunk().into_owned()));
        }
        let text = s.cast(&DataType::String)?;
        // Kept in the reader's chunks: gathering string views into one array copies them all,
        // and the validator reads a chunk at a time anyway.
        Ok(ParquetColumn::Text(text.str()?.clone()))
    }

    /// Cell `i` as text, rendered into `buf` where it is not stored as text.
    pub(super) fn cell<'a>(&'a self, i: usize, buf: &'a mut String) -> Option<&'a str> {
        match self {
            ParquetColumn::Text(c) => c.get(i),
            ParquetColumn::Int(c) => {
                let v = c.get(i)?;
                buf.clear();
                buf.push_str(itoa::Buffer::new().format(v));
                Some(buf.as_str())
            }
            ParquetColumn::Datetime { raw, per_ms, zoned } => {
                let v = raw.get(i)?;
                buf.clear();
                datetime_text_into(v, *per_ms, *zoned, buf).then_some(buf.as_str())
            }
            ParquetColumn::Float { values, text } => text
                .get_or_init(|| {
                    // A cast of Float64 to text cannot fail; if it ever did, the cells would
                    // read as absent rather than take the run down.
                    let s = values.clone().into_series().cast(&DataType::String).ok()?;
                    s.str().ok().map(|c| c.rechunk().into_owned())
                })
                .as_ref()?
                .get(i),
            ParquetColumn::Bool(c) => c.get(i).map(|b| if b { "true" } else { "false" }),
        }
    }
}

/// A Parquet timestamp as RFC 3339 (with a zone) or naive text (without), keeping its full precision.
#[cfg(test)]
fn datetime_text(raw: i64, per_ms: i64, zoned: bool) -> Option<String> {
    let mut s = String::new();
    datetime_text_into(raw, per_ms, zoned, &mut s).then_some(s)
}

/// Writes [`datetime_text`] into `out`; false when the instant is out of range.
fn datetime_text_into(raw: i64, per_ms: i64, zoned: bool, out: &mut String) -> bool {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let ms = raw.div_euclid(per_ms);
    let sub_ms = raw.rem_euclid(per_ms);
    let Some(dt) = chrono::DateTime::from_timestamp_millis(ms) else {
        return false;
    };
    let (sep, zone) = if zoned { ('T', "Z") } else { (' ', "") };
    // Fields written one by one: a strftime pattern is re-parsed on every call, which showed
    // in the load profile at 10^7 timestamps.
    let _ = if (0..=9999).contains(&dt.year()) {
        write!(
            out,
            "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )
    } else {
        write!(out, "{}", dt.format(&format!("%Y-%m-%d{sep}%H:%M:%S")))
    };
    let milli = ms.rem_euclid(1000);
    let _ = match per_ms {
        1 => write!(out, ".{milli:03}{zone}"),
        1_000 => write!(out, ".{milli:03}{sub_ms:03}{zone}"),
        _ => write!(out, ".{milli:03}{sub_ms:06}{zone}"),
    };
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Integer columns are rendered cell by cell as the digits a cast to text gives, nulls absent.
    #[test]
    fn integer_columns_render_as_their_digits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.parquet");
        let mut df = DataFrame::new(
            3,
            vec![
                Column::new("ts".into(), [Some(1_577_318_400_123i64), None, Some(-5)]),
                Column::new("small".into(), [Some(7i32), Some(-2_147_483_648), None]),
                Column::new("name".into(), ["a", "b", "c"]),
            ],
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let src = ParquetSource::open(&path).unwrap();
        assert_eq!(src.typed_form("ts"), Some(TimeForm::EpochMs));
        assert_eq!(src.typed_form("small"), Some(TimeForm::EpochMs));
        assert_eq!(src.typed_form("name"), None);
        let rows = src.read((0, 3), None).unwrap();
        let cells: Vec<Vec<Option<String>>> = (0..3)
            .map(|i| rows.row(i).cells.unwrap().to_vec())
            .collect();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(cells[0], [s("1577318400123"), s("7"), s("a")]);
        assert_eq!(cells[1], [None, s("-2147483648"), s("b")]);
        assert_eq!(cells[2], [s("-5"), None, s("c")]);
    }

    /// A timestamp column's presence, from the statistics when the file has them and by reading
    /// when it has none, over several row groups.
    #[test]
    fn presence_of_a_timestamp_column_with_and_without_statistics() {
        let dir = tempfile::tempdir().unwrap();
        for stats in [true, false] {
            let path = dir.path().join(format!("p-{stats}.parquet"));
            let n = 10;
            let mut df = DataFrame::new(
                n,
                vec![
                    Column::new("ts".into(), (0..n as i64).map(Some).collect::<Vec<_>>()),
                    Column::new(
                        "late".into(),
                        (0..n as i64)
                            .map(|i| (i == 9).then_some(i))
                            .collect::<Vec<_>>(),
                    ),
                    Column::new("none".into(), vec![None::<i64>; n]),
                ],
            )
            .unwrap();
            ParquetWriter::new(std::fs::File::create(&path).unwrap())
                .with_row_group_size(Some(3))
                .with_statistics(match stats {
                    true => StatisticsOptions::full(),
                    false => StatisticsOptions::empty(),
                })
                .finish(&mut df)
                .unwrap();
            let src = ParquetSource::open_with(&path, 3).unwrap();
            assert!(src.slices.len() > 1);
            assert_eq!(src.present_by_statistics.len(), if stats { 3 } else { 0 });
            assert_eq!(src.any_present("ts"), Ok(true));
            assert_eq!(
                src.any_present("late"),
                Ok(true),
                "a value in the last slice only"
            );
            assert_eq!(src.any_present("none"), Ok(false));
        }
    }

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
