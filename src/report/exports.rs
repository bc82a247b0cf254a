//! Exports for other tools: a Timesketch timeline (`timeline.jsonl`, `timeline.csv`) and OCSF Data Security Findings (`findings.ocsf.jsonl`), read back from citations.jsonl.
//!
//! Both are evidence with the real identifiers, like leaks.csv: `--pseudonymize` does not apply.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use chrono::DateTime;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::citations::{CitationRecord, Row};
use super::Exports;
use crate::error::{Error, Result};
use crate::findings::Findings;
use crate::load::LoadedDataset;
use crate::schema::{ChangeKind, Kind};
use crate::time::format_ms;
use crate::verdict::Class;

/// The OCSF schema version the findings follow.
pub const OCSF_VERSION: &str = "1.3.0";

/// Leak deliveries each finding names as its evidence, the earliest first.
const EVIDENCE_PER_FINDING: usize = 10;

/// The flat columns of every timeline event, in order: Timesketch's three, then ours.
pub const TIMELINE_COLUMNS: [&str; 21] = [
    "message",
    "datetime",
    "timestamp_desc",
    "timestamp",
    "data_type",
    "class",
    "reason",
    "flipped",
    "request_id",
    "session_id",
    "recipient_account",
    "subject_account",
    "origin_stream_id",
    "object_id",
    "cache_node",
    "cache_key",
    "role",
    "cited_by",
    "cited_by_count",
    "source_file",
    "source_line",
];

/// Writes the exports of a run whose citations.jsonl is in `out`.
///
/// citations.jsonl is read twice and never held: once for the rows it cites and each exposure
/// pair's evidence, once to write the deliveries in time order between the cited rows and the
/// changes. At 10^7 deliveries it holds half a million records.
pub fn write_exports(
    loaded: &LoadedDataset,
    findings: &Findings,
    which: Exports,
    out: &Path,
) -> Result<()> {
    if which == Exports::default() {
        return Ok(());
    }
    let path = out.join("citations.jsonl");
    let mut cited: BTreeMap<(i64, String, u64), CitedRow> = BTreeMap::new();
    let mut pairs: BTreeMap<(String, String), PairEvidence> = BTreeMap::new();
    each_record(&path, |r| {
        if which.ocsf && r.class == Class::Leak {
            if let (Some(s), Some(rc)) = (&r.subject, &r.recipient) {
                pairs
                    .entry((s.to_string(), rc.to_string()))
                    .or_default()
                    .add(&r)?;
            }
        }
        if which.timesketch && matches!(r.class, Class::Leak | Class::Ambiguous) {
            cite_rows(&r, &mut cited)?;
        }
        Ok(())
    })?;
    if which.timesketch {
        write_timeline(loaded, cited, &path, out)?;
    }
    match which.ocsf {
        true => write_ocsf(loaded, findings, &pairs, &out.join("findings.ocsf.jsonl")),
        false => Ok(()),
    }
}

/// timeline.jsonl and timeline.csv: the deliveries of citations.jsonl at `path` in time order,
/// between the rows they cite and the changes.
fn write_timeline(
    loaded: &LoadedDataset,
    cited: BTreeMap<(i64, String, u64), CitedRow>,
    path: &Path,
    out: &Path,
) -> Result<()> {
    // The events that are not deliveries, in time order; a delivery comes after them at its
    // millisecond.
    let mut others: Vec<(i64, Map<String, Value>)> = changes(loaded);
    others.extend(
        cited
            .into_iter()
            .map(|((t, file, line), c)| (t, c.event(&file, line))),
    );
    others.sort_by_cached_key(|e| (e.0, key_of(&e.1)));
    let mut w = TimelineWriter::create(out)?;
    let mut others = others.into_iter().peekable();
    each_record(path, |r| {
        if !matches!(r.class, Class::Leak | Class::Ambiguous) {
            return Ok(());
        }
        let t = time_of(&r.ts)?;
        while let Some(e) = others.next_if(|e| e.0 <= t) {
            w.write(e.0, e.1)?;
        }
        w.write(t, delivery_event(&r))
    })?;
    for (t, e) in others {
        w.write(t, e)?;
    }
    w.finish()
}

/// Calls `f` with every record of citations.jsonl, in its order.
fn each_record(path: &Path, mut f: impl FnMut(CitationRecord) -> Result<()>) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        let r: CitationRecord = serde_json::from_str(&line).map_err(|e| {
            Error::internal(
                "reading citations.jsonl back",
                format!("line {}: {e}", i + 1),
            )
        })?;
        f(r)?;
    }
    Ok(())
}

