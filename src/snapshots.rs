//! Ownership from registry snapshots: who owned each stream at each snapshot time, turned into
//! an owners timeline whose every change sits at the snapshot that first shows it, and a doubt
//! timeline over the span since the snapshot before, in which the change is only known to lie.
//!
//! A snapshot at T shows the state at T (every change with ts <= T). A stream a snapshot does
//! not list had no owner then. Between two snapshots that show different owners, the change
//! happened at some instant in (earlier, later]: the owners timeline gives the earlier owner up to
//! the later snapshot, and the doubt timeline names the later owner for every instant strictly
//! between the two, the look-ups whose answer depends on where in the span the change lies.

use rayon::prelude::*;

use crate::codes::Codes;
use crate::table::Table;
use crate::timeline::{Timeline, TimelineError};

/// Whether a stream's owner at an instant is the one the owners timeline gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doubt {
    /// It is: a snapshot shows it, and no change lies between that snapshot and the next.
    Settled,
    /// Between two snapshots that show different owners: the owner the timeline gives (the
    /// earlier snapshot's) or this one (the later's, `None`: unbound) held the stream.
    Between(Option<u32>),
}

/// The owners a snapshot log gives, keyed by stream code.
pub struct SnapshotOwners {
    pub owners: Timeline<Option<u32>>,
    pub doubt: Timeline<Doubt>,
    /// (stream, snapshot) pairs that listed more than one owner: not read, so the span of doubt
    /// runs from the snapshot before them to the one after.
    pub conflicts: usize,
}

/// Reads a snapshot log (its rows: ts, stream_id, account_id; each an owner at a snapshot).
pub fn snapshot_owners(t: &Table, codes: &mut Codes) -> Result<SnapshotOwners, TimelineError> {
    let (ts, stream, acct) = (t.time("ts"), t.text("stream_id"), t.text("account_id"));
    let mut rows: Vec<(u32, i64, u32)> = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        let (Some(ts), Some(s), Some(a)) = (ts[i], stream.get(i), acct.get(i)) else {
            continue;
        };
        rows.push((codes.streams.code(s)?, ts, codes.accounts.code(a)?));
    }
    rows.par_sort_unstable();
    rows.dedup();
    let mut times: Vec<i64> = rows.iter().map(|r| r.1).collect();
    times.par_sort_unstable();
    times.dedup();

    let mut owners = Vec::new();
    let mut doubt = Vec::new();
    let mut conflicts = 0;
    for listed in rows.chunk_by(|a, b| a.0 == b.0) {
        let (known, c) = known_states(listed, &times);
        conflicts += c;
        let s = listed[0].0;
        let mut before: Option<(i64, Option<u32>)> = None;
        for (q, owner) in known {
            match before {
                // Before the stream's first known state nothing is known of it; an owner the
                // first snapshot shows is bound from there.
                None if owner.is_some() => owners.push((s, q, owner)),
                Some((p, was)) if was != owner => {
                    owners.push((s, q, owner));
                    let from = p.saturating_add(1);
                    if from < q {
                        doubt.push((s, from, Doubt::Between(owner)));
                        doubt.push((s, q, Doubt::Settled));
                    }
                }
                _ => {}
            }
            before = Some((q, owner));
        }
    }
    Ok(SnapshotOwners {
        owners: Timeline::from_sorted(codes.streams.len(), owners)?,
        doubt: Timeline::from_sorted(codes.streams.len(), doubt)?,
        conflicts,
    })
}

