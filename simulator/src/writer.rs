//! File writers: one log file in one container (CSV, JSON Lines, Parquet, optionally compressed),
//! with its own column order and timestamp forms. Rows stream through; only a small shuffle
//! buffer (dirty mode) or one Parquet row group is held at a time.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use polars::prelude::*;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::rows::{Col, LogKind, Row, Ty, Val};
use super::timefmt::{push_epoch, push_naive, push_rfc3339};

/// How a file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Csv,
    CsvGz,
    Jsonl,
    JsonlZst,
    Parquet,
    CsvZst,
    JsonlGz,
    Ndjson,
    /// A server's own text log (`--real-logs`): lines rendered by `real`, no header.
    Log,
}

impl Container {
    /// The five the brief names; `--format mixed` uses these in clean mode.
    pub const MAIN: [Container; 5] = [
        Container::Csv,
        Container::CsvGz,
        Container::Jsonl,
        Container::JsonlZst,
        Container::Parquet,
    ];
    /// Everything the contract accepts; dirty `--format mixed` draws from these.
    pub const ALL: [Container; 8] = [
        Container::Csv,
        Container::CsvGz,
        Container::Jsonl,
        Container::JsonlZst,
        Container::Parquet,
        Container::CsvZst,
        Container::JsonlGz,
        Container::Ndjson,
    ];

    pub fn ext(self) -> &'static str {
        match self {
            Container::Csv => "csv",
            Container::CsvGz => "csv.gz",
            Container::Jsonl => "jsonl",
            Container::JsonlZst => "jsonl.zst",
            Container::Parquet => "parquet",
            Container::CsvZst => "csv.zst",
            Container::JsonlGz => "jsonl.gz",
            Container::Ndjson => "ndjson",
            Container::Log => "log",
        }
    }

    pub fn is_csv(self) -> bool {
        matches!(self, Container::Csv | Container::CsvGz | Container::CsvZst)
    }

    pub fn is_jsonl(self) -> bool {
        matches!(
            self,
            Container::Jsonl | Container::JsonlZst | Container::JsonlGz | Container::Ndjson
        )
    }
}

/// How the timestamps of one column of one file are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsForm {
    /// RFC 3339, UTC, `Z` (Parquet: a UTC datetime column).
    Zulu,
    /// RFC 3339 with a fixed offset in minutes (Parquet: text).
    Offset(i32),
    /// RFC 3339 with offsets varying row by row (Parquet: text).
    Mixed,
    /// Integer epoch milliseconds (Parquet: an Int64 column).
    Epoch,
    /// Naive local time in the dataset's zone (Parquet: text too; a zoneless Parquet datetime
    /// is read differently by different tools, the contract's text form is not).
    Naive,
}

impl TsForm {
    pub fn is_rfc3339(self) -> bool {
        matches!(self, TsForm::Zulu | TsForm::Offset(_) | TsForm::Mixed)
    }

    pub fn describe(self) -> String {
        match self {
            TsForm::Zulu => "rfc3339 Z".into(),
            TsForm::Offset(m) => format!("rfc3339 {:+}min", m),
            TsForm::Mixed => "rfc3339 mixed offsets".into(),
            TsForm::Epoch => "epoch ms".into(),
            TsForm::Naive => "naive local".into(),
        }
    }
}

/// Everything that fixes how one file looks.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// Path relative to the dataset root, `/`-separated.
    pub rel: String,
    pub container: Container,
    /// Form of the `ts` column.
    pub ts: TsForm,
    /// Form of the `captured_at` column.
    pub cap: TsForm,
    /// Column positions (into the kind's columns) in file order.
    pub order: Vec<usize>,
    /// JSON: write absent values as `null` instead of leaving the key out.
    pub explicit_nulls: bool,
    /// JSON: epoch milliseconds as strings instead of numbers.
    pub epoch_strings: bool,
    /// CSV: CRLF line ends.
    pub crlf: bool,
    /// Enumerated values: 0 lower case, 1 upper case, 2 capitalised.
    pub enum_case: u8,
}

impl FileSpec {
    pub fn clean(rel: String, kind: LogKind, container: Container) -> FileSpec {
        FileSpec {
            rel,
            container,
            ts: TsForm::Zulu,
            cap: TsForm::Zulu,
            order: (0..kind.columns().len()).collect(),
            explicit_nulls: false,
            epoch_strings: false,
            crlf: false,
            enum_case: 0,
        }
    }

    fn form_of(&self, col: &Col) -> TsForm {
        if col.name == "captured_at" {
            self.cap
        } else {
            self.ts
        }
    }
}

