//! Kernel `route`: one input file's staged rows sent to the buckets of the shuffles that follow,
//! each row to the bucket of the key its next look-up is partitioned by.
//!
//! Deliveries go to de-duplication by `request_id` (by the row's digest where it has none), so
//! that every copy of a delivery meets its others. Cache rows go to the content look-up by
//! `(cache_node, cache_key)`, except the rows of key `*` (a node's purge of every key), which
//! every bucket needs, and so does the list of nodes the cache log names: both go to
//! [`EVERY_BUCKET`], and the driver sends a copy to each bucket. Session rows go to the recipient
//! look-up by `session_id`; ownership rows, which every recipient look-up needs, to every bucket.
//! Other kinds are the driver's alone.

use std::collections::BTreeSet;
use std::io::{Read, Write};

use super::wire::{
    decode, encode, PartKind, PartReader, Routed, RoutedWriter, TableRecord, EVERY_BUCKET,
    PART_ROWS,
};
use crate::error::{Error, Result};
use crate::schema::Kind;
use crate::table::{ColumnData, Table, TextColumn};

/// The bucket, of `buckets`, of a key's bytes: the same on every machine and in every run.
pub fn bucket_of(key: &[u8], buckets: u32) -> i32 {
    let b = xxhash_rust::xxh3::xxh3_64(key) % u64::from(buckets.max(1));
    // Below `buckets`, a u32: always an i32 for a bucket count Spark accepts.
    i32::try_from(b).unwrap_or(i32::MAX)
}

/// The delivery columns the look-ups read: de-duplication, the content look-up, the fills misses
/// imply, and the session the recipient look-up is partitioned by. The others reach the driver
/// in the staged parts, not through the shuffles.
const LOOKED_UP: &[&str] = &[
    "ts",
    "request_id",
    "session_id",
    "requested_stream_id",
    "cache_node",
    "cache_key",
    "cache_status",
    "origin_stream_id",
    "object_id",
    "captured_at",
];

/// Deliveries `t` with only the columns the look-ups read; the others empty, the extra ones gone.
/// Each row keeps its digest and place, which name it to the driver.
pub fn for_look_ups(mut t: Table) -> Table {
    let n = t.len();
    for (c, data) in t.kind.columns().iter().zip(t.columns.iter_mut()) {
        if LOOKED_UP.contains(&c.name) {
            continue;
        }
        *data = match data {
            ColumnData::Text(_) => {
                let mut empty = TextColumn::new();
                empty.reserve(n);
                (0..n).for_each(|_| empty.push(None));
                ColumnData::Text(empty)
            }
            ColumnData::Enum(_) => ColumnData::Enum(vec![None; n]),
            ColumnData::Time(_) => ColumnData::Time(vec![None; n]),
            ColumnData::Num(_) => ColumnData::Num(vec![None; n]),
            ColumnData::Bool(_) => ColumnData::Bool(vec![None; n]),
        };
    }
    t.extra.clear();
    t
}

/// The bucket of each delivery for de-duplication: of its `request_id`, else of its digest.
pub fn by_request(t: &Table, buckets: u32) -> Vec<i32> {
    let rid = t.text("request_id");
    (0..t.len())
        .map(|i| match rid.str(i) {
            Some(r) => bucket_of(r.as_bytes(), buckets),
            None => bucket_of(&t.digest[i].to_le_bytes(), buckets),
        })
        .collect()
}

/// The bucket of each row of deliveries or cache rows for the content look-up.
pub fn by_cache_key(t: &Table, buckets: u32) -> Vec<i32> {
    let (node, key) = (t.text("cache_node"), t.text("cache_key"));
    let mut bytes = Vec::new();
    (0..t.len())
        .map(|i| {
            bytes.clear();
            bytes.extend_from_slice(node.str(i).unwrap_or("").as_bytes());
            // A separator no identifier holds keeps ("ab", "c") and ("a", "bc") apart.
            bytes.push(0);
            bytes.extend_from_slice(key.str(i).unwrap_or("").as_bytes());
            bucket_of(&bytes, buckets)
        })
        .collect()
}

