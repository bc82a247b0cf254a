//! The investigator's sections of the report: headline, population at risk, root-cause timeline (section 4 is in contributing.rs).

use super::charts::{self, Marker};
use super::document::{
    code, heading, id, num, para, plain, strong, table, text, Block, Cell, Chart, Inline,
};
use super::format::{count, duration, hour, pct, per_mille, time};
use super::pseudonym::Pseudonyms;
use crate::findings::headline::ExposureCounts;
use crate::findings::population::Dimension;
use crate::findings::timeline::ChangeEvent;
use crate::findings::Findings;
use crate::settings::Settings;

/// How many rows long tables show in the report (the CSV files have them all).
pub const TOP_ROWS: usize = 20;

pub fn headline(f: &Findings, settings: &Settings) -> Vec<Block> {
    let h = &f.headline;
    let (lo, up) = (&h.delivered.lower, &h.delivered.upper);
    let mut b = vec![heading(2, "1. Headline", "headline")];
    match (h.first_leak, h.last_leak) {
        (Some(first), Some(last)) => b.push(para(vec![
            strong(count(lo.subjects, "account", "accounts")),
            text(format!(
                " had content of their cameras delivered to {}: {} of {}, {}, from {} to {}. ",
                count(lo.recipients, "other account", "other accounts"),
                count(lo.deliveries, "leak delivery", "leak deliveries"),
                count(lo.objects, "distinct object", "distinct objects"),
                count(
                    lo.pairs,
                    "(subject, recipient) pair",
                    "(subject, recipient) pairs"
                ),
                time(first),
                time(last)
            )),
            text(format!(
                "{} had at least one leaked object shown or opened by the recipient's client.",
                count(
                    h.viewed.lower.subjects,
                    "of those accounts",
                    "of those accounts"
                )
            )),
        ])),
        _ => b.push(plain(format!(
            "No leak delivery was found among {} deliveries.",
            h.deliveries
        ))),
    }
    let row = |name: &str, f: fn(&ExposureCounts) -> u64| -> Vec<Cell> {
        vec![
            num(name),
            num(f(lo)),
            num(f(up)),
            num(f(&h.viewed.lower)),
            num(f(&h.viewed.upper)),
        ]
    };
    b.push(table(
        &[
            "",
            ">delivered, lower bound",
            ">delivered, upper bound",
            ">viewed, lower bound",
            ">viewed, upper bound",
        ],
        vec![
            row("exposed accounts (subjects)", |c| c.subjects),
            row("recipient accounts", |c| c.recipients),
            row("exposure pairs", |c| c.pairs),
            row("leak deliveries", |c| c.deliveries),
            row("leaked objects", |c| c.objects),
        ],
    ));
    let reasons: Vec<String> = h
        .unresolved_by_reason
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    b.push(plain(format!(
        "Lower bound: deliveries classified leak. Upper bound: leak plus the {} ambiguous deliveries, whose verdict flips within the clock tolerance of {}{}. Unresolved, counted in neither bound: {} deliveries{}. Viewed: the client reported the object shown or opened (viewed = true); {} leak deliveries carry no viewed flag. {} deliveries analysed in all.",
        h.ambiguous,
        duration(settings.tolerance_ms),
        if settings.ownership_snapshots {
            " or depends on where between two registry snapshots a change of owner or of shared access lies"
        } else {
            ""
        },
        h.unresolved,
        if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) },
        h.leak_viewed_unknown,
        h.deliveries
    )));
    let why = f.quality.lower_bound_reasons();
    if !why.is_empty() {
        b.push(Block::Callout(vec![text(format!(
            "log coverage is incomplete, so every count above is a lower bound: {}. See section 5.",
            why.join("; ")
        ))]));
    }
    b
}

pub fn population(f: &Findings) -> Vec<Block> {
    let p = &f.population;
    let mut b = vec![heading(2, "2. Population at risk", "population")];
    let Some((first, last)) = p.window else {
        b.push(plain("No leak, so no exposure window."));
        return b;
    };
    b.push(plain(format!(
        "Accounts with a session open at any time of the exposure window ({} to {}, {}), by the client and the integration their session started with; and how many of them were affected (exposed as a subject, or received another account's content).",
        time(first),
        time(last),
        duration(last - first)
    )));
    let mut rows = Vec::new();
    for dim in [Dimension::All, Dimension::Client, Dimension::Integration] {
        for g in p
            .groups
            .iter()
            .filter(|g| g.dimension == dim)
            .take(TOP_ROWS)
        {
            rows.push(vec![
                num(dim.as_str()),
                if dim == Dimension::All {
                    num("")
                } else {
                    id(&g.value)
                },
                num(g.accounts),
                num(g.exposed),
                num(g.recipients),
                num(g.affected),
                num(pct(g.share_affected())),
            ]);
        }
    }
    b.push(table(
        &[
            "by",
            "value",
            ">accounts",
            ">exposed",
            ">recipients",
            ">affected",
            ">share affected",
        ],
        rows,
    ));
    b
}

