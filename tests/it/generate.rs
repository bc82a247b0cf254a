//! Integration tests of `leakscope generate`: determinism, truth consistency, dirty-mode coverage,
//! the incident stories, and an independent re-derivation of the truth from the written logs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use leakscope_simulator::dirty::applicable;
use leakscope_simulator::rows::LogKind;
use leakscope_simulator::writer::Container;
use leakscope_simulator::{generate, GenerateArgs, Report};

const SCENARIOS: [&str; 3] = ["cache-key-collision", "session-mixup", "auth-page-cache"];

fn gen(dir: &Path, scenario: &str, seed: u64, n: u64, format: &str, dirty: bool) -> Report {
    let mut a = GenerateArgs::new(scenario, seed, n, dir);
    a.format = format.to_string();
    a.dirty = dirty;
    a.force = true;
    generate(&a).unwrap_or_else(|e| panic!("generate {scenario} seed {seed}: {e:#}"))
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn truth(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap()
}

fn truth_leaks(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("truth_leaks.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("request_id"));
    lines.map(str::to_string).collect()
}

/// The non-row keys of a summary.
fn verdict_part(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove("rows");
    v
}

// ---------------------------------------------------------------------------------------------
// An independent oracle: contract §4 applied to the rows of a clean CSV dataset, written from
// the contract text alone (it shares no code with the generator).

type Rec = HashMap<String, String>;

fn read_csv(path: &Path) -> Vec<Rec> {
    let mut rdr = csv::Reader::from_path(path).unwrap();
    let headers: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .filter(|(_, v)| !v.is_empty())
                .map(|(h, v)| (h.clone(), v.to_string()))
                .collect()
        })
        .collect()
}

