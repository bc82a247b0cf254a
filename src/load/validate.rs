//! Row validation: checks each raw row against the contract, types its values, and quarantines the rest.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use rayon::prelude::*;

use super::bounded::Oversized;
use super::columnar;
use super::raw::{Cells, RawRow};
use super::read::RawFile;
use super::stopwatch::Stopwatch;
use crate::mapping::Mapping;
use crate::schema::{Column, ColumnType, EnumValue, Kind, OwnershipEvent, Presence};
use crate::settings::Settings;
use crate::table::{ColumnData, Interner, Table};
use crate::time::{self, TimeError, TimeForm};

/// Rows validated per parallel task: large enough to amortise scheduling, small enough to spread a file over cores.
const ROWS_PER_CHUNK: usize = 32_768;

/// A row that broke the contract, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Rejection {
    /// File path relative to the dataset.
    pub file: String,
    /// 1-based line (header = 1) for text files, 0-based row index for Parquet.
    pub line: u64,
    /// The contract column at fault; empty when the row as a whole is unreadable.
    pub column: String,
    pub reason: String,
    /// The row as the file had it.
    pub raw: String,
}

/// What validation made of one file.
#[derive(Debug)]
pub struct ValidatedFile {
    pub table: Table,
    pub rejections: Vec<Rejection>,
    /// The timestamp form detected for each timestamp column present.
    pub forms: BTreeMap<String, TimeForm>,
    /// Problems that deserve a prominent line in the run's output.
    pub warnings: Vec<String>,
    /// Time spent normalising timestamps: deciding the columns' forms and converting every cell
    /// to UTC milliseconds, summed over the threads that validated the file.
    pub normalise: Duration,
}

/// Where each contract column sits in the file's header, after mapping.
pub(super) struct Layout {
    /// Header position of each contract column, in schema order.
    pub(super) contract: Vec<Option<usize>>,
    /// Columns the contract does not name: (name after mapping, header position), first of each name.
    pub(super) extra: Vec<(String, usize)>,
    duplicate: Option<String>,
}

impl Layout {
    /// An empty table of `kind` with this file's extra columns.
    pub(super) fn new_table(&self, kind: Kind) -> Table {
        let mut table = Table::new(kind);
        for (name, _) in &self.extra {
            table.extra.insert(name.clone(), Vec::new());
        }
        table
    }
}

pub(super) fn layout(kind: Kind, headers: &[String], mapping: &Mapping) -> Layout {
    let mut contract = vec![None; kind.columns().len()];
    let mut extra = Vec::new();
    let mut duplicate = None;
    let mut seen_extra = std::collections::HashSet::new();
    for (i, h) in headers.iter().enumerate() {
        let name = mapping.column_name(kind, h);
        match kind.columns().iter().position(|c| c.name == name) {
            Some(ci) => {
                if contract[ci].is_some() {
                    duplicate.get_or_insert_with(|| name.to_string());
                } else {
                    contract[ci] = Some(i);
                }
            }
            None => {
                if seen_extra.insert(name.to_string()) {
                    extra.push((name.to_string(), i));
                }
            }
        }
    }
    Layout {
        contract,
        extra,
        duplicate,
    }
}

/// The timestamp form of each timestamp column of one file, decided once for the whole file.
#[derive(Debug, Clone, Default)]
pub struct TimeForms {
    pub forms: BTreeMap<String, TimeForm>,
    /// The first column holding naive times when dataset.toml names no zone: it blocks every row.
    naive_blocked: Option<String>,
}

impl TimeForms {
    pub fn new(kind: Kind, forms: BTreeMap<String, TimeForm>, settings: &Settings) -> TimeForms {
        let naive_blocked = match settings.timezone {
            Some(_) => None,
            None => kind
                .columns()
                .iter()
                .find(|c| forms.get(c.name) == Some(&TimeForm::Naive))
                .map(|c| c.name.to_string()),
        };
        TimeForms {
            forms,
            naive_blocked,
        }
    }

