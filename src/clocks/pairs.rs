//! The causal pairs: each miss and the fill it caused, each app login and the first delivery after it, gathered from the deliveries block by block.
//!
//! A miss at a stream server and the fill on its cache node relate the node's clock to the
//! server's; a session's start in the session log and the session's first delivery relate the
//! session log's clock to the server's. Both are read from logged times, as corrected by
//! `dataset.toml`, so what they bound is the correction still missing.

use std::collections::HashMap;
use std::ops::Range;

use foldhash::fast::RandomState;

use crate::codes::UNKNOWN;
use crate::intervals::Timelines;
use crate::schema::CacheStatus;
use crate::table::{Table, Text};
use crate::text::{TextColumn, ABSENT};

/// How far before a session's start its first delivery may be logged and still count as the
/// delivery that followed it: the largest offset between a server and the session log that the
/// login pairs can see.
pub const LOGIN_REACH_MS: i64 = 60_000;
/// A start is a login only if its session delivered nothing in this long before it: a start
/// amid a session's traffic (a token refresh) has no first delivery of its own.
pub const IDLE_MS: i64 = 10 * 60_000;
/// A fill more than this far from the miss that caused it (after the first alignment) is not
/// taken as that miss's fill.
pub const FILL_REACH_MS: i64 = 10_000;

/// One miss on a node the cache log names.
#[derive(Debug, Clone, Copy)]
struct Miss {
    server: u32,
    node: u32,
    slot: u32,
    ts: i64,
}

/// What the deliveries say around one session start.
#[derive(Debug, Clone, Copy, Default)]
struct Start {
    /// The first delivery of the session at or after the start's time less [`LOGIN_REACH_MS`]:
    /// (time, server).
    first: Option<(i64, u32)>,
    /// A delivery of the session in the idle span before the start.
    busy_before: bool,
}

/// The pairs of one pair of clocks: `(time, logged difference)`.
pub type Pairs = Vec<(i64, i64)>;
/// The fill pairs of each (node, server).
pub type FillPairs = Vec<((u32, u32), Pairs)>;

/// Everything gathered: per (node, server) the fill pairs, `t_delivery − t_fill`; per server the
/// login pairs, `t_delivery − t_start`. Servers and nodes by name.
#[derive(Debug, Default)]
pub struct Gathered {
    pub servers: Vec<Text>,
    pub nodes: Vec<Text>,
    /// ((node, server), pairs), by index into `nodes` and `servers`.
    pub fills: FillPairs,
    /// (server, pairs).
    pub logins: Vec<(u32, Pairs)>,
    /// Misses whose key had no fill in the cache log within reach.
    pub misses_unpaired: u64,
    /// Session starts with no first delivery.
    pub logins_unpaired: u64,
}

/// Gathers the pairs as the deliveries go by, against the timelines the join reads: the session
/// windows start at the session log's starts, and the cache timeline holds the cache log's fills.
pub struct Gatherer<'a> {
    timelines: &'a Timelines,
    servers: Names,
    misses: Vec<Miss>,
    /// Per session window, by its position over all sessions' windows.
    starts: Vec<Start>,
}

