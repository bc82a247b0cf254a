//! Sorted runs of deliveries: validated rows are held up to a limit, then sorted and spilled to
//! disk, and merged back in (ts, digest) order with duplicates folded exactly as [`crate::dedup`]
//! folds them, so that a dataset larger than memory gives the same result as a small one.
//!
//! The merge relies on two facts about that order. Copies of one event share their digest, and so
//! their time: they arrive next to each other, the one from the first file and line first. And the
//! first of a `request_id`'s deliveries to arrive is the one with the earliest time, then the
//! smallest digest, which is the one `dedup` keeps. Only ids whose hash was seen more than once
//! while spilling are remembered during the merge, so memory does not grow with unique ids.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use super::run_file::{write_run, Key, Run, RunReader};
use super::LoadObserver;
use crate::error::{Error, Result};
use crate::schema::Kind;
use crate::table::{ColumnData, Table, Text};
use crate::text::{TextColumn, ABSENT};

/// Deliveries held in memory before they are sorted and spilled as a run, unless told otherwise:
/// about 400 MB of rows. Datasets up to this size are never spilled. Measured at 10^7 deliveries,
/// loading in runs of 2^20 took 15-18 s and 2.3 GB, in runs of 2^22 21-26 s and 4.3 GB: each run
/// is a smaller sort, every validator waits less while one is written, and less memory is touched.
pub const DEFAULT_RUN_ROWS: usize = 1 << 20;

/// Deliveries spilled before freed memory should go back to the OS
/// ([`super::LoadObserver::spilled_beyond_memory`]): up to here keeping it is faster, and the peak
/// stays well inside the machine.
const KEEP_FREED_MEMORY_ROWS: usize = 1 << 24;

/// Deliveries per merged block when the merge only gathers or counts them (no join follows).
pub const GATHER_BLOCK_ROWS: usize = 1 << 20;

/// Where validated deliveries go: a run held in memory, spilled to disk when it reaches its limit.
#[derive(Debug)]
pub struct RunSorter {
    limit: usize,
    state: Mutex<SorterState>,
    observer: Option<Arc<dyn LoadObserver>>,
}

#[derive(Debug)]
struct SorterState {
    pending: Table,
    spill: Option<Spill>,
    error: Option<Error>,
}

/// What has gone to disk so far.
#[derive(Debug)]
struct Spill {
    dir: tempfile::TempDir,
    runs: Vec<Run>,
    /// A 64-bit hash of the `request_id` of every spilled row that has one.
    rid_hashes: Vec<u64>,
    /// Per contract column, the run-wide dictionary of a text column whose values repeat
    /// (decided by the first run: coded there); none for other columns.
    dicts: Vec<Option<RunDictionary>>,
}

/// A text column with more distinct values than a `u32` codes.
#[derive(Debug)]
struct TooManyValues;

/// The values of one text column across every run, each once: a run holds their codes, so the
/// merge hands each value of a block out once, by its code, without reading or hashing its text.
#[derive(Debug, Default)]
struct RunDictionary {
    index: HashMap<Text, u32, foldhash::fast::RandomState>,
    values: Vec<Text>,
}

impl RunDictionary {
    /// Each cell's code ([`ABSENT`] for none), values new to the dictionary added.
    fn codes_of(&mut self, col: &TextColumn) -> std::result::Result<Vec<u32>, TooManyValues> {
        match col.coded() {
            Some((codes, values)) => {
                let of_value = values
                    .iter()
                    .map(|v| self.code(v))
                    .collect::<std::result::Result<Vec<u32>, TooManyValues>>()?;
                Ok(codes
                    .iter()
                    .map(|&c| of_value.get(c as usize).copied().unwrap_or(ABSENT))
                    .collect())
            }
            None => (0..col.len())
                .map(|i| col.get(i).map_or(Ok(ABSENT), |v| self.code(v)))
                .collect(),
        }
    }

