//! The hand-worked rule cases, `tests/cases/*.case` (format: `tests/cases/README.md`), each run
//! through all three implementations of docs/SEMANTICS.md: the plain-Rust reference, the library
//! (`leakscope::analyze::analyze`) and the binary (`leakscope analyze`). Each must give every
//! delivery exactly the class the case expects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::common;
use crate::differential::{describe, engine_verdicts, verdict_name, write_dataset, Layout};
use crate::reference::{
    CacheEvent, CacheOp, Dataset, Delivery, OwnOp, OwnershipEvent, SessionEvent, SessionOp, BASE,
};

/// What a case may expect of a delivery: a class, or for `unresolved` its reason.
const CLASSES: [&str; 6] = crate::differential::VERDICT_NAMES;

/// So that the runner cannot pass by finding nothing.
const AT_LEAST_FILES: usize = 13;

/// One `[expect]` section: the settings it runs with and the class of every delivery.
#[derive(Debug)]
struct Variant {
    /// `expect`, or `expect tolerance = "0ms"` for a section that changes a setting.
    label: String,
    tolerance_ms: i64,
    session_ttl_ms: i64,
    /// `ownership_snapshots = "true"`: the ownership rows are registry snapshots.
    snapshots: bool,
    /// request_id → expected class.
    expect: BTreeMap<String, &'static str>,
}

#[derive(Debug)]
struct Case {
    /// The file name, for messages.
    name: String,
    /// The tables, with the settings of `[dataset.toml]`.
    dataset: Dataset,
    variants: Vec<Variant>,
}

/// A table section: its header and its rows, each with its line number.
struct Table {
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// The value of `column` in `row`; None when the column is not in the header or the cell
    /// is empty.
    fn get<'a>(&self, row: &'a [String], column: &str) -> Option<&'a str> {
        let i = self.header.iter().position(|h| h == column)?;
        Some(row[i].as_str()).filter(|v| !v.is_empty())
    }
}

/// `T+<seconds>`, fractions down to the millisecond, as epoch milliseconds.
fn parse_time(cell: &str) -> Result<i64, String> {
    let secs = cell
        .strip_prefix("T+")
        .ok_or_else(|| format!("time {cell:?} is not T+<seconds>"))?;
    let (whole, frac) = secs.split_once('.').unwrap_or((secs, ""));
    let bad = || format!("time {cell:?}: seconds with at most three decimals");
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
    Ok(BASE + whole * 1000 + frac)
}

/// A duration as dataset.toml writes it: `<number><unit>`, unit ms, s, m, h or d.
fn parse_duration(text: &str) -> Result<i64, String> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("duration {text:?} has no unit"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("duration {text:?}: not a number"))?;
    let unit_ms = match unit {
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3_600e3,
        "d" => 86_400e3,
        _ => return Err(format!("duration {text:?}: unknown unit {unit:?}")),
    };
    Ok((number * unit_ms).round() as i64)
}

/// The settings a case runs with.
#[derive(Debug, Clone, Copy)]
struct Settings {
    tolerance_ms: i64,
    ttl_ms: i64,
    snapshots: bool,
}

/// `key = "value"` of `[dataset.toml]` or of an `[expect key = "value"]` header, applied to
/// the tolerance, the session TTL and whether ownership rows are registry snapshots.
fn apply_setting(line: &str, s: &mut Settings) -> Result<(), String> {
    let (key, value) = line
        .split_once('=')
        .ok_or_else(|| format!("{line:?} is not key = \"value\""))?;
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or_else(|| format!("{line:?}: the value must be quoted"))?;
    match key.trim() {
        "tolerance" => s.tolerance_ms = parse_duration(value)?,
        "session_ttl" => s.ttl_ms = parse_duration(value)?,
        "ownership_snapshots" => {
            s.snapshots = match value {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(format!(
                        "ownership_snapshots {value:?}: \"true\" or \"false\""
                    ))
                }
            }
        }
        other => {
            return Err(format!(
                "unknown setting {other:?} (tolerance, session_ttl, ownership_snapshots)"
            ))
        }
    }
    Ok(())
}

