//! The `analyze` pipeline end to end: load → intervals → join → classify → aggregate, then the outputs.

use std::path::{Path, PathBuf};

use crate::aggregate::{summarize, Summary};
use crate::error::{Error, Result};
use crate::findings::{self, Findings};
use crate::load::{load, LoadOptions, LoadedDataset};
use crate::schema::Kind;
use crate::stages::StageClock;
pub use crate::stages::StageTiming;
use crate::verdict::Verdict;
use crate::{classify, intervals, join, report};

/// Options of one analysis run.
#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    pub load: LoadOptions,
    /// Recorded in the manifest.
    pub command_line: Vec<String>,
    /// A key file: account and session ids in the shareable outputs (reports, notification lists) become keyed hashes.
    pub pseudonymize: Option<PathBuf>,
    /// Also record the stage timings in manifest.json, which then differs from run to run.
    pub timings_in_manifest: bool,
    /// Deliveries joined and classified at a time (0: [`DEFAULT_BLOCK_ROWS`]); less memory, more passes.
    pub block_rows: usize,
}

/// Everything a run produced, before it is written out.
pub struct Analysis {
    pub loaded: LoadedDataset,
    /// One per accepted delivery: `verdicts[i]` belongs to row i of the deliveries table.
    pub verdicts: Vec<Verdict>,
    pub summary: Summary,
    /// The facts behind report.md/report.html and the notification lists.
    pub findings: Findings,
    pub timings: Vec<StageTiming>,
}

/// Deliveries per join-and-classify block unless told otherwise.
pub const DEFAULT_BLOCK_ROWS: usize = 1 << 20;

pub fn analyze(dataset: &Path, opts: &AnalyzeOptions) -> Result<Analysis> {
    run(dataset, opts, None)
}

/// [`analyze`], then every output written into `out`, as [`write_outputs`] would; returns the run
/// and the timings of every stage.
///
/// The per-delivery tables (verdicts.parquet, leaks, unresolved) are written on a second thread
/// while the findings are computed: both only read the verdicts, and each alone leaves a core idle.
/// Their time is then part of the `aggregate` stage.
pub fn analyze_into(
    dataset: &Path,
    out: &Path,
    opts: &AnalyzeOptions,
) -> Result<(Analysis, Vec<StageTiming>)> {
    let a = run(dataset, opts, Some(out))?;
    let timings = report::write_all_but_row_tables(&a, out, opts)?;
    Ok((a, timings))
}

/// The pipeline; with `row_tables_into`, the row tables are written there during the aggregate stage.
fn run(dataset: &Path, opts: &AnalyzeOptions, row_tables_into: Option<&Path>) -> Result<Analysis> {
    if let Some(key) = &opts.pseudonymize {
        // Check the key before minutes of work, not after.
        report::Pseudonyms::from_keyfile(key)?;
    }
    let mut clock = StageClock::new();
    let loaded = load(dataset, &opts.load)?;
    clock.lap("load");
    let timelines =
        intervals::build(&loaded).map_err(|e| Error::polars("building timelines", e))?;
    clock.lap("intervals");
    // Deliveries are joined and classified a block at a time: the look-ups (three rows per
    // delivery) would otherwise be the largest thing the run ever holds.
    let deliveries = loaded.table(Kind::Deliveries);
    let mut verdicts = Vec::with_capacity(deliveries.len());
    let (mut join_s, mut classify_s) = (0.0, 0.0);
    for rows in blocks(deliveries.len(), opts.block_rows) {
        let t = std::time::Instant::now();
        let lookups = join::delivery_frame(deliveries, rows.clone(), &timelines.codes)
            .and_then(|block| join::resolve(&block, &timelines, loaded.settings.tolerance_ms))
            .map_err(|e| {
                Error::polars("joining deliveries with sessions, cache and ownership", e)
            })?;
        join_s += t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        verdicts.extend(
            classify::classify(&lookups, deliveries, rows, &timelines.codes)
                .map_err(|e| Error::polars("classifying deliveries", e))?,
        );
        classify_s += t.elapsed().as_secs_f64();
    }
    drop(timelines);
    clock.lap_split("join", join_s, "classify", classify_s);
    let basis = findings::basis(&loaded, &verdicts);
    let (summary, found) = std::thread::scope(|scope| {
        let writer = row_tables_into.map(|out| {
            let rows = report::RowSource {
                loaded: &loaded,
                verdicts: &verdicts,
                context: &basis.context,
            };
            scope.spawn(move || {
                std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
                report::write_row_tables(&rows, out)
            })
        });
        let summary = summarize(&loaded, &verdicts);
        let found = findings::find_from(&loaded, &verdicts, &basis);
        if let Some(w) = writer {
            // A panic on the writer's thread is a bug, and is passed on as one.
            w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        }
        Ok::<_, Error>((summary, found))
    })?;
    let findings = Findings {
        context: basis.context,
        ..found
    };
    clock.lap("aggregate");
    Ok(Analysis {
        loaded,
        verdicts,
        summary,
        findings,
        timings: clock.into_laps(),
    })
}

/// Consecutive row ranges of at most `block_rows` rows (0: [`DEFAULT_BLOCK_ROWS`]) covering `0..n`.
pub fn blocks(n: usize, block_rows: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let size = match block_rows {
        0 => DEFAULT_BLOCK_ROWS,
        b => b,
    };
    (0..n)
        .step_by(size)
        .map(move |start| start..n.min(start + size))
}

/// The `summary.json` object.
pub fn summary_json(a: &Analysis) -> serde_json::Value {
    serde_json::to_value(&a.summary).unwrap_or(serde_json::Value::Null)
}

/// Writes every output of a run into `out`; returns the timings of every stage, writing included.
pub fn write_outputs(a: &Analysis, out: &Path, opts: &AnalyzeOptions) -> Result<Vec<StageTiming>> {
    report::write_all(a, out, opts)
}

/// A few lines for the terminal.
pub fn headline(a: &Analysis) -> String {
    let s = &a.summary;
    format!(
        "{} deliveries: {} leak, {} ambiguous, {} unresolved, {} ok\n{} exposed accounts, {} recipients, {} pairs; first leak {}, last leak {}\n",
        s.deliveries,
        s.leak_deliveries,
        s.ambiguous_deliveries,
        s.unresolved_deliveries,
        s.ok_deliveries,
        s.exposed_accounts,
        s.recipient_accounts,
        s.exposure_pairs,
        s.first_leak.as_deref().unwrap_or("-"),
        s.last_leak.as_deref().unwrap_or("-"),
    )
}
