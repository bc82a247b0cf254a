//! Contributing factors, MacroBase-style: for each attribute value, pair and triple of values, leak rate, support and risk ratio against the rest.
//!
//! The population is the deliveries of the exposure window (first to last leak)
//! with a firm verdict: `leak` is the outlier class, `ok` the inlier class;
//! ambiguous and unresolved deliveries are left out. Time is the timeline's job;
//! this answers "which deliveries, during the incident".
//!
//! Attributes come in two families. *Request* attributes say what was asked, by
//! which client, over which network; they describe who is at risk wherever and
//! whenever the bug is live, so the top explanation is the best request pattern.
//! *Environment* attributes (configuration of the fill, cache node, server, the
//! recipient's country) say which version and place served it; they are ranked
//! on their own and reported beside it, as they mostly restate the change (the
//! timeline finds it) or where the affected users happen to live.

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::RandomState;

use super::exposures::ABSENT;
use crate::verdict::{Class, Verdict};

/// An explanation must cover at least this share of the leak deliveries.
pub const MIN_SUPPORT: f64 = 0.05;
/// And make a leak at least this many times as likely as elsewhere.
pub const MIN_RISK_RATIO: f64 = 3.0;
/// Added to every count of the risk ratio (Haldane–Anscombe), so that it stays finite and small groups do not win by chance.
pub const CONTINUITY: f64 = 0.5;

/// A delivery attribute the factors are computed over. The order is the order of preference when
/// two patterns select exactly the same deliveries: the one named first represents the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attribute {
    Integration,
    Client,
    Kind,
    Rtt,
    Loss,
    ConfigVersion,
    CacheNode,
    Server,
    Country,
}

/// Request attributes describe the request; environment attributes the version and place that served it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Request,
    Environment,
}

impl Attribute {
    pub const ALL: [Attribute; 9] = [
        Attribute::Integration,
        Attribute::Client,
        Attribute::Kind,
        Attribute::Rtt,
        Attribute::Loss,
        Attribute::ConfigVersion,
        Attribute::CacheNode,
        Attribute::Server,
        Attribute::Country,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attribute::CacheNode => "cache_node",
            Attribute::ConfigVersion => "config_version",
            Attribute::Client => "client",
            Attribute::Integration => "integration",
            Attribute::Kind => "kind",
            Attribute::Server => "server",
            Attribute::Rtt => "rtt",
            Attribute::Loss => "loss",
            Attribute::Country => "country",
        }
    }

    /// What the attribute is, for readers.
    pub fn describe(self) -> &'static str {
        match self {
            Attribute::CacheNode => "cache node",
            Attribute::ConfigVersion => "cache configuration of the fill served",
            Attribute::Client => "client",
            Attribute::Integration => "integration",
            Attribute::Kind => "object kind",
            Attribute::Server => "stream server",
            Attribute::Rtt => "round-trip time",
            Attribute::Loss => "packet loss",
            Attribute::Country => "recipient country",
        }
    }

    /// Rtt and loss: numbers, binned at the rule's cut points (or quartiles) once all are in.
    pub fn is_numeric(self) -> bool {
        matches!(self, Attribute::Rtt | Attribute::Loss)
    }

    pub fn family(self) -> Family {
        match self {
            Attribute::Integration
            | Attribute::Client
            | Attribute::Kind
            | Attribute::Rtt
            | Attribute::Loss => Family::Request,
            _ => Family::Environment,
        }
    }
}

/// Number of attributes, the length of [`Attribute::ALL`].
const NATTR: usize = Attribute::ALL.len();

/// One attribute's value of delivery row i; `None` is absent.
pub type Column<'a> = Box<dyn Fn(usize) -> Option<&'a str> + 'a>;

/// The value of every attribute for each delivery, in [`Attribute::ALL`] order. Values are read
/// where they live, for the population's rows only, rather than copied for every delivery.
pub struct AttributeValues<'a> {
    pub columns: [Column<'a>; NATTR],
}

pub type Items = Vec<(Attribute, String)>;

