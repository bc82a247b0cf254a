//! Join: resolves each delivery's recipient, content, subject and grant by as-of look-ups in the
//! timelines, at t and with every look-up shifted by -tolerance and +tolerance (contract §4).
//!
//! Each look-up is "the latest event of the key at or before the instant": the state at instant L
//! is the result of every event with ts <= L. The look-up at t is a binary search within the key's
//! events; the shifted ones step from the position it found, so they cost something only where an
//! event of the key lies within the tolerance, the only place they can find another state.
//!
//! The look-ups are the steps of "The verdict of one delivery" in docs/SEMANTICS.md, in order;
//! each is marked with its step. [`crate::verdict::decide`] turns what they found into a class.

use std::ops::Range;

use rayon::prelude::*;

use crate::cite::Cited;
use crate::codes::UNKNOWN;
use crate::intervals::{SessionWindow, Timelines};
use crate::snapshots::Doubt;
use crate::table::Table;
use crate::timeline::Events;
use crate::verdict::{decide, decide_between, Citations, Decision, Flip, Lookup};

/// The look-ups of one delivery at t − tolerance, t and t + tolerance, in that order.
pub const SHIFT_EARLIER: usize = 0;
pub const SHIFT_NONE: usize = 1;
pub const SHIFT_LATER: usize = 2;

/// What the look-ups of one delivery found. Accounts are codes of the timelines' dictionary.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Indexed by [`SHIFT_EARLIER`], [`SHIFT_NONE`] and [`SHIFT_LATER`].
    pub at: [Lookup<u32>; 3],
    /// The content at t, when there was any.
    pub content: Option<Content>,
    /// The look-ups again with the owner of every capture-time look-up, and the grant of every
    /// delivery-time look-up, that falls between two registry snapshots showing different states
    /// taken from the later snapshot (`ownership_snapshots`); `None` when none falls between.
    /// Boxed: rare, and a block holds hundreds of thousands of these.
    pub other: Option<Box<[Lookup<u32>; 3]>>,
    /// The rows behind the look-ups, for a delivery whose class is not `ok`; boxed, as rare.
    pub cites: Option<Box<Citations>>,
}

impl Resolved {
    /// The class of the delivery with its reason, by [`decide`] (and [`decide_between`] where
    /// owners come from registry snapshots).
    pub fn decision(&self) -> Decision {
        decision(&self.at, self.other.as_deref())
    }
}

fn decision(at: &[Lookup<u32>; 3], other: Option<&[Lookup<u32>; 3]>) -> Decision {
    decide_between(
        decide(&at[SHIFT_NONE], &at[SHIFT_EARLIER], &at[SHIFT_LATER]),
        other.map(|o| decide(&o[SHIFT_NONE], &o[SHIFT_EARLIER], &o[SHIFT_LATER])),
    )
}

/// Where a delivery's content at t came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// The delivery named its own origin stream; captured at `capture_ts`.
    Named { capture_ts: i64 },
    /// What the cache held: event `entry` of the cache timeline, a fill.
    Cached { entry: usize },
}

/// Resolves deliveries `rows` of the deliveries table, one [`Resolved`] per row, in row order.
pub fn resolve(d: &Table, rows: Range<usize>, tl: &Timelines, tolerance_ms: i64) -> Vec<Resolved> {
    coded(d, rows, tl)
        .into_par_iter()
        .map(|delivery| match delivery {
            Some(delivery) => delivery.resolve(tl, tolerance_ms),
            // Never so after validation (ts is required); finds nothing, as no instant would.
            None => Resolved::nothing(),
        })
        .collect()
}

/// Deliveries `rows` as the look-ups need them, their identifiers coded by `tl`; `None` for a
/// delivery without ts.
fn coded(d: &Table, rows: Range<usize>, tl: &Timelines) -> Vec<Option<Delivery>> {
    let text = |name: &str| d.text(name).slice(rows.clone());
    // Each distinct identifier of the block is looked up once, not once per delivery.
    let c = &tl.codes;
    let ((session, node), (key, origin)) = rayon::join(
        || {
            rayon::join(
                || c.sessions.lookup_all(text("session_id")),
                || c.nodes.lookup_all(text("cache_node")),
            )
        },
        || {
            rayon::join(
                || c.keys.lookup_all(text("cache_key")),
                || c.streams.lookup_all(text("origin_stream_id")),
            )
        },
    );
    let named = text("origin_stream_id");
    let ts = &d.time("ts")[rows.clone()];
    let captured = &d.time("captured_at")[rows.clone()];
    (0..rows.len())
        .into_par_iter()
        .map(|i| {
            let t = ts[i]?;
            Some(Delivery {
                t,
                session: session[i],
                node: node[i],
                key: key[i],
                named: named.get(i).map(|_| (origin[i], captured[i].unwrap_or(t))),
            })
        })
        .collect()
}