fn change_cells(c: &ChangeEvent) -> Vec<Cell> {
    vec![
        id(c.kind.as_str()),
        id(&c.component),
        c.version.as_deref().map_or_else(|| num(""), id),
        vec![text(c.description.clone().unwrap_or_default())],
    ]
}

fn describe_change(c: &ChangeEvent) -> Vec<Inline> {
    let mut v = vec![
        text("the "),
        code(c.kind.as_str()),
        text(" of "),
        code(&c.component),
    ];
    if let Some(ver) = &c.version {
        v.extend([text(" "), code(ver)]);
    }
    v.push(text(format!(" at {}", time(c.ts))));
    if let Some(d) = &c.description {
        v.push(text(format!(" (\"{d}\")")));
    }
    v
}

pub fn timeline(f: &Findings, ids: &Pseudonyms) -> Vec<Block> {
    let tl = &f.timeline;
    let mut b = vec![heading(2, "3. Root-cause timeline", "timeline")];
    b.extend(super::mechanism::lead(
        &f.mechanism,
        f.exposures.subjects.len(),
    ));
    b.push(heading(3, "Changes and leak milestones", "changes"));
    // Change events are numbered in time order; the chart marks them by number.
    let mut rows: Vec<(i64, u8, Vec<Cell>)> = tl
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut r = vec![num(time(c.ts)), num(i + 1)];
            r.extend(change_cells(c));
            (c.ts, 0, r)
        })
        .collect();
    let milestone = |ts: i64, what: String| -> (i64, u8, Vec<Cell>) {
        (
            ts,
            1,
            vec![
                num(time(ts)),
                num(""),
                vec![strong(what)],
                num(""),
                num(""),
                num(""),
            ],
        )
    };
    if let (Some(f), Some(l)) = (tl.first_leak, tl.last_leak) {
        rows.push(milestone(f, "first leak".into()));
        rows.push(milestone(l, "last leak".into()));
    }
    if let Some((at, n)) = tl.peak {
        rows.push(milestone(
            at,
            format!("peak: {n} leak deliveries in the bin from {}", hour(at)),
        ));
    }
    if let Some(o) = tl.onset {
        rows.push(milestone(
            tl.rate_changes[o].at_ms,
            "estimated onset of the leak rate (change point)".into(),
        ));
    }
    rows.sort_by_key(|x| (x.0, x.1));
    if rows.is_empty() {
        b.push(plain("No change events were logged and no leak was found."));
        return b;
    }
    b.push(table(
        &[
            "time (UTC)",
            ">#",
            "event",
            "component",
            "version",
            "description",
        ],
        rows.into_iter().map(|r| r.2).collect(),
    ));
    let Some(first) = tl.first_leak else { return b };
    let mut facts = Vec::new();
    if let Some(c) = tl.cause.map(|i| &tl.changes[i]) {
        let mut f = vec![text("From ")];
        f.extend(describe_change(c));
        match tl.first_leak_after_cause {
            Some(t) => f.push(text(format!(
                " to the first leak after it: {}.",
                duration(t - c.ts)
            ))),
            None => f.push(text(": no leak after it.")),
        }
        if tl.leaks_before_cause > 0 {
            f.push(text(format!(
                " {} leak deliveries came before it (from {}): background leaks this change does not explain.",
                tl.leaks_before_cause,
                time(first)
            )));
        }
        facts.push(f);
    } else {
        facts.push(vec![text(
            "No deploy, config change or rollback was logged before the first leak.",
        )]);
    }
    let start = tl.incident_start().unwrap_or(first);
    let which = if tl.first_leak_after_cause.is_some() && tl.leaks_before_cause > 0 {
        "the first leak after it"
    } else {
        "the first leak"
    };
    match tl.detection.map(|d| &tl.changes[d]) {
        Some(d) => facts.push(vec![text(format!(
            "From {which} to detection: {}.",
            duration(d.ts - start)
        ))]),
        None => facts.push(vec![text(format!(
            "No detection was logged after {which}."
        ))]),
    }
    match tl.mitigation.map(|m| &tl.changes[m]) {
        Some(m) => facts.push(vec![
            text(format!("From {which} to mitigation (")),
            code(m.kind.as_str()),
            text(format!(
                "): {}; {} leak deliveries happened at or after it.",
                duration(m.ts - start),
                tl.leaks_after_mitigation
            )),
        ]),
        None => facts.push(vec![text(format!(
            "No mitigation or rollback was logged after {which}."
        ))]),
    }
    b.push(Block::Bullets(facts));
    let mut markers: Vec<Marker> = tl
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| Marker {
            ts: c.ts,
            label: (i + 1).to_string(),
            onset: false,
        })
        .collect();
    if let Some(o) = tl.onset {
        markers.push(Marker {
            ts: tl.rate_changes[o].at_ms,
            label: "onset".into(),
            onset: true,
        });
    }
    match charts::leaks_per_hour(&tl.series, &markers) {
        Ok(svg) => b.push(Block::Chart(Chart {
            file: "leaks_per_hour.svg".into(),
            title: "Leak deliveries per hour; blue lines are the change events by number, black the estimated onset".into(),
            svg,
        })),
        Err(e) => b.push(plain(format!("(chart could not be drawn: {e})"))),
    }
    b.push(heading(3, "Change point of the leak rate", "change-point"));
    b.push(plain(
        "Binary segmentation of the binned leak counts, with the leak rate per delivery constant within a segment (Poisson maximum likelihood); a split is kept when it gains more log-likelihood than 3 ln(bins). Each change is attributed to the latest change event (not a detection) before the end of the bin where the new rate starts.",
    ));
    if tl.rate_changes.is_empty() {
        b.push(plain(
            "The leak rate shows no significant change over the series.",
        ));
    } else {
        if let Some(o) = tl.onset {
            let rc = &tl.rate_changes[o];
            let mut p = vec![
                strong(format!("Estimated onset: {}", hour(rc.at_ms))),
                text(format!(
                    ", the leak rate rising from {} to {} deliveries; it lines up with ",
                    per_mille(rc.change.rate_before),
                    per_mille(rc.change.rate_after)
                )),
            ];
            match rc.cause.map(|i| &tl.changes[i]) {
                Some(c) => {
                    p.extend(describe_change(c));
                    p.push(text(format!(
                        ", {} before the onset bin ends.",
                        duration(rc.at_ms + tl.series.width_ms - c.ts)
                    )));
                }
                None => p.push(text("no logged change.")),
            }
            b.push(para(p));
        }
        let rows = tl
            .rate_changes
            .iter()
            .map(|rc| {
                let cause = rc.cause.map(|i| &tl.changes[i]);
                vec![
                    num(hour(rc.at_ms)),
                    num(if rc.change.is_increase() {
                        "up"
                    } else {
                        "down"
                    }),
                    num(per_mille(rc.change.rate_before)),
                    num(per_mille(rc.change.rate_after)),
                    num(format!("{:.1}", rc.change.gain)),
                    cause.map_or_else(
                        || num("none"),
                        |c| {
                            vec![
                                text(format!("#{} ", rc.cause.unwrap_or(0) + 1)),
                                code(c.kind.as_str()),
                                text(" "),
                                code(&c.component),
                            ]
                        },
                    ),
                ]
            })
            .collect();
        b.push(table(
            &[
                "from",
                "direction",
                ">rate before",
                ">rate after",
                ">log-likelihood gain",
                "nearest preceding change",
            ],
            rows,
        ));
    }
    b.extend(first_leaks(f, ids));
    b
}

