//! The lower edge of a set of time differences: where a latency that is never negative starts, found robustly, with its interval and its change points.
//!
//! Every causal pair gives a logged difference `x = θ + u`: θ the clocks' offset (plus a latency
//! floor common to all pairs of its kind), `u ≥ 0` how long the effect took, at most the
//! latency bound. So θ lies at or below every causal `x`, and close below the smallest ones when
//! `u` takes small values often. Pairs that only look causal (a start amid a session's traffic,
//! say) spread far wider. So the causal pairs are the densest window one latency bound wide; the
//! edge is the first pair of that window from which the pairs run as densely as the window's,
//! and how far above θ it can lie follows from the spacing of the pairs right above it
//! (docs/CLOCKS.md).

use serde::Serialize;

/// Fewest pairs an edge is worked out from.
pub const MIN_PAIRS: usize = 5;
/// How many times the pairs of any other window the causal window must hold.
const PEAK: usize = 3;
/// How many spacings of the smallest differences the edge may lie above θ. With the spacings of
/// an exponential tail, the edge lies further above θ with odds under 10^-4.
const SPACINGS: f64 = 10.0;
/// The edge is the first pair from which this many run within [`RUN_SPACINGS`] mean spacings of
/// the window: a stray pair below the causal ones is not followed by others so close.
const RUN: usize = 4;
const RUN_SPACINGS: f64 = 12.0;
/// Timestamps are truncated to the millisecond, so a difference of two is off by up to 1 ms.
const TRUNCATION_MS: i64 = 1;
/// At least this many blocks when looking for change points, where the pairs allow.
const MIN_BLOCKS: usize = 8;
/// Fewest pairs in a block.
const MIN_BLOCK_PAIRS: usize = 8;
/// The smallest step of the edge taken as a change of the offset, not noise.
pub const MIN_STEP_MS: i64 = 100;
/// Pairs that a single offset would have put between two stretches' edges, for the stretches
/// to be told apart: none falling there where this many were due has odds under e^-6.
const EXPECTED_BELOW: f64 = 6.0;
/// Change points looked for in one set of pairs.
const MAX_CHANGES: usize = 8;
/// Blocks on each side of a step that show the levels it separates.
const WINDOW: usize = 2;

/// The edge of one set of differences: θ ∈ [`lo`, `hi`], estimated at `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub value: i64,
    pub lo: i64,
    pub hi: i64,
    /// Pairs it was worked out from.
    pub pairs: usize,
    /// Pairs below the edge, set aside as breaking the causal order.
    pub set_aside: usize,
    /// How far the causal pairs spread above the edge.
    pub spread: i64,
}

impl Edge {
    /// The edge of `xs` (reordered), whose causal pairs lie within `latency_ms` of each other;
    /// none from fewer than [`MIN_PAIRS`] causal pairs, or where no window that wide stands out
    /// from all others ([`PEAK`]).
    pub fn of(xs: &mut [i64], latency_ms: i64) -> Option<Edge> {
        let n = xs.len();
        if n < MIN_PAIRS {
            return None;
        }
        xs.sort_unstable();
        let (mut count, mut first, mut j) = (0usize, 0usize, 0usize);
        for i in 0..n {
            while j < n && xs[j].saturating_sub(xs[i]) <= latency_ms {
                j += 1;
            }
            if j - i > count {
                (count, first) = (j - i, i);
            }
        }
        // Causal pairs stand out: their window holds several times what any other window
        // holds. Differences spread over minutes, or bunched at every minute as a tick-driven
        // client's are, have no such peak: no pair there is causal.
        let (start, end) = (xs[first], xs[first + count - 1]);
        let (mut other, mut j) = (0usize, 0usize);
        for i in 0..n {
            if xs[i] >= start.saturating_sub(latency_ms) && xs[i] <= end.saturating_add(latency_ms)
            {
                continue;
            }
            j = j.max(i);
            while j < n
                && xs[j].saturating_sub(xs[i]) <= latency_ms
                && (xs[i] > end || xs[j] < start.saturating_sub(latency_ms))
            {
                j += 1;
            }
            other = other.max(j - i);
        }
        if count < PEAK * other {
            return None;
        }
        let window = &xs[first..first + count];
        let span = window[count - 1].saturating_sub(window[0]);
        let tight = ((span as f64 / count as f64) * RUN_SPACINGS)
            .ceil()
            .max(1.0) as i64;
        let r = (0..count)
            .find(|&r| r + RUN - 1 < count && window[r + RUN - 1] - window[r] <= tight)
            .unwrap_or(0);
        let causal = count - r;
        if causal < MIN_PAIRS {
            return None;
        }
        let value = window[r];
        // The widest mean spacing of the first few pairs above the edge: one close pair right
        // above it must not make the interval narrow.
        let m = (causal / 10).max(2 * MIN_PAIRS - 2).min(causal - 1);
        let spacing = (1..=m)
            .map(|j| window[r + j].saturating_sub(value) as f64 / j as f64)
            .fold(0.0, f64::max);
        let above = (spacing * SPACINGS).ceil() as i64 + TRUNCATION_MS;
        Some(Edge {
            value,
            lo: value.saturating_sub(above),
            hi: value.saturating_add(TRUNCATION_MS),
            pairs: causal,
            set_aside: n - causal,
            spread: window[count - 1] - value,
        })
    }