    /// The warning for a file whose rows all fall to naive times without a zone.
    pub fn warning(&self, rel_path: &str, rows: usize) -> Option<String> {
        self.naive_blocked.as_ref().map(|col| format!(
            "{rel_path}: all {rows} rows rejected: column {col:?} holds naive times and dataset.toml names no timezone; add timezone = \"Area/City\" to dataset.toml"
        ))
    }
}

/// The reason a row gets when a required column is absent from its file's header.
fn missing_column_reason(column: &str) -> String {
    format!("required column {column:?} is missing from the file")
}

/// The warning for a file whose header lacks a required column (every row then falls to it),
/// with the header most like the column's name: usually a misspelling the mapping can mend.
pub fn missing_column_warning(
    kind: Kind,
    rel_path: &str,
    headers: &[String],
    mapping: &Mapping,
    rejections: &[Rejection],
    rows: usize,
) -> Vec<String> {
    let lay = layout(kind, headers, mapping);
    let unknown: Vec<&str> = lay
        .extra
        .iter()
        .map(|(_, hi)| headers[*hi].as_str())
        .collect();
    kind.columns()
        .iter()
        .zip(&lay.contract)
        .filter(|(_, at)| at.is_none())
        .filter_map(|(c, _)| {
            let reason = missing_column_reason(c.name);
            let n = rejections.iter().filter(|r| r.reason == reason).count();
            (n > 0).then(|| {
                let hint = match crate::schema::closest(c.name, unknown.iter().copied()) {
                    Some(h) => format!(
                        "did you mean {h:?}? map it in mapping.toml: [columns.{}] {h:?} = {:?}",
                        kind.name(),
                        c.name
                    ),
                    None => format!(
                        "the file's columns are {}; map one in mapping.toml",
                        headers.join(", ")
                    ),
                };
                format!(
                    "{rel_path}: {n} of {rows} rows rejected: required column {:?} is missing from the file ({hint})",
                    c.name
                )
            })
        })
        .collect()
}

/// The file's timestamp contract columns: (contract name, header position).
pub fn timestamp_columns(
    kind: Kind,
    headers: &[String],
    mapping: &Mapping,
) -> Vec<(&'static str, usize)> {
    let lay = layout(kind, headers, mapping);
    kind.columns()
        .iter()
        .zip(&lay.contract)
        .filter(|(c, _)| c.ty == ColumnType::Timestamp)
        .filter_map(|(c, hi)| hi.map(|hi| (c.name, hi)))
        .collect()
}

/// Validates every row of a file of `kind`. `file_index` tags accepted rows with their origin.
pub fn validate(
    kind: Kind,
    rel_path: &str,
    file_index: u32,
    raw: &RawFile,
    mapping: &Mapping,
    settings: &Settings,
) -> ValidatedFile {
    validate_with(kind, rel_path, file_index, raw, mapping, settings, true)
}

/// [`validate`], with `by_column` false to check even a Parquet file row by row.
pub(super) fn validate_with(
    kind: Kind,
    rel_path: &str,
    file_index: u32,
    raw: &RawFile,
    mapping: &Mapping,
    settings: &Settings,
    by_column: bool,
) -> ValidatedFile {
    let started = Instant::now();
    let mut forms = BTreeMap::new();
    for (name, hi) in timestamp_columns(kind, raw.headers(), mapping) {
        let mut counts = time::FormCounts::default();
        raw.column_values(hi, |v| counts.count(v));
        if let Some(form) = counts.winner() {
            forms.insert(name.to_string(), form);
        }
    }
    let forms = TimeForms::new(kind, forms, settings);
    let mut normalise = started.elapsed();
    let mut table = table_for(kind, raw.len());
    let rejections = validate_rows_with(
        &mut table,
        kind,
        rel_path,
        file_index,
        raw,
        mapping,
        settings,
        &forms,
        &mut normalise,
        by_column,
    );
    let mut warnings: Vec<String> = forms.warning(rel_path, raw.len()).into_iter().collect();
    warnings.extend(missing_column_warning(
        kind,
        rel_path,
        raw.headers(),
        mapping,
        &rejections,
        raw.len(),
    ));
    ValidatedFile {
        table,
        rejections,
        warnings,
        forms: forms.forms,
        normalise,
    }
}

