//! The `leakscope` command: parses arguments, runs one subcommand, maps the outcome to an exit code.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use leakscope::analyze::{self, AnalyzeOptions};
use leakscope::load::{Config, LoadObserver, LoadOptions};

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
        #[command(flatten)]
        run: RunArgs,
    },
    /// Estimate every clock's offset from causal pairs in the logs (each miss and its fill, each
    /// login and its first delivery); print it, and with --out write clocks.json and
    /// clock_offsets.toml, a [clock_offset_ms] block to review. Nothing is applied by itself.
    Clocks {
        dataset: PathBuf,
        /// A folder for clocks.json and clock_offsets.toml; created if missing.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// The stream server or cache node the offsets are told relative to [default: the
        /// stream servers' consensus, their median].
        #[arg(long)]
        reference: Option<String>,
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
    /// Explain one delivery's verdict step by step, with the log lines that decided it read back
    /// from the dataset and checked against the run's manifest.
    Explain {
        /// The output folder of an `analyze` run.
        out: PathBuf,
        /// The delivery: its request_id, or <file>:<line> as citations.jsonl names it.
        delivery: String,
        /// The dataset the run read [default: the one the manifest names, beside the output
        /// folder, in the working folder or under data/].
        #[arg(long)]
        dataset: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Simulate an incident and write a dataset with its ground truth.
    Generate(leakscope_simulator::GenerateArgs),
    /// The stages a cluster runs (spark/leakscope_spark.py drives them; docs/SPARK.md).
    Kernel {
        #[command(subcommand)]
        stage: KernelStage,
    },
}

/// A kernel's view of the dataset: its configuration files copied into a folder named as the
/// dataset, the log files themselves elsewhere.
#[derive(Debug, clap::Args)]
struct KernelConfig {
    /// A folder named as the dataset, holding its dataset.toml and mapping.toml if it has them.
    #[arg(long)]
    config: PathBuf,
    /// A mapping file given on the command line of the run.
    #[arg(long)]
    mapping: Option<PathBuf>,
}

impl KernelConfig {
    fn read(&self, strict: bool, run_rows: Option<usize>) -> anyhow::Result<(Config, LoadOptions)> {
        let opts = LoadOptions {
            mapping: self.mapping.clone(),
            strict,
            observer: None,
            run_rows: run_rows.unwrap_or(0),
            clock_offsets: None,
        };
        let config = Config::read(&self.config, &opts)?;
        Ok((config, opts))
    }
}

#[derive(Debug, Subcommand)]
enum KernelStage {
    /// Reads a dataset's listing on stdin (`d <path>` and `f <path>` lines, relative to the
    /// dataset); prints the files to read as `<number>\t<path>` lines.
    Plan {
        #[command(flatten)]
        config: KernelConfig,
    },
    /// Reads and validates one file; writes its parts as an Arrow IPC stream on stdout.
    Parse {
        #[command(flatten)]
        config: KernelConfig,
        /// The file's number in the plan.
        #[arg(long)]
        index: u32,
        /// The file's path in the dataset, as the plan gives it.
        #[arg(long)]
        rel: String,
        /// Where the file's bytes are.
        #[arg(long)]
        bytes: PathBuf,
    },
    /// Reads every file's parts (Arrow IPC on stdin), analyses the dataset they make and writes
    /// the outputs, as `leakscope analyze` with the same options would.
    Finalize {
        #[command(flatten)]
        config: KernelConfig,
        /// The listing the plan was made from.
        #[arg(long)]
        listing: PathBuf,
        /// `<number>\t<path>` lines: where each file's parts are (one Arrow IPC stream per
        /// file). Without it, every part comes on stdin, as one stream.
        #[arg(long)]
        parts_list: Option<PathBuf>,
        /// A `<path>` line per verdict kernel's output: the verdicts the cluster worked out,
        /// used in place of the driver's own look-ups.
        #[arg(long)]
        verdicts: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Reads one file's parts (Arrow IPC on stdin); writes its rows routed to the buckets of the
    /// look-ups (Arrow IPC on stdout).
    Route {
        /// The number of buckets of every shuffle.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        buckets: u32,
    },
    /// Reads one bucket of routed deliveries; writes them de-duplicated, routed by cache key.
    Dedup {
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        buckets: u32,
    },
    /// Reads one bucket of deliveries and cache rows; writes the content found for each
    /// delivery, routed by session.
    Content {
        #[command(flatten)]
        config: KernelConfig,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        buckets: u32,
    },
    /// Reads one bucket of deliveries with their content, sessions and ownership; writes their
    /// verdicts, sorted as the single-node run orders deliveries.
    Verdict {
        #[command(flatten)]
        config: KernelConfig,
    },
}

/// How an analysis runs, the same for `analyze` and for a cluster's `kernel finalize`.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Fail when any input file cannot be read, instead of reporting it and going on.
    #[arg(long)]
    strict: bool,
    /// Replace the outputs of another dataset in --out (a folder holding anything but
    /// leakscope outputs is never replaced).
    #[arg(long)]
    force: bool,
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
    /// Also write exports for other tools: `timesketch` (timeline.jsonl, timeline.csv) and
    /// `ocsf` (findings.ocsf.jsonl). See docs/REPORTS.md.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    export: Vec<Export>,
}

/// An export `--export` can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Export {
    Timesketch,
    Ocsf,
}

