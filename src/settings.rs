//! `dataset.toml`: the dataset's time zone, clock corrections, session TTL and tolerance.

use std::collections::BTreeMap;
use std::path::Path;

use chrono_tz::Tz;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::evidence::{read_config, ConfigFile};

pub const DEFAULT_SESSION_TTL_MS: i64 = 24 * 3_600_000;
pub const DEFAULT_TOLERANCE_MS: i64 = 2_000;

const DAY_MS: i64 = 86_400_000;

/// The values a setting of `dataset.toml` may take, inclusive, in its unit (milliseconds for
/// durations and clock corrections, bytes for `max_row_bytes`). The time bounds bound
/// every sum of an instant and settings (`time::EARLIEST_MS`..`time::LATEST_MS` plus at most a
/// clock offset, a TTL and a tolerance), so no such sum can overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: i64,
    pub max: i64,
}

/// `tolerance`: clocks that disagree by more than a day need `clock_offset_ms`, not tolerance.
pub const TOLERANCE: Bounds = Bounds {
    min: 0,
    max: DAY_MS,
};
/// `session_ttl` and `cache_ttl`: at least a millisecond, at most a leap year.
pub const TTL: Bounds = Bounds {
    min: 1,
    max: 366 * DAY_MS,
};
/// `max_row_bytes`: from 1 KiB (what the quarantine keeps of a longer row) to 1 GiB.
pub const MAX_ROW_BYTES: Bounds = Bounds {
    min: 1 << 10,
    max: 1 << 30,
};

/// One `clock_offset_ms` correction: a clock wrong by more than a year is not skewed but unset,
/// and a constant correction would not mend it.
pub const CLOCK_OFFSET: Bounds = Bounds {
    min: -366 * DAY_MS,
    max: 366 * DAY_MS,
};

// The sums the pipeline forms (a corrected instant, shifted by the tolerance, extended by a TTL)
// stay inside `i64` at both ends, so none of them needs a check at run time.
const _: () = assert!(
    crate::time::LATEST_MS + CLOCK_OFFSET.max + TTL.max + TOLERANCE.max < i64::MAX / 2
        && crate::time::EARLIEST_MS + CLOCK_OFFSET.min - TTL.max - TOLERANCE.max > i64::MIN / 2
);

impl Bounds {
    fn check(self, ms: i64, what: &str, written: &str) -> std::result::Result<i64, String> {
        if (self.min..=self.max).contains(&ms) {
            Ok(ms)
        } else {
            Err(self.refusal(what, written))
        }
    }

    fn refusal(self, what: &str, written: &str) -> String {
        format!(
            "{what} = {written} is outside the allowed range {} to {}",
            describe_ms(self.min),
            describe_ms(self.max)
        )
    }
}

/// A duration in the largest unit that writes it whole: `0ms`, `1d`, `-366d`, `1500ms`.
fn describe_ms(ms: i64) -> String {
    for (unit, factor) in [("d", DAY_MS), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms != 0 && ms % factor == 0 {
            return format!("{}{unit}", ms / factor);
        }
    }
    format!("{ms}ms")
}

/// The validated settings of one dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// IANA zone in which naive timestamps are read; `None` rejects naive rows.
    #[serde(serialize_with = "ser_tz")]
    pub timezone: Option<Tz>,
    /// Added to the logged time of cache rows (by `cache_node`) and deliveries (by `server`).
    pub clock_offset_ms: BTreeMap<String, i64>,
    /// Drifting clocks: from each logged instant on, the clock's correction in place of
    /// `clock_offset_ms`'s (an extension of the contract, `[clock_offset_changes]`), sorted.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub clock_offset_changes: OffsetChanges,
    pub session_ttl_ms: i64,
    pub tolerance_ms: i64,
    /// Infer what the keys of a cache node without a cache log held from its misses (each miss
    /// fills its key with what it fetched); `cache/` may then be absent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub infer_cache: bool,
    /// How long an inferred fill is held when no later miss replaces it; `None`: until one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_ttl_ms: Option<i64>,
    /// The ownership log is a registry dump: who owned each stream, and who it was shared with,
    /// at each snapshot time, not events (docs/SEMANTICS.md, "Ownership from registry snapshots").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ownership_snapshots: bool,
    /// The row-size limit: a longer line or row is quarantined as its length, SHA-256 and first
    /// bytes, and never held whole.
    pub max_row_bytes: u64,
    /// Keys of `dataset.toml` that leakscope does not know; reported, not fatal.
    pub unknown_keys: Vec<String>,
}

/// Per clock, its corrections from each logged instant on: `[clock_offset_changes]`.
pub type OffsetChanges = BTreeMap<String, Vec<(i64, i64)>>;

