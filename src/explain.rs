//! `leakscope explain`: one delivery's verdict step by step, each answer with the log line that gave it, read back from the inputs and checked against the manifest.
//!
//! It reads a run's outputs only (`citations.jsonl`, `manifest.json`, and `verdicts.parquet` for
//! a delivery that is `ok`) and the dataset's files; it never analyses anything again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::load::lines::{read_rows, sha256_of};
use crate::report::citations::{CitationRecord, Row};
use crate::table::Text;
use crate::verdict::{Class, ContentSource, Flip, Missing};

/// What `explain` found for a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Explained {
    /// A delivery that is not `ok`, with its cited lines.
    Cited(Box<Explanation>),
    /// An `ok` delivery: its recipient is the subject, or holds a grant. No rows are cited for
    /// these (docs/REPORTS.md, "Citations").
    Ok {
        request_id: String,
        recipient: Option<String>,
        subject: Option<String>,
    },
}

/// A delivery that is not `ok`, with every row its verdict cites as it stands in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub record: CitationRecord,
    /// The raw text of each cited row, by (file, line).
    pub lines: BTreeMap<(String, u64), String>,
    /// The cited files the manifest lists as Parquet, whose rows are counted from 0.
    pub parquet: BTreeSet<String>,
    pub tolerance_ms: i64,
    pub session_ttl_ms: i64,
}

/// Explains the delivery `query` (its `request_id`, or `<file>:<line>` for one without) of the run
/// whose outputs are in `out`, reading cited lines from `dataset` (by default, the dataset the
/// manifest names, beside `out` or in the working folder).
pub fn explain(out: &Path, dataset: Option<&Path>, query: &str) -> Result<Explained> {
    let manifest_path = out.join("manifest.json");
    let manifest: Value = read_json(&manifest_path)?;
    let Some(record) = find_record(&out.join("citations.jsonl"), query)? else {
        return ok_delivery(out, query);
    };
    let files = manifest_files(&manifest, &manifest_path)?;
    let root = match dataset {
        Some(d) => d.to_path_buf(),
        None => find_dataset(out, &manifest, &manifest_path, &record.delivery.file)?,
    };
    let mut wanted: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for row in cited_rows(&record) {
        wanted.entry(&*row.file).or_default().insert(row.line);
    }
    let mut lines = BTreeMap::new();
    let mut parquet = BTreeSet::new();
    for (file, rows) in wanted {
        let Some(listed) = files.get(file) else {
            return Err(Error::Explain {
                path: manifest_path,
                reason: format!("cites {file}, which the manifest does not list"),
            });
        };
        let path = root.join(file);
        let sha = sha256_of(&path).map_err(|e| Error::io(&path, e))?;
        if sha != listed.sha256 {
            return Err(Error::Explain {
                path,
                reason: format!(
                    "has changed since the run: its SHA-256 is {sha}, the manifest's {}",
                    listed.sha256
                ),
            });
        }
        if listed.parquet {
            parquet.insert(file.to_string());
        }
        let read =
            read_rows(&path, listed.parquet, &rows).map_err(|reason| Error::UnreadableFile {
                path: path.clone(),
                reason,
            })?;
        for line in rows {
            let Some(text) = read.get(&line) else {
                return Err(Error::Explain {
                    path,
                    reason: format!(
                        "has no {} {line}, which the run cites",
                        unit(listed.parquet)
                    ),
                });
            };
            lines.insert((file.to_string(), line), text.clone());
        }
    }
    let setting = |name: &str| manifest["settings"][name].as_i64().unwrap_or(0);
    Ok(Explained::Cited(Box::new(Explanation {
        record,
        lines,
        parquet,
        tolerance_ms: setting("tolerance_ms"),
        session_ttl_ms: setting("session_ttl_ms"),
    })))
}

/// An input file as the manifest lists it.
struct Listed {
    sha256: String,
    parquet: bool,
}

