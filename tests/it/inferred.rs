//! Cache fills inferred from misses (`infer_cache`), on the hand-worked fixture
//! `tests/fixtures/inferred-cache`: one node without a cache log, one with; every delivery's
//! class and subject as `expected.csv` gives them, from the library, from spilled runs and from
//! the binary, whose outputs say which deliveries rest on inferred fills.

use std::path::Path;

use crate::common::*;
use leakscope::analyze::AnalyzeOptions;

/// Class (or unresolved reason) and subject by request_id.
fn library(dir: &Path, opts: &AnalyzeOptions) -> Classes {
    library_classes(dir, opts, |v| {
        v.subject.as_deref().unwrap_or_default().to_string()
    })
}

#[test]
fn misses_fill_the_keys_of_nodes_without_a_cache_log() {
    let dir = fixture("inferred-cache");
    let want = expected_classes("inferred-cache");
    assert_eq!(want.len(), 14);
    assert_eq!(library(&dir, &AnalyzeOptions::default()), want);
    // Spilled in runs of 3 and joined 2 at a time, the misses are read in a first merge.
    assert_eq!(library(&dir, &spilled(3, 2)), want);
}

#[test]
fn outputs_say_what_rests_on_inferred_fills() {
    let dir = fixture("inferred-cache");
    let out = tempfile::tempdir().unwrap();
    let s = analyze_ok(&dir, out.path());
    assert_eq!(s["leak_deliveries"], 4);
    let (h, rows) = read_csv(&out.path().join("leaks.csv"));
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (rid, source) = (col("request_id"), col("content_source"));
    let mut sources: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[rid].clone().unwrap(), r[source].clone().unwrap()))
        .collect();
    sources.sort();
    let want = [
        ("r04-hit-collides", "inferred"),
        ("r05-hit-after-fill", "inferred"),
        ("r08-miss-names-origin", "delivery"),
        ("r09-hit-named-fill", "inferred"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(sources, want);
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(
        report.contains("9 deliveries (3 leak, 2 ambiguous) rest on 5 cache fills inferred from the misses of 1 cache nodes"),
        "{report}"
    );
}

/// Without `infer_cache` a missing cache/ is the contract's error, and says how to infer it.
#[test]
fn a_missing_cache_log_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let from = fixture("inferred-cache");
    for kind in ["sessions", "ownership", "deliveries"] {
        let name = format!("{kind}/{kind}.csv");
        write(
            &dir.path().join(&name),
            &std::fs::read_to_string(from.join(&name)).unwrap(),
        );
    }
    let out = tempfile::tempdir().unwrap();
    let o = analyze(dir.path(), out.path(), &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cache/ is missing") && err.contains("infer_cache"),
        "{err}"
    );
    write(&dir.path().join("dataset.toml"), "infer_cache = true\n");
    let s = analyze_ok(dir.path(), out.path());
    assert_eq!(s["deliveries"], 14);
}
