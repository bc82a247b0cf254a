//! Citations: every verdict that is not `ok` names the log rows that decided it
//! (`citations.jsonl`), and `leakscope explain` reads them back from the inputs.

use std::collections::BTreeMap;
use std::path::Path;

use leakscope::report::citations::{CitationRecord, Row};
use leakscope_simulator::{generate, GenerateArgs};

use crate::common::{analyze_ok, bin, read_csv};

/// One row of the simulator's `truth_citations.csv`: what a designed case was built on.
#[derive(Debug)]
struct Planted {
    role: String,
    /// `None` where the case is built on there being no such row.
    row: Option<PlantedRow>,
}

#[derive(Debug)]
struct PlantedRow {
    log: String,
    key: String,
    ts: Option<i64>,
    event: String,
}

/// The planted rows of every designed case, by request_id, with its cause.
fn planted(ds: &Path) -> BTreeMap<String, (String, Vec<Planted>)> {
    let (_, rows) = read_csv(&ds.join("truth_citations.csv"));
    let mut out: BTreeMap<String, (String, Vec<Planted>)> = BTreeMap::new();
    for r in rows {
        let cell = |i: usize| r[i].clone().unwrap_or_default();
        let row = r[3].as_ref().map(|log| PlantedRow {
            log: log.clone(),
            key: cell(4),
            ts: r[5].as_ref().map(|t| t.parse().unwrap()),
            event: cell(6),
        });
        let entry = out.entry(cell(0)).or_insert_with(|| (cell(1), Vec::new()));
        entry.1.push(Planted { role: cell(2), row });
    }
    out
}

fn citations(out: &Path) -> BTreeMap<String, CitationRecord> {
    std::fs::read_to_string(out.join("citations.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<CitationRecord>(l).unwrap())
        .map(|r| (r.request_id.as_deref().unwrap().to_string(), r))
        .collect()
}

/// A cited row of a plain CSV input as (log, key, ts, event), the way the simulator names it.
fn identity(ds: &Path, row: &Row) -> (String, String, i64, String) {
    let text = std::fs::read_to_string(ds.join(&*row.file)).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let line = text.lines().nth(row.line as usize - 1).unwrap();
    let cells: BTreeMap<&str, &str> = header.iter().copied().zip(line.split(',')).collect();
    let ts = chrono::DateTime::parse_from_rfc3339(cells["ts"])
        .unwrap()
        .timestamp_millis();
    let log = row.file.split('/').next().unwrap().to_string();
    let (key, event) = match log.as_str() {
        "sessions" => (cells["session_id"].to_string(), cells["event"]),
        "ownership" => (
            format!("{}/{}", cells["stream_id"], cells["account_id"]),
            cells["event"],
        ),
        "cache" => (
            format!("{}/{}", cells["cache_node"], cells["cache_key"]),
            cells["op"],
        ),
        other => panic!("a {other} row cited as a look-up's"),
    };
    (log, key, ts, event.to_string())
}

fn rows_in_role<'a>(r: &'a CitationRecord, role: &str) -> Vec<&'a Row> {
    let c = &r.rows;
    match role {
        "session_start" => c.session_start.iter().collect(),
        "session_end" => c.session_end.iter().collect(),
        "content" => c.content.iter().collect(),
        "owner" => c.owner.iter().collect(),
        "grant" => c.grant.iter().collect(),
        "flip" => c.flips.iter().collect(),
        other => panic!("unknown role {other}"),
    }
}

fn plain_dataset(dir: &Path, scenario: &str, seed: u64) {
    let mut a = GenerateArgs::new(scenario, seed, 20_000, dir);
    a.format = "csv".into();
    generate(&a).unwrap();
}

