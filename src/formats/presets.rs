//! Vendor defaults: each format's default format string, where it keeps the contract's columns, its time forms, and what its values (cache statuses, event types) mean.

use super::format::LogFormat;
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
        // Fields are named in each JSON line.
        LogFormat::Cloudflare | LogFormat::GcpLogging | LogFormat::Keycloak => "",
        // CloudFront's standard log fields, in its documented order.
        LogFormat::W3c => {
            "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end"
        }
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
        (LogFormat::W3c, "ts") => &[super::pattern::W3C_DATETIME],
        (LogFormat::W3c, "request_id") => &["x-edge-request-id"],
        (LogFormat::W3c, "cache_node") => &["x-edge-location"],
        (LogFormat::W3c, "cache_status") => &["x-edge-result-type"],
        (LogFormat::W3c, "bytes") => &["sc-bytes"],
        (LogFormat::Cloudflare, "ts") => &["EdgeStartTimestamp"],
        (LogFormat::Cloudflare, "request_id") => &["RayID"],
        (LogFormat::Cloudflare, "cache_node") => &["EdgeColoCode"],
        (LogFormat::Cloudflare, "cache_status") => &["CacheCacheStatus"],
        (LogFormat::Cloudflare, "bytes") => &["EdgeResponseBytes"],
        (LogFormat::GcpLogging, "ts") => &["timestamp"],
        (LogFormat::GcpLogging, "request_id") => &["insertId"],
        (LogFormat::GcpLogging, "cache_node") => &["jsonPayload.cacheId"],
        (LogFormat::GcpLogging, "cache_status") => &[super::pattern::GCP_CACHE],
        (LogFormat::GcpLogging, "bytes") => &["httpRequest.responseSize"],
        (LogFormat::Keycloak, "ts") => &["time"],
        (LogFormat::Keycloak, "session_id") => &["sessionId"],
        (LogFormat::Keycloak, "event") => &["type"],
        (LogFormat::Keycloak, "account_id") => &["userId"],
        (LogFormat::Keycloak, "client") => &["clientId"],
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
        (LogFormat::W3c, super::pattern::W3C_DATETIME) => LogTime::Rfc3339,
        // `timestamp_format` decides: unixnano (the API's default), unix or rfc3339.
        (LogFormat::Cloudflare, f) if f.ends_with("Timestamp") => LogTime::Auto,
        (LogFormat::GcpLogging, "timestamp" | "receiveTimestamp") => LogTime::Rfc3339,
        (LogFormat::Keycloak, "time") => LogTime::EpochMillis,
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
    /// The vendor logged that it does not know; the row cannot be read as a hit or a miss.
    Unknown(&'static str),
}

/// What the vendor's values of a contract column mean, as its documentation defines them
/// (`docs/FORMATS.md`): cache statuses, and Keycloak's event types.
pub fn values(format: LogFormat, column: &str) -> &'static [(&'static str, Status)] {
    use Status::*;
    match (format, column) {
        // Keycloak event types: a login or a token issued or refreshed for the user session
        // shows who stood behind it from then on; a logout ends it.
        (LogFormat::Keycloak, "event") => &[
            ("LOGIN", Is("start")),
            ("CODE_TO_TOKEN", Is("start")),
            ("REFRESH_TOKEN", Is("start")),
            ("IDENTITY_PROVIDER_LOGIN", Is("start")),
            ("LOGOUT", Is("end")),
        ],
        (LogFormat::Keycloak, _) => &[],
        (_, "cache_status") => cache_statuses(format),
        _ => &[],
    }
}

fn cache_statuses(format: LogFormat) -> &'static [(&'static str, Status)] {
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
        // CloudFront `x-edge-result-type`.
        LogFormat::W3c => &[
            ("Hit", Is("hit")),
            ("RefreshHit", Is("hit")),
            ("Miss", Is("miss")),
            ("Error", NotADelivery("an error response, not content")),
            ("Redirect", NotADelivery("a redirect, not content")),
            (
                "LimitExceeded",
                NotADelivery("a request CloudFront refused"),
            ),
            (
                "CapacityExceeded",
                NotADelivery("a request CloudFront refused"),
            ),
        ],
        // Cloudflare `CacheCacheStatus`.
        // The cache outcome read from httpRequest's booleans (`GCP_CACHE`) is already hit,
        // miss or bypass.
        LogFormat::GcpLogging | LogFormat::Keycloak => &[],
        LogFormat::Cloudflare => &[
            ("hit", Is("hit")),
            ("stream_hit", Is("hit")),
            ("stale", Is("hit")),
            ("updating", Is("hit")),
            ("revalidated", Is("hit")),
            ("miss", Is("miss")),
            ("expired", Is("miss")),
            ("bypass", Is("bypass")),
            ("dynamic", Is("bypass")),
            ("ignored", Is("bypass")),
            ("deferred", Is("bypass")),
            (
                "unknown",
                Unknown("Cloudflare did not record whether its cache was used"),
            ),
        ],
    }
}
