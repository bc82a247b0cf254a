//! `Timeline`: the events of many keys as sorted columnar arrays, one run of events per key, and
//! the as-of look-up "latest event at or before an instant" over them. Each event keeps the
//! [`Cite`] of the log row that decided it.
//!
//! A key's events sit together in time order, so a look-up is one binary search within the key's
//! run, and a look-up at a nearby instant (the shifted ones of contract §4) starts from the
//! position already found and steps over the few events in between instead of searching again.

use crate::cite::Cite;

/// Events of keys `0..keys()`, each key's in strictly increasing time.
#[derive(Debug, Clone)]
pub struct Timeline<T> {
    /// The events of key k are at `start[k]..start[k + 1]`.
    start: Vec<u32>,
    ts: Vec<i64>,
    state: Vec<T>,
    cite: Vec<Cite>,
}

/// Why a timeline could not be built; always a bug of ours or a dataset beyond the engine's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    #[error("timeline events out of key and time order at event {0}")]
    Unsorted(usize),
    #[error("timeline event {0} names key {1}, beyond the {2} keys")]
    KeyOutOfRange(usize, u32, usize),
    #[error("more than {} events in one timeline", u32::MAX)]
    TooManyEvents,
    #[error("more than {limit} distinct {domain}")]
    TooManyIdentifiers { domain: &'static str, limit: u32 },
    #[error("{0} look-ups for {1} deliveries")]
    LookupsPerDelivery(usize, usize),
    #[error("a look-up found cache event {0}, which the timeline does not hold")]
    NoSuchEvent(usize),
    #[error("cache row {0} of a slice lacks a value validation requires")]
    IncompleteCacheRow(usize),
    #[error("a look-up returned code {0}, which no timeline gave out")]
    UnknownCode(u32),
    #[error(transparent)]
    BeyondCite(#[from] crate::cite::BeyondCite),
}

impl TimelineError {
    /// A broken invariant of ours, as against a limit the input reached.
    pub fn is_bug(&self) -> bool {
        !matches!(
            self,
            TimelineError::TooManyEvents
                | TimelineError::TooManyIdentifiers { .. }
                | TimelineError::BeyondCite(_)
        )
    }
}

impl<T> Default for Timeline<T> {
    fn default() -> Self {
        Timeline {
            start: vec![0],
            ts: Vec::new(),
            state: Vec::new(),
            cite: Vec::new(),
        }
    }
}

impl<T> Timeline<T> {
    /// Builds a timeline of `keys` keys from events sorted by key, then time, with no two events of
    /// one key at one instant (the builders resolve ties first).
    pub fn from_sorted(
        keys: usize,
        events: impl IntoIterator<Item = (u32, i64, T, Cite)>,
    ) -> Result<Timeline<T>, TimelineError> {
        let events = events.into_iter();
        let mut b = TimelineBuilder::new(keys, events.size_hint().0);
        for (key, t, s, c) in events {
            b.push(key, t, s, c)?;
        }
        b.finish()
    }

    /// How many keys the timeline has; a larger key has no events.
    pub fn keys(&self) -> usize {
        self.start.len() - 1
    }

    /// How many events it holds, over all keys.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// The events of `key`; none for a key beyond the timeline's.
    pub fn events(&self, key: u32) -> Events<'_, T> {
        let k = key as usize;
        let (lo, hi) = match (self.start.get(k), self.start.get(k + 1)) {
            (Some(&lo), Some(&hi)) => (lo as usize, hi as usize),
            _ => (0, 0),
        };
        Events {
            base: lo,
            ts: &self.ts[lo..hi],
            state: &self.state[lo..hi],
            cite: &self.cite[lo..hi],
        }
    }

    /// Every event's state, over all keys, to be rewritten in place.
    pub fn states_mut(&mut self) -> &mut [T] {
        &mut self.state
    }

    /// The time and state of event `at`, a position over all keys (see [`Events::global`]).
    pub fn event(&self, at: usize) -> Option<(i64, &T)> {
        Some((*self.ts.get(at)?, self.state.get(at)?))
    }

    /// The cite of event `at`, a position over all keys; [`Cite::NONE`] beyond the last.
    pub fn cite(&self, at: usize) -> Cite {
        self.cite.get(at).copied().unwrap_or(Cite::NONE)
    }
}

/// Builds a [`Timeline`] an event at a time, in key then time order, so that a builder that
/// computes each state as it goes holds no second copy of the events.
#[derive(Debug)]
pub struct TimelineBuilder<T> {
    keys: usize,
    tl: Timeline<T>,
    last: Option<(u32, i64)>,
}

impl<T> TimelineBuilder<T> {
    /// A builder for `keys` keys, with room for `events` events.
    pub fn new(keys: usize, events: usize) -> TimelineBuilder<T> {
        let mut start = Vec::with_capacity(keys + 1);
        start.push(0);
        TimelineBuilder {
            keys,
            tl: Timeline {
                start,
                ts: Vec::with_capacity(events),
                state: Vec::with_capacity(events),
                cite: Vec::with_capacity(events),
            },
            last: None,
        }
    }

    /// Appends the event of `key` at `t`, stated by the row `cite`; it must come after every
    /// event pushed before.
    pub fn push(&mut self, key: u32, t: i64, state: T, cite: Cite) -> Result<(), TimelineError> {
        let i = self.tl.ts.len();
        if key as usize >= self.keys {
            return Err(TimelineError::KeyOutOfRange(i, key, self.keys));
        }
        if self.last.is_some_and(|l| l >= (key, t)) {
            return Err(TimelineError::Unsorted(i));
        }
        let n = u32::try_from(i).map_err(|_| TimelineError::TooManyEvents)?;
        while self.tl.start.len() <= key as usize {
            self.tl.start.push(n);
        }
        self.tl.ts.push(t);
        self.tl.state.push(state);
        self.tl.cite.push(cite);
        self.last = Some((key, t));
        Ok(())
    }

