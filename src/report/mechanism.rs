//! The learned mechanism: `mechanism.json` (the rule as data, with its counts) and the sentence and table that lead the root-cause section.

use serde_json::{json, Value};

use super::document::{code, heading, num, para, plain, strong, table, text, Block, Cell, Inline};
use super::format::{count, pct, share};
use crate::findings::mechanism::{
    column_of, Condition, Mechanism, Term, MAX_CONDITIONS, MAX_TERMS, MIN_LEAKS, MIN_TERM_SUPPORT,
    PENALTY,
};
use crate::findings::timeline::ChangeEvent;
use crate::time::format_ms;

fn change_json(c: &ChangeEvent) -> Value {
    json!({
        "ts": format_ms(c.ts),
        "kind": c.kind.as_str(),
        "component": c.component,
        "version": c.version,
        "description": c.description,
    })
}

fn condition_json(m: &Mechanism, c: &Condition) -> Value {
    match c {
        Condition::Is { attr, value } => {
            json!({"attr": column_of(*attr), "op": "==", "value": value})
        }
        Condition::AtLeast { attr, value } => {
            json!({"attr": attr.column(), "op": ">=", "value": value})
        }
        Condition::Below { attr, value } => {
            json!({"attr": attr.column(), "op": "<", "value": value})
        }
        Condition::After { change } => json!({
            "attr": "ts", "op": ">=", "value": format_ms(m.changes[*change].ts),
            "change": change_json(&m.changes[*change]),
        }),
        Condition::Before { change } => json!({
            "attr": "ts", "op": "<", "value": format_ms(m.changes[*change].ts),
            "change": change_json(&m.changes[*change]),
        }),
        Condition::Between { from, to } => json!({
            "attr": "ts", "op": "between",
            "from": format_ms(m.changes[*from].ts), "to": format_ms(m.changes[*to].ts),
            "from_change": change_json(&m.changes[*from]),
            "to_change": change_json(&m.changes[*to]),
        }),
    }
}

fn term_json(m: &Mechanism, t: &Term) -> Value {
    json!({
        "all": t.conditions.iter().map(|c| condition_json(m, c)).collect::<Vec<_>>(),
        "deliveries": t.deliveries,
        "leak_deliveries": t.leaks,
    })
}

/// `mechanism.json`: the rule, its counts over the population and what it puts at risk.
pub fn json(m: &Mechanism) -> Value {
    json!({
        "rule": {"any": m.terms.iter().map(|t| term_json(m, t)).collect::<Vec<_>>()},
        "no_rule": no_rule(m),
        "population": {
            "definition": "deliveries with class leak or ok, at any time",
            "deliveries": m.deliveries,
            "leak_deliveries": m.leaks,
        },
        "matched_deliveries": m.matched,
        "matched_leak_deliveries": m.matched_leaks,
        "coverage": m.coverage(),
        "precision": m.precision(),
        "leak_rate_inside": m.precision(),
        "leak_rate_outside": m.rate_outside(),
        "opened_by": m.opened_by().map(|c| change_json(&m.changes[c])),
        "at_risk": {
            "definition": "recipients of deliveries of any class the rule holds (within the exposure window when the rule names no time)",
            "accounts": m.accounts_at_risk,
            "deliveries": m.deliveries_at_risk,
        },
        "learner": {
            "max_terms": MAX_TERMS,
            "max_conditions": MAX_CONDITIONS,
            "penalty_per_condition": PENALTY,
            "min_term_support": MIN_TERM_SUPPORT,
            "min_leak_deliveries": MIN_LEAKS,
            "score": "F1 of coverage of leak deliveries and precision",
        },
    })
}

/// A change as a reader names it: "the deploy of cache v2 (2019-12-26 02:00:00 UTC)".
fn change_words(c: &ChangeEvent) -> String {
    let version = c
        .version
        .as_deref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    format!(
        "the {} of {}{version} ({})",
        c.kind.as_str(),
        c.component,
        format_ms(c.ts)
    )
}

/// One condition in words, its values as code spans.
fn condition_inline(m: &Mechanism, c: &Condition, out: &mut Vec<Inline>) {
    match c {
        Condition::Is { attr, value } => {
            out.push(text(format!("{} ", attr.describe())));
            out.push(code(value));
        }
        Condition::AtLeast { attr, value } => {
            out.push(text(format!("{} ≥ {}", attr.describe(), attr.show(*value))))
        }
        Condition::Below { attr, value } => {
            out.push(text(format!("{} < {}", attr.describe(), attr.show(*value))))
        }
        Condition::After { change } => {
            out.push(text(format!("after {}", change_words(&m.changes[*change]))))
        }
        Condition::Before { change } => out.push(text(format!(
            "before {}",
            change_words(&m.changes[*change])
        ))),
        Condition::Between { from, to } => out.push(text(format!(
            "between {} and {}",
            change_words(&m.changes[*from]),
            change_words(&m.changes[*to])
        ))),
    }
}

