//! The kernels a cluster runs, driven here as Spark drives them but in one process each: the
//! outputs are those of `leakscope analyze`, byte for byte, whatever order the parts arrive in.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use leakscope::kernel::wire::{read_parts, write_parts, Part};

use crate::common::{bin, dirty_mixed, walk};

/// The dataset's listing as Spark's side gives it: every folder and file, relative.
fn listing(root: &Path, dir: &Path, out: &mut String) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let rel = p
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if p.is_dir() {
            out.push_str(&format!("d {rel}\n"));
            listing(root, &p, out);
        } else {
            out.push_str(&format!("f {rel}\n"));
        }
    }
}

/// A folder named as the dataset holding only its configuration files, as each kernel gets it.
fn config_copy(data: &Path, into: &Path) -> std::path::PathBuf {
    let config = into.join(data.file_name().unwrap());
    std::fs::create_dir_all(&config).unwrap();
    for name in ["dataset.toml", "mapping.toml"] {
        if data.join(name).exists() {
            std::fs::copy(data.join(name), config.join(name)).unwrap();
        }
    }
    config
}

fn kernel(args: &[&str], config: &Path, stdin: &[u8]) -> Vec<u8> {
    let mut child = bin()
        .arg("kernel")
        .args(&args[..1])
        .arg("--config")
        .arg(config)
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || input.write_all(&stdin));
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(
        o.status.success(),
        "kernel {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// Runs plan, parse (each file's bytes copied elsewhere first) and finalize into `out`, the
/// parts handed over in the order `order` puts them.
fn run_kernels(data: &Path, out: &Path, work: &Path, order: impl Fn(&mut Vec<Part>)) {
    let config = config_copy(data, &work.join("config"));
    let mut list = String::new();
    listing(data, data, &mut list);
    let listing_file = work.join("listing.txt");
    std::fs::write(&listing_file, &list).unwrap();
    let plan = String::from_utf8(kernel(&["plan"], &config, list.as_bytes())).unwrap();
    let mut parts = Vec::new();
    for line in plan.lines() {
        let (index, rel) = line.split_once('\t').unwrap();
        let copy = work.join(format!("bytes-{index}"));
        std::fs::copy(data.join(rel), &copy).unwrap();
        let copy = copy.to_string_lossy().to_string();
        let stream = kernel(
            &["parse", "--index", index, "--rel", rel, "--bytes", &copy],
            &config,
            &[],
        );
        parts.extend(read_parts(stream.as_slice()).unwrap());
    }
    order(&mut parts);
    let mut stream = Vec::new();
    write_parts(&parts, &mut stream).unwrap();
    let out_arg = out.to_string_lossy().to_string();
    let listing_arg = listing_file.to_string_lossy().to_string();
    kernel(
        &["finalize", "--listing", &listing_arg, "--out", &out_arg],
        &config,
        &stream,
    );
}

fn files(out: &Path) -> Vec<(String, Vec<u8>)> {
    walk(out)
        .into_iter()
        .filter(|p| !p.ends_with("timings.json"))
        .map(|p| {
            let name = p.strip_prefix(out).unwrap().display().to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn kernels_give_every_byte_of_the_single_node_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("incident");
    dirty_mixed(&data, "cache-key-collision", 5, 3_000);
    let single = dir.path().join("single");
    let o = bin()
        .arg("analyze")
        .arg(&data)
        .arg("--out")
        .arg(&single)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let kernels = dir.path().join("kernels");
    run_kernels(&data, &kernels, &work, |parts| parts.reverse());
    let (a, b) = (files(&single), files(&kernels));
    assert!(
        a.len() > 10,
        "{:?}",
        a.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (x, y) in a.iter().zip(&b) {
        assert!(x == y, "{} differs", x.0);
    }
    let summary = crate::common::read_json(&kernels.join("summary.json"));
    let d = &summary["rows"]["deliveries"];
    assert!(
        d["duplicates"].as_u64().unwrap() > 0,
        "no duplicates: {summary}"
    );
    assert!(
        d["rejected"].as_u64().unwrap() > 0,
        "no rejections: {summary}"
    );
}

/// A part lost between the kernels is a bug the run names, not rows silently missing.
#[test]
fn a_lost_part_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("incident");
    dirty_mixed(&data, "session-mixup", 2, 1_000);
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let out = dir.path().join("out");
    let result = std::panic::catch_unwind(|| {
        run_kernels(&data, &out, &work, |parts| {
            let i = parts
                .iter()
                .position(|p| p.seq > 0)
                .expect("a file with rows");
            parts.remove(i);
        })
    });
    let message = *result.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("kernel [\"finalize\""), "{message}");
    assert!(message.contains("bug in leakscope"), "{message}");
    assert!(!out.exists());
}
