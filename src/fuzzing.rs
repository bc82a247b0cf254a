//! Invariants that hold on any input, one function per fuzz target (`fuzz/`); the committed corpus and every crash found are replayed through them by `cargo test`.
//!
//! Each function panics when an invariant breaks: a panic inside leakscope, or a lost row, is
//! what the fuzzer looks for.

use crate::formats::Compiled;
use crate::load::bounded::read_bounded;
use crate::load::jsonl::split_jsonl;
use crate::load::logs::{as_lines, LogPlan};
use crate::load::read::{read_file, Compression, Format, RawFile};
use crate::load::text::split_csv;
use crate::load::validate::validate;
use crate::mapping::Mapping;
use crate::schema::Kind;
use crate::settings::{Bounds, Settings, CLOCK_OFFSET, MAX_ROW_BYTES, TOLERANCE, TTL};
use crate::time::{self, LogInstant, LogTime, TimeForm};

/// One invariant check: panics where the invariant breaks.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name.
pub const TARGETS: [(&str, Target); 8] = [
    ("read_csv", read_csv),
    ("read_jsonl", read_jsonl),
    ("read_parquet", read_parquet),
    ("read_logs", read_logs),
    ("decode", decode),
    ("timestamps", timestamps),
    ("dataset_toml", dataset_toml),
    ("mapping", mapping),
];

/// The settings the readers run under: a zone, so that naive times are read, not blocked.
fn settings() -> Settings {
    Settings {
        timezone: Some(chrono_tz::Asia::Shanghai),
        ..Settings::default()
    }
}

/// A kind picked by one byte of the input.
fn kind(byte: u8) -> Kind {
    Kind::ALL[byte as usize % Kind::ALL.len()]
}

/// Validates `raw` as a file of `kind`; every row is accepted or rejected, none lost.
fn check_accounting(kind: Kind, raw: &RawFile, mapping: &Mapping, settings: &Settings) {
    let v = validate(kind, "fuzzed", 0, raw, mapping, settings);
    assert_eq!(
        v.table.len() + v.rejections.len(),
        raw.len(),
        "rows accepted plus rejected differ from rows read"
    );
    assert!(
        v.rejections.iter().all(|r| !r.reason.is_empty()),
        "a rejection without a reason"
    );
}

/// CSV of the kind the first byte picks: split into rows and validated.
pub fn read_csv(data: &[u8]) {
    if let Some((&first, rest)) = data.split_first() {
        let raw = RawFile::Text(split_csv(rest.to_vec()));
        check_accounting(kind(first), &raw, &Mapping::default(), &settings());
    }
}

/// JSON Lines of the kind the first byte picks: split into rows and validated.
pub fn read_jsonl(data: &[u8]) {
    if let Some((&first, rest)) = data.split_first() {
        let raw = RawFile::Text(split_jsonl(rest.to_vec()));
        check_accounting(kind(first), &raw, &Mapping::default(), &settings());
    }
}

/// A Parquet file of the kind the first byte picks: unreadable is an error, never a panic.
pub fn read_parquet(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if std::io::Write::write_all(&mut file, rest).is_err() {
        return;
    }
    if let Ok(read) = read_file(file.path(), Format::Parquet, Compression::None, 1 << 20) {
        check_accounting(kind(first), &read.raw, &Mapping::default(), &settings());
    }
}

/// The mappings of the worked examples, one per log format, with the kind each describes.
const LOG_MAPPINGS: [(&str, Kind); 6] = [
    (
        include_str!("../tests/fixtures/logs-nginx/mapping.toml"),
        Kind::Deliveries,
    ),
    (
        include_str!("../tests/fixtures/logs-varnishncsa/mapping.toml"),
        Kind::Deliveries,
    ),
    (
        include_str!("../tests/fixtures/logs-cloudfront/mapping.toml"),
        Kind::Deliveries,
    ),
    (
        include_str!("../tests/fixtures/logs-cloudflare/mapping.toml"),
        Kind::Deliveries,
    ),
    (
        include_str!("../tests/fixtures/logs-gcp/mapping.toml"),
        Kind::Deliveries,
    ),
    (
        include_str!("../tests/fixtures/logs-keycloak/mapping.toml"),
        Kind::Sessions,
    ),
];

