//! The `analyze` pipeline end to end: load → intervals → join → classify → aggregate, then the outputs.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::aggregate::Summary;
use crate::context::{Basis, DeliveryContext};
use crate::error::{Error, Result};
use crate::findings::{Findings, FindingsBuilder};
use crate::infer::{Inference, InferredCache};
use crate::load::cache_log::CacheLog;
use crate::load::runs::{Merge, SpilledDeliveries};
use crate::load::{load_streaming, LoadOptions, LoadedDataset};
use crate::outputs::Staging;
use crate::report::{Exports, Outcome, ReportOptions, RowTables};
use crate::schema::Kind;
use crate::sink::{BlockSink, ClassifiedBlock};
use crate::stages::StageClock;
pub use crate::stages::StageTiming;
use crate::table::Table;
use crate::verdict::Verdict;
use crate::{classify, clocks, intervals, join, report};

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
    /// Replace an output folder that holds another dataset's outputs.
    pub force: bool,
    /// The exports for other tools to write besides the outputs.
    pub exports: Exports,
}

/// Everything a run produced, before it is written out.
pub struct Analysis {
    /// The dataset. Its cache log is in the timelines, let go with them, and from
    /// [`analyze_into`] its deliveries table is empty when they were spilled to disk.
    pub loaded: LoadedDataset,
    /// From [`analyze`], one per accepted delivery: `verdicts[i]` belongs to row i of the
    /// deliveries table. Empty from [`analyze_into`], which writes them out instead of keeping them.
    pub verdicts: Vec<Verdict>,
    /// The context of each delivery of `verdicts`, index for index.
    pub context: DeliveryContext,
    pub summary: Summary,
    /// The facts behind report.md/report.html and the notification lists.
    pub findings: Findings,
    pub timings: Vec<StageTiming>,
    /// The clocks' estimate from the run's causal pairs; none where the verdicts were given.
    pub clocks: Option<clocks::ClockReport>,
}

/// Verdicts worked out elsewhere (a cluster's kernels), handed over block by block in the order
/// of the deliveries, in place of the join and classify stages.
pub trait GivenVerdicts {
    /// The verdicts of rows `rows` of `d`, in row order.
    fn take(&mut self, d: &Table, rows: Range<usize>) -> Result<Vec<Verdict>>;
    /// Every block is in: a verdict left over is a bug.
    fn finish(&mut self) -> Result<()>;
}

/// Deliveries per join-and-classify block unless told otherwise. A block costs nothing beyond its
/// own deliveries (the timelines are built once for all), so the size only bounds what a block
/// holds at once: its look-ups, verdicts and context, and its rows on the way to the writer. It is
/// the row group of verdicts.parquet, so a default run hands the writer whole row groups.
pub const DEFAULT_BLOCK_ROWS: usize = 1 << 19;

pub fn analyze(dataset: &Path, opts: &AnalyzeOptions) -> Result<Analysis> {
    let mut a = run(|| load_streaming(dataset, &opts.load), None, opts, None)?;
    at_estimated_offsets(dataset, &mut a, opts)?;
    Ok(a)
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
    analyze_loaded_into(
        dataset,
        || load_streaming(dataset, &opts.load),
        None,
        out,
        opts,
    )
}

/// [`analyze_into`] of a dataset that `load` loads, however it does (a cluster's kernels, say),
/// with the verdicts `given` where they were worked out elsewhere; `dataset` is the folder the
/// outputs are checked against, as in [`Staging::begin`].
pub fn analyze_loaded_into(
    dataset: &Path,
    load: impl FnOnce() -> Result<LoadedDataset>,
    given: Option<&mut dyn GivenVerdicts>,
    out: &Path,
    opts: &AnalyzeOptions,
) -> Result<(Analysis, Vec<StageTiming>)> {
    let staging = Staging::begin(dataset, out, opts.force)?;
    let mut a = run(load, given, opts, Some(staging.path()))?;
    at_estimated_offsets(dataset, &mut a, opts)?;
    let timings = report::write_all(&a.outcome(), None, staging.path(), &opts.report())?;
    staging.commit()?;
    Ok((a, timings))
}

