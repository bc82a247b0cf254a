//! Column-wise validation of a Parquet slice: each contract column converted from its typed array
//! in one pass, and only the rows that fail a check sent through the row validator, which words
//! their rejection exactly as for every other format.
//!
//! The fast path must accept a row only where the row path would, with the same values and digest.
//! Where it cannot be sure (a value outside the range it converts, a type it does not take by value)
//! it either takes the cell's text through the row path's own parser, or marks the row for the row
//! path, which then decides. Marking too many rows costs time, never a different result.

use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant};

use polars::prelude::*;

use super::parquet::{ParquetColumn, ParquetRows};
use super::read::RawFile;
use super::stopwatch::Stopwatch;
use super::validate::{
    oversized_row, push_row, push_value, Rejection, RowContext, RowDigest, Value, TAG_BOOL,
    TAG_TEXT, TAG_TIME,
};
use crate::schema::{Column, ColumnType, Presence};
use crate::settings::Settings;
use crate::table::{ColumnData, Interner, Table, Text, TextColumn};
use crate::time::{self, TimeForm};

/// Where a chunk of a slice's rows comes from.
pub(super) struct Chunk<'a> {
    /// Rows of the slice (0-based within it).
    pub rows: Range<usize>,
    /// The file's index in the run, for each row's source.
    pub file_index: u32,
    /// The file's path relative to the dataset, for rejections.
    pub rel_path: &'a str,
}

/// The instants whose text, as rendered for a Parquet timestamp, has a four-digit year from 0001
/// to 9999: the row path reads those back to the same millisecond. Others take the row path.
const RENDERED_MS: std::ops::RangeInclusive<i64> = -62_135_596_800_000..=253_402_300_799_999;

/// What a chunk's validation made of it.
pub(super) struct Checked {
    /// The accepted rows, in slice order.
    pub table: Table,
    pub rejections: Vec<Rejection>,
    /// Time spent on timestamps.
    pub spent: Duration,
    /// Rows the row path decided (the tests check which rows take it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub by_row: usize,
}

/// Validates rows `chunk.rows` of a Parquet slice into `table` (empty, with the file's extra
/// columns).
pub(super) fn validate_chunk(
    p: &ParquetRows,
    raw: &RawFile,
    chunk: &Chunk,
    ctx: &RowContext,
    settings: &Settings,
    mut table: Table,
) -> Checked {
    let rows = chunk.rows.clone();
    let n = rows.len();
    // Rows the row path must decide.
    let mut slow = vec![false; n];
    let mut interner = Interner::default();
    let mut spent = Duration::ZERO;
    for (ci, c) in ctx.cols.iter().enumerate() {
        let col = ctx.lay.contract[ci].and_then(|hi| p.columns().get(hi));
        let mut conv = Convert {
            ci,
            c,
            ctx,
            rows: rows.clone(),
            slow: &mut slow,
        };
        table.columns[ci] = match col {
            Some(col) if c.ty == ColumnType::Timestamp => {
                let started = Instant::now();
                let data = conv.column(col);
                spent += started.elapsed();
                data
            }
            Some(col) => conv.column(col),
            None => absent(c.ty, n),
        };
    }
    let sizes = p.text_bytes(rows.clone());
    for (s, &bytes) in slow.iter_mut().zip(&sizes) {
        *s |= bytes > settings.max_row_bytes;
    }
    check_presence(&table.columns, ctx, &mut slow);
    if let Some((key, ts)) = ctx.clock {
        apply_clock_offsets(&mut table.columns, key, ts, settings);
    }
    // Extra columns in header order, the order they enter the digest.
    let first_extra = ctx.cols.len();
    let extras: Vec<Vec<Option<Text>>> = ctx
        .lay
        .extra
        .iter()
        .enumerate()
        .map(|(k, (_, hi))| match p.columns().get(*hi) {
            Some(col) => text_cells(col, rows.clone(), |s| interner.intern(first_extra + k, s)),
            None => vec![None; n],
        })
        .collect();
    table.digest = digests(&table.columns, &extras, ctx, &slow);
    table.source = rows
        .clone()
        .map(|i| (chunk.file_index, (p.offset() + i) as u64))
        .collect();
    for ((name, _), values) in ctx.lay.extra.iter().zip(extras) {
        table.extra.insert(name.clone(), values);
    }
    let by_row = slow.iter().filter(|&&s| s).count();
    if by_row == 0 {
        return Checked {
            table,
            rejections: Vec::new(),
            spent,
            by_row,
        };
    }

    // The marked rows, row by row as any format's: accepted ones into `side`, then put back in
    // their place among the others.
    let mut side = ctx.lay.new_table(table.kind);
    let mut order = Vec::with_capacity(n);
    let mut rejections = Vec::new();
    let row_spent = Stopwatch::default();
    for (k, &marked) in slow.iter().enumerate() {
        if !marked {
            order.push(k);
            continue;
        }
        let row = p.row(rows.start + k);
        if sizes[k] > settings.max_row_bytes {
            rejections.push(oversized_row(chunk.rel_path, raw, &row, settings));
            continue;
        }
        let parsed = match &row.cells {
            Ok(cells) => ctx.parse_row(&row, cells, &row_spent),
            Err(reason) => Err((String::new(), reason.clone())),
        };
        match parsed {
            Ok(values) => {
                push_row(
                    &mut side,
                    &mut interner,
                    ctx,
                    &row,
                    values,
                    settings,
                    chunk.file_index,
                );
                order.push(n + side.len() - 1);
            }
            Err((column, reason)) => rejections.push(Rejection {
                file: chunk.rel_path.to_string(),
                line: row.line,
                column,
                reason,
                raw: raw.quote(&row),
            }),
        }
    }
    table.append(side);
    Checked {
        table: table.select(&order),
        rejections,
        spent: spent + row_spent.estimate(),
        by_row,
    }
}

