//! Simulated time: the tick grid every event sits on, and fast renderers for the contract's timestamp forms.
//!
//! The simulation runs on one-minute ticks. Inside a tick, state changes
//! (sessions, ownership, grants, evictions, purges) happen in the control
//! phase, an app's login and its first request in the login phase, cache
//! misses and their fills in the fill phase, and cache hits in the hit phase.
//! The phases are more than the default 2 s tolerance apart, so no ordinary
//! delivery can be flipped by a neighbouring event; only the deliberately
//! placed boundary cases are.

/// One tick of simulated time.
pub const TICK_MS: i64 = 60_000;
pub const DAY_MS: i64 = 86_400_000;
/// Ticks in the simulated window: three days.
pub const TICKS: i64 = 3 * 1440;
/// 2019-12-30T00:00:00Z, the first instant of the window.
pub const WINDOW_START_MS: i64 = 1_577_664_000_000;
/// The zone named in dirty datasets for naive timestamps: UTC+8 all year (no daylight saving).
pub const NAIVE_ZONE: &str = "Asia/Shanghai";
pub const NAIVE_OFFSET_MS: i64 = 8 * 3_600_000;

/// Control phase: [1 s, 3 s) into the tick.
pub const CONTROL: (i64, i64) = (1_000, 3_000);
/// Login phase, where an app session's first start lies: [6 s, 8 s), more than the tolerance
/// past the control phase, so the first request that follows it flips nothing.
pub const LOGIN: (i64, i64) = (6_000, 8_000);
/// How long after its login an app sends its first request: a causal pair of the session log's
/// clock and the stream server's, as real apps show one.
pub const FIRST_REQUEST: (i64, i64) = (150, 1_000);
/// Fill phase (cache misses and their fills): [15 s, 20 s).
pub const FILL: (i64, i64) = (15_000, 20_000);
/// Hit phase (hits, live segments, clips): [30 s, 50 s).
pub const HIT: (i64, i64) = (30_000, 50_000);

/// The first millisecond of tick `k`.
pub fn tick_ms(k: i64) -> i64 {
    WINDOW_START_MS + k * TICK_MS
}

/// The tick an instant falls in.
pub fn tick_of(ms: i64) -> i64 {
    (ms - WINDOW_START_MS).div_euclid(TICK_MS)
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push_num(out: &mut String, v: i64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    while n > 0 {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let digits = buf.len() - i;
    if v < 0 {
        out.push('-');
    }
    for _ in digits..width {
        out.push('0');
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// `HH:MM:SS` of `rem` milliseconds into a day.
fn push_hms(out: &mut String, rem: i64) {
    push_num(out, rem / 3_600_000, 2);
    out.push(':');
    push_num(out, rem / 60_000 % 60, 2);
    out.push(':');
    push_num(out, rem / 1000 % 60, 2);
}

/// `YYYY-MM-DD<sep>HH:MM:SS.mmm` of an instant read on a clock `offset_ms` ahead of UTC.
fn push_wall(out: &mut String, ms: i64, offset_ms: i64, sep: char) {
    let local = ms + offset_ms;
    let days = local.div_euclid(DAY_MS);
    let rem = local.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    push_num(out, y, 4);
    out.push('-');
    push_num(out, m as i64, 2);
    out.push('-');
    push_num(out, d as i64, 2);
    out.push(sep);
    push_hms(out, rem);
    out.push('.');
    push_num(out, rem % 1000, 3);
}

/// RFC 3339 with milliseconds: `Z` when `offset_min` is `None`, else `+HH:MM`.
pub fn push_rfc3339(out: &mut String, ms: i64, offset_min: Option<i32>) {
    match offset_min {
        None => {
            push_wall(out, ms, 0, 'T');
            out.push('Z');
        }
        Some(off) => {
            push_wall(out, ms, off as i64 * 60_000, 'T');
            out.push(if off < 0 { '-' } else { '+' });
            let a = off.unsigned_abs() as i64;
            push_num(out, a / 60, 2);
            out.push(':');
            push_num(out, a % 60, 2);
        }
    }
}

/// Naive local time in [`NAIVE_ZONE`]: `YYYY-MM-DD HH:MM:SS.mmm`.
pub fn push_naive(out: &mut String, ms: i64) {
    push_wall(out, ms, NAIVE_OFFSET_MS, ' ');
}

pub fn push_epoch(out: &mut String, ms: i64) {
    push_num(out, ms, 1);
}

/// The Common Log Format time of nginx's `$time_local` on a UTC host: `30/Dec/2019:00:00:15 +0000`
/// (whole seconds, the milliseconds dropped as nginx drops them).
pub fn push_clf(out: &mut String, ms: i64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    push_num(out, d as i64, 2);
    out.push('/');
    out.push_str(MONTHS[(m as usize).clamp(1, 12) - 1]);
    out.push('/');
    push_num(out, y, 4);
    out.push(':');
    push_hms(out, rem);
    out.push_str(" +0000");
}

/// RFC 3339 UTC with milliseconds, the form of `first_leak`/`last_leak`.
pub fn utc(ms: i64) -> String {
    let mut s = String::with_capacity(24);
    push_rfc3339(&mut s, ms, None);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, FixedOffset, TimeZone};

    #[test]
    fn renders_agree_with_chrono() {
        for &ms in &[
            0i64,
            WINDOW_START_MS,
            WINDOW_START_MS + 123_456_789,
            951_782_400_123,
            -86_400_001,
        ] {
            let t = DateTime::from_timestamp_millis(ms).unwrap();
            assert_eq!(utc(ms), t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
            let mut s = String::new();
            push_rfc3339(&mut s, ms, Some(-330));
            let back = DateTime::parse_from_rfc3339(&s).unwrap();
            assert_eq!(back.timestamp_millis(), ms, "{s}");
            assert_eq!(back.offset(), &FixedOffset::west_opt(330 * 60).unwrap());
            let mut n = String::new();
            push_naive(&mut n, ms);
            let local = FixedOffset::east_opt(8 * 3600)
                .unwrap()
                .timestamp_millis_opt(ms)
                .unwrap();
            assert_eq!(n, local.format("%Y-%m-%d %H:%M:%S%.3f").to_string());
        }
        assert_eq!(utc(WINDOW_START_MS), "2019-12-30T00:00:00.000Z");
        for &ms in &[0i64, WINDOW_START_MS + 123_456_789, 951_782_400_123] {
            let mut clf = String::new();
            push_clf(&mut clf, ms);
            let t = DateTime::from_timestamp_millis(ms).unwrap();
            assert_eq!(clf, t.format("%d/%b/%Y:%H:%M:%S +0000").to_string());
        }
    }

    #[test]
    fn ticks_round_trip() {
        assert_eq!(tick_of(tick_ms(17) + 59_999), 17);
        assert_eq!(tick_of(tick_ms(-3)), -3);
    }
}
