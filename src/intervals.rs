//! Build intervals: turns event logs into timelines (session windows, owners, grants, cache contents) for as-of look-ups.
//!
//! Each timeline has one event per (key, instant) after resolving events that share a
//! millisecond, so that a look-up "latest event with ts <= L" finds exactly the state the contract
//! defines. The tie rules are in docs/SEMANTICS.md. Identifiers become codes of one dictionary per
//! domain ([`Codes`]), and each log's events are sorted by (key code, time) as plain integers.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::codes::{Codes, Pairs};
use crate::load::LoadedDataset;
use crate::schema::{CacheOp, Kind, OwnershipEvent, SessionEvent};
use crate::table::{Table, Text, TextColumn};
use crate::timeline::{Timeline, TimelineBuilder, TimelineError};

/// All timelines of a dataset. Identifiers are codes of `codes`.
pub struct Timelines {
    /// Per session: its windows, each from its start (the event's time) to its end.
    pub sessions: Timeline<SessionWindow>,
    /// Per stream: its owner from each event on (`None`: unbound).
    pub owners: Timeline<Option<u32>>,
    /// Per (stream, account) pair of `grant_pairs`: whether the grant holds from each event on.
    pub grants: Timeline<bool>,
    pub grant_pairs: Pairs,
    /// Per (cache node, cache key) slot of `slots`: what the key holds from each event on.
    pub cache: Timeline<CacheEntry>,
    pub slots: Pairs,
    /// Per cache node: its purges of every key (`*`).
    pub purges: Timeline<()>,
    /// The identifiers behind the codes.
    pub codes: Codes,
}

/// A session window: the account behind a session over [start, end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInterval {
    pub session_id: String,
    pub start: i64,
    pub end: i64,
    pub account: String,
}

/// A session window as the sessions timeline holds it; it starts at its event's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindow {
    /// The window is open before this instant.
    pub end: i64,
    pub account: u32,
}

/// What a cache key holds from one event on: a fill's object, or nothing (an evict or purge).
#[derive(Debug, Clone, PartialEq)]
pub struct CacheEntry {
    pub fill: bool,
    pub origin: Option<u32>,
    pub captured: Option<i64>,
    /// The cache log's own text, shared: objects are mostly distinct, so coding them would only
    /// build a dictionary as large as the log.
    pub object: Option<Text>,
    pub config: Option<u32>,
}

pub fn build(loaded: &LoadedDataset) -> Result<Timelines, TimelineError> {
    build_from(
        loaded.table(Kind::Sessions),
        loaded.table(Kind::Ownership),
        loaded.table(Kind::Cache),
        loaded.settings.session_ttl_ms,
    )
}

/// The timelines of these sessions, ownership and cache logs.
pub fn build_from(
    sessions: &Table,
    ownership: &Table,
    cache: &Table,
    session_ttl_ms: i64,
) -> Result<Timelines, TimelineError> {
    // The cache log, the longest, is built beside the sessions and ownership timelines. It codes
    // its origin streams in a dictionary of its own, mapped into the shared one afterwards.
    let (logs, cache) = rayon::join(
        || -> Result<_, TimelineError> {
            let mut codes = Codes::default();
            let sessions = session_timeline(sessions, session_ttl_ms, &mut codes)?;
            let owners = owner_timeline(ownership, &mut codes)?;
            let grants = grant_timeline(ownership, &mut codes)?;
            Ok((sessions, owners, (grants, codes)))
        },
        || -> Result<_, TimelineError> {
            let mut codes = Codes::default();
            let purges = purge_timeline(cache, &mut codes)?;
            let cache = cache_timeline(cache, &mut codes)?;
            Ok((cache, purges, codes))
        },
    );
    let (sessions, owners, ((grants, grant_pairs), mut codes)) = logs?;
    let ((mut cache, slots), purges, cache_codes) = cache?;
    let remap = cache_codes
        .streams
        .values()
        .iter()
        .map(|s| codes.streams.code(s))
        .collect::<Result<Vec<u32>, _>>()?;
    cache
        .states_mut()
        .par_iter_mut()
        .try_for_each(|e| -> Result<(), TimelineError> {
            if let Some(o) = e.origin {
                let global = remap.get(o as usize).ok_or(TimelineError::UnknownCode(o))?;
                e.origin = Some(*global);
            }
            Ok(())
        })?;
    codes.nodes = cache_codes.nodes;
    codes.keys = cache_codes.keys;
    codes.configs = cache_codes.configs;
    Ok(Timelines {
        sessions,
        owners,
        grants,
        grant_pairs,
        cache,
        slots,
        purges,
        codes,
    })
}