/// A column of `n` absent values.
fn absent(ty: ColumnType, n: usize) -> ColumnData {
    match ty {
        ColumnType::Text => ColumnData::Text(TextColumn::absent(n)),
        ColumnType::Enum(_) => ColumnData::Enum(vec![None; n]),
        ColumnType::Timestamp => ColumnData::Time(vec![None; n]),
        ColumnType::Number => ColumnData::Num(vec![None; n]),
        ColumnType::Bool => ColumnData::Bool(vec![None; n]),
    }
}

/// One contract column of a chunk being converted.
struct Convert<'a, 'c> {
    ci: usize,
    c: &'static Column,
    ctx: &'a RowContext<'c>,
    rows: Range<usize>,
    slow: &'a mut [bool],
}

impl Convert<'_, '_> {
    /// The column's values; a cell that fails marks its row.
    fn column(&mut self, col: &ParquetColumn) -> ColumnData {
        let map = self.ctx.value_maps[self.ci];
        let form = self.ctx.forms[self.ci];
        match (self.c.ty, col, map) {
            (ColumnType::Text, ParquetColumn::Text(a), _) => self.texts(a),
            (ColumnType::Enum(_), ParquetColumn::Text(a), _) => self.enums(a),
            (ColumnType::Timestamp, ParquetColumn::Int(a), None)
                if form == Some(TimeForm::EpochMs) =>
            {
                // Digits parse back to the integer they were rendered from; one outside the
                // years a log may carry takes the row path to be refused there.
                let mut v = values(a, self.rows.clone());
                for (k, t) in v.iter_mut().enumerate() {
                    if t.is_some_and(|t| !time::in_range(t)) {
                        self.slow[k] = true;
                        *t = None;
                    }
                }
                ColumnData::Time(v)
            }
            (ColumnType::Timestamp, ParquetColumn::Datetime { raw, per_ms, zoned }, None) => {
                match (form, *zoned, self.ctx.tz) {
                    (Some(TimeForm::Rfc3339), true, _) => self.instants(raw, *per_ms, Ok),
                    (Some(TimeForm::Naive), false, Some(tz)) => self.instants(raw, *per_ms, |ms| {
                        let naive = chrono::DateTime::from_timestamp_millis(ms)
                            .ok_or(())?
                            .naive_utc();
                        time::local_to_utc(&naive, tz).map_err(|_| ())
                    }),
                    _ => self.by_text(col),
                }
            }
            (ColumnType::Number, ParquetColumn::Int(a), None) => {
                // An integer's digits parse to the nearest double, as the cast rounds.
                let v = values(a, self.rows.clone());
                ColumnData::Num(v.into_iter().map(|v| v.map(|v| v as f64)).collect())
            }
            (ColumnType::Number, ParquetColumn::Float { values: a, .. }, None) => {
                // polars writes a double as the shortest text that reads back to it, so the
                // value is the double itself; the row path refuses the non-finite ones.
                let v = values(a, self.rows.clone());
                let mut out = Vec::with_capacity(v.len());
                for (k, x) in v.into_iter().enumerate() {
                    out.push(match x {
                        Some(x) if x.is_finite() => Some(if x == 0.0 { 0.0 } else { x }),
                        Some(_) => {
                            self.slow[k] = true;
                            None
                        }
                        None => None,
                    });
                }
                ColumnData::Num(out)
            }
            (ColumnType::Bool, ParquetColumn::Bool(a), None) => {
                let part = a.slice(self.rows.start as i64, self.rows.len());
                let mut out = Vec::with_capacity(self.rows.len());
                for arr in part.downcast_iter() {
                    out.extend(arr.iter());
                }
                ColumnData::Bool(out)
            }
            _ => self.by_text(col),
        }
    }