    fn code(&mut self, v: &Text) -> std::result::Result<u32, TooManyValues> {
        if let Some(&c) = self.index.get(&**v) {
            return Ok(c);
        }
        let c = u32::try_from(self.values.len())
            .ok()
            .filter(|&c| c < ABSENT)
            .ok_or(TooManyValues)?;
        // A copy, not the run's shared text: the runs' memory is freed around the few values
        // kept, rather than held page by page by them.
        let v = Text::from(&**v);
        self.index.insert(v.clone(), c);
        self.values.push(v);
        Ok(c)
    }
}

/// The deliveries once every file is validated.
#[derive(Debug)]
pub enum Sorted {
    /// Everything fitted in one run: the rows, in no particular order, not yet de-duplicated.
    Resident(Table),
    /// Sorted runs on disk, to be merged.
    Spilled(SpilledDeliveries),
}

/// Deliveries spilled as sorted runs; [`SpilledDeliveries::merge`] reads them back in order.
#[derive(Debug)]
pub struct SpilledDeliveries {
    dir: tempfile::TempDir,
    runs: Vec<Run>,
    /// Hashes of the request ids that occur more than once: only they can be duplicates.
    repeated_ids: HashSet<u64>,
    /// Every extra column of every run, by name.
    extra: Vec<String>,
    /// Rows in all runs (before de-duplication).
    pub rows: usize,
    /// Per contract column, the values of a column the runs hold as codes ([`RunDictionary`]).
    dicts: Arc<Vec<Option<Vec<Text>>>>,
}

impl super::RowSink for RunSorter {
    fn push(&self, rows: Table) {
        RunSorter::push(self, rows)
    }
}

impl RunSorter {
    /// A sorter spilling runs of `limit` rows (0: [`DEFAULT_RUN_ROWS`]) into a temporary folder
    /// under the system's (`TMPDIR`).
    pub fn new(limit: usize, observer: Option<Arc<dyn LoadObserver>>) -> RunSorter {
        RunSorter {
            observer,
            limit: match limit {
                0 => DEFAULT_RUN_ROWS,
                n => n,
            },
            state: Mutex::new(SorterState {
                pending: Table::new(Kind::Deliveries),
                spill: None,
                error: None,
            }),
        }
    }

    /// Adds validated rows; spills the held rows once they reach the limit (other files' rows
    /// wait meanwhile). After a failed spill rows are not kept: [`RunSorter::finish`] reports it.
    pub fn push(&self, rows: Table) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.error.is_some() {
            return;
        }
        // The held rows are spilled before they would overshoot the limit, so that a run never
        // holds more rows, and memory, than the limit says.
        if !st.pending.is_empty() && st.pending.len() + rows.len() > self.limit {
            self.spill_pending(&mut st);
        }
        st.pending.append(rows);
        if st.pending.len() >= self.limit {
            self.spill_pending(&mut st);
        }
    }

    /// Spills the held rows.
    fn spill_pending(&self, st: &mut SorterState) {
        let run = std::mem::replace(&mut st.pending, Table::new(Kind::Deliveries));
        if let Err(e) = spill(&mut st.spill, run, self.observer.as_deref()) {
            st.error = Some(e);
        }
    }

    /// Every file is in: the rows held, or the runs to merge.
    pub fn finish(self) -> Result<Sorted> {
        let mut st = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        if st.spill.is_none() {
            return Ok(Sorted::Resident(st.pending));
        }
        if !st.pending.is_empty() {
            spill(&mut st.spill, st.pending, self.observer.as_deref())?;
        }
        let Some(Spill {
            dir,
            runs,
            mut rid_hashes,
            dicts,
        }) = st.spill
        else {
            unreachable!("a spill was made above");
        };
        rid_hashes.par_sort_unstable();
        let repeated_ids = rid_hashes
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        let extra: Vec<String> = runs
            .iter()
            .flat_map(|r| r.extra.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let rows = runs.iter().map(|r| r.rows).sum();
        Ok(Sorted::Spilled(SpilledDeliveries {
            dir,
            runs,
            repeated_ids,
            extra,
            rows,
            dicts: Arc::new(dicts.into_iter().map(|d| d.map(|d| d.values)).collect()),
        }))
    }
}

