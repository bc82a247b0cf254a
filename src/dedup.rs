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
    let digest = &table.digest;
    let mut keep = vec![true; n];
    // Sorted by the digest's high half with their row (keys travel with their row: at 10^7 rows
    // a key looked up from a comparison was a cache miss); 16 bytes a row sort about twice as
    // fast as the whole digest and source. Only rows whose halves meet are compared whole.
    let mut order: Vec<(u64, usize)> = (0..n)
        .into_par_iter()
        .map(|i| (high(digest[i]), i))
        .collect();
    order.par_sort_unstable();
    for run in order.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
        let mut whole: Vec<(u128, (u32, u64), usize)> = run
            .iter()
            .map(|&(_, i)| (digest[i], table.source[i], i))
            .collect();
        whole.sort_unstable();
        // Of each set of copies, the one of the first file and line stays.
        for w in whole.windows(2) {
            if w[0].0 == w[1].0 {
                keep[w[1].2] = false;
            }
        }
    }
    drop(order);
    let ts = table.time("ts");
    if table.kind == Kind::Deliveries {
        let rid = table.text("request_id");
        // Sorting by a hash of the id keeps equal ids together with integer compares; the ids
        // themselves part hashes that meet, so a collision can never merge two ids.
        let by_rid: Vec<(u64, usize)> = (0..n)
            .into_par_iter()
            .filter(|&i| keep[i])
            .filter_map(|i| Some((xxhash_rust::xxh3::xxh3_64(rid.str(i)?.as_bytes()), i)))
            .collect();
        fold_request_ids(
            by_rid,
            rid,
            |i| (ts.get(i).copied().flatten(), digest[i]),
            &mut keep,
        );
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
            id.get(a).cmp(&id.get(b)).then(digest[a].cmp(&digest[b]))
        });
    } else {
        kept = by_time(&kept, ts, digest);
    }
    (table.select(&kept), dup_per_file)
}

fn high(d: u128) -> u64 {
    (d >> 64) as u64
}

/// `rows` ordered by `ts` (absent first), then digest. Digests are distinct once copies are
/// folded, so that is a total order. Sorted by the time and the digest's high half (24 bytes a
/// row rather than 40); rows whose time and half meet are ordered by the whole digest.
fn by_time(rows: &[usize], ts: &[Option<i64>], digest: &[u128]) -> Vec<usize> {
    let mut untimed: Vec<(u128, usize)> = rows
        .iter()
        .filter(|&&i| ts[i].is_none())
        .map(|&i| (digest[i], i))
        .collect();
    untimed.sort_unstable();
    let mut timed: Vec<(i64, u64, usize)> = rows
        .par_iter()
        .filter_map(|&i| Some((ts[i]?, high(digest[i]), i)))
        .collect();
    timed.par_sort_unstable();
    for run in timed.chunk_by_mut(|a, b| (a.0, a.1) == (b.0, b.1)) {
        if run.len() > 1 {
            run.sort_unstable_by_key(|k| (digest[k.2], k.2));
        }
    }
    untimed
        .into_iter()
        .map(|k| k.1)
        .chain(timed.into_iter().map(|k| k.2))
        .collect()
}

/// Of the rows sharing a `request_id`, keeps the one with the earliest `ts`, then the smallest
/// digest (`order` gives both). `by_rid` holds (hash of the id, row) of the rows still kept.
fn fold_request_ids(
    mut by_rid: Vec<(u64, usize)>,
    rid: &TextColumn,
    order: impl Fn(usize) -> (Option<i64>, u128),
    keep: &mut [bool],
) {
    by_rid.par_sort_unstable();
    // Most ids are met once: a run of one has nothing to fold, and its id need not be read.
    for run in by_rid.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
        let mut rows: Vec<usize> = run.iter().map(|k| k.1).collect();
        // Two ids with one hash are two ids: ordered by id first.
        rows.sort_unstable_by(|&a, &b| {
            rid.get(a)
                .cmp(&rid.get(b))
                .then(order(a).cmp(&order(b)))
                .then(a.cmp(&b))
        });
        for w in rows.windows(2) {
            if rid.get(w[0]) == rid.get(w[1]) {
                keep[w[1]] = false;
            }
        }
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
        let ts = [30, 10, 20, 40, 5];
        let keys = vec![(7, 0), (7, 1), (7, 2), (7, 3), (9, 4)];
        let mut keep = vec![true; 5];
        fold_request_ids(keys, &rid, |i| (Some(ts[i]), i as u128), &mut keep);
        assert_eq!(keep, [false, true, true, false, true]);
    }

    /// Digests whose high halves meet are told apart by the whole: in the order by time and as
    /// copies.
    #[test]
    fn digests_sharing_a_high_half_stay_apart() {
        let d = |hi: u128, lo: u128| (hi << 64) | lo;
        let digest = [d(5, 9), d(5, 2), d(1, 0), d(5, 4), d(7, 7)];
        let ts = [Some(10), Some(10), Some(10), Some(3), None];
        assert_eq!(by_time(&[0, 1, 2, 3, 4], &ts, &digest), [4, 3, 2, 1, 0]);
        let h = "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status\n";
        let mut t = table(
            Kind::Deliveries,
            &format!("{h}1,s,c,n,k,hit\n2,s,c,n,k,hit\n3,s,c,n,k,hit\n"),
            0,
        );
        t.digest = vec![d(5, 1), d(5, 2), d(5, 1)];
        let (kept, dups) = dedup(t, 1);
        assert_eq!((kept.time("ts"), dups), (&[Some(1), Some(2)][..], vec![1]));
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
