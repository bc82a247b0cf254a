//! Build intervals: turns event logs into timelines (session windows, owners, grants, cache contents) for as-of look-ups.
//!
//! Each timeline has one row per (key, instant) after resolving events that
//! share a millisecond, so that an as-of look-up "latest row with ts <= L"
//! finds exactly the state the contract defines. The tie rules are in
//! docs/SEMANTICS.md.

use std::collections::BTreeMap;

use polars::prelude::*;
use rayon::prelude::*;

use crate::codes::Dictionary;
use crate::load::LoadedDataset;
use crate::schema::{CacheOp, Kind, OwnershipEvent, SessionEvent};
use crate::table::Table;

/// All timelines of a dataset, as polars frames. Identifier columns hold codes of `codes`.
pub struct Timelines {
    /// `session_id, s_start, s_end, account`: open over [s_start, s_end).
    pub sessions: DataFrame,
    /// `stream_id, o_ts, owner` (null owner: unbound from o_ts on).
    pub owners: DataFrame,
    /// `g_stream, g_account, g_ts, granted`.
    pub grants: DataFrame,
    /// `c_node, c_key, c_ts, c_fill, c_object, c_origin, c_captured, c_config`, sorted by `c_ts`
    /// (the join cuts it at a block's last instant).
    pub cache: DataFrame,
    /// `p_node, p_ts`: purges of every key on a node, sorted by `p_ts`.
    pub purges: DataFrame,
    /// The identifiers behind the code columns.
    pub codes: Dictionary,
}

/// A session window: the account behind a session over [start, end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInterval {
    pub session_id: String,
    pub start: i64,
    pub end: i64,
    pub account: String,
}

pub fn build(loaded: &LoadedDataset) -> PolarsResult<Timelines> {
    let mut codes = Dictionary::default();
    Ok(Timelines {
        sessions: session_frame(
            &session_intervals(loaded.table(Kind::Sessions), loaded.settings.session_ttl_ms),
            &mut codes,
        )?,
        owners: owner_frame(loaded.table(Kind::Ownership), &mut codes)?,
        grants: grant_frame(loaded.table(Kind::Ownership), &mut codes)?,
        cache: cache_frame(loaded.table(Kind::Cache), &mut codes)?,
        purges: purge_frame(loaded.table(Kind::Cache), &mut codes)?,
        codes,
    })
}

/// A column of codes; absent values stay null.
fn coded<'a>(
    name: &str,
    values: impl Iterator<Item = Option<&'a str>>,
    codes: &mut Dictionary,
) -> PolarsResult<Column> {
    let v = values
        .map(|v| v.map(|v| codes.code(v)).transpose())
        .collect::<PolarsResult<Vec<Option<u32>>>>()?;
    Ok(Column::new(name.into(), v))
}

/// One window per `start`: it runs to the first `end` at or after it, or the TTL, whichever comes first.
pub fn session_intervals(t: &Table, ttl_ms: i64) -> Vec<SessionInterval> {
    let (ts, sid, ev, acct) = (
        t.time("ts"),
        t.text("session_id"),
        t.enums::<SessionEvent>("event"),
        t.text("account_id"),
    );
    let mut by_session: BTreeMap<&str, (BTreeMap<i64, &str>, Vec<i64>)> = BTreeMap::new();
    for i in 0..t.len() {
        let (Some(ts), Some(s), Some(e)) = (ts[i], sid[i].as_deref(), ev[i]) else {
            continue;
        };
        let entry = by_session.entry(s).or_default();
        match (e, acct[i].as_deref()) {
            (SessionEvent::Start, Some(a)) => {
                let slot = entry.0.entry(ts).or_insert(a);
                if a > *slot {
                    *slot = a;
                }
            }
            (SessionEvent::End, _) => entry.1.push(ts),
            (SessionEvent::Start, None) => {}
        }
    }
    let mut out = Vec::new();
    for (s, (starts, mut ends)) in by_session {
        ends.sort_unstable();
        for (&start, &account) in &starts {
            let next_end = ends.partition_point(|&e| e < start);
            let mut end = start.saturating_add(ttl_ms);
            if let Some(&e) = ends.get(next_end) {
                end = end.min(e);
            }
            out.push(SessionInterval {
                session_id: s.to_string(),
                start,
                end,
                account: account.to_string(),
            });
        }
    }
    out.sort_by(|a, b| (a.start, &a.session_id).cmp(&(b.start, &b.session_id)));
    out
}

