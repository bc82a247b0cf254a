//! Differential test: the engine (`leakscope::analyze`) against the plain-Rust reference in
//! `tests/reference`, on hand-worked cases and on random small datasets.
//!
//! Times in the hand cases are written `secs(x)` = BASE + x seconds. Default tolerance 2 s,
//! default session TTL 24 h, unless a case says otherwise.

use crate::reference;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::reference::OwnOp::*;
use crate::reference::{secs, CacheOp, Class, Dataset, Missing, RefVerdict, BASE};

// ---------------------------------------------------------------------------------------------
// Hand-worked cases. Each returns the dataset and the expected verdict of every delivery:
// "ok", "leak", "ambiguous", "no_session", "no_content" or "no_owner".

type Expected = Vec<(&'static str, &'static str)>;

fn verdict_name(v: RefVerdict) -> &'static str {
    match (v.class, v.missing) {
        (Class::Ok, None) => "ok",
        (Class::Leak, None) => "leak",
        (Class::Ambiguous, None) => "ambiguous",
        (Class::Unresolved, Some(Missing::NoSession)) => "no_session",
        (Class::Unresolved, Some(Missing::NoContent)) => "no_content",
        (Class::Unresolved, Some(Missing::NoOwner)) => "no_owner",
        _ => "INVALID",
    }
}

/// alice owns cA, bob owns cB, from t=0.
fn owners() -> Dataset {
    Dataset::new()
        .own(secs(0.0), "cA", "alice", Bind)
        .own(secs(0.0), "cB", "bob", Bind)
}

/// A session re-authenticated as another account.
fn case_reauth() -> (Dataset, Expected) {
    let ds = owners()
        .start(secs(0.0), "s1", "alice")
        .start(secs(100.0), "s1", "bob")
        .fill(secs(10.0), "n", "k", "oA", "cA", None)
        // t=50: recipient alice, content cA captured 10 (fill time), owner alice -> ok. At -2 s
        // the owner look-up is at 8 s (alice), at +2 s same: ok, ok.
        .deliver("r1", secs(50.0), "s1", "n", "k")
        // t=150: recipient bob (re-auth at 100), subject alice, no grant -> leak; 148/152 bob.
        .deliver("r2", secs(150.0), "s1", "n", "k")
        // t=101: bob -> leak; at 99 alice -> ok: opposite -> ambiguous.
        .deliver("r3", secs(101.0), "s1", "n", "k")
        // t=100 exactly: the start counts from its own millisecond: bob -> leak; at 98 alice
        // (ok) -> ambiguous.
        .deliver("r4", secs(100.0), "s1", "n", "k")
        // t=97.999: alice -> ok; at +2 s = 99.999 still alice -> ok.
        .deliver("r5", secs(97.999), "s1", "n", "k")
        // t=98: alice -> ok; at +2 s = 100.000 bob -> leak -> ambiguous.
        .deliver("r6", secs(98.0), "s1", "n", "k")
        // Two starts of s2 in one millisecond: greatest account id (bob) wins -> leak on cA.
        .start(secs(0.0), "s2", "alice")
        .start(secs(0.0), "s2", "bob")
        .deliver("r7", secs(50.0), "s2", "n", "k");
    let exp = vec![
        ("r1", "ok"),
        ("r2", "leak"),
        ("r3", "ambiguous"),
        ("r4", "ambiguous"),
        ("r5", "ok"),
        ("r6", "ambiguous"),
        ("r7", "leak"),
    ];
    (ds, exp)
}

/// Session TTL, end events, reopening.
fn case_ttl() -> (Dataset, Expected) {
    let ds = owners()
        .ttl(60_000)
        .fill(secs(10.0), "n", "k", "oB", "cB", None)
        .start(secs(0.0), "s1", "alice")
        // alice sees bob's camera: leak while the session is open, [0, 60).
        .deliver("r1", secs(30.0), "s1", "n", "k") // leak
        .deliver("r2", secs(70.0), "s1", "n", "k") // closed by TTL: no_session
        .deliver("r3", secs(59.999), "s1", "n", "k") // open; +2 s finds nothing -> leak stands
        .deliver("r4", secs(60.0), "s1", "n", "k") // window is [start, start+ttl): no_session
        // s2: start 0, end 20, start 40 as carol.
        .start(secs(0.0), "s2", "alice")
        .end(secs(20.0), "s2")
        .start(secs(40.0), "s2", "carol")
        .deliver("r5", secs(30.0), "s2", "n", "k") // ended: no_session
        .deliver("r6", secs(50.0), "s2", "n", "k") // reopened as carol -> leak
        .deliver("r7", secs(20.0), "s2", "n", "k") // end counts from its ms: no_session
        .deliver("r8", secs(19.0), "s2", "n", "k") // alice, +2 s nothing -> leak
        // s3: start and end in the same millisecond: closed.
        .start(secs(100.0), "s3", "bob")
        .end(secs(100.0), "s3")
        .deliver("r9", secs(100.0), "s3", "n", "k") // no_session
        .deliver("r10", secs(100.5), "s3", "n", "k") // no_session
        // s4: an end before the latest start is ignored; re-start extends the TTL.
        .start(secs(0.0), "s4", "bob")
        .end(secs(30.0), "s4")
        .start(secs(50.0), "s4", "bob")
        .deliver("r11", secs(100.0), "s4", "n", "k") // open until 110: bob sees cB -> ok
        .deliver("r12", secs(110.0), "s4", "n", "k"); // closed at 50+60: no_session
    let exp = vec![
        ("r1", "leak"),
        ("r2", "no_session"),
        ("r3", "leak"),
        ("r4", "no_session"),
        ("r5", "no_session"),
        ("r6", "leak"),
        ("r7", "no_session"),
        ("r8", "leak"),
        ("r9", "no_session"),
        ("r10", "no_session"),
        ("r11", "ok"),
        ("r12", "no_session"),
    ];
    (ds, exp)
}

