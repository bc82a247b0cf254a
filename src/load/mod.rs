//! Load and validate: finds a dataset's files, reads and checks every row, de-duplicates, and accounts for each row.

pub mod bounded;
pub mod cache_log;
mod columnar;
pub mod jsonl;
pub mod lines;
pub mod logs;
pub mod parquet;
mod parquet_pages;
mod plan;
pub mod raw;
pub mod read;
mod run_file;
pub mod runs;
mod sliced;
mod sliced_log;
mod stopwatch;
pub mod text;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::dedup::dedup;
use crate::error::{Error, Result};
use crate::evidence::ConfigFile;
use crate::formats;
use crate::mapping::Mapping;
use crate::schema::Kind;
use crate::settings::Settings;
use crate::table::Table;
use crate::time::TimeForm;
use read::{Compression, Format};
use validate::Rejection;

use plan::discover;
pub(crate) use plan::Found;
pub use plan::{Listed, Plan};

/// What loading reports as it goes to whoever drives it. The command line draws a progress bar
/// and sets its allocator's policy from these; the loader itself draws and decides neither.
pub trait LoadObserver: Send + Sync + std::fmt::Debug {
    /// `n` input files were found and are about to be read.
    fn files_found(&self, _n: usize) {}
    /// One more file was read and validated.
    fn file_loaded(&self) {}
    /// Every file was read.
    fn files_loaded(&self) {}
    /// So many deliveries are spilled to disk (2^24) that memory freed from now on should go back
    /// to the OS rather than be kept for reuse, or the peak would outgrow the machine.
    fn spilled_beyond_memory(&self) {}
}

/// Where a kind's validated rows go, a slice or file at a time, when they are not gathered into
/// its table: the deliveries to the run sorter, the cache log to its events.
pub trait RowSink: Sync {
    fn push(&self, rows: Table);
}

/// How to load a dataset.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// A mapping file named on the command line; otherwise `<dataset>/mapping.toml` if present.
    pub mapping: Option<PathBuf>,
    /// Treat an unreadable file as fatal.
    pub strict: bool,
    /// Told of the progress of loading, if anyone is listening.
    pub observer: Option<Arc<dyn LoadObserver>>,
    /// Deliveries held in memory before they are sorted and spilled to disk as a run
    /// (0: [`runs::DEFAULT_RUN_ROWS`]). Results do not depend on it.
    pub run_rows: usize,
    /// In place of `dataset.toml`'s `[clock_offset_ms]` and `[clock_offset_changes]`: what a
    /// run at estimated offsets reads.
    pub clock_offsets: Option<(BTreeMap<String, i64>, crate::settings::OffsetChanges)>,
}

/// Rows of one file or one kind: read = accepted + rejected + duplicates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RowCounts {
    pub read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
}

impl RowCounts {
    pub fn add(&mut self, o: &RowCounts) {
        self.read += o.read;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.duplicates += o.duplicates;
    }

    pub fn balances(&self) -> bool {
        self.read == self.accepted + self.rejected + self.duplicates
    }
}

/// One input file and what became of its rows.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    #[serde(skip)]
    pub kind: Kind,
    /// Path relative to the dataset, with `/` separators.
    pub path: String,
    pub format: Format,
    pub compression: Compression,
    pub size: u64,
    pub sha256: String,
    pub rows: RowCounts,
    /// Timestamp form detected per column.
    pub time_forms: BTreeMap<String, TimeForm>,
    /// Why the file could not be read at all, if so.
    pub error: Option<String>,
}

impl InputFile {
    /// The record of a file not yet read.
    pub(crate) fn of(f: &Found) -> InputFile {
        InputFile {
            kind: f.kind,
            path: f.rel.clone(),
            format: f.format,
            compression: f.compression,
            size: 0,
            sha256: String::new(),
            rows: RowCounts::default(),
            time_forms: BTreeMap::new(),
            error: None,
        }
    }
}

