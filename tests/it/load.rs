//! Loading and validation, end to end through the binary: formats, time forms, rejections, accounting.

use crate::common::*;
use serde_json::json;

fn rows(
    kind: &str,
    read: u64,
    accepted: u64,
    rejected: u64,
    duplicates: u64,
) -> (String, serde_json::Value) {
    (
        kind.to_string(),
        json!({"read": read, "accepted": accepted, "rejected": rejected, "duplicates": duplicates}),
    )
}

/// Worked by hand in tests/fixtures/mixed: see the comments in this test.
#[test]
fn mixed_fixture_counts_every_row() {
    let out = tempfile::tempdir().unwrap();
    let s = analyze_ok(&fixture("mixed"), out.path());
    let expected: serde_json::Map<_, _> = [
        // a.csv: r1 twice (HIT = hit), r4 "warm"; b.jsonl: r2 again (later ts), "soon", "maybe", one blank line;
        // c.csv: naive times read in Asia/Shanghai, bytes "lots".
        rows("deliveries", 11, 5, 4, 2),
        // node-a.csv: one exact duplicate fill, op "flush"; node-b.jsonl: a fill with no object_id.
        rows("cache", 8, 5, 2, 1),
        // a repeated start, event "open".
        rows("sessions", 7, 5, 1, 1),
        // a grant with no account_id.
        rows("ownership", 5, 4, 1, 0),
        // kind "mitigate"; "Detection" is accepted (case-insensitive).
        rows("changes", 3, 2, 1, 0),
        rows("accounts", 5, 4, 0, 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(s["rows"], serde_json::Value::Object(expected));
    // r1: acct-1 sees cam1 (its own). r2: acct-2 gets o-3 of cam3 (acct-3) from the shared still key: leak.
    // r3: names its own origin cam2, owned by acct-2: ok. r5: s3 not yet started; r8: s4's only start was rejected.
    assert_eq!(s["deliveries"], 5);
    assert_eq!(s["leak_deliveries"], 1);
    assert_eq!(s["ok_deliveries"], 2);
    assert_eq!(s["unresolved_deliveries"], 2);
    assert_eq!(s["unresolved_by_reason"], json!({"no_session": 2}));
    assert_eq!(s["ambiguous_deliveries"], 0);
    assert_eq!(s["exposed_accounts"], 1);
    assert_eq!(s["recipient_accounts"], 1);
    assert_eq!(s["exposure_pairs"], 1);
    assert_eq!(s["leaked_objects"], 1);
    assert_eq!(s["viewed_leak_deliveries"], 0);
    assert_eq!(s["exposed_accounts_viewed"], 0);
    assert_eq!(s["first_leak"], "2019-12-26T00:20:00.000Z");
    assert_eq!(s["last_leak"], "2019-12-26T00:20:00.000Z");

    let (h, leaks) = read_csv(&out.path().join("leaks.csv"));
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    assert_eq!(leaks.len(), 1);
    let l = &leaks[0];
    assert_eq!(l[col("request_id")].as_deref(), Some("r2"));
    assert_eq!(l[col("recipient_account")].as_deref(), Some("acct-2"));
    assert_eq!(l[col("subject_account")].as_deref(), Some("acct-3"));
    assert_eq!(l[col("origin_stream_id")].as_deref(), Some("cam3"));
    assert_eq!(l[col("object_id")].as_deref(), Some("o-3"));
    assert_eq!(
        l[col("fill_ts")].as_deref(),
        Some("2019-12-26T00:15:00.000Z")
    );
    assert_eq!(l[col("config_version")].as_deref(), Some("v2"));
    assert_eq!(l[col("bytes")].as_deref(), Some("900"));
    assert_eq!(l[col("viewed")].as_deref(), Some("false"));

    // The whole file as well, so that a key added, renamed or reordered shows as a diff.
    let summary = std::fs::read_to_string(out.path().join("summary.json")).unwrap();
    insta::assert_snapshot!("mixed_summary_json", summary);
}

#[test]
fn quarantine_keeps_every_rejected_row_with_its_reason() {
    let out = tempfile::tempdir().unwrap();
    analyze_ok(&fixture("mixed"), out.path());
    let (h, q) = read_csv(&out.path().join("quarantine/deliveries.csv"));
    assert_eq!(h, vec!["file", "line", "column", "reason", "raw"]);
    let got: Vec<(String, String, String)> = q
        .iter()
        .map(|r| {
            (
                r[0].clone().unwrap(),
                r[1].clone().unwrap(),
                r[2].clone().unwrap_or_default(),
            )
        })
        .collect();
    let want = [
        ("deliveries/a.csv", "6", "cache_status"),
        ("deliveries/b.jsonl", "4", "ts"),
        ("deliveries/b.jsonl", "5", "viewed"),
        ("deliveries/c.csv", "3", "bytes"),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect::<Vec<_>>()
    );
    assert!(q[0][3]
        .as_deref()
        .unwrap()
        .contains("unknown value \"warm\""));
    assert!(q[0][4]
        .as_deref()
        .unwrap()
        .starts_with("2019-12-26T00:26:00Z,s2,cam2"));
    for (kind, n) in [
        ("cache", 2),
        ("sessions", 1),
        ("ownership", 1),
        ("changes", 1),
        ("accounts", 0),
    ] {
        let (_, q) = read_csv(&out.path().join(format!("quarantine/{kind}.csv")));
        assert_eq!(q.len(), n, "{kind}");
    }

    // Every quarantine file whole: file (relative to the dataset), line, column, reason, raw row.
    let mut all = String::new();
    for kind in [
        "deliveries",
        "cache",
        "sessions",
        "ownership",
        "changes",
        "accounts",
    ] {
        let path = out.path().join(format!("quarantine/{kind}.csv"));
        all.push_str(&format!("== quarantine/{kind}.csv\n"));
        all.push_str(&std::fs::read_to_string(path).unwrap());
    }
    insta::assert_snapshot!("mixed_quarantine", all);
}

#[test]
fn every_format_gives_the_same_answer() {
    let base = tempfile::tempdir().unwrap();
    let reference = base.path().join("ref-out");
    let expected = analyze_ok(&fixture("mixed"), &reference);
    let expected_leaks = std::fs::read(reference.join("leaks.csv")).unwrap();
    for target in Target::ALL {
        let ds = base.path().join(format!("{target:?}"));
        convert_dataset(&fixture("mixed"), &ds, target);
        let out = base.path().join(format!("{target:?}-out"));
        let s = analyze_ok(&ds, &out);
        assert_eq!(s, expected, "{target:?}");
        assert_eq!(
            std::fs::read(out.join("leaks.csv")).unwrap(),
            expected_leaks,
            "{target:?}"
        );
        let m = read_json(&out.join("manifest.json"));
        let files = m["files"].as_array().unwrap();
        assert_eq!(files.len(), 9, "{target:?}");
        assert!(files
            .iter()
            .all(|f| f["sha256"].as_str().unwrap().len() == 64));
    }
}

#[test]
fn one_dataset_mixing_every_format_balances() {
    let base = tempfile::tempdir().unwrap();
    let expected = analyze_ok(&fixture("mixed"), &base.path().join("ref-out"));
    let ds = base.path().join("mixed-formats");
    convert_dataset_with(&fixture("mixed"), &ds, |i| {
        Target::ALL[i % Target::ALL.len()]
    });
    let out = base.path().join("out");
    let s = analyze_ok(&ds, &out);
    assert_eq!(s, expected);
    let m = read_json(&out.join("manifest.json"));
    let formats: std::collections::BTreeSet<String> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}/{}",
                f["format"].as_str().unwrap(),
                f["compression"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(formats.len(), 7, "{formats:?}");
    let quarantined: usize = [
        "deliveries",
        "cache",
        "sessions",
        "ownership",
        "changes",
        "accounts",
    ]
    .iter()
    .map(|k| read_csv(&out.join(format!("quarantine/{k}.csv"))).1.len())
    .sum();
    assert_eq!(quarantined, 9);
}

#[test]
fn manifest_and_quarantine_are_byte_identical_across_runs() {
    let out = tempfile::tempdir().unwrap();
    let mut first = Vec::new();
    for round in 0..2 {
        analyze_ok(&fixture("mixed"), out.path());
        let mut files = vec![
            out.path().join("manifest.json"),
            out.path().join("summary.json"),
        ];
        files.extend(walk(&out.path().join("quarantine")));
        let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        if round == 0 {
            first = bytes;
        } else {
            assert_eq!(bytes, first);
        }
    }
    let m = read_json(&out.path().join("manifest.json"));
    assert_eq!(m["tool"]["name"], "leakscope");
    assert_eq!(m["settings"]["timezone"], "Asia/Shanghai");
    assert_eq!(m["settings"]["clock_offset_ms"]["node-b"], -1000);
    let c = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "deliveries/c.csv")
        .unwrap();
    assert_eq!(c["time_forms"]["ts"], "naive");
    assert_eq!(
        c["rows"],
        json!({"read": 2, "accepted": 1, "rejected": 1, "duplicates": 0})
    );
}

const DELIVERY_HEADER: &str =
    "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,request_id,captured_at,bytes,viewed,rtt_ms,loss_pct";
const GOOD: [&str; 12] = [
    "2019-12-26T00:00:00Z",
    "s1",
    "cam1",
    "n1",
    "k1",
    "hit",
    "r0",
    "2019-12-26T00:00:00Z",
    "10",
    "true",
    "30",
    "0.5",
];

/// One malformed row per rejection reason: (what, column index to replace, bad value, column, reason fragment).
#[test]
fn one_fixture_per_rejection_reason() {
    let cases: &[(&str, usize, &str, &str, &str)] = &[
        ("missing ts", 0, "", "ts", "missing required value"),
        (
            "unparseable ts",
            0,
            "2019-02-30T00:00:00Z",
            "ts",
            "not a valid timestamp",
        ),
        (
            "missing session",
            1,
            "",
            "session_id",
            "missing required value",
        ),
        (
            "missing stream",
            2,
            "",
            "requested_stream_id",
            "missing required value",
        ),
        (
            "missing node",
            3,
            "",
            "cache_node",
            "missing required value",
        ),
        ("missing key", 4, "", "cache_key", "missing required value"),
        (
            "unknown status",
            5,
            "stale",
            "cache_status",
            "unknown value \"stale\"",
        ),
        (
            "bad captured_at",
            7,
            "yesterday",
            "captured_at",
            "not a valid timestamp",
        ),
        ("bad bytes", 8, "12kb", "bytes", "is not a number"),
        ("bad viewed", 9, "1", "viewed", "is not true or false"),
        ("bad rtt", 10, "fast", "rtt_ms", "is not a number"),
        ("bad loss", 11, "NaN", "loss_pct", "is not a number"),
    ];
    for (what, idx, bad, column, fragment) in cases {
        let dir = tempfile::tempdir().unwrap();
        empty_dataset(dir.path());
        let mut good = GOOD.map(str::to_string);
        let mut row = good.clone();
        row[*idx] = bad.to_string();
        good[6] = "r-good".into();
        write(
            &dir.path().join("deliveries/d.csv"),
            &format!("{DELIVERY_HEADER}\n{}\n{}\n", good.join(","), row.join(",")),
        );
        let outs = tempfile::tempdir().unwrap();
        let out = outs.path().join("out");
        let s = analyze_ok(dir.path(), &out);
        assert_eq!(
            s["rows"]["deliveries"],
            json!({"read": 2, "accepted": 1, "rejected": 1, "duplicates": 0}),
            "{what}"
        );
        let (_, q) = read_csv(&out.join("quarantine/deliveries.csv"));
        assert_eq!(q.len(), 1, "{what}");
        assert_eq!(q[0][1].as_deref(), Some("3"), "{what}");
        assert_eq!(q[0][2].as_deref(), Some(*column), "{what}");
        let reason = q[0][3].clone().unwrap();
        assert!(reason.contains(fragment), "{what}: {reason}");
    }
}

#[test]
fn structural_rejections_in_each_kind() {
    let dir = tempfile::tempdir().unwrap();
    empty_dataset(dir.path());
    write(
        &dir.path().join("deliveries/d.csv"),
        &format!(
            "{DELIVERY_HEADER}\n{}\n2019-12-26T00:00:00Z,s1\n",
            GOOD.join(",")
        ),
    );
    write(
        &dir.path().join("cache/c.jsonl"),
        "{\"ts\": 1, \"cache_node\": \"n\", \"cache_key\": \"k\", \"op\": \"fill\", \"object_id\": \"o\"}\n{\"ts\": 1, \"cache_node\": \"n\"\n[1,2]\n{\"ts\": 2, \"cache_node\": {\"a\": 1}, \"cache_key\": \"k\", \"op\": \"evict\"}\n",
    );
    write(
        &dir.path().join("sessions/s.csv"),
        "ts,session_id,event\n1,s,start\n2,s,end\n",
    );
    write(
        &dir.path().join("ownership/o.csv"),
        "ts,stream_id,account_id,event\n1,c,a,sell\n1,c,a,bind\n",
    );
    let outs = tempfile::tempdir().unwrap();
    let out = outs.path().join("out");
    let s = analyze_ok(dir.path(), &out);
    assert_eq!(s["rows"]["deliveries"]["rejected"], 1);
    assert_eq!(
        s["rows"]["cache"],
        json!({"read": 4, "accepted": 0, "rejected": 4, "duplicates": 0})
    );
    assert_eq!(
        s["rows"]["sessions"],
        json!({"read": 2, "accepted": 1, "rejected": 1, "duplicates": 0})
    );
    assert_eq!(
        s["rows"]["ownership"],
        json!({"read": 2, "accepted": 1, "rejected": 1, "duplicates": 0})
    );
    let reasons = |kind: &str| -> Vec<String> {
        read_csv(&out.join(format!("quarantine/{kind}.csv")))
            .1
            .into_iter()
            .map(|r| r[3].clone().unwrap())
            .collect()
    };
    assert!(reasons("deliveries")[0].contains("record has 2 fields, the header has 12"));
    let c = reasons("cache");
    assert!(
        c[0].contains("required column \"origin_stream_id\" is missing"),
        "{c:?}"
    );
    assert!(c[1].contains("invalid JSON"), "{c:?}");
    assert!(c[2].contains("not an object"), "{c:?}");
    assert!(c[3].contains("JSON object or array"), "{c:?}");
    assert!(reasons("sessions")[0].contains("required column \"account_id\" is missing"));
    assert!(reasons("ownership")[0].contains("unknown value \"sell\""));
}

#[test]
fn naive_times_without_a_zone_are_rejected_and_said_loudly() {
    let dir = tempfile::tempdir().unwrap();
    empty_dataset(dir.path());
    write(
        &dir.path().join("ownership/o.csv"),
        "ts,stream_id,account_id,event\n2019-12-26 08:00:00,c,a,bind\n2019-12-26 09:00:00,c,b,bind\n",
    );
    let outs = tempfile::tempdir().unwrap();
    let out = outs.path().join("out");
    let o = analyze_loud(dir.path(), &out);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("WARNING: ownership/o.csv: all 2 rows rejected"),
        "{err}"
    );
    assert!(err.contains("timezone"), "{err}");
    let s = read_json(&out.join("summary.json"));
    assert_eq!(
        s["rows"]["ownership"],
        json!({"read": 2, "accepted": 0, "rejected": 2, "duplicates": 0})
    );
    let (_, q) = read_csv(&out.join("quarantine/ownership.csv"));
    assert!(q
        .iter()
        .all(|r| r[3].as_deref() == Some("naive time and no timezone")));
}

