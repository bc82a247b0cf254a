//! Build intervals: turns event logs into timelines (session windows, owners, grants, cache contents) for as-of look-ups.
//!
//! Each timeline has one event per (key, instant) after resolving events that share a
//! millisecond, so that a look-up "latest event with ts <= L" finds exactly the state the contract
//! defines. The tie rules are in docs/SEMANTICS.md. Identifiers become codes of one dictionary per
//! domain ([`Codes`]), and each log's events are sorted by (key code, time) as plain integers.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::cite::Cite;
use crate::codes::{Codes, Dictionary, Pairs, UNKNOWN};
use crate::load::cache_log::CacheEvent;
pub use crate::load::cache_log::{CacheEntry, CacheLog, Fills};
use crate::load::LoadedDataset;
use crate::schema::{Kind, OwnershipEvent, SessionEvent};
use crate::snapshots::{read_snapshots, Doubt, Snapshots};
use crate::table::{Table, Text};
use crate::timeline::{Timeline, TimelineBuilder, TimelineError};

/// All timelines of a dataset. Identifiers are codes of `codes`.
pub struct Timelines {
    /// Per session: its windows, each from its start (the event's time) to its end.
    pub sessions: Timeline<SessionWindow>,
    /// Per stream: its owner from each event on (`None`: unbound).
    pub owners: Timeline<Option<u32>>,
    /// Per stream: where its owner is known only to lie between two registry snapshots
    /// (`ownership_snapshots`); empty for an ownership log of events.
    pub owner_doubt: Timeline<Doubt<Option<u32>>>,
    /// Registry snapshots that listed more than one owner of a stream, and were not read for it.
    pub snapshot_conflicts: usize,
    /// Per (stream, account) pair of `grant_pairs`: whether the grant holds from each event on.
    pub grants: Timeline<bool>,
    /// Per pair: where its grant is known only to lie between two registry snapshots.
    pub grant_doubt: Timeline<Doubt<bool>>,
    pub grant_pairs: Pairs,
    /// Per (cache node, cache key) slot of `slots`: what the key holds from each event on.
    pub cache: Timeline<Held>,
    /// What each fill stored; its origin streams are codes of `codes`.
    pub fills: Fills,
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
    /// The `end` event that closed it; [`Cite::NONE`] when the TTL did.
    pub end_cite: Cite,
}

/// What a cache key holds from one event on: fill i of [`Timelines::fills`], or nothing (an
/// evict or purge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held(u32);

impl Held {
    pub const NOTHING: Held = Held(u32::MAX);

    /// The index of the fill held, if any.
    pub fn fill(self) -> Option<u32> {
        (self != Held::NOTHING).then_some(self.0)
    }
}

/// The timelines of a loaded dataset, with its cache log, taken from it (`loaded.cache`).
pub fn build(loaded: &LoadedDataset, cache: CacheLog) -> Result<Timelines, TimelineError> {
    build_from(
        loaded.table(Kind::Sessions),
        loaded.table(Kind::Ownership),
        cache,
        loaded.settings.session_ttl_ms,
        loaded.settings.ownership_snapshots,
    )
}

/// The timelines of these sessions, ownership and cache logs; `snapshots`: the ownership log is
/// a registry dump ([`crate::snapshots`]).
pub fn build_from(
    sessions: &Table,
    ownership: &Table,
    cache: CacheLog,
    session_ttl_ms: i64,
    snapshots: bool,
) -> Result<Timelines, TimelineError> {
    // The cache log, the longest, is built beside the sessions and ownership timelines. It codes
    // its origin streams in a dictionary of its own, mapped into the shared one afterwards.
    let (logs, timelines) = rayon::join(
        || -> Result<_, TimelineError> {
            let mut codes = Codes::default();
            let sessions = session_timeline(sessions, session_ttl_ms, &mut codes)?;
            let owned = match snapshots {
                true => read_snapshots(ownership, &mut codes)?,
                // An event log: nothing in doubt.
                false => {
                    let owners = owner_timeline(ownership, &mut codes)?;
                    let (grants, grant_pairs) = grant_timeline(ownership, &mut codes)?;
                    Snapshots {
                        owners,
                        owner_doubt: Timeline::default(),
                        grants,
                        grant_doubt: Timeline::default(),
                        grant_pairs,
                        conflicts: 0,
                    }
                }
            };
            Ok((sessions, owned, codes))
        },
        || -> Result<_, TimelineError> { Ok((cache_timeline(&cache)?, purge_timeline(&cache)?)) },
    );
    let (sessions, owned, mut codes) = logs?;
    let (cache_tl, purges) = timelines?;
    let CacheLog {
        nodes,
        keys,
        streams,
        configs,
        slots,
        events,
        mut fills,
        ..
    } = cache;
    // The events are in the timeline now; at 10^8 deliveries they are gigabytes.
    std::thread::spawn(move || drop(events));
    let remap = streams
        .values()
        .iter()
        .map(|s| codes.streams.code(s))
        .collect::<Result<Vec<u32>, _>>()?;
    fills
        .origin
        .par_iter_mut()
        .try_for_each(|o| -> Result<(), TimelineError> {
            if *o != UNKNOWN {
                *o = *remap
                    .get(*o as usize)
                    .ok_or(TimelineError::UnknownCode(*o))?;
            }
            Ok(())
        })?;
    codes.nodes = nodes;
    codes.keys = keys;
    codes.configs = configs;
    Ok(Timelines {
        sessions,
        owners: owned.owners,
        owner_doubt: owned.owner_doubt,
        snapshot_conflicts: owned.conflicts,
        grants: owned.grants,
        grant_doubt: owned.grant_doubt,
        grant_pairs: owned.grant_pairs,
        cache: cache_tl,
        fills,
        slots,
        purges,
        codes,
    })
}

