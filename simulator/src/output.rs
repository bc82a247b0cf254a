//! The dataset on disk: which file each row goes to, file rotation, and in dirty mode the
//! duplicates, retries, malformed rows and late "straggler" files, with exact row accounting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::dirty::{self, Mal};
use super::real::RealForms;
use super::rows::{LogKind, Row, Val};
use super::truth::RowCounts;
use super::writer::{Container, FileSink, FileSpec, Pending, TsForm};

/// The `--format` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
    Mixed,
}

impl Format {
    pub fn parse(s: &str) -> anyhow::Result<Format> {
        Ok(match s {
            "csv" => Format::Csv,
            "jsonl" => Format::Jsonl,
            "parquet" => Format::Parquet,
            "mixed" => Format::Mixed,
            _ => anyhow::bail!("unknown format {s:?}; expected csv, jsonl, parquet or mixed"),
        })
    }

    /// Containers a dirty file of this format may use.
    fn dirty_containers(self) -> &'static [Container] {
        match self {
            Format::Csv => &[Container::Csv, Container::CsvGz],
            Format::Jsonl => &[Container::Jsonl, Container::JsonlZst],
            Format::Parquet => &[Container::Parquet],
            // Every container; compressed ones and Parquet three times as often (log shippers compress).
            Format::Mixed => &[
                Container::Csv,
                Container::Jsonl,
                Container::Ndjson,
                Container::CsvGz,
                Container::CsvGz,
                Container::CsvGz,
                Container::CsvZst,
                Container::CsvZst,
                Container::CsvZst,
                Container::JsonlZst,
                Container::JsonlZst,
                Container::JsonlZst,
                Container::JsonlGz,
                Container::JsonlGz,
                Container::JsonlGz,
                Container::Parquet,
                Container::Parquet,
                Container::Parquet,
            ],
        }
    }
}

/// Per-row chances of the dirty-mode defects.
const P_DUP: f64 = 0.004;
const P_REPEAT: f64 = 0.002;
const P_BAD: f64 = 0.0015;
const P_BLANK: f64 = 0.002;
/// Rows kept per kind to re-send in the straggler files.
const RESERVOIR: usize = 200;

/// Row accounting per kind, the files written, and the malformed rows by kind and breakage.
pub type Finished = (
    BTreeMap<LogKind, RowCounts>,
    Vec<FileInfo>,
    BTreeMap<(LogKind, Mal), u64>,
);

/// A finished file, for reports and tests.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub kind: LogKind,
    pub rel: String,
    pub container: Container,
    pub ts_form: String,
    pub captured_form: String,
    pub rows: u64,
}

struct Group {
    name: String,
    sink: Option<FileSink>,
    part: u32,
}

struct KindOut {
    kind: LogKind,
    groups: Vec<Group>,
    rows_per_file: u64,
    /// Rows written as distinct events.
    distinct: u64,
    rejected: u64,
    duplicates: u64,
    read_closed: u64,
    reservoir: Vec<Row>,
    seen: u64,
}

/// Writes every kind's files.
pub struct Output {
    root: PathBuf,
    dirty: bool,
    format: Format,
    rng: ChaCha8Rng,
    kinds: Vec<KindOut>,
    pub files: Vec<FileInfo>,
    pub malformed: BTreeMap<(LogKind, Mal), u64>,
    /// Letter case of enumerated values, per kind: one case for all files of a kind, so that
    /// copies in other files differ from the original only in what the contract calls a form.
    enum_case: Vec<u8>,
    /// Files opened so far (dirty mode).
    opened: u32,
    /// Clean files write every timestamp as epoch milliseconds (Parquet: Int64).
    epoch: bool,
    /// `--real-logs`: deliveries and sessions as their servers log them, no cache log.
    real: Option<RealForms>,
}