/// A dataset after loading: accepted rows per kind, and the account of every row.
#[derive(Debug)]
pub struct LoadedDataset {
    pub root: PathBuf,
    pub settings: Settings,
    /// `dataset.toml`, when the dataset has one.
    pub settings_file: Option<ConfigFile>,
    pub mapping: Mapping,
    pub files: Vec<InputFile>,
    /// Files in kind folders with names the contract does not cover.
    pub skipped: Vec<String>,
    /// Accepted rows per kind; empty for the cache log, which is in [`LoadedDataset::cache`].
    pub tables: BTreeMap<Kind, Table>,
    /// The cache log as events, de-duplicated; taken by whoever builds the timelines.
    pub cache: cache_log::CacheLog,
    /// The hours each cache node's log covers.
    pub cache_hours: cache_log::CacheHours,
    pub rejections: BTreeMap<Kind, Vec<Rejection>>,
    pub warnings: Vec<String>,
    /// Deliveries too many to hold, spilled as sorted runs by [`load_streaming`]: the deliveries
    /// table is then empty, and their duplicates are not yet counted (see [`LoadedDataset::settle`]).
    pub spilled: Option<runs::SpilledDeliveries>,
    /// Seconds spent normalising timestamps while loading, summed over the validating threads
    /// (see [`validate::ValidatedFile::normalise`]); part of the load, not added to it.
    pub normalise_seconds: f64,
}

impl LoadedDataset {
    /// Every input file's path as the manifest names it, by the index rows' sources give.
    pub fn file_paths(&self) -> Vec<String> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }

    /// Records what merging the spilled deliveries found: the duplicates charged to each file and
    /// the rows kept; checks that every delivery row is accounted for.
    pub fn settle(&mut self, duplicates: &[u64], kept: u64) -> Result<()> {
        for (f, d) in self.files.iter_mut().zip(duplicates) {
            if f.kind == Kind::Deliveries {
                f.rows.duplicates = *d;
                f.rows.accepted = (f.rows.read - f.rows.rejected).saturating_sub(*d);
            }
        }
        check_accounting(self, Kind::Deliveries, kept)
    }

    /// Merges spilled deliveries, to count their duplicates; with `keep`, into the deliveries
    /// table, for callers that want every row at hand.
    pub fn merge_spilled(&mut self, keep: bool) -> Result<()> {
        let Some(spilled) = self.spilled.take() else {
            return Ok(());
        };
        let mut merge = spilled.merge(runs::GATHER_BLOCK_ROWS, self.files.len())?;
        let mut all = Table::new(Kind::Deliveries);
        while let Some(block) = merge.next_block()? {
            if keep {
                all.append(block);
            }
        }
        self.tables.insert(Kind::Deliveries, all);
        self.settle(&merge.duplicates, merge.kept)
    }

    pub fn counts(&self, kind: Kind) -> RowCounts {
        let mut c = RowCounts::default();
        for f in self.files.iter().filter(|f| f.kind == kind) {
            c.add(&f.rows);
        }
        c
    }

    pub fn table(&self, kind: Kind) -> &Table {
        &self.tables[&kind]
    }
}

/// A dataset's configuration, read once before any log file: its settings and its mapping.
#[derive(Debug)]
pub struct Config {
    pub root: PathBuf,
    pub settings: Settings,
    pub settings_file: Option<ConfigFile>,
    pub mapping: Mapping,
}

impl Config {
    /// Reads `<root>/dataset.toml` and the mapping (`opts.mapping`, else `<root>/mapping.toml`).
    pub fn read(root: &Path, opts: &LoadOptions) -> Result<Config> {
        if !root.is_dir() {
            return Err(Error::Dataset {
                path: root.to_path_buf(),
                reason: "no such folder".into(),
            });
        }
        let (mut settings, settings_file) = Settings::load(root)?;
        if let Some((offsets, changes)) = &opts.clock_offsets {
            settings.clock_offset_ms = offsets.clone();
            settings.clock_offset_changes = changes.clone();
        }
        let mapping = Mapping::resolve(root, opts.mapping.as_deref())?;
        Ok(Config {
            root: root.to_path_buf(),
            settings,
            settings_file,
            mapping,
        })
    }
}

/// What loading one file gave: its record and, unless it could not be read, its validation.
pub(crate) type FileResult = (InputFile, Option<validate::ValidatedFile>);

/// Where the validated rows of the two large kinds go while files are loaded: deliveries into
/// the run sorter, the cache log into its events.
pub(crate) struct Sinks {
    pub(crate) sorter: runs::RunSorter,
    pub(crate) cache: cache_log::CacheLogBuilder,
}

impl Sinks {
    pub(crate) fn new(opts: &LoadOptions, cache_rows: usize) -> Sinks {
        Sinks {
            sorter: runs::RunSorter::new(opts.run_rows, opts.observer.clone()),
            cache: cache_log::CacheLogBuilder::with_capacity(cache_rows),
        }
    }

    pub(crate) fn of(&self, kind: Kind) -> Option<&dyn RowSink> {
        match kind {
            Kind::Deliveries => Some(&self.sorter),
            Kind::Cache => Some(&self.cache),
            _ => None,
        }
    }
}

