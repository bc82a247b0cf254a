//! A numeric attribute's cut points over the population: values of the data, in bins, coarse groups of them for "x or y" cuts, and each cut reported as the roundest number that splits as it does.

use rayon::prelude::*;

use super::columns::Numbers;
use super::{MAX_EDGES, NO_BIN, SAMPLE};

/// One numeric attribute's cut points over the population: `edges` ascending, a row's bin is
/// the number of edges at or below its value.
pub(super) struct Bins {
    pub(super) edges: Vec<f64>,
    /// Per population row.
    pub(super) bin: Vec<u16>,
    /// Smallest and largest value per bin (NaN when empty).
    min: Vec<f64>,
    max: Vec<f64>,
}

impl Bins {
    pub(super) fn of(values: Numbers, rows: &[u32]) -> Bins {
        let present = rows
            .iter()
            .filter(|&&i| !values.get(i as usize).is_nan())
            .count();
        let stride = present.div_ceil(SAMPLE).max(1);
        let mut sample: Vec<f64> = rows
            .iter()
            .map(|&i| values.get(i as usize))
            .filter(|v| !v.is_nan())
            .step_by(stride)
            .collect();
        sample.sort_by(f64::total_cmp);
        sample.dedup();
        let edges: Vec<f64> = if sample.len() <= MAX_EDGES {
            sample
        } else {
            let mut e: Vec<f64> = (0..MAX_EDGES)
                .map(|k| sample[k * sample.len() / MAX_EDGES])
                .collect();
            e.dedup();
            e
        };
        let nbins = edges.len() + 1;
        let bin: Vec<u16> = rows
            .par_iter()
            .map(|&i| {
                let v = values.get(i as usize);
                if v.is_nan() {
                    NO_BIN
                } else {
                    edges.partition_point(|&e| e <= v) as u16
                }
            })
            .collect();
        let mut min = vec![f64::NAN; nbins];
        let mut max = vec![f64::NAN; nbins];
        for (r, &b) in bin.iter().enumerate() {
            if b == NO_BIN {
                continue;
            }
            let v = values.get(rows[r] as usize);
            let b = b as usize;
            if min[b].is_nan() || v < min[b] {
                min[b] = v;
            }
            if max[b].is_nan() || v > max[b] {
                max[b] = v;
            }
        }
        Bins {
            edges,
            bin,
            min,
            max,
        }
    }

    /// The roundest value that splits the population as "bin ≥ k" does, if both sides hold rows.
    pub(super) fn cut_value(&self, k: usize) -> Option<f64> {
        let lo = self.max[..k].iter().rev().find(|v| !v.is_nan())?;
        let hi = self.min[k..].iter().find(|v| !v.is_nan())?;
        Some(readable(*lo, *hi))
    }
}

/// The number with the fewest significant digits in (lo, hi]; `hi` when none is shorter.
pub fn readable(lo: f64, hi: f64) -> f64 {
    for exp in (-9i32..=15).rev() {
        let r = if exp >= 0 {
            let step = 10f64.powi(exp);
            ((lo / step).floor() + 1.0) * step
        } else {
            let scale = 10f64.powi(-exp);
            ((lo * scale).floor() + 1.0) / scale
        };
        if r > lo && r <= hi {
            return r;
        }
    }
    hi
}

/// Coarse groups per numeric attribute for the search of "x or y" conditions.
pub(super) const GROUPS: usize = 64;

impl Bins {
    /// Coarse groups of about equal counts: the first fine bin of each, and each fine bin's group.
    pub(super) fn groups(&self) -> (Vec<usize>, Vec<u8>) {
        let nbins = self.edges.len() + 1;
        let mut per = vec![0u64; nbins];
        for &b in &self.bin {
            if b != NO_BIN {
                per[b as usize] += 1;
            }
        }
        let total: u64 = per.iter().sum();
        let mut starts = vec![0usize];
        let mut seen = 0u64;
        for (b, &n) in per.iter().enumerate() {
            // A new group when the count so far passes the next of GROUPS equal shares.
            if b > 0 && seen * GROUPS as u64 >= total * starts.len() as u64 && starts.len() < GROUPS
            {
                starts.push(b);
            }
            seen += n;
        }
        let mut of = vec![0u8; nbins];
        for (g, w) in starts.iter().enumerate() {
            let end = starts.get(g + 1).copied().unwrap_or(nbins);
            for x in of.iter_mut().take(end).skip(*w) {
                *x = g as u8;
            }
        }
        (starts, of)
    }
}