fn ms(s: &str) -> i64 {
    if let Ok(epoch) = s.parse::<i64>() {
        return epoch;
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .timestamp_millis()
}

/// A cache fill: (ts, object, origin stream, captured_at).
type Filled = (i64, String, String, Option<i64>);

#[derive(Default)]
struct Oracle {
    sessions: HashMap<String, Vec<(i64, Option<String>)>>,
    owners: HashMap<String, Vec<(i64, bool, String)>>,
    grants: HashMap<(String, String), Vec<(i64, bool)>>,
    fills: HashMap<(String, String), Vec<Filled>>,
    drops: HashMap<(String, String), Vec<i64>>,
    purges: HashMap<String, Vec<i64>>,
}

const TTL: i64 = 86_400_000;
const TOL: i64 = 2_000;

impl Oracle {
    fn load(dir: &Path) -> Oracle {
        let mut o = Oracle::default();
        for r in read_csv(&dir.join("sessions/sessions.csv")) {
            let start = r["event"].eq_ignore_ascii_case("start");
            o.sessions
                .entry(r["session_id"].clone())
                .or_default()
                .push((ms(&r["ts"]), start.then(|| r["account_id"].clone())));
        }
        for r in read_csv(&dir.join("ownership/ownership.csv")) {
            let t = ms(&r["ts"]);
            let (s, a) = (r["stream_id"].clone(), r["account_id"].clone());
            match r["event"].to_ascii_lowercase().as_str() {
                "bind" => o.owners.entry(s).or_default().push((t, true, a)),
                "unbind" => o.owners.entry(s).or_default().push((t, false, a)),
                "grant" => o.grants.entry((s, a)).or_default().push((t, true)),
                "revoke" => o.grants.entry((s, a)).or_default().push((t, false)),
                e => panic!("event {e}"),
            }
        }
        for r in read_csv(&dir.join("cache/cache.csv")) {
            let t = ms(&r["ts"]);
            let (n, k) = (r["cache_node"].clone(), r["cache_key"].clone());
            match r["op"].to_ascii_lowercase().as_str() {
                "fill" => o.fills.entry((n, k)).or_default().push((
                    t,
                    r["object_id"].clone(),
                    r["origin_stream_id"].clone(),
                    r.get("captured_at").map(|c| ms(c)),
                )),
                "purge" if k == "*" => o.purges.entry(n).or_default().push(t),
                _ => o.drops.entry((n, k)).or_default().push(t),
            }
        }
        for v in o.sessions.values_mut() {
            v.sort();
        }
        for v in o.owners.values_mut() {
            v.sort();
        }
        for v in o.grants.values_mut() {
            // At one millisecond, revoke wins: it sorts last.
            v.sort_by_key(|e| (e.0, !e.1));
        }
        for v in o.fills.values_mut() {
            v.sort();
        }
        o
    }

    fn recipient(&self, s: &str, at: i64) -> Option<String> {
        let ev = self.sessions.get(s)?;
        let (st, acct) = ev
            .iter()
            .rev()
            .find(|e| e.0 <= at && e.1.is_some())?
            .clone();
        let end = ev
            .iter()
            .filter(|e| e.1.is_none() && e.0 >= st)
            .map(|e| e.0)
            .min()
            .unwrap_or(i64::MAX);
        (at < end.min(st + TTL)).then(|| acct.unwrap())
    }

    fn owner(&self, stream: &str, at: i64) -> Option<String> {
        let (_, bind, a) = self.owners.get(stream)?.iter().rev().find(|e| e.0 <= at)?;
        bind.then(|| a.clone())
    }

    fn granted(&self, stream: &str, acct: &str, at: i64) -> bool {
        match self.grants.get(&(stream.to_string(), acct.to_string())) {
            Some(ev) => ev
                .iter()
                .rev()
                .find(|e| e.0 <= at)
                .map(|e| e.1)
                .unwrap_or(false),
            None => false,
        }
    }

    fn cached(&self, node: &str, key: &str, at: i64) -> Option<Filled> {
        let k = (node.to_string(), key.to_string());
        let f = self
            .fills
            .get(&k)?
            .iter()
            .rev()
            .find(|f| f.0 <= at)?
            .clone();
        let dropped = |ts: &Vec<i64>| ts.iter().any(|&t| t > f.0 && t <= at);
        if self.drops.get(&k).map(dropped).unwrap_or(false)
            || self.purges.get(node).map(dropped).unwrap_or(false)
        {
            return None;
        }
        Some(f)
    }

    /// (authorized, subject, recipient, object) at shift d, or which thing is missing.
    fn look(
        &self,
        d: &Rec,
        shift: i64,
    ) -> Result<(bool, String, String, Option<String>), &'static str> {
        let t = ms(&d["ts"]) + shift;
        let recipient = self.recipient(&d["session_id"], t).ok_or("no_session")?;
        let (origin, capture, object) = match d.get("origin_stream_id") {
            Some(o) => (
                o.clone(),
                d.get("captured_at").map(|c| ms(c)).unwrap_or(ms(&d["ts"])) + shift,
                d.get("object_id").cloned(),
            ),
            None => {
                let f = self
                    .cached(&d["cache_node"], &d["cache_key"], t)
                    .ok_or("no_content")?;
                // Content from the cache is wholly the cache's: its capture time is the fill's
                // `captured_at`, else the fill time (the generator only ever logs, on a hit, the
                // fill's own `captured_at`, so the other reading gives the same answer).
                let cap = f.3.unwrap_or(f.0);
                (f.2, cap + shift, Some(f.1))
            }
        };
        let subject = self.owner(&origin, capture).ok_or("no_owner")?;
        let ok = recipient == subject || self.granted(&origin, &recipient, t);
        Ok((ok, subject, recipient, object))
    }

    /// The summary keys (except rows) and the sorted leak ids.
    fn judge(&self, deliveries: &[Rec]) -> (serde_json::Value, Vec<String>) {
        let (mut leak, mut amb, mut unres, mut viewed) = (0u64, 0u64, 0u64, 0u64);
        let mut exposed = BTreeSet::new();
        let mut recips = BTreeSet::new();
        let mut pairs = BTreeSet::new();
        let mut objects = BTreeSet::new();
        let mut exposed_viewed = BTreeSet::new();
        let mut ids = Vec::new();
        let mut times = Vec::new();
        for d in deliveries {
            let Ok((ok, s, r, o)) = self.look(d, 0) else {
                unres += 1;
                continue;
            };
            let flips = [-TOL, TOL]
                .iter()
                .any(|&x| matches!(self.look(d, x), Ok((v, ..)) if v != ok));
            if flips {
                amb += 1;
            } else if !ok {
                leak += 1;
                if d.get("viewed")
                    .map(|v| v.eq_ignore_ascii_case("true"))
                    .unwrap_or(false)
                {
                    viewed += 1;
                    exposed_viewed.insert(s.clone());
                }
                exposed.insert(s.clone());
                recips.insert(r.clone());
                pairs.insert((s, r));
                if let Some(o) = o {
                    objects.insert(o);
                }
                ids.push(d["request_id"].clone());
                times.push(ms(&d["ts"]));
            }
        }
        ids.sort();
        let fmt = |t: Option<&i64>| {
            t.map(|&t| {
                chrono::DateTime::from_timestamp_millis(t)
                    .unwrap()
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string()
            })
        };
        let summary = serde_json::json!({
            "deliveries": deliveries.len(),
            "leak_deliveries": leak,
            "ambiguous_deliveries": amb,
            "unresolved_deliveries": unres,
            "exposed_accounts": exposed.len(),
            "recipient_accounts": recips.len(),
            "exposure_pairs": pairs.len(),
            "leaked_objects": objects.len(),
            "viewed_leak_deliveries": viewed,
            "exposed_accounts_viewed": exposed_viewed.len(),
            "first_leak": fmt(times.iter().min()),
            "last_leak": fmt(times.iter().max()),
        });
        (summary, ids)
    }
}