impl<'a> Gatherer<'a> {
    pub fn new(timelines: &'a Timelines) -> Gatherer<'a> {
        Gatherer {
            timelines,
            servers: Names::default(),
            misses: Vec::new(),
            starts: vec![Start::default(); timelines.sessions.len()],
        }
    }

    /// Reads rows `rows` of the deliveries `d`.
    pub fn add(&mut self, d: &Table, rows: Range<usize>) {
        let codes = &self.timelines.codes;
        let status = d.enums_in::<CacheStatus>("cache_status", rows.clone());
        let ts = d.time("ts");
        let (server, node, key) = (d.text("server"), d.text("cache_node"), d.text("cache_key"));
        let sessions = codes
            .sessions
            .lookup_all(d.text("session_id").slice(rows.clone()));
        let nodes = codes.nodes.lookup_all(node.slice(rows.clone()));
        let mut server_of = Memo::new(server);
        for (k, i) in rows.enumerate() {
            let Some(t) = ts[i] else { continue };
            let Some(srv) = server_of.get(server, i, |v| self.servers.id(v)) else {
                continue;
            };
            if status[k] == Some(CacheStatus::Miss) && nodes[k] != UNKNOWN {
                let n = nodes[k];
                let c = key
                    .get(i)
                    .map(|v| codes.keys.lookup(v))
                    .filter(|&c| c != UNKNOWN);
                if let Some(c) = c {
                    if let Some(slot) = self.timelines.slots.get(n, c) {
                        self.misses.push(Miss {
                            server: srv,
                            node: n,
                            slot,
                            ts: t,
                        });
                    }
                }
            }
            if sessions[k] != UNKNOWN {
                self.seen_in_session(sessions[k], t, srv);
            }
        }
    }

    /// A delivery of session `session` at `t` on server `srv`.
    fn seen_in_session(&mut self, session: u32, t: i64, srv: u32) {
        let windows = self.timelines.sessions.events(session);
        // The last start whose reach holds t, then the starts after it whose idle span holds t.
        let after = windows
            .latest(t.saturating_add(LOGIN_REACH_MS))
            .map_or(0, |j| j + 1);
        if let Some(j) = after.checked_sub(1) {
            let s = &mut self.starts[windows.global(j)];
            if s.first.is_none_or(|(f, _)| t < f) {
                s.first = Some((t, srv));
            }
        }
        for j in after..windows.len() {
            if windows.ts(j).saturating_sub(IDLE_MS) > t {
                break;
            }
            self.starts[windows.global(j)].busy_before = true;
        }
    }

    /// Every delivery is in: the pairs.
    pub fn finish(self) -> Gathered {
        let t = self.timelines;
        let mut out = Gathered {
            servers: self.servers.names,
            nodes: t.codes.nodes.values().to_vec(),
            ..Gathered::default()
        };
        let mut logins: HashMap<u32, Pairs, RandomState> = HashMap::default();
        for (i, s) in self.starts.iter().enumerate() {
            let Some((start, _)) = t.sessions.event(i) else {
                continue;
            };
            match (s.first, s.busy_before) {
                (_, true) => {}
                (Some((d, srv)), false) if d - start <= IDLE_MS => {
                    logins.entry(srv).or_default().push((start, d - start))
                }
                _ => out.logins_unpaired += 1,
            }
        }
        out.logins = logins.into_iter().collect();
        out.logins.sort_unstable_by_key(|(s, _)| *s);
        for (_, p) in &mut out.logins {
            p.sort_unstable();
        }
        let (fills, unpaired) = fill_pairs(t, self.misses);
        out.fills = fills;
        out.misses_unpaired = unpaired;
        out
    }
}

/// Each miss with the fill nearest to it, per (node, server): first the nearest to the miss's
/// own time, to find how far apart the two clocks roughly are (the median), then the nearest to
/// the miss's time moved by that much. A fill further than [`FILL_REACH_MS`] from there is not
/// the miss's.
fn fill_pairs(t: &Timelines, mut misses: Vec<Miss>) -> (FillPairs, u64) {
    misses.sort_unstable_by_key(|m| (m.node, m.server, m.ts, m.slot));
    // Each slot's logged fill times, in order; a fill inferred from a miss is no evidence.
    let slots = t.cache.keys();
    let mut fill_start = Vec::with_capacity(slots + 1);
    let mut fill_ts = Vec::new();
    for s in 0..slots as u32 {
        fill_start.push(fill_ts.len());
        let e = t.cache.events(s);
        fill_ts.extend((0..e.len()).filter_map(|i| {
            let f = e.state(i).fill()?;
            let logged = t.fills.entry(f).is_some_and(|f| !f.inferred);
            logged.then(|| e.ts(i))
        }));
    }
    fill_start.push(fill_ts.len());
    let nearest = |slot: u32, t: i64| {
        let (a, b) = (
            fill_start.get(slot as usize)?,
            fill_start.get(slot as usize + 1)?,
        );
        let f = &fill_ts[*a..*b];
        let i = f.partition_point(|&x| x < t);
        let after = f.get(i).copied();
        let before = i.checked_sub(1).map(|j| f[j]);
        match (before, after) {
            (Some(b), Some(a)) => Some(if t - b <= a - t { b } else { a }),
            (b, a) => b.or(a),
        }
    };
    let mut out = Vec::new();
    let mut unpaired = 0u64;
    for group in misses.chunk_by(|a, b| (a.node, a.server) == (b.node, b.server)) {
        let mut first: Vec<i64> = group
            .iter()
            .filter_map(|m| Some(m.ts - nearest(m.slot, m.ts)?))
            .collect();
        if first.is_empty() {
            unpaired += group.len() as u64;
            continue;
        }
        first.sort_unstable();
        let shift = first[(first.len() - 1) / 2];
        let mut pairs = Pairs::with_capacity(group.len());
        for m in group {
            match nearest(m.slot, m.ts - shift) {
                Some(f) if (m.ts - f - shift).abs() <= FILL_REACH_MS => {
                    pairs.push((m.ts, m.ts - f))
                }
                _ => unpaired += 1,
            }
        }
        out.push(((group[0].node, group[0].server), pairs));
    }
    (out, unpaired)
}

/// Names given ids in the order first seen.
#[derive(Debug, Default)]
struct Names {
    names: Vec<Text>,
    index: HashMap<Text, u32, RandomState>,
}

impl Names {
    fn id(&mut self, v: &Text) -> u32 {
        if let Some(&i) = self.index.get(v) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(v.clone());
        self.index.insert(v.clone(), i);
        i
    }
}

/// The ids a column's values are given, worked out once per distinct value where the column is
/// coded.
struct Memo {
    memo: Vec<u32>,
}

/// A distinct value not yet given its id.
const NOT_SEEN: u32 = u32::MAX;

impl Memo {
    fn new(col: &TextColumn) -> Memo {
        let n = col.coded().map_or(0, |(_, v)| v.len());
        Memo {
            memo: vec![NOT_SEEN; n],
        }
    }

