//! Aggregate: the headline counts of a run (contract §5 summary.json) from the verdicts that are not `ok`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::findings::Notable;
use crate::load::{LoadedDataset, RowCounts};
use crate::schema::Kind;
use crate::time::format_ms;
use crate::verdict::Class;

/// The headline counts. Field order is the order of keys in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Accepted deliveries, after de-duplication.
    pub deliveries: u64,
    pub leak_deliveries: u64,
    pub ambiguous_deliveries: u64,
    pub unresolved_deliveries: u64,
    pub ok_deliveries: u64,
    /// Distinct subjects of leak deliveries: people whose homes were shown to someone else.
    pub exposed_accounts: u64,
    /// Distinct recipients of leak deliveries.
    pub recipient_accounts: u64,
    /// Distinct (subject, recipient) pairs of leak deliveries.
    pub exposure_pairs: u64,
    /// Distinct object ids sent in leak deliveries (absent ids are not counted).
    pub leaked_objects: u64,
    pub viewed_leak_deliveries: u64,
    /// Subjects with at least one viewed leak delivery.
    pub exposed_accounts_viewed: u64,
    pub first_leak: Option<String>,
    pub last_leak: Option<String>,
    /// Upper bound of exposed subjects: distinct subjects of leak or ambiguous deliveries.
    pub exposed_accounts_upper: u64,
    pub unresolved_by_reason: BTreeMap<&'static str, u64>,
    pub rows: BTreeMap<&'static str, RowCounts>,
    /// Input files that could not be read at all (their rows are not counted anywhere else).
    pub unreadable_files: u64,
}

/// The summary of `deliveries` accepted deliveries, of which `notable` are every one not `ok`.
pub fn summarize(loaded: &LoadedDataset, deliveries: u64, notable: &Notable) -> Summary {
    let (verdicts, ts, viewed) = (&notable.verdicts, &notable.ts, &notable.viewed);
    let mut count = BTreeMap::<Class, u64>::new();
    let mut unresolved_by_reason = BTreeMap::new();
    let mut subjects = BTreeSet::new();
    let mut subjects_upper = BTreeSet::new();
    let mut recipients = BTreeSet::new();
    let mut pairs = BTreeSet::new();
    let mut objects = BTreeSet::new();
    let mut viewed_subjects = BTreeSet::new();
    let mut viewed_leaks = 0;
    let (mut first, mut last): (Option<i64>, Option<i64>) = (None, None);
    for (i, v) in verdicts.iter().enumerate() {
        *count.entry(v.class).or_default() += 1;
        if let Some(m) = v.missing {
            *unresolved_by_reason.entry(m.as_str()).or_default() += 1;
        }
        if matches!(v.class, Class::Leak | Class::Ambiguous) {
            if let Some(s) = &v.subject {
                subjects_upper.insert(&**s);
            }
        }
        if v.class != Class::Leak {
            continue;
        }
        let (Some(s), Some(r)) = (v.subject.as_deref(), v.recipient.as_deref()) else {
            continue;
        };
        subjects.insert(s);
        recipients.insert(r);
        pairs.insert((s, r));
        if let Some(o) = &v.object_id {
            objects.insert(&**o);
        }
        if viewed.get(i).copied().flatten() == Some(true) {
            viewed_leaks += 1;
            viewed_subjects.insert(s);
        }
        if let Some(t) = ts[i] {
            first = Some(first.map_or(t, |f| f.min(t)));
            last = Some(last.map_or(t, |l| l.max(t)));
        }
    }
    let n = |c| count.get(&c).copied().unwrap_or(0);
    Summary {
        deliveries,
        leak_deliveries: n(Class::Leak),
        ambiguous_deliveries: n(Class::Ambiguous),
        unresolved_deliveries: n(Class::Unresolved),
        ok_deliveries: deliveries - notable.len() as u64,
        exposed_accounts: subjects.len() as u64,
        recipient_accounts: recipients.len() as u64,
        exposure_pairs: pairs.len() as u64,
        leaked_objects: objects.len() as u64,
        viewed_leak_deliveries: viewed_leaks,
        exposed_accounts_viewed: viewed_subjects.len() as u64,
        first_leak: first.map(format_ms),
        last_leak: last.map(format_ms),
        exposed_accounts_upper: subjects_upper.len() as u64,
        unresolved_by_reason,
        rows: Kind::ALL
            .iter()
            .map(|&k| (k.name(), loaded.counts(k)))
            .collect(),
        unreadable_files: loaded.files.iter().filter(|f| f.error.is_some()).count() as u64,
    }
}
