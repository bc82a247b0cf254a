//! Data quality and log coverage: rows per kind, rejections by reason, and hours where one log is silent while another is not.
//!
//! Two gaps are looked for, each of which hides leaks and so makes every count a lower bound:
//! - a cache node served a `miss` in an hour in which its cache log has no row at all (a miss
//!   stores what it fetched, so the fill should be logged);
//! - a stream server logged no delivery for an hour or more (at most a day) while it logged at
//!   least [`SERVER_GAP_EXPECTED`] in the hour before and the hour after.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use foldhash::fast::RandomState;

use super::timeline::HOUR_MS;
use crate::infer::InferredCache;
use crate::load::cache_log::CacheHours;
use crate::load::{LoadedDataset, RowCounts};
use crate::schema::{CacheStatus, Kind};
use crate::table::{Table, Text};
use crate::verdict::{Class, ContentSource, Flip, Verdict};

/// A silent server-hour is a gap when the server logged at least this many deliveries in the hours either side.
pub const SERVER_GAP_EXPECTED: f64 = 10.0;
/// Longer silences are not counted as gaps.
pub const MAX_SERVER_GAP_HOURS: i64 = 24;

/// One hour of one source with no log where there should be one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gap {
    pub hour: i64,
    pub source: String,
    /// Deliveries of that hour (for a cache node: served by it).
    pub deliveries: u64,
    pub leaks: u64,
    pub unresolved: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataQuality {
    /// Per kind, in `Kind::ALL` order.
    pub rows: Vec<(Kind, RowCounts)>,
    /// (kind, column, reason with quoted values removed) → rows.
    pub rejected: BTreeMap<(Kind, String, String), u64>,
    pub unreadable_files: Vec<(String, String)>,
    pub skipped_files: Vec<String>,
    pub warnings: Vec<String>,
    /// Cache node-hours with a miss but no cache log row, sorted by hour then node.
    pub cache_gaps: Vec<Gap>,
    /// Cache nodes that served deliveries but never appear in the cache log.
    pub nodes_without_cache_log: Vec<String>,
    pub server_gaps: Vec<Gap>,
    /// Accounts listed with conflicting countries.
    pub conflicting_countries: u64,
    /// What was inferred for nodes without a cache log, and what rests on it.
    pub inferred: Option<InferredContent>,
    /// Owners read from registry snapshots (`ownership_snapshots`), and what rests on the spans
    /// between them.
    pub snapshots: Option<SnapshotOwners>,
}

/// Owners read from registry snapshots, and the deliveries whose class depends on where between
/// two snapshots a change of owner lies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotOwners {
    /// (stream, snapshot) pairs listing more than one owner, not read.
    pub conflicts: u64,
    /// Deliveries `ambiguous` because of the span between two snapshots.
    pub ambiguous: u64,
}

/// Fills inferred from misses (`infer_cache`), and the deliveries whose content came from one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InferredContent {
    pub cache: InferredCache,
    pub deliveries: u64,
    pub leaks: u64,
    pub ambiguous: u64,
}

impl DataQuality {
    /// Why the counts are lower bounds; empty when coverage looks complete.
    pub fn lower_bound_reasons(&self) -> Vec<String> {
        let mut out = Vec::new();
        let rejected = self
            .rows
            .iter()
            .find(|r| r.0 == Kind::Deliveries)
            .map_or(0, |r| r.1.rejected);
        if rejected > 0 {
            out.push(format!(
                "{rejected} delivery rows were rejected and are not analysed"
            ));
        }
        if !self.unreadable_files.is_empty() {
            out.push(format!(
                "{} input files could not be read",
                self.unreadable_files.len()
            ));
        }
        // A node whose content was inferred has its caveat of its own (`inferred`).
        let inferred = |n: &String| {
            self.inferred
                .as_ref()
                .is_some_and(|i| i.cache.nodes.binary_search(n).is_ok())
        };
        let unlogged = self
            .nodes_without_cache_log
            .iter()
            .filter(|n| !inferred(n))
            .count();
        if unlogged > 0 {
            out.push(format!("{unlogged} cache nodes have no cache log at all"));
        }
        if !self.cache_gaps.is_empty() {
            out.push(format!(
                "{} cache node-hours served misses with no cache log",
                self.cache_gaps.len()
            ));
        }
        if !self.server_gaps.is_empty() {
            out.push(format!(
                "{} server-hours have no delivery log between busy hours",
                self.server_gaps.len()
            ));
        }
        out
    }
}

