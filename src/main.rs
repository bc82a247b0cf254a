//! The `leakscope` command: parses arguments, runs one subcommand, maps the outcome to an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use leakscope::analyze::{self, AnalyzeOptions};
use leakscope::load::LoadOptions;

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
    },
    /// Simulate an incident and write a dataset with its ground truth.
    Generate(leakscope::generate::GenerateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("leakscope: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Analyze {
            dataset,
            out,
            mapping,
            strict,
        } => {
            let opts = AnalyzeOptions {
                load: LoadOptions {
                    mapping,
                    strict,
                    progress: !quiet,
                },
                command_line: std::env::args().collect(),
            };
            let analysis = analyze::analyze(&dataset, &opts)
                .with_context(|| format!("analysing {}", dataset.display()))?;
            analyze::write_outputs(&analysis, &out, &opts)
                .with_context(|| format!("writing outputs to {}", out.display()))?;
            if !quiet {
                for w in &analysis.loaded.warnings {
                    eprintln!("WARNING: {w}");
                }
                eprint!("{}", analyze::headline(&analysis));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate {
            dataset,
            mapping,
            strict,
            errors,
        } => {
            let opts = LoadOptions {
                mapping,
                strict,
                progress: !quiet,
            };
            let loaded = leakscope::load::load(&dataset, &opts)
                .with_context(|| format!("loading {}", dataset.display()))?;
            print!("{}", leakscope::report::validation_text(&loaded, errors));
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(args) => {
            leakscope::generate::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
