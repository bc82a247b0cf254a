//! Real log formats: what a mapping file says about a kind's logs as their server wrote them (nginx, varnishncsa, W3C/CloudFront, Cloudflare, Google Cloud, Keycloak), and how each contract column is found in them.
//!
//! A [`FormatSpec`] is declared per log kind (`[deliveries] format = "nginx"`); [`Compiled`]
//! turns it, once per file, into a line matcher and one [`derive::Rule`] per contract column.
//! Vendor defaults (which field holds the time, what `HIT` means) live in [`presets`].

pub mod derive;
mod json;
pub mod pattern;
pub mod presets;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::schema::Kind;
pub use derive::{Compiled, Derive};
pub use pattern::{Escape, LinePattern};

/// The format a kind's files are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// nginx `access_log` with a `log_format` string (default: `combined`).
    Nginx,
    /// varnishncsa with a `-F` format string (default: its default format).
    Varnishncsa,
    /// W3C extended log files as CloudFront's standard logs write them: `#Fields:` directives,
    /// tab-separated URL-encoded values.
    W3c,
    /// Cloudflare Logpush `http_requests`: a JSON object per line, fields by name.
    Cloudflare,
    /// Google Cloud Logging `LogEntry` lines of an external Application Load Balancer with Cloud
    /// CDN, as a logging sink exports them: nested JSON.
    GcpLogging,
    /// Keycloak user events as JSON (the admin REST API's `events`, one array, or one event
    /// per line): sessions.
    Keycloak,
}

impl LogFormat {
    pub fn from_name(name: &str) -> Option<LogFormat> {
        match name {
            "nginx" => Some(LogFormat::Nginx),
            "varnishncsa" => Some(LogFormat::Varnishncsa),
            "w3c" => Some(LogFormat::W3c),
            "cloudflare" => Some(LogFormat::Cloudflare),
            "gcp-logging" => Some(LogFormat::GcpLogging),
            "keycloak" => Some(LogFormat::Keycloak),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Nginx => "nginx",
            LogFormat::Varnishncsa => "varnishncsa",
            LogFormat::W3c => "w3c",
            LogFormat::Cloudflare => "cloudflare",
            LogFormat::GcpLogging => "gcp-logging",
            LogFormat::Keycloak => "keycloak",
        }
    }

    /// The kinds this format can describe: access logs are deliveries, identity events sessions.
    fn describes(self, kind: Kind) -> bool {
        match self {
            LogFormat::Keycloak => kind == Kind::Sessions,
            _ => kind == Kind::Deliveries,
        }
    }

    /// Whether each line is a JSON object whose fields are named, not placed.
    pub fn is_json(self) -> bool {
        matches!(
            self,
            LogFormat::Cloudflare | LogFormat::GcpLogging | LogFormat::Keycloak
        )
    }
}

/// A kind's logs as their server wrote them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormatSpec {
    pub format: LogFormat,
    /// The format string the server was configured with; for `w3c`, the field list assumed
    /// until a file's first `#Fields:` directive.
    pub log_format: String,
    pub escape: Escape,
    /// Contract column -> where its value is in a line; vendor defaults fill what is not named.
    pub derive: BTreeMap<String, Derive>,
}

