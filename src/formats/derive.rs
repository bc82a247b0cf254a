//! Derived columns compiled: each contract column taken from a log line's fields (a field, then a cookie, a query parameter or a regex group of it), line by line.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write;

use super::format::LogFormat;
use super::pattern::LinePattern;
use super::presets::{self, Status};
use super::spec::{Derive, FormatSpec};
use crate::schema::{ColumnType, Kind, Presence};
use crate::time::{LogInstant, LogTime, TimeForm};
use regex::{CaptureLocations, Regex};

/// A rule ready to run: the field's position and the compiled steps.
#[derive(Debug, Clone)]
struct Rule {
    column: String,
    field: usize,
    cookie: Option<String>,
    query: Option<String>,
    regex: Option<(Regex, usize)>,
    time: Option<LogTime>,
    required: bool,
    /// The vendor's values (cache statuses, event types); values the mapping's `[values]`
    /// rewrites are left to it.
    statuses: Vec<(&'static str, Status)>,
    /// Values the mapping's `[values]` rewrites: passed on as written, for it to rewrite.
    mapped: Vec<String>,
}

/// A format spec compiled for one file: split a line, then derive each contract column.
#[derive(Debug, Clone)]
pub struct Compiled {
    pattern: LinePattern,
    rules: Vec<Rule>,
    /// What it was compiled from, to compile again for a W3C file's own `#Fields:` directive.
    kind: Kind,
    spec: FormatSpec,
    overrides: Option<BTreeMap<String, BTreeMap<String, String>>>,
}

/// Per-line buffers, reused from line to line.
#[derive(Debug, Default)]
pub struct Scratch<'a> {
    fields: Vec<Option<Cow<'a, str>>>,
    locations: Vec<Option<CaptureLocations>>,
    text: String,
}

impl Compiled {
    /// `overrides`: the mapping's `[values.<kind>.<column>]`, whose values win over the presets.
    pub fn new(
        kind: Kind,
        spec: &FormatSpec,
        overrides: Option<&BTreeMap<String, BTreeMap<String, String>>>,
    ) -> Result<Compiled, String> {
        let pattern = match spec.format {
            LogFormat::Nginx => LinePattern::nginx(&spec.log_format, spec.escape),
            LogFormat::Varnishncsa => LinePattern::varnishncsa(&spec.log_format),
            LogFormat::W3c => LinePattern::w3c(&spec.log_format),
            LogFormat::Cloudflare | LogFormat::GcpLogging | LogFormat::Keycloak => {
                Ok(LinePattern::json(json_fields(kind, spec)))
            }
        }
        .map_err(|e| format!("log_format: {e}"))?;
        Compiled::with_pattern(kind, spec, pattern, overrides)
    }

    /// The same spec for a W3C file's `#Fields:` directive (the text after `#Fields:`).
    pub fn redeclare(&self, directive: &str) -> Result<Compiled, String> {
        let pattern = LinePattern::w3c(directive)?;
        Compiled::with_pattern(self.kind, &self.spec, pattern, self.overrides.as_ref())
    }

    pub fn format(&self) -> LogFormat {
        self.spec.format
    }

