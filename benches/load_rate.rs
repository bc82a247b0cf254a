//! Load rate: rows per second for a 10^6-row deliveries file in each supported format, the
//! contract's and the servers' own (nginx with `$msec` and with `$time_local`, varnishncsa, W3C as CloudFront writes it, Cloudflare Logpush, Google Cloud Logging; the same
//! deliveries, read through a mapping file).
//!
//! Run with `cargo bench --bench load_rate` (set `LOAD_RATE_ROWS` for another size,
//! `LOAD_RATE_FORMATS=csv,jsonl` for some formats only, and `LOAD_RATE_RUNS` for more timed
//! loads than three).
//! Each format is loaded that many times after one warm-up; the median is printed, with its rate
//! as a share of CSV's in the same run when CSV is measured (it is first).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use leakscope::load::{load, LoadOptions};
use leakscope::schema::Kind;
use polars::prelude::*;

// The command line's allocator, so that a rate is the one a run sees: the readers' many
// short-lived cells cost much more under the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HEADER: [&str; 16] = [
    "ts",
    "session_id",
    "requested_stream_id",
    "cache_node",
    "cache_key",
    "cache_status",
    "request_id",
    "object_id",
    "origin_stream_id",
    "captured_at",
    "kind",
    "bytes",
    "viewed",
    "server",
    "rtt_ms",
    "loss_pct",
];

/// A deterministic delivery row; every fourth names its own origin, like a segment served on a miss.
fn row(i: u64) -> [String; 16] {
    let t = 1_577_318_400_000 + (i * 86_400) % 86_400_000;
    let named = i.is_multiple_of(4);
    let opt = |b: bool, s: String| if b { s } else { String::new() };
    [
        t.to_string(),
        format!("s{}", i % 20_000),
        format!("c{}", i % 10_000),
        format!("n{}", i % 8),
        format!("c{}/still", i % 10_000),
        if named { "miss" } else { "hit" }.to_string(),
        format!("r{i}"),
        opt(named, format!("o{i}")),
        opt(named, format!("c{}", i % 10_000)),
        opt(named, (t - 100).to_string()),
        if named { "segment" } else { "still" }.to_string(),
        (100 + i % 90_000).to_string(),
        i.is_multiple_of(3).to_string(),
        format!("srv{}", i % 4),
        (5 + i % 900).to_string(),
        format!("{:.2}", (i % 1000) as f64 / 100.0),
    ]
}

fn write_text(dir: &Path, name: &str, rows: u64, jsonl: bool, compress: Option<&str>) {
    let mut text = Vec::with_capacity(rows as usize * 160);
    if !jsonl {
        text.extend(HEADER.join(",").into_bytes());
        text.push(b'\n');
    }
    for i in 0..rows {
        let r = row(i);
        if jsonl {
            let obj: serde_json::Map<String, serde_json::Value> = HEADER
                .iter()
                .zip(r)
                .filter(|(_, v)| !v.is_empty())
                .map(|(h, v)| (h.to_string(), serde_json::Value::String(v)))
                .collect();
            text.extend(serde_json::Value::Object(obj).to_string().into_bytes());
        } else {
            text.extend(r.join(",").into_bytes());
        }
        text.push(b'\n');
    }
    let bytes = match compress {
        Some("gz") => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&text).expect("gzip in memory");
            e.finish().expect("gzip in memory")
        }
        Some(_) => zstd::encode_all(text.as_slice(), 3).expect("zstd in memory"),
        None => text,
    };
    std::fs::write(dir.join(name), bytes).expect("write bench file");
}

/// Where nginx's fields hold the contract's columns, whichever time it writes.
const NGINX_DERIVE: &str = r#"session_id = "cookie_sid"
requested_stream_id = { from = "request", regex = '^GET /cam/([^/]+)/' }
cache_key = { from = "request", regex = '^GET /cam/([^? ]+)' }
object_id = { from = "request", query = "obj" }"#;

