//! One tiny dataset per rule of docs/SEMANTICS.md, run through the built binary
//! (`leakscope analyze <dataset> --out <dir>`), with the expected verdicts worked out by hand.
//!
//! Times in the CSV text are written `T+<seconds>` and turned into RFC 3339 UTC before the
//! files are written (T = 2019-12-26T00:00:00Z). Unless a test says otherwise: alice owns cA and
//! bob owns cB from T+0, tolerance 2 s, session TTL 24 h.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const BASE: i64 = 1_577_318_400_000;

/// Replaces every `T+<seconds>` cell by its RFC 3339 time.
fn expand(csv: &str) -> String {
    let mut out = String::new();
    for line in csv.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let cells: Vec<String> = line
            .split(',')
            .map(|c| match c.strip_prefix("T+") {
                Some(secs) => {
                    let ms = (secs.parse::<f64>().expect("seconds") * 1000.0).round() as i64;
                    leakscope::time::format_ms(BASE + ms)
                }
                None => c.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

const OWNERS: &str = "
ts,stream_id,account_id,event
T+0,cA,alice,bind
T+0,cB,bob,bind
";

const DELIVERY_HEADER: &str = "ts,request_id,session_id,requested_stream_id,cache_node,cache_key,cache_status,origin_stream_id,object_id,captured_at";

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    deliveries: u64,
    leaks: BTreeSet<String>,
    ambiguous: u64,
    /// request_id → reason, from the engine's unresolved.csv.
    unresolved: BTreeMap<String, String>,
}

struct Data<'a> {
    deliveries: &'a str,
    cache: &'a str,
    sessions: &'a str,
    ownership: &'a str,
    toml: &'a str,
}

fn run(d: &Data) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let out = dir.path().join("out");
    let files = [
        (
            "deliveries",
            format!("{DELIVERY_HEADER}\n{}", d.deliveries.trim()),
        ),
        ("cache", d.cache.to_string()),
        ("sessions", d.sessions.to_string()),
        ("ownership", d.ownership.to_string()),
    ];
    for (kind, text) in files {
        std::fs::create_dir_all(ds.join(kind)).unwrap();
        std::fs::write(ds.join(kind).join(format!("{kind}.csv")), expand(&text)).unwrap();
    }
    std::fs::write(ds.join("dataset.toml"), d.toml).unwrap();
    let res = Command::new(env!("CARGO_BIN_EXE_leakscope"))
        .arg("analyze")
        .arg(&ds)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "leakscope failed: {}\n{}",
        String::from_utf8_lossy(&res.stderr),
        String::from_utf8_lossy(&res.stdout)
    );
    read_outcome(&out)
}

fn read_outcome(out: &Path) -> Outcome {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let num = |k: &str| {
        summary[k]
            .as_u64()
            .unwrap_or_else(|| panic!("summary.json has no number {k}: {summary}"))
    };
    for kind in ["deliveries", "cache", "sessions", "ownership"] {
        let rejected = &summary["rows"][kind]["rejected"];
        assert_eq!(
            rejected.as_u64(),
            Some(0),
            "{kind} rows rejected: {summary}"
        );
    }
    let col = |path: &Path, name: &str| -> Vec<BTreeMap<String, String>> {
        let mut rdr = csv::Reader::from_path(path).unwrap();
        let headers = rdr.headers().unwrap().clone();
        assert!(
            headers.iter().any(|h| h == name),
            "{} has no {name} column",
            path.display()
        );
        rdr.records()
            .map(|r| {
                headers
                    .iter()
                    .zip(r.unwrap().iter())
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    };
    let leaks: BTreeSet<String> = col(&out.join("leaks.csv"), "request_id")
        .into_iter()
        .map(|r| r["request_id"].clone())
        .collect();
    assert_eq!(
        leaks.len() as u64,
        num("leak_deliveries"),
        "leaks.csv rows vs summary"
    );
    let unresolved: BTreeMap<String, String> = col(&out.join("unresolved.csv"), "reason")
        .into_iter()
        .map(|r| (r["request_id"].clone(), r["reason"].clone()))
        .collect();
    assert_eq!(
        unresolved.len() as u64,
        num("unresolved_deliveries"),
        "unresolved.csv rows vs summary"
    );
    Outcome {
        deliveries: num("deliveries"),
        leaks,
        ambiguous: num("ambiguous_deliveries"),
        unresolved,
    }
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn reasons(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const DEFAULT_TOML: &str = "tolerance = \"2s\"\n";

#[test]
fn reauthentication_as_another_account() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,alice
            T+100,s1,start,bob",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+10,n,k,fill,oA,cA",
        // r1 t=50: alice sees alice's camera: ok.
        // r2 t=150: the session is bob's since 100: leak.
        // r3 t=101: bob (leak), but at 99 alice (ok): ambiguous.
        deliveries: "
            T+50,r1,s1,cA,n,k,hit,,,
            T+150,r2,s1,cA,n,k,hit,,,
            T+101,r3,s1,cA,n,k,hit,,,",
        ownership: OWNERS,
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.deliveries, 3);
    assert_eq!(o.leaks, set(&["r2"]));
    assert_eq!(o.ambiguous, 1);
    assert_eq!(o.unresolved, reasons(&[]));
}

#[test]
fn two_starts_in_one_millisecond_greatest_account_wins() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,bob
            T+0,s1,start,alice",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+10,n,k,fill,oA,cA",
        // recipient bob (> alice) sees alice's camera: leak.
        deliveries: "T+50,r1,s1,cA,n,k,hit,,,",
        ownership: OWNERS,
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.leaks, set(&["r1"]));
}