impl FormatSpec {
    /// Reads a `[<kind>]` section (`None`: `format = "contract"`); the spec is compiled once here
    /// so that a bad format string or regex is reported against the mapping file, not against
    /// every log file.
    pub fn parse(kind: Kind, section: &toml::Table) -> Result<Option<FormatSpec>, String> {
        let at = format!("[{kind}]");
        let mut format = None;
        let mut contract = false;
        let mut log_format = None;
        let mut escape = Escape::Backslash;
        let mut derive = BTreeMap::new();
        for (key, value) in section {
            let text = || {
                value
                    .as_str()
                    .ok_or_else(|| format!("{at} {key} must be a string"))
            };
            match key.as_str() {
                "format" => {
                    let name = text()?;
                    if name == "contract" {
                        contract = true;
                        continue;
                    }
                    let f = LogFormat::from_name(name).ok_or_else(|| {
                        format!("{at} format {name:?} is not known; expected contract, nginx, varnishncsa, w3c, cloudflare, gcp-logging or keycloak")
                    })?;
                    if !f.describes(kind) {
                        let what = if f == LogFormat::Keycloak {
                            "identity events describe sessions"
                        } else {
                            "an access log describes deliveries"
                        };
                        return Err(format!("{at} format {name:?}: {what}, not {kind}"));
                    }
                    format = Some(f);
                }
                "log_format" => log_format = Some(text()?.to_string()),
                "escape" => {
                    escape = match text()? {
                        "default" | "json" => Escape::Backslash,
                        "none" => Escape::None,
                        other => {
                            return Err(format!(
                                "{at} escape {other:?}: expected default, json or none"
                            ))
                        }
                    }
                }
                "derive" => {
                    let rules = value
                        .as_table()
                        .ok_or_else(|| format!("{at} derive must be a table"))?;
                    for (column, rule) in rules {
                        if kind.column(column).is_none() {
                            return Err(format!(
                                "[{kind}.derive] {column:?} is not a {kind} column of the contract"
                            ));
                        }
                        derive.insert(
                            column.clone(),
                            Derive::parse(rule)
                                .map_err(|e| format!("[{kind}.derive] {column}: {e}"))?,
                        );
                    }
                }
                other => {
                    return Err(format!(
                        "{at} has no key {other:?}; expected format, log_format, escape or derive"
                    ))
                }
            }
        }
        if let (Some(f), Some(_)) = (format.filter(|f| f.is_json()), &log_format) {
            return Err(format!(
                "{at} log_format does not apply to {}: each line names its fields",
                f.name()
            ));
        }
        let Some(format) = format else {
            return if contract {
                Ok(None)
            } else {
                Err(format!("{at} names no format"))
            };
        };
        let spec = FormatSpec {
            format,
            log_format: log_format.unwrap_or_else(|| presets::default_log_format(format).into()),
            escape,
            derive,
        };
        Compiled::new(kind, &spec, None).map_err(|e| format!("{at}: {e}"))?;
        Ok(Some(spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<FormatSpec, String> {
        let t: toml::Table = text.parse().unwrap();
        FormatSpec::parse(Kind::Deliveries, &t).map(|s| s.expect("a format"))
    }

    #[test]
    fn a_spec_names_its_format_and_rules() {
        let s = spec(
            r#"
format = "nginx"
log_format = '$msec "$request" $upstream_cache_status $hostname "$cookie_sid"'
[derive]
session_id = { from = "cookie_sid" }
requested_stream_id = { from = "request", regex = '^GET /cam/(?P<v>[^/]+)/' }
cache_key = { from = "request", regex = '^GET (/[^ ?]+)' }
"#,
        )
        .unwrap();
        assert_eq!(s.format, LogFormat::Nginx);
        assert_eq!(s.derive.len(), 3);
        assert_eq!(s.derive["session_id"].from, "cookie_sid");
    }

    #[test]
    fn mistakes_are_named() {
        let e = spec("format = \"apache\"").unwrap_err();
        assert!(e.contains("not known"), "{e}");
        let e = spec("format = \"nginx\"\nlog_format = '$a$b'").unwrap_err();
        assert!(e.contains("nothing between"), "{e}");
        let e = spec("format = \"nginx\"\n[derive]\nsesion_id = { from = \"x\" }").unwrap_err();
        assert!(e.contains("not a deliveries column"), "{e}");
        let e = spec("format = \"nginx\"\n[derive]\nsession_id = { from = \"cookie_sid\" }")
            .unwrap_err();
        assert!(e.contains("cookie_sid"), "{e}");
        let e = spec(
            "format = \"nginx\"\n[derive]\nsession_id = { from = \"request\", regex = \"(\" }",
        )
        .unwrap_err();
        assert!(e.contains("regex"), "{e}");
        let t: toml::Table = "format = \"nginx\"".parse().unwrap();
        assert!(FormatSpec::parse(Kind::Sessions, &t)
            .unwrap_err()
            .contains("describes deliveries"));
        let t: toml::Table = "format = \"contract\"".parse().unwrap();
        assert_eq!(FormatSpec::parse(Kind::Sessions, &t), Ok(None));
    }
}
