//! Clock offsets estimated from the logs themselves: causal pairs whose order is known bound how far each writer's clock is off (docs/CLOCKS.md).
//!
//! The estimate is of the correction still missing after `dataset.toml`'s `[clock_offset_ms]`,
//! told as the whole correction a clock needs: what is stated plus what the pairs find. It is
//! never applied by itself; `leakscope clocks` writes it out as a block to paste.

pub mod edge;
pub mod pairs;
pub mod solve;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use std::path::Path;

use crate::error::{Error, Result};
use crate::load::runs::GATHER_BLOCK_ROWS;
use crate::load::{load_streaming, LoadOptions};
use crate::schema::Kind;
use crate::settings::{OffsetChanges, Settings};
use crate::table::Text;
use crate::time::format_ms;
pub use pairs::{Gathered, Gatherer};
use solve::{Link, Offset, Reference, Vertex};

/// The name the session log's clock goes by.
pub const SESSION_LOG: &str = "sessions";

/// `leakscope clocks`: loads `dataset`, builds its timelines and estimates its clocks relative
/// to `reference`.
pub fn estimate_dataset(
    dataset: &Path,
    opts: &LoadOptions,
    reference: Option<&str>,
) -> Result<ClockReport> {
    let mut loaded = load_streaming(dataset, opts)?;
    let spilled = loaded.spilled.take();
    let cache = std::mem::take(&mut loaded.cache);
    let timelines = crate::intervals::build(&loaded, cache)
        .map_err(|e| Error::timeline("building timelines", e))?;
    let mut g = Gatherer::new(&timelines);
    match &spilled {
        None => {
            let d = loaded.table(Kind::Deliveries);
            g.add(d, 0..d.len());
        }
        Some(s) => {
            let mut scan = s.scan(GATHER_BLOCK_ROWS, loaded.files.len())?;
            while let Some(b) = scan.next_block()? {
                g.add(&b, 0..b.len());
            }
        }
    }
    ClockReport::estimate(&mut g.finish(), &loaded.settings, reference).map_err(|e| {
        Error::Dataset {
            path: dataset.to_path_buf(),
            reason: e.to_string(),
        }
    })
}

/// What wrote a clock's timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    StreamServer,
    CacheNode,
    SessionLog,
}

/// One clock's estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockEstimate {
    pub clock: String,
    pub kind: ClockKind,
    /// `[clock_offset_ms]`'s correction of it, 0 where none is stated.
    pub stated_ms: i64,
    /// The correction it needs, stated plus found (corrected = logged + offset); none where no
    /// pairs reach it, and for the session log, which its pairs bound from above only. For a
    /// drifting clock, its offset at the start.
    pub offset_ms: Option<i64>,
    /// The interval holding the true correction under docs/CLOCKS.md's assumptions; a bound of
    /// none is open.
    pub interval_ms: [Option<i64>; 2],
    /// Causal pairs of the links that decided it.
    pub pairs: usize,
    /// Of those, pairs set aside as breaking the causal order.
    pub set_aside: usize,
    /// The clocks it is linked to through those pairs.
    pub linked_to: Vec<String>,
    /// Where its offset changes: each from an instant (in the reference's time) on.
    pub changes: Vec<ClockChange>,
    /// Set where no pairs tie the clock to the reference: the clock of its own links it is told
    /// relative to instead (a node relative to its server, when the server's logins say
    /// nothing).
    pub relative_to: Option<String>,
    /// The found correction, beyond what is stated, exceeds the tolerance.
    pub exceeds_tolerance: bool,
}

/// A drifting clock's offset from an instant on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockChange {
    pub from: String,
    #[serde(skip)]
    pub from_ms: i64,
    pub offset_ms: i64,
    pub interval_ms: [Option<i64>; 2],
}

/// How many pairs there were, and how many events found no partner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PairCounts {
    pub fill_pairs: usize,
    pub login_pairs: usize,
    pub misses_without_fill: u64,
    pub starts_without_first_delivery: u64,
}

/// Every clock's estimate: `clocks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockReport {
    pub convention: &'static str,
    pub reference: String,
    pub tolerance_ms: i64,
    pub clocks: Vec<ClockEstimate>,
    pub pairs: PairCounts,
}

/// A reference the clocks cannot be told relative to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("--reference {0:?} names no stream server or cache node of the dataset")]
    Unknown(String),
    #[error(
        "--reference {SESSION_LOG:?}: the session log's offset is bounded on one side only (its pairs hold the login latency), so it cannot be a reference"
    )]
    OneSided,
}

