//! A Parquet file of the kind the first byte picks: unreadable is an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leakscope::fuzzing::read_parquet(data));
