//! A stopwatch over many short calls that reads the clock around a sample of them only.
//!
//! Reading the clock twice around every timestamp the row path converts took longer than the
//! conversion (2% of a CSV load's samples against 1%). The stage time it feeds reports where
//! time went; no output depends on it, so a sample's mean times the calls serves.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// One call in this many is timed, the first included.
const EVERY: u64 = 16;

#[derive(Debug, Default)]
pub struct Stopwatch {
    calls: Cell<u64>,
    timed: Cell<u64>,
    spent: Cell<Duration>,
}

impl Stopwatch {
    /// Runs `f`, timing it if it is one of the sample.
    pub fn time<T>(&self, f: impl FnOnce() -> T) -> T {
        let k = self.calls.get();
        self.calls.set(k + 1);
        if !k.is_multiple_of(EVERY) {
            return f();
        }
        let started = Instant::now();
        let out = f();
        self.spent.set(self.spent.get() + started.elapsed());
        self.timed.set(self.timed.get() + 1);
        out
    }

    /// The time every call took, estimated from the sample.
    pub fn estimate(&self) -> Duration {
        match self.timed.get() {
            0 => Duration::ZERO,
            timed => self
                .spent
                .get()
                .mul_f64(self.calls.get() as f64 / timed as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_stands_for_every_call() {
        let w = Stopwatch::default();
        assert_eq!(w.estimate(), Duration::ZERO);
        let pause = Duration::from_millis(2);
        for _ in 0..EVERY + 1 {
            assert_eq!(w.time(|| std::thread::sleep(pause)), ());
        }
        // Two calls timed (the first and the 17th) stand for 17.
        assert_eq!((w.calls.get(), w.timed.get()), (EVERY + 1, 2));
        assert!(w.estimate() >= pause * (EVERY as u32 + 1));
        assert!(w.estimate() >= w.spent.get());
    }
}