/// One stream's known owner at each snapshot where it changes or could have (`None`: the
/// snapshot did not list it), in time order, from its rows (stream, ts, account; sorted, no two
/// alike) and every snapshot time of the log; with the number of its snapshots that listed more
/// than one owner, which are left out.
fn known_states(listed: &[(u32, i64, u32)], times: &[i64]) -> (Vec<(i64, Option<u32>)>, usize) {
    let after = |t: i64| times.get(times.partition_point(|&x| x <= t)).copied();
    let before = |t: i64| times[..times.partition_point(|&x| x < t)].last().copied();
    let mut known = Vec::new();
    let mut conflicts = 0;
    let mut last: Option<i64> = None;
    for at in listed.chunk_by(|a, b| a.1 == b.1) {
        let t = at[0].1;
        // Snapshots between the last one that listed the stream and this one did not: it had no
        // owner from the first of them to the last.
        if let Some(p) = before(t).filter(|&p| last.is_none_or(|l| l < p)) {
            if let Some(n) = last.and_then(after).filter(|&n| n < p) {
                known.push((n, None));
            }
            known.push((p, None));
        }
        if at.len() == 1 {
            known.push((t, Some(at[0].2)));
        } else {
            conflicts += 1;
        }
        last = Some(t);
    }
    if let Some(n) = last.and_then(after) {
        known.push((n, None));
    }
    (known, conflicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::table_from_csv_with;
    use crate::schema::Kind;
    use crate::settings::Settings;

    fn read(csv: &str) -> (SnapshotOwners, Codes) {
        let settings = Settings {
            ownership_snapshots: true,
            ..Settings::default()
        };
        let t = table_from_csv_with(Kind::Ownership, csv, 0, &settings);
        let mut codes = Codes::default();
        (snapshot_owners(&t, &mut codes).unwrap(), codes)
    }

    /// Owner and doubt of `stream` at instant `at`, as account names.
    fn at(
        o: &SnapshotOwners,
        codes: &Codes,
        stream: &str,
        at: i64,
    ) -> (Option<String>, Option<Option<String>>) {
        let name = |c: Option<u32>| c.map(|c| codes.accounts.value(c).unwrap().to_string());
        let s = codes.streams.lookup(stream);
        let owners = o.owners.events(s);
        let owner = owners.latest(at).and_then(|i| *owners.state(i));
        let doubts = o.doubt.events(s);
        let doubt = match doubts.latest(at).map(|i| *doubts.state(i)) {
            Some(Doubt::Between(other)) => Some(name(other)),
            _ => None,
        };
        (name(owner), doubt)
    }

    #[test]
    fn changes_sit_at_the_snapshot_that_shows_them_with_the_span_before_in_doubt() {
        // Snapshots at 1000, 2000, 3000 and 4000. cam-a: alice, then bob from the third;
        // cam-b: carol, unlisted in the third, carol again in the fourth; cam-c first listed in
        // the second; cam-d listed twice in the second snapshot, which is not read.
        let (o, codes) = read(
            "ts,stream_id,account_id\n\
             1000,cam-a,alice\n2000,cam-a,alice\n3000,cam-a,bob\n4000,cam-a,bob\n\
             1000,cam-b,carol\n2000,cam-b,carol\n4000,cam-b,carol\n\
             2000,cam-c,dan\n3000,cam-c,dan\n4000,cam-c,dan\n\
             1000,cam-d,erin\n2000,cam-d,erin\n2000,cam-d,frank\n3000,cam-d,frank\n4000,cam-d,frank\n",
        );
        let s = |v: &str| Some(v.to_string());
        let between = |v: Option<&str>| Some(v.map(str::to_string));
        assert_eq!(at(&o, &codes, "cam-a", 1500), (s("alice"), None));
        assert_eq!(at(&o, &codes, "cam-a", 2000), (s("alice"), None));
        assert_eq!(
            at(&o, &codes, "cam-a", 2001),
            (s("alice"), between(Some("bob")))
        );
        assert_eq!(
            at(&o, &codes, "cam-a", 2999),
            (s("alice"), between(Some("bob")))
        );
        assert_eq!(at(&o, &codes, "cam-a", 3000), (s("bob"), None));
        // Unbound somewhere in (2000, 3000], bound again somewhere in (3000, 4000].
        assert_eq!(at(&o, &codes, "cam-b", 2500), (s("carol"), between(None)));
        assert_eq!(at(&o, &codes, "cam-b", 3000), (None, None));
        assert_eq!(
            at(&o, &codes, "cam-b", 3500),
            (None, between(Some("carol")))
        );
        assert_eq!(at(&o, &codes, "cam-b", 4000), (s("carol"), None));
        // Not listed by the first snapshot: unbound then, bound somewhere in (1000, 2000].
        assert_eq!(at(&o, &codes, "cam-c", 500), (None, None));
        assert_eq!(at(&o, &codes, "cam-c", 1500), (None, between(Some("dan"))));
        assert_eq!(at(&o, &codes, "cam-c", 2000), (s("dan"), None));
        // The second snapshot is not read for cam-d: its change lies in (1000, 3000].
        assert_eq!(
            at(&o, &codes, "cam-d", 2000),
            (s("erin"), between(Some("frank")))
        );
        assert_eq!(at(&o, &codes, "cam-d", 3000), (s("frank"), None));
        assert_eq!(o.conflicts, 1);
        // Before the first snapshot nothing is known; after the last, its owners stand.
        assert_eq!(at(&o, &codes, "cam-a", 999), (None, None));
        assert_eq!(at(&o, &codes, "cam-a", 9000), (s("bob"), None));
    }

    #[test]
    fn a_stream_the_last_snapshots_leave_out_is_unbound_between() {
        let (o, codes) = read("ts,stream_id,account_id\n1000,cam-a,alice\n1000,cam-b,bob\n2000,cam-b,bob\n3000,cam-b,bob\n");
        let s = |v: &str| Some(v.to_string());
        assert_eq!(at(&o, &codes, "cam-a", 1500), (s("alice"), Some(None)));
        assert_eq!(at(&o, &codes, "cam-a", 2000), (None, None));
        assert_eq!(at(&o, &codes, "cam-a", 2500), (None, None));
    }
}
