//! The cache log as it is read: each validated slice becomes compact events at once, its rows let go.
//!
//! A cache log row in a [`Table`] costs about 300 bytes by the time it is de-duplicated; at 10^8
//! deliveries a cache-heavy log has 1.6 × 10^8 rows, more than a 24 GiB machine holds. What the
//! later stages need of a row is much less: its slot (cache node and key), its time, and for a
//! fill what it stored. So the rows of each slice are coded as they arrive, into a
//! [`CacheEvent`] of 32 bytes and, for a fill, a [`Fills`] entry of about 40, and the slice's
//! table is dropped. Copies of one row are folded once every file is in: they name one slot at
//! one instant, so sorting the events by (slot, time, digest) puts them side by side.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use foldhash::fast::RandomState;
use rayon::prelude::*;

use super::RowSink;
use crate::cite::Cite;
use crate::codes::{Dictionary, Pairs, UNKNOWN};
use crate::dedup::fold_copies;
use crate::error::{Error, Result};
use crate::schema::CacheOp;
use crate::table::{Table, Text};
use crate::time::HOUR_MS;
use crate::timeline::TimelineError;

/// Set in [`CacheEvent::aux`] for an event that stored nothing (an evict or purge); the rest of
/// `aux` is then the event's file. Without it, `aux` is the event's fill.
const NOT_FILL: u32 = 1 << 31;

/// Set in a fill's object end offset when it named no object.
const NO_OBJECT: u64 = 1 << 63;
/// Set in a fill's object end offset when it gave no capture time.
const NO_CAPTURE: u64 = 1 << 62;
/// Set in a fill's object end offset when no cache log row says it: a miss implied it.
const INFERRED: u64 = 1 << 61;
/// The bits of an object end offset that are the offset.
const OFFSET: u64 = INFERRED - 1;

/// One cache log row of a (node, key) slot, as the cache timeline is built from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheEvent {
    pub ts: i64,
    /// The low 64 bits of the row's digest of every parsed value: with the slot and the instant,
    /// what tells copies of one row from two rows.
    pub digest: u64,
    /// The (node, key) pair's id in [`CacheLog::slots`].
    pub slot: u32,
    aux: u32,
    /// The row's line in its file (the file is the fill's, or in `aux`); [`NO_LINE`] for an
    /// event no row states.
    line: u64,
}

/// The line of an event no row states: an inferred fill's expiry.
const NO_LINE: u64 = u64::MAX;

impl CacheEvent {
    /// The index in [`Fills`] of what the event stored, if it was a fill.
    pub fn fill(&self) -> Option<u32> {
        (self.aux & NOT_FILL == 0).then_some(self.aux)
    }
}

/// A purge of every key of a node (`*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePurge {
    pub node: u32,
    pub ts: i64,
    digest: u64,
    file: u32,
    line: u64,
}

impl NodePurge {
    /// The row that states the purge.
    pub fn cite(&self) -> std::result::Result<Cite, TimelineError> {
        Ok(Cite::new(self.file, self.line)?)
    }
}

/// What each fill stored, by fill index. Streams and configs are codes of the [`CacheLog`]'s
/// own dictionaries ([`UNKNOWN`]: none).
#[derive(Debug, Default)]
pub struct Fills {
    pub origin: Vec<u32>,
    config: Vec<u32>,
    /// Meaningful where `object_end` does not say [`NO_CAPTURE`]; 8 bytes a fill where an
    /// `Option` takes 16.
    captured: Vec<i64>,
    /// The file each fill was read from, to charge its copies to.
    file: Vec<u32>,
    /// Objects are mostly distinct, so they are kept end to end rather than coded: object i ends
    /// at `object_end[i] & OFFSET` and starts where object i − 1 ends; the flags above the
    /// offset say what the fill did not name.
    objects: String,
    object_end: Vec<u64>,
}

/// One fill as the look-ups read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheEntry<'a> {
    pub origin: Option<u32>,
    pub captured: Option<i64>,
    pub object: Option<&'a str>,
    pub config: Option<u32>,
    /// Inferred from a miss, for a node without a cache log.
    pub inferred: bool,
}