    /// The log kind the rules give columns of.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    fn with_pattern(
        kind: Kind,
        spec: &FormatSpec,
        pattern: LinePattern,
        overrides: Option<&BTreeMap<String, BTreeMap<String, String>>>,
    ) -> Result<Compiled, String> {
        let mut rules = Vec::new();
        for column in kind.columns() {
            let explicit = spec.derive.get(column.name);
            let derive = match explicit {
                Some(d) => d.clone(),
                None => match presets::default_fields(spec.format, column.name)
                    .iter()
                    .find(|f| pattern.field(f).is_some())
                {
                    Some(f) => Derive::from_field(f),
                    None if column.presence == Presence::Required => {
                        return Err(format!(
                            "nothing gives the required column {0}: add `{0} = {{ from = \"<field>\" }}` under [{kind}.derive] (the format's fields: {1})",
                            column.name,
                            pattern.fields().join(", ")
                        ))
                    }
                    None => continue,
                },
            };
            let at = |e: String| format!("{}: {e}", column.name);
            let field = pattern.field(&derive.from).ok_or_else(|| {
                at(format!(
                    "the format has no field {:?} (its fields: {})",
                    derive.from,
                    pattern.fields().join(", ")
                ))
            })?;
            let regex = match &derive.regex {
                Some(src) => {
                    let re = Regex::new(src).map_err(|e| {
                        at(format!(
                            "bad regex: {}",
                            crate::error::one_line(&e.to_string())
                        ))
                    })?;
                    let group = re
                        .capture_names()
                        .position(|n| n == Some("v"))
                        .unwrap_or(if re.captures_len() > 1 { 1 } else { 0 });
                    Some((re, group))
                }
                None => None,
            };
            let time = if column.ty == ColumnType::Timestamp {
                let t = match &derive.time {
                    Some(name) => LogTime::from_name(name).ok_or_else(|| {
                        at(format!("time {name:?}: expected clf, epoch_s, epoch_ms, epoch_us, epoch_ns, rfc3339 or a strftime pattern"))
                    })?,
                    None => presets::field_time(spec.format, &derive.from).ok_or_else(|| {
                        at(format!(
                            "say how {:?} writes time, e.g. time = \"clf\" or time = \"epoch_s\"",
                            derive.from
                        ))
                    })?,
                };
                Some(t)
            } else {
                None
            };
            let mapped = overrides.and_then(|o| o.get(column.name));
            let statuses = presets::values(spec.format, column.name)
                .iter()
                .filter(|(v, _)| !mapped.is_some_and(|m| m.contains_key(*v)))
                .copied()
                .collect();
            rules.push(Rule {
                column: column.name.to_string(),
                field,
                cookie: derive.cookie,
                query: derive.query,
                regex,
                time,
                required: column.presence == Presence::Required,
                statuses,
                mapped: mapped
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default(),
            });
        }
        Ok(Compiled {
            pattern,
            rules,
            kind,
            spec: spec.clone(),
            overrides: overrides.cloned(),
        })
    }

    /// The contract columns a line gives, in the order [`Compiled::row`] pushes them.
    pub fn headers(&self) -> Vec<String> {
        self.rules.iter().map(|r| r.column.clone()).collect()
    }

    /// How many cells a line gives.
    pub fn width(&self) -> usize {
        self.rules.len()
    }

    /// The finest step of the time column `ts` in milliseconds, where its form fixes one.
    pub fn ts_resolution_ms(&self) -> Option<i64> {
        self.rules
            .iter()
            .find(|r| r.column == "ts")
            .and_then(|r| r.time.as_ref())
            .map(LogTime::resolution_ms)
    }

    /// The form each timestamp column's cells take, fixed by its rule: epoch milliseconds for
    /// absolute times, naive local time for a pattern without a zone (see [`Compiled::row`]).
    pub fn time_forms(&self) -> Vec<(&str, TimeForm)> {
        self.rules
            .iter()
            .filter_map(|r| {
                let form = match r.time.as_ref()?.is_local() {
                    true => TimeForm::Naive,
                    false => TimeForm::EpochMs,
                };
                Some((r.column.as_str(), form))
            })
            .collect()
    }

    pub fn scratch<'a>(&self) -> Scratch<'a> {
        Scratch {
            fields: Vec::new(),
            locations: self
                .rules
                .iter()
                .map(|r| r.regex.as_ref().map(|(re, _)| re.capture_locations()))
                .collect(),
            text: String::new(),
        }
    }

    /// Derives one line's contract cells, pushed in header order. An `Err` is the reason the
    /// line is quarantined; cells pushed before it are to be discarded.
    pub fn row<'a>(
        &self,
        line: &'a str,
        scratch: &mut Scratch<'a>,
        mut push: impl FnMut(Option<&str>),
    ) -> Result<(), String> {
        self.pattern.split(line, &mut scratch.fields)?;
        for (rule, locations) in self.rules.iter().zip(scratch.locations.iter_mut()) {
            let name = &self.pattern.fields()[rule.field];
            let mut value: Option<Cow<'_, str>> =
                scratch.fields[rule.field].as_deref().map(Cow::Borrowed);
            if let Some(c) = &rule.cookie {
                value = value.and_then(|v| step(v, |s| cookie(s, c).map(Cow::Borrowed)));
            }
            if let Some(q) = &rule.query {
                value = value.and_then(|v| step(v, |s| query(s, q)));
            }
            if let (Some((re, group)), Some(locs)) = (&rule.regex, locations.as_mut()) {
                value = value.and_then(|v| {
                    step(v, |s| {
                        re.captures_read(locs, s)
                            .and_then(|_| locs.get(*group))
                            .map(|(a, b)| &s[a..b])
                            .filter(|m| !m.is_empty())
                            .map(Cow::Borrowed)
                    })
                });
            }
            let Some(v) = value else {
                if rule.required {
                    let how = if scratch.fields[rule.field].is_some() {
                        format!("nothing in {name:?} matches its rule")
                    } else {
                        format!("{name:?} is absent")
                    };
                    return Err(format!("{}: {how}", rule.column));
                }
                push(None);
                continue;
            };
            if let Some(time) = &rule.time {
                scratch.text.clear();
                match time.parse(&v) {
                    Some(LogInstant::Utc(ms)) => write!(scratch.text, "{ms}"),
                    Some(LogInstant::Local(t)) => {
                        write!(scratch.text, "{}", t.format("%Y-%m-%d %H:%M:%S%.3f"))
                    }
                    None => {
                        return Err(format!(
                            "{}: {v:?} in {name:?} is not {}",
                            rule.column,
                            time.describe()
                        ))
                    }
                }
                .map_err(|e| format!("{}: {e}", rule.column))?;
                push(Some(&scratch.text));
                continue;
            }
            match rule.statuses.iter().find(|(s, _)| *s == v) {
                Some((_, Status::Is(ours))) => push(Some(ours)),
                Some((_, Status::NotADelivery(why))) => {
                    return Err(format!("not a delivery: {name} {v:?} is {why}"))
                }
                None if !rule.statuses.is_empty()
                    && self.kind == Kind::Sessions
                    && !rule.mapped.iter().any(|m| *m == v) =>
                {
                    return Err(format!(
                        "not a session event: {name} {v:?} neither starts nor ends a session"
                    ))
                }
                Some((_, Status::Unknown(why))) => {
                    return Err(format!("{}: {name} {v:?}: {why}", rule.column))
                }
                None => push(Some(&v)),
            }
        }
        Ok(())
    }
}