impl RunArgs {
    fn exports(&self) -> leakscope::report::Exports {
        leakscope::report::Exports {
            timesketch: self.export.contains(&Export::Timesketch),
            ocsf: self.export.contains(&Export::Ocsf),
        }
    }

    /// The options of a run loading with `load` and recording `command_line`.
    fn options(
        self,
        load: LoadOptions,
        command_line: Vec<String>,
        verbose: bool,
    ) -> AnalyzeOptions {
        let exports = self.exports();
        AnalyzeOptions {
            load,
            command_line,
            pseudonymize: self.pseudonymize,
            timings_in_manifest: verbose,
            block_rows: self.block_rows,
            force: self.force,
            exports,
        }
    }

    /// The command line of the single-node run that gives the same outputs as a cluster's,
    /// options in the order `analyze --help` lists them: recorded in the manifest, which names
    /// no engine.
    fn single_node_command(&self, mapping: bool) -> Vec<String> {
        let mut c: Vec<String> = ["leakscope", "analyze", "<dataset>", "--out", "<out>"]
            .map(String::from)
            .to_vec();
        if mapping {
            c.extend(["--mapping".into(), "<mapping>".into()]);
        }
        if self.strict {
            c.push("--strict".into());
        }
        if self.force {
            c.push("--force".into());
        }
        if self.pseudonymize.is_some() {
            c.extend(["--pseudonymize".into(), "<keyfile>".into()]);
        }
        if self.block_rows != leakscope::analyze::DEFAULT_BLOCK_ROWS {
            c.extend(["--block-rows".into(), self.block_rows.to_string()]);
        }
        if let Some(n) = self.run_rows {
            c.extend(["--run-rows".into(), n.to_string()]);
        }
        let exports = self.exports();
        let named: Vec<&str> = [(exports.timesketch, "timesketch"), (exports.ocsf, "ocsf")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if !named.is_empty() {
            c.extend(["--export".into(), named.join(",")]);
        }
        c
    }
}

/// mimalloc's `mi_option_purge_delay` (libmimalloc-sys does not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long memory freed while a spilled dataset is analysed stays before it goes back to the OS.
const SPILLED_PURGE_DELAY_MS: std::ffi::c_long = 2000;

/// Keeps freed memory in the allocator instead of handing it back to the OS 10 ms later: the
/// stages free and allocate gigabytes in turn, and each page handed back was zeroed again by the
/// kernel when taken anew (at 10^7 deliveries: system time 23 s -> 15 s, peak RSS +2%).
fn keep_freed_memory() {
    // SAFETY: sets a documented allocator option to a documented value; no memory is touched.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Hands memory that stays free for two seconds back to the OS. Kept memory is reused only by
/// the thread and the size of allocation that freed it, so on a dataset spilled to disk the
/// validation's small strings, the merge's chunks and the joins' large buffers each kept their
/// own: at 10^8 deliveries peak RSS was 19.2 GB with all of it kept and 13 GB without.
fn return_freed_memory() {
    // SAFETY: as in `keep_freed_memory`.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, SPILLED_PURGE_DELAY_MS) };
}

/// The command line's view of loading: a progress bar on stderr when it is a terminal and not
/// `--quiet`, and the allocator's policy once a dataset proves too large to keep freed memory.
#[derive(Debug)]
struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    fn observer(show: bool) -> Arc<dyn LoadObserver> {
        let bar = match show && std::io::stderr().is_terminal() {
            true => indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} loading {pos}/{len} files {wide_bar} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            ),
            false => indicatif::ProgressBar::hidden(),
        };
        Arc::new(Progress { bar })
    }
}

