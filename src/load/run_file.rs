//! The file of one sorted run of deliveries: how [`super::runs`] writes its rows and reads them
//! back, a chunk at a time.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::schema::Kind;
use crate::table::{ColumnData, Interner, Table, Text};
use crate::text::{TextColumn, ABSENT};

/// Rows decoded from a run at a time during the merge.
pub(super) const READ_CHUNK: usize = 8192;

/// Bytes of a run decoded ahead of the rows being read.
const DECODED_BUFFER: usize = 1 << 16;

/// zstd level of the runs: the fastest, since the runs live for one analysis.
const RUN_LEVEL: i32 = 1;

/// One sorted run on disk.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) path: PathBuf,
    pub(super) rows: usize,
    /// The run's extra columns, in the order its rows name them.
    pub(super) extra: Vec<String>,
}

/// The merge key: time, digest, then origin; the order [`crate::dedup::dedup`] leaves rows in.
pub(super) type Key = (Option<i64>, u128, (u32, u64));

/// Writes rows `rows` of a sorted run, a row after another; returns the names of its extra columns.
///
/// A row is its key (time, digest, file, line), its contract columns in schema order, then the
/// number of extra values present and each as (column, value). A contract text cell with a
/// run-wide dictionary (`global[k]`, its cells' codes) is its code ([`ABSENT`] for none). Any other
/// is coded against the values of its column within its chunk of [`READ_CHUNK`] rows (as a
/// Parquet page is against its dictionary page): 0 for absent, 1 then the text for a value new to
/// the chunk, which takes the chunk's next code, or 2 plus the code of one met before. So the merge
/// reads each distinct value of a chunk once and never looks one up. Other text is a length plus
/// one, or 0 for absent; an enum its code plus one, or 0; other values are a presence byte and the
/// value.
pub(super) fn write_run(
    t: &Table,
    global: &[Option<Vec<u32>>],
    rows: Range<usize>,
    path: &Path,
) -> Result<Vec<String>> {
    let io = |e| Error::io(path, e);
    let file = File::create(path).map_err(io)?;
    let mut w =
        zstd::Encoder::new(BufWriter::with_capacity(1 << 20, file), RUN_LEVEL).map_err(io)?;
    let extra: Vec<(&String, &Vec<Option<Text>>)> = t.extra.iter().collect();
    // A column with a run-wide dictionary needs no chunk codes.
    let mut dicts: Vec<ChunkCodes> = t
        .columns
        .iter()
        .zip(global)
        .map(|(c, global)| match (c, global) {
            (ColumnData::Text(v), None) => {
                ChunkCodes::new(v.coded().map_or(0, |(_, values)| values.len()))
            }
            _ => ChunkCodes::new(0),
        })
        .collect();
    let mut buf = Vec::with_capacity(1 << 16);
    for (n, i) in rows.enumerate() {
        if n % READ_CHUNK == 0 {
            dicts.iter_mut().for_each(ChunkCodes::next_chunk);
        }
        for ((c, dict), global) in t.columns.iter().zip(&mut dicts).zip(global) {
            match c {
                ColumnData::Text(_) if global.is_some() => buf.extend_from_slice(
                    &global
                        .as_ref()
                        .and_then(|g| g.get(i).copied())
                        .unwrap_or(ABSENT)
                        .to_le_bytes(),
                ),
                ColumnData::Text(v) => dict.put(&mut buf, v, i),
                ColumnData::Enum(v) => buf.push(v[i].map_or(0, |c| c + 1)),
                ColumnData::Time(v) => put_opt(&mut buf, v[i].map(i64::to_le_bytes)),
                ColumnData::Num(v) => put_opt(&mut buf, v[i].map(f64::to_le_bytes)),
                ColumnData::Bool(v) => buf.push(match v[i] {
                    None => 0,
                    Some(false) => 1,
                    Some(true) => 2,
                }),
            }
        }
        let present = extra.iter().filter(|(_, v)| v[i].is_some()).count();
        buf.extend_from_slice(&(present as u32).to_le_bytes());
        for (k, (_, v)) in extra.iter().enumerate() {
            if let Some(s) = v[i].as_deref() {
                buf.extend_from_slice(&(k as u32).to_le_bytes());
                put_text(&mut buf, Some(s));
            }
        }
        buf.extend_from_slice(&t.digest[i].to_le_bytes());
        buf.extend_from_slice(&t.source[i].0.to_le_bytes());
        buf.extend_from_slice(&t.source[i].1.to_le_bytes());
        if buf.len() >= 1 << 15 {
            w.write_all(&buf).map_err(io)?;
            buf.clear();
        }
    }
    w.write_all(&buf).map_err(io)?;
    w.finish().map_err(io)?.flush().map_err(io)?;
    Ok(extra.into_iter().map(|(k, _)| k.clone()).collect())
}