/// The pipeline. Deliveries are joined, classified and gathered into the findings a block at a
/// time. With `row_tables_into`, each block's row tables are written there on a second thread and
/// its verdicts then dropped; without, every verdict and context is kept in the [`Analysis`].
fn run(
    load: impl FnOnce() -> Result<LoadedDataset>,
    mut given: Option<&mut dyn GivenVerdicts>,
    opts: &AnalyzeOptions,
    row_tables_into: Option<&Path>,
) -> Result<Analysis> {
    if let Some(key) = &opts.pseudonymize {
        // Check the key before minutes of work, not after.
        report::Pseudonyms::from_keyfile(key)?;
    }
    let mut clock = StageClock::new();
    let mut loaded = load()?;
    let spilled = loaded.spilled.take();
    clock.lap("load");
    clock.laps(&[("normalise", loaded.normalise_seconds)]);
    let mut cache = std::mem::take(&mut loaded.cache);
    let inferred = match loaded.settings.infer_cache {
        true => Some(infer_fills(
            &loaded,
            spilled.as_ref(),
            &mut cache,
            opts.block_rows,
        )?),
        false => None,
    };
    // Given verdicts need no cache timeline here: only the sessions' and owners' counts.
    let cache = match given {
        Some(_) => CacheLog::default(),
        None => cache,
    };
    let timelines =
        intervals::build(&loaded, cache).map_err(|e| Error::timeline("building timelines", e))?;
    clock.lap("intervals");
    let basis = Basis::new(&loaded);
    let snapshot_conflicts = loaded
        .settings
        .ownership_snapshots
        .then_some(timelines.snapshot_conflicts as u64);
    // Without a row-table writer, the deliveries (resident or merged) are whole at the end.
    let mut found = FindingsBuilder::new(
        &loaded,
        inferred,
        snapshot_conflicts,
        row_tables_into.is_none(),
    );
    found.reserve(match &spilled {
        Some(s) => s.rows,
        None => loaded.table(Kind::Deliveries).len(),
    });
    let deliveries = loaded.table(Kind::Deliveries);
    let mut kept = Kept::default();
    let mut seconds = [0.0; 4];
    // The clocks' causal pairs, gathered as the blocks go by (docs/CLOCKS.md).
    let mut gatherer = given.is_none().then(|| clocks::Gatherer::new(&timelines));
    // Time the driver waits for the next block of spilled deliveries to be merged.
    let mut merging = 0.0;
    let merged = std::thread::scope(|scope| {
        let (to_writer, writer) = match row_tables_into {
            Some(out) => {
                std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
                let (tx, rx) = std::sync::mpsc::sync_channel::<OwnedBlock>(1);
                let files = loaded.file_paths();
                let writer = scope.spawn(move || {
                    let mut tables = RowTables::new(out, files);
                    for b in rx {
                        tables.add(&b.view())?;
                    }
                    tables.finish()
                });
                (Some(tx), Some(writer))
            }
            None => (None, None),
        };
        let mut source = match spilled {
            Some(s) => Blocks::merged(scope, s, opts.block_rows, loaded.files.len())?,
            None => Blocks::resident(deliveries, opts.block_rows),
        };
        let mut waited = Instant::now();
        while let Some(block) = source.next()? {
            merging += waited.elapsed().as_secs_f64();
            let rows = block.rows();
            let d = block.table();
            let t = Instant::now();
            let verdicts = match (rows.is_empty(), given.as_deref_mut()) {
                (true, _) => Vec::new(),
                (false, Some(g)) => {
                    let v = g.take(d, rows.clone())?;
                    seconds[0] += t.elapsed().as_secs_f64();
                    v
                }
                (false, None) => {
                    if let Some(g) = gatherer.as_mut() {
                        g.add(d, rows.clone());
                        seconds[3] += t.elapsed().as_secs_f64();
                    }
                    let t = Instant::now();
                    let resolved =
                        join::resolve(d, rows.clone(), &timelines, loaded.settings.tolerance_ms);
                    seconds[0] += t.elapsed().as_secs_f64();
                    let t = Instant::now();
                    let v = classify::classify(&resolved, d, rows.clone(), &timelines)
                        .map_err(|e| Error::timeline("classifying deliveries", e))?;
                    seconds[1] += t.elapsed().as_secs_f64();
                    v
                }
            };
            let t = Instant::now();
            let context = basis.context(d, rows.clone(), &verdicts);
            let classified = OwnedBlock {
                block,
                verdicts,
                context,
            };
            found.add(&classified.view())?;
            match &to_writer {
                Some(tx) => {
                    if tx.send(classified).is_err() {
                        // The writer stopped on an error, which its join below reports.
                        break;
                    }
                }
                None => kept.add(classified),
            }
            seconds[2] += t.elapsed().as_secs_f64();
            waited = Instant::now();
        }
        merging += waited.elapsed().as_secs_f64();
        drop(to_writer);
        let t = Instant::now();
        if let Some(w) = writer {
            // A panic on the writer's thread is a bug, and is passed on as one.
            w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        }
        seconds[2] += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let merged = source.finish();
        merging += t.elapsed().as_secs_f64();
        merged
    })?;
    let t = Instant::now();
    let gathered = gatherer.map(clocks::Gatherer::finish);
    seconds[3] += t.elapsed().as_secs_f64();
    drop(timelines);
    if let Some(g) = given {
        g.finish()?;
    }
    if let Some((duplicates, rows)) = merged {
        loaded.settle(&duplicates, rows)?;
        if row_tables_into.is_none() {
            loaded.tables.insert(Kind::Deliveries, kept.gathered);
        }
    }
    let t = Instant::now();
    let clock_report = gathered.and_then(|g| warn_of_clocks(&mut loaded, g));
    seconds[3] += t.elapsed().as_secs_f64();
    let t = Instant::now();
    let findings = found.finish(&loaded, &basis);
    let summary = Summary::new(&findings.headline, &loaded);
    seconds[2] += t.elapsed().as_secs_f64();
    clock.laps(&[
        ("clocks", seconds[3]),
        ("join", seconds[0]),
        ("classify", seconds[1]),
        ("aggregate", seconds[2]),
    ]);
    clock.extend("load", merging);
    Ok(Analysis {
        loaded,
        verdicts: kept.verdicts,
        context: kept.context,
        summary,
        findings,
        timings: clock.into_laps(),
        clocks: clock_report,
    })
}

