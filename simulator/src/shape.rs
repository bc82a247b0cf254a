//! Dataset shapes: how much cache and session traffic the world makes per delivery, and how timestamps are written.

/// The shape of a generated dataset. The scenario decides what goes wrong; the shape decides how
/// busy the logs around it are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Shape {
    /// About 0.3 cache rows and 0.05 session rows per delivery, RFC 3339 timestamps (Parquet:
    /// native UTC datetime columns).
    #[default]
    Standard,
    /// A real cache's log: entries go stale after a minute, so every first request of a minute
    /// misses and fills, and idle entries are evicted and refilled; at least one cache row and a
    /// tenth of a session row per delivery. Timestamps are int64 epoch milliseconds, the
    /// contract's integer form (Parquet: Int64 columns).
    CacheHeavy,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Standard => "standard",
            Shape::CacheHeavy => "cache-heavy",
        }
    }

    /// Deliveries per account: fewer means more accounts, so more sessions per delivery.
    pub fn deliveries_per_account(self) -> u64 {
        match self {
            Shape::Standard => 150,
            Shape::CacheHeavy => 60,
        }
    }

    /// The most accounts a world has, whatever the deliveries.
    pub fn max_accounts(self) -> u64 {
        match self {
            Shape::Standard => 300_000,
            Shape::CacheHeavy => 3_000_000,
        }
    }

    /// Ticks an ordinary still or page stays fresh in the cache (`None`: the scenario's own).
    pub fn max_age(self) -> Option<i64> {
        match self {
            Shape::Standard => None,
            Shape::CacheHeavy => Some(0),
        }
    }

    /// The share of filled entries evicted at each tick's control phase (`None`: only the
    /// occasional entry idle for two hours, under memory pressure).
    pub fn churn(self) -> Option<f64> {
        match self {
            Shape::Standard => None,
            Shape::CacheHeavy => Some(0.2),
        }
    }

    /// Whether every timestamp is written as epoch milliseconds.
    pub fn epoch_timestamps(self) -> bool {
        self == Shape::CacheHeavy
    }
}
