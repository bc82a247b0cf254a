//! End to end: for every scenario, clean and dirty, three seeds each, the analyser's summary equals
//! the generator's truth on every key, and its leak set equals `truth_leaks.csv` exactly. The same
//! for the datasets in real log forms (`--real-logs`), whose verdicts also equal the contract
//! form's except for the deliveries `truth_differences.csv` lists, and for the datasets whose
//! ownership log is a registry's snapshots (`--ownership-snapshots`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use leakscope::analyze::{analyze, summary_json, Analysis, AnalyzeOptions};
use leakscope::schema::Kind;
use leakscope::verdict::Class;
use leakscope_simulator::shape::Shape;
use leakscope_simulator::{generate, GenerateArgs};

const SCENARIOS: [&str; 3] = ["cache-key-collision", "session-mixup", "auth-page-cache"];
const DELIVERIES: u64 = 10_000;

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// Compares one dataset; returns a description of every disagreement.
fn check(scenario: &str, seed: u64, dirty: bool, format: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut args = GenerateArgs::new(scenario, seed, DELIVERIES, dir.path());
    args.format = format.to_string();
    args.dirty = dirty;
    let report = generate(&args).unwrap();
    let label = format!(
        "{scenario} seed {seed} {format}{}",
        if dirty { " dirty" } else { "" }
    );
    match analyze(dir.path(), &AnalyzeOptions::default()) {
        Ok(a) => against_truth(&label, dir.path(), &report.truth, &a),
        Err(e) => vec![format!("{label}: analyze failed: {e}")],
    }
}

/// Each delivery's class by request id.
fn classes(analysis: &Analysis) -> BTreeMap<String, &'static str> {
    let ids = analysis.loaded.table(Kind::Deliveries).text("request_id");
    ids.iter()
        .enumerate()
        .filter_map(|(i, id)| Some((id?.to_string(), analysis.verdicts[i].class.as_str())))
        .collect()
}

/// The real-log form of one scenario and seed against its truth, and its verdicts against those of
/// the contract form of the same world.
fn check_real(scenario: &str, seed: u64, shape: Shape) -> Vec<String> {
    check_form(scenario, seed, shape, "real logs", |a| a.real_logs = true)
}

/// One scenario and seed in the form `form` makes of it, against its truth, and its verdicts
/// against those of the contract form of the same world.
fn check_form(
    scenario: &str,
    seed: u64,
    shape: Shape,
    name: &str,
    form: impl Fn(&mut GenerateArgs),
) -> Vec<String> {
    let label = format!("{scenario} seed {seed} {} {name}", shape.name());
    let (real, contract) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut plain = GenerateArgs::new(scenario, seed, DELIVERIES, contract.path());
    plain.shape = shape;
    generate(&plain).unwrap();
    let mut args = GenerateArgs::new(scenario, seed, DELIVERIES, real.path());
    args.shape = shape;
    form(&mut args);
    let report = generate(&args).unwrap();
    let (a, c) = match (
        analyze(real.path(), &AnalyzeOptions::default()),
        analyze(contract.path(), &AnalyzeOptions::default()),
    ) {
        (Ok(a), Ok(c)) => (a, c),
        (a, c) => {
            return vec![format!(
                "{label}: analyze failed: {:?} {:?}",
                a.err(),
                c.err()
            )]
        }
    };
    let mut problems = against_truth(&label, real.path(), &report.truth, &a);
    let (shown, want) = (classes(&a), classes(&c));
    let listed: BTreeMap<String, (String, String)> =
        read_lines(&real.path().join("truth_differences.csv"))
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_string(), (f[1].to_string(), f[3].to_string()))
            })
            .collect();
    if shown.len() != want.len() {
        problems.push(format!(
            "{label}: {} deliveries, the contract form {}",
            shown.len(),
            want.len()
        ));
    }
    for (id, class) in &want {
        let got = shown.get(id).copied().unwrap_or("missing");
        match listed.get(id) {
            // Listed for its class, or for its subject or object alone (the class the same).
            Some((c, r)) if c == class && r == got => {}
            Some(l) => problems.push(format!(
                "{label}: {id} listed as {l:?}, analysed {class} (contract) and {got} (real)"
            )),
            None if got != *class => problems.push(format!(
                "{label}: {id} is {class} in the contract form, {got} in the real logs, and not listed"
            )),
            None => {}
        }
    }
    problems
}