    /// The edge with every difference negated: an offset bounded from above where the pairs bound
    /// it from below.
    pub fn negated(self) -> Edge {
        Edge {
            value: -self.value,
            lo: -self.hi,
            hi: -self.lo,
            ..self
        }
    }
}

/// One stretch of time with a steady edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stretch {
    /// The first pair's time, in the pairs' own time; the first stretch starts at `i64::MIN`.
    pub from: i64,
    pub edge: Edge,
}

/// The edge of pairs `(t, x)` piece by piece, looked at in blocks of up to `block_pairs` pairs
/// (fewer where the latency spreads little): where the edge steps by more than
/// [`MIN_STEP_MS`] and more than the blocks' own noise, and the two sides' pairs tell their
/// offsets apart ([`distinct`]), a new stretch starts. `pairs` is sorted by time here.
pub fn stretches(pairs: &mut [(i64, i64)], latency_ms: i64, block_pairs: usize) -> Vec<Stretch> {
    pairs.sort_unstable();
    let mut cuts = Vec::new();
    let size = (pairs.len() / MIN_BLOCKS).clamp(MIN_BLOCK_PAIRS, block_pairs.max(MIN_BLOCK_PAIRS));
    let mut blocks: Vec<i64> = Vec::new();
    for c in pairs.chunks(size) {
        let mut x: Vec<i64> = c.iter().map(|p| p.1).collect();
        match Edge::of(&mut x, latency_ms) {
            Some(e) => blocks.push(e.value),
            // A short last block, or one with too few causal pairs: its neighbour's level.
            None => blocks.push(blocks.last().copied().unwrap_or(i64::MAX)),
        }
    }
    if blocks.first() == Some(&i64::MAX) {
        blocks.clear();
    }
    let noise = step_noise(&blocks);
    steps(&blocks, &mut cuts, noise);
    cuts.sort_unstable();
    let at: Vec<(usize, i64)> = cuts
        .iter()
        .map(|&b| refine(pairs, &blocks, b, size))
        .filter(|&i| i < pairs.len())
        .map(|i| (i, pairs[i].0))
        .collect();
    joined(pairs, &at, latency_ms)
}

/// The edge of pairs `(t, x)` piece by piece where the offset may change only at the instants
/// `at`: the pairs are cut there, and neighbours that the pairs do not tell apart are joined.
pub fn stretches_at(pairs: &mut [(i64, i64)], latency_ms: i64, at: &[i64]) -> Vec<Stretch> {
    pairs.sort_unstable();
    let cuts: Vec<(usize, i64)> = at
        .iter()
        .map(|&t| (pairs.partition_point(|p| p.0 < t), t))
        .collect();
    joined(pairs, &cuts, latency_ms)
}