#[test]
fn session_ttl_end_and_reopen() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,alice
            T+0,s2,start,alice
            T+20,s2,end,
            T+40,s2,start,carol
            T+100,s3,start,bob
            T+100,s3,end,",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+10,n,k,fill,oB,cB",
        // TTL 60 s. r1 t=30 alice sees bob's: leak. r2 t=70: expired: no_session.
        // r3 t=60: window [0, 60) excludes 60: no_session. r4 t=30 on s2: ended at 20:
        // no_session. r5 t=50 on s2: reopened as carol: leak. r6: start and end in one ms:
        // never open: no_session.
        deliveries: "
            T+30,r1,s1,cB,n,k,hit,,,
            T+70,r2,s1,cB,n,k,hit,,,
            T+60,r3,s1,cB,n,k,hit,,,
            T+30,r4,s2,cB,n,k,hit,,,
            T+50,r5,s2,cB,n,k,hit,,,
            T+100,r6,s3,cB,n,k,hit,,,",
        ownership: OWNERS,
        toml: "tolerance = \"2s\"\nsession_ttl = \"60s\"\n",
    });
    assert_eq!(o.deliveries, 6);
    assert_eq!(o.leaks, set(&["r1", "r5"]));
    assert_eq!(o.ambiguous, 0);
    assert_eq!(
        o.unresolved,
        reasons(&[
            ("r2", "no_session"),
            ("r3", "no_session"),
            ("r4", "no_session"),
            ("r6", "no_session")
        ])
    );
}

#[test]
fn grant_then_revoke_then_view() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,bob",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+10,n,k,fill,oA,cA",
        ownership: "ts,stream_id,account_id,event
            T+0,cA,alice,bind
            T+100,cA,bob,grant
            T+200,cA,bob,revoke
            T+300,cA,bob,grant
            T+300,cA,bob,revoke",
        // bob views alice's camera. r1 t=50: no grant yet: leak. r2 t=150: granted: ok.
        // r3 t=250: revoked: leak. r4 t=201: revoked (leak) but granted at 199: ambiguous.
        // r5 t=310: grant and revoke in one ms, revoke wins: leak.
        deliveries: "
            T+50,r1,s1,cA,n,k,hit,,,
            T+150,r2,s1,cA,n,k,hit,,,
            T+250,r3,s1,cA,n,k,hit,,,
            T+201,r4,s1,cA,n,k,hit,,,
            T+310,r5,s1,cA,n,k,hit,,,",
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.leaks, set(&["r1", "r3", "r5"]));
    assert_eq!(o.ambiguous, 1);
    assert!(o.unresolved.is_empty());
}

#[test]
fn owner_change_does_not_end_a_grant() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,bob",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+120,n,k,fill,oC,cC",
        ownership: "ts,stream_id,account_id,event
            T+0,cC,carol,bind
            T+0,cC,bob,grant
            T+100,cC,dave,bind",
        // subject dave (owner at the fill, 120), bob still holds carol's grant: ok.
        deliveries: "T+150,r1,s1,cC,n,k,hit,,,",
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.deliveries, 1);
    assert!(o.leaks.is_empty());
    assert_eq!(o.ambiguous, 0);
    assert!(o.unresolved.is_empty());
}