impl Analysis {
    /// What the outputs are written from.
    pub fn outcome(&self) -> Outcome<'_> {
        Outcome {
            loaded: &self.loaded,
            summary: &self.summary,
            findings: &self.findings,
            timings: &self.timings,
        }
    }

    /// Every delivery with its verdict and context, when the run kept them ([`analyze`]).
    pub fn classified(&self) -> ClassifiedBlock<'_> {
        ClassifiedBlock {
            deliveries: self.loaded.table(Kind::Deliveries),
            rows: 0..self.verdicts.len(),
            verdicts: &self.verdicts,
            context: &self.context,
        }
    }
}

impl AnalyzeOptions {
    fn report(&self) -> ReportOptions<'_> {
        ReportOptions {
            command_line: &self.command_line,
            pseudonymize: self.pseudonymize.as_ref(),
            timings_in_manifest: self.timings_in_manifest,
            exports: self.exports,
        }
    }
}

/// A classified block that owns its verdicts and context, to be handed to another thread.
struct OwnedBlock<'a> {
    block: Block<'a>,
    verdicts: Vec<Verdict>,
    context: DeliveryContext,
}

impl OwnedBlock<'_> {
    fn view(&self) -> ClassifiedBlock<'_> {
        ClassifiedBlock {
            deliveries: self.block.table(),
            rows: self.block.rows(),
            verdicts: &self.verdicts,
            context: &self.context,
        }
    }
}