#[test]
fn an_independent_oracle_agrees_with_the_truth() {
    for scenario in SCENARIOS {
        for seed in [1, 2] {
            let dir = tmp();
            let report = gen(dir.path(), scenario, seed, 8_000, "csv", false);
            let deliveries = read_csv(&dir.path().join("deliveries/deliveries.csv"));
            let (summary, ids) = Oracle::load(dir.path()).judge(&deliveries);
            let t = truth(dir.path());
            assert_eq!(summary, verdict_part(&t), "{scenario} seed {seed}");
            assert_eq!(
                ids,
                truth_leaks(dir.path()),
                "{scenario} seed {seed}: leak set"
            );
            assert!(
                report.truth["leak_deliveries"].as_u64().unwrap() > 10,
                "{scenario}: too few leaks"
            );
        }
    }
}

/// The cache-heavy shape: a cache row or more per delivery, a session row per ten, epoch
/// milliseconds everywhere; its truth holds by the oracle and by leakscope.
#[test]
fn the_cache_heavy_shape_is_busy_and_its_truth_holds() {
    for scenario in SCENARIOS {
        let dir = tmp();
        let mut a = GenerateArgs::new(scenario, 1, 8_000, dir.path());
        a.shape = leakscope_simulator::shape::Shape::CacheHeavy;
        a.force = true;
        generate(&a).unwrap_or_else(|e| panic!("generate {scenario}: {e:#}"));
        let rows = |kind: &str| read_csv(&dir.path().join(format!("{kind}/{kind}.csv")));
        let (deliveries, cache, sessions) = (rows("deliveries"), rows("cache"), rows("sessions"));
        assert_eq!(deliveries.len(), 8_000, "{scenario}");
        assert!(
            cache.len() >= deliveries.len(),
            "{scenario}: {} cache rows",
            cache.len()
        );
        assert!(
            sessions.len() * 10 >= deliveries.len(),
            "{scenario}: {} session rows",
            sessions.len()
        );
        for r in deliveries.iter().chain(&cache).chain(&sessions) {
            for col in ["ts", "captured_at"] {
                if let Some(v) = r.get(col) {
                    assert!(
                        v.parse::<i64>().is_ok(),
                        "{scenario}: {col} = {v:?} is not epoch ms"
                    );
                }
            }
        }
        let t = truth(dir.path());
        let (summary, ids) = Oracle::load(dir.path()).judge(&deliveries);
        assert_eq!(summary, verdict_part(&t), "{scenario}: oracle");
        assert_eq!(ids, truth_leaks(dir.path()), "{scenario}: leak set");
        let out = tmp();
        let got = crate::common::analyze_ok(dir.path(), out.path());
        for (k, v) in verdict_part(&t).as_object().unwrap() {
            assert_eq!(&got[k], v, "{scenario}: leakscope's {k}");
        }
    }
}

#[test]
fn truth_is_self_consistent_and_every_case_is_covered() {
    for scenario in SCENARIOS {
        let dir = tmp();
        let r = gen(dir.path(), scenario, 7, 6_000, "csv", false);
        let t = &r.truth;
        assert_eq!(t["deliveries"], 6_000);
        for kind in LogKind::ALL {
            let c = &t["rows"][kind.name()];
            let n = |k: &str| c[k].as_u64().unwrap();
            assert_eq!(
                n("read"),
                n("accepted") + n("rejected") + n("duplicates"),
                "{scenario} {}",
                kind.name()
            );
            assert_eq!(n("rejected"), 0, "clean data has no rejected rows");
            assert_eq!(n("duplicates"), 0, "clean data has no duplicates");
            assert!(n("read") > 0);
        }
        assert_eq!(t["rows"]["deliveries"]["accepted"], 6_000);
        let leaks = truth_leaks(dir.path());
        assert_eq!(leaks.len() as u64, t["leak_deliveries"].as_u64().unwrap());
        let mut sorted = leaks.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, leaks, "truth_leaks.csv is sorted and distinct");
        // Boundary cases are all there, and only the planned ones are ambiguous or unresolved.
        assert_eq!(r.unplanned, 0, "{scenario}: {:?}", r.by_cause);
        assert_eq!(r.stats.recipient_mismatch, 0);
        assert_eq!(r.specials_dropped, 0, "{scenario}");
        for cause in [
            "ambiguous:ambiguous_reauth",
            "ambiguous:ambiguous_grant",
            "ambiguous:ambiguous_revoke",
            "ambiguous:ambiguous_capture",
            "unresolved:no_session_orphan",
            "unresolved:no_session_after_ttl",
            "unresolved:no_content",
            "unresolved:no_owner",
            "unresolved:no_session_after_end",
            "ambiguous:ambiguous_refill",
            "leak:leak_after_first_fill",
            "leak:leak_cache_clock_skew",
            "leak:leak_after_revoke",
            "leak:leak_resale_clip",
            "leak:leak_stale_after_reauth",
            "ok:ok_after_start",
            "ok:ok_after_gap",
            "ok:ok_before_ttl",
            "ok:ok_grant_survives_resale",
            "ok:ok_server_clock_skew",
        ] {
            assert!(
                r.by_cause.get(cause).copied().unwrap_or(0) > 0,
                "{scenario}: no {cause}"
            );
        }
        let amb = t["ambiguous_deliveries"].as_u64().unwrap();
        let unres = t["unresolved_deliveries"].as_u64().unwrap();
        assert!(amb >= 4 && unres >= 4);
        let viewed = t["viewed_leak_deliveries"].as_u64().unwrap();
        assert!(
            viewed > 0 && viewed < t["leak_deliveries"].as_u64().unwrap(),
            "viewed on some leaks only"
        );
    }
}

