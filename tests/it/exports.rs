//! Exports for other tools: the Timesketch timeline and the OCSF findings, checked against the
//! fields those tools require and against the run's own counts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::common::{analyze, dirty_mixed, read_json};

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Analyses `ds` into `out` with both exports; the summary.
fn exported(ds: &Path, out: &Path) -> Value {
    let o = analyze(ds, out, &["--export", "timesketch,ocsf"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    read_json(&out.join("summary.json"))
}

/// A dirty, mixed-format dataset analysed once: (outputs, summary).
fn analysed(dir: &Path) -> (std::path::PathBuf, Value) {
    let (ds, out) = (dir.join("ds"), dir.join("out"));
    dirty_mixed(&ds, "cache-key-collision", 11, 20_000);
    let summary = exported(&ds, &out);
    (out, summary)
}

/// Timesketch imports a JSONL line when it has `message`, `datetime` (ISO 8601) and
/// `timestamp_desc`, and only flat values: every line has them, every leak and ambiguous
/// delivery and every change is an event, and every cited row of those deliveries is one.
#[test]
fn the_timeline_has_timesketchs_fields_on_every_line_and_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let (out, summary) = analysed(dir.path());
    let events = jsonl(&out.join("timeline.jsonl"));
    let iso = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$").unwrap();
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut last = String::new();
    for e in &events {
        let m = e.as_object().unwrap();
        for field in ["message", "datetime", "timestamp_desc", "data_type"] {
            let v = m[field]
                .as_str()
                .unwrap_or_else(|| panic!("{field} in {e}"));
            assert!(!v.is_empty(), "{field} in {e}");
        }
        let dt = m["datetime"].as_str().unwrap();
        assert!(iso.is_match(dt), "{dt}");
        let micros = m["timestamp"].as_i64().unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(dt).unwrap();
        assert_eq!(parsed.timestamp_micros(), micros);
        assert!(dt >= last.as_str(), "events are in time order");
        last = dt.to_string();
        assert!(
            m.values().all(|v| !v.is_object() && !v.is_array()),
            "flat: {e}"
        );
        *by_type
            .entry(m["data_type"].as_str().unwrap().into())
            .or_default() += 1;
    }
    let n = |k: &str| summary[k].as_u64().unwrap() as usize;
    assert_eq!(
        by_type["leakscope:delivery"],
        n("leak_deliveries") + n("ambiguous_deliveries")
    );
    let manifest = read_json(&out.join("manifest.json"));
    let changes = manifest["rows"]["changes"]["accepted"].as_u64().unwrap() as usize;
    assert!(changes > 0);
    assert_eq!(by_type["leakscope:change"], changes);
    // The cited rows are exactly the rows the leak and ambiguous deliveries cite.
    let mut cited = BTreeSet::new();
    for r in jsonl(&out.join("citations.jsonl")) {
        if !matches!(r["class"].as_str(), Some("leak" | "ambiguous")) {
            continue;
        }
        for role in ["session_start", "session_end", "content", "owner", "grant"] {
            if let Some(row) = r[role].as_object() {
                cited.insert((
                    row["file"].as_str().unwrap().to_string(),
                    row["line"].as_u64().unwrap(),
                ));
            }
        }
        for row in r["flips"].as_array().unwrap() {
            cited.insert((
                row["file"].as_str().unwrap().to_string(),
                row["line"].as_u64().unwrap(),
            ));
        }
    }
    let rows: BTreeSet<(String, u64)> = events
        .iter()
        .filter(|e| e["data_type"] == "leakscope:cited_row")
        .map(|e| {
            (
                e["source_file"].as_str().unwrap().into(),
                e["source_line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, cited);
    // The CSV holds the same events, a line each, every column on every line; the JSONL's
    // fields are among those columns.
    let text = std::fs::read_to_string(out.join("timeline.csv")).unwrap();
    let mut csv = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = csv.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, leakscope::report::exports::TIMELINE_COLUMNS);
    for e in &events {
        assert!(
            e.as_object().unwrap().keys().all(|k| header.contains(k)),
            "{e}"
        );
    }
    let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), events.len());
    assert_eq!(&records[0][1], events[0]["datetime"].as_str().unwrap());
}

/// The fields OCSF 1.3 requires of a Data Security Finding (class 2006): the base event's, the
/// metadata's and the finding's `finding_info.uid`; one finding per exposure pair, its uid stable
/// across runs and its related events the pair's own leak deliveries.
#[test]
fn ocsf_findings_have_the_required_fields_one_per_exposure_pair() {
    let dir = tempfile::tempdir().unwrap();
    let (out, summary) = analysed(dir.path());
    let findings = jsonl(&out.join("findings.ocsf.jsonl"));
    assert_eq!(
        findings.len() as u64,
        summary["exposure_pairs"].as_u64().unwrap()
    );
    let leaks: BTreeMap<String, (String, String)> = jsonl(&out.join("citations.jsonl"))
        .into_iter()
        .filter(|r| r["class"] == "leak")
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (s("request_id"), (s("subject"), s("recipient")))
        })
        .collect();
    let mut uids = BTreeSet::new();
    for f in &findings {
        for field in [
            "activity_id",
            "category_uid",
            "class_uid",
            "severity_id",
            "time",
            "type_uid",
        ] {
            assert!(f[field].is_i64(), "{field} in {f}");
        }
        assert_eq!(f["class_uid"], 2006);
        assert_eq!(f["category_uid"], 2);
        assert_eq!(
            f["type_uid"].as_i64().unwrap(),
            2006 * 100 + f["activity_id"].as_i64().unwrap()
        );
        assert!(f["metadata"]["version"].is_string());
        assert!(f["metadata"]["product"]["name"].is_string());
        assert!(f["metadata"]["product"]["vendor_name"].is_string());
        let uid = f["finding_info"]["uid"].as_str().unwrap();
        assert!(uids.insert(uid.to_string()), "uid {uid} repeats");
        assert!(f["finding_info"]["title"].is_string());
        let pair = (
            f["unmapped"]["subject_account"]
                .as_str()
                .unwrap()
                .to_string(),
            f["unmapped"]["recipient_account"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let related = f["finding_info"]["related_events"].as_array().unwrap();
        assert!(!related.is_empty());
        for e in related {
            assert_eq!(leaks[e["uid"].as_str().unwrap()], pair, "{e}");
        }
        assert!(f["start_time"].as_i64() <= f["end_time"].as_i64());
    }
    // Another run of the same dataset gives the same exports, byte for byte; a run that asks
    // for none writes none.
    let again = dir.path().join("again");
    exported(&dir.path().join("ds"), &again);
    for f in ["findings.ocsf.jsonl", "timeline.jsonl", "timeline.csv"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f}"
        );
    }
    let plain = dir.path().join("plain");
    assert!(analyze(&dir.path().join("ds"), &plain, &[])
        .status
        .success());
    for f in ["findings.ocsf.jsonl", "timeline.jsonl", "timeline.csv"] {
        assert!(!plain.join(f).exists(), "{f}");
    }
    assert!(plain.join("citations.jsonl").exists());
}
