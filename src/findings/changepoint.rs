//! Change points of the leak rate: binary segmentation of binned leak counts under a Poisson model, deterministic.
//!
//! Bin k has `events[k]` leaks out of `exposure[k]` deliveries. Within a segment the
//! leak rate per delivery is constant, so the maximised log-likelihood of a segment is
//! `L·ln(L/N) − L` (constant terms dropped). A segment is split at the bin that gains
//! the most likelihood, as long as the gain exceeds a BIC-style penalty, recursively.

/// One estimated change of the leak rate: the new rate holds from bin `bin` on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateChange {
    pub bin: usize,
    /// Leaks per delivery in the segment before and after.
    pub rate_before: f64,
    pub rate_after: f64,
    /// Log-likelihood gained by this split when it was made.
    pub gain: f64,
}

impl RateChange {
    pub fn is_increase(&self) -> bool {
        self.rate_after > self.rate_before
    }
}

/// At most this many change points are reported.
pub const MAX_CHANGES: usize = 8;

/// The penalty a split must beat: 3·ln(n) for n bins (two parameters per change, BIC, with margin).
pub fn penalty(bins: usize) -> f64 {
    3.0 * (bins.max(3) as f64).ln()
}

struct Prefix {
    events: Vec<f64>,
    exposure: Vec<f64>,
}

impl Prefix {
    fn new(events: &[u64], exposure: &[u64]) -> Prefix {
        let mut e = vec![0.0];
        let mut x = vec![0.0];
        for (a, b) in events.iter().zip(exposure) {
            e.push(e.last().copied().unwrap_or(0.0) + *a as f64);
            // A bin cannot hold more leaks than deliveries; guard against inconsistent input.
            x.push(x.last().copied().unwrap_or(0.0) + (*b).max(*a) as f64);
        }
        Prefix {
            events: e,
            exposure: x,
        }
    }

    fn sums(&self, a: usize, b: usize) -> (f64, f64) {
        (
            self.events[b] - self.events[a],
            self.exposure[b] - self.exposure[a],
        )
    }

    /// Maximised Poisson log-likelihood of bins [a, b) sharing one rate, up to constants.
    fn ll(&self, a: usize, b: usize) -> f64 {
        let (l, n) = self.sums(a, b);
        if l <= 0.0 || n <= 0.0 {
            0.0
        } else {
            l * (l / n).ln() - l
        }
    }

    fn rate(&self, a: usize, b: usize) -> f64 {
        let (l, n) = self.sums(a, b);
        if n > 0.0 {
            l / n
        } else {
            0.0
        }
    }

    /// The best split of [a, b): (bin, gain); the earliest bin wins ties.
    fn best_split(&self, a: usize, b: usize) -> Option<(usize, f64)> {
        let whole = self.ll(a, b);
        let mut best: Option<(usize, f64)> = None;
        for k in a + 1..b {
            let gain = self.ll(a, k) + self.ll(k, b) - whole;
            if better(best.map(|b| b.1), gain) {
                best = Some((k, gain));
            }
        }
        best
    }
}

/// Strictly better than the best so far (by more than rounding), so the earliest candidate wins ties.
fn better(best: Option<f64>, gain: f64) -> bool {
    match best {
        None => true,
        Some(b) => gain > b + 1e-9,
    }
}

/// The change points of the rate `events / exposure`, sorted by bin.
pub fn rate_changes(events: &[u64], exposure: &[u64]) -> Vec<RateChange> {
    let n = events.len().min(exposure.len());
    let p = Prefix::new(&events[..n], &exposure[..n]);
    let pen = penalty(n);
    let mut splits: Vec<(usize, f64)> = Vec::new();
    let mut open = vec![(0usize, n)];
    while splits.len() < MAX_CHANGES {
        // Split the segment whose best split gains most; deterministic on ties (earliest segment).
        let mut pick: Option<(usize, usize, f64)> = None;
        for (si, &(a, b)) in open.iter().enumerate() {
            if let Some((k, g)) = p.best_split(a, b) {
                if g > pen && better(pick.map(|p| p.2), g) {
                    pick = Some((si, k, g));
                }
            }
        }
        let Some((si, k, g)) = pick else { break };
        let (a, b) = open.remove(si);
        open.push((a, k));
        open.push((k, b));
        open.sort_unstable();
        splits.push((k, g));
    }
    splits.sort_by_key(|s| s.0);
    let mut bounds: Vec<usize> = vec![0];
    bounds.extend(splits.iter().map(|s| s.0));
    bounds.push(n);
    splits
        .iter()
        .enumerate()
        .map(|(i, &(bin, gain))| RateChange {
            bin,
            rate_before: p.rate(bounds[i], bounds[i + 1]),
            rate_after: p.rate(bounds[i + 1], bounds[i + 2]),
            gain,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_onset_and_end_of_a_burst() {
        let mut events = vec![0u64; 48];
        let exposure = vec![1000u64; 48];
        for e in events.iter_mut().take(30).skip(22) {
            *e = 40;
        }
        let cps = rate_changes(&events, &exposure);
        let bins: Vec<usize> = cps.iter().map(|c| c.bin).collect();
        assert_eq!(bins, vec![22, 30]);
        assert!(cps[0].is_increase() && !cps[1].is_increase());
        assert!((cps[0].rate_after - 0.04).abs() < 1e-12);
    }

    #[test]
    fn flat_noise_has_no_change() {
        let events: Vec<u64> = (0..48).map(|i| [3, 5, 4, 6, 2, 4][i % 6]).collect();
        assert!(rate_changes(&events, &vec![1000; 48]).is_empty());
        assert!(rate_changes(&[], &[]).is_empty());
        assert!(rate_changes(&[0, 0, 0], &[0, 10, 0]).is_empty());
    }

    #[test]
    fn rate_not_count_drives_the_split() {
        // Traffic doubles at bin 10 with the rate unchanged: no change point.
        let exposure: Vec<u64> = (0..24).map(|i| if i < 10 { 1000 } else { 2000 }).collect();
        let events: Vec<u64> = exposure.iter().map(|x| x / 100).collect();
        assert!(rate_changes(&events, &exposure).is_empty());
    }
}
