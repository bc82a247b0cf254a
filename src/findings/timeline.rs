//! Root-cause timeline: change events merged with leak milestones, the hourly leak series and where its rate changed.

use std::cmp::Ordering;

use super::changepoint::{rate_changes, RateChange};
use crate::schema::ChangeKind;
use crate::table::Table;
use crate::verdict::Class;

pub use crate::time::HOUR_MS;
/// The series shows at most this many bins; longer spans get wider bins.
pub const MAX_BINS: i64 = 2_000;
/// How far before the first and after the last leak the series reaches, at most.
pub const MARGIN_MS: i64 = 7 * 24 * HOUR_MS;

/// One row of the changes kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub ts: i64,
    pub kind: ChangeKind,
    pub component: String,
    pub version: Option<String>,
    pub description: Option<String>,
}

impl ChangeEvent {
    /// A change to the system (not an observation), which a rate change can be attributed to.
    pub fn can_cause(&self) -> bool {
        self.kind != ChangeKind::Detection
    }

    /// What a report shows and sorts by: time, then the kind's name, component, version and
    /// description, so that changes logged in one millisecond come out in one order.
    fn sort_key(&self) -> (i64, &str, &str, Option<&str>, Option<&str>) {
        (
            self.ts,
            self.kind.as_str(),
            &self.component,
            self.version.as_deref(),
            self.description.as_deref(),
        )
    }
}

impl Ord for ChangeEvent {
    fn cmp(&self, o: &Self) -> Ordering {
        self.sort_key().cmp(&o.sort_key())
    }
}

impl PartialOrd for ChangeEvent {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Leak, ambiguous and delivery counts per bin of `width_ms`, from `start_ms`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub start_ms: i64,
    pub width_ms: i64,
    pub leaks: Vec<u64>,
    pub ambiguous: Vec<u64>,
    pub deliveries: Vec<u64>,
}

impl Series {
    pub fn bin_start(&self, k: usize) -> i64 {
        self.start_ms + k as i64 * self.width_ms
    }
}

/// A change point with the change event it lines up with.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignedChange {
    pub change: RateChange,
    pub at_ms: i64,
    /// Index into [`Timeline::changes`]: the latest change (not a detection) before the end of the bin where the new rate starts.
    pub cause: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// Sorted by time, then kind, component, version, description.
    pub changes: Vec<ChangeEvent>,
    pub first_leak: Option<i64>,
    pub last_leak: Option<i64>,
    /// Start of the busiest bin and its leak count (earliest on ties).
    pub peak: Option<(i64, u64)>,
    pub series: Series,
    pub rate_changes: Vec<AlignedChange>,
    /// Index into `rate_changes` of the first increase: the estimated onset.
    pub onset: Option<usize>,
    /// Index into `changes`: the change the leaks are attributed to (the onset's, else the latest deploy/config/rollback before the first leak).
    pub cause: Option<usize>,
    /// Index into `changes`: the first detection at or after the incident start.
    pub detection: Option<usize>,
    /// Index into `changes`: the first mitigation or rollback at or after the incident start.
    pub mitigation: Option<usize>,
    /// The first leak at or after the cause (leaks before it are background the cause does not explain).
    pub first_leak_after_cause: Option<i64>,
    /// Leak deliveries before the cause.
    pub leaks_before_cause: u64,
    /// Leak deliveries at or after the mitigation.
    pub leaks_after_mitigation: u64,
}

impl Timeline {
    /// The first leak the cause explains: the first leak after the cause, else the first leak.
    pub fn incident_start(&self) -> Option<i64> {
        self.first_leak_after_cause.or(self.first_leak)
    }
}

pub fn changes_of(t: &Table) -> Vec<ChangeEvent> {
    let (ts, comp, kind, ver, desc) = (
        t.time("ts"),
        t.text("component"),
        t.enums::<ChangeKind>("kind"),
        t.text("version"),
        t.text("description"),
    );
    let mut out: Vec<ChangeEvent> = (0..t.len())
        .filter_map(|i| {
            Some(ChangeEvent {
                ts: ts[i]?,
                kind: kind[i]?,
                component: comp.str(i)?.to_string(),
                version: ver.str(i).map(str::to_string),
                description: desc.str(i).map(str::to_string),
            })
        })
        .collect();
    out.sort();
    out
}