#[test]
fn ordinary_traffic_never_lands_near_a_boundary_at_scale() {
    // Only the planned boundary cases may be ambiguous or unresolved, in bigger worlds too
    // (more sessions, more reconnects after the outage, more resales and grants).
    for scenario in SCENARIOS {
        let dir = tmp();
        let r = gen(dir.path(), scenario, 21, 60_000, "csv", false);
        assert_eq!(r.unplanned, 0, "{scenario}: {:?}", r.by_cause);
        assert_eq!(r.stats.recipient_mismatch, 0, "{scenario}");
        assert_eq!(r.specials_dropped, 0, "{scenario}");
    }
}

#[test]
fn same_arguments_give_the_same_bytes() {
    let (a, b, c) = (tmp(), tmp(), tmp());
    gen(a.path(), "session-mixup", 11, 3_000, "mixed", true);
    gen(b.path(), "session-mixup", 11, 3_000, "mixed", true);
    gen(c.path(), "session-mixup", 12, 3_000, "mixed", true);
    let (ta, tb, tc) = (tree(a.path()), tree(b.path()), tree(c.path()));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, v) in &ta {
        assert!(v == &tb[k], "{k} differs between two identical runs");
    }
    assert_ne!(
        ta.get("truth.json"),
        tc.get("truth.json"),
        "another seed, another world"
    );
    // Parquet too.
    let (p, q) = (tmp(), tmp());
    gen(p.path(), "auth-page-cache", 3, 2_000, "parquet", false);
    gen(q.path(), "auth-page-cache", 3, 2_000, "parquet", false);
    assert_eq!(tree(p.path()), tree(q.path()));
}

#[test]
fn dirty_mode_changes_the_files_not_the_verdicts() {
    for scenario in SCENARIOS {
        let (clean, dirty) = (tmp(), tmp());
        let c = gen(clean.path(), scenario, 5, 4_000, "csv", false);
        let d = gen(dirty.path(), scenario, 5, 4_000, "mixed", true);
        assert_eq!(verdict_part(&c.truth), verdict_part(&d.truth), "{scenario}");
        assert_eq!(truth_leaks(clean.path()), truth_leaks(dirty.path()));
        for kind in LogKind::ALL {
            let (cr, dr) = (&c.truth["rows"][kind.name()], &d.truth["rows"][kind.name()]);
            assert_eq!(
                cr["accepted"],
                dr["accepted"],
                "{scenario} {}: same distinct rows",
                kind.name()
            );
            assert!(
                dr["rejected"].as_u64().unwrap() > 0,
                "{}: malformed rows",
                kind.name()
            );
            assert!(
                dr["duplicates"].as_u64().unwrap() > 0,
                "{}: duplicates",
                kind.name()
            );
        }
    }
}

/// Decoded text of a CSV or JSONL file, whatever its compression.
fn text_of(path: &Path) -> Option<String> {
    let name = path.to_string_lossy().to_string();
    let bytes = std::fs::read(path).unwrap();
    let mut out = String::new();
    if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_string(&mut out)
            .unwrap();
    } else if name.ends_with(".zst") {
        zstd::stream::read::Decoder::new(bytes.as_slice())
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
    } else if name.ends_with(".csv") || name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        out = String::from_utf8(bytes).unwrap();
    } else {
        return None;
    }
    Some(out)
}

fn is_timestamp(v: &str) -> bool {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    chrono::DateTime::parse_from_rfc3339(v).is_ok()
        || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f").is_ok()
}

