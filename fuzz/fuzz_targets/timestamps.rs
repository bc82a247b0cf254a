//! Timestamps in every contract and vendor form: never a panic, and every instant accepted in a contract form lies in the years 0000 to 9999.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leakscope::fuzzing::timestamps(data));