    pub fn finish(mut self) -> Result<Timeline<T>, TimelineError> {
        let n = u32::try_from(self.tl.ts.len()).map_err(|_| TimelineError::TooManyEvents)?;
        self.tl.start.resize(self.keys + 1, n);
        Ok(self.tl)
    }
}

/// The events of one key, in time order.
#[derive(Debug, Clone, Copy)]
pub struct Events<'a, T> {
    base: usize,
    ts: &'a [i64],
    state: &'a [T],
    cite: &'a [Cite],
}

/// Steps taken from a known position before falling back to a binary search: a shifted look-up
/// usually crosses no event at all, but a key may log thousands within the tolerance.
const WALK: usize = 8;

impl<'a, T> Events<'a, T> {
    /// The position of the latest event at or before `at`: the state at `at` (an event counts
    /// from its own millisecond on).
    pub fn latest(&self, at: i64) -> Option<usize> {
        self.ts.partition_point(|&t| t <= at).checked_sub(1)
    }

    /// [`Events::latest`] for `at`, given `from`, the answer for another instant: it steps from
    /// there, and searches only if many events lie in between.
    pub fn latest_from(&self, from: Option<usize>, at: i64) -> Option<usize> {
        // `next` is the first position after the answer: the answer is `next - 1`.
        let mut next = from.map_or(0, |p| p + 1);
        for _ in 0..WALK {
            let before_ok = next == 0 || self.ts[next - 1] <= at;
            let after_ok = next == self.ts.len() || self.ts[next] > at;
            match (before_ok, after_ok) {
                (true, true) => return next.checked_sub(1),
                (false, _) => next -= 1,
                (true, false) => next += 1,
            }
        }
        self.latest(at)
    }

    /// The time of the event at `i`.
    pub fn ts(&self, i: usize) -> i64 {
        self.ts[i]
    }

    /// The state from the event at `i` on.
    pub fn state(&self, i: usize) -> &'a T {
        &self.state[i]
    }

    /// The row that stated the event at `i`.
    pub fn cite(&self, i: usize) -> Cite {
        self.cite[i]
    }

    /// The position of event `i` over all keys of its timeline, for [`Timeline::event`].
    pub fn global(&self, i: usize) -> usize {
        self.base + i
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Timeline<char> {
        Timeline::from_sorted(
            4,
            [
                (0, 10, 'a', Cite::new(0, 2).unwrap()),
                (0, 20, 'b', Cite::new(0, 3).unwrap()),
                (0, 30, 'c', Cite::new(1, 0).unwrap()),
                (2, 5, 'x', Cite::NONE),
                (2, 5_000, 'y', Cite::new(1, 9).unwrap()),
            ],
        )
        .unwrap()
    }

    #[test]
    fn latest_event_at_or_before_an_instant_per_key() {
        let tl = sample();
        let k0 = tl.events(0);
        let at = |t| k0.latest(t).map(|i| *k0.state(i));
        assert_eq!(
            [at(9), at(10), at(19), at(20), at(30), at(99)],
            [None, Some('a'), Some('a'), Some('b'), Some('c'), Some('c')]
        );
        assert!(tl.events(1).is_empty(), "a key with no events");
        assert!(tl.events(3).is_empty(), "the last key, with no events");
        assert!(tl.events(99).is_empty(), "a key beyond the timeline");
        let k2 = tl.events(2);
        assert_eq!(k2.latest(4_999).map(|i| k2.global(i)), Some(3));
        assert_eq!(tl.event(4), Some((5_000, &'y')));
        assert_eq!(tl.cite(4).get(), Some((1, 9)));
        assert_eq!(k0.cite(1).get(), Some((0, 3)));
        assert_eq!((tl.cite(3), tl.cite(5)), (Cite::NONE, Cite::NONE));
        assert_eq!((tl.keys(), tl.len()), (4, 5));
    }

    /// Stepping from any known answer gives what a fresh search gives, near or far.
    #[test]
    fn stepping_from_a_known_position_agrees_with_searching() {
        let ts: Vec<i64> = (0..40).map(|i| i * 3).collect();
        let tl = Timeline::from_sorted(1, ts.iter().map(|&t| (0, t, (), Cite::NONE))).unwrap();
        let e = tl.events(0);
        for from in -5..130 {
            for at in -5..130 {
                let known = e.latest(from);
                assert_eq!(e.latest_from(known, at), e.latest(at), "{from} -> {at}");
            }
        }
    }

    #[test]
    fn unsorted_or_out_of_range_events_are_refused() {
        let two = |a: (u32, i64), b: (u32, i64)| {
            Timeline::from_sorted(2, [(a.0, a.1, (), Cite::NONE), (b.0, b.1, (), Cite::NONE)])
                .map(|_| ())
        };
        assert_eq!(two((0, 5), (0, 5)), Err(TimelineError::Unsorted(1)));
        assert_eq!(two((1, 5), (0, 6)), Err(TimelineError::Unsorted(1)));
        assert_eq!(
            two((0, 5), (2, 6)),
            Err(TimelineError::KeyOutOfRange(1, 2, 2))
        );
        assert_eq!(two((0, 5), (1, 1)), Ok(()));
    }
}
