//! Evidence handling under hostile input: settings out of range, outputs placed where they would
//! be read back, formulas in ids, a misspelt header, and a manifest that hashes every file that
//! changed the result.

use std::path::Path;

use polars::prelude::{ParquetReader, SerReader};

use crate::common::*;

/// The hostile fixture copied to `<root>/ds`, with `dataset.toml` as given.
fn dataset_with_settings(root: &Path, settings: &str) -> std::path::PathBuf {
    let ds = root.join("ds");
    copy_tree(&fixture("hostile"), &ds);
    write(&ds.join("dataset.toml"), settings);
    ds
}

fn one_line_refusal(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn settings_out_of_range_are_one_line_refusals_before_any_work() {
    for (settings, says) in [
        (
            "tolerance = \"99999999999999999d\"\n",
            "dataset.toml: tolerance = \"99999999999999999d\" is outside the allowed range 0ms to 1d",
        ),
        (
            "[clock_offset_ms]\n\"n1\" = 9223372036854775000\n",
            "dataset.toml: clock_offset_ms.\"n1\" = 9223372036854775000 is outside the allowed range -366d to 366d",
        ),
        (
            "session_ttl = \"400d\"\n",
            "dataset.toml: session_ttl = \"400d\" is outside the allowed range 1ms to 366d",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset_with_settings(dir.path(), settings);
        let out = dir.path().join("out");
        let err = one_line_refusal(&analyze(&ds, &out, &[]));
        assert!(err.trim_end().ends_with(says), "{err}");
        assert!(!out.exists(), "nothing is written for a refused run");
        let v = bin().arg("validate").arg(&ds).output().unwrap();
        assert!(one_line_refusal(&v).trim_end().ends_with(says));
    }
}

#[test]
fn a_timestamp_beyond_year_9999_is_quarantined_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset_with_settings(dir.path(), "[clock_offset_ms]\n\"srv1\" = 1000\n");
    // Epoch milliseconds that an unchecked clock correction would wrap around.
    write(
        &ds.join("deliveries/epoch.csv"),
        "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,request_id,server\n\
         1577318450000,sess-alice-1,camA,n1,still//lq,hit,r4,srv1\n\
         9223372036854775000,sess-alice-1,camA,n1,still//lq,hit,r5,srv1\n",
    );
    let out = dir.path().join("out");
    let s = analyze_ok(&ds, &out);
    assert_eq!(s["rows"]["deliveries"]["rejected"], 1);
    assert_eq!(s["leak_deliveries"], 2);
    let (_, q) = read_csv(&out.join("quarantine/deliveries.csv"));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0][2].as_deref(), Some("ts"));
    assert_eq!(
        q[0][3].as_deref(),
        Some("\"9223372036854775000\": outside the years 0000 to 9999")
    );
}

#[test]
fn outputs_inside_the_dataset_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset_with_settings(dir.path(), "");
    for out in [
        ds.join("deliveries/out"),
        ds.clone(),
        dir.path().to_path_buf(),
    ] {
        let err = one_line_refusal(&analyze(&ds, &out, &[]));
        assert!(err.contains("choose --out outside"), "{err}");
    }
    assert!(!ds.join("deliveries/out").exists());
    // Run twice into a proper place: the second run replaces the first's outputs.
    let out = dir.path().join("out");
    let first = analyze_ok(&ds, &out);
    assert_eq!(analyze_ok(&ds, &out), first);
}

#[test]
fn another_datasets_outputs_are_replaced_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset_with_settings(dir.path(), "");
    let out = dir.path().join("out");
    analyze_ok(&fixture("mixed"), &out);
    let err = one_line_refusal(&analyze(&ds, &out, &[]));
    assert!(
        err.contains("holds the outputs of dataset \"mixed\", not \"ds\"; pass --force"),
        "{err}"
    );
    assert_eq!(read_json(&out.join("manifest.json"))["dataset"], "mixed");
    assert!(analyze(&ds, &out, &["--force"]).status.success());
    assert_eq!(read_json(&out.join("manifest.json"))["dataset"], "ds");

    let notes = dir.path().join("notes");
    write(&notes.join("todo.txt"), "not ours");
    let err = one_line_refusal(&analyze(&ds, &notes, &["--force"]));
    assert!(err.contains("holds no leakscope outputs"), "{err}");
    assert_eq!(
        std::fs::read_to_string(notes.join("todo.txt")).unwrap(),
        "not ours"
    );
}

/// Ids that a spreadsheet would run as formulas.
const FORMULA_ACCOUNT: &str = "=HYPERLINK(\"http://evil/\",\"x\")";
const FORMULA_RECIPIENT: &str = "@SUM(1+1)*cmd";
const FORMULA_SESSION: &str = "+1+cmd";
const FORMULA_KEY: &str = "-2+3";

