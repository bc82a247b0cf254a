//! What the scenario's bug needs of a request besides its window (a poor network by rtt, loss or either; a region), fixed per scenario or drawn from the seed.
//!
//! The condition is planted per request, so the thresholds are there to be found in the
//! delivery log: a client picks low-quality stills whenever its request's rtt or loss reaches
//! a bound, and the connection pool of session-mixup gives away responses to the requests
//! a poor network cancelled. [`super::planted`] writes the rule as `truth_mechanism.json`.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::scenario::Scenario;

/// A request is on a poor network when its rtt or its loss reaches a bound (each only if set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poor {
    pub rtt_ms: Option<i64>,
    /// Tenths of a percent.
    pub loss10: Option<i64>,
}

impl Poor {
    pub fn holds(self, rtt_ms: i64, loss10: i64) -> bool {
        self.rtt_ms.is_some_and(|t| rtt_ms >= t) || self.loss10.is_some_and(|t| loss10 >= t)
    }

    /// One condition per bound, as the rule's `all` lists hold them.
    pub fn conditions(self) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some(t) = self.rtt_ms {
            out.push(json!({"attr": "rtt_ms", "op": ">=", "value": t}));
        }
        if let Some(t) = self.loss10 {
            out.push(json!({"attr": "loss_pct", "op": ">=", "value": t as f64 / 10.0}));
        }
        out
    }
}

/// Calm traffic (the boundary cases) stays below every bound that can be drawn.
pub const CALM_RTT_MS: (i64, i64) = (12, 120);
pub const CALM_LOSS10: (i64, i64) = (0, 6);
/// The drawn bounds: rtt in ms, loss in tenths of a percent (both inclusive).
const DRAWN_RTT_MS: (i64, i64) = (150, 700);
const DRAWN_LOSS10: (i64, i64) = (8, 60);
/// Countries a drawn auth-page-cache region comes from: those with their own share of traffic.
const DRAWN_REGIONS: [&str; 9] = ["US", "CN", "DE", "IN", "GB", "FR", "JP", "BR", "CA"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mechanism {
    pub poor: Poor,
    /// auth-page-cache: the countries whose edge nodes cache dashboard pages.
    pub regions: Vec<&'static str>,
    /// Drawn from the seed rather than the scenario's own.
    pub drawn: bool,
}

impl Mechanism {
    /// The scenario's own condition: Xiaomi's poor network (rtt ≥ 300 ms or loss ≥ 2 %), a pool
    /// that gives away the responses of lossy connections (loss ≥ 3 %), Germany's edge.
    pub fn fixed(scenario: Scenario) -> Mechanism {
        let poor = match scenario {
            Scenario::SessionMixup => Poor {
                rtt_ms: None,
                loss10: Some(30),
            },
            _ => Poor {
                rtt_ms: Some(300),
                loss10: Some(20),
            },
        };
        Mechanism {
            poor,
            regions: vec!["DE"],
            drawn: false,
        }
    }

    /// Bounds, their disjunction and the regions drawn from `rng`, so that no fixed bin fits by luck.
    pub fn draw(mut rng: ChaCha8Rng) -> Mechanism {
        let rtt = rng.gen_range(DRAWN_RTT_MS.0..=DRAWN_RTT_MS.1);
        let loss = rng.gen_range(DRAWN_LOSS10.0..=DRAWN_LOSS10.1);
        let poor = match rng.gen_range(0..3) {
            0 => Poor {
                rtt_ms: Some(rtt),
                loss10: None,
            },
            1 => Poor {
                rtt_ms: None,
                loss10: Some(loss),
            },
            _ => Poor {
                rtt_ms: Some(rtt),
                loss10: Some(loss),
            },
        };
        let n = rng.gen_range(1..=2);
        let mut regions: Vec<&'static str> = DRAWN_REGIONS
            .choose_multiple(&mut rng, n)
            .copied()
            .collect();
        regions.sort_unstable();
        Mechanism {
            poor,
            regions,
            drawn: true,
        }
    }

    pub fn in_region(&self, country: &str) -> bool {
        self.regions.contains(&country)
    }

    /// The regions for a change description: "DE" or "DE and FR".
    pub fn region_names(&self) -> String {
        self.regions.join(" and ")
    }
}

/// The edge configuration that caches pages in `region` (one per region, as CDNs version them).
pub fn region_config(region: &str) -> String {
    format!("edge-cfg-42-{}", region.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn drawn_bounds_stay_above_calm_traffic() {
        for seed in 0..200 {
            let m = Mechanism::draw(ChaCha8Rng::seed_from_u64(seed));
            assert!(m.poor.rtt_ms.is_some() || m.poor.loss10.is_some());
            assert!(!m.poor.holds(CALM_RTT_MS.1 - 1, CALM_LOSS10.1 - 1));
            assert!(!m.regions.is_empty() && m.regions.len() <= 2);
        }
        let fixed = Mechanism::fixed(Scenario::CacheKeyCollision).poor;
        assert!(fixed.holds(300, 0) && fixed.holds(0, 20) && !fixed.holds(299, 19));
    }
}
