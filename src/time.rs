//! Time normalisation: detect each column's timestamp form per file and turn values into UTC milliseconds.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// Milliseconds in an hour: the bin of every hourly count and coverage check.
pub const HOUR_MS: i64 = 3_600_000;

/// The earliest instant a log may carry: 0000-01-01T00:00:00Z, the first RFC 3339 can write.
pub const EARLIEST_MS: i64 = -62_167_219_200_000;
/// The latest: 9999-12-31T23:59:59.999Z. Bounding instants (and, in `settings`, durations and
/// clock corrections) keeps every sum of them far inside `i64` and inside chrono's calendar.
pub const LATEST_MS: i64 = 253_402_300_799_999;

/// Whether `ms` lies in the instants a log may carry.
pub fn in_range(ms: i64) -> bool {
    (EARLIEST_MS..=LATEST_MS).contains(&ms)
}

/// The three timestamp forms of the contract.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TimeForm {
    Rfc3339,
    EpochMs,
    Naive,
}

impl TimeForm {
    pub fn describe(self) -> &'static str {
        match self {
            TimeForm::Rfc3339 => "RFC 3339 with offset",
            TimeForm::EpochMs => "epoch milliseconds",
            TimeForm::Naive => "naive local time",
        }
    }
}

/// Why a timestamp value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeError {
    /// The value is not in the form detected for its column.
    WrongForm(TimeForm),
    /// A naive time in a dataset that names no time zone.
    NoTimezone,
    /// A naive time that the zone skips (daylight-saving gap).
    NonexistentLocal,
    /// Before year 0 or after year 9999.
    OutOfRange,
}

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeError::WrongForm(form) => write!(
                f,
                "not a valid timestamp in this column's form ({})",
                form.describe()
            ),
            TimeError::NoTimezone => f.write_str("naive time and no timezone"),
            TimeError::NonexistentLocal => {
                f.write_str("local time does not exist in the dataset's timezone")
            }
            TimeError::OutOfRange => f.write_str("outside the years 0000 to 9999"),
        }
    }
}

/// The integer part of an epoch-milliseconds value: digits, optionally signed, optionally
/// followed by a zero fraction (`1577318400000.0`, as pandas writes integers next to nulls).
fn epoch_digits(value: &str) -> Option<&str> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = int.strip_prefix('-').unwrap_or(int);
    let ok = !digits.is_empty()
        && digits.bytes().all(|c| c.is_ascii_digit())
        && frac.bytes().all(|c| c == b'0');
    ok.then_some(int)
}

/// The form a value looks like, judged by its shape only (it may still fail to parse).
pub fn classify(value: &str) -> Option<TimeForm> {
    let b = value.as_bytes();
    if epoch_digits(value).is_some() {
        return Some(TimeForm::EpochMs);
    }
    let looks_dated = b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':';
    if !looks_dated {
        return None;
    }
    let tail = &b[19..];
    let has_offset = tail.ends_with(b"Z")
        || tail.ends_with(b"z")
        || tail.iter().any(|&c| c == b'+' || c == b'-');
    Some(if has_offset {
        TimeForm::Rfc3339
    } else {
        TimeForm::Naive
    })
}

/// The form most values take; ties prefer RFC 3339, then epoch, then naive.
pub fn detect_form<'a>(values: impl Iterator<Item = &'a str>) -> Option<TimeForm> {
    let mut counts = FormCounts::default();
    counts.add(values);
    counts.winner()
}

/// How many values of a column look like each form, for a vote over a file read in parts.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormCounts([usize; 3]);

impl FormCounts {
    pub fn add<'a>(&mut self, values: impl Iterator<Item = &'a str>) {
        values.for_each(|v| self.count(v));
    }

    /// Counts one value.
    pub fn count(&mut self, v: &str) {
        if let Some(form) = classify(v) {
            self.0[form as usize] += 1;
        }
    }

    /// The form most values took; ties prefer RFC 3339, then epoch, then naive.
    pub fn winner(&self) -> Option<TimeForm> {
        let counts = self.0;
        let forms = [TimeForm::Rfc3339, TimeForm::EpochMs, TimeForm::Naive];
        let best = (0..3).max_by(|&a, &b| counts[a].cmp(&counts[b]).then(b.cmp(&a)))?;
        (counts[best] > 0).then_some(forms[best])
    }
}

