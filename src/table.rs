//! `Table`: the validated rows of one log kind, typed and columnar.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use rayon::prelude::*;

use crate::schema::{ColumnType, EnumValue, Kind};
pub use crate::text::{Text, TextColumn, TextSlice};

/// Distinct values an interner keeps per column before it stops looking: beyond that
/// the column is mostly unique ids, which sharing would not shrink.
const INTERN_LIMIT: usize = 4096;

/// Shares one allocation among equal text values of a column, so that 10^7 deliveries
/// naming a few hundred cache nodes hold a few hundred strings, not 10^7.
#[derive(Debug, Default)]
pub struct Interner {
    columns: Vec<Option<HashSet<Text, foldhash::fast::RandomState>>>,
}

impl Interner {
    /// The shared value of `v` in column slot `col` (any stable numbering of the caller's columns).
    pub fn intern(&mut self, col: usize, v: &str) -> Text {
        if self.columns.len() <= col {
            self.columns
                .resize_with(col + 1, || Some(HashSet::default()));
        }
        let Some(seen) = &mut self.columns[col] else {
            return Text::from(v);
        };
        if let Some(t) = seen.get(v) {
            return t.clone();
        }
        let t = Text::from(v);
        if seen.len() >= INTERN_LIMIT {
            self.columns[col] = None;
        } else {
            seen.insert(t.clone());
        }
        t
    }
}