fn session_frame(iv: &[SessionInterval], codes: &mut Dictionary) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        coded(
            "session_id",
            iv.iter().map(|i| Some(i.session_id.as_str())),
            codes,
        )?,
        Column::new(
            "s_start".into(),
            iv.iter().map(|i| i.start).collect::<Vec<_>>(),
        ),
        Column::new("s_end".into(), iv.iter().map(|i| i.end).collect::<Vec<_>>()),
        coded(
            "account",
            iv.iter().map(|i| Some(i.account.as_str())),
            codes,
        )?,
    ])
}

/// Owner changes per stream; at one millisecond a bind beats an unbind, and the greatest account among binds wins.
fn owner_frame(t: &Table, codes: &mut Dictionary) -> PolarsResult<DataFrame> {
    let (ts, stream, acct, ev) = (
        t.time("ts"),
        t.text("stream_id"),
        t.text("account_id"),
        t.enums::<OwnershipEvent>("event"),
    );
    let mut state: BTreeMap<(i64, &str), Option<&str>> = BTreeMap::new();
    for i in 0..t.len() {
        let (Some(ts), Some(s), Some(e)) = (ts[i], stream[i].as_deref(), ev[i]) else {
            continue;
        };
        let new = match e {
            OwnershipEvent::Bind => acct[i].as_deref(),
            OwnershipEvent::Unbind => None,
            OwnershipEvent::Grant | OwnershipEvent::Revoke => continue,
        };
        let slot = state.entry((ts, s)).or_insert(new);
        if new > *slot {
            *slot = new;
        }
    }
    DataFrame::new_infer_height(vec![
        coded("stream_id", state.keys().map(|k| Some(k.1)), codes)?,
        Column::new("o_ts".into(), state.keys().map(|k| k.0).collect::<Vec<_>>()),
        coded("owner", state.values().copied(), codes)?,
    ])
}

/// Grant changes per (stream, account); at one millisecond a revoke beats a grant.
fn grant_frame(t: &Table, codes: &mut Dictionary) -> PolarsResult<DataFrame> {
    let (ts, stream, acct, ev) = (
        t.time("ts"),
        t.text("stream_id"),
        t.text("account_id"),
        t.enums::<OwnershipEvent>("event"),
    );
    let mut state: BTreeMap<(i64, &str, &str), bool> = BTreeMap::new();
    for i in 0..t.len() {
        let (Some(ts), Some(s), Some(a), Some(e)) =
            (ts[i], stream[i].as_deref(), acct[i].as_deref(), ev[i])
        else {
            continue;
        };
        let granted = match e {
            OwnershipEvent::Grant => true,
            OwnershipEvent::Revoke => false,
            OwnershipEvent::Bind | OwnershipEvent::Unbind => continue,
        };
        let slot = state.entry((ts, s, a)).or_insert(granted);
        *slot &= granted;
    }
    DataFrame::new_infer_height(vec![
        coded("g_stream", state.keys().map(|k| Some(k.1)), codes)?,
        coded("g_account", state.keys().map(|k| Some(k.2)), codes)?,
        Column::new("g_ts".into(), state.keys().map(|k| k.0).collect::<Vec<_>>()),
        Column::new(
            "granted".into(),
            state.values().copied().collect::<Vec<_>>(),
        ),
    ])
}

/// What a cache key holds from one instant on: a fill's object, or nothing.
#[derive(Debug, Clone, PartialEq)]
struct CacheState<'a> {
    fill: bool,
    object: Option<&'a str>,
    origin: Option<&'a str>,
    captured: Option<i64>,
    config: Option<&'a str>,
}

