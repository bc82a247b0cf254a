//! JSON Lines of the kind the first byte picks: split into rows and validated.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leakscope::fuzzing::read_jsonl(data));