#[test]
fn unreadable_files_are_reported_and_strict_makes_them_fatal() {
    let dir = tempfile::tempdir().unwrap();
    empty_dataset(dir.path());
    write(
        &dir.path().join("deliveries/d.csv"),
        &format!("{DELIVERY_HEADER}\n{}\n", GOOD.join(",")),
    );
    std::fs::write(
        dir.path().join("deliveries/broken.csv.gz"),
        b"\x1f\x8b\x08\x00garbage",
    )
    .unwrap();
    std::fs::write(dir.path().join("cache/broken.parquet"), b"PAR1 not really").unwrap();
    std::fs::write(dir.path().join("cache/notes.txt"), b"hello").unwrap();
    let outs = tempfile::tempdir().unwrap();
    let out = outs.path().join("out");
    let s = analyze_ok(dir.path(), &out);
    assert_eq!(s["unreadable_files"], 2);
    assert_eq!(s["rows"]["deliveries"]["read"], 1);
    let m = read_json(&out.join("manifest.json"));
    let errors: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["error"].as_str())
        .collect();
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().any(|e| e.contains("gzip")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("Parquet")), "{errors:?}");
    assert_eq!(m["skipped_files"], json!(["cache/notes.txt"]));

    let o = analyze(dir.path(), &outs.path().join("strict"), &["--strict"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("broken"), "{err}");
}

