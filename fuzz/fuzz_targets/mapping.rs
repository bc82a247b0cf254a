//! `mapping.toml`: a mapping whose formats compile or are refused, or a refusal on one line.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leakscope::fuzzing::mapping(data));
