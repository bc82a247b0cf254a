//! Access-log format strings (nginx `log_format`, varnishncsa `-F`, a W3C `#Fields:` directive, the fields of a JSON line) compiled once into a matcher that splits a line into its fields.

use std::borrow::Cow;

/// How the server escaped the values it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Escape {
    /// Backslash escapes: nginx's default and `escape=json` (`\x22`, `\"`, `\u0022`), and
    /// varnishncsa's (`\"`, `\\`, `\t`, `\xnn`). A backslash never ends a field.
    Backslash,
    /// nginx `escape=none`: values as they were, so a field ends at the first text that follows it.
    None,
    /// W3C extended logs as CloudFront writes them: values URL-encoded (`%20`, and `%2520` for a
    /// `%20` the client sent), decoded once.
    Percent,
}

/// The field W3C logs get for their `date` and `time` columns read together, in RFC 3339.
pub const W3C_DATETIME: &str = "date time";

/// The field Google Cloud Logging entries get for their cache outcome, from
/// `httpRequest.cacheLookup` and `httpRequest.cacheHit` (false booleans are left out of an
/// entry): `hit`, `miss`, or `bypass` when the cache was not looked up.
pub const GCP_CACHE: &str = "httpRequest cache";
const GCP_LOOKUP: &str = "httpRequest.cacheLookup";
const GCP_HIT: &str = "httpRequest.cacheHit";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field(usize),
}

/// A compiled format string: literal text and the fields between it, or for W3C logs, fields
/// separated by tabs (CloudFront) or spaces (the W3C draft).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePattern {
    /// Empty for W3C and JSON logs, whose fields are delimited or named rather than framed by
    /// literals.
    pieces: Vec<Piece>,
    /// For JSON lines: the fields' paths of keys (`Cookies.sid` is `["Cookies", "sid"]`).
    paths: Option<super::json::Paths>,
    /// Field names in the order they appear (nginx: the variable without `$`; varnishncsa: the
    /// formatter without `%`, e.g. `t`, `{Cookie}i`, `{Varnish:handling}x`).
    fields: Vec<String>,
    escape: Escape,
}

