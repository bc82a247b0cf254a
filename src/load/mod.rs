//! Load and validate: finds a dataset's files, reads and checks every row, de-duplicates, and accounts for each row.

pub mod parquet;
pub mod raw;
pub mod read;
pub mod runs;
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
use crate::mapping::Mapping;
use crate::schema::Kind;
use crate::settings::Settings;
use crate::table::Table;
use crate::time::TimeForm;
use read::{Compression, Format};
use validate::Rejection;

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
}

/// Rows of one file or one kind: read = accepted + rejected + duplicates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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

/// A dataset after loading: accepted rows per kind, and the account of every row.
#[derive(Debug)]
pub struct LoadedDataset {
    pub root: PathBuf,
    pub settings: Settings,
    pub mapping: Mapping,
    pub files: Vec<InputFile>,
    /// Files in kind folders with names the contract does not cover.
    pub skipped: Vec<String>,
    pub tables: BTreeMap<Kind, Table>,
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

struct Found {
    kind: Kind,
    path: PathBuf,
    rel: String,
    format: Format,
    compression: Compression,
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
    if !root.is_dir() {
        return Err(Error::Dataset {
            path: root.to_path_buf(),
            reason: "no such folder".into(),
        });
    }
    let settings = Settings::load(root)?;
    let mapping = Mapping::resolve(root, opts.mapping.as_deref())?;
    let (found, skipped) = discover(root)?;

