//! Classify: gives each delivery exactly one class from its look-ups at t and at t ± tolerance.

use std::ops::Range;

use rayon::prelude::*;

use serde::{Deserialize, Serialize};

use crate::codes::{Codes, Dictionary};
use crate::intervals::Timelines;
use crate::join::{Content, Resolved, SHIFT_NONE};
use crate::table::{Table, Text};
use crate::timeline::TimelineError;
use crate::verdict::{ContentSource, Verdict};

/// Turns the look-ups of deliveries `rows` (one [`Resolved`] per row, in row order) into one
/// verdict per delivery, its class decided by [`crate::verdict::decide`] (and
/// [`crate::verdict::decide_between`] where owners come from registry snapshots). Identifiers come back from the
/// timelines' codes; content the delivery named itself keeps the delivery's own origin and object.
pub fn classify(
    resolved: &[Resolved],
    deliveries: &Table,
    rows: Range<usize>,
    tl: &Timelines,
) -> Result<Vec<Verdict>, TimelineError> {
    if resolved.len() != rows.len() {
        return Err(TimelineError::LookupsPerDelivery(
            resolved.len(),
            rows.len(),
        ));
    }
    let own_origin = deliveries.text("origin_stream_id");
    let own_object = deliveries.text("object_id");
    let first = rows.start;
    let verdict = |(d, r): (usize, &Resolved)| -> Result<Verdict, TimelineError> {
        let row = first + d;
        let content = evidence(r.content, own_origin.get(row), own_object.get(row), tl)?;
        verdict(r, content, &tl.codes)
    };
    // Deliveries are independent; a block is classified on every core.
    resolved.par_iter().enumerate().map(verdict).collect()
}

/// What the content at t was and where it came from, for a delivery whose own origin and object
/// are `own_origin` and `own_object`: the delivery's own identifiers, which need not appear in
/// any timeline and so are not taken from codes, or the cache's fill.
pub fn evidence(
    content: Option<Content>,
    own_origin: Option<&Text>,
    own_object: Option<&Text>,
    tl: &Timelines,
) -> Result<Evidence, TimelineError> {
    Ok(match content {
        None => Evidence::default(),
        Some(Content::Named { capture_ts }) => Evidence {
            origin: own_origin.cloned(),
            object: own_object.cloned(),
            capture_ts: Some(capture_ts),
            source: Some(ContentSource::Delivery),
            ..Evidence::default()
        },
        Some(Content::Cached { entry }) => {
            let held = tl.cache.event(entry);
            let Some((fill_ts, e)) =
                held.and_then(|(ts, h)| Some((ts, tl.fills.entry(h.fill()?)?)))
            else {
                return Err(TimelineError::NoSuchEvent(entry));
            };
            Evidence {
                origin: value(&tl.codes.streams, e.origin)?,
                object: e.object.map(Text::from),
                capture_ts: Some(e.captured.unwrap_or(fill_ts)),
                source: e.origin.is_some().then_some(match e.inferred {
                    true => ContentSource::Inferred,
                    false => ContentSource::Cache,
                }),
                fill_ts: Some(fill_ts),
                config: value(&tl.codes.configs, e.config)?,
            }
        }
    })
}

/// The verdict of one delivery from its look-ups, decided by [`Resolved::decision`], with the
/// evidence of its content and the rows it cites; accounts come back from `codes`.
pub fn verdict(r: &Resolved, content: Evidence, codes: &Codes) -> Result<Verdict, TimelineError> {
    let now = &r.at[SHIFT_NONE];
    let decision = r.decision();
    Ok(Verdict {
        class: decision.class(),
        missing: decision.missing(),
        flipped: decision.flip(),
        recipient: value(&codes.accounts, now.recipient)?,
        subject: value(&codes.accounts, now.subject)?,
        origin_stream_id: content.origin,
        object_id: content.object,
        capture_ts: content.capture_ts,
        content_source: content.source,
        fill_ts: content.fill_ts,
        config_version: content.config,
        granted: now.granted,
        cites: r.cites.clone(),
    })
}

/// A verdict's evidence of its content at t.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub origin: Option<Text>,
    pub object: Option<Text>,
    pub capture_ts: Option<i64>,
    pub source: Option<ContentSource>,
    pub fill_ts: Option<i64>,
    pub config: Option<Text>,
}

/// The identifier behind a code a look-up returned.
fn value(dict: &Dictionary, code: Option<u32>) -> Result<Option<Text>, TimelineError> {
    match code {
        None => Ok(None),
        Some(c) => match dict.value(c) {
            Some(t) => Ok(Some(t.clone())),
            None => Err(TimelineError::UnknownCode(c)),
        },
    }
}