/// One clock's `[clock_offset_changes]` entry: its changes, sorted by instant.
fn offset_changes(name: &str, v: &toml::Value) -> std::result::Result<Vec<(i64, i64)>, String> {
    let what = format!("clock_offset_changes.{name:?}");
    let shape =
        || format!("{what} must be a list of {{ from = \"<RFC 3339>\", offset_ms = <ms> }}");
    let mut out = Vec::new();
    for change in v.as_array().ok_or_else(shape)? {
        let t = change.as_table().ok_or_else(shape)?;
        let from = t.get("from").and_then(|f| f.as_str()).ok_or_else(shape)?;
        let from = chrono::DateTime::parse_from_rfc3339(from)
            .map_err(|e| format!("{what}: from = {from:?} is not an RFC 3339 instant: {e}"))?
            .timestamp_millis();
        let ms = t
            .get("offset_ms")
            .and_then(|o| o.as_integer())
            .ok_or_else(shape)?;
        let ms = CLOCK_OFFSET.check(ms, &format!("{what}.offset_ms"), &ms.to_string())?;
        out.push((from, ms));
    }
    out.sort_unstable();
    Ok(out)
}

impl Settings {
    /// The correction of a row logged at `logged` by clock `name`: the last change at or before
    /// it, else `clock_offset_ms`'s; none where neither names the clock.
    pub fn clock_offset_at(&self, name: &str, logged: i64) -> Option<i64> {
        let changed = self.clock_offset_changes.get(name).and_then(|c| {
            let i = c.partition_point(|&(from, _)| from <= logged);
            i.checked_sub(1).map(|i| c[i].1)
        });
        changed.or_else(|| self.clock_offset_ms.get(name).copied())
    }

    /// Whether any row's time is corrected.
    pub fn corrects_clocks(&self) -> bool {
        !self.clock_offset_ms.is_empty() || !self.clock_offset_changes.is_empty()
    }
}

fn ser_tz<S: serde::Serializer>(tz: &Option<Tz>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match tz {
        Some(tz) => s.serialize_some(tz.name()),
        None => s.serialize_none(),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: None,
            clock_offset_ms: BTreeMap::new(),
            clock_offset_changes: BTreeMap::new(),
            session_ttl_ms: DEFAULT_SESSION_TTL_MS,
            tolerance_ms: DEFAULT_TOLERANCE_MS,
            infer_cache: false,
            cache_ttl_ms: None,
            ownership_snapshots: false,
            max_row_bytes: crate::load::bounded::DEFAULT_MAX_ROW_BYTES,
            unknown_keys: Vec::new(),
        }
    }
}

impl Settings {
    /// Reads `<dataset>/dataset.toml` if it exists, with the file as evidence; defaults otherwise.
    pub fn load(dataset: &Path) -> Result<(Settings, Option<ConfigFile>)> {
        let path = dataset.join("dataset.toml");
        if !path.exists() {
            return Ok((Settings::default(), None));
        }
        let (text, file) = read_config(dataset, &path)?;
        let settings = Settings::parse(&text).map_err(|reason| Error::Settings { path, reason })?;
        Ok((settings, Some(file)))
    }

