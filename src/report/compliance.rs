//! The data-quality and compliance sections: row accounting and log coverage, and the GDPR Art. 33(3) facts with notification counts.

use super::document::{heading, id, num, para, plain, strong, table, text, Block, Cell};
use super::format::{duration, hour, time};
use super::investigation::TOP_ROWS;
use super::pseudonym::Pseudonyms;
use crate::findings::coverage::{Gap, MAX_SERVER_GAP_HOURS, SERVER_GAP_EXPECTED};
use crate::findings::exposures::{ABSENT, US_STATE_THRESHOLD};
use crate::findings::Findings;
use crate::schema::ChangeKind;

fn gap_rows(gaps: &[Gap]) -> Vec<Vec<Cell>> {
    gaps.iter()
        .take(TOP_ROWS)
        .map(|g| {
            vec![
                num(hour(g.hour)),
                id(&g.source),
                num(g.deliveries),
                num(g.leaks),
                num(g.unresolved),
            ]
        })
        .collect()
}

pub fn data_quality(f: &Findings) -> Vec<Block> {
    let q = &f.quality;
    let mut b = vec![heading(2, "5. Data quality", "quality")];
    b.push(table(
        &["kind", ">read", ">accepted", ">rejected", ">duplicates"],
        q.rows
            .iter()
            .map(|(k, c)| {
                vec![
                    num(k.name()),
                    num(c.read),
                    num(c.accepted),
                    num(c.rejected),
                    num(c.duplicates),
                ]
            })
            .collect(),
    ));
    b.push(plain(
        "Read = data rows in all files; rejected rows break the contract and are listed in quarantine/<kind>.csv; duplicates are valid rows folded into another (one event logged twice, or one request_id); accepted = read - rejected - duplicates.",
    ));
    if !q.rejected.is_empty() {
        b.push(heading(3, "Rejected rows by reason", "rejected"));
        b.push(table(
            &["kind", "column", "reason", ">rows"],
            q.rejected
                .iter()
                .map(|((k, col, reason), n)| {
                    vec![num(k.name()), id(col), vec![text(reason.clone())], num(n)]
                })
                .collect(),
        ));
    }
    let mut notes = Vec::new();
    for (path, err) in &q.unreadable_files {
        notes.push(vec![
            text("unreadable file "),
            super::document::code(path),
            text(format!(": {err}")),
        ]);
    }
    for path in &q.skipped_files {
        notes.push(vec![
            text("skipped file (unknown extension) "),
            super::document::code(path),
        ]);
    }
    for w in &q.warnings {
        notes.push(vec![text(format!("warning: {w}"))]);
    }
    if q.conflicting_countries > 0 {
        notes.push(vec![text(format!(
            "{} accounts are listed with more than one country; the smallest country code is used.",
            q.conflicting_countries
        ))]);
    }
    if !notes.is_empty() {
        b.push(Block::Bullets(notes));
    }
    b.push(heading(3, "Log coverage", "coverage"));
    b.push(plain(format!(
        "A cache node-hour is a gap when the node answered a miss (which stores what it fetched, so a fill should be logged) and its cache log has no row in that hour. A server-hour is a gap when the server logged no delivery in it (for at most {MAX_SERVER_GAP_HOURS} hours in a row) but at least {SERVER_GAP_EXPECTED} in the hour before and the hour after; quiet nights are not gaps."
    )));
    if !q.nodes_without_cache_log.is_empty() {
        let mut p = vec![text(
            "Cache nodes that served deliveries but have no cache log at all: ",
        )];
        for (k, n) in q.nodes_without_cache_log.iter().enumerate() {
            if k > 0 {
                p.push(text(", "));
            }
            p.push(super::document::code(n));
        }
        b.push(para(p));
    }
    if let Some(inf) = &q.inferred {
        let held = match inf.cache.ttl_ms {
            Some(ttl) => format!(
                "until the next miss of its key or for cache_ttl ({ttl} ms), whichever comes first"
            ),
            None => "until the next miss of its key".to_string(),
        };
        b.push(Block::Callout(vec![text(format!(
            "{} deliveries ({} leak, {} ambiguous) rest on {} cache fills inferred from the misses of {} cache nodes without a cache log (infer_cache): each miss is taken to fill its key at its own time with what it fetched, held {held}. A fill the deliveries show no miss for (a background refresh, a fill through another tier) and an eviction or purge the logs do not show are not seen, so these counts hold only as far as every fill of those nodes follows a logged miss.",
            inf.deliveries,
            inf.leaks,
            inf.ambiguous,
            inf.cache.fills,
            inf.cache.nodes.len(),
        ))]));
    }
    if let Some(s) = &q.snapshots {
        b.push(Block::Callout(vec![text(format!(
            "Owners and shared access were read from registry snapshots (ownership_snapshots): each change is placed at the first snapshot that shows it and is known only to lie after the snapshot before. {} deliveries whose class depends on where in that span a change lies are ambiguous (flipped: between_snapshots). {} (stream, snapshot) pairs listed more than one owner and were not read, which widens the span around them. Before the first snapshot nothing is known of any owner: deliveries captured then are unresolved (no_owner).",
            s.ambiguous, s.conflicts,
        ))]));
    }
    let head = ["hour", "source", ">deliveries", ">leaks", ">unresolved"];
    if !q.cache_gaps.is_empty() {
        b.push(plain(format!(
            "{} cache node-hours without cache log (first {} shown):",
            q.cache_gaps.len(),
            TOP_ROWS.min(q.cache_gaps.len())
        )));
        b.push(table(&head, gap_rows(&q.cache_gaps)));
    }
    if !q.server_gaps.is_empty() {
        b.push(plain(format!(
            "{} server-hours without delivery log (first {} shown):",
            q.server_gaps.len(),
            TOP_ROWS.min(q.server_gaps.len())
        )));
        b.push(table(&head, gap_rows(&q.server_gaps)));
    }
    let why = q.lower_bound_reasons();
    if why.is_empty() {
        b.push(plain(
            "No coverage gap was found: the counts are complete for the logs given.",
        ));
    } else {
        b.push(Block::Callout(vec![text(format!(
            "the counts of this report are lower bounds: {}.",
            why.join("; ")
        ))]));
    }
    b
}