impl CacheState<'_> {
    /// Orders events of one key in one millisecond: fills first, then by object id, and by every
    /// other field after that, so the winner never depends on input order.
    fn rank(&self) -> (bool, Option<&str>, Option<&str>, Option<i64>, Option<&str>) {
        (
            self.fill,
            self.object,
            self.origin,
            self.captured,
            self.config,
        )
    }
}

/// Cache events per (node, key), except purges of `*`. At one millisecond a fill beats an
/// evict or purge, and the greatest object id wins among fills.
fn cache_frame(t: &Table, codes: &mut Dictionary) -> PolarsResult<DataFrame> {
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
    // Events ordered by (instant, node, key), then folded per group to the one that wins there.
    // A sort of compact tuples, not an ordered map: a busy cache logs as many events as there
    // are deliveries, and a map node per event was the largest thing the timelines held.
    let mut events: Vec<(i64, &str, &str, usize)> = (0..t.len())
        .filter_map(|i| {
            let (ts, n, k, o) = (ts[i]?, node[i].as_deref()?, key[i].as_deref()?, op[i]?);
            // Only `purge` gives `*` its meaning, in the purge timeline.
            let purge_all = o == CacheOp::Purge && k == "*";
            (!purge_all).then_some((ts, n, k, i))
        })
        .collect();
    events.par_sort_unstable_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let state_of = |i: usize| {
        let fill = op[i] == Some(CacheOp::Fill);
        CacheState {
            fill,
            object: if fill { obj[i].as_deref() } else { None },
            origin: if fill { origin[i].as_deref() } else { None },
            captured: if fill { cap[i] } else { None },
            config: if fill { cfg[i].as_deref() } else { None },
        }
    };
    // The row that wins each (instant, node, key), in that order.
    let mut winners: Vec<usize> = Vec::new();
    let mut at = None;
    for &(ts, n, k, i) in &events {
        match winners.last_mut() {
            Some(w) if at == Some((ts, n, k)) => {
                if state_of(i).rank() > state_of(*w).rank() {
                    *w = i;
                }
            }
            _ => {
                winners.push(i);
                at = Some((ts, n, k));
            }
        }
    }
    drop(events);
    // Winners are rows whose instant, node and key are all present (filtered above).
    let keys = || {
        winners.iter().map(|&i| {
            (
                ts[i].unwrap_or_default(),
                node[i].as_deref(),
                key[i].as_deref(),
            )
        })
    };
    let states = || winners.iter().map(|&i| state_of(i));
    DataFrame::new_infer_height(vec![
        coded("c_node", keys().map(|k| k.1), codes)?,
        coded("c_key", keys().map(|k| k.2), codes)?,
        Column::new("c_ts".into(), keys().map(|k| k.0).collect::<Vec<_>>()),
        Column::new(
            "c_fill".into(),
            states().map(|s| s.fill).collect::<Vec<_>>(),
        ),
        coded("c_object", states().map(|s| s.object), codes)?,
        coded("c_origin", states().map(|s| s.origin), codes)?,
        Column::new(
            "c_captured".into(),
            states().map(|s| s.captured).collect::<Vec<_>>(),
        ),
        coded("c_config", states().map(|s| s.config), codes)?,
    ])
}

