//! The population coded for counting: each row's categorical codes, numeric bins and time code, the cuts as the learner counts them, and the per-attribute histograms of a set of rows.

use rayon::prelude::*;

use super::bins::Bins;
use super::{Numeric, RuleInputs, CATEGORICAL, MAX_OK_ROWS, NO_BIN};
use crate::findings::attributes::AttributeCodes;
use crate::verdict::Class;

/// Counts of deliveries and of leaks among them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Count {
    pub(super) n: u64,
    pub(super) l: u64,
}

impl Count {
    pub(super) fn add(&mut self, o: Count) {
        self.n += o.n;
        self.l += o.l;
    }
}

/// F1 of a rule holding `c` of a population with `leaks` leak deliveries.
pub(super) fn f1(c: Count, leaks: u64) -> f64 {
    let d = (leaks + c.n) as f64;
    if d == 0.0 {
        0.0
    } else {
        2.0 * c.l as f64 / d
    }
}

/// The numeric attribute pairs an "either" condition may join, by position in [`Numeric::ALL`].
pub(super) const PAIRS: [(usize, usize); 3] = [(0, 1), (0, 2), (1, 2)];

/// The population's rows coded for counting: categorical codes, numeric bins and time codes.
pub(super) struct Coded<'a> {
    /// Delivery number of each population row.
    pub(super) rows: Vec<u32>,
    pub(super) leak: Vec<bool>,
    pub(super) codes: &'a AttributeCodes,
    /// Per categorical attribute: code that means absent, if any.
    pub(super) absent: Vec<Option<u32>>,
    pub(super) cardinality: Vec<usize>,
    pub(super) bins: Vec<Bins>,
    /// Per numeric attribute: the first fine bin of each coarse group, ascending from 0.
    pub(super) groups: Vec<Vec<usize>>,
    /// Per numeric attribute and fine bin: its coarse group.
    pub(super) group_of: Vec<Vec<u8>>,
    /// Distinct change instants, ascending, and the first change at each.
    pub(super) instants: Vec<(i64, usize)>,
    /// Per population row: the number of instants at or before its time.
    pub(super) tcode: Vec<u32>,
    pub(super) leaks: u64,
    /// How many ok deliveries each ok row stands for.
    pub(super) stride: u64,
}

/// Per-attribute counts over a set of rows.
#[derive(Clone)]
pub(super) struct Histograms {
    pub(super) cat: Vec<Vec<Count>>,
    pub(super) num: Vec<Vec<Count>>,
    /// Per [`PAIRS`] entry: counts by (group of x, group of y), the last index of each axis
    /// standing for absent.
    pub(super) pair: Vec<Vec<Count>>,
    pub(super) time: Vec<Count>,
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
pub(super) struct Half {
    pub(super) k: usize,
    pub(super) b: usize,
    pub(super) at_least: bool,
}

impl Half {
    pub(super) fn cut(self) -> Cut {
        if self.at_least {
            Cut::AtLeast(self.k, self.b)
        } else {
            Cut::Below(self.k, self.b)
        }
    }
}

/// A condition as the learner counts it: attribute positions, bin numbers and instant numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
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
    pub(super) fn slots(self) -> u32 {
        match self {
            Cut::Is(a, _) => 1 << a,
            Cut::AtLeast(k, _) | Cut::Below(k, _) => 1 << (16 + k),
            Cut::Either(x, y) => (1 << (16 + x.k)) | (1 << (16 + y.k)),
            _ => 1 << 31,
        }
    }

    /// How many conditions the cut costs.
    pub(super) fn cost(self) -> usize {
        match self {
            Cut::Either(..) => 2,
            _ => 1,
        }
    }
}

impl<'a> Coded<'a> {
    pub(super) fn new(inp: &RuleInputs<'a>) -> Option<Coded<'a>> {
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
    pub(super) fn unit(&self, r: usize) -> Count {
        if self.leak[r] {
            Count { n: 1, l: 1 }
        } else {
            Count {
                n: self.stride,
                l: 0,
            }
        }
    }

    pub(super) fn histograms(&self, set: &[u32]) -> Histograms {
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
    pub(super) fn meets(&self, c: &Cut, r: usize) -> bool {
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
