//! The mechanism as a rule: an OR of at most three ANDs of at most four conditions over the request's attributes, cut points read from the data, and the change timeline.
//!
//! The population is every delivery with a firm verdict, at any time (`leak` against `ok`),
//! so that the rule can say *when* as well as *for whom*. Conditions are a categorical value
//! (`integration == google_home`), a numeric cut (`rtt_ms >= 300`, `bytes < 40000`) or the
//! time after, before or between changes of the change log.
//!
//! The rule is learned by sequential covering, scored by the F1 of the rule as a whole
//! (harmonic mean of its coverage of the leak deliveries and its precision):
//! - a term grows from nothing by the condition that most raises the rule's F1, while that
//!   gain is at least [`PENALTY`] (the price of one condition) and the term has fewer than
//!   [`MAX_CONDITIONS`];
//! - a grown term is kept when it holds at least [`MIN_TERM_SUPPORT`] of the leak deliveries
//!   and raises the rule's F1 by at least [`PENALTY`] per condition;
//! - once the terms are in, every cut and window is chosen again with the rest of the rule
//!   fixed, so that a threshold is where the leak rate steps, not where a partial rule put
//!   it; conditions and terms that no longer pay their price are dropped.
//!
//! Cut points are values of the data (the distinct values when few, else quantiles of a
//! strided sample), and each is reported as the roundest number that splits the population
//! exactly as the cut does. Every count reported is a recount of the final rule over the
//! deliveries, with exact comparisons on the values, as `verdicts.parquet` recounts it.

mod bins;
mod coded;
mod columns;
mod learn;

use rayon::prelude::*;

use super::attributes::{Attribute, AttributeCodes};
use super::timeline::ChangeEvent;
use crate::codes::UNKNOWN;
use crate::verdict::Class;
pub use bins::readable;
use coded::Count;
pub use columns::{Numbers, RuleColumns};

/// At most this many terms (ORed).
pub const MAX_TERMS: usize = 3;
/// At most this many conditions per term (ANDed).
pub const MAX_CONDITIONS: usize = 4;
/// What one condition costs: it must raise the rule's F1 by at least this much.
pub const PENALTY: f64 = 0.005;
/// Fewer leak deliveries than this are too few to learn a rule from: any would fit them.
pub const MIN_LEAKS: u64 = 10;
/// A term must hold at least this share of the leak deliveries.
pub const MIN_TERM_SUPPORT: f64 = 0.05;
/// Values sampled per numeric attribute to choose its cut points.
const SAMPLE: usize = 1 << 16;
/// At most this many cut points per numeric attribute.
const MAX_EDGES: usize = 4096;
/// Bin of an absent value.
const NO_BIN: u16 = u16::MAX;
/// A "between" window spans at most this many change instants.
const MAX_SPAN: usize = 256;
/// The learner reads at most about this many ok deliveries (a strided sample beyond).
const MAX_OK_ROWS: usize = 1 << 21;
/// Rounds of choosing every cut again with the rest of the rule fixed.
const REFINE_ROUNDS: usize = 3;

/// The categorical attributes a rule may name, in order of preference on ties.
pub const CATEGORICAL: [Attribute; 7] = [
    Attribute::Integration,
    Attribute::Client,
    Attribute::Kind,
    Attribute::ConfigVersion,
    Attribute::CacheNode,
    Attribute::Server,
    Attribute::Country,
];

/// A numeric delivery attribute a rule may cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Numeric {
    Rtt,
    Loss,
    Bytes,
}

impl Numeric {
    pub const ALL: [Numeric; 3] = [Numeric::Rtt, Numeric::Loss, Numeric::Bytes];