/// An empty table for a file of `rows` rows. It is reserved when it will be filled from more than
/// one validated chunk; a single chunk is moved in whole instead (see [`Table::append`]).
pub fn table_for(kind: Kind, rows: usize) -> Table {
    let mut table = Table::new(kind);
    if rows > ROWS_PER_CHUNK {
        table.reserve(rows);
    }
    table
}

/// Validates rows with the file's time forms already decided, appending the accepted rows to
/// `into`: a file read in slices is one file, copied once, from each validated chunk into its table.
/// The time spent converting timestamps is added to `normalise`.
#[allow(clippy::too_many_arguments)]
pub fn validate_rows_into(
    into: &mut Table,
    kind: Kind,
    rel_path: &str,
    file_index: u32,
    raw: &RawFile,
    mapping: &Mapping,
    settings: &Settings,
    time_forms: &TimeForms,
    normalise: &mut Duration,
) -> Vec<Rejection> {
    validate_rows_with(
        into, kind, rel_path, file_index, raw, mapping, settings, time_forms, normalise, true,
    )
}

/// [`validate_rows_into`], with `by_column` false to check even a Parquet slice row by row (the
/// column-wise path's tests compare the two).
#[allow(clippy::too_many_arguments)]
pub(super) fn validate_rows_with(
    into: &mut Table,
    kind: Kind,
    rel_path: &str,
    file_index: u32,
    raw: &RawFile,
    mapping: &Mapping,
    settings: &Settings,
    time_forms: &TimeForms,
    normalise: &mut Duration,
    by_column: bool,
) -> Vec<Rejection> {
    let lay = layout(kind, raw.headers(), mapping);
    let naive_blocked = &time_forms.naive_blocked;
    let new_table = || lay.new_table(kind);
    let ctx = RowContext::new(kind, &lay, time_forms, mapping, settings);
    // A Parquet slice is checked column by column, its failing rows alone row by row; a file
    // whose every row fails for one reason (a header repeated, naive times without a zone) is
    // left to the row path, which words that reason.
    let columnar = match raw {
        RawFile::Parquet(p) if by_column && lay.duplicate.is_none() && naive_blocked.is_none() => {
            Some(p)
        }
        _ => None,
    };
    // Rows are independent, so large files are checked in parallel chunks; appending
    // the chunks in order keeps the file's row order.
    let n = raw.len();
    let chunks: Vec<std::ops::Range<usize>> = (0..n)
        .step_by(ROWS_PER_CHUNK)
        .map(|start| start..n.min(start + ROWS_PER_CHUNK))
        .collect();
    // The most distinct values a column may hold, in the file so far or in any chunk checked
    // since: room for that many in a chunk's index spares its growth step by step. Only room
    // depends on the order chunks finish in, never a value.
    let distinct: Vec<AtomicUsize> = into.distinct().into_iter().map(AtomicUsize::new).collect();
    let parts: Vec<(Table, Vec<Rejection>, Duration)> = chunks
        .into_par_iter()
        .map(|chunk| {
            if let Some(p) = columnar {
                let chunk = columnar::Chunk {
                    rows: chunk,
                    file_index,
                    rel_path,
                };
                let done = columnar::validate_chunk(p, raw, &chunk, &ctx, settings, new_table());
                return (done.table, done.rejections, done.spent);
            }
            // Grown by doubling, each column was copied and its fresh pages zeroed again; so was
            // each text column's index, which the rows of one file fill about alike.
            let mut table = new_table();
            table.reserve(chunk.len());
            let hint: Vec<usize> = distinct.iter().map(|d| d.load(Relaxed)).collect();
            table.reserve_distinct(&hint, chunk.len());
            let mut rejections = Vec::new();
            let mut interner = Interner::default();
            let spent = Stopwatch::default();
            for i in chunk {
                let row = raw.row(i);
                let row: &RawRow = &row;
                if raw.row_bytes(i) > settings.max_row_bytes {
                    rejections.push(oversized_row(rel_path, raw, row, settings));
                    continue;
                }
                let result = match (&row.cells, &lay.duplicate, naive_blocked) {
                    (Err(reason), _, _) => Err((String::new(), reason.clone())),
                    (Ok(_), Some(dup), _) => Err((
                        dup.clone(),
                        format!("column {dup:?} appears more than once in the header"),
                    )),
                    (Ok(_), None, Some(col)) => {
                        Err((col.clone(), TimeError::NoTimezone.to_string()))
                    }
                    (Ok(cells), None, None) => ctx.parse_row(row, cells, &spent),
                };
                match result {
                    Ok(values) => push_row(
                        &mut table,
                        &mut interner,
                        &ctx,
                        row,
                        values,
                        settings,
                        file_index,
                    ),
                    Err((column, reason)) => rejections.push(Rejection {
                        file: rel_path.to_string(),
                        line: row.line,
                        column,
                        reason,
                        raw: raw.quote(row),
                    }),
                }
            }
            for (d, n) in distinct.iter().zip(table.distinct()) {
                d.fetch_max(n, Relaxed);
            }
            (table, rejections, spent.estimate())
        })
        .collect();
    let mut rejections = Vec::new();
    let mut tables = Vec::with_capacity(parts.len());
    for (t, r, spent) in parts {
        tables.push(t);
        rejections.extend(r);
        *normalise += spent;
    }
    into.append_all(tables);
    // A file's extra columns exist even when none of its rows was accepted.
    for (name, _) in &lay.extra {
        let len = into.len();
        into.extra
            .entry(name.clone())
            .or_insert_with(|| vec![None; len]);
    }
    rejections
}

