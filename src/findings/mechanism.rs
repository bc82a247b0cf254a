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

use std::collections::HashMap;

use foldhash::fast::RandomState;
use rayon::prelude::*;

use super::decimals::DecimalColumn;
use super::factors::{Attribute, AttributeCodes};
use super::timeline::ChangeEvent;
use crate::table::{ColumnData, Table};
use crate::text::Text;
use crate::verdict::{Class, Verdict};

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
    /// What the condition reads, for "one attribute once per term".
    fn slot(&self) -> Slot {
        match self {
            Condition::Is { attr, .. } => Slot::Cat(*attr),
            Condition::AtLeast { attr, .. } | Condition::Below { attr, .. } => Slot::Num(*attr),
            _ => Slot::Time,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Cat(Attribute),
    Num(Numeric),
    Time,
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

/// One numeric attribute's value per delivery.
#[derive(Debug, Clone, Copy)]
pub enum Numbers<'a> {
    /// Gathered as the blocks went by.
    Gathered(&'a DecimalColumn),
    /// The deliveries table's own column.
    Table(&'a [Option<f64>]),
    Absent,
}

impl Numbers<'_> {
    /// Delivery `i`'s value, NaN where absent.
    pub fn get(&self, i: usize) -> f64 {
        match self {
            Numbers::Gathered(v) => v.get(i),
            Numbers::Table(v) => v.get(i).copied().flatten().unwrap_or(f64::NAN),
            Numbers::Absent => f64::NAN,
        }
    }

    /// The numeric columns of the deliveries table `d`, in [`Numeric::ALL`] order.
    pub fn of_table(d: &Table) -> [Numbers<'_>; 3] {
        Numeric::ALL.map(|n| match d.column(n.column()) {
            Some(ColumnData::Num(v)) => Numbers::Table(v),
            _ => Numbers::Absent,
        })
    }
}

/// The recipient of every delivery, and, when the deliveries table is not kept to the end, the
/// numeric attributes, gathered a block at a time.
#[derive(Debug, Default)]
pub struct RuleColumns {
    /// Per [`Numeric::ALL`]: one value per delivery; empty unless gathered.
    values: [DecimalColumn; 3],
    gather: bool,
    /// The recipient account's code per delivery, `u32::MAX` where there is none.
    recipient: Vec<u32>,
    recipients: HashMap<Text, u32, RandomState>,
}

impl RuleColumns {
    /// `gather`: keep the numeric attributes (the deliveries table will be gone at the end).
    pub fn new(gather: bool) -> RuleColumns {
        RuleColumns {
            gather,
            ..RuleColumns::default()
        }
    }

    pub fn reserve(&mut self, n: usize) {
        if self.gather {
            for v in &mut self.values {
                v.reserve(n);
            }
        }
        self.recipient.reserve_exact(n);
    }

    /// The gathered numeric attributes, if they were gathered.
    pub fn numbers(&self) -> Option<[Numbers<'_>; 3]> {
        self.gather
            .then(|| [0, 1, 2].map(|k| Numbers::Gathered(&self.values[k])))
    }

    /// Adds rows `rows` of the deliveries `d`, whose verdicts are `verdicts`.
    pub fn add(&mut self, d: &Table, rows: std::ops::Range<usize>, verdicts: &[Verdict]) {
        if self.gather {
            for (k, n) in Numeric::ALL.into_iter().enumerate() {
                let col = match d.column(n.column()) {
                    Some(ColumnData::Num(v)) => v.get(rows.clone()),
                    _ => None,
                };
                match col {
                    Some(v) => v.iter().for_each(|x| self.values[k].push(*x)),
                    None => (0..rows.len()).for_each(|_| self.values[k].push(None)),
                }
            }
        }
        // Equal recipients mostly share one allocation; the last one answers most rows.
        let mut last: Option<(&Text, u32)> = None;
        for v in verdicts {
            let code = match &v.recipient {
                None => u32::MAX,
                Some(r) => match last {
                    Some((l, c)) if std::sync::Arc::ptr_eq(l, r) => c,
                    _ => {
                        let next = self.recipients.len() as u32;
                        let c = *self.recipients.entry(r.clone()).or_insert(next);
                        last = Some((r, c));
                        c
                    }
                },
            };
            self.recipient.push(code);
        }
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

/// Counts of deliveries and of leaks among them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Count {
    n: u64,
    l: u64,
}

impl Count {
    fn add(&mut self, o: Count) {
        self.n += o.n;
        self.l += o.l;
    }
}

/// F1 of a rule holding `c` of a population with `leaks` leak deliveries.
fn f1(c: Count, leaks: u64) -> f64 {
    let d = (leaks + c.n) as f64;
    if d == 0.0 {
        0.0
    } else {
        2.0 * c.l as f64 / d
    }
}

/// One numeric attribute's cut points over the population: `edges` ascending, a row's bin is
/// the number of edges at or below its value.
struct Bins {
    edges: Vec<f64>,
    /// Per population row.
    bin: Vec<u16>,
    /// Smallest and largest value per bin (NaN when empty).
    min: Vec<f64>,
    max: Vec<f64>,
}

impl Bins {
    fn of(values: Numbers, rows: &[u32]) -> Bins {
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
    fn cut_value(&self, k: usize) -> Option<f64> {
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
const GROUPS: usize = 64;

/// The numeric attribute pairs an "either" condition may join, by position in [`Numeric::ALL`].
const PAIRS: [(usize, usize); 3] = [(0, 1), (0, 2), (1, 2)];

/// The population's rows coded for counting: categorical codes, numeric bins and time codes.
struct Coded<'a> {
    /// Delivery number of each population row.
    rows: Vec<u32>,
    leak: Vec<bool>,
    codes: &'a AttributeCodes,
    /// Per categorical attribute: code that means absent, if any.
    absent: Vec<Option<u32>>,
    cardinality: Vec<usize>,
    bins: Vec<Bins>,
    /// Per numeric attribute: the first fine bin of each coarse group, ascending from 0.
    groups: Vec<Vec<usize>>,
    /// Per numeric attribute and fine bin: its coarse group.
    group_of: Vec<Vec<u8>>,
    /// Distinct change instants, ascending, and the first change at each.
    instants: Vec<(i64, usize)>,
    /// Per population row: the number of instants at or before its time.
    tcode: Vec<u32>,
    leaks: u64,
    /// How many ok deliveries each ok row stands for.
    stride: u64,
}

/// Per-attribute counts over a set of rows.
#[derive(Clone)]
struct Histograms {
    cat: Vec<Vec<Count>>,
    num: Vec<Vec<Count>>,
    /// Per [`PAIRS`] entry: counts by (group of x, group of y), the last index of each axis
    /// standing for absent.
    pair: Vec<Vec<Count>>,
    time: Vec<Count>,
}

impl Histograms {
    fn empty(c: &Coded) -> Histograms {
        Histograms {
            cat: c
                .cardinality
                .iter()
                .map(|&n| vec![Count::default(); n])
                .collect(),
            num: c
                .bins
                .iter()
                .map(|b| vec![Count::default(); b.edges.len() + 1])
                .collect(),
            pair: PAIRS
                .iter()
                .map(|&(x, y)| {
                    vec![Count::default(); (c.groups[x].len() + 1) * (c.groups[y].len() + 1)]
                })
                .collect(),
            time: vec![Count::default(); c.instants.len() + 1],
        }
    }

    fn merge(mut self, o: Histograms) -> Histograms {
        let add = |a: &mut Vec<Count>, b: Vec<Count>| {
            a.iter_mut().zip(b).for_each(|(x, y)| x.add(y));
        };
        for (a, b) in self.cat.iter_mut().zip(o.cat) {
            add(a, b);
        }
        for (a, b) in self.num.iter_mut().zip(o.num) {
            add(a, b);
        }
        for (a, b) in self.pair.iter_mut().zip(o.pair) {
            add(a, b);
        }
        add(&mut self.time, o.time);
        self
    }
}

/// One side of an "either" condition: numeric position, fine bin, and whether it is "at least".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Half {
    k: usize,
    b: usize,
    at_least: bool,
}

impl Half {
    fn cut(self) -> Cut {
        if self.at_least {
            Cut::AtLeast(self.k, self.b)
        } else {
            Cut::Below(self.k, self.b)
        }
    }
}

/// A condition as the learner counts it: attribute positions, bin numbers and instant numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// CATEGORICAL position, code.
    Is(usize, u32),
    /// Numeric position, bin: the value is in bin `b` or above (at least edge `b - 1`).
    AtLeast(usize, usize),
    Below(usize, usize),
    /// Instant number: at or after it.
    After(usize),
    /// Before it.
    Before(usize),
    Between(usize, usize),
    /// One numeric cut or another: two terms of the rule once the term is grown.
    Either(Half, Half),
}

impl Cut {
    /// The attributes the cut reads, as bits: each at most once per term.
    fn slots(self) -> u32 {
        match self {
            Cut::Is(a, _) => 1 << a,
            Cut::AtLeast(k, _) | Cut::Below(k, _) => 1 << (16 + k),
            Cut::Either(x, y) => (1 << (16 + x.k)) | (1 << (16 + y.k)),
            _ => 1 << 31,
        }
    }

    /// How many conditions the cut costs.
    fn cost(self) -> usize {
        match self {
            Cut::Either(..) => 2,
            _ => 1,
        }
    }
}

impl<'a> Coded<'a> {
    fn new(inp: &RuleInputs<'a>) -> Option<Coded<'a>> {
        u32::try_from(inp.classes.len()).ok()?;
        // Beyond MAX_OK_ROWS ok deliveries, every leak and every stride-th ok delivery, weighted
        // by the stride: the rule is learned at a bounded cost and recounted on every delivery.
        let ok = inp.classes.iter().filter(|&&c| c == Class::Ok).count();
        let stride = ok.div_ceil(MAX_OK_ROWS).max(1);
        let mut seen_ok = 0usize;
        let rows: Vec<u32> = inp
            .classes
            .iter()
            .enumerate()
            .filter(|&(_, &c)| match c {
                Class::Leak => true,
                Class::Ok => {
                    seen_ok += 1;
                    (seen_ok - 1).is_multiple_of(stride)
                }
                _ => false,
            })
            .map(|(i, _)| i as u32)
            .collect();
        let leak: Vec<bool> = rows
            .iter()
            .map(|&i| inp.classes[i as usize] == Class::Leak)
            .collect();
        let leaks = leak.iter().filter(|&&l| l).count() as u64;
        let absent = CATEGORICAL
            .iter()
            .map(|&a| inp.codes.absent_code(a))
            .collect();
        let cardinality = CATEGORICAL
            .iter()
            .map(|&a| inp.codes.cardinality(a))
            .collect();
        let bins: Vec<Bins> = Numeric::ALL
            .iter()
            .enumerate()
            .map(|(k, _)| Bins::of(inp.numbers[k], &rows))
            .collect();
        let (groups, group_of) = bins.iter().map(|b| b.groups()).unzip();
        let mut instants: Vec<(i64, usize)> = Vec::new();
        for (i, c) in inp.changes.iter().enumerate() {
            if instants.last().is_none_or(|&(t, _)| t != c.ts) {
                instants.push((c.ts, i));
            }
        }
        let tcode = rows
            .par_iter()
            .map(|&i| {
                let t = inp.ts[i as usize];
                instants.partition_point(|&(c, _)| c <= t) as u32
            })
            .collect();
        Some(Coded {
            rows,
            leak,
            codes: inp.codes,
            absent,
            cardinality,
            bins,
            groups,
            group_of,
            instants,
            tcode,
            leaks,
            stride: stride as u64,
        })
    }

    /// Row `r` as a count: a leak counts once, an ok delivery for the ok ones it stands for.
    fn unit(&self, r: usize) -> Count {
        if self.leak[r] {
            Count { n: 1, l: 1 }
        } else {
            Count {
                n: self.stride,
                l: 0,
            }
        }
    }

    fn histograms(&self, set: &[u32]) -> Histograms {
        set.par_chunks(1 << 14)
            .fold(
                || Histograms::empty(self),
                |mut h, chunk| {
                    for &r in chunk {
                        let r = r as usize;
                        let c = self.unit(r);
                        let row = self.rows[r] as usize;
                        for (a, attr) in CATEGORICAL.iter().enumerate() {
                            h.cat[a][self.codes.code(*attr, row) as usize].add(c);
                        }
                        let mut g = [0usize; 3];
                        for (k, b) in self.bins.iter().enumerate() {
                            let bin = b.bin[r];
                            if bin == NO_BIN {
                                g[k] = self.groups[k].len();
                            } else {
                                h.num[k][bin as usize].add(c);
                                g[k] = self.group_of[k][bin as usize] as usize;
                            }
                        }
                        for (p, &(x, y)) in PAIRS.iter().enumerate() {
                            h.pair[p][g[x] * (self.groups[y].len() + 1) + g[y]].add(c);
                        }
                        h.time[self.tcode[r] as usize].add(c);
                    }
                    h
                },
            )
            .reduce(|| Histograms::empty(self), Histograms::merge)
    }

    /// Whether population row `r` meets `c` (numeric cuts are compared by bin, which splits as
    /// the value does).
    fn meets(&self, c: &Cut, r: usize) -> bool {
        match *c {
            Cut::Is(a, code) => self.codes.code(CATEGORICAL[a], self.rows[r] as usize) == code,
            Cut::AtLeast(k, b) => {
                let x = self.bins[k].bin[r];
                x != NO_BIN && x as usize >= b
            }
            Cut::Below(k, b) => {
                let x = self.bins[k].bin[r];
                x != NO_BIN && (x as usize) < b
            }
            Cut::After(j) => self.tcode[r] as usize > j,
            Cut::Before(j) => self.tcode[r] as usize <= j,
            Cut::Between(i, j) => {
                let t = self.tcode[r] as usize;
                t > i && t <= j
            }
            Cut::Either(x, y) => self.meets(&x.cut(), r) || self.meets(&y.cut(), r),
        }
    }
}

impl Bins {
    /// Coarse groups of about equal counts: the first fine bin of each, and each fine bin's group.
    fn groups(&self) -> (Vec<usize>, Vec<u8>) {
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

/// The best cut of the histograms `h` of the candidate rows (`base` counted already), by the
/// rule's F1 less [`PENALTY`] per condition beyond one; `keep` says which cuts may be chosen.
/// The first of equals wins, in the order categorical, numeric, time, either.
fn best_cut(
    c: &Coded,
    h: &Histograms,
    base: Count,
    keep: &dyn Fn(Cut) -> bool,
) -> Option<(Cut, Count, f64)> {
    let mut best: Option<(Cut, Count, f64)> = None;
    let mut offer = |cut: Cut, got: Count| {
        if got.l == 0 || !keep(cut) {
            return;
        }
        let mut all = base;
        all.add(got);
        let score = f1(all, c.leaks) - PENALTY * (cut.cost() - 1) as f64;
        if best.is_none_or(|(_, _, s)| score > s) {
            best = Some((cut, got, score));
        }
    };
    for (a, counts) in h.cat.iter().enumerate() {
        // Values in name order, so that ties do not depend on the order values appeared in.
        let mut order: Vec<u32> = (0..counts.len() as u32)
            .filter(|&v| Some(v) != c.absent[a])
            .collect();
        order.sort_by(|&x, &y| {
            c.codes
                .name(CATEGORICAL[a], x)
                .cmp(c.codes.name(CATEGORICAL[a], y))
        });
        for v in order {
            offer(Cut::Is(a, v), counts[v as usize]);
        }
    }
    for (k, counts) in h.num.iter().enumerate() {
        let total = counts.iter().fold(Count::default(), |mut s, x| {
            s.add(*x);
            s
        });
        let mut below = Count::default();
        for (b, x) in counts.iter().enumerate() {
            if b > 0 && below.n > 0 && below.n < total.n {
                offer(Cut::AtLeast(k, b), minus(total, below));
                offer(Cut::Below(k, b), below);
            }
            below.add(*x);
        }
    }
    let prefix: Vec<Count> = std::iter::once(Count::default())
        .chain(h.time.iter().scan(Count::default(), |s, x| {
            s.add(*x);
            Some(*s)
        }))
        .collect();
    // prefix[t] counts the rows with fewer than t instants behind them.
    let m = c.instants.len();
    let span = |lo: usize, hi: usize| minus(prefix[hi], prefix[lo]);
    for j in 0..m {
        offer(Cut::After(j), span(j + 1, m + 1));
        offer(Cut::Before(j), span(0, j + 1));
    }
    // Windows span at most MAX_SPAN changes, so that a long change log costs linear time.
    for i in 0..m {
        for j in i + 1..m.min(i + 1 + MAX_SPAN) {
            offer(Cut::Between(i, j), span(i + 1, j + 1));
        }
    }
    for (p, &(x, y)) in PAIRS.iter().enumerate() {
        either_cuts(c, &h.pair[p], x, y, &mut offer);
    }
    best
}

fn minus(a: Count, b: Count) -> Count {
    Count {
        n: a.n - b.n,
        l: a.l - b.l,
    }
}

/// Offers every "x ⊙ a or y ⊙ b" at coarse group boundaries, from the pair's table `t`.
fn either_cuts(c: &Coded, t: &[Count], x: usize, y: usize, offer: &mut dyn FnMut(Cut, Count)) {
    let (gx, gy) = (c.groups[x].len(), c.groups[y].len());
    let total = t.iter().fold(Count::default(), |mut s, v| {
        s.add(*v);
        s
    });
    for (ax, ay) in [(true, true), (true, false), (false, true), (false, false)] {
        // Axes ordered so that "fails the cut" is a prefix: absent first, then the groups
        // ascending for "at least" (fails below the cut), descending for "below".
        let order = |n: usize, at_least: bool| -> Vec<usize> {
            std::iter::once(n)
                .chain(if at_least {
                    (0..n).collect::<Vec<_>>()
                } else {
                    (0..n).rev().collect()
                })
                .collect()
        };
        let (ox, oy) = (order(gx, ax), order(gy, ay));
        // prefix[i][j]: rows whose x is among the first i of ox and y among the first j of oy.
        let w = gy + 2;
        let mut prefix = vec![Count::default(); (gx + 2) * w];
        for i in 0..=gx {
            for j in 0..=gy {
                let v = t[ox[i] * (gy + 1) + oy[j]];
                let mut s = prefix[i * w + (j + 1)];
                s.add(prefix[(i + 1) * w + j]);
                let s = minus(s, prefix[i * w + j]);
                let mut s = s;
                s.add(v);
                prefix[(i + 1) * w + (j + 1)] = s;
            }
        }
        // Cut at group boundary q: "at least" fails on absent and groups < q (a prefix of q + 1);
        // "below" fails on absent and groups ≥ q (a prefix of n − q + 1).
        let fails = |n: usize, at_least: bool, q: usize| if at_least { q + 1 } else { n - q + 1 };
        for qx in 1..gx {
            for qy in 1..gy {
                let neither = prefix[fails(gx, ax, qx) * w + fails(gy, ay, qy)];
                let got = minus(total, neither);
                offer(
                    Cut::Either(
                        Half {
                            k: x,
                            b: c.groups[x][qx],
                            at_least: ax,
                        },
                        Half {
                            k: y,
                            b: c.groups[y][qy],
                            at_least: ay,
                        },
                    ),
                    got,
                );
            }
        }
    }
}

/// Rows of `set` meeting every cut of `cuts`.
fn filter(c: &Coded, set: &[u32], cuts: &[Cut]) -> Vec<u32> {
    set.par_iter()
        .copied()
        .filter(|&r| cuts.iter().all(|k| c.meets(k, r as usize)))
        .collect()
}

fn count(c: &Coded, set: &[u32]) -> Count {
    set.par_iter()
        .map(|&r| c.unit(r as usize))
        .reduce(Count::default, |mut a, b| {
            a.add(b);
            a
        })
}

/// Rows of the population the rule `terms` holds (by population row).
fn covered(c: &Coded, terms: &[Vec<Cut>]) -> Vec<bool> {
    (0..c.rows.len())
        .into_par_iter()
        .map(|r| terms.iter().any(|t| t.iter().all(|k| c.meets(k, r))))
        .collect()
}

fn rule_count(c: &Coded, terms: &[Vec<Cut>]) -> Count {
    (0..c.rows.len())
        .into_par_iter()
        .filter(|&r| terms.iter().any(|t| t.iter().all(|k| c.meets(k, r))))
        .map(|r| c.unit(r))
        .reduce(Count::default, |mut a, b| {
            a.add(b);
            a
        })
}

/// How many terms `terms` are once their "either" cuts are split.
fn expanded_len(terms: &[Vec<Cut>]) -> usize {
    terms
        .iter()
        .map(|t| 1 + t.iter().any(|k| matches!(k, Cut::Either(..))) as usize)
        .sum()
}

/// How many conditions a term costs.
fn cost(t: &[Cut]) -> usize {
    t.iter().map(|k| k.cost()).sum()
}

/// Grows one term over the rows `rest` (those the rule, counted in `base`, does not hold);
/// `either` says whether it may hold an "either" cut (the rule has room for two more terms).
fn grow(c: &Coded, rest: Vec<u32>, base: Count, either: bool) -> Vec<Cut> {
    let mut term: Vec<Cut> = Vec::new();
    let mut set = rest;
    let mut score = f1(
        {
            let mut b = base;
            b.add(count(c, &set));
            b
        },
        c.leaks,
    );
    while term.len() < MAX_CONDITIONS {
        let h = c.histograms(&set);
        let used: u32 = term.iter().fold(0, |u, k| u | k.slots());
        let has_either = term.iter().any(|k| matches!(k, Cut::Either(..)));
        let keep = |k: Cut| {
            k.slots() & used == 0 && (!matches!(k, Cut::Either(..)) || (either && !has_either))
        };
        let Some((cut, _, s)) = best_cut(c, &h, base, &keep) else {
            break;
        };
        // Even the first condition must beat the term that holds every delivery left (`s` has
        // the price of a cut's conditions beyond one taken off already).
        if s < score + PENALTY {
            break;
        }
        term.push(cut);
        set = filter(c, &set, &[cut]);
        score = s;
    }
    term
}

/// The terms with each "either" cut split into two terms.
fn expand(terms: Vec<Vec<Cut>>) -> Vec<Vec<Cut>> {
    let mut out = Vec::new();
    for t in terms {
        match t.iter().position(|k| matches!(k, Cut::Either(..))) {
            Some(p) => {
                let Cut::Either(x, y) = t[p] else {
                    unreachable!("position found an either cut")
                };
                for h in [x, y] {
                    let mut u = t.clone();
                    u[p] = h.cut();
                    out.push(u);
                }
            }
            None => out.push(t),
        }
    }
    out
}

/// Drops the conditions of term `t` of `terms` whose removal costs the rule less than [`PENALTY`].
fn prune(c: &Coded, terms: &mut [Vec<Cut>], t: usize) {
    let mut score = f1(rule_count(c, terms), c.leaks);
    let mut k = terms[t].len();
    while k > 0 && terms[t].len() > 1 {
        k -= 1;
        let mut trial = terms.to_vec();
        trial[t].remove(k);
        let s = f1(rule_count(c, &trial), c.leaks);
        if s > score - PENALTY * terms[t][k].cost() as f64 {
            terms[t].remove(k);
            score = s;
        }
    }
}

/// Chooses every numeric cut and time window of the rule again, the rest of the rule fixed.
fn refine(c: &Coded, terms: &mut [Vec<Cut>]) {
    for _ in 0..REFINE_ROUNDS {
        let mut changed = false;
        for t in 0..terms.len() {
            for k in 0..terms[t].len() {
                let cut = terms[t][k];
                if matches!(cut, Cut::Is(..)) {
                    continue;
                }
                let others: Vec<Vec<Cut>> = terms
                    .iter()
                    .enumerate()
                    .filter(|&(u, _)| u != t)
                    .map(|(_, x)| x.clone())
                    .collect();
                let rest: Vec<Cut> = terms[t]
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != k)
                    .map(|(_, x)| *x)
                    .collect();
                let held = covered(c, &others);
                let base = held
                    .par_iter()
                    .enumerate()
                    .filter(|(_, &h)| h)
                    .map(|(r, _)| c.unit(r))
                    .reduce(Count::default, |mut a, b| {
                        a.add(b);
                        a
                    });
                let free: Vec<u32> = (0..c.rows.len() as u32)
                    .into_par_iter()
                    .filter(|&r| !held[r as usize] && rest.iter().all(|x| c.meets(x, r as usize)))
                    .collect();
                let h = c.histograms(&free);
                let same_kind = |x: Cut| {
                    std::mem::discriminant(&x) == std::mem::discriminant(&cut)
                        && x.slots() == cut.slots()
                };
                if let Some((best, _, _)) = best_cut(c, &h, base, &same_kind) {
                    if best != cut {
                        terms[t][k] = best;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
}

/// The learned rule in the learner's terms.
fn learn(c: &Coded) -> Vec<Vec<Cut>> {
    let mut terms: Vec<Vec<Cut>> = Vec::new();
    if c.leaks < MIN_LEAKS {
        return terms;
    }
    let min_leaks = MIN_TERM_SUPPORT * c.leaks as f64;
    let all = 0..c.rows.len() as u32;
    while expanded_len(&terms) < MAX_TERMS {
        let before = rule_count(c, &terms);
        let rest: Vec<u32> = all
            .clone()
            .into_par_iter()
            .filter(|&r| {
                !terms
                    .iter()
                    .any(|t| t.iter().all(|k| c.meets(k, r as usize)))
            })
            .collect();
        let term = grow(c, rest, before, expanded_len(&terms) + 2 <= MAX_TERMS);
        if term.is_empty() {
            break;
        }
        let mut trial = terms.clone();
        trial.push(term);
        let last = trial.len() - 1;
        prune(c, &mut trial, last);
        let own = all
            .clone()
            .into_par_iter()
            .filter(|&r| trial[last].iter().all(|k| c.meets(k, r as usize)))
            .map(|r| c.unit(r as usize))
            .reduce(Count::default, |mut a, b| {
                a.add(b);
                a
            });
        let gain = f1(rule_count(c, &trial), c.leaks) - f1(before, c.leaks);
        if (own.l as f64) < min_leaks || gain < PENALTY * cost(&trial[last]) as f64 {
            break;
        }
        terms = trial;
    }
    let mut terms = expand(terms);
    refine(c, &mut terms);
    // A term that no longer pays for its conditions after the cuts moved goes.
    let mut t = terms.len();
    while t > 0 {
        t -= 1;
        let with = f1(rule_count(c, &terms), c.leaks);
        let mut without = terms.clone();
        without.remove(t);
        if with - f1(rule_count(c, &without), c.leaks) < PENALTY * cost(&terms[t]) as f64 {
            terms = without;
        }
    }
    for t in 0..terms.len() {
        prune(c, &mut terms, t);
    }
    terms
}

/// Learns the rule over the population of `inp` and counts what it holds.
pub fn mechanism(inp: &RuleInputs) -> Mechanism {
    let mut m = Mechanism {
        changes: inp.changes.to_vec(),
        ..Mechanism::default()
    };
    let Some(c) = Coded::new(inp) else {
        return m;
    };
    m.deliveries = c.rows.len() as u64;
    m.leaks = c.leaks;
    let cuts = learn(&c);
    m.terms = cuts
        .iter()
        .map(|t| Term {
            conditions: t.iter().filter_map(|k| condition(&c, *k)).collect(),
            deliveries: 0,
            leaks: 0,
        })
        .collect();
    recount(&mut m, inp);
    m
}

/// The condition a cut stands for, with its readable value.
fn condition(c: &Coded, cut: Cut) -> Option<Condition> {
    Some(match cut {
        Cut::Is(a, code) => Condition::Is {
            attr: CATEGORICAL[a],
            value: c.codes.name(CATEGORICAL[a], code).to_string(),
        },
        Cut::AtLeast(k, b) => Condition::AtLeast {
            attr: Numeric::ALL[k],
            value: c.bins[k].cut_value(b)?,
        },
        Cut::Below(k, b) => Condition::Below {
            attr: Numeric::ALL[k],
            value: c.bins[k].cut_value(b)?,
        },
        Cut::After(j) => Condition::After {
            change: c.instants[j].1,
        },
        Cut::Before(j) => Condition::Before {
            change: c.instants[j].1,
        },
        Cut::Between(i, j) => Condition::Between {
            from: c.instants[i].1,
            to: c.instants[j].1,
        },
        Cut::Either(..) => return None,
    })
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
    let names_time = m
        .terms
        .iter()
        .flat_map(|t| &t.conditions)
        .any(|c| c.slot() == Slot::Time);
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
            let recipient = inp.columns.recipient.get(i).copied().unwrap_or(u32::MAX);
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
    use crate::findings::factors::{AttributeValues, Column};

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

    #[test]
    fn an_or_of_two_thresholds_is_found_with_its_cut_points() {
        let (classes, codes, rtt, loss) = population();
        let ts = vec![0; classes.len()];
        let columns = RuleColumns::new(false);
        let m = mechanism(&RuleInputs {
            classes: &classes,
            ts: &ts,
            codes: &codes,
            columns: &columns,
            numbers: [
                Numbers::Gathered(&rtt),
                Numbers::Gathered(&loss),
                Numbers::Absent,
            ],
            changes: &[],
            window: None,
        });
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
        let ts = vec![0; classes.len()];
        let columns = RuleColumns::new(false);
        let m = mechanism(&RuleInputs {
            classes: &classes,
            ts: &ts,
            codes: &codes,
            columns: &columns,
            numbers: [
                Numbers::Gathered(&rtt),
                Numbers::Gathered(&loss),
                Numbers::Absent,
            ],
            changes: &[],
            window: None,
        });
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