    pub fn parse(text: &str) -> std::result::Result<Settings, String> {
        let table = crate::evidence::parse_toml(text)?;
        let mut s = Settings::default();
        for (key, value) in &table {
            match key.as_str() {
                "timezone" => {
                    let name = value.as_str().ok_or_else(|| {
                        "timezone must be a string such as \"Asia/Shanghai\"".to_string()
                    })?;
                    let tz: Tz = name
                        .parse()
                        .map_err(|_| format!("timezone {name:?} is not an IANA time zone name"))?;
                    s.timezone = Some(tz);
                }
                "session_ttl" => s.session_ttl_ms = duration_value(key, value, TTL)?,
                "tolerance" => s.tolerance_ms = duration_value(key, value, TOLERANCE)?,
                "infer_cache" => {
                    s.infer_cache = value
                        .as_bool()
                        .ok_or_else(|| "infer_cache must be true or false".to_string())?
                }
                "ownership_snapshots" => {
                    s.ownership_snapshots = value
                        .as_bool()
                        .ok_or_else(|| "ownership_snapshots must be true or false".to_string())?
                }
                "cache_ttl" => s.cache_ttl_ms = Some(duration_value(key, value, TTL)?),
                "max_row_bytes" => {
                    let n = value.as_integer().ok_or_else(|| {
                        "max_row_bytes must be a whole number of bytes".to_string()
                    })?;
                    let n = MAX_ROW_BYTES
                        .check(n, key, &value.to_string())
                        .map_err(|_| {
                            format!(
                                "max_row_bytes = {value} is outside the allowed range {} to {} bytes",
                                MAX_ROW_BYTES.min, MAX_ROW_BYTES.max
                            )
                        })?;
                    s.max_row_bytes = n as u64;
                }
                "clock_offset_ms" => {
                    let t = value.as_table().ok_or_else(|| {
                        "clock_offset_ms must be a table of name = milliseconds".to_string()
                    })?;
                    for (name, v) in t {
                        let what = format!("clock_offset_ms.{name:?}");
                        let ms = match v {
                            toml::Value::Integer(i) => {
                                CLOCK_OFFSET.check(*i, &what, &v.to_string())?
                            }
                            toml::Value::Float(f) if f.is_finite() => {
                                let ms = f.round();
                                // The range check before the cast: `as` would saturate.
                                if !(CLOCK_OFFSET.min as f64..=CLOCK_OFFSET.max as f64)
                                    .contains(&ms)
                                {
                                    return Err(CLOCK_OFFSET.refusal(&what, &format!("{f:?}")));
                                }
                                ms as i64
                            }
                            _ => return Err(format!("{what} must be a number of milliseconds")),
                        };
                        s.clock_offset_ms.insert(name.clone(), ms);
                    }
                }
                "clock_offset_changes" => {
                    let t = value.as_table().ok_or_else(|| {
                        "clock_offset_changes must be a table of name = [{ from = \"<RFC 3339>\", offset_ms = <ms> }, ...]".to_string()
                    })?;
                    for (name, v) in t {
                        s.clock_offset_changes
                            .insert(name.clone(), offset_changes(name, v)?);
                    }
                }
                other => s.unknown_keys.push(other.to_string()),
            }
        }
        if s.cache_ttl_ms.is_some() && !s.infer_cache {
            return Err("cache_ttl applies to inferred fills only: set infer_cache = true".into());
        }
        Ok(s)
    }
}

fn duration_value(
    key: &str,
    value: &toml::Value,
    bounds: Bounds,
) -> std::result::Result<i64, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{key} must be a string such as \"2s\" or \"24h\""))?;
    let written = value.to_string();
    match parse_duration_ms(text) {
        Ok(ms) => bounds.check(ms, key, &written),
        Err(DurationError::OutOfRange) => Err(bounds.refusal(key, &written)),
        Err(DurationError::Malformed(e)) => Err(format!("{key}: {e}")),
    }
}

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    Malformed(String),
    /// Well formed, but beyond what milliseconds in an `i64` can hold.
    OutOfRange,
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DurationError::Malformed(e) => f.write_str(e),
            DurationError::OutOfRange => f.write_str("too large a duration"),
        }
    }
}