impl LinePattern {
    /// Compiles an nginx `log_format` string.
    pub fn nginx(format: &str, escape: Escape) -> Result<LinePattern, String> {
        let mut b = Builder::default();
        let mut rest = format;
        while let Some(at) = rest.find('$') {
            b.literal(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, used) = if let Some(braced) = after.strip_prefix('{') {
                let end = braced
                    .find('}')
                    .ok_or_else(|| format!("log_format: unclosed ${{ at {:?}", &rest[at..]))?;
                (&braced[..end], end + 2)
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            if name.is_empty() {
                return Err(format!(
                    "log_format: a '$' with no variable name at {:?}",
                    &rest[at..]
                ));
            }
            b.field(name)?;
            rest = &after[used..];
        }
        b.literal(rest);
        b.finish(escape)
    }

    /// Compiles a varnishncsa `-F` format string.
    pub fn varnishncsa(format: &str) -> Result<LinePattern, String> {
        let mut b = Builder::default();
        let mut lit = String::new();
        let mut chars = format.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 't')) => lit.push('\t'),
                    Some((_, 'n')) => lit.push('\n'),
                    Some((_, o)) => lit.push(o),
                    None => lit.push('\\'),
                },
                '%' => {
                    let (name, letter) = match chars.next() {
                        Some((_, '%')) => {
                            lit.push('%');
                            continue;
                        }
                        Some((start, '{')) => {
                            let end =
                                format[start..]
                                    .find('}')
                                    .map(|e| start + e)
                                    .ok_or_else(|| {
                                        format!("varnishncsa format: unclosed %{{ at byte {at}")
                                    })?;
                            while chars.peek().is_some_and(|&(i, _)| i <= end) {
                                chars.next();
                            }
                            let letter = chars.next().map(|(_, l)| l).ok_or_else(|| {
                                format!("varnishncsa format: %{{...}} at byte {at} has no formatter letter")
                            })?;
                            if !matches!(letter, 'i' | 'o' | 't' | 'x' | 'T') {
                                return Err(format!(
                                    "varnishncsa format: %{{...}}{letter} at byte {at} is not a formatter (expected i, o, t, x or T)"
                                ));
                            }
                            (format!("{}{letter}", &format[start..=end]), letter)
                        }
                        Some((_, l)) if "bDHhIlmOqrsTtUu".contains(l) => (l.to_string(), l),
                        Some((_, l)) => {
                            return Err(format!(
                                "varnishncsa format: %{l} at byte {at} is not a formatter"
                            ))
                        }
                        None => return Err("varnishncsa format: it ends in a lone %".into()),
                    };
                    b.literal(&std::mem::take(&mut lit));
                    // `%t` writes its own brackets: `[10/Oct/2000:13:55:36 -0700]`.
                    if name == "t" && letter == 't' {
                        b.literal("[");
                        b.field(&name)?;
                        lit.push(']');
                    } else {
                        b.field(&name)?;
                    }
                }
                c => lit.push(c),
            }
        }
        b.literal(&lit);
        b.finish(Escape::Backslash)
    }

    /// Compiles the field list of a W3C `#Fields:` directive (the text after `#Fields:`). With
    /// `date` and `time` among them, a field [`W3C_DATETIME`] holds both as one UTC time.
    pub fn w3c(directive: &str) -> Result<LinePattern, String> {
        let mut fields: Vec<String> = directive.split_whitespace().map(str::to_string).collect();
        if fields.is_empty() {
            return Err("the #Fields directive names no fields".into());
        }
        if let Some(dup) = fields
            .iter()
            .enumerate()
            .find(|(i, f)| fields[..*i].contains(f))
        {
            return Err(format!("the #Fields directive names {:?} twice", dup.1));
        }
        if fields.iter().any(|f| f == "date") && fields.iter().any(|f| f == "time") {
            fields.push(W3C_DATETIME.to_string());
        }
        Ok(LinePattern {
            pieces: Vec::new(),
            paths: None,
            fields,
            escape: Escape::Percent,
        })
    }

    /// A JSON object per line, its fields named by key paths with dots (`Cookies.sid`).
    pub fn json(mut fields: Vec<String>) -> LinePattern {
        if fields.iter().any(|f| f == GCP_CACHE) {
            for f in [GCP_LOOKUP, GCP_HIT] {
                if !fields.iter().any(|x| x == f) {
                    fields.push(f.to_string());
                }
            }
        }
        LinePattern {
            pieces: Vec::new(),
            // A derived field has no path, so no key of a line matches it.
            paths: Some(super::json::Paths::new(
                &fields
                    .iter()
                    .map(|f| match f.as_str() {
                        GCP_CACHE => Vec::new(),
                        f => f.split('.').map(str::to_string).collect(),
                    })
                    .collect::<Vec<_>>(),
            )),
            fields,
            escape: Escape::None,
        }
    }

    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The position of a field by its name (the first, if the format names it twice).
    pub fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == name)
    }

    /// Splits a line into one value per field, unescaped; `-` and empty are absent. An `Err` says
    /// where the line stopped matching the format.
    pub fn split<'a>(
        &self,
        line: &'a str,
        out: &mut Vec<Option<Cow<'a, str>>>,
    ) -> Result<(), String> {
        out.clear();
        out.resize(self.fields.len(), None);
        if let Some(paths) = &self.paths {
            return self.split_json(line, paths, out);
        }
        if self.pieces.is_empty() {
            return self.split_delimited(line, out);
        }
        let mut at = 0;
        let mut pieces = self.pieces.iter().peekable();
        while let Some(piece) = pieces.next() {
            match piece {
                Piece::Literal(lit) => {
                    if !line[at..].starts_with(lit.as_str()) {
                        return Err(format!(
                            "expected {lit:?} at character {} of the line",
                            line[..at].chars().count() + 1
                        ));
                    }
                    at += lit.len();
                }
                Piece::Field(i) => {
                    let end = match pieces.peek() {
                        Some(Piece::Literal(next)) => {
                            self.find(line, at, next).ok_or_else(|| {
                                format!(
                                "the line ends inside the field {:?} (expected {next:?} after it)",
                                self.fields[*i]
                            )
                            })?
                        }
                        _ => line.len(),
                    };
                    out[*i] = present(&line[at..end], self.escape);
                    at = end;
                }
            }
        }
        if at < line.len() {
            return Err(format!(
                "text after the end of the format at character {}: {:?}",
                line[..at].chars().count() + 1,
                &line[at..]
            ));
        }
        Ok(())
    }

    fn split_delimited<'a>(
        &self,
        line: &'a str,
        out: &mut [Option<Cow<'a, str>>],
    ) -> Result<(), String> {
        let declared = self.fields.len() - usize::from(self.has_datetime());
        let sep = if line.contains('\t') { '\t' } else { ' ' };
        let (mut values, mut stray) = (0, false);
        for raw in line.split(sep) {
            // `out` has a slot for every declared field (and one more for the date and time).
            if values < declared {
                out[values] = present(raw, self.escape);
            } else {
                stray = values == declared && raw.is_empty();
            }
            values += 1;
        }
        // CloudFront's own sample file ends a line with a stray tab.
        if stray && values == declared + 1 {
            values -= 1;
        }
        if values != declared {
            return Err(format!(
                "{values} values for the {declared} fields of the #Fields directive"
            ));
        }
        if self.has_datetime() {
            let at = |name: &str| self.field(name).and_then(|i| out[i].as_deref());
            if let (Some(d), Some(t)) = (at("date"), at("time")) {
                let both = format!("{d}T{t}Z");
                out[declared] = Some(Cow::Owned(both));
            }
        }
        Ok(())
    }

    /// Numbers are read as their digits (an integer of nanoseconds stays exact), booleans as
    /// `true`/`false`; null and `""` are absent.
    fn split_json<'a>(
        &self,
        line: &'a str,
        paths: &super::json::Paths,
        out: &mut [Option<Cow<'a, str>>],
    ) -> Result<(), String> {
        super::json::pick(line, paths, &self.fields, out)?;
        if let Some(cache) = self.field(GCP_CACHE) {
            let is_true = |name: &str| {
                self.field(name)
                    .is_some_and(|i| out[i].as_deref() == Some("true"))
            };
            out[cache] = Some(Cow::Borrowed(
                match (is_true(GCP_LOOKUP), is_true(GCP_HIT)) {
                    (_, true) => "hit",
                    (true, false) => "miss",
                    (false, false) => "bypass",
                },
            ));
        }
        Ok(())
    }

    fn has_datetime(&self) -> bool {
        self.fields.last().is_some_and(|f| f == W3C_DATETIME)
    }

    /// Where the field that starts at `from` ends: the next `lit` not inside a backslash escape.
    fn find(&self, line: &str, from: usize, lit: &str) -> Option<usize> {
        if self.escape == Escape::None {
            return line[from..].find(lit).map(|i| from + i);
        }
        let (bytes, lit) = (line.as_bytes(), lit.as_bytes());
        let first = *lit.first()?;
        let mut i = from;
        // Only a backslash or the literal's first byte can change the outcome, so the scan
        // jumps between them rather than trying the literal at every byte.
        while let Some(at) = bytes
            .get(i..)
            .and_then(|rest| memchr::memchr2(b'\\', first, rest))
        {
            i += at;
            if bytes[i] == b'\\' {
                i += 2;
                continue;
            }
            if bytes[i..].starts_with(lit) {
                return Some(i);
            }
            i += 1;
        }
        None
    }
}