impl LoadObserver for Progress {
    fn files_found(&self, n: usize) {
        self.bar.set_length(n as u64);
    }

    fn file_loaded(&self) {
        self.bar.inc(1);
    }

    fn files_loaded(&self) {
        self.bar.finish_and_clear();
    }

    fn spilled_beyond_memory(&self) {
        return_freed_memory();
    }
}

/// The run could not be done: bad settings, an unreadable dataset, a refused output folder, a
/// full disk (and, from clap, a bad command line). Nothing new is in `--out`.
const EXIT_REFUSED: u8 = 2;
/// A bug in leakscope: an invariant of ours failed. Nothing new is in `--out`.
const EXIT_BUG: u8 = 3;

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    let verbose = cli.verbose;
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("leakscope: {}", one_line(&e));
            let ours = e
                .chain()
                .find_map(|c| c.downcast_ref::<leakscope::error::Error>());
            if let (true, Some(detail)) = (verbose, ours.and_then(|e| e.detail())) {
                eprintln!("detail of the internal error:\n{detail}");
            }
            match ours {
                Some(leakscope::error::Error::Internal { .. }) => ExitCode::from(EXIT_BUG),
                _ => ExitCode::from(EXIT_REFUSED),
            }
        }
    }
}

/// An error and its causes on one line, each cause once (our errors already name theirs), with
/// any line break of a dependency's text folded.
fn one_line(e: &anyhow::Error) -> String {
    let mut s = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = leakscope::error::one_line(&text);
        if s.ends_with(&text) {
            continue;
        }
        if !s.is_empty() {
            s.push_str(": ");
        }
        s.push_str(&text);
    }
    s
}

