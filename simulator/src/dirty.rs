//! What real log shipping does to rows: malformed copies of every kind the loader must reject,
//! retried deliveries that repeat a `request_id`, and the per-file variations of dirty files.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::rows::{LogKind, Row, Val};
use super::writer::{csv_cells, json_line, Container, FileSpec, Pending, TsForm};

/// One way a row can break the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mal {
    /// An enumerated column holds an unknown value.
    BadEnum,
    /// A required value is absent.
    MissingRequired,
    BadBytes,
    BadRtt,
    BadLoss,
    /// `viewed` is not true/false.
    BadViewed,
    /// `ts` does not parse.
    BadTs,
    /// The optional `captured_at` does not parse.
    BadCaptured,
    /// A CSV record with too few fields.
    CsvFields,
    /// A JSON Lines line that is not JSON.
    BadJson,
}

impl Mal {
    pub fn name(self) -> &'static str {
        match self {
            Mal::BadEnum => "unknown_enum",
            Mal::MissingRequired => "missing_required",
            Mal::BadBytes => "bad_bytes",
            Mal::BadRtt => "bad_rtt_ms",
            Mal::BadLoss => "bad_loss_pct",
            Mal::BadViewed => "bad_viewed",
            Mal::BadTs => "bad_ts",
            Mal::BadCaptured => "bad_captured_at",
            Mal::CsvFields => "csv_field_count",
            Mal::BadJson => "invalid_json",
        }
    }

    /// Whether this breakage can be written to a file in `c`.
    pub fn fits(self, c: Container) -> bool {
        match self {
            Mal::CsvFields => c.is_csv(),
            Mal::BadJson => c.is_jsonl(),
            _ => c != Container::Parquet,
        }
    }
}

/// The breakages each kind can suffer.
pub fn applicable(kind: LogKind) -> &'static [Mal] {
    use Mal::*;
    match kind {
        LogKind::Deliveries => &[
            BadEnum,
            MissingRequired,
            BadBytes,
            BadRtt,
            BadLoss,
            BadViewed,
            BadTs,
            BadCaptured,
            CsvFields,
            BadJson,
        ],
        LogKind::Cache => &[
            BadEnum,
            MissingRequired,
            BadTs,
            BadCaptured,
            CsvFields,
            BadJson,
        ],
        LogKind::Sessions | LogKind::Ownership | LogKind::Changes => {
            &[BadEnum, MissingRequired, BadTs, CsvFields, BadJson]
        }
        LogKind::Accounts => &[MissingRequired, CsvFields, BadJson],
    }
}

fn enum_col(kind: LogKind) -> Option<(&'static str, &'static [&'static str])> {
    match kind {
        LogKind::Deliveries => Some(("cache_status", &["warm", "stale", "partial"])),
        LogKind::Cache => Some(("op", &["refill", "expire"])),
        LogKind::Sessions => Some(("event", &["login", "resume"])),
        LogKind::Ownership => Some(("event", &["transfer", "share"])),
        LogKind::Changes => Some(("kind", &["rollout", "hotfix"])),
        LogKind::Accounts => None,
    }
}

fn is_enum(row: &Row, i: usize, v: &str) -> bool {
    matches!(&row[i], Val::Enum(e) if *e == v)
}

/// The column whose absence rejects this row.
fn required_col(kind: LogKind, row: &Row, rng: &mut ChaCha8Rng) -> &'static str {
    match kind {
        LogKind::Deliveries => [
            "session_id",
            "requested_stream_id",
            "cache_node",
            "cache_key",
            "cache_status",
            "ts",
        ]
        .choose(rng)
        .copied()
        .unwrap_or("session_id"),
        LogKind::Cache => {
            if is_enum(row, kind.col("op"), "fill") {
                ["object_id", "origin_stream_id"]
                    .choose(rng)
                    .copied()
                    .unwrap_or("object_id")
            } else {
                "cache_key"
            }
        }
        LogKind::Sessions => {
            if is_enum(row, kind.col("event"), "start") {
                "account_id"
            } else {
                "session_id"
            }
        }
        LogKind::Ownership => ["account_id", "stream_id"]
            .choose(rng)
            .copied()
            .unwrap_or("account_id"),
        LogKind::Changes => "component",
        LogKind::Accounts => "account_id",
    }
}