    /// A text column from strings: empty is absent, then the mapping's rewrite, then coded.
    ///
    /// A cell whose 16-byte view was seen before in its array repeats that cell's value: the view
    /// is the string itself when short, and otherwise points at one place in a buffer, as every
    /// row of one Parquet dictionary value does. Equal views are thus equal strings (equal strings
    /// of a plain-encoded column may have different views, and are then looked up by value).
    fn texts(&mut self, a: &StringChunked) -> ColumnData {
        let map = self.ctx.value_maps[self.ci];
        let part = a.slice(self.rows.start as i64, self.rows.len());
        let mut out = TextColumn::new();
        out.reserve(self.rows.len());
        for arr in part.downcast_iter() {
            let views = arr.views();
            let mut memo = ViewMemo::default();
            for (j, v) in arr.iter().enumerate() {
                match v.filter(|s| !s.is_empty()) {
                    None => out.push(None),
                    Some(s) => match memo.seen(views[j].as_u128(), out.len()) {
                        Some(cell) => out.push_repeat(cell),
                        None => out.push(rewrite(Some(s), map)),
                    },
                }
            }
        }
        ColumnData::Text(out)
    }

    /// An enum column from strings, each distinct value mapped once per array: the value is
    /// looked up by its 16-byte view, which is the string itself when short, and otherwise
    /// points at one place in a buffer, as every row of one dictionary value does.
    fn enums(&mut self, a: &StringChunked) -> ColumnData {
        let (ci, c, ctx) = (self.ci, self.c, self.ctx);
        let map = ctx.value_maps[ci];
        let part = a.slice(self.rows.start as i64, self.rows.len());
        let mut out = Vec::with_capacity(self.rows.len());
        let unused = Stopwatch::default();
        let mut k = 0;
        for arr in part.downcast_iter() {
            let views = arr.views();
            let mut memo: HashMap<u128, Result<u8, ()>, foldhash::fast::RandomState> =
                HashMap::default();
            for (j, v) in arr.iter().enumerate() {
                let code = match v.filter(|s| !s.is_empty()) {
                    None => Ok(None),
                    Some(s) => {
                        let code = *memo.entry(views[j].as_u128()).or_insert_with(|| {
                            match ctx.parse_value(ci, c, rewrite(Some(s), map), &unused) {
                                Ok(Value::Enum(code, _)) => Ok(code),
                                _ => Err(()),
                            }
                        });
                        code.map(Some)
                    }
                };
                out.push(code.unwrap_or_else(|()| {
                    self.slow[k] = true;
                    None
                }));
                k += 1;
            }
        }
        ColumnData::Enum(out)
    }

    /// Native timestamps as milliseconds through `utc`, which refuses (`Err`) what the row path
    /// must decide; so do instants whose rendered text would not have a four-digit year.
    fn instants(
        &mut self,
        raw: &Int64Chunked,
        per_ms: i64,
        utc: impl Fn(i64) -> Result<i64, ()>,
    ) -> ColumnData {
        let v = values(raw, self.rows.clone());
        let mut out = Vec::with_capacity(v.len());
        for (k, r) in v.into_iter().enumerate() {
            // The rendered text keeps the fraction below a millisecond; read back, it truncates
            // toward the past, as `div_euclid` does.
            let t = r.map(|r| r.div_euclid(per_ms));
            out.push(match t {
                None => None,
                Some(ms) => match RENDERED_MS.contains(&ms).then(|| utc(ms)) {
                    Some(Ok(t)) if time::in_range(t) => Some(t),
                    _ => {
                        self.slow[k] = true;
                        None
                    }
                },
            });
        }
        ColumnData::Time(out)
    }

    /// Any other column: each cell's text, as the row path renders and parses it.
    fn by_text(&mut self, col: &ParquetColumn) -> ColumnData {
        let (ci, c, ctx) = (self.ci, self.c, self.ctx);
        let map = ctx.value_maps[ci];
        let unused = Stopwatch::default();
        let mut out = ColumnData::for_type(c.ty);
        let mut buf = String::new();
        for (k, i) in self.rows.clone().enumerate() {
            let cell = rewrite(col.cell(i, &mut buf).filter(|s| !s.is_empty()), map);
            let value = match cell {
                None => Value::Absent,
                Some(v) => ctx
                    .parse_value(ci, c, Some(v), &unused)
                    .unwrap_or_else(|_| {
                        self.slow[k] = true;
                        Value::Absent
                    }),
            };
            push_value(&mut out, value);
        }
        out
    }
}

/// The first cell of each view of one string array, while views repeat.
#[derive(Default)]
struct ViewMemo {
    first: HashMap<u128, usize, foldhash::fast::RandomState>,
    hits: usize,
    /// Off once the array proves mostly unique values, which remembering would not speed up.
    off: bool,
}

/// Views a [`ViewMemo`] remembers before it may judge the array mostly unique.
const MEMO_TRIAL: usize = 4096;