fn manifest_files(manifest: &Value, path: &Path) -> Result<BTreeMap<String, Listed>> {
    let bad = |reason: &str| Error::Explain {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let files = manifest["files"]
        .as_array()
        .ok_or_else(|| bad("lists no input files"))?;
    let mut out = BTreeMap::new();
    for f in files {
        let (Some(p), Some(sha)) = (f["path"].as_str(), f["sha256"].as_str()) else {
            return Err(bad("lists a file without its path or SHA-256"));
        };
        out.insert(
            p.to_string(),
            Listed {
                sha256: sha.to_string(),
                parquet: f["format"].as_str() == Some("parquet"),
            },
        );
    }
    Ok(out)
}

/// The dataset the manifest names, holding `file`: beside the output folder, or in the working
/// folder, or under `data/` there.
fn find_dataset(out: &Path, manifest: &Value, manifest_path: &Path, file: &str) -> Result<PathBuf> {
    let name = manifest["dataset"].as_str().unwrap_or_default();
    let beside = out.parent().map(|p| p.join(name));
    let candidates = [
        beside,
        Some(PathBuf::from(name)),
        Some(Path::new("data").join(name)),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|c| !name.is_empty() && c.join(file).is_file())
        .ok_or_else(|| Error::Explain {
            path: manifest_path.to_path_buf(),
            reason: format!(
                "cannot find the dataset `{name}` the run read: give it with --dataset"
            ),
        })
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Explain {
        path: path.to_path_buf(),
        reason: format!("not JSON: {e}"),
    })
}

/// The record of the delivery `query`: by `request_id`, or by `<file>:<line>`.
fn find_record(path: &Path, query: &str) -> Result<Option<CitationRecord>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        let record: CitationRecord = serde_json::from_str(&line).map_err(|e| Error::Explain {
            path: path.to_path_buf(),
            reason: format!("line {}: {e}", i + 1),
        })?;
        let at = format!("{}:{}", record.delivery.file, record.delivery.line);
        if record.request_id.as_deref() == Some(query) || at == query {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// A delivery that citations.jsonl does not hold: `ok` if verdicts.parquet has it.
fn ok_delivery(out: &Path, query: &str) -> Result<Explained> {
    use polars::prelude::*;
    let path = out.join("verdicts.parquet");
    let not_found = || Error::Explain {
        path: out.to_path_buf(),
        reason: format!(
            "no delivery `{query}` (a request_id, or <file>:<line> for a delivery without one)"
        ),
    };
    if !path.is_file() {
        return Err(not_found());
    }
    let polars = |e| Error::polars_at(Some(&path), "reading verdicts.parquet", e);
    let found = LazyFrame::scan_parquet(
        PlRefPath::new(path.to_string_lossy().as_ref()),
        ScanArgsParquet::default(),
    )
    .map_err(polars)?
    .filter(col("request_id").eq(lit(query)))
    .select([
        col("class"),
        col("recipient_account"),
        col("subject_account"),
    ])
    .collect()
    .map_err(polars)?;
    if found.height() == 0 {
        return Err(not_found());
    }
    let text = |name: &str| -> Option<String> {
        let c = found.column(name).ok()?.str().ok()?.get(0)?;
        Some(c.to_string())
    };
    if text("class").as_deref() != Some("ok") {
        return Err(Error::Internal {
            what: format!("delivery {query} is not ok, yet citations.jsonl does not cite it"),
            detail: String::new(),
        });
    }
    Ok(Explained::Ok {
        request_id: query.to_string(),
        recipient: text("recipient_account"),
        subject: text("subject_account"),
    })
}

/// Every row a record cites, the delivery first.
fn cited_rows(r: &CitationRecord) -> impl Iterator<Item = &Row> {
    let c = &r.rows;
    [
        Some(&r.delivery),
        c.session_start.as_ref(),
        c.session_end.as_ref(),
        c.content.as_ref(),
        c.owner.as_ref(),
        c.grant.as_ref(),
    ]
    .into_iter()
    .flatten()
    .chain(&c.flips)
}

/// One step of the rule, as printed and as `--json` gives it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: u8,
    pub look_up: &'static str,
    pub question: String,
    pub answer: String,
    pub rows: Vec<CitedLine>,
}

/// A cited row with the role it played and its text.
#[derive(Debug, Clone, Serialize)]
pub struct CitedLine {
    pub role: &'static str,
    pub file: String,
    pub line: u64,
    /// The time of the row's event, clock-corrected; none for the delivery itself.
    pub ts: Option<String>,
    pub text: String,
}

