//! The `leakscope` command: parses arguments, runs one subcommand, maps the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use leakscope::analyze::{self, AnalyzeOptions};
use leakscope::load::LoadOptions;

// The pipeline makes and frees millions of small values (cells, strings, verdicts);
// mimalloc is faster at that than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "leakscope",
    version,
    about = "Find who saw whose data: cross-tenant leaks in stream, cache, session and ownership logs",
    after_help = "Examples:\n  leakscope validate data/sample\n  leakscope analyze data/sample --out reports/sample\n  leakscope generate --scenario cache-key-collision --seed 7 --deliveries 100000 --out /tmp/ds --dirty"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// No progress bar and no summary lines on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Print the time and memory of each pipeline stage (stderr) and record them in manifest.json.
    #[arg(long, short, global = true)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse a dataset and write the verdicts, leak tables, summary, quarantine and manifest.
    Analyze {
        /// The dataset folder (deliveries/, cache/, sessions/, ownership/, ...).
        dataset: PathBuf,
        /// Where to write the outputs; created if missing.
        #[arg(long)]
        out: PathBuf,
        /// A mapping file for foreign column names and values (default: <dataset>/mapping.toml).
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Fail when any input file cannot be read, instead of reporting it and going on.
        #[arg(long)]
        strict: bool,
        /// Replace account and session ids in the reports and notification lists by keyed hashes
        /// (HMAC-SHA-256; the key is the file's bytes, trimmed, at least 16). See docs/REPORTS.md.
        #[arg(long, value_name = "KEYFILE")]
        pseudonymize: Option<PathBuf>,
        /// Deliveries joined and classified at a time: smaller blocks use less memory. Results do not depend on it.
        #[arg(long, value_name = "N", default_value_t = leakscope::analyze::DEFAULT_BLOCK_ROWS,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        block_rows: usize,
        /// Deliveries held in memory while loading; beyond that they are spilled to disk (under
        /// TMPDIR) in sorted runs of this many rows, and merged back [default: 1048576].
        /// Results do not depend on it.
        #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        run_rows: Option<usize>,
    },
    /// Load and check a dataset; print the row accounting per kind and file, and the first errors.
    Validate {
        dataset: PathBuf,
        #[arg(long)]
        mapping: Option<PathBuf>,
        #[arg(long)]
        strict: bool,
        /// How many rejected rows to show per file.
        #[arg(long, default_value_t = 5)]
        errors: usize,
        /// As for `analyze`: deliveries held in memory before sorted runs spill to disk.
        #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        run_rows: Option<usize>,
    },
    /// Simulate an incident and write a dataset with its ground truth.
    Generate(leakscope::generate::GenerateArgs),
}

fn main() -> ExitCode {
    leakscope::memory::keep_freed_memory();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("leakscope: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The arguments as given, with the program recorded as `leakscope` rather than the path it was started
/// from, so that the manifest does not depend on where the binary was built.
fn command_line() -> Vec<String> {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(first) = args.first_mut() {
        *first = "leakscope".to_string();
    }
    args
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let quiet = cli.quiet;
    let verbose = cli.verbose;
    match cli.command {
        Command::Analyze {
            dataset,
            out,
            mapping,
            strict,
            pseudonymize,
            block_rows,
            run_rows,
        } => {
            let opts = AnalyzeOptions {
                load: LoadOptions {
                    mapping,
                    strict,
                    progress: !quiet,
                    run_rows: run_rows.unwrap_or(0),
                },
                command_line: command_line(),
                pseudonymize,
                timings_in_manifest: verbose,
                block_rows,
            };
            let (analysis, timings) =
                analyze::analyze_into(&dataset, &out, &opts).with_context(|| {
                    format!("analysing {} into {}", dataset.display(), out.display())
                })?;
            if verbose {
                eprint!("{}", leakscope::stages::describe(&timings));
            }
            if !quiet {
                for w in &analysis.loaded.warnings {
                    eprintln!("WARNING: {w}");
                }
                eprint!("{}", analyze::headline(&analysis));
            }
            // Freeing millions of small strings one by one costs seconds at 10^7 rows,
            // and the process is about to exit anyway.
            std::mem::forget(analysis);
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate {
            dataset,
            mapping,
            strict,
            errors,
            run_rows,
        } => {
            let opts = LoadOptions {
                mapping,
                strict,
                progress: !quiet,
                run_rows: run_rows.unwrap_or(0),
            };
            let loaded = leakscope::load::load_streaming(&dataset, &opts)
                .and_then(|mut l| l.merge_spilled(false).map(|()| l))
                .with_context(|| format!("loading {}", dataset.display()))?;
            print!("{}", leakscope::report::validation_text(&loaded, errors));
            std::mem::forget(loaded);
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(args) => {
            leakscope::generate::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
