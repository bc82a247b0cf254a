//! Classify: gives each delivery exactly one class from its look-ups at t and at t ± tolerance.

use polars::prelude::*;

use crate::join::{SHIFT_EARLIER, SHIFT_LATER, SHIFT_NONE};
use crate::load::table::Interner;
use crate::verdict::{Class, ContentSource, Missing, Verdict};

/// The outcome of one evaluation (one shift): what was missing, or whether it was authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evaluation {
    Missing(Missing),
    Authorized(bool),
}

/// Turns the look-ups (three rows per delivery, sorted by delivery then shift) into one verdict per delivery.
pub fn classify(lookups: &DataFrame, n_deliveries: usize) -> PolarsResult<Vec<Verdict>> {
    let idx = lookups.column("idx")?.cast(&DataType::UInt64)?;
    let idx = idx.u64()?;
    let shift = lookups.column("shift")?.cast(&DataType::UInt32)?;
    let shift = shift.u32()?;
    let recipient = lookups.column("recipient")?.str()?;
    let origin = lookups.column("origin")?.str()?;
    let subject = lookups.column("subject")?.str()?;
    let granted = lookups.column("granted")?.bool()?;
    let capture = lookups.column("capture_ts")?.i64()?;
    let object = lookups.column("object")?.str()?;
    let fill = lookups.column("fill_ts")?.i64()?;
    let config = lookups.column("config")?.str()?;
    let named = lookups.column("named")?.bool()?;
    if lookups.height() != 3 * n_deliveries {
        polars_bail!(ComputeError: "expected 3 look-ups per delivery, got {} for {}", lookups.height(), n_deliveries);
    }

    let eval = |r: usize| -> Evaluation {
        let Some(rec) = recipient.get(r) else {
            return Evaluation::Missing(Missing::NoSession);
        };
        let Some(_) = origin.get(r) else {
            return Evaluation::Missing(Missing::NoContent);
        };
        let Some(subj) = subject.get(r) else {
            return Evaluation::Missing(Missing::NoOwner);
        };
        Evaluation::Authorized(rec == subj || granted.get(r).unwrap_or(false))
    };

    let mut out = Vec::with_capacity(n_deliveries);
    let mut pool = Interner::default();
    for d in 0..n_deliveries {
        let rows = [3 * d, 3 * d + 1, 3 * d + 2];
        for (k, &r) in rows.iter().enumerate() {
            if idx.get(r) != Some(d as u64) || shift.get(r) != Some(k as u32) {
                polars_bail!(ComputeError: "look-up rows out of order at delivery {d}");
            }
        }
        let now = rows[SHIFT_NONE as usize];
        let at_t = eval(now);
        let opposite = |r: usize| match (eval(r), at_t) {
            (Evaluation::Authorized(a), Evaluation::Authorized(b)) => a != b,
            _ => false,
        };
        let earlier = opposite(rows[SHIFT_EARLIER as usize]);
        let later = opposite(rows[SHIFT_LATER as usize]);
        let (class, missing, flipped) = match at_t {
            Evaluation::Missing(m) => (Class::Unresolved, Some(m), None),
            Evaluation::Authorized(_) if earlier || later => (
                Class::Ambiguous,
                None,
                Some(match (earlier, later) {
                    (true, true) => "both",
                    (true, false) => "earlier",
                    _ => "later",
                }),
            ),
            Evaluation::Authorized(true) => (Class::Ok, None, None),
            Evaluation::Authorized(false) => (Class::Leak, None, None),
        };
        let has_content = origin.get(now).is_some();
        out.push(Verdict {
            class,
            missing,
            flipped,
            recipient: recipient.get(now).map(|v| pool.intern(0, v)),
            subject: subject.get(now).map(|v| pool.intern(1, v)),
            origin_stream_id: origin.get(now).map(|v| pool.intern(2, v)),
            object_id: object.get(now).map(|v| pool.intern(3, v)),
            capture_ts: capture.get(now),
            content_source: has_content.then(|| {
                if named.get(now).unwrap_or(false) {
                    ContentSource::Delivery
                } else {
                    ContentSource::Cache
                }
            }),
            fill_ts: fill.get(now),
            config_version: config.get(now).map(|v| pool.intern(4, v)),
            granted: granted.get(now).unwrap_or(false),
        });
    }
    Ok(out)
}