/// Parses one value in its column's form to UTC epoch milliseconds (fractions truncated toward the past).
pub fn parse(value: &str, form: TimeForm, tz: Option<Tz>) -> Result<i64, TimeError> {
    let ms = parse_any(value, form, tz)?;
    if in_range(ms) {
        Ok(ms)
    } else {
        Err(TimeError::OutOfRange)
    }
}

fn parse_any(value: &str, form: TimeForm, tz: Option<Tz>) -> Result<i64, TimeError> {
    let wrong = TimeError::WrongForm(form);
    match form {
        TimeForm::EpochMs => epoch_digits(value)
            .and_then(|int| int.parse::<i64>().ok())
            .ok_or(wrong),
        TimeForm::Rfc3339 => {
            if classify(value) != Some(TimeForm::Rfc3339) {
                return Err(wrong);
            }
            parse_rfc3339(value).ok_or(wrong)
        }
        TimeForm::Naive => {
            if classify(value) != Some(TimeForm::Naive) {
                return Err(wrong);
            }
            let naive = parse_naive(value).ok_or(wrong)?;
            local_to_utc(&naive, tz.ok_or(TimeError::NoTimezone)?)
        }
    }
}

/// A naive local time in `tz` as UTC epoch milliseconds: of a time that happens twice (the hour
/// the clocks go back) the earlier, and an error for one the zone skips.
pub fn local_to_utc(naive: &NaiveDateTime, tz: Tz) -> Result<i64, TimeError> {
    match tz.from_local_datetime(naive) {
        LocalResult::Single(t) => Ok(t.timestamp_millis()),
        LocalResult::Ambiguous(early, _) => Ok(early.timestamp_millis()),
        LocalResult::None => Err(TimeError::NonexistentLocal),
    }
}

fn parse_rfc3339(value: &str) -> Option<i64> {
    // chrono's RFC 3339 reader takes `T`, `t` or a space between the date and the time itself;
    // only the general pattern below needs the `T`, and a copy of the text to put it in.
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.timestamp_millis());
    }
    let mut s = value.to_string();
    if s.as_bytes().get(10) == Some(&b' ') || s.as_bytes().get(10) == Some(&b't') {
        s.replace_range(10..11, "T");
    }
    // Offsets without a colon (`+0800`) are common in server logs.
    DateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|t| t.timestamp_millis())
}

fn parse_naive(value: &str) -> Option<NaiveDateTime> {
    let fmt = match value.as_bytes().get(10) {
        Some(b'T') => "%Y-%m-%dT%H:%M:%S%.f",
        Some(b't') => "%Y-%m-%dt%H:%M:%S%.f",
        _ => "%Y-%m-%d %H:%M:%S%.f",
    };
    NaiveDateTime::parse_from_str(value, fmt).ok()
}

/// How a real log writes its times (`docs/FORMATS.md`): a form fixed by the log's format, not
/// detected, since the vendor's format says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTime {
    /// Common Log Format, `10/Oct/2000:13:55:36 -0700` (nginx `$time_local`, varnishncsa `%t`).
    Clf,
    /// Epoch seconds, optionally with a fraction (nginx `$msec`: `1700000000.123`).
    EpochSeconds,
    EpochMillis,
    EpochMicros,
    EpochNanos,
    /// RFC 3339 with an offset (nginx `$time_iso8601`).
    Rfc3339,
    /// Epoch seconds, milliseconds, microseconds or nanoseconds told apart by their integer
    /// digits (up to 11, 12 to 14, 15 to 17, more), or RFC 3339: Cloudflare's `timestamp_format`
    /// may be any of `unix`, `unixnano` or `rfc3339`. For times after 1973, when seconds have ten
    /// digits, the four units cannot be confused.
    Auto,
    /// A strftime pattern (chrono's syntax); with `%z` or `%:z` it is absolute, without it the
    /// time is naive and read in the dataset's time zone.
    Pattern(TimePattern),
}