fn bad_time(form: TsForm, rng: &mut ChaCha8Rng, captured: bool) -> String {
    // Shapes that look like no timestamp form never sway a file's form vote; a broken RFC 3339
    // value is only written where RFC 3339 is already the column's form.
    let mut choices: Vec<&str> = if captured {
        vec!["soon", "unknown", "later"]
    } else {
        // Nothing any date parser accepts (31 February does not exist).
        vec!["yesterday", "never", "31/02/2019 08:00:00"]
    };
    if form.is_rfc3339() {
        choices.push(if captured {
            "2019-12-31T24:99:00+08:00"
        } else {
            "2019-12-30T25:61:00Z"
        });
    }
    choices.choose(rng).unwrap_or(&"soon").to_string()
}

/// A broken copy of `row` for a file written with `spec`; `None` when `mal` cannot apply to it.
pub fn malform(
    kind: LogKind,
    mal: Mal,
    row: &Row,
    spec: &FileSpec,
    rng: &mut ChaCha8Rng,
) -> Option<Pending> {
    if !mal.fits(spec.container) || !applicable(kind).contains(&mal) {
        return None;
    }
    let mut r = row.clone();
    let set = |r: &mut Row, col: &str, v: Val| r[kind.col(col)] = v;
    match mal {
        Mal::BadEnum => {
            let (col, bad) = enum_col(kind)?;
            set(&mut r, col, Val::Bad(bad.choose(rng)?.to_string()));
        }
        Mal::MissingRequired => {
            let col = required_col(kind, row, rng);
            set(&mut r, col, Val::Null);
        }
        Mal::BadBytes => set(
            &mut r,
            "bytes",
            Val::Bad(["12kB", "lots", "1,5MB"].choose(rng)?.to_string()),
        ),
        Mal::BadRtt => set(
            &mut r,
            "rtt_ms",
            Val::Bad(["slow", "timeout", "~80"].choose(rng)?.to_string()),
        ),
        Mal::BadLoss => set(
            &mut r,
            "loss_pct",
            Val::Bad(["3%", "high", "0,5"].choose(rng)?.to_string()),
        ),
        Mal::BadViewed => set(
            &mut r,
            "viewed",
            Val::Bad(["seen", "maybe", "shown"].choose(rng)?.to_string()),
        ),
        Mal::BadTs => set(&mut r, "ts", Val::Bad(bad_time(spec.ts, rng, false))),
        Mal::BadCaptured => set(
            &mut r,
            "captured_at",
            Val::Bad(bad_time(spec.cap, rng, true)),
        ),
        Mal::CsvFields => {
            let cells = csv_cells(kind, spec, row);
            let keep = cells.len() - rng.gen_range(1..=2.min(cells.len() - 1));
            return Some(Pending::Raw(cells[..keep].join(",")));
        }
        Mal::BadJson => {
            let line = json_line(kind, spec, row);
            let cut = (line.len() / 2).max(2);
            let cut = (0..=cut)
                .rev()
                .find(|&i| line.is_char_boundary(i))
                .unwrap_or(1);
            return Some(Pending::Raw(line[..cut].to_string()));
        }
    }
    Some(Pending::Broken(r))
}

/// A retried delivery logged again under the same `request_id`: only the byte count and the
/// measured round trip differ, so whichever copy a reader keeps, every verdict and count is the same.
pub fn repeat_delivery(row: &Row, rng: &mut ChaCha8Rng) -> Row {
    let k = LogKind::Deliveries;
    let mut r = row.clone();
    if let Val::Int(b) = r[k.col("bytes")] {
        r[k.col("bytes")] = Val::Int(b * rng.gen_range(20..95) / 100);
    }
    if let Val::Int(rtt) = r[k.col("rtt_ms")] {
        r[k.col("rtt_ms")] = Val::Int(rtt + rng.gen_range(1..200));
    }
    r
}

/// A random look for one dirty file.
pub fn dirty_spec(
    rel: String,
    kind: LogKind,
    container: Container,
    rng: &mut ChaCha8Rng,
) -> FileSpec {
    let forms = [
        TsForm::Zulu,
        TsForm::Offset(480),
        TsForm::Offset(-300),
        TsForm::Mixed,
        TsForm::Epoch,
        TsForm::Naive,
    ];
    let ts = *forms.choose(rng).unwrap_or(&TsForm::Zulu);
    let cap = *forms.choose(rng).unwrap_or(&TsForm::Zulu);
    let mut order: Vec<usize> = (0..kind.columns().len()).collect();
    if rng.gen::<f64>() < 0.5 {
        order.shuffle(rng);
    }
    let csv = container.is_csv();
    FileSpec {
        rel,
        container,
        ts,
        cap,
        order,
        explicit_nulls: rng.gen::<f64>() < 0.5,
        epoch_strings: rng.gen::<f64>() < 0.3,
        crlf: csv && rng.gen::<f64>() < 0.25,
        enum_case: *[0u8, 0, 1, 2].choose(rng).unwrap_or(&0),
    }
}