impl Resolved {
    fn nothing() -> Resolved {
        let none = Lookup {
            recipient: None,
            content: false,
            subject: None,
            granted: false,
        };
        Resolved {
            at: [none; 3],
            content: None,
            other: None,
            cites: None,
        }
    }
}

/// One delivery as the look-ups need it: its time and its identifiers as codes.
struct Delivery {
    t: i64,
    session: u32,
    node: u32,
    key: u32,
    /// The delivery's own origin stream and its capture time (`captured_at`, else t), if it names one.
    named: Option<(u32, i64)>,
}

/// The content found at one instant: its origin stream (a code of the timelines' streams), its
/// capture time and where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub origin: Option<u32>,
    pub capture_ts: i64,
    pub content: Content,
}

/// Step 2's answers at t − tolerance, t and t + tolerance, with the cache log row in force at
/// each: the fill held, or the evict or purge that emptied the key; `None` where the delivery
/// named its own origin or the key has no row before the instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contents {
    pub found: [Option<Found>; 3],
    pub cites: [Option<Cited>; 3],
}

/// The instants a delivery at `t` is looked up at: t − tolerance, t, t + tolerance.
fn instants(t: i64, tolerance_ms: i64) -> [i64; 3] {
    [-tolerance_ms, 0, tolerance_ms].map(|d| t.saturating_add(d))
}

/// Step 2 alone for deliveries `rows`, one per row in row order: the content found at each of
/// the three instants. With [`resolve_found`] it gives what [`resolve`] gives; a cluster runs the
/// two where the cache and the sessions of a delivery are, apart.
pub fn contents(d: &Table, rows: Range<usize>, tl: &Timelines, tolerance_ms: i64) -> Vec<Contents> {
    coded(d, rows, tl)
        .into_par_iter()
        .map(|delivery| match delivery {
            Some(delivery) => delivery.content(tl, &instants(delivery.t, tolerance_ms)),
            None => Contents {
                found: [None; 3],
                cites: [None; 3],
            },
        })
        .collect()
}

impl Delivery {
    fn resolve(&self, tl: &Timelines, tolerance_ms: i64) -> Resolved {
        let found = self.content(tl, &instants(self.t, tolerance_ms));
        resolve_found(tl, self.t, self.session, &found, tolerance_ms)
    }

    /// Step 2, content, at each of the instants `at`.
    fn content(&self, tl: &Timelines, at: &[i64; 3]) -> Contents {
        // Step 2, content from the cache: the latest fill, evict or purge of (cache_node,
        // cache_key) at or before t+d, unless a purge of `*` on the node came after it...
        let cache = match tl.slots.get(self.node, self.key) {
            Some(slot) => tl.cache.events(slot),
            None => tl.cache.events(UNKNOWN),
        };
        let purges = tl.purges.events(self.node);
        let (entries, purged) = (around(&cache, at), around(&purges, at));
        let held = |k: usize| -> Option<(usize, u32)> {
            let j = entries[k]?;
            let fill_ts = cache.ts(j);
            let after_fill = purged[k].is_some_and(|p| purges.ts(p) > fill_ts);
            let fill = cache.state(j).fill()?;
            (!after_fill).then_some((j, fill))
        };
        // ...step 2, which content: the delivery's own origin where it names one, else the cache's.
        let found = std::array::from_fn(|k| match self.named {
            Some((origin, capture_ts)) => Some(Found {
                origin: Some(origin),
                capture_ts,
                content: Content::Named { capture_ts },
            }),
            None => held(k).map(|(j, fill)| {
                // A fill the timeline names but does not hold is a bug, which `classify`
                // reports when it reads the fill back; here it has no origin.
                let e = tl.fills.entry(fill);
                Found {
                    origin: e.and_then(|e| e.origin),
                    capture_ts: e.and_then(|e| e.captured).unwrap_or(cache.ts(j)),
                    content: Content::Cached {
                        entry: cache.global(j),
                    },
                }
            }),
        });
        // The row in force: the key's latest event, or the node's purge that came after it. A
        // purge of a key that never held anything emptied nothing, and is not cited.
        let cites = std::array::from_fn(|k| {
            if self.named.is_some() {
                return None;
            }
            match (entries[k], purged[k]) {
                (Some(j), Some(p)) if purges.ts(p) > cache.ts(j) => cited(&purges, Some(p)),
                (Some(j), _) => cited(&cache, Some(j)),
                (None, _) => None,
            }
        });
        Contents { found, cites }
    }
}