impl Explanation {
    fn line(&self, role: &'static str, row: &Row) -> CitedLine {
        CitedLine {
            role,
            file: row.file.to_string(),
            line: row.line,
            ts: row.ts.clone(),
            text: self
                .lines
                .get(&(row.file.to_string(), row.line))
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn lines_of(&self, rows: &[(&'static str, &Option<Row>)]) -> Vec<CitedLine> {
        rows.iter()
            .filter_map(|(role, r)| r.as_ref().map(|r| self.line(role, r)))
            .collect()
    }

    /// The four look-ups of docs/SEMANTICS.md, in order, with their answers at t and their rows.
    pub fn steps(&self) -> Vec<Step> {
        let r = &self.record;
        let c = &r.rows;
        let session = or_none(&r.session_id);
        let recipient = match &r.recipient {
            Some(a) => a.to_string(),
            None => match (&c.session_start, &c.session_end) {
                (None, _) => "none: the session has no start at or before t".into(),
                (Some(_), Some(_)) => "none: the session's window ended at or before t".into(),
                (Some(_), None) => format!(
                    "none: the session's window ended at the session TTL ({} ms after its start) at or before t",
                    self.session_ttl_ms
                ),
            },
        };
        let content_question = match r.content_source {
            Some(ContentSource::Delivery) => {
                "what content the delivery names itself (its origin_stream_id)".to_string()
            }
            _ => format!(
                "what cache node {} held under key {} at t",
                or_none(&r.cache_node),
                or_none(&r.cache_key)
            ),
        };
        let content = match (r.content_source, &r.origin_stream_id) {
            (Some(ContentSource::Delivery), Some(o)) => format!(
                "the delivery's own content: origin {o}, object {}, captured {}",
                or_none(&r.object_id),
                or_none(&r.capture_ts)
            ),
            (Some(s), Some(o)) => format!(
                "{} at {}: origin {o}, object {}, captured {}",
                match s {
                    ContentSource::Inferred => "the fill inferred from the miss",
                    _ => "the fill",
                },
                or_none(&r.fill_ts),
                or_none(&r.object_id),
                or_none(&r.capture_ts)
            ),
            _ if c.content.is_some() => "nothing: the row in force emptied the key".into(),
            _ => "nothing: the key has no cache row at or before t".into(),
        };
        let origin = or_none(&r.origin_stream_id);
        let subject = match &r.subject {
            Some(s) => s.to_string(),
            None if r.origin_stream_id.is_none() => "not looked up: no content".into(),
            None if c.owner.is_some() => "none: the stream was unbound then".into(),
            None => "none: no ownership row of the stream at or before then".into(),
        };
        let grant = match (r.granted, &c.grant) {
            _ if r.recipient.is_none() || r.origin_stream_id.is_none() => {
                "not looked up: no recipient or no content".to_string()
            }
            (true, _) => "yes".to_string(),
            (false, Some(_)) => "no: the row in force revoked it".into(),
            (false, None) => "no: no grant of this account on this stream at or before t".into(),
        };
        vec![
            Step {
                step: 1,
                look_up: "recipient",
                question: format!("the account of session {session} at t"),
                answer: recipient,
                rows: self.lines_of(&[
                    ("session_start", &c.session_start),
                    ("session_end", &c.session_end),
                ]),
            },
            Step {
                step: 2,
                look_up: "content",
                question: content_question,
                answer: content,
                rows: self.lines_of(&[("cache_row", &c.content)]),
            },
            Step {
                step: 3,
                look_up: "subject",
                question: match &r.origin_stream_id {
                    Some(_) => format!(
                        "the owner of stream {origin} at capture time {}",
                        or_none(&r.capture_ts)
                    ),
                    None => "the owner of the content's origin stream at its capture time".into(),
                },
                answer: subject,
                rows: self.lines_of(&[("ownership_row", &c.owner)]),
            },
            Step {
                step: 4,
                look_up: "grant",
                question: format!(
                    "whether the recipient ({}) held a grant on the origin stream ({origin}) at t",
                    or_none(&r.recipient)
                ),
                answer: grant,
                rows: self.lines_of(&[("grant_row", &c.grant)]),
            },
        ]
    }

    /// Why the class follows from the steps, in one sentence.
    pub fn why(&self) -> String {
        let r = &self.record;
        let name = |v: &Option<Text>| v.as_deref().unwrap_or_default().to_string();
        let tol = self.tolerance_ms;
        match (r.class, r.reason, r.flipped) {
            (Class::Unresolved, Some(Missing::NoSession), _) => {
                "unresolved (no_session): no window of the session was open at t, so nobody can be named as the recipient".into()
            }
            (Class::Unresolved, Some(Missing::NoContent), _) => {
                "unresolved (no_content): the delivery names no origin and the cache held no fill under its key at t".into()
            }
            (Class::Unresolved, Some(Missing::NoOwner), _) => format!(
                "unresolved (no_owner): stream {} had no owner at capture time",
                name(&r.origin_stream_id)
            ),
            (Class::Leak, _, _) => format!(
                "leak: the recipient {} is not the subject {} and held no grant on stream {} at t",
                name(&r.recipient),
                name(&r.subject),
                name(&r.origin_stream_id)
            ),
            (Class::Ambiguous, _, Some(flip)) => {
                let at_t = match r.recipient == r.subject || r.granted {
                    true => "authorized",
                    false => "a leak",
                };
                let shifted = match flip {
                    Flip::Earlier => format!("taken {tol} ms earlier"),
                    Flip::Later => format!("taken {tol} ms later"),
                    Flip::Both => format!("taken {tol} ms earlier and later"),
                    Flip::BetweenSnapshots => {
                        return format!("ambiguous (between_snapshots): at t the delivery is {at_t}; the owner or grant changed between two registry snapshots on either side of the look-up, and with the later snapshot's state the verdict is the opposite");
                    }
                };
                format!("ambiguous ({}): at t the delivery is {at_t}; with every look-up {shifted} the verdict is the opposite, so the logs' clocks cannot settle it", flip.as_str())
            }
            (class, _, _) => class.as_str().to_string(),
        }
    }

    /// The explanation as text, for a person.
    pub fn text(&self) -> String {
        let r = &self.record;
        let mut s = String::new();
        let quote = |s: &mut String, text: &str| {
            s.push_str("    | ");
            s.push_str(text);
            s.push('\n');
        };
        let d = self.line("delivery", &r.delivery);
        s.push_str(&format!(
            "Delivery {} {} {}, at t = {} (clock-corrected)\n",
            d.file,
            unit(self.parquet.contains(&d.file)),
            d.line,
            r.ts
        ));
        quote(&mut s, &d.text);
        s.push_str(&format!(
            "  request_id {}, session {}, requested stream {}, cache {} key {}\n",
            r.request_id.as_deref().unwrap_or("(none)"),
            r.session_id.as_deref().unwrap_or("(none)"),
            r.requested_stream_id.as_deref().unwrap_or("(none)"),
            r.cache_node.as_deref().unwrap_or("(none)"),
            r.cache_key.as_deref().unwrap_or("(none)")
        ));
        for step in self.steps() {
            s.push_str(&format!(
                "\nStep {}, {}: {}\n  answer: {}\n",
                step.step, step.look_up, step.question, step.answer
            ));
            for l in &step.rows {
                s.push_str(&format!(
                    "  {}: {} {} {}, at {}\n",
                    l.role.replace('_', " "),
                    l.file,
                    unit(self.parquet.contains(&l.file)),
                    l.line,
                    l.ts.as_deref().unwrap_or("?")
                ));
                quote(&mut s, &l.text);
            }
        }
        s.push_str(&format!("\nClass: {}\n", self.why()));
        if !r.rows.flips.is_empty() {
            s.push_str("  rows within the tolerance that flip it:\n");
            for f in &r.rows.flips {
                let l = self.line("flip", f);
                s.push_str(&format!(
                    "  {} {} {}, at {}\n",
                    l.file,
                    unit(self.parquet.contains(&l.file)),
                    l.line,
                    l.ts.as_deref().unwrap_or("?")
                ));
                quote(&mut s, &l.text);
            }
        }
        s.push_str(
            "\nEvery line above was read back from its file, whose SHA-256 matches the manifest.\n",
        );
        s
    }

    /// The explanation as JSON, for machines.
    pub fn json(&self) -> Value {
        let r = &self.record;
        let flips: Vec<CitedLine> = r.rows.flips.iter().map(|f| self.line("flip", f)).collect();
        json!({
            "delivery": self.line("delivery", &r.delivery),
            "ts": r.ts,
            "request_id": r.request_id,
            "session_id": r.session_id,
            "class": r.class,
            "reason": r.reason,
            "flipped": r.flipped,
            "steps": self.steps(),
            "flips": flips,
            "why": self.why(),
            "checked_against_manifest": true,
        })
    }
}

impl Explained {
    pub fn text(&self) -> String {
        match self {
            Explained::Cited(e) => e.text(),
            Explained::Ok {
                request_id,
                recipient,
                subject,
            } => format!(
                "Delivery {request_id}: ok. The recipient {} is the subject {} or holds a grant; no rows are cited for ok deliveries.\n",
                recipient.as_deref().unwrap_or(""),
                subject.as_deref().unwrap_or("")
            ),
        }
    }

    pub fn json(&self) -> Value {
        match self {
            Explained::Cited(e) => e.json(),
            Explained::Ok {
                request_id,
                recipient,
                subject,
            } => json!({
                "request_id": request_id,
                "class": "ok",
                "recipient": recipient,
                "subject": subject,
            }),
        }
    }
}

/// A value, or `none`.
fn or_none(v: &Option<impl AsRef<str>>) -> String {
    v.as_ref().map_or("none", |s| s.as_ref()).to_string()
}

/// How a file's rows are counted: rows for Parquet, lines otherwise.
fn unit(parquet: bool) -> &'static str {
    match parquet {
        true => "row",
        false => "line",
    }
}
