//! Server logs validated a block of lines at a time: each block split into cells and checked before the next is split, so a file's raw rows never stand in memory all at once.

use std::collections::BTreeMap;
use std::time::Duration;

use super::logs::{self, LogPlan};
use super::read::RawFile;
use super::text::TextRows;
use super::validate::{self, ValidatedFile};
use super::{sliced, Found};
use crate::formats::Compiled;
use crate::mapping::Mapping;
use crate::settings::Settings;
use crate::time::TimeForm;

/// Lines split and checked together: enough to keep both cores busy in each step, few enough
/// that their cells stay small beside the file's text.
pub(super) const LINES_PER_SLICE: usize = 1 << 17;

/// Reads a log file's text into validated rows, `per_slice` lines at a time; returns the rows
/// read and the result, equal to splitting the whole file and validating it at once.
///
/// A contract file's time forms are a vote over the whole file. A log's are not: each time
/// rule writes one form (see [`Compiled::time_forms`]), so they are known before any line is
/// split. Only the forms of columns that hold a value somewhere are reported, as the vote would.
/// A file that could fall to naive times without a zone, or that has no rows, is read whole:
/// the whole-file check words those cases.
pub(super) fn load_log(
    text: Vec<u8>,
    compiled: &Compiled,
    f: &Found,
    index: u32,
    mapping: &Mapping,
    settings: &Settings,
    per_slice: usize,
) -> (u64, ValidatedFile) {
    let text = logs::as_lines(text, compiled);
    let plan = LogPlan::new(&text, compiled);
    let columns = validate::timestamp_columns(f.kind, &plan.headers, mapping);
    let rules = compiled.time_forms();
    let fixed: BTreeMap<String, TimeForm> = columns
        .iter()
        .filter_map(|&(name, hi)| {
            let (_, form) = rules.iter().find(|(c, _)| *c == plan.headers[hi])?;
            Some((name.to_string(), *form))
        })
        .collect();
    let unzoned = settings.timezone.is_none() && fixed.values().any(|&f| f == TimeForm::Naive);
    if plan.is_empty() || unzoned || fixed.len() != columns.len() {
        let raw = RawFile::Text(plan.into_rows(text));
        let v = validate::validate(f.kind, &f.rel, index, &raw, mapping, settings);
        return (raw.len() as u64, v);
    }
    let forms = validate::TimeForms::new(f.kind, fixed, settings);
    let mut out = ValidatedFile {
        table: validate::table_for(f.kind, plan.len()),
        rejections: Vec::new(),
        forms: BTreeMap::new(),
        warnings: Vec::new(),
        normalise: Duration::ZERO,
    };
    let mut present = vec![false; columns.len()];
    let mut text = text;
    for start in (0..plan.len()).step_by(per_slice) {
        let rows = plan.split(&text, start..plan.len().min(start + per_slice));
        for (seen, &(_, hi)) in present.iter_mut().zip(&columns) {
            *seen = *seen
                || rows
                    .iter()
                    .any(|r| r.cells.as_ref().is_ok_and(|c| c.get(hi).is_some()));
        }
        // The slice quotes its rejected rows from the file's text, lent to it and given back.
        let raw = RawFile::Text(TextRows {
            headers: plan.headers.clone(),
            rows,
            text,
        });
        sliced::validate_slice(&mut out, None, f, index, &raw, mapping, settings, &forms);
        text = raw.into_text();
    }
    out.forms = columns
        .iter()
        .zip(&present)
        .filter(|(_, &seen)| seen)
        .filter_map(|(&(name, _), _)| Some((name.to_string(), *forms.forms.get(name)?)))
        .collect();
    (plan.len() as u64, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::FormatSpec;
    use crate::load::read::{Compression, Format};
    use crate::schema::Kind;

    fn compiled(derive_captured: &str) -> Compiled {
        let t: toml::Table = format!(
            r#"
format = "nginx"
log_format = '$msec $hostname "$request" $upstream_cache_status "$cookie_sid" $sent_http_x_captured_at'
[derive]
session_id = "cookie_sid"
requested_stream_id = {{ from = "request", regex = '^GET /cam/([^/]+)/' }}
cache_key = {{ from = "request", regex = '^GET (\S+)' }}
captured_at = {{ from = "sent_http_x_captured_at", {derive_captured} }}
"#
        )
        .parse()
        .unwrap();
        let spec = FormatSpec::parse(Kind::Deliveries, &t).unwrap().unwrap();
        Compiled::new(Kind::Deliveries, &spec, None).unwrap()
    }

    fn found() -> Found {
        Found {
            kind: Kind::Deliveries,
            path: "d/access.log".into(),
            rel: "deliveries/access.log".into(),
            format: Format::Log(crate::formats::LogFormat::Nginx),
            compression: Compression::None,
        }
    }

    /// Eleven lines: a broken one in the second slice, a bad time in the third, the capture
    /// time given only from the fourth slice on.
    fn text() -> Vec<u8> {
        let mut t = String::new();
        for i in 0..11 {
            let captured = if i >= 9 {
                format!("{}", 1_000 + i)
            } else {
                "-".into()
            };
            match i {
                4 => t.push_str("2.0 e1 broken\n"),
                7 => t.push_str("soon e1 \"GET /cam/a/x HTTP/1.1\" HIT \"s1\" -\n"),
                _ => t.push_str(&format!(
                    "{i}.5 e{} \"GET /cam/c{i}/x HTTP/1.1\" MISS \"s{i}\" {captured}\n",
                    i % 2
                )),
            }
            if i == 2 {
                t.push('\n');
            }
        }
        t.into_bytes()
    }

    /// A log read a few lines at a time gives what the whole file read and checked at once
    /// gives: rows, their lines and sources, rejections and the time forms of present columns.
    #[test]
    fn a_log_read_in_slices_equals_the_whole_file_checked_at_once() {
        let (m, s) = (Mapping::default(), Settings::default());
        let c = compiled(r#"time = "epoch_ms""#);
        let raw = RawFile::Text(logs::split_log(text(), &c));
        let whole = validate::validate(Kind::Deliveries, &found().rel, 2, &raw, &m, &s);
        for per_slice in [1, 3, 4, 11, 100] {
            let (read, sliced) = load_log(text(), &c, &found(), 2, &m, &s, per_slice);
            assert_eq!(read, 11);
            assert_eq!(sliced.table.len(), 9);
            assert_eq!(sliced.table.digest, whole.table.digest);
            assert_eq!(sliced.table.source, whole.table.source);
            assert_eq!(sliced.table.time("ts"), whole.table.time("ts"));
            assert_eq!(
                sliced.table.time("captured_at"),
                whole.table.time("captured_at")
            );
            assert_eq!(sliced.rejections, whole.rejections);
            assert_eq!(sliced.forms, whole.forms);
        }
        let lines: Vec<u64> = whole.rejections.iter().map(|r| r.line).collect();
        assert_eq!(lines, [6, 9]);
        assert_eq!(whole.forms["captured_at"], TimeForm::EpochMs);
    }

    /// A time column with no value in any line has no form, as under the whole-file vote; a
    /// naive pattern with no zone in dataset.toml is left to the whole-file check, which
    /// rejects every row and says why.
    #[test]
    fn forms_are_those_of_columns_present_and_unzoned_naive_times_are_read_whole() {
        let (m, s) = (Mapping::default(), Settings::default());
        let c = compiled(r#"time = "epoch_ms""#);
        let head: Vec<u8> = text()
            .split(|&b| b == b'\n')
            .take(4)
            .collect::<Vec<_>>()
            .join(&b'\n');
        let (_, sliced) = load_log(head, &c, &found(), 0, &m, &s, 2);
        assert_eq!(sliced.forms.keys().collect::<Vec<_>>(), ["ts"]);
        let naive = compiled(r#"time = "%Y%m%d%H%M%S""#);
        let local = String::from_utf8(text())
            .unwrap()
            .replace(" 1009\n", " 20191226000009\n")
            .replace(" 1010\n", " 20191226000010\n");
        let (read, v) = load_log(local.into_bytes(), &naive, &found(), 0, &m, &s, 2);
        assert_eq!(read, 11);
        assert_eq!(v.table.len(), 0);
        assert_eq!(v.rejections.len(), 11);
        assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
        assert!(v.warnings[0].contains("captured_at"));
    }
}
