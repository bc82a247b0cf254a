//! Row-level outputs: the leak table (CSV and Parquet), all verdicts, unresolved deliveries and the quarantine.

use std::path::Path;

use polars::prelude::*;

use crate::analyze::Analysis;
use crate::error::{Error, Result};
use crate::load::LoadedDataset;
use crate::schema::Kind;
use crate::time::format_ms;
use crate::verdict::{Class, Verdict};

/// Columns holding epoch milliseconds, written as RFC 3339 in CSV and as UTC datetimes in Parquet.
const TIME_COLUMNS: &[&str] = &["ts", "captured_at", "capture_ts", "fill_ts"];

/// The deliveries with their verdicts and evidence, one row per accepted delivery.
///
/// `origin_stream_id` and `object_id` are the resolved content: the delivery's own
/// where it named its origin, otherwise what the cache held (`delivery_object_id`
/// keeps what the delivery row itself said).
pub fn evidence(a: &Analysis) -> PolarsResult<DataFrame> {
    let v = &a.verdicts;
    let text = |f: fn(&Verdict) -> Option<&str>| v.iter().map(f).collect::<Vec<_>>();
    // The delivery's own origin, where present, is the resolved one; its own object id is
    // kept apart because, without an origin, the cache's object is the content.
    let mut df = a.deliveries.drop_many(["origin_stream_id"]);
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

fn rows_of(df: &DataFrame, a: &Analysis, class: Class) -> PolarsResult<DataFrame> {
    let mask: BooleanChunked = a.verdicts.iter().map(|v| v.class == class).collect();
    df.filter(&mask)
}

pub fn write_leaks(a: &Analysis, all: &DataFrame, out: &Path) -> Result<()> {
    let ctx = |e| Error::polars("building the leak table", e);
    let leaks = rows_of(all, a, Class::Leak).map_err(ctx)?;
    let leaks = leaks.drop_many(["class", "reason", "flipped"]);
    write_csv(&leaks, &out.join("leaks.csv"))?;
    write_parquet(leaks, &out.join("leaks.parquet"))
}

pub fn write_verdicts(all: &DataFrame, path: &Path) -> Result<()> {
    write_parquet(all.clone(), path)
}

pub fn write_unresolved(a: &Analysis, all: &DataFrame, path: &Path) -> Result<()> {
    let ctx = |e| Error::polars("building the unresolved table", e);
    let rows = rows_of(all, a, Class::Unresolved).map_err(ctx)?;
    let keep = [
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
    let rows = rows.select(keep).map_err(ctx)?;
    write_csv(&rows, path)
}

fn write_parquet(mut df: DataFrame, path: &Path) -> Result<()> {
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
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    ParquetWriter::new(file)
        .finish(&mut df)
        .map_err(|e| Error::output(path, e))?;
    Ok(())
}

/// Writes a frame as CSV with RFC 3339 times, integral numbers without a fraction and absent values empty.
pub(crate) fn write_csv(df: &DataFrame, path: &Path) -> Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(|e| Error::output(path, e))?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    w.write_record(&names).map_err(|e| Error::output(path, e))?;
    let cols: Vec<&Column> = df.columns().iter().collect();
    let mut rec: Vec<String> = Vec::with_capacity(cols.len());
    for i in 0..df.height() {
        rec.clear();
        for (c, name) in cols.iter().zip(&names) {
            let v = c.get(i).map_err(|e| Error::polars("reading a cell", e))?;
            rec.push(cell_text(&v, TIME_COLUMNS.contains(&name.as_str())));
        }
        w.write_record(&rec).map_err(|e| Error::output(path, e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}

fn cell_text(v: &AnyValue, is_time: bool) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::Int64(t) if is_time => format_ms(*t),
        AnyValue::Float64(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        other => other.to_string(),
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