/// A field's value: absent when empty or `-` (what nginx and Varnish write for a value they do
/// not have), else unescaped.
fn present(raw: &str, escape: Escape) -> Option<Cow<'_, str>> {
    if raw.is_empty() || raw == "-" {
        return None;
    }
    match escape {
        Escape::Percent if raw.contains('%') => Some(
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned()
                .into(),
        ),
        Escape::Backslash if raw.contains('\\') => Some(Cow::Owned(unescape(raw))),
        _ => Some(Cow::Borrowed(raw)),
    }
}

/// Undoes `\xHH`, `\uHHHH`, `\"`, `\\`, `\n`, `\r`, `\t`, `\b` and `\f`; anything else is kept as written.
fn unescape(raw: &str) -> String {
    let mut bytes = Vec::with_capacity(raw.len());
    let b = raw.as_bytes();
    let hex = |s: &[u8]| {
        std::str::from_utf8(s)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 >= b.len() {
            bytes.push(b[i]);
            i += 1;
            continue;
        }
        let simple = match b[i + 1] {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            _ => None,
        };
        if let Some(c) = simple {
            bytes.push(c);
            i += 2;
        } else if b[i + 1] == b'x' && i + 4 <= b.len() && hex(&b[i + 2..i + 4]).is_some() {
            bytes.extend(hex(&b[i + 2..i + 4]).map(|v| v as u8));
            i += 4;
        } else if let Some(ch) = (b[i + 1] == b'u' && i + 6 <= b.len())
            .then(|| hex(&b[i + 2..i + 6]).and_then(char::from_u32))
            .flatten()
        {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            i += 6;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[derive(Default)]
struct Builder {
    pieces: Vec<Piece>,
    fields: Vec<String>,
}

impl Builder {
    fn literal(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        match self.pieces.last_mut() {
            Some(Piece::Literal(l)) => l.push_str(s),
            _ => self.pieces.push(Piece::Literal(s.to_string())),
        }
    }

    fn field(&mut self, name: &str) -> Result<(), String> {
        if let Some(Piece::Field(prev)) = self.pieces.last() {
            return Err(format!(
                "{:?} follows {:?} with nothing between them, so a line cannot be split between the two",
                name, self.fields[*prev]
            ));
        }
        self.fields.push(name.to_string());
        self.pieces.push(Piece::Field(self.fields.len() - 1));
        Ok(())
    }

    fn finish(self, escape: Escape) -> Result<LinePattern, String> {
        if self.fields.is_empty() {
            return Err("the format names no fields".into());
        }
        Ok(LinePattern {
            pieces: self.pieces,
            paths: None,
            fields: self.fields,
            escape,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;

    fn split(p: &LinePattern, line: &str) -> Result<Vec<Option<String>>, String> {
        let mut out = Vec::new();
        p.split(line, &mut out)?;
        Ok(out.into_iter().map(|v| v.map(Cow::into_owned)).collect())
    }

    #[test]
    fn nginx_combined_splits_a_documented_line() {
        let p = LinePattern::nginx(COMBINED, Escape::Backslash).unwrap();
        assert_eq!(
            p.fields(),
            [
                "remote_addr",
                "remote_user",
                "time_local",
                "request",
                "status",
                "body_bytes_sent",
                "http_referer",
                "http_user_agent"
            ]
        );
        // From nginx's documentation of the combined format, as logged.
        let v = split(&p, r#"85.181.35.98 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot HTTP/1.1" 200 571 "-" "Mozilla/5.0 (Macintosh) \x22quoted\x22""#).unwrap();
        assert_eq!(v[0].as_deref(), Some("85.181.35.98"));
        assert_eq!(v[1], None);
        assert_eq!(v[2].as_deref(), Some("07/Dec/2016:11:05:07 +0100"));
        assert_eq!(v[3].as_deref(), Some("GET /ocelot HTTP/1.1"));
        assert_eq!(v[5].as_deref(), Some("571"));
        assert_eq!(v[6], None);
        assert_eq!(v[7].as_deref(), Some("Mozilla/5.0 (Macintosh) \"quoted\""));
        assert_eq!(p.field("status"), Some(4));
    }

    #[test]
    fn lines_that_do_not_fit_say_where() {
        let p = LinePattern::nginx(COMBINED, Escape::Backslash).unwrap();
        let e = split(&p, "85.181.35.98 - - 07/Dec/2016").unwrap_err();
        assert!(
            e.contains("expected \" [\"") || e.contains("ends inside"),
            "{e}"
        );
        let e = split(
            &p,
            r#"1.2.3.4 - - [07/Dec/2016:11:05:07 +0100] "GET / HTTP/1.1" 200 5 "-" "ua" extra"#,
        )
        .unwrap_err();
        assert!(e.contains("text after the end"), "{e}");
    }

    #[test]
    fn json_escaped_quotes_do_not_end_a_field() {
        let p = LinePattern::nginx(
            r#"{"uri":"$request_uri","sid":"${cookie_sid}x"}"#,
            Escape::Backslash,
        )
        .unwrap();
        let v = split(&p, r#"{"uri":"/a\"b\u00e9","sid":"s1x"}"#).unwrap();
        assert_eq!(v[0].as_deref(), Some("/a\"bé"));
        assert_eq!(v[1].as_deref(), Some("s1"));
        let raw = LinePattern::nginx(r#"$uri "$args""#, Escape::None).unwrap();
        assert_eq!(
            split(&raw, r#"/a\x22 "q""#).unwrap()[0].as_deref(),
            Some(r"/a\x22")
        );
    }

    #[test]
    fn bad_format_strings_are_refused() {
        assert!(LinePattern::nginx("$a$b", Escape::Backslash)
            .unwrap_err()
            .contains("nothing between"));
        assert!(LinePattern::nginx("no fields", Escape::Backslash).is_err());
        assert!(LinePattern::nginx("${open", Escape::Backslash).is_err());
        assert!(LinePattern::varnishncsa("%h %Z")
            .unwrap_err()
            .contains("%Z"));
        assert!(LinePattern::varnishncsa("%{Host").is_err());
    }

    #[test]
    fn w3c_fields_follow_the_directive_and_decode_once() {
        let p = LinePattern::w3c(
            "date time x-edge-location cs-uri-stem cs(User-Agent) x-edge-result-type",
        )
        .unwrap();
        assert_eq!(p.field(W3C_DATETIME), Some(6));
        // From CloudFront's documented sample, its user agent URL-encoded.
        let v = split(&p, "2019-12-04\t21:02:31\tLAX1\t/index.html\tMozilla/5.0%20(Windows%20NT%2010.0)%2520\tHit").unwrap();
        assert_eq!(v[2].as_deref(), Some("LAX1"));
        assert_eq!(v[4].as_deref(), Some("Mozilla/5.0 (Windows NT 10.0)%20"));
        assert_eq!(v[6].as_deref(), Some("2019-12-04T21:02:31Z"));
        let e = split(&p, "2019-12-04\t21:02:31\tLAX1").unwrap_err();
        assert_eq!(e, "3 values for the 6 fields of the #Fields directive");
        let spaced = split(&p, "2019-12-04 21:02:31 LAX1 /a - Miss").unwrap();
        assert_eq!(spaced[4], None);
        assert!(LinePattern::w3c("date date").unwrap_err().contains("twice"));
        assert_eq!(
            LinePattern::w3c("cs-uri-stem").unwrap().fields(),
            ["cs-uri-stem"]
        );
    }

    #[test]
    fn json_lines_are_read_by_key_paths() {
        let p = LinePattern::json(vec![
            "RayID".into(),
            "EdgeStartTimestamp".into(),
            "Cookies.sid".into(),
            "CacheTieredFill".into(),
            "ClientIP".into(),
        ]);
        // Cloudflare's documented sample, with a configured cookie field.
        let v = split(&p, r#"{"ClientIP":"","EdgeStartTimestamp":1506702504433000200,"RayID":"3a6050bcbe121a87","Cookies":{"sid":"s-1"},"CacheTieredFill":false}"#).unwrap();
        assert_eq!(v[0].as_deref(), Some("3a6050bcbe121a87"));
        assert_eq!(v[1].as_deref(), Some("1506702504433000200"));
        assert_eq!(v[2].as_deref(), Some("s-1"));
        assert_eq!(v[3].as_deref(), Some("false"));
        assert_eq!(v[4], None);
        assert!(split(&p, "[1]").unwrap_err().contains("not a JSON object"));
        assert!(split(&p, "{\"RayID\": 1")
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(split(&p, r#"{"RayID":{"a":1}}"#)
            .unwrap_err()
            .contains("holds an object"));
    }

    #[test]
    fn gcp_entries_say_their_cache_outcome_by_the_booleans_they_carry() {
        let p = LinePattern::json(vec!["insertId".into(), GCP_CACHE.into()]);
        let status = |line: &str| split(&p, line).unwrap()[1].clone();
        // From the Cloud CDN documentation's cache-hit entry, abridged.
        assert_eq!(status(r#"{"insertId":"1oek5rg3l3fxj7","httpRequest":{"status":304,"cacheHit":true,"cacheLookup":true}}"#).as_deref(), Some("hit"));
        assert_eq!(
            status(r#"{"insertId":"a","httpRequest":{"cacheLookup":true,"cacheFillBytes":"157"}}"#)
                .as_deref(),
            Some("miss")
        );
        assert_eq!(
            status(r#"{"insertId":"a","httpRequest":{"status":200}}"#).as_deref(),
            Some("bypass")
        );
        assert_eq!(p.fields().len(), 4);
    }

    #[test]
    fn varnishncsa_default_format_and_extensions() {
        let p = LinePattern::varnishncsa(
            r#"%h %l %u %t "%r" %s %b "%{Referer}i" "%{User-agent}i" %{Varnish:handling}x"#,
        )
        .unwrap();
        assert_eq!(p.field("t"), Some(3));
        assert_eq!(p.field("{Varnish:handling}x"), Some(9));
        let v = split(&p, r#"127.0.0.1 - - [12/Feb/2026:14:03:07 +0100] "GET http://localhost/1?foo=bar HTTP/1.1" 200 100 "-" "curl \"x\"" hit"#).unwrap();
        assert_eq!(v[3].as_deref(), Some("12/Feb/2026:14:03:07 +0100"));
        assert_eq!(
            v[4].as_deref(),
            Some("GET http://localhost/1?foo=bar HTTP/1.1")
        );
        assert_eq!(v[8].as_deref(), Some("curl \"x\""));
        assert_eq!(v[9].as_deref(), Some("hit"));
        let tabs = LinePattern::varnishncsa(r"%{sec}t\t100%% %U").unwrap();
        assert_eq!(
            split(&tabs, "1577318400\t100% /a").unwrap()[1].as_deref(),
            Some("/a")
        );
    }
}