/// The arguments as given, with the program recorded as `leakscope` and each path of `paths`
/// as its placeholder (`<dataset>`, `<out>`, ...), so that the manifest depends neither on where
/// the binary was built nor on where the dataset and its outputs lie.
fn command_line(paths: &[(&str, Option<&Path>)]) -> Vec<String> {
    let placeholder = |arg: &str| {
        paths.iter().find_map(|(name, p)| {
            p.filter(|p| Path::new(arg) == *p)
                .map(|_| format!("<{name}>"))
        })
    };
    std::env::args()
        .enumerate()
        .map(|(i, arg)| {
            if i == 0 {
                return "leakscope".to_string();
            }
            if let Some(p) = placeholder(&arg) {
                return p;
            }
            match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => match placeholder(value) {
                    Some(p) => format!("{flag}={p}"),
                    None => arg,
                },
                _ => arg,
            }
        })
        .collect()
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let quiet = cli.quiet;
    let verbose = cli.verbose;
    match cli.command {
        Command::Analyze {
            dataset,
            out,
            mapping,
            run,
        } => {
            let command_line = command_line(&[
                ("dataset", Some(&dataset)),
                ("out", Some(&out)),
                ("mapping", mapping.as_deref()),
                ("keyfile", run.pseudonymize.as_deref()),
            ]);
            let load = LoadOptions {
                mapping,
                strict: run.strict,
                observer: Some(Progress::observer(!quiet)),
                run_rows: run.run_rows.unwrap_or(0),
                clock_offsets: None,
            };
            let opts = run.options(load, command_line, verbose);
            let done = analyze::analyze_into(&dataset, &out, &opts).with_context(|| {
                format!("analysing {} into {}", dataset.display(), out.display())
            })?;
            Ok(finish_analysis(done, quiet, verbose))
        }
        Command::Explain {
            out,
            delivery,
            dataset,
            json,
        } => {
            let e = leakscope::explain::explain(&out, dataset.as_deref(), &delivery)
                .with_context(|| format!("explaining {delivery} from {}", out.display()))?;
            match json {
                true => println!("{:#}", e.json()),
                false => print!("{}", e.text()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Clocks {
            dataset,
            out,
            mapping,
            reference,
        } => {
            let opts = LoadOptions {
                mapping,
                observer: Some(Progress::observer(!quiet)),
                ..LoadOptions::default()
            };
            let report = leakscope::clocks::estimate_dataset(&dataset, &opts, reference.as_deref())
                .with_context(|| format!("estimating the clocks of {}", dataset.display()))?;
            print!("{}", report.text());
            if let Some(out) = out {
                write_clocks(&report, &out)?;
            }
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
                observer: Some(Progress::observer(!quiet)),
                run_rows: run_rows.unwrap_or(0),
                clock_offsets: None,
            };
            let loaded = leakscope::load::load_streaming(&dataset, &opts)
                .and_then(|mut l| l.merge_spilled(false).map(|()| l))
                .with_context(|| format!("loading {}", dataset.display()))?;
            print!("{}", leakscope::report::validation_text(&loaded, errors));
            std::mem::forget(loaded);
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(args) => {
            leakscope_simulator::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kernel { stage } => run_kernel(stage, quiet, verbose),
    }
}

/// Prints what a finished analysis says on stderr.
fn finish_analysis(
    (analysis, timings): (analyze::Analysis, Vec<leakscope::stages::StageTiming>),
    quiet: bool,
    verbose: bool,
) -> ExitCode {
    if verbose {
        eprint!("{}", leakscope::stages::describe(&timings));
    }
    if !quiet {
        for w in &analysis.loaded.warnings {
            eprintln!("WARNING: {w}");
        }
        eprint!("{}", analyze::headline(&analysis));
    }
    // Freeing millions of small strings one by one costs seconds at 10^7 rows, and the process
    // is about to exit anyway.
    std::mem::forget(analysis);
    ExitCode::SUCCESS
}

/// A kernel's stdout, buffered: its output is one long Arrow IPC stream.
fn stdout() -> std::io::BufWriter<std::io::Stdout> {
    std::io::BufWriter::with_capacity(1 << 20, std::io::stdout())
}

fn run_kernel(stage: KernelStage, quiet: bool, verbose: bool) -> anyhow::Result<ExitCode> {
    use leakscope::kernel;
    match stage {
        KernelStage::Plan { config } => {
            let (config, _) = config.read(false, None)?;
            let listing = kernel::plan::read_listing(std::io::stdin().lock())?;
            print!("{}", kernel::plan::plan_lines(&config, &listing)?);
        }
        KernelStage::Parse {
            config,
            index,
            rel,
            bytes,
        } => {
            let (config, _) = config.read(false, None)?;
            kernel::parse::parse(&config, index, &rel, &bytes, stdout())?;
        }
        KernelStage::Route { buckets } => {
            kernel::route::route(std::io::stdin().lock(), buckets, stdout())?;
        }
        KernelStage::Dedup { buckets } => {
            kernel::dedup::dedup(std::io::stdin().lock(), buckets, stdout())?;
        }
        KernelStage::Content { config, buckets } => {
            let (config, _) = config.read(false, None)?;
            kernel::content::content(&config, std::io::stdin().lock(), buckets, stdout())?;
        }
        KernelStage::Verdict { config } => {
            let (config, _) = config.read(false, None)?;
            kernel::verdict::verdicts(&config, std::io::stdin().lock(), stdout())?;
        }
        KernelStage::Finalize {
            config,
            listing,
            parts_list,
            verdicts,
            out,
            run,
        } => {
            let command_line = run.single_node_command(config.mapping.is_some());
            let (cfg, load) = config.read(run.strict, run.run_rows)?;
            let root = cfg.root.clone();
            let opts = run.options(load.clone(), command_line, verbose);
            let parts = match &parts_list {
                Some(list) => kernel::finalize::Parts::Listed(list),
                None => kernel::finalize::Parts::Stdin,
            };
            let gather = || kernel::finalize::load(cfg, &listing, parts, &load);
            let mut merged = match &verdicts {
                Some(list) => Some(kernel::merge::Merged::open(list)?),
                None => None,
            };
            let given = merged
                .as_mut()
                .map(|m| m as &mut dyn analyze::GivenVerdicts);
            let done = analyze::analyze_loaded_into(&root, gather, given, &out, &opts)
                .with_context(|| format!("analysing into {}", out.display()))?;
            return Ok(finish_analysis(done, quiet, verbose));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `clocks.json` and `clock_offsets.toml` into `out`.
fn write_clocks(report: &leakscope::clocks::ClockReport, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut json = serde_json::to_string_pretty(report)?;
    json.push('\n');
    for (name, text) in [
        ("clocks.json", json),
        ("clock_offsets.toml", report.suggested_block()),
    ] {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
