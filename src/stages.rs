//! Stage clock: the wall time and memory of each pipeline stage, so the hot stage is visible.

use std::time::Instant;

use serde::Serialize;

/// One pipeline stage as measured when it ended.
#[derive(Debug, Clone, Serialize)]
pub struct StageTiming {
    pub stage: &'static str,
    pub seconds: f64,
    /// Resident memory when the stage ended, MiB (Linux only).
    pub rss_mib: Option<u64>,
    /// The process's peak resident memory so far, MiB (Linux only).
    pub peak_rss_mib: Option<u64>,
}

/// Measures consecutive stages: each `lap` closes the stage that began at the previous one.
#[derive(Debug)]
pub struct StageClock {
    since: Instant,
    laps: Vec<StageTiming>,
}

impl Default for StageClock {
    fn default() -> Self {
        StageClock::new()
    }
}

impl StageClock {
    pub fn new() -> StageClock {
        StageClock {
            since: Instant::now(),
            laps: Vec::new(),
        }
    }

    pub fn lap(&mut self, stage: &'static str) {
        let seconds = self.since.elapsed().as_secs_f64();
        self.close(&[(stage, seconds)]);
    }

    /// Closes stages that ran interleaved, block by block, with the seconds spent in each.
    pub fn laps(&mut self, stages: &[(&'static str, f64)]) {
        self.close(stages);
    }

    /// Records stages that ended now, with the memory as it stands, and starts the next one.
    fn close(&mut self, stages: &[(&'static str, f64)]) {
        let (rss_mib, peak_rss_mib) = memory_mib();
        for &(stage, seconds) in stages {
            self.laps.push(StageTiming {
                stage,
                seconds,
                rss_mib,
                peak_rss_mib,
            });
        }
        self.since = Instant::now();
    }

    /// Adds seconds spent later to a stage already closed: the deliveries' load goes on block
    /// by block while spilled runs are merged, and the driver's waits for them are load time.
    pub fn extend(&mut self, stage: &'static str, seconds: f64) {
        if let Some(lap) = self.laps.iter_mut().find(|l| l.stage == stage) {
            lap.seconds += seconds;
        }
    }

    pub fn into_laps(self) -> Vec<StageTiming> {
        self.laps
    }

    /// Continues measuring after stages timed elsewhere.
    pub fn resume(laps: Vec<StageTiming>) -> StageClock {
        StageClock {
            since: Instant::now(),
            laps,
        }
    }
}

/// Current and peak resident set size from `/proc/self/status`; `None` where there is no procfs.
fn memory_mib() -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (None, None);
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .map(|kib| kib / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The `--verbose` lines: one per stage.
pub fn describe(laps: &[StageTiming]) -> String {
    let mut s = String::new();
    for t in laps {
        let mem = match (t.rss_mib, t.peak_rss_mib) {
            (Some(r), Some(p)) => format!("  rss {r:>6} MiB  peak {p:>6} MiB"),
            _ => String::new(),
        };
        s.push_str(&format!(
            "stage {:<10} {:>8.3} s{mem}\n",
            t.stage, t.seconds
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laps_are_in_order_and_cover_the_time_between_them() {
        let mut c = StageClock::new();
        std::thread::sleep(std::time::Duration::from_millis(20));
        c.lap("first");
        c.lap("second");
        let laps = c.into_laps();
        assert_eq!(
            laps.iter().map(|l| l.stage).collect::<Vec<_>>(),
            ["first", "second"]
        );
        assert!(laps[0].seconds >= 0.02, "{laps:?}");
        assert!(laps[1].seconds < laps[0].seconds, "{laps:?}");
        if cfg!(target_os = "linux") {
            let (rss, peak) = (laps[0].rss_mib.unwrap(), laps[0].peak_rss_mib.unwrap());
            assert!(rss > 0 && peak >= rss, "{laps:?}");
        }
        let text = describe(&laps);
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with("stage first "), "{text}");
    }

    #[test]
    fn time_spent_later_is_added_to_its_stage() {
        let mut c = StageClock::new();
        c.laps(&[("load", 1.0), ("join", 2.0)]);
        c.extend("load", 0.5);
        c.extend("absent", 9.0);
        let laps = c.into_laps();
        assert_eq!(laps.len(), 2);
        assert_eq!((laps[0].stage, laps[0].seconds), ("load", 1.5));
        assert_eq!(laps[1].seconds, 2.0);
    }
}
