//! Row-level outputs: the leak table (CSV and Parquet), all verdicts, unresolved deliveries and the quarantine.

use std::fs::File;
use std::ops::Range;
use std::path::Path;

use polars::prelude::*;

use crate::analyze::{blocks, Analysis};
use crate::error::{Error, Result};
use crate::findings::DeliveryContext;
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
    pub loaded: &'a LoadedDataset,
    /// `verdicts[i]` belongs to row i of the deliveries table.
    pub verdicts: &'a [Verdict],
    pub context: &'a DeliveryContext,
}

impl<'a> RowSource<'a> {
    pub fn of(a: &'a Analysis) -> RowSource<'a> {
        RowSource {
            loaded: &a.loaded,
            verdicts: &a.verdicts,
            context: &a.findings.context,
        }
    }
}

/// Writes leaks.csv, leaks.parquet, unresolved.csv and verdicts.parquet, a block of deliveries at a
/// time, so that all deliveries are never one frame at once.
pub fn write_row_tables(a: &RowSource, out: &Path) -> Result<()> {
    let ctx = |e| Error::polars("building the verdict table", e);
    let n = a.verdicts.len();
    // One block even with no deliveries, so that every table still gets its header.
    let ranges: Vec<Range<usize>> = match n {
        0 => std::iter::once(0..0).collect(),
        _ => blocks(n, 0).collect(),
    };
    let verdicts_path = out.join("verdicts.parquet");
    let mut verdicts: Option<polars::io::parquet::write::BatchedWriter<File>> = None;
    let (mut leaks, mut unresolved): (Option<DataFrame>, Option<DataFrame>) = (None, None);
    for rows in ranges {
        let all = evidence(a, rows.clone()).map_err(ctx)?;
        let classes = &a.verdicts[rows.clone()];
        let block_leaks = rows_of(&all, classes, Class::Leak)
            .map_err(ctx)?
            .drop_many(["class", "reason", "flipped"]);
        stack(&mut leaks, block_leaks).map_err(ctx)?;
        let block_unresolved = rows_of(&all, classes, Class::Unresolved)
            .and_then(|df| df.select(UNRESOLVED_COLUMNS))
            .map_err(ctx)?;
        stack(&mut unresolved, block_unresolved).map_err(ctx)?;
        let all = parquet_times(with_context(all, a, rows).map_err(ctx)?)?;
        let writer = match &mut verdicts {
            Some(w) => w,
            None => {
                let file =
                    File::create(&verdicts_path).map_err(|e| Error::io(&verdicts_path, e))?;
                verdicts.insert(
                    ParquetWriter::new(file)
                        .batched(all.schema())
                        .map_err(|e| Error::output(&verdicts_path, e))?,
                )
            }
        };
        writer
            .write_batch(&all)
            .map_err(|e| Error::output(&verdicts_path, e))?;
    }
    if let Some(w) = verdicts {
        w.finish().map_err(|e| Error::output(&verdicts_path, e))?;
    }
    if let Some(leaks) = leaks {
        write_csv(&leaks, &out.join("leaks.csv"))?;
        write_parquet(leaks, &out.join("leaks.parquet"))?;
    }
    if let Some(rows) = unresolved {
        write_csv(&rows, &out.join("unresolved.csv"))?;
    }
    Ok(())
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
fn evidence(a: &RowSource, rows: Range<usize>) -> PolarsResult<DataFrame> {
    let v = &a.verdicts[rows.clone()];
    let text = |f: fn(&Verdict) -> Option<&str>| v.iter().map(f).collect::<Vec<_>>();
    // The delivery's own origin, where present, is the resolved one; its own object id is
    // kept apart because, without an origin, the cache's object is the content.
    let mut df = a
        .loaded
        .table(Kind::Deliveries)
        .frame_of(rows)?
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

/// verdicts.parquet also carries what the reports looked up for each delivery (leaks.csv keeps its contract columns).
fn with_context(mut df: DataFrame, a: &RowSource, rows: Range<usize>) -> PolarsResult<DataFrame> {
    let cx = a.context;
    for (name, v) in [
        ("client", &cx.client),
        ("integration", &cx.integration),
        ("recipient_country", &cx.recipient_country),
        ("subject_country", &cx.subject_country),
    ] {
        df.with_column(Column::new(
            name.into(),
            v[rows.clone()]
                .iter()
                .map(|x| x.as_deref())
                .collect::<Vec<_>>(),
        ))?;
    }
    Ok(df)
}

fn rows_of(df: &DataFrame, verdicts: &[Verdict], class: Class) -> PolarsResult<DataFrame> {
    let mask: BooleanChunked = verdicts.iter().map(|v| v.class == class).collect();
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