/// The fields a JSON line is read for: every field a rule names, and every vendor default.
fn json_fields(kind: Kind, spec: &FormatSpec) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    let named = spec.derive.values().map(|d| d.from.as_str());
    let defaults = kind
        .columns()
        .iter()
        .flat_map(|c| presets::default_fields(spec.format, c.name).iter().copied());
    for f in named.chain(defaults) {
        if !fields.iter().any(|x| x == f) {
            fields.push(f.to_string());
        }
    }
    fields
}

/// One step of a rule applied to a value that may borrow the line or own its unescaped text.
fn step<'v>(
    value: Cow<'v, str>,
    f: impl for<'x> FnOnce(&'x str) -> Option<Cow<'x, str>>,
) -> Option<Cow<'v, str>> {
    match value {
        Cow::Borrowed(s) => f(s),
        Cow::Owned(s) => f(&s).map(|c| Cow::Owned(c.into_owned())),
    }
}

/// The value of cookie `name` in a `Cookie` header (`a=1; sid=abc`).
fn cookie<'v>(header: &'v str, name: &str) -> Option<&'v str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name && !v.is_empty()).then_some(v)
    })
}

/// The parameter `name` of the query in a URL, a request line (`GET /a?x=1 HTTP/1.1`) or a bare
/// query string, percent-decoded.
fn query<'v>(text: &'v str, name: &str) -> Option<Cow<'v, str>> {
    let q = match text.split_once('?') {
        Some((_, q)) => q,
        None if !text.contains('/') => text,
        None => return None,
    };
    let q = q.split([' ', '#']).next().unwrap_or("");
    q.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name && !v.is_empty()).then(|| {
            if !v.contains(['%', '+']) {
                return Cow::Borrowed(v);
            }
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
                .into()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(text: &str) -> Compiled {
        let t: toml::Table = text.parse().unwrap();
        let spec = FormatSpec::parse(Kind::Deliveries, &t).unwrap().unwrap();
        Compiled::new(Kind::Deliveries, &spec, None).unwrap()
    }

    fn row(c: &Compiled, line: &str) -> Result<BTreeMap<String, Option<String>>, String> {
        let mut scratch = c.scratch();
        let mut cells = Vec::new();
        c.row(line, &mut scratch, |v| cells.push(v.map(str::to_string)))?;
        Ok(c.headers().into_iter().zip(cells).collect())
    }

    const SPEC: &str = r#"
format = "nginx"
log_format = '$msec $request_id "$request" $upstream_cache_status $hostname "$http_cookie" $body_bytes_sent'
[derive]
session_id = { from = "http_cookie", cookie = "sid" }
requested_stream_id = { from = "request", regex = '^GET /cam/(?P<v>[^/]+)/' }
cache_key = { from = "request", regex = '^GET (/[^ ?]+)' }
object_id = { from = "request", query = "obj" }
"#;

    #[test]
    fn a_line_becomes_contract_cells() {
        let c = compiled(SPEC);
        assert_eq!(
            c.headers(),
            [
                "ts",
                "session_id",
                "requested_stream_id",
                "cache_node",
                "cache_key",
                "cache_status",
                "request_id",
                "object_id",
                "bytes"
            ]
        );
        let r = row(&c, r#"1577318400.123 4f1c "GET /cam/cam-7/still.jpg?obj=o%201 HTTP/1.1" STALE edge-1 "a=1; sid=s-9" 5120"#).unwrap();
        let get = |k: &str| r[k].as_deref();
        assert_eq!(get("ts"), Some("1577318400123"));
        assert_eq!(get("session_id"), Some("s-9"));
        assert_eq!(get("requested_stream_id"), Some("cam-7"));
        assert_eq!(get("cache_key"), Some("/cam/cam-7/still.jpg"));
        assert_eq!(get("cache_status"), Some("hit"));
        assert_eq!(get("cache_node"), Some("edge-1"));
        assert_eq!(get("object_id"), Some("o 1"));
        assert_eq!(get("request_id"), Some("4f1c"));
        assert_eq!(get("bytes"), Some("5120"));
    }

    #[test]
    fn lines_without_what_is_required_say_which_column() {
        let c = compiled(SPEC);
        let e = row(
            &c,
            r#"1577318400.123 4f1c "GET /cam/cam-7/a HTTP/1.1" - edge-1 "sid=s" 1"#,
        )
        .unwrap_err();
        assert_eq!(e, "cache_status: \"upstream_cache_status\" is absent");
        let e = row(
            &c,
            r#"1577318400.123 4f1c "POST /x HTTP/1.1" MISS edge-1 "sid=s" 1"#,
        )
        .unwrap_err();
        assert!(
            e.starts_with("requested_stream_id: nothing in \"request\""),
            "{e}"
        );
        let e = row(
            &c,
            r#"soon 4f1c "GET /cam/c/a HTTP/1.1" MISS edge-1 "sid=s" 1"#,
        )
        .unwrap_err();
        assert!(e.contains("is not epoch seconds"), "{e}");
    }

    #[test]
    fn mapped_values_win_over_the_presets() {
        let t: toml::Table = SPEC.parse().unwrap();
        let spec = FormatSpec::parse(Kind::Deliveries, &t).unwrap().unwrap();
        let overrides = BTreeMap::from([(
            "cache_status".to_string(),
            BTreeMap::from([("STALE".to_string(), "miss".to_string())]),
        )]);
        let c = Compiled::new(Kind::Deliveries, &spec, Some(&overrides)).unwrap();
        let r = row(&c, r#"1.0 i "GET /cam/c/a HTTP/1.1" STALE e "sid=s" 1"#).unwrap();
        // Left as written, for the mapping's rewrite to turn into `miss`.
        assert_eq!(r["cache_status"].as_deref(), Some("STALE"));
    }

    #[test]
    fn varnish_synth_is_not_a_delivery() {
        let c = compiled(
            r#"
format = "varnishncsa"
log_format = '%{Varnish:vxid}x %t "%r" %{Varnish:handling}x %{VCL_Log:node}x %{Cookie}i'
[derive]
session_id = { from = "{Cookie}i", cookie = "sid" }
requested_stream_id = { from = "r", regex = 'https?://[^/]+/cam/([^/]+)/' }
cache_key = { from = "r", regex = '^GET (\S+)' }
cache_node = "{VCL_Log:node}x"
"#,
        );
        let line = |h: &str| {
            format!(
                r#"32770 [26/Dec/2019:08:00:00 +0800] "GET http://edge/cam/c1/s.jpg HTTP/1.1" {h} v1 sid=abc"#
            )
        };
        let r = row(&c, &line("pass")).unwrap();
        assert_eq!(r["cache_status"].as_deref(), Some("bypass"));
        assert_eq!(r["ts"].as_deref(), Some("1577318400000"));
        assert_eq!(r["request_id"].as_deref(), Some("32770"));
        assert_eq!(r["cache_key"].as_deref(), Some("http://edge/cam/c1/s.jpg"));
        let e = row(&c, &line("synth")).unwrap_err();
        assert!(
            e.starts_with("not a delivery: {Varnish:handling}x \"synth\""),
            "{e}"
        );
        assert_eq!(c.ts_resolution_ms(), Some(1000));
    }

    #[test]
    fn cookies_and_queries() {
        assert_eq!(cookie("a=1; sid=abc; b=", "sid"), Some("abc"));
        assert_eq!(cookie("a=1; b=", "b"), None);
        assert_eq!(
            query("GET /x?a=1&b=%2Fy HTTP/1.1", "b").as_deref(),
            Some("/y")
        );
        assert_eq!(query("a=1&b=2", "a").as_deref(), Some("1"));
        assert_eq!(query("/path/only", "a"), None);
    }
}