impl Output {
    /// `groups[kind]` names the writers of each kind (servers, cache nodes, collectors); clean mode
    /// uses one. With `epoch`, clean files write timestamps as epoch milliseconds (dirty files mix
    /// every form anyway).
    pub fn new(
        root: &Path,
        dirty: bool,
        format: Format,
        mut rng: ChaCha8Rng,
        groups: Vec<Vec<String>>,
        deliveries: u64,
        epoch: bool,
    ) -> Output {
        let kinds = LogKind::ALL
            .iter()
            .map(|&kind| {
                let names = if dirty {
                    groups[kind.index()].clone()
                } else {
                    vec![kind.name().to_string()]
                };
                let rows_per_file = match (dirty, kind) {
                    (false, LogKind::Deliveries) if format == Format::Mixed => deliveries / 5 + 1,
                    (false, _) => u64::MAX,
                    (true, LogKind::Deliveries) => (deliveries / 40).max(1500),
                    (true, LogKind::Cache) => (deliveries / 60).max(1500),
                    (true, _) => (deliveries / 200).max(1000),
                };
                KindOut {
                    kind,
                    groups: names
                        .into_iter()
                        .map(|name| Group {
                            name,
                            sink: None,
                            part: 0,
                        })
                        .collect(),
                    rows_per_file,
                    distinct: 0,
                    rejected: 0,
                    duplicates: 0,
                    read_closed: 0,
                    reservoir: Vec::new(),
                    seen: 0,
                }
            })
            .collect();
        let enum_case = LogKind::ALL
            .iter()
            .map(|_| if dirty { rng.gen_range(0..3) } else { 0 })
            .collect();
        Output {
            root: root.to_path_buf(),
            dirty,
            format,
            rng,
            kinds,
            files: Vec::new(),
            malformed: BTreeMap::new(),
            enum_case,
            opened: 0,
            epoch,
            real: None,
        }
    }

    /// Writes deliveries as nginx access logs, one per stream server in `servers` (the group of
    /// `emit`), sessions as Keycloak events, and no cache log: `real`.
    pub fn with_real_logs(mut self, servers: Vec<String>) -> Output {
        let ki = LogKind::Deliveries.index();
        self.kinds[ki].groups = servers
            .into_iter()
            .map(|name| Group {
                name,
                sink: None,
                part: 0,
            })
            .collect();
        self.real = Some(RealForms::default());
        self
    }

    /// Whether the dataset is written in real log forms (and its cache left for inference).
    pub fn real_logs(&self) -> bool {
        self.real.is_some()
    }

    fn clean_container(&self, kind: LogKind, part: u32) -> Container {
        match self.format {
            Format::Csv => Container::Csv,
            Format::Jsonl => Container::Jsonl,
            Format::Parquet => Container::Parquet,
            Format::Mixed => match kind {
                LogKind::Deliveries => Container::MAIN[part as usize % 5],
                LogKind::Cache => Container::CsvGz,
                LogKind::Sessions => Container::Jsonl,
                LogKind::Ownership => Container::Parquet,
                LogKind::Changes => Container::Csv,
                LogKind::Accounts => Container::JsonlZst,
            },
        }
    }

    /// Opens the next file of a group.
    fn open(&mut self, ki: usize, gi: usize) -> anyhow::Result<()> {
        let kind = self.kinds[ki].kind;
        let part = self.kinds[ki].groups[gi].part;
        self.kinds[ki].groups[gi].part += 1;
        let name = self.kinds[ki].groups[gi].name.clone();
        let spec = if self.dirty {
            let containers = self.format.dirty_containers();
            // The first files of a mixed dataset go through every container once, then chance decides.
            let c = if self.format == Format::Mixed && (self.opened as usize) < Container::ALL.len()
            {
                Container::ALL[self.opened as usize]
            } else {
                *containers.choose(&mut self.rng).unwrap_or(&Container::Csv)
            };
            self.opened += 1;
            let rel = match kind {
                LogKind::Deliveries | LogKind::Cache => {
                    format!("{}/{name}/{name}-{part:03}.{}", kind.name(), c.ext())
                }
                _ => format!("{}/{name}-{part:03}.{}", kind.name(), c.ext()),
            };
            let mut spec = dirty::dirty_spec(rel, kind, c, &mut self.rng);
            spec.enum_case = self.enum_case[ki];
            spec
        } else if self.real.is_some() && kind == LogKind::Deliveries {
            FileSpec::clean(
                format!("deliveries/{name}/access.log"),
                kind,
                Container::Log,
            )
        } else if self.real.is_some() && kind == LogKind::Sessions {
            FileSpec::clean("sessions/keycloak-events.json".into(), kind, Container::Log)
        } else {
            let c = self.clean_container(kind, part);
            let rel = if self.kinds[ki].rows_per_file == u64::MAX {
                format!("{}/{}.{}", kind.name(), kind.name(), c.ext())
            } else {
                format!("{}/part-{part:03}.{}", kind.name(), c.ext())
            };
            let mut spec = FileSpec::clean(rel, kind, c);
            if self.epoch {
                spec.ts = TsForm::Epoch;
                spec.cap = TsForm::Epoch;
            }
            spec
        };
        let sink = FileSink::open(&self.root, kind, spec, self.dirty)?;
        self.kinds[ki].groups[gi].sink = Some(sink);
        Ok(())
    }

