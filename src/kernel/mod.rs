//! Kernels: the stages a cluster runs, each a pure function of the rows it is given, so that
//! Spark (spark/leakscope_spark.py) moves and schedules data while every check and every verdict
//! stays in this crate. See docs/SPARK.md.

pub mod finalize;
pub mod parse;
pub mod plan;
pub mod wire;