impl Fills {
    pub fn len(&self) -> usize {
        self.origin.len()
    }

    pub fn is_empty(&self) -> bool {
        self.origin.is_empty()
    }

    /// Fill `i`, if there is one.
    pub fn entry(&self, i: u32) -> Option<CacheEntry<'_>> {
        let i = i as usize;
        let end = *self.object_end.get(i)?;
        let start = match i {
            0 => 0,
            _ => self.object_end[i - 1] & OFFSET,
        };
        let object = match end & NO_OBJECT {
            0 => Some(self.objects.get(start as usize..(end & OFFSET) as usize)?),
            _ => None,
        };
        let code = |c: u32| (c != UNKNOWN).then_some(c);
        Some(CacheEntry {
            origin: code(self.origin[i]),
            captured: (end & NO_CAPTURE == 0).then_some(self.captured[i]),
            object,
            config: code(self.config[i]),
            inferred: end & INFERRED != 0,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        object: Option<&str>,
        origin: u32,
        config: u32,
        captured: Option<i64>,
        file: u32,
        inferred: bool,
    ) -> std::result::Result<u32, TimelineError> {
        let i = u32::try_from(self.len())
            .ok()
            .filter(|&i| i < NOT_FILL)
            .ok_or(TimelineError::TooManyEvents)?;
        if let Some(o) = object {
            self.objects.push_str(o);
        }
        let end = self.objects.len() as u64;
        if end > OFFSET {
            return Err(TimelineError::TooManyEvents);
        }
        let flags = match (object, captured) {
            (None, None) => NO_OBJECT | NO_CAPTURE,
            (None, Some(_)) => NO_OBJECT,
            (Some(_), None) => NO_CAPTURE,
            (Some(_), Some(_)) => 0,
        };
        let inferred = match inferred {
            true => INFERRED,
            false => 0,
        };
        self.object_end.push(end | flags | inferred);
        self.origin.push(origin);
        self.config.push(config);
        self.captured.push(captured.unwrap_or(0));
        self.file.push(file);
        Ok(i)
    }
}

/// Per cache node named in the cache log, the hours (their first millisecond) with at least one
/// of its rows: what log coverage compares the deliveries with.
pub type CacheHours = HashMap<Text, HashSet<i64, RandomState>, RandomState>;

/// The cache log, de-duplicated, as codes and events.
#[derive(Debug)]
pub struct CacheLog {
    pub nodes: Dictionary,
    pub keys: Dictionary,
    /// The fills' origin streams: the cache log's own dictionary, to be mapped into the shared one.
    pub streams: Dictionary,
    pub configs: Dictionary,
    pub slots: Pairs,
    /// Every row of a slot, sorted by slot, time and digest; copies folded.
    pub events: Vec<CacheEvent>,
    /// Every purge of `*`, sorted by node and time; copies folded.
    pub purges: Vec<NodePurge>,
    pub fills: Fills,
}

impl Default for CacheLog {
    fn default() -> CacheLog {
        CacheLog {
            nodes: Dictionary::new("cache nodes"),
            keys: Dictionary::new("cache keys"),
            streams: Dictionary::new("stream ids"),
            configs: Dictionary::new("config versions"),
            slots: Pairs::default(),
            events: Vec::new(),
            purges: Vec::new(),
            fills: Fills::default(),
        }
    }
}

impl CacheLog {
    /// The cache log of one table of cache rows, and the copies charged to each of `n_files`
    /// files: what loading a dataset with these rows gives.
    pub fn from_table(t: Table, n_files: usize) -> Result<(CacheLog, CacheHours, Vec<u64>)> {
        let b = CacheLogBuilder::with_capacity(t.len());
        b.push(t);
        b.finish(n_files)
    }

    /// Rows kept: events and node purges.
    pub fn rows(&self) -> usize {
        self.events.len() + self.purges.len()
    }

    /// Whether node code `node` is one of the first `logged` nodes, those the cache log names.
    pub fn names_node(&self, node: &str, logged: usize) -> bool {
        let c = self.nodes.lookup(node);
        c != UNKNOWN && (c as usize) < logged
    }