pub fn compliance(f: &Findings, ids: &Pseudonyms) -> Vec<Block> {
    let (h, x, tl) = (&f.headline, &f.exposures, &f.timeline);
    let (lo, up) = (&h.delivered.lower, &h.delivered.upper);
    let mut b = vec![heading(2, "6. Compliance", "compliance")];
    b.push(plain(
        "The facts GDPR Art. 33(3) asks of a notification to the supervisory authority, filled from the numbers above. Fields marked \"to be completed\" need a person.",
    ));
    b.push(heading(3, "(a) Nature of the breach", "art33a"));
    let categories: Vec<String> = x
        .categories
        .keys()
        .filter(|k| k.as_str() != ABSENT)
        .cloned()
        .collect();
    b.push(para(vec![
        strong("Nature:"),
        text(" "),
        text(format!(
            "loss of confidentiality. Camera content ({}) belonging to one account was delivered to the sessions of other, unauthorised accounts.",
            if categories.is_empty() { "objects of unknown kind".to_string() } else { categories.join(", ") }
        )),
    ]));
    b.push(para(vec![
        strong("Categories of data subjects:"),
        text(" "),
        text("account holders whose camera streams were delivered to someone else (the subjects), and the people visible in those images; the recipients' account ids were processed too."),
    ]));
    b.push(para(vec![
        strong("Approximate number of data subjects:"),
        text(" "),
        text(if lo.subjects == up.subjects {
            format!(
                "{} accounts ({} with content shown or opened).",
                lo.subjects, h.viewed.lower.subjects
            )
        } else {
            format!(
                "{} to {} accounts ({} with content shown or opened).",
                lo.subjects, up.subjects, h.viewed.lower.subjects
            )
        }),
    ]));
    b.push(para(vec![
        strong("Approximate number of records:"),
        text(" "),
        text(format!(
            "{} leak deliveries (up to {}) of {} distinct objects (up to {}).",
            lo.deliveries, up.deliveries, lo.objects, up.objects
        )),
    ]));
    if !x.categories.is_empty() {
        b.push(table(
            &[
                "kind of record",
                ">leak deliveries",
                ">objects",
                ">subjects",
            ],
            x.categories
                .iter()
                .map(|(k, c)| vec![id(k), num(c.deliveries), num(c.objects), num(c.subjects)])
                .collect(),
        ));
    }
    match (h.first_leak, h.last_leak) {
        (Some(first), Some(last)) => {
            let mut p = vec![
                strong("Window:"),
                text(" "),
                text(format!(
                    "from {} to {} ({})",
                    time(first),
                    time(last),
                    duration(last - first)
                )),
            ];
            if let Some(d) = tl.detection.map(|i| &tl.changes[i]) {
                p.push(text(format!("; detected {}", time(d.ts))));
            }
            if let Some(m) = tl.mitigation.map(|i| &tl.changes[i]) {
                p.push(text(format!("; mitigated {}", time(m.ts))));
            }
            p.push(text("."));
            b.push(para(p));
        }
        _ => b.push(plain("Window: no leak was found.")),
    }
    b.push(heading(3, "(b) Contact point", "art33b"));
    b.push(Block::Field {
        label: "Name and contact details of the data protection officer or other contact point"
            .into(),
        hint: "name, e-mail, phone".into(),
    });
    b.push(heading(3, "(c) Likely consequences", "art33c"));
    b.push(Block::Field {
        label: "Likely consequences of the breach".into(),
        hint: format!(
            "e.g. images of the inside of {} homes seen by strangers ({} accounts' content was shown or opened)",
            lo.subjects, h.viewed.lower.subjects
        ),
    });
    b.push(heading(3, "(d) Measures taken or proposed", "art33d"));
    let measures: Vec<Vec<super::document::Inline>> = tl
        .changes
        .iter()
        .filter(|c| matches!(c.kind, ChangeKind::Mitigation | ChangeKind::Rollback))
        .map(|c| {
            let mut v = vec![
                text(format!("{} ", time(c.ts))),
                super::document::code(c.kind.as_str()),
                text(" of "),
                super::document::code(&c.component),
            ];
            if let Some(d) = &c.description {
                v.push(text(format!(": {d}")));
            }
            v
        })
        .collect();
    if !measures.is_empty() {
        b.push(plain("Logged so far:"));
        b.push(Block::Bullets(measures));
    }
    b.push(Block::Field {
        label: "Measures taken or proposed to address the breach and mitigate its effects".into(),
        hint: "fix, purge, notification of subjects, ...".into(),
    });
    b.extend(countries(f));
    b.push(heading(3, "Notification lists", "lists"));
    b.push(Block::Bullets(vec![
        vec![text(format!(
            "subjects.csv: {} exposed accounts, with country, first and last exposure, deliveries, viewed, distinct recipients and objects.",
            x.subjects.len()
        ))],
        vec![text(format!("recipients.csv: {} recipient accounts.", x.recipients.len()))],
        vec![text(format!("exposures.csv: {} (subject, recipient) pairs.", x.pairs.len()))],
    ]));
    b.push(plain(if ids.is_active() {
        "Account and session ids in this report and in the lists are pseudonyms: acct_/sess_ and the first 16 hex digits of HMAC-SHA-256 under the key given with --pseudonymize. leaks.csv, leaks.parquet, verdicts.parquet, unresolved.csv, citations.jsonl, timeline.jsonl, timeline.csv, findings.ocsf.jsonl and quarantine/ keep the real ids and are not for sharing."
    } else {
        "Account and session ids are shown as logged. Run with --pseudonymize KEYFILE for outputs to share."
    }));
    b
}

