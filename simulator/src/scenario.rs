//! The incidents the simulator replays: their timelines, traffic mix and the bug each one switches on.

use super::timefmt::TICKS;

/// One simulated incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Xiaomi, 2020: a cache deploy drops the stream id from the low-quality still key.
    CacheKeyCollision,
    /// Wyze 2024 / ChatGPT 2023: after an outage, a connection-pool bug answers on the wrong session.
    SessionMixup,
    /// Steam 2015: a config change caches authenticated pages for one region.
    AuthPageCache,
}

/// Per-mille shares of the request kinds.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub still: u32,
    pub segment: u32,
    pub page: u32,
    pub clip: u32,
}

/// When the incident's bug is live, in ticks: from `start` (inclusive) to `mitigation` (exclusive).
#[derive(Debug, Clone, Copy)]
pub struct Incident {
    /// The change that let the bug in (deploy, outage or config).
    pub start: i64,
    pub detection: i64,
    pub mitigation: i64,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [
        Scenario::CacheKeyCollision,
        Scenario::SessionMixup,
        Scenario::AuthPageCache,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::CacheKeyCollision => "cache-key-collision",
            Scenario::SessionMixup => "session-mixup",
            Scenario::AuthPageCache => "auth-page-cache",
        }
    }

    pub fn parse(s: &str) -> anyhow::Result<Scenario> {
        Scenario::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Scenario::ALL.iter().map(|x| x.name()).collect();
                anyhow::anyhow!(
                    "unknown scenario {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }

    pub fn incident(self) -> Incident {
        match self {
            // Deploy on day 1 at 21:40, found on day 2 at 18:00, mitigated an hour later.
            Scenario::CacheKeyCollision => Incident {
                start: 1300,
                detection: 2520,
                mitigation: 2580,
            },
            // Outage on day 2 at 07:40; the mixups run for an hour and a half.
            Scenario::SessionMixup => Incident {
                start: 1900,
                detection: 1960,
                mitigation: 1990,
            },
            // Config change on day 2 at 11:00, rolled back four hours later.
            Scenario::AuthPageCache => Incident {
                start: 2100,
                detection: 2280,
                mitigation: 2340,
            },
        }
    }

    pub fn mix(self) -> Mix {
        match self {
            Scenario::CacheKeyCollision => Mix {
                still: 840,
                segment: 60,
                page: 60,
                clip: 40,
            },
            Scenario::SessionMixup => Mix {
                still: 450,
                segment: 300,
                page: 150,
                clip: 100,
            },
            Scenario::AuthPageCache => Mix {
                still: 450,
                segment: 100,
                page: 400,
                clip: 50,
            },
        }
    }

    /// Share of accounts with an always-on Google Home display, and the share of those on a poor network.
    pub fn hub_share(self) -> (f64, f64) {
        match self {
            Scenario::CacheKeyCollision => (0.20, 0.45),
            _ => (0.10, 0.30),
        }
    }

    /// Traffic weight multiplier of a tick (the reconnect storm after an outage, the load spike).
    pub fn surge(self, tick: i64) -> u64 {
        let inc = self.incident();
        match self {
            Scenario::SessionMixup if tick > inc.start && tick <= inc.start + 30 => 2,
            // The load spike that made someone reach for the cache config.
            Scenario::AuthPageCache if tick >= inc.start && tick < inc.mitigation => 3,
            _ => 1,
        }
    }
}

const _: () = assert!(TICKS > 2600);
