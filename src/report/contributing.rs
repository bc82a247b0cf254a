//! The contributing-factors section: the top explanation in one sentence, ranked explanations per family, every attribute, pairs, and the cache-key collision evidence.

use super::charts;
use super::document::{
    code, heading, id, num, para, plain, strong, table, text, Block, Cell, Chart, Inline,
};
use super::format::{pct, ratio, share};
use super::investigation::TOP_ROWS;
use crate::findings::factors::{
    Attribute, Family, Items, Pattern, CONTINUITY, MIN_RISK_RATIO, MIN_SUPPORT,
};
use crate::findings::Findings;

fn items_inline(items: &Items, out: &mut Vec<Inline>) {
    for (k, (attr, value)) in items.iter().enumerate() {
        if k > 0 {
            out.push(text(" & "));
        }
        out.push(text(format!("{} = ", attr.name())));
        out.push(code(value));
    }
}

fn pattern_cells(p: &Pattern) -> Cell {
    let mut c = Vec::new();
    items_inline(&p.items, &mut c);
    if !p.equivalent.is_empty() {
        c.push(text(" (same deliveries as "));
        for (k, e) in p.equivalent.iter().take(3).enumerate() {
            if k > 0 {
                c.push(text("; "));
            }
            items_inline(e, &mut c);
        }
        if p.equivalent.len() > 3 {
            c.push(text(format!("; {} more", p.equivalent.len() - 3)));
        }
        c.push(text(")"));
    }
    c
}

fn pattern_row(rank: Option<usize>, p: &Pattern) -> Vec<Cell> {
    let mut r = Vec::new();
    if let Some(k) = rank {
        r.push(num(format!("#{k}")));
    }
    r.extend([
        pattern_cells(p),
        num(p.deliveries),
        num(p.leaks),
        num(pct(p.support)),
        num(pct(p.leak_rate)),
        num(pct(p.rest_rate)),
        num(ratio(p.risk_ratio)),
    ]);
    r
}

const PATTERN_HEAD: [&str; 7] = [
    "pattern",
    ">deliveries",
    ">leaks",
    ">support",
    ">leak rate",
    ">rate elsewhere",
    ">risk ratio",
];

fn ranked_table(ps: &[Pattern]) -> Block {
    let mut head = vec!["#"];
    head.extend(PATTERN_HEAD);
    table(
        &head,
        ps.iter()
            .take(TOP_ROWS)
            .enumerate()
            .map(|(k, p)| pattern_row(Some(k + 1), p))
            .collect(),
    )
}

/// "integration `google_home` (equivalently client `nest_hub`), round-trip time `high` and object kind `still`".
fn describe_items(items: &Items, equivalent: &[Items], out: &mut Vec<Inline>) {
    for (k, (attr, value)) in items.iter().enumerate() {
        if k > 0 {
            out.push(text(if k + 1 == items.len() { " and " } else { ", " }));
        }
        out.extend([text(format!("{} ", attr.describe())), code(value)]);
        let alt: Vec<&(Attribute, String)> = equivalent
            .iter()
            .filter(|e| e.len() == items.len())
            .filter_map(|e| e.get(k))
            .filter(|e| e.0 != *attr)
            .collect();
        if let Some((a, v)) = alt.first() {
            out.extend([
                text(format!(" (equivalently {} ", a.describe())),
                code(v.clone()),
                text(")"),
            ]);
        }
    }
}