impl ViewMemo {
    /// The cell that first had `view`, if one did; otherwise `cell` is remembered as its first.
    fn seen(&mut self, view: u128, cell: usize) -> Option<usize> {
        if self.off {
            return None;
        }
        if let Some(&c) = self.first.get(&view) {
            self.hits += 1;
            return Some(c);
        }
        self.first.insert(view, cell);
        if self.first.len() >= MEMO_TRIAL && self.hits < self.first.len() {
            self.off = true;
            self.first = HashMap::default();
        }
        None
    }
}

/// The mapping's rewrite of a present value, if it names one.
fn rewrite<'a>(
    v: Option<&'a str>,
    map: Option<&'a std::collections::BTreeMap<String, String>>,
) -> Option<&'a str> {
    match (v, map) {
        (Some(v), Some(map)) => Some(map.get(v).map(String::as_str).unwrap_or(v)),
        (v, _) => v,
    }
}

/// Rows `rows` of a numeric column.
fn values<T: PolarsNumericType>(a: &ChunkedArray<T>, rows: Range<usize>) -> Vec<Option<T::Native>> {
    let part = a.slice(rows.start as i64, rows.len());
    let mut out = Vec::with_capacity(rows.len());
    for arr in part.downcast_iter() {
        out.extend(arr.iter().map(|v| v.copied()));
    }
    out
}

/// Calls `f` with each row of `rows` of a string column, in order.
fn each_str(a: &StringChunked, rows: Range<usize>, mut f: impl FnMut(Option<&str>)) {
    let part = a.slice(rows.start as i64, rows.len());
    for arr in part.downcast_iter() {
        arr.iter().for_each(&mut f);
    }
}

/// A column's cells as the text a row would carry (empty is absent), through `keep`.
fn text_cells(
    col: &ParquetColumn,
    rows: Range<usize>,
    mut keep: impl FnMut(&str) -> Text,
) -> Vec<Option<Text>> {
    let mut out = Vec::with_capacity(rows.len());
    match col {
        ParquetColumn::Text(a) => each_str(a, rows, |v| {
            out.push(v.filter(|s| !s.is_empty()).map(&mut keep));
        }),
        _ => {
            let mut buf = String::new();
            for i in rows {
                out.push(
                    col.cell(i, &mut buf)
                        .filter(|s| !s.is_empty())
                        .map(&mut keep),
                );
            }
        }
    }
    out
}

/// Marks the rows that lack a value their kind requires, as the row path checks them.
fn check_presence(columns: &[ColumnData], ctx: &RowContext, slow: &mut [bool]) {
    // A registry snapshot's row without `bind` or `grant` is completed or rejected by the row path.
    if let Some(ei) = ctx.snapshot_event {
        if let ColumnData::Enum(v) = &columns[ei] {
            for (k, s) in slow.iter_mut().enumerate() {
                *s |= !matches!(v[k], Some(super::validate::BIND | super::validate::GRANT));
            }
        }
    }
    for (ci, c) in ctx.cols.iter().enumerate() {
        let present = |k: usize| match &columns[ci] {
            ColumnData::Text(v) => v.get(k).is_some(),
            ColumnData::Enum(v) => v[k].is_some(),
            ColumnData::Time(v) => v[k].is_some(),
            ColumnData::Num(v) => v[k].is_some(),
            ColumnData::Bool(v) => v[k].is_some(),
        };
        match c.presence {
            Presence::Optional => {}
            Presence::Required => {
                for (k, s) in slow.iter_mut().enumerate() {
                    *s |= !present(k);
                }
            }
            Presence::RequiredWhen(other, when) => {
                let oi = ctx.cols.iter().position(|x| x.name == other).unwrap_or(ci);
                let names: &[&str] = match ctx.cols[oi].ty {
                    ColumnType::Enum(names) => names,
                    _ => &[],
                };
                let matches = |k: usize| match &columns[oi] {
                    ColumnData::Text(v) => v.str(k).is_some_and(|s| when.contains(&s)),
                    ColumnData::Enum(v) => v[k]
                        .and_then(|code| names.get(code as usize))
                        .is_some_and(|s| when.contains(s)),
                    _ => false,
                };
                for (k, s) in slow.iter_mut().enumerate() {
                    *s |= matches(k) && !present(k);
                }
            }
        }
    }
}

/// Corrects `ts` by the clock that wrote it (column `key`: `cache_node` or `server`).
fn apply_clock_offsets(columns: &mut [ColumnData], key: usize, ts: usize, settings: &Settings) {
    let ColumnData::Time(mut times) = std::mem::replace(&mut columns[ts], ColumnData::Time(vec![]))
    else {
        return;
    };
    if let ColumnData::Text(keys) = &columns[key] {
        for (t, k) in times.iter_mut().zip(keys.iter()) {
            if let (Some(t), Some(k)) = (t.as_mut(), k) {
                if let Some(off) = settings.clock_offset_at(k, *t) {
                    *t += off;
                }
            }
        }
    }
    columns[ts] = ColumnData::Time(times);
}