/// A parsed value of one contract column; text still borrowed from the row, the mapping or the schema.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value<'a> {
    Absent,
    Text(&'a str),
    /// A code of an enum column, with the contract name it stands for.
    Enum(u8, &'static str),
    Time(i64),
    Num(f64),
    Bool(bool),
}

/// Everything about a file that every row needs, resolved once per file rather than per cell.
pub(super) struct RowContext<'a> {
    pub(super) cols: &'static [Column],
    pub(super) lay: &'a Layout,
    /// The detected time form per contract column (timestamp columns only).
    pub(super) forms: Vec<Option<TimeForm>>,
    /// The mapping's value rewrites per contract column.
    pub(super) value_maps: Vec<Option<&'a BTreeMap<String, String>>>,
    /// Positions of the clock column (`cache_node` or `server`) and `ts`, when offsets apply.
    pub(super) clock: Option<(usize, usize)>,
    pub(super) tz: Option<Tz>,
    /// Position of `event` in a registry snapshot (`ownership_snapshots`), whose rows list owners
    /// and shared access.
    pub(super) snapshot_event: Option<usize>,
}

/// A registry snapshot's row says that its account owns its stream (`event` bind, or absent) or
/// holds shared access to it (`grant`) at the snapshot's time.
fn snapshot_event<'v>(v: &Value<'v>) -> Result<Value<'v>, RowError> {
    match v {
        Value::Absent => Ok(Value::Enum(BIND, OwnershipEvent::NAMES[BIND as usize])),
        Value::Enum(BIND | GRANT, _) => Ok(v.clone()),
        _ => Err((
            "event".into(),
            "a registry snapshot (ownership_snapshots) lists owners (bind, or no event) and shared access (grant), not changes".into(),
        )),
    }
}

/// The codes of the ownership events a registry snapshot's row may have.
pub(super) const BIND: u8 = OwnershipEvent::Bind as u8;
pub(super) const GRANT: u8 = OwnershipEvent::Grant as u8;

/// The contract column at fault and the reason.
pub(super) type RowError = (String, String);