fn purge_frame(t: &Table, codes: &mut Dictionary) -> PolarsResult<DataFrame> {
    let (ts, node, key, op) = (
        t.time("ts"),
        t.text("cache_node"),
        t.text("cache_key"),
        t.enums::<CacheOp>("op"),
    );
    let mut purges: Vec<(i64, &str)> = (0..t.len())
        .filter(|&i| op[i] == Some(CacheOp::Purge) && key[i].as_deref() == Some("*"))
        .filter_map(|i| Some((ts[i]?, node[i].as_deref()?)))
        .collect();
    purges.sort_unstable();
    purges.dedup();
    DataFrame::new_infer_height(vec![
        coded("p_node", purges.iter().map(|p| Some(p.1)), codes)?,
        Column::new(
            "p_ts".into(),
            purges.iter().map(|p| p.0).collect::<Vec<_>>(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::table_from_csv;

    fn table(kind: Kind, csv: &str) -> Table {
        table_from_csv(kind, csv, 0)
    }

    /// A code column read back as the identifiers it stands for.
    fn decoded(df: &DataFrame, name: &str, codes: &Dictionary) -> Vec<Option<String>> {
        df.column(name)
            .unwrap()
            .u32()
            .unwrap()
            .iter()
            .map(|c| c.map(|c| codes.value(c).unwrap().to_string()))
            .collect()
    }

    #[test]
    fn windows_end_at_end_or_ttl() {
        let t = table(
            Kind::Sessions,
            "ts,session_id,event,account_id\n0,s,start,a\n100,s,start,b\n150,s,end,\n150,s,start,c\n500,s,start,d\n1000,t,start,z\n1000,t,start,y\n",
        );
        let iv = session_intervals(&t, 200);
        let got: Vec<(&str, i64, i64, &str)> = iv
            .iter()
            .map(|i| (i.session_id.as_str(), i.start, i.end, i.account.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("s", 0, 150, "a"),
                ("s", 100, 150, "b"),
                ("s", 150, 150, "c"),
                ("s", 500, 700, "d"),
                ("t", 1000, 1200, "z"),
            ]
        );
    }

    #[test]
    fn same_millisecond_rules() {
        let t = table(
            Kind::Ownership,
            "ts,stream_id,account_id,event\n10,c,a,unbind\n10,c,b,bind\n20,c,a,grant\n20,c,a,revoke\n30,c,x,bind\n30,c,y,bind\n",
        );
        let mut codes = Dictionary::default();
        let o = owner_frame(&t, &mut codes).unwrap();
        assert_eq!(
            decoded(&o, "owner", &codes),
            vec![Some("b".to_string()), Some("y".to_string())]
        );
        let g = grant_frame(&t, &mut codes).unwrap();
        assert_eq!(
            g.column("granted").unwrap().bool().unwrap().get(0),
            Some(false)
        );
        let c = table(
            Kind::Cache,
            "ts,cache_node,cache_key,op,object_id,origin_stream_id\n5,n,k,evict,,\n5,n,k,fill,o1,c1\n5,n,k,fill,o2,c2\n9,n,*,purge,,\n",
        );
        let f = cache_frame(&c, &mut codes).unwrap();
        assert_eq!(f.height(), 1);
        assert_eq!(
            decoded(&f, "c_object", &codes),
            vec![Some("o2".to_string())]
        );
        assert_eq!(purge_frame(&c, &mut codes).unwrap().height(), 1);
        for rows in [
            "5,n,k,fill,o1,c1\n5,n,k,fill,o1,c2\n",
            "5,n,k,fill,o1,c2\n5,n,k,fill,o1,c1\n",
        ] {
            let c = table(
                Kind::Cache,
                &format!("ts,cache_node,cache_key,op,object_id,origin_stream_id\n{rows}"),
            );
            let f = cache_frame(&c, &mut codes).unwrap();
            assert_eq!(
                decoded(&f, "c_origin", &codes),
                vec![Some("c2".to_string())],
                "{rows}"
            );
        }
    }

    /// The join cuts the cache and purge timelines at a block's last instant, which needs them in time order.
    #[test]
    fn cache_and_purge_timelines_are_in_time_order() {
        let mut codes = Dictionary::default();
        let c = table(
            Kind::Cache,
            "ts,cache_node,cache_key,op,object_id,origin_stream_id
30,a,k,fill,o,c
10,b,k,fill,o,c
20,a,j,evict,,
25,b,*,purge,,
5,a,*,purge,,
",
        );
        let times = |df: DataFrame, col: &str| -> Vec<Option<i64>> {
            df.column(col).unwrap().i64().unwrap().iter().collect()
        };
        assert_eq!(
            times(cache_frame(&c, &mut codes).unwrap(), "c_ts"),
            [Some(10), Some(20), Some(30)]
        );
        assert_eq!(
            times(purge_frame(&c, &mut codes).unwrap(), "p_ts"),
            [Some(5), Some(25)]
        );
    }
}