/// Grant, revoke, a view after the revoke; owner change does not end a grant.
fn case_grants() -> (Dataset, Expected) {
    let ds = owners()
        .start(secs(0.0), "s1", "bob")
        .fill(secs(10.0), "n", "k", "oA", "cA", None)
        .own(secs(100.0), "cA", "bob", Grant)
        .own(secs(200.0), "cA", "bob", Revoke)
        .deliver("r1", secs(50.0), "s1", "n", "k") // no grant yet -> leak
        .deliver("r2", secs(150.0), "s1", "n", "k") // granted -> ok
        .deliver("r3", secs(250.0), "s1", "n", "k") // revoked -> leak
        .deliver("r4", secs(201.0), "s1", "n", "k") // leak; at 199 granted -> ambiguous
        .deliver("r5", secs(98.0), "s1", "n", "k") // leak; at +2 = 100 granted -> ambiguous
        .deliver("r6", secs(97.999), "s1", "n", "k") // leak; at 99.999 not yet -> leak
        // grant and revoke in one millisecond: revoke wins.
        .own(secs(300.0), "cA", "bob", Grant)
        .own(secs(300.0), "cA", "bob", Revoke)
        .deliver("r7", secs(310.0), "s1", "n", "k") // leak
        // A grant to someone else does not help bob.
        .own(secs(400.0), "cA", "carol", Grant)
        .deliver("r8", secs(410.0), "s1", "n", "k") // leak
        // cC: carol owns, grants bob, then sells to dave: bob keeps the grant.
        .own(secs(0.0), "cC", "carol", Bind)
        .own(secs(0.0), "cC", "bob", Grant)
        .own(secs(100.0), "cC", "dave", Bind)
        .fill(secs(120.0), "n", "k2", "oC", "cC", None)
        .deliver("r9", secs(150.0), "s1", "n", "k2"); // subject dave, bob granted -> ok
    let exp = vec![
        ("r1", "leak"),
        ("r2", "ok"),
        ("r3", "leak"),
        ("r4", "ambiguous"),
        ("r5", "ambiguous"),
        ("r6", "leak"),
        ("r7", "leak"),
        ("r8", "leak"),
        ("r9", "ok"),
    ];
    (ds, exp)
}

/// Camera resold (unbind + bind in one ms); old footage reaches the new owner.
fn case_resale() -> (Dataset, Expected) {
    let ds = Dataset::new()
        .own(secs(0.0), "cA", "alice", Bind)
        .own(secs(100.0), "cA", "alice", Unbind)
        .own(secs(100.0), "cA", "bob", Bind)
        .start(secs(0.0), "s1", "bob")
        // Old footage captured at 40, cached at 50.
        .fill(secs(50.0), "n", "k", "old", "cA", Some(secs(40.0)))
        // Recipient bob, subject = owner at 40 = alice -> leak (38/42 alice too).
        .deliver("r1", secs(150.0), "s1", "n", "k")
        // Delivery names its own origin, captured at 120: owner bob -> ok.
        .deliver("r2", secs(150.0), "s1", "x", "y")
        .named(Some("cA"), Some("new"), Some(secs(120.0)))
        // Own origin without captured_at: capture = t = 150: bob -> ok.
        .deliver("r3", secs(150.0), "s1", "x", "y")
        .named(Some("cA"), None, None)
        // Captured at 101: bob (ok); at 99 alice (leak) -> ambiguous.
        .deliver("r4", secs(150.0), "s1", "x", "y")
        .named(Some("cA"), None, Some(secs(101.0)))
        // Captured at exactly 100: bind beats unbind in that ms -> bob ok; 98 alice -> ambiguous.
        .deliver("r5", secs(150.0), "s1", "x", "y")
        .named(Some("cA"), None, Some(secs(100.0)))
        // Captured at 99.9: alice -> leak; +2 s bob -> ambiguous.
        .deliver("r6", secs(150.0), "s1", "x", "y")
        .named(Some("cA"), None, Some(secs(99.9)))
        // cC: carol, unbound at 100 with no new owner.
        .own(secs(0.0), "cC", "carol", Bind)
        .own(secs(100.0), "cC", "carol", Unbind)
        .deliver("r7", secs(150.0), "s1", "x", "y") // no_owner
        .named(Some("cC"), None, None)
        .deliver("r8", secs(150.0), "s1", "x", "y") // captured 50: carol -> leak
        .named(Some("cC"), None, Some(secs(50.0)))
        // Captured 99: carol (leak); +2 s no owner: does not count -> leak.
        .deliver("r9", secs(150.0), "s1", "x", "y")
        .named(Some("cC"), None, Some(secs(99.0)))
        // Two binds of cD in one millisecond: greatest account id (bob) wins -> ok.
        .own(secs(0.0), "cD", "alice", Bind)
        .own(secs(0.0), "cD", "bob", Bind)
        .deliver("r10", secs(150.0), "s1", "x", "y")
        .named(Some("cD"), None, None)
        // An unbind by an account that is not the owner still leaves no owner (the
        // contract's unbind names no condition on the account).
        .own(secs(0.0), "cE", "bob", Bind)
        .own(secs(100.0), "cE", "zed", Unbind)
        .deliver("r11", secs(150.0), "s1", "x", "y")
        .named(Some("cE"), None, None);
    let exp = vec![
        ("r1", "leak"),
        ("r2", "ok"),
        ("r3", "ok"),
        ("r4", "ambiguous"),
        ("r5", "ambiguous"),
        ("r6", "ambiguous"),
        ("r7", "no_owner"),
        ("r8", "leak"),
        ("r9", "leak"),
        ("r10", "ok"),
        ("r11", "no_owner"),
    ];
    (ds, exp)
}

/// Fills replacing each other, evict, fill after evict, fill and evict in one ms.
fn case_evict() -> (Dataset, Expected) {
    let ds = owners()
        .start(secs(0.0), "s1", "alice")
        .fill(secs(10.0), "n", "k", "oA", "cA", None)
        .fill(secs(100.0), "n", "k", "oB", "cB", None)
        .drop_key(secs(200.0), "n", "k", CacheOp::Evict)
        .fill(secs(300.0), "n", "k", "oA2", "cA", None)
        .deliver("r1", secs(50.0), "s1", "n", "k") // cA -> ok
        .deliver("r2", secs(150.0), "s1", "n", "k") // cB -> leak
        .deliver("r3", secs(250.0), "s1", "n", "k") // evicted -> no_content
        .deliver("r4", secs(101.0), "s1", "n", "k") // leak; at 99 cA ok -> ambiguous
        .deliver("r5", secs(201.0), "s1", "n", "k") // no_content (199 has content; d=0 decides)
        .deliver("r6", secs(199.0), "s1", "n", "k") // leak; 201 finds nothing -> leak
        .deliver("r7", secs(301.0), "s1", "n", "k") // ok; 299 nothing -> ok
        .deliver("r8", secs(200.0), "s1", "n", "k") // evict counts from its ms: no_content
        // fill beats evict in one ms
        .drop_key(secs(400.0), "n", "k", CacheOp::Evict)
        .fill(secs(400.0), "n", "k", "oB2", "cB", None)
        .deliver("r9", secs(410.0), "s1", "n", "k") // cB -> leak
        // two fills in one ms: greatest object id ("z" > "a") wins
        .fill(secs(500.0), "n", "k", "a", "cA", None)
        .fill(secs(500.0), "n", "k", "z", "cB", None)
        .deliver("r10", secs(510.0), "s1", "n", "k") // z from cB -> leak
        // An evict on another node or another key changes nothing.
        .drop_key(secs(600.0), "n2", "k", CacheOp::Evict)
        .drop_key(secs(600.0), "n", "other", CacheOp::Evict)
        .deliver("r11", secs(610.0), "s1", "n", "k"); // still z -> leak
    let exp = vec![
        ("r1", "ok"),
        ("r2", "leak"),
        ("r3", "no_content"),
        ("r4", "ambiguous"),
        ("r5", "no_content"),
        ("r6", "leak"),
        ("r7", "ok"),
        ("r8", "no_content"),
        ("r9", "leak"),
        ("r10", "leak"),
        ("r11", "leak"),
    ];
    (ds, exp)
}

