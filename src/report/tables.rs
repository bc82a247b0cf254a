//! Row-level outputs: the leak table (CSV and Parquet), all verdicts, unresolved deliveries, the citations and the quarantine.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::load::LoadedDataset;
use crate::schema::Kind;
use crate::sink::{BlockSink, ClassifiedBlock};
use crate::time::format_ms;
use crate::verdict::Class;

use super::citations::CitationsFile;
use super::escape::spreadsheet;
use super::group::Group;

/// Columns holding epoch milliseconds, written as RFC 3339 in CSV and as UTC datetimes in Parquet.
const TIME_COLUMNS: &[&str] = &["ts", "captured_at", "capture_ts", "fill_ts"];

/// Columns of unresolved.csv, in order.
const UNRESOLVED_COLUMNS: [&str; 10] = [
    "ts",
    "request_id",
    "session_id",
    "requested_stream_id",
    "cache_node",
    "cache_key",
    "reason",
    "recipient_account",
    "origin_stream_id",
    "capture_ts",
];

/// Rows per row group of verdicts.parquet, whatever the size of the blocks handed in, so that the
/// file's bytes do not depend on how the run was cut into blocks. The size of the driver's default
/// block, so that a default run hands in whole row groups.
const ROW_GROUP: usize = 1 << 19;

/// leaks.csv, leaks.parquet, unresolved.csv and verdicts.parquet, written a row group of
/// [`ROW_GROUP`] deliveries at a time, so that all deliveries are never one frame.
///
/// Every table is written as its row groups come: at 10^8 deliveries the leak rows alone would
/// be gigabytes if they were gathered first.
pub struct RowTables {
    out: PathBuf,
    /// Rows per row group: [`ROW_GROUP`], smaller in tests.
    row_group: usize,
    /// Rows handed in but not yet written, fewer than [`ROW_GROUP`].
    pending: Option<Group>,
    verdicts: Option<ParquetSink>,
    leaks: Option<(CsvSink, ParquetSink)>,
    unresolved: Option<CsvSink>,
    citations: Option<CitationsFile>,
    /// The run's input files by index, for citations.jsonl.
    files: Vec<String>,
}

type ParquetSink = (PathBuf, polars::io::parquet::write::BatchedWriter<File>);

impl RowTables {
    /// The tables of a run over `files`, the input files as the manifest lists them.
    pub fn new(out: &Path, files: Vec<String>) -> RowTables {
        RowTables {
            out: out.to_path_buf(),
            row_group: ROW_GROUP,
            pending: None,
            verdicts: None,
            leaks: None,
            unresolved: None,
            citations: None,
            files,
        }
    }

    /// Takes the next block of deliveries.
    fn add_block(&mut self, a: &ClassifiedBlock) -> Result<()> {
        let citations = match &mut self.citations {
            Some(c) => c,
            None => self.citations.insert(CitationsFile::create(
                &self.out,
                std::mem::take(&mut self.files),
            )?),
        };
        citations.add(a)?;
        let n = a.verdicts.len();
        let mut done = 0;
        loop {
            let group = match &mut self.pending {
                Some(g) => g,
                None => self.pending.insert(Group::like(a)),
            };
            if !group.fits(a) {
                return Err(Error::internal(
                    "a block of deliveries came with other columns than the blocks before it",
                    "",
                ));
            }
            let take = (self.row_group - group.len()).min(n - done);
            group.push(a, done..done + take);
            done += take;
            if group.len() == self.row_group {
                if let Some(full) = self.pending.take() {
                    self.write_group(full)?;
                }
            }
            if done == n {
                return Ok(());
            }
        }
    }

