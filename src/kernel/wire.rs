//! What the kernels send each other through Spark: one input file's loading as parts, each part
//! one row of an Arrow IPC stream (file number, part number, what it holds, its bytes).
//!
//! A part's bytes are MessagePack of the records below, which say exactly what the single-node
//! loader holds in memory: every value survives the trip unchanged, so the driver rebuilds the
//! very dataset `leakscope analyze` would have loaded.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::ops::Range;
use std::sync::Arc;

use polars::prelude::{ArrowDataType, ArrowSchema, PolarsError, PolarsResult};
use polars_arrow::array::{Array, BinaryArray, Int32Array, Utf8Array};
use polars_arrow::datatypes::Field;
use polars_arrow::io::ipc::read::{read_stream_metadata, StreamReader, StreamState};
use polars_arrow::io::ipc::write::{StreamWriter, WriteOptions};
use polars_arrow::record_batch::RecordBatchT;
use serde::{Deserialize, Serialize};

use crate::cite::Cited;
use crate::classify::Evidence;
use crate::load::validate::{Rejection, ValidatedFile};
use crate::load::RowCounts;
use crate::schema::Kind;
use crate::table::{ColumnData, Table, Text, TextColumn};
use crate::time::TimeForm;
use crate::verdict::Verdict;

/// Rows per part of a file's rows: well below what one Spark binary value may hold.
pub const PART_ROWS: usize = 1 << 16;

/// What a part holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// The file's record: size, hash, row counts, quarantine, warnings ([`FileRecord`]).
    File,
    /// Accepted rows the single-node loader keeps in the file's own table ([`TableRecord`]).
    Table,
    /// Accepted rows the single-node loader pushes into its sorter or cache log ([`TableRecord`]).
    Rows,
    /// Delivery rows on their way to de-duplication ([`TableRecord`]).
    Deliveries,
    /// De-duplicated delivery rows on their way to the content look-up ([`TableRecord`]).
    Kept,
    /// Cache rows of one (cache node, cache key) bucket ([`TableRecord`]).
    Cache,
    /// Cache rows of key `*`, the purges of every key of a node: sent to every bucket ([`TableRecord`]).
    Purges,
    /// The cache nodes the cache log names, sent to every bucket (a list of names).
    Nodes,
    /// Session rows ([`TableRecord`]).
    Sessions,
    /// Ownership rows, sent to every bucket ([`TableRecord`]).
    Ownership,
    /// Deliveries with the content found for them ([`FoundRecord`]s).
    Found,
    /// Deliveries' verdicts, in the order of the single-node run ([`VerdictRecord`]s).
    Verdicts,
}

/// Every kind of part, for reading a name back.
const PART_KINDS: [PartKind; 12] = [
    PartKind::File,
    PartKind::Table,
    PartKind::Rows,
    PartKind::Deliveries,
    PartKind::Kept,
    PartKind::Cache,
    PartKind::Purges,
    PartKind::Nodes,
    PartKind::Sessions,
    PartKind::Ownership,
    PartKind::Found,
    PartKind::Verdicts,
];

impl PartKind {
    pub fn name(self) -> &'static str {
        match self {
            PartKind::File => "file",
            PartKind::Table => "table",
            PartKind::Rows => "rows",
            PartKind::Deliveries => "deliveries",
            PartKind::Kept => "kept",
            PartKind::Cache => "cache",
            PartKind::Purges => "purges",
            PartKind::Nodes => "nodes",
            PartKind::Sessions => "sessions",
            PartKind::Ownership => "ownership",
            PartKind::Found => "found",
            PartKind::Verdicts => "verdicts",
        }
    }

    pub fn parse(s: &str) -> Option<PartKind> {
        PART_KINDS.into_iter().find(|p| p.name() == s)
    }
}

/// One part as it travels.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub file: u32,
    pub seq: u32,
    pub kind: PartKind,
    pub bytes: Vec<u8>,
}

