//! Incident simulator: writes a contract dataset in which leaks happen as they did in real incidents, with ground truth.
//!
//! `leakscope generate` plans a world ([`world`], with the boundary cases of [`specials`]),
//! sweeps its traffic tick by tick ([`sim`]) on a grid that keeps ordinary deliveries 10 s or
//! more from every state change ([`timefmt`]), streams every log row to files ([`output`],
//! [`writer`], [`dirty`]) and judges each delivery from the simulation's own knowledge
//! ([`truth`]). Same arguments, same bytes.

mod clocks;
pub mod dirty;
pub mod mechanism;
pub mod output;
mod plan;
mod planted;
pub mod real;
pub mod registry;
pub mod rows;
pub mod scenario;
pub mod shape;
pub mod sim;
pub mod specials;
pub mod timefmt;
pub mod truth;
pub mod world;
pub mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use dirty::Mal;
use output::{FileInfo, Format, Output};
use rows::LogKind;
use scenario::Scenario;
use shape::Shape;
use sim::SimStats;
use truth::TruthAcc;

/// Arguments of `leakscope generate`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// cache-key-collision, session-mixup or auth-page-cache.
    #[arg(long)]
    pub scenario: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many deliveries to simulate (distinct deliveries; dirty mode adds copies on top).
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
    /// Replace an earlier generated dataset in --out.
    #[arg(long)]
    pub force: bool,
    /// How busy the cache and session logs are, and how timestamps are written: standard or
    /// cache-heavy (a cache row per delivery or more, epoch-millisecond timestamps).
    #[arg(long, value_enum, default_value_t = Shape::Standard)]
    pub shape: Shape,
    /// Write deliveries as nginx access logs and sessions as Keycloak events, with no cache log
    /// and the mapping.toml that reads them; ownership, changes and accounts keep --format.
    #[arg(long, conflicts_with = "dirty")]
    pub real_logs: bool,
    /// Write the ownership log as a device registry's snapshots, one every EVERY (e.g. 6h): who
    /// owned each camera and who it was shared with, not bind and unbind events.
    #[arg(long, value_name = "EVERY")]
    pub ownership_snapshots: Option<String>,
    /// Skew N more cache nodes and N more stream servers by offsets drawn from the seed
    /// (0.3 to 3 s either way); every clock's true offset goes to truth_clocks.json.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub skewed_clocks: usize,
    /// Every skewed clock's offset changes once, at an instant drawn from the seed.
    #[arg(long)]
    pub clock_drift: bool,
    /// Leave the clock offsets out of dataset.toml, as when nobody knows them.
    #[arg(long)]
    pub unstated_offsets: bool,
    /// Draw the bug's condition from the seed: an rtt bound (150-700 ms), a loss bound
    /// (0.8-6 %) or either, and for auth-page-cache one or two regions; written to
    /// truth_mechanism.json like the scenario's own.
    #[arg(long)]
    pub draw_mechanism: bool,
}

impl GenerateArgs {
    pub fn new(
        scenario: &str,
        seed: u64,
        deliveries: u64,
        out: impl Into<PathBuf>,
    ) -> GenerateArgs {
        GenerateArgs {
            scenario: scenario.to_string(),
            seed,
            deliveries,
            out: out.into(),
            format: "csv".to_string(),
            dirty: false,
            force: false,
            shape: Shape::Standard,
            real_logs: false,
            ownership_snapshots: None,
            skewed_clocks: 0,
            clock_drift: false,
            unstated_offsets: false,
            draw_mechanism: false,
        }
    }
}

/// What a run wrote, for tests and the closing summary.
#[derive(Debug, Clone)]
pub struct Report {
    /// The contents of `truth.json`.
    pub truth: serde_json::Value,
    pub files: Vec<FileInfo>,
    /// Malformed rows written, by kind and breakage.
    pub malformed: BTreeMap<(LogKind, Mal), u64>,
    pub stats: SimStats,
    /// Non-ok deliveries by class and cause.
    pub by_cause: BTreeMap<String, u64>,
    /// Ordinary deliveries that came out ambiguous or unresolved (a design failure; 0 expected).
    pub unplanned: u64,
    pub specials_planned: usize,
    pub specials_dropped: usize,
}