#[test]
fn missing_required_folder_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("deliveries")).unwrap();
    let outs = tempfile::tempdir().unwrap();
    let o = analyze(dir.path(), &outs.path().join("out"), &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cache/ is missing"), "{err}");
}

#[test]
fn mapping_file_renames_columns_and_values() {
    let dir = tempfile::tempdir().unwrap();
    empty_dataset(dir.path());
    write(
        &dir.path().join("deliveries/d.csv"),
        "t,sid,requested_stream_id,cache_node,cache_key,status,req\n2019-12-26T00:00:00Z,s1,c,n,k,TCP_HIT,r1\n2019-12-26T00:00:01Z,s1,c,n,k,TCP_WEIRD,r2\n",
    );
    write(
        &dir.path().join("mapping.toml"),
        "[columns.deliveries]\n\"t\" = \"ts\"\n\"sid\" = \"session_id\"\n\"status\" = \"cache_status\"\n\"req\" = \"request_id\"\n[values.deliveries.cache_status]\n\"TCP_HIT\" = \"hit\"\n",
    );
    let outs = tempfile::tempdir().unwrap();
    let out = outs.path().join("out");
    let s = analyze_ok(dir.path(), &out);
    assert_eq!(
        s["rows"]["deliveries"],
        json!({"read": 2, "accepted": 1, "rejected": 1, "duplicates": 0})
    );

    write(
        &dir.path().join("bad.toml"),
        "[columns.deliveries]\n\"sid\" = \"sesion_id\"\n",
    );
    let o = analyze(
        dir.path(),
        &out,
        &["--mapping", dir.path().join("bad.toml").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean \"session_id\""));
}