/// The chunk codes of one text column while a run is written: for each of the table's codes, the
/// chunk it was last written in and its code there. Chunks are told apart by number, so starting
/// one clears nothing.
struct ChunkCodes {
    of_table_code: Vec<(u32, u32)>,
    chunk: u32,
    next: u32,
}

impl ChunkCodes {
    fn new(table_values: usize) -> ChunkCodes {
        ChunkCodes {
            of_table_code: vec![(0, 0); table_values],
            chunk: 0,
            next: 0,
        }
    }

    fn next_chunk(&mut self) {
        self.chunk += 1;
        self.next = 0;
    }

    fn put(&mut self, buf: &mut Vec<u8>, col: &TextColumn, i: usize) {
        let Some(s) = col.str(i) else {
            return buf.extend_from_slice(&0u32.to_le_bytes());
        };
        let seen = col
            .coded()
            .and_then(|(codes, _)| codes.get(i))
            .and_then(|&c| self.of_table_code.get_mut(c as usize));
        match seen {
            Some(slot) if slot.0 == self.chunk => {
                buf.extend_from_slice(&(slot.1 + 2).to_le_bytes());
                return;
            }
            Some(slot) => *slot = (self.chunk, self.next),
            None => {}
        }
        self.next += 1;
        buf.extend_from_slice(&1u32.to_le_bytes());
        put_text(buf, Some(s));
    }
}