impl<'a> RowContext<'a> {
    pub(super) fn new(
        kind: Kind,
        lay: &'a Layout,
        time_forms: &TimeForms,
        mapping: &'a Mapping,
        settings: &Settings,
    ) -> RowContext<'a> {
        let cols = kind.columns();
        let pos = |n: &str| cols.iter().position(|c| c.name == n);
        let clock = match kind {
            _ if !settings.corrects_clocks() => None,
            Kind::Cache => pos("cache_node").zip(pos("ts")),
            Kind::Deliveries => pos("server").zip(pos("ts")),
            _ => None,
        };
        RowContext {
            cols,
            lay,
            forms: cols
                .iter()
                .map(|c| time_forms.forms.get(c.name).copied())
                .collect(),
            value_maps: cols
                .iter()
                .map(|c| mapping.values_for(kind, c.name))
                .collect(),
            clock,
            tz: settings.timezone,
            snapshot_event: match kind {
                Kind::Ownership if settings.ownership_snapshots => pos("event"),
                _ => None,
            },
        }
    }

    pub(super) fn parse_row<'r>(
        &'r self,
        row: &'r RawRow,
        cells: &'r Cells,
        spent: &Stopwatch,
    ) -> Result<Vec<Value<'r>>, RowError> {
        let mut values = Vec::with_capacity(self.cols.len());
        for (ci, c) in self.cols.iter().enumerate() {
            let cell = match self.lay.contract[ci] {
                Some(hi) => {
                    if row.nested.contains(&hi) {
                        return Err((
                            c.name.into(),
                            "holds a JSON object or array, expected a single value".into(),
                        ));
                    }
                    cells.get(hi)
                }
                None => None,
            };
            let cell = match (cell, self.value_maps[ci]) {
                (Some(v), Some(map)) => Some(map.get(v).map(String::as_str).unwrap_or(v)),
                (v, _) => v,
            };
            values.push(self.parse_value(ci, c, cell, spent)?);
        }
        if let Some(ei) = self.snapshot_event {
            values[ei] = snapshot_event(&values[ei])?;
        }
        for (ci, c) in self.cols.iter().enumerate() {
            let needed = match c.presence {
                Presence::Required => true,
                Presence::Optional => false,
                Presence::RequiredWhen(other, when) => {
                    let oi = self.cols.iter().position(|x| x.name == other).unwrap_or(ci);
                    matches!(&values[oi], Value::Text(v) | Value::Enum(_, v) if when.contains(v))
                }
            };
            if needed && values[ci] == Value::Absent {
                let reason = if self.lay.contract[ci].is_none() {
                    missing_column_reason(c.name)
                } else {
                    "missing required value".to_string()
                };
                return Err((c.name.into(), reason));
            }
        }
        Ok(values)
    }

    /// Parses one cell of contract column `ci` (`c`), the mapping's value rewrite already applied.
    pub(super) fn parse_value<'v>(
        &self,
        ci: usize,
        c: &Column,
        cell: Option<&'v str>,
        spent: &Stopwatch,
    ) -> Result<Value<'v>, RowError> {
        let Some(v) = cell else {
            return Ok(Value::Absent);
        };
        let err = |reason: String| (c.name.to_string(), reason);
        match c.ty {
            ColumnType::Text => Ok(Value::Text(v)),
            ColumnType::Enum(allowed) => {
                let v = v.trim();
                match allowed.iter().position(|a| a.eq_ignore_ascii_case(v)) {
                    // The schema's enums have a handful of values, so a position fits in a byte.
                    Some(p) => Ok(Value::Enum(p as u8, allowed[p])),
                    None => Err(err(format!(
                        "unknown value {v:?} (expected one of {})",
                        allowed.join(", ")
                    ))),
                }
            }
            ColumnType::Number => match v.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(Value::Num(if n == 0.0 { 0.0 } else { n })),
                _ => Err(err(format!("{v:?} is not a number"))),
            },
            ColumnType::Bool => {
                let b = v.trim();
                if b.eq_ignore_ascii_case("true") {
                    Ok(Value::Bool(true))
                } else if b.eq_ignore_ascii_case("false") {
                    Ok(Value::Bool(false))
                } else {
                    Err(err(format!("{v:?} is not true or false")))
                }
            }
            ColumnType::Timestamp => {
                let Some(form) = self.forms[ci] else {
                    return Err(err(format!(
                        "{v:?} is not a timestamp in any contract form"
                    )));
                };
                let t = spent.time(|| time::parse(v.trim(), form, self.tz));
                t.map(Value::Time).map_err(|e| err(format!("{v:?}: {e}")))
            }
        }
    }
}