    /// The row that states event `e`; [`Cite::NONE`] for an inferred fill's expiry.
    pub fn cite(&self, e: &CacheEvent) -> std::result::Result<Cite, TimelineError> {
        if e.line == NO_LINE {
            return Ok(Cite::NONE);
        }
        let file = match e.fill() {
            Some(f) => *self
                .fills
                .file
                .get(f as usize)
                .ok_or(TimelineError::NoSuchEvent(f as usize))?,
            None => e.aux & !NOT_FILL,
        };
        Ok(Cite::new(file, e.line)?)
    }

    /// Adds the fill a miss implies at `ts`, for a node the cache log does not name: what it
    /// fetched (`origin`, `object`, `captured`) under its key, stated by the miss's row `source`.
    /// [`CacheLog::settle_inferred`] puts these events in order once all are in.
    #[allow(clippy::too_many_arguments)]
    pub fn push_inferred(
        &mut self,
        node: &Text,
        key: &Text,
        ts: i64,
        digest: u64,
        origin: &Text,
        object: Option<&str>,
        captured: Option<i64>,
        source: (u32, u64),
    ) -> std::result::Result<(), TimelineError> {
        let (n, k) = (self.nodes.code(node)?, self.keys.code(key)?);
        let origin = self.streams.code(origin)?;
        let (file, line) = source;
        if file >= NOT_FILL || line == NO_LINE {
            return Err(TimelineError::TooManyEvents);
        }
        let fill = self
            .fills
            .push(object, origin, UNKNOWN, captured, file, true)?;
        self.events.push(CacheEvent {
            ts,
            digest,
            slot: self.slots.id(n, k)?,
            aux: fill,
            line,
        });
        Ok(())
    }

    /// Sorts the inferred events, those from `from` on, and ends each inferred fill `ttl_ms`
    /// after it when no later miss of its key came sooner. Their slots are all new, so the
    /// events stay in slot and time order.
    pub fn settle_inferred(&mut self, from: usize, ttl_ms: Option<i64>) {
        let inferred = &mut self.events[from..];
        inferred.par_sort_unstable_by_key(|e| (e.slot, e.ts, e.digest));
        let Some(ttl) = ttl_ms else { return };
        let mut expiries = Vec::new();
        for slot in inferred.chunk_by(|a, b| a.slot == b.slot) {
            let times: Vec<i64> = slot
                .chunk_by(|a, b| a.ts == b.ts)
                .map(|g| g[0].ts)
                .collect();
            for (i, &t) in times.iter().enumerate() {
                let end = t.saturating_add(ttl);
                if times.get(i + 1).is_none_or(|&next| next > end) {
                    expiries.push(CacheEvent {
                        ts: end,
                        digest: 0,
                        slot: slot[0].slot,
                        aux: NOT_FILL,
                        line: NO_LINE,
                    });
                }
            }
        }
        self.events.extend(expiries);
        self.events[from..].par_sort_unstable_by_key(|e| (e.slot, e.ts, e.digest));
    }
}

/// Where validated cache rows go: coded into events slice by slice, as the files are read.
#[derive(Debug, Default)]
pub struct CacheLogBuilder {
    state: Mutex<Building>,
}

#[derive(Debug, Default)]
struct Building {
    log: CacheLog,
    /// By node code: the hours with a row.
    hours: Vec<HashSet<i64, RandomState>>,
    error: Option<TimelineError>,
}

impl RowSink for CacheLogBuilder {
    fn push(&self, rows: Table) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.error.is_none() {
            if let Err(e) = st.add(&rows) {
                st.error = Some(e);
            }
        }
        drop(st);
        drop(rows);
    }
}

