//! Kernel `parse`: one input file read and validated exactly as the single-node loader does,
//! its record, quarantine and accepted rows sent as parts.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use super::wire::{
    encode, FileRecord, Part, PartKind, PartWriter, TableRecord, ValidatedRecord, PART_ROWS,
};
use crate::error::{Error, Result};
use crate::load::{load_one, Config, Plan, RowSink};
use crate::table::Table;

/// Parts as they are made: written at once, numbered on, the first write error kept.
struct Stream<W: Write> {
    writer: PartWriter<W>,
    index: u32,
    seq: u32,
    error: Option<String>,
}

impl<W: Write> Stream<W> {
    fn part(&mut self, kind: PartKind, bytes: Vec<u8>) {
        if self.error.is_some() {
            return;
        }
        let part = Part {
            file: self.index,
            seq: self.seq,
            kind,
            bytes,
        };
        self.seq += 1;
        if let Err(e) = self.writer.write(&part) {
            self.error = Some(e.to_string());
        }
    }

    /// `t`'s rows as parts of at most [`PART_ROWS`] rows.
    fn rows(&mut self, kind: PartKind, t: &Table) {
        for start in (0..t.len()).step_by(PART_ROWS) {
            let rows = start..(start + PART_ROWS).min(t.len());
            self.part(kind, encode(&TableRecord::of(t, rows)));
        }
    }
}

/// Rows the file pushes where the single-node loader has a sink for its kind, each slice
/// written out as it arrives, so that the kernel holds a slice of rows at a time, not the file.
struct Pushed<W: Write>(Mutex<Stream<W>>);

impl<W: Write + Send> RowSink for Pushed<W> {
    fn push(&self, rows: Table) {
        // A poisoned lock means a validator thread panicked, which the caller reports.
        if let Ok(mut stream) = self.0.lock() {
            stream.rows(PartKind::Rows, &rows);
        }
    }
}

/// Writes the parts of file number `index`, which the dataset holds at `rel` and whose bytes are
/// at `path`, to `out` as one Arrow IPC stream: its rows numbered from 0, then its record, last.
pub fn parse(
    config: &Config,
    index: u32,
    rel: &str,
    path: &Path,
    out: impl Write + Send,
) -> Result<()> {
    let found = Plan::file(config, rel, path).ok_or_else(|| {
        Error::internal(
            "planning a file",
            format!("{rel:?} is not a file the dataset's plan reads"),
        )
    })?;
    let writer = PartWriter::new(out).map_err(|e| Error::polars("writing the parts", e))?;
    let pushed = Pushed(Mutex::new(Stream {
        writer,
        index,
        seq: 0,
        error: None,
    }));
    let (file, validated) = load_one(config, &found, index, &pushed);
    let mut stream = pushed
        .0
        .into_inner()
        .map_err(|_| Error::internal("validating a file", "a validator thread stopped"))?;
    if let Some(v) = &validated {
        stream.rows(PartKind::Table, &v.table);
    }
    let record = FileRecord {
        size: file.size,
        sha256: file.sha256,
        rows: file.rows,
        time_forms: file.time_forms,
        error: file.error,
        validated: validated.as_ref().map(ValidatedRecord::of),
    };
    stream.part(PartKind::File, encode(&record));
    if let Some(e) = stream.error {
        return Err(Error::Output {
            path: "<stdout>".into(),
            reason: e,
        });
    }
    stream
        .writer
        .finish()
        .map_err(|e| Error::polars("writing the parts", e))
}