/// A row index as the sort keys carry it.
fn row32(i: usize) -> Result<u32, TimelineError> {
    u32::try_from(i).map_err(|_| TimelineError::TooManyEvents)
}

/// Calls `emit(start, end, account)` for each window of one session, from its events in time
/// order: one window per `start`, running to the first `end` at or after it or the TTL, whichever
/// comes first; of starts in one millisecond the greatest account wins.
fn windows_of<A: Ord + Copy>(
    events: impl Iterator<Item = (i64, SessionEvent, Option<A>)> + Clone,
    ttl_ms: i64,
    mut emit: impl FnMut(i64, i64, A),
) {
    let ends: Vec<i64> = events
        .clone()
        .filter(|e| e.1 == SessionEvent::End)
        .map(|e| e.0)
        .collect();
    let mut window = |(start, account): (i64, A)| {
        let mut end = start.saturating_add(ttl_ms);
        if let Some(&e) = ends.get(ends.partition_point(|&e| e < start)) {
            end = end.min(e);
        }
        emit(start, end, account);
    };
    let mut pending: Option<(i64, A)> = None;
    for (ts, e, account) in events {
        let (SessionEvent::Start, Some(a)) = (e, account) else {
            continue;
        };
        match pending {
            Some((t, b)) if t == ts => pending = Some((ts, a.max(b))),
            Some(p) => {
                window(p);
                pending = Some((ts, a));
            }
            None => pending = Some((ts, a)),
        }
    }
    if let Some(p) = pending {
        window(p);
    }
}

/// Every session window of the sessions log, sorted by start, then session.
pub fn session_intervals(t: &Table, ttl_ms: i64) -> Vec<SessionInterval> {
    let (ts, sid, ev, acct) = (
        t.time("ts"),
        t.text("session_id"),
        t.enums::<SessionEvent>("event"),
        t.text("account_id"),
    );
    type Event<'a> = (i64, SessionEvent, Option<&'a str>);
    let mut by_session: BTreeMap<&str, Vec<Event>> = BTreeMap::new();
    for i in 0..t.len() {
        let (Some(ts), Some(s), Some(e)) = (ts[i], sid.str(i), ev[i]) else {
            continue;
        };
        by_session.entry(s).or_default().push((ts, e, acct.str(i)));
    }
    let mut out = Vec::new();
    for (s, mut events) in by_session {
        events.sort_unstable_by_key(|e| e.0);
        windows_of(events.into_iter(), ttl_ms, |start, end, account| {
            out.push(SessionInterval {
                session_id: s.to_string(),
                start,
                end,
                account: account.to_string(),
            })
        });
    }
    out.sort_by(|a, b| (a.start, &a.session_id).cmp(&(b.start, &b.session_id)));
    out
}

/// The sessions timeline: each session's windows, keyed by session code.
fn session_timeline(
    t: &Table,
    ttl_ms: i64,
    codes: &mut Codes,
) -> Result<Timeline<SessionWindow>, TimelineError> {
    let (ts, sid, ev, acct) = (
        t.time("ts"),
        t.text("session_id"),
        t.enums::<SessionEvent>("event"),
        t.text("account_id"),
    );
    let session_code = codes.sessions.code_all(sid)?;
    let mut events: Vec<(u32, i64, u32)> = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        let (Some(ts), Some(_), Some(_)) = (ts[i], sid.get(i), ev[i]) else {
            continue;
        };
        events.push((session_code[i], ts, row32(i)?));
    }
    drop(session_code);
    events.par_sort_unstable();
    let mut windows: Vec<(u32, i64, i64, &Text)> = Vec::new();
    for group in events.chunk_by(|a, b| a.0 == b.0) {
        let session = group[0].0;
        let of_session = group.iter().filter_map(|&(_, ts, i)| {
            let i = i as usize;
            Some((ts, ev[i]?, acct.get(i)))
        });
        windows_of(of_session, ttl_ms, |start, end, account| {
            windows.push((session, start, end, account))
        });
    }
    drop(events);
    let mut coded = Vec::with_capacity(windows.len());
    for (s, start, end, account) in windows {
        let account = codes.accounts.code(account)?;
        coded.push((s, start, SessionWindow { end, account }));
    }
    Timeline::from_sorted(codes.sessions.len(), coded)
}