fn formula_dataset(root: &Path) -> std::path::PathBuf {
    let ds = root.join("formulas");
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let (a, b, sid, key) = (
        q(FORMULA_ACCOUNT),
        q(FORMULA_RECIPIENT),
        q(FORMULA_SESSION),
        q(FORMULA_KEY),
    );
    write(
        &ds.join("ownership/o.csv"),
        &format!(
            "ts,stream_id,account_id,event\n2019-12-25T00:00:00Z,camA,{a},bind\n2019-12-25T00:00:00Z,camB,{b},bind\n"
        ),
    );
    write(
        &ds.join("sessions/s.csv"),
        &format!("ts,session_id,event,account_id\n2019-12-26T00:00:00Z,{sid},start,{b}\n"),
    );
    write(
        &ds.join("cache/c.csv"),
        &format!(
            "ts,cache_node,cache_key,op,object_id,origin_stream_id\n\
             2019-12-26T00:00:05Z,n1,{key},fill,o0,camB\n\
             2019-12-26T00:00:10Z,n1,{key},fill,o1,camA\n"
        ),
    );
    write(
        &ds.join("deliveries/d.csv"),
        &format!(
            "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,request_id\n\
             2019-12-26T00:00:07Z,{sid},camB,n1,{key},hit,r0\n\
             2019-12-26T00:00:20Z,{sid},camB,n1,{key},hit,r1\n"
        ),
    );
    ds
}

#[test]
fn lists_meant_for_spreadsheets_neutralise_formulas_and_the_evidence_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let ds = formula_dataset(dir.path());
    let out = dir.path().join("out");
    let s = analyze_ok(&ds, &out);
    assert_eq!(s["leak_deliveries"], 1);
    let cell = |file: &str, column: &str| {
        let (head, rows) = read_csv(&out.join(file));
        let at = head.iter().position(|h| h == column).unwrap();
        rows[0][at].clone().unwrap_or_default()
    };
    let safe = |id: &str| format!("'{id}");
    assert_eq!(cell("subjects.csv", "account"), safe(FORMULA_ACCOUNT));
    assert_eq!(cell("recipients.csv", "account"), safe(FORMULA_RECIPIENT));
    assert_eq!(cell("exposures.csv", "subject"), safe(FORMULA_ACCOUNT));
    assert_eq!(cell("exposures.csv", "recipient"), safe(FORMULA_RECIPIENT));
    assert_eq!(cell("leaks.csv", "session_id"), safe(FORMULA_SESSION));
    assert_eq!(cell("leaks.csv", "cache_key"), safe(FORMULA_KEY));
    assert_eq!(cell("cache_collisions.csv", "cache_key"), safe(FORMULA_KEY));

    let df = ParquetReader::new(std::fs::File::open(out.join("leaks.parquet")).unwrap())
        .finish()
        .unwrap();
    let text = |c: &str| {
        df.column(c)
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .to_string()
    };
    assert_eq!(text("session_id"), FORMULA_SESSION);
    assert_eq!(text("cache_key"), FORMULA_KEY);
}

#[test]
fn a_misspelt_required_column_is_a_warning_everywhere_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset_with_settings(dir.path(), "");
    let deliveries = ds.join("deliveries/deliveries.csv");
    let text = std::fs::read_to_string(&deliveries).unwrap();
    write(&deliveries, &text.replacen("session_id", "sesion_id", 1));
    let says = "deliveries/deliveries.csv: 3 of 3 rows rejected: required column \"session_id\" is missing from the file (did you mean \"sesion_id\"? map it in mapping.toml: [columns.deliveries] \"sesion_id\" = \"session_id\")";

    let out = dir.path().join("out");
    let o = analyze_loud(&ds, &out);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("WARNING: {says}")), "{err}");
    let v = bin().arg("validate").arg(&ds).output().unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(text.contains(&format!("WARNING: {says}")), "{text}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("did you mean \"sesion\\_id\"?"), "{report}");
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["warnings"][0], says);

    // Mapped as the warning says, every row is read.
    write(
        &ds.join("mapping.toml"),
        "[columns.deliveries]\n\"sesion_id\" = \"session_id\"\n",
    );
    let s = analyze_ok(&ds, &out);
    assert_eq!(s["rows"]["deliveries"]["accepted"], 3);
}