impl Building {
    fn add(&mut self, t: &Table) -> std::result::Result<(), TimelineError> {
        let log = &mut self.log;
        let (ts, op) = (t.time("ts"), t.enums::<CacheOp>("op"));
        let (obj, cap) = (t.text("object_id"), t.time("captured_at"));
        let node = log.nodes.code_all(t.text("cache_node"))?;
        let key = log.keys.code_all(t.text("cache_key"))?;
        let origin = log.streams.code_all(t.text("origin_stream_id"))?;
        let config = log.configs.code_all(t.text("config_version"))?;
        let every_key = log.keys.lookup("*");
        self.hours.resize_with(log.nodes.len(), HashSet::default);
        // Rows come mostly in time order, so most rows fall in the hour of the row before.
        let mut last_hour = None;
        for i in 0..t.len() {
            let (Some(ts), Some(op), n, k) = (ts[i], op[i], node[i], key[i]) else {
                return Err(TimelineError::IncompleteCacheRow(i));
            };
            if n == UNKNOWN || k == UNKNOWN {
                return Err(TimelineError::IncompleteCacheRow(i));
            }
            let (file, line) = t.source[i];
            if file >= NOT_FILL || line == NO_LINE {
                return Err(TimelineError::TooManyEvents);
            }
            let hour = ts.div_euclid(HOUR_MS) * HOUR_MS;
            if last_hour != Some((n, hour)) {
                self.hours[n as usize].insert(hour);
                last_hour = Some((n, hour));
            }
            // The digest is 128 bits; 64 of them, within one slot and millisecond, are plenty.
            let digest = t.digest[i] as u64;
            // Only `purge` gives `*` its meaning, for every key of the node.
            if op == CacheOp::Purge && k == every_key {
                log.purges.push(NodePurge {
                    node: n,
                    ts,
                    digest,
                    file,
                    line,
                });
                continue;
            }
            let aux = match op {
                CacheOp::Fill => {
                    log.fills
                        .push(obj.str(i), origin[i], config[i], cap[i], file, false)?
                }
                CacheOp::Evict | CacheOp::Purge => NOT_FILL | file,
            };
            log.events.push(CacheEvent {
                ts,
                digest,
                slot: log.slots.id(n, k)?,
                aux,
                line,
            });
        }
        Ok(())
    }
}

impl CacheLogBuilder {
    /// A builder with room for `rows` events: at 10^8 rows, growing by doubling would hold the
    /// old and the new array at once, half again the events' own size.
    pub fn with_capacity(rows: usize) -> CacheLogBuilder {
        let log = CacheLog {
            events: Vec::with_capacity(rows),
            ..CacheLog::default()
        };
        CacheLogBuilder {
            state: Mutex::new(Building {
                log,
                ..Building::default()
            }),
        }
    }