/// `classes[i]` and `ts[i]` belong to one delivery; a time is an `i64` or an `Option<i64>`.
pub fn timeline<T: Copy + Into<Option<i64>>>(
    changes: Vec<ChangeEvent>,
    classes: &[Class],
    ts: &[T],
) -> Timeline {
    let mut tl = Timeline {
        changes,
        ..Timeline::default()
    };
    let leak_times: Vec<i64> = classes
        .iter()
        .zip(ts)
        .filter(|(c, _)| **c == Class::Leak)
        .filter_map(|(_, &t)| t.into())
        .collect();
    let (Some(&first), Some(&last)) = (leak_times.iter().min(), leak_times.iter().max()) else {
        return tl;
    };
    tl.first_leak = Some(first);
    tl.last_leak = Some(last);
    tl.series = series(classes, ts, first, last);
    let s = &tl.series;
    let (peak_bin, peak) =
        s.leaks.iter().enumerate().fold(
            (0, 0),
            |best, (k, &n)| if n > best.1 { (k, n) } else { best },
        );
    tl.peak = Some((s.bin_start(peak_bin), peak));
    tl.rate_changes = rate_changes(&s.leaks, &s.deliveries)
        .into_iter()
        .map(|c| {
            let at_ms = s.bin_start(c.bin);
            let end = at_ms + s.width_ms;
            let cause = tl.changes.iter().rposition(|e| e.ts < end && e.can_cause());
            AlignedChange {
                change: c,
                at_ms,
                cause,
            }
        })
        .collect();
    tl.onset = tl.rate_changes.iter().position(|c| c.change.is_increase());
    tl.cause = tl.onset.and_then(|o| tl.rate_changes[o].cause).or_else(|| {
        tl.changes.iter().rposition(|e| {
            e.ts <= first
                && matches!(
                    e.kind,
                    ChangeKind::Deploy | ChangeKind::Config | ChangeKind::Rollback
                )
        })
    });
    if let Some(c) = tl.cause {
        let at = tl.changes[c].ts;
        tl.first_leak_after_cause = leak_times.iter().filter(|&&t| t >= at).min().copied();
        tl.leaks_before_cause = leak_times.iter().filter(|&&t| t < at).count() as u64;
    }
    let start = tl.incident_start().unwrap_or(first);
    tl.detection = tl
        .changes
        .iter()
        .position(|e| e.ts >= start && e.kind == ChangeKind::Detection);
    tl.mitigation = tl.changes.iter().position(|e| {
        e.ts >= start && matches!(e.kind, ChangeKind::Mitigation | ChangeKind::Rollback)
    });
    if let Some(m) = tl.mitigation {
        let at = tl.changes[m].ts;
        tl.leaks_after_mitigation = leak_times.iter().filter(|&&t| t >= at).count() as u64;
    }
    tl
}

/// Bins from the first delivery to the last, clipped to [`MARGIN_MS`] around the leaks, aligned to whole hours.
fn series<T: Copy + Into<Option<i64>>>(
    classes: &[Class],
    ts: &[T],
    first_leak: i64,
    last_leak: i64,
) -> Series {
    let times = ts.iter().filter_map(|&t| t.into());
    let lo = times
        .clone()
        .min()
        .unwrap_or(first_leak)
        .max(first_leak - MARGIN_MS);
    let hi = times.max().unwrap_or(last_leak).min(last_leak + MARGIN_MS);
    let start = lo.div_euclid(HOUR_MS) * HOUR_MS;
    let hours = (hi.div_euclid(HOUR_MS) * HOUR_MS - start) / HOUR_MS + 1;
    let width_hours = (hours + MAX_BINS - 1) / MAX_BINS;
    let width = width_hours * HOUR_MS;
    let bins = ((hi - start) / width + 1) as usize;
    let mut s = Series {
        start_ms: start,
        width_ms: width,
        leaks: vec![0; bins],
        ambiguous: vec![0; bins],
        deliveries: vec![0; bins],
    };
    for (c, &t) in classes.iter().zip(ts) {
        let Some(t) = t.into() else { continue };
        if t < start || t > hi {
            continue;
        }
        let k = ((t - start) / width) as usize;
        s.deliveries[k] += 1;
        match c {
            Class::Leak => s.leaks[k] += 1,
            Class::Ambiguous => s.ambiguous[k] += 1,
            _ => {}
        }
    }
    s
}