/// The owners timeline, keyed by stream code. At one millisecond a bind beats an unbind, and the
/// greatest account among binds wins.
fn owner_timeline(t: &Table, codes: &mut Codes) -> Result<Timeline<Option<u32>>, TimelineError> {
    let (ts, stream, acct, ev) = (
        t.time("ts"),
        t.text("stream_id"),
        t.text("account_id"),
        t.enums::<OwnershipEvent>("event"),
    );
    let mut events: Vec<(u32, i64, u32)> = Vec::new();
    for i in 0..t.len() {
        let (Some(ts), Some(s), Some(OwnershipEvent::Bind | OwnershipEvent::Unbind)) =
            (ts[i], stream.get(i), ev[i])
        else {
            continue;
        };
        events.push((codes.streams.code(s)?, ts, row32(i)?));
    }
    events.par_sort_unstable();
    let owner_of = |i: u32| match ev[i as usize] {
        Some(OwnershipEvent::Bind) => acct.get(i as usize),
        _ => None,
    };
    let mut changes = Vec::new();
    for group in events.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let winner = group.iter().map(|e| owner_of(e.2)).max().flatten();
        let owner = winner.map(|a| codes.accounts.code(a)).transpose()?;
        changes.push((group[0].0, group[0].1, owner));
    }
    Timeline::from_sorted(codes.streams.len(), changes)
}

/// The grants timeline, keyed by (stream, account) pair. At one millisecond a revoke beats a grant.
fn grant_timeline(t: &Table, codes: &mut Codes) -> Result<(Timeline<bool>, Pairs), TimelineError> {
    let (ts, stream, acct, ev) = (
        t.time("ts"),
        t.text("stream_id"),
        t.text("account_id"),
        t.enums::<OwnershipEvent>("event"),
    );
    let mut pairs = Pairs::default();
    let mut events: Vec<(u32, i64, bool)> = Vec::new();
    for i in 0..t.len() {
        let (Some(ts), Some(s), Some(a), Some(e)) = (ts[i], stream.get(i), acct.get(i), ev[i])
        else {
            continue;
        };
        let granted = match e {
            OwnershipEvent::Grant => true,
            OwnershipEvent::Revoke => false,
            OwnershipEvent::Bind | OwnershipEvent::Unbind => continue,
        };
        let pair = pairs.id(codes.streams.code(s)?, codes.accounts.code(a)?)?;
        events.push((pair, ts, granted));
    }
    events.par_sort_unstable();
    let changes = events
        .chunk_by(|a, b| (a.0, a.1) == (b.0, b.1))
        .map(|g| (g[0].0, g[0].1, g.iter().all(|e| e.2)));
    Ok((Timeline::from_sorted(pairs.len(), changes)?, pairs))
}

/// A cache event's state, ranked for ties: fills first, then by object id, and by every other
/// field after that, so the winner of one millisecond never depends on input order.
type Rank<'a> = (
    bool,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
    Option<&'a str>,
);