/// Stretches of `pairs` (sorted by time) cut at `(index, instant)`s `cuts`, each new stretch from
/// its cut's instant on, neighbours whose offsets the pairs do not tell apart ([`distinct`])
/// joined into one.
fn joined(pairs: &[(i64, i64)], cuts: &[(usize, i64)], latency_ms: i64) -> Vec<Stretch> {
    let mut bounds: Vec<(usize, i64)> = cuts.to_vec();
    bounds.push((pairs.len(), i64::MAX));
    bounds.sort_unstable();
    bounds.dedup_by_key(|b| b.0);
    // (first pair, last pair + 1, the instant the stretch starts)
    let mut ranges: Vec<(usize, usize, i64)> = Vec::new();
    let (mut start, mut since) = (0usize, i64::MIN);
    for (cut, at) in bounds {
        if cut > start {
            ranges.push((start, cut, since));
        }
        (start, since) = (cut, at);
    }
    let edge = |r: (usize, usize, i64)| {
        let mut xs: Vec<i64> = pairs[r.0..r.1].iter().map(|p| p.1).collect();
        Edge::of(&mut xs, latency_ms)
    };
    let mut i = 0;
    while i + 1 < ranges.len() {
        let apart = match (edge(ranges[i]), edge(ranges[i + 1])) {
            (Some(a), Some(b)) => distinct(&a, &b),
            _ => false,
        };
        match apart {
            true => i += 1,
            false => {
                ranges[i].1 = ranges[i + 1].1;
                ranges.remove(i + 1);
                i = i.saturating_sub(1);
            }
        }
    }
    let mut out = Vec::new();
    for r in ranges {
        if let Some(edge) = edge(r) {
            let from = match out.is_empty() {
                true => i64::MIN,
                false => r.2,
            };
            out.push(Stretch { from, edge });
        }
    }
    out
}

/// Whether two stretches' edges are two offsets: had the stretch with the higher edge the lower
/// one's offset, its pairs, spread as they are, would have put some [`EXPECTED_BELOW`] of them
/// between the two edges, where it has none.
fn distinct(a: &Edge, b: &Edge) -> bool {
    let (high, low) = match a.value >= b.value {
        true => (a, b),
        false => (b, a),
    };
    let step = high.value.saturating_sub(low.value) as f64;
    let expected = high.pairs as f64 * step / high.spread.max(1) as f64;
    step >= MIN_STEP_MS as f64 && expected >= EXPECTED_BELOW
}

/// The pair where the stretch that block `b` starts begins: blocks cut through the step, so the
/// pairs of the blocks around it go to the level they are closest to. A latency only adds, so on
/// a step up the last pair below the middle is the lower level's last; on a step down the first
/// pair below the middle is the lower level's first.
fn refine(pairs: &[(i64, i64)], blocks: &[i64], b: usize, size: usize) -> usize {
    // The levels from the blocks beyond the two around the cut, which the step may straddle.
    let before = median(&blocks[b.saturating_sub(WINDOW + 1)..(b - 1).max(1)]);
    let after = median(&blocks[(b + 1).min(blocks.len() - 1)..(b + 1 + WINDOW).min(blocks.len())]);
    let mid = before + (after - before) / 2;
    let lo = b.saturating_sub(WINDOW) * size;
    let hi = ((b + WINDOW) * size).min(pairs.len());
    // A pair that is no causal pair may lie below the middle on either side: the level shows in
    // a run of pairs below it, not in one.
    let run = |i: usize| (i..(i + CUT_RUN).min(hi)).all(|j| pairs[j].1 < mid);
    match before < after {
        true => (lo..hi)
            .rev()
            .find(|&i| i + 1 >= CUT_RUN && run(i + 1 - CUT_RUN))
            .map_or(lo, |i| i + 1),
        false => (lo..hi).find(|&i| run(i)).unwrap_or(hi),
    }
}

/// Pairs in a row below the middle of a step that show the lower level there.
const CUT_RUN: usize = 3;

/// The typical step between neighbouring blocks' edges when nothing changes.
fn step_noise(blocks: &[i64]) -> i64 {
    let mut steps: Vec<i64> = blocks.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    if steps.is_empty() {
        return 0;
    }
    steps.sort_unstable();
    steps[steps.len() / 2]
}

/// The blocks where the level steps: where the median of the [`WINDOW`] blocks before and that
/// of the ones from there on differ by more than the threshold, the largest steps first, none
/// within a window of a larger one.
fn steps(blocks: &[i64], cuts: &mut Vec<usize>, noise: i64) {
    if blocks.len() < 2 * WINDOW {
        return;
    }
    let threshold = MIN_STEP_MS.max(noise.saturating_mul(6));
    let mut found: Vec<(i64, usize)> = (WINDOW..=blocks.len() - WINDOW)
        .map(|b| {
            let d = median(&blocks[b - WINDOW..b]) - median(&blocks[b..b + WINDOW]);
            (d.abs(), b)
        })
        .filter(|&(d, _)| d >= threshold)
        .collect();
    found.sort_by_key(|&(d, b)| (std::cmp::Reverse(d), b));
    for (_, b) in found {
        if cuts.len() < MAX_CHANGES && cuts.iter().all(|&c| c.abs_diff(b) >= WINDOW) {
            cuts.push(b);
        }
    }
}