/// The bucket of each row by its `session_id`.
pub fn by_session(sessions: impl Iterator<Item = Option<String>>, buckets: u32) -> Vec<i32> {
    sessions
        .map(|s| bucket_of(s.as_deref().unwrap_or("").as_bytes(), buckets))
        .collect()
}

/// Sends rows of `t` to the bucket `bucket[i]` says, as parts of the kind `kind` gives for
/// the bucket, of at most [`PART_ROWS`] rows, in bucket order.
pub fn send(
    t: Table,
    bucket: &[i32],
    kind: impl Fn(i32) -> PartKind,
    out: &mut impl FnMut(Routed) -> Result<()>,
) -> Result<()> {
    let mut order: Vec<usize> = (0..t.len()).collect();
    order.sort_by_key(|&i| (bucket[i], i));
    let buckets: Vec<i32> = order.iter().map(|&i| bucket[i]).collect();
    let t = t.select(&order);
    let mut start = 0;
    while start < t.len() {
        let b = buckets[start];
        let same = buckets[start..].iter().take_while(|&&x| x == b).count();
        let end = start + same.min(PART_ROWS);
        out(Routed {
            bucket: b,
            kind: kind(b),
            bytes: encode(&TableRecord::of(&t, start..end)),
        })?;
        start = end;
    }
    Ok(())
}

/// Routes the rows of one file's parts, read from `input`, into `buckets` buckets, written to
/// `out` as one stream of routed rows.
pub fn route(input: impl Read, buckets: u32, out: impl Write) -> Result<()> {
    let unreadable = |e: String| Error::internal("reading a file's parts", e);
    let failed = |e| Error::polars("writing the routed rows", e);
    let mut parts = PartReader::new(input).map_err(unreadable)?;
    let mut w = RoutedWriter::new(out).map_err(failed)?;
    let mut write = |r: Routed| w.write(&r).map_err(failed);
    let mut nodes = BTreeSet::new();
    while let Some(p) = parts.next_part().map_err(unreadable)? {
        if !matches!(p.kind, PartKind::Rows | PartKind::Table) {
            continue;
        }
        let record = decode::<TableRecord>(&p.bytes).map_err(unreadable)?;
        let kind = record.kind();
        let t = record.into_table(kind).map_err(unreadable)?;
        match kind {
            Kind::Deliveries => {
                let t = for_look_ups(t);
                let b = by_request(&t, buckets);
                send(t, &b, |_| PartKind::Deliveries, &mut write)?;
            }
            Kind::Cache => {
                let key = t.text("cache_key");
                let node = t.text("cache_node");
                nodes.extend((0..t.len()).filter_map(|i| node.str(i).map(str::to_string)));
                let b: Vec<i32> = by_cache_key(&t, buckets)
                    .into_iter()
                    .enumerate()
                    .map(|(i, b)| match key.str(i) {
                        Some("*") => EVERY_BUCKET,
                        _ => b,
                    })
                    .collect();
                // A node's purges of every key travel apart from the rows of one key, so that
                // the driver can send them to every bucket.
                send(t, &b, cache_part, &mut write)?;
            }
            Kind::Sessions => {
                let s = t.text("session_id");
                let b = by_session((0..t.len()).map(|i| s.str(i).map(str::to_string)), buckets);
                send(t, &b, |_| PartKind::Sessions, &mut write)?;
            }
            Kind::Ownership => {
                let b = vec![EVERY_BUCKET; t.len()];
                send(t, &b, |_| PartKind::Ownership, &mut write)?;
            }
            _ => {}
        }
    }
    if !nodes.is_empty() {
        let nodes: Vec<String> = nodes.into_iter().collect();
        write(Routed {
            bucket: EVERY_BUCKET,
            kind: PartKind::Nodes,
            bytes: encode(&nodes),
        })?;
    }
    w.finish().map_err(failed)
}

