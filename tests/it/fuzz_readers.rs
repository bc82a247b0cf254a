//! Property test: random bytes and mutated valid files never panic a reader, and every row read is accounted for.

use std::path::Path;

use crate::common::*;
use leakscope::load::{load, LoadOptions};
use leakscope::schema::Kind;
use proptest::prelude::*;

const VALID_CSV: &str = "ts,session_id,requested_stream_id,cache_node,cache_key,cache_status,request_id,bytes,viewed,rtt_ms\n\
2019-12-26T00:00:00Z,s1,c1,n1,k1,hit,r1,100,true,30\n\
2019-12-26T00:00:01Z,s2,c2,n1,k1,miss,r2,200,false,31\n\
2019-12-26T00:00:02Z,\"s,3\",c3,n2,k2,bypass,r3,300,,32\n\
2019-12-26T00:00:03Z,s4,c4,n2,k2,HIT,r4,400,TRUE,33\n";

const VALID_JSONL: &str = "{\"ts\":1577318400000,\"session_id\":\"s1\",\"requested_stream_id\":\"c1\",\"cache_node\":\"n1\",\"cache_key\":\"k1\",\"cache_status\":\"hit\",\"bytes\":100}\n\
{\"ts\":1577318401000,\"session_id\":\"s2\",\"requested_stream_id\":\"c2\",\"cache_node\":\"n1\",\"cache_key\":\"k1\",\"cache_status\":\"miss\",\"viewed\":true}\n\
{\"ts\":1577318402000,\"session_id\":\"s3\",\"requested_stream_id\":\"c3\",\"cache_node\":\"n2\",\"cache_key\":\"k2\",\"cache_status\":\"bypass\"}\n";

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Quote(usize),
    BadUtf8(usize),
    Newline(usize),
    Delete(usize),
    HugeField(usize),
    WrongType(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::Quote),
        any::<usize>().prop_map(Mutation::BadUtf8),
        any::<usize>().prop_map(Mutation::Newline),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::HugeField),
        any::<usize>().prop_map(Mutation::WrongType),
    ]
}

fn mutate(mut b: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % len };
        match *m {
            Mutation::Truncate(p) => b.truncate(at(p, b.len() + 1)),
            Mutation::Quote(p) => b.insert(at(p, b.len() + 1), b'"'),
            Mutation::BadUtf8(p) => {
                let i = at(p, b.len() + 1);
                b.splice(i..i, [0xff, 0xfe]);
            }
            Mutation::Newline(p) => b.insert(at(p, b.len() + 1), b'\n'),
            Mutation::Delete(p) => {
                if !b.is_empty() {
                    let i = at(p, b.len());
                    b.remove(i);
                }
            }
            Mutation::HugeField(p) => {
                let i = at(p, b.len() + 1);
                b.splice(i..i, std::iter::repeat_n(b'x', 200_000));
            }
            Mutation::WrongType(p) => {
                // Replace a digit run with text, so numbers and times stop parsing.
                if let Some(i) = (0..b.len())
                    .map(|k| (k + at(p, b.len().max(1))) % b.len())
                    .find(|&k| b[k].is_ascii_digit())
                {
                    b[i] = b'z';
                }
            }
        }
    }
    b
}

/// Loads a dataset whose only deliveries file holds `bytes`, and checks the accounting.
fn check(name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    empty_dataset(dir.path());
    std::fs::write(dir.path().join("deliveries").join(name), bytes).unwrap();
    let loaded = load(dir.path(), &LoadOptions::default());
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => return Err(TestCaseError::fail(format!("load failed: {e}"))),
    };
    let c = loaded.counts(Kind::Deliveries);
    prop_assert_eq!(c.read, c.accepted + c.rejected + c.duplicates);
    prop_assert_eq!(
        c.rejected as usize,
        loaded.rejections[&Kind::Deliveries].len()
    );
    prop_assert_eq!(c.accepted as usize, loaded.table(Kind::Deliveries).len());
    prop_assert_eq!(loaded.files.len(), 1);
    Ok(())
}

/// The deliveries log and mapping of a real-format fixture (`tests/fixtures/logs-*`), decompressed.
fn real_log(fixture_name: &str) -> (Vec<u8>, String, bool) {
    use std::io::Read;
    let dir = fixture(fixture_name);
    let mapping = std::fs::read_to_string(dir.join("mapping.toml")).unwrap();
    let file = walk(&dir.join("deliveries"))
        .into_iter()
        .next()
        .expect("a deliveries log");
    let raw = std::fs::read(&file).unwrap();
    let bytes = if file.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    };
    let w3c = mapping.contains("\"w3c\"");
    (bytes, mapping, w3c)
}

