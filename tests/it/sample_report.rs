//! `reports/sample/` is the committed output of the README's main command on `data/sample`:
//! this test runs that command again and compares every file byte for byte (except
//! `timings.json`), so the report stays reproducible and the sample never goes stale.
//!
//! The same run's `summary.json` and `report.md` are also insta snapshots
//! (`snapshots/it__sample_report__*.snap`), which show a change as a reviewable diff.
//!
//! To refresh both after a deliberate change:
//! `CARGO_TARGET_DIR=$HOME/.cache/leakscope-target cargo run --locked -- analyze data/sample --out reports/sample`
//! then `INSTA_UPDATE=always cargo test --test it sample_report`, and read the changed `.snap` files.

use std::path::Path;

use crate::common::{bin, copy_tree, walk};

fn relative_files(root: &Path) -> Vec<String> {
    walk(root)
        .iter()
        .map(|p| {
            p.strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .filter(|p| p != "timings.json")
        .collect()
}

/// Where two texts first differ, for the failure message.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  committed:   {x}\n  regenerated: {y}", i + 1);
        }
    }
    format!(
        "lengths differ ({} and {} lines)",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn committed_sample_report_is_reproduced_byte_for_byte() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (data, committed) = (root.join("data/sample"), root.join("reports/sample"));
    if !data.is_dir() {
        assert!(
            !committed.exists(),
            "reports/sample exists but data/sample does not"
        );
        println!("skipped: data/sample is not in the tree yet");
        return;
    }
    let refresh = "run `cargo run --locked -- analyze data/sample --out reports/sample` and commit the result";
    assert!(committed.is_dir(), "reports/sample is missing: {refresh}");

    // Run the README's command word for word, in a scratch copy of the tree, so that the manifest's
    // dataset path and command line come out the same as in the committed copy.
    let scratch = tempfile::tempdir().unwrap();
    copy_tree(&data, &scratch.path().join("data/sample"));
    let o = bin()
        .current_dir(scratch.path())
        .args(["analyze", "data/sample", "--out", "reports/sample"])
        .output()
        .expect("leakscope runs");
    assert!(
        o.status.success(),
        "analyze failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let fresh = scratch.path().join("reports/sample");

    let (want, got) = (relative_files(&committed), relative_files(&fresh));
    assert_eq!(
        want, got,
        "reports/sample has other files than the command writes: {refresh}"
    );
    for f in &want {
        let (a, b) = (
            std::fs::read(committed.join(f)).unwrap(),
            std::fs::read(fresh.join(f)).unwrap(),
        );
        assert!(
            a == b,
            "reports/sample/{f} is stale ({}): {refresh}",
            first_difference(&a, &b)
        );
    }

    // Neither file holds a timing or an absolute path.
    let text = |f: &str| std::fs::read_to_string(fresh.join(f)).unwrap();
    insta::assert_snapshot!("sample_summary_json", text("summary.json"));
    insta::assert_snapshot!("sample_report_md", text("report.md"));
}
