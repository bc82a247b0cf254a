//! A Parquet file of the kind the first byte picks: unreadable is an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // libFuzzer's panic hook aborts at once, even on a panic that leakscope catches: the
    // Parquet decoder panics on some malformed files, and the reader turns that into an
    // unreadable-file error. With the default hook back, only a panic that escapes is a crash
    // (it cannot unwind out of the fuzzer's frames, and aborts there).
    static DEFAULT_HOOK: std::sync::Once = std::sync::Once::new();
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    leakscope::fuzzing::read_parquet(data)
});