fn push_ts(out: &mut String, ms: i64, form: TsForm) {
    match form {
        TsForm::Zulu => push_rfc3339(out, ms, None),
        TsForm::Offset(m) => push_rfc3339(out, ms, Some(m)),
        TsForm::Mixed => {
            let off = [None, Some(480), Some(-300), Some(330)][ms.rem_euclid(4) as usize];
            push_rfc3339(out, ms, off)
        }
        TsForm::Epoch => push_epoch(out, ms),
        TsForm::Naive => push_naive(out, ms),
    }
}

fn push_enum(out: &mut String, v: &str, case: u8) {
    match case {
        1 => out.push_str(&v.to_ascii_uppercase()),
        2 => {
            let mut cs = v.chars();
            if let Some(f) = cs.next() {
                out.push(f.to_ascii_uppercase());
                out.push_str(cs.as_str());
            }
        }
        _ => out.push_str(v),
    }
}

fn push_csv_text(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The CSV cells of a row in file order.
pub fn csv_cells(kind: LogKind, spec: &FileSpec, row: &Row) -> Vec<String> {
    let cols = kind.columns();
    spec.order
        .iter()
        .map(|&ci| {
            let col = &cols[ci];
            let mut s = String::new();
            match &row[ci] {
                Val::Null => {}
                Val::Text(t) => push_csv_text(&mut s, t),
                Val::Enum(e) => push_enum(&mut s, e, spec.enum_case),
                Val::Ts(ms) => push_ts(&mut s, *ms, spec.form_of(col)),
                Val::Int(i) => s.push_str(&i.to_string()),
                Val::Num(n) => s.push_str(&n.to_string()),
                Val::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
                Val::Bad(b) => push_csv_text(&mut s, b),
            }
            s
        })
        .collect()
}

/// One JSON object line (without the newline).
pub fn json_line(kind: LogKind, spec: &FileSpec, row: &Row) -> String {
    let cols = kind.columns();
    let mut s = String::with_capacity(256);
    s.push('{');
    let mut first = true;
    for &ci in &spec.order {
        let col = &cols[ci];
        let v = &row[ci];
        if matches!(v, Val::Null) && !spec.explicit_nulls {
            continue;
        }
        if !first {
            s.push(',');
        }
        first = false;
        push_json_str(&mut s, col.name);
        s.push(':');
        match v {
            Val::Null => s.push_str("null"),
            Val::Text(t) | Val::Bad(t) => push_json_str(&mut s, t),
            Val::Enum(e) => {
                let mut t = String::new();
                push_enum(&mut t, e, spec.enum_case);
                push_json_str(&mut s, &t);
            }
            Val::Ts(ms) => {
                let form = spec.form_of(col);
                let mut t = String::new();
                push_ts(&mut t, *ms, form);
                if form == TsForm::Epoch && !spec.epoch_strings {
                    s.push_str(&t);
                } else {
                    push_json_str(&mut s, &t);
                }
            }
            Val::Int(i) => s.push_str(&i.to_string()),
            Val::Num(n) => s.push_str(&n.to_string()),
            Val::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        }
    }
    s.push('}');
    s
}

/// A row waiting in the shuffle buffer: valid, typed but breaking the contract, or a
/// pre-rendered broken line.
#[derive(Debug, Clone)]
pub enum Pending {
    Row(Row),
    Broken(Row),
    Raw(String),
}

enum TextOut {
    Plain(BufWriter<File>),
    Gz(flate2::write::GzEncoder<BufWriter<File>>),
    Zst(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

impl Write for TextOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            TextOut::Plain(w) => w.write(buf),
            TextOut::Gz(w) => w.write(buf),
            TextOut::Zst(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            TextOut::Plain(w) => w.flush(),
            TextOut::Gz(w) => w.flush(),
            TextOut::Zst(w) => w.flush(),
        }
    }
}

impl TextOut {
    fn finish(self) -> std::io::Result<()> {
        match self {
            TextOut::Plain(mut w) => w.flush(),
            TextOut::Gz(w) => w.finish()?.flush(),
            TextOut::Zst(w) => w.finish()?.flush(),
        }
    }
}

enum PqCol {
    Str(StringChunkedBuilder),
    I64(Vec<Option<i64>>),
    F64(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    /// Epoch ms stored as a UTC datetime.
    DtUtc(Vec<Option<i64>>),
}

struct PqOut {
    file: Option<File>,
    writer: Option<polars::io::parquet::write::BatchedWriter<File>>,
    cols: Vec<(String, PqCol)>,
    forms: Vec<TsForm>,
    rows: usize,
}

const PQ_BATCH: usize = 65_536;

impl PqOut {
    fn new(file: File, kind: LogKind, spec: &FileSpec) -> PqOut {
        let all = kind.columns();
        let mut cols = Vec::new();
        let mut forms = Vec::new();
        for &ci in &spec.order {
            let c = &all[ci];
            let form = spec.form_of(c);
            let b = match c.ty {
                Ty::Text | Ty::Enum => {
                    PqCol::Str(StringChunkedBuilder::new(c.name.into(), PQ_BATCH))
                }
                Ty::Int => PqCol::I64(Vec::new()),
                Ty::Num => PqCol::F64(Vec::new()),
                Ty::Bool => PqCol::Bool(Vec::new()),
                Ty::Ts => match form {
                    TsForm::Zulu => PqCol::DtUtc(Vec::new()),
                    TsForm::Epoch => PqCol::I64(Vec::new()),
                    TsForm::Offset(_) | TsForm::Mixed | TsForm::Naive => {
                        PqCol::Str(StringChunkedBuilder::new(c.name.into(), PQ_BATCH))
                    }
                },
            };
            cols.push((c.name.to_string(), b));
            forms.push(form);
        }
        PqOut {
            file: Some(file),
            writer: None,
            cols,
            forms,
            rows: 0,
        }
    }

    fn push(&mut self, spec: &FileSpec, row: &Row) {
        let mut s = String::new();
        for (pos, &ci) in spec.order.iter().enumerate() {
            let v = &row[ci];
            let form = self.forms[pos];
            match (&mut self.cols[pos].1, v) {
                (PqCol::Str(c), Val::Null) => c.append_null(),
                (PqCol::Str(c), Val::Text(t)) => c.append_value(t.as_str()),
                (PqCol::Str(c), Val::Enum(e)) => {
                    s.clear();
                    push_enum(&mut s, e, spec.enum_case);
                    c.append_value(s.as_str());
                }
                (PqCol::Str(c), Val::Ts(ms)) => {
                    s.clear();
                    push_ts(&mut s, *ms, form);
                    c.append_value(s.as_str());
                }
                (PqCol::I64(c), Val::Int(i)) | (PqCol::I64(c), Val::Ts(i)) => c.push(Some(*i)),
                (PqCol::I64(c), Val::Null) => c.push(None),
                (PqCol::F64(c), Val::Num(n)) => c.push(Some(*n)),
                (PqCol::F64(c), Val::Null) => c.push(None),
                (PqCol::Bool(c), Val::Bool(b)) => c.push(Some(*b)),
                (PqCol::Bool(c), Val::Null) => c.push(None),
                (PqCol::DtUtc(c), Val::Ts(ms)) => c.push(Some(*ms)),
                (PqCol::DtUtc(c), Val::Null) => c.push(None),
                (_, other) => panic!(
                    "value {other:?} cannot go to Parquet column {}",
                    self.cols[pos].0
                ),
            }
        }
        self.rows += 1;
    }

    fn frame(&mut self) -> PolarsResult<DataFrame> {
        let mut columns = Vec::with_capacity(self.cols.len());
        for (name, col) in self.cols.iter_mut() {
            let name: PlSmallStr = name.as_str().into();
            let s = match col {
                PqCol::Str(b) => std::mem::replace(b, StringChunkedBuilder::new(name, PQ_BATCH))
                    .finish()
                    .into_series(),
                PqCol::I64(v) => Series::new(name, std::mem::take(v)),
                PqCol::F64(v) => Series::new(name, std::mem::take(v)),
                PqCol::Bool(v) => Series::new(name, std::mem::take(v)),
                PqCol::DtUtc(v) => Series::new(name, std::mem::take(v))
                    .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)),
            };
            columns.push(Column::from(s));
        }
        let n = self.rows;
        self.rows = 0;
        DataFrame::new(n, columns)
    }

    fn flush(&mut self) -> PolarsResult<()> {
        let df = self.frame()?;
        if self.writer.is_none() {
            let file = self.file.take().expect("parquet file opened once");
            let schema = df.schema().clone();
            self.writer = Some(ParquetWriter::new(file).batched(&schema)?);
        }
        if df.height() > 0 {
            if let Some(w) = self.writer.as_mut() {
                w.write_batch(&df)?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> PolarsResult<()> {
        if self.rows > 0 || self.writer.is_none() {
            self.flush()?;
        }
        if let Some(w) = self.writer.as_ref() {
            w.finish()?;
        }
        Ok(())
    }
}

#[allow(clippy::large_enum_variant)]
enum Out {
    Text(TextOut),
    Parquet(Box<PqOut>),
}

/// One open log file.
pub struct FileSink {
    pub spec: FileSpec,
    pub kind: LogKind,
    out: Out,
    /// Data rows written (or buffered), as the loader will count them.
    pub rows: u64,
    buf: Vec<Pending>,
    shuffle: bool,
    /// Rows have been written (the first drain is done).
    started: bool,
    line: String,
}

const SHUFFLE_BUF: usize = 512;

impl FileSink {
    pub fn open(
        root: &Path,
        kind: LogKind,
        spec: FileSpec,
        shuffle: bool,
    ) -> anyhow::Result<FileSink> {
        let path = root.join(&spec.rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = File::create(&path)?;
        let out = match spec.container {
            Container::Parquet => Out::Parquet(Box::new(PqOut::new(file, kind, &spec))),
            Container::Csv | Container::Jsonl | Container::Ndjson | Container::Log => {
                Out::Text(TextOut::Plain(BufWriter::with_capacity(1 << 16, file)))
            }
            Container::CsvGz | Container::JsonlGz => {
                Out::Text(TextOut::Gz(flate2::write::GzEncoder::new(
                    BufWriter::with_capacity(1 << 16, file),
                    flate2::Compression::new(4),
                )))
            }
            Container::JsonlZst | Container::CsvZst => Out::Text(TextOut::Zst(
                zstd::stream::write::Encoder::new(BufWriter::with_capacity(1 << 16, file), 3)?,
            )),
        };
        let mut sink = FileSink {
            spec,
            kind,
            out,
            rows: 0,
            buf: Vec::new(),
            shuffle,
            started: false,
            line: String::new(),
        };
        if sink.spec.container.is_csv() {
            let cols = kind.columns();
            let mut h = String::new();
            let names: Vec<&str> = sink.spec.order.iter().map(|&i| cols[i].name).collect();
            h.push_str(&names.join(","));
            h.push_str(sink.eol());
            if let Out::Text(w) = &mut sink.out {
                w.write_all(h.as_bytes())?;
            }
        }
        Ok(sink)
    }

    fn eol(&self) -> &'static str {
        if self.spec.crlf {
            "\r\n"
        } else {
            "\n"
        }
    }

    pub fn is_text(&self) -> bool {
        !matches!(self.spec.container, Container::Parquet)
    }

    /// Adds one data row (typed or pre-rendered broken text).
    pub fn push(&mut self, p: Pending, rng: &mut ChaCha8Rng) -> anyhow::Result<()> {
        self.rows += 1;
        if self.shuffle {
            self.buf.push(p);
            if self.buf.len() >= SHUFFLE_BUF {
                self.drain(rng)?;
            }
            Ok(())
        } else {
            self.write_one(&p)
        }
    }

    /// A blank JSON Lines line: not a row.
    pub fn blank_line(&mut self) -> anyhow::Result<()> {
        if let Out::Text(w) = &mut self.out {
            if self.spec.container.is_jsonl() {
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn drain(&mut self, rng: &mut ChaCha8Rng) -> anyhow::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.shuffle(rng);
        if !self.started && !buf.is_empty() {
            // Whatever a reader infers from a file's first row (or first value of a column)
            // should come from a valid row: put one with every timestamp column filled first.
            let cap = self
                .kind
                .columns()
                .iter()
                .position(|c| c.name == "captured_at");
            let valid = |p: &Pending| matches!(p, Pending::Row(_));
            let full = |p: &Pending| match (p, cap) {
                (Pending::Row(r), Some(i)) => r[i] != Val::Null,
                (Pending::Row(_), None) => true,
                _ => false,
            };
            if let Some(i) = buf
                .iter()
                .position(full)
                .or_else(|| buf.iter().position(valid))
            {
                buf.swap(0, i);
            }
        }
        self.started = true;
        for p in &buf {
            self.write_one(p)?;
        }
        Ok(())
    }

    fn write_one(&mut self, p: &Pending) -> anyhow::Result<()> {
        let eol = self.eol();
        match (&mut self.out, p) {
            (Out::Parquet(_), Pending::Broken(_)) => {
                anyhow::bail!("a malformed row cannot go to Parquet")
            }
            (Out::Parquet(pq), Pending::Row(row)) => {
                pq.push(&self.spec, row);
                if pq.rows >= PQ_BATCH {
                    pq.flush()?;
                }
            }
            (Out::Parquet(_), Pending::Raw(_)) => {
                anyhow::bail!("a broken text line cannot go to Parquet")
            }
            (Out::Text(w), Pending::Raw(text)) => {
                w.write_all(text.as_bytes())?;
                w.write_all(eol.as_bytes())?;
            }
            (Out::Text(w), Pending::Row(row) | Pending::Broken(row)) => {
                self.line.clear();
                if self.spec.container.is_csv() {
                    let cells = csv_cells(self.kind, &self.spec, row);
                    self.line.push_str(&cells.join(","));
                } else {
                    self.line.push_str(&json_line(self.kind, &self.spec, row));
                }
                self.line.push_str(eol);
                w.write_all(self.line.as_bytes())?;
            }
        }
        Ok(())
    }

    pub fn finish(mut self, rng: &mut ChaCha8Rng) -> anyhow::Result<()> {
        self.drain(rng)?;
        match self.out {
            Out::Text(w) => w.finish()?,
            Out::Parquet(pq) => pq.finish()?,
        }
        Ok(())
    }
}