/// Sorts `run` and writes it into the spill folder, made on the first call.
fn spill(to: &mut Option<Spill>, run: Table, observer: Option<&dyn LoadObserver>) -> Result<()> {
    let spill = match to {
        Some(s) => s,
        None => to.insert(Spill {
            dir: tempfile::Builder::new()
                .prefix("leakscope-runs-")
                .tempdir()
                .map_err(|e| Error::io(&std::env::temp_dir(), e))?,
            runs: Vec::new(),
            rid_hashes: Vec::new(),
            dicts: run
                .columns
                .iter()
                .map(|c| match c {
                    ColumnData::Text(v) if v.coded().is_some() => Some(RunDictionary::default()),
                    _ => None,
                })
                .collect(),
        }),
    };
    let run = sort_run(run);
    let global = spill
        .dicts
        .iter_mut()
        .zip(&run.columns)
        .map(|(d, c)| match (d, c) {
            (Some(d), ColumnData::Text(v)) => d.codes_of(v).map(Some),
            _ => Ok(None),
        })
        .collect::<std::result::Result<Vec<Option<Vec<u32>>>, TooManyValues>>()
        .map_err(|TooManyValues| {
            Error::io(
                spill.dir.path(),
                std::io::Error::other(
                    "a text column of the deliveries has 2^32 distinct values or more",
                ),
            )
        })?;
    if let Some(ColumnData::Text(rid)) = run.column("request_id") {
        spill.rid_hashes.par_extend(
            (0..rid.len())
                .into_par_iter()
                .filter_map(|i| rid.get(i).map(|r| rid_hash(r))),
        );
    }
    // Compressing is the slow part of a spill and every validator waits for it, so the sorted
    // run is written as one file per core, each a sorted run of its own to the merge. At least
    // two, so that every machine merges runs cut this way.
    let parts = rayon::current_num_threads().max(2);
    let per = run.len().div_ceil(parts).max(1);
    let first = spill.runs.len();
    let dir = spill.dir.path();
    let written = (0..run.len().div_ceil(per))
        .into_par_iter()
        .map(|k| {
            let rows = k * per..run.len().min((k + 1) * per);
            let path = dir.join(format!("run-{}.bin", first + k));
            let extra = write_run(&run, &global, rows.clone(), &path)?;
            Ok(Run {
                path,
                rows: rows.len(),
                extra,
            })
        })
        .collect::<Result<Vec<Run>>>()?;
    spill.runs.extend(written);
    let spilled: usize = spill.runs.iter().map(|r| r.rows).sum();
    if spilled >= KEEP_FREED_MEMORY_ROWS && spilled - run.len() < KEEP_FREED_MEMORY_ROWS {
        if let Some(o) = observer {
            o.spilled_beyond_memory();
        }
    }
    // Freeing millions of strings one by one would stall validation; a helper thread does it.
    std::thread::spawn(move || drop(run));
    Ok(())
}

fn rid_hash(r: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(r.as_bytes())
}

fn sort_run(t: Table) -> Table {
    let ts = t.time("ts");
    let mut keyed: Vec<(Key, usize)> = (0..t.len())
        .map(|i| ((ts.get(i).copied().flatten(), t.digest[i], t.source[i]), i))
        .collect();
    keyed.par_sort_unstable();
    let idx: Vec<usize> = keyed.into_iter().map(|k| k.1).collect();
    t.select(&idx)
}

/// The merge of the runs: blocks of de-duplicated deliveries in (ts, digest) order.
pub struct Merge {
    /// The runs' folder, removed with the merge; none for a scan, which leaves it to the merge.
    _dir: Option<tempfile::TempDir>,
    readers: Vec<RunReader>,
    heap: BinaryHeap<std::cmp::Reverse<(Key, usize)>>,
    ts_col: usize,
    rid_col: usize,
    repeated_ids: HashSet<u64>,
    /// Request ids of `repeated_ids` already delivered.
    seen_ids: HashSet<Text>,
    last_digest: Option<u128>,
    extra: Vec<String>,
    block_rows: usize,
    /// Rows each input file lost as duplicates so far.
    pub duplicates: Vec<u64>,
    /// Rows given out so far.
    pub kept: u64,
    /// The current block's columns that have a run-wide dictionary, by contract column.
    block_text: Vec<Option<BlockText>>,
    dicts: Arc<Vec<Option<Vec<Text>>>>,
}

