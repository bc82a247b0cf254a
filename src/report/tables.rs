//! Row-level outputs: the leak table (CSV and Parquet), all verdicts, unresolved deliveries and the quarantine.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::analyze::{blocks, Analysis};
use crate::error::{Error, Result};
use crate::findings::DeliveryContext;
use crate::load::table::Table;
use crate::load::LoadedDataset;
use crate::schema::Kind;
use crate::time::format_ms;
use crate::verdict::{Class, Verdict};

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

/// What the per-delivery tables are made of: the deliveries, their verdicts and the context the
/// reports looked up for each.
pub struct RowSource<'a> {
    pub deliveries: &'a Table,
    /// The rows of `deliveries` to write.
    pub rows: Range<usize>,
    /// `verdicts[k]` belongs to row `rows.start + k`, as does each context value.
    pub verdicts: &'a [Verdict],
    pub context: &'a DeliveryContext,
}

impl<'a> RowSource<'a> {
    /// Every delivery of a run that kept its verdicts.
    pub fn of(a: &'a Analysis) -> RowSource<'a> {
        RowSource {
            deliveries: a.loaded.table(Kind::Deliveries),
            rows: 0..a.verdicts.len(),
            verdicts: &a.verdicts,
            context: &a.findings.context,
        }
    }
}

/// Rows per row group of verdicts.parquet, whatever the size of the blocks handed in, so that the
/// file's bytes do not depend on how the run was cut into blocks.
const ROW_GROUP: usize = crate::analyze::DEFAULT_BLOCK_ROWS;

/// leaks.csv, leaks.parquet, unresolved.csv and verdicts.parquet, written a row group of
/// [`ROW_GROUP`] deliveries at a time, so that all deliveries are never one frame.
pub struct RowTables {
    out: PathBuf,
    /// Rows handed in but not yet written, fewer than [`ROW_GROUP`].
    pending: Option<DataFrame>,
    verdicts: Option<polars::io::parquet::write::BatchedWriter<File>>,
    leaks: Option<DataFrame>,
    unresolved: Option<DataFrame>,
}

impl RowTables {
    pub fn new(out: &Path) -> RowTables {
        RowTables {
            out: out.to_path_buf(),
            pending: None,
            verdicts: None,
            leaks: None,
            unresolved: None,
        }
    }

    /// Takes the next block of deliveries.
    pub fn add(&mut self, a: &RowSource) -> Result<()> {
        let ctx = |e| Error::polars("building the verdict table", e);
        let block = with_context(evidence(a).map_err(ctx)?, a.context).map_err(ctx)?;
        stack(&mut self.pending, block).map_err(ctx)?;
        while let Some(p) = self.pending.take() {
            if p.height() < ROW_GROUP {
                self.pending = Some(p);
                break;
            }
            let rest = p.slice(ROW_GROUP as i64, p.height() - ROW_GROUP);
            self.write_group(p.slice(0, ROW_GROUP))?;
            if rest.height() > 0 {
                self.pending = Some(rest);
            }
        }
        Ok(())
    }

    /// Writes one row group of verdicts.parquet and keeps its leak and unresolved rows.
    fn write_group(&mut self, mut group: DataFrame) -> Result<()> {
        let ctx = |e| Error::polars("building the verdict table", e);
        group.rechunk_mut_par();
        let leaks = rows_of(&group, Class::Leak)
            .map(|df| {
                df.drop_many(["class", "reason", "flipped"])
                    .drop_many(CONTEXT_COLUMNS)
            })
            .and_then(compact)
            .map_err(ctx)?;
        stack(&mut self.leaks, leaks).map_err(ctx)?;
        let unresolved = rows_of(&group, Class::Unresolved)
            .and_then(|df| df.select(UNRESOLVED_COLUMNS))
            .and_then(compact)
            .map_err(ctx)?;
        stack(&mut self.unresolved, unresolved).map_err(ctx)?;
        let group = parquet_times(group)?;
        let path = self.out.join("verdicts.parquet");
        let writer = match &mut self.verdicts {
            Some(w) => w,
            None => {
                let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
                self.verdicts.insert(
                    ParquetWriter::new(file)
                        .batched(group.schema())
                        .map_err(|e| Error::output(&path, e))?,
                )
            }
        };
        writer
            .write_batch(&group)
            .map_err(|e| Error::output(&path, e))
    }