    /// Writes one row group of verdicts.parquet, and its leak and unresolved rows.
    fn write_group(&mut self, group: Group) -> Result<()> {
        let ctx = |e| Error::polars("building the verdict table", e);
        let (group, classes) = group.finish()?;
        let leaks = rows_of(&group, &classes, Class::Leak)
            .map(|df| {
                df.drop_many(["class", "reason", "flipped"])
                    .drop_many(CONTEXT_COLUMNS)
            })
            .map_err(ctx)?;
        let (csv, parquet) = match &mut self.leaks {
            Some(l) => l,
            None => self.leaks.insert((
                CsvSink::create(&self.out.join("leaks.csv"))?,
                parquet_sink(&self.out.join("leaks.parquet"), &leaks)?,
            )),
        };
        csv.append(&leaks)?;
        parquet_batch(parquet, &leaks)?;
        drop(leaks);
        let unresolved = rows_of(&group, &classes, Class::Unresolved)
            .and_then(|df| df.select(UNRESOLVED_COLUMNS))
            .map_err(ctx)?;
        let csv = match &mut self.unresolved {
            Some(c) => c,
            None => self
                .unresolved
                .insert(CsvSink::create(&self.out.join("unresolved.csv"))?),
        };
        csv.append(&unresolved)?;
        let verdicts = match &mut self.verdicts {
            Some(w) => w,
            None => self
                .verdicts
                .insert(parquet_sink(&self.out.join("verdicts.parquet"), &group)?),
        };
        parquet_batch(verdicts, &group)
    }

    /// Writes what is pending and closes every table.
    pub fn finish(mut self) -> Result<()> {
        // Even with no deliveries at all, every table gets its header.
        if let Some(p) = self.pending.take() {
            self.write_group(p)?;
        }
        if let Some((path, w)) = self.verdicts {
            w.finish()
                .map_err(|e| Error::polars_at(Some(&path), "closing a Parquet file", e))?;
        }
        if let Some((csv, (path, w))) = self.leaks {
            csv.finish()?;
            w.finish()
                .map_err(|e| Error::polars_at(Some(&path), "closing a Parquet file", e))?;
        }
        if let Some(csv) = self.unresolved {
            csv.finish()?;
        }
        match self.citations {
            Some(c) => c.finish(),
            None => CitationsFile::create(&self.out, self.files)?.finish(),
        }
    }
}

/// A Parquet file written a row group at a time, with the schema of `like` (times as datetimes,
/// text as text). Columns that [`Group`] coded are written as text with the group's dictionary.
fn parquet_sink(path: &Path, like: &DataFrame) -> Result<ParquetSink> {
    let like = plain_text(like.clear()).map_err(|e| Error::polars("the schema of a table", e))?;
    let like = parquet_times(like)?;
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let w = ParquetWriter::new(file)
        .batched(like.schema())
        .map_err(|e| Error::polars_at(Some(path), "opening a Parquet file", e))?;
    Ok((path.to_path_buf(), w))
}

/// Writes `df` as the next row group of `sink`; an empty frame writes nothing.
fn parquet_batch(sink: &mut ParquetSink, df: &DataFrame) -> Result<()> {
    if df.height() == 0 {
        return Ok(());
    }
    let df = parquet_times(df.clone())?;
    sink.1
        .write_batch(&df)
        .map_err(|e| Error::polars_at(Some(&sink.0), "writing a row group", e))
}

impl BlockSink for RowTables {
    fn add(&mut self, block: &ClassifiedBlock) -> Result<()> {
        self.add_block(block)
    }
}

/// Writes the row tables of `a`, deliveries of a run over `files`, into `out`.
pub fn write_row_tables(a: &ClassifiedBlock, out: &Path, files: Vec<String>) -> Result<()> {
    // The tables gather their own row groups: one block of every delivery is never one frame.
    let mut tables = RowTables::new(out, files);
    tables.add_block(a)?;
    tables.finish()
}

/// The context columns, last in verdicts.parquet.
const CONTEXT_COLUMNS: [&str; 4] = [
    "client",
    "integration",
    "recipient_country",
    "subject_country",
];

/// The rows of `class`, their text plain: the group's dictionaries hold every value of the group,
/// and are no dictionaries for a few of its rows.
fn rows_of(df: &DataFrame, classes: &[Class], class: Class) -> PolarsResult<DataFrame> {
    let mask: BooleanChunked = classes.iter().map(|&c| c == class).collect();
    plain_text(df.filter(&mask)?)
}