/// A merged block's text column whose runs hold it as codes of a run-wide dictionary: each value
/// of the block taken from the dictionary once, by its code.
struct BlockText {
    codes: Vec<u32>,
    values: Vec<Text>,
    /// The block's code of each run-wide code it has met ([`ABSENT`] if none).
    of_run_code: Vec<u32>,
    /// The run-wide codes of `values`, in order, for clearing `of_run_code`.
    met: Vec<u32>,
}

impl BlockText {
    fn new(dictionary: usize) -> BlockText {
        BlockText {
            codes: Vec::new(),
            values: Vec::new(),
            of_run_code: vec![ABSENT; dictionary],
            met: Vec::new(),
        }
    }

    fn push(&mut self, run_code: Option<u32>, dictionary: &[Text]) {
        let value = run_code.and_then(|c| Some((c, dictionary.get(c as usize)?)));
        let Some((c, v)) = value else {
            return self.codes.push(ABSENT);
        };
        let Some(slot) = self.of_run_code.get_mut(c as usize) else {
            return self.codes.push(ABSENT);
        };
        if *slot == ABSENT {
            *slot = self.values.len() as u32;
            self.values.push(v.clone());
            self.met.push(c);
        }
        self.codes.push(*slot);
    }

    /// The block's column; ready for the next block.
    fn take(&mut self) -> TextColumn {
        for &c in &self.met {
            if let Some(slot) = self.of_run_code.get_mut(c as usize) {
                *slot = ABSENT;
            }
        }
        self.met.clear();
        TextColumn::from_codes(
            std::mem::take(&mut self.codes),
            std::mem::take(&mut self.values),
        )
    }
}

impl SpilledDeliveries {
    /// Merges the runs into blocks of at most `block_rows` rows; `n_files` sizes the duplicate tally.
    pub fn merge(self, block_rows: usize, n_files: usize) -> Result<Merge> {
        let mut m = self.open(block_rows, n_files)?;
        m._dir = Some(self.dir);
        Ok(m)
    }

    /// A first pass over the deliveries, merged as [`SpilledDeliveries::merge`] will merge them,
    /// for what must be known of them all before any is joined; the runs stay for the merge.
    pub fn scan(&self, block_rows: usize, n_files: usize) -> Result<Merge> {
        self.open(block_rows, n_files)
    }

    fn open(&self, block_rows: usize, n_files: usize) -> Result<Merge> {
        let cols = Kind::Deliveries.columns();
        let at = |name: &str| cols.iter().position(|c| c.name == name).unwrap_or(0);
        let ts_col = at("ts");
        let mut readers = Vec::with_capacity(self.runs.len());
        let mut heap = BinaryHeap::new();
        for run in &self.runs {
            let mut r = RunReader::open(run, &self.extra, &self.dicts)?;
            r.fill()?;
            if let Some(k) = r.key(ts_col) {
                heap.push(std::cmp::Reverse((k, readers.len())));
            }
            readers.push(r);
        }
        Ok(Merge {
            _dir: None,
            readers,
            heap,
            ts_col,
            rid_col: at("request_id"),
            repeated_ids: self.repeated_ids.clone(),
            seen_ids: HashSet::new(),
            last_digest: None,
            extra: self.extra.clone(),
            block_rows: block_rows.max(1),
            duplicates: vec![0; n_files],
            kept: 0,
            block_text: self
                .dicts
                .iter()
                .map(|d| d.as_ref().map(|values| BlockText::new(values.len())))
                .collect(),
            dicts: self.dicts.clone(),
        })
    }
}