/// What [`analyze`] keeps of every block: the verdicts, their context, and the deliveries merged
/// back from spilled runs.
struct Kept {
    verdicts: Vec<Verdict>,
    context: DeliveryContext,
    gathered: Table,
}

impl Default for Kept {
    fn default() -> Kept {
        Kept {
            verdicts: Vec::new(),
            context: DeliveryContext::default(),
            gathered: Table::new(Kind::Deliveries),
        }
    }
}

impl Kept {
    fn add(&mut self, b: OwnedBlock) {
        self.verdicts.extend(b.verdicts);
        self.context.append(b.context);
        if let Block::Merged(t) = b.block {
            self.gathered.append(t);
        }
    }
}

/// Deliveries joined and classified together.
enum Block<'a> {
    /// Rows of the deliveries held in memory.
    Rows(&'a Table, Range<usize>),
    /// Deliveries merged from spilled runs, all of them.
    Merged(Table),
}

impl Block<'_> {
    fn table(&self) -> &Table {
        match self {
            Block::Rows(t, _) => t,
            Block::Merged(t) => t,
        }
    }

    fn rows(&self) -> Range<usize> {
        match self {
            Block::Rows(_, r) => r.clone(),
            Block::Merged(t) => 0..t.len(),
        }
    }
}

/// Where the blocks come from: ranges of the resident deliveries, or a merge of spilled runs
/// running on its own thread, a block ahead of the join.
enum Blocks<'scope, 'a> {
    Resident(&'a Table, std::vec::IntoIter<Range<usize>>),
    Merged(
        std::sync::mpsc::Receiver<Table>,
        std::thread::ScopedJoinHandle<'scope, Result<Merge>>,
    ),
}

impl<'scope, 'a> Blocks<'scope, 'a> {
    fn resident(deliveries: &'a Table, block_rows: usize) -> Blocks<'scope, 'a> {
        // One block even with no deliveries, so that every row table still gets its header.
        let ranges: Vec<Range<usize>> = match deliveries.len() {
            0 => std::iter::once(0..0).collect(),
            n => blocks(n, block_rows).collect(),
        };
        Blocks::Resident(deliveries, ranges.into_iter())
    }

    fn merged<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        spilled: SpilledDeliveries,
        block_rows: usize,
        n_files: usize,
    ) -> Result<Blocks<'scope, 'a>> {
        let mut merge = spilled.merge(block_size(block_rows), n_files)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let handle = scope.spawn(move || {
            while let Some(block) = merge.next_block()? {
                if tx.send(block).is_err() {
                    break;
                }
            }
            Ok(merge)
        });
        Ok(Blocks::Merged(rx, handle))
    }

    fn next(&mut self) -> Result<Option<Block<'a>>> {
        match self {
            Blocks::Resident(t, ranges) => Ok(ranges.next().map(|r| Block::Rows(t, r))),
            Blocks::Merged(rx, _) => Ok(rx.recv().ok().map(Block::Merged)),
        }
    }

    /// For a merge: the duplicates it charged to each file and the rows it kept.
    fn finish(self) -> Result<Option<(Vec<u64>, u64)>> {
        match self {
            Blocks::Resident(..) => Ok(None),
            Blocks::Merged(rx, handle) => {
                drop(rx);
                let merge = handle
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
                Ok(Some((merge.duplicates, merge.kept)))
            }
        }
    }
}

/// Warns of each clock the estimate finds off by more than the tolerance while dataset.toml
/// states no correction for it.
fn warn_of_clocks(
    loaded: &mut LoadedDataset,
    mut gathered: clocks::Gathered,
) -> Option<clocks::ClockReport> {
    let report = clocks::ClockReport::estimate(&mut gathered, &loaded.settings, None).ok()?;
    loaded.warnings.append(&mut report.skew_warnings());
    Some(report)
}