/// The minimum: room for the planned boundary cases and some traffic around them.
pub const MIN_DELIVERIES: u64 = 1_000;

pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let r = generate(args)?;
    let t = &r.truth;
    eprintln!(
        "leakscope generate: {} ({}, seed {}): {} deliveries, {} leak, {} ambiguous, {} unresolved; {} files",
        args.out.display(),
        args.scenario,
        args.seed,
        t["deliveries"],
        t["leak_deliveries"],
        t["ambiguous_deliveries"],
        t["unresolved_deliveries"],
        r.files.len()
    );
    Ok(())
}

/// A ChaCha stream for one purpose, so that e.g. file layout never changes the world.
fn stream(seed: u64, scenario: Scenario, purpose: &str) -> ChaCha8Rng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in scenario.name().bytes().chain([0u8]).chain(purpose.bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

const OUTPUTS: &[&str] = &[
    "deliveries",
    "cache",
    "sessions",
    "ownership",
    "changes",
    "accounts",
    "dataset.toml",
    "mapping.toml",
    "truth.json",
    "truth_differences.csv",
    "truth_leaks.csv",
    "truth_details.csv",
    "truth_citations.csv",
    "truth_clocks.json",
    "truth_mechanism.json",
];

fn prepare_out(out: &Path, force: bool) -> anyhow::Result<()> {
    if out.exists() {
        anyhow::ensure!(out.is_dir(), "{} exists and is not a folder", out.display());
        let ours: Vec<PathBuf> = OUTPUTS
            .iter()
            .map(|n| out.join(n))
            .filter(|p| p.exists())
            .collect();
        if !ours.is_empty() {
            anyhow::ensure!(
                force,
                "{} already holds a dataset; pass --force to replace it",
                out.display()
            );
            for p in ours {
                if p.is_dir() {
                    std::fs::remove_dir_all(&p)?;
                } else {
                    std::fs::remove_file(&p)?;
                }
            }
        }
    }
    std::fs::create_dir_all(out)?;
    Ok(())
}

/// dataset.toml, ending with `offsets`, the `[clock_offset_ms]` block ([`clocks::stated_block`]).
fn dataset_toml(args: &GenerateArgs, offsets: &str) -> String {
    let mut flags = String::new();
    if args.dirty {
        flags.push_str(" --dirty");
    }
    if args.skewed_clocks > 0 {
        flags.push_str(&format!(" --skewed-clocks {}", args.skewed_clocks));
    }
    if args.clock_drift {
        flags.push_str(" --clock-drift");
    }
    if args.unstated_offsets {
        flags.push_str(" --unstated-offsets");
    }
    if args.draw_mechanism {
        flags.push_str(" --draw-mechanism");
    }
    if args.shape != Shape::Standard {
        flags.push_str(&format!(" --shape {}", args.shape.name()));
    }
    if args.real_logs {
        flags.push_str(" --real-logs");
    }
    if let Some(every) = &args.ownership_snapshots {
        flags.push_str(&format!(" --ownership-snapshots {every}"));
    }
    let mut s = format!(
        "# Written by: leakscope generate --scenario {} --seed {} --deliveries {} --format {}{}\n\
         session_ttl = \"24h\"\n\
         tolerance = \"2s\"\n",
        args.scenario, args.seed, args.deliveries, args.format, flags
    );
    if args.real_logs {
        s.push_str(
            "# No cache log: what the keys held is inferred from the misses.\n\
             infer_cache = true\n",
        );
    }
    if args.ownership_snapshots.is_some() {
        s.push_str(
            "# The ownership log is a device registry's snapshots, not events.\n\
             ownership_snapshots = true\n",
        );
    }
    if args.dirty {
        s.push_str(&format!(
            "# Files with naive timestamps are in this zone.\n\
             timezone = \"{}\"\n",
            timefmt::NAIVE_ZONE,
        ));
    }
    s.push_str(offsets);
    s
}

/// Generates the dataset and its truth; see the module docs.
pub fn generate(args: &GenerateArgs) -> anyhow::Result<Report> {
    let scenario = Scenario::parse(&args.scenario)?;
    let format = Format::parse(&args.format)?;
    anyhow::ensure!(
        args.deliveries >= MIN_DELIVERIES,
        "--deliveries must be at least {MIN_DELIVERIES}"
    );
    anyhow::ensure!(
        !(args.real_logs && args.dirty),
        "--real-logs writes clean server logs; --dirty applies to the contract form only"
    );
    let every = args
        .ownership_snapshots
        .as_deref()
        .map(registry::parse_every)
        .transpose()?;
    prepare_out(&args.out, args.force)?;
    let n = args.deliveries;
    let mechanism = if args.draw_mechanism {
        mechanism::Mechanism::draw(stream(args.seed, scenario, "mechanism"))
    } else {
        mechanism::Mechanism::fixed(scenario)
    };
    let world = plan::plan(
        scenario,
        mechanism,
        stream(args.seed, scenario, "world"),
        n,
        args.shape,
    );

    let clocks = clocks::draw(&world, args, stream(args.seed, scenario, "clocks"));
    let snapshots = every
        .map(|every| registry::Snapshots::every(&world, every))
        .transpose()?;
    std::fs::write(
        args.out.join("dataset.toml"),
        dataset_toml(args, &clocks::stated_block(&world, &clocks, args)),
    )?;
    std::fs::write(
        args.out.join("truth_clocks.json"),
        clocks::truth_json(&world, &clocks, args)?,
    )?;
    std::fs::write(
        args.out.join("truth_mechanism.json"),
        planted::truth_json(&world.mechanism, &world)?,
    )?;

    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let groups = vec![
        world.nodes.iter().map(|n| n.server.clone()).collect(),
        world.nodes.iter().map(|n| n.name.clone()).collect(),
        names(&["collector-a", "collector-b", "collector-c"]),
        names(&["registry-a", "registry-b"]),
        names(&["changes"]),
        names(&["accounts-a", "accounts-b"]),
    ];
    let out = Output::new(
        &args.out,
        args.dirty,
        format,
        stream(args.seed, scenario, "files"),
        groups,
        n,
        args.shape.epoch_timestamps(),
    );
    let mut out = if args.real_logs {
        std::fs::write(args.out.join("mapping.toml"), real::mapping_toml())?;
        out.with_real_logs(world.nodes.iter().map(|n| n.server.clone()).collect())
    } else {
        out
    };
    let mut truth = TruthAcc::create(&args.out, args.real_logs || snapshots.is_some())?;
    let stats = sim::run(
        &world,
        stream(args.seed, scenario, "traffic"),
        &mut out,
        &mut truth,
        &sim::Recording {
            clocks: &clocks,
            snapshots: snapshots.as_ref(),
        },
        n,
        args.shape,
    )?;
    let (counts, files, malformed) = out.finish()?;
    anyhow::ensure!(
        truth.deliveries == n,
        "simulated {} deliveries, not {n}",
        truth.deliveries
    );
    anyhow::ensure!(
        counts[&LogKind::Deliveries].accepted() == n,
        "delivery rows do not account for {n} deliveries"
    );
    let summary = truth.summary(&counts);
    let mut text = serde_json::to_string_pretty(&summary)?;
    text.push('\n');
    std::fs::write(args.out.join("truth.json"), text)?;
    let report = Report {
        truth: summary,
        files,
        malformed,
        stats,
        by_cause: truth.by_cause.clone(),
        unplanned: truth.unplanned,
        specials_planned: world.specials.len(),
        specials_dropped: world.specials_dropped,
    };
    truth.finish()?;
    Ok(report)
}
