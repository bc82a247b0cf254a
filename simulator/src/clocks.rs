//! The writers' clocks: which cache nodes and stream servers run fast or slow and by how much, what dataset.toml states of it, and `truth_clocks.json`.
//!
//! `--dirty` skews one node and one server by fixed amounts. `--skewed-clocks N` skews N more of
//! each by offsets drawn from the seed, `--clock-drift` changes every skewed clock's offset once,
//! and `--unstated-offsets` leaves them all out of dataset.toml, as when nobody knows them. The
//! draws come from a stream of their own, so that without these flags nothing else changes.

use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::json;

use super::sim::{Clock, Clocks};
use super::timefmt::{tick_ms, utc, TICKS};
use super::world::{World, FAST_NODE, SLOW_SERVER};
use super::GenerateArgs;

/// Offsets drawn for `--skewed-clocks`, either way, in ms.
const SKEW_MS: (i64, i64) = (300, 3000);
/// How far a drifting clock's offset moves, either way, in ms.
const DRIFT_MS: (i64, i64) = (200, 1500);

/// The clocks of `world` as `args` asks for them.
pub fn draw(world: &World, args: &GenerateArgs, mut rng: impl Rng) -> Clocks {
    let n = world.nodes.len();
    let mut clocks = Clocks {
        node: vec![Clock::default(); n],
        server: vec![Clock::default(); n],
    };
    if args.dirty {
        for (i, node) in world.nodes.iter().enumerate() {
            if node.name == FAST_NODE.0 {
                clocks.node[i] = Clock::fixed(FAST_NODE.1);
            }
            if node.server == SLOW_SERVER.0 {
                clocks.server[i] = Clock::fixed(SLOW_SERVER.1);
            }
        }
    }
    for list in [&mut clocks.node, &mut clocks.server] {
        let mut free: Vec<usize> = (0..n).filter(|&i| list[i].offset == 0).collect();
        free.shuffle(&mut rng);
        for &i in free.iter().take(args.skewed_clocks) {
            let sign = if rng.gen::<bool>() { 1 } else { -1 };
            list[i] = Clock::fixed(sign * rng.gen_range(SKEW_MS.0..SKEW_MS.1));
        }
    }
    if args.clock_drift {
        for c in clocks.node.iter_mut().chain(clocks.server.iter_mut()) {
            if c.offset == 0 {
                continue;
            }
            let from = tick_ms(rng.gen_range(TICKS / 4..3 * TICKS / 4));
            let sign = if rng.gen::<bool>() { 1 } else { -1 };
            c.drift = Some((
                from,
                c.offset + sign * rng.gen_range(DRIFT_MS.0..DRIFT_MS.1),
            ));
        }
    }
    clocks
}

/// Every skewed clock by name, in name order: (name, clock).
fn skewed<'a>(world: &'a World, clocks: &Clocks) -> Vec<(&'a str, Clock)> {
    let mut v: Vec<(&str, Clock)> = Vec::new();
    for (i, node) in world.nodes.iter().enumerate() {
        for (name, c) in [
            (&node.name, clocks.node[i]),
            (&node.server, clocks.server[i]),
        ] {
            if c != Clock::default() {
                v.push((name.as_str(), c));
            }
        }
    }
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// The `[clock_offset_ms]` block of dataset.toml, with a blank line before it; empty when no
/// clock is skewed or the offsets are unstated.
pub fn stated_block(world: &World, clocks: &Clocks, args: &GenerateArgs) -> String {
    let skewed = skewed(world, clocks);
    if args.unstated_offsets || skewed.is_empty() {
        return String::new();
    }
    if args.skewed_clocks == 0 && !args.clock_drift {
        // What --dirty has always written.
        return format!(
            "\n[clock_offset_ms]\n# {} ran 1.5 s fast; {} ran 0.75 s slow.\n\"{}\" = {}\n\"{}\" = {}\n",
            FAST_NODE.0, SLOW_SERVER.0, FAST_NODE.0, FAST_NODE.1, SLOW_SERVER.0, SLOW_SERVER.1
        );
    }
    let mut s = String::from("\n[clock_offset_ms]\n");
    if args.clock_drift {
        s.push_str("# The clocks drift: these are their offsets at the start (truth_clocks.json has each change).\n");
    }
    for (name, c) in skewed {
        s.push_str(&format!("\"{name}\" = {}\n", c.offset));
    }
    s
}

/// `truth_clocks.json`: every cache node's and stream server's true correction (corrected =
/// logged + offset), its change where it drifts, and whether dataset.toml states it.
pub fn truth_json(world: &World, clocks: &Clocks, args: &GenerateArgs) -> anyhow::Result<String> {
    let stated = !args.unstated_offsets;
    let mut all = Vec::new();
    for (kind, pick) in [("cache_node", 0), ("stream_server", 1)] {
        let mut of_kind: Vec<(&str, Clock)> = world
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| match pick {
                0 => (n.name.as_str(), clocks.node[i]),
                _ => (n.server.as_str(), clocks.server[i]),
            })
            .collect();
        of_kind.sort_by(|a, b| a.0.cmp(b.0));
        for (name, c) in of_kind {
            let changes: Vec<_> = c
                .drift
                .iter()
                .map(|&(from, offset)| json!({"from": utc(from), "offset_ms": offset}))
                .collect();
            all.push(json!({
                "clock": name,
                "kind": kind,
                "offset_ms": c.offset,
                "changes": changes,
                "stated_in_dataset_toml": stated && c != Clock::default(),
            }));
        }
    }
    let mut text = serde_json::to_string_pretty(&json!({
        "convention": "corrected = logged + offset_ms, as [clock_offset_ms] in dataset.toml",
        "clocks": all,
    }))?;
    text.push('\n');
    Ok(text)
}