    /// Writes what is pending, closes verdicts.parquet and writes the leak and unresolved tables.
    pub fn finish(mut self) -> Result<()> {
        // Even with no deliveries at all, every table gets its header.
        if let Some(p) = self.pending.take() {
            self.write_group(p)?;
        }
        let out = &self.out;
        if let Some(w) = self.verdicts {
            w.finish()
                .map_err(|e| Error::output(&out.join("verdicts.parquet"), e))?;
        }
        if let Some(leaks) = self.leaks {
            write_csv(&leaks, &out.join("leaks.csv"))?;
            write_parquet(leaks, &out.join("leaks.parquet"))?;
        }
        if let Some(rows) = self.unresolved {
            write_csv(&rows, &out.join("unresolved.csv"))?;
        }
        Ok(())
    }
}

/// Writes the row tables of `a` into `out`.
pub fn write_row_tables(a: &RowSource, out: &Path) -> Result<()> {
    let mut tables = RowTables::new(out);
    // In blocks, so that the evidence of all deliveries is never one frame.
    for k in blocks(a.verdicts.len(), ROW_GROUP) {
        tables.add(&RowSource {
            deliveries: a.deliveries,
            rows: a.rows.start + k.start..a.rows.start + k.end,
            verdicts: &a.verdicts[k.clone()],
            context: &a.context.slice(k),
        })?;
    }
    if a.verdicts.is_empty() {
        tables.add(a)?;
    }
    tables.finish()
}

/// Appends `block` to the rows gathered so far.
fn stack(acc: &mut Option<DataFrame>, block: DataFrame) -> PolarsResult<()> {
    match acc {
        Some(df) => {
            df.vstack_mut_owned(block)?;
        }
        None => *acc = Some(block),
    }
    Ok(())
}

/// Deliveries `rows` with their verdicts and evidence, one row per delivery.
///
/// `origin_stream_id` and `object_id` are the resolved content: the delivery's own
/// where it named its origin, otherwise what the cache held (`delivery_object_id`
/// keeps what the delivery row itself said).
fn evidence(a: &RowSource) -> PolarsResult<DataFrame> {
    let v = a.verdicts;
    let text = |f: fn(&Verdict) -> Option<&str>| v.iter().map(f).collect::<Vec<_>>();
    // The delivery's own origin, where present, is the resolved one; its own object id is
    // kept apart because, without an origin, the cache's object is the content.
    let mut df = a
        .deliveries
        .frame_of(a.rows.clone())?
        .drop_many(["origin_stream_id"]);
    df.rename("object_id", "delivery_object_id".into())?;
    let cols = [
        Column::new(
            "class".into(),
            v.iter().map(|x| x.class.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "reason".into(),
            v.iter()
                .map(|x| x.missing.map(|m| m.as_str()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "flipped".into(),
            v.iter().map(|x| x.flipped).collect::<Vec<_>>(),
        ),
        Column::new("recipient_account".into(), text(|x| x.recipient.as_deref())),
        Column::new(
            "origin_stream_id".into(),
            text(|x| x.origin_stream_id.as_deref()),
        ),
        Column::new("subject_account".into(), text(|x| x.subject.as_deref())),
        Column::new("object_id".into(), text(|x| x.object_id.as_deref())),
        Column::new(
            "capture_ts".into(),
            v.iter().map(|x| x.capture_ts).collect::<Vec<_>>(),
        ),
        Column::new(
            "fill_ts".into(),
            v.iter().map(|x| x.fill_ts).collect::<Vec<_>>(),
        ),
        Column::new(
            "config_version".into(),
            text(|x| x.config_version.as_deref()),
        ),
        Column::new(
            "content_source".into(),
            v.iter()
                .map(|x| x.content_source.map(|c| c.as_str()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "granted".into(),
            v.iter().map(|x| x.granted).collect::<Vec<_>>(),
        ),
    ];
    for c in cols {
        df.with_column(c)?;
    }
    Ok(df)
}

/// The context columns, last in verdicts.parquet.
const CONTEXT_COLUMNS: [&str; 4] = [
    "client",
    "integration",
    "recipient_country",
    "subject_country",
];

/// verdicts.parquet also carries what the reports looked up for each delivery (leaks.csv keeps its contract columns).
fn with_context(mut df: DataFrame, cx: &DeliveryContext) -> PolarsResult<DataFrame> {
    for (name, v) in CONTEXT_COLUMNS.into_iter().zip([
        &cx.client,
        &cx.integration,
        &cx.recipient_country,
        &cx.subject_country,
    ]) {
        df.with_column(Column::new(
            name.into(),
            v.iter().map(|x| x.as_deref()).collect::<Vec<_>>(),
        ))?;
    }
    Ok(df)
}

/// `df` with text columns that hold only their own values. A filtered frame's text still points
/// into the buffers of the frame it came from, which would keep every row group's text alive
/// for the few rows kept from it.
fn compact(df: DataFrame) -> PolarsResult<DataFrame> {
    let height = df.height();
    let columns = df
        .into_columns()
        .into_iter()
        .map(|c| match c.dtype() {
            DataType::String => {
                let ca = c.str()?;
                let arrays = ca.downcast_iter().map(|a| a.clone().gc());
                Ok(StringChunked::from_chunk_iter(c.name().clone(), arrays).into_column())
            }
            _ => Ok(c),
        })
        .collect::<PolarsResult<Vec<Column>>>()?;
    DataFrame::new(height, columns)
}

fn rows_of(df: &DataFrame, class: Class) -> PolarsResult<DataFrame> {
    let mask = df.column("class")?.str()?.equal(class.as_str());
    df.filter(&mask)
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

fn write_parquet(df: DataFrame, path: &Path) -> Result<()> {
    let mut df = parquet_times(df)?;
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    ParquetWriter::new(file)
        .finish(&mut df)
        .map_err(|e| Error::output(path, e))?;
    Ok(())
}

/// Writes a frame as CSV with RFC 3339 times, integral numbers without a fraction and absent values empty.
pub(crate) fn write_csv(df: &DataFrame, path: &Path) -> Result<()> {
    let mut df = df.clone();
    df.rechunk_mut_par();
    let mut w = csv::Writer::from_path(path).map_err(|e| Error::output(path, e))?;
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    w.write_record(&names).map_err(|e| Error::output(path, e))?;
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
            w.write_field(&buf).map_err(|e| Error::output(path, e))?;
        }
        w.write_record(None::<&[u8]>)
            .map_err(|e| Error::output(path, e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))
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
            Cells::Text(c) => out.push_str(c.get(i).unwrap_or("")),
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
                AnyValue::String(s) => out.push_str(s),
                AnyValue::StringOwned(s) => out.push_str(s.as_str()),
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
