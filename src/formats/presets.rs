//! Vendor defaults: each format's default format string, where it keeps the contract's columns, its time forms, and what its cache statuses mean.

use super::LogFormat;
use crate::time::LogTime;

/// The format string a server writes when it is not configured otherwise.
pub fn default_log_format(format: LogFormat) -> &'static str {
    match format {
        // nginx's predefined `combined`.
        LogFormat::Nginx => {
            r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#
        }
        // varnishncsa's default `-F`.
        LogFormat::Varnishncsa => r#"%h %l %u %t "%r" %s %b "%{Referer}i" "%{User-agent}i""#,
    }
}

/// The fields a contract column is taken from when the mapping does not say, first present wins.
pub fn default_fields(format: LogFormat, column: &str) -> &'static [&'static str] {
    match (format, column) {
        (LogFormat::Nginx, "ts") => &["msec", "time_iso8601", "time_local"],
        (LogFormat::Nginx, "request_id") => &["request_id"],
        (LogFormat::Nginx, "cache_status") => &["upstream_cache_status"],
        (LogFormat::Nginx, "cache_node") => &["hostname"],
        (LogFormat::Nginx, "bytes") => &["body_bytes_sent", "bytes_sent"],
        (LogFormat::Varnishncsa, "ts") => &["t", "{sec}t", "{msec}t", "{usec}t"],
        (LogFormat::Varnishncsa, "request_id") => &["{Varnish:vxid}x"],
        (LogFormat::Varnishncsa, "cache_status") => &["{Varnish:handling}x", "{Varnish:hitmiss}x"],
        (LogFormat::Varnishncsa, "bytes") => &["b"],
        _ => &[],
    }
}

/// The time form a field is written in, where the format fixes it.
pub fn field_time(format: LogFormat, field: &str) -> Option<LogTime> {
    Some(match (format, field) {
        (LogFormat::Nginx, "msec") => LogTime::EpochSeconds,
        (LogFormat::Nginx, "time_iso8601") => LogTime::Rfc3339,
        (LogFormat::Nginx, "time_local") => LogTime::Clf,
        (LogFormat::Varnishncsa, "t") => LogTime::Clf,
        (LogFormat::Varnishncsa, "{sec}t") => LogTime::EpochSeconds,
        (LogFormat::Varnishncsa, "{msec}t") => LogTime::EpochMillis,
        (LogFormat::Varnishncsa, "{usec}t") => LogTime::EpochMicros,
        (LogFormat::Varnishncsa, f) => {
            let inner = f.strip_prefix('{')?.strip_suffix("}t")?;
            LogTime::from_name(inner).filter(|t| matches!(t, LogTime::Pattern(_)))?
        }
        _ => return None,
    })
}

/// What a cache status of the vendor means in the contract: a contract value, or "not a
/// delivery" with the reason, for rows that must be counted apart rather than read as a hit or
/// a miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Is(&'static str),
    NotADelivery(&'static str),
}

/// The vendor's cache statuses, as its documentation defines them (`docs/FORMATS.md`).
pub fn cache_statuses(format: LogFormat) -> &'static [(&'static str, Status)] {
    use Status::*;
    match format {
        // nginx `$upstream_cache_status`: STALE and UPDATING serve a stored copy; EXPIRED and
        // MISS fetch from the origin; BYPASS skips the cache.
        LogFormat::Nginx => &[
            ("HIT", Is("hit")),
            ("STALE", Is("hit")),
            ("UPDATING", Is("hit")),
            ("REVALIDATED", Is("hit")),
            ("MISS", Is("miss")),
            ("EXPIRED", Is("miss")),
            ("BYPASS", Is("bypass")),
        ],
        // varnishncsa `%{Varnish:handling}x` (and `hitmiss`, whose values are hit and miss).
        LogFormat::Varnishncsa => &[
            ("hit", Is("hit")),
            ("miss", Is("miss")),
            ("hitmiss", Is("miss")),
            ("pass", Is("bypass")),
            ("hitpass", Is("bypass")),
            ("pipe", Is("bypass")),
            (
                "synth",
                NotADelivery(
                    "a synthetic response made by VCL, not content from the cache or the origin",
                ),
            ),
        ],
    }
}