impl ClockReport {
    /// The estimate from the gathered pairs, relative to the clock named `reference` or, by
    /// default, the stream servers' consensus.
    pub fn estimate(
        g: &mut Gathered,
        settings: &Settings,
        reference: Option<&str>,
    ) -> Result<ClockReport, ReferenceError> {
        let reference = match reference {
            None => Reference::Consensus,
            Some(SESSION_LOG) => return Err(ReferenceError::OneSided),
            Some(name) => {
                Reference::Clock(find(g, name).ok_or_else(|| ReferenceError::Unknown(name.into()))?)
            }
        };
        let links = solve::links(g);
        let solved = solve::solve(&links, &reference);
        let mut by_vertex: BTreeMap<Vertex, solve::Solved> =
            solved.into_iter().map(|s| (s.vertex, s)).collect();
        let mut clocks = Vec::new();
        let mut every: BTreeSet<Vertex> = (0..g.servers.len() as u32).map(Vertex::Server).collect();
        every.extend(g.fills.iter().map(|((n, _), _)| Vertex::Node(*n)));
        if !g.logins.is_empty() {
            every.insert(Vertex::SessionLog);
        }
        for v in every {
            let (name, kind) = describe(g, v);
            let stated = match kind {
                ClockKind::SessionLog => 0,
                _ => settings.clock_offset_ms.get(&*name).copied().unwrap_or(0),
            };
            let solved = by_vertex.remove(&v);
            let mut c = clock_estimate(
                g,
                &links,
                v,
                name,
                kind,
                stated,
                solved.as_ref().map_or(&[][..], |s| &s.pieces),
                solved.as_ref().map_or(&[][..], |s| &s.links),
                settings.tolerance_ms,
            );
            c.relative_to = solved
                .and_then(|s| s.relative_to)
                .map(|r| describe(g, r).0.to_string());
            if c.relative_to.as_deref() == Some(c.clock.as_str()) {
                // A server its logins tie to nothing: its offset from the others is unknown.
                c.offset_ms = None;
                c.interval_ms = [None, None];
                c.changes.clear();
                c.exceeds_tolerance = false;
                c.relative_to = None;
            }
            clocks.push(c);
        }
        clocks.sort_by(|a, b| (a.kind, &a.clock).cmp(&(b.kind, &b.clock)));
        Ok(ClockReport {
            convention: "corrected = logged + offset_ms, as [clock_offset_ms] in dataset.toml",
            reference: match &reference {
                Reference::Consensus => "the stream servers' consensus (their median)".to_string(),
                Reference::Clock(v) => describe(g, *v).0.to_string(),
            },
            tolerance_ms: settings.tolerance_ms,
            clocks,
            pairs: PairCounts {
                fill_pairs: g.fills.iter().map(|(_, p)| p.len()).sum(),
                login_pairs: g.logins.iter().map(|(_, p)| p.len()).sum(),
                misses_without_fill: g.misses_unpaired,
                starts_without_first_delivery: g.logins_unpaired,
            },
        })
    }

    /// One line per clock of [`ClockReport::unstated_beyond_tolerance`], for the data-quality
    /// section.
    pub fn skew_warnings(&self) -> Vec<String> {
        self.unstated_beyond_tolerance()
            .map(|c| {
                format!(
                    "clock skew: {} {} runs {} ms off{} by its causal pairs (interval {}, {} pairs), beyond the tolerance of {} ms, and dataset.toml states no [clock_offset_ms] for it; verdicts that compare its times with other logs' may be wrong (see leakscope clocks)",
                    match c.kind {
                        ClockKind::CacheNode => "cache node",
                        _ => "stream server",
                    },
                    c.clock,
                    c.offset_ms.unwrap_or(0),
                    c.relative_to
                        .as_ref()
                        .map_or(String::new(), |r| format!(" from {r}")),
                    interval_text(c.interval_ms),
                    c.pairs,
                    self.tolerance_ms
                )
            })
            .collect()
    }

    /// The clocks whose found correction exceeds the tolerance while `dataset.toml` states none.
    pub fn unstated_beyond_tolerance(&self) -> impl Iterator<Item = &ClockEstimate> {
        self.clocks
            .iter()
            .filter(|c| c.exceeds_tolerance && c.stated_ms == 0 && c.kind != ClockKind::SessionLog)
    }