/// Rows on their way to bucket `bucket` of a shuffle, or to every bucket ([`EVERY_BUCKET`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub bucket: i32,
    pub kind: PartKind,
    pub bytes: Vec<u8>,
}

/// The bucket of rows that every bucket needs a copy of: the driver sends one to each.
pub const EVERY_BUCKET: i32 = -1;

/// A de-duplicated delivery with what the content look-up (step 2) found for it: what the
/// recipient, subject and grant look-ups and the verdict need of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundRecord {
    pub ts: i64,
    /// The row's 128-bit digest as (high, low) halves.
    pub digest: (u64, u64),
    pub session: Option<Text>,
    /// At t − tolerance, t and t + tolerance: the content's origin stream, if it has one, and
    /// its capture time; `None` where no content was found.
    pub found: [Option<(Option<Text>, i64)>; 3],
    /// The cache log row in force at each of the three instants ([`crate::join::Contents`]).
    pub cites: [Option<Cited>; 3],
    /// The content at t, as the verdict reports it.
    pub evidence: Evidence,
}

/// A delivery's verdict, placed by its time and digest, the order of the single-node run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictRecord {
    pub ts: i64,
    pub digest: (u64, u64),
    pub verdict: Verdict,
}

/// A digest as (high, low) halves, and back.
pub fn halves(d: u128) -> (u64, u64) {
    ((d >> 64) as u64, d as u64)
}

pub fn whole((hi, lo): (u64, u64)) -> u128 {
    (u128::from(hi) << 64) | u128::from(lo)
}

/// A file's record, all but what the plan already says (kind, path, format, compression).
#[derive(Debug, Serialize, Deserialize)]
pub struct FileRecord {
    pub size: u64,
    pub sha256: String,
    pub rows: RowCounts,
    pub time_forms: BTreeMap<String, TimeForm>,
    pub error: Option<String>,
    pub validated: Option<ValidatedRecord>,
}

/// A validated file's quarantine and warnings; its rows travel as [`TableRecord`] parts.
#[derive(Debug, Serialize, Deserialize)]
pub struct ValidatedRecord {
    pub rejections: Vec<Rejection>,
    pub forms: BTreeMap<String, TimeForm>,
    pub warnings: Vec<String>,
    pub normalise_nanos: u64,
}