/// Cache rows of bucket `b`: a node's purges of every key where it is every bucket.
fn cache_part(b: i32) -> PartKind {
    match b {
        EVERY_BUCKET => PartKind::Purges,
        _ => PartKind::Cache,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::wire::{read_routed, write_parts, Part};
    use crate::load::table_from_csv;

    fn routed(t: &Table, buckets: u32) -> Vec<Routed> {
        let part = Part {
            file: 0,
            seq: 0,
            kind: PartKind::Rows,
            bytes: encode(&TableRecord::of(t, 0..t.len())),
        };
        let mut parts = Vec::new();
        write_parts(&[part], &mut parts).unwrap();
        let mut out = Vec::new();
        route(parts.as_slice(), buckets, &mut out).unwrap();
        read_routed(out.as_slice()).unwrap()
    }

    fn rows(r: &Routed) -> Table {
        let rec = decode::<TableRecord>(&r.bytes).unwrap();
        let kind = rec.kind();
        rec.into_table(kind).unwrap()
    }

    /// A key's bucket is a function of its bytes alone: the values every machine computes.
    #[test]
    fn buckets_are_the_same_everywhere() {
        assert_eq!(bucket_of(b"r-1", 7), bucket_of(b"r-1", 7));
        assert_eq!(bucket_of(b"anything", 1), 0);
        let spread: BTreeSet<i32> = (0..200)
            .map(|i| bucket_of(format!("r-{i}").as_bytes(), 7))
            .collect();
        assert_eq!(spread, (0..7).collect());
    }

    /// Cache rows go to the bucket of their key, a node's purges of every key and the list of
    /// logged nodes to every bucket.
    #[test]
    fn purges_of_every_key_and_the_nodes_go_to_every_bucket() {
        let t = table_from_csv(
            Kind::Cache,
            "ts,cache_node,cache_key,op,object_id,origin_stream_id\n\
             10,n,k1,fill,o1,cam\n10,n,k2,fill,o2,cam\n10,m,k1,fill,o3,cam\n\
             20,n,*,purge,,\n30,m,k1,evict,,\n",
            0,
        );
        let want = by_cache_key(&t, 5);
        let out = routed(&t, 5);
        let purges: Vec<&Routed> = out.iter().filter(|r| r.kind == PartKind::Purges).collect();
        assert_eq!(purges.len(), 1);
        assert_eq!(purges[0].bucket, EVERY_BUCKET);
        assert_eq!(rows(purges[0]).source, vec![t.source[3]]);
        let mut keyed = 0;
        for r in out.iter().filter(|r| r.kind == PartKind::Cache) {
            let got = rows(r);
            for s in &got.source {
                let i = t.source.iter().position(|x| x == s).unwrap();
                assert_eq!(want[i], r.bucket);
                keyed += 1;
            }
        }
        assert_eq!(keyed, 4);
        let nodes: Vec<&Routed> = out.iter().filter(|r| r.kind == PartKind::Nodes).collect();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].bucket, EVERY_BUCKET);
        assert_eq!(decode::<Vec<String>>(&nodes[0].bytes).unwrap(), ["m", "n"]);
    }

    /// Deliveries go by request id (copies and retries together), by digest without one;
    /// ownership to every bucket; changes nowhere.
    #[test]
    fn deliveries_by_request_id_and_ownership_everywhere() {
        let d = table_from_csv(
            Kind::Deliveries,
            "ts,request_id,session_id,requested_stream_id,cache_node,cache_key,cache_status\n\
             1,r1,s,cam,n,k,hit\n2,r1,s,cam,n2,k,hit\n3,,s,cam,n,k,hit\n",
            0,
        );
        let out = routed(&d, 16);
        let b = by_request(&d, 16);
        assert_eq!(b[0], b[1]);
        assert_eq!(b[2], bucket_of(&d.digest[2].to_le_bytes(), 16));
        assert!(out.iter().all(|r| r.kind == PartKind::Deliveries));
        assert_eq!(out.iter().map(|r| rows(r).len()).sum::<usize>(), 3);
        let o = table_from_csv(
            Kind::Ownership,
            "ts,stream_id,account_id,event\n0,cam,alice,bind\n",
            1,
        );
        let out = routed(&o, 16);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].bucket, out[0].kind),
            (EVERY_BUCKET, PartKind::Ownership)
        );
        let c = table_from_csv(Kind::Changes, "ts,component,kind\n0,cache,deploy\n", 2);
        assert!(routed(&c, 16).is_empty());
    }
}