/// Removes the values quoted in a reason (`"soon" is not a number` → `… is not a number`) so that reasons group.
pub fn reason_class(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut chars = reason.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        out.push('…');
        let mut escaped = false;
        for c in chars.by_ref() {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => break,
                _ => escaped = false,
            }
        }
    }
    out
}

pub fn quality(
    loaded: &LoadedDataset,
    tally: CoverageTally,
    conflicting_countries: u64,
) -> DataQuality {
    let mut q = DataQuality {
        rows: Kind::ALL.iter().map(|&k| (k, loaded.counts(k))).collect(),
        conflicting_countries,
        skipped_files: loaded.skipped.clone(),
        warnings: loaded.warnings.clone(),
        ..DataQuality::default()
    };
    for (&kind, rs) in &loaded.rejections {
        for r in rs {
            *q.rejected
                .entry((kind, r.column.clone(), reason_class(&r.reason)))
                .or_default() += 1;
        }
    }
    q.unreadable_files = loaded
        .files
        .iter()
        .filter_map(|f| Some((f.path.clone(), f.error.clone()?)))
        .collect();
    q.unreadable_files.sort();
    tally.finish(&mut q);
    q
}

fn hour(t: i64) -> i64 {
    t.div_euclid(HOUR_MS) * HOUR_MS
}

/// An uncovered cache node-hour so far: its counts, and whether it served a miss.
type NodeHour = (Gap, bool);

/// What coverage needs of the deliveries, fed a block at a time: per node-hour the cache log
/// does not cover, and per hour and server, how many deliveries there were.
#[derive(Debug, Default)]
pub struct CoverageTally {
    /// Per cache node in the cache log, the hours with at least one of its rows.
    logged: CacheHours,
    uncovered: BTreeMap<(i64, Text), NodeHour>,
    missing_nodes: BTreeSet<Text>,
    /// Fills inferred for nodes without a cache log; with the deliveries resting on them.
    inferred: Option<InferredContent>,
    snapshots: Option<SnapshotOwners>,
    /// Per hour: deliveries, leaks, unresolved.
    per_hour: BTreeMap<i64, (u64, u64, u64)>,
    /// Hashed by server, as it is looked up for every delivery; the gaps found in it are sorted.
    per_server: HashMap<Text, BTreeMap<i64, u64>, RandomState>,
}

impl CoverageTally {
    /// Starts from the hours the cache log covers; `snapshot_conflicts` is given when owners
    /// come from registry snapshots.
    pub fn new(
        logged: CacheHours,
        inferred: Option<InferredCache>,
        snapshot_conflicts: Option<u64>,
    ) -> CoverageTally {
        CoverageTally {
            logged,
            inferred: inferred.map(|cache| InferredContent {
                cache,
                ..InferredContent::default()
            }),
            snapshots: snapshot_conflicts.map(|conflicts| SnapshotOwners {
                conflicts,
                ambiguous: 0,
            }),
            ..CoverageTally::default()
        }
    }

    /// Adds rows `rows` of the deliveries table `d`, whose verdicts are `verdicts` (in order).
    pub fn add(&mut self, d: &Table, rows: Range<usize>, verdicts: &[Verdict]) {
        let first = rows.start;
        let ts = &d.time("ts")[rows.clone()];
        let node = d.text("cache_node");
        let status = d.enums_in::<CacheStatus>("cache_status", rows);
        let server = d.text("server");
        if let Some(inf) = &mut self.inferred {
            for v in verdicts {
                if v.content_source == Some(ContentSource::Inferred) {
                    inf.deliveries += 1;
                    inf.leaks += (v.class == Class::Leak) as u64;
                    inf.ambiguous += (v.class == Class::Ambiguous) as u64;
                }
            }
        }
        if let Some(s) = &mut self.snapshots {
            s.ambiguous += verdicts
                .iter()
                .filter(|v| v.flipped == Some(Flip::BetweenSnapshots))
                .count() as u64;
        }
        for (i, v) in verdicts.iter().enumerate() {
            let Some(t) = ts[i] else { continue };
            let h = hour(t);
            let e = self.per_hour.entry(h).or_default();
            e.0 += 1;
            e.1 += (v.class == Class::Leak) as u64;
            e.2 += (v.class == Class::Unresolved) as u64;
            if let Some(s) = server.get(first + i) {
                let hours = match self.per_server.get_mut(&**s) {
                    Some(hours) => hours,
                    None => self.per_server.entry(s.clone()).or_default(),
                };
                *hours.entry(h).or_default() += 1;
            }
            let Some(n) = node.get(first + i) else {
                continue;
            };
            let Some(hours) = self.logged.get(&**n) else {
                if !self.missing_nodes.contains(&**n) {
                    self.missing_nodes.insert(n.clone());
                }
                continue;
            };
            if hours.contains(&h) {
                continue;
            }
            let (g, missed) = self.uncovered.entry((h, n.clone())).or_insert_with(|| {
                let g = Gap {
                    hour: h,
                    source: n.to_string(),
                    deliveries: 0,
                    leaks: 0,
                    unresolved: 0,
                };
                (g, false)
            });
            g.deliveries += 1;
            g.leaks += (v.class == Class::Leak) as u64;
            g.unresolved += (v.class == Class::Unresolved) as u64;
            *missed |= status[i] == Some(CacheStatus::Miss);
        }
    }