/// A set of attribute values (one to three) and how leaks concentrate in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub items: Items,
    pub deliveries: u64,
    pub leaks: u64,
    /// Share of all leak deliveries that fall in the pattern.
    pub support: f64,
    pub leak_rate: f64,
    /// Leak rate of the deliveries outside the pattern.
    pub rest_rate: f64,
    /// Leak rate inside over outside, with [`CONTINUITY`] added to each count.
    pub risk_ratio: f64,
    /// Other patterns that select exactly the same deliveries (in this data they cannot be told apart).
    pub equivalent: Vec<Items>,
    /// A digest of the set of deliveries selected, for finding equivalent patterns.
    fingerprint: u64,
}

pub fn label(items: &Items) -> String {
    items
        .iter()
        .map(|(a, v)| format!("{}={v}", a.name()))
        .collect::<Vec<_>>()
        .join(" & ")
}

impl Pattern {
    pub fn label(&self) -> String {
        label(&self.items)
    }

    pub fn family(&self) -> Family {
        self.items
            .iter()
            .map(|(a, _)| a.family())
            .max()
            .unwrap_or(Family::Request)
    }

    fn rank_key(
        &self,
    ) -> (
        std::cmp::Reverse<OrdF64>,
        std::cmp::Reverse<OrdF64>,
        usize,
        Items,
    ) {
        (
            std::cmp::Reverse(OrdF64(self.risk_ratio)),
            std::cmp::Reverse(OrdF64(self.support)),
            self.items.len(),
            self.items.clone(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF64(f64);
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Factors {
    /// Deliveries and leaks of the population analysed.
    pub deliveries: u64,
    pub leaks: u64,
    /// Every value of every attribute, per attribute ranked by risk ratio.
    pub single: BTreeMap<Attribute, Vec<Pattern>>,
    /// Pairs of values whose both members reach [`MIN_SUPPORT`], ranked.
    pub pairs: Vec<Pattern>,
    /// Explanations from request attributes only: singles, and pairs and triples that beat every
    /// subset of theirs, over both thresholds, ranked, one per set of equivalent patterns. The first
    /// is the top explanation.
    pub request: Vec<Pattern>,
    /// Explanations with at least one environment attribute, likewise (singles and pairs).
    pub environment: Vec<Pattern>,
}

impl Factors {
    pub fn top(&self) -> Option<&Pattern> {
        self.request.first()
    }
}

#[derive(Default, Clone, Copy)]
struct Count {
    n: u64,
    leaks: u64,
    fingerprint: u64,
}

impl Count {
    fn add(&mut self, leak: bool, row_hash: u64) {
        self.n += 1;
        self.leaks += leak as u64;
        self.fingerprint = self.fingerprint.wrapping_add(row_hash);
    }
}

fn pattern(items: Items, c: Count, total_n: u64, total_l: u64) -> Option<Pattern> {
    let (n, l) = (c.n, c.leaks);
    let (rn, rl) = (total_n - n, total_l - l);
    if n == 0 || rn == 0 || total_l == 0 {
        return None;
    }
    let k = CONTINUITY;
    Some(Pattern {
        items,
        deliveries: n,
        leaks: l,
        support: l as f64 / total_l as f64,
        leak_rate: l as f64 / n as f64,
        rest_rate: rl as f64 / rn as f64,
        risk_ratio: ((l as f64 + k) / (n as f64 + k)) / ((rl as f64 + k) / (rn as f64 + k)),
        equivalent: Vec::new(),
        fingerprint: c.fingerprint,
    })
}

/// Keeps one pattern per set of selected deliveries (the best ranked), naming the others as its equivalents.
fn collapse(mut ps: Vec<Pattern>) -> Vec<Pattern> {
    ps.sort_by_key(Pattern::rank_key);
    let mut seen: HashMap<(u64, u64, u64), usize> = HashMap::new();
    let mut out: Vec<Pattern> = Vec::new();
    for p in ps {
        match seen.get(&(p.deliveries, p.leaks, p.fingerprint)) {
            Some(&i) => out[i].equivalent.push(p.items),
            None => {
                seen.insert((p.deliveries, p.leaks, p.fingerprint), out.len());
                out.push(p);
            }
        }
    }
    out
}

fn is_explanation(p: &Pattern) -> bool {
    p.support >= MIN_SUPPORT && p.risk_ratio >= MIN_RISK_RATIO
}

/// Each attribute's values as small integer codes over the population rows, with the names back.
struct Coded {
    names: Vec<Vec<String>>,
    codes: Vec<Vec<u32>>,
}

/// Slots of a [`Coder`]'s cache of recent values.
const RECENT: usize = 64;

/// Gives one column's values their codes, in order of first appearance. Equal values mostly share
/// one allocation (the loader and the delivery context share them), so a small cache by address
/// answers most rows before the string is hashed.
struct Coder<'a> {
    index: HashMap<&'a str, u32, RandomState>,
    names: Vec<&'a str>,
    /// (address, length, code) of recently coded values. Values are borrowed for `'a`, so a live
    /// address and length always name the same text.
    recent: [(usize, usize, u32); RECENT],
}

impl<'a> Coder<'a> {
    fn new() -> Self {
        Coder {
            index: HashMap::default(),
            names: Vec::new(),
            // Address 0 is never a string's, so the empty cache matches nothing.
            recent: [(0, 0, 0); RECENT],
        }
    }

    fn code(&mut self, v: &'a str) -> u32 {
        let addr = v.as_ptr() as usize;
        // Shared values sit in separate allocations of 16 bytes or more; the low bits say nothing.
        let slot = &mut self.recent[(addr >> 4) % RECENT];
        if slot.0 == addr && slot.1 == v.len() {
            return slot.2;
        }
        let names = &mut self.names;
        let c = *self.index.entry(v).or_insert_with(|| {
            names.push(v);
            names.len() as u32 - 1
        });
        *slot = (addr, v.len(), c);
        c
    }
}

fn code(values: &AttributeValues<'_>, rows: &[usize]) -> Coded {
    let mut names = Vec::with_capacity(NATTR);
    let mut codes = Vec::with_capacity(NATTR);
    for col in &values.columns {
        let mut coder = Coder::new();
        let c: Vec<u32> = rows
            .iter()
            .map(|&i| coder.code(col(i).unwrap_or(ABSENT)))
            .collect();
        names.push(coder.names.into_iter().map(str::to_string).collect());
        codes.push(c);
    }
    Coded { names, codes }
}

/// The number of attribute pair (a, b), a < b, counting pairs in order (0, 1), (0, 2), …, (1, 2), ….
fn pair_number(a: usize, b: usize) -> usize {
    a * (2 * NATTR - a - 1) / 2 + (b - a - 1)
}

/// Every pair of attributes (a, b), a < b, at index [`pair_number`].
fn attribute_pairs() -> Vec<(usize, usize)> {
    (0..NATTR)
        .flat_map(|a| (a + 1..NATTR).map(move |b| (a, b)))
        .collect()
}

/// Every triple of request attributes (a, b, c), a < b < c, in order.
fn request_triples() -> Vec<(usize, usize, usize)> {
    let request: Vec<usize> = (0..NATTR)
        .filter(|&a| Attribute::ALL[a].family() == Family::Request)
        .collect();
    let mut out = Vec::new();
    for (x, &a) in request.iter().enumerate() {
        for (y, &b) in request.iter().enumerate().skip(x + 1) {
            for &c in &request[y + 1..] {
                out.push((a, b, c));
            }
        }
    }
    out
}

/// The population: deliveries in the exposure window (`in_window[i]`) that are `leak` or `ok`.
fn population(classes: impl Iterator<Item = Class>, in_window: &[bool]) -> Vec<usize> {
    classes
        .enumerate()
        .filter(|&(i, c)| in_window[i] && matches!(c, Class::Leak | Class::Ok))
        .map(|(i, _)| i)
        .collect()
}

/// `in_window[i]`: delivery i belongs to the population (its time lies in the exposure window).
pub fn factors(verdicts: &[Verdict], in_window: &[bool], values: &AttributeValues) -> Factors {
    let rows = population(verdicts.iter().map(|v| v.class), in_window);
    let leak: Vec<bool> = rows
        .iter()
        .map(|&i| verdicts[i].class == Class::Leak)
        .collect();
    factors_of(&rows, &leak, || code(values, &rows))
}

/// Each attribute's value of every delivery as a code, gathered a block of deliveries at a time,
/// so that the factors can be found once the exposure window is known.
#[derive(Debug)]
pub struct AttributeCodes {
    /// Per attribute: the values, by code in order of first appearance.
    names: Vec<Vec<String>>,
    index: Vec<HashMap<String, u32, RandomState>>,
    /// Per attribute: one code per delivery added.
    codes: Vec<CodeColumn>,
}

/// One attribute's code per delivery, no wider than its number of values needs: at 10^8
/// deliveries each byte saved per code is 100 MB per attribute.
#[derive(Debug, Clone)]
enum CodeColumn {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl CodeColumn {
    fn get(&self, i: usize) -> u32 {
        match self {
            CodeColumn::U8(v) => v[i] as u32,
            CodeColumn::U16(v) => v[i] as u32,
            CodeColumn::U32(v) => v[i],
        }
    }

    fn len(&self) -> usize {
        match self {
            CodeColumn::U8(v) => v.len(),
            CodeColumn::U16(v) => v.len(),
            CodeColumn::U32(v) => v.len(),
        }
    }

    /// The largest code the column can hold.
    fn limit(&self) -> u32 {
        match self {
            CodeColumn::U8(_) => u8::MAX as u32,
            CodeColumn::U16(_) => u16::MAX as u32,
            CodeColumn::U32(_) => u32::MAX,
        }
    }

    fn reserve(&mut self, n: usize) {
        match self {
            CodeColumn::U8(v) => v.reserve_exact(n),
            CodeColumn::U16(v) => v.reserve_exact(n),
            CodeColumn::U32(v) => v.reserve_exact(n),
        }
    }

    /// Appends `codes`, none above `max`, widening the column first if `max` needs it.
    fn extend(&mut self, codes: impl Iterator<Item = u32>, max: u32) {
        if max > self.limit() {
            *self = CodeColumn::of((0..self.len()).map(|i| self.get(i)), max);
        }
        match self {
            CodeColumn::U8(v) => v.extend(codes.map(|c| c as u8)),
            CodeColumn::U16(v) => v.extend(codes.map(|c| c as u16)),
            CodeColumn::U32(v) => v.extend(codes),
        }
    }

    /// `codes` in the narrowest column that holds `max`.
    fn of(codes: impl Iterator<Item = u32>, max: u32) -> CodeColumn {
        if max <= u8::MAX as u32 {
            CodeColumn::U8(codes.map(|c| c as u8).collect())
        } else if max <= u16::MAX as u32 {
            CodeColumn::U16(codes.map(|c| c as u16).collect())
        } else {
            CodeColumn::U32(codes.collect())
        }
    }
}

impl Default for AttributeCodes {
    fn default() -> Self {
        AttributeCodes {
            names: vec![Vec::new(); NATTR],
            index: (0..NATTR).map(|_| HashMap::default()).collect(),
            codes: vec![CodeColumn::U8(Vec::new()); NATTR],
        }
    }
}

impl AttributeCodes {
    /// Room for `n` more deliveries' codes, at the width each attribute has now.
    pub fn reserve(&mut self, n: usize) {
        for c in &mut self.codes {
            c.reserve(n);
        }
    }

    /// The code of delivery `i`'s value of categorical attribute `a`.
    pub fn code(&self, a: Attribute, i: usize) -> u32 {
        self.codes[a as usize].get(i)
    }

    /// The value of code `c` of attribute `a`.
    pub fn name(&self, a: Attribute, c: u32) -> &str {
        &self.names[a as usize][c as usize]
    }

    /// Delivery `i`'s value of attribute `a`; `None` where it is absent.
    pub fn value(&self, a: Attribute, i: usize) -> Option<&str> {
        let v = self.name(a, self.code(a, i));
        (v != ABSENT).then_some(v)
    }

    /// How many values attribute `a` has (absent counted as one).
    pub fn cardinality(&self, a: Attribute) -> usize {
        self.names[a as usize].len()
    }

    /// The code standing for an absent value of `a`, if any delivery lacks it.
    pub fn absent_code(&self, a: Attribute) -> Option<u32> {
        self.index[a as usize].get(ABSENT).copied()
    }

    /// Adds deliveries `0..n` of `values`, which follow those added before. Numeric attributes
    /// are left out: their bins are only known once every delivery is in.
    pub fn add(&mut self, values: &AttributeValues, n: usize) {
        for (a, col) in values.columns.iter().enumerate() {
            if Attribute::ALL[a].is_numeric() {
                continue;
            }
            // A block's few distinct values are coded locally first: one hash per distinct value
            // of the block, not per delivery.
            let mut coder = Coder::new();
            let local: Vec<u32> = (0..n)
                .map(|i| coder.code(col(i).unwrap_or(ABSENT)))
                .collect();
            let (names, index) = (&mut self.names[a], &mut self.index[a]);
            let global: Vec<u32> = coder
                .names
                .iter()
                .map(|&v| match index.get(v) {
                    Some(&c) => c,
                    None => {
                        let c = names.len() as u32;
                        names.push(v.to_string());
                        index.insert(v.to_string(), c);
                        c
                    }
                })
                .collect();
            let max = global.iter().copied().max().unwrap_or(0);
            self.codes[a].extend(local.iter().map(|&c| global[c as usize]), max);
        }
    }

    /// The factors of the population: deliveries in the window (`in_window[i]`) whose class
    /// (`classes[i]`) is `leak` or `ok`. Delivery i is the i-th added. The numeric attributes
    /// come binned from `numeric`.
    pub fn factors(
        &self,
        classes: &[Class],
        in_window: &[bool],
        numeric: &[NumericBins<'_>],
    ) -> Factors {
        let rows = population(classes.iter().copied(), in_window);
        let leak: Vec<bool> = rows.iter().map(|&i| classes[i] == Class::Leak).collect();
        factors_of(&rows, &leak, || {
            // Codes again in order of first appearance among the population, as `code` gives them.
            let mut names = Vec::with_capacity(NATTR);
            let mut codes = Vec::with_capacity(NATTR);
            for (a, attr) in Attribute::ALL.iter().enumerate() {
                let bins = numeric.iter().find(|b| b.attr == *attr);
                let labels: Vec<String>;
                let (all_names, global): (&[String], Box<dyn Fn(usize) -> usize + '_>) = match bins
                {
                    Some(b) => {
                        labels = b.labels();
                        (&labels, Box::new(|i| b.bin(i)))
                    }
                    // A numeric attribute nobody binned has no codes: every value is absent.
                    None if attr.is_numeric() => {
                        labels = vec![ABSENT.to_string()];
                        (&labels, Box::new(|_| 0))
                    }
                    None => (&self.names[a], Box::new(|i| self.codes[a].get(i) as usize)),
                };
                let mut local = vec![u32::MAX; all_names.len()];
                let mut local_names: Vec<String> = Vec::new();
                let c: Vec<u32> = rows
                    .iter()
                    .map(|&i| {
                        let g = global(i);
                        if local[g] == u32::MAX {
                            local[g] = local_names.len() as u32;
                            local_names.push(all_names[g].clone());
                        }
                        local[g]
                    })
                    .collect();
                names.push(local_names);
                codes.push(c);
            }
            Coded { names, codes }
        })
    }
}

/// A numeric attribute binned for the factor tables: the cut values (ascending) and each
/// delivery's value (NaN where absent).
pub struct NumericBins<'a> {
    pub attr: Attribute,
    pub cuts: Vec<f64>,
    pub value: Box<dyn Fn(usize) -> f64 + 'a>,
    pub show: fn(f64) -> String,
}

impl NumericBins<'_> {
    /// The bins' labels, then [`ABSENT`]'s.
    pub fn labels(&self) -> Vec<String> {
        let show = self.show;
        let mut out = Vec::new();
        match self.cuts.as_slice() {
            [] => out.push("any".to_string()),
            cuts => {
                out.push(format!("< {}", show(cuts[0])));
                for w in cuts.windows(2) {
                    out.push(format!("[{}, {})", show(w[0]), show(w[1])));
                }
                out.push(format!(">= {}", show(cuts[cuts.len() - 1])));
            }
        }
        out.push(ABSENT.to_string());
        out
    }

    /// Delivery `i`'s bin: the number of cuts at or below its value, or the absent bin.
    pub fn bin(&self, i: usize) -> usize {
        let v = (self.value)(i);
        if v.is_nan() {
            self.cuts.len() + 1
        } else {
            self.cuts.partition_point(|&c| c <= v)
        }
    }
}

/// The factors of population `rows` (delivery numbers, ascending), `leak[r]` telling which of
/// them are leaks; `coded` gives their attribute codes, only asked for when there are leaks.
fn factors_of(rows: &[usize], leak: &[bool], coded: impl FnOnce() -> Coded) -> Factors {
    // A digest per delivery, summed over a pattern's deliveries, tells equal sets apart from unequal ones.
    let hash: Vec<u64> = rows
        .iter()
        .map(|&i| xxhash_rust::xxh3::xxh3_64(&(i as u64).to_le_bytes()))
        .collect();
    let total_n = rows.len() as u64;
    let total_l = leak.iter().filter(|&&l| l).count() as u64;
    let mut f = Factors {
        deliveries: total_n,
        leaks: total_l,
        ..Factors::default()
    };
    if total_l == 0 {
        return f;
    }
    let Coded { names, codes } = coded();
    let item = |a: usize, c: u32| (Attribute::ALL[a], names[a][c as usize].to_string());
    let min_leaks = MIN_SUPPORT * total_l as f64;

    let mut single: Vec<Vec<Count>> = names
        .iter()
        .map(|n| vec![Count::default(); n.len()])
        .collect();
    for r in 0..rows.len() {
        for a in 0..NATTR {
            single[a][codes[a][r] as usize].add(leak[r], hash[r]);
        }
    }
    let frequent: Vec<Vec<bool>> = single
        .iter()
        .map(|cs| cs.iter().map(|c| c.leaks as f64 >= min_leaks).collect())
        .collect();
    let mut single_rr: HashMap<(usize, u32), f64> = HashMap::new();
    for (a, counts) in single.iter().enumerate() {
        let mut ps = Vec::new();
        for (c, &count) in counts.iter().enumerate() {
            if let Some(p) = pattern(vec![item(a, c as u32)], count, total_n, total_l) {
                single_rr.insert((a, c as u32), p.risk_ratio);
                ps.push(p);
            }
        }
        ps.sort_by_key(Pattern::rank_key);
        f.single.insert(Attribute::ALL[a], ps);
    }
    // A value held by every delivery has no risk ratio (nothing to compare it with): it counts as 0,
    // so that a combination with it is judged against its other parts.
    let rr1 = |a: usize, c: u32| single_rr.get(&(a, c)).copied().unwrap_or(0.0);

    // A pair can only reach the support threshold if both its values do (apriori pruning). At most
    // 1 / MIN_SUPPORT = 20 values of an attribute can, so combinations are counted in dense tables.
    let slots: Vec<Vec<u32>> = frequent
        .iter()
        .map(|fs| {
            fs.iter()
                .enumerate()
                .filter(|(_, &f)| f)
                .map(|(c, _)| c as u32)
                .collect()
        })
        .collect();
    let slot_of: Vec<Vec<Option<usize>>> = frequent
        .iter()
        .map(|fs| {
            let mut k = 0;
            fs.iter()
                .map(|&f| {
                    k += f as usize;
                    f.then(|| k - 1)
                })
                .collect()
        })
        .collect();
    // Each row's slot per attribute, looked up once per row and pass.
    let row_slots = |r: usize| -> [Option<usize>; NATTR] {
        std::array::from_fn(|a| slot_of[a][codes[a][r] as usize])
    };
    // Tables by pair number, not by a keyed map: the loop below visits up to 36 per row.
    let pairs = attribute_pairs();
    let mut pair_tables: Vec<Vec<Count>> = pairs
        .iter()
        .map(|&(a, b)| vec![Count::default(); slots[a].len() * slots[b].len()])
        .collect();
    for r in 0..rows.len() {
        let s = row_slots(r);
        for a in 0..NATTR {
            let Some(sa) = s[a] else { continue };
            for b in a + 1..NATTR {
                if let Some(sb) = s[b] {
                    pair_tables[pair_number(a, b)][sa * slots[b].len() + sb].add(leak[r], hash[r]);
                }
            }
        }
    }
    let mut explanations: Vec<Pattern> = f
        .single
        .values()
        .flatten()
        .filter(|p| is_explanation(p))
        .cloned()
        .collect();
    let mut pair_rr: HashMap<(usize, u32, usize, u32), f64> = HashMap::new();
    // Per pair number, per cell of its table: the pair of values reaches the support threshold.
    let mut frequent_pairs: Vec<Vec<bool>> = Vec::with_capacity(pairs.len());
    for (&(a, b), table) in pairs.iter().zip(&pair_tables) {
        frequent_pairs.push(table.iter().map(|c| c.leaks as f64 >= min_leaks).collect());
        for (k, &count) in table.iter().enumerate() {
            let (sa, sb) = (k / slots[b].len(), k % slots[b].len());
            let (ca, cb) = (slots[a][sa], slots[b][sb]);
            let Some(p) = pattern(vec![item(a, ca), item(b, cb)], count, total_n, total_l) else {
                continue;
            };
            pair_rr.insert((a, ca, b, cb), p.risk_ratio);
            if p.support < MIN_SUPPORT {
                continue;
            }
            if p.risk_ratio > rr1(a, ca).max(rr1(b, cb)) && is_explanation(&p) {
                explanations.push(p.clone());
            }
            f.pairs.push(p);
        }
    }
    f.pairs.sort_by_key(Pattern::rank_key);
    let rr2 = |k: (usize, u32, usize, u32)| pair_rr.get(&k).copied().unwrap_or(0.0);

    // Triples, as MacroBase's default order 3, from request attributes only: the top explanation's
    // family, five attributes, so ten triples of attributes.
    let frequent_pair = |a: usize, sa: usize, b: usize, sb: usize| {
        frequent_pairs[pair_number(a, b)][sa * slots[b].len() + sb]
    };
    let triples = request_triples();
    let mut triple_tables: Vec<Vec<Count>> = triples
        .iter()
        .map(|&(a, b, c)| vec![Count::default(); slots[a].len() * slots[b].len() * slots[c].len()])
        .collect();
    for r in 0..rows.len() {
        let s = row_slots(r);
        for (&(a, b, c), table) in triples.iter().zip(triple_tables.iter_mut()) {
            let (Some(sa), Some(sb), Some(sc)) = (s[a], s[b], s[c]) else {
                continue;
            };
            if frequent_pair(a, sa, b, sb)
                && frequent_pair(a, sa, c, sc)
                && frequent_pair(b, sb, c, sc)
            {
                table[(sa * slots[b].len() + sb) * slots[c].len() + sc].add(leak[r], hash[r]);
            }
        }
    }
    for (&(a, b, c), table) in triples.iter().zip(&triple_tables) {
        for (k, &count) in table.iter().enumerate() {
            let (nb, nc) = (slots[b].len(), slots[c].len());
            let (ca, cb, cc) = (
                slots[a][k / (nb * nc)],
                slots[b][k / nc % nb],
                slots[c][k % nc],
            );
            if count.n == 0 {
                continue;
            }
            let Some(p) = pattern(
                vec![item(a, ca), item(b, cb), item(c, cc)],
                count,
                total_n,
                total_l,
            ) else {
                continue;
            };
            let best = [
                rr2((a, ca, b, cb)),
                rr2((a, ca, c, cc)),
                rr2((b, cb, c, cc)),
                rr1(a, ca),
                rr1(b, cb),
                rr1(c, cc),
            ]
            .into_iter()
            .fold(0.0, f64::max);
            if p.risk_ratio > best && is_explanation(&p) {
                explanations.push(p);
            }
        }
    }
    let (request, environment): (Vec<Pattern>, Vec<Pattern>) = explanations
        .into_iter()
        .partition(|p| p.family() == Family::Request);
    f.request = collapse(request);
    f.environment = collapse(environment);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Verdict;

    /// A code column widens when a code outgrows it, and keeps every code it held.
    #[test]
    fn code_columns_widen_without_losing_codes() {
        let mut c = CodeColumn::U8(Vec::new());
        c.extend([3, 255].into_iter(), 255);
        assert!(matches!(c, CodeColumn::U8(_)));
        c.extend([300].into_iter(), 300);
        assert!(matches!(c, CodeColumn::U16(_)));
        c.extend([70_000, 1].into_iter(), 70_000);
        assert!(matches!(c, CodeColumn::U32(_)));
        let all: Vec<u32> = (0..c.len()).map(|i| c.get(i)).collect();
        assert_eq!(all, [3, 255, 300, 70_000, 1]);
    }

    fn verdict(leak: bool) -> Verdict {
        Verdict::without_evidence(if leak { Class::Leak } else { Class::Ok })
    }

    #[test]
    fn the_pair_that_causes_leaks_ranks_first() {
        // Leaks only when integration = gh and rtt = high; each alone is common without leaks.
        // Client mirrors integration exactly, so it is named as an equivalent, not ranked apart.
        let mut verdicts = Vec::new();
        let mut cols: [Vec<Option<&str>>; 9] = Default::default();
        for i in 0..400 {
            let gh = i % 2 == 0;
            let high = (i / 2) % 2 == 0;
            verdicts.push(verdict(gh && high && i % 8 != 4));
            cols[0].push(Some(if gh { "gh" } else { "alexa" }));
            cols[1].push(Some(if gh { "hub" } else { "echo" }));
            cols[3].push(Some(if high { ">= 300 ms" } else { "< 300 ms" }));
            cols[6].push(Some(["n1", "n2", "n3"][i % 3]));
        }
        let columns =
            cols.map(|col| -> Column { Box::new(move |i| col.get(i).copied().flatten()) });
        let f = factors(&verdicts, &vec![true; 400], &AttributeValues { columns });
        assert_eq!(f.leaks, 50);
        let top = f.top().unwrap();
        assert_eq!(top.label(), "integration=gh & rtt=>= 300 ms");
        assert_eq!(label(&top.equivalent[0]), "client=hub & rtt=>= 300 ms");
        assert!((top.support - 1.0).abs() < 1e-12);
        assert!((top.leak_rate - 0.5).abs() < 1e-12);
        assert_eq!(top.rest_rate, 0.0);
        let labels: Vec<String> = f.request.iter().map(Pattern::label).collect();
        assert_eq!(
            labels,
            [
                "integration=gh & rtt=>= 300 ms",
                "integration=gh",
                "rtt=>= 300 ms"
            ]
        );
        assert!(f
            .environment
            .iter()
            .all(|p| p.family() == Family::Environment));
    }

    #[test]
    fn pair_numbers_follow_the_pair_list() {
        for (k, &(a, b)) in attribute_pairs().iter().enumerate() {
            assert_eq!(pair_number(a, b), k);
        }
    }
}