/// The rejection of a row beyond the row-size limit: its length, SHA-256 and first bytes.
pub(super) fn oversized_row(
    rel_path: &str,
    raw: &RawFile,
    row: &RawRow,
    settings: &Settings,
) -> Rejection {
    let o = Oversized::of_row(row.line, raw.quote(row).as_bytes());
    oversized_rejection(rel_path, o, settings.max_row_bytes)
}

/// The rejection of a row beyond the row-size limit of `limit` bytes, however it was found.
pub(super) fn oversized_rejection(rel_path: &str, o: Oversized, limit: u64) -> Rejection {
    Rejection {
        file: rel_path.to_string(),
        line: o.line,
        column: String::new(),
        reason: o.reason(limit),
        raw: o.quote(),
    }
}

pub(super) fn push_row(
    table: &mut Table,
    interner: &mut Interner,
    ctx: &RowContext,
    row: &RawRow,
    mut values: Vec<Value>,
    settings: &Settings,
    file_index: u32,
) {
    let empty = Cells::default();
    let cells = row.cells.as_ref().unwrap_or(&empty);
    if let Some((key, ts)) = ctx.clock {
        apply_clock_offset(key, ts, &mut values, settings);
    }
    let mut h = RowDigest::default();
    for (c, v) in ctx.cols.iter().zip(&values) {
        h.value(c.name, v);
    }
    for (name, hi) in &ctx.lay.extra {
        if let Some(v) = cells.get(*hi) {
            h.field(name, TAG_TEXT, v.as_bytes());
        }
    }
    table.digest.push(h.finish());
    table.source.push((file_index, row.line));
    for (col, v) in table.columns.iter_mut().zip(values) {
        push_value(col, v);
    }
    let first_extra = ctx.cols.len();
    for (k, (name, hi)) in ctx.lay.extra.iter().enumerate() {
        if let Some(col) = table.extra.get_mut(name) {
            col.push(cells.get(*hi).map(|v| interner.intern(first_extra + k, v)));
        }
    }
}

/// Corrects `ts` by the clock that wrote it: cache rows by `cache_node`, deliveries by `server`.
/// Appends a parsed value to its column; a value of another type than the column's (only
/// `Absent` ever is) appends an absent cell.
pub(super) fn push_value(col: &mut ColumnData, v: Value) {
    match (col, v) {
        (ColumnData::Text(c), Value::Text(s)) => c.push(Some(s)),
        (ColumnData::Enum(c), Value::Enum(code, _)) => c.push(Some(code)),
        (ColumnData::Time(c), Value::Time(t)) => c.push(Some(t)),
        (ColumnData::Num(c), Value::Num(n)) => c.push(Some(n)),
        (ColumnData::Bool(c), Value::Bool(b)) => c.push(Some(b)),
        (ColumnData::Text(c), _) => c.push(None),
        (ColumnData::Enum(c), _) => c.push(None),
        (ColumnData::Time(c), _) => c.push(None),
        (ColumnData::Num(c), _) => c.push(None),
        (ColumnData::Bool(c), _) => c.push(None),
    }
}

fn apply_clock_offset(key: usize, ts: usize, values: &mut [Value], settings: &Settings) {
    let Value::Text(k) = values[key] else {
        return;
    };
    if let Value::Time(t) = &mut values[ts] {
        if let Some(off) = settings.clock_offset_at(k, *t) {
            *t += off;
        }
    }
}

/// The digest's type tags: a value's type is part of it.
pub(super) const TAG_TEXT: u8 = 1;
pub(super) const TAG_TIME: u8 = 2;
pub(super) const TAG_NUM: u8 = 3;
pub(super) const TAG_BOOL: u8 = 4;

