//! The kernels a cluster runs, driven here as Spark drives them but in one process each: the
//! outputs are those of `leakscope analyze`, byte for byte, whatever order the parts arrive in.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use leakscope::kernel::wire::{
    read_parts, read_routed, write_parts, write_routed, Part, PartKind, Routed, EVERY_BUCKET,
};

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
    kernel_with(args, Some(config), stdin)
}

/// A kernel run with `--config` where it takes one.
fn kernel_with(args: &[&str], config: Option<&Path>, stdin: &[u8]) -> Vec<u8> {
    let mut command = bin();
    command.arg("kernel").args(&args[..1]);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command
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

/// The kernels' copy of the dataset's configuration, its listing's file, and the plan made from it.
fn planned(data: &Path, work: &Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let config = config_copy(data, &work.join("config"));
    let mut list = String::new();
    listing(data, data, &mut list);
    let listing_file = work.join("listing.txt");
    std::fs::write(&listing_file, &list).unwrap();
    let plan = String::from_utf8(kernel(&["plan"], &config, list.as_bytes())).unwrap();
    (config, listing_file, plan)
}

/// Runs plan, parse (each file's bytes copied elsewhere first) and finalize into `out`, the
/// parts handed over in the order `order` puts them.
fn run_kernels(data: &Path, out: &Path, work: &Path, order: impl Fn(&mut Vec<Part>)) {
    let (config, listing_file, plan) = planned(data, work);
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
    single_node(&data, &single);
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

/// Spark's shuffle, by hand: the routed rows of `kinds` from every stream, each to its bucket
/// and those of every bucket to each, unless `replicate` says no (then to bucket 0 alone, the
/// broken partitioning of the negative control); each bucket's rows in reverse, as no order is
/// promised.
fn shuffle(
    streams: &[Vec<u8>],
    kinds: &[PartKind],
    buckets: u32,
    replicate: &dyn Fn(PartKind) -> bool,
) -> Vec<Vec<u8>> {
    let mut to: Vec<Vec<Routed>> = vec![Vec::new(); buckets as usize];
    for s in streams {
        for r in read_routed(s.as_slice()).unwrap() {
            if !kinds.contains(&r.kind) {
                continue;
            }
            match r.bucket {
                EVERY_BUCKET if replicate(r.kind) => {
                    to.iter_mut().for_each(|b| b.push(r.clone()));
                }
                EVERY_BUCKET => to[0].push(r),
                b => to[b as usize].push(r),
            }
        }
    }
    to.into_iter()
        .map(|mut rows| {
            rows.reverse();
            let mut out = Vec::new();
            write_routed(&rows, &mut out).unwrap();
            out
        })
        .collect()
}

/// The whole distributed run, each kernel a process as on the executors, the shuffles by hand:
/// parse, route, dedup, content and verdict per bucket, then finalize with the verdicts.
fn run_distributed(
    data: &Path,
    out: &Path,
    work: &Path,
    buckets: u32,
    replicate: &dyn Fn(PartKind) -> bool,
) {
    let (config, listing_file, plan) = planned(data, work);
    let b = buckets.to_string();
    let (mut parts_list, mut routed) = (String::new(), Vec::new());
    for line in plan.lines() {
        let (index, rel) = line.split_once('\t').unwrap();
        let copy = work.join(format!("bytes-{index}"));
        std::fs::copy(data.join(rel), &copy).unwrap();
        let copy = copy.to_string_lossy().to_string();
        let parts = kernel(
            &["parse", "--index", index, "--rel", rel, "--bytes", &copy],
            &config,
            &[],
        );
        let staged = work.join(format!("parts-{index}.arrows"));
        std::fs::write(&staged, &parts).unwrap();
        parts_list.push_str(&format!("{index}\t{}\n", staged.display()));
        routed.push(kernel_with(&["route", "--buckets", &b], None, &parts));
    }
    let to_dedup = shuffle(&routed, &[PartKind::Deliveries], buckets, replicate);
    let mut to_content: Vec<Vec<u8>> = to_dedup
        .iter()
        .map(|rows| kernel_with(&["dedup", "--buckets", &b], None, rows))
        .collect();
    to_content.extend(routed.iter().cloned());
    let content_kinds = [
        PartKind::Kept,
        PartKind::Cache,
        PartKind::Purges,
        PartKind::Nodes,
    ];
    let mut to_verdict: Vec<Vec<u8>> = shuffle(&to_content, &content_kinds, buckets, replicate)
        .iter()
        .map(|rows| kernel(&["content", "--buckets", &b], &config, rows))
        .collect();
    to_verdict.extend(routed.iter().cloned());
    let verdict_kinds = [PartKind::Found, PartKind::Sessions, PartKind::Ownership];
    let mut verdicts_list = String::new();
    for (i, rows) in shuffle(&to_verdict, &verdict_kinds, buckets, replicate)
        .iter()
        .enumerate()
    {
        let path = work.join(format!("verdicts-{i}.arrows"));
        std::fs::write(&path, kernel(&["verdict"], &config, rows)).unwrap();
        verdicts_list.push_str(&format!("{}\n", path.display()));
    }
    let (parts_file, verdicts_file) = (work.join("parts.txt"), work.join("verdicts.txt"));
    std::fs::write(&parts_file, parts_list).unwrap();
    std::fs::write(&verdicts_file, verdicts_list).unwrap();
    let arg = |p: &Path| p.to_string_lossy().to_string();
    kernel(
        &[
            "finalize",
            "--listing",
            &arg(&listing_file),
            "--parts-list",
            &arg(&parts_file),
            "--verdicts",
            &arg(&verdicts_file),
            "--out",
            &arg(out),
        ],
        &config,
        &[],
    );
}

fn single_node(data: &Path, out: &Path) {
    let o = bin()
        .arg("analyze")
        .arg(data)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The files of `a` and `b` that differ, by name.
fn differing(a: &Path, b: &Path) -> Vec<String> {
    let (a, b) = (files(a), files(b));
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    a.iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.0.clone())
        .collect()
}

/// De-duplication, the content look-ups and the verdicts on the executors, partitioned by
/// request id, cache key and session: every byte of the single-node run, for 1, 3 and 7
/// buckets, on logs with purges of every key, retried request ids, inferred fills and
/// registry snapshots among them.
#[test]
fn distributed_look_ups_give_every_byte_of_the_single_node_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("incident");
    dirty_mixed(&data, "cache-key-collision", 11, 3_000);
    let single = dir.path().join("single");
    single_node(&data, &single);
    for buckets in [1, 3, 7] {
        let work = dir.path().join(format!("work-{buckets}"));
        std::fs::create_dir_all(&work).unwrap();
        let out = dir.path().join(format!("distributed-{buckets}"));
        run_distributed(&data, &out, &work, buckets, &|_| true);
        assert_eq!(
            differing(&single, &out),
            Vec::<String>::new(),
            "{buckets} buckets"
        );
    }
}

/// Every hand-worked case (ties, purges, shifts, grants, TTLs, snapshots), through the
/// distributed look-ups in 3 buckets: the single-node bytes.
#[test]
fn every_hand_worked_case_distributed_gives_the_single_node_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cases = crate::cases::case_datasets(&dir.path().join("cases"));
    assert!(cases.len() > 10);
    for (i, (name, data)) in cases.iter().enumerate() {
        let single = dir.path().join(format!("single-{i}"));
        single_node(data, &single);
        let work = dir.path().join(format!("work-{i}"));
        std::fs::create_dir_all(&work).unwrap();
        let out = dir.path().join(format!("distributed-{i}"));
        run_distributed(data, &out, &work, 3, &|_| true);
        assert_eq!(differing(&single, &out), Vec::<String>::new(), "{name}");
    }
}