/// Loads a dataset folder, every accepted row in memory. The folder is only ever read.
pub fn load(root: &Path, opts: &LoadOptions) -> Result<LoadedDataset> {
    let mut loaded = load_streaming(root, opts)?;
    loaded.merge_spilled(true)?;
    Ok(loaded)
}

/// Loads a dataset folder, leaving deliveries beyond `opts.run_rows` spilled to disk as sorted
/// runs ([`LoadedDataset::spilled`]), to be merged a block at a time.
pub fn load_streaming(root: &Path, opts: &LoadOptions) -> Result<LoadedDataset> {
    let config = Config::read(root, opts)?;
    let plan = discover(&config)?;

    let observer = opts.observer.as_deref();
    if let Some(o) = observer {
        o.files_found(plan.found.len());
    }
    // Parquet files say how many rows they hold, so the cache log's events need not grow.
    let cache_rows = plan
        .found
        .iter()
        .filter(|f| f.kind == Kind::Cache && f.format == Format::Parquet)
        .filter_map(|f| parquet::ParquetSource::open(&f.path).ok())
        .map(|p| p.rows)
        .sum();
    let sinks = Sinks::new(opts, cache_rows);
    let results: Vec<FileResult> = plan
        .found
        .par_iter()
        .enumerate()
        .map(|(i, f)| {
            let r = load_file(
                f,
                i as u32,
                &config.mapping,
                &config.settings,
                sinks.of(f.kind),
            );
            if let Some(o) = observer {
                o.file_loaded();
            }
            r
        })
        .collect();
    if let Some(o) = observer {
        o.files_loaded();
    }
    assemble(config, plan, results, sinks, opts.strict)
}

/// Loads the file numbered `index` of `plan`, read from `path`: its rows pushed into `rows`
/// where its kind has a sink in the single-node run, the rest in the result.
pub(crate) fn load_one(config: &Config, f: &Found, index: u32, rows: &dyn RowSink) -> FileResult {
    let sink = matches!(f.kind, Kind::Deliveries | Kind::Cache).then_some(rows);
    load_file(f, index, &config.mapping, &config.settings, sink)
}

/// Gathers what loading every file of `plan` gave (`results`, in plan order; the rows the sinks
/// received) into the dataset: duplicates folded, every row accounted for.
pub(crate) fn assemble(
    config: Config,
    plan: Plan,
    results: Vec<FileResult>,
    sinks: Sinks,
    strict: bool,
) -> Result<LoadedDataset> {
    let Config {
        root,
        settings,
        settings_file,
        mapping,
    } = config;
    let Plan { skipped, .. } = plan;
    let mut files = Vec::with_capacity(results.len());
    let mut tables: BTreeMap<Kind, Table> = Kind::ALL.iter().map(|&k| (k, Table::new(k))).collect();
    for (kind, table) in tables.iter_mut() {
        let parts: Vec<usize> = results
            .iter()
            .filter(|(f, _)| f.kind == *kind)
            .filter_map(|(_, v)| v.as_ref().map(|v| v.table.len()))
            .collect();
        if parts.len() > 1 {
            table.reserve(parts.iter().sum());
        }
    }
    let mut rejections: BTreeMap<Kind, Vec<Rejection>> =
        Kind::ALL.iter().map(|&k| (k, Vec::new())).collect();
    let mut warnings = Vec::new();
    let mut normalise = std::time::Duration::ZERO;
    for (file, validated) in results {
        if let Some(e) = &file.error {
            if strict {
                return Err(Error::UnreadableFile {
                    path: root.join(&file.path),
                    reason: e.clone(),
                });
            }
            warnings.push(format!("{}: file skipped, cannot be read: {e}", file.path));
        }
        if let Some(v) = validated {
            normalise += v.normalise;
            warnings.extend(v.warnings);
            if let Some(r) = rejections.get_mut(&file.kind) {
                r.extend(v.rejections);
            }
            if let Some(t) = tables.get_mut(&file.kind) {
                t.append(v.table);
            }
        }
        files.push(file);
    }
    for w in settings.unknown_keys.iter() {
        warnings.push(format!("dataset.toml: unknown setting {w:?} ignored"));
    }

    let n_files = files.len();
    let (cache, cache_hours, cache_copies) = sinks.cache.finish(n_files)?;
    for (f, d) in files.iter_mut().zip(&cache_copies) {
        if f.kind == Kind::Cache {
            f.rows.duplicates = *d;
            f.rows.accepted = f.rows.read - f.rows.rejected - d;
        }
    }
    let spilled = match sinks.sorter.finish()? {
        runs::Sorted::Resident(t) => {
            if let Some(d) = tables.get_mut(&Kind::Deliveries) {
                d.append(t);
            }
            None
        }
        runs::Sorted::Spilled(s) => Some(s),
    };
    let mut deduped = BTreeMap::new();
    for (kind, table) in tables {
        if kind == Kind::Deliveries && spilled.is_some() {
            // Counted as the runs are merged; until then no row counts as a duplicate.
            for f in files.iter_mut().filter(|f| f.kind == kind) {
                f.rows.accepted = f.rows.read - f.rows.rejected;
            }
            deduped.insert(kind, table);
            continue;
        }
        if kind == Kind::Cache {
            // Folded in its events above.
            deduped.insert(kind, table);
            continue;
        }
        let (mut kept, dups) = dedup(table, n_files);
        kept.shrink();
        for (f, d) in files.iter_mut().zip(&dups) {
            if f.kind == kind {
                f.rows.duplicates = *d;
                f.rows.accepted = f.rows.read - f.rows.rejected - d;
            }
        }
        deduped.insert(kind, kept);
    }
    for f in &files {
        if !f.rows.balances() {
            return Err(Error::internal(
                format!(
                    "row accounting does not balance for {}: {:?}",
                    f.path, f.rows
                ),
                "",
            ));
        }
    }
    let loaded = LoadedDataset {
        root,
        settings,
        settings_file,
        mapping,
        files,
        skipped,
        tables: deduped,
        cache,
        cache_hours,
        rejections,
        warnings,
        spilled,
        normalise_seconds: normalise.as_secs_f64(),
    };
    for kind in Kind::ALL {
        let kept = match (&loaded.spilled, kind) {
            (Some(s), Kind::Deliveries) => s.rows as u64,
            (_, Kind::Cache) => loaded.cache.rows() as u64,
            _ => loaded.tables[&kind].len() as u64,
        };
        check_accounting(&loaded, kind, kept)?;
    }
    Ok(loaded)
}

