//! `dataset.toml`: the dataset's time zone, clock corrections, session TTL and tolerance.

use std::collections::BTreeMap;
use std::path::Path;

use chrono_tz::Tz;
use serde::Serialize;

use crate::error::{Error, Result};

pub const DEFAULT_SESSION_TTL_MS: i64 = 24 * 3_600_000;
pub const DEFAULT_TOLERANCE_MS: i64 = 2_000;

/// The validated settings of one dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// IANA zone in which naive timestamps are read; `None` rejects naive rows.
    #[serde(serialize_with = "ser_tz")]
    pub timezone: Option<Tz>,
    /// Added to the logged time of cache rows (by `cache_node`) and deliveries (by `server`).
    pub clock_offset_ms: BTreeMap<String, i64>,
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
    /// Keys of `dataset.toml` that leakscope does not know; reported, not fatal.
    pub unknown_keys: Vec<String>,
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
            session_ttl_ms: DEFAULT_SESSION_TTL_MS,
            tolerance_ms: DEFAULT_TOLERANCE_MS,
            infer_cache: false,
            cache_ttl_ms: None,
            ownership_snapshots: false,
            unknown_keys: Vec::new(),
        }
    }
}

impl Settings {
    /// Reads `<dataset>/dataset.toml` if it exists; defaults otherwise.
    pub fn load(dataset: &Path) -> Result<Settings> {
        let path = dataset.join("dataset.toml");
        if !path.exists() {
            return Ok(Settings::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Settings::parse(&text).map_err(|reason| Error::Settings { path, reason })
    }

    pub fn parse(text: &str) -> std::result::Result<Settings, String> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
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
                "session_ttl" => s.session_ttl_ms = duration_value(key, value)?,
                "tolerance" => s.tolerance_ms = duration_value(key, value)?,
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
                "cache_ttl" => s.cache_ttl_ms = Some(duration_value(key, value)?),
                "clock_offset_ms" => {
                    let t = value.as_table().ok_or_else(|| {
                        "clock_offset_ms must be a table of name = milliseconds".to_string()
                    })?;
                    for (name, v) in t {
                        let ms = match v {
                            toml::Value::Integer(i) => *i,
                            toml::Value::Float(f) if f.is_finite() => f.round() as i64,
                            _ => {
                                return Err(format!(
                                    "clock_offset_ms.{name:?} must be a number of milliseconds"
                                ))
                            }
                        };
                        s.clock_offset_ms.insert(name.clone(), ms);
                    }
                }
                other => s.unknown_keys.push(other.to_string()),
            }
        }
        if s.session_ttl_ms <= 0 {
            return Err("session_ttl must be positive".into());
        }
        if s.tolerance_ms < 0 {
            return Err("tolerance must not be negative".into());
        }
        if s.cache_ttl_ms.is_some_and(|t| t <= 0) {
            return Err("cache_ttl must be positive".into());
        }
        if s.cache_ttl_ms.is_some() && !s.infer_cache {
            return Err("cache_ttl applies to inferred fills only: set infer_cache = true".into());
        }
        Ok(s)
    }
}

fn duration_value(key: &str, value: &toml::Value) -> std::result::Result<i64, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{key} must be a string such as \"2s\" or \"24h\""))?;
    parse_duration_ms(text).map_err(|e| format!("{key}: {e}"))
}

/// Parses `<number><unit>` with unit `ms`, `s`, `m`, `h` or `d` into milliseconds.
pub fn parse_duration_ms(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("{text:?} has no unit (ms, s, m, h or d)"))?;
    let (num, unit) = t.split_at(split);
    let factor = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => {
            return Err(format!(
                "{text:?} has unknown unit {unit:?} (ms, s, m, h or d)"
            ))
        }
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    if !n.is_finite() {
        return Err(format!("{text:?} is not a finite duration"));
    }
    Ok((n * factor).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
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
    fn bad_zone_is_an_error() {
        let e = Settings::parse("timezone = \"Mars/Olympus\"").unwrap_err();
        assert!(e.contains("Mars/Olympus"), "{e}");
    }
}
