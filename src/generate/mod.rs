//! Incident simulator: writes a contract dataset in which leaks happen as they did in real incidents, with ground truth.

use std::path::PathBuf;

/// Arguments of `leakscope generate`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// cache-key-collision, session-mixup or auth-page-cache.
    #[arg(long)]
    pub scenario: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many deliveries to simulate.
    #[arg(long, default_value_t = 10_000)]
    pub deliveries: u64,
    #[arg(long)]
    pub out: PathBuf,
    /// csv, jsonl, parquet or mixed.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Add what real log shipping does: duplicates, disorder, mixed forms, malformed rows.
    #[arg(long)]
    pub dirty: bool,
}

pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    anyhow::bail!("generate {:?}: the simulator is not built yet", args.scenario)
}