/// Parses `<number><unit>` with unit `ms`, `s`, `m`, `h` or `d` into milliseconds.
pub fn parse_duration_ms(text: &str) -> std::result::Result<i64, DurationError> {
    let malformed = DurationError::Malformed;
    let t = text.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| malformed(format!("{text:?} has no unit (ms, s, m, h or d)")))?;
    let (num, unit) = t.split_at(split);
    let factor = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => {
            return Err(malformed(format!(
                "{text:?} has unknown unit {unit:?} (ms, s, m, h or d)"
            )))
        }
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| malformed(format!("{text:?} does not start with a number")))?;
    if !n.is_finite() {
        return Err(malformed(format!("{text:?} is not a finite duration")));
    }
    let ms = (n * factor).round();
    // Compared before the cast, which would saturate; 2^63 is exact as a double.
    if !(-(2f64.powi(63))..2f64.powi(63)).contains(&ms) {
        return Err(DurationError::OutOfRange);
    }
    Ok(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A drifting clock's changes: read from RFC 3339 instants, sorted, each in force from its
    /// logged instant on; a bad instant or offset is refused in one line.
    #[test]
    fn clock_offset_changes_take_over_from_their_instant() {
        let s = Settings::parse(
            "[clock_offset_ms]\n\"n1\" = -1500\n[clock_offset_changes]\n\"n1\" = [{ from = \"2020-01-01T01:00:00Z\", offset_ms = -900 }, { from = \"2020-01-01T00:00:00Z\", offset_ms = -1200 }]\n",
        )
        .unwrap();
        let h = 1_577_836_800_000;
        assert_eq!(s.clock_offset_at("n1", h - 1), Some(-1500));
        assert_eq!(s.clock_offset_at("n1", h), Some(-1200));
        assert_eq!(s.clock_offset_at("n1", h + 3_600_000), Some(-900));
        assert_eq!(s.clock_offset_at("other", h), None);
        assert!(s.corrects_clocks());
        for bad in [
            "[clock_offset_changes]\n\"n1\" = [{ from = \"noon\", offset_ms = 1 }]",
            "[clock_offset_changes]\n\"n1\" = [{ from = \"2020-01-01T00:00:00Z\", offset_ms = 99999999999999 }]",
            "[clock_offset_changes]\n\"n1\" = 5",
        ] {
            let e = Settings::parse(bad).unwrap_err();
            assert!(e.contains("clock_offset_changes.\"n1\"") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(
            parse_duration_ms("99999999999999999d"),
            Err(DurationError::OutOfRange)
        );
        assert_eq!(parse_duration_ms("2s"), Ok(2_000));
        assert_eq!(parse_duration_ms("1.5s"), Ok(1_500));
        assert_eq!(parse_duration_ms("3m"), Ok(180_000));
        assert_eq!(parse_duration_ms("24h"), Ok(86_400_000));
        assert_eq!(parse_duration_ms("1d"), Ok(86_400_000));
        assert!(parse_duration_ms("10").is_err());
        assert!(parse_duration_ms("10w").is_err());
        assert!(parse_duration_ms("s").is_err());
    }

    #[test]
    fn full_settings_file() {
        let s = Settings::parse(
            r#"
timezone = "Asia/Shanghai"
session_ttl = "12h"
tolerance = "500ms"
flavour = "x"
[clock_offset_ms]
"cache-eu-3" = -1500
"#,
        )
        .unwrap();
        assert_eq!(s.timezone, Some(chrono_tz::Asia::Shanghai));
        assert_eq!(s.session_ttl_ms, 12 * 3_600_000);
        assert_eq!(s.tolerance_ms, 500);
        assert_eq!(s.clock_offset_ms.get("cache-eu-3"), Some(&-1500));
        assert_eq!(s.unknown_keys, vec!["flavour".to_string()]);
    }

    #[test]
    fn cache_inference_settings() {
        let s = Settings::parse("infer_cache = true\ncache_ttl = \"10m\"").unwrap();
        assert_eq!((s.infer_cache, s.cache_ttl_ms), (true, Some(600_000)));
        for bad in [
            "infer_cache = \"yes\"",
            "infer_cache = true\ncache_ttl = \"0s\"",
            "cache_ttl = \"10m\"",
        ] {
            assert!(Settings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_out_of_their_range_are_refused_with_the_range() {
        for (text, want) in [
            (
                "tolerance = \"99999999999999999d\"",
                "tolerance = \"99999999999999999d\" is outside the allowed range 0ms to 1d",
            ),
            (
                "tolerance = \"-1ms\"",
                "tolerance = \"-1ms\" is outside the allowed range 0ms to 1d",
            ),
            (
                "session_ttl = \"0s\"",
                "session_ttl = \"0s\" is outside the allowed range 1ms to 366d",
            ),
            (
                "[clock_offset_ms]\n\"cache-1\" = 9223372036854775000",
                "clock_offset_ms.\"cache-1\" = 9223372036854775000 is outside the allowed range -366d to 366d",
            ),
            (
                "[clock_offset_ms]\n\"cache-1\" = -1e300",
                "clock_offset_ms.\"cache-1\" = -1e300 is outside the allowed range -366d to 366d",
            ),
            (
                "infer_cache = true\ncache_ttl = \"367d\"",
                "cache_ttl = \"367d\" is outside the allowed range 1ms to 366d",
            ),
        ] {
            assert_eq!(Settings::parse(text).unwrap_err(), want, "{text}");
        }
        assert_eq!(
            Settings::parse("max_row_bytes = 100").unwrap_err(),
            "max_row_bytes = 100 is outside the allowed range 1024 to 1073741824 bytes"
        );
        assert_eq!(
            Settings::parse("max_row_bytes = 4096")
                .unwrap()
                .max_row_bytes,
            4096
        );
        let edge = Settings::parse(
            "tolerance = \"1d\"\nsession_ttl = \"366d\"\n[clock_offset_ms]\na = -31622400000",
        )
        .unwrap();
        assert_eq!(
            (
                edge.tolerance_ms,
                edge.session_ttl_ms,
                edge.clock_offset_ms["a"]
            ),
            (DAY_MS, 366 * DAY_MS, -366 * DAY_MS)
        );
    }

    #[test]
    fn bad_zone_is_an_error() {
        let e = Settings::parse("timezone = \"Mars/Olympus\"").unwrap_err();
        assert!(e.contains("Mars/Olympus"), "{e}");
    }
}