/// Scans the text files of one kind: (rows by column, short CSV records, invalid JSON lines, blank JSON lines).
fn scan(dir: &Path, kind: &str) -> (Vec<HashMap<String, String>>, usize, usize, usize) {
    let mut rows = Vec::new();
    let (mut short, mut bad_json, mut blank) = (0, 0, 0);
    for (rel, _) in tree(&dir.join(kind)) {
        let path = dir.join(kind).join(&rel);
        let Some(text) = text_of(&path) else { continue };
        if rel.contains(".csv") {
            let text = text.trim_start_matches('\u{feff}');
            let mut rdr = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(text.as_bytes());
            let headers: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
            for rec in rdr.records() {
                let rec = rec.unwrap();
                if rec.len() != headers.len() {
                    short += 1;
                    continue;
                }
                rows.push(
                    headers
                        .iter()
                        .cloned()
                        .zip(rec.iter().map(str::to_string))
                        .collect(),
                );
            }
        } else {
            for line in text.lines() {
                if line.trim().is_empty() {
                    blank += 1;
                    continue;
                }
                match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line) {
                    Err(_) => bad_json += 1,
                    Ok(m) => rows.push(
                        m.into_iter()
                            .map(|(k, v)| {
                                let s = match v {
                                    serde_json::Value::String(s) => s,
                                    serde_json::Value::Null => String::new(),
                                    other => other.to_string(),
                                };
                                (k, s)
                            })
                            .collect(),
                    ),
                }
            }
        }
    }
    (rows, short, bad_json, blank)
}

#[test]
fn dirty_files_hold_every_defect() {
    let dir = tmp();
    let r = gen(dir.path(), "cache-key-collision", 9, 6_000, "mixed", true);
    // The generator's own account: every breakage of every kind was written.
    for kind in LogKind::ALL {
        for &mal in applicable(kind) {
            assert!(
                r.malformed.get(&(kind, mal)).copied().unwrap_or(0) > 0,
                "{} lacks {}",
                kind.name(),
                mal.name()
            );
        }
    }
    // And the files, read back independently, hold them.
    let (rows, short, bad_json, blank) = scan(dir.path(), "deliveries");
    assert!(short > 0, "a CSV record with the wrong number of fields");
    assert!(bad_json > 0, "an invalid JSON line");
    assert!(blank > 0, "a blank JSON Lines line (not a row)");
    let get = |r: &HashMap<String, String>, k: &str| r.get(k).cloned().unwrap_or_default();
    let count = |f: &dyn Fn(&HashMap<String, String>) -> bool| rows.iter().filter(|r| f(r)).count();
    assert!(
        count(&|r| {
            let s = get(r, "cache_status").to_ascii_lowercase();
            !s.is_empty() && !["hit", "miss", "bypass"].contains(&s.as_str())
        }) > 0
    );
    let required = [
        "ts",
        "session_id",
        "requested_stream_id",
        "cache_node",
        "cache_key",
        "cache_status",
    ];
    assert!(
        count(&|r| required.iter().any(|c| get(r, c).is_empty())) > 0,
        "a missing required value"
    );
    for col in ["bytes", "rtt_ms", "loss_pct"] {
        assert!(
            count(&|r| {
                let v = get(r, col);
                !v.is_empty() && v.parse::<f64>().is_err()
            }) > 0,
            "non-numeric {col}"
        );
    }
    assert!(
        count(&|r| {
            let v = get(r, "viewed").to_ascii_lowercase();
            !v.is_empty() && v != "true" && v != "false"
        }) > 0
    );
    assert!(
        count(&|r| {
            let v = get(r, "ts");
            !v.is_empty() && !is_timestamp(&v)
        }) > 0,
        "an unparseable ts"
    );
    assert!(
        count(&|r| {
            let v = get(r, "captured_at");
            !v.is_empty() && !is_timestamp(&v)
        }) > 0,
        "an unparseable captured_at"
    );
    // Repeated request ids, and exact copies.
    let mut by_id: HashMap<String, Vec<&HashMap<String, String>>> = HashMap::new();
    for row in &rows {
        by_id.entry(get(row, "request_id")).or_default().push(row);
    }
    assert!(by_id.values().any(|v| v.len() > 1), "repeated request ids");
    // Formats, compression and timestamp forms.
    let containers: BTreeSet<&str> = r.files.iter().map(|f| f.container.ext()).collect();
    for c in Container::ALL {
        assert!(containers.contains(c.ext()), "no {} file", c.ext());
    }
    let forms: BTreeSet<String> = r.files.iter().map(|f| f.ts_form.clone()).collect();
    for f in ["epoch ms", "naive local", "rfc3339 Z"] {
        assert!(forms.contains(f), "no file with {f} timestamps: {forms:?}");
    }
    assert!(
        forms.iter().any(|f| f.starts_with("rfc3339 +")),
        "an RFC 3339 offset form"
    );
    let toml = std::fs::read_to_string(dir.path().join("dataset.toml")).unwrap();
    assert!(toml.contains("timezone = \"Asia/Shanghai\""));
    assert!(toml.contains("[clock_offset_ms]") && toml.contains("\"cache-us-1\" = -1500"));
    // Split and unsorted: several delivery files, and at least one out of time order.
    let delivery_files = r
        .files
        .iter()
        .filter(|f| f.kind == LogKind::Deliveries)
        .count();
    assert!(delivery_files >= 5);
    let (sess, ..) = scan(dir.path(), "sessions");
    let ts: Vec<i64> = sess
        .iter()
        .filter_map(|r| get(r, "ts").parse::<i64>().ok())
        .collect();
    assert!(ts.windows(2).any(|w| w[0] > w[1]) || ts.is_empty());
}