/// Purge of one key, purge of `*`, refill in the purge's millisecond.
fn case_purge() -> (Dataset, Expected) {
    let ds = owners()
        .start(secs(0.0), "s1", "alice")
        .fill(secs(10.0), "n", "k1", "o1", "cB", None)
        .fill(secs(10.0), "n", "k2", "o2", "cB", None)
        .fill(secs(10.0), "n2", "k1", "o3", "cB", None)
        .drop_key(secs(100.0), "n", "k1", CacheOp::Purge)
        .deliver("r1", secs(150.0), "s1", "n", "k1") // purged -> no_content
        .deliver("r2", secs(150.0), "s1", "n", "k2") // untouched -> leak
        .deliver("r3", secs(150.0), "s1", "n2", "k1") // other node -> leak
        .drop_key(secs(200.0), "n", "*", CacheOp::Purge)
        .deliver("r4", secs(250.0), "s1", "n", "k2") // purge * -> no_content
        .deliver("r5", secs(250.0), "s1", "n2", "k1") // other node -> leak
        // refill in the ms of a `*` purge: the fill wins
        .fill(secs(300.0), "n", "k1", "o4", "cB", None)
        .drop_key(secs(300.0), "n", "*", CacheOp::Purge)
        .deliver("r6", secs(310.0), "s1", "n", "k1") // leak
        .deliver("r7", secs(310.0), "s1", "n", "k2") // no_content
        // `evict` of key `*` is an evict of the literal key `*`, not of every key
        .drop_key(secs(400.0), "n", "*", CacheOp::Evict)
        .deliver("r8", secs(410.0), "s1", "n", "k1") // still o4 -> leak
        // t=199.5: o2 (filled 10) -> leak; at +2 s the `*` purge at 200 leaves nothing, which
        // does not count -> leak
        .deliver("r9", secs(199.5), "s1", "n", "k2");
    let exp = vec![
        ("r1", "no_content"),
        ("r2", "leak"),
        ("r3", "leak"),
        ("r4", "no_content"),
        ("r5", "leak"),
        ("r6", "leak"),
        ("r7", "no_content"),
        ("r8", "leak"),
        ("r9", "leak"),
    ];
    (ds, exp)
}

/// The delivery's own origin overrides the cache; delivery captured_at overrides the fill's.
fn case_own_origin() -> (Dataset, Expected) {
    let ds = owners()
        .own(secs(0.0), "cR", "alice", Bind)
        .own(secs(100.0), "cR", "bob", Bind)
        .start(secs(0.0), "s1", "alice")
        .start(secs(0.0), "s2", "bob")
        .fill(secs(10.0), "n", "k", "oB", "cB", None)
        .fill(secs(10.0), "n", "kA", "oA", "cA", None)
        // cache holds bob's, but the delivery says it sent alice's -> ok
        .deliver("r1", secs(50.0), "s1", "n", "k")
        .named(Some("cA"), Some("x"), None)
        // cache holds alice's, the delivery says bob's -> leak
        .deliver("r2", secs(50.0), "s1", "n", "kA")
        .named(Some("cB"), None, None)
        // own origin and nothing in the cache: resolved (leak), not no_content
        .deliver("r3", secs(50.0), "s1", "n", "empty")
        .named(Some("cB"), None, None)
        // object_id alone does not name content: cache is used, empty -> no_content
        .deliver("r4", secs(50.0), "s1", "n", "empty")
        .named(None, Some("oB"), None)
        // captured_at alone names no content: the content, capture time included, is the
        // cache's (cR filled at 150, captured 50): owner alice -> leak for s2 (bob); the
        // delivery's own 120 (bob's time) does not override it
        .fill(secs(150.0), "n", "kR", "oR", "cR", Some(secs(50.0)))
        .deliver("r5", secs(200.0), "s2", "n", "kR")
        .named(None, None, Some(secs(120.0)))
        // without it the fill's captured_at (50) is used: alice -> leak for bob
        .deliver("r6", secs(200.0), "s2", "n", "kR")
        // a fill without captured_at: capture = fill time
        .fill(secs(99.0), "n", "kR2", "oR2", "cR", None)
        .deliver("r7", secs(200.0), "s2", "n", "kR2") // owner at 99 alice -> leak; at 101 bob -> ambiguous
        .fill(secs(97.0), "n", "kR3", "oR3", "cR", None)
        .deliver("r8", secs(200.0), "s2", "n", "kR3"); // 95/97/99 alice -> leak
    let exp = vec![
        ("r1", "ok"),
        ("r2", "leak"),
        ("r3", "leak"),
        ("r4", "no_content"),
        ("r5", "leak"),
        ("r6", "leak"),
        ("r7", "ambiguous"),
        ("r8", "leak"),
    ];
    (ds, exp)
}