/// The first leak deliveries, as evidence an investigator can look up in leaks.csv.
fn first_leaks(f: &Findings, ids: &Pseudonyms) -> Vec<Block> {
    let l = &f.first_leaks;
    if l.is_empty() {
        return Vec::new();
    }
    let opt = |v: Option<&str>| v.map_or_else(|| num(""), id);
    let rows = (0..l.len())
        .map(|k| {
            let v = &l.verdicts[k];
            vec![
                num(l.ts[k].map(time).unwrap_or_default()),
                opt(l.session[k].as_deref().map(|s| ids.session(s)).as_deref()),
                opt(v.recipient.as_deref().map(|s| ids.account(s)).as_deref()),
                opt(v.subject.as_deref().map(|s| ids.account(s)).as_deref()),
                opt(v.object_id.as_deref()),
                opt(l.cache_node[k].as_deref()),
                opt(l.cache_key[k].as_deref()),
                opt(v.config_version.as_deref()),
                opt(l.request_id[k].as_deref()),
            ]
        })
        .collect();
    vec![
        heading(3, "First leak deliveries", "first-leaks"),
        para(vec![
            text("The log lines behind each row, step by step: "),
            code("leakscope explain <out> <request_id>"),
            text(" (docs/REPORTS.md, \"Citations\"). The subject, recipient and exposure lists give each row's first leak request_id for the same command."),
        ]),
        table(
            &[
                "time (UTC)",
                "session",
                "recipient",
                "subject",
                "object",
                "cache node",
                "cache key",
                "config",
                "request_id",
            ],
            rows,
        ),
    ]
}
