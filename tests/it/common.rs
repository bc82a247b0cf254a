//! Helpers shared by the integration tests: temp datasets, format conversion, running the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use polars::prelude::*;

/// Class (or unresolved reason) and one more field of each delivery's verdict, by request_id.
pub type Classes = std::collections::BTreeMap<String, (String, String)>;

/// The library's verdicts on `dir` as [`Classes`], the second field `field` of each verdict.
pub fn library_classes(
    dir: &Path,
    opts: &leakscope::analyze::AnalyzeOptions,
    field: impl Fn(&leakscope::verdict::Verdict) -> String,
) -> Classes {
    let a = leakscope::analyze::analyze(dir, opts).expect("analyze");
    let rids = a
        .loaded
        .table(leakscope::schema::Kind::Deliveries)
        .text("request_id");
    rids.iter()
        .zip(&a.verdicts)
        .map(|(rid, v)| {
            let class = v.missing.map_or(v.class.as_str(), |m| m.as_str());
            let rid = rid.expect("request_id").to_string();
            (rid, (class.to_string(), field(v)))
        })
        .collect()
}

/// A hand-worked fixture's `expected.csv` (request_id, class, one more field) as [`Classes`].
pub fn expected_classes(name: &str) -> Classes {
    let (_, rows) = read_csv(&fixture(name).join("expected.csv"));
    rows.into_iter()
        .map(|r| {
            let cell = |i: usize| r[i].clone().unwrap_or_default();
            (cell(0), (cell(1), cell(2)))
        })
        .collect()
}

/// Options that spill the deliveries in runs of `run_rows` and join them `block_rows` at a time.
pub fn spilled(run_rows: usize, block_rows: usize) -> leakscope::analyze::AnalyzeOptions {
    leakscope::analyze::AnalyzeOptions {
        load: leakscope::load::LoadOptions {
            run_rows,
            ..leakscope::load::LoadOptions::default()
        },
        block_rows,
        ..leakscope::analyze::AnalyzeOptions::default()
    }
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakscope"))
}

/// The stages `--verbose` reports, in order.
pub const PIPELINE_STAGES: [&str; 8] = [
    "load",
    "normalise",
    "intervals",
    "clocks",
    "join",
    "classify",
    "aggregate",
    "report",
];

/// Runs `leakscope analyze <dataset> --out <out> [extra]` and returns its output.
pub fn analyze(dataset: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("analyze")
        .arg(dataset)
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg("--quiet")
        .output()
        .expect("leakscope runs")
}

/// Runs `leakscope analyze <dataset> --out <out>` with its warnings and summary on stderr.
pub fn analyze_loud(dataset: &Path, out: &Path) -> Output {
    bin()
        .arg("analyze")
        .arg(dataset)
        .arg("--out")
        .arg(out)
        .output()
        .expect("leakscope runs")
}

/// Runs `analyze` quietly with polars and rayon limited to `threads`, or with their defaults.
pub fn analyze_with_threads(dataset: &Path, out: &Path, threads: Option<&str>) {
    let mut cmd = bin();
    cmd.arg("analyze")
        .arg(dataset)
        .arg("--out")
        .arg(out)
        .arg("--quiet");
    match threads {
        Some(n) => cmd.env("POLARS_MAX_THREADS", n).env("RAYON_NUM_THREADS", n),
        None => cmd
            .env_remove("POLARS_MAX_THREADS")
            .env_remove("RAYON_NUM_THREADS"),
    };
    assert!(cmd.status().expect("leakscope runs").success());
}

pub fn analyze_ok(dataset: &Path, out: &Path) -> serde_json::Value {
    let o = analyze(dataset, out, &[]);
    assert!(
        o.status.success(),
        "analyze failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    read_json(&out.join("summary.json"))
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// Copies every file under `from` to the same place under `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    for src in walk(from) {
        let dst = to.join(src.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&src, &dst).unwrap();
    }
}

/// An empty dataset with the four required folders.
pub fn empty_dataset(root: &Path) {
    for k in ["deliveries", "cache", "sessions", "ownership"] {
        std::fs::create_dir_all(root.join(k)).unwrap();
    }
}

pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Target formats a CSV fixture can be converted to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Csv,
    CsvGz,
    CsvZst,
    Jsonl,
    JsonlGz,
    JsonlZst,
    Parquet,
}

impl Target {
    pub const ALL: [Target; 7] = [
        Target::Csv,
        Target::CsvGz,
        Target::CsvZst,
        Target::Jsonl,
        Target::JsonlGz,
        Target::JsonlZst,
        Target::Parquet,
    ];

