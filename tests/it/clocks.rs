//! `leakscope clocks` against the simulator's true clocks: every interval holds the true
//! offset, points within 100 ms at 10^5 deliveries, the suggested block makes `analyze` equal the
//! truth, and `analyze` warns of a clock skewed beyond the tolerance that dataset.toml leaves out,
//! with the counts at the estimated offsets beside those as configured.

use std::path::Path;

use leakscope::clocks::{ClockKind, ClockReport};
use leakscope::load::LoadOptions;
use leakscope_simulator::{generate, GenerateArgs};

use crate::common::{analyze_ok, bin, read_json};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn epoch_ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

fn estimate(ds: &Path) -> ClockReport {
    leakscope::clocks::estimate_dataset(ds, &LoadOptions::default(), None).unwrap()
}

/// Every clock of truth_clocks.json, as (name, offset at the start, whether it changes).
fn true_clocks(ds: &Path) -> Vec<(String, i64, bool)> {
    read_json(&ds.join("truth_clocks.json"))["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["clock"].as_str().unwrap().to_string(),
                c["offset_ms"].as_i64().unwrap(),
                !c["changes"].as_array().unwrap().is_empty(),
            )
        })
        .collect()
}

/// Checks every true clock against the estimate: found, its interval holding the true offset,
/// its point within `within` ms of it. Returns the worst miss.
fn check_against_truth(ds: &Path, r: &ClockReport, within: i64) -> i64 {
    let mut worst = 0;
    for (name, offset, _) in true_clocks(ds) {
        let c = r
            .clocks
            .iter()
            .find(|c| c.clock == name && c.kind != ClockKind::SessionLog)
            .unwrap_or_else(|| panic!("{}: no estimate of {name}", ds.display()));
        let got = c.offset_ms.unwrap_or_else(|| panic!("{name}: no offset"));
        let [lo, hi] = c.interval_ms;
        assert!(
            lo.is_none_or(|l| l <= offset) && hi.is_none_or(|h| offset <= h),
            "{}: {name} truly {offset} ms, interval {:?}",
            ds.display(),
            c.interval_ms
        );
        assert!(
            (got - offset).abs() <= within,
            "{}: {name} truly {offset} ms, estimated {got}",
            ds.display()
        );
        worst = worst.max((got - offset).abs());
    }
    worst
}

/// The summary keys the truth has, from `analyze` of `ds` into `out`; the first and last leak's
/// instants within 100 ms, since an estimate a few milliseconds off moves them by as much.
fn verdicts_against_truth(ds: &Path, out: &Path) {
    let got = analyze_ok(ds, out);
    let want = read_json(&ds.join("truth.json"));
    for (k, v) in want.as_object().unwrap() {
        match k.as_str() {
            "rows" => {}
            "first_leak" | "last_leak" => {
                let ms = |v: &serde_json::Value| epoch_ms(v.as_str().unwrap());
                assert!((ms(&got[k]) - ms(v)).abs() <= 100, "{k}: {} vs {v}", got[k]);
            }
            _ => assert_eq!(&got[k], v, "{}: {k}", ds.display()),
        }
    }
}

/// Skewed clocks on several nodes and servers, in each scenario, with dataset.toml silent: the
/// estimate finds every one, the block it suggests makes `analyze` equal the truth, and without
/// it `analyze` warns of the clocks off by more than the tolerance.
#[test]
fn skewed_clocks_are_found_and_their_block_gives_the_truth() {
    let dir = tmp();
    for (scenario, seed) in [
        ("cache-key-collision", 7),
        ("session-mixup", 4),
        ("auth-page-cache", 3),
    ] {
        let ds = dir.path().join(scenario);
        let mut a = GenerateArgs::new(scenario, seed, 100_000, &ds);
        a.skewed_clocks = 3;
        a.dirty = scenario == "cache-key-collision";
        a.format = "csv".into();
        a.unstated_offsets = true;
        generate(&a).unwrap();
        let r = estimate(&ds);
        check_against_truth(&ds, &r, 100);

        analyze_ok(&ds, &dir.path().join(format!("{scenario}-unstated")));
        let manifest = read_json(
            &dir.path()
                .join(format!("{scenario}-unstated/manifest.json")),
        );
        let warnings = manifest["warnings"].to_string();
        let beyond: Vec<&str> = r
            .unstated_beyond_tolerance()
            .map(|c| c.clock.as_str())
            .collect();
        assert!(!beyond.is_empty(), "{scenario}: {}", r.text());
        for name in &beyond {
            assert!(
                warnings.contains(&format!("clock skew: cache node {name} "))
                    || warnings.contains(&format!("clock skew: stream server {name} ")),
                "{scenario}: no warning of {name}: {warnings}"
            );
        }

        // Beside the counts as configured, those at the estimated offsets: the truth's.
        let truth = read_json(&ds.join("truth.json"));
        let at_estimate = format!(
            "the deliveries would be leak {} (as configured ",
            truth["leak_deliveries"]
        );
        assert!(warnings.contains(&at_estimate), "{scenario}: {warnings}");
        assert!(
            warnings.contains(&format!("ambiguous {} (", truth["ambiguous_deliveries"])),
            "{scenario}: {warnings}"
        );
        let toml = std::fs::read_to_string(ds.join("dataset.toml")).unwrap();
        std::fs::write(
            ds.join("dataset.toml"),
            format!("{toml}\n{}", r.suggested_block()),
        )
        .unwrap();
        verdicts_against_truth(&ds, &dir.path().join(format!("{scenario}-estimated")));
        // With the block in, nothing is left to find.
        let again = estimate(&ds);
        assert_eq!(
            again.unstated_beyond_tolerance().count(),
            0,
            "{}",
            again.text()
        );
        assert!(again
            .clocks
            .iter()
            .filter(|c| c.kind != ClockKind::SessionLog)
            .all(|c| !c.exceeds_tolerance));
    }
}