/// A strftime pattern compiled once, not read again at every line.
#[derive(Debug, Clone)]
pub struct TimePattern {
    text: String,
    items: Vec<chrono::format::Item<'static>>,
}

impl PartialEq for TimePattern {
    fn eq(&self, other: &TimePattern) -> bool {
        self.text == other.text
    }
}

impl Eq for TimePattern {}

/// The Common Log Format's time, `10/Oct/2000:13:55:36 -0700`.
static CLF: std::sync::LazyLock<TimePattern> =
    std::sync::LazyLock::new(|| TimePattern::new("%d/%b/%Y:%H:%M:%S %z"));

/// A Common Log Format time as servers write it, `10/Oct/2000:13:55:36 -0700` and nothing else
/// (two-digit day, the month's English abbreviation, seconds below 60), read without chrono's
/// general parser, which was a tenth of an access log's split. Anything else is left to that
/// parser: `None` here means only "not this exact shape".
fn clf(value: &str) -> Option<i64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let b: &[u8; 26] = value.as_bytes().try_into().ok()?;
    let num = |at: std::ops::Range<usize>| {
        b[at].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let punctuation = [
        (2, b'/'),
        (6, b'/'),
        (11, b':'),
        (14, b':'),
        (17, b':'),
        (20, b' '),
    ];
    if punctuation.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let month = MONTHS.iter().position(|m| b[3..6] == m[..])? as u32 + 1;
    let (hour, minute, second) = (num(12..14)?, num(15..17)?, num(18..20)?);
    let (off_h, off_m) = (num(22..24)?, num(24..26)?);
    if second > 59 || off_h > 23 || off_m > 59 {
        return None;
    }
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let local = chrono::NaiveDate::from_ymd_opt(num(7..11)? as i32, month, num(0..2)?)?
        .and_hms_opt(hour, minute, second)?
        .and_utc()
        .timestamp_millis();
    local.checked_sub(sign * i64::from(off_h * 3600 + off_m * 60) * 1000)
}

impl TimePattern {
    pub fn new(pattern: &str) -> TimePattern {
        // A pattern chrono cannot read matches no value, as chrono's own parse_from_str has it.
        let items = chrono::format::StrftimeItems::new(pattern)
            .parse_to_owned()
            .unwrap_or_else(|_| vec![chrono::format::Item::Error]);
        TimePattern {
            text: pattern.to_string(),
            items,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `DateTime::parse_from_str(value, pattern)`, the pattern already compiled.
    fn instant(&self, value: &str) -> Option<i64> {
        let mut parsed = chrono::format::Parsed::new();
        chrono::format::parse(&mut parsed, value, self.items.iter()).ok()?;
        parsed.to_datetime().ok().map(|t| t.timestamp_millis())
    }

    /// `NaiveDateTime::parse_from_str(value, pattern)`, the pattern already compiled.
    fn local(&self, value: &str) -> Option<NaiveDateTime> {
        let mut parsed = chrono::format::Parsed::new();
        chrono::format::parse(&mut parsed, value, self.items.iter()).ok()?;
        parsed.to_naive_datetime_with_offset(0).ok()
    }
}

/// A log time read: an instant, or a local time still to be placed in the dataset's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogInstant {
    Utc(i64),
    Local(NaiveDateTime),
}

impl LogTime {
    /// The form named in a mapping: `clf`, `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`,
    /// `rfc3339`, or a strftime pattern (anything with a `%`).
    pub fn from_name(name: &str) -> Option<LogTime> {
        Some(match name {
            "clf" => LogTime::Clf,
            "epoch_s" => LogTime::EpochSeconds,
            "epoch_ms" => LogTime::EpochMillis,
            "epoch_us" => LogTime::EpochMicros,
            "epoch_ns" => LogTime::EpochNanos,
            "rfc3339" => LogTime::Rfc3339,
            "auto" => LogTime::Auto,
            p if p.contains('%') => LogTime::Pattern(TimePattern::new(p)),
            _ => return None,
        })
    }