#[test]
fn camera_resale_old_footage_reaches_the_new_owner() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,bob",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id,captured_at
            T+50,n,k,fill,old,cA,T+40",
        ownership: "ts,stream_id,account_id,event
            T+0,cA,alice,bind
            T+100,cA,alice,unbind
            T+100,cA,bob,bind",
        // Resale at 100 (unbind+bind in one ms: bind wins, bob owns).
        // r1: cached footage captured at 40 shows alice's home to bob: leak.
        // r2: the delivery names cA captured at 120: bob's own: ok.
        // r3: captured at 101: bob (ok), at 99 alice (leak): ambiguous.
        // r4: captured at exactly 100: bind beats unbind: ok at 0, alice at 98: ambiguous.
        deliveries: "
            T+150,r1,s1,cA,n,k,hit,,,
            T+150,r2,s1,cA,x,y,hit,cA,new,T+120
            T+150,r3,s1,cA,x,y,hit,cA,,T+101
            T+150,r4,s1,cA,x,y,hit,cA,,T+100",
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.leaks, set(&["r1"]));
    assert_eq!(o.ambiguous, 2);
    assert!(o.unresolved.is_empty());
}

#[test]
fn two_binds_in_one_millisecond_greatest_account_wins() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,alice",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+10,n,k,fill,oD,cD",
        ownership: "ts,stream_id,account_id,event
            T+0,cD,alice,bind
            T+0,cD,bob,bind",
        // owner bob (> alice); alice watching: leak.
        deliveries: "T+50,r1,s1,cD,n,k,hit,,,",
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.leaks, set(&["r1"]));
}

#[test]
fn evict_and_refill_in_one_millisecond() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,alice",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+10,n,k,fill,oB,cB
            T+100,n,k,evict,,
            T+200,n,k,evict,,
            T+200,n,k,fill,oB2,cB
            T+300,n,k,fill,a,cA
            T+300,n,k,fill,z,cB",
        // r1 t=50: bob's footage to alice: leak. r2 t=150: evicted: no_content.
        // r3 t=210: fill beats evict in one ms: bob's again: leak.
        // r4 t=310: two fills in one ms: greatest object id z (cB): leak.
        // r5 t=101: nothing at 101 (no_content), though 99 had content: d=0 decides.
        deliveries: "
            T+50,r1,s1,cB,n,k,hit,,,
            T+150,r2,s1,cB,n,k,hit,,,
            T+210,r3,s1,cB,n,k,hit,,,
            T+310,r4,s1,cB,n,k,hit,,,
            T+101,r5,s1,cB,n,k,hit,,,",
        ownership: OWNERS,
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.leaks, set(&["r1", "r3", "r4"]));
    assert_eq!(o.ambiguous, 0);
    assert_eq!(
        o.unresolved,
        reasons(&[("r2", "no_content"), ("r5", "no_content")])
    );
}

#[test]
fn purge_of_one_key() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,alice",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+10,n,k1,fill,o1,cB
            T+10,n,k2,fill,o2,cB
            T+100,n,k1,purge,,",
        // r1: k1 purged: no_content. r2: k2 untouched: leak.
        deliveries: "
            T+150,r1,s1,cB,n,k1,hit,,,
            T+150,r2,s1,cB,n,k2,hit,,,",
        ownership: OWNERS,
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.leaks, set(&["r2"]));
    assert_eq!(o.unresolved, reasons(&[("r1", "no_content")]));
}

#[test]
fn purge_of_every_key_on_a_node() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,alice",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+10,n,k1,fill,o1,cB
            T+10,n,k2,fill,o2,cB
            T+10,n2,k1,fill,o3,cB
            T+100,n,*,purge,,
            T+200,n,k1,fill,o4,cB
            T+200,n,*,purge,,",
        // r1, r2: node n purged at 100: no_content. r3: node n2 untouched: leak.
        // r4: refill in the ms of the second purge: fill wins: leak. r5: k2 still gone.
        deliveries: "
            T+150,r1,s1,cB,n,k1,hit,,,
            T+150,r2,s1,cB,n,k2,hit,,,
            T+150,r3,s1,cB,n2,k1,hit,,,
            T+210,r4,s1,cB,n,k1,hit,,,
            T+210,r5,s1,cB,n,k2,hit,,,",
        ownership: OWNERS,
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.leaks, set(&["r3", "r4"]));
    assert_eq!(
        o.unresolved,
        reasons(&[
            ("r1", "no_content"),
            ("r2", "no_content"),
            ("r5", "no_content")
        ])
    );
}

