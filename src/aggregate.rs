//! Aggregate: the headline counts of a run as `summary.json` says them (contract §5), with the row accounting.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::findings::Headline;
use crate::load::{LoadedDataset, RowCounts};
use crate::schema::Kind;
use crate::time::format_ms;

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

impl Summary {
    /// The summary of a run: its headline (computed once, in [`crate::findings::headline`]) and
    /// the row accounting of the dataset.
    pub fn new(h: &Headline, loaded: &LoadedDataset) -> Summary {
        let leak = h.delivered.lower;
        Summary {
            deliveries: h.deliveries,
            leak_deliveries: h.leaks,
            ambiguous_deliveries: h.ambiguous,
            unresolved_deliveries: h.unresolved,
            ok_deliveries: h.ok(),
            exposed_accounts: leak.subjects,
            recipient_accounts: leak.recipients,
            exposure_pairs: leak.pairs,
            leaked_objects: leak.objects,
            viewed_leak_deliveries: h.viewed.lower.deliveries,
            exposed_accounts_viewed: h.viewed.lower.subjects,
            first_leak: h.first_leak.map(format_ms),
            last_leak: h.last_leak.map(format_ms),
            exposed_accounts_upper: h.delivered.upper.subjects,
            unresolved_by_reason: h.unresolved_by_reason.clone(),
            rows: Kind::ALL
                .iter()
                .map(|&k| (k.name(), loaded.counts(k)))
                .collect(),
            unreadable_files: loaded.files.iter().filter(|f| f.error.is_some()).count() as u64,
        }
    }
}