/// A row cited by leak or ambiguous deliveries: its roles, the first delivery citing it (in the
/// order of citations.jsonl) and how many do. A fill of a shared key may be cited by thousands.
struct CitedRow {
    roles: BTreeSet<&'static str>,
    first: String,
    count: u64,
}

impl CitedRow {
    fn event(&self, file: &str, line: u64) -> Map<String, Value> {
        let roles: Vec<&str> = self.roles.iter().copied().collect();
        let message = format!(
            "{} cited by {} leak or ambiguous deliver{} ({} first): {file} line {line}",
            roles.join(", ").replace('_', " "),
            self.count,
            if self.count == 1 { "y" } else { "ies" },
            self.first
        );
        fields([
            ("message", json!(message)),
            ("timestamp_desc", json!("Cited log row time")),
            ("data_type", json!("leakscope:cited_row")),
            ("role", json!(roles.join(","))),
            ("cited_by", json!(self.first)),
            ("cited_by_count", json!(self.count)),
            ("source_file", json!(file)),
            ("source_line", json!(line)),
        ])
    }
}

/// Adds the rows `r` cites, by their event's time.
fn cite_rows(r: &CitationRecord, cited: &mut BTreeMap<(i64, String, u64), CitedRow>) -> Result<()> {
    let who = r
        .request_id
        .as_deref()
        .map_or_else(|| row_name(&r.delivery), str::to_string);
    let c = &r.rows;
    let roles: [(&'static str, Option<&Row>); 5] = [
        ("session_start", c.session_start.as_ref()),
        ("session_end", c.session_end.as_ref()),
        ("cache_row", c.content.as_ref()),
        ("ownership_row", c.owner.as_ref()),
        ("grant_row", c.grant.as_ref()),
    ];
    let flips = c.flips.iter().map(|f| ("flip", Some(f)));
    let mut seen = BTreeSet::new();
    for (role, row) in roles.into_iter().chain(flips) {
        let Some(row) = row else { continue };
        let Some(ts) = &row.ts else { continue };
        let key = (time_of(ts)?, row.file.to_string(), row.line);
        let entry = cited.entry(key.clone()).or_insert_with(|| CitedRow {
            roles: BTreeSet::new(),
            first: who.clone(),
            count: 0,
        });
        entry.roles.insert(role);
        // A row in two roles of one delivery is cited by it once.
        if seen.insert(key) {
            entry.count += 1;
        }
    }
    Ok(())
}

/// The timeline event of a leak or ambiguous delivery.
fn delivery_event(r: &CitationRecord) -> Map<String, Value> {
    let who = r
        .request_id
        .as_deref()
        .map_or_else(|| row_name(&r.delivery), str::to_string);
    let message = match r.class {
        Class::Leak => format!(
            "leak: {} received stream {} of {} ({who})",
            text(&r.recipient),
            text(&r.origin_stream_id),
            text(&r.subject)
        ),
        _ => format!(
            "ambiguous ({}): {} received stream {} of {} ({who})",
            r.flipped.map_or("", |f| f.as_str()),
            text(&r.recipient),
            text(&r.origin_stream_id),
            text(&r.subject)
        ),
    };
    fields([
        ("message", json!(message)),
        ("timestamp_desc", json!("Delivery time")),
        ("data_type", json!("leakscope:delivery")),
        ("class", json!(r.class)),
        ("reason", json!(r.reason)),
        ("flipped", json!(r.flipped)),
        ("request_id", json!(r.request_id)),
        ("session_id", json!(r.session_id)),
        ("recipient_account", json!(r.recipient)),
        ("subject_account", json!(r.subject)),
        ("origin_stream_id", json!(r.origin_stream_id)),
        ("object_id", json!(r.object_id)),
        ("cache_node", json!(r.cache_node)),
        ("cache_key", json!(r.cache_key)),
        ("source_file", json!(r.delivery.file)),
        ("source_line", json!(r.delivery.line)),
    ])
}

/// Every row of `changes/` as a timeline event.
fn changes(loaded: &LoadedDataset) -> Vec<(i64, Map<String, Value>)> {
    let t = loaded.table(Kind::Changes);
    let (ts, component, version, description) = (
        t.time("ts"),
        t.text("component"),
        t.text("version"),
        t.text("description"),
    );
    let kind = t.enums::<ChangeKind>("kind");
    let mut events = Vec::new();
    for i in 0..t.len() {
        let Some(at) = ts.get(i).copied().flatten() else {
            continue;
        };
        let kind = kind.get(i).copied().flatten().map_or("", |k| k.as_str());
        let mut message = format!("{kind} of {}", component.str(i).unwrap_or(""));
        if let Some(v) = version.str(i) {
            message.push_str(&format!(" {v}"));
        }
        if let Some(d) = description.str(i) {
            message.push_str(&format!(": {d}"));
        }
        let (file, line) = t.source.get(i).copied().unwrap_or_default();
        let file = loaded.files.get(file as usize).map(|f| f.path.clone());
        events.push((
            at,
            fields([
                ("message", json!(message)),
                ("timestamp_desc", json!("Change time")),
                ("data_type", json!("leakscope:change")),
                ("source_file", json!(file)),
                ("source_line", json!(line)),
            ]),
        ));
    }
    events
}

/// An event's fields, its null ones left out.
fn fields<const N: usize>(f: [(&'static str, Value); N]) -> Map<String, Value> {
    f.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// What orders events of one millisecond: their type, then their row.
fn key_of(e: &Map<String, Value>) -> (String, String, u64) {
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let line = e.get("source_line").and_then(Value::as_u64).unwrap_or(0);
    (s("data_type"), s("source_file"), line)
}

/// timeline.jsonl and timeline.csv, written an event at a time.
struct TimelineWriter {
    jsonl: (std::path::PathBuf, BufWriter<File>),
    csv: (std::path::PathBuf, csv::Writer<File>),
}

impl TimelineWriter {
    fn create(out: &Path) -> Result<TimelineWriter> {
        let jsonl = out.join("timeline.jsonl");
        let file = File::create(&jsonl).map_err(|e| Error::io(&jsonl, e))?;
        let csv_path = out.join("timeline.csv");
        let mut csv = csv::Writer::from_path(&csv_path).map_err(|e| Error::output(&csv_path, e))?;
        csv.write_record(TIMELINE_COLUMNS)
            .map_err(|e| Error::output(&csv_path, e))?;
        Ok(TimelineWriter {
            jsonl: (jsonl, BufWriter::new(file)),
            csv: (csv_path, csv),
        })
    }

    /// Writes the event at `t` with `fields`, Timesketch's time fields first.
    fn write(&mut self, t: i64, fields: Map<String, Value>) -> Result<()> {
        let mut m = Map::new();
        let mut fields = fields;
        if let Some(message) = fields.remove("message") {
            m.insert("message".into(), message);
        }
        m.insert("datetime".into(), json!(iso_micros(t)));
        m.insert("timestamp".into(), json!(i128::from(t) * 1000));
        m.extend(fields);
        let (path, w) = &mut self.jsonl;
        serde_json::to_writer(&mut *w, &m).map_err(|e| Error::output(path, e))?;
        w.write_all(b"\n").map_err(|e| Error::io(path, e))?;
        let cells = TIMELINE_COLUMNS.iter().map(|c| match m.get(*c) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => super::escape::spreadsheet(s).into_owned(),
            Some(v) => v.to_string(),
        });
        let (path, csv) = &mut self.csv;
        csv.write_record(cells).map_err(|e| Error::output(path, e))
    }

    fn finish(self) -> Result<()> {
        let (path, mut w) = self.jsonl;
        w.flush().map_err(|e| Error::io(&path, e))?;
        let (path, mut csv) = self.csv;
        csv.flush().map_err(|e| Error::io(&path, e))
    }
}

/// ISO 8601 in UTC with microseconds, the form Timesketch's importer reads.
fn iso_micros(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
        None => format_ms(ms),
    }
}

fn time_of(rfc3339: &str) -> Result<i64> {
    let parsed = DateTime::parse_from_rfc3339(rfc3339).map(|t| t.timestamp_millis());
    parsed.map_err(|_| {
        Error::internal(
            "reading citations.jsonl back",
            format!("{rfc3339} is not a time we wrote"),
        )
    })
}

fn text(v: &Option<crate::table::Text>) -> &str {
    v.as_deref().unwrap_or("(none)")
}

fn row_name(r: &Row) -> String {
    format!("{}:{}", r.file, r.line)
}

/// The leak deliveries of one (subject, recipient) pair that its finding cites: the first
/// [`EVIDENCE_PER_FINDING`] (request_id or row, time, row) and the streams it received.
#[derive(Default)]
struct PairEvidence {
    first: Vec<(String, i64, Row)>,
    streams: BTreeSet<String>,
}

impl PairEvidence {
    fn add(&mut self, r: &CitationRecord) -> Result<()> {
        if self.first.len() < EVIDENCE_PER_FINDING {
            let uid = r
                .request_id
                .as_deref()
                .map_or_else(|| row_name(&r.delivery), str::to_string);
            self.first.push((uid, time_of(&r.ts)?, r.delivery.clone()));
        }
        if let Some(o) = &r.origin_stream_id {
            if !self.streams.contains(&**o) {
                self.streams.insert(o.to_string());
            }
        }
        Ok(())
    }

    fn related_events(&self) -> Vec<Value> {
        self.first
            .iter()
            .map(|(uid, t, row)| {
                json!({
                    "uid": uid,
                    "time": t,
                    "type": "leak delivery",
                    "source_file": row.file,
                    "source_line": row.line,
                })
            })
            .collect()
    }
}

/// One Data Security Finding (class 2006) per exposure pair, in the order of exposures.csv.
fn write_ocsf(
    loaded: &LoadedDataset,
    findings: &Findings,
    evidence: &BTreeMap<(String, String), PairEvidence>,
    path: &Path,
) -> Result<()> {
    let dataset = crate::evidence::dataset_name(&loaded.root);
    let mut w = BufWriter::new(File::create(path).map_err(|e| Error::io(path, e))?);
    let none = PairEvidence::default();
    for p in &findings.exposures.pairs {
        let ev = evidence
            .get(&(p.subject.clone(), p.recipient.clone()))
            .unwrap_or(&none);
        let uid = {
            let mut h = Sha256::new();
            for part in ["leakscope exposure", &dataset, &p.subject, &p.recipient] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            format!("leakscope-{}", &hex::encode(h.finalize())[..32])
        };
        let resources: Vec<Value> = ev
            .streams
            .iter()
            .map(|s| json!({"uid": s, "type": "stream", "owner": {"uid": p.subject}}))
            .collect();
        let finding = json!({
            "activity_id": 1,
            "activity_name": "Create",
            "category_uid": 2,
            "category_name": "Findings",
            "class_uid": 2006,
            "class_name": "Data Security Finding",
            "type_uid": 200601,
            "type_name": "Data Security Finding: Create",
            "severity_id": 4,
            "severity": "High",
            "status_id": 1,
            "status": "New",
            "confidence_id": 3,
            "confidence": "High",
            "is_alert": true,
            // The last exposure, not the wall clock: the same inputs give the same file.
            "time": p.last,
            "start_time": p.first,
            "end_time": p.last,
            "count": p.deliveries,
            "message": format!(
                "{} leak deliver{} of {}'s data to {}, {} to {}",
                p.deliveries,
                if p.deliveries == 1 { "y" } else { "ies" },
                p.subject,
                p.recipient,
                format_ms(p.first),
                format_ms(p.last)
            ),
            "metadata": {
                "version": OCSF_VERSION,
                "product": {
                    "name": "leakscope",
                    "vendor_name": "leakscope",
                    "version": env!("CARGO_PKG_VERSION"),
                },
                "log_name": "findings.ocsf.jsonl",
            },
            "finding_info": {
                "uid": uid,
                "title": format!("Cross-tenant exposure of {} to {}", p.subject, p.recipient),
                "desc": "Deliveries of one account's stream content to a session of another account that was neither its owner nor held a grant (leakscope verdict: leak).",
                "types": ["Cross-tenant data exposure"],
                "first_seen_time": p.first,
                "last_seen_time": p.last,
                "data_sources": ["citations.jsonl", "verdicts.parquet"],
                "related_events": ev.related_events(),
                "related_events_count": p.deliveries,
            },
            "actor": {"user": {"uid": p.recipient, "type": "User", "type_id": 1}},
            "resources": resources,
            "unmapped": {
                "dataset": dataset,
                "subject_account": p.subject,
                "recipient_account": p.recipient,
                "deliveries": p.deliveries,
                "viewed": p.viewed,
                "objects": p.objects,
                "explain": "leakscope explain <out> <request_id> names the log lines behind each related event",
            },
        });
        serde_json::to_writer(&mut w, &finding).map_err(|e| Error::output(path, e))?;
        w.write_all(b"\n").map_err(|e| Error::io(path, e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}
