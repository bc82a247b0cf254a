//! Collision evidence: cache keys that served content of two or more subjects.

use std::collections::{HashMap, HashSet};

use foldhash::fast::RandomState;

use crate::table::{Text, TextSlice};
use crate::verdict::{Class, Verdict};

/// One cache key (on any node) and whose content it served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCollision {
    pub cache_key: String,
    /// Distinct subjects whose content was delivered under this key.
    pub subjects: u64,
    /// Distinct origin streams.
    pub streams: u64,
    /// Distinct cache nodes that answered under this key.
    pub nodes: u64,
    /// Deliveries with a subject under this key.
    pub deliveries: u64,
    pub leaks: u64,
}

/// Past this many values a [`Distinct`] set hashes instead of scanning.
const FEW: usize = 8;

/// The distinct strings seen under one key. A key nearly always serves one to three subjects,
/// streams and nodes, where scanning a short vector beats hashing; a key that served many turns
/// into a hash set, so that its count stays linear in its deliveries. Values are shared, not copied.
enum Distinct {
    Few(Vec<Text>),
    // Boxed: a hash set is twice a vector's size, and `Acc`, one per key, holds three of these.
    #[allow(clippy::box_collection)]
    Many(Box<HashSet<Text, RandomState>>),
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct::Few(Vec::new())
    }
}

impl Distinct {
    fn insert(&mut self, v: &Text) {
        match self {
            Distinct::Few(few) => {
                // The loader shares equal values, so the pointer usually settles it without a compare.
                if few.iter().any(|s| Text::ptr_eq(s, v) || s == v) {
                    return;
                }
                if few.len() < FEW {
                    few.push(v.clone());
                    return;
                }
                let mut many: HashSet<Text, RandomState> = few.drain(..).collect();
                many.insert(v.clone());
                *self = Distinct::Many(Box::new(many));
            }
            Distinct::Many(many) => {
                if !many.contains(&**v) {
                    many.insert(v.clone());
                }
            }
        }
    }

    fn len(&self) -> u64 {
        match self {
            Distinct::Few(few) => few.len() as u64,
            Distinct::Many(many) => many.len() as u64,
        }
    }
}

#[derive(Default)]
struct Acc {
    subjects: Distinct,
    streams: Distinct,
    nodes: Distinct,
    deliveries: u64,
    leaks: u64,
}

/// Counts per cache key, fed a block of deliveries at a time.
#[derive(Default)]
pub struct CollisionTally {
    // Hashed, not ordered: the output is sorted on a total order (keys are distinct) in `finish`.
    index: HashMap<Text, u32, RandomState>,
    /// The counts of the key of code c, at c.
    keys: Vec<(Text, Acc)>,
}

impl CollisionTally {
    /// Adds deliveries whose `verdicts[i]`, `keys[i]` and `nodes[i]` belong together.
    pub fn add(&mut self, verdicts: &[Verdict], keys: TextSlice<'_>, nodes: TextSlice<'_>) {
        // Each distinct key of the block is looked up once, not once per delivery.
        let mut of_value: Vec<u32> = Vec::new();
        let coded = keys.coded();
        for (i, v) in verdicts.iter().enumerate() {
            let (Some(key), Some(subject)) = (keys.get(i), &v.subject) else {
                continue;
            };
            let c = match coded {
                Some((codes, values)) => {
                    if of_value.is_empty() {
                        of_value = vec![u32::MAX; values.len()];
                    }
                    let local = codes[i] as usize;
                    match of_value[local] {
                        u32::MAX => {
                            let c = self.code(key);
                            of_value[local] = c;
                            c
                        }
                        c => c,
                    }
                }
                None => self.code(key),
            };
            let a = &mut self.keys[c as usize].1;
            a.subjects.insert(subject);
            if let Some(s) = &v.origin_stream_id {
                a.streams.insert(s);
            }
            if let Some(n) = nodes.get(i) {
                a.nodes.insert(n);
            }
            a.deliveries += 1;
            a.leaks += (v.class == Class::Leak) as u64;
        }
    }

    /// The code of `key`, new if the key is.
    fn code(&mut self, key: &Text) -> u32 {
        if let Some(&c) = self.index.get(&**key) {
            return c;
        }
        let c = self.keys.len() as u32;
        self.index.insert(key.clone(), c);
        self.keys.push((key.clone(), Acc::default()));
        c
    }

    /// Keys with two or more subjects, most subjects first (then most leaks, then key).
    pub fn finish(self) -> Vec<KeyCollision> {
        let mut out: Vec<KeyCollision> = self
            .keys
            .into_iter()
            .filter(|(_, a)| a.subjects.len() >= 2)
            .map(|(k, a)| KeyCollision {
                cache_key: k.to_string(),
                subjects: a.subjects.len(),
                streams: a.streams.len(),
                nodes: a.nodes.len(),
                deliveries: a.deliveries,
                leaks: a.leaks,
            })
            .collect();
        out.sort_by(|a, b| {
            (b.subjects, b.leaks, &a.cache_key).cmp(&(a.subjects, a.leaks, &b.cache_key))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_counts_past_the_few() {
        let values: Vec<Text> = (0..3 * FEW)
            .map(|i| Text::from(format!("v{}", i % (2 * FEW))))
            .collect();
        let mut d = Distinct::default();
        for v in &values {
            d.insert(v);
        }
        assert_eq!(d.len(), 2 * FEW as u64);
        assert!(matches!(d, Distinct::Many(_)));
    }
}