/// Loads a dataset whose deliveries are `bytes` in the format `mapping` declares, and checks
/// the accounting: every line that is neither blank nor (in W3C) a directive is a row read.
fn check_log(bytes: &[u8], mapping: &str, w3c: bool) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    empty_dataset(dir.path());
    std::fs::write(dir.path().join("mapping.toml"), mapping).unwrap();
    std::fs::write(dir.path().join("deliveries/access.log"), bytes).unwrap();
    std::fs::write(dir.path().join("deliveries/access.log.1.gz"), gzip(bytes)).unwrap();
    let loaded = match load(dir.path(), &LoadOptions::default()) {
        Ok(l) => l,
        Err(e) => return Err(TestCaseError::fail(format!("load failed: {e}"))),
    };
    let lines = bytes
        .split(|&c| c == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .filter(|l| !(w3c && l.first() == Some(&b'#')))
        .count() as u64;
    let c = loaded.counts(Kind::Deliveries);
    prop_assert_eq!(c.read, 2 * lines);
    prop_assert_eq!(c.read, c.accepted + c.rejected + c.duplicates);
    prop_assert_eq!(
        c.rejected as usize,
        loaded.rejections[&Kind::Deliveries].len()
    );
    prop_assert_eq!(c.accepted as usize, loaded.table(Kind::Deliveries).len());
    Ok(())
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn parquet_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("v.csv");
    std::fs::write(&src, VALID_CSV).unwrap();
    let (h, rows) = read_csv(&src);
    let p = write_rows(&dir.path().join("v"), Target::Parquet, &h, &rows);
    std::fs::read(Path::new(&p)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for name in ["d.csv", "d.jsonl", "d.parquet", "d.csv.gz", "d.jsonl.zst"] {
            check(name, &bytes)?;
        }
    }

    #[test]
    fn mutated_csv_is_accounted_for(ms in proptest::collection::vec(mutation(), 1..6)) {
        let b = mutate(VALID_CSV.as_bytes().to_vec(), &ms);
        check("d.csv", &b)?;
        check("d.csv.gz", &gzip(&b))?;
    }

    #[test]
    fn mutated_jsonl_is_accounted_for(ms in proptest::collection::vec(mutation(), 1..6)) {
        let b = mutate(VALID_JSONL.as_bytes().to_vec(), &ms);
        check("d.jsonl", &b)?;
        check("d.jsonl.zst", &zstd::encode_all(b.as_slice(), 1).unwrap())?;
    }

    #[test]
    fn mutated_parquet_is_accounted_for(ms in proptest::collection::vec(mutation(), 1..4)) {
        let b = mutate(parquet_bytes(), &ms);
        check("d.parquet", &b)?;
    }

    #[test]
    fn mutated_real_logs_are_accounted_for(ms in proptest::collection::vec(mutation(), 1..6)) {
        for name in ["logs-nginx", "logs-varnishncsa", "logs-cloudfront", "logs-cloudflare", "logs-gcp"] {
            let (bytes, mapping, w3c) = real_log(name);
            check_log(&mutate(bytes, &ms), &mapping, w3c)?;
        }
    }

    #[test]
    fn mutated_gzip_stream_is_accounted_for(ms in proptest::collection::vec(mutation(), 1..4)) {
        let b = mutate(gzip(VALID_CSV.as_bytes()), &ms);
        check("d.csv.gz", &b)?;
    }
}

#[test]
fn unmutated_files_load_completely() {
    for (name, bytes, n) in [
        ("d.csv", VALID_CSV.as_bytes().to_vec(), 4),
        ("d.jsonl", VALID_JSONL.as_bytes().to_vec(), 3),
        ("d.parquet", parquet_bytes(), 4),
    ] {
        let dir = tempfile::tempdir().unwrap();
        empty_dataset(dir.path());
        std::fs::write(dir.path().join("deliveries").join(name), bytes).unwrap();
        let loaded = load(dir.path(), &LoadOptions::default()).unwrap();
        let c = loaded.counts(Kind::Deliveries);
        assert_eq!((c.read, c.accepted, c.rejected), (n, n, 0), "{name}");
    }
}

/// Every input of the committed fuzz corpus (`fuzz/corpus/<target>/`), and every crash the
/// fuzzer found (`fuzz/regressions/<target>/`, kept once fixed), goes through its target's check
/// again: the crashes are regression tests, and the corpus, grown over hours of fuzzing, is a
/// wider net than any hand-made file.
#[test]
fn the_fuzz_corpus_and_every_crash_found_replay_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, check) in leakscope::fuzzing::TARGETS {
        let corpus = walk(&root.join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name} is empty");
        let regressions = match root.join("regressions").join(name).is_dir() {
            true => walk(&root.join("regressions").join(name)),
            false => Vec::new(),
        };
        for input in corpus.iter().chain(&regressions) {
            let bytes = std::fs::read(input).unwrap();
            let run = std::panic::catch_unwind(|| check(&bytes));
            assert!(run.is_ok(), "{name}: {} fails its check", input.display());
        }
    }
}
