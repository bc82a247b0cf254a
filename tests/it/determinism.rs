//! Input order, file layout, format, thread count, join block size and spilling to disk must not change a single output byte.

use std::path::Path;

use crate::common::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type Rows = Vec<Vec<Option<String>>>;

struct Synthetic {
    kinds: Vec<(&'static str, Vec<String>, Rows)>,
}

/// A small platform with resales, grants, re-authentication, session ends, evictions and purges,
/// and deliveries at random times so that some land near boundaries.
fn synthetic(seed: u64) -> Synthetic {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let t0: i64 = 1_577_318_400_000;
    let s = |v: &str| Some(v.to_string());
    let t = |ms: i64| Some((t0 + ms).to_string());
    let mut own: Rows = Vec::new();
    for i in 0..6 {
        own.push(vec![
            t(-86_400_000),
            s(&format!("c{i}")),
            s(&format!("a{i}")),
            s("bind"),
        ]);
    }
    own.push(vec![t(300_000), s("c1"), s("a1"), s("unbind")]);
    own.push(vec![t(310_000), s("c1"), s("a4"), s("bind")]);
    own.push(vec![t(100_000), s("c0"), s("a2"), s("grant")]);
    own.push(vec![t(500_000), s("c0"), s("a2"), s("revoke")]);
    let mut ses: Rows = Vec::new();
    for i in 0..6 {
        ses.push(vec![
            t(0),
            s(&format!("s{i}")),
            s("start"),
            s(&format!("a{i}")),
            s("nest_hub"),
        ]);
    }
    ses.push(vec![
        t(400_000),
        s("s3"),
        s("start"),
        s("a5"),
        s("nest_hub"),
    ]);
    ses.push(vec![t(600_000), s("s4"), s("end"), None, s("nest_hub")]);
    let mut cache: Rows = Vec::new();
    for k in 0..40 {
        let node = format!("n{}", rng.gen_range(0..2));
        let key = ["still/low", "k-a", "k-b"][rng.gen_range(0..3)];
        let at = rng.gen_range(0..900_000);
        let op = ["fill", "fill", "fill", "evict", "purge"][rng.gen_range(0..5)];
        let (obj, origin) = if op == "fill" {
            (s(&format!("o{k}")), s(&format!("c{}", rng.gen_range(0..6))))
        } else {
            (None, None)
        };
        let key = if op == "purge" && rng.gen_bool(0.3) {
            "*"
        } else {
            key
        };
        cache.push(vec![
            t(at),
            s(&node),
            s(key),
            s(op),
            obj,
            origin,
            None,
            s("v2"),
        ]);
    }
    let mut del: Rows = Vec::new();
    for r in 0..300 {
        let at = rng.gen_range(0..900_000);
        let named = rng.gen_bool(0.3);
        del.push(vec![
            t(at),
            s(&format!("s{}", rng.gen_range(0..7))),
            s(&format!("c{}", rng.gen_range(0..6))),
            s(&format!("n{}", rng.gen_range(0..2))),
            s(["still/low", "k-a", "k-b"][rng.gen_range(0..3)]),
            s(["hit", "miss"][rng.gen_range(0..2)]),
            s(&format!("r{r}")),
            if named { s(&format!("x{r}")) } else { None },
            if named {
                s(&format!("c{}", rng.gen_range(0..6)))
            } else {
                None
            },
            if named && rng.gen_bool(0.5) {
                t(at - rng.gen_range(0..400_000))
            } else {
                None
            },
            s(&rng.gen_range(100..5000).to_string()),
            s(if rng.gen_bool(0.5) { "true" } else { "false" }),
        ]);
    }
    let h = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    Synthetic {
        kinds: vec![
            (
                "deliveries",
                h(&[
                    "ts",
                    "session_id",
                    "requested_stream_id",
                    "cache_node",
                    "cache_key",
                    "cache_status",
                    "request_id",
                    "object_id",
                    "origin_stream_id",
                    "captured_at",
                    "bytes",
                    "viewed",
                ]),
                del,
            ),
            (
                "cache",
                h(&[
                    "ts",
                    "cache_node",
                    "cache_key",
                    "op",
                    "object_id",
                    "origin_stream_id",
                    "captured_at",
                    "config_version",
                ]),
                cache,
            ),
            (
                "sessions",
                h(&["ts", "session_id", "event", "account_id", "client"]),
                ses,
            ),
            (
                "ownership",
                h(&["ts", "stream_id", "account_id", "event"]),
                own,
            ),
        ],
    }
}

fn write_plain(ds: &Synthetic, root: &Path) {
    for (kind, h, rows) in &ds.kinds {
        std::fs::create_dir_all(root.join(kind)).unwrap();
        write_rows(&root.join(kind).join("all"), Target::Csv, h, rows);
    }
}

fn write_shuffled(ds: &Synthetic, root: &Path, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let targets = [Target::Parquet, Target::JsonlGz, Target::CsvZst];
    for (kind, h, rows) in &ds.kinds {
        let dir = root.join(kind).join("nested");
        std::fs::create_dir_all(&dir).unwrap();
        let mut rows = rows.clone();
        rows.shuffle(&mut rng);
        let cut1 = rows.len() / 3;
        let cut2 = 2 * rows.len() / 3;
        for (i, part) in [&rows[..cut1], &rows[cut1..cut2], &rows[cut2..]]
            .into_iter()
            .enumerate()
        {
            write_rows(&dir.join(format!("part{i}")), targets[i], h, part);
        }
    }
}

const COMPARED: [&str; 7] = [
    "summary.json",
    "leaks.csv",
    "leaks.parquet",
    "verdicts.parquet",
    "unresolved.csv",
    "mechanism.json",
    "factors.csv",
];

fn outputs(out: &Path) -> Vec<Vec<u8>> {
    COMPARED
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect()
}

#[test]
fn shuffling_and_splitting_change_no_output_byte() {
    let ds = synthetic(11);
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    write_plain(&ds, &plain);
    let s = analyze_ok(&plain, &dir.path().join("out-plain"));
    assert_eq!(s["deliveries"], 300);
    // The dataset must exercise every class, or this test proves little.
    for key in [
        "leak_deliveries",
        "ok_deliveries",
        "ambiguous_deliveries",
        "unresolved_deliveries",
    ] {
        assert!(s[key].as_u64().unwrap() > 0, "{key} is zero: {s}");
    }
    let expected = outputs(&dir.path().join("out-plain"));
    for seed in [1, 2] {
        let shuffled = dir.path().join(format!("shuffled{seed}"));
        write_shuffled(&ds, &shuffled, seed);
        let out = dir.path().join(format!("out{seed}"));
        analyze_ok(&shuffled, &out);
        let got = outputs(&out);
        for (i, name) in COMPARED.iter().enumerate() {
            assert!(
                got[i] == expected[i],
                "{name} differs after shuffling with seed {seed}"
            );
        }
    }
}

#[test]
fn thread_count_changes_no_output_byte() {
    let ds = synthetic(12);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_shuffled(&ds, &data, 3);
    let out = dir.path().join("out");
    let mut runs = Vec::new();
    for threads in [Some("1"), None] {
        analyze_with_threads(&data, &out, threads);
        let mut bytes = outputs(&out);
        bytes.push(std::fs::read(out.join("manifest.json")).unwrap());
        runs.push(bytes);
    }
    assert!(
        runs[0] == runs[1],
        "outputs differ between 1 thread and the default"
    );
}

#[test]
fn join_block_size_changes_no_output_byte() {
    let ds = synthetic(13);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_shuffled(&ds, &data, 4);
    let mut runs = Vec::new();
    for block in [None, Some("1"), Some("7")] {
        let out = dir
            .path()
            .join(format!("out-{}", block.unwrap_or("default")));
        let args: Vec<&str> = block.map(|b| vec!["--block-rows", b]).unwrap_or_default();
        let o = analyze(&data, &out, &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut bytes = outputs(&out);
        // The findings are gathered block by block too: every section must come out the same.
        let factors = std::fs::read_to_string(out.join("factors.csv")).unwrap();
        assert!(
            factors.lines().count() > 2,
            "no factors to compare: {factors}"
        );
        for name in [
            "report.md",
            "exposures.csv",
            "factors.csv",
            "cache_collisions.csv",
            "subjects.csv",
            "recipients.csv",
        ] {
            bytes.push(std::fs::read(out.join(name)).unwrap());
        }
        runs.push(bytes);
    }
    assert!(runs[0] == runs[1], "--block-rows 1 changed an output");
    assert!(runs[0] == runs[2], "--block-rows 7 changed an output");
}

#[test]
fn verbose_records_stage_timings_in_the_manifest_only_when_asked() {
    let ds = synthetic(14);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_plain(&ds, &data);
    let quiet = dir.path().join("quiet");
    analyze_ok(&data, &quiet);
    let m = read_json(&quiet.join("manifest.json"));
    assert!(m.get("timings").is_none(), "{m}");

    let loud = dir.path().join("loud");
    let o = analyze(&data, &loud, &["--verbose"]);
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    let m = read_json(&loud.join("manifest.json"));
    let stages: Vec<&str> = m["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, PIPELINE_STAGES);
    for t in m["timings"].as_array().unwrap() {
        assert!(t["seconds"].as_f64().unwrap() >= 0.0, "{t}");
        assert!(
            stderr.contains(&format!("stage {}", t["stage"].as_str().unwrap())),
            "{stderr}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(loud.join("timings.json"))
            .unwrap()
            .matches("\"stage\"")
            .count(),
        PIPELINE_STAGES.len()
    );
    // Every delivery has a timestamp to convert, so normalising took some time.
    let normalise = m["timings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["stage"] == "normalise")
        .unwrap();
    assert!(normalise["seconds"].as_f64().unwrap() > 0.0, "{normalise}");
}

/// The binary writes the verdict tables block by block while it classifies, and keeps no verdict;
/// the library's `analyze` keeps every verdict, then `write_outputs` writes them. Both give the
/// same bytes.
#[test]
fn overlapped_and_sequential_writing_give_the_same_bytes() {
    let ds = synthetic(15);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_shuffled(&ds, &data, 5);
    let opts = leakscope::analyze::AnalyzeOptions::default();
    let sequential = dir.path().join("sequential");
    let a = leakscope::analyze::analyze(&data, &opts).unwrap();
    leakscope::analyze::write_outputs(&a, &sequential, &opts).unwrap();
    let overlapped = dir.path().join("overlapped");
    let (b, _) = leakscope::analyze::analyze_into(&data, &overlapped, &opts).unwrap();
    assert!(a.summary.leak_deliveries > 0 && a.summary.unresolved_deliveries > 0);
    assert_eq!(a.verdicts.len() as u64, a.summary.deliveries);
    assert!(b.verdicts.is_empty());
    assert_eq!(a.summary, b.summary);
    let names = [
        &COMPARED[..],
        &["report.md", "report.html", "exposures.csv", "factors.csv"],
    ]
    .concat();
    for name in names {
        let (x, y) = (
            std::fs::read(sequential.join(name)).unwrap(),
            std::fs::read(overlapped.join(name)).unwrap(),
        );
        assert!(x == y, "{name} differs between the two ways of writing");
    }
}

/// Deliveries spilled to disk in sorted runs and merged back give the outputs of deliveries held
/// in memory, byte for byte: duplicates (exact and by request id, across files and formats) fold
/// the same way and are charged to the same files.
#[test]
fn spilling_deliveries_in_runs_changes_no_output_byte() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    dirty_mixed(&data, "cache-key-collision", 7, 4_000);
    let mut runs = Vec::new();
    for extra in [
        &[][..],
        &["--run-rows", "333"][..],
        &["--run-rows", "1000", "--block-rows", "77"][..],
    ] {
        let out = dir.path().join(format!("out-{}", runs.len()));
        let o = analyze(&data, &out, extra);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut files: Vec<(String, Vec<u8>)> = walk(&out)
            .into_iter()
            .filter(|p| !p.ends_with("manifest.json") && !p.ends_with("timings.json"))
            .map(|p| {
                let name = p.strip_prefix(&out).unwrap().display().to_string();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        runs.push(files);
    }
    let s = read_json(&dir.path().join("out-0").join("summary.json"));
    let d = &s["rows"]["deliveries"];
    assert!(d["duplicates"].as_u64().unwrap() > 0, "no duplicates: {s}");
    assert!(d["rejected"].as_u64().unwrap() > 0, "no rejections: {s}");
    assert!(
        runs[0].len() > 10,
        "{:?}",
        runs[0].iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (i, r) in runs.iter().enumerate().skip(1) {
        assert_eq!(r.len(), runs[0].len());
        for (a, b) in runs[0].iter().zip(r) {
            assert!(a == b, "run {i}: {} differs", a.0);
        }
    }
}

/// The library keeps every verdict and the whole deliveries table even when the deliveries were
/// spilled: `analyze` with runs of 500 rows gives the verdicts and table of an in-memory run.
#[test]
fn library_analysis_of_spilled_deliveries_keeps_every_row() {
    use leakscope::analyze::{analyze as analyze_lib, summary_json, AnalyzeOptions};
    use leakscope::schema::Kind;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    dirty_mixed(&data, "session-mixup", 3, 3_000);
    let held = analyze_lib(&data, &AnalyzeOptions::default()).unwrap();
    let opts = AnalyzeOptions {
        load: leakscope::load::LoadOptions {
            run_rows: 500,
            ..Default::default()
        },
        ..Default::default()
    };
    let spilled = analyze_lib(&data, &opts).unwrap();
    assert!(
        held.summary.deliveries > 2_000,
        "{}",
        held.summary.deliveries
    );
    assert_eq!(summary_json(&spilled), summary_json(&held));
    assert_eq!(spilled.verdicts, held.verdicts);
    let (a, b) = (
        spilled.loaded.table(Kind::Deliveries),
        held.loaded.table(Kind::Deliveries),
    );
    assert_eq!(a.len(), held.verdicts.len());
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.source, b.source);
    assert_eq!(a.columns, b.columns);
    assert!(spilled.loaded.spilled.is_none());
}