    fn finish(self, q: &mut DataQuality) {
        q.cache_gaps = self
            .uncovered
            .into_values()
            .filter(|(_, missed)| *missed)
            .map(|(g, _)| g)
            .collect();
        q.nodes_without_cache_log = self.missing_nodes.iter().map(|n| n.to_string()).collect();
        q.server_gaps = server_gaps(&self.per_hour, &self.per_server);
        q.inferred = self.inferred;
        q.snapshots = self.snapshots;
    }
}

/// Hours in which a server logged nothing although it logged at least [`SERVER_GAP_EXPECTED`]
/// deliveries in the hour before and the hour after the silence (traffic that follows the clock of
/// its region, quiet at night, is not a gap). Silences over [`MAX_SERVER_GAP_HOURS`] are taken as
/// the server being out of service, not as a logging gap.
fn server_gaps(
    per_hour: &BTreeMap<i64, (u64, u64, u64)>,
    per_server: &HashMap<Text, BTreeMap<i64, u64>, RandomState>,
) -> Vec<Gap> {
    let mut gaps = Vec::new();
    for (s, hours) in per_server {
        let active: Vec<(i64, u64)> = hours.iter().map(|(&h, &n)| (h, n)).collect();
        for w in active.windows(2) {
            let ((before, nb), (after, na)) = (w[0], w[1]);
            let silent = (after - before) / HOUR_MS - 1;
            if !(1..=MAX_SERVER_GAP_HOURS).contains(&silent)
                || (nb.min(na) as f64) < SERVER_GAP_EXPECTED
            {
                continue;
            }
            for k in 1..=silent {
                let h = before + k * HOUR_MS;
                let (n, l, u) = per_hour.get(&h).copied().unwrap_or_default();
                gaps.push(Gap {
                    hour: h,
                    source: s.to_string(),
                    deliveries: n,
                    leaks: l,
                    unresolved: u,
                });
            }
        }
    }
    gaps.sort();
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_hour_between_busy_ones_is_a_gap() {
        let mut csv = String::from(
            "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,server\n",
        );
        // srv1: 20 an hour in hours 0, 1, 3 (hour 2 silent), then 2 an hour in hours 5 and 7 (quiet, not a gap).
        for (h, n) in [(0, 20), (1, 20), (3, 20), (5, 2), (7, 2)] {
            for k in 0..n {
                csv.push_str(&format!("{},s,c,n,k,hit,srv1\n", h * HOUR_MS + k * 1000));
            }
        }
        let t = crate::load::table_from_csv(Kind::Deliveries, &csv, 0);
        let verdicts = vec![crate::verdict::Verdict::without_evidence(Class::Ok); t.len()];
        let mut tally = CoverageTally::default();
        tally.add(&t, 0..t.len(), &verdicts);
        let gaps = server_gaps(&tally.per_hour, &tally.per_server);
        assert_eq!(
            gaps.iter()
                .map(|g| (g.hour, g.source.as_str()))
                .collect::<Vec<_>>(),
            [(2 * HOUR_MS, "srv1")]
        );
    }

    #[test]
    fn reasons_group_without_their_values() {
        assert_eq!(
            reason_class(r#""lots" is not a number"#),
            "… is not a number"
        );
        assert_eq!(
            reason_class(r#"unknown value "a\"b" (expected one of x)"#),
            "unknown value … (expected one of x)"
        );
        assert_eq!(
            reason_class("missing required value"),
            "missing required value"
        );
    }
}