#[test]
fn validate_prints_accounting_and_first_errors() {
    let o = bin()
        .arg("validate")
        .arg(fixture("mixed"))
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("deliveries           11          5          4          2"),
        "{text}"
    );
    assert!(
        text.contains("deliveries/b.jsonl  read 4  accepted 1  rejected 2  duplicates 1"),
        "{text}"
    );
    assert!(text.contains("line 5 [viewed]"), "{text}");
    // Spilled in runs of one or two rows and merged back, the deliveries account the same way.
    for run_rows in ["1", "2"] {
        let spilled = bin()
            .arg("validate")
            .arg(fixture("mixed"))
            .args(["--quiet", "--run-rows", run_rows])
            .output()
            .unwrap();
        assert!(spilled.status.success());
        assert_eq!(
            String::from_utf8_lossy(&spilled.stdout),
            text,
            "--run-rows {run_rows}"
        );
    }
}

/// Parquet written by other tools carries real types: zoned and naive datetimes, integers, booleans, floats.
#[test]
fn typed_parquet_columns_are_read_by_value() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    empty_dataset(dir.path());
    let t0: i64 = 1_577_318_400_000; // 2019-12-26T00:00:00Z
    let utc = DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC));
    let naive = DataType::Datetime(TimeUnit::Microseconds, None);
    let mut df = df!(
        "ts" => [t0 + 60_000, t0 + 120_000],
        "session_id" => ["s1", "s1"],
        "requested_stream_id" => ["c1", "c1"],
        "cache_node" => ["n", "n"],
        "cache_key" => ["k", "k"],
        "cache_status" => ["hit", "HIT"],
        "request_id" => ["r1", "r2"],
        "origin_stream_id" => [Some("c2"), None],
        "captured_at" => [Some((t0 + 30_000) * 1000), None],
        "bytes" => [1200i64, 800],
        "viewed" => [true, false],
        "rtt_ms" => [35.5f64, 900.0],
    )
    .unwrap();
    df.with_column(df.column("ts").unwrap().cast(&utc).unwrap())
        .unwrap();
    df.with_column(df.column("captured_at").unwrap().cast(&naive).unwrap())
        .unwrap();
    let f = std::fs::File::create(dir.path().join("deliveries/d.parquet")).unwrap();
    ParquetWriter::new(f).finish(&mut df).unwrap();
    write(&dir.path().join("dataset.toml"), "timezone = \"UTC\"\n");
    write(
        &dir.path().join("sessions/s.csv"),
        "ts,session_id,event,account_id\n1577318400000,s1,start,alice\n",
    );
    write(
        &dir.path().join("ownership/o.csv"),
        "ts,stream_id,account_id,event\n1577232000000,c1,alice,bind\n1577232000000,c2,bob,bind\n",
    );
    write(
        &dir.path().join("cache/c.csv"),
        "ts,cache_node,cache_key,op,object_id,origin_stream_id\n1577318400000,n,k,fill,o1,c1\n",
    );
    let outs = tempfile::tempdir().unwrap();
    let out = outs.path().join("out");
    let s = analyze_ok(dir.path(), &out);
    assert_eq!(
        s["rows"]["deliveries"],
        json!({"read": 2, "accepted": 2, "rejected": 0, "duplicates": 0})
    );
    // r1 names bob's camera c2 and goes to alice: a leak. r2 gets alice's own c1 from the cache: ok.
    assert_eq!(s["leak_deliveries"], 1);
    assert_eq!(s["ok_deliveries"], 1);
    let (h, leaks) = read_csv(&out.join("leaks.csv"));
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    assert_eq!(
        leaks[0][col("ts")].as_deref(),
        Some("2019-12-26T00:01:00.000Z")
    );
    assert_eq!(
        leaks[0][col("captured_at")].as_deref(),
        Some("2019-12-26T00:00:30.000Z")
    );
    assert_eq!(leaks[0][col("bytes")].as_deref(), Some("1200"));
    assert_eq!(leaks[0][col("viewed")].as_deref(), Some("true"));
    assert_eq!(leaks[0][col("rtt_ms")].as_deref(), Some("35.5"));
    let m = read_json(&out.join("manifest.json"));
    let d = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "deliveries/d.parquet")
        .unwrap();
    // Without time-zone support in this polars build, the writer cannot mark `ts` as zoned,
    // so both columns are naive here and read in the dataset's zone (UTC).
    assert_eq!(
        d["time_forms"],
        json!({"captured_at": "naive", "ts": "naive"})
    );
}