/// Every column coded by [`Group`] as plain text.
fn plain_text(mut df: DataFrame) -> PolarsResult<DataFrame> {
    let coded: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| c.dtype().is_categorical())
        .map(|c| c.name().clone())
        .collect();
    for name in coded {
        let text = df.column(&name)?.cast(&DataType::String)?;
        df.with_column(text)?;
    }
    Ok(df)
}

/// Time columns as UTC datetimes, the way Parquet readers expect them.
fn parquet_times(mut df: DataFrame) -> Result<DataFrame> {
    for name in TIME_COLUMNS {
        if let Ok(c) = df.column(name) {
            let dt = c
                .cast(&DataType::Datetime(
                    TimeUnit::Milliseconds,
                    Some(TimeZone::UTC),
                ))
                .map_err(|e| Error::polars(format!("{name} as a datetime"), e))?;
            df.with_column(dt)
                .map_err(|e| Error::polars("replacing a column", e))?;
        }
    }
    Ok(df)
}

/// A CSV file written a frame at a time, with RFC 3339 times, integral numbers without a fraction,
/// absent values empty and text spreadsheet-safe ([`spreadsheet`]; the Parquet copy keeps it exact): the first frame's column names as the header, then every frame's rows.
struct CsvSink {
    path: PathBuf,
    w: csv::Writer<File>,
    header: bool,
}

impl CsvSink {
    fn create(path: &Path) -> Result<CsvSink> {
        Ok(CsvSink {
            path: path.to_path_buf(),
            w: csv::Writer::from_path(path).map_err(|e| Error::output(path, e))?,
            header: false,
        })
    }

