//! The `analyze` pipeline end to end: load → intervals → join → classify → aggregate, then the outputs.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::aggregate::Summary;
use crate::error::{Error, Result};
use crate::findings::{DeliveryContext, Findings, FindingsBuilder};
use crate::load::{load, LoadOptions, LoadedDataset};
use crate::report::{RowSource, RowTables};
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
    /// From [`analyze`], one per accepted delivery: `verdicts[i]` belongs to row i of the
    /// deliveries table. Empty from [`analyze_into`], which writes them out instead of keeping them.
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
/// The per-delivery tables (verdicts.parquet, leaks, unresolved) are written a block at a time on
/// a second thread while the next block is joined and classified, and the verdicts are not kept
/// (the returned run has none). Their writing is then part of the `aggregate` stage.
pub fn analyze_into(
    dataset: &Path,
    out: &Path,
    opts: &AnalyzeOptions,
) -> Result<(Analysis, Vec<StageTiming>)> {
    let a = run(dataset, opts, Some(out))?;
    let timings = report::write_all_but_row_tables(&a, out, opts)?;
    Ok((a, timings))
}

/// The pipeline. Deliveries are joined, classified and gathered into the findings a block at a
/// time. With `row_tables_into`, each block's row tables are written there on a second thread and
/// its verdicts then dropped; without, every verdict and context is kept in the [`Analysis`].
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
    let deliveries = loaded.table(Kind::Deliveries);
    let mut found = FindingsBuilder::new(&loaded);
    let mut kept = (Vec::new(), DeliveryContext::default());
    let mut seconds = [0.0; 3];
    std::thread::scope(|scope| {
        let (to_writer, writer) = match row_tables_into {
            Some(out) => {
                std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
                let (tx, rx) = std::sync::mpsc::sync_channel::<ClassifiedBlock>(1);
                let writer = scope.spawn(move || {
                    let mut tables = RowTables::new(out);
                    for (rows, verdicts, context) in rx {
                        tables.add(&RowSource {
                            deliveries,
                            rows,
                            verdicts: &verdicts,
                            context: &context,
                        })?;
                    }
                    tables.finish()
                });
                (Some(tx), Some(writer))
            }
            None => (None, None),
        };
        // One block even with no deliveries, so that every row table still gets its header.
        let ranges: Vec<Range<usize>> = match deliveries.len() {
            0 => std::iter::once(0..0).collect(),
            n => blocks(n, opts.block_rows).collect(),
        };
        for rows in ranges {
            let t = Instant::now();
            let verdicts = match rows.is_empty() {
                true => Vec::new(),
                false => {
                    // The look-ups (three rows per delivery) would be the largest thing the run
                    // ever holds if all deliveries were joined at once.
                    let lookups = join::delivery_frame(deliveries, rows.clone(), &timelines.codes)
                        .and_then(|block| {
                            join::resolve(&block, &timelines, loaded.settings.tolerance_ms)
                        })
                        .map_err(|e| {
                            Error::polars(
                                "joining deliveries with sessions, cache and ownership",
                                e,
                            )
                        })?;
                    seconds[0] += t.elapsed().as_secs_f64();
                    let t = Instant::now();
                    let v =
                        classify::classify(&lookups, deliveries, rows.clone(), &timelines.codes)
                            .map_err(|e| Error::polars("classifying deliveries", e))?;
                    seconds[1] += t.elapsed().as_secs_f64();
                    v
                }
            };
            let t = Instant::now();
            let context = found.basis.context(deliveries, rows.clone(), &verdicts);
            found.add(deliveries, rows.clone(), &verdicts, &context);
            match &to_writer {
                Some(tx) => {
                    if tx.send((rows, verdicts, context)).is_err() {
                        // The writer stopped on an error, which its join below reports.
                        break;
                    }
                }
                None => {
                    kept.0.extend(verdicts);
                    kept.1.append(context);
                }
            }
            seconds[2] += t.elapsed().as_secs_f64();
        }
        drop(to_writer);
        let t = Instant::now();
        if let Some(w) = writer {
            // A panic on the writer's thread is a bug, and is passed on as one.
            w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        }
        seconds[2] += t.elapsed().as_secs_f64();
        Ok::<_, Error>(())
    })?;
    drop(timelines);
    let t = Instant::now();
    let (summary, findings) = found.finish(&loaded);
    seconds[2] += t.elapsed().as_secs_f64();
    clock.laps(&[
        ("join", seconds[0]),
        ("classify", seconds[1]),
        ("aggregate", seconds[2]),
    ]);
    let (verdicts, context) = kept;
    Ok(Analysis {
        loaded,
        verdicts,
        summary,
        findings: Findings {
            context,
            ..findings
        },
        timings: clock.into_laps(),
    })
}

/// A block of deliveries on its way to the row tables: its rows, their verdicts and context.
type ClassifiedBlock = (Range<usize>, Vec<Verdict>, DeliveryContext);

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