#[test]
fn cache_key_collision_tells_the_xiaomi_story() {
    let dir = tmp();
    let r = gen(dir.path(), "cache-key-collision", 4, 10_000, "csv", false);
    let changes = read_csv(&dir.path().join("changes/changes.csv"));
    let at = |kind: &str, comp: &str| {
        changes
            .iter()
            .find(|c| c["kind"] == kind && c["component"] == comp)
            .map(|c| ms(&c["ts"]))
            .unwrap_or_else(|| panic!("no {kind} of {comp}"))
    };
    let deploy = at("deploy", "cache");
    let detection = at("detection", "security");
    let mitigation = at("mitigation", "google_home");
    assert!(deploy < detection && detection < mitigation);
    assert!(changes
        .iter()
        .any(|c| c["kind"] == "deploy" && c.get("version").map(String::as_str) == Some("v2")));
    // Fills stored under v2 are exactly those between the deploy and the mitigation.
    for f in read_csv(&dir.path().join("cache/cache.csv")) {
        if f["op"] == "fill" {
            if let Some(v) = f.get("config_version") {
                let t = ms(&f["ts"]);
                assert_eq!(v == "v2", t > deploy && t < mitigation, "{f:?}");
            }
        }
    }
    // The shared key's leaks all happen while the bug is live; most deliveries name no origin.
    let deliveries = read_csv(&dir.path().join("deliveries/deliveries.csv"));
    let by_id: HashMap<&str, &Rec> = deliveries
        .iter()
        .map(|d| (d["request_id"].as_str(), d))
        .collect();
    let details = read_csv(&dir.path().join("truth_details.csv"));
    let shared: Vec<&Rec> = details
        .iter()
        .filter(|d| d["cause"] == "shared_key")
        .collect();
    assert!(shared.len() > 20, "shared-key leaks: {}", shared.len());
    for d in &shared {
        let row = by_id[d["request_id"].as_str()];
        let t = ms(&row["ts"]);
        assert!(t > deploy && t < mitigation);
        assert_eq!(row["cache_key"], "still//lq");
        assert_eq!(row["cache_status"], "hit");
        assert!(
            !row.contains_key("origin_stream_id"),
            "the cache log must tell the content"
        );
        // A poor network, as the scenario's own condition has it: rtt ≥ 300 ms or loss ≥ 2 %.
        let rtt: i64 = row["rtt_ms"].parse().unwrap();
        let loss: f64 = row["loss_pct"].parse().unwrap();
        assert!(rtt >= 300 || loss >= 2.0, "{row:?}");
    }
    let without_origin = deliveries
        .iter()
        .filter(|d| !d.contains_key("origin_stream_id"))
        .count();
    assert!(
        without_origin * 2 > deliveries.len(),
        "{without_origin} of {}",
        deliveries.len()
    );
    assert!(r.stats.shared_key_hits > 0);
}

#[test]
fn session_mixup_and_auth_page_cache_tell_their_stories() {
    let dir = tmp();
    gen(dir.path(), "session-mixup", 4, 10_000, "csv", false);
    let deliveries = read_csv(&dir.path().join("deliveries/deliveries.csv"));
    let by_id: HashMap<&str, &Rec> = deliveries
        .iter()
        .map(|d| (d["request_id"].as_str(), d))
        .collect();
    let details = read_csv(&dir.path().join("truth_details.csv"));
    let misrouted: Vec<&Rec> = details
        .iter()
        .filter(|d| d["cause"] == "misrouted")
        .collect();
    assert!(misrouted.len() > 20);
    for d in &misrouted {
        let row = by_id[d["request_id"].as_str()];
        assert!(
            row.contains_key("origin_stream_id"),
            "mixups carry the origin"
        );
        assert_ne!(d["recipient_account"], d["subject_account"]);
    }
    // The outage: many sessions end in the same minute.
    let sessions = read_csv(&dir.path().join("sessions/sessions.csv"));
    let mut ends_per_minute: BTreeMap<i64, usize> = BTreeMap::new();
    for s in sessions.iter().filter(|s| s["event"] == "end") {
        *ends_per_minute.entry(ms(&s["ts"]) / 60_000).or_default() += 1;
    }
    assert!(ends_per_minute.values().max().copied().unwrap_or(0) >= 10);

    let dir = tmp();
    gen(dir.path(), "auth-page-cache", 4, 10_000, "csv", false);
    let accounts: HashMap<String, String> = read_csv(&dir.path().join("accounts/accounts.csv"))
        .into_iter()
        .map(|a| (a["account_id"].clone(), a["country"].clone()))
        .collect();
    let countries: BTreeSet<&String> = accounts.values().collect();
    assert!(countries.len() >= 8 && countries.contains(&"US".to_string()));
    let details = read_csv(&dir.path().join("truth_details.csv"));
    let shared: Vec<&Rec> = details
        .iter()
        .filter(|d| d["cause"] == "shared_page")
        .collect();
    assert!(shared.len() > 20);
    for d in shared {
        assert_eq!(accounts[&d["recipient_account"]], "DE");
        assert_eq!(accounts[&d["subject_account"]], "DE");
    }
}