/// Shifted content: the fill found at t±tol gives its own capture time.
fn case_shifted_fill() -> (Dataset, Expected) {
    let ds = Dataset::new()
        .own(secs(0.0), "cA", "alice", Bind)
        .own(secs(0.0), "cB", "bob", Bind)
        .start(secs(0.0), "s1", "alice")
        // at t=100 the key holds cB (filled at 99): leak. At 98 it held cA (filled at 50,
        // owner at 48 = alice): ok -> ambiguous.
        .fill(secs(50.0), "n", "k", "oA", "cA", None)
        .fill(secs(99.0), "n", "k", "oB", "cB", None)
        .deliver("r1", secs(100.0), "s1", "n", "k")
        // tolerance 0 would not be ambiguous: see case_tolerance_zero.
        // t=101.5: cB (filled 99) -> leak; at 99.5 still cB, at 103.5 the refill at 102 (also
        // bob's) -> leak, leak: leak.
        .fill(secs(102.0), "n", "k", "oB2", "cB", None)
        .deliver("r2", secs(101.5), "s1", "n", "k");
    let exp = vec![("r1", "ambiguous"), ("r2", "leak")];
    (ds, exp)
}

fn case_tolerance_zero() -> (Dataset, Expected) {
    let (ds, _) = case_shifted_fill();
    let (ds2, _) = case_reauth();
    let mut ds = ds.tolerance(0);
    ds.deliveries.truncate(1);
    let mut b = ds2.tolerance(0);
    b.deliveries
        .retain(|d| d.request_id == "r3" || d.request_id == "r6");
    // keep both datasets apart by renaming: only the verdicts of this merged set matter
    for d in &mut b.deliveries {
        d.request_id = format!("b{}", d.request_id);
        d.session_id = format!("b{}", d.session_id);
        d.cache_node = format!("b{}", d.cache_node);
    }
    for e in &mut b.sessions {
        e.session_id = format!("b{}", e.session_id);
    }
    for e in &mut b.cache {
        e.node = format!("b{}", e.node);
    }
    ds.deliveries.extend(b.deliveries);
    ds.sessions.extend(b.sessions);
    ds.cache.extend(b.cache);
    // owners: case_reauth uses the same owners() as case_shifted_fill (binds at 0) — already there.
    // r1: leak at t (no shift counts); br3 (t=101, bob) leak; br6 (t=98, alice) ok.
    let exp = vec![("r1", "leak"), ("br3", "leak"), ("br6", "ok")];
    (ds, exp)
}

/// Each unresolved reason, and their order.
fn case_unresolved() -> (Dataset, Expected) {
    let ds = owners()
        .start(secs(0.0), "s1", "alice")
        .fill(secs(10.0), "n", "k", "oX", "cX", None) // cX has no owner ever
        .fill(secs(10.0), "n", "kB", "oB", "cB", None)
        .deliver("r1", secs(50.0), "ghost", "n", "kB") // no events for the session
        .deliver("r2", secs(50.0), "ghost", "n", "none") // no session and no content: no_session
        .deliver("r3", secs(50.0), "s1", "n", "none") // no_content
        .deliver("r4", secs(50.0), "s1", "n", "k") // no_owner
        .deliver("r5", secs(50.0), "ghost", "n", "k") // no_session first
        .deliver("r6", secs(5.0), "s1", "n", "kB") // before the fill: no_content
        // cQ is first bound at 2 s; earlier capture times have no owner.
        .own(secs(2.0), "cQ", "alice", Bind)
        .deliver("r7", secs(50.0), "s1", "x", "y") // captured 1 s: no owner yet -> no_owner
        .named(Some("cQ"), None, Some(secs(1.0)))
        .deliver("r8", secs(1.0), "s1", "x", "y") // capture = t = 1: no_owner (bind at 2)
        .named(Some("cQ"), None, None)
        .deliver("r9", secs(2.0), "s1", "x", "y") // capture 2: alice -> ok (-2 s: no owner at 0)
        .named(Some("cQ"), None, None);
    let exp = vec![
        ("r1", "no_session"),
        ("r2", "no_session"),
        ("r3", "no_content"),
        ("r4", "no_owner"),
        ("r5", "no_session"),
        ("r6", "no_content"),
        ("r7", "no_owner"),
        ("r8", "no_owner"),
        ("r9", "ok"),
    ];
    (ds, exp)
}

fn hand_cases() -> Vec<(&'static str, (Dataset, Expected))> {
    vec![
        ("reauth", case_reauth()),
        ("ttl", case_ttl()),
        ("grants", case_grants()),
        ("resale", case_resale()),
        ("evict", case_evict()),
        ("purge", case_purge()),
        ("own_origin", case_own_origin()),
        ("shifted_fill", case_shifted_fill()),
        ("tolerance_zero", case_tolerance_zero()),
        ("unresolved", case_unresolved()),
    ]
}

