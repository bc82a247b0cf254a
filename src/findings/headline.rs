//! Headline: who was exposed to whom, as delivered and as viewed, with the lower (leak) and upper (leak + ambiguous) bound.

use std::collections::BTreeMap;

use foldhash::HashSet;

use crate::verdict::{Class, Verdict};

/// Distinct counts over one set of deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExposureCounts {
    pub deliveries: u64,
    pub subjects: u64,
    pub recipients: u64,
    pub pairs: u64,
    /// Distinct non-absent object ids.
    pub objects: u64,
}

/// One tier (delivered or viewed) at both bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    /// `leak` deliveries only.
    pub lower: ExposureCounts,
    /// `leak` and `ambiguous` deliveries.
    pub upper: ExposureCounts,
}

/// The headline counts of a run, the one computation behind summary.json and the reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headline {
    /// Accepted deliveries, after de-duplication.
    pub deliveries: u64,
    pub leaks: u64,
    /// Everything sent.
    pub delivered: Bounds,
    /// Sent and reported shown or opened by the client (`viewed = true`).
    pub viewed: Bounds,
    /// Leak deliveries whose `viewed` is absent: neither shown nor known unseen.
    pub leak_viewed_unknown: u64,
    pub ambiguous: u64,
    pub unresolved: u64,
    pub unresolved_by_reason: BTreeMap<&'static str, u64>,
    pub first_leak: Option<i64>,
    pub last_leak: Option<i64>,
}

impl Headline {
    /// Deliveries that are `ok`: all but the leak, ambiguous and unresolved ones.
    pub fn ok(&self) -> u64 {
        self.deliveries
            .saturating_sub(self.leaks + self.ambiguous + self.unresolved)
    }
}

/// Distinct values, counted and never listed, so hashed rather than ordered.
#[derive(Default)]
struct Sets<'a> {
    deliveries: u64,
    subjects: HashSet<&'a str>,
    recipients: HashSet<&'a str>,
    pairs: HashSet<(&'a str, &'a str)>,
    objects: HashSet<&'a str>,
}

impl<'a> Sets<'a> {
    fn add(&mut self, v: &'a Verdict) {
        let (Some(s), Some(r)) = (v.subject.as_deref(), v.recipient.as_deref()) else {
            return;
        };
        self.deliveries += 1;
        self.subjects.insert(s);
        self.recipients.insert(r);
        self.pairs.insert((s, r));
        if let Some(o) = v.object_id.as_deref() {
            self.objects.insert(o);
        }
    }

    fn counts(&self) -> ExposureCounts {
        ExposureCounts {
            deliveries: self.deliveries,
            subjects: self.subjects.len() as u64,
            recipients: self.recipients.len() as u64,
            pairs: self.pairs.len() as u64,
            objects: self.objects.len() as u64,
        }
    }
}

/// The headline of `deliveries` accepted deliveries, of which `verdicts` (with their times and
/// `viewed` flags) are every one that is not `ok`.
pub fn headline(
    deliveries: u64,
    verdicts: &[Verdict],
    ts: &[Option<i64>],
    viewed: &[Option<bool>],
) -> Headline {
    // [delivered lower, delivered upper, viewed lower, viewed upper]
    let mut sets: [Sets; 4] = Default::default();
    let mut h = Headline {
        deliveries,
        ..Headline::default()
    };
    for (i, v) in verdicts.iter().enumerate() {
        let seen = viewed.get(i).copied().flatten();
        match v.class {
            Class::Leak => {
                h.leaks += 1;
                sets[0].add(v);
                sets[1].add(v);
                if seen == Some(true) {
                    sets[2].add(v);
                    sets[3].add(v);
                }
                if seen.is_none() {
                    h.leak_viewed_unknown += 1;
                }
                if let Some(t) = ts.get(i).copied().flatten() {
                    h.first_leak = Some(h.first_leak.map_or(t, |f| f.min(t)));
                    h.last_leak = Some(h.last_leak.map_or(t, |l| l.max(t)));
                }
            }
            Class::Ambiguous => {
                h.ambiguous += 1;
                sets[1].add(v);
                if seen == Some(true) {
                    sets[3].add(v);
                }
            }
            Class::Unresolved => {
                h.unresolved += 1;
                if let Some(m) = v.missing {
                    *h.unresolved_by_reason.entry(m.as_str()).or_default() += 1;
                }
            }
            Class::Ok => {}
        }
    }
    h.delivered = Bounds {
        lower: sets[0].counts(),
        upper: sets[1].counts(),
    };
    h.viewed = Bounds {
        lower: sets[2].counts(),
        upper: sets[3].counts(),
    };
    h
}
