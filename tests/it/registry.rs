//! Ownership from registry snapshots (`ownership_snapshots`), on the hand-worked fixture
//! `tests/fixtures/registry-snapshots`: a device registry's export of owners and shared access,
//! read through a mapping, every
//! delivery's class and flip as `expected.csv` gives them, from the library (resident and spilled)
//! and from the binary, whose report says what rests on the spans between snapshots.

use std::path::Path;

use crate::common::*;
use leakscope::analyze::AnalyzeOptions;

/// Class (or unresolved reason) and flip by request_id.
fn library(dir: &Path, opts: &AnalyzeOptions) -> Classes {
    library_classes(dir, opts, |v| {
        v.flipped
            .map(|f| f.as_str())
            .unwrap_or_default()
            .to_string()
    })
}

#[test]
fn changes_between_snapshots_make_their_deliveries_ambiguous() {
    let dir = fixture("registry-snapshots");
    let want = expected_classes("registry-snapshots");
    assert_eq!(want.len(), 13);
    assert_eq!(library(&dir, &AnalyzeOptions::default()), want);
    assert_eq!(library(&dir, &spilled(2, 3)), want);
}

#[test]
fn outputs_say_what_rests_on_the_spans_between_snapshots() {
    let dir = fixture("registry-snapshots");
    let out = tempfile::tempdir().unwrap();
    let s = analyze_ok(&dir, out.path());
    assert_eq!(
        [
            &s["leak_deliveries"],
            &s["ambiguous_deliveries"],
            &s["ok_deliveries"],
            &s["unresolved_deliveries"]
        ],
        [3, 7, 2, 1]
    );
    assert_eq!(s["rows"]["ownership"]["read"], 19);
    assert_eq!(s["rows"]["ownership"]["rejected"], 1);
    let (h, rows) = read_csv(&out.path().join("quarantine/ownership.csv"));
    assert_eq!(h, ["file", "line", "column", "reason", "raw"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0][..4],
        [
            Some("ownership/registry.jsonl".to_string()),
            Some("6".to_string()),
            Some("event".to_string()),
            Some(
                "a registry snapshot (ownership_snapshots) lists owners (bind, or no event) and shared access (grant), not changes"
                    .to_string()
            ),
        ]
    );
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    for want in [
        "or depends on where between two registry snapshots a change of owner or of shared access lies",
        "7 deliveries whose class depends on where in that span a change lies are ambiguous",
        "1 (stream, snapshot) pairs listed more than one owner and were not read",
    ] {
        assert!(
            report.contains(&want.replace('_', "\\_")),
            "{want}\n{report}"
        );
    }
}
