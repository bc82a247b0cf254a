//! Collision evidence: cache keys that served content of two or more subjects.

use std::collections::{HashMap, HashSet};

use foldhash::fast::RandomState;

use crate::load::table::Text;
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
/// into a hash set, so that its count stays linear in its deliveries.
enum Distinct<'a> {
    Few(Vec<&'a str>),
    // Boxed: a hash set is twice a vector's size, and `Acc`, one per key, holds three of these.
    #[allow(clippy::box_collection)]
    Many(Box<HashSet<&'a str, RandomState>>),
}

impl Default for Distinct<'_> {
    fn default() -> Self {
        Distinct::Few(Vec::new())
    }
}

impl<'a> Distinct<'a> {
    fn insert(&mut self, v: &'a str) {
        match self {
            Distinct::Few(few) => {
                // The loader shares equal values, so the pointer usually settles it without a compare.
                if few.iter().any(|&s| std::ptr::eq(s, v) || s == v) {
                    return;
                }
                if few.len() < FEW {
                    few.push(v);
                    return;
                }
                let mut many: HashSet<&str, RandomState> = few.drain(..).collect();
                many.insert(v);
                *self = Distinct::Many(Box::new(many));
            }
            Distinct::Many(many) => {
                many.insert(v);
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
struct Acc<'a> {
    subjects: Distinct<'a>,
    streams: Distinct<'a>,
    nodes: Distinct<'a>,
    deliveries: u64,
    leaks: u64,
}

/// Keys with two or more subjects, most subjects first (then most leaks, then key).
pub fn collisions(
    verdicts: &[Verdict],
    keys: &[Option<Text>],
    nodes: &[Option<Text>],
) -> Vec<KeyCollision> {
    // Hashed, not ordered: the output is sorted on a total order (keys are distinct) below.
    let mut by_key: HashMap<&str, Acc, RandomState> = HashMap::default();
    for (i, v) in verdicts.iter().enumerate() {
        let (Some(key), Some(subject)) =
            (keys.get(i).and_then(|k| k.as_deref()), v.subject.as_deref())
        else {
            continue;
        };
        let a = by_key.entry(key).or_default();
        a.subjects.insert(subject);
        if let Some(s) = v.origin_stream_id.as_deref() {
            a.streams.insert(s);
        }
        if let Some(n) = nodes.get(i).and_then(|n| n.as_deref()) {
            a.nodes.insert(n);
        }
        a.deliveries += 1;
        a.leaks += (v.class == Class::Leak) as u64;
    }
    let mut out: Vec<KeyCollision> = by_key
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_counts_past_the_few() {
        let values: Vec<String> = (0..3 * FEW)
            .map(|i| format!("v{}", i % (2 * FEW)))
            .collect();
        let mut d = Distinct::default();
        for v in &values {
            d.insert(v);
        }
        assert_eq!(d.len(), 2 * FEW as u64);
        assert!(matches!(d, Distinct::Many(_)));
    }
}
