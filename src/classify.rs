//! Classify: gives each delivery exactly one class from its look-ups at t and at t ± tolerance.

use std::ops::Range;

use polars::prelude::*;
use rayon::prelude::*;

use crate::codes::Dictionary;
use crate::join::{SHIFT_EARLIER, SHIFT_LATER, SHIFT_NONE};
use crate::table::{Table, Text};
use crate::verdict::{decide, ContentSource, Lookup, Verdict};

/// Turns the look-ups of deliveries `rows` (three rows per delivery, sorted by delivery then shift) into
/// one verdict per delivery, its class decided by [`decide`]. Identifiers come back from `codes`; content the delivery named itself keeps
/// the delivery's own origin and object id.
pub fn classify(
    lookups: &DataFrame,
    deliveries: &Table,
    rows: Range<usize>,
    codes: &Dictionary,
) -> PolarsResult<Vec<Verdict>> {
    let n_deliveries = rows.len();
    let own_origin = &deliveries.text("origin_stream_id")[rows.clone()];
    let own_object = &deliveries.text("object_id")[rows];
    // One chunk per column: reading row r of a chunked array otherwise searches its chunks first.
    let column = |name: &str| -> PolarsResult<Series> {
        Ok(lookups.column(name)?.as_materialized_series().rechunk())
    };
    let idx = column("idx")?.cast(&DataType::UInt64)?;
    let idx = idx.u64()?;
    let shift = column("shift")?.cast(&DataType::UInt32)?;
    let shift = shift.u32()?;
    let (recipient, origin, subject) =
        (column("recipient")?, column("origin")?, column("subject")?);
    let (recipient, origin, subject) = (recipient.u32()?, origin.u32()?, subject.u32()?);
    let (granted, named) = (column("granted")?, column("named")?);
    let (granted, named) = (granted.bool()?, named.bool()?);
    let (capture, fill) = (column("capture_ts")?, column("fill_ts")?);
    let (capture, fill) = (capture.i64()?, fill.i64()?);
    let (object, config) = (column("object")?, column("config")?);
    let (object, config) = (object.u32()?, config.u32()?);
    if lookups.height() != 3 * n_deliveries {
        polars_bail!(ComputeError: "expected 3 look-ups per delivery, got {} for {}", lookups.height(), n_deliveries);
    }

    // Accounts are codes of one dictionary, so equal codes are equal accounts.
    let lookup = |r: usize| Lookup {
        recipient: recipient.get(r),
        content: origin.get(r).is_some(),
        subject: subject.get(r),
        granted: granted.get(r).unwrap_or(false),
    };

    let value = |code: Option<u32>| -> PolarsResult<Option<Text>> {
        match code {
            None => Ok(None),
            Some(c) => match codes.value(c) {
                Some(t) => Ok(Some(t.clone())),
                None => {
                    polars_bail!(ComputeError: "look-up returned code {c}, which no timeline gave out")
                }
            },
        }
    };

    let verdict = |d: usize| -> PolarsResult<Verdict> {
        let rows = [3 * d, 3 * d + 1, 3 * d + 2];
        for (k, &r) in rows.iter().enumerate() {
            if idx.get(r) != Some(d as u64) || shift.get(r) != Some(k as u32) {
                polars_bail!(ComputeError: "look-up rows out of order at delivery {d}");
            }
        }
        let now = rows[SHIFT_NONE as usize];
        let decision = decide(
            &lookup(now),
            &lookup(rows[SHIFT_EARLIER as usize]),
            &lookup(rows[SHIFT_LATER as usize]),
        );
        let has_content = origin.get(now).is_some();
        let is_named = named.get(now).unwrap_or(false);
        // The delivery's own identifiers need not appear in any timeline, so they are not taken from codes.
        let (origin_stream_id, object_id) = if is_named {
            (own_origin[d].clone(), own_object[d].clone())
        } else {
            (value(origin.get(now))?, value(object.get(now))?)
        };
        Ok(Verdict {
            class: decision.class(),
            missing: decision.missing(),
            flipped: decision.flip(),
            recipient: value(recipient.get(now))?,
            subject: value(subject.get(now))?,
            origin_stream_id,
            object_id,
            capture_ts: capture.get(now),
            content_source: has_content.then_some(if is_named {
                ContentSource::Delivery
            } else {
                ContentSource::Cache
            }),
            fill_ts: fill.get(now),
            config_version: value(config.get(now))?,
            granted: granted.get(now).unwrap_or(false),
        })
    };
    // Deliveries are independent; a block is classified on every core.
    (0..n_deliveries).into_par_iter().map(verdict).collect()
}
