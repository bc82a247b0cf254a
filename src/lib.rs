//! leakscope: find who saw whose data in stream, cache, session and ownership logs.
//!
//! The pipeline runs one way, one module per stage:
//! [`load`] (read and validate, with [`time`] normalisation and [`dedup`]) →
//! [`intervals`] ([`timeline`]s, identifiers as [`codes`]; [`infer`]red fills where a node has
//! no cache log) → [`join`] → [`classify`] (the rule: [`verdict::decide`]; with [`context`]) →
//! [`aggregate`] (with [`findings`]) → [`report`].
//! [`analyze`] runs them a block of deliveries at a time and pushes each classified block into
//! the [`sink::BlockSink`]s that consume it. Every stage may use the leaves [`table`],
//! [`schema`], [`settings`], [`mapping`] (with [`formats`], the real log formats it declares),
//! [`cite`] (where each row came from), [`error`] and [`stages`]. [`explain`] reads a run's
//! outputs back, never the pipeline.

pub mod aggregate;
pub mod analyze;
pub mod cite;
pub mod classify;
pub mod clocks;
pub mod codes;
pub mod context;
pub mod dedup;
pub mod error;
pub mod evidence;
pub mod explain;
pub mod findings;
pub mod formats;
pub mod fuzzing;
pub mod infer;
pub mod intervals;
pub mod join;
pub mod kernel;
pub mod load;
pub mod mapping;
pub mod outputs;
pub mod report;
pub mod schema;
pub mod settings;
pub mod sink;
pub mod snapshots;
pub mod stages;
pub mod table;
pub mod text;
pub mod time;
pub mod timeline;
pub mod verdict;

pub use error::{Error, Result};
