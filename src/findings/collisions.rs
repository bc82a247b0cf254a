//! Collision evidence: cache keys that served content of two or more subjects.

use std::collections::{BTreeMap, BTreeSet};

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

#[derive(Default)]
struct Acc<'a> {
    subjects: BTreeSet<&'a str>,
    streams: BTreeSet<&'a str>,
    nodes: BTreeSet<&'a str>,
    deliveries: u64,
    leaks: u64,
}

/// Keys with two or more subjects, most subjects first (then most leaks, then key).
pub fn collisions(
    verdicts: &[Verdict],
    keys: &[Option<Text>],
    nodes: &[Option<Text>],
) -> Vec<KeyCollision> {
    let mut by_key: BTreeMap<&str, Acc> = BTreeMap::new();
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
            subjects: a.subjects.len() as u64,
            streams: a.streams.len() as u64,
            nodes: a.nodes.len() as u64,
            deliveries: a.deliveries,
            leaks: a.leaks,
        })
        .collect();
    out.sort_by(|a, b| {
        (b.subjects, b.leaks, &a.cache_key).cmp(&(a.subjects, a.leaks, &b.cache_key))
    });
    out
}
