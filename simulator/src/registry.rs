//! Registry snapshots (`--ownership-snapshots EVERY`): the ownership log as a device registry's
//! dumps, who owned each camera and who it was shared with at every snapshot, and the verdict the
//! analyser can give from them (`ownership_snapshots` in docs/FORMATS.md).
//!
//! A change of owner or of shared access is then known only to lie between two snapshots: the
//! analyser places it at the later one and makes a delivery whose class depends on where in the
//! span it lies ambiguous. [`Snapshots::judge`] gives that class from the world's own events.

use super::truth::{evaluate_in, Class, Content, Eval, Registry};
use super::world::World;

/// The snapshot times of one dataset.
pub struct Snapshots {
    times: Vec<i64>,
}

/// The registry as the snapshots show it: each state from the latest snapshot at or before an
/// instant; `early`, the later snapshot's state for an instant strictly between two that differ.
struct Shown<'a> {
    w: &'a World,
    times: &'a [i64],
    early: bool,
}

impl Shown<'_> {
    /// The snapshot whose state stands at `at`, under this view: the latest at or before it, or
    /// in the early view the next one where it differs; `None` before the first.
    fn snapshot<T: PartialEq>(&self, at: i64, state: impl Fn(i64) -> T) -> Option<i64> {
        let i = self.times.partition_point(|&t| t <= at);
        let p = *self.times.get(i.checked_sub(1)?)?;
        match self.times.get(i) {
            Some(&q) if self.early && p < at && state(p) != state(q) => Some(q),
            _ => Some(p),
        }
    }
}

impl Registry for Shown<'_> {
    fn owner_at(&self, cam: u32, at: i64) -> Option<u32> {
        let t = self.snapshot(at, |t| self.w.owner_at(cam, t))?;
        self.w.owner_at(cam, t)
    }

    fn granted(&self, cam: u32, account: u32, at: i64) -> bool {
        self.snapshot(at, |t| self.w.granted(cam, account, t))
            .is_some_and(|t| self.w.granted(cam, account, t))
    }
}

/// A duration as `--ownership-snapshots` takes it: a whole number and a unit, ms, s, m, h or d.
pub fn parse_every(text: &str) -> anyhow::Result<i64> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit_ms: i64 = match &text[digits.len()..] {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        u => anyhow::bail!("--ownership-snapshots {text:?}: unit {u:?} is not ms, s, m, h or d"),
    };
    let n: i64 = digits.parse().map_err(|_| {
        anyhow::anyhow!("--ownership-snapshots {text:?}: not a whole number and a unit, e.g. 6h")
    })?;
    n.checked_mul(unit_ms)
        .filter(|&ms| ms > 0)
        .ok_or_else(|| anyhow::anyhow!("--ownership-snapshots {text:?}: out of range"))
}

impl Snapshots {
    /// A snapshot every `every_ms` from the first ownership event until one at or after the
    /// last, so that every change is seen and every snapshot lists at least the first owner.
    pub fn every(w: &World, every_ms: i64) -> anyhow::Result<Snapshots> {
        anyhow::ensure!(every_ms > 0, "--ownership-snapshots must be positive");
        let events = || {
            w.cams
                .iter()
                .flat_map(|c| c.events.iter().map(|e| e.ts))
                .chain(w.grants.iter().flat_map(|g| g.events.iter().map(|e| e.0)))
        };
        let (Some(first), Some(last)) = (events().min(), events().max()) else {
            anyhow::bail!("the world has no ownership events to take snapshots of");
        };
        let mut times = Vec::new();
        let mut t = first;
        loop {
            times.push(t);
            if t >= last {
                break;
            }
            t = t.saturating_add(every_ms);
        }
        Ok(Snapshots { times })
    }

    /// The registry's rows, sorted: (snapshot time, camera, account, `bind` for the owner or
    /// `grant` for a user it is shared with).
    pub fn rows(&self, w: &World) -> anyhow::Result<Vec<(i64, u32, u32, &'static str)>> {
        let mut rows = Vec::new();
        for &t in &self.times {
            let before = rows.len();
            for c in 0..w.cams.len() as u32 {
                if let Some(a) = w.owner_at(c, t) {
                    rows.push((t, c, a, "bind"));
                }
            }
            for g in &w.grants {
                if w.granted(g.cam, g.grantee, t) {
                    rows.push((t, g.cam, g.grantee, "grant"));
                }
            }
            // A snapshot with no row would not be seen as one.
            anyhow::ensure!(rows.len() > before, "the registry is empty at {t}");
        }
        rows.sort_unstable();
        Ok(rows)
    }

    /// The class the analyser gives a delivery from the snapshots: with each change at the
    /// snapshot that first shows it, `ambiguous` where the class differs with each change as
    /// early as it could be, unless it is ambiguous already or neither is resolved.
    pub fn judge(&self, w: &World, ts: i64, session: u32, content: &Content) -> Eval {
        let view = |early| Shown {
            w,
            times: &self.times,
            early,
        };
        let placed = evaluate_in(w, &view(false), ts, session, content);
        let early = evaluate_in(w, &view(true), ts, session, content);
        let unresolved = |e: &Eval| matches!(e.class, Class::Unresolved(_));
        if placed.class == Class::Ambiguous
            || placed.class == early.class
            || (unresolved(&placed) && unresolved(&early))
        {
            return placed;
        }
        Eval {
            class: Class::Ambiguous,
            ..placed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_is_a_whole_number_and_a_unit() {
        assert_eq!(parse_every("6h").unwrap(), 21_600_000);
        assert_eq!(parse_every("30m").unwrap(), 1_800_000);
        assert_eq!(parse_every("1d").unwrap(), 86_400_000);
        assert_eq!(parse_every("250ms").unwrap(), 250);
        for bad in ["6", "h", "1.5h", "0s", "-1h", "6w", "99999999999999999d"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }
}