    /// The id of cell `i`'s value, `f` applied to its text the first time it is seen; none for
    /// an absent cell.
    fn get(&mut self, col: &TextColumn, i: usize, mut f: impl FnMut(&Text) -> u32) -> Option<u32> {
        let Some((codes, values)) = col.coded() else {
            return col.get(i).map(f);
        };
        let c = *codes.get(i)?;
        if c == ABSENT {
            return None;
        }
        let slot = self.memo.get_mut(c as usize)?;
        if *slot == NOT_SEEN {
            *slot = f(values.get(c as usize)?);
        }
        Some(*slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::cache_log::CacheLog;
    use crate::load::table_from_csv;
    use crate::schema::Kind;

    /// A node 1.5 s fast logs its fills 1.5 s late against the server's misses; a login pairs
    /// with its session's first delivery; a start amid traffic and a start with no delivery are
    /// no pairs.
    #[test]
    fn misses_meet_their_fills_and_logins_their_first_requests() {
        let cache = table_from_csv(
            Kind::Cache,
            "ts,cache_node,cache_key,op,object_id,origin_stream_id\n\
             101510,n1,k,fill,o1,cam\n\
             161520,n1,k,fill,o2,cam\n\
             161530,n1,other,fill,o3,cam\n",
            0,
        );
        let (log, _, _) = CacheLog::from_table(cache, 1).unwrap();
        let sessions = table_from_csv(
            Kind::Sessions,
            "ts,session_id,event,account_id\n\
             99000,s1,start,a\n\
             50000,s2,start,b\n\
             300000,s2,start,b\n\
             500000,s3,start,c\n",
            0,
        );
        let d = table_from_csv(
            Kind::Deliveries,
            "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,server\n\
             100020,s1,cam,n1,k,miss,srv\n\
             160015,s1,cam,n1,k,miss,srv\n\
             170000,s1,cam,n1,k,hit,srv\n\
             60000,s2,cam,n1,k,hit,srv\n\
             299000,s2,cam,n1,k,hit,srv\n\
             301000,s2,cam,n1,k,hit,srv\n",
            0,
        );
        let ownership = Table::new(Kind::Ownership);
        let timelines =
            crate::intervals::build_from(&sessions, &ownership, log, 86_400_000, false).unwrap();
        let mut g = Gatherer::new(&timelines);
        g.add(&d, 0..d.len());
        let got = g.finish();
        assert_eq!(&*got.servers[0], "srv");
        assert_eq!(got.fills.len(), 1);
        assert_eq!(got.fills[0].1, vec![(100_020, -1490), (160_015, -1505)]);
        // s1's login and its first delivery (1020 ms); s2's first start and its first
        // delivery; s2's second start came amid traffic; s3 delivered nothing.
        assert_eq!(
            got.logins,
            vec![(0, vec![(50_000, 10_000), (99_000, 1020)])]
        );
        assert_eq!((got.logins_unpaired, got.misses_unpaired), (1, 0));
    }
}