#[test]
fn the_manifest_hashes_the_settings_and_the_mapping_and_is_the_same_wherever_the_dataset_lies() {
    let dir = tempfile::tempdir().unwrap();
    let settings = "tolerance = \"2s\"\n";
    let mapping = "[values.deliveries.cache_status]\nHIT = \"hit\"\n";
    let mut manifests = Vec::new();
    for place in ["a", "b/deeper"] {
        let ds = dataset_with_settings(&dir.path().join(place), settings);
        write(&ds.join("mapping.toml"), mapping);
        let out = dir.path().join(format!("out-{}", place.replace('/', "-")));
        analyze_ok(&ds, &out);
        manifests.push(std::fs::read(out.join("manifest.json")).unwrap());
    }
    assert!(manifests[0] == manifests[1], "the manifests differ");
    let m: serde_json::Value = serde_json::from_slice(&manifests[0]).unwrap();
    let sha = |text: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    };
    assert_eq!(m["dataset"], "ds");
    assert_eq!(
        m["settings_file"],
        serde_json::json!({"path": "dataset.toml", "inside_dataset": true, "size": settings.len(), "sha256": sha(settings)})
    );
    assert_eq!(
        m["mapping"]["file"],
        serde_json::json!({"path": "mapping.toml", "inside_dataset": true, "size": mapping.len(), "sha256": sha(mapping)})
    );
    assert_eq!(
        m["command_line"],
        serde_json::json!([
            "leakscope",
            "analyze",
            "<dataset>",
            "--out",
            "<out>",
            "--quiet"
        ])
    );
}

#[test]
fn a_line_beyond_the_row_size_limit_is_quarantined_by_its_length_digest_and_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset_with_settings(dir.path(), "");
    // 16.5 KB of gzip holding a 16 MiB line between two good ones.
    std::fs::copy(
        fixture("oversized/bomb.csv.gz"),
        ds.join("deliveries/bomb.csv.gz"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let s = analyze_ok(&ds, &out);
    assert_eq!(
        s["rows"]["deliveries"],
        serde_json::json!({"read": 6, "accepted": 5, "rejected": 1, "duplicates": 0})
    );
    let (_, q) = read_csv(&out.join("quarantine/deliveries.csv"));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0][0].as_deref(), Some("deliveries/bomb.csv.gz"));
    assert_eq!(q[0][1].as_deref(), Some("3"));
    assert_eq!(
        q[0][3].as_deref(),
        Some("row of 16777270 bytes is beyond the row-size limit of 1048576 bytes (max_row_bytes); its SHA-256 is 5a154142af27e39c51bc83ba55e6e8de4df4c62f205da78936ad8f2783e4c35b and its first 1024 bytes are kept")
    );
    let raw = q[0][4].as_deref().unwrap();
    assert_eq!(raw.len(), 1024);
    assert!(raw.starts_with("2019-12-26T00:00:51Z,sess-alice-1,camA,n1,AAAA"));
    let m = read_json(&out.join("manifest.json"));
    let warnings: Vec<&str> = m["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("deliveries/bomb.csv.gz: decompresses 1014 times over")),
        "{warnings:?}"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("decompression bomb"), "{report}");

    // Raised in dataset.toml, the limit lets the line through to be judged as any row.
    write(&ds.join("dataset.toml"), "max_row_bytes = 33554432\n");
    let s = analyze_ok(&ds, &out);
    assert_eq!(s["rows"]["deliveries"]["accepted"], 6);
}

/// A Keycloak export is one JSON array, often on one line: the row-size limit applies to each
/// event in it, not to the line.
#[test]
fn the_row_size_limit_applies_to_each_event_of_a_json_array_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    copy_tree(&fixture("logs-keycloak"), &ds);
    let events = ds.join("sessions/events.json");
    let mut array: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&events).unwrap()).unwrap();
    let one_line = serde_json::to_string(&array).unwrap();
    assert!(one_line.len() > 1024 && !one_line.contains('\n'));
    write(&events, &one_line);
    let out = dir.path().join("out");
    let expected = analyze_ok(&fixture("logs-keycloak"), &dir.path().join("pretty"));
    write(&ds.join("dataset.toml"), "max_row_bytes = 1024\n");
    let s = analyze_ok(&ds, &out);
    assert_eq!(s["rows"], expected["rows"]);

    // An event beyond the limit is quarantined by itself; the others are read.
    array[0]["details"]["username"] = serde_json::json!("a".repeat(2000));
    write(&events, &serde_json::to_string(&array).unwrap());
    let s = analyze_ok(&ds, &out);
    assert_eq!(
        s["rows"]["sessions"]["rejected"],
        expected["rows"]["sessions"]["rejected"].as_u64().unwrap() + 1
    );
    let (_, q) = read_csv(&out.join("quarantine/sessions.csv"));
    assert!(q[0][3]
        .as_deref()
        .unwrap()
        .contains("beyond the row-size limit of 1024 bytes"));
}