    let observer = opts.observer.as_deref();
    if let Some(o) = observer {
        o.files_found(found.len());
    }
    let sorter = runs::RunSorter::new(opts.run_rows, opts.observer.clone());
    let results: Vec<(InputFile, Option<validate::ValidatedFile>)> = found
        .par_iter()
        .enumerate()
        .map(|(i, f)| {
            let r = load_file(f, i as u32, &mapping, &settings, &sorter);
            if let Some(o) = observer {
                o.file_loaded();
            }
            r
        })
        .collect();
    if let Some(o) = observer {
        o.files_loaded();
    }

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
            if opts.strict {
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
    let spilled = match sorter.finish()? {
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
        let (kept, dups) = dedup(table, n_files);
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
            return Err(Error::Accounting {
                what: f.path.clone(),
                detail: format!("{:?}", f.rows),
            });
        }
    }
    let loaded = LoadedDataset {
        root: root.to_path_buf(),
        settings,
        mapping,
        files,
        skipped,
        tables: deduped,
        rejections,
        warnings,
        spilled,
        normalise_seconds: normalise.as_secs_f64(),
    };
    for kind in Kind::ALL {
        let kept = match (&loaded.spilled, kind) {
            (Some(s), Kind::Deliveries) => s.rows as u64,
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
        return Err(Error::Accounting {
            what: kind.name().to_string(),
            detail: format!("{c:?} but {kept} rows kept and {rejected} quarantined"),
        });
    }
    Ok(())
}

/// Validates CSV text as file number `file` of `kind`: the accepted rows, for unit tests of later stages.
#[cfg(test)]
pub(crate) fn table_from_csv(kind: Kind, csv: &str, file: u32) -> Table {
    let raw = read::RawFile::Text(text::split_csv(csv.as_bytes().to_vec()));
    validate::validate(
        kind,
        "f",
        file,
        &raw,
        &Mapping::default(),
        &Settings::default(),
    )
    .table
}

/// Validates one file. Its accepted deliveries go to `sorter` rather than into the result's table.
fn load_file(
    f: &Found,
    index: u32,
    mapping: &Mapping,
    settings: &Settings,
    sorter: &runs::RunSorter,
) -> (InputFile, Option<validate::ValidatedFile>) {
    let sink = (f.kind == Kind::Deliveries).then_some(sorter);
    let mut file = InputFile {
        kind: f.kind,
        path: f.rel.clone(),
        format: f.format,
        compression: f.compression,
        size: 0,
        sha256: String::new(),
        rows: RowCounts::default(),
        time_forms: BTreeMap::new(),
        error: None,
    };
    match hash_file(&f.path) {
        Ok((size, sha)) => {
            file.size = size;
            file.sha256 = sha;
        }
        Err(e) => {
            file.error = Some(e.to_string());
            return (file, None);
        }
    }
    if f.format == Format::Parquet {
        return match load_parquet(f, index, mapping, settings, sink) {
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
    let raw = match read::read_file(&f.path, f.format, f.compression) {
        Ok(r) => r,
        Err(e) => {
            file.error = Some(e);
            return (file, None);
        }
    };
    let mut v = validate::validate(f.kind, &f.rel, index, &raw, mapping, settings);
    file.rows.read = raw.len() as u64;
    file.rows.rejected = v.rejections.len() as u64;
    file.rows.accepted = v.table.len() as u64;
    file.time_forms = v.forms.clone();
    if let Some(sorter) = sink {
        sorter.push(std::mem::replace(&mut v.table, Table::new(f.kind)));
    }
    (file, Some(v))
}

/// Validates a Parquet file one slice of row groups at a time; returns the rows read, the rows
/// accepted and the result. With a `sink`, each slice's accepted rows go there instead.
///
/// The time form of a column is a vote over the whole file, so it is taken first, over the
/// timestamp columns alone; natively typed timestamps have a known form and are only counted.
fn load_parquet(
    f: &Found,
    index: u32,
    mapping: &Mapping,
    settings: &Settings,
    sink: Option<&runs::RunSorter>,
) -> std::result::Result<(u64, u64, validate::ValidatedFile), String> {
    load_parquet_slices(
        parquet::ParquetSource::open(&f.path)?,
        f,
        index,
        mapping,
        settings,
        sink,
    )
}

fn load_parquet_slices(
    src: parquet::ParquetSource,
    f: &Found,
    index: u32,
    mapping: &Mapping,
    settings: &Settings,
    sink: Option<&runs::RunSorter>,
) -> std::result::Result<(u64, u64, validate::ValidatedFile), String> {
    let started = std::time::Instant::now();
    let mut forms = BTreeMap::new();
    for (name, hi) in validate::timestamp_columns(f.kind, &src.headers, mapping) {
        let header = &src.headers[hi];
        let form = match src.timestamp_type(header) {
            None if src.is_integer(header) => {
                let mut present = 0;
                for &slice in &src.slices {
                    present += src.non_null(slice, header)?;
                }
                (present > 0).then_some(TimeForm::EpochMs)
            }
            Some(zoned) => {
                let mut present = 0;
                for &slice in &src.slices {
                    present += src.non_null(slice, header)?;
                }
                (present > 0).then_some(if zoned {
                    TimeForm::Rfc3339
                } else {
                    TimeForm::Naive
                })
            }
            None => {
                let mut counts = crate::time::FormCounts::default();
                for &slice in &src.slices {
                    let raw = src.read(slice, Some(vec![header.clone()]))?;
                    raw.column_values(0, |v| counts.count(v));
                }
                counts.winner()
            }
        };
        if let Some(form) = form {
            forms.insert(name.to_string(), form);
        }
    }
    let forms = validate::TimeForms::new(f.kind, forms, settings);
    let mut out = validate::ValidatedFile {
        table: match sink {
            Some(_) => Table::new(f.kind),
            None => validate::table_for(f.kind, src.rows),
        },
        rejections: Vec::new(),
        forms: forms.forms.clone(),
        warnings: forms.warning(&f.rel, src.rows).into_iter().collect(),
        normalise: started.elapsed(),
    };
    let mut accepted = 0;
    // The next slice is decoded while this one is validated: decoding runs on one thread,
    // and validation alone would leave the other core idle meanwhile.
    std::thread::scope(|scope| {
        let src = &src;
        let read = |slice| scope.spawn(move || src.read(slice, None));
        let mut pending = src.slices.first().map(|&s| read(s));
        let mut rest = src.slices.iter().skip(1);
        while let Some(handle) = pending.take() {
            let raw = read::RawFile::Parquet(
                handle
                    .join()
                    .map_err(|_| "bad Parquet file: the decoder gave up on it".to_string())??,
            );
            pending = rest.next().map(|&s| read(s));
            let mut slice = Table::new(f.kind);
            let rejections = validate::validate_rows_into(
                match sink {
                    Some(_) => &mut slice,
                    None => &mut out.table,
                },
                f.kind,
                &f.rel,
                index,
                &raw,
                mapping,
                settings,
                &forms,
                &mut out.normalise,
            );
            out.rejections.extend(rejections);
            if let Some(sorter) = sink {
                accepted += slice.len() as u64;
                sorter.push(slice);
            }
        }
        Ok::<(), String>(())
    })?;
    if sink.is_none() {
        accepted = out.table.len() as u64;
    }
    Ok((src.rows as u64, accepted, out))
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let size = std::io::copy(&mut f, &mut h)?;
    Ok((size, hex::encode(h.finalize())))
}

/// Lists every file under each kind folder, sorted by path; files the contract does not cover are returned apart.
fn discover(root: &Path) -> Result<(Vec<Found>, Vec<String>)> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for kind in Kind::ALL {
        let dir = root.join(kind.name());
        if !dir.is_dir() {
            if kind.required() {
                return Err(Error::Dataset {
                    path: root.to_path_buf(),
                    reason: format!("the required folder {}/ is missing", kind.name()),
                });
            }
            continue;
        }
        let mut paths = Vec::new();
        walk(&dir, &mut paths)?;
        paths.sort();
        for path in paths {
            let rel = relative(root, &path);
            match read::detect(&path) {
                Some((format, compression)) => found.push(Found {
                    kind,
                    path,
                    rel,
                    format,
                    compression,
                }),
                None => skipped.push(rel),
            }
        }
    }
    Ok((found, skipped))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    /// A file read in slices is validated as one file: the time-form vote spans every slice,
    /// rows keep their file-wide index, and the accepted rows and rejections equal a whole read.
    #[test]
    fn parquet_slices_validate_as_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        // Epoch milliseconds win the vote 5 to 3 only over the whole file: the first
        // slices hold mostly RFC 3339 values, which become rejections.
        let ts = [
            "2019-12-26T00:00:00Z",
            "1577318400001",
            "2019-12-26T00:00:00.002Z",
            "2019-12-26T00:00:00.003Z",
            "1577318400004",
            "1577318400005",
            "1577318400006",
            "1577318400007",
        ];
        let n = ts.len();
        let text = |p: &str| (0..n).map(|i| format!("{p}{}", i % 3)).collect::<Vec<_>>();
        let status: Vec<&str> = (0..n)
            .map(|i| if i == 6 { "warm" } else { "hit" })
            .collect();
        let mut df = DataFrame::new(
            n,
            vec![
                Column::new("ts".into(), ts.to_vec()),
                Column::new("session_id".into(), text("s")),
                Column::new("requested_stream_id".into(), text("c")),
                Column::new("cache_node".into(), text("n")),
                Column::new("cache_key".into(), text("k")),
                Column::new("cache_status".into(), status),
                Column::new("note".into(), text("x")),
            ],
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .with_row_group_size(Some(2))
            .finish(&mut df)
            .unwrap();
        let found = Found {
            kind: Kind::Deliveries,
            path: path.clone(),
            rel: "deliveries/d.parquet".into(),
            format: Format::Parquet,
            compression: Compression::None,
        };
        let (m, s) = (Mapping::default(), Settings::default());
        let src = parquet::ParquetSource::open_with(&path, 3).unwrap();
        assert_eq!(src.slices, vec![(0, 4), (4, 4)]);
        let (read, accepted, sliced) = load_parquet_slices(src, &found, 0, &m, &s, None).unwrap();
        assert_eq!(accepted, 4);
        let raw = read::read_file(&path, Format::Parquet, Compression::None).unwrap();
        let whole = validate::validate(Kind::Deliveries, &found.rel, 0, &raw, &m, &s);
        assert_eq!(read, 8);
        assert_eq!(sliced.forms["ts"], TimeForm::EpochMs);
        assert_eq!(sliced.forms, whole.forms);
        assert_eq!(sliced.rejections, whole.rejections);
        let lines: Vec<u64> = sliced.rejections.iter().map(|r| r.line).collect();
        assert_eq!(lines, [0, 2, 3, 6]);
        assert_eq!(sliced.table.len(), 4);
        assert_eq!(sliced.table.time("ts"), whole.table.time("ts"));
        assert_eq!(sliced.table.source, vec![(0, 1), (0, 4), (0, 5), (0, 7)]);
        assert_eq!(sliced.table.digest, whole.table.digest);
        assert_eq!(sliced.table.extra, whole.table.extra);
    }
}
