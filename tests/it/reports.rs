//! The investigator and compliance reports (issue 5): headline numbers against ground truth, the
//! cause found on a simulated incident, hostile log strings escaped, pseudonyms, determinism, and
//! report.html rendered in a real headless Chromium with its charts visible.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::*;
use hmac::{Hmac, Mac};
use leakscope::analyze::{analyze as run_analysis, AnalyzeOptions};
use leakscope::findings::factors::Attribute;
use sha2::Sha256;

/// A simulated cache-key collision (the Xiaomi 2020 incident), generated once per test run.
fn collision_dataset() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reports-cache-key-collision-7");
        let _ = std::fs::remove_dir_all(&dir);
        let o = bin()
            .args([
                "generate",
                "--scenario",
                "cache-key-collision",
                "--seed",
                "7",
                "--deliveries",
                "20000",
                "--out",
            ])
            .arg(&dir)
            .output()
            .expect("leakscope runs");
        assert!(
            o.status.success(),
            "generate failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        dir
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let head: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            head.iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn sum(rows: &[BTreeMap<String, String>], col: &str) -> u64 {
    rows.iter().map(|r| r[col].parse::<u64>().unwrap()).sum()
}

#[test]
fn headline_and_lists_match_the_truth() {
    let data = collision_dataset();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    analyze_ok(data, &out);
    let t = read_json(&data.join("truth.json"));
    let n = |k: &str| {
        t[k].as_u64()
            .unwrap_or_else(|| panic!("truth.json has no {k}"))
    };
    assert!(n("leak_deliveries") > 100, "the scenario must leak: {t}");

    let md = read(&out.join("report.md"));
    let row = |name: &str, lower: u64, upper: u64| format!("| {name} | {lower} | {upper} |");
    let upper_deliveries = n("leak_deliveries") + n("ambiguous_deliveries");
    assert!(md.contains(&row(
        "leak deliveries",
        n("leak_deliveries"),
        upper_deliveries
    )));
    for (name, key) in [
        ("recipient accounts", "recipient_accounts"),
        ("exposure pairs", "exposure_pairs"),
        ("leaked objects", "leaked_objects"),
    ] {
        assert!(
            md.contains(&format!("| {name} | {} |", n(key))),
            "report.md lacks the {name} row with {}",
            n(key)
        );
    }
    assert!(md.contains(&format!(
        "Unresolved, counted in neither bound: {} deliveries",
        n("unresolved_deliveries")
    )));
    assert!(md.contains(&format!(
        "**{} accounts** had content",
        n("exposed_accounts")
    )));

    // The engine's tiers, as the report prints them.
    let a = run_analysis(data, &AnalyzeOptions::default()).unwrap();
    let h = &a.findings.headline;
    assert_eq!(h.delivered.lower.subjects, n("exposed_accounts"));
    assert_eq!(h.delivered.lower.recipients, n("recipient_accounts"));
    assert_eq!(h.delivered.lower.pairs, n("exposure_pairs"));
    assert_eq!(h.delivered.lower.deliveries, n("leak_deliveries"));
    assert_eq!(h.delivered.lower.objects, n("leaked_objects"));
    assert_eq!(h.viewed.lower.deliveries, n("viewed_leak_deliveries"));
    assert_eq!(h.viewed.lower.subjects, n("exposed_accounts_viewed"));
    assert_eq!(h.delivered.upper.deliveries, upper_deliveries);
    assert_eq!(h.unresolved, n("unresolved_deliveries"));
    assert!(md.contains(&format!(
        "| exposed accounts (subjects) | {} | {} | {} | {} |",
        h.delivered.lower.subjects,
        h.delivered.upper.subjects,
        h.viewed.lower.subjects,
        h.viewed.upper.subjects
    )));

    // Notification lists: one row per exposed account, recipient and pair, adding up to the leaks.
    let subjects = csv_rows(&out.join("subjects.csv"));
    let recipients = csv_rows(&out.join("recipients.csv"));
    let pairs = csv_rows(&out.join("exposures.csv"));
    assert_eq!(subjects.len() as u64, n("exposed_accounts"));
    assert_eq!(recipients.len() as u64, n("recipient_accounts"));
    assert_eq!(pairs.len() as u64, n("exposure_pairs"));
    for list in [&subjects, &recipients, &pairs] {
        assert_eq!(sum(list, "deliveries"), n("leak_deliveries"));
        assert_eq!(sum(list, "viewed"), n("viewed_leak_deliveries"));
    }
    assert_eq!(
        subjects.iter().filter(|r| r["viewed"] != "0").count() as u64,
        n("exposed_accounts_viewed")
    );
    assert!(
        subjects.iter().all(|r| !r["country"].is_empty()),
        "every generated account has a country"
    );
    let by_country: u64 = a
        .findings
        .exposures
        .by_country
        .values()
        .map(|c| c.subjects)
        .sum();
    assert_eq!(by_country, n("exposed_accounts"));
    assert!(md.contains(&format!(
        "subjects.csv: {} exposed accounts",
        n("exposed_accounts")
    )));
}

#[test]
fn change_point_and_top_factor_land_on_the_simulated_cause() {
    let data = collision_dataset();
    let a = run_analysis(data, &AnalyzeOptions::default()).unwrap();
    let tl = &a.findings.timeline;
    let onset = &tl.rate_changes[tl.onset.expect("an onset is found")];
    let cause = &tl.changes[onset.cause.expect("the onset lines up with a change")];
    assert_eq!(
        (
            cause.kind.as_str(),
            cause.component.as_str(),
            cause.version.as_deref()
        ),
        ("deploy", "cache", Some("v2")),
        "onset at {} attributed to {cause:?}",
        onset.at_ms
    );
    assert!(
        onset.at_ms <= cause.ts && cause.ts < onset.at_ms + tl.series.width_ms,
        "the onset bin holds the deploy"
    );
    assert_eq!(tl.cause, onset.cause);

    let top = a.findings.factors.top().expect("a top explanation");
    // The simulated trigger is a Google Home session asking for a still on a poor network (rtt
    // ≥ 300 ms or loss ≥ 2 %) while v2 is live. The factors rank ANDs, so the top explanation
    // names the integration, and at most the kind and one side of the OR, binned at the learned
    // cut; the OR itself is the learned rule's (section 3).
    let attrs: Vec<(Attribute, &str)> = top.items.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert!(
        attrs.contains(&(Attribute::Integration, "google_home")),
        "top explanation {}",
        top.label()
    );
    let allowed = [
        (Attribute::Integration, "google_home"),
        (Attribute::Kind, "still"),
        (Attribute::Rtt, ">= 300 ms"),
        (Attribute::Loss, ">= 2%"),
    ];
    assert!(
        attrs.iter().all(|x| allowed.contains(x)),
        "top explanation {}",
        top.label()
    );
    assert!(top.support > 0.5 && top.risk_ratio > 20.0, "{top:?}");

    let dir = tempfile::tempdir().unwrap();
    analyze_ok(data, dir.path());
    let md = read(&dir.path().join("report.md"));
    assert!(md.contains(
        "**Top explanation:** leaks concentrate in deliveries with integration `google_home`"
    ));
    // At 20 000 deliveries the data near the planted 300 ms and 2 % are sparse: the cuts land
    // within a few percent (tests/it/mechanism.rs holds them to 10 % at 10^5).
    let rule = md
        .lines()
        .find(|l| l.starts_with("**Mechanism:**"))
        .expect("the rule");
    assert!(
        rule.contains("(rtt ≥ ") && rule.contains(" or loss ≥ "),
        "{rule}"
    );
    assert!(md.contains("it lines up with the `deploy` of `cache` `v2`"));
}

/// Markdown with its code spans removed: what a renderer would read as markup.
fn outside_code_spans(md: &str) -> String {
    let mut out = String::new();
    let mut rest = md;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let fence = rest[start..].bytes().take_while(|&b| b == b'`').count();
        let after = &rest[start + fence..];
        let close = "`".repeat(fence);
        match after.find(&close) {
            Some(end) => rest = &after[end + fence..],
            None => {
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn script_in_a_session_id_and_a_change_description_comes_out_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let s = analyze_ok(&fixture("hostile"), dir.path());
    assert_eq!(s["leak_deliveries"], 2, "{s}");
    let html = read(&dir.path().join("report.html"));
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "report.html holds a script tag");
    assert!(!lower.contains("<img"), "report.html holds an img tag");
    assert!(
        !lower.contains("<i>") && !lower.contains("<b>x"),
        "report.html holds tags from the logs"
    );
    assert!(
        html.contains("<code>&lt;script&gt;alert(&quot;sid&quot;)&lt;/script&gt;</code>"),
        "the session id is shown, escaped"
    );
    assert!(
        html.contains("&lt;script&gt;alert(&quot;change&quot;)&lt;/script&gt;"),
        "the change description is shown, escaped"
    );
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "the cache key is shown, escaped"
    );
    // Our own markup only: the inline SVG charts, nothing else that can run.
    assert_eq!(
        lower.matches("<svg").count(),
        lower.matches("<figure>").count()
    );

    let md = read(&dir.path().join("report.md"));
    assert!(
        md.contains("`<script>alert(\"sid\")</script>`"),
        "ids sit in code spans, where no HTML is read"
    );
    let markup = outside_code_spans(&md);
    for tag in ["<script", "<img", "<b>", "<i>"] {
        for (i, _) in markup.match_indices(tag) {
            assert!(
                markup[..i].ends_with('\\'),
                "unescaped {tag} in report.md: {}",
                &markup[i.saturating_sub(40)..i + 20]
            );
        }
    }
    for (i, _) in markup.match_indices("](javascript") {
        assert!(
            markup[..i].ends_with('\\'),
            "a link from the logs survives in report.md"
        );
    }
    // The whole report, escapes and all, as a reviewed snapshot.
    insta::assert_snapshot!("hostile_report_md", md);
}

#[test]
fn pseudonymize_replaces_ids_in_shareable_outputs_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    write(&key, "  correct horse battery staple 42\n");
    let out = dir.path().join("out");
    let o = analyze(
        &fixture("hostile"),
        &out,
        &["--pseudonymize", key.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let pseudonym = |prefix: &str, id: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"correct horse battery staple 42").unwrap();
        mac.update(id.as_bytes());
        format!(
            "{prefix}{}",
            &hex::encode(mac.finalize().into_bytes())[..16]
        )
    };
    let (alice, bob) = (pseudonym("acct_", "alice-77"), pseudonym("acct_", "bob-88"));
    let sid = pseudonym("sess_", "<script>alert(\"sid\")</script>");
    let shareable = [
        "report.md",
        "report.html",
        "subjects.csv",
        "recipients.csv",
        "exposures.csv",
    ];
    for f in shareable {
        let text = read(&out.join(f));
        for raw in [
            "alice-77",
            "bob-88",
            "sess-alice-1",
            "alert(\"sid\")",
            "alert(&quot;sid&quot;)",
        ] {
            assert!(!text.contains(raw), "{f} still holds {raw}");
        }
    }
    assert!(read(&out.join("subjects.csv")).contains(&alice));
    assert!(read(&out.join("recipients.csv")).contains(&bob));
    assert!(read(&out.join("exposures.csv")).contains(&format!("{alice},{bob}")));
    let md = read(&out.join("report.md"));
    assert!(
        md.contains(&format!("`{sid}`")) && md.contains(&format!("`{bob}`")),
        "the first-leaks table shows pseudonyms"
    );
    // The evidence tables keep the real ids, for the investigator.
    assert!(read(&out.join("leaks.csv")).contains("alice-77"));

    let short = dir.path().join("short");
    write(&short, "tooshort\n");
    let o = analyze(
        &fixture("hostile"),
        &dir.path().join("out2"),
        &["--pseudonymize", short.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("at least 16"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every report output: the reports, the charts and the lists. The quarantine and the timeline
/// name input lines, which a change of row order moves.
fn report_files(out: &Path) -> Vec<(String, Vec<u8>)> {
    walk(out)
        .into_iter()
        .filter(|p| {
            let name = p.strip_prefix(out).unwrap().to_string_lossy().to_string();
            name.starts_with("report.")
                || name.starts_with("charts")
                || name.ends_with(".csv")
                    && !name.starts_with("quarantine")
                    && !name.starts_with("timeline")
        })
        .map(|p| {
            (
                p.strip_prefix(out).unwrap().to_string_lossy().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn reports_do_not_depend_on_row_order_or_threads() {
    let data = collision_dataset();
    let dir = tempfile::tempdir().unwrap();
    // Same folder name (it titles the report), rows of every file reversed.
    let reversed = dir.path().join("reversed").join(data.file_name().unwrap());
    for src in walk(data) {
        let rel = src.strip_prefix(data).unwrap();
        let dst = reversed.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        let text = read(&src);
        if src.extension().is_some_and(|e| e == "csv") {
            let mut lines: Vec<&str> = text.lines().collect();
            lines[1..].reverse();
            std::fs::write(&dst, lines.join("\n") + "\n").unwrap();
        } else {
            std::fs::write(&dst, text).unwrap();
        }
    }
    let mut runs = Vec::new();
    for (input, threads) in [(data, Some("1")), (reversed.as_path(), None)] {
        let out = dir.path().join(format!("out{}", runs.len()));
        analyze_with_threads(input, &out, threads);
        runs.push(report_files(&out));
    }
    let names: Vec<&str> = runs[0].iter().map(|f| f.0.as_str()).collect();
    for expected in [
        "report.md",
        "report.html",
        "charts/leaks_per_hour.svg",
        "charts/factors.svg",
        "subjects.csv",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert_eq!(runs[0].len(), runs[1].len());
    for (a, b) in runs[0].iter().zip(&runs[1]) {
        assert_eq!(a.0, b.0);
        assert!(
            a.1 == b.1,
            "{} differs between row orders and thread counts",
            a.0
        );
    }
}

/// A PNG's size and RGB pixels (8-bit RGB or RGBA, not interlaced: what Chromium writes).
fn decode_png(bytes: &[u8]) -> (usize, usize, Vec<[u8; 3]>) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut pos, mut idat, mut ihdr) = (8, Vec::new(), None);
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = &bytes[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => ihdr = Some(data.to_vec()),
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        pos += 12 + len;
    }
    let h = ihdr.expect("IHDR");
    let (w, ht) = (
        u32::from_be_bytes(h[0..4].try_into().unwrap()) as usize,
        u32::from_be_bytes(h[4..8].try_into().unwrap()) as usize,
    );
    assert_eq!((h[8], h[12]), (8, 0), "8-bit, not interlaced");
    let bpp = match h[9] {
        2 => 3,
        6 => 4,
        t => panic!("PNG colour type {t}"),
    };
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = w * bpp;
    let mut prev = vec![0u8; stride];
    let mut pixels = Vec::with_capacity(w * ht);
    for y in 0..ht {
        let line = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        let mut cur = line[1..].to_vec();
        for i in 0..stride {
            let a = if i >= bpp { cur[i - bpp] as i16 } else { 0 };
            let b = prev[i] as i16;
            let c = if i >= bpp { prev[i - bpp] as i16 } else { 0 };
            let add = match line[0] {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            cur[i] = cur[i].wrapping_add(add as u8);
        }
        pixels.extend(cur.chunks(bpp).map(|p| [p[0], p[1], p[2]]));
        prev = cur;
    }
    (w, ht, pixels)
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn report_html_renders_in_headless_chromium_with_visible_charts() {
    if chromium().is_none() {
        println!("skipped: chromium is not installed (apt-get install -y chromium); scripts/render_report.sh needs it");
        return;
    }
    let data = collision_dataset();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    analyze_ok(data, &out);
    let png = dir.path().join("report.png");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/render_report.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg(out.join("report.html"))
        .arg(&png)
        .arg("6000")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "render_report.sh failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (w, h, pixels) = decode_png(&std::fs::read(&png).unwrap());
    assert_eq!((w, h), (1280, 6000));
    // The leak bars of both charts are drawn in rgb(200, 40, 40); nothing else on the page is.
    let bars = pixels.iter().filter(|p| **p == [200, 40, 40]).count();
    assert!(bars > 5_000, "only {bars} pixels of chart bars are visible");
    // The timeline chart's change markers are 2-pixel rgb(40, 90, 200) lines (anti-aliased at the edges).
    let near = |p: &[u8; 3], q: [u8; 3]| p.iter().zip(q).all(|(a, b)| a.abs_diff(b) <= 25);
    let markers = pixels.iter().filter(|p| near(p, [40, 90, 200])).count();
    assert!(
        markers > 200,
        "only {markers} pixels of change markers are visible"
    );
    // And the page has text: many pixels neither white nor a chart colour.
    let ink = pixels
        .iter()
        .filter(|p| p[0] < 100 && p[1] < 100 && p[2] < 100)
        .count();
    assert!(ink > 20_000, "only {ink} dark pixels: is the text there?");
    println!(
        "rendered {}: {bars} bar pixels, {markers} marker pixels, {ink} dark pixels",
        png.display()
    );
}

/// Copies `from` to `to`, dropping the CSV rows of `kind` that `drop` selects (by header name → value).
fn copy_without(
    from: &Path,
    to: &Path,
    kind: &str,
    drop: &dyn Fn(&BTreeMap<&str, &str>) -> bool,
) -> usize {
    let mut dropped = 0;
    for src in walk(from) {
        let rel = src.strip_prefix(from).unwrap();
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        if !rel.starts_with(kind) || !matches!(src.extension(), Some(e) if e == "csv") {
            std::fs::copy(&src, &dst).unwrap();
            continue;
        }
        let mut r = csv::Reader::from_path(&src).unwrap();
        let head = r.headers().unwrap().clone();
        let mut w = csv::Writer::from_path(&dst).unwrap();
        w.write_record(&head).unwrap();
        for rec in r.records() {
            let rec = rec.unwrap();
            let row: BTreeMap<&str, &str> = head.iter().zip(rec.iter()).collect();
            if drop(&row) {
                dropped += 1;
            } else {
                w.write_record(&rec).unwrap();
            }
        }
        w.flush().unwrap();
    }
    dropped
}

#[test]
fn missing_log_hours_are_found_and_make_the_counts_lower_bounds() {
    let data = collision_dataset();
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean-out");
    analyze_ok(data, &clean);
    let md = read(&clean.join("report.md"));
    assert!(
        md.contains("No coverage gap was found"),
        "a clean simulated dataset has no gap"
    );
    assert!(
        !md.contains("lower bound:"),
        "a clean simulated dataset is not flagged"
    );

    // A busy hour of one server's delivery log and another of one cache node's log go missing.
    let step = dir.path().join("step");
    let dropped = copy_without(data, &step, "deliveries", &|r| {
        r["server"] == "stream-us-1" && r["ts"].starts_with("2019-12-31T10")
    });
    assert!(dropped > 20, "only {dropped} deliveries in that hour");
    let gapped = dir.path().join("gapped");
    let dropped = copy_without(&step, &gapped, "cache", &|r| {
        r["cache_node"] == "cache-us-1" && r["ts"].starts_with("2019-12-31T14")
    });
    assert!(dropped > 5, "only {dropped} cache rows in that hour");
    let out = dir.path().join("gapped-out");
    analyze_ok(&gapped, &out);
    let md = read(&out.join("report.md"));
    assert!(
        md.contains("every count above is a lower bound"),
        "the headline flags the lower bound"
    );
    assert!(
        md.contains("| 2019-12-31 10:00 UTC | `stream-us-1` |"),
        "the server gap is listed"
    );
    assert!(
        md.contains("| 2019-12-31 14:00 UTC | `cache-us-1` |"),
        "the cache gap is listed"
    );
    let a = run_analysis(&gapped, &AnalyzeOptions::default()).unwrap();
    let q = &a.findings.quality;
    let found = |gaps: &[leakscope::findings::coverage::Gap]| {
        gaps.iter()
            .map(|g| (leakscope::time::format_ms(g.hour), g.source.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        found(&q.server_gaps),
        [(
            "2019-12-31T10:00:00.000Z".to_string(),
            "stream-us-1".to_string()
        )]
    );
    assert_eq!(
        found(&q.cache_gaps),
        [(
            "2019-12-31T14:00:00.000Z".to_string(),
            "cache-us-1".to_string()
        )]
    );
}