    fn ext(self) -> &'static str {
        match self {
            Target::Csv => "csv",
            Target::CsvGz => "csv.gz",
            Target::CsvZst => "csv.zst",
            Target::Jsonl => "jsonl",
            Target::JsonlGz => "jsonl.gz",
            Target::JsonlZst => "jsonl.zst",
            Target::Parquet => "parquet",
        }
    }
}

/// Reads a well-formed CSV into header and rows (empty cells as None).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| {
            rec.unwrap()
                .iter()
                .map(|c| (!c.is_empty()).then(|| c.to_string()))
                .collect()
        })
        .collect();
    (headers, rows)
}

/// Writes rows in the target format; returns the file's path.
pub fn write_rows(
    stem: &Path,
    target: Target,
    headers: &[String],
    rows: &[Vec<Option<String>>],
) -> PathBuf {
    let path = stem.with_extension(target.ext());
    let text: Vec<u8> = match target {
        Target::Csv | Target::CsvGz | Target::CsvZst => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(headers).unwrap();
            for r in rows {
                w.write_record(r.iter().map(|c| c.as_deref().unwrap_or("")))
                    .unwrap();
            }
            w.into_inner().unwrap()
        }
        Target::Jsonl | Target::JsonlGz | Target::JsonlZst => {
            let mut out = Vec::new();
            for r in rows {
                let mut m = serde_json::Map::new();
                for (h, c) in headers.iter().zip(r) {
                    if let Some(c) = c {
                        m.insert(h.clone(), serde_json::Value::String(c.clone()));
                    }
                }
                out.extend(serde_json::Value::Object(m).to_string().into_bytes());
                out.push(b'\n');
            }
            out
        }
        Target::Parquet => {
            let cols: Vec<Column> = headers
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    Column::new(
                        h.as_str().into(),
                        rows.iter().map(|r| r[i].as_deref()).collect::<Vec<_>>(),
                    )
                })
                .collect();
            let mut df = DataFrame::new(rows.len(), cols).unwrap();
            let f = std::fs::File::create(&path).unwrap();
            ParquetWriter::new(f).finish(&mut df).unwrap();
            return path;
        }
    };
    let bytes = match target {
        Target::CsvGz | Target::JsonlGz => {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&text).unwrap();
            e.finish().unwrap()
        }
        Target::CsvZst | Target::JsonlZst => zstd::encode_all(text.as_slice(), 3).unwrap(),
        _ => text,
    };
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Copies a dataset whose data files are CSV or JSONL, converting each to `target`.
pub fn convert_dataset(src: &Path, dst: &Path, target: Target) {
    convert_dataset_with(src, dst, |_| target)
}

/// Like `convert_dataset`, choosing the target per data file (by its position in path order).
pub fn convert_dataset_with(src: &Path, dst: &Path, choose: impl Fn(usize) -> Target) {
    let mut n = 0;
    for entry in walk(src) {
        let rel = entry.strip_prefix(src).unwrap();
        let out = dst.join(rel);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let ext = entry.extension().and_then(|e| e.to_str());
        if ext == Some("csv") || ext == Some("jsonl") {
            let (h, rows) = if ext == Some("csv") {
                read_csv(&entry)
            } else {
                read_jsonl(&entry)
            };
            write_rows(&out.with_extension(""), choose(n), &h, &rows);
            n += 1;
        } else {
            std::fs::copy(&entry, &out).unwrap();
        }
    }
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Reads a JSONL file of flat objects into header (first-seen key order) and rows of text cells.
pub fn read_jsonl(path: &Path) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let objs: Vec<serde_json::Map<String, serde_json::Value>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut headers: Vec<String> = Vec::new();
    for o in &objs {
        for k in o.keys() {
            if !headers.contains(k) {
                headers.push(k.clone());
            }
        }
    }
    let rows = objs
        .iter()
        .map(|o| {
            headers
                .iter()
                .map(|h| match o.get(h) {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(s)) => (!s.is_empty()).then(|| s.clone()),
                    Some(v) => Some(v.to_string()),
                })
                .collect()
        })
        .collect();
    (headers, rows)
}

/// A generated dataset with every kind of dirt (duplicates, retried request ids, malformed rows)
/// in mixed formats.
pub fn dirty_mixed(root: &Path, scenario: &str, seed: u64, deliveries: u64) {
    let mut args = leakscope_simulator::GenerateArgs::new(scenario, seed, deliveries, root);
    args.format = "mixed".to_string();
    args.dirty = true;
    leakscope_simulator::generate(&args).unwrap();
}
