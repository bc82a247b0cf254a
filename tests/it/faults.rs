//! Faults: a run killed at any point leaves the output folder as it was, a full disk is a one-line
//! error with no partial outputs, and no input file changes in a run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::common::*;

/// Every file under `root` (timings aside, which differ run to run) with its bytes.
fn contents(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(root)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "timings.json"))
        .map(|p| {
            (
                p.strip_prefix(root).unwrap().to_path_buf(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn analyze_command(dataset: &Path, out: &Path) -> std::process::Command {
    let mut c = bin();
    c.arg("analyze")
        .arg(dataset)
        .arg("--out")
        .arg(out)
        .arg("--quiet");
    c
}

/// A simulated incident in mixed formats with every kind of dirt, big enough that a run spends
/// time in each stage, small enough for twenty of them.
fn dataset(root: &Path) -> PathBuf {
    let ds = root.join("ds");
    let mut args = leakscope_simulator::GenerateArgs::new("cache-key-collision", 7, 8_000, &ds);
    args.format = "mixed".to_string();
    args.dirty = true;
    leakscope_simulator::generate(&args).unwrap();
    ds
}

/// A small generator of kill times, fixed so that a failure can be run again.
fn kill_times(n: usize, longest: Duration) -> Vec<Duration> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            longest.mul_f64((x % 10_000) as f64 / 10_000.0)
        })
        .collect()
}

#[test]
fn a_killed_run_leaves_the_previous_outputs_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(dir.path());
    let out = dir.path().join("out");
    let started = Instant::now();
    assert!(analyze_command(&ds, &out).status().unwrap().success());
    let whole_run = started.elapsed();
    let previous = contents(&out);
    assert!(previous.contains_key(Path::new("summary.json")));

    let runs = kill_times(20, whole_run.mul_f64(1.2));
    for (k, &at) in runs.iter().enumerate() {
        // Every fourth run goes into a new folder, where "as it was" is nothing.
        let (target, before) = match k % 4 {
            3 => (dir.path().join(format!("fresh-{k}")), BTreeMap::new()),
            _ => (out.clone(), previous.clone()),
        };
        let mut child = analyze_command(&ds, &target).spawn().unwrap();
        std::thread::sleep(at);
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        child.wait().unwrap();
        let after = if target.exists() {
            contents(&target)
        } else {
            BTreeMap::new()
        };
        if finished || after == previous {
            // The run got to the end, or the previous outputs stand.
            assert_eq!(after, previous, "run {k} killed at {at:?}");
        } else {
            assert_eq!(
                after, before,
                "run {k} killed at {at:?}: a partial output folder"
            );
        }
    }
    // A complete run afterwards clears away the staging folders the killed runs left beside it.
    assert!(analyze_command(&ds, &out).status().unwrap().success());
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".out.partial-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(contents(&out), previous);
}

/// Mounts a tmpfs of `size` at `at`; false where this process may not (not root, no mount).
fn mount_tmpfs(at: &Path, size: &str) -> bool {
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_full_disk_is_a_one_line_error_and_leaves_no_partial_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !is_root {
        eprintln!("not root: the full-disk test needs to mount a tmpfs, and did not run");
        return;
    }
    assert!(mount_tmpfs(&small, "256k"), "mounting a tmpfs as root");
    let out = small.join("out");
    let ds = dataset(dir.path());
    let o = analyze_command(&ds, &out).output().unwrap();
    let listed: Vec<_> = std::fs::read_dir(&small).unwrap().collect();
    let _ = std::process::Command::new("umount").arg(&small).status();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        listed.is_empty(),
        "left behind on the full disk: {listed:?}"
    );
}

/// Each file's and folder's bytes (files), size and modification time.
fn fingerprint(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u64, SystemTime)> {
    let mut all = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).unwrap();
        let bytes = if meta.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            Vec::new()
        } else {
            std::fs::read(&p).unwrap()
        };
        all.insert(p, (bytes, meta.len(), meta.modified().unwrap()));
    }
    all
}

#[test]
fn no_input_file_changes_in_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    copy_tree(&fixture("mixed"), &ds);
    write(
        &ds.join("mapping.toml"),
        "[values.deliveries.cache_status]\nHIT = \"hit\"\n",
    );
    let before = fingerprint(&ds);
    assert!(analyze_command(&ds, &dir.path().join("out"))
        .status()
        .unwrap()
        .success());
    assert!(bin()
        .arg("validate")
        .arg(&ds)
        .output()
        .unwrap()
        .status
        .success());
    assert!(fingerprint(&ds) == before, "an input changed");
}
