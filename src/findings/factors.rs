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

use super::attributes::{code, AttributeCodes, AttributeValues, Coded, NumericBins, NATTR};
pub use super::attributes::{Attribute, Family};
use crate::verdict::{Class, Verdict};

/// An explanation must cover at least this share of the leak deliveries.
pub const MIN_SUPPORT: f64 = 0.05;
/// And make a leak at least this many times as likely as elsewhere.
pub const MIN_RISK_RATIO: f64 = 3.0;
/// Added to every count of the risk ratio (Haldane–Anscombe), so that it stays finite and small groups do not win by chance.
pub const CONTINUITY: f64 = 0.5;

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

/// The factors of the deliveries gathered in `codes`: those in the window (`in_window[i]`) whose
/// class (`classes[i]`) is `leak` or `ok`; the numeric attributes come binned from `numeric`.
pub fn gathered(
    codes: &AttributeCodes,
    classes: &[Class],
    in_window: &[bool],
    numeric: &[NumericBins<'_>],
) -> Factors {
    let rows = population(classes.iter().copied(), in_window);
    let leak: Vec<bool> = rows.iter().map(|&i| classes[i] == Class::Leak).collect();
    factors_of(&rows, &leak, || codes.coded(&rows, numeric))
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
    use crate::findings::attributes::Column;
    use crate::verdict::Verdict;

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