#[test]
fn delivery_origin_overrides_the_cache() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,alice",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+10,n,k,fill,oB,cB",
        // r1: the cache holds bob's, the delivery says it sent alice's own: ok.
        // r2: no origin named: the cache's (bob's): leak.
        // r3: origin named, nothing cached under that key: still resolved: leak.
        // r4: only object_id named: the cache decides, and it is empty: no_content.
        deliveries: "
            T+50,r1,s1,cA,n,k,hit,cA,x,
            T+50,r2,s1,cA,n,k,hit,,,
            T+50,r3,s1,cB,n,empty,miss,cB,,
            T+50,r4,s1,cB,n,empty,miss,,oB,",
        ownership: OWNERS,
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.leaks, set(&["r2", "r3"]));
    assert_eq!(o.ambiguous, 0);
    assert_eq!(o.unresolved, reasons(&[("r4", "no_content")]));
}

#[test]
fn ambiguous_at_a_fill_boundary_and_tolerance_zero() {
    let data = Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,alice",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+50,n,k,fill,oA,cA
            T+99,n,k,fill,oB,cB",
        // r1 t=100: bob's (filled 99): leak; at 98 alice's own (filled 50): ok: ambiguous.
        // r2 t=101.5: at 99.5 and 103.5 still bob's: leak.
        // r3 t=98: alice's (ok); at 100 bob's (leak): ambiguous.
        deliveries: "
            T+100,r1,s1,cB,n,k,hit,,,
            T+101.5,r2,s1,cB,n,k,hit,,,
            T+98,r3,s1,cB,n,k,hit,,,",
        ownership: OWNERS,
        toml: DEFAULT_TOML,
    };
    let o = run(&data);
    assert_eq!(o.leaks, set(&["r2"]));
    assert_eq!(o.ambiguous, 2);
    // With tolerance 0 nothing can flip: r1 leak, r3 ok.
    let o = run(&Data {
        toml: "tolerance = \"0ms\"\n",
        ..data
    });
    assert_eq!(o.leaks, set(&["r1", "r2"]));
    assert_eq!(o.ambiguous, 0);
}

#[test]
fn a_shift_that_finds_nothing_does_not_count() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+100,s1,start,alice",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+10,n,k,fill,oB,cB",
        ownership: "ts,stream_id,account_id,event
            T+0,cB,bob,bind
            T+0,cC,carol,bind
            T+152,cC,carol,unbind",
        // r1 t=100.5: at 98.5 no session: leak stands.
        // r2 t=150, own origin cC: carol (leak); at 152 no owner: leak stands.
        deliveries: "
            T+100.5,r1,s1,cB,n,k,hit,,,
            T+150,r2,s1,cC,x,y,hit,cC,,",
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.leaks, set(&["r1", "r2"]));
    assert_eq!(o.ambiguous, 0);
}

#[test]
fn every_unresolved_reason_in_order() {
    let o = run(&Data {
        sessions: "ts,session_id,event,account_id
            T+0,s1,start,alice",
        cache: "ts,cache_node,cache_key,op,object_id,origin_stream_id
            T+10,n,k,fill,oX,cX
            T+10,n,kB,fill,oB,cB",
        // r1: a session with no events: no_session. r2: no session and no content: the
        // session is named first. r3: nothing cached: no_content. r4: cX never had an
        // owner: no_owner. r5: no content and no owner would both be missing: no_content.
        // r6: cB unbound at 40, named by the delivery without captured_at (capture = t): no_owner.
        deliveries: "
            T+50,r1,ghost,cB,n,kB,hit,,,
            T+50,r2,ghost,cB,n,none,hit,,,
            T+50,r3,s1,cB,n,none,hit,,,
            T+50,r4,s1,cX,n,k,hit,,,
            T+50,r5,s1,cX,n,none,hit,,,
            T+50,r6,s1,cB,x,y,hit,cB,,",
        ownership: "ts,stream_id,account_id,event
            T+0,cB,bob,bind
            T+40,cB,bob,unbind",
        toml: DEFAULT_TOML,
    });
    assert_eq!(o.deliveries, 6);
    assert!(o.leaks.is_empty());
    assert_eq!(o.ambiguous, 0);
    assert_eq!(
        o.unresolved,
        reasons(&[
            ("r1", "no_session"),
            ("r2", "no_session"),
            ("r3", "no_content"),
            ("r4", "no_owner"),
            ("r5", "no_content"),
            ("r6", "no_owner"),
        ])
    );
}
