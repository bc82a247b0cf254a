//! Sinks: where the driver pushes each classified block of deliveries. The driver knows its
//! consumers (the row-table writer, the findings) only through [`BlockSink`].

use std::ops::Range;

use crate::context::DeliveryContext;
use crate::error::Result;
use crate::table::Table;
use crate::verdict::Verdict;

/// Deliveries `rows` of `deliveries` with their verdicts and context: `verdicts[k]` and every
/// context value at `k` belong to row `rows.start + k`.
#[derive(Debug, Clone)]
pub struct ClassifiedBlock<'a> {
    pub deliveries: &'a Table,
    pub rows: Range<usize>,
    pub verdicts: &'a [Verdict],
    pub context: &'a DeliveryContext,
}

/// Takes classified blocks in the order of the deliveries table, each following the one before.
pub trait BlockSink {
    fn add(&mut self, block: &ClassifiedBlock) -> Result<()>;
}