/// The same deliveries as an access log of `server` (`nginx` or `varnishncsa`), with the
/// mapping that reads it written beside the deliveries folder.
fn write_access_log(dir: &Path, rows: u64, server: &str) {
    let (format, derive) = match server {
        "nginx-clf" => (
            r#"[$time_local] $request_id $hostname $upstream_cache_status "$request" $status $body_bytes_sent "$cookie_sid" "$http_user_agent""#,
            NGINX_DERIVE,
        ),
        "nginx" => (
            r#"$msec $request_id $hostname $upstream_cache_status "$request" $status $body_bytes_sent "$cookie_sid" "$http_user_agent""#,
            NGINX_DERIVE,
        ),
        "w3c" => (
            "date time x-edge-location sc-bytes cs-method cs-uri-stem cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id cs(User-Agent)",
            r#"session_id = { from = "cs(Cookie)", cookie = "sid" }
requested_stream_id = { from = "cs-uri-stem", regex = '^/cam/([^/]+)/' }
cache_key = { from = "cs-uri-stem", regex = '^/cam/(.+)' }
object_id = { from = "cs-uri-query", query = "obj" }"#,
        ),
        "cloudflare" => (
            "",
            r#"session_id = "Cookies.sid"
requested_stream_id = { from = "ClientRequestPath", regex = '^/cam/([^/]+)/' }
cache_key = { from = "ClientRequestPath", regex = '^/cam/(.+)' }
object_id = { from = "ClientRequestURI", query = "obj" }"#,
        ),
        "gcp-logging" => (
            "",
            r#"session_id = { from = "httpRequest.requestUrl", query = "session" }
requested_stream_id = { from = "httpRequest.requestUrl", regex = '^https://[^/]+/cam/([^/]+)/' }
cache_key = { from = "httpRequest.requestUrl", regex = '^https://[^/]+/cam/([^?]+)' }
object_id = { from = "httpRequest.requestUrl", query = "obj" }"#,
        ),
        _ => (
            r#"%{Varnish:vxid}x %{msec}t "%r" %s %b %{Varnish:handling}x %{VCL_Log:node}x "%{Cookie}i" "%{User-agent}i""#,
            r#"session_id = { from = "{Cookie}i", cookie = "sid" }
requested_stream_id = { from = "r", regex = '^GET http://[^/]+/cam/([^/]+)/' }
cache_key = { from = "r", regex = '^GET http://[^/]+/cam/([^? ]+)' }
cache_node = "{VCL_Log:node}x"
object_id = { from = "r", query = "obj" }"#,
        ),
    };
    let log_format = if format.is_empty() {
        String::new()
    } else {
        format!("log_format = '{format}'\n")
    };
    let name = server.strip_suffix("-clf").unwrap_or(server);
    let mapping =
        format!("[deliveries]\nformat = \"{name}\"\n{log_format}[deliveries.derive]\n{derive}\n");
    let root = dir.parent().expect("deliveries has a parent");
    std::fs::write(root.join("mapping.toml"), mapping).expect("write mapping");
    let mut text = Vec::with_capacity(rows as usize * 200);
    if server == "w3c" {
        text.extend(format!("#Version: 1.0\n#Fields: {format}\n").into_bytes());
    }
    for i in 0..rows {
        let r = row(i);
        let t: u64 = r[0].parse().expect("epoch ms");
        let query = if r[7].is_empty() {
            String::new()
        } else {
            format!("?obj={}", r[7])
        };
        let status = if r[5] == "hit" { "HIT" } else { "MISS" };
        let line = if server.starts_with("nginx") {
            let when = match server {
                "nginx" => format!("{}.{:03}", t / 1000, t % 1000),
                _ => chrono::DateTime::from_timestamp_millis(t as i64)
                    .expect("a time")
                    .format("[%d/%b/%Y:%H:%M:%S +0000]")
                    .to_string(),
            };
            format!(
                "{} {} {} {} \"GET /cam/{}{} HTTP/1.1\" 200 {} \"{}\" \"Nest Hub\"",
                when, r[6], r[3], status, r[4], query, r[11], r[1]
            )
        } else if server == "cloudflare" {
            format!(
                r#"{{"RayID":"{}","EdgeStartTimestamp":{}000000,"EdgeColoCode":"{}","CacheCacheStatus":"{}","ClientRequestPath":"/cam/{}","ClientRequestURI":"/cam/{}{}","EdgeResponseBytes":{},"Cookies":{{"sid":"{}"}}}}"#,
                r[6], t, r[3], r[5], r[4], r[4], query, r[11], r[1]
            )
        } else if server == "gcp-logging" {
            let at = chrono::DateTime::from_timestamp_millis(t as i64).expect("a time");
            let hit = if r[5] == "hit" {
                r#","cacheHit":true"#
            } else {
                ""
            };
            let obj = query.replacen('?', "&", 1);
            format!(
                r#"{{"insertId":"{}","jsonPayload":{{"@type":"type.googleapis.com/google.cloud.loadbalancing.type.LoadBalancerLogEntry","cacheId":"{}"}},"httpRequest":{{"requestMethod":"GET","requestUrl":"https://cdn.example.com/cam/{}?session={}{}","status":200,"responseSize":"{}","cacheLookup":true{}}},"timestamp":"{}","severity":"INFO"}}"#,
                r[6],
                r[3],
                r[4],
                r[1],
                obj,
                r[11],
                hit,
                at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
            )
        } else if server == "w3c" {
            let at = chrono::DateTime::from_timestamp_millis(t as i64).expect("a time");
            format!(
                "{}\t{}\t{}\t{}\tGET\t/cam/{}\t{}\ttheme=dark;%20sid={}\t{}\t{}\tNest%20Hub",
                at.format("%Y-%m-%d"),
                at.format("%H:%M:%S"),
                r[3],
                r[11],
                r[4],
                query.strip_prefix('?').unwrap_or("-"),
                r[1],
                if r[5] == "hit" { "Hit" } else { "Miss" },
                r[6]
            )
        } else {
            format!(
                "{} {} \"GET http://edge/cam/{}{} HTTP/1.1\" 200 {} {} {} \"theme=dark; sid={}\" \"Nest Hub\"",
                r[6], t, r[4], query, r[11], r[5], r[3], r[1]
            )
        };
        text.extend(line.into_bytes());
        text.push(b'\n');
    }
    std::fs::write(dir.join(format!("{server}.log")), text).expect("write bench file");
}