    /// The corrections the estimate suggests over `settings`' (dataset.toml's): each server and
    /// node whose interval leaves out its stated correction gets its estimate, and each clock the
    /// estimate finds changing gets its changes.
    pub fn suggested_offsets(&self, settings: &Settings) -> (BTreeMap<String, i64>, OffsetChanges) {
        let mut offsets = settings.clock_offset_ms.clone();
        let mut changes = settings.clock_offset_changes.clone();
        let mut named = BTreeSet::new();
        for c in self
            .clocks
            .iter()
            .filter(|c| c.kind != ClockKind::SessionLog)
        {
            if !named.insert(c.clock.clone()) {
                continue;
            }
            if let Some(offset) = c.offset_ms.filter(|_| !c.holds_stated()) {
                offsets.insert(c.clock.clone(), offset);
            }
            if !c.changes.is_empty() {
                let steps = c
                    .changes
                    .iter()
                    .map(|ch| (ch.from_ms, ch.offset_ms))
                    .collect();
                changes.insert(c.clock.clone(), steps);
            }
        }
        (offsets, changes)
    }

    /// The `[clock_offset_ms]` block the estimate suggests: every server and node whose interval
    /// leaves out what is stated (the pairs say it is off), or that has a stated correction.
    pub fn suggested_block(&self) -> String {
        let mut s = format!(
            "# Suggested by leakscope clocks, relative to {}; review before use.\n[clock_offset_ms]\n",
            self.reference
        );
        let mut named = BTreeSet::new();
        for c in &self.clocks {
            if c.kind == ClockKind::SessionLog {
                if let Some(h) = c.interval_ms[1] {
                    let _ = writeln!(
                        s,
                        "# {SESSION_LOG}: the session log's clock needs a correction of at most {h} ms ({} pairs); the contract corrects no session rows.",
                        c.pairs
                    );
                }
                continue;
            }
            let Some(offset) = c.offset_ms else {
                if c.stated_ms != 0 && named.insert(c.clock.clone()) {
                    let _ = writeln!(
                        s,
                        "{:?} = {}   # as stated: no pairs check it",
                        c.clock, c.stated_ms
                    );
                }
                continue;
            };
            let holds_stated = c.holds_stated();
            if holds_stated && c.stated_ms == 0 {
                continue;
            }
            if !named.insert(c.clock.clone()) {
                let _ = writeln!(
                    s,
                    "# {:?} is both a stream server and a cache node: one correction serves both.",
                    c.clock
                );
                continue;
            }
            let value = match holds_stated {
                true => c.stated_ms,
                false => offset,
            };
            let _ = writeln!(
                s,
                "{:?} = {value}   # {}, interval [{}, {}], {} pairs{}",
                c.clock,
                match c.kind {
                    ClockKind::CacheNode => "cache node",
                    _ => "stream server",
                },
                bound(c.interval_ms[0]),
                bound(c.interval_ms[1]),
                c.pairs,
                c.relative_to.as_ref().map_or(String::new(), |r| format!(
                    ", relative to {r}, which no pairs tie to the others"
                ))
            );
        }
        let drifting: Vec<&ClockEstimate> = self
            .clocks
            .iter()
            .filter(|c| c.kind != ClockKind::SessionLog && !c.changes.is_empty())
            .collect();
        if !drifting.is_empty() {
            s.push_str("\n# Drifting clocks: from each instant on (by the clock's own log), this correction.\n[clock_offset_changes]\n");
            let mut named = BTreeSet::new();
            for c in drifting {
                if !named.insert(c.clock.clone()) {
                    continue;
                }
                let steps: Vec<String> = c
                    .changes
                    .iter()
                    .map(|ch| format!("{{ from = {:?}, offset_ms = {} }}", ch.from, ch.offset_ms))
                    .collect();
                let _ = writeln!(s, "{:?} = [{}]", c.clock, steps.join(", "));
            }
        }
        s
    }

    /// A table for the terminal.
    pub fn text(&self) -> String {
        let mut s = format!(
            "clock offsets relative to {} (corrected = logged + offset; tolerance {} ms)\n",
            self.reference, self.tolerance_ms
        );
        let _ = writeln!(
            s,
            "{:<28} {:<14} {:>9} {:>9} {:>21} {:>8}",
            "clock", "kind", "stated", "offset", "interval", "pairs"
        );
        for c in &self.clocks {
            let kind = match c.kind {
                ClockKind::StreamServer => "stream server",
                ClockKind::CacheNode => "cache node",
                ClockKind::SessionLog => "session log",
            };
            let interval = format!("[{}, {}]", bound(c.interval_ms[0]), bound(c.interval_ms[1]));
            let offset = c.offset_ms.map_or("-".to_string(), |o| o.to_string());
            let mut flag = match c.exceeds_tolerance {
                true => "  beyond tolerance".to_string(),
                false => String::new(),
            };
            if let Some(r) = &c.relative_to {
                flag.push_str(&format!("  (relative to {r})"));
            }
            let _ = writeln!(
                s,
                "{:<28} {:<14} {:>9} {:>9} {:>21} {:>8}{flag}",
                c.clock, kind, c.stated_ms, offset, interval, c.pairs
            );
            for ch in &c.changes {
                let _ = writeln!(s, "{:<28}   from {} on: {} ms", "", ch.from, ch.offset_ms);
            }
        }
        let p = &self.pairs;
        let _ = writeln!(
            s,
            "{} fill pairs ({} misses without a fill), {} login pairs ({} starts without a first delivery)",
            p.fill_pairs, p.misses_without_fill, p.login_pairs, p.starts_without_first_delivery
        );
        s
    }
}