/// Each unmarked row's digest, over the same fields in the same order as the row path's.
fn digests(
    columns: &[ColumnData],
    extras: &[Vec<Option<Text>>],
    ctx: &RowContext,
    slow: &[bool],
) -> Vec<u128> {
    let mut h = RowDigest::default();
    let mut out = Vec::with_capacity(slow.len());
    for (k, &marked) in slow.iter().enumerate() {
        if marked {
            // Replaced by the row path's digest, or dropped with the row.
            out.push(0);
            continue;
        }
        for (c, col) in ctx.cols.iter().zip(columns) {
            match col {
                ColumnData::Text(v) => {
                    if let Some(s) = v.get(k) {
                        h.field(c.name, TAG_TEXT, s.as_bytes());
                    }
                }
                ColumnData::Enum(v) => {
                    let names: &[&str] = match c.ty {
                        ColumnType::Enum(names) => names,
                        _ => &[],
                    };
                    if let Some(name) = v[k].and_then(|code| names.get(code as usize)) {
                        h.field(c.name, TAG_TEXT, name.as_bytes());
                    }
                }
                ColumnData::Time(v) => {
                    if let Some(t) = v[k] {
                        h.field(c.name, TAG_TIME, &t.to_le_bytes());
                    }
                }
                ColumnData::Num(v) => {
                    if let Some(x) = v[k] {
                        h.num(c.name, x);
                    }
                }
                ColumnData::Bool(v) => {
                    if let Some(b) = v[k] {
                        h.field(c.name, TAG_BOOL, &[b as u8]);
                    }
                }
            }
        }
        for ((name, _), col) in ctx.lay.extra.iter().zip(extras) {
            if let Some(s) = &col[k] {
                h.field(name, TAG_TEXT, s.as_bytes());
            }
        }
        out.push(h.finish());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parquet::ParquetSource;
    use crate::load::validate::{layout, validate_with, TimeForms, ValidatedFile};
    use crate::mapping::Mapping;
    use crate::schema::Kind;
    // The frame's columns in these tests, not the contract's.
    use polars::prelude::Column;

    const T0: i64 = 1_577_318_400_000; // 2019-12-26T00:00:00Z

    /// Validates `raw` by column and by row; also returns how many rows the column-wise run sent
    /// to the row path.
    fn both(
        kind: Kind,
        raw: &RawFile,
        mapping: &Mapping,
        settings: &Settings,
    ) -> (ValidatedFile, ValidatedFile, usize) {
        let by_col = validate_with(kind, "f.parquet", 3, raw, mapping, settings, true);
        let by_row = validate_with(kind, "f.parquet", 3, raw, mapping, settings, false);
        let RawFile::Parquet(p) = raw else {
            panic!("not Parquet")
        };
        let lay = layout(kind, &p.headers, mapping);
        let forms = TimeForms::new(kind, by_col.forms.clone(), settings);
        let ctx = RowContext::new(kind, &lay, &forms, mapping, settings);
        let chunk = Chunk {
            rows: 0..p.len(),
            file_index: 3,
            rel_path: "f.parquet",
        };
        let checked = validate_chunk(p, raw, &chunk, &ctx, settings, lay.new_table(kind));
        assert_eq!(checked.table.digest, by_col.table.digest);
        (by_col, by_row, checked.by_row)
    }

    /// The two runs agree on every value, digest, source and rejection.
    fn assert_same(a: &ValidatedFile, b: &ValidatedFile) {
        assert_eq!(a.forms, b.forms);
        assert_eq!(a.rejections, b.rejections);
        assert_eq!(a.table.columns, b.table.columns);
        assert_eq!(a.table.extra, b.table.extra);
        assert_eq!(a.table.digest, b.table.digest);
        assert_eq!(a.table.source, b.table.source);
    }

    /// A frame with the required delivery columns for `n` rows, all valid, then `more`.
    fn deliveries(n: usize, more: Vec<Column>) -> DataFrame {
        let text = |p: &str| (0..n).map(|i| format!("{p}{}", i % 3)).collect::<Vec<_>>();
        let mut cols = vec![
            Column::new(
                "ts".into(),
                (0..n as i64).map(|i| T0 + i).collect::<Vec<_>>(),
            ),
            Column::new("session_id".into(), text("s")),
            Column::new("requested_stream_id".into(), text("c")),
            Column::new("cache_node".into(), text("n")),
            Column::new("cache_key".into(), text("k")),
            Column::new("cache_status".into(), vec!["hit"; n]),
        ];
        for c in more {
            match cols.iter().position(|x| x.name() == c.name()) {
                Some(i) => cols[i] = c,
                None => cols.push(c),
            }
        }
        DataFrame::new(n, cols).unwrap()
    }

    fn parquet(df: &DataFrame, zoned: &[&str]) -> RawFile {
        RawFile::Parquet(ParquetRows::of_frame(df, 100, zoned))
    }

    /// A row whose text cells are beyond the row-size limit is rejected by its length, SHA-256
    /// and first bytes, by column and by row alike; a row at the limit is read.
    #[test]
    fn rows_beyond_the_size_limit_are_rejected_in_both_paths() {
        let settings = Settings {
            max_row_bytes: 2048,
            ..Settings::default()
        };
        // The other text cells of a row (session, stream, node, status) hold 2 + 2 + 2 + 3 bytes.
        let keys: Vec<String> = (0..4)
            .map(|i| match i {
                1 => "k".repeat(2048 - 9 + 1),
                2 => "k".repeat(2048 - 9),
                _ => format!("k{i}"),
            })
            .collect();
        let df = deliveries(4, vec![Column::new("cache_key".into(), keys)]);
        let raw = parquet(&df, &[]);
        let (by_col, by_row, slow) = both(Kind::Deliveries, &raw, &Mapping::default(), &settings);
        assert_same(&by_col, &by_row);
        assert_eq!(slow, 1);
        assert_eq!(by_col.table.len(), 3);
        let r = &by_col.rejections[0];
        assert_eq!((r.line, r.column.as_str()), (101, ""));
        assert!(
            r.reason.starts_with("row of ")
                && r.reason.contains("beyond the row-size limit of 2048 bytes"),
            "{}",
            r.reason
        );
        assert_eq!(r.raw.len(), 1024);
    }

    /// A registry snapshot's rows (`ownership_snapshots`): `bind` or no event is an owner, `grant`
    /// shared access, any other event is rejected; by column and by row alike.
    #[test]
    fn snapshot_rows_are_owners() {
        let df = DataFrame::new(
            4,
            vec![
                Column::new("ts".into(), vec![T0, T0, T0 + 1, T0 + 1]),
                Column::new("stream_id".into(), ["c1", "c2", "c1", "c2"]),
                Column::new("account_id".into(), ["a", "b", "a", "b"]),
                Column::new(
                    "event".into(),
                    [Some("bind"), None, Some("unbind"), Some("grant")],
                ),
            ],
        )
        .unwrap();
        let settings = Settings {
            ownership_snapshots: true,
            ..Settings::default()
        };
        let raw = parquet(&df, &[]);
        let (by_col, by_row, slow) = both(Kind::Ownership, &raw, &Mapping::default(), &settings);
        assert_same(&by_col, &by_row);
        assert_eq!(slow, 2);
        assert_eq!(by_col.table.len(), 3);
        assert_eq!(
            by_col.table.enums::<crate::schema::OwnershipEvent>("event"),
            [
                Some(crate::schema::OwnershipEvent::Bind),
                Some(crate::schema::OwnershipEvent::Bind),
                Some(crate::schema::OwnershipEvent::Grant)
            ]
        );
        assert_eq!(by_col.rejections.len(), 1);
        assert_eq!(by_col.rejections[0].column, "event");
        assert!(by_col.rejections[0].reason.contains("not changes"));
        // Without the setting, the row without an event is the one rejected.
        let (plain, _, _) = both(
            Kind::Ownership,
            &raw,
            &Mapping::default(),
            &Settings::default(),
        );
        assert_eq!(plain.table.len(), 3);
        assert_eq!(plain.rejections[0].reason, "missing required value");
    }

    /// A bad cell in row k rejects that row exactly as the row path words it; the other rows
    /// are taken column by column, with the row path's values and digests.
    #[test]
    fn a_bad_cell_rejects_its_row_and_the_rest_take_the_columns() {
        let n = 8;
        let df = deliveries(
            n,
            vec![
                Column::new(
                    "ts".into(),
                    (0..n as i64)
                        .map(|i| (i != 2).then_some(T0 + i))
                        .collect::<Vec<_>>(),
                ),
                Column::new(
                    "session_id".into(),
                    ["s1", "s1", "s2", "s2", "", "s3", "s3", "s1"],
                ),
                Column::new(
                    "cache_status".into(),
                    [
                        "hit", "HIT", " Miss ", "bypass", "hit", "warm", "hit", "miss",
                    ],
                ),
                Column::new(
                    "loss_pct".into(),
                    [0.5, 0.0, -0.0, 1.25, 2.0, 3.0, f64::NAN, 0.125],
                ),
                Column::new(
                    "bytes".into(),
                    [
                        Some(10i64),
                        None,
                        Some(30),
                        Some(40),
                        Some(50),
                        Some(60),
                        Some(70),
                        Some(80),
                    ],
                ),
                Column::new(
                    "viewed".into(),
                    [
                        Some(true),
                        Some(false),
                        None,
                        Some(true),
                        Some(true),
                        Some(false),
                        Some(true),
                        Some(false),
                    ],
                ),
                Column::new(
                    "server".into(),
                    ["srv", "srv", "other", "srv", "srv", "srv", "srv", "other"],
                ),
                Column::new(
                    "app_version".into(),
                    [
                        Some("1.2"),
                        None,
                        Some("1.3"),
                        Some(""),
                        Some("1.2"),
                        Some("1.2"),
                        Some("1.2"),
                        Some("1.4"),
                    ],
                ),
            ],
        );
        let mut settings = Settings::default();
        settings.clock_offset_ms.insert("srv".into(), 250);
        let raw = parquet(&df, &[]);
        let (by_col, by_row, decided) =
            both(Kind::Deliveries, &raw, &Mapping::default(), &settings);
        assert_same(&by_col, &by_row);
        assert_eq!(decided, 4);
        let got: Vec<(u64, &str)> = by_col
            .rejections
            .iter()
            .map(|r| (r.line, r.column.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (102, "ts"),
                (104, "session_id"),
                (105, "cache_status"),
                (106, "loss_pct")
            ]
        );
        assert_eq!(by_col.rejections[1].reason, "missing required value");
        assert!(by_col.rejections[2]
            .reason
            .contains("unknown value \"warm\""));
        assert!(
            by_col.rejections[3].raw.contains("\"loss_pct\":\"NaN\""),
            "{}",
            by_col.rejections[3].raw
        );
        assert_eq!(by_col.table.len(), 4);
        assert_eq!(by_col.table.time("ts")[0], Some(T0 + 250));
        assert_eq!(by_col.table.source[0], (3, 100));
    }

    /// Native timestamps, doubles, integers and booleans become the values their text parses to,
    /// at the edges too; what the fast path does not take is left to the row path.
    #[test]
    fn typed_values_are_the_values_their_text_parses_to() {
        let ms = [
            T0,
            0,
            -1,
            -62_135_596_800_000,
            -62_135_596_800_001,
            253_402_300_799_999,
            253_402_300_800_000,
            T0 + 999,
        ];
        let n = ms.len();
        let floats = [
            0.1,
            -0.0,
            1e300,
            5e-324,
            -2.5,
            1.5e-7,
            123_456_789.125,
            f64::INFINITY,
        ];
        let ints = [i64::MAX, i64::MIN, (1 << 53) + 1, 0, -7, 1, 2, 3];
        for per_ms in [1i64, 1_000, 1_000_000] {
            let unit = match per_ms {
                1 => TimeUnit::Milliseconds,
                1_000 => TimeUnit::Microseconds,
                _ => TimeUnit::Nanoseconds,
            };
            let raw_ts: Vec<i64> = ms
                .iter()
                .map(|m| m.saturating_mul(per_ms).saturating_add(per_ms / 3))
                .collect();
            let ts = Column::new("ts".into(), raw_ts)
                .cast(&DataType::Datetime(unit, None))
                .unwrap();
            let df = deliveries(
                n,
                vec![
                    ts,
                    Column::new("rtt_ms".into(), floats),
                    Column::new("bytes".into(), ints),
                    Column::new(
                        "loss_pct".into(),
                        [1.5f32, 0.1, 2.0, 3.25, 0.0, 1.0, 7.0, 8.0],
                    ),
                    Column::new("request_id".into(), ints),
                    Column::new(
                        "viewed".into(),
                        [
                            Some(true),
                            None,
                            Some(false),
                            Some(true),
                            Some(true),
                            Some(true),
                            Some(true),
                            Some(true),
                        ],
                    ),
                    Column::new("kind".into(), floats),
                ],
            );
            let raw = parquet(&df, &["ts"]);
            let (by_col, by_row, decided) = both(
                Kind::Deliveries,
                &raw,
                &Mapping::default(),
                &Settings::default(),
            );
            assert_same(&by_col, &by_row);
            // Year 0 and year 10000 go to the row path, and so does the infinite rtt; in
            // nanoseconds those years saturate to 1677 and 2262, which the fast path takes.
            let expected = if per_ms == 1_000_000 { 1 } else { 3 };
            assert_eq!(decided, expected, "per_ms {per_ms}");
            assert!(by_col.table.len() >= 5);
        }
    }

    /// Naive native timestamps are read in the dataset's zone: the hour skipped in spring is
    /// rejected as the row path rejects it, the hour repeated in autumn takes the earlier.
    #[test]
    fn naive_timestamps_follow_the_zone() {
        let local = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc()
                .timestamp_millis()
        };
        let ts = [
            local("2021-03-14 02:30:00"),
            local("2021-11-07 01:30:00"),
            local("2021-06-01 12:00:00") + 123,
        ];
        let df = deliveries(
            3,
            vec![Column::new("ts".into(), ts)
                .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
                .unwrap()],
        );
        let settings = Settings {
            timezone: Some(chrono_tz::America::New_York),
            ..Settings::default()
        };
        let raw = parquet(&df, &[]);
        let (by_col, by_row, decided) =
            both(Kind::Deliveries, &raw, &Mapping::default(), &settings);
        assert_same(&by_col, &by_row);
        assert_eq!(decided, 1);
        assert_eq!(by_col.rejections[0].line, 100);
        assert_eq!(by_col.table.time("ts").len(), 2);
    }

    /// The mapping's column names and value rewrites apply as on the row path, a rewrite to
    /// empty text included; text columns of other types are read as their text.
    #[test]
    fn mapped_and_retyped_columns_agree_with_the_row_path() {
        let mapping = Mapping::parse(
            "[columns.deliveries]\n\"t\" = \"ts\"\n\"sess\" = \"session_id\"\n\
             [values.deliveries.cache_status]\n\"TCP_HIT\" = \"hit\"\n\"TCP_MISS\" = \"miss\"\n\
             [values.deliveries.cache_node]\n\"edge-1\" = \"n1\"\n\
             [values.deliveries.bytes]\n\"-1\" = \"\"\n",
        )
        .unwrap();
        let df = DataFrame::new(
            5,
            vec![
                Column::new("t".into(), [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4]),
                Column::new("sess".into(), [7i64, 8, 9, 7, 8]),
                Column::new("requested_stream_id".into(), ["c", "c", "c", "c", "c"]),
                Column::new(
                    "cache_node".into(),
                    ["edge-1", "n2", "edge-1", "n2", "edge-1"],
                ),
                Column::new("cache_key".into(), ["k", "k", "k", "k", "k"]),
                Column::new(
                    "cache_status".into(),
                    ["TCP_HIT", "tcp_hit", "TCP_MISS", "hit", "HIT"],
                ),
                Column::new("bytes".into(), [1i64, 4, 3, -1, 5]),
                Column::new("flag".into(), [true, false, true, true, false]),
                Column::new("weight".into(), [0.5, 1.0, 1e21, 0.1, 2.0]),
            ],
        )
        .unwrap();
        let mut settings = Settings::default();
        settings.clock_offset_ms.insert("n1".into(), -1500);
        let raw = parquet(&df, &[]);
        let (by_col, by_row, decided) = both(Kind::Deliveries, &raw, &mapping, &settings);
        assert_same(&by_col, &by_row);
        // "tcp_hit" is not rewritten (rewrites are exact) and is no contract value; the bytes
        // rewritten to empty text are no number.
        assert_eq!(decided, 2);
        assert_eq!(by_col.rejections.len(), 2);
    }

    /// Cache fills require their object and stream; evictions do not.
    #[test]
    fn conditional_requirements_hold_by_column() {
        let df = DataFrame::new(
            4,
            vec![
                Column::new("ts".into(), [T0, T0 + 1, T0 + 2, T0 + 3]),
                Column::new("cache_node".into(), ["n", "n", "n", "n"]),
                Column::new("cache_key".into(), ["k", "k", "*", "k"]),
                Column::new("op".into(), ["fill", "FILL", "purge", "evict"]),
                Column::new("object_id".into(), [Some("o1"), None, None, None]),
                Column::new(
                    "origin_stream_id".into(),
                    [Some("c1"), Some("c1"), None, None],
                ),
            ],
        )
        .unwrap();
        let raw = parquet(&df, &[]);
        let (by_col, by_row, decided) =
            both(Kind::Cache, &raw, &Mapping::default(), &Settings::default());
        assert_same(&by_col, &by_row);
        assert_eq!(decided, 1);
        assert_eq!(by_col.rejections[0].column, "object_id");
        assert_eq!(by_col.table.len(), 3);
    }

    /// A file read from disk: typed columns and a dictionary-encoded enum over several row
    /// groups, a bad value in one row, equal to the row path.
    #[test]
    fn a_parquet_file_validates_as_by_row() {
        let n = 5_000;
        let status: Vec<&str> = (0..n)
            .map(|i| match i {
                4_321 => "stale",
                _ if i % 7 == 0 => "MISS",
                _ => "hit",
            })
            .collect();
        let mut df = deliveries(
            n,
            vec![
                Column::new("cache_status".into(), status),
                Column::new(
                    "request_id".into(),
                    (0..n)
                        .map(|i| format!("request-with-a-long-id-{}", i % 1_500))
                        .collect::<Vec<_>>(),
                ),
                Column::new(
                    "loss_pct".into(),
                    (0..n).map(|i| i as f64 / 8.0).collect::<Vec<_>>(),
                ),
            ],
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .with_row_group_size(Some(1_024))
            .finish(&mut df)
            .unwrap();
        let src = ParquetSource::open(&path).unwrap();
        let raw = RawFile::Parquet(src.read((0, n), None).unwrap());
        let (by_col, by_row, decided) = both(
            Kind::Deliveries,
            &raw,
            &Mapping::default(),
            &Settings::default(),
        );
        assert_same(&by_col, &by_row);
        assert_eq!(decided, 1);
        assert_eq!(by_col.rejections[0].line, 4_321);
        assert_eq!(by_col.table.len(), n - 1);
    }
}
