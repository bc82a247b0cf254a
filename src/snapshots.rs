//! Ownership from registry snapshots: who owned each stream, and who held shared access to it,
//! at each snapshot time, turned into owners and grants timelines whose every change sits at the
//! snapshot that first shows it, and doubt timelines over the span since the snapshot before, in
//! which the change is only known to lie.
//!
//! A snapshot at T shows the state at T (every change with ts <= T). A stream a snapshot does
//! not list as owned had no owner then; a (stream, account) it does not list as shared held no
//! grant then. Between two snapshots that show different states, the change happened at some
//! instant in (earlier, later]: the timelines give the earlier state up to the later snapshot,
//! and the doubt timelines name the later state for every instant strictly between the two, the
//! look-ups whose answer depends on where in the span the change lies.

use rayon::prelude::*;

use crate::cite::Cite;
use crate::codes::{Codes, Pairs};
use crate::schema::OwnershipEvent;
use crate::table::Table;
use crate::timeline::{Timeline, TimelineError};

/// Whether a key's state at an instant is the one its timeline gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doubt<T> {
    /// It is: a snapshot shows it, and no change lies between that snapshot and the next.
    Settled,
    /// Between two snapshots that show different states: the state the timeline gives (the
    /// earlier snapshot's) or this one (the later's) held.
    Between(T),
}

/// What a snapshot log gives: owners keyed by stream code, grants by (stream, account) pair.
pub struct Snapshots {
    /// Per stream, its owner (`None`: unbound).
    pub owners: Timeline<Option<u32>>,
    pub owner_doubt: Timeline<Doubt<Option<u32>>>,
    /// Per pair of `grant_pairs`, whether the account held shared access.
    pub grants: Timeline<bool>,
    pub grant_doubt: Timeline<Doubt<bool>>,
    pub grant_pairs: Pairs,
    /// (stream, snapshot) pairs that listed more than one owner: not read, so the span of doubt
    /// runs from the snapshot before them to the one after.
    pub conflicts: usize,
}

/// Reads a snapshot log: each row (ts, stream_id, account_id, event) lists its account as the
/// stream's owner (`bind`) or as holding shared access to it (`grant`) at snapshot `ts`.
pub fn read_snapshots(t: &Table, codes: &mut Codes) -> Result<Snapshots, TimelineError> {
    let (ts, stream, acct, ev) = (
        t.time("ts"),
        t.text("stream_id"),
        t.text("account_id"),
        t.enums::<OwnershipEvent>("event"),
    );
    let mut owned = Vec::with_capacity(t.len());
    let mut shared = Vec::new();
    let mut grant_pairs = Pairs::default();
    let mut times = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        let (Some(ts), Some(s), Some(a)) = (ts[i], stream.get(i), acct.get(i)) else {
            continue;
        };
        times.push(ts);
        let (s, a) = (codes.streams.code(s)?, codes.accounts.code(a)?);
        let cite = Cite::of(t.source[i])?;
        match ev[i] {
            Some(OwnershipEvent::Grant) => shared.push((grant_pairs.id(s, a)?, ts, 0, cite)),
            _ => owned.push((s, ts, a, cite)),
        }
    }
    times.par_sort_unstable();
    times.dedup();
    let (owners, owner_doubt, conflicts) = changes(owned, &times, codes.streams.len(), |o| o)?;
    let (grants, grant_doubt, _) = changes(shared, &times, grant_pairs.len(), |g| g.is_some())?;
    Ok(Snapshots {
        owners,
        owner_doubt,
        grants,
        grant_doubt,
        grant_pairs,
        conflicts,
    })
}

/// A key's timeline, its doubt timeline, and the (key, snapshot) pairs listing two values.
type Changes<T> = (Timeline<T>, Timeline<Doubt<T>>, usize);

/// The timeline of what the snapshots show of each key, and its doubt timeline, from rows
/// (key, ts, value: an account listed, or 0 for a listing without one; the row's cite) and every
/// snapshot time. A change a listing shows cites the listing, and the span of doubt before it
/// too; a change to "not listed" cites no row;
/// `state` says what a key's known value (`None`: not listed) means. Before a key's first known
/// state, its state is the timeline's default, `state(None)`.
fn changes<T: Copy + PartialEq>(
    mut rows: Vec<(u32, i64, u32, Cite)>,
    times: &[i64],
    keys: usize,
    state: impl Fn(Option<u32>) -> T,
) -> Result<Changes<T>, TimelineError> {
    rows.par_sort_unstable();
    // Copies of one listing are one listing, stated by its first row.
    rows.dedup_by(|a, b| (a.0, a.1, a.2) == (b.0, b.1, b.2));
    let mut events = Vec::new();
    let mut doubt = Vec::new();
    let mut conflicts = 0;
    for listed in rows.chunk_by(|a, b| a.0 == b.0) {
        let (known, c) = known_states(listed, times);
        conflicts += c;
        let key = listed[0].0;
        let mut before: Option<(i64, T)> = None;
        for (q, value, cite) in known {
            let now = state(value);
            match before {
                None if now != state(None) => events.push((key, q, now, cite)),
                Some((p, was)) if was != now => {
                    events.push((key, q, now, cite));
                    let from = p.saturating_add(1);
                    if from < q {
                        doubt.push((key, from, Doubt::Between(now), cite));
                        doubt.push((key, q, Doubt::Settled, cite));
                    }
                }
                _ => {}
            }
            before = Some((q, now));
        }
    }
    Ok((
        Timeline::from_sorted(keys, events)?,
        Timeline::from_sorted(keys, doubt)?,
        conflicts,
    ))
}