/// The fixtures of the real log formats (nginx, Varnish, CloudFront, Cloudflare, Google Cloud,
/// Keycloak; their caches inferred from the misses), of registry snapshots and of mixed files,
/// through the distributed look-ups in 3 buckets: the single-node bytes.
#[test]
fn every_fixture_distributed_gives_the_single_node_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let names = [
        "inferred-cache",
        "registry-snapshots",
        "mixed",
        "logs-nginx",
        "logs-varnishncsa",
        "logs-cloudfront",
        "logs-cloudflare",
        "logs-gcp",
        "logs-keycloak",
    ];
    for name in names {
        let data = fixtures.join(name);
        let single = dir.path().join(format!("single-{name}"));
        single_node(&data, &single);
        let work = dir.path().join(format!("work-{name}"));
        std::fs::create_dir_all(&work).unwrap();
        let out = dir.path().join(format!("distributed-{name}"));
        run_distributed(&data, &out, &work, 3, &|_| true);
        assert_eq!(differing(&single, &out), Vec::<String>::new(), "{name}");
    }
}

/// The negative control: a node's purges of every key sent to one bucket instead of all, the
/// comparison fails, on the verdicts themselves (the hand-worked purge case: deliveries whose
/// content a purge of `*` took away).
#[test]
fn purges_kept_in_one_bucket_change_the_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let cases = crate::cases::case_datasets(&dir.path().join("cases"));
    let (_, data) = cases
        .iter()
        .find(|(name, _)| name.starts_with("purge.case"))
        .expect("the purge case");
    let single = dir.path().join("single");
    single_node(data, &single);
    for (buckets, broken) in [(7, false), (7, true)] {
        let work = dir.path().join(format!("work-{broken}"));
        std::fs::create_dir_all(&work).unwrap();
        let out = dir.path().join(format!("out-{broken}"));
        run_distributed(data, &out, &work, buckets, &|kind| {
            !broken || kind != PartKind::Purges
        });
        let differ = differing(&single, &out);
        match broken {
            false => assert_eq!(differ, Vec::<String>::new()),
            true => assert!(differ.iter().any(|f| f == "verdicts.parquet"), "{differ:?}"),
        }
    }
}

/// The same for the list of nodes the cache log names, which every bucket needs to know whose
/// misses imply fills: kept in one bucket, a logged node's misses are taken for fills.
#[test]
fn the_logged_nodes_kept_in_one_bucket_change_the_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inferred-cache");
    let single = dir.path().join("single");
    single_node(&data, &single);
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let out = dir.path().join("broken");
    run_distributed(&data, &out, &work, 7, &|kind| kind != PartKind::Nodes);
    let differ = differing(&single, &out);
    assert!(differ.iter().any(|f| f == "verdicts.parquet"), "{differ:?}");
}
