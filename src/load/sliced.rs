//! Parquet validation: one file validated a slice of row groups at a time, as if read whole.

use std::collections::BTreeMap;

use super::{parquet, read, validate, Found, RowSink};
use crate::mapping::Mapping;
use crate::settings::Settings;
use crate::table::Table;

/// Validates a Parquet file one slice of row groups at a time; returns the rows read, the rows
/// accepted and the result. With a `sink`, each slice's accepted rows go there instead.
///
/// The time form of a column is a vote over the whole file, so it is taken first, over the
/// timestamp columns alone; a column whose type fixes its form (native timestamps, integers) is only counted.
pub(super) fn load_parquet(
    f: &Found,
    index: u32,
    mapping: &Mapping,
    settings: &Settings,
    sink: Option<&dyn RowSink>,
) -> std::result::Result<(u64, u64, validate::ValidatedFile), String> {
    load_parquet_slices(
        parquet::ParquetSource::open(&f.path)?,
        f,
        index,
        mapping,
        settings,
        sink,
    )
}

fn load_parquet_slices(
    src: parquet::ParquetSource,
    f: &Found,
    index: u32,
    mapping: &Mapping,
    settings: &Settings,
    sink: Option<&dyn RowSink>,
) -> std::result::Result<(u64, u64, validate::ValidatedFile), String> {
    let started = std::time::Instant::now();
    let mut forms = BTreeMap::new();
    for (name, hi) in validate::timestamp_columns(f.kind, &src.headers, mapping) {
        let header = &src.headers[hi];
        let form = match src.typed_form(header) {
            Some(form) => src.any_present(header)?.then_some(form),
            None => {
                let mut counts = crate::time::FormCounts::default();
                for &slice in &src.slices {
                    let raw = src.read(slice, Some(vec![header.clone()]))?;
                    raw.column_values(0, |v| counts.count(v));
                }
                counts.winner()
            }
        };
        if let Some(form) = form {
            forms.insert(name.to_string(), form);
        }
    }
    let forms = validate::TimeForms::new(f.kind, forms, settings);
    let mut out = validate::ValidatedFile {
        table: match sink {
            Some(_) => Table::new(f.kind),
            None => validate::table_for(f.kind, src.rows),
        },
        rejections: Vec::new(),
        forms: forms.forms.clone(),
        warnings: forms.warning(&f.rel, src.rows).into_iter().collect(),
        normalise: started.elapsed(),
    };
    let mut accepted = 0;
    // The next slice is decoded while this one is validated: decoding runs on one thread,
    // and validation alone would leave the other core idle meanwhile.
    std::thread::scope(|scope| {
        let src = &src;
        let read = |slice| scope.spawn(move || src.read(slice, None));
        let mut pending = src.slices.first().map(|&s| read(s));
        let mut rest = src.slices.iter().skip(1);
        while let Some(handle) = pending.take() {
            let raw = read::RawFile::Parquet(
                handle
                    .join()
                    .map_err(|_| "bad Parquet file: the decoder gave up on it".to_string())??,
            );
            pending = rest.next().map(|&s| read(s));
            let mut slice = Table::new(f.kind);
            let into = sink.map(|_| &mut slice);
            validate_slice(&mut out, into, f, index, &raw, mapping, settings, &forms);
            if let Some(sink) = sink {
                accepted += slice.len() as u64;
                sink.push(slice);
            }
        }
        Ok::<(), String>(())
    })?;
    if sink.is_none() {
        accepted = out.table.len() as u64;
    }
    let missing = validate::missing_column_warning(
        f.kind,
        &f.rel,
        &src.headers,
        mapping,
        &out.rejections,
        src.rows,
    );
    out.warnings.extend(missing);
    Ok((src.rows as u64, accepted, out))
}

/// Validates one slice of file `f`: its accepted rows go to `into`, or to `out`'s table when
/// `None`; its rejections and the time spent on its timestamps are added to `out`.
#[allow(clippy::too_many_arguments)]
pub(super) fn validate_slice(
    out: &mut validate::ValidatedFile,
    into: Option<&mut Table>,
    f: &Found,
    index: u32,
    raw: &read::RawFile,
    mapping: &Mapping,
    settings: &Settings,
    forms: &validate::TimeForms,
) {
    let into = match into {
        Some(t) => t,
        None => &mut out.table,
    };
    let rejections = validate::validate_rows_into(
        into,
        f.kind,
        &f.rel,
        index,
        raw,
        mapping,
        settings,
        forms,
        &mut out.normalise,
    );
    out.rejections.extend(rejections);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::read::{Compression, Format};
    use crate::schema::Kind;
    use crate::time::TimeForm;
    use polars::prelude::*;

    /// A file read in slices is validated as one file: the time-form vote spans every slice,
    /// rows keep their file-wide index, and the accepted rows and rejections equal a whole read.
    #[test]
    fn parquet_slices_validate_as_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        // Epoch milliseconds win the vote 5 to 3 only over the whole file: the first
        // slices hold mostly RFC 3339 values, which become rejections.
        let ts = [
            "2019-12-26T00:00:00Z",
            "1577318400001",
            "2019-12-26T00:00:00.002Z",
            "2019-12-26T00:00:00.003Z",
            "1577318400004",
            "1577318400005",
            "1577318400006",
            "1577318400007",
        ];
        let n = ts.len();
        let text = |p: &str| (0..n).map(|i| format!("{p}{}", i % 3)).collect::<Vec<_>>();
        let status: Vec<&str> = (0..n)
            .map(|i| if i == 6 { "warm" } else { "hit" })
            .collect();
        let mut df = DataFrame::new(
            n,
            vec![
                Column::new("ts".into(), ts.to_vec()),
                Column::new("session_id".into(), text("s")),
                Column::new("requested_stream_id".into(), text("c")),
                Column::new("cache_node".into(), text("n")),
                Column::new("cache_key".into(), text("k")),
                Column::new("cache_status".into(), status),
                Column::new("note".into(), text("x")),
            ],
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .with_row_group_size(Some(2))
            .finish(&mut df)
            .unwrap();
        let found = Found {
            kind: Kind::Deliveries,
            path: path.clone(),
            rel: "deliveries/d.parquet".into(),
            format: Format::Parquet,
            compression: Compression::None,
        };
        let (m, s) = (Mapping::default(), Settings::default());
        let src = parquet::ParquetSource::open_with(&path, 3).unwrap();
        assert_eq!(src.slices, vec![(0, 4), (4, 4)]);
        let (read, accepted, sliced) = load_parquet_slices(src, &found, 0, &m, &s, None).unwrap();
        assert_eq!(accepted, 4);
        let raw = read::read_file(&path, Format::Parquet, Compression::None, 1 << 20)
            .unwrap()
            .raw;
        let whole = validate::validate(Kind::Deliveries, &found.rel, 0, &raw, &m, &s);
        assert_eq!(read, 8);
        assert_eq!(sliced.forms["ts"], TimeForm::EpochMs);
        assert_eq!(sliced.forms, whole.forms);
        assert_eq!(sliced.rejections, whole.rejections);
        let lines: Vec<u64> = sliced.rejections.iter().map(|r| r.line).collect();
        assert_eq!(lines, [0, 2, 3, 6]);
        assert_eq!(sliced.table.len(), 4);
        assert_eq!(sliced.table.time("ts"), whole.table.time("ts"));
        assert_eq!(sliced.table.source, vec![(0, 1), (0, 4), (0, 5), (0, 7)]);
        assert_eq!(sliced.table.digest, whole.table.digest);
        assert_eq!(sliced.table.extra, whole.table.extra);
    }
}
