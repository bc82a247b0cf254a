//! What one bucket's kernel received through a shuffle: routed parts decoded into tables, in a
//! total order of their own, so that how Spark delivered them never matters.

use std::io::Write;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::{
    decode, encode, read_routed, PartKind, Routed, RoutedWriter, TableRecord, PART_ROWS,
};
use crate::error::{Error, Result};
use crate::schema::Kind;
use crate::table::Table;

fn bad(what: String) -> Error {
    Error::internal("reading a bucket's rows", what)
}

/// A bucket's routed parts.
pub struct Received(Vec<Routed>);

impl Received {
    /// The routed parts on `input`, one Arrow IPC stream.
    pub fn read(input: impl std::io::Read) -> Result<Received> {
        read_routed(input).map(Received).map_err(bad)
    }

    /// The rows of parts of kind `part`, a table of `kind`, ordered by file and line; a row
    /// received twice (from two copies of a part sent to every bucket) is kept once.
    pub fn table(&self, part: PartKind, kind: Kind) -> Result<Table> {
        let mut t = Table::new(kind);
        for r in self.0.iter().filter(|r| r.kind == part) {
            let rows = decode::<TableRecord>(&r.bytes)
                .and_then(|rec| rec.into_table(kind))
                .map_err(bad)?;
            t.append(rows);
        }
        let mut order: Vec<usize> = (0..t.len()).collect();
        order.sort_by_key(|&i| t.source[i]);
        order.dedup_by_key(|i| t.source[*i]);
        Ok(t.select(&order))
    }

    /// The records of parts of kind `part`, in the order they came.
    pub fn records<T: DeserializeOwned>(&self, part: PartKind) -> Result<Vec<T>> {
        let mut all = Vec::new();
        for r in self.0.iter().filter(|r| r.kind == part) {
            all.extend(decode::<Vec<T>>(&r.bytes).map_err(bad)?);
        }
        Ok(all)
    }
}

/// The number of files the rows of `t` come from, counting from file 0: what the per-file
/// tallies of de-duplication are sized by.
pub fn files_of(t: &Table) -> usize {
    t.source.iter().map(|s| s.0 as usize + 1).max().unwrap_or(0)
}

/// Rows of `t` ordered by time, then digest: the order every stage of the single-node run reads
/// de-duplicated deliveries in.
pub fn by_time(t: Table) -> Table {
    let ts = t.time("ts");
    let mut order: Vec<usize> = (0..t.len()).collect();
    order.sort_by_key(|&i| (ts[i], t.digest[i], t.source[i]));
    t.select(&order)
}

/// Writes routed parts to `out` as one stream.
pub struct Sender<W: Write>(RoutedWriter<W>);

impl<W: Write> Sender<W> {
    pub fn new(out: W) -> Result<Sender<W>> {
        RoutedWriter::new(out).map(Sender).map_err(failed)
    }

    pub fn send(&mut self, r: Routed) -> Result<()> {
        self.0.write(&r).map_err(failed)
    }

    /// Records `records` to the buckets `bucket[i]` says, as parts of kind `kind` of at most
    /// [`PART_ROWS`] records, in bucket order.
    pub fn records<T: Serialize>(
        &mut self,
        records: Vec<T>,
        bucket: &[i32],
        kind: PartKind,
    ) -> Result<()> {
        let mut keyed: Vec<(i32, T)> = bucket.iter().copied().zip(records).collect();
        keyed.sort_by_key(|(b, _)| *b);
        for same in keyed.chunk_by(|a, b| a.0 == b.0) {
            for chunk in same.chunks(PART_ROWS) {
                let items: Vec<&T> = chunk.iter().map(|(_, r)| r).collect();
                self.send(Routed {
                    bucket: chunk[0].0,
                    kind,
                    bytes: encode(&items),
                })?;
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        self.0.finish().map_err(failed)
    }
}

fn failed(e: polars::prelude::PolarsError) -> Error {
    Error::polars("writing the routed rows", e)
}