fn conjunction(m: &Mechanism, cs: &[&Condition], out: &mut Vec<Inline>) {
    for (k, c) in cs.iter().enumerate() {
        if k > 0 {
            out.push(text(if k + 1 == cs.len() { " and " } else { ", " }));
        }
        condition_inline(m, c, out);
    }
}

/// Why there is no rule, when there is none.
fn no_rule(m: &Mechanism) -> Option<String> {
    if !m.terms.is_empty() {
        return None;
    }
    Some(if m.leaks == 0 {
        "No rule: there are no leak deliveries.".to_string()
    } else if m.leaks < MIN_LEAKS {
        format!(
                "No rule: {} are too few to learn one from (it takes {MIN_LEAKS}); any rule would fit them.",
                count(m.leaks, "leak delivery", "leak deliveries")
            )
    } else if m.leaks == m.deliveries {
        "No rule: every delivery with a firm verdict leaked, so no condition sets the leaks apart from ok deliveries.".to_string()
    } else {
        format!(
                "No rule explains the leaks: no AND of at most {MAX_CONDITIONS} conditions holds {} of the {} leak deliveries and pays its price in F1.",
                pct(MIN_TERM_SUPPORT),
                m.leaks
            )
    })
}

/// The rule as one sentence, or why there is none.
pub fn sentence(m: &Mechanism) -> Vec<Inline> {
    if let Some(why) = no_rule(m) {
        return vec![text(why)];
    }
    let (common, rest) = m.factored();
    // What the deliveries had, then when: "with a, b and (c or d), between X and Y".
    let (when, common): (Vec<&Condition>, Vec<&Condition>) =
        common.into_iter().partition(|c| c.is_time());
    let mut out = vec![strong("Mechanism:"), text(" leaks happened to deliveries")];
    let alternatives: Vec<&Vec<&Condition>> = rest.iter().filter(|r| !r.is_empty()).collect();
    // The shared conditions, then the alternatives as one more item: "a, b and (c or d)".
    let items = common.len() + (!alternatives.is_empty()) as usize;
    if items > 0 {
        out.push(text(" with "));
    }
    for (k, c) in common.iter().enumerate() {
        if k > 0 {
            out.push(text(if k + 1 == items { " and " } else { ", " }));
        }
        condition_inline(m, c, &mut out);
    }
    if !alternatives.is_empty() {
        if !common.is_empty() {
            out.push(text(" and "));
        }
        let grouped = alternatives.len() > 1 && !common.is_empty();
        if grouped {
            out.push(text("("));
        }
        // Without a shared part, each alternative of several conditions is bracketed on its own.
        let bracket = |alt: &Vec<&Condition>| !grouped && alternatives.len() > 1 && alt.len() > 1;
        for (k, alt) in alternatives.iter().enumerate() {
            if k > 0 {
                out.push(text(" or "));
            }
            if bracket(alt) {
                out.push(text("("));
            }
            conjunction(m, alt, &mut out);
            if bracket(alt) {
                out.push(text(")"));
            }
        }
        if grouped {
            out.push(text(")"));
        }
    }
    for c in when {
        out.push(text(if items > 0 { ", " } else { " " }));
        condition_inline(m, c, &mut out);
    }
    if let (false, Some(c)) = (m.names_time(), m.opened_by()) {
        // The configuration the rule names is the one this change put on the fills.
        out.push(text(format!(", from {} on", change_words(&m.changes[c]))));
    }
    out.push(text(format!(
        "; the rule covers {} of the {} leak deliveries, and {} of the {} deliveries it holds leaked ({} elsewhere).",
        pct(m.coverage()),
        m.leaks,
        pct(m.precision()),
        m.matched,
        pct(m.rate_outside()),
    )));
    out
}