    /// The column of the deliveries (and of `verdicts.parquet`).
    pub fn column(self) -> &'static str {
        match self {
            Numeric::Rtt => "rtt_ms",
            Numeric::Loss => "loss_pct",
            Numeric::Bytes => "bytes",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Numeric::Rtt => "rtt",
            Numeric::Loss => "loss",
            Numeric::Bytes => "bytes",
        }
    }

    /// How a value reads: "300 ms", "2%", "40000 bytes".
    pub fn show(self, v: f64) -> String {
        match self {
            Numeric::Rtt => format!("{v} ms"),
            Numeric::Loss => format!("{v}%"),
            Numeric::Bytes => format!("{v} bytes"),
        }
    }
}

/// The column of `verdicts.parquet` a categorical attribute is read from.
pub fn column_of(a: Attribute) -> &'static str {
    match a {
        Attribute::Country => "recipient_country",
        other => other.name(),
    }
}

/// One condition of a term. Times are the instants of changes (indices into the changes).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Is {
        attr: Attribute,
        value: String,
    },
    AtLeast {
        attr: Numeric,
        value: f64,
    },
    Below {
        attr: Numeric,
        value: f64,
    },
    /// At or after the change's instant.
    After {
        change: usize,
    },
    /// Before the change's instant.
    Before {
        change: usize,
    },
    /// At or after the first's instant and before the second's.
    Between {
        from: usize,
        to: usize,
    },
}

impl Condition {
    /// A condition on the delivery's time (after, before or between changes).
    pub fn is_time(&self) -> bool {
        matches!(
            self,
            Condition::After { .. } | Condition::Before { .. } | Condition::Between { .. }
        )
    }
}

/// One AND of conditions, with the deliveries of the population it holds on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub conditions: Vec<Condition>,
    pub deliveries: u64,
    pub leaks: u64,
}

/// The learned rule and what it accounts for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mechanism {
    /// ORed; empty when no rule pays its price (or there are no leaks).
    pub terms: Vec<Term>,
    /// The changes the conditions name, sorted as the timeline sorts them.
    pub changes: Vec<ChangeEvent>,
    /// The population: deliveries with a firm verdict, and its leaks.
    pub deliveries: u64,
    pub leaks: u64,
    /// Deliveries of the population the rule holds, and leaks among them.
    pub matched: u64,
    pub matched_leaks: u64,
    /// Accounts receiving at least one delivery (of any class) the rule holds, inside the
    /// exposure window where the rule names no time.
    pub accounts_at_risk: u64,
    /// Deliveries of any class the rule holds (under the same window).
    pub deliveries_at_risk: u64,
}

impl Mechanism {
    /// Share of the leak deliveries the rule holds.
    pub fn coverage(&self) -> f64 {
        ratio(self.matched_leaks, self.leaks)
    }

    /// Share of the deliveries the rule holds that leaked.
    pub fn precision(&self) -> f64 {
        ratio(self.matched_leaks, self.matched)
    }

    /// Leak rate of the population outside the rule.
    pub fn rate_outside(&self) -> f64 {
        ratio(
            self.leaks - self.matched_leaks,
            self.deliveries - self.matched,
        )
    }

    /// The change that opens the rule's window: the earliest a term's "after" or "between"
    /// starts at; with no time in the rule, the earliest change whose version is a
    /// `config_version` the rule names (the deploy that put it on the fills).
    pub fn opened_by(&self) -> Option<usize> {
        let conditions = || self.terms.iter().flat_map(|t| &t.conditions);
        conditions()
            .filter_map(|c| match c {
                Condition::After { change } | Condition::Between { from: change, .. } => {
                    Some(*change)
                }
                _ => None,
            })
            .min()
            .or_else(|| {
                conditions()
                    .filter_map(|c| match c {
                        Condition::Is {
                            attr: Attribute::ConfigVersion,
                            value,
                        } => self
                            .changes
                            .iter()
                            .position(|ch| ch.version.as_deref() == Some(value.as_str())),
                        _ => None,
                    })
                    .min()
            })
    }

    /// Whether a condition of the rule is on time (else it holds at any time).
    pub fn names_time(&self) -> bool {
        self.terms
            .iter()
            .flat_map(|t| &t.conditions)
            .any(Condition::is_time)
    }

