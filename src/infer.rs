//! Inferred cache fills: for a cache node without a cache log, each miss fills its key with what it fetched.
//!
//! A CDN or an nginx cache logs its deliveries, not its fills. A miss stores what it fetched
//! under its key, so from the deliveries alone: at the miss's time the key holds the miss's
//! content (its `origin_stream_id`, else the stream it requested; its `object_id` and
//! `captured_at`), until the next miss of the key or, with `cache_ttl`, until that long after.
//! Nodes the cache log names are never inferred: their log says what they held.
//! The misses are read de-duplicated, in the order every later stage reads the deliveries.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::load::cache_log::CacheLog;
use crate::schema::CacheStatus;
use crate::table::Table;
use crate::timeline::TimelineError;

/// Misses gathered into inferred fills of a cache log.
pub struct Inference {
    /// Nodes the cache log itself names: the first so many node codes.
    logged_nodes: usize,
    /// Where the inferred events start among the log's events.
    from: usize,
    /// Nodes with at least one inferred fill.
    pub nodes: BTreeSet<String>,
    pub fills: u64,
}

impl Inference {
    /// Starts inferring into `log`, which holds the cache log as read.
    pub fn new(log: &CacheLog) -> Inference {
        Inference {
            logged_nodes: log.nodes.len(),
            from: log.events.len(),
            nodes: BTreeSet::new(),
            fills: 0,
        }
    }

    /// Adds the fill of every miss among rows `rows` of the deliveries `d` on a node the cache
    /// log does not name.
    pub fn add(
        &mut self,
        log: &mut CacheLog,
        d: &Table,
        rows: Range<usize>,
    ) -> Result<(), TimelineError> {
        let status = d.enums_in::<CacheStatus>("cache_status", rows.clone());
        let (ts, node, key) = (d.time("ts"), d.text("cache_node"), d.text("cache_key"));
        let (origin, requested) = (d.text("origin_stream_id"), d.text("requested_stream_id"));
        let (object, captured) = (d.text("object_id"), d.time("captured_at"));
        for (k, i) in rows.enumerate() {
            if status[k] != Some(CacheStatus::Miss) {
                continue;
            }
            let (Some(t), Some(n), Some(key)) = (ts[i], node.get(i), key.get(i)) else {
                continue;
            };
            if log.names_node(n, self.logged_nodes) {
                continue;
            }
            let Some(fetched) = origin.get(i).or(requested.get(i)) else {
                continue;
            };
            let captured = captured.get(i).copied().flatten();
            log.push_inferred(
                n,
                key,
                t,
                d.digest[i] as u64,
                fetched,
                object.str(i),
                captured,
                d.source[i],
            )?;
            self.fills += 1;
            if !self.nodes.contains(&**n) {
                self.nodes.insert(n.to_string());
            }
        }
        Ok(())
    }

    /// Every miss is in: the inferred events in order, ended by `ttl_ms` where one is set.
    pub fn finish(self, log: &mut CacheLog, ttl_ms: Option<i64>) -> InferredCache {
        log.settle_inferred(self.from, ttl_ms);
        InferredCache {
            nodes: self.nodes.into_iter().collect(),
            fills: self.fills,
            ttl_ms,
        }
    }
}

/// What was inferred, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InferredCache {
    /// The nodes with an inferred fill, sorted.
    pub nodes: Vec<String>,
    pub fills: u64,
    pub ttl_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::table_from_csv;
    use crate::schema::Kind;

    /// Only misses on nodes without a cache log fill, with the content they name or requested,
    /// and a TTL ends a fill only where no later miss came first.
    #[test]
    fn misses_fill_keys_of_unlogged_nodes() {
        let cache = table_from_csv(
            Kind::Cache,
            "ts,cache_node,cache_key,op,object_id,origin_stream_id\n0,logged,k,fill,o,cam-x\n",
            0,
        );
        let (mut log, _, _) = CacheLog::from_table(cache, 1).unwrap();
        let d = table_from_csv(
            Kind::Deliveries,
            "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,origin_stream_id,object_id\n\
             1000,s,cam-a,edge,k,miss,,a1\n\
             1500,s,cam-b,edge,k,hit,,\n\
             2000,s,cam-b,edge,k,miss,cam-c,c1\n\
             9000,s,cam-a,edge,k,miss,,a2\n\
             3000,s,cam-a,logged,k,miss,,\n",
            0,
        );
        let mut inf = Inference::new(&log);
        inf.add(&mut log, &d, 0..d.len()).unwrap();
        let got = inf.finish(&mut log, Some(5000));
        assert_eq!((got.nodes, got.fills), (vec!["edge".to_string()], 3));
        let inferred: Vec<(i64, Option<&str>, Option<&str>)> = log.events[1..]
            .iter()
            .map(|e| {
                let f = e.fill().and_then(|f| log.fills.entry(f));
                let origin = f.and_then(|f| f.origin).and_then(|o| log.streams.value(o));
                (e.ts, origin.map(|o| &**o), f.and_then(|f| f.object))
            })
            .collect();
        // The miss of 2000 names cam-c; its fill ends at 7000, before the miss of 9000.
        assert_eq!(
            inferred,
            [
                (1000, Some("cam-a"), Some("a1")),
                (2000, Some("cam-c"), Some("c1")),
                (7000, None, None),
                (9000, Some("cam-a"), Some("a2")),
                (14000, None, None),
            ]
        );
        assert!(log.fills.entry(1).is_some_and(|f| f.inferred));
    }
}
