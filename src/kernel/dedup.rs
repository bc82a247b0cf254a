//! Kernel `dedup`: one bucket of deliveries, partitioned by `request_id`, de-duplicated as the
//! single-node run does it, and sent on to the content look-up by `(cache_node, cache_key)`.
//!
//! Every copy of a row shares its digest and its `request_id`, and every retry its
//! `request_id`, so all the rows de-duplication compares meet in one bucket, and the rows it
//! keeps are the rows the single-node run keeps.

use std::io::{Read, Write};

use super::received::{files_of, Received, Sender};
use super::route::{by_cache_key, send};
use super::wire::PartKind;
use crate::error::Result;
use crate::schema::Kind;

pub fn dedup(input: impl Read, buckets: u32, out: impl Write) -> Result<()> {
    let received = Received::read(input)?;
    let t = received.table(PartKind::Deliveries, Kind::Deliveries)?;
    let files = files_of(&t);
    let (kept, _) = crate::dedup::dedup(t, files);
    let bucket = by_cache_key(&kept, buckets);
    let mut sender = Sender::new(out)?;
    send(kept, &bucket, |_| PartKind::Kept, &mut |r| sender.send(r))?;
    sender.finish()
}