/// A row index as the sort keys carry it.
fn row32(i: usize) -> Result<u32, TimelineError> {
    u32::try_from(i).map_err(|_| TimelineError::TooManyEvents)
}

/// One window of a session, with the rows that opened and closed it.
#[derive(Debug, Clone, Copy)]
struct Window<A> {
    start: i64,
    end: i64,
    account: A,
    start_cite: Cite,
    /// [`Cite::NONE`] when the TTL closed it.
    end_cite: Cite,
}

/// Calls `emit` for each window of one session, from its events in time order: one window per
/// `start`, running to the first `end` at or after it or the TTL, whichever comes first; of
/// starts in one millisecond the greatest account wins, stated by the first row that names it.
fn windows_of<A: Ord + Copy>(
    events: impl Iterator<Item = (i64, SessionEvent, Option<A>, Cite)> + Clone,
    ttl_ms: i64,
    mut emit: impl FnMut(Window<A>),
) {
    let ends: Vec<(i64, Cite)> = events
        .clone()
        .filter(|e| e.1 == SessionEvent::End)
        .map(|e| (e.0, e.3))
        .collect();
    let mut window = |(start, account, start_cite): (i64, A, Cite)| {
        let ttl_end = start.saturating_add(ttl_ms);
        let (end, end_cite) = match ends.get(ends.partition_point(|e| e.0 < start)) {
            Some(&(e, cite)) if e <= ttl_end => (e, cite),
            _ => (ttl_end, Cite::NONE),
        };
        emit(Window {
            start,
            end,
            account,
            start_cite,
            end_cite,
        });
    };
    let mut pending: Option<(i64, A, Cite)> = None;
    for (ts, e, account, cite) in events {
        let (SessionEvent::Start, Some(a)) = (e, account) else {
            continue;
        };
        match pending {
            Some((t, b, c)) if t == ts => {
                pending = Some(match a > b {
                    true => (ts, a, cite),
                    false => (ts, b, c),
                })
            }
            Some(p) => {
                window(p);
                pending = Some((ts, a, cite));
            }
            None => pending = Some((ts, a, cite)),
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
    type Event<'a> = (i64, SessionEvent, Option<&'a str>, Cite);
    let mut by_session: BTreeMap<&str, Vec<Event>> = BTreeMap::new();
    for i in 0..t.len() {
        let (Some(ts), Some(s), Some(e)) = (ts[i], sid.str(i), ev[i]) else {
            continue;
        };
        // The windows listed here carry no cites, so ties within a millisecond may come in any order.
        by_session
            .entry(s)
            .or_default()
            .push((ts, e, acct.str(i), Cite::NONE));
    }
    let mut out = Vec::new();
    for (s, mut events) in by_session {
        events.sort_unstable_by_key(|e| e.0);
        windows_of(events.into_iter(), ttl_ms, |w| {
            out.push(SessionInterval {
                session_id: s.to_string(),
                start: w.start,
                end: w.end,
                account: w.account.to_string(),
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
    let cites = t
        .source
        .iter()
        .map(|&s| Cite::of(s))
        .collect::<Result<Vec<Cite>, _>>()?;
    let mut windows: Vec<(u32, Window<&Text>)> = Vec::new();
    for group in events.chunk_by(|a, b| a.0 == b.0) {
        let session = group[0].0;
        let of_session = group.iter().filter_map(|&(_, ts, i)| {
            let i = i as usize;
            Some((ts, ev[i]?, acct.get(i), cites[i]))
        });
        windows_of(of_session, ttl_ms, |w| windows.push((session, w)));
    }
    drop(events);
    let mut coded = Vec::with_capacity(windows.len());
    for (s, w) in windows {
        let account = codes.accounts.code(w.account)?;
        let window = SessionWindow {
            end: w.end,
            account,
            end_cite: w.end_cite,
        };
        coded.push((s, w.start, window, w.start_cite));
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
        // The first row, in row order, of those naming the winner states the change.
        let mut winner = &group[0];
        for e in &group[1..] {
            if owner_of(e.2) > owner_of(winner.2) {
                winner = e;
            }
        }
        let owner = owner_of(winner.2)
            .map(|a| codes.accounts.code(a))
            .transpose()?;
        let cite = Cite::of(t.source[winner.2 as usize])?;
        changes.push((group[0].0, group[0].1, owner, cite));
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
    // A revoke sorts before a grant of the same millisecond: the first event of each is the one
    // in force, and the row that states it.
    let mut events: Vec<(u32, i64, bool, u32)> = Vec::new();
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
        events.push((pair, ts, granted, row32(i)?));
    }
    events.par_sort_unstable();
    let mut changes = Vec::new();
    for g in events.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let cite = Cite::of(t.source[g[0].3 as usize])?;
        changes.push((g[0].0, g[0].1, g[0].2, cite));
    }
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

/// The identifier behind a code, if any.
fn text(d: &Dictionary, c: Option<u32>) -> Option<&str> {
    c.and_then(|c| d.value(c)).map(|v| &**v)
}

/// The cache timeline, keyed by (node, key) slot; purges of `*` are the purge timeline's. At one
/// millisecond a fill beats an evict or purge, and the greatest object id wins among fills.
fn cache_timeline(log: &CacheLog) -> Result<Timeline<Held>, TimelineError> {
    let (fills, streams, configs) = (&log.fills, &log.streams, &log.configs);
    let rank = |e: &CacheEvent| -> Rank {
        match e.fill().and_then(|f| fills.entry(f)) {
            None => (false, None, None, None, None),
            Some(f) => (
                true,
                f.object,
                text(streams, f.origin),
                f.captured,
                text(configs, f.config),
            ),
        }
    };
    // The events are sorted by slot and time: one pass resolves each millisecond's ties.
    let mut timeline = TimelineBuilder::new(log.slots.len(), log.events.len());
    for group in log.events.chunk_by(|a, b| (a.slot, a.ts) == (b.slot, b.ts)) {
        let mut w = &group[0];
        for e in &group[1..] {
            if rank(e) > rank(w) {
                w = e;
            }
        }
        timeline.push(
            w.slot,
            w.ts,
            w.fill().map_or(Held::NOTHING, Held),
            log.cite(w)?,
        )?;
    }
    timeline.finish()
}

/// Purges of every key (`*`), keyed by cache node.
fn purge_timeline(log: &CacheLog) -> Result<Timeline<()>, TimelineError> {
    // Purges are sorted by node, time and digest; the first of a millisecond states it.
    let mut purges = Vec::with_capacity(log.purges.len());
    for p in log.purges.chunk_by(|a, b| (a.node, a.ts) == (b.node, b.ts)) {
        purges.push((p[0].node, p[0].ts, (), p[0].cite()?));
    }
    Timeline::from_sorted(log.nodes.len(), purges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::Dictionary;
    use crate::load::table_from_csv;

    fn table(kind: Kind, csv: &str) -> Table {
        table_from_csv(kind, csv, 0)
    }

    fn cache_log(csv: &str) -> CacheLog {
        CacheLog::from_table(table(Kind::Cache, csv), 1).unwrap().0
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

        let c = cache_log(
            "ts,cache_node,cache_key,op,object_id,origin_stream_id\n5,n,k,evict,,\n5,n,k,fill,o1,c1\n5,n,k,fill,o2,c2\n9,n,*,purge,,\n",
        );
        let f = cache_timeline(&c).unwrap();
        assert_eq!(f.len(), 1);
        let held = f.event(0).unwrap().1.fill().and_then(|i| c.fills.entry(i));
        assert_eq!(held.and_then(|e| e.object), Some("o2"));
        assert_eq!(purge_timeline(&c).unwrap().len(), 1);
        for rows in [
            "5,n,k,fill,o1,c1\n5,n,k,fill,o1,c2\n",
            "5,n,k,fill,o1,c2\n5,n,k,fill,o1,c1\n",
        ] {
            let c = cache_log(&format!(
                "ts,cache_node,cache_key,op,object_id,origin_stream_id\n{rows}"
            ));
            let f = cache_timeline(&c).unwrap();
            let held = f.event(0).unwrap().1.fill().and_then(|i| c.fills.entry(i));
            let origin = held.and_then(|e| e.origin);
            assert_eq!(name(&c.streams, origin), Some("c2"), "{rows}");
        }
    }

    /// Each key's events are in time order whatever the order of the log, and a key `*` that is
    /// not purged is a key like any other.
    #[test]
    fn cache_and_purge_timelines_are_per_key_in_time_order() {
        let c = cache_log(
            "ts,cache_node,cache_key,op,object_id,origin_stream_id
30,a,k,fill,o3,c
10,a,k,fill,o1,c
20,a,k,evict,,
25,b,*,purge,,
40,b,*,fill,o4,c
5,a,*,purge,,
",
        );
        let cache = cache_timeline(&c).unwrap();
        let (a, b) = (c.nodes.lookup("a"), c.nodes.lookup("b"));
        let ak = cache.events(c.slots.get(a, c.keys.lookup("k")).unwrap());
        let times: Vec<i64> = (0..ak.len()).map(|i| ak.ts(i)).collect();
        assert_eq!(times, [10, 20, 30]);
        let star = cache.events(c.slots.get(b, c.keys.lookup("*")).unwrap());
        assert_eq!((star.len(), star.ts(0)), (1, 40));
        let purges = purge_timeline(&c).unwrap();
        assert_eq!((purges.events(a).ts(0), purges.events(b).ts(0)), (5, 25));
    }
}