    /// Conditions held by every term (in the first term's order), and each term's others.
    pub fn factored(&self) -> (Vec<&Condition>, Vec<Vec<&Condition>>) {
        let Some(first) = self.terms.first() else {
            return (Vec::new(), Vec::new());
        };
        let common: Vec<&Condition> = first
            .conditions
            .iter()
            .filter(|c| self.terms.iter().all(|t| t.conditions.contains(c)))
            .collect();
        let rest: Vec<Vec<&Condition>> = self
            .terms
            .iter()
            .map(|t| {
                t.conditions
                    .iter()
                    .filter(|c| !common.contains(c))
                    .collect()
            })
            .collect();
        if self.terms.len() > 1 && rest.iter().any(Vec::is_empty) {
            return (
                Vec::new(),
                self.terms
                    .iter()
                    .map(|t| t.conditions.iter().collect())
                    .collect(),
            );
        }
        (common, rest)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// What the learner reads of every delivery.
pub struct RuleInputs<'a> {
    pub classes: &'a [Class],
    pub ts: &'a [i64],
    pub codes: &'a AttributeCodes,
    pub columns: &'a RuleColumns,
    /// Per [`Numeric::ALL`].
    pub numbers: [Numbers<'a>; 3],
    /// Sorted as the timeline sorts them.
    pub changes: &'a [ChangeEvent],
    /// First and last leak: the window of the population at risk when the rule names no time.
    pub window: Option<(i64, i64)>,
}

/// Learns the rule over the population of `inp` and counts what it holds.
pub fn mechanism(inp: &RuleInputs) -> Mechanism {
    let mut m = Mechanism {
        changes: inp.changes.to_vec(),
        ..Mechanism::default()
    };
    let Some(c) = coded::Coded::new(inp) else {
        return m;
    };
    m.deliveries = c.rows.len() as u64;
    m.leaks = c.leaks;
    let cuts = learn::learn(&c);
    m.terms = cuts
        .iter()
        .map(|t| Term {
            conditions: t.iter().filter_map(|k| learn::condition(&c, *k)).collect(),
            deliveries: 0,
            leaks: 0,
        })
        .collect();
    recount(&mut m, inp);
    m
}

/// Whether delivery `i` meets condition `cond`, read from the values as a recount reads them.
fn holds(inp: &RuleInputs, cond: &Condition, i: usize) -> bool {
    match cond {
        Condition::Is { attr, value } => inp.codes.value(*attr, i) == Some(value.as_str()),
        Condition::AtLeast { attr, value } => inp.numbers[*attr as usize].get(i) >= *value,
        Condition::Below { attr, value } => inp.numbers[*attr as usize].get(i) < *value,
        Condition::After { change } => inp.ts[i] >= inp.changes[*change].ts,
        Condition::Before { change } => inp.ts[i] < inp.changes[*change].ts,
        Condition::Between { from, to } => {
            inp.ts[i] >= inp.changes[*from].ts && inp.ts[i] < inp.changes[*to].ts
        }
    }
}

/// Every count of `m` from its final rule, over every delivery.
fn recount(m: &mut Mechanism, inp: &RuleInputs) {
    if m.terms.is_empty() {
        return;
    }
    let names_time = m.names_time();
    let terms = &m.terms;
    // Per delivery: bit t set when term t holds it.
    let hits: Vec<u8> = (0..inp.classes.len())
        .into_par_iter()
        .map(|i| {
            terms.iter().enumerate().fold(0u8, |bits, (t, term)| {
                bits | ((term.conditions.iter().all(|c| holds(inp, c, i)) as u8) << t)
            })
        })
        .collect();
    let mut at_risk: Vec<bool> = vec![false; inp.columns.recipients.len()];
    let mut own = vec![Count::default(); terms.len()];
    let (mut matched, mut matched_leaks, mut deliveries_at_risk) = (0, 0, 0);
    for (i, &bits) in hits.iter().enumerate() {
        if bits == 0 {
            continue;
        }
        let firm = matches!(inp.classes[i], Class::Leak | Class::Ok);
        let leak = (inp.classes[i] == Class::Leak) as u64;
        if firm {
            for (t, o) in own.iter_mut().enumerate() {
                if bits & (1 << t) != 0 {
                    o.add(Count { n: 1, l: leak });
                }
            }
            matched += 1;
            matched_leaks += leak;
        }
        let in_window = names_time
            || inp
                .window
                .is_some_and(|(a, b)| inp.ts[i] >= a && inp.ts[i] <= b);
        if in_window {
            deliveries_at_risk += 1;
            let recipient = inp.columns.recipient.get(i).copied().unwrap_or(UNKNOWN);
            if let Some(a) = at_risk.get_mut(recipient as usize) {
                *a = true;
            }
        }
    }
    for (t, o) in m.terms.iter_mut().zip(own) {
        t.deliveries = o.n;
        t.leaks = o.l;
    }
    m.matched = matched;
    m.matched_leaks = matched_leaks;
    m.deliveries_at_risk = deliveries_at_risk;
    m.accounts_at_risk = at_risk.iter().filter(|&&a| a).count() as u64;
}

/// The cut values the rule puts on a numeric attribute, ascending (for the factor tables' bins).
pub fn cuts_of(m: &Mechanism, attr: Numeric) -> Vec<f64> {
    let mut v: Vec<f64> = m
        .terms
        .iter()
        .flat_map(|t| &t.conditions)
        .filter_map(|c| match c {
            Condition::AtLeast { attr: a, value } | Condition::Below { attr: a, value }
                if *a == attr =>
            {
                Some(*value)
            }
            _ => None,
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

/// Quartile edges of a numeric column over the firm-verdict deliveries of the window
/// (`in_window`), for the factor tables when the rule cuts it nowhere: each edge a value of
/// the data, reported readably.
pub fn quartiles(values: Numbers, classes: &[Class], in_window: &[bool]) -> Vec<f64> {
    let present = |i: &usize| {
        in_window[*i] && matches!(classes[*i], Class::Leak | Class::Ok) && !values.get(*i).is_nan()
    };
    // A strided sample beyond SAMPLE values: the edges only label the bins.
    let stride = (0..classes.len())
        .filter(present)
        .count()
        .div_ceil(SAMPLE)
        .max(1);
    let mut v: Vec<f64> = (0..classes.len())
        .filter(present)
        .step_by(stride)
        .map(|i| values.get(i))
        .collect();
    if v.is_empty() {
        return Vec::new();
    }
    v.sort_unstable_by(f64::total_cmp);
    let mut out: Vec<f64> = Vec::new();
    for q in 1..4 {
        let at = q * v.len() / 4;
        let hi = v[at];
        // The largest value below the quartile, so that the edge reads round and splits as it does.
        if let Some(&lo) = v[..at].iter().rev().find(|&&x| x < hi) {
            out.push(readable(lo, hi));
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::attributes::{AttributeValues, Column};
    use crate::findings::decimals::DecimalColumn;

    /// A small population where leaks need integration `gh` and (rtt ≥ 700 ms or loss ≥ 7.5 %).
    fn population() -> (Vec<Class>, AttributeCodes, DecimalColumn, DecimalColumn) {
        let n = 30_000;
        let mut x: u64 = 12345;
        let mut next = move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let (mut classes, mut integration, mut kind) = (Vec::new(), Vec::new(), Vec::new());
        let (mut rtt, mut loss) = (Vec::new(), Vec::new());
        for i in 0..n {
            let gh = i % 3 == 0;
            let r = 10 + (next() % 1000) as i64;
            let l = (next() % 100) as f64 / 10.0;
            let poor = r >= 700 || l >= 7.5;
            let leak = (gh && poor && next() % 10 < 6) || next() % 1000 < 2;
            classes.push(if leak { Class::Leak } else { Class::Ok });
            integration.push(if gh { "gh" } else { "app" });
            kind.push(if i % 5 == 0 { "clip" } else { "still" });
            rtt.push(r as f64);
            loss.push(l);
        }
        let mut codes = AttributeCodes::default();
        let columns: [Column; 9] = std::array::from_fn(|a| -> Column {
            let (integration, kind) = (&integration, &kind);
            match Attribute::ALL[a] {
                Attribute::Integration => Box::new(move |i| Some(integration[i])),
                Attribute::Kind => Box::new(move |i| Some(kind[i])),
                _ => Box::new(|_| None),
            }
        });
        codes.add(&AttributeValues { columns }, n);
        let column = |v: &[f64]| {
            let mut c = DecimalColumn::default();
            v.iter().for_each(|x| c.push(Some(*x)));
            c
        };
        (classes, codes, column(&rtt), column(&loss))
    }

    /// The rule of `classes`, with no change log and no recipients.
    fn learned(
        classes: &[Class],
        codes: &AttributeCodes,
        rtt: &DecimalColumn,
        loss: &DecimalColumn,
    ) -> Mechanism {
        let ts = vec![0; classes.len()];
        mechanism(&RuleInputs {
            classes,
            ts: &ts,
            codes,
            columns: &RuleColumns::new(false),
            numbers: [
                Numbers::Gathered(rtt),
                Numbers::Gathered(loss),
                Numbers::Absent,
            ],
            changes: &[],
            window: None,
        })
    }

    #[test]
    fn an_or_of_two_thresholds_is_found_with_its_cut_points() {
        let (classes, codes, rtt, loss) = population();
        let m = learned(&classes, &codes, &rtt, &loss);
        let terms: Vec<&Vec<Condition>> = m.terms.iter().map(|t| &t.conditions).collect();
        let gh = Condition::Is {
            attr: Attribute::Integration,
            value: "gh".into(),
        };
        assert_eq!(terms.len(), 2, "{terms:?}");
        let want = [
            Condition::AtLeast {
                attr: Numeric::Rtt,
                value: 700.0,
            },
            Condition::AtLeast {
                attr: Numeric::Loss,
                value: 7.5,
            },
        ];
        for w in &want {
            assert!(
                terms
                    .iter()
                    .any(|t| t.len() == 2 && t.contains(&gh) && t.contains(w)),
                "{w:?} in {terms:?}"
            );
        }
        // The counts are the rule's own: every leak of gh on a poor network, and the few
        // background leaks that happen to match.
        let expected: u64 = (0..classes.len())
            .filter(|&i| {
                codes.value(Attribute::Integration, i) == Some("gh")
                    && (rtt.get(i) >= 700.0 || loss.get(i) >= 7.5)
            })
            .map(|i| (classes[i] == Class::Leak) as u64)
            .sum();
        assert_eq!(m.matched_leaks, expected);
        assert!(m.coverage() > 0.95 && m.precision() > 0.55, "{m:?}");
        assert_eq!(cuts_of(&m, Numeric::Rtt), [700.0]);
    }

    /// With nothing to explain there is no rule, and no count.
    #[test]
    fn no_leaks_no_rule() {
        let (mut classes, codes, rtt, loss) = population();
        classes.iter_mut().for_each(|c| *c = Class::Ok);
        let m = learned(&classes, &codes, &rtt, &loss);
        assert!(m.terms.is_empty() && m.matched == 0 && m.leaks == 0);
        assert_eq!(m.deliveries, classes.len() as u64);
    }

    #[test]
    fn readable_values_split_as_the_cut_does() {
        assert_eq!(readable(299.0, 300.0), 300.0);
        assert_eq!(readable(249.0, 301.0), 300.0);
        assert_eq!(readable(1.9, 2.0), 2.0);
        assert_eq!(readable(2.2, 2.3), 2.3);
        assert_eq!(readable(316.0, 317.0), 317.0);
        assert_eq!(readable(39_999.0, 41_234.0), 40_000.0);
        assert_eq!(readable(0.0, 0.1), 0.1);
    }
}