#[test]
fn formats_are_what_was_asked_for() {
    for (format, ext) in [
        ("csv", ".csv"),
        ("jsonl", ".jsonl"),
        ("parquet", ".parquet"),
    ] {
        let dir = tmp();
        let r = gen(dir.path(), "auth-page-cache", 2, 2_000, format, false);
        assert_eq!(r.files.len(), 6);
        assert!(
            r.files.iter().all(|f| f.rel.ends_with(ext)),
            "{format}: {:?}",
            r.files
        );
        if format == "parquet" {
            use polars::prelude::*;
            let f = std::fs::File::open(dir.path().join("deliveries/deliveries.parquet")).unwrap();
            let df = ParquetReader::new(f).finish().unwrap();
            assert_eq!(df.height(), 2_000);
            assert!(matches!(
                df.column("ts").unwrap().dtype(),
                DataType::Datetime(TimeUnit::Milliseconds, Some(_))
            ));
        }
    }
    let dir = tmp();
    let r = gen(dir.path(), "auth-page-cache", 2, 2_000, "mixed", false);
    let exts: BTreeSet<&str> = r.files.iter().map(|f| f.container.ext()).collect();
    assert_eq!(exts.len(), 5, "{exts:?}");
}

#[test]
fn real_logs_are_nginx_and_keycloak_logs_with_no_cache_log() {
    let (a, b) = (tmp(), tmp());
    for dir in [&a, &b] {
        let mut args = GenerateArgs::new("session-mixup", 4, 2_000, dir.path());
        args.real_logs = true;
        generate(&args).unwrap();
    }
    let files = tree(a.path());
    assert!(files == tree(b.path()), "two identical runs differ");
    assert!(!a.path().join("cache").exists());
    let toml = String::from_utf8(files["mapping.toml"].clone()).unwrap();
    assert!(toml.contains("format = \"nginx\"") && toml.contains("format = \"keycloak\""));
    assert!(String::from_utf8_lossy(&files["dataset.toml"]).contains("infer_cache = true"));
    let mut lines = 0;
    for (rel, bytes) in &files {
        let text = String::from_utf8(bytes.clone()).unwrap();
        if rel.starts_with("deliveries/") {
            assert!(rel.starts_with("deliveries/stream-") && rel.ends_with("/access.log"));
            for line in text.lines() {
                assert!(line.contains(" HTTP/1.1\" 200 "), "{line}");
                lines += 1;
            }
        } else if rel.starts_with("sessions/") {
            assert_eq!(rel, "sessions/keycloak-events.json");
            for line in text.lines() {
                let e: serde_json::Value = serde_json::from_str(line).unwrap();
                let t = e["type"].as_str().unwrap();
                assert!(["LOGIN", "REFRESH_TOKEN", "LOGOUT"].contains(&t), "{line}");
                assert!(e["time"].is_i64() && e["sessionId"].is_string(), "{line}");
            }
        }
    }
    assert_eq!(lines, 2_000);
    let t = truth(a.path());
    assert_eq!(t["rows"]["cache"]["read"], 0);
    assert_eq!(t["rows"]["deliveries"]["accepted"], 2_000);
}

/// `--ownership-snapshots`: the ownership log is the registry's snapshots, an owner or a shared
/// user per camera at each snapshot time, every snapshot listing someone.
#[test]
fn registry_snapshots_list_owners_and_shares_at_each_snapshot() {
    let dir = tmp();
    let mut args = GenerateArgs::new("cache-key-collision", 2, 2_000, dir.path());
    args.ownership_snapshots = Some("12h".into());
    generate(&args).unwrap();
    let toml = std::fs::read_to_string(dir.path().join("dataset.toml")).unwrap();
    assert!(toml.contains("ownership_snapshots = true"), "{toml}");
    let rows = read_csv(&dir.path().join("ownership/ownership.csv"));
    let mut times: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in &rows {
        let e = times.entry(r["ts"].clone()).or_default();
        match r["event"].as_str() {
            "bind" => e.0 += 1,
            "grant" => e.1 += 1,
            other => panic!("a snapshot row is {other:?}"),
        }
    }
    assert!(times.len() > 2, "{} snapshots", times.len());
    assert!(times.values().all(|&(owners, _)| owners > 0));
    assert!(times.values().any(|&(_, shares)| shares > 0));
    let t = truth(dir.path());
    assert_eq!(t["rows"]["ownership"]["read"], rows.len());
}