fn countries(f: &Findings) -> Vec<Block> {
    let x = &f.exposures;
    let mut b = vec![heading(3, "Per country", "countries")];
    if !x.have_countries {
        b.push(plain("The dataset has no accounts kind with countries, so subjects and recipients cannot be placed in a country."));
    }
    if !x.by_country.is_empty() {
        b.push(table(
            &[
                "country",
                ">exposed subjects",
                ">of which viewed",
                ">recipients",
            ],
            x.by_country
                .iter()
                .map(|(c, n)| {
                    vec![
                        id(c),
                        num(n.subjects),
                        num(n.subjects_viewed),
                        num(n.recipients),
                    ]
                })
                .collect(),
        ));
    }
    if x.us_states.is_empty() {
        return b;
    }
    b.push(heading(3, "US states", "us-states"));
    b.push(plain(format!(
        "Exposed US residents per state ({}), against the {US_STATE_THRESHOLD}-resident threshold above which many state laws require notifying the state attorney general.",
        match x.region_column {
            Some(c) => format!("from the accounts column {c}"),
            None => "the accounts kind has no state or region column".to_string(),
        }
    )));
    b.push(table(
        &["state", ">exposed residents", "over threshold"],
        x.us_states
            .iter()
            .map(|(s, n)| {
                vec![
                    id(s),
                    num(n),
                    num(if *n > US_STATE_THRESHOLD { "YES" } else { "no" }),
                ]
            })
            .collect(),
    ));
    for (state, n) in x.states_over_threshold() {
        let msg = if state == ABSENT {
            format!("{n} exposed US residents have no state on record, more than {US_STATE_THRESHOLD}: their states must be found before the state thresholds can be ruled out.")
        } else {
            format!("{state}: {n} exposed residents, more than {US_STATE_THRESHOLD}; the state's notification duties apply.")
        };
        b.push(Block::Callout(vec![text(msg)]));
    }
    b
}
