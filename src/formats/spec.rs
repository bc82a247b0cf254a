//! What a mapping file declares for a kind's logs: the format, its format string, and where each contract column is in a line.

use std::collections::BTreeMap;

use serde::Serialize;

use super::format::LogFormat;
use super::pattern::Escape;
use super::presets;
use crate::schema::Kind;

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
    /// Reads a `[<kind>]` section (`None`: `format = "contract"`). The mapping compiles what it
    /// reads once ([`super::Compiled::new`]), so that a bad format string or regex is reported
    /// against the mapping file, not against every log file.
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
        Ok(Some(spec))
    }
}

/// Where a contract column's value is in a line, as the mapping file says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Derive {
    /// The field of the format (nginx variable without `$`, varnishncsa formatter without `%`).
    pub from: String,
    /// Of a `Cookie` header's value, the cookie of this name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Of a URL, request line or query string, the (percent-decoded) parameter of this name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Of the value, the match of this regex: its group `v`, else its first group, else all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// For timestamp columns: how the field writes time (`clf`, `epoch_s`, `epoch_ms`,
    /// `epoch_us`, `epoch_ns`, `rfc3339` or a strftime pattern), where the format does not fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

impl Derive {
    /// A rule as written: `"field"` or `{ from = "field", regex = "...", ... }`.
    pub fn parse(value: &toml::Value) -> Result<Derive, String> {
        if let Some(from) = value.as_str() {
            return Ok(Derive::from_field(from));
        }
        let t = value
            .as_table()
            .ok_or("must be a field name or a table such as { from = \"request\" }")?;
        let mut d = Derive::from_field("");
        for (key, v) in t {
            let s = v
                .as_str()
                .ok_or_else(|| format!("{key} must be a string"))?
                .to_string();
            match key.as_str() {
                "from" => d.from = s,
                "cookie" => d.cookie = Some(s),
                "query" => d.query = Some(s),
                "regex" => d.regex = Some(s),
                "time" => d.time = Some(s),
                other => {
                    return Err(format!(
                        "unknown key {other:?}; expected from, cookie, query, regex or time"
                    ))
                }
            }
        }
        if d.from.is_empty() {
            return Err("names no field (from = \"...\")".into());
        }
        Ok(d)
    }

    /// A rule that takes a field as it is.
    pub fn from_field(from: &str) -> Derive {
        Derive {
            from: from.to_string(),
            cookie: None,
            query: None,
            regex: None,
            time: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Compiled;

    /// Parses and compiles a section, as the mapping does.
    fn spec(text: &str) -> Result<FormatSpec, String> {
        let t: toml::Table = text.parse().unwrap();
        let s = FormatSpec::parse(Kind::Deliveries, &t)?.expect("a format");
        Compiled::new(Kind::Deliveries, &s, None)?;
        Ok(s)
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