/// Checks that the rows of `kind` read equal those kept (`kept`), quarantined and folded as duplicates.
fn check_accounting(loaded: &LoadedDataset, kind: Kind, kept: u64) -> Result<()> {
    let c = loaded.counts(kind);
    let rejected = loaded.rejections[&kind].len() as u64;
    if c.accepted != kept || c.rejected != rejected || !c.balances() {
        return Err(Error::internal(
            format!(
                "row accounting does not balance for {}: {c:?} but {kept} rows kept and {rejected} quarantined",
                kind.name()
            ),
            "",
        ));
    }
    Ok(())
}

/// Validates CSV text as file number `file` of `kind`: the accepted rows, for unit tests of later stages.
#[cfg(test)]
pub(crate) fn table_from_csv(kind: Kind, csv: &str, file: u32) -> Table {
    table_from_csv_with(kind, csv, file, &Settings::default())
}

/// [`table_from_csv`] under these settings.
#[cfg(test)]
pub(crate) fn table_from_csv_with(kind: Kind, csv: &str, file: u32, settings: &Settings) -> Table {
    let raw = read::RawFile::Text(text::split_csv(csv.as_bytes().to_vec()));
    validate::validate(kind, "f", file, &raw, &Mapping::default(), settings).table
}

/// Validates one file. With a `sink`, its accepted rows go there rather than into the result's table.
fn load_file(
    f: &Found,
    index: u32,
    mapping: &Mapping,
    settings: &Settings,
    sink: Option<&dyn RowSink>,
) -> (InputFile, Option<validate::ValidatedFile>) {
    let mut file = InputFile::of(f);
    if f.format == Format::Parquet {
        if !record_hash(&mut file, hash_file(&f.path)) {
            return (file, None);
        }
        return match sliced::load_parquet(f, index, mapping, settings, sink) {
            Ok((read, accepted, v)) => {
                file.rows.read = read;
                file.rows.rejected = v.rejections.len() as u64;
                file.rows.accepted = accepted;
                file.time_forms = v.forms.clone();
                (file, Some(v))
            }
            Err(e) => {
                file.error = Some(e);
                (file, None)
            }
        };
    }
    // A text file is hashed on a thread of its own while it is read and checked: the hash is a
    // serial pass over every byte, and the split and the checks leave a core idle at times.
    // Nothing reaches the sink before the hash is known.
    let (hash, read) = std::thread::scope(|scope| {
        let hash = scope.spawn(|| hash_file(&f.path));
        let read = read_text(f, index, mapping, settings);
        let hash = hash.join().unwrap_or_else(|_| {
            Err(std::io::Error::other(
                "the thread hashing the file stopped (a bug of ours)",
            ))
        });
        (hash, read)
    });
    if !record_hash(&mut file, hash) {
        return (file, None);
    }
    let (read, mut v, decoded_bytes) = match read {
        Ok(r) => r,
        Err(e) => {
            file.error = Some(e);
            return (file, None);
        }
    };
    if f.compression != read::Compression::None {
        let warning = bounded::inflation_warning(&f.rel, decoded_bytes, file.size);
        v.warnings.extend(warning);
    }
    file.rows.read = read;
    file.rows.rejected = v.rejections.len() as u64;
    file.rows.accepted = v.table.len() as u64;
    file.time_forms = v.forms.clone();
    if let Some(sink) = sink {
        sink.push(std::mem::replace(&mut v.table, Table::new(f.kind)));
    }
    (file, Some(v))
}