#[test]
fn bad_arguments_are_refused() {
    let dir = tmp();
    let mut a = GenerateArgs::new("cache-key-colision", 1, 5_000, dir.path());
    assert!(generate(&a)
        .unwrap_err()
        .to_string()
        .contains("cache-key-collision"));
    a.scenario = "cache-key-collision".into();
    a.deliveries = 10;
    assert!(generate(&a).is_err());
    a.deliveries = 1_000;
    a.format = "xml".into();
    assert!(generate(&a).is_err());
    a.format = "csv".into();
    a.ownership_snapshots = Some("soon".into());
    let every = generate(&a).unwrap_err().to_string();
    assert!(every.contains("--ownership-snapshots"), "{every}");
    a.ownership_snapshots = None;
    a.real_logs = true;
    a.dirty = true;
    let both = generate(&a).unwrap_err().to_string();
    assert!(both.contains("--real-logs"), "{both}");
    a.real_logs = false;
    a.dirty = false;
    generate(&a).unwrap();
    let again = generate(&a).unwrap_err().to_string();
    assert!(again.contains("--force"), "{again}");
    a.force = true;
    generate(&a).unwrap();
}

/// `--skewed-clocks` shifts the logs of N more cache nodes and N more stream servers by the
/// offsets truth_clocks.json records. With `--unstated-offsets` dataset.toml says nothing of
/// them and the run misses the truth; the same offsets written into dataset.toml give the truth
/// again, so truth_clocks.json is what an estimate of the clocks must find.
#[test]
fn skewed_clocks_are_recorded_and_their_recorded_offsets_correct_the_logs() {
    let dir = tmp();
    let ds = dir.path().join("ds");
    let mut a = GenerateArgs::new("cache-key-collision", 9, 20_000, &ds);
    a.skewed_clocks = 3;
    a.unstated_offsets = true;
    generate(&a).unwrap();
    let clocks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ds.join("truth_clocks.json")).unwrap()).unwrap();
    let skewed: Vec<&serde_json::Value> = clocks["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["offset_ms"] != 0)
        .collect();
    for kind in ["cache_node", "stream_server"] {
        assert_eq!(
            skewed.iter().filter(|c| c["kind"] == kind).count(),
            3,
            "{kind}"
        );
    }
    let mut block = String::from("\n[clock_offset_ms]\n");
    for c in &skewed {
        let offset = c["offset_ms"].as_i64().unwrap();
        assert!((300..3000).contains(&offset.abs()), "{c}");
        assert_eq!(c["stated_in_dataset_toml"], false);
        assert!(c["changes"].as_array().unwrap().is_empty());
        block.push_str(&format!(
            "\"{}\" = {offset}\n",
            c["clock"].as_str().unwrap()
        ));
    }
    let toml = std::fs::read_to_string(ds.join("dataset.toml")).unwrap();
    assert!(!toml.contains("clock_offset_ms"), "{toml}");
    let want = verdict_part(&truth(&ds));
    // The summary's keys that the truth has.
    let run = |out: &str| {
        let got = crate::common::analyze_ok(&ds, &dir.path().join(out));
        let keys = want.as_object().unwrap().keys();
        let shared: serde_json::Map<String, serde_json::Value> =
            keys.map(|k| (k.clone(), got[k].clone())).collect();
        serde_json::Value::Object(shared)
    };
    assert_ne!(
        run("unstated"),
        want,
        "skews of 0.3 to 3 s move some verdicts"
    );
    std::fs::write(ds.join("dataset.toml"), format!("{toml}{block}")).unwrap();
    assert_eq!(run("stated"), want);

    // With drift, each skewed clock's offset changes once, inside the window.
    let drifting = dir.path().join("drift");
    let mut a = GenerateArgs::new("cache-key-collision", 9, 20_000, &drifting);
    a.skewed_clocks = 2;
    a.clock_drift = true;
    generate(&a).unwrap();
    let clocks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(drifting.join("truth_clocks.json")).unwrap())
            .unwrap();
    let mut drifted = 0;
    for c in clocks["clocks"].as_array().unwrap() {
        let changes = c["changes"].as_array().unwrap();
        assert_eq!(changes.len(), usize::from(c["offset_ms"] != 0), "{c}");
        for ch in changes {
            assert_ne!(ch["offset_ms"], c["offset_ms"]);
            let from = ms(ch["from"].as_str().unwrap());
            assert!(
                (1_577_664_000_000..1_577_923_200_000).contains(&from),
                "{ch}"
            );
            drifted += 1;
        }
    }
    assert_eq!(drifted, 4);
}