/// The 128-bit digest of one row's parsed values, for duplicate detection: XXH3-128 of every
/// present field in schema order, then the extra columns in header order, each as its name, type
/// tag and bytes, lengths included so fields cannot run together. The bytes are gathered and
/// hashed once; that is the XXH3 of the same bytes fed field by field, so the row and the column
/// paths, and every earlier run, agree.
#[derive(Debug, Default)]
pub(super) struct RowDigest {
    bytes: Vec<u8>,
}

impl RowDigest {
    /// Adds one parsed value; an absent one adds nothing.
    pub(super) fn value(&mut self, name: &str, v: &Value) {
        match v {
            Value::Absent => {}
            // An enum hashes as its name, as the text it was before it had a code.
            Value::Text(s) | Value::Enum(_, s) => self.field(name, TAG_TEXT, s.as_bytes()),
            Value::Time(t) => self.field(name, TAG_TIME, &t.to_le_bytes()),
            Value::Num(n) => self.num(name, *n),
            Value::Bool(b) => self.field(name, TAG_BOOL, &[*b as u8]),
        }
    }

    pub(super) fn num(&mut self, name: &str, n: f64) {
        self.field(name, TAG_NUM, &n.to_bits().to_le_bytes());
    }

    /// Adds one named, typed field. The lengths are written as `Hasher::write_u64` wrote them,
    /// in native byte order.
    pub(super) fn field(&mut self, name: &str, tag: u8, bytes: &[u8]) {
        self.bytes
            .extend_from_slice(&(name.len() as u64).to_ne_bytes());
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(tag);
        self.bytes
            .extend_from_slice(&(bytes.len() as u64).to_ne_bytes());
        self.bytes.extend_from_slice(bytes);
    }

    /// The digest of the fields added since the last call; starts the next row.
    pub(super) fn finish(&mut self) -> u128 {
        let d = xxhash_rust::xxh3::xxh3_128(&self.bytes);
        self.bytes.clear();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::read::RawFile;
    use crate::load::text::split_csv;

    fn run(kind: Kind, csv: &str, settings: &Settings) -> ValidatedFile {
        let raw = RawFile::Text(split_csv(csv.as_bytes().to_vec()));
        validate(kind, "f.csv", 0, &raw, &Mapping::default(), settings)
    }

    #[test]
    fn every_reason_is_named() {
        let csv = "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,bytes,viewed,captured_at\n\
            2019-12-26T00:00:00Z,s1,c1,n1,k1,HIT,10,true,\n\
            2019-12-26T00:00:00Z,s1,c1,n1,k1,warm,10,true,\n\
            2019-12-26T00:00:00Z,,c1,n1,k1,hit,10,true,\n\
            2019-12-26T00:00:00Z,s1,c1,n1,k1,hit,ten,true,\n\
            2019-12-26T00:00:00Z,s1,c1,n1,k1,hit,10,yes,\n\
            yesterday,s1,c1,n1,k1,hit,10,true,\n\
            2019-12-26T00:00:00Z,s1,c1,n1,k1,hit,10,true,soon\n\
            2019-12-26T00:00:00Z,s1,c1\n";
        let v = run(Kind::Deliveries, csv, &Settings::default());
        assert_eq!(v.table.len(), 1);
        let got: Vec<(u64, &str)> = v
            .rejections
            .iter()
            .map(|r| (r.line, r.column.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "cache_status"),
                (4, "session_id"),
                (5, "bytes"),
                (6, "viewed"),
                (7, "ts"),
                (8, "captured_at"),
                (9, "")
            ]
        );
        assert!(v.rejections[0].reason.contains("unknown value \"warm\""));
        assert_eq!(v.rejections[1].reason, "missing required value");
        assert_eq!(v.rejections[6].raw, "2019-12-26T00:00:00Z,s1,c1");
        assert_eq!(
            v.table.enums::<crate::schema::CacheStatus>("cache_status"),
            [Some(crate::schema::CacheStatus::Hit)]
        );
    }