/// Columns each table must have, and the ones it may have.
fn columns(kind: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        "sessions" => (&["ts", "session_id", "event"], &["account_id"]),
        "cache" => (
            &["ts", "cache_node", "cache_key", "op"],
            &["object_id", "origin_stream_id", "captured_at"],
        ),
        // A registry snapshot's rows need no event.
        "ownership" => (&["ts", "stream_id", "account_id"], &["event"]),
        "deliveries" => (
            &["ts", "request_id", "session_id", "cache_node", "cache_key"],
            &[
                "requested_stream_id",
                "cache_status",
                "origin_stream_id",
                "object_id",
                "captured_at",
            ],
        ),
        _ => unreachable!("a table kind"),
    }
}

/// Parses one case file; errors say `file:line: what`.
fn parse_case(name: &str, text: &str) -> Result<Case, String> {
    let at = |line: usize, msg: String| format!("{name}:{line}: {msg}");
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut settings = Settings {
        tolerance_ms: 2_000,
        ttl_ms: 24 * 3_600_000,
        snapshots: false,
    };
    // (label, settings written in the header, line, expectations with their lines)
    type Section = (String, String, usize, Vec<(usize, String, String)>);
    let mut expects: Vec<Section> = Vec::new();
    let mut section: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let head = head.trim();
            match head {
                "dataset.toml" | "sessions" | "cache" | "ownership" | "deliveries" => {
                    if head != "dataset.toml" && tables.contains_key(head) {
                        return Err(at(line_no, format!("a second [{head}]")));
                    }
                }
                _ => {
                    let Some(settings) = head.strip_prefix("expect") else {
                        return Err(at(line_no, format!("unknown section [{head}]")));
                    };
                    expects.push((
                        head.to_string(),
                        settings.trim().to_string(),
                        line_no,
                        Vec::new(),
                    ));
                }
            }
            section = Some(head.to_string());
            continue;
        }
        match section.as_deref() {
            None => return Err(at(line_no, "text before the first [section]".into())),
            Some("dataset.toml") => {
                apply_setting(line, &mut settings).map_err(|e| at(line_no, e))?
            }
            Some(kind @ ("sessions" | "cache" | "ownership" | "deliveries")) => {
                let cells: Vec<String> = line.split(',').map(|c| c.trim().to_string()).collect();
                match tables.get_mut(kind) {
                    None => {
                        let (required, optional) = columns(kind);
                        for c in &cells {
                            if !required.contains(&c.as_str()) && !optional.contains(&c.as_str()) {
                                return Err(at(line_no, format!("[{kind}] has no column {c:?}")));
                            }
                        }
                        if let Some(m) = required.iter().find(|r| !cells.iter().any(|c| c == *r)) {
                            return Err(at(line_no, format!("[{kind}] needs a column {m:?}")));
                        }
                        tables.insert(
                            kind.to_string(),
                            Table {
                                header: cells,
                                rows: Vec::new(),
                            },
                        );
                    }
                    Some(t) => {
                        if cells.len() != t.header.len() {
                            return Err(at(
                                line_no,
                                format!("{} cells, the header has {}", cells.len(), t.header.len()),
                            ));
                        }
                        t.rows.push((line_no, cells));
                    }
                }
            }
            Some(_) => {
                let (entry, _comment) = line.split_once('#').unwrap_or((line, ""));
                let mut words = entry.split_whitespace();
                let (Some(rid), Some(class), None) = (words.next(), words.next(), words.next())
                else {
                    return Err(at(
                        line_no,
                        format!("{line:?} is not `<request_id> <class>`"),
                    ));
                };
                let last = expects.last_mut().expect("inside an [expect] section");
                last.3.push((line_no, rid.to_string(), class.to_string()));
            }
        }
    }

    let empty = || Table {
        header: Vec::new(),
        rows: Vec::new(),
    };
    let take =
        |tables: &mut BTreeMap<String, Table>, k: &str| tables.remove(k).unwrap_or_else(empty);
    let (sessions, cache, ownership, deliveries) = (
        take(&mut tables, "sessions"),
        take(&mut tables, "cache"),
        take(&mut tables, "ownership"),
        take(&mut tables, "deliveries"),
    );
    let time = |t: &Table, row: &[String], line: usize, col: &str| -> Result<Option<i64>, String> {
        t.get(row, col)
            .map(parse_time)
            .transpose()
            .map_err(|e| at(line, e))
    };
    let need = |t: &Table, row: &[String], line: usize, col: &str| -> Result<String, String> {
        t.get(row, col)
            .map(str::to_string)
            .ok_or_else(|| at(line, format!("{col} is empty")))
    };
    let mut ds = Dataset::new();
    ds.tolerance_ms = settings.tolerance_ms;
    ds.session_ttl_ms = settings.ttl_ms;
    ds.snapshots = settings.snapshots;
    for (line, row) in &sessions.rows {
        let (t, line) = (&sessions, *line);
        let event = match need(t, row, line, "event")?.as_str() {
            "start" => SessionOp::Start,
            "end" => SessionOp::End,
            e => return Err(at(line, format!("session event {e:?} (start, end)"))),
        };
        let account_id = t.get(row, "account_id").map(str::to_string);
        if event == SessionOp::Start && account_id.is_none() {
            return Err(at(line, "a start needs an account_id".into()));
        }
        ds.sessions.push(SessionEvent {
            ts: time(t, row, line, "ts")?.ok_or_else(|| at(line, "ts is empty".into()))?,
            session_id: need(t, row, line, "session_id")?,
            event,
            account_id,
        });
    }
    for (line, row) in &cache.rows {
        let (t, line) = (&cache, *line);
        let op = match need(t, row, line, "op")?.as_str() {
            "fill" => CacheOp::Fill,
            "evict" => CacheOp::Evict,
            "purge" => CacheOp::Purge,
            o => return Err(at(line, format!("cache op {o:?} (fill, evict, purge)"))),
        };
        let e = CacheEvent {
            ts: time(t, row, line, "ts")?.ok_or_else(|| at(line, "ts is empty".into()))?,
            node: need(t, row, line, "cache_node")?,
            key: need(t, row, line, "cache_key")?,
            op,
            object_id: t.get(row, "object_id").map(str::to_string),
            origin_stream_id: t.get(row, "origin_stream_id").map(str::to_string),
            captured_at: time(t, row, line, "captured_at")?,
        };
        let fill = op == CacheOp::Fill;
        if fill != (e.object_id.is_some() && e.origin_stream_id.is_some())
            || (!fill && e.captured_at.is_some())
        {
            return Err(at(
                line,
                "a fill names object_id and origin_stream_id, an evict or purge nothing".into(),
            ));
        }
        ds.cache.push(e);
    }
    for (line, row) in &ownership.rows {
        let (t, line) = (&ownership, *line);
        let event = match (ds.snapshots, t.get(row, "event")) {
            (true, None | Some("bind")) => "bind".to_string(),
            (true, Some("grant")) => "grant".to_string(),
            (true, Some(e)) => {
                return Err(at(
                    line,
                    format!("a snapshot row lists an owner or shared access, not {e:?}"),
                ))
            }
            (false, _) => need(t, row, line, "event")?,
        };
        let event = match event.as_str() {
            "bind" => OwnOp::Bind,
            "unbind" => OwnOp::Unbind,
            "grant" => OwnOp::Grant,
            "revoke" => OwnOp::Revoke,
            e => return Err(at(line, format!("ownership event {e:?}"))),
        };
        ds.ownership.push(OwnershipEvent {
            ts: time(t, row, line, "ts")?.ok_or_else(|| at(line, "ts is empty".into()))?,
            stream_id: need(t, row, line, "stream_id")?,
            account_id: need(t, row, line, "account_id")?,
            event,
        });
    }
    for (line, row) in &deliveries.rows {
        let (t, line) = (&deliveries, *line);
        let default = |col: &str, value: &str| t.get(row, col).unwrap_or(value).to_string();
        let rid = need(t, row, line, "request_id")?;
        if ds.deliveries.iter().any(|d| d.request_id == rid) {
            return Err(at(line, format!("request_id {rid} twice")));
        }
        ds.deliveries.push(Delivery {
            request_id: rid,
            ts: time(t, row, line, "ts")?.ok_or_else(|| at(line, "ts is empty".into()))?,
            session_id: need(t, row, line, "session_id")?,
            requested_stream_id: default("requested_stream_id", "req"),
            cache_node: need(t, row, line, "cache_node")?,
            cache_key: need(t, row, line, "cache_key")?,
            cache_status: default("cache_status", "hit"),
            object_id: t.get(row, "object_id").map(str::to_string),
            origin_stream_id: t.get(row, "origin_stream_id").map(str::to_string),
            captured_at: time(t, row, line, "captured_at")?,
        });
    }
    if ds.deliveries.is_empty() {
        return Err(format!("{name}: no [deliveries]"));
    }
    if expects.is_empty() {
        return Err(format!("{name}: no [expect] section"));
    }

    let mut variants = Vec::new();
    for (label, header, line, entries) in expects {
        let mut set = settings;
        if !header.is_empty() {
            apply_setting(&header, &mut set).map_err(|e| at(line, e))?;
        }
        let mut expect = BTreeMap::new();
        for (l, rid, class) in entries {
            let class = CLASSES
                .iter()
                .find(|c| **c == class)
                .ok_or_else(|| at(l, format!("class {class:?}, not one of {CLASSES:?}")))?;
            if !ds.deliveries.iter().any(|d| d.request_id == rid) {
                return Err(at(l, format!("{rid} is not a request_id of [deliveries]")));
            }
            if expect.insert(rid.clone(), *class).is_some() {
                return Err(at(l, format!("{rid} expected twice")));
            }
        }
        if let Some(d) = ds
            .deliveries
            .iter()
            .find(|d| !expect.contains_key(&d.request_id))
        {
            return Err(at(
                line,
                format!("[{label}] has no class for {}", d.request_id),
            ));
        }
        variants.push(Variant {
            label,
            tolerance_ms: set.tolerance_ms,
            session_ttl_ms: set.ttl_ms,
            snapshots: set.snapshots,
            expect,
        });
    }
    Ok(Case {
        name: name.to_string(),
        dataset: ds,
        variants,
    })
}

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Every `tests/cases/*.case`, parsed, in file-name order.
fn all_cases() -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(case_dir())
        .expect("tests/cases exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(p).unwrap();
            parse_case(&name, &text).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

/// Every variant of every case written as a dataset under `into`, with its name.
pub fn case_datasets(into: &Path) -> Vec<(String, PathBuf)> {
    let mut written = Vec::new();
    for case in all_cases() {
        for (i, variant) in case.variants.iter().enumerate() {
            let mut ds = case.dataset.clone();
            ds.tolerance_ms = variant.tolerance_ms;
            ds.session_ttl_ms = variant.session_ttl_ms;
            ds.snapshots = variant.snapshots;
            let dir = into.join(format!("{}-{i}", case.name.trim_end_matches(".case")));
            write_dataset(&dir, &ds, &Layout::plain());
            written.push((format!("{} [{}]", case.name, variant.label), dir));
        }
    }
    written
}

/// The class of every delivery as the binary's outputs give it: `verdicts.parquet` for every
/// row, checked against `leaks.csv`, `unresolved.csv` (with its reason) and `summary.json`.
fn binary_classes(dataset: &Path) -> Result<BTreeMap<String, String>, String> {
    let out = tempfile::tempdir().unwrap();
    let o = common::analyze(dataset, out.path(), &[]);
    if !o.status.success() {
        return Err(format!(
            "leakscope analyze failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let out = out.path();
    let file = std::fs::File::open(out.join("verdicts.parquet")).map_err(|e| e.to_string())?;
    let df = ParquetReader::new(file)
        .finish()
        .map_err(|e| format!("verdicts.parquet: {e}"))?;
    let text = |name: &str| -> Result<Vec<Option<String>>, String> {
        let c = df
            .column(name)
            .map_err(|e| format!("verdicts.parquet: {e}"))?;
        let s = c
            .str()
            .map_err(|e| format!("verdicts.parquet {name}: {e}"))?;
        Ok(s.iter().map(|v| v.map(str::to_string)).collect())
    };
    let mut classes = BTreeMap::new();
    for ((rid, class), reason) in text("request_id")?
        .into_iter()
        .zip(text("class")?)
        .zip(text("reason")?)
    {
        let rid = rid.ok_or("verdicts.parquet: a row without request_id")?;
        let class = class.ok_or("verdicts.parquet: a row without class")?;
        let got = match (class.as_str(), reason) {
            ("unresolved", Some(r)) => r,
            (c, None) => c.to_string(),
            (c, Some(r)) => format!("{c} with reason {r}"),
        };
        if classes.insert(rid.clone(), got).is_some() {
            return Err(format!("verdicts.parquet: {rid} twice"));
        }
    }

    let rows = |file: &str, cols: [&str; 2]| -> BTreeSet<(String, String)> {
        let (header, rows) = common::read_csv(&out.join(file));
        let ix = cols.map(|c| header.iter().position(|h| h == c));
        rows.iter()
            .map(|r| {
                let cell = |i: Option<usize>| i.and_then(|i| r[i].clone()).unwrap_or_default();
                (cell(ix[0]), cell(ix[1]))
            })
            .collect()
    };
    let of_class = |want: &dyn Fn(&str) -> bool| -> BTreeSet<(String, String)> {
        classes
            .iter()
            .filter(|(_, c)| want(c))
            .map(|(r, c)| (r.clone(), c.clone()))
            .collect()
    };
    let leaks: BTreeSet<(String, String)> = rows("leaks.csv", ["request_id", "request_id"])
        .into_iter()
        .map(|(r, _)| (r, "leak".to_string()))
        .collect();
    if leaks != of_class(&|c| c == "leak") {
        return Err(format!(
            "leaks.csv {leaks:?} and verdicts.parquet {:?} differ",
            of_class(&|c| c == "leak")
        ));
    }
    let unresolved = rows("unresolved.csv", ["request_id", "reason"]);
    let missing = |c: &str| c.starts_with("no_");
    if unresolved != of_class(&missing) {
        return Err(format!(
            "unresolved.csv {unresolved:?} and verdicts.parquet {:?} differ",
            of_class(&missing)
        ));
    }
    let summary = common::read_json(&out.join("summary.json"));
    for (key, count) in [
        ("deliveries", classes.len()),
        ("ok_deliveries", of_class(&|c| c == "ok").len()),
        ("leak_deliveries", leaks.len()),
        (
            "ambiguous_deliveries",
            of_class(&|c| c == "ambiguous").len(),
        ),
        ("unresolved_deliveries", unresolved.len()),
    ] {
        if summary[key].as_u64() != Some(count as u64) {
            return Err(format!(
                "summary.json {key} = {}, verdicts.parquet has {count}",
                summary[key]
            ));
        }
    }
    Ok(classes)
}

/// Runs one variant of a case through the three; one line per delivery an implementation
/// gets wrong.
fn check(case: &Case, variant: &Variant) -> Vec<String> {
    let mut ds = case.dataset.clone();
    ds.tolerance_ms = variant.tolerance_ms;
    ds.session_ttl_ms = variant.session_ttl_ms;
    ds.snapshots = variant.snapshots;
    let layout = Layout::plain();
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path(), &ds, &layout);

    let reference: BTreeMap<String, (String, String)> = ds
        .verdicts()
        .into_iter()
        .map(|(rid, v)| (rid, (verdict_name(v).to_string(), String::new())))
        .collect();
    let library = engine_verdicts(dir.path()).map(|m| {
        m.into_iter()
            .map(|(rid, (name, evidence))| (rid, (name.to_string(), evidence)))
            .collect()
    });
    let binary = binary_classes(dir.path()).map(|m| {
        m.into_iter()
            .map(|(rid, class)| (rid, (class, String::new())))
            .collect()
    });

    let whose = format!("{} [{}]", case.name, variant.label);
    let mut failures = Vec::new();
    for (who, got) in [
        ("reference", Ok(reference)),
        ("library", library),
        ("binary", binary),
    ] {
        let got: BTreeMap<String, (String, String)> = match got {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{whose}: {who}: {e}"));
                continue;
            }
        };
        for (rid, want) in &variant.expect {
            match got.get(rid) {
                Some((g, _)) if g == want => {}
                Some((g, evidence)) => failures.push(format!(
                    "{whose} {rid}: expected {want}, {who} got {g}{}",
                    if evidence.is_empty() {
                        String::new()
                    } else {
                        format!(" ({evidence})")
                    }
                )),
                None => failures.push(format!(
                    "{whose} {rid}: expected {want}, {who} has no verdict"
                )),
            }
        }
        for rid in got.keys().filter(|r| !variant.expect.contains_key(*r)) {
            failures.push(format!("{whose}: {who} has a verdict for unknown {rid}"));
        }
    }
    if !failures.is_empty() {
        failures.push(format!("{whose} dataset:\n{}", describe(&ds, &layout)));
    }
    failures
}

#[test]
fn every_case_gives_its_expected_classes_in_reference_library_and_binary() {
    let cases = all_cases();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &cases {
        for variant in &case.variants {
            failures.extend(check(case, variant));
            checked += variant.expect.len();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!(
        "{} case files, {checked} deliveries checked three ways",
        cases.len()
    );
}

/// The runner must not pass by finding no cases, or cases that never exercise a class.
#[test]
fn the_cases_cover_every_class() {
    let cases = all_cases();
    assert!(
        cases.len() >= AT_LEAST_FILES,
        "only {} case files in {}, expected at least {AT_LEAST_FILES}",
        cases.len(),
        case_dir().display()
    );
    let seen: BTreeSet<&str> = cases
        .iter()
        .flat_map(|c| &c.variants)
        .flat_map(|v| v.expect.values().copied())
        .collect();
    for class in CLASSES {
        assert!(seen.contains(class), "no case expects {class}");
    }
    assert!(
        cases
            .iter()
            .any(|c| c.variants.iter().any(|v| v.tolerance_ms == 0)),
        "no case runs with tolerance 0"
    );
}

#[test]
fn a_malformed_case_is_an_error_at_its_line() {
    let base = "[sessions]\nts,session_id,event,account_id\nT+0,s1,start,alice\n\
                [deliveries]\nts,request_id,session_id,cache_node,cache_key\nT+1,r1,s1,n,k\n";
    for (extra, want) in [
        ("[expect]\n", "x.case:7: [expect] has no class for r1"),
        ("[expect]\nr1 fine\n", "x.case:8: class \"fine\""),
        (
            "[expect]\nr1 ok\nr2 ok\n",
            "x.case:9: r2 is not a request_id",
        ),
        (
            "[expect tolerance = 0]\nr1 ok\n",
            "x.case:7: \"tolerance = 0\": the value must be quoted",
        ),
        (
            "[expect]\nr1 ok\n[cache]\nts,node\n",
            "x.case:10: [cache] has no column \"node\"",
        ),
    ] {
        let err = parse_case("x.case", &format!("{base}{extra}")).unwrap_err();
        assert!(err.starts_with(want), "{err:?} should start with {want:?}");
    }
    assert_eq!(parse_time("T+1.5"), Ok(BASE + 1_500));
    assert_eq!(parse_time("T+97.999"), Ok(BASE + 97_999));
    assert!(parse_time("T+1.0005").is_err());
    assert_eq!(parse_duration("1.5s"), Ok(1_500));
    assert_eq!(parse_duration("60s"), Ok(60_000));
}