/// A server log in the format the first byte picks: split by the compiled format and validated.
pub fn read_logs(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let (text, kind) = LOG_MAPPINGS[first as usize % LOG_MAPPINGS.len()];
    let mapping = Mapping::parse(text).expect("a worked example's mapping parses");
    let spec = mapping
        .format_of(kind)
        .expect("a worked example's mapping declares a format");
    let compiled = Compiled::new(kind, spec, mapping.values.get(&kind))
        .expect("a worked example's format compiles");
    let text = as_lines(rest.to_vec(), &compiled);
    let raw = RawFile::Text(LogPlan::new(&text, &compiled).into_rows(text));
    check_accounting(kind, &raw, &mapping, &settings());
}

/// Decoding under a row-size limit the first byte picks (1 to 64 bytes), plain and through gzip:
/// no kept line is beyond the limit, every line break stays, every byte is kept or set aside.
pub fn decode(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let limit = 1 + u64::from(first % 64);
    let d = read_bounded(rest, limit).expect("reading memory cannot fail");
    let aside = &d.set_aside;
    assert_eq!(aside.decoded_bytes, rest.len() as u64);
    let breaks = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
    assert_eq!(breaks(&d.text), breaks(rest), "a line break was lost");
    assert!(
        d.text
            .split(|&c| c == b'\n')
            .all(|l| l.len() as u64 <= limit),
        "a kept line is beyond the limit"
    );
    let set_aside: u64 = aside.oversized.iter().map(|o| o.bytes).sum();
    assert_eq!(d.text.len() as u64 + set_aside, rest.len() as u64);
    assert!(
        aside.oversized.windows(2).all(|p| p[0].line < p[1].line),
        "set-aside lines out of order"
    );
    // A bad stream is an error, never a panic.
    let _ = read_bounded(flate2::read::MultiGzDecoder::new(rest), limit);
}

/// Vendor time forms a mapping may name.
const VENDOR_FORMS: [&str; 8] = [
    "clf",
    "epoch_s",
    "epoch_ms",
    "epoch_us",
    "epoch_ns",
    "rfc3339",
    "auto",
    "%d/%b/%Y:%H:%M:%S %z",
];

/// Timestamps in every contract and vendor form: never a panic, and every instant accepted in a
/// contract form lies in the years 0000 to 9999.
pub fn timestamps(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let zones = [
        None,
        Some(chrono_tz::Asia::Shanghai),
        Some(chrono_tz::America::New_York),
    ];
    let _ = time::classify(value);
    for form in [TimeForm::Rfc3339, TimeForm::EpochMs, TimeForm::Naive] {
        for tz in zones {
            if let Ok(ms) = time::parse(value, form, tz) {
                assert!(time::in_range(ms), "{value:?} read as {ms}, out of range");
                let _ = time::format_ms(ms);
            }
        }
    }
    for name in VENDOR_FORMS {
        let form = LogTime::from_name(name).expect("a known form name");
        if let Some(LogInstant::Utc(ms)) = form.parse(value) {
            let _ = time::format_ms(ms);
        }
    }
}

/// `dataset.toml`: settings within their ranges, or a refusal on one line.
pub fn dataset_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let within = |b: Bounds, v: i64| (b.min..=b.max).contains(&v);
    match Settings::parse(text) {
        Ok(s) => {
            assert!(within(TOLERANCE, s.tolerance_ms));
            assert!(within(TTL, s.session_ttl_ms));
            assert!(s.cache_ttl_ms.is_none_or(|t| within(TTL, t)));
            assert!(s.clock_offset_ms.values().all(|&o| within(CLOCK_OFFSET, o)));
            assert!(within(MAX_ROW_BYTES, s.max_row_bytes as i64));
        }
        Err(reason) => assert!(!reason.contains('\n'), "a refusal over lines: {reason}"),
    }
}

/// `mapping.toml`: a mapping whose formats compile or are refused, or a refusal on one line.
pub fn mapping(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Mapping::parse(text) {
        Ok(m) => {
            for kind in Kind::ALL {
                if let Some(spec) = m.format_of(kind) {
                    let _ = Compiled::new(kind, spec, m.values.get(&kind));
                }
            }
        }
        Err(reason) => assert!(!reason.contains('\n'), "a refusal over lines: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_takes_empty_and_small_inputs() {
        for (_, target) in TARGETS {
            for input in [&b""[..], b"\x00", b"\x01ts,session_id\n1,2\n", b"\xff\xfe"] {
                target(input);
            }
        }
    }
}
