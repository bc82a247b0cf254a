//! Kernels: the stages a cluster runs, each a pure function of the rows it is given, so that
//! Spark (spark/leakscope_spark.py) moves and schedules data while every check and every verdict
//! stays in this crate. See docs/SPARK.md.

pub mod content;
pub mod dedup;
pub mod finalize;
pub mod merge;
pub mod parse;
pub mod plan;
pub mod received;
pub mod route;
pub mod verdict;
pub mod wire;