/// The median; of an even count, the mean of the middle two.
fn median(v: &[i64]) -> i64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    let n = s.len();
    match n % 2 {
        1 => s[n / 2],
        _ => s[n / 2 - 1] + (s[n / 2] - s[n / 2 - 1]) / 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Differences θ + u with u spread over [0, 30) ms: the edge sits on θ and its interval
    /// holds it, one stray pair below it set aside.
    #[test]
    fn the_edge_of_a_latency_holds_the_offset() {
        let theta = -1500;
        let mut xs: Vec<i64> = (0..1000).map(|i| theta + (i * 7919) % 30).collect();
        xs.push(theta - 4000);
        let e = Edge::of(&mut xs, 5000).unwrap();
        assert_eq!((e.value, e.pairs, e.set_aside), (theta, 1000, 1));
        assert!(e.lo <= theta && theta <= e.hi && e.hi - e.lo < 10, "{e:?}");
        let n = e.negated();
        assert_eq!((n.value, n.lo, n.hi), (1500, -e.hi, -e.lo));
        assert_eq!(Edge::of(&mut [1, 2, 3, 4], 5000), None);
    }

    /// Pairs that only look causal, spread over two minutes either way, leave the edge of the
    /// causal ones (a login latency of 150 ms to 1 s) where it is.
    #[test]
    fn scattered_pairs_leave_the_edge_alone() {
        let theta = 800;
        let mut xs: Vec<i64> = (0..200).map(|i| theta + 150 + (i * 7919) % 850).collect();
        xs.extend((0..60).map(|i| -60_000 + (i * 104_729) % 120_000));
        let e = Edge::of(&mut xs, 5000).unwrap();
        assert!(e.lo <= theta + 150 && theta + 150 <= e.hi, "{e:?}");
        assert!(e.value - (theta + 150) < 20, "{e:?}");
    }

    /// Differences spread evenly over a minute, as when a session's first delivery comes tens of
    /// seconds after its start whatever the clocks, give no edge.
    #[test]
    fn differences_without_a_peak_give_no_edge() {
        let mut xs: Vec<i64> = (0..500).map(|i| 27_000 + (i * 7919) % 60_000).collect();
        assert_eq!(Edge::of(&mut xs, 5000), None);
        // A client that asks once a minute: a bunch at every minute, none standing out.
        let mut ticks: Vec<i64> = (0..500)
            .map(|i| 10_000 + (i % 9) * 60_000 + (i * 7919) % 4000)
            .collect();
        assert_eq!(Edge::of(&mut ticks, 5000), None);
    }

    /// Few pairs with a wide latency give a wide interval, still holding θ.
    #[test]
    fn few_pairs_give_a_wide_interval() {
        let mut xs = vec![640, 150, 900, 410, 222, 730, 505];
        let e = Edge::of(&mut xs, 5000).unwrap();
        assert_eq!(e.value, 150);
        assert!(e.lo < 0, "{e:?}");
    }

    /// A step of 600 ms half way is one change point; a steady set has none.
    #[test]
    fn a_step_of_the_offset_starts_a_stretch() {
        let mut pairs: Vec<(i64, i64)> = (0..2000i64)
            .map(|i| {
                let theta = if i < 1200 { 200 } else { 800 };
                (i * 1000, theta + (i * 7919) % 30)
            })
            .collect();
        let s = stretches(&mut pairs, 5000, 40);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!((s[0].from, s[0].edge.value), (i64::MIN, 200));
        assert_eq!((s[1].from, s[1].edge.value), (1_200_000, 800));
        // A dip between two close levels is two changes, not none.
        let mut dip: Vec<(i64, i64)> = (0..1300i64)
            .map(|i| {
                let theta = match i {
                    0..600 => 3330,
                    600..800 => 1924,
                    _ => 3387,
                };
                (i * 1000, theta + (i * 7919) % 30)
            })
            .collect();
        let s = stretches(&mut dip, 5000, 40);
        let levels: Vec<(i64, i64)> = s.iter().map(|x| (x.from, x.edge.value)).collect();
        assert_eq!(
            levels,
            vec![(i64::MIN, 3330), (600_000, 1924), (800_000, 3387)]
        );
        let mut steady: Vec<(i64, i64)> = (0..2000i64).map(|i| (i, (i * 7919) % 900)).collect();
        assert_eq!(stretches(&mut steady, 5000, 40).len(), 1);
    }
}
