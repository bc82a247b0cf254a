//! De-duplication: folds rows that are one event logged twice, and deliveries that share a request_id.

use rayon::prelude::*;

use crate::schema::Kind;
use crate::table::{Table, TextColumn};

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
        .into_par_iter()
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
        let rid_digest: Vec<u128> = (0..n)
            .into_par_iter()
            .map(|i| {
                rid.str(i)
                    .map_or(0, |r| xxhash_rust::xxh3::xxh3_128(r.as_bytes()))
            })
            .collect();
        // The sort keys travel with their row: looked up from a comparison, each was a cache
        // miss at 10^6 rows. Ids are compared only within a run of equal id digests.
        let by_rid: Vec<(u128, Option<i64>, u128, usize)> = (0..n)
            .into_par_iter()
            .filter(|&i| keep[i] && rid.get(i).is_some())
            .map(|i| (rid_digest[i], ts[i], table.digest[i], i))
            .collect();
        drop(rid_digest);
        fold_request_ids(by_rid, rid, &mut keep);
    }
    for i in 0..n {
        if !keep[i] {
            dup_per_file[table.source[i].0 as usize] += 1;
        }
    }
    let mut kept: Vec<usize> = (0..n).into_par_iter().filter(|&i| keep[i]).collect();
    if ts.is_empty() {
        let id = table.text("account_id");
        kept.par_sort_unstable_by(|&a, &b| {
            id.get(a)
                .cmp(&id.get(b))
                .then(table.digest[a].cmp(&table.digest[b]))
        });
    } else {
        let mut keyed: Vec<(Option<i64>, u128, usize)> = kept
            .par_iter()
            .map(|&i| (ts[i], table.digest[i], i))
            .collect();
        keyed.par_sort_unstable();
        kept = keyed.into_par_iter().map(|k| k.2).collect();
    }
    (table.select(&kept), dup_per_file)
}

/// Of the rows sharing a `request_id`, keeps the one with the earliest `ts`, then the smallest
/// digest. `by_rid` holds (digest of the id, ts, row digest, row) of the rows still kept.
fn fold_request_ids(
    mut by_rid: Vec<(u128, Option<i64>, u128, usize)>,
    rid: &TextColumn,
    keep: &mut [bool],
) {
    by_rid.par_sort_unstable();
    let mut start = 0;
    while start < by_rid.len() {
        let end = start
            + by_rid[start..]
                .iter()
                .take_while(|k| k.0 == by_rid[start].0)
                .count();
        let run = &mut by_rid[start..end];
        // Most ids are met once: a run of one has nothing to fold, and its id need not be read.
        if run.len() == 1 {
            start = end;
            continue;
        }
        // Two ids with one digest: the run is ordered by id first, as without digests.
        if run.iter().any(|k| rid.get(k.3) != rid.get(run[0].3)) {
            run.sort_unstable_by(|a, b| rid.get(a.3).cmp(&rid.get(b.3)).then(a.cmp(b)));
        }
        // Of each id, the earliest `ts`, then the smallest digest, stays.
        for w in run.windows(2) {
            if rid.get(w[0].3) == rid.get(w[1].3) {
                keep[w[1].3] = false;
            }
        }
        start = end;
    }
}

/// Folds each run of copies in `sorted`, where copies sit side by side, into one: the copy of
/// the first file and line (`file`) stays, so that which copy a citation names never depends on
/// input order, and every other copy is charged to its file in `dup_per_file`.
/// `copies` says whether an item is a copy of the first of the run so far.
pub fn fold_copies<T: Copy>(
    sorted: &mut Vec<T>,
    copies: impl Fn(&T, &T) -> bool,
    file: impl Fn(&T) -> (u32, u64),
    dup_per_file: &mut [u64],
) {
    let n = sorted.len();
    let (mut write, mut read) = (0, 0);
    while read < n {
        let mut end = read + 1;
        while end < n && copies(&sorted[read], &sorted[end]) {
            end += 1;
        }
        let mut kept = read;
        for i in read + 1..end {
            if file(&sorted[i]) < file(&sorted[kept]) {
                kept = i;
            }
        }
        for i in (read..end).filter(|&i| i != kept) {
            dup_per_file[file(&sorted[i]).0 as usize] += 1;
        }
        sorted[write] = sorted[kept];
        write += 1;
        read = end;
    }
    sorted.truncate(write);
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

    /// Two ids with one digest are still two ids: each keeps its own earliest row.
    #[test]
    fn request_ids_whose_digests_collide_stay_apart() {
        let rid: TextColumn = ["a", "b", "a", "b", "c"].into_iter().map(Some).collect();
        let keys = vec![
            (7, Some(30), 1, 0),
            (7, Some(10), 2, 1),
            (7, Some(20), 3, 2),
            (7, Some(40), 4, 3),
            (9, Some(5), 5, 4),
        ];
        let mut keep = vec![true; 5];
        fold_request_ids(keys, &rid, &mut keep);
        assert_eq!(keep, [false, true, true, false, true]);
    }

    /// Of each run of copies the one of the first file stays, wherever it sits in the run.
    #[test]
    fn copies_keep_the_first_file() {
        // (value, file): copies share the value.
        let mut v = vec![(1, 2), (1, 0), (1, 1), (2, 3), (3, 1), (3, 1)];
        let mut dups = vec![0; 4];
        fold_copies(&mut v, |a, b| a.0 == b.0, |x| (x.1, 0), &mut dups);
        assert_eq!(v, vec![(1, 0), (2, 3), (3, 1)]);
        assert_eq!(dups, vec![0, 2, 1, 0]);
    }
}