    fn close(&mut self, sink: FileSink) -> anyhow::Result<()> {
        let ki = sink.kind.index();
        self.kinds[ki].read_closed += sink.rows;
        let (ts_form, captured_form) = match (sink.spec.container, sink.kind) {
            (Container::Log, LogKind::Deliveries) => ("nginx $msec".into(), "epoch ms".into()),
            (Container::Log, _) => ("keycloak time (epoch ms)".into(), String::new()),
            _ => (sink.spec.ts.describe(), sink.spec.cap.describe()),
        };
        self.files.push(FileInfo {
            kind: sink.kind,
            rel: sink.spec.rel.clone(),
            container: sink.spec.container,
            ts_form,
            captured_form,
            rows: sink.rows,
        });
        sink.finish(&mut self.rng)
    }

    fn push(&mut self, ki: usize, gi: usize, p: Pending) -> anyhow::Result<()> {
        let sink = self.kinds[ki].groups[gi]
            .sink
            .as_mut()
            .expect("group file is open");
        sink.push(p, &mut self.rng)
    }

    /// Writes one distinct event of `kind` through writer `group` (ignored in clean mode).
    pub fn emit(&mut self, kind: LogKind, group: usize, row: Row) -> anyhow::Result<()> {
        if self.real.is_some() && kind == LogKind::Cache {
            // A real edge logs what it delivered, not what its cache stored.
            return Ok(());
        }
        let ki = kind.index();
        // Clean contract files have one group per kind, so this is 0 for them.
        let gi = group % self.kinds[ki].groups.len();
        let full = match &self.kinds[ki].groups[gi].sink {
            None => true,
            Some(s) => s.rows >= self.kinds[ki].rows_per_file,
        };
        if full {
            if let Some(old) = self.kinds[ki].groups[gi].sink.take() {
                self.close(old)?;
            }
            self.open(ki, gi)?;
        }
        self.kinds[ki].distinct += 1;
        if let Some(line) = self.real.as_mut().and_then(|r| r.line(kind, &row)) {
            return self.push(ki, gi, Pending::Raw(line));
        }
        if !self.dirty {
            return self.push(ki, gi, Pending::Row(row));
        }
        // Dirty: the original, then what shipping adds around it.
        self.push(ki, gi, Pending::Row(row.clone()))?;
        if self.rng.gen::<f64>() < P_DUP {
            let n = self.kinds[ki].groups.len();
            let other = self.rng.gen_range(0..n);
            let target =
                if self.rng.gen::<f64>() < 0.5 || self.kinds[ki].groups[other].sink.is_none() {
                    gi
                } else {
                    other
                };
            self.push(ki, target, Pending::Row(row.clone()))?;
            self.kinds[ki].duplicates += 1;
        }
        if kind == LogKind::Deliveries && self.rng.gen::<f64>() < P_REPEAT {
            let rep = dirty::repeat_delivery(&row, &mut self.rng);
            self.push(ki, gi, Pending::Row(rep))?;
            self.kinds[ki].duplicates += 1;
        }
        let text = self.kinds[ki].groups[gi]
            .sink
            .as_ref()
            .map(|s| s.is_text())
            .unwrap_or(false);
        if text && self.rng.gen::<f64>() < P_BAD {
            let spec = self.kinds[ki].groups[gi]
                .sink
                .as_ref()
                .map(|s| s.spec.clone())
                .expect("open");
            let mals: Vec<Mal> = dirty::applicable(kind)
                .iter()
                .copied()
                .filter(|m| m.fits(spec.container))
                .collect();
            let mal = mals[self.rng.gen_range(0..mals.len())];
            if let Some(p) = dirty::malform(kind, mal, &row, &spec, &mut self.rng) {
                self.push(ki, gi, p)?;
                self.kinds[ki].rejected += 1;
                *self.malformed.entry((kind, mal)).or_default() += 1;
            }
        }
        if text && self.rng.gen::<f64>() < P_BLANK {
            if let Some(s) = self.kinds[ki].groups[gi].sink.as_mut() {
                s.blank_line()?;
            }
        }
        let k = &mut self.kinds[ki];
        k.seen += 1;
        if k.reservoir.len() < RESERVOIR {
            k.reservoir.push(row);
        } else {
            let j = self.rng.gen_range(0..k.seen);
            if (j as usize) < RESERVOIR {
                k.reservoir[j as usize] = row;
            }
        }
        Ok(())
    }

