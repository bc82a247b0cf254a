//! Kernel `content`: step 2 of the verdict, the content look-up, for one bucket of
//! `(cache_node, cache_key)`: its deliveries, its cache rows, every node's purges of every key,
//! and (for `infer_cache`) the fills its misses imply; sent on to the recipient look-up by
//! `session_id`.
//!
//! A delivery's content depends only on the rows of its own key and the purges of its node,
//! which is why the purges go to every bucket: without them a purge would end the fills of the
//! keys of one bucket only.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use super::received::{by_time, files_of, Received, Sender};
use super::route::by_session;
use super::wire::{halves, FoundRecord, PartKind};
use crate::classify::evidence;
use crate::error::{Error, Result};
use crate::infer::Inference;
use crate::intervals::{build_from, CacheLog};
use crate::join::{contents, Content, SHIFT_NONE};
use crate::load::Config;
use crate::schema::Kind;
use crate::table::{Table, Text};

pub fn content(config: &Config, input: impl Read, buckets: u32, out: impl Write) -> Result<()> {
    let settings = &config.settings;
    let received = Received::read(input)?;
    let kept = by_time(received.table(PartKind::Kept, Kind::Deliveries)?);
    let mut cache = received.table(PartKind::Cache, Kind::Cache)?;
    cache.append(received.table(PartKind::Purges, Kind::Cache)?);
    let files = files_of(&cache);
    let (mut log, _, _) = CacheLog::from_table(cache, files)?;
    let timeline = |e| Error::timeline("looking up contents", e);
    // Which nodes the cache log names decides which nodes' misses imply fills: the whole log's,
    // not this bucket's keys'.
    let named: BTreeSet<String> = received.records(PartKind::Nodes)?.into_iter().collect();
    for node in named {
        log.nodes.code(&Text::from(node)).map_err(timeline)?;
    }
    if settings.infer_cache {
        let mut inference = Inference::new(&log);
        inference
            .add(&mut log, &kept, 0..kept.len())
            .map_err(timeline)?;
        inference.finish(&mut log, settings.cache_ttl_ms);
    }
    let tl = build_from(
        &Table::new(Kind::Sessions),
        &Table::new(Kind::Ownership),
        log,
        settings.session_ttl_ms,
        false,
    )
    .map_err(timeline)?;
    let found = contents(&kept, 0..kept.len(), &tl, settings.tolerance_ms);
    let (own_origin, own_object) = (kept.text("origin_stream_id"), kept.text("object_id"));
    let (ts, session) = (kept.time("ts"), kept.text("session_id"));
    let mut records = Vec::with_capacity(kept.len());
    for (i, f) in found.iter().enumerate() {
        let Some(t) = ts[i] else {
            return Err(Error::internal(
                "looking up contents",
                "a delivery without ts",
            ));
        };
        let origin_text = |content: Content, origin: Option<u32>| -> Result<Option<Text>> {
            match (content, origin) {
                (Content::Named { .. }, _) => Ok(own_origin.get(i).cloned()),
                (Content::Cached { .. }, None) => Ok(None),
                (Content::Cached { .. }, Some(code)) => match tl.codes.streams.value(code) {
                    Some(t) => Ok(Some(t.clone())),
                    None => Err(Error::internal(
                        "looking up contents",
                        format!("stream code {code} names no stream"),
                    )),
                },
            }
        };
        let mut texts: [Option<(Option<Text>, i64)>; 3] = [None, None, None];
        for (k, slot) in texts.iter_mut().enumerate() {
            if let Some(x) = f.found[k] {
                *slot = Some((origin_text(x.content, x.origin)?, x.capture_ts));
            }
        }
        let content = f.found[SHIFT_NONE].map(|x| x.content);
        records.push(FoundRecord {
            ts: t,
            digest: halves(kept.digest[i]),
            session: session.get(i).cloned(),
            found: texts,
            cites: f.cites,
            evidence: evidence(content, own_origin.get(i), own_object.get(i), &tl)
                .map_err(timeline)?,
        });
    }
    let bucket = by_session(
        records
            .iter()
            .map(|r| r.session.as_deref().map(str::to_string)),
        buckets,
    );
    let mut sender = Sender::new(out)?;
    sender.records(records, &bucket, PartKind::Found)?;
    sender.finish()
}