/// The analyser's summary and leak set against the generator's truth.
fn against_truth(
    label: &str,
    root: &Path,
    want: &serde_json::Value,
    analysis: &Analysis,
) -> Vec<String> {
    let got = summary_json(analysis);
    let mut problems = Vec::new();
    for (key, w) in want.as_object().unwrap() {
        if key == "rows" {
            for (kind, counts) in w.as_object().unwrap() {
                for (field, v) in counts.as_object().unwrap() {
                    let g = &got["rows"][kind][field];
                    if g != v {
                        problems.push(format!(
                            "{label}: rows.{kind}.{field}: truth {v}, analyser {g}"
                        ));
                    }
                }
            }
        } else if &got[key] != w {
            problems.push(format!("{label}: {key}: truth {w}, analyser {}", got[key]));
        }
    }
    // The leak sets, and for a few differing deliveries what each side made of them.
    let ids = analysis.loaded.table(Kind::Deliveries).text("request_id");
    let mut engine: BTreeMap<String, usize> = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        if let Some(id) = id {
            engine.insert(id.to_string(), i);
        }
    }
    let engine_leaks: BTreeSet<&String> = engine
        .iter()
        .filter(|(_, &i)| analysis.verdicts[i].class == Class::Leak)
        .map(|(id, _)| id)
        .collect();
    let truth_leaks: Vec<String> = read_lines(&root.join("truth_leaks.csv"));
    let truth_set: BTreeSet<&String> = truth_leaks.iter().collect();
    if engine_leaks != truth_set {
        let details: BTreeMap<String, String> = read_lines(&root.join("truth_details.csv"))
            .into_iter()
            .map(|l| (l.split(',').next().unwrap_or("").to_string(), l))
            .collect();
        let only_truth: Vec<&&String> = truth_set.difference(&engine_leaks).collect();
        let only_engine: Vec<&&String> = engine_leaks.difference(&truth_set).collect();
        problems.push(format!(
            "{label}: leak sets differ: {} only in truth, {} only in the analyser",
            only_truth.len(),
            only_engine.len()
        ));
        for id in only_truth.iter().chain(only_engine.iter()).take(6) {
            let v = engine
                .get(id.as_str())
                .map(|&i| format!("{:?}", analysis.verdicts[i]));
            problems.push(format!(
                "    {id}: truth {:?}; analyser {}",
                details
                    .get(id.as_str())
                    .cloned()
                    .unwrap_or_else(|| "ok".into()),
                v.unwrap_or_else(|| "no such delivery".into())
            ));
        }
    }
    problems
}

#[test]
fn analyser_matches_the_truth_of_every_scenario() {
    let mut problems = Vec::new();
    for scenario in SCENARIOS {
        for (seed, clean_format, dirty_format) in [
            (1, "csv", "mixed"),
            (2, "parquet", "csv"),
            (3, "jsonl", "parquet"),
        ] {
            problems.extend(check(scenario, seed, false, clean_format));
            problems.extend(check(scenario, seed, true, dirty_format));
        }
    }
    assert!(
        problems.is_empty(),
        "{} disagreements:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn real_logs_match_their_truth_and_the_contract_form_but_where_listed() {
    let mut problems = Vec::new();
    for scenario in SCENARIOS {
        for seed in [1, 2] {
            problems.extend(check_real(scenario, seed, Shape::Standard));
        }
    }
    problems.extend(check_real("cache-key-collision", 3, Shape::CacheHeavy));
    assert!(
        problems.is_empty(),
        "{} disagreements:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Ownership as a registry's snapshots (`--ownership-snapshots`), alone and with the real logs:
/// the analyser's summary and leak set equal the truth of what the snapshots can show, and every
/// verdict that differs from the contract form's is listed with why.
#[test]
fn registry_snapshots_match_their_truth_and_the_contract_form_but_where_listed() {
    let mut problems = Vec::new();
    for scenario in SCENARIOS {
        problems.extend(check_form(
            scenario,
            1,
            Shape::Standard,
            "snapshots every 6h",
            |a| a.ownership_snapshots = Some("6h".into()),
        ));
    }
    problems.extend(check_form(
        "session-mixup",
        2,
        Shape::Standard,
        "real logs, snapshots every 30m",
        |a| {
            a.real_logs = true;
            a.ownership_snapshots = Some("30m".into());
        },
    ));
    assert!(
        problems.is_empty(),
        "{} disagreements:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