    #[test]
    fn conditional_requirements() {
        let csv = "ts,cache_node,cache_key,op,object_id,origin_stream_id\n\
            1000,n,k,fill,o1,c1\n\
            1000,n,k,fill,,c1\n\
            1000,n,k,EVICT,,\n";
        let v = run(Kind::Cache, csv, &Settings::default());
        assert_eq!(v.table.len(), 2);
        assert_eq!(v.rejections.len(), 1);
        assert_eq!(v.rejections[0].column, "object_id");
        let v = run(
            Kind::Sessions,
            "ts,session_id,event\n1,s,start\n2,s,end\n",
            &Settings::default(),
        );
        assert_eq!(v.rejections.len(), 1);
        assert_eq!(
            v.rejections[0].reason,
            "required column \"account_id\" is missing from the file"
        );
    }

    #[test]
    fn naive_file_without_zone_is_rejected_whole() {
        let csv = "ts,stream_id,account_id,event\n2019-12-26 08:00:00,c,a,bind\n2019-12-26 09:00:00,c,b,bind\n";
        let v = run(Kind::Ownership, csv, &Settings::default());
        assert_eq!(v.table.len(), 0);
        assert_eq!(v.rejections.len(), 2);
        assert!(v
            .rejections
            .iter()
            .all(|r| r.reason == "naive time and no timezone"));
        assert_eq!(v.warnings.len(), 1);
        let s = Settings {
            timezone: Some(chrono_tz::Asia::Shanghai),
            ..Settings::default()
        };
        let v = run(Kind::Ownership, csv, &s);
        assert_eq!(
            v.table.time("ts"),
            &[Some(1_577_318_400_000), Some(1_577_322_000_000)]
        );
    }

    #[test]
    fn clock_offsets_follow_the_writing_clock() {
        let mut s = Settings::default();
        s.clock_offset_ms.insert("n1".into(), -1500);
        s.clock_offset_ms.insert("srv".into(), 250);
        let v = run(
            Kind::Cache,
            "ts,cache_node,cache_key,op,captured_at\n10000,n1,k,evict,5000\n",
            &s,
        );
        assert_eq!(v.table.time("ts"), &[Some(8500)]);
        assert_eq!(v.table.time("captured_at"), &[Some(5000)]);
        let csv = "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,server\n10000,s,c,n1,k,hit,srv\n";
        let v = run(Kind::Deliveries, csv, &s);
        assert_eq!(v.table.time("ts"), &[Some(10250)]);
    }

    #[test]
    fn same_values_in_other_forms_share_a_digest() {
        let a = run(
            Kind::Ownership,
            "ts,stream_id,account_id,event\n1577318400000,c,a,BIND\n",
            &Settings::default(),
        );
        let b = run(
            Kind::Ownership,
            "event,account_id,stream_id,ts,extra\nbind,a,c,2019-12-26T08:00:00+08:00,\n",
            &Settings::default(),
        );
        let c = run(
            Kind::Ownership,
            "event,account_id,stream_id,ts,extra\nbind,a,c,2019-12-26T08:00:00+08:00,x\n",
            &Settings::default(),
        );
        assert_eq!(a.table.digest, b.table.digest);
        assert_ne!(a.table.digest, c.table.digest);
    }

    /// Gathering a row's fields and hashing them once gives the digest that feeding them to
    /// XXH3 one by one gave, at every length XXH3 treats apart (up to 16, 128, 240 bytes, more).
    #[test]
    fn the_gathered_digest_is_the_streamed_one() {
        use std::hash::Hasher;
        for fields in [0usize, 1, 2, 3, 5, 9, 17, 40] {
            let mut streamed = xxhash_rust::xxh3::Xxh3::new();
            let mut gathered = RowDigest::default();
            for f in 0..fields {
                let name = ["ts", "session_id", "x"][f % 3];
                let value = "v".repeat(f * 3);
                let tag = (f % 4) as u8 + 1;
                streamed.write_u64(name.len() as u64);
                streamed.write(name.as_bytes());
                streamed.write_u8(tag);
                streamed.write_u64(value.len() as u64);
                streamed.write(value.as_bytes());
                gathered.field(name, tag, value.as_bytes());
            }
            assert_eq!(gathered.finish(), streamed.digest128(), "{fields} fields");
        }
    }
}