/// One key's known value at each snapshot where it changes or could have (`None`: the snapshot
/// did not list it) with the listing's cite, in time order, from its rows (key, ts, value, cite;
/// sorted, no two values alike at one time) and every snapshot time of the log; with the number
/// of its snapshots that listed more than one value, which are left out.
fn known_states(
    listed: &[(u32, i64, u32, Cite)],
    times: &[i64],
) -> (Vec<(i64, Option<u32>, Cite)>, usize) {
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
                known.push((n, None, Cite::NONE));
            }
            known.push((p, None, Cite::NONE));
        }
        if at.len() == 1 {
            known.push((t, Some(at[0].2), at[0].3));
        } else {
            conflicts += 1;
        }
        last = Some(t);
    }
    if let Some(n) = last.and_then(after) {
        known.push((n, None, Cite::NONE));
    }
    (known, conflicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::table_from_csv_with;
    use crate::schema::Kind;
    use crate::settings::Settings;

    fn read(csv: &str) -> (Snapshots, Codes) {
        let settings = Settings {
            ownership_snapshots: true,
            ..Settings::default()
        };
        let t = table_from_csv_with(Kind::Ownership, csv, 0, &settings);
        let mut codes = Codes::default();
        (read_snapshots(&t, &mut codes).unwrap(), codes)
    }

    /// Owner and doubt of `stream` at instant `at`, as account names.
    fn at(
        o: &Snapshots,
        codes: &Codes,
        stream: &str,
        at: i64,
    ) -> (Option<String>, Option<Option<String>>) {
        let name = |c: Option<u32>| c.map(|c| codes.accounts.value(c).unwrap().to_string());
        let s = codes.streams.lookup(stream);
        let owners = o.owners.events(s);
        let owner = owners.latest(at).and_then(|i| *owners.state(i));
        let doubts = o.owner_doubt.events(s);
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

    /// Grant state and doubt of (stream, account) at `at`.
    fn granted(
        o: &Snapshots,
        codes: &Codes,
        stream: &str,
        account: &str,
        at: i64,
    ) -> (bool, Option<bool>) {
        let s = codes.streams.lookup(stream);
        let a = codes.accounts.lookup(account);
        let Some(pair) = o.grant_pairs.get(s, a) else {
            return (false, None);
        };
        let grants = o.grants.events(pair);
        let doubts = o.grant_doubt.events(pair);
        let doubt = match doubts.latest(at).map(|i| *doubts.state(i)) {
            Some(Doubt::Between(g)) => Some(g),
            _ => None,
        };
        (grants.latest(at).is_some_and(|i| *grants.state(i)), doubt)
    }

    #[test]
    fn shared_access_is_a_grant_from_the_snapshot_that_lists_it() {
        // Snapshots at 1000, 2000, 3000 (the last lists owners only): bob shares cam-a from the
        // second, and no longer in the third.
        let (o, codes) = read(
            "ts,stream_id,account_id,event\n\
             1000,cam-a,alice,bind\n2000,cam-a,alice,\n2000,cam-a,bob,grant\n\
             3000,cam-a,alice,bind\n",
        );
        assert_eq!(granted(&o, &codes, "cam-a", "bob", 1000), (false, None));
        assert_eq!(
            granted(&o, &codes, "cam-a", "bob", 1500),
            (false, Some(true))
        );
        assert_eq!(granted(&o, &codes, "cam-a", "bob", 2000), (true, None));
        assert_eq!(
            granted(&o, &codes, "cam-a", "bob", 2500),
            (true, Some(false))
        );
        assert_eq!(granted(&o, &codes, "cam-a", "bob", 3000), (false, None));
        // A grant row is not an owner.
        assert_eq!(
            at(&o, &codes, "cam-a", 2500),
            (Some("alice".to_string()), None)
        );
    }
}
