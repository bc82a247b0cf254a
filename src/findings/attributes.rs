//! The attributes the factors and the rule read: each delivery's values as small integer codes, gathered a block at a time, and rtt and loss binned once every delivery is in.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::exposures::ABSENT;

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
pub(super) const NATTR: usize = Attribute::ALL.len();

/// One attribute's value of delivery row i; `None` is absent.
pub type Column<'a> = Box<dyn Fn(usize) -> Option<&'a str> + 'a>;

/// The value of every attribute for each delivery, in [`Attribute::ALL`] order. Values are read
/// where they live, for the population's rows only, rather than copied for every delivery.
pub struct AttributeValues<'a> {
    pub columns: [Column<'a>; NATTR],
}

/// Each attribute's values as small integer codes over the population rows, with the names back.
pub(super) struct Coded {
    pub(super) names: Vec<Vec<String>>,
    pub(super) codes: Vec<Vec<u32>>,
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

pub(super) fn code(values: &AttributeValues<'_>, rows: &[usize]) -> Coded {
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

    /// The codes of deliveries `rows` (ascending), again in order of first appearance among
    /// them, as [`code`] gives them; the numeric attributes come binned from `numeric`.
    pub(super) fn coded(&self, rows: &[usize], numeric: &[NumericBins<'_>]) -> Coded {
        {
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
        }
    }
}

/// A numeric attribute binned for the factor tables: the cut values (ascending) and each
/// delivery's value (NaN where absent).
pub struct NumericBins<'a> {
    pub attr: Attribute,
    pub cuts: Vec<f64>,
    pub value: Box<dyn Fn(usize) -> f64 + 'a>,
    /// A cut value as the labels show it ("300 ms").
    pub show: Box<dyn Fn(f64) -> String + 'a>,
}

impl NumericBins<'_> {
    /// The bins' labels, then [`ABSENT`]'s.
    pub fn labels(&self) -> Vec<String> {
        let show = &self.show;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