    /// The finest step the form can show, in milliseconds (1 for forms finer than that).
    pub fn resolution_ms(&self) -> i64 {
        match self {
            LogTime::Clf => 1000,
            LogTime::Pattern(p) if ["%.f", "%f", "%3f"].iter().all(|f| !p.as_str().contains(f)) => {
                1000
            }
            _ => 1,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            LogTime::Clf => "a Common Log Format time (10/Oct/2000:13:55:36 -0700)".into(),
            LogTime::EpochSeconds => "epoch seconds".into(),
            LogTime::EpochMillis => "epoch milliseconds".into(),
            LogTime::EpochMicros => "epoch microseconds".into(),
            LogTime::EpochNanos => "epoch nanoseconds".into(),
            LogTime::Rfc3339 => "an RFC 3339 time with offset".into(),
            LogTime::Auto => {
                "epoch seconds, milliseconds, microseconds, nanoseconds or RFC 3339".into()
            }
            LogTime::Pattern(p) => format!("a time in the pattern {:?}", p.as_str()),
        }
    }

    /// Reads one value; `None` when it is not in this form. Digits finer than a millisecond are
    /// truncated toward the past, as for the contract's forms.
    pub fn parse(&self, value: &str) -> Option<LogInstant> {
        let utc = |ns: i128| {
            i64::try_from(ns.div_euclid(1_000_000))
                .ok()
                .map(LogInstant::Utc)
        };
        match self {
            LogTime::Clf => clf(value)
                .or_else(|| CLF.instant(value))
                .map(LogInstant::Utc),
            LogTime::EpochSeconds => epoch_nanos(value, 9).and_then(utc),
            LogTime::EpochMillis => epoch_nanos(value, 6).and_then(utc),
            LogTime::EpochMicros => epoch_nanos(value, 3).and_then(utc),
            LogTime::EpochNanos => epoch_nanos(value, 0).and_then(utc),
            LogTime::Auto => {
                let int = value
                    .trim_start_matches('-')
                    .split('.')
                    .next()
                    .unwrap_or("");
                let form = match int.len() {
                    _ if !int.bytes().all(|c| c.is_ascii_digit()) => LogTime::Rfc3339,
                    0..=11 => LogTime::EpochSeconds,
                    12..=14 => LogTime::EpochMillis,
                    15..=17 => LogTime::EpochMicros,
                    _ => LogTime::EpochNanos,
                };
                form.parse(value)
            }
            LogTime::Rfc3339 => (classify(value) == Some(TimeForm::Rfc3339))
                .then(|| parse_rfc3339(value))
                .flatten()
                .map(LogInstant::Utc),
            LogTime::Pattern(p) if self.is_local() => p.local(value).map(LogInstant::Local),
            LogTime::Pattern(p) => p.instant(value).map(LogInstant::Utc),
        }
    }