/// Where the clocks' estimate finds a clock off beyond the tolerance that dataset.toml leaves
/// uncorrected, the dataset analysed again at the suggested offsets, and a warning that sets its
/// counts beside those as configured.
fn at_estimated_offsets(dataset: &Path, a: &mut Analysis, opts: &AnalyzeOptions) -> Result<()> {
    let Some(report) = &a.clocks else {
        return Ok(());
    };
    if report.unstated_beyond_tolerance().next().is_none() {
        return Ok(());
    }
    let mut again = opts.clone();
    again.load.observer = None;
    again.load.clock_offsets = Some(report.suggested_offsets(&a.loaded.settings));
    let b = run(|| load_streaming(dataset, &again.load), None, &again, None)?;
    let (c, e) = (&a.summary, &b.summary);
    let line = format!(
        "clock skew: at the offsets the clocks' causal pairs suggest (leakscope clocks writes them as clock_offsets.toml), the deliveries would be leak {} (as configured {}), ambiguous {} ({}), unresolved {} ({}), ok {} ({})",
        e.leak_deliveries,
        c.leak_deliveries,
        e.ambiguous_deliveries,
        c.ambiguous_deliveries,
        e.unresolved_deliveries,
        c.unresolved_deliveries,
        e.ok_deliveries,
        c.ok_deliveries
    );
    a.loaded.warnings.push(line.clone());
    a.findings.quality.warnings.push(line);
    Ok(())
}

/// Adds to `cache` the fills the misses of nodes without a cache log imply, reading the
/// deliveries as the join will: the resident table, or a first merge of the spilled runs.
fn infer_fills(
    loaded: &LoadedDataset,
    spilled: Option<&SpilledDeliveries>,
    cache: &mut CacheLog,
    block_rows: usize,
) -> Result<InferredCache> {
    let failed = |e| Error::timeline("inferring cache fills from misses", e);
    let mut inference = Inference::new(cache);
    match spilled {
        None => {
            let d = loaded.table(Kind::Deliveries);
            inference.add(cache, d, 0..d.len()).map_err(failed)?;
        }
        Some(s) => {
            let mut scan = s.scan(block_size(block_rows), loaded.files.len())?;
            while let Some(b) = scan.next_block()? {
                inference.add(cache, &b, 0..b.len()).map_err(failed)?;
            }
        }
    }
    Ok(inference.finish(cache, loaded.settings.cache_ttl_ms))
}

/// Deliveries per block for the option `block_rows` (0: [`DEFAULT_BLOCK_ROWS`]).
fn block_size(block_rows: usize) -> usize {
    match block_rows {
        0 => DEFAULT_BLOCK_ROWS,
        b => b,
    }
}

/// Consecutive row ranges of at most `block_rows` rows (0: [`DEFAULT_BLOCK_ROWS`]) covering `0..n`.
fn blocks(n: usize, block_rows: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let size = block_size(block_rows);
    (0..n)
        .step_by(size)
        .map(move |start| start..n.min(start + size))
}

/// The `summary.json` object.
pub fn summary_json(a: &Analysis) -> serde_json::Value {
    serde_json::to_value(&a.summary).unwrap_or(serde_json::Value::Null)
}

/// Writes every output of a run that kept its verdicts ([`analyze`]) into `out`; returns the
/// timings of every stage, writing included.
pub fn write_outputs(a: &Analysis, out: &Path, opts: &AnalyzeOptions) -> Result<Vec<StageTiming>> {
    let staging = Staging::begin(&a.loaded.root, out, opts.force)?;
    let timings = report::write_all(
        &a.outcome(),
        Some(&a.classified()),
        staging.path(),
        &opts.report(),
    )?;
    staging.commit()?;
    Ok(timings)
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