fn put_text(buf: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => buf.extend_from_slice(&0u32.to_le_bytes()),
        Some(s) => {
            buf.extend_from_slice(&(s.len() as u32 + 1).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
    }
}

fn put_opt(buf: &mut Vec<u8>, v: Option<[u8; 8]>) {
    match v {
        None => buf.push(0),
        Some(b) => {
            buf.push(1);
            buf.extend_from_slice(&b);
        }
    }
}

/// Reads one run back, a chunk of rows at a time.
pub(super) struct RunReader {
    path: PathBuf,
    /// Buffered above the decoder too: a row is read as dozens of reads of a few bytes, and each
    /// read of the decoder itself is a step of the decompressor.
    input: BufReader<zstd::Decoder<'static, BufReader<File>>>,
    left: usize,
    /// This run's extra column k is column `extra_at[k]` of the merged extras.
    extra_at: Vec<usize>,
    extra_names: Vec<String>,
    interner: Interner,
    scratch: Vec<u8>,
    pub(super) chunk: Table,
    pub(super) pos: usize,
    /// For each contract column, what [`TextColumn::push_via`] remembers of the chunk's values in
    /// the merge's current block.
    pub(super) memo: Vec<Vec<u32>>,
    /// The runs' dictionaries, per contract column ([`SpilledDeliveries::dicts`]).
    dicts: Arc<Vec<Option<Vec<Text>>>>,
    /// The chunk's cells of each column with a dictionary, as its codes; the chunk's own column
    /// is then all absent.
    pub(super) global: Vec<Vec<u32>>,
}

impl RunReader {
    pub(super) fn open(
        run: &Run,
        all_extra: &[String],
        dicts: &Arc<Vec<Option<Vec<Text>>>>,
    ) -> Result<RunReader> {
        let io = |e| Error::io(&run.path, e);
        let file = File::open(&run.path).map_err(io)?;
        Ok(RunReader {
            path: run.path.clone(),
            input: BufReader::with_capacity(DECODED_BUFFER, zstd::Decoder::new(file).map_err(io)?),
            left: run.rows,
            extra_at: run
                .extra
                .iter()
                .map(|e| all_extra.iter().position(|a| a == e).unwrap_or(0))
                .collect(),
            extra_names: all_extra.to_vec(),
            interner: Interner::default(),
            scratch: Vec::new(),
            chunk: Table::new(Kind::Deliveries),
            pos: 0,
            memo: vec![Vec::new(); Kind::Deliveries.columns().len()],
            dicts: dicts.clone(),
            global: vec![Vec::new(); Kind::Deliveries.columns().len()],
        })
    }

    /// Cell `pos` of contract text column `k` of the chunk.
    pub(super) fn text(&self, k: usize, pos: usize) -> Option<&Text> {
        match self.dicts.get(k).and_then(Option::as_ref) {
            Some(values) => self
                .global
                .get(k)
                .and_then(|g| g.get(pos))
                .and_then(|&c| values.get(c as usize)),
            None => match self.chunk.columns.get(k) {
                Some(ColumnData::Text(v)) => v.get(pos),
                _ => None,
            },
        }
    }

    /// The key of the current row, if any is left.
    pub(super) fn key(&self, ts_col: usize) -> Option<Key> {
        (self.pos < self.chunk.len()).then(|| {
            let ts = match &self.chunk.columns[ts_col] {
                ColumnData::Time(v) => v[self.pos],
                _ => None,
            };
            (ts, self.chunk.digest[self.pos], self.chunk.source[self.pos])
        })
    }

    /// Moves to the next row, decoding the next chunk when this one is used up.
    pub(super) fn advance(&mut self) -> Result<()> {
        self.pos += 1;
        if self.pos >= self.chunk.len() {
            self.fill()?;
        }
        Ok(())
    }

    pub(super) fn fill(&mut self) -> Result<()> {
        let n = self.left.min(READ_CHUNK);
        let mut t = Table::new(Kind::Deliveries);
        let mut extra: Vec<Vec<Option<Text>>> = vec![Vec::with_capacity(n); self.extra_names.len()];
        let ncols = t.columns.len();
        // Each contract text column's cells as codes into the values the chunk has met so far.
        let mut text: Vec<(Vec<u32>, Vec<Text>)> = vec![Default::default(); ncols];
        let dicts = self.dicts.clone();
        for g in &mut self.global {
            g.clear();
        }
        let mut r = Decode {
            input: &mut self.input,
            path: &self.path,
            scratch: &mut self.scratch,
        };
        for _ in 0..n {
            for (k, (c, (codes, values))) in t.columns.iter_mut().zip(text.iter_mut()).enumerate() {
                match c {
                    ColumnData::Text(_) => match dicts.get(k).and_then(Option::as_ref) {
                        Some(all) => self.global[k].push(r.run_code(all.len())?),
                        None => codes.push(r.chunk_code(values)?),
                    },
                    ColumnData::Enum(v) => v.push(r.bytes::<1>()?[0].checked_sub(1)),
                    ColumnData::Time(v) => v.push(r.opt()?.map(i64::from_le_bytes)),
                    ColumnData::Num(v) => v.push(r.opt()?.map(f64::from_le_bytes)),
                    ColumnData::Bool(v) => v.push(match r.bytes::<1>()?[0] {
                        0 => None,
                        b => Some(b == 2),
                    }),
                }
            }
            for col in extra.iter_mut() {
                col.push(None);
            }
            let present = u32::from_le_bytes(r.bytes()?);
            for _ in 0..present {
                let k = u32::from_le_bytes(r.bytes()?) as usize;
                let at = self.extra_at.get(k).copied().unwrap_or(0);
                let s = r.text(&mut self.interner, ncols + at)?;
                if let Some(last) = extra.get_mut(at).and_then(|col| col.last_mut()) {
                    *last = s;
                }
            }
            t.digest.push(u128::from_le_bytes(r.bytes()?));
            let file = u32::from_le_bytes(r.bytes()?);
            let line = u64::from_le_bytes(r.bytes()?);
            t.source.push((file, line));
        }
        for (k, (c, (codes, values))) in t.columns.iter_mut().zip(text).enumerate() {
            if let ColumnData::Text(v) = c {
                *v = match dicts.get(k).and_then(Option::as_ref) {
                    Some(_) => TextColumn::absent(n),
                    None => TextColumn::from_codes(codes, values),
                };
            }
        }
        t.extra = self.extra_names.iter().cloned().zip(extra).collect();
        self.left -= n;
        self.chunk = t;
        self.pos = 0;
        for m in &mut self.memo {
            m.clear();
        }
        Ok(())
    }
}

/// Reads the encoded values of [`write_run`].
struct Decode<'a> {
    input: &'a mut BufReader<zstd::Decoder<'static, BufReader<File>>>,
    path: &'a Path,
    scratch: &'a mut Vec<u8>,
}