/// The cache timeline, keyed by (node, key) slot; purges of `*` are the purge timeline's. At one
/// millisecond a fill beats an evict or purge, and the greatest object id wins among fills.
fn cache_timeline(
    t: &Table,
    codes: &mut Codes,
) -> Result<(Timeline<CacheEntry>, Pairs), TimelineError> {
    let (ts, node, key, op) = (
        t.time("ts"),
        t.text("cache_node"),
        t.text("cache_key"),
        t.enums::<CacheOp>("op"),
    );
    let (obj, origin, cap, cfg) = (
        t.text("object_id"),
        t.text("origin_stream_id"),
        t.time("captured_at"),
        t.text("config_version"),
    );
    // Nodes and keys are two dictionaries, filled side by side.
    let (node_code, key_code) =
        rayon::join(|| codes.nodes.code_all(node), || codes.keys.code_all(key));
    let (node_code, key_code) = (node_code?, key_code?);
    let mut slots = Pairs::default();
    let mut events: Vec<(u32, i64, u32)> = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        let (Some(ts), Some(_), Some(k), Some(o)) = (ts[i], node.get(i), key.get(i), op[i]) else {
            continue;
        };
        // Only `purge` gives `*` its meaning, in the purge timeline.
        if o == CacheOp::Purge && &**k == "*" {
            continue;
        }
        let slot = slots.id(node_code[i], key_code[i])?;
        events.push((slot, ts, row32(i)?));
    }
    drop((node_code, key_code));
    events.par_sort_unstable();
    let is_fill = |i: usize| op[i] == Some(CacheOp::Fill);
    let rank = |i: usize| -> Rank {
        let fill = is_fill(i);
        fn when(v: &TextColumn, i: usize, fill: bool) -> Option<&str> {
            v.str(i).filter(|_| fill)
        }
        (
            fill,
            when(obj, i, fill),
            when(origin, i, fill),
            cap[i].filter(|_| fill),
            when(cfg, i, fill),
        )
    };
    // Slot codes are final: every slot was seen above, so the timeline's size is known.
    let mut timeline = TimelineBuilder::new(slots.len(), events.len());
    for group in events.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let mut w = group[0].2 as usize;
        for e in &group[1..] {
            if rank(e.2 as usize) > rank(w) {
                w = e.2 as usize;
            }
        }
        let entry = match is_fill(w) {
            true => CacheEntry {
                fill: true,
                origin: origin.get(w).map(|o| codes.streams.code(o)).transpose()?,
                captured: cap[w],
                object: obj.get(w).cloned(),
                config: cfg.get(w).map(|c| codes.configs.code(c)).transpose()?,
            },
            false => CacheEntry {
                fill: false,
                origin: None,
                captured: None,
                object: None,
                config: None,
            },
        };
        timeline.push(group[0].0, group[0].1, entry)?;
    }
    Ok((timeline.finish()?, slots))
}