fn write_parquet(dir: &Path, rows: u64) {
    let cols: Vec<Column> = HEADER
        .iter()
        .enumerate()
        .map(|(c, h)| {
            let vals: Vec<Option<String>> = (0..rows)
                .map(|i| Some(row(i)[c].clone()).filter(|v| !v.is_empty()))
                .collect();
            Column::new((*h).into(), vals)
        })
        .collect();
    let mut df = DataFrame::new(rows as usize, cols).expect("frame");
    let f = std::fs::File::create(dir.join("d.parquet")).expect("create");
    ParquetWriter::new(f).finish(&mut df).expect("parquet");
}

fn main() {
    let rows: u64 = std::env::var("LOAD_RATE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // On a shared machine one load's time wanders by a fifth; more loads steady the median.
    let runs: usize = std::env::var("LOAD_RATE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    type Writer<'a> = &'a dyn Fn(&Path);
    let formats: [(&str, Writer); 12] = [
        ("csv", &|d| write_text(d, "d.csv", rows, false, None)),
        ("csv.gz", &|d| {
            write_text(d, "d.csv.gz", rows, false, Some("gz"))
        }),
        ("csv.zst", &|d| {
            write_text(d, "d.csv.zst", rows, false, Some("zst"))
        }),
        ("jsonl", &|d| write_text(d, "d.jsonl", rows, true, None)),
        ("jsonl.zst", &|d| {
            write_text(d, "d.jsonl.zst", rows, true, Some("zst"))
        }),
        ("parquet", &|d| write_parquet(d, rows)),
        ("nginx", &|d| write_access_log(d, rows, "nginx")),
        ("nginx-clf", &|d| write_access_log(d, rows, "nginx-clf")),
        ("varnishncsa", &|d| write_access_log(d, rows, "varnishncsa")),
        ("w3c", &|d| write_access_log(d, rows, "w3c")),
        ("cloudflare", &|d| write_access_log(d, rows, "cloudflare")),
        ("gcp-logging", &|d| write_access_log(d, rows, "gcp-logging")),
    ];
    println!(
        "{:<12} {:>10} {:>12} {:>14} {:>8}",
        "format", "rows", "median s", "rows/s", "of csv"
    );
    // Issue 19's yardstick: a format reads no slower per row than CSV, measured in the same run.
    let mut csv_rate: Option<f64> = None;
    // LOAD_RATE_FORMATS=csv,jsonl measures those only.
    let only = std::env::var("LOAD_RATE_FORMATS").ok();
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|f| f == name))
    };
    for (name, make) in formats.into_iter().filter(|(n, _)| wanted(n)) {
        let dir = tempfile::tempdir().expect("tempdir");
        for k in ["deliveries", "cache", "sessions", "ownership"] {
            std::fs::create_dir_all(dir.path().join(k)).expect("mkdir");
        }
        make(&dir.path().join("deliveries"));
        let mut secs = Vec::new();
        for run in 0..=runs {
            let start = Instant::now();
            let loaded = load(dir.path(), &LoadOptions::default()).expect("load");
            let elapsed = start.elapsed().as_secs_f64();
            assert_eq!(loaded.counts(Kind::Deliveries).accepted, rows);
            if run > 0 {
                secs.push(elapsed);
            }
        }
        secs.sort_by(f64::total_cmp);
        let median = secs[secs.len() / 2];
        let rate = rows as f64 / median;
        if name == "csv" {
            csv_rate = Some(rate);
        }
        let share = csv_rate.map_or(String::from("-"), |c| format!("{:.2}", rate / c));
        println!("{name:<12} {rows:>10} {median:>12.3} {rate:>14.0} {share:>8}");
    }
}