/// Steps 1, 3 and 4 of a delivery at `t` in session code `session`, given what step 2 found at
/// each instant ([`contents`]); `found`'s origins are codes of `tl`'s streams.
pub fn resolve_found(
    tl: &Timelines,
    t: i64,
    session: u32,
    contents: &Contents,
    tolerance_ms: i64,
) -> Resolved {
    let found = &contents.found;
    let shifts = [-tolerance_ms, 0, tolerance_ms];
    let at = instants(t, tolerance_ms);

    // Step 1, recipient: the session's window with the latest start <= t+d, open while
    // t+d < its end ("State over time", Sessions).
    let sessions = tl.sessions.events(session);
    let windows = around(&sessions, &at);
    let recipient: [Option<u32>; 3] = std::array::from_fn(|k| {
        let w = sessions.state(windows[k]?);
        (at[k] < w.end).then_some(w.account)
    });

    // Step 3, subject: the owner of the origin stream at capture time + d ("State over time",
    // Ownership). The capture-time look-ups shift with the delivery-time ones.
    let origin_now = found[SHIFT_NONE].and_then(|f| f.origin);
    let owner_now = found[SHIFT_NONE].and_then(|f| {
        let owners = tl.owners.events(f.origin?);
        Some((owners.latest(f.capture_ts), owners))
    });
    let owner_event: [Option<(Events<'_, Option<u32>>, usize)>; 3] = std::array::from_fn(|k| {
        let f = found[k]?;
        let origin = f.origin?;
        let when = f.capture_ts.saturating_add(shifts[k]);
        match owner_now {
            Some((now, owners)) if Some(origin) == origin_now => {
                Some((owners, owners.latest_from(now, when)?))
            }
            _ => {
                let owners = tl.owners.events(origin);
                Some((owners, owners.latest(when)?))
            }
        }
    });
    let subject: [Option<u32>; 3] =
        std::array::from_fn(|k| owner_event[k].and_then(|(owners, i)| *owners.state(i)));
    // ...and, from registry snapshots, the other owner where the change between two of them
    // may lie on either side of the capture-time look-up.
    let other_subject: [Option<(Option<u32>, Option<Cited>)>; 3] = std::array::from_fn(|k| {
        if tl.owner_doubt.is_empty() {
            return None;
        }
        let f = found[k]?;
        doubted(
            &tl.owner_doubt.events(f.origin?),
            f.capture_ts.saturating_add(shifts[k]),
        )
    });

    // Step 4, grant: whether the recipient held a grant on the origin stream at t+d ("State
    // over time", Grants). Whether that authorizes the delivery is `decide`'s to say.
    let pair = |k: usize| -> Option<u32> {
        if tl.grants.is_empty() {
            return None;
        }
        let (r, o) = (recipient[k]?, found[k]?.origin?);
        tl.grant_pairs.get(o, r)
    };
    let pairs: [Option<u32>; 3] = std::array::from_fn(pair);
    let grant_event: [Option<(Events<'_, bool>, usize)>; 3] = std::array::from_fn(|k| {
        let grants = tl.grants.events(pairs[k]?);
        Some((grants, grants.latest(at[k])?))
    });
    // ...and, from registry snapshots, the other grant where the change between two of them
    // may lie on either side of t+d.
    let other_grant: [Option<(bool, Option<Cited>)>; 3] = std::array::from_fn(|k| {
        if tl.grant_doubt.is_empty() {
            return None;
        }
        doubted(&tl.grant_doubt.events(pairs[k]?), at[k])
    });

    let looked: [Lookup<u32>; 3] = std::array::from_fn(|k| Lookup {
        recipient: recipient[k],
        content: found[k].is_some_and(|f| f.origin.is_some()),
        subject: subject[k],
        granted: grant_event[k].is_some_and(|(grants, g)| *grants.state(g)),
    });
    let in_doubt =
        other_subject.iter().any(Option::is_some) || other_grant.iter().any(Option::is_some);
    let other = in_doubt.then(|| {
        Box::new(std::array::from_fn(|k| Lookup {
            subject: other_subject[k].map_or(looked[k].subject, |o| o.0),
            granted: other_grant[k].map_or(looked[k].granted, |o| o.0),
            ..looked[k]
        }))
    });

    let decision = decision(&looked, other.as_deref());
    let cites = (decision != Decision::Ok).then(|| {
        let window = windows[SHIFT_NONE];
        // For a flip, the rows whose answers differ between t and the shifted instant on the same
        // key: of the two answers, the later one's row, which lies within the tolerance of t.
        let mut flips = Vec::new();
        let shifted: &[usize] = match decision.flip() {
            Some(Flip::Earlier) => &[SHIFT_EARLIER],
            Some(Flip::Later) => &[SHIFT_LATER],
            Some(Flip::Both) => &[SHIFT_EARLIER, SHIFT_LATER],
            Some(Flip::BetweenSnapshots) | None => &[],
        };
        for &k in shifted {
            let later = if k == SHIFT_EARLIER { SHIFT_NONE } else { k };
            if windows[k] != window {
                flips.extend(cited(&sessions, windows[later]));
            } else if recipient[k] != recipient[SHIFT_NONE] {
                flips.extend(windows[k].and_then(|i| window_end(&sessions, i)));
            }
            if contents.cites[k] != contents.cites[SHIFT_NONE] {
                flips.extend(contents.cites[later]);
            }
            // An owner or grant of another stream or pair is no change within the tolerance:
            // the content that brought it is.
            let origin = |k: usize| found[k].and_then(|f| f.origin);
            let owner_at = |k: usize| owner_event[k].map(|(e, i)| e.global(i));
            if origin(k) == origin(SHIFT_NONE) && owner_at(k) != owner_at(SHIFT_NONE) {
                flips.extend(event_cited(owner_event[later]));
            }
            let grant_at = |k: usize| grant_event[k].map(|(e, i)| e.global(i));
            if pairs[k] == pairs[SHIFT_NONE] && grant_at(k) != grant_at(SHIFT_NONE) {
                flips.extend(event_cited(grant_event[later]));
            }
        }
        // Between two snapshots: the later snapshot's listing, which the change may precede.
        if decision.flip() == Some(Flip::BetweenSnapshots) {
            flips.extend(other_subject.iter().flatten().filter_map(|o| o.1));
            flips.extend(other_grant.iter().flatten().filter_map(|o| o.1));
        }
        flips.sort_unstable();
        flips.dedup();
        Box::new(Citations {
            session_start: cited(&sessions, window),
            session_end: window.and_then(|i| window_end(&sessions, i)),
            content: contents.cites[SHIFT_NONE],
            owner: event_cited(owner_event[SHIFT_NONE]),
            grant: event_cited(grant_event[SHIFT_NONE]),
            flips,
        })
    });
    Resolved {
        at: looked,
        content: found[SHIFT_NONE].map(|f| f.content),
        other,
        cites,
    }
}