impl ValidatedRecord {
    pub fn of(v: &ValidatedFile) -> ValidatedRecord {
        ValidatedRecord {
            rejections: v.rejections.clone(),
            forms: v.forms.clone(),
            warnings: v.warnings.clone(),
            normalise_nanos: u64::try_from(v.normalise.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    pub fn into_validated(self, table: Table) -> ValidatedFile {
        ValidatedFile {
            table,
            rejections: self.rejections,
            forms: self.forms,
            warnings: self.warnings,
            normalise: std::time::Duration::from_nanos(self.normalise_nanos),
        }
    }
}

/// Rows of a [`Table`], column by column.
#[derive(Debug, Serialize, Deserialize)]
pub struct TableRecord<'a> {
    kind: Kind,
    columns: Vec<ColumnRecord<'a>>,
    extra: Vec<(String, Vec<Option<Cow<'a, str>>>)>,
    /// Each row's 128-bit digest as (high, low) halves.
    digest: Vec<(u64, u64)>,
    source: Vec<(u32, u64)>,
}

#[derive(Debug, Serialize, Deserialize)]
enum ColumnRecord<'a> {
    Text(Vec<Option<Cow<'a, str>>>),
    Enum(Vec<Option<u8>>),
    Time(Vec<Option<i64>>),
    Num(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

impl<'a> TableRecord<'a> {
    /// Rows `rows` of `t`.
    pub fn of(t: &'a Table, rows: Range<usize>) -> TableRecord<'a> {
        let texts = |c: &'a TextColumn| {
            c.iter()
                .skip(rows.start)
                .take(rows.len())
                .map(|v| v.map(|v| Cow::Borrowed(&**v)))
                .collect()
        };
        let columns = t
            .columns
            .iter()
            .map(|c| match c {
                ColumnData::Text(c) => ColumnRecord::Text(texts(c)),
                ColumnData::Enum(v) => ColumnRecord::Enum(v[rows.clone()].to_vec()),
                ColumnData::Time(v) => ColumnRecord::Time(v[rows.clone()].to_vec()),
                ColumnData::Num(v) => ColumnRecord::Num(v[rows.clone()].to_vec()),
                ColumnData::Bool(v) => ColumnRecord::Bool(v[rows.clone()].to_vec()),
            })
            .collect();
        let extra = t
            .extra
            .iter()
            .map(|(name, v)| {
                let cells = v[rows.clone()]
                    .iter()
                    .map(|c| c.as_ref().map(|c| Cow::Borrowed(&**c)))
                    .collect();
                (name.clone(), cells)
            })
            .collect();
        TableRecord {
            kind: t.kind,
            columns,
            extra,
            digest: t.digest[rows.clone()].iter().map(|&d| halves(d)).collect(),
            source: t.source[rows].to_vec(),
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The table these rows make, or why they do not make one of `kind`.
    pub fn into_table(self, kind: Kind) -> Result<Table, String> {
        if self.kind != kind {
            return Err(format!(
                "rows of {} where {} were expected",
                self.kind.name(),
                kind.name()
            ));
        }
        let mut t = Table::new(kind);
        let n = self.source.len();
        if self.columns.len() != t.columns.len() || self.digest.len() != n {
            return Err("rows whose columns do not match their kind".into());
        }
        for (slot, c) in t.columns.iter_mut().zip(self.columns) {
            let data = match (&*slot, c) {
                (ColumnData::Text(_), ColumnRecord::Text(v)) => {
                    let mut col = TextColumn::new();
                    col.reserve(v.len());
                    for cell in &v {
                        col.push(cell.as_deref());
                    }
                    ColumnData::Text(col)
                }
                (ColumnData::Enum(_), ColumnRecord::Enum(v)) => ColumnData::Enum(v),
                (ColumnData::Time(_), ColumnRecord::Time(v)) => ColumnData::Time(v),
                (ColumnData::Num(_), ColumnRecord::Num(v)) => ColumnData::Num(v),
                (ColumnData::Bool(_), ColumnRecord::Bool(v)) => ColumnData::Bool(v),
                _ => return Err("a column of the wrong type".into()),
            };
            if data.len() != n {
                return Err("columns of unequal length".into());
            }
            *slot = data;
        }
        for (name, cells) in self.extra {
            if cells.len() != n {
                return Err("columns of unequal length".into());
            }
            let cells = cells
                .into_iter()
                .map(|c| c.map(|c| Arc::<str>::from(&*c)))
                .collect();
            t.extra.insert(name, cells);
        }
        t.digest = self.digest.into_iter().map(whole).collect();
        t.source = self.source;
        Ok(t)
    }
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain records into a Vec cannot fail; an error here is a bug of ours.
    rmp_serde::to_vec(value).unwrap_or_else(|e| panic!("bug in leakscope: encoding a part: {e}"))
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| format!("unreadable part: {e}"))
}

/// The columns of a stream of parts.
const PART_COLUMNS: [&str; 4] = ["file", "seq", "part", "payload"];
/// The columns of a stream of routed rows.
const ROUTED_COLUMNS: [&str; 3] = ["bucket", "part", "payload"];

/// Writes records as one Arrow IPC stream, a record batch per record as it comes.
struct Batches<W: Write> {
    stream: StreamWriter<W>,
    schema: Arc<ArrowSchema>,
}

impl<W: Write> Batches<W> {
    fn new(out: W, columns: &[(&str, ArrowDataType)]) -> PolarsResult<Batches<W>> {
        let schema: ArrowSchema = columns
            .iter()
            .map(|(name, ty)| Field::new((*name).into(), ty.clone(), false))
            .map(|f| (f.name.clone(), f))
            .collect();
        let mut stream = StreamWriter::new(out, WriteOptions { compression: None });
        stream.start(&schema, None)?;
        Ok(Batches {
            stream,
            schema: Arc::new(schema),
        })
    }

    fn write(&mut self, columns: Vec<Box<dyn Array>>) -> PolarsResult<()> {
        let batch = RecordBatchT::try_new(1, self.schema.clone(), columns)?;
        self.stream.write(&batch, None)
    }

    fn finish(mut self) -> PolarsResult<()> {
        self.stream.finish()?;
        self.stream.into_inner().flush()?;
        Ok(())
    }
}

fn number(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Writes parts as one Arrow IPC stream, a record batch per part as it comes, with columns
/// `file` (int32), `seq` (int32), `part` (string) and `payload` (binary).
pub struct PartWriter<W: Write>(Batches<W>);

impl<W: Write> PartWriter<W> {
    pub fn new(out: W) -> PolarsResult<PartWriter<W>> {
        let types = [
            ArrowDataType::Int32,
            ArrowDataType::Int32,
            ArrowDataType::Utf8,
            ArrowDataType::Binary,
        ];
        let columns: Vec<(&str, ArrowDataType)> = PART_COLUMNS.into_iter().zip(types).collect();
        Ok(PartWriter(Batches::new(out, &columns)?))
    }

    pub fn write(&mut self, p: &Part) -> PolarsResult<()> {
        self.0.write(vec![
            Box::new(Int32Array::from_slice([number(p.file)])),
            Box::new(Int32Array::from_slice([number(p.seq)])),
            Box::new(Utf8Array::<i32>::from_slice([p.kind.name()])),
            Box::new(BinaryArray::<i32>::from_slice([p.bytes.as_slice()])),
        ])
    }

    /// Ends the stream and flushes it.
    pub fn finish(self) -> PolarsResult<()> {
        self.0.finish()
    }
}

/// Writes routed rows as one Arrow IPC stream, a record batch per [`Routed`], with columns
/// `bucket` (int32), `part` (string) and `payload` (binary).
pub struct RoutedWriter<W: Write>(Batches<W>);

impl<W: Write> RoutedWriter<W> {
    pub fn new(out: W) -> PolarsResult<RoutedWriter<W>> {
        let types = [
            ArrowDataType::Int32,
            ArrowDataType::Utf8,
            ArrowDataType::Binary,
        ];
        let columns: Vec<(&str, ArrowDataType)> = ROUTED_COLUMNS.into_iter().zip(types).collect();
        Ok(RoutedWriter(Batches::new(out, &columns)?))
    }

    pub fn write(&mut self, r: &Routed) -> PolarsResult<()> {
        self.0.write(vec![
            Box::new(Int32Array::from_slice([r.bucket])),
            Box::new(Utf8Array::<i32>::from_slice([r.kind.name()])),
            Box::new(BinaryArray::<i32>::from_slice([r.bytes.as_slice()])),
        ])
    }

    /// Ends the stream and flushes it.
    pub fn finish(self) -> PolarsResult<()> {
        self.0.finish()
    }
}

/// Writes `parts` as one Arrow IPC stream.
pub fn write_parts(parts: &[Part], out: impl Write) -> PolarsResult<()> {
    let mut w = PartWriter::new(out)?;
    for p in parts {
        w.write(p)?;
    }
    w.finish()
}

/// Writes `routed` as one Arrow IPC stream.
pub fn write_routed(routed: &[Routed], out: impl Write) -> PolarsResult<()> {
    let mut w = RoutedWriter::new(out)?;
    for r in routed {
        w.write(r)?;
    }
    w.finish()
}

/// Reads the parts an Arrow IPC stream holds, in the stream's order, a batch at a time.
pub fn read_parts(input: impl Read) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut stream = PartReader::new(input)?;
    while let Some(p) = stream.next_part()? {
        parts.push(p);
    }
    Ok(parts)
}

/// Reads the routed rows an Arrow IPC stream holds, in the stream's order.
pub fn read_routed(input: impl Read) -> Result<Vec<Routed>, String> {
    let mut stream = Records::new(input, &ROUTED_COLUMNS, "routed rows")?;
    let mut routed = Vec::new();
    while let Some((n, batch)) = stream.next_batch()? {
        let bad = |what: &str| format!("batch {n} of the Arrow stream: {what}");
        let columns = batch.arrays();
        let buckets = ints(&*columns[0]).ok_or_else(|| bad("a bucket column of another type"))?;
        let (kinds, payloads) = kinds_and_payloads(&columns[1..]).map_err(&bad)?;
        for i in 0..batch.len() {
            routed.push(Routed {
                bucket: buckets.get(i).copied().ok_or_else(|| bad("no bucket"))?,
                kind: kinds
                    .get(i)
                    .and_then(PartKind::parse)
                    .ok_or_else(|| bad("an unknown part"))?,
                bytes: payloads.get(i).ok_or_else(|| bad("no payload"))?.to_vec(),
            });
        }
    }
    Ok(routed)
}

fn ints(column: &dyn Array) -> Option<&[i32]> {
    column
        .as_any()
        .downcast_ref::<Int32Array>()
        .map(|a| a.values().as_slice())
}

type KindsAndPayloads<'a> = (&'a Utf8Array<i32>, &'a BinaryArray<i32>);

fn kinds_and_payloads(columns: &[Box<dyn Array>]) -> Result<KindsAndPayloads<'_>, &'static str> {
    let kinds = columns[0]
        .as_any()
        .downcast_ref::<Utf8Array<i32>>()
        .ok_or("a part column of another type")?;
    let payloads = columns[1]
        .as_any()
        .downcast_ref::<BinaryArray<i32>>()
        .ok_or("a payload column of another type")?;
    Ok((kinds, payloads))
}

type Batch = RecordBatchT<Box<dyn Array>>;

/// An Arrow IPC stream of records read a batch at a time.
struct Records<R: Read> {
    reader: StreamReader<Forward<std::io::BufReader<R>>>,
    batch: usize,
}

impl<R: Read> Records<R> {
    fn new(input: R, columns: &[&str], what: &str) -> Result<Records<R>, String> {
        let mut input = Forward {
            inner: std::io::BufReader::new(input),
            at: 0,
        };
        let metadata = read_stream_metadata(&mut input).map_err(unreadable)?;
        let names: Vec<&str> = metadata.schema.iter_names().map(|n| n.as_str()).collect();
        if names != columns {
            return Err(format!(
                "an Arrow stream of columns {names:?}, not of {what}"
            ));
        }
        Ok(Records {
            reader: StreamReader::new(input, metadata, None),
            batch: 0,
        })
    }

    /// The next batch and its number in the stream.
    fn next_batch(&mut self) -> Result<Option<(usize, Batch)>, String> {
        loop {
            let Some(state) = self.reader.next() else {
                return Ok(None);
            };
            let n = self.batch;
            self.batch += 1;
            if let StreamState::Some(batch) = state.map_err(unreadable)? {
                return Ok(Some((n, batch)));
            }
        }
    }
}

fn unreadable(e: PolarsError) -> String {
    format!("unreadable Arrow stream: {e}")
}

/// Parts read from an Arrow IPC stream one at a time, so that a long stream is never held whole.
pub struct PartReader<R: Read> {
    records: Records<R>,
    pending: std::vec::IntoIter<Part>,
}

impl<R: Read> PartReader<R> {
    pub fn new(input: R) -> Result<PartReader<R>, String> {
        Ok(PartReader {
            records: Records::new(input, &PART_COLUMNS, "parts")?,
            pending: Vec::new().into_iter(),
        })
    }

    pub fn next_part(&mut self) -> Result<Option<Part>, String> {
        loop {
            if let Some(p) = self.pending.next() {
                return Ok(Some(p));
            }
            let Some((n, batch)) = self.records.next_batch()? else {
                return Ok(None);
            };
            self.pending = parts_of(n, &batch)?.into_iter();
        }
    }
}

/// The parts of batch `n` of a stream of parts.
fn parts_of(n: usize, batch: &Batch) -> Result<Vec<Part>, String> {
    let bad = |what: &str| format!("batch {n} of the Arrow stream: {what}");
    let columns = batch.arrays();
    let files = ints(&*columns[0]).ok_or_else(|| bad("a number column of another type"))?;
    let seqs = ints(&*columns[1]).ok_or_else(|| bad("a number column of another type"))?;
    let (kinds, payloads) = kinds_and_payloads(&columns[2..]).map_err(&bad)?;
    let mut parts = Vec::with_capacity(batch.len());
    for i in 0..batch.len() {
        let file = files
            .get(i)
            .copied()
            .and_then(|f| u32::try_from(f).ok())
            .ok_or_else(|| bad("no file number"))?;
        let seq = seqs
            .get(i)
            .copied()
            .and_then(|s| u32::try_from(s).ok())
            .ok_or_else(|| bad("no part number"))?;
        let kind = kinds
            .get(i)
            .and_then(PartKind::parse)
            .ok_or_else(|| bad("an unknown part"))?;
        let bytes = payloads.get(i).ok_or_else(|| bad("no payload"))?.to_vec();
        parts.push(Part {
            file,
            seq,
            kind,
            bytes,
        });
    }
    Ok(parts)
}

/// A stream (a pipe) as the IPC reader wants it: it asks where it is and skips a message's
/// padding by seeking forward, which reading and dropping does.
struct Forward<R> {
    inner: R,
    at: u64,
}

impl<R: Read> Read for Forward<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl<R: Read> std::io::Seek for Forward<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        match pos {
            std::io::SeekFrom::Current(n) if n >= 0 => {
                let skipped =
                    std::io::copy(&mut (&mut *self).take(n as u64), &mut std::io::sink())?;
                if skipped < n as u64 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                Ok(self.at)
            }
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "a stream only moves forward",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::table_from_csv;

    #[test]
    fn a_table_survives_the_trip_exactly() {
        let t = table_from_csv(
            Kind::Sessions,
            "ts,session_id,event,account_id,client,note\n\
             2020-01-01T00:00:00Z,s1,start,a1,nest_hub,x\n\
             2020-01-01T00:00:01.5Z,s2,end,,,\n\
             2020-01-01T00:00:02Z,s1,START,a2,,y\n",
            7,
        );
        assert_eq!(t.len(), 3);
        let bytes = encode(&TableRecord::of(&t, 0..3));
        let back = decode::<TableRecord>(&bytes)
            .expect("decodes")
            .into_table(Kind::Sessions)
            .expect("a table");
        assert_eq!(back.columns, t.columns);
        assert_eq!(back.extra, t.extra);
        assert_eq!(back.digest, t.digest);
        assert_eq!(back.source, vec![(7, 2), (7, 3), (7, 4)]);
        let tail = decode::<TableRecord>(&encode(&TableRecord::of(&t, 1..3)))
            .expect("decodes")
            .into_table(Kind::Sessions)
            .expect("a table");
        assert_eq!(
            tail.time("ts"),
            &[Some(1_577_836_801_500), Some(1_577_836_802_000)]
        );
        assert!(decode::<TableRecord>(&bytes)
            .expect("decodes")
            .into_table(Kind::Ownership)
            .unwrap_err()
            .contains("rows of sessions where ownership were expected"));
    }

    #[test]
    fn parts_survive_an_arrow_stream() {
        let parts = vec![
            Part {
                file: 3,
                seq: 0,
                kind: PartKind::File,
                bytes: vec![1, 2, 3],
            },
            Part {
                file: 3,
                seq: 1,
                kind: PartKind::Rows,
                bytes: Vec::new(),
            },
        ];
        let mut buf = Vec::new();
        write_parts(&parts, &mut buf).expect("writes");
        assert_eq!(read_parts(buf.as_slice()).expect("reads"), parts);
        assert!(read_parts(&b"not arrow"[..])
            .unwrap_err()
            .starts_with("unreadable Arrow stream"));
    }
}