/// The section's lead: the sentence, the population at risk and the terms.
pub fn lead(m: &Mechanism, exposed: usize) -> Vec<Block> {
    let mut b = vec![
        heading(3, "The mechanism as a rule", "mechanism"),
        para(sentence(m)),
    ];
    if m.terms.is_empty() {
        return b;
    }
    b.push(plain(format!(
        "Population at risk: {} received at least one of the {} the rule holds{}, beside the {} exposed.",
        count(m.accounts_at_risk, "account", "accounts"),
        count(m.deliveries_at_risk, "delivery", "deliveries"),
        if m.names_time() {
            ""
        } else {
            " within the exposure window"
        },
        count(exposed as u64, "account", "accounts"),
    )));
    let rows: Vec<Vec<Cell>> = m
        .terms
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let mut c = Vec::new();
            conjunction(m, &t.conditions.iter().collect::<Vec<_>>(), &mut c);
            vec![
                num(format!("#{}", k + 1)),
                c,
                num(t.deliveries),
                num(t.leaks),
                num(share(t.leaks, m.leaks)),
                num(share(t.leaks, t.deliveries)),
            ]
        })
        .collect();
    b.push(table(
        &[
            "term",
            "conditions",
            ">deliveries",
            ">leaks",
            ">of all leaks",
            ">leak rate",
        ],
        rows,
    ));
    b.push(plain(format!(
        "Learned by sequential covering over every delivery with a firm verdict (leak against ok, at any time): an OR of at most {MAX_TERMS} ANDs of at most {MAX_CONDITIONS} conditions over integration, client, kind, config version of the fill, cache node, server, recipient country, rtt, loss, bytes and the time after, before or between changes; each condition must raise the rule's F1 by {PENALTY} or more and each term hold at least {} of the leaks; cut points are values of the data, each shown as the roundest number that splits the deliveries the same way. The rule is in mechanism.json; verdicts.parquet recounts it.",
        pct(MIN_TERM_SUPPORT)
    )));
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::factors::Attribute;
    use crate::findings::mechanism::Numeric;
    use crate::schema::ChangeKind;

    fn words(parts: &[Inline]) -> String {
        parts
            .iter()
            .map(|p| match p {
                Inline::Text(s) => s.clone(),
                Inline::Code(s) => format!("`{s}`"),
                Inline::Strong(s) => format!("**{s}**"),
            })
            .collect()
    }

    fn rule(terms: Vec<Vec<Condition>>) -> Mechanism {
        Mechanism {
            terms: terms
                .into_iter()
                .map(|conditions| Term {
                    conditions,
                    deliveries: 10,
                    leaks: 8,
                })
                .collect(),
            deliveries: 100,
            leaks: 20,
            matched: 20,
            matched_leaks: 16,
            ..Mechanism::default()
        }
    }

    fn gh() -> Condition {
        Condition::Is {
            attr: Attribute::Integration,
            value: "google_home".into(),
        }
    }

    fn at_least(attr: Numeric, value: f64) -> Condition {
        Condition::AtLeast { attr, value }
    }

    #[test]
    fn shared_conditions_come_first_and_the_or_is_bracketed() {
        let m = rule(vec![
            vec![gh(), at_least(Numeric::Rtt, 300.0)],
            vec![gh(), at_least(Numeric::Loss, 2.0)],
        ]);
        assert_eq!(
            words(&sentence(&m)),
            "**Mechanism:** leaks happened to deliveries with integration `google_home` and (rtt ≥ 300 ms or loss ≥ 2%); the rule covers 80.0% of the 20 leak deliveries, and 80.0% of the 20 deliveries it holds leaked (5.0% elsewhere)."
        );
    }

    #[test]
    fn alternatives_without_a_shared_part_are_bracketed_each() {
        let m = rule(vec![
            vec![gh(), at_least(Numeric::Rtt, 300.0)],
            vec![at_least(Numeric::Loss, 2.0)],
        ]);
        let s = words(&sentence(&m));
        assert!(
            s.contains("with (integration `google_home` and rtt ≥ 300 ms) or loss ≥ 2%;"),
            "{s}"
        );
        let json = json(&m);
        assert_eq!(json["rule"]["any"][0]["all"][1]["attr"], "rtt_ms");
        assert_eq!(json["rule"]["any"][1]["all"][0]["value"], 2.0);
        assert_eq!(json["no_rule"], Value::Null);
    }

    #[test]
    fn the_window_comes_after_what_the_deliveries_had() {
        let m = rule(vec![
            vec![
                Condition::Between { from: 0, to: 1 },
                gh(),
                at_least(Numeric::Rtt, 300.0),
            ],
            vec![
                Condition::Between { from: 0, to: 1 },
                gh(),
                at_least(Numeric::Loss, 2.0),
            ],
        ]);
        let m = Mechanism {
            changes: [ChangeKind::Deploy, ChangeKind::Mitigation]
                .into_iter()
                .enumerate()
                .map(|(i, kind)| ChangeEvent {
                    ts: 1_577_742_000_000 + i as i64 * 3_600_000,
                    kind,
                    component: "cache".into(),
                    version: None,
                    description: None,
                })
                .collect(),
            ..m
        };
        let s = words(&sentence(&m));
        assert!(
            s.contains("deliveries with integration `google_home` and (rtt ≥ 300 ms or loss ≥ 2%), between the deploy of cache (2019-12-30T21:40:00.000Z) and the mitigation of cache (2019-12-30T22:40:00.000Z); the rule"),
            "{s}"
        );
    }

    #[test]
    fn too_few_leaks_say_so() {
        let m = Mechanism {
            deliveries: 100,
            leaks: 2,
            ..Mechanism::default()
        };
        assert!(words(&sentence(&m)).starts_with("No rule: 2 leak deliveries are too few"));
        assert!(json(&m)["no_rule"].as_str().unwrap().contains("too few"));
    }
}
