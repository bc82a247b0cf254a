//! A server log in the format the first byte picks: split by the compiled format and validated.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leakscope::fuzzing::read_logs(data));
