//! `dataset.toml`: settings within their ranges, or a refusal on one line.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leakscope::fuzzing::dataset_toml(data));