impl Decode<'_> {
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.input
            .read_exact(&mut b)
            .map_err(|e| Error::io(self.path, e))?;
        Ok(b)
    }

    /// The next text value, interned in column slot `col`.
    fn text(&mut self, interner: &mut Interner, col: usize) -> Result<Option<Text>> {
        Ok(self.str()?.map(|s| interner.intern(col, s)))
    }

    /// The next contract text cell of a chunk ([`ChunkCodes::put`]), as a code into `values`,
    /// the chunk's values so far, which a new value joins.
    fn chunk_code(&mut self, values: &mut Vec<Text>) -> Result<u32> {
        match u32::from_le_bytes(self.bytes()?) {
            0 => Ok(ABSENT),
            1 => {
                let s = self.str()?.map(Text::from);
                values.push(s.ok_or_else(|| self.corrupt("a new value of a chunk is absent"))?);
                Ok(values.len() as u32 - 1)
            }
            n if ((n - 2) as usize) < values.len() => Ok(n - 2),
            n => Err(self.corrupt(&format!(
                "a chunk names its value {} when it has met {}",
                n - 2,
                values.len()
            ))),
        }
    }

    /// A run that does not read as [`write_run`] wrote it: a bug of ours, or the disk's.
    fn corrupt(&self, why: &str) -> Error {
        Error::io(
            self.path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string()),
        )
    }

    /// The next contract text cell of a column with a run-wide dictionary of `values` values.
    fn run_code(&mut self, values: usize) -> Result<u32> {
        match u32::from_le_bytes(self.bytes()?) {
            ABSENT => Ok(ABSENT),
            c if (c as usize) < values => Ok(c),
            c => Err(self.corrupt(&format!(
                "a run names value {c} of a dictionary of {values}"
            ))),
        }
    }

    /// The next text value, valid until the next one is read.
    fn str(&mut self) -> Result<Option<&str>> {
        match u32::from_le_bytes(self.bytes()?) {
            0 => Ok(None),
            n => {
                self.scratch.resize(n as usize - 1, 0);
                self.input
                    .read_exact(self.scratch)
                    .map_err(|e| Error::io(self.path, e))?;
                std::str::from_utf8(self.scratch).map(Some).map_err(|e| {
                    Error::io(
                        self.path,
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                    )
                })
            }
        }
    }

    fn opt(&mut self) -> Result<Option<[u8; 8]>> {
        match self.bytes::<1>()?[0] {
            0 => Ok(None),
            _ => self.bytes().map(Some),
        }
    }
}
