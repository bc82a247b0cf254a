//! De-duplication: folds rows that are one event logged twice, and deliveries that share a request_id.

use rayon::prelude::*;

use crate::schema::Kind;
use crate::table::Table;

/// Keeps one row per event and returns how many rows each input file lost as duplicates.
///
/// Exact duplicates keep the copy from the first file and line (the copies are
/// equal, so only the per-file tally depends on it). Deliveries sharing a
/// `request_id` keep the earliest `ts`, then the smallest digest: a choice that
/// depends on content only, never on file order. The result is sorted by
/// time, then digest, so every later stage sees one order whatever the input.
pub fn dedup(table: Table, n_files: usize) -> (Table, Vec<u64>) {
    let n = table.len();
    let mut dup_per_file = vec![0u64; n_files];
    // Keys sorted with their row, not rows sorted by looking their keys up: at 10^7 rows every
    // look-up from a comparison was a cache miss.
    let mut order: Vec<(u128, (u32, u64), usize)> = (0..n)
        .map(|i| (table.digest[i], table.source[i], i))
        .collect();
    order.par_sort_unstable();
    let mut keep = vec![true; n];
    for w in order.windows(2) {
        if w[0].0 == w[1].0 {
            keep[w[1].2] = false;
        }
    }
    drop(order);
    let ts = table.time("ts");
    if table.kind == Kind::Deliveries {
        let rid = table.text("request_id");
        // Sorting by a digest of the id keeps equal ids together with integer compares;
        // the ids themselves break digest ties, so a collision can never merge two ids.
        let rid_digest: Vec<u128> = rid
            .par_iter()
            .map(|r| {
                r.as_deref()
                    .map_or(0, |r| xxhash_rust::xxh3::xxh3_128(r.as_bytes()))
            })
            .collect();
        let mut by_rid: Vec<usize> = (0..n).filter(|&i| keep[i] && rid[i].is_some()).collect();
        by_rid.par_sort_unstable_by(|&a, &b| {
            rid_digest[a]
                .cmp(&rid_digest[b])
                .then_with(|| rid[a].cmp(&rid[b]))
                .then(ts[a].cmp(&ts[b]))
                .then(table.digest[a].cmp(&table.digest[b]))
        });
        for w in by_rid.windows(2) {
            if rid[w[0]] == rid[w[1]] {
                keep[w[1]] = false;
            }
        }
    }
    for i in 0..n {
        if !keep[i] {
            dup_per_file[table.source[i].0 as usize] += 1;
        }
    }
    let mut kept: Vec<usize> = (0..n).filter(|&i| keep[i]).collect();
    if ts.is_empty() {
        let id = table.text("account_id");
        kept.par_sort_unstable_by(|&a, &b| {
            id[a]
                .cmp(&id[b])
                .then(table.digest[a].cmp(&table.digest[b]))
        });
    } else {
        let mut keyed: Vec<(Option<i64>, u128, usize)> =
            kept.iter().map(|&i| (ts[i], table.digest[i], i)).collect();
        keyed.par_sort_unstable();
        kept = keyed.into_iter().map(|k| k.2).collect();
    }
    (table.select(&kept), dup_per_file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::table_from_csv;

    fn table(kind: Kind, csv: &str, file: u32) -> Table {
        table_from_csv(kind, csv, file)
    }

    #[test]
    fn exact_and_request_id_duplicates() {
        let h = "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,request_id\n";
        let mut t = table(
            Kind::Deliveries,
            &format!("{h}2000,s,c,n,k,hit,r1\n1000,s,c,n,k,hit,r2\n1000,s,c,n,k,HIT,r2\n"),
            0,
        );
        t.append(table(
            Kind::Deliveries,
            &format!("{h}1500,s,c,n,k,miss,r1\n3000,s,c,n,k,hit,\n3000,s,c,n,k,hit,\n"),
            1,
        ));
        let (kept, dups) = dedup(t, 2);
        assert_eq!(dups, vec![2, 1]);
        assert_eq!(kept.time("ts"), &[Some(1000), Some(1500), Some(3000)]);
        assert_eq!(
            kept.enums::<crate::schema::CacheStatus>("cache_status")[1],
            Some(crate::schema::CacheStatus::Miss)
        );
    }
}