    /// Whether its times are naive local times ([`LogInstant::Local`]): a strftime pattern
    /// without a zone. Every other form gives absolute times.
    pub fn is_local(&self) -> bool {
        match self {
            LogTime::Pattern(p) => !["%z", "%:z", "%#z"].iter().any(|z| p.as_str().contains(z)),
            _ => false,
        }
    }
}

/// An epoch value in a unit of 10^`shift` nanoseconds (9: seconds, 6: ms, 3: µs, 0: ns), with an
/// optional decimal fraction, as whole nanoseconds; read from the digits, never through a float.
fn epoch_nanos(value: &str, shift: u32) -> Option<i128> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    if int.is_empty() || int.len() > 30 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let unit = 10i128.pow(shift);
    let mut ns = int.parse::<i128>().ok()?.checked_mul(unit)?;
    // Fraction digits beyond a nanosecond cannot change a millisecond and are dropped.
    let mut scale = unit;
    for c in frac.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        ns = ns.checked_add(i128::from(c - b'0') * scale)?;
    }
    Some(if negative { -ns } else { ns })
}

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds, the one form leakscope writes.
pub fn format_ms(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        // The writer without a format string to parse: three times faster, and the same text
        // for the four-digit years a log may carry (a citation writes seven times per delivery).
        Some(t) if in_range(ms) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_formatter_writes_what_the_format_string_writes() {
        let slow = |ms: i64| {
            DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        };
        let mut ms = EARLIEST_MS;
        for k in 0..20_000u64 {
            for v in [
                ms,
                EARLIEST_MS + k as i64,
                LATEST_MS - k as i64,
                k as i64 * 999 - 5_000_000,
            ] {
                assert_eq!(format_ms(v), slow(v), "{v}");
            }
            ms = ms.saturating_add(12_670_011_999_937).min(LATEST_MS);
        }
        assert_eq!(format_ms(T + 1), "2019-12-26T00:00:00.001Z");
    }

    const T: i64 = 1_577_318_400_000; // 2019-12-26T00:00:00Z

    /// A compiled pattern reads every value as chrono's `parse_from_str` reads it with the text.
    #[test]
    fn compiled_patterns_read_as_chrono_reads_the_text() {
        let patterns = [
            "%d/%b/%Y:%H:%M:%S %z",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y/%m/%d %H:%M:%S%.f %:z",
            "%d.%m.%Y %H:%M",
            "%s",
            "%Q",
            "%Y-%m-%d",
        ];
        let values = [
            "26/Dec/2019:08:00:00 +0800",
            "26/Dec/2019:08:00:00",
            "31/Feb/2019:08:00:00 +0000",
            "2019-12-26 08:00:00.123",
            "2019/12/26 08:00:00.5 +01:00",
            "26.12.2019 08:00",
            "1577318400",
            "2019-12-26",
            "",
            "26/Dec/2019:08:00:00 +0800 trailing",
        ];
        for p in patterns {
            let compiled = TimePattern::new(p);
            for v in values {
                let instant = DateTime::parse_from_str(v, p)
                    .ok()
                    .map(|t| t.timestamp_millis());
                assert_eq!(compiled.instant(v), instant, "{p:?} {v:?}");
                let local = NaiveDateTime::parse_from_str(v, p).ok();
                assert_eq!(compiled.local(v), local, "{p:?} {v:?}");
            }
        }
        assert_eq!(CLF.instant(values[0]), Some(T));
    }

    /// The Common Log Format's own reader gives what chrono's parser gives for every value of
    /// its shape, and leaves every other value to it.
    #[test]
    fn common_log_times_read_as_chrono_reads_them() {
        let mut checked = 0;
        for year in [0, 1969, 1970, 2000, 2019, 2024, 9999] {
            for name in ["Jan", "Feb", "Mar", "Jun", "Dec"] {
                for day in [0, 1, 9, 28, 29, 30, 31, 32] {
                    for time in ["00:00:00", "13:55:36", "23:59:59", "24:00:00", "12:60:00"] {
                        for zone in ["+0000", "-0700", "+0800", "+2359", "-1230", "+0075"] {
                            let v = format!("{day:02}/{name}/{year:04}:{time} {zone}");
                            let chrono = DateTime::parse_from_str(&v, "%d/%b/%Y:%H:%M:%S %z")
                                .ok()
                                .map(|t| t.timestamp_millis());
                            assert_eq!(clf(&v).or_else(|| CLF.instant(&v)), chrono, "{v}");
                            checked += usize::from(clf(&v).is_some());
                        }
                    }
                }
            }
        }
        assert!(checked > 1000, "{checked}");
        for v in [
            "10/Oct/2000:13:55:36 -0700",
            "10/oct/2000:13:55:36 -0700",
            "10/October/2000:13:55:36 -0700",
            "1/Oct/2000:13:55:36 -0700",
            "10/Oct/2000:13:55:60 -0700",
            "10/Oct/2000:13:55:36 -07:00",
            "10/Oct/2000:13:55:36  -0700",
            "10/Oct/2000:13:55:36 *0700",
            "10/Oct/2000 13:55:36 -0700",
        ] {
            let chrono = DateTime::parse_from_str(v, "%d/%b/%Y:%H:%M:%S %z")
                .ok()
                .map(|t| t.timestamp_millis());
            let read = LogTime::Clf.parse(v).map(|i| match i {
                LogInstant::Utc(ms) => ms,
                LogInstant::Local(_) => unreachable!("a CLF time has its zone"),
            });
            assert_eq!(read, chrono, "{v}");
        }
        assert_eq!(clf("10/Oct/2000:13:55:36 -0700"), Some(971_211_336_000));
        assert_eq!(clf("10/oct/2000:13:55:36 -0700"), None);
    }

    #[test]
    fn three_forms_agree() {
        let shanghai = Some(chrono_tz::Asia::Shanghai);
        assert_eq!(
            parse("2019-12-26T08:00:00+08:00", TimeForm::Rfc3339, None),
            Ok(T)
        );
        assert_eq!(
            parse("2019-12-26T00:00:00Z", TimeForm::Rfc3339, None),
            Ok(T)
        );
        assert_eq!(
            parse("2019-12-26 00:00:00.123Z", TimeForm::Rfc3339, None),
            Ok(T + 123)
        );
        assert_eq!(
            parse("2019-12-26T08:00:00+0800", TimeForm::Rfc3339, None),
            Ok(T)
        );
        assert_eq!(parse("1577318400000", TimeForm::EpochMs, None), Ok(T));
        assert_eq!(parse("1577318400000.0", TimeForm::EpochMs, None), Ok(T));
        assert_eq!(
            parse("2019-12-26 08:00:00", TimeForm::Naive, shanghai),
            Ok(T)
        );
        assert_eq!(
            parse("2019-12-26 08:00:00.5", TimeForm::Naive, shanghai),
            Ok(T + 500)
        );
    }

    #[test]
    fn sub_millisecond_fractions_truncate_toward_the_past() {
        assert_eq!(
            parse("2019-12-26T00:00:00.1239Z", TimeForm::Rfc3339, None),
            Ok(T + 123)
        );
        assert_eq!(
            parse("1969-12-31T23:59:59.9995Z", TimeForm::Rfc3339, None),
            Ok(-1)
        );
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(
            parse("2019-12-26 08:00:00", TimeForm::Naive, None),
            Err(TimeError::NoTimezone)
        );
        assert_eq!(
            parse("1577318400000", TimeForm::Rfc3339, None),
            Err(TimeError::WrongForm(TimeForm::Rfc3339))
        );
        assert_eq!(
            parse("2019-13-26T08:00:00Z", TimeForm::Rfc3339, None),
            Err(TimeError::WrongForm(TimeForm::Rfc3339))
        );
        for bad in ["12.5", ".0", "1e12", "-"] {
            assert_eq!(
                parse(bad, TimeForm::EpochMs, None),
                Err(TimeError::WrongForm(TimeForm::EpochMs)),
                "{bad}"
            );
        }
        assert_eq!(parse("12.", TimeForm::EpochMs, None), Ok(12));
        assert_eq!(
            parse("9223372036854775000", TimeForm::EpochMs, None),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            parse(&LATEST_MS.to_string(), TimeForm::EpochMs, None),
            Ok(LATEST_MS)
        );
        assert_eq!(
            parse(&(EARLIEST_MS - 1).to_string(), TimeForm::EpochMs, None),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            parse("0000-01-01T00:00:00+00:01", TimeForm::Rfc3339, None),
            Err(TimeError::OutOfRange)
        );
        let ny = Some(chrono_tz::America::New_York);
        assert_eq!(
            parse("2021-03-14 02:30:00", TimeForm::Naive, ny),
            Err(TimeError::NonexistentLocal)
        );
        // 01:30 happens twice on 2021-11-07 in New York; the earlier (EDT, UTC-4) is taken.
        assert_eq!(
            parse("2021-11-07 01:30:00", TimeForm::Naive, ny),
            parse("2021-11-07T01:30:00-04:00", TimeForm::Rfc3339, None)
        );
    }

    #[test]
    fn majority_decides_the_form() {
        let vals = [
            "garbage",
            "1577318400000",
            "2019-12-26T00:00:00Z",
            "2019-12-26T00:00:01Z",
        ];
        assert_eq!(detect_form(vals.iter().copied()), Some(TimeForm::Rfc3339));
        assert_eq!(
            detect_form(["1", "2"].iter().copied()),
            Some(TimeForm::EpochMs)
        );
        assert_eq!(detect_form(["x"].iter().copied()), None);
        assert_eq!(
            detect_form(["1", "2019-12-26 08:00:00"].iter().copied()),
            Some(TimeForm::EpochMs)
        );
    }

    #[test]
    fn log_times_read_each_vendor_form() {
        let utc = |v: &str, f: LogTime| match f.parse(v) {
            Some(LogInstant::Utc(ms)) => Some(ms),
            _ => None,
        };
        // nginx's own example of $time_local, and the same instant in the other forms.
        assert_eq!(utc("26/Dec/2019:08:00:00 +0800", LogTime::Clf), Some(T));
        assert_eq!(utc("1577318400.123", LogTime::EpochSeconds), Some(T + 123));
        assert_eq!(utc("1577318400", LogTime::EpochSeconds), Some(T));
        assert_eq!(utc("1577318400.1239", LogTime::EpochSeconds), Some(T + 123));
        assert_eq!(utc("1577318400123", LogTime::EpochMillis), Some(T + 123));
        assert_eq!(utc("1577318400123999", LogTime::EpochMicros), Some(T + 123));
        // Beyond 2^53: a float would lose the last digits.
        assert_eq!(
            utc("1577318400123456789", LogTime::EpochNanos),
            Some(T + 123)
        );
        assert_eq!(utc("-0.0005", LogTime::EpochSeconds), Some(-1));
        assert_eq!(utc("2019-12-26T08:00:00+08:00", LogTime::Rfc3339), Some(T));
        let p = LogTime::from_name("%Y/%m/%d %H:%M:%S%.f %z").unwrap();
        assert_eq!(utc("2019/12/26 00:00:00.5 +0000", p), Some(T + 500));
        let naive = LogTime::from_name("%d.%m.%Y %H:%M").unwrap();
        assert!(matches!(
            naive.parse("26.12.2019 08:00"),
            Some(LogInstant::Local(_))
        ));
        for bad in ["", "1e9", "12:00", "1.2.3", "-"] {
            assert_eq!(LogTime::EpochSeconds.parse(bad), None, "{bad}");
        }
        assert_eq!(LogTime::Clf.parse("26/Dec/2019:08:00:00"), None);
        assert_eq!(LogTime::Clf.resolution_ms(), 1000);
        assert_eq!(LogTime::EpochSeconds.resolution_ms(), 1);
        assert_eq!(LogTime::from_name("tai64"), None);
        // Cloudflare's unix, unixnano and rfc3339 forms of one instant.
        for v in [
            "1577318400",
            "1577318400000000000",
            "2019-12-26T00:00:00Z",
            "1577318400000",
        ] {
            assert_eq!(utc(v, LogTime::Auto), Some(T), "{v}");
        }
        assert_eq!(utc("1577318400123456", LogTime::Auto), Some(T + 123));
        assert_eq!(LogTime::Auto.parse("soon"), None);
    }

    #[test]
    fn formats_utc_millis() {
        assert_eq!(format_ms(T + 5), "2019-12-26T00:00:00.005Z");
    }
}
