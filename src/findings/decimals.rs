//! A column of numbers kept as 32-bit integers at a decimal scale where that gives back every value exactly (4 bytes a value), else as f64.
//!
//! Log values are mostly short decimals (rtt in whole milliseconds, loss to a tenth of a
//! percent, sizes in bytes), so a value x is stored as m with m / 10^scale == x, checked bit
//! for bit when it is added. A value that needs a finer scale rescales the column; one that no
//! scale up to [`MAX_SCALE`] or no 32-bit m gives back turns the column into f64s. Either way
//! `get` returns exactly the f64 that was added.

/// The finest scale tried: millionths.
const MAX_SCALE: u32 = 6;
/// Stands for an absent value.
const ABSENT: i32 = i32::MIN;

#[derive(Debug, Clone)]
pub enum DecimalColumn {
    Scaled { scale: u32, values: Vec<i32> },
    Float(Vec<f64>),
}

impl Default for DecimalColumn {
    fn default() -> Self {
        DecimalColumn::Scaled {
            scale: 0,
            values: Vec::new(),
        }
    }
}

/// m with m / 10^scale == x exactly, if there is one that fits.
fn scaled(x: f64, scale: u32) -> Option<i32> {
    let p = 10f64.powi(scale as i32);
    let m = (x * p).round();
    (m.abs() < i32::MAX as f64 && m / p == x).then_some(m as i32)
}

impl DecimalColumn {
    pub fn reserve(&mut self, n: usize) {
        match self {
            DecimalColumn::Scaled { values, .. } => values.reserve_exact(n),
            DecimalColumn::Float(v) => v.reserve_exact(n),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            DecimalColumn::Scaled { values, .. } => values.len(),
            DecimalColumn::Float(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i`, NaN where absent or beyond the end.
    pub fn get(&self, i: usize) -> f64 {
        match self {
            DecimalColumn::Scaled { scale, values } => match values.get(i) {
                Some(&m) if m != ABSENT => m as f64 / 10f64.powi(*scale as i32),
                _ => f64::NAN,
            },
            DecimalColumn::Float(v) => v.get(i).copied().unwrap_or(f64::NAN),
        }
    }

    pub fn push(&mut self, x: Option<f64>) {
        let DecimalColumn::Scaled { scale, values } = self else {
            if let DecimalColumn::Float(v) = self {
                v.push(x.unwrap_or(f64::NAN));
            }
            return;
        };
        let Some(x) = x.filter(|x| !x.is_nan()) else {
            values.push(ABSENT);
            return;
        };
        if let Some(m) = scaled(x, *scale) {
            values.push(m);
            return;
        }
        // The coarsest finer scale that gives x back, if every value held fits it too.
        let finer = (*scale + 1..=MAX_SCALE).find_map(|s| scaled(x, s).map(|m| (s, m)));
        if let Some((s, m)) = finer {
            let factor = 10i64.pow(s - *scale);
            let rescaled: Option<Vec<i32>> = values
                .iter()
                .map(|&v| {
                    if v == ABSENT {
                        Some(ABSENT)
                    } else {
                        i32::try_from(v as i64 * factor)
                            .ok()
                            .filter(|&w| w != ABSENT)
                    }
                })
                .collect();
            if let Some(mut r) = rescaled {
                r.push(m);
                *values = r;
                *scale = s;
                return;
            }
        }
        let mut v: Vec<f64> = (0..values.len()).map(|i| self.get(i)).collect();
        v.push(x);
        *self = DecimalColumn::Float(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_comes_back_exactly() {
        let xs = [
            Some(300.0),
            None,
            Some(2.3),
            Some(0.1 + 0.2),
            Some(-17.0),
            Some(1e-7),
        ];
        let mut c = DecimalColumn::default();
        for (k, x) in xs.iter().enumerate() {
            c.push(*x);
            for (i, y) in xs[..=k].iter().enumerate() {
                let got = c.get(i);
                match y {
                    Some(y) => assert_eq!(got.to_bits(), y.to_bits(), "{i} after {k}"),
                    None => assert!(got.is_nan()),
                }
            }
        }
        // 0.1 + 0.2 has no short decimal: the column turned into f64s.
        assert!(matches!(c, DecimalColumn::Float(_)));
    }

    #[test]
    fn short_decimals_stay_four_bytes() {
        let mut c = DecimalColumn::default();
        for x in [12.0, 2.5, 1499.0, 0.07] {
            c.push(Some(x));
        }
        assert!(matches!(c, DecimalColumn::Scaled { scale: 2, .. }));
        assert_eq!(c.get(1), 2.5);
        assert_eq!(c.get(3), 0.07);
        assert!(c.get(9).is_nan());
    }
}
