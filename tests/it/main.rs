//! The one integration-test binary: every topic is a module, so polars and the library are
//! linked once rather than once per topic (`autotests = false` in Cargo.toml).
//!
//! Run one topic with `cargo test --test it <module>::`, e.g. `cargo test --test it cases::`.

mod common;
mod reference;

mod accuracy;
mod cases;
mod citations;
mod clocks;
mod determinism;
mod differential;
mod exports;
mod faults;
mod formats;
mod fuzz_readers;
mod generate;
mod hostile;
mod inferred;
mod kernels;
mod load;
mod mechanism;
mod registry;
mod reports;
mod sample_report;
