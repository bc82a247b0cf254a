//! The planted rule as `truth_mechanism.json`, in the form `mechanism.json` gives the learned one: the scenario's condition with its window from the world's changes.
//!
//! A term's `config_version`, where given, is the configuration its window put on every fill,
//! which stands for the window.

use serde_json::{json, Value};

use super::mechanism::{region_config, Mechanism};
use super::scenario::Scenario;
use super::timefmt::utc;
use super::world::World;

/// The planted rule as `{"any": [{"all": [...]}]}`, its window from the world's changes.
pub fn rule(m: &Mechanism, world: &World) -> Value {
    let (open, close) = window(world);
    let between =
        |open: i64| json!({"attr": "ts", "op": "between", "from": utc(open), "to": utc(close)});
    let time = between(open);
    let terms: Vec<Value> = match world.scenario {
        Scenario::CacheKeyCollision => m
            .poor
            .conditions()
            .into_iter()
            .map(|c| {
                json!({"all": [
                    {"attr": "integration", "op": "==", "value": "google_home"},
                    {"attr": "kind", "op": "==", "value": "still"},
                    c,
                    time,
                ], "config_version": "v2"})
            })
            .collect(),
        Scenario::SessionMixup => m
            .poor
            .conditions()
            .into_iter()
            .map(|c| json!({"all": [c, time]}))
            .collect(),
        Scenario::AuthPageCache => m
            .regions
            .iter()
            .map(|r| {
                let config = region_config(r);
                let open = world
                    .changes
                    .iter()
                    .find(|c| c.version.as_deref() == Some(config.as_str()))
                    .map_or(open, |c| c.ts);
                json!({"all": [
                    {"attr": "country", "op": "==", "value": r},
                    {"attr": "kind", "op": "==", "value": "page"},
                    between(open),
                ], "config_version": config})
            })
            .collect(),
    };
    json!({"any": terms})
}

/// `truth_mechanism.json`: the planted rule, its bounds and regions.
pub fn truth_json(m: &Mechanism, world: &World) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(&json!({
        "scenario": world.scenario.name(),
        "drawn": m.drawn,
        "rtt_ms": m.poor.rtt_ms,
        "loss_pct": m.poor.loss10.map(|t| t as f64 / 10.0),
        "regions": if world.scenario == Scenario::AuthPageCache { m.regions.clone() } else { Vec::new() },
        "rule": rule(m, world),
    }))?;
    text.push('\n');
    Ok(text)
}

/// The instants of the changes that open and close the bug's window (its start and mitigation).
fn window(world: &World) -> (i64, i64) {
    let (open, close) = match world.scenario {
        Scenario::CacheKeyCollision => (("cache", "deploy"), ("google_home", "mitigation")),
        Scenario::SessionMixup => (("edge-proxy", "note"), ("edge-proxy", "mitigation")),
        Scenario::AuthPageCache => (("cdn", "config"), ("cdn", "mitigation")),
    };
    let at = |(component, kind): (&str, &str)| {
        world
            .changes
            .iter()
            .find(|c| c.component == component && c.kind == kind)
            .map_or(0, |c| c.ts)
    };
    (at(open), at(close))
}