#[test]
fn reference_matches_hand_worked_cases() {
    let mut failures = Vec::new();
    for (name, (ds, exp)) in hand_cases() {
        let got = ds.verdicts();
        assert_eq!(
            got.len(),
            exp.len(),
            "{name}: every delivery has an expectation"
        );
        for (rid, want) in exp {
            let v = verdict_name(got[rid]);
            if v != want {
                failures.push(format!("{name}/{rid}: expected {want}, reference says {v}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Writing a dataset to disk (CONTRACT.md §1) and running the engine.

/// How a dataset is laid out on disk; none of it may change a verdict.
#[derive(Debug, Clone)]
struct Layout {
    /// Drives row shuffling, file splitting, formats, column order and absent-value spelling.
    seed: u64,
    /// Write `session_ttl` into dataset.toml (otherwise the default 24h must be assumed).
    write_ttl: bool,
    /// Clock offsets by cache node / server name (corrected = logged + offset).
    offsets: BTreeMap<String, i64>,
    /// Server name of each delivery (by index), where present.
    servers: Vec<Option<String>>,
}

impl Layout {
    fn plain() -> Layout {
        Layout {
            seed: 0,
            write_ttl: true,
            offsets: BTreeMap::new(),
            servers: Vec::new(),
        }
    }
}

/// A small deterministic generator (xorshift64*), seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0 | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// One row: column name → value (None = absent). Times are already written as logged.
type Row = Vec<(&'static str, Option<String>)>;

fn opt_ms(v: Option<i64>) -> Option<String> {
    v.map(|t| t.to_string())
}

fn write_kind(dir: &Path, kind: &str, mut rows: Vec<Row>, rng: &mut Rng) {
    let folder = dir.join(kind);
    std::fs::create_dir_all(&folder).unwrap();
    rng.shuffle(&mut rows);
    // One or two files (a second file may be empty of rows but still valid CSV with a header).
    let n_files = if rows.len() >= 2 && rng.chance(40) {
        2
    } else {
        1
    };
    let cut = if n_files == 2 {
        1 + rng.below(rows.len() - 1)
    } else {
        rows.len()
    };
    let parts = [rows[..cut].to_vec(), rows[cut..].to_vec()];
    for (i, part) in parts.iter().take(n_files).enumerate() {
        let jsonl = rng.chance(30);
        let sub = if rng.chance(20) { "sub/" } else { "" };
        let path = folder.join(format!(
            "{sub}{kind}{i}.{}",
            if jsonl { "jsonl" } else { "csv" }
        ));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut text = String::new();
        if jsonl {
            for row in part {
                let mut obj = serde_json::Map::new();
                let mut cols = row.clone();
                rng.shuffle(&mut cols);
                for (name, v) in cols {
                    let value = match v {
                        None => match rng.below(3) {
                            0 => continue,
                            1 => serde_json::Value::Null,
                            _ => serde_json::Value::String(String::new()),
                        },
                        Some(s) => {
                            let is_time = name == "ts" || name == "captured_at";
                            if is_time && rng.chance(50) {
                                serde_json::Value::Number(s.parse::<i64>().unwrap().into())
                            } else {
                                serde_json::Value::String(s)
                            }
                        }
                    };
                    obj.insert(name.to_string(), value);
                }
                text.push_str(&serde_json::Value::Object(obj).to_string());
                text.push('\n');
            }
        } else {
            let Some(first) = rows.first() else { continue };
            let mut header: Vec<&str> = first.iter().map(|(n, _)| *n).collect();
            rng.shuffle(&mut header);
            text.push_str(&header.join(","));
            text.push('\n');
            for row in part {
                let cells: Vec<String> = header
                    .iter()
                    .map(|h| {
                        row.iter()
                            .find(|(n, _)| n == h)
                            .and_then(|(_, v)| v.clone())
                            .unwrap_or_default()
                    })
                    .collect();
                text.push_str(&cells.join(","));
                text.push('\n');
            }
        }
        std::fs::write(&path, text).unwrap();
    }
}

/// Writes `ds` (whose times are corrected times) as a dataset folder.
fn write_dataset(dir: &Path, ds: &Dataset, layout: &Layout) {
    let mut rng = Rng(layout.seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut note = 0u64;
    let mut next_note = || {
        note += 1;
        Some(format!("n{note}"))
    };
    let off = |name: &str| layout.offsets.get(name).copied().unwrap_or(0);

    let deliveries: Vec<Row> = ds
        .deliveries
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let server = layout.servers.get(i).cloned().flatten();
            let logged = d.ts - server.as_deref().map(off).unwrap_or(0);
            vec![
                ("ts", Some(logged.to_string())),
                ("session_id", Some(d.session_id.clone())),
                ("requested_stream_id", Some(d.requested_stream_id.clone())),
                ("cache_node", Some(d.cache_node.clone())),
                ("cache_key", Some(d.cache_key.clone())),
                ("cache_status", Some(d.cache_status.clone())),
                ("request_id", Some(d.request_id.clone())),
                ("object_id", d.object_id.clone()),
                ("origin_stream_id", d.origin_stream_id.clone()),
                ("captured_at", opt_ms(d.captured_at)),
                ("server", server),
                ("note", next_note()),
            ]
        })
        .collect();
    let cache: Vec<Row> = ds
        .cache
        .iter()
        .map(|e| {
            let op = match e.op {
                CacheOp::Fill => "fill",
                CacheOp::Evict => "evict",
                CacheOp::Purge => "purge",
            };
            vec![
                ("ts", Some((e.ts - off(&e.node)).to_string())),
                ("cache_node", Some(e.node.clone())),
                ("cache_key", Some(e.key.clone())),
                ("op", Some(op.to_string())),
                ("object_id", e.object_id.clone()),
                ("origin_stream_id", e.origin_stream_id.clone()),
                ("captured_at", opt_ms(e.captured_at)),
                ("note", next_note()),
            ]
        })
        .collect();
    let sessions: Vec<Row> = ds
        .sessions
        .iter()
        .map(|e| {
            let ev = match e.event {
                reference::SessionOp::Start => "start",
                reference::SessionOp::End => "end",
            };
            vec![
                ("ts", Some(e.ts.to_string())),
                ("session_id", Some(e.session_id.clone())),
                ("event", Some(ev.to_string())),
                ("account_id", e.account_id.clone()),
                ("note", next_note()),
            ]
        })
        .collect();
    let ownership: Vec<Row> = ds
        .ownership
        .iter()
        .map(|e| {
            let ev = match e.event {
                Bind => "bind",
                Unbind => "unbind",
                Grant => "grant",
                Revoke => "revoke",
            };
            vec![
                ("ts", Some(e.ts.to_string())),
                ("stream_id", Some(e.stream_id.clone())),
                ("account_id", Some(e.account_id.clone())),
                ("event", Some(ev.to_string())),
                ("note", next_note()),
            ]
        })
        .collect();
    write_kind(dir, "deliveries", deliveries, &mut rng);
    write_kind(dir, "cache", cache, &mut rng);
    write_kind(dir, "sessions", sessions, &mut rng);
    write_kind(dir, "ownership", ownership, &mut rng);

    let mut toml = format!("tolerance = \"{}ms\"\n", ds.tolerance_ms);
    if layout.write_ttl {
        toml.push_str(&format!("session_ttl = \"{}ms\"\n", ds.session_ttl_ms));
    } else {
        assert_eq!(
            ds.session_ttl_ms,
            24 * 3_600_000,
            "an unwritten TTL must be the default"
        );
    }
    if !layout.offsets.is_empty() {
        toml.push_str("[clock_offset_ms]\n");
        for (k, v) in &layout.offsets {
            toml.push_str(&format!("\"{k}\" = {v}\n"));
        }
    }
    std::fs::write(dir.join("dataset.toml"), toml).unwrap();
}

fn engine_name(v: &leakscope::verdict::Verdict) -> &'static str {
    use leakscope::verdict::{Class as C, Missing as M};
    match (v.class, v.missing) {
        (C::Ok, None) => "ok",
        (C::Leak, None) => "leak",
        (C::Ambiguous, None) => "ambiguous",
        (C::Unresolved, Some(M::NoSession)) => "no_session",
        (C::Unresolved, Some(M::NoContent)) => "no_content",
        (C::Unresolved, Some(M::NoOwner)) => "no_owner",
        _ => "INVALID",
    }
}

/// Runs the engine on the dataset; verdict name and evidence by request_id.
fn run_engine(
    ds: &Dataset,
    layout: &Layout,
) -> Result<BTreeMap<String, (&'static str, String)>, String> {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(dir.path(), ds, layout);
    let a = leakscope::analyze::analyze(dir.path(), &leakscope::analyze::AnalyzeOptions::default())
        .map_err(|e| format!("engine error: {e}"))?;
    use leakscope::schema::Kind;
    for kind in [
        Kind::Deliveries,
        Kind::Cache,
        Kind::Sessions,
        Kind::Ownership,
    ] {
        let c = a.loaded.counts(kind);
        if c.rejected != 0 || c.duplicates != 0 {
            return Err(format!(
                "{kind}: {c:?}; rejections: {:?}",
                a.loaded.rejections[&kind]
            ));
        }
    }
    let rids = a.loaded.table(Kind::Deliveries).text("request_id");
    if rids.len() != a.verdicts.len() {
        return Err(format!(
            "{} deliveries but {} verdicts",
            rids.len(),
            a.verdicts.len()
        ));
    }
    let mut out = BTreeMap::new();
    for (rid, v) in rids.iter().zip(&a.verdicts) {
        let rid = rid.clone().ok_or("a delivery lost its request_id")?;
        let evidence = format!(
            "recipient={:?} subject={:?} origin={:?} object={:?} capture={:?} fill={:?} granted={} flipped={:?}",
            v.recipient,
            v.subject,
            v.origin_stream_id,
            v.object_id,
            v.capture_ts.map(|t| t - BASE),
            v.fill_ts.map(|t| t - BASE),
            v.granted,
            v.flipped
        );
        if out
            .insert(rid.to_string(), (engine_name(v), evidence))
            .is_some()
        {
            return Err(format!("request_id {rid} twice in the engine's output"));
        }
    }
    Ok(out)
}

/// The dataset in readable form: times relative to BASE in ms, corrected.
fn describe(ds: &Dataset, layout: &Layout) -> String {
    let mut s = format!(
        "tolerance={}ms ttl={}ms (written: {}) offsets={:?}\n",
        ds.tolerance_ms, ds.session_ttl_ms, layout.write_ttl, layout.offsets
    );
    let rel = |t: i64| t - BASE;
    let relo = |t: Option<i64>| t.map(rel);
    let mut sess = ds.sessions.clone();
    sess.sort_by_key(|e| e.ts);
    for e in &sess {
        let _ = writeln!(
            s,
            "  session {:>6} {} {:?} {:?}",
            rel(e.ts),
            e.session_id,
            e.event,
            e.account_id
        );
    }
    let mut own = ds.ownership.clone();
    own.sort_by_key(|e| e.ts);
    for e in &own {
        let _ = writeln!(
            s,
            "  own     {:>6} {} {} {:?}",
            rel(e.ts),
            e.stream_id,
            e.account_id,
            e.event
        );
    }
    let mut cache = ds.cache.clone();
    cache.sort_by_key(|e| e.ts);
    for e in &cache {
        let _ = writeln!(
            s,
            "  cache   {:>6} {}/{} {:?} obj={:?} origin={:?} captured={:?}",
            rel(e.ts),
            e.node,
            e.key,
            e.op,
            e.object_id,
            e.origin_stream_id,
            relo(e.captured_at)
        );
    }
    for (i, d) in ds.deliveries.iter().enumerate() {
        let _ = writeln!(
            s,
            "  deliver {:>6} {} session={} {}/{} origin={:?} obj={:?} captured={:?} server={:?}",
            rel(d.ts),
            d.request_id,
            d.session_id,
            d.cache_node,
            d.cache_key,
            d.origin_stream_id,
            d.object_id,
            relo(d.captured_at),
            layout.servers.get(i).cloned().flatten()
        );
    }
    s
}

/// Compares engine and reference; Err with the whole story on any difference.
fn compare(ds: &Dataset, layout: &Layout) -> Result<(), String> {
    let want = ds.verdicts();
    let got = run_engine(ds, layout).map_err(|e| format!("{e}\n{}", describe(ds, layout)))?;
    let mut diffs = String::new();
    for (rid, v) in &want {
        let w = verdict_name(*v);
        match got.get(rid) {
            None => {
                let _ = writeln!(diffs, "  {rid}: reference {w}, engine has no verdict");
            }
            Some((g, ev)) if *g != w => {
                let _ = writeln!(diffs, "  {rid}: reference {w}, engine {g} ({ev})");
            }
            _ => {}
        }
    }
    for rid in got.keys().filter(|r| !want.contains_key(*r)) {
        let _ = writeln!(
            diffs,
            "  {rid}: engine has a verdict for an unknown delivery"
        );
    }
    if diffs.is_empty() {
        return Ok(());
    }
    let mut all = String::new();
    for (rid, v) in &want {
        let g = got.get(rid).map(|x| x.0).unwrap_or("-");
        let _ = writeln!(all, "  {rid}: reference {} engine {g}", verdict_name(*v));
    }
    Err(format!(
        "engine and reference disagree:\n{diffs}dataset:\n{}all verdicts:\n{all}",
        describe(ds, layout)
    ))
}

#[test]
fn engine_matches_hand_worked_cases() {
    let mut failures = Vec::new();
    for (name, (ds, exp)) in hand_cases() {
        let got = match run_engine(&ds, &Layout::plain()) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        for (rid, want) in exp {
            match got.get(rid) {
                Some((g, _)) if *g == want => {}
                Some((g, ev)) => failures.push(format!(
                    "{name}/{rid}: expected {want}, engine says {g} ({ev})"
                )),
                None => failures.push(format!(
                    "{name}/{rid}: expected {want}, engine has no verdict"
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Random small datasets.

/// A time in 0..20 s after BASE: mostly on the case's grid (500, 1000 or 2000 ms) so that ties
/// in one millisecond and exact ±tolerance boundaries are common, sometimes anywhere.
fn time(grid: i64) -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => (0..=20_000 / grid).prop_map(move |x| BASE + x * grid),
        1 => (0..20_000i64).prop_map(|x| BASE + x),
    ]
}

const ACCOUNTS: [&str; 3] = ["a0", "a1", "a2"];
const STREAMS: [&str; 3] = ["c0", "c1", "c2"];
const NODES: [&str; 2] = ["n0", "n1"];
const KEYS: [&str; 3] = ["k0", "k1", "k2"];
const SERVERS: [&str; 2] = ["sv0", "sv1"];

#[derive(Debug, Clone)]
struct Params {
    n_sessions: usize,
    n_streams: usize,
    n_accounts: usize,
    n_nodes: usize,
    n_keys: usize,
    grid: i64,
}

fn params() -> impl Strategy<Value = Params> {
    let grid = prop::sample::select(vec![500i64, 1_000, 2_000]);
    (
        1..=3usize,
        1..=3usize,
        1..=3usize,
        1..=2usize,
        1..=3usize,
        grid,
    )
        .prop_map(|(s, c, a, n, k, grid)| Params {
            n_sessions: s,
            n_streams: c,
            n_accounts: a,
            n_nodes: n,
            n_keys: k,
            grid,
        })
}

fn session_event(p: &Params) -> impl Strategy<Value = reference::SessionEvent> {
    let (ns, na, g) = (p.n_sessions, p.n_accounts, p.grid);
    (
        time(g),
        0..ns,
        prop::bool::weighted(0.8),
        0..na,
        any::<bool>(),
    )
        .prop_map(|(ts, s, start, a, end_acct)| {
            reference::SessionEvent {
                ts,
                session_id: format!("s{s}"),
                event: if start {
                    reference::SessionOp::Start
                } else {
                    reference::SessionOp::End
                },
                // An end may carry an account (ignored) or not.
                account_id: (start || end_acct).then(|| ACCOUNTS[a].to_string()),
            }
        })
}

fn ownership_event(p: &Params) -> impl Strategy<Value = reference::OwnershipEvent> {
    let (nc, na, g) = (p.n_streams, p.n_accounts, p.grid);
    let op = prop_oneof![3 => Just(Bind), 1 => Just(Unbind), 2 => Just(Grant), 1 => Just(Revoke)];
    (time(g), 0..nc, 0..na, op).prop_map(|(ts, c, a, event)| reference::OwnershipEvent {
        ts,
        stream_id: STREAMS[c].to_string(),
        account_id: ACCOUNTS[a].to_string(),
        event,
    })
}

fn cache_event(p: &Params) -> impl Strategy<Value = reference::CacheEvent> {
    let (nn, nk, nc, g) = (p.n_nodes, p.n_keys, p.n_streams, p.grid);
    (
        time(g),
        0..nn,
        0..nk,
        prop_oneof![6 => Just(CacheOp::Fill), 2 => Just(CacheOp::Evict), 2 => Just(CacheOp::Purge)],
        0..10u8,
        0..4usize,
        0..nc,
        proptest::option::weighted(0.4, time(g)),
    )
        .prop_map(|(ts, n, k, op, star, obj, c, captured)| {
            // Key `*`: every other purge (all keys of the node), and now and then an evict (which
            // evicts only a key literally named `*`, i.e. nothing here).
            let star = match op {
                CacheOp::Purge => star < 5,
                CacheOp::Evict => star < 2,
                CacheOp::Fill => false,
            };
            let key = if star {
                "*".to_string()
            } else {
                KEYS[k].to_string()
            };
            let fill = op == CacheOp::Fill;
            reference::CacheEvent {
                ts,
                node: NODES[n].to_string(),
                key,
                op,
                object_id: fill.then(|| format!("o{obj}")),
                origin_stream_id: fill.then(|| STREAMS[c].to_string()),
                captured_at: if fill { captured } else { None },
            }
        })
}

fn delivery(p: &Params) -> impl Strategy<Value = reference::Delivery> {
    // Now and then the session one past the last, which has no events at all.
    let (ns, nn, nk, nc, g) = (p.n_sessions, p.n_nodes, p.n_keys, p.n_streams, p.grid);
    (
        time(g),
        prop_oneof![9 => 0..ns, 1 => Just(ns)],
        0..nn,
        0..nk,
        0..3usize,
        proptest::option::weighted(0.3, 0..4usize),
        proptest::option::weighted(0.3, 0..nc),
        proptest::option::weighted(0.3, time(g)),
    )
        .prop_map(
            |(ts, s, n, k, status, obj, origin, captured)| reference::Delivery {
                request_id: String::new(),
                ts,
                session_id: format!("s{s}"),
                requested_stream_id: STREAMS[n % 3].to_string(),
                cache_node: NODES[n].to_string(),
                cache_key: KEYS[k].to_string(),
                cache_status: ["hit", "MISS", "Bypass"][status].to_string(),
                object_id: obj.map(|o| format!("o{o}")),
                origin_stream_id: origin.map(|c| STREAMS[c].to_string()),
                captured_at: captured,
            },
        )
}

fn case() -> impl Strategy<Value = (Dataset, Layout)> {
    params().prop_flat_map(|p| {
        let tolerance = prop_oneof![6 => Just(2_000i64), 1 => Just(0), 1 => Just(1), 1 => Just(500), 1 => Just(3_500)];
        let ttl = prop_oneof![5 => Just(None), 1 => Just(Some(3_000i64)), 1 => Just(Some(7_000)), 1 => Just(Some(24 * 3_600_000))];
        let offsets = proptest::option::weighted(
            0.25,
            prop::collection::vec(prop::sample::select(vec![-1_500i64, 0, 700, 2_000]), 4),
        );
        // Most sessions start, most streams are bound and most keys are filled early on, so
        // that resolved verdicts (and flips within the tolerance) are common.
        let g = p.grid;
        let early = move || (0..=6_000 / g).prop_map(move |x| BASE + x * g);
        let first_starts = prop::collection::vec(proptest::option::weighted(0.9, (early(), 0..p.n_accounts)), p.n_sessions);
        let first_binds = prop::collection::vec(proptest::option::weighted(0.85, (early(), 0..p.n_accounts)), p.n_streams);
        let first_fills = prop::collection::vec(
            proptest::option::weighted(0.6, (early(), 0..4usize, 0..p.n_streams, proptest::option::weighted(0.4, time(g)))),
            p.n_nodes * p.n_keys,
        );
        let n_keys = p.n_keys;
        (
            (first_starts, first_binds, first_fills),
            prop::collection::vec(session_event(&p), 0..=12),
            prop::collection::vec(ownership_event(&p), 0..=12),
            prop::collection::vec(cache_event(&p), 0..=12),
            prop::collection::vec((delivery(&p), proptest::option::weighted(0.4, 0..2usize)), 1..=15),
            tolerance,
            ttl,
            offsets,
            any::<u64>(),
            // Now and then an event takes the time of an earlier event of its kind: ties.
            prop::collection::vec(proptest::option::weighted(0.25, any::<prop::sample::Index>()), 36),
        )
            .prop_map(move |((first_starts, first_binds, first_fills), mut sessions, mut ownership, mut cache, dels, tolerance_ms, ttl, offsets, seed, links)| {
                fn tie<T>(events: &mut [T], links: &[Option<prop::sample::Index>], ts: impl Fn(&mut T) -> &mut i64) {
                    for j in 1..events.len() {
                        if let Some(Some(ix)) = links.get(j) {
                            let t = *ts(&mut events[ix.index(j)]);
                            *ts(&mut events[j]) = t;
                        }
                    }
                }
                tie(&mut sessions, &links[0..12], |e| &mut e.ts);
                tie(&mut ownership, &links[12..24], |e| &mut e.ts);
                tie(&mut cache, &links[24..36], |e| &mut e.ts);
                for (i, first) in first_starts.into_iter().enumerate() {
                    if let Some((ts, a)) = first {
                        sessions.push(reference::SessionEvent {
                            ts,
                            session_id: format!("s{i}"),
                            event: reference::SessionOp::Start,
                            account_id: Some(ACCOUNTS[a].to_string()),
                        });
                    }
                }
                for (i, first) in first_binds.into_iter().enumerate() {
                    if let Some((ts, a)) = first {
                        ownership.push(reference::OwnershipEvent {
                            ts,
                            stream_id: STREAMS[i].to_string(),
                            account_id: ACCOUNTS[a].to_string(),
                            event: Bind,
                        });
                    }
                }
                for (i, first) in first_fills.into_iter().enumerate() {
                    if let Some((ts, obj, c, captured_at)) = first {
                        cache.push(reference::CacheEvent {
                            ts,
                            node: NODES[i / n_keys].to_string(),
                            key: KEYS[i % n_keys].to_string(),
                            op: CacheOp::Fill,
                            object_id: Some(format!("o{obj}")),
                            origin_stream_id: Some(STREAMS[c].to_string()),
                            captured_at,
                        });
                    }
                }
                // Two fills of one key in one millisecond with the same object id are not
                // ordered by SEMANTICS.md (only "greatest object id"): keep the first only.
                let mut seen = std::collections::HashSet::new();
                let cache: Vec<_> = cache
                    .into_iter()
                    .filter(|e| {
                        e.op != CacheOp::Fill || seen.insert((e.ts, e.node.clone(), e.key.clone(), e.object_id.clone()))
                    })
                    .collect();
                let mut deliveries = Vec::new();
                let mut servers = Vec::new();
                for (i, (mut d, server)) in dels.into_iter().enumerate() {
                    d.request_id = format!("r{i}");
                    deliveries.push(d);
                    servers.push(server.map(|s| SERVERS[s].to_string()));
                }
                let offsets: BTreeMap<String, i64> = match offsets {
                    None => BTreeMap::new(),
                    Some(v) => NODES.iter().chain(SERVERS.iter()).map(|n| n.to_string()).zip(v).collect(),
                };
                let ds = Dataset {
                    deliveries,
                    cache,
                    sessions,
                    ownership,
                    tolerance_ms,
                    session_ttl_ms: ttl.unwrap_or(24 * 3_600_000),
                };
                let layout = Layout {
                    seed,
                    write_ttl: ttl.is_some(),
                    offsets,
                    servers,
                };
                (ds, layout)
            })
    })
}

fn cases_from_env(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(Config {
        cases: cases_from_env(256),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn engine_matches_reference((ds, layout) in case()) {
        if let Err(msg) = compare(&ds, &layout) {
            return Err(TestCaseError::fail(msg));
        }
    }
}

/// The generator must produce every verdict and every same-millisecond tie often enough for
/// the differential test to mean something (no engine involved).
#[test]
fn generator_covers_every_verdict_and_tie() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut verdicts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ties: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total = 0;
    for _ in 0..300 {
        let (ds, _) = strategy.new_tree(&mut runner).unwrap().current();
        for v in ds.verdicts().values() {
            *verdicts.entry(verdict_name(*v)).or_default() += 1;
            total += 1;
        }
        let mut tie = |name, hit: bool| *ties.entry(name).or_default() += hit as usize;
        let s = &ds.sessions;
        tie(
            "start/start",
            s.iter().any(|a| {
                s.iter().any(|b| {
                    a.ts == b.ts
                        && a.session_id == b.session_id
                        && a.account_id != b.account_id
                        && a.event == reference::SessionOp::Start
                        && b.event == reference::SessionOp::Start
                })
            }),
        );
        tie(
            "start/end",
            s.iter().any(|a| {
                s.iter()
                    .any(|b| a.ts == b.ts && a.session_id == b.session_id && a.event != b.event)
            }),
        );
        let o = &ds.ownership;
        let same = |a: &reference::OwnershipEvent, b: &reference::OwnershipEvent| {
            a.ts == b.ts && a.stream_id == b.stream_id
        };
        tie(
            "bind/bind",
            o.iter().any(|a| {
                o.iter().any(|b| {
                    same(a, b) && a.event == Bind && b.event == Bind && a.account_id != b.account_id
                })
            }),
        );
        tie(
            "bind/unbind",
            o.iter().any(|a| {
                o.iter()
                    .any(|b| same(a, b) && a.event == Bind && b.event == Unbind)
            }),
        );
        tie(
            "grant/revoke",
            o.iter().any(|a| {
                o.iter().any(|b| {
                    same(a, b)
                        && a.account_id == b.account_id
                        && a.event == Grant
                        && b.event == Revoke
                })
            }),
        );
        let c = &ds.cache;
        tie(
            "fill/fill",
            c.iter().any(|a| {
                c.iter().any(|b| {
                    a.ts == b.ts
                        && a.node == b.node
                        && a.key == b.key
                        && a.op == CacheOp::Fill
                        && b.op == CacheOp::Fill
                        && a.object_id != b.object_id
                })
            }),
        );
        tie(
            "fill/drop",
            c.iter().any(|a| {
                c.iter().any(|b| {
                    a.ts == b.ts
                        && a.node == b.node
                        && (a.key == b.key || b.key == "*")
                        && a.op == CacheOp::Fill
                        && b.op != CacheOp::Fill
                })
            }),
        );
    }
    eprintln!("verdicts over 300 datasets: {verdicts:?}\ndatasets with a tie: {ties:?}");
    for name in [
        "ok",
        "leak",
        "ambiguous",
        "no_session",
        "no_content",
        "no_owner",
    ] {
        let n = verdicts.get(name).copied().unwrap_or(0);
        assert!(n * 50 >= total, "{name}: only {n} of {total} deliveries");
    }
    for (name, n) in ties {
        assert!(n >= 15, "tie {name}: only {n} of 300 datasets");
    }
}