impl Merge {
    /// The next block, or `None` when every run is used up.
    pub fn next_block(&mut self) -> Result<Option<Table>> {
        let mut out = Table::new(Kind::Deliveries);
        out.extra = self.extra.iter().map(|e| (e.clone(), Vec::new())).collect();
        for m in self.readers.iter_mut().flat_map(|r| r.memo.iter_mut()) {
            m.clear();
        }
        while out.len() < self.block_rows {
            let Some(std::cmp::Reverse((key, r))) = self.heap.pop() else {
                break;
            };
            let reader = &mut self.readers[r];
            let pos = reader.pos;
            let file = key.2 .0 as usize;
            let copy = self.last_digest == Some(key.1);
            self.last_digest = Some(key.1);
            let repeat = !copy
                && reader.text(self.rid_col, pos).is_some_and(|rid| {
                    self.repeated_ids.contains(&rid_hash(rid)) && !self.seen_ids.insert(rid.clone())
                });
            if copy || repeat {
                if let Some(d) = self.duplicates.get_mut(file) {
                    *d += 1;
                }
            } else {
                out.push_row_via(&reader.chunk, pos, &mut reader.memo);
                for (k, b) in self.block_text.iter_mut().enumerate() {
                    if let (Some(b), Some(Some(dict))) = (b, self.dicts.get(k)) {
                        b.push(reader.global[k].get(pos).copied(), dict);
                    }
                }
            }
            reader.advance()?;
            if let Some(k) = reader.key(self.ts_col) {
                self.heap.push(std::cmp::Reverse((k, r)));
            }
        }
        for (c, b) in out.columns.iter_mut().zip(&mut self.block_text) {
            if let (ColumnData::Text(v), Some(b)) = (c, b) {
                *v = b.take();
            }
        }
        self.kept += out.len() as u64;
        Ok((!out.is_empty()).then_some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::super::run_file::READ_CHUNK;
    use super::*;
    use crate::load::table_from_csv;

    const HEADER: &str =
        "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,request_id";

    fn files() -> Vec<Table> {
        let a = table_from_csv(
            Kind::Deliveries,
            &format!(
                "{HEADER},note\n2000,s,c,n,k,hit,r1,x\n1000,s,c,n,k,hit,r2,\n1000,s,c,n,k,HIT,r2,y\n5000,s,c,n,k,hit,r9,\n"
            ),
            0,
        );
        let b = table_from_csv(
            Kind::Deliveries,
            &format!(
                "{HEADER},extra2\n1500,s,c,n,k,miss,r1,e\n3000,s,c,n,k,hit,,\n3000,s,c,n,k,hit,,\n1000,s,c,n,k,hit,r2,\n"
            ),
            1,
        );
        vec![a, b]
    }

    /// Merged runs, cut into blocks of every size, equal the in-memory de-duplication row for
    /// row and charge each file the same duplicates.
    #[test]
    fn merged_runs_equal_in_memory_dedup() {
        let mut whole = Table::new(Kind::Deliveries);
        for t in files() {
            whole.append(t);
        }
        let (want, want_dups) = crate::dedup::dedup(whole, 2);
        assert_eq!(want_dups, vec![2, 2]);
        for limit in 1..=8 {
            for block in [1, 2, 3, 100] {
                let sorter = RunSorter::new(limit, None);
                for t in files() {
                    sorter.push(t);
                }
                let Sorted::Spilled(spilled) = sorter.finish().unwrap() else {
                    panic!("a limit of {limit} rows spills");
                };
                assert_eq!(spilled.rows, 8);
                let mut merge = spilled.merge(block, 2).unwrap();
                let mut got = Table::new(Kind::Deliveries);
                while let Some(b) = merge.next_block().unwrap() {
                    assert!(b.len() <= block);
                    got.append(b);
                }
                assert_eq!(merge.duplicates, want_dups, "limit {limit}, block {block}");
                assert_eq!(merge.kept, want.len() as u64);
                assert_eq!(got.digest, want.digest);
                assert_eq!(got.source, want.source);
                assert_eq!(got.columns, want.columns);
                assert_eq!(got.extra, want.extra);
                assert_eq!(got.extra.keys().collect::<Vec<_>>(), ["extra2", "note"]);
            }
        }
    }

    /// Runs of many chunks, whose text is coded chunk by chunk, read back as they were written:
    /// repeated and distinct values, absent cells, copies and repeated request ids across chunks.
    #[test]
    fn runs_of_many_chunks_merge_to_the_in_memory_result() {
        // Past 2^16 distinct request ids, so that a run holds them as text, not codes.
        let rows = 16 * READ_CHUNK + 77;
        let csv = |from: usize, file: u32| {
            let mut s = format!("{HEADER},note\n");
            for i in from..from + rows {
                let session = match i % 7 {
                    0 => String::new(),
                    k => format!("s{}", (i / 3 + k) % 40),
                };
                let rid = match i % 5 {
                    0 => format!("r{}", i % 1000),
                    _ => format!("r{i}"),
                };
                let note = if i % 3 == 0 {
                    format!("n{}", i % 11)
                } else {
                    String::new()
                };
                s += &format!(
                    "{},{session},c{},n{},k{},hit,{rid},{note}\n",
                    1000 + (i % 500) * 10 + file as usize,
                    i % 9,
                    i % 3,
                    (i * 7919) % 20011,
                );
            }
            table_from_csv(Kind::Deliveries, &s, file)
        };
        let inputs = || [csv(0, 0), csv(rows / 2, 1)];
        let mut whole = Table::new(Kind::Deliveries);
        for t in inputs() {
            whole.append(t);
        }
        let (want, want_dups) = crate::dedup::dedup(whole, 2);
        assert!(want_dups.iter().sum::<u64>() > 0);
        // Two threads, so that each run is cut into two parts of more than two chunks each.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let (got, dups) = pool.install(|| {
            let [a, b] = inputs();
            let sorter = RunSorter::new(a.len(), None);
            sorter.push(a);
            sorter.push(b);
            let Sorted::Spilled(spilled) = sorter.finish().unwrap() else {
                panic!("a file at the limit spills");
            };
            assert!(spilled.runs.iter().all(|r| r.rows > 2 * READ_CHUNK));
            let col = |name| {
                Kind::Deliveries
                    .columns()
                    .iter()
                    .position(|c| c.name == name)
            };
            let has_dict = |name| col(name).is_some_and(|k| spilled.dicts[k].is_some());
            assert!(has_dict("session_id") && has_dict("cache_key"));
            assert!(!has_dict("request_id"), "request ids are written as text");
            let mut merge = spilled.merge(READ_CHUNK + 5, 2).unwrap();
            let mut got = Table::new(Kind::Deliveries);
            while let Some(b) = merge.next_block().unwrap() {
                got.append(b);
            }
            (got, merge.duplicates)
        });
        assert_eq!(dups, want_dups);
        assert_eq!(got.digest, want.digest);
        assert_eq!(got.source, want.source);
        assert_eq!(got.columns, want.columns);
        assert_eq!(got.extra, want.extra);
    }

    /// A run that would overshoot its limit is spilled first; each run is written as several
    /// files, which together hold it once.
    #[test]
    fn runs_keep_to_their_limit_and_are_written_in_parts() {
        let sorter = RunSorter::new(6, None);
        for t in files() {
            sorter.push(t);
        }
        let Sorted::Spilled(spilled) = sorter.finish().unwrap() else {
            panic!("8 rows over a limit of 6 spill");
        };
        let parts = rayon::current_num_threads().max(2);
        let sizes: Vec<usize> = spilled.runs.iter().map(|r| r.rows).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 8);
        assert_eq!(sizes.len(), 2 * parts.min(4), "{sizes:?}");
        assert!(sizes.iter().all(|&n| n <= 2), "{sizes:?}");
    }

    #[test]
    fn below_the_limit_nothing_is_spilled() {
        let sorter = RunSorter::new(100, None);
        for t in files() {
            sorter.push(t);
        }
        match sorter.finish().unwrap() {
            Sorted::Resident(t) => assert_eq!(t.len(), 8),
            Sorted::Spilled(_) => panic!("8 rows under a limit of 100 stay in memory"),
        }
    }
}