/// For every designed boundary case of the simulator (re-authentication, grant, revoke, resale,
/// a capture just after a transfer, TTL, refill, first fill, purge, every unresolved reason), in every
/// scenario, the row cited in each role is exactly the row the simulator planted there, a role
/// the case is built on being empty cites nothing, and `explain` quotes exactly those lines.
#[test]
fn every_designed_case_cites_the_rows_the_simulator_planted() {
    let mut causes = BTreeMap::<String, usize>::new();
    for (scenario, seed) in [
        ("cache-key-collision", 3),
        ("session-mixup", 5),
        ("auth-page-cache", 8),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (ds, out) = (dir.path().join("ds"), dir.path().join("out"));
        plain_dataset(&ds, scenario, seed);
        analyze_ok(&ds, &out);
        let cited = citations(&out);
        let planted = planted(&ds);
        let mut explained = std::collections::BTreeSet::new();
        assert!(
            planted.len() > 30,
            "{scenario}: {} designed cases",
            planted.len()
        );
        for (rid, (cause, rows)) in &planted {
            let record = cited
                .get(rid)
                .unwrap_or_else(|| panic!("{scenario} {rid} ({cause}) is not cited"));
            for p in rows {
                let got = rows_in_role(record, &p.role);
                let Some(want) = &p.row else {
                    assert!(
                        got.is_empty(),
                        "{rid} ({cause}) cites {got:?} as {}",
                        p.role
                    );
                    continue;
                };
                let ids: Vec<_> = got.iter().map(|r| identity(&ds, r)).collect();
                let matches = ids.iter().any(|(log, key, ts, event)| {
                    (log, key, event) == (&want.log, &want.key, &want.event)
                        && want.ts.is_none_or(|w| w == *ts)
                });
                assert!(
                    matches,
                    "{scenario} {rid} ({cause}): {} should cite {want:?}, cites {ids:?}",
                    p.role
                );
            }
            *causes.entry(cause.clone()).or_default() += 1;
            // `explain` quotes each of those rows exactly as its file has it: one case of each
            // kind per scenario, as each call checks every cited file's SHA-256.
            if !explained.insert(cause.clone()) {
                continue;
            }
            let leakscope::explain::Explained::Cited(e) =
                leakscope::explain::explain(&out, Some(&ds), rid).unwrap()
            else {
                panic!("{rid} ({cause}) explained as ok");
            };
            let mut quoted = 0;
            for step in e.steps() {
                for l in &step.rows {
                    let line = std::fs::read_to_string(ds.join(&l.file)).unwrap();
                    let want = line.lines().nth(l.line as usize - 1).unwrap();
                    assert_eq!(l.text, want, "{rid} ({cause}) step {}", step.step);
                    quoted += 1;
                }
            }
            let cited_rows = [
                &record.rows.session_start,
                &record.rows.session_end,
                &record.rows.content,
                &record.rows.owner,
                &record.rows.grant,
            ];
            assert_eq!(quoted, cited_rows.iter().filter(|r| r.is_some()).count());
        }
        // Every delivery that is not ok is cited, and only those.
        let (_, details) = read_csv(&ds.join("truth_details.csv"));
        let not_ok = details
            .iter()
            .filter(|d| d[1].as_deref() != Some("ok"))
            .count();
        assert_eq!(cited.len(), not_ok, "{scenario}");
    }
    for cause in [
        "ambiguous_reauth",
        "ambiguous_grant",
        "ambiguous_revoke",
        "ambiguous_capture",
        "ambiguous_refill",
        "no_session_after_ttl",
        "no_session_after_end",
        "no_session_orphan",
        "no_content",
        "no_owner",
        "leak_after_revoke",
        "leak_resale_clip",
        "leak_stale_after_reauth",
        "leak_after_first_fill",
        "no_content_after_purge",
    ] {
        assert!(
            causes.get(cause).copied().unwrap_or(0) >= 3,
            "{cause}: {causes:?}"
        );
    }
}

fn explain(out: &Path, args: &[&str]) -> std::process::Output {
    bin().arg("explain").arg(out).args(args).output().unwrap()
}

/// `explain` prints each cited row as it stands in its file, found through the manifest, and
/// refuses once a cited file no longer matches its SHA-256.
#[test]
fn explain_reads_the_cited_lines_back_and_refuses_a_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ds, out) = (dir.path().join("sample"), dir.path().join("out"));
    plain_dataset(&ds, "cache-key-collision", 3);
    analyze_ok(&ds, &out);
    let cited = citations(&out);
    let (rid, leak) = cited
        .iter()
        .find(|(_, r)| r.class == leakscope::verdict::Class::Leak && r.rows.content.is_some())
        .unwrap();
    let o = explain(&out, &[rid, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["class"], "leak");
    assert_eq!(e["checked_against_manifest"], true);
    let line_of = |file: &str, line: u64| -> String {
        let text = std::fs::read_to_string(ds.join(file)).unwrap();
        text.lines().nth(line as usize - 1).unwrap().to_string()
    };
    assert_eq!(
        e["delivery"]["text"],
        line_of(&leak.delivery.file, leak.delivery.line)
    );
    let steps = e["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    let content = &steps[1]["rows"][0];
    let row = leak.rows.content.as_ref().unwrap();
    assert_eq!(content["role"], "cache_row");
    assert_eq!(content["text"], line_of(&row.file, row.line));
    assert!(content["text"].as_str().unwrap().contains(",fill,"));
    assert_eq!(steps[2]["answer"], leak.subject.as_deref().unwrap());

    // By file and line, the dataset found beside the output folder: the same explanation.
    let at = format!("{}:{}", leak.delivery.file, leak.delivery.line);
    let by_row = explain(&out, &[&at, "--json"]);
    assert_eq!(by_row.stdout, o.stdout);
    let text = explain(&out, &[rid]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("Step 4, grant"), "{text}");
    assert!(text.contains(&format!("    | {}", line_of(&row.file, row.line))));

    // An ok delivery is said to be ok; an unknown one is refused.
    let (_, details) = read_csv(&ds.join("truth_details.csv"));
    let listed: std::collections::BTreeSet<String> =
        details.iter().map(|d| d[0].clone().unwrap()).collect();
    let ok = (1..)
        .map(|i| format!("req-{i:010}"))
        .find(|r| !listed.contains(r))
        .unwrap();
    let o = explain(&out, &[&ok, "--json"]);
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["class"], "ok", "{ok}");
    let o = explain(&out, &["req-none"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no delivery `req-none`"));

    // A cited file changed since the run: its lines are no longer evidence.
    let path = ds.join(&*row.file);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"\n");
    std::fs::write(&path, bytes).unwrap();
    let o = explain(&out, &[rid]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("has changed since the run"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