/// Puts a file's size and SHA-256 on its record; `false` (with the error recorded) when it could not be hashed.
fn record_hash(file: &mut InputFile, hash: std::io::Result<(u64, String)>) -> bool {
    match hash {
        Ok((size, sha)) => {
            file.size = size;
            file.sha256 = sha;
            true
        }
        Err(e) => {
            file.error = Some(e.to_string());
            false
        }
    }
}

/// Reads, splits and validates a CSV, JSONL or log file: the rows read, the result and the bytes
/// it decoded to. An `Err` means the file as a whole is unreadable.
fn read_text(
    f: &Found,
    index: u32,
    mapping: &Mapping,
    settings: &Settings,
) -> std::result::Result<(u64, validate::ValidatedFile, u64), String> {
    let (read, mut v, notes, set_aside) = match (f.format, mapping.format_of(f.kind)) {
        (Format::Log(_), Some(spec)) => {
            let compiled = formats::Compiled::new(f.kind, spec, mapping.values.get(&f.kind))?;
            let step = compiled.ts_resolution_ms().unwrap_or(1);
            let mut notes = Vec::new();
            if step > settings.tolerance_ms {
                notes.push(format!(
                    "WARNING: {}: its times are whole seconds ({} writes no finer), coarser than the tolerance of {} ms; verdicts that hinge on less than a second rest on truncated times",
                    f.rel,
                    spec.format.name(),
                    settings.tolerance_ms
                ));
            }
            let mut decoded = read::decode(&f.path, f.compression, settings.max_row_bytes)?;
            if spec.format.is_json()
                && decoded
                    .set_aside
                    .oversized
                    .iter()
                    .any(bounded::Oversized::opens_array)
            {
                // One JSON array of events (Keycloak's export) is one line however many events
                // it holds: the limit then applies to each event, once the array is split.
                decoded = read::decode(&f.path, f.compression, u64::MAX)?;
            }
            let set_aside = std::mem::take(&mut decoded.set_aside);
            let (read, v) = sliced_log::load_log(
                decoded.text,
                &compiled,
                f,
                index,
                mapping,
                settings,
                sliced_log::LINES_PER_SLICE,
            );
            (read, v, notes, set_aside)
        }
        _ => {
            let file = read::read_file(&f.path, f.format, f.compression, settings.max_row_bytes)?;
            let v = validate::validate(f.kind, &f.rel, index, &file.raw, mapping, settings);
            (file.raw.len() as u64, v, Vec::new(), file.set_aside)
        }
    };
    v.warnings.extend(notes);
    let read = read + set_aside.oversized.len() as u64;
    quarantine_oversized(f, settings, set_aside.oversized, &mut v);
    Ok((read, v, set_aside.decoded_bytes))
}

/// Each line decoding set aside becomes a rejection, in line order among the others.
fn quarantine_oversized(
    f: &Found,
    settings: &Settings,
    oversized: Vec<bounded::Oversized>,
    v: &mut validate::ValidatedFile,
) {
    if oversized.is_empty() {
        return;
    }
    v.warnings.push(format!(
        "{}: {} rows beyond the row-size limit of {} bytes were quarantined by their length, SHA-256 and first bytes (max_row_bytes in dataset.toml raises the limit)",
        f.rel,
        oversized.len(),
        settings.max_row_bytes
    ));
    v.rejections.extend(
        oversized
            .into_iter()
            .map(|o| validate::oversized_rejection(&f.rel, o, settings.max_row_bytes)),
    );
    v.rejections.sort_by_key(|r| r.line);
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let size = std::io::copy(&mut f, &mut h)?;
    Ok((size, hex::encode(h.finalize())))
}