    fn append(&mut self, df: &DataFrame) -> Result<()> {
        let path = &self.path;
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        if !self.header {
            self.w
                .write_record(&names)
                .map_err(|e| Error::output(path, e))?;
            self.header = true;
        }
        let mut df = df.clone();
        df.rechunk_mut_par();
        let cells: Vec<Cells> = df
            .columns()
            .iter()
            .zip(&names)
            .map(|(c, name)| Cells::of(c, TIME_COLUMNS.contains(name)))
            .collect();
        let mut buf = String::new();
        for i in 0..df.height() {
            for c in &cells {
                buf.clear();
                c.render(i, &mut buf)
                    .map_err(|e| Error::polars("reading a cell", e))?;
                self.w
                    .write_field(&buf)
                    .map_err(|e| Error::output(path, e))?;
            }
            self.w
                .write_record(None::<&[u8]>)
                .map_err(|e| Error::output(path, e))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.w.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// A column's cells as CSV text, typed once per column instead of once per cell.
enum Cells<'a> {
    Text(&'a StringChunked),
    Time(&'a Int64Chunked),
    Int(&'a Int64Chunked),
    Float(&'a Float64Chunked),
    Bool(&'a BooleanChunked),
    Other(&'a Column),
}

impl<'a> Cells<'a> {
    fn of(c: &'a Column, is_time: bool) -> Cells<'a> {
        match c.dtype() {
            DataType::String => c.str().map(Cells::Text),
            DataType::Int64 if is_time => c.i64().map(Cells::Time),
            DataType::Int64 => c.i64().map(Cells::Int),
            DataType::Float64 => c.f64().map(Cells::Float),
            DataType::Boolean => c.bool().map(Cells::Bool),
            _ => Ok(Cells::Other(c)),
        }
        .unwrap_or(Cells::Other(c))
    }

    /// Appends cell `i` to `out`; absent values stay empty.
    fn render(&self, i: usize, out: &mut String) -> PolarsResult<()> {
        use std::fmt::Write;
        match self {
            Cells::Text(c) => out.push_str(&spreadsheet(c.get(i).unwrap_or(""))),
            Cells::Time(c) => {
                if let Some(t) = c.get(i) {
                    out.push_str(&format_ms(t));
                }
            }
            Cells::Int(c) => {
                if let Some(v) = c.get(i) {
                    let _ = write!(out, "{v}");
                }
            }
            Cells::Float(c) => match c.get(i) {
                Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                    let _ = write!(out, "{}", f as i64);
                }
                Some(f) => {
                    let _ = write!(out, "{f}");
                }
                None => {}
            },
            Cells::Bool(c) => {
                if let Some(b) = c.get(i) {
                    out.push_str(if b { "true" } else { "false" });
                }
            }
            Cells::Other(c) => match c.get(i)? {
                AnyValue::Null => {}
                AnyValue::String(s) => out.push_str(&spreadsheet(s)),
                AnyValue::StringOwned(s) => out.push_str(&spreadsheet(s.as_str())),
                v => {
                    let _ = write!(out, "{v}");
                }
            },
        }
        Ok(())
    }
}

/// One CSV per log kind, every rejected row with its file, line, column, reason and raw text.
pub fn write_quarantine(loaded: &LoadedDataset, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for kind in Kind::ALL {
        let path = dir.join(format!("{}.csv", kind.name()));
        let mut w = csv::Writer::from_path(&path).map_err(|e| Error::output(&path, e))?;
        w.write_record(["file", "line", "column", "reason", "raw"])
            .map_err(|e| Error::output(&path, e))?;
        let mut rows: Vec<_> = loaded.rejections[&kind].iter().collect();
        rows.sort();
        for r in rows {
            w.write_record([
                r.file.as_str(),
                &r.line.to_string(),
                &r.column,
                &r.reason,
                &r.raw,
            ])
            .map_err(|e| Error::output(&path, e))?;
        }
        w.flush().map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cite::{Cite, Cited};
    use crate::context::DeliveryContext;
    use crate::verdict::{Citations, Missing, Verdict};
    use std::sync::Arc;

    /// However the deliveries come in blocks, the row groups and every byte of the row tables
    /// are the same: a group's dictionaries are its own values, gathered across blocks.
    #[test]
    fn blocks_of_any_size_write_the_same_row_tables() {
        let n = 5000;
        let mut csv = String::from(
            "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,request_id\n",
        );
        for i in 0..n {
            let status = ["hit", "miss"][i % 2];
            csv.push_str(&format!(
                "{},s{},cam-{},n{},k{},{status},r{i}\n",
                1000 + i,
                i % 37,
                i % 11,
                i % 3,
                i % 53
            ));
        }
        let d = crate::load::table_from_csv(Kind::Deliveries, &csv, 0);
        assert_eq!(d.len(), n);
        let account = |i: usize| Some(Arc::<str>::from(format!("acct-{}", i % 29)));
        let verdicts: Vec<Verdict> = (0..n)
            .map(|i| {
                let class = [Class::Ok, Class::Leak, Class::Unresolved, Class::Ambiguous][i % 4];
                Verdict {
                    missing: (class == Class::Unresolved).then_some(Missing::NoContent),
                    recipient: account(i),
                    subject: account(i * 7),
                    // Mostly distinct: written plain.
                    object_id: Some(Arc::from(format!("obj-{}", i / 2))),
                    capture_ts: Some(i as i64),
                    cites: (class != Class::Ok).then(|| {
                        Box::new(Citations {
                            session_start: Cited::at(7, Cite::new(0, i as u64).unwrap()),
                            session_end: None,
                            content: Cited::at(9, Cite::new(0, 2 * i as u64).unwrap()),
                            owner: None,
                            grant: None,
                            flips: vec![],
                        })
                    }),
                    ..Verdict::without_evidence(class)
                }
            })
            .collect();
        let country = |i: usize| Some(Arc::<str>::from(["de", "fr", "us"][i % 3]));
        let context = DeliveryContext {
            client: (0..n).map(|_| Some(Arc::from("hub"))).collect(),
            integration: (0..n).map(|_| None).collect(),
            recipient_country: (0..n).map(country).collect(),
            subject_country: (0..n).map(|i| country(i / 5)).collect(),
        };
        let dir = tempfile::tempdir().unwrap();
        let write = |cuts: &[usize]| -> Vec<Vec<u8>> {
            let name: Vec<String> = cuts.iter().map(|c| c.to_string()).collect();
            let out = dir.path().join(format!("out-{}", name.join("-")));
            std::fs::create_dir_all(&out).unwrap();
            let mut tables = RowTables::new(&out, vec!["deliveries/d.csv".into()]);
            tables.row_group = 1500;
            let mut start = 0;
            for &end in cuts.iter().chain([&n]) {
                tables
                    .add(&ClassifiedBlock {
                        deliveries: &d,
                        rows: start..end,
                        verdicts: &verdicts[start..end],
                        context: &context.slice(start..end),
                    })
                    .unwrap();
                start = end;
            }
            tables.finish().unwrap();
            [
                "verdicts.parquet",
                "leaks.parquet",
                "leaks.csv",
                "unresolved.csv",
                "citations.jsonl",
            ]
            .iter()
            .map(|f| std::fs::read(out.join(f)).unwrap())
            .collect()
        };
        let whole = write(&[]);
        for cuts in [
            &[1500, 3000, 4500][..],
            &[1, 2999, 3001],
            &[700, 1400, 2100, 2800, 3500, 4200],
        ] {
            assert!(write(cuts) == whole, "blocks cut at {cuts:?}");
        }
        // Every delivery that is not ok, in row order, with its rows named by their file.
        let cited: Vec<super::super::citations::CitationRecord> =
            String::from_utf8(whole[4].clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
        assert_eq!(cited.len(), 3 * n / 4);
        let second = &cited[1];
        assert_eq!(
            (second.request_id.as_deref(), second.class, second.reason),
            (Some("r2"), Class::Unresolved, Some(Missing::NoContent))
        );
        assert_eq!(second.delivery.line, 4, "the header is line 1");
        let content = second.rows.content.as_ref().unwrap();
        assert_eq!((&*content.file, content.line), ("deliveries/d.csv", 4));
        assert_eq!(content.ts.as_deref(), Some("1970-01-01T00:00:00.009Z"));
        assert_eq!(second.rows.owner, None);
        let back = ParquetReader::new(std::io::Cursor::new(whole[0].clone()))
            .finish()
            .unwrap();
        assert_eq!(back.height(), n);
        assert_eq!(back.column("object_id").unwrap().dtype(), &DataType::String);
        let subjects = back
            .column("subject_account")
            .unwrap()
            .str()
            .unwrap()
            .clone();
        assert_eq!(subjects.get(4999), Some("acct-19"));
        let leaks = String::from_utf8(whole[2].clone()).unwrap();
        assert_eq!(leaks.lines().count(), 1 + n / 4);
    }

    /// The verdict table's text goes to the Parquet writer with the dictionaries of
    /// [`Group`]; the file must be the one the writer makes of plain text.
    #[test]
    fn a_group_dictionary_writes_the_bytes_of_plain_text() {
        let cells: Vec<Option<&str>> = (0..5000)
            .map(|i| (i % 7 != 0).then_some(["cam-1", "cam-22", "cam-333", "z"][i % 4]))
            .collect();
        let empty: Vec<Option<&str>> = vec![None; 5000];
        let frame = |text: fn(&str, &[Option<&str>]) -> Column| {
            let cols = vec![text("stream", &cells), text("reason", &empty)];
            DataFrame::new(cells.len(), cols).unwrap()
        };
        let plain = frame(|name, c| Column::new(name.into(), c));
        let coded = frame(super::super::group::coded_column);
        assert!(coded.columns().iter().all(|c| c.dtype().is_categorical()));
        let dir = tempfile::tempdir().unwrap();
        let write = |df: &DataFrame, name: &str| {
            let path = dir.path().join(name);
            let mut sink = parquet_sink(&path, df).unwrap();
            parquet_batch(&mut sink, df).unwrap();
            sink.1.finish().unwrap();
            std::fs::read(&path).unwrap()
        };
        let (a, b) = (
            write(&plain, "plain.parquet"),
            write(&coded, "coded.parquet"),
        );
        assert!(a == b, "{} and {} bytes", a.len(), b.len());
        let back = ParquetReader::new(std::io::Cursor::new(b))
            .finish()
            .unwrap();
        assert!(back.equals_missing(&plain));
    }
}