/// The row of event `i` of `e` with its time, if there is such an event and a row states it.
fn cited<T>(e: &Events<'_, T>, i: Option<usize>) -> Option<Cited> {
    let i = i?;
    Cited::at(e.ts(i), e.cite(i))
}

/// The row of a look-up's event with its time, if it found one.
fn event_cited<T>(event: Option<(Events<'_, T>, usize)>) -> Option<Cited> {
    event.and_then(|(e, i)| cited(&e, Some(i)))
}

/// The `end` row that closed session window `i`, at its time; none when the TTL did.
fn window_end(e: &Events<'_, SessionWindow>, i: usize) -> Option<Cited> {
    let w = e.state(i);
    Cited::at(w.end, w.end_cite)
}

/// The other state a doubt timeline names at instant `at`, if the instant lies between two
/// registry snapshots that show different states, with the row of the later snapshot.
fn doubted<T: Copy>(doubt: &Events<'_, Doubt<T>>, at: i64) -> Option<(T, Option<Cited>)> {
    let i = doubt.latest(at)?;
    match *doubt.state(i) {
        Doubt::Between(other) => Some((other, later_snapshot(doubt, i))),
        Doubt::Settled => None,
    }
}

/// The listing of the later snapshot that closes the span of doubt starting at event `i`, at
/// that snapshot's time.
fn later_snapshot<T>(doubt: &Events<'_, Doubt<T>>, i: usize) -> Option<Cited> {
    let end = (i + 1 < doubt.len()).then(|| doubt.ts(i + 1))?;
    Cited::at(end, doubt.cite(i))
}

/// The positions of the latest events at or before each of the three instants `at` (earlier, t,
/// later): a search for t, then steps from there.
fn around<T>(e: &Events<'_, T>, at: &[i64; 3]) -> [Option<usize>; 3] {
    let now = e.latest(at[SHIFT_NONE]);
    [
        e.latest_from(now, at[SHIFT_EARLIER]),
        now,
        e.latest_from(now, at[SHIFT_LATER]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cite::Cite;
    use crate::intervals::{build_from, CacheLog};
    use crate::load::table_from_csv;
    use crate::schema::Kind;
    use crate::verdict::Citations;

    /// The timelines of three logs given as CSV text.
    fn timelines_of(sessions: &str, ownership: &str, cache: &str, ttl_ms: i64) -> Timelines {
        let (cache, _, _) = CacheLog::from_table(table_from_csv(Kind::Cache, cache, 0), 1).unwrap();
        build_from(
            &table_from_csv(Kind::Sessions, sessions, 0),
            &table_from_csv(Kind::Ownership, ownership, 0),
            cache,
            ttl_ms,
            false,
        )
        .unwrap()
    }

    /// Sessions, owners and a cache that names the streams in another order than the ownership
    /// log, so that the cache's own codes for them differ from the shared ones.
    fn timelines() -> Timelines {
        timelines_of(
            "ts,session_id,event,account_id\n0,s1,start,alice\n0,s2,start,bob\n5000,s2,end,\n",
            "ts,stream_id,account_id,event\n0,cam-a,alice,bind\n0,cam-b,bob,bind\n",
            "ts,cache_node,cache_key,op,object_id,origin_stream_id\n\
             1000,n1,k,fill,ob,cam-b\n\
             3000,n1,k,fill,oa,cam-a\n\
             6000,n1,*,purge,,\n",
            86_400_000,
        )
    }

    fn deliveries(rows: &str) -> Table {
        table_from_csv(
            Kind::Deliveries,
            &format!("ts,session_id,requested_stream_id,cache_node,cache_key,cache_status\n{rows}"),
            0,
        )
    }

    /// Deliveries on either side of the fills, the end of s2 and the purge of [`timelines`].
    const FOUR_DELIVERIES: &str = "2000,s1,cam-a,n1,k,hit\n\
                                   2800,s1,cam-a,n1,k,hit\n\
                                   4800,s2,cam-b,n1,k,hit\n\
                                   6200,s1,cam-a,n1,k,hit\n";

    fn account(tl: &Timelines, code: Option<u32>) -> Option<&str> {
        code.map(|c| &**tl.codes.accounts.value(c).unwrap())
    }

    /// Each delivery's look-ups at t - 500, t and t + 500 ms, read back as accounts.
    #[test]
    fn look_ups_at_t_and_shifted_by_the_tolerance() {
        let tl = timelines();
        let d = deliveries(FOUR_DELIVERIES);
        let r = resolve(&d, 0..d.len(), &tl, 500);
        let subjects: Vec<[Option<&str>; 3]> = r
            .iter()
            .map(|r| r.at.map(|l| account(&tl, l.subject)))
            .collect();
        let recipients: Vec<[Option<&str>; 3]> = r
            .iter()
            .map(|r| r.at.map(|l| account(&tl, l.recipient)))
            .collect();
        let (a, b) = (Some("alice"), Some("bob"));
        assert_eq!(
            subjects,
            [
                // bob's picture from the fill at 1000, whichever the shift.
                [b, b, b],
                // At 3300 the fill of 3000 holds alice's picture.
                [b, b, a],
                [a, a, a],
                // The purge at 6000 took everything; 500 ms earlier the fill of 3000 stood.
                [a, None, None],
            ]
        );
        // s2 ends at 5000: open at 4800, closed 500 ms later.
        assert_eq!(recipients[2], [b, b, None]);
        assert_eq!(recipients[0], [a, a, a]);
        let fills: Vec<Option<i64>> = r
            .iter()
            .map(|r| match r.content {
                Some(Content::Cached { entry }) => tl.cache.event(entry).map(|e| e.0),
                _ => None,
            })
            .collect();
        assert_eq!(fills, [Some(1000), Some(1000), Some(3000), None]);
    }

    /// What the look-ups of one delivery at t = 10 000 ms with a tolerance of 500 ms find, each
    /// as "recipient content subject granted", over a base of alice's session s1 and bob's s2
    /// (from 0), alice's camera cam-a and bob's cam-b (bound at 0), and cam-a's picture filled
    /// into (n1, k) at 5000, plus one row of `kind`.
    fn one_case(session: &str, kind: Kind, row: &str, ttl_ms: i64) -> [String; 3] {
        let with = |k: Kind, base: &str| match k == kind && !row.is_empty() {
            true => format!("{base}{row}\n"),
            false => base.to_string(),
        };
        let sessions = with(
            Kind::Sessions,
            "ts,session_id,event,account_id\n0,s1,start,alice\n0,s2,start,bob\n",
        );
        let ownership = with(
            Kind::Ownership,
            "ts,stream_id,account_id,event\n0,cam-a,alice,bind\n0,cam-b,bob,bind\n",
        );
        let cache = with(
            Kind::Cache,
            "ts,cache_node,cache_key,op,object_id,origin_stream_id\n5000,n1,k,fill,oa,cam-a\n",
        );
        let tl = timelines_of(&sessions, &ownership, &cache, ttl_ms);
        let d = deliveries(&format!("10000,{session},cam-a,n1,k,hit\n"));
        let r = resolve(&d, 0..1, &tl, 500);
        let name = |c: Option<u32>| account(&tl, c).unwrap_or("-").to_string();
        r[0].at.map(|l| {
            let (r, s) = (name(l.recipient), name(l.subject));
            format!("{r} {} {s} {}", l.content, l.granted)
        })
    }

    /// One case per kind of event, lying within the tolerance after (+) or before (-) the
    /// delivery: what, the shift that sees it, the delivery's session, the row's log, the row,
    /// the session TTL in ms, and what the look-up at that shift finds.
    const SHIFT_CASES: &str = "\
        session start     | + | s1 | sessions  | 10300,s1,start,bob                 | 86400000 | bob true alice false
        session end       | + | s1 | sessions  | 10200,s1,end,                      | 86400000 | - true alice false
        session expiry    | + | s1 | sessions  |                                    | 10200    | - true alice false
        fill              | + | s1 | cache     | 10300,n1,k,fill,ob,cam-b           | 86400000 | alice true bob false
        evict             | + | s1 | cache     | 10300,n1,k,evict,,                 | 86400000 | alice false - false
        purge of the key  | - | s1 | cache     | 9800,n1,k,purge,,                  | 86400000 | alice true alice false
        purge of the node | + | s1 | cache     | 10300,n1,*,purge,,                 | 86400000 | alice false - false
        bind              | + | s1 | ownership | 5300,cam-a,bob,bind                | 86400000 | alice true bob false
        unbind            | + | s1 | ownership | 5300,cam-a,alice,unbind            | 86400000 | alice true - false
        grant             | + | s2 | ownership | 10300,cam-a,bob,grant              | 86400000 | bob true alice true
        revoke            | - | s2 | ownership | 0,cam-a,bob,grant\\n9800,cam-a,bob,revoke | 86400000 | bob true alice true";

    /// Every kind of event that lies within the tolerance of a delivery, before or after it,
    /// changes what the shifted look-up finds, and only that one: a look-up at t standing in for
    /// t - tolerance or t + tolerance would miss each of these.
    #[test]
    fn each_kind_of_event_within_the_tolerance_is_seen_by_the_shifted_look_up() {
        let base = one_case("s1", Kind::Sessions, "", 86_400_000);
        assert_eq!(base, ["alice true alice false"; 3].map(String::from));
        for line in SHIFT_CASES.lines() {
            let f: Vec<&str> = line.split('|').map(str::trim).collect();
            let [what, shift, session, kind, row, ttl, want] = f[..] else {
                panic!("a case has seven fields: {line}");
            };
            let shift = if shift == "+" {
                SHIFT_LATER
            } else {
                SHIFT_EARLIER
            };
            let kind = match kind {
                "sessions" => Kind::Sessions,
                "ownership" => Kind::Ownership,
                _ => Kind::Cache,
            };
            let row = row.replace("\\n", "\n");
            let found = one_case(session, kind, &row, ttl.parse().unwrap());
            let now = &found[SHIFT_NONE];
            assert_eq!(found[shift], want, "{what}: at the shift");
            assert_ne!(&found[shift], now, "{what}: the shift finds what t finds");
            assert_eq!(&found[2 - shift], now, "{what}: the other shift");
        }
    }

    /// A delivery that names its own origin is looked up by it, even if no timeline names it.
    #[test]
    fn named_content_stands_for_the_cache() {
        let tl = timelines();
        let d = table_from_csv(
            Kind::Deliveries,
            "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,origin_stream_id\n\
             2000,s1,cam-a,n1,k,hit,cam-a\n\
             2000,s1,cam-a,n1,k,hit,cam-z\n\
             2000,nobody,cam-a,n9,k,miss,\n",
            0,
        );
        let r = resolve(&d, 0..d.len(), &tl, 0);
        let now: Vec<(Option<&str>, bool, Option<&str>)> = r
            .iter()
            .map(|r| {
                let l = r.at[SHIFT_NONE];
                (
                    account(&tl, l.recipient),
                    l.content,
                    account(&tl, l.subject),
                )
            })
            .collect();
        assert_eq!(
            now,
            [
                (Some("alice"), true, Some("alice")),
                (Some("alice"), true, None),
                (None, false, None),
            ]
        );
        assert_eq!(r[0].content, Some(Content::Named { capture_ts: 2000 }));
    }

    /// A hand-worked case of citations: each verdict that is not ok names the row in force for
    /// each look-up (the header is line 1 of each log), and an ambiguous one the row that flips it.
    #[test]
    fn look_ups_cite_the_rows_in_force_and_the_row_that_flips() {
        let tl = timelines();
        let d = deliveries(&format!("{FOUR_DELIVERIES}3500,s1,cam-a,n1,k,hit\n"));
        let r = resolve(&d, 0..d.len(), &tl, 500);
        let row = |ts: i64, line: u64| Cited::at(ts, Cite::new(0, line).unwrap());
        let cites: Vec<Option<Citations>> = r.iter().map(|r| r.cites.as_deref().cloned()).collect();
        let leak_at_2000 = Citations {
            session_start: row(0, 2),
            // s1 never ends: the TTL would close it, which no row states.
            session_end: None,
            // bob's still from the fill of line 2, bob's bind on line 3.
            content: row(1000, 2),
            owner: row(0, 3),
            grant: None,
            flips: vec![],
        };
        assert_eq!(cites[0].as_ref(), Some(&leak_at_2000));
        // 500 ms later the fill of line 3 (alice's own picture) stands: it flips the verdict.
        assert_eq!(
            cites[1].as_ref().map(|c| &c.flips),
            Some(&vec![row(3000, 3).unwrap()])
        );
        assert_eq!(r[1].decision().flip(), Some(crate::verdict::Flip::Later));
        // s2 is open at 4800 and closed by the end of line 4.
        let c = cites[2].as_ref().unwrap();
        assert_eq!((c.session_start, c.session_end), (row(0, 3), row(5000, 4)));
        assert_eq!((c.content, c.owner), (row(3000, 3), row(0, 2)));
        // The purge of every key (line 4 of the cache log) emptied the key after its fill.
        let c = cites[3].as_ref().unwrap();
        assert_eq!(r[3].decision().class(), crate::verdict::Class::Unresolved);
        assert_eq!((c.content, c.owner), (row(6000, 4), None));
        // alice gets her own picture: ok, and nothing is cited.
        assert_eq!(cites[4], None);
    }
}