impl ClockEstimate {
    /// Its interval holds what dataset.toml states (0 if nothing): the pairs do not say it is off.
    pub fn holds_stated(&self) -> bool {
        self.interval_ms[0].is_none_or(|l| l <= self.stated_ms)
            && self.interval_ms[1].is_none_or(|h| self.stated_ms <= h)
    }
}

fn bound(b: Option<i64>) -> String {
    b.map_or("open".to_string(), |x| x.to_string())
}

/// An interval as `[lo, hi] ms`, an open bound as `open`.
fn interval_text(i: [Option<i64>; 2]) -> String {
    format!("[{}, {}] ms", bound(i[0]), bound(i[1]))
}

/// The vertex of the clock named `name`: a server first, then a node.
fn find(g: &Gathered, name: &str) -> Option<Vertex> {
    if let Some(i) = g.servers.iter().position(|s| &**s == name) {
        return Some(Vertex::Server(i as u32));
    }
    g.nodes
        .iter()
        .position(|s| &**s == name)
        .map(|i| Vertex::Node(i as u32))
}

fn describe(g: &Gathered, v: Vertex) -> (Text, ClockKind) {
    match v {
        Vertex::SessionLog => (SESSION_LOG.into(), ClockKind::SessionLog),
        Vertex::Server(i) => (g.servers[i as usize].clone(), ClockKind::StreamServer),
        Vertex::Node(i) => (g.nodes[i as usize].clone(), ClockKind::CacheNode),
    }
}

#[allow(clippy::too_many_arguments)]
fn clock_estimate(
    g: &Gathered,
    links: &[Link],
    v: Vertex,
    name: Text,
    kind: ClockKind,
    stated: i64,
    pieces: &[solve::Piece],
    used: &[usize],
    tolerance_ms: i64,
) -> ClockEstimate {
    let interval = |o: &Offset| [o.lo, o.hi];
    let first = pieces.first().map(|p| p.offset.shifted(stated));
    // A piece that moves the offset by less than a step is the reference's own wobble (one
    // server's change moves the median by a little), not this clock's change.
    let mut kept: Vec<&solve::Piece> = Vec::new();
    for p in pieces {
        if kept
            .last()
            .is_none_or(|k| (p.offset.value - k.offset.value).abs() >= edge::MIN_STEP_MS)
        {
            kept.push(p);
        }
    }
    let mut linked_to: Vec<String> = used
        .iter()
        .map(|&l| {
            let other = match links[l].from == v {
                true => links[l].to,
                false => links[l].from,
            };
            describe(g, other).0.to_string()
        })
        .collect();
    linked_to.sort();
    let beyond = pieces
        .iter()
        .any(|p| p.offset.value.unsigned_abs() > tolerance_ms.unsigned_abs());
    ClockEstimate {
        clock: name.to_string(),
        kind,
        stated_ms: stated,
        // The session log's pairs bound it from above only: no point to give.
        offset_ms: first
            .filter(|_| kind != ClockKind::SessionLog)
            .map(|o| o.value),
        interval_ms: first.map_or([None, None], |o| interval(&o)),
        pairs: used.iter().map(|&l| links[l].pairs).sum(),
        set_aside: used.iter().map(|&l| links[l].set_aside).sum(),
        linked_to,
        changes: kept
            .iter()
            .skip(1)
            .map(|p| {
                let o = p.offset.shifted(stated);
                ClockChange {
                    from: format_ms(p.from),
                    from_ms: p.from,
                    offset_ms: o.value,
                    interval_ms: interval(&o),
                }
            })
            .collect(),
        exceeds_tolerance: beyond && kind != ClockKind::SessionLog,
        relative_to: None,
    }
}
