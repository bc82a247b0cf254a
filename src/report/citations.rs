//! citations.jsonl: for every delivery that is not `ok`, its look-ups' answers and the log rows behind each.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cite::Cited;
use crate::error::{Error, Result};
use crate::sink::ClassifiedBlock;
use crate::table::Text;
use crate::time::format_ms;
use crate::verdict::{Class, ContentSource, Flip, Missing, Verdict};

/// A log row: its file as the manifest names it, and its line (1-based, the header of a CSV file
/// is its line 1) or, for Parquet, its 0-based row index; for a look-up's row, the time of its
/// event (clock-corrected, RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub file: Text,
    pub line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
}

/// One delivery that is not `ok`, as citations.jsonl holds it: the delivery, what each look-up of
/// docs/SEMANTICS.md found at t, and the row each answer came from (`null`: no row, as when no
/// session was ever opened or the TTL closed it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CitationRecord {
    pub delivery: Row,
    pub ts: String,
    pub request_id: Option<Text>,
    pub session_id: Option<Text>,
    pub requested_stream_id: Option<Text>,
    pub cache_node: Option<Text>,
    pub cache_key: Option<Text>,
    pub class: Class,
    pub reason: Option<Missing>,
    pub flipped: Option<Flip>,
    pub recipient: Option<Text>,
    pub subject: Option<Text>,
    pub origin_stream_id: Option<Text>,
    pub object_id: Option<Text>,
    pub capture_ts: Option<String>,
    pub content_source: Option<ContentSource>,
    pub fill_ts: Option<String>,
    pub granted: bool,
    #[serde(flatten)]
    pub rows: CitedRows,
}

/// The rows behind a verdict's look-ups ([`crate::verdict::Citations`]), named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitedRows {
    pub session_start: Option<Row>,
    pub session_end: Option<Row>,
    pub content: Option<Row>,
    pub owner: Option<Row>,
    pub grant: Option<Row>,
    pub flips: Vec<Row>,
}

/// citations.jsonl, written a block at a time in the order of the deliveries.
pub struct CitationsFile {
    path: PathBuf,
    w: BufWriter<File>,
    /// The run's input files, by index, as the manifest names them.
    files: Vec<Text>,
}

impl CitationsFile {
    pub fn create(out: &Path, files: Vec<String>) -> Result<CitationsFile> {
        let files = files.into_iter().map(Text::from).collect();
        let path = out.join("citations.jsonl");
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(CitationsFile {
            path,
            w: BufWriter::new(file),
            files,
        })
    }

    /// Adds the deliveries of `block` that are not `ok`.
    pub fn add(&mut self, block: &ClassifiedBlock) -> Result<()> {
        let d = block.deliveries;
        let text = |name: &str, row: usize| d.text(name).get(row).cloned();
        let ts = d.time("ts");
        for (k, v) in block.verdicts.iter().enumerate() {
            if v.class == Class::Ok {
                continue;
            }
            let row = block.rows.start + k;
            let source = d.source.get(row).copied().ok_or_else(|| {
                Error::internal("citing a delivery", format!("row {row} has no source"))
            })?;
            let Some(t) = ts.get(row).copied().flatten() else {
                return Err(Error::internal(
                    "citing a delivery",
                    "a delivery without ts",
                ));
            };
            let record = CitationRecord {
                delivery: self.row(source)?,
                ts: format_ms(t),
                request_id: text("request_id", row),
                session_id: text("session_id", row),
                requested_stream_id: text("requested_stream_id", row),
                cache_node: text("cache_node", row),
                cache_key: text("cache_key", row),
                class: v.class,
                reason: v.missing,
                flipped: v.flipped,
                recipient: v.recipient.clone(),
                subject: v.subject.clone(),
                origin_stream_id: v.origin_stream_id.clone(),
                object_id: v.object_id.clone(),
                capture_ts: v.capture_ts.map(format_ms),
                content_source: v.content_source,
                fill_ts: v.fill_ts.map(format_ms),
                granted: v.granted,
                rows: self.cites(v)?,
            };
            serde_json::to_writer(&mut self.w, &record)
                .map_err(|e| Error::output(&self.path, e))?;
            self.w
                .write_all(b"\n")
                .map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.w.flush().map_err(|e| Error::io(&self.path, e))
    }

    fn row(&self, (file, line): (u32, u64)) -> Result<Row> {
        match self.files.get(file as usize) {
            Some(f) => Ok(Row {
                file: f.clone(),
                line,
                ts: None,
            }),
            None => Err(Error::internal(
                "citing a log row",
                format!("file {file} is not one of the {} inputs", self.files.len()),
            )),
        }
    }

    /// The rows of `v`'s look-ups.
    fn cites(&self, v: &Verdict) -> Result<CitedRows> {
        let Some(c) = &v.cites else {
            return Err(Error::internal(
                "citing a delivery",
                "a verdict that is not ok without its citations",
            ));
        };
        let row = |c: Option<Cited>| -> Result<Option<Row>> {
            let Some(c) = c else { return Ok(None) };
            let Some(source) = c.cite.get() else {
                return Ok(None);
            };
            Ok(Some(Row {
                ts: Some(format_ms(c.ts)),
                ..self.row(source)?
            }))
        };
        Ok(CitedRows {
            session_start: row(c.session_start)?,
            session_end: row(c.session_end)?,
            content: row(c.content)?,
            owner: row(c.owner)?,
            grant: row(c.grant)?,
            flips: c
                .flips
                .iter()
                .filter_map(|&f| row(Some(f)).transpose())
                .collect::<Result<_>>()?,
        })
    }
}