/// Purges of every key (`*`), keyed by cache node.
fn purge_timeline(t: &Table, codes: &mut Codes) -> Result<Timeline<()>, TimelineError> {
    let (ts, node, key, op) = (
        t.time("ts"),
        t.text("cache_node"),
        t.text("cache_key"),
        t.enums::<CacheOp>("op"),
    );
    let mut purges: Vec<(u32, i64)> = Vec::new();
    for i in 0..t.len() {
        if op[i] != Some(CacheOp::Purge) || key.str(i) != Some("*") {
            continue;
        }
        if let (Some(ts), Some(n)) = (ts[i], node.get(i)) {
            purges.push((codes.nodes.code(n)?, ts));
        }
    }
    purges.sort_unstable();
    purges.dedup();
    Timeline::from_sorted(
        codes.nodes.len(),
        purges.into_iter().map(|(n, t)| (n, t, ())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::Dictionary;
    use crate::load::table_from_csv;

    fn table(kind: Kind, csv: &str) -> Table {
        table_from_csv(kind, csv, 0)
    }

    fn name(dict: &Dictionary, code: Option<u32>) -> Option<&str> {
        code.map(|c| &**dict.value(c).unwrap())
    }

    #[test]
    fn windows_end_at_end_or_ttl() {
        let t = table(
            Kind::Sessions,
            "ts,session_id,event,account_id\n0,s,start,a\n100,s,start,b\n150,s,end,\n150,s,start,c\n500,s,start,d\n1000,t,start,z\n1000,t,start,y\n",
        );
        let want = vec![
            ("s", 0, 150, "a"),
            ("s", 100, 150, "b"),
            ("s", 150, 150, "c"),
            ("s", 500, 700, "d"),
            ("t", 1000, 1200, "z"),
        ];
        let iv = session_intervals(&t, 200);
        let got: Vec<(&str, i64, i64, &str)> = iv
            .iter()
            .map(|i| (i.session_id.as_str(), i.start, i.end, i.account.as_str()))
            .collect();
        assert_eq!(got, want);
        // The timeline the join reads holds the same windows.
        let mut codes = Codes::default();
        let tl = session_timeline(&t, 200, &mut codes).unwrap();
        let mut got = Vec::new();
        for s in ["s", "t"] {
            let e = tl.events(codes.sessions.lookup(s));
            for i in 0..e.len() {
                let w = e.state(i);
                got.push((
                    s,
                    e.ts(i),
                    w.end,
                    name(&codes.accounts, Some(w.account)).unwrap(),
                ));
            }
        }
        assert_eq!(got, want);
    }

    #[test]
    fn same_millisecond_rules() {
        let t = table(
            Kind::Ownership,
            "ts,stream_id,account_id,event\n10,c,a,unbind\n10,c,b,bind\n20,c,a,grant\n20,c,a,revoke\n30,c,x,bind\n30,c,y,bind\n",
        );
        let mut codes = Codes::default();
        let o = owner_timeline(&t, &mut codes).unwrap();
        let owners = o.events(codes.streams.lookup("c"));
        let names: Vec<Option<&str>> = (0..owners.len())
            .map(|i| name(&codes.accounts, *owners.state(i)))
            .collect();
        assert_eq!(names, [Some("b"), Some("y")]);
        let (g, pairs) = grant_timeline(&t, &mut codes).unwrap();
        let pair = pairs
            .get(codes.streams.lookup("c"), codes.accounts.lookup("a"))
            .unwrap();
        let grants = g.events(pair);
        assert_eq!(
            (grants.len(), *grants.state(0)),
            (1, false),
            "a revoke beats a grant"
        );

        let c = table(
            Kind::Cache,
            "ts,cache_node,cache_key,op,object_id,origin_stream_id\n5,n,k,evict,,\n5,n,k,fill,o1,c1\n5,n,k,fill,o2,c2\n9,n,*,purge,,\n",
        );
        let (f, _) = cache_timeline(&c, &mut codes).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f.event(0).unwrap().1.object.as_deref(), Some("o2"));
        assert_eq!(purge_timeline(&c, &mut codes).unwrap().len(), 1);
        for rows in [
            "5,n,k,fill,o1,c1\n5,n,k,fill,o1,c2\n",
            "5,n,k,fill,o1,c2\n5,n,k,fill,o1,c1\n",
        ] {
            let c = table(
                Kind::Cache,
                &format!("ts,cache_node,cache_key,op,object_id,origin_stream_id\n{rows}"),
            );
            let (f, _) = cache_timeline(&c, &mut codes).unwrap();
            let origin = f.event(0).unwrap().1.origin;
            assert_eq!(name(&codes.streams, origin), Some("c2"), "{rows}");
        }
    }

    /// Each key's events are in time order whatever the order of the log, and a key `*` that is
    /// not purged is a key like any other.
    #[test]
    fn cache_and_purge_timelines_are_per_key_in_time_order() {
        let mut codes = Codes::default();
        let c = table(
            Kind::Cache,
            "ts,cache_node,cache_key,op,object_id,origin_stream_id
30,a,k,fill,o3,c
10,a,k,fill,o1,c
20,a,k,evict,,
25,b,*,purge,,
40,b,*,fill,o4,c
5,a,*,purge,,
",
        );
        let (cache, slots) = cache_timeline(&c, &mut codes).unwrap();
        let (a, b) = (codes.nodes.lookup("a"), codes.nodes.lookup("b"));
        let ak = cache.events(slots.get(a, codes.keys.lookup("k")).unwrap());
        let times: Vec<i64> = (0..ak.len()).map(|i| ak.ts(i)).collect();
        assert_eq!(times, [10, 20, 30]);
        let star = cache.events(slots.get(b, codes.keys.lookup("*")).unwrap());
        assert_eq!((star.len(), star.ts(0)), (1, 40));
        let purges = purge_timeline(&c, &mut codes).unwrap();
        assert_eq!((purges.events(a).ts(0), purges.events(b).ts(0)), (5, 25));
    }
}