    /// Every file is in: the events sorted and their copies folded, the hours covered, and the
    /// copies charged to each of `n_files` files.
    pub fn finish(self, n_files: usize) -> Result<(CacheLog, CacheHours, Vec<u64>)> {
        let st = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = st.error {
            return Err(Error::timeline("reading the cache log", e));
        }
        let mut log = st.log;
        let mut dups = vec![0u64; n_files];
        log.events
            .par_sort_unstable_by_key(|e| (e.slot, e.ts, e.digest));
        let fills = &log.fills;
        let file = |e: &CacheEvent| match e.fill() {
            Some(f) => (fills.file[f as usize], e.line),
            None => (e.aux & !NOT_FILL, e.line),
        };
        // A copy of a fill stored the same thing: the 64-bit digest is confirmed by the values.
        let copies = |a: &CacheEvent, b: &CacheEvent| {
            (a.slot, a.ts, a.digest) == (b.slot, b.ts, b.digest)
                && match (a.fill(), b.fill()) {
                    (None, None) => true,
                    (Some(x), Some(y)) => fills.entry(x) == fills.entry(y),
                    _ => false,
                }
        };
        fold_copies(&mut log.events, copies, file, &mut dups);
        log.purges
            .sort_unstable_by_key(|p| (p.node, p.ts, p.digest));
        fold_copies(
            &mut log.purges,
            |a, b| (a.node, a.ts, a.digest) == (b.node, b.ts, b.digest),
            |p| (p.file, p.line),
            &mut dups,
        );
        log.events.shrink_to_fit();
        let mut hours = CacheHours::default();
        for (code, h) in st.hours.into_iter().enumerate() {
            if let Some(node) = log.nodes.value(code as u32) {
                hours.insert(node.clone(), h);
            }
        }
        Ok((log, hours, dups))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::table_from_csv;
    use crate::schema::Kind;

    const HEADER: &str = "ts,cache_node,cache_key,op,object_id,origin_stream_id,captured_at\n";

    fn log_of(files: &[&str]) -> (CacheLog, CacheHours, Vec<u64>) {
        let b = CacheLogBuilder::default();
        for (i, rows) in files.iter().enumerate() {
            b.push(table_from_csv(
                Kind::Cache,
                &format!("{HEADER}{rows}"),
                i as u32,
            ));
        }
        b.finish(files.len()).unwrap()
    }

    /// Copies of a row fold into one, charged to every file but the first that has one; rows
    /// that differ in any value stay, and fills keep what they stored.
    #[test]
    fn copies_fold_and_are_charged_to_the_later_files() {
        let (log, _, dups) = log_of(&[
            "1000,n,k,fill,o1,s,900\n2000,n,k,evict,,,\n2000,n,*,purge,,,\n",
            "1000,n,k,fill,o1,s,900\n1000,n,k,fill,o2,s,900\n2000,n,*,purge,,,\n",
            "2000,n,k,evict,,,\n2000,n,k,evict,,,\n3000,m,k,fill,o3,t,\n",
        ]);
        assert_eq!(dups, vec![0, 2, 2]);
        assert_eq!((log.events.len(), log.purges.len(), log.rows()), (4, 1, 5));
        // Each event as "time object origin captured", `-` for none.
        let mut stored: Vec<String> = log
            .events
            .iter()
            .map(|e| {
                let f = e.fill().and_then(|f| log.fills.entry(f));
                let origin = f.and_then(|f| f.origin).and_then(|o| log.streams.value(o));
                format!(
                    "{} {} {} {}",
                    e.ts,
                    f.and_then(|f| f.object).unwrap_or("-"),
                    origin.map_or("-", |o| &**o),
                    f.and_then(|f| f.captured)
                        .map_or("-".into(), |c| c.to_string()),
                )
            })
            .collect();
        stored.sort();
        assert_eq!(
            stored,
            [
                "1000 o1 s 900",
                "1000 o2 s 900",
                "2000 - - -",
                "3000 o3 t -"
            ]
        );
    }

    #[test]
    fn hours_covered_per_node() {
        let (_, hours, _) =
            log_of(&["1000,n,k,evict,,,\n3600000,n,k,evict,,,\n7300000,m,*,purge,,,\n"]);
        let mut got: Vec<(&str, Vec<i64>)> = hours
            .iter()
            .map(|(n, h)| {
                let mut h: Vec<i64> = h.iter().copied().collect();
                h.sort();
                (&**n, h)
            })
            .collect();
        got.sort();
        assert_eq!(got, vec![("m", vec![7_200_000]), ("n", vec![0, 3_600_000])]);
    }

    #[test]
    fn objects_keep_their_text_and_absence() {
        let mut f = Fills::default();
        f.push(Some("ab"), 1, UNKNOWN, Some(5), 0, false).unwrap();
        f.push(None, UNKNOWN, 2, None, 0, true).unwrap();
        f.push(Some(""), 3, 4, None, 1, false).unwrap();
        let got: Vec<(Option<&str>, Option<i64>)> = (0..3)
            .map(|i| f.entry(i).unwrap())
            .map(|e| (e.object, e.captured))
            .collect();
        assert_eq!(
            got,
            vec![(Some("ab"), Some(5)), (None, None), (Some(""), None)]
        );
        assert_eq!(f.entry(1).unwrap().config, Some(2));
        assert_eq!(f.entry(1).unwrap().origin, None);
        assert_eq!(
            (0..3)
                .map(|i| f.entry(i).unwrap().inferred)
                .collect::<Vec<_>>(),
            [false, true, false]
        );
        assert_eq!(f.entry(3), None);
    }
}