/// With no skew at all every clock comes out within 50 ms of 0, and nothing is suggested.
#[test]
fn true_clocks_are_estimated_near_zero() {
    let dir = tmp();
    let ds = dir.path().join("ds");
    let mut a = GenerateArgs::new("cache-key-collision", 11, 100_000, &ds);
    a.format = "csv".into();
    generate(&a).unwrap();
    let r = estimate(&ds);
    assert!(true_clocks(&ds).iter().all(|c| c.1 == 0));
    check_against_truth(&ds, &r, 50);
    let block = r.suggested_block();
    assert!(
        !block.lines().any(|l| l.starts_with('"')),
        "nothing to correct: {block}"
    );
}

/// Drifting clocks: every clock's interval at the start holds its true offset there; each true
/// change is found within the hour with its new offset within 100 ms, and the interval of each
/// piece holds the true offset at its start; no change is found that did not happen; and the
/// suggested block, changes and all, makes `analyze` equal the truth.
#[test]
fn drifting_clocks_are_found_piece_by_piece() {
    let dir = tmp();
    let ds = dir.path().join("ds");
    let mut a = GenerateArgs::new("auth-page-cache", 6, 200_000, &ds);
    a.skewed_clocks = 4;
    a.clock_drift = true;
    a.format = "csv".into();
    a.unstated_offsets = true;
    generate(&a).unwrap();
    let r = estimate(&ds);
    check_against_truth(&ds, &r, 100);
    let at = epoch_ms;
    let truth = read_json(&ds.join("truth_clocks.json"));
    let mut changes = 0;
    for t in truth["clocks"].as_array().unwrap() {
        let name = t["clock"].as_str().unwrap();
        let c = r.clocks.iter().find(|c| c.clock == name).unwrap();
        let true_changes: Vec<(i64, i64)> = t["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ch| {
                (
                    at(ch["from"].as_str().unwrap()),
                    ch["offset_ms"].as_i64().unwrap(),
                )
            })
            .collect();
        for &(from, offset) in &true_changes {
            assert!(
                c.changes
                    .iter()
                    .any(|ch| (at(&ch.from) - from).abs() <= 3_600_000
                        && (ch.offset_ms - offset).abs() <= 100),
                "{name}: change to {offset} at {from} not in {:?}",
                c.changes
            );
            changes += 1;
        }
        for ch in &c.changes {
            let from = at(&ch.from);
            assert!(
                true_changes
                    .iter()
                    .any(|&(f, _)| (f - from).abs() <= 3_600_000),
                "{name}: no change near {}",
                ch.from
            );
            let truly = true_changes
                .iter()
                .rev()
                .find(|&&(f, _)| f <= from)
                .map_or(t["offset_ms"].as_i64().unwrap(), |&(_, o)| o);
            let [lo, hi] = ch.interval_ms;
            assert!(
                lo.is_none_or(|l| l <= truly) && hi.is_none_or(|h| truly <= h),
                "{name} from {}: truly {truly}, interval {:?}",
                ch.from,
                ch.interval_ms
            );
        }
    }
    assert_eq!(changes, 8, "four nodes and four servers drift once each");

    // The block with its [clock_offset_changes] makes analyze equal the truth.
    let toml = std::fs::read_to_string(ds.join("dataset.toml")).unwrap();
    let block = r.suggested_block();
    assert!(block.contains("[clock_offset_changes]"), "{block}");
    std::fs::write(ds.join("dataset.toml"), format!("{toml}\n{block}")).unwrap();
    verdicts_against_truth(&ds, &dir.path().join("estimated"));
}

/// The command: a table on stdout, clocks.json and clock_offsets.toml with --out; an unknown
/// reference is refused in one line with exit 2.
#[test]
fn the_clocks_command_writes_its_estimate_and_block() {
    let dir = tmp();
    let ds = dir.path().join("ds");
    let mut a = GenerateArgs::new("cache-key-collision", 8, 30_000, &ds);
    a.dirty = true;
    a.format = "csv".into();
    a.unstated_offsets = true;
    generate(&a).unwrap();
    let out = dir.path().join("clocks");
    let o = bin()
        .args([
            "clocks",
            ds.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("cache-us-1"), "{stdout}");
    let json = read_json(&out.join("clocks.json"));
    let node = json["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["clock"] == "cache-us-1")
        .unwrap();
    assert_eq!(node["kind"], "cache_node");
    assert!(
        (node["offset_ms"].as_i64().unwrap() + 1500).abs() <= 100,
        "{node}"
    );
    let block = std::fs::read_to_string(out.join("clock_offsets.toml")).unwrap();
    let parsed: toml::Table = toml::from_str(&block).unwrap();
    let offsets = parsed["clock_offset_ms"].as_table().unwrap();
    assert!(
        (offsets["cache-us-1"].as_integer().unwrap() + 1500).abs() <= 100,
        "{block}"
    );
    assert!(
        (offsets["stream-cn-1"].as_integer().unwrap() - 750).abs() <= 100,
        "{block}"
    );

    let o = bin()
        .args([
            "clocks",
            ds.to_str().unwrap(),
            "--reference",
            "cache-us-1",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let by_node = String::from_utf8_lossy(&o.stdout);
    assert!(by_node.contains("relative to cache-us-1"), "{by_node}");

    let o = bin()
        .args([
            "clocks",
            ds.to_str().unwrap(),
            "--reference",
            "nowhere",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("\"nowhere\" names no stream server or cache node"),
        "{err}"
    );
}