    /// Late files: re-sent copies of earlier rows and at least one row of every breakage.
    fn stragglers(&mut self, ki: usize) -> anyhow::Result<()> {
        let kind = self.kinds[ki].kind;
        let reservoir = std::mem::take(&mut self.kinds[ki].reservoir);
        if reservoir.is_empty() {
            return Ok(());
        }
        let csv = *[Container::Csv, Container::CsvGz, Container::CsvZst]
            .choose(&mut self.rng)
            .unwrap_or(&Container::Csv);
        let json = *[
            Container::Jsonl,
            Container::JsonlZst,
            Container::JsonlGz,
            Container::Ndjson,
        ]
        .choose(&mut self.rng)
        .unwrap_or(&Container::Jsonl);
        let mut sinks = Vec::new();
        for (i, c) in [csv, json].into_iter().enumerate() {
            let rel = format!(
                "{}/late/{}-late-{}.{}",
                kind.name(),
                kind.name(),
                i + 1,
                c.ext()
            );
            let mut spec = dirty::dirty_spec(rel, kind, c, &mut self.rng);
            spec.enum_case = self.enum_case[ki];
            sinks.push(FileSink::open(&self.root, kind, spec, true)?);
        }
        let copies = reservoir
            .len()
            .min((self.kinds[ki].distinct / 8).max(3) as usize);
        for (i, row) in reservoir.iter().take(copies).enumerate() {
            sinks[i % 2].push(Pending::Row(row.clone()), &mut self.rng)?;
            self.kinds[ki].duplicates += 1;
        }
        if kind == LogKind::Deliveries {
            for row in reservoir.iter().take(2) {
                let rep = dirty::repeat_delivery(row, &mut self.rng);
                sinks[1].push(Pending::Row(rep), &mut self.rng)?;
                self.kinds[ki].duplicates += 1;
            }
        }
        let fill_rows: Vec<&Row> = reservoir
            .iter()
            .filter(|r| kind != LogKind::Cache || r[kind.col("op")] == Val::Enum("fill"))
            .collect();
        for &mal in dirty::applicable(kind) {
            for sink in sinks.iter_mut() {
                let base = if mal == Mal::MissingRequired && !fill_rows.is_empty() {
                    fill_rows[self.rng.gen_range(0..fill_rows.len())]
                } else {
                    &reservoir[self.rng.gen_range(0..reservoir.len())]
                };
                if let Some(p) = dirty::malform(kind, mal, base, &sink.spec, &mut self.rng) {
                    sink.push(p, &mut self.rng)?;
                    self.kinds[ki].rejected += 1;
                    *self.malformed.entry((kind, mal)).or_default() += 1;
                }
            }
        }
        sinks[1].blank_line()?;
        for s in sinks {
            self.close(s)?;
        }
        Ok(())
    }

    /// Closes every file; returns each kind's row accounting.
    pub fn finish(mut self) -> anyhow::Result<Finished> {
        for ki in 0..self.kinds.len() {
            for gi in 0..self.kinds[ki].groups.len() {
                if let Some(s) = self.kinds[ki].groups[gi].sink.take() {
                    self.close(s)?;
                }
            }
            if self.dirty {
                self.stragglers(ki)?;
            }
        }
        let mut counts = BTreeMap::new();
        for k in &self.kinds {
            let c = RowCounts {
                read: k.read_closed,
                rejected: k.rejected,
                duplicates: k.duplicates,
            };
            anyhow::ensure!(
                c.read == k.distinct + c.rejected + c.duplicates,
                "row accounting of {} does not balance: {c:?}, {} distinct",
                k.kind.name(),
                k.distinct
            );
            counts.insert(k.kind, c);
        }
        self.files.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok((counts, self.files, self.malformed))
    }
}
