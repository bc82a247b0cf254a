//! Decoding under a row-size limit the first byte picks (1 to 64 bytes), plain and through gzip: no kept line is beyond the limit, every line break stays, every byte is kept or set aside.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leakscope::fuzzing::decode(data));