/// The values of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Text(TextColumn),
    /// A closed set of values ([`ColumnType::Enum`]), each the position of its name in the list.
    Enum(Vec<Option<u8>>),
    /// UTC epoch milliseconds.
    Time(Vec<Option<i64>>),
    Num(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

impl ColumnData {
    pub fn for_type(ty: ColumnType) -> ColumnData {
        match ty {
            ColumnType::Text => ColumnData::Text(TextColumn::new()),
            ColumnType::Enum(_) => ColumnData::Enum(Vec::new()),
            ColumnType::Timestamp => ColumnData::Time(Vec::new()),
            ColumnType::Number => ColumnData::Num(Vec::new()),
            ColumnType::Bool => ColumnData::Bool(Vec::new()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ColumnData::Text(v) => v.len(),
            ColumnData::Enum(v) => v.len(),
            ColumnData::Time(v) => v.len(),
            ColumnData::Num(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn append(&mut self, other: ColumnData) {
        match (self, other) {
            (ColumnData::Text(a), ColumnData::Text(b)) => a.append(b),
            (ColumnData::Enum(a), ColumnData::Enum(b)) => a.extend(b),
            (ColumnData::Time(a), ColumnData::Time(b)) => a.extend(b),
            (ColumnData::Num(a), ColumnData::Num(b)) => a.extend(b),
            (ColumnData::Bool(a), ColumnData::Bool(b)) => a.extend(b),
            _ => unreachable!("columns of one kind share their types"),
        }
    }

    /// Keeps the values at `idx`, which must not repeat; values are moved, not copied.
    fn select(self, idx: &[usize]) -> ColumnData {
        fn pick<T>(mut v: Vec<Option<T>>, idx: &[usize]) -> Vec<Option<T>> {
            idx.iter().map(|&i| v[i].take()).collect()
        }
        match self {
            ColumnData::Text(v) => ColumnData::Text(v.select(idx)),
            ColumnData::Enum(v) => ColumnData::Enum(pick(v, idx)),
            ColumnData::Time(v) => ColumnData::Time(pick(v, idx)),
            ColumnData::Num(v) => ColumnData::Num(pick(v, idx)),
            ColumnData::Bool(v) => ColumnData::Bool(pick(v, idx)),
        }
    }
}

/// Accepted rows of one kind: every contract column (absent ones all null) and any extra columns.
#[derive(Debug, Clone)]
pub struct Table {
    pub kind: Kind,
    /// Contract columns in schema order.
    pub columns: Vec<ColumnData>,
    /// Columns the contract does not name, by header, as text.
    pub extra: BTreeMap<String, Vec<Option<Text>>>,
    /// A 128-bit digest of each row's parsed values, for duplicate detection.
    pub digest: Vec<u128>,
    /// Which input file (index into the run's file list) and line each row came from.
    pub source: Vec<(u32, u64)>,
}

impl Table {
    pub fn new(kind: Kind) -> Table {
        Table {
            kind,
            columns: kind
                .columns()
                .iter()
                .map(|c| ColumnData::for_type(c.ty))
                .collect(),
            extra: BTreeMap::new(),
            digest: Vec::new(),
            source: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digest.is_empty()
    }

    pub fn column(&self, name: &str) -> Option<&ColumnData> {
        let i = self.kind.columns().iter().position(|c| c.name == name)?;
        self.columns.get(i)
    }

    /// A text column; empty where the kind has no such column.
    pub fn text(&self, name: &str) -> &TextColumn {
        match self.column(name) {
            Some(ColumnData::Text(v)) => v,
            Some(ColumnData::Enum(_)) => {
                debug_assert!(
                    false,
                    "bug: {name} is an enum column, read with Table::enums"
                );
                &crate::text::NO_TEXT
            }
            _ => &crate::text::NO_TEXT,
        }
    }

    /// An enum column, typed; empty where the kind has no such column.
    pub fn enums<T: EnumValue>(&self, name: &str) -> Vec<Option<T>> {
        self.enums_in(name, 0..self.len())
    }

    /// Rows `rows` of an enum column, typed; empty where the kind has no such column.
    pub fn enums_in<T: EnumValue>(&self, name: &str, rows: Range<usize>) -> Vec<Option<T>> {
        let i = self.kind.columns().iter().position(|c| c.name == name);
        match i.map(|i| (&self.kind.columns()[i].ty, &self.columns[i])) {
            Some((ColumnType::Enum(names), ColumnData::Enum(v))) => {
                debug_assert_eq!(*names, T::NAMES, "bug: {name} read as another enum");
                v[rows].iter().map(|c| c.and_then(T::from_code)).collect()
            }
            _ => Vec::new(),
        }
    }

    pub fn time(&self, name: &str) -> &[Option<i64>] {
        match self.column(name) {
            Some(ColumnData::Time(v)) => v,
            _ => &[],
        }
    }

    /// Room for `additional` more rows in every contract column, so that appending chunk after chunk
    /// copies each row once instead of on every doubling of the vectors.
    pub fn reserve(&mut self, additional: usize) {
        for c in &mut self.columns {
            match c {
                ColumnData::Text(v) => v.reserve(additional),
                ColumnData::Enum(v) => v.reserve(additional),
                ColumnData::Time(v) => v.reserve(additional),
                ColumnData::Num(v) => v.reserve(additional),
                ColumnData::Bool(v) => v.reserve(additional),
            }
        }
        self.digest.reserve(additional);
        self.source.reserve(additional);
    }

    /// How many distinct values each contract column may hold ([`TextColumn::distinct`] for a
    /// text column), 0 for any other.
    pub fn distinct(&self) -> Vec<usize> {
        self.columns
            .iter()
            .map(|c| match c {
                ColumnData::Text(t) => t.distinct(),
                _ => 0,
            })
            .collect()
    }

    /// Room in each text column for `counts[i]` distinct values (as [`Table::distinct`] gives
    /// them, from a table like this one), at most `most`.
    pub fn reserve_distinct(&mut self, counts: &[usize], most: usize) {
        for (c, &n) in self.columns.iter_mut().zip(counts) {
            if let ColumnData::Text(t) = c {
                t.reserve_distinct(n.min(most));
            }
        }
    }

    /// Appends another table of the same kind, padding extra columns either side with nulls.
    pub fn append(&mut self, other: Table) {
        self.append_all(vec![other]);
    }

    /// Appends other tables of the same kind in order, as [`Table::append`] of each in turn
    /// would. Each column is joined on a thread of its own: joining a text column looks every
    /// new value up, and one thread doing it for every column was a tenth of a log's load.
    pub fn append_all(&mut self, others: Vec<Table>) {
        let mut others = others.into_iter().peekable();
        // Into nothing, appending is a move (the common case of one file per kind).
        let reserved = self.digest.capacity() > 0;
        if let Some(first) = others.next_if(|first| {
            self.is_empty() && !reserved && self.extra.keys().all(|k| first.extra.contains_key(k))
        }) {
            *self = first;
        }
        let mut columns: Vec<Vec<ColumnData>> = self.columns.iter().map(|_| Vec::new()).collect();
        for other in others {
            let before = self.len();
            let added = other.len();
            for (name, mut values) in other.extra {
                let col = self.extra.entry(name).or_insert_with(|| vec![None; before]);
                col.append(&mut values);
            }
            for col in self.extra.values_mut() {
                col.resize(before + added, None);
            }
            self.digest.extend(other.digest);
            self.source.extend(other.source);
            for (theirs, column) in columns.iter_mut().zip(other.columns) {
                theirs.push(column);
            }
        }
        self.columns
            .par_iter_mut()
            .zip(columns)
            .for_each(|(mine, theirs)| {
                for column in theirs {
                    mine.append(column);
                }
            });
    }

    /// Appends row `i` of `src`, a table of the same kind with the same extra columns; text is
    /// shared, not copied, each text cell through [`crate::text::TextColumn::push_via`] with
    /// `memo[k]` for contract column k; whoever changes `src` or starts a new `self` clears them.
    pub fn push_row_via(&mut self, src: &Table, i: usize, memo: &mut [Vec<u32>]) {
        for (k, (mine, theirs)) in self.columns.iter_mut().zip(&src.columns).enumerate() {
            match (mine, theirs) {
                (ColumnData::Text(a), ColumnData::Text(b)) => match memo.get_mut(k) {
                    Some(m) => a.push_via(b, i, m),
                    None => a.push_text(b.get(i)),
                },
                (ColumnData::Enum(a), ColumnData::Enum(b)) => a.push(b[i]),
                (ColumnData::Time(a), ColumnData::Time(b)) => a.push(b[i]),
                (ColumnData::Num(a), ColumnData::Num(b)) => a.push(b[i]),
                (ColumnData::Bool(a), ColumnData::Bool(b)) => a.push(b[i]),
                _ => unreachable!("columns of one kind share their types"),
            }
        }
        for (mine, theirs) in self.extra.values_mut().zip(src.extra.values()) {
            mine.push(theirs[i].clone());
        }
        self.digest.push(src.digest[i]);
        self.source.push(src.source[i]);
    }

    /// Lets go of what only adding rows needs, for a table that is read from now on.
    pub fn shrink(&mut self) {
        for c in &mut self.columns {
            if let ColumnData::Text(t) = c {
                t.shrink();
            }
        }
    }

    /// Keeps the rows at `idx` (no index twice), in that order.
    pub fn select(self, idx: &[usize]) -> Table {
        Table {
            kind: self.kind,
            columns: self
                .columns
                .into_par_iter()
                .map(|c| c.select(idx))
                .collect(),
            extra: self
                .extra
                .into_iter()
                .map(|(k, mut v)| (k, idx.iter().map(|&i| v[i].take()).collect()))
                .collect(),
            digest: idx.iter().map(|&i| self.digest[i]).collect(),
            source: idx.iter().map(|&i| self.source[i]).collect(),
        }
    }

    /// The headers of the extra columns the contract does not name, in name order.
    pub fn extra_columns(&self) -> impl Iterator<Item = &str> + '_ {
        self.extra
            .keys()
            .map(String::as_str)
            .filter(|name| self.kind.column(name).is_none())
    }
}