pub fn factors(findings: &Findings) -> Vec<Block> {
    let f = &findings.factors;
    let mut b = vec![heading(2, "4. Contributing factors", "factors")];
    if f.leaks == 0 {
        b.push(plain("No leak, so no contributing factor."));
        return b;
    }
    match f.top() {
        Some(top) => {
            let mut p = vec![strong("Top explanation:"), text(" leaks concentrate in deliveries with ")];
            describe_items(&top.items, &top.equivalent, &mut p);
            p.push(text(format!(
                ". These carry {} of the leak deliveries; {} of them leaked, against {} of the other deliveries (risk ratio {}).",
                pct(top.support),
                pct(top.leak_rate),
                pct(top.rest_rate),
                ratio(top.risk_ratio)
            )));
            let env: Vec<&Pattern> = Attribute::ALL
                .iter()
                .filter(|a| a.family() == Family::Environment)
                .filter_map(|a| f.single.get(a)?.first())
                .filter(|p| p.support >= MIN_SUPPORT && p.risk_ratio >= MIN_RISK_RATIO)
                .collect();
            if !env.is_empty() {
                p.push(text(" By version and place they concentrate in "));
                for (k, e) in env.iter().enumerate() {
                    if k > 0 {
                        p.push(text(", "));
                    }
                    p.extend([
                        text(format!("{} ", e.items[0].0.describe())),
                        code(e.items[0].1.clone()),
                        text(format!(" ({} of leaks, {})", pct(e.support), ratio(e.risk_ratio))),
                    ]);
                }
                p.push(text("."));
            }
            b.push(para(p));
        }
        None => b.push(plain(
            "No request attribute value or pair reaches the thresholds below: the leaks do not concentrate in any kind of request.",
        )),
    }
    b.push(plain(format!(
        "Population: the {} deliveries of the exposure window with a firm verdict ({} leak, the rest ok; ambiguous and unresolved left out). Support: the share of the leak deliveries inside the pattern. Risk ratio: leak rate inside over leak rate elsewhere, with {CONTINUITY} added to each count. Explanations need support of at least {} and a risk ratio of at least {MIN_RISK_RATIO}; pairs and triples (triples of request attributes only) are listed only when they beat every part of them; patterns that select exactly the same deliveries are listed once. Request attributes (integration, client, kind, rtt, loss) describe who is at risk and give the top explanation; environment attributes (config_version of the fill, cache_node, server, recipient country) are ranked apart, as they mostly restate the change found by the timeline or where the affected users live. Rtt and loss are binned at the cut points of the learned rule (section 3), or at their quartiles where the rule does not cut them.",
        f.deliveries,
        f.leaks,
        pct(MIN_SUPPORT)
    )));
    b.push(heading(
        3,
        "Explanations from the request",
        "request-factors",
    ));
    if f.request.is_empty() {
        b.push(plain("None."));
    } else {
        b.push(ranked_table(&f.request));
        let shown: Vec<Pattern> = f.request.iter().take(8).cloned().collect();
        if let Ok(svg) = charts::factor_rates(&shown) {
            b.push(Block::Chart(Chart {
                file: "factors.svg".into(),
                title:
                    "Leak rate inside each request explanation (by rank, red) and elsewhere (grey)"
                        .into(),
                svg,
            }));
        }
    }
    b.push(heading(
        3,
        "Explanations involving version and place",
        "environment-factors",
    ));
    if f.environment.is_empty() {
        b.push(plain("None."));
    } else {
        b.push(ranked_table(&f.environment));
    }
    b.push(heading(3, "Every attribute", "attributes"));
    b.push(plain("The five values of each attribute with the highest risk ratio (all values are in factors.csv)."));
    let mut rows = Vec::new();
    for attr in Attribute::ALL {
        for p in f.single.get(&attr).into_iter().flatten().take(5) {
            rows.push(pattern_row(None, p));
        }
    }
    b.push(table(&PATTERN_HEAD, rows));
    b.push(heading(3, "Pairs of attributes", "pairs"));
    b.push(plain(format!(
        "Pairs of values each carrying at least {} of the leaks, highest risk ratio first (all in factors.csv).",
        pct(MIN_SUPPORT)
    )));
    if f.pairs.is_empty() {
        b.push(plain("None."));
    } else {
        b.push(table(
            &PATTERN_HEAD,
            f.pairs
                .iter()
                .take(TOP_ROWS)
                .map(|p| pattern_row(None, p))
                .collect(),
        ));
    }
    b.extend(collisions(findings));
    b
}

fn collisions(f: &Findings) -> Vec<Block> {
    let c = &f.collisions;
    let mut b = vec![heading(
        3,
        "Collision evidence: cache keys serving several subjects",
        "collisions",
    )];
    if c.is_empty() {
        b.push(plain(
            "No cache key served content of two or more subjects.",
        ));
        return b;
    }
    b.push(plain(format!(
        "{} cache keys served content of two or more subjects (a key should name one stream, so one owner); the {} with the most subjects are below, all in cache_collisions.csv.",
        c.len(),
        TOP_ROWS.min(c.len())
    )));
    let rows = c
        .iter()
        .take(TOP_ROWS)
        .map(|k| {
            vec![
                id(&k.cache_key),
                num(k.subjects),
                num(k.streams),
                num(k.nodes),
                num(k.deliveries),
                num(k.leaks),
                num(share(k.leaks, k.deliveries)),
            ]
        })
        .collect();
    b.push(table(
        &[
            "cache key",
            ">subjects",
            ">streams",
            ">nodes",
            ">deliveries",
            ">leak deliveries",
            ">leak share",
        ],
        rows,
    ));
    b
}
