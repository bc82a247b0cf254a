//! How the reports print numbers, shares, rates, durations and times: fixed rules, so output never varies.

use crate::time::format_ms;

/// A share in percent: one decimal from 1 % up, three below, `0%` for zero.
pub fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p == 0.0 {
        "0%".to_string()
    } else if p >= 1.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.3}%")
    }
}

/// `part / whole` as a percentage, `-` when the whole is zero.
pub fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_string()
    } else {
        pct(part as f64 / whole as f64)
    }
}

/// `1 account`, `2 accounts`: a count with its noun.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A risk ratio: `12.3x`, `1234x` above 1000.
pub fn ratio(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}x")
    } else {
        format!("{x:.1}x")
    }
}

/// Leaks per 1000 deliveries.
pub fn per_mille(rate: f64) -> String {
    format!("{:.2} per 1000", rate * 1000.0)
}

/// A duration as `1 d 2 h 5 min`, `3 min 20 s` or `850 ms`, negative with a leading minus.
pub fn duration(ms: i64) -> String {
    if ms < 0 {
        return format!("-{}", duration(-ms));
    }
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let s = ms / 1000;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "min"), (sec, "s")]
        .iter()
        .skip_while(|(v, _)| *v == 0)
        .take(3)
        .filter(|(v, _)| *v > 0)
        .map(|(v, u)| format!("{v} {u}"))
        .collect();
    parts.join(" ")
}

/// A time as RFC 3339 UTC with milliseconds, as in leaks.csv.
pub fn time(ms: i64) -> String {
    format_ms(ms)
}

/// An hour (or bin) start without seconds: `2019-12-26 08:00 UTC`.
pub fn hour(ms: i64) -> String {
    let t = format_ms(ms);
    match t.get(0..16) {
        Some(x) => format!("{} UTC", x.replace('T', " ")),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(pct(0.5), "50.0%");
        assert_eq!(count(1, "account", "accounts"), "1 account");
        assert_eq!(count(0, "account", "accounts"), "0 accounts");
        assert_eq!(pct(0.00012), "0.012%");
        assert_eq!(share(1, 0), "-");
        assert_eq!(ratio(3.04), "3.0x");
        assert_eq!(ratio(12345.6), "12346x");
        assert_eq!(duration(73_200_000), "20 h 20 min");
        assert_eq!(duration(90_061_000), "1 d 1 h 1 min");
        assert_eq!(duration(-5_000), "-5 s");
        assert_eq!(duration(0), "0 ms");
        assert_eq!(hour(1_577_347_200_000), "2019-12-26 08:00 UTC");
    }
}