/// pandas writes an integer column that has nulls as floats; its epoch milliseconds must still load.
#[test]
fn float_epoch_columns_with_nulls_load_as_integers() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    empty_dataset(dir.path());
    let t0: i64 = 1_577_318_400_000;
    let mut df = df!(
        "ts" => [t0 as f64 + 60_000.0, t0 as f64 + 61_000.0, t0 as f64 + 62_000.0],
        "session_id" => ["s1", "s1", "s1"],
        "requested_stream_id" => ["c1", "c1", "c1"],
        "cache_node" => ["n", "n", "n"],
        "cache_key" => ["k", "k", "k"],
        "cache_status" => ["miss", "miss", "miss"],
        "request_id" => ["r1", "r2", "r3"],
        "origin_stream_id" => ["c1", "c1", "c1"],
        "captured_at" => [Some(t0 as f64 + 30_000.0), None, Some(t0 as f64 + 30_000.5)],
    )
    .unwrap();
    let f = std::fs::File::create(dir.path().join("deliveries/d.parquet")).unwrap();
    ParquetWriter::new(f).finish(&mut df).unwrap();
    let outs = tempfile::tempdir().unwrap();
    let out = outs.path().join("out");
    let s = analyze_ok(dir.path(), &out);
    // r3's captured_at has a real fraction of a millisecond: not epoch milliseconds.
    assert_eq!(
        s["rows"]["deliveries"],
        json!({"read": 3, "accepted": 2, "rejected": 1, "duplicates": 0})
    );
    let (_, q) = read_csv(&out.join("quarantine/deliveries.csv"));
    assert_eq!(q[0][1].as_deref(), Some("2"));
    assert_eq!(q[0][2].as_deref(), Some("captured_at"));
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(
        m["files"][0]["time_forms"],
        json!({"captured_at": "epoch_ms", "ts": "epoch_ms"})
    );
}

#[test]
fn verbose_prints_every_stage() {
    let out = tempfile::tempdir().unwrap();
    let o = bin()
        .arg("analyze")
        .arg(fixture("mixed"))
        .arg("--out")
        .arg(out.path())
        .args(["--quiet", "--verbose"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let stages: Vec<&str> = err
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(stages, PIPELINE_STAGES, "{err}");
}
