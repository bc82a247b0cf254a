//! Join: resolves each delivery's recipient, content, subject and grant with polars as-of joins.
//!
//! Every delivery is looked up three times, with all look-ups shifted by
//! -tolerance, 0 and +tolerance (contract §4), by stacking three copies of the
//! deliveries and joining once. Each as-of join is backward with equality
//! allowed: the state at instant L is the result of every event with ts <= L.
//! Identifiers travel as codes of the timelines' dictionary (see `codes`).
//!
//! The look-ups are the steps of "The verdict of one delivery" in docs/SEMANTICS.md, in order;
//! each is marked with its step. [`crate::verdict::decide`] turns what they found into a class.

use std::collections::HashMap;
use std::ops::Range;

use polars::prelude::*;

use crate::codes::Dictionary;
use crate::intervals::Timelines;
use crate::table::Table;

/// Shifts in evaluation order; the index is the `shift` column.
pub const SHIFT_EARLIER: u32 = 0;
pub const SHIFT_NONE: u32 = 1;
pub const SHIFT_LATER: u32 = 2;

/// What the join needs of deliveries `rows` of the deliveries table: times, and identifiers as codes.
///
/// Columns: `ts`, `session_id`, `cache_node`, `cache_key`, `d_origin` (the
/// delivery's own origin stream, [`crate::codes::UNKNOWN`] when no timeline
/// names it, null when absent) and `d_captured`.
pub fn delivery_frame(
    d: &Table,
    rows: Range<usize>,
    codes: &Dictionary,
) -> PolarsResult<DataFrame> {
    let text = |name: &str| &d.text(name)[rows.clone()];
    let coded = |name: &str| -> Column {
        let v: Vec<Option<u32>> = text(name)
            .iter()
            .map(|v| v.as_deref().map(|v| codes.lookup(v)))
            .collect();
        Column::new(name.into(), v)
    };
    let time = |name: &str, alias: &str| Column::new(alias.into(), &d.time(name)[rows.clone()]);
    let mut origin = coded("origin_stream_id");
    origin.rename("d_origin".into());
    DataFrame::new(
        rows.len(),
        vec![
            time("ts", "ts"),
            coded("session_id"),
            coded("cache_node"),
            coded("cache_key"),
            origin,
            time("captured_at", "d_captured"),
        ],
    )
}

/// The look-ups of every (delivery, shift) of a block from [`delivery_frame`], sorted by delivery index then shift.
///
/// Columns: `idx` (row within the block), `shift`, `recipient`, `origin`,
/// `subject`, `granted`, `capture_ts`, `object` (the cache's, when the content
/// came from the cache), `fill_ts`, `config`, `named` (content named by the
/// delivery itself, whose own origin and object then stand). Identifiers are
/// codes of the timelines' dictionary.
///
/// `cache` carries the cache timeline from block to block (see [`CacheWindow`]).
pub fn resolve(
    block: &DataFrame,
    tl: &Timelines,
    tolerance_ms: i64,
    cache: &mut CacheWindow,
) -> PolarsResult<DataFrame> {
    let base = block.clone().lazy().with_row_index("idx", None);
    let stacked: Vec<LazyFrame> = [-tolerance_ms, 0, tolerance_ms]
        .iter()
        .enumerate()
        .map(|(k, d)| {
            base.clone().with_columns([
                lit(k as u32).alias("shift"),
                (col("ts") + lit(*d)).alias("t"),
                lit(*d).alias("d"),
            ])
        })
        .collect();
    let lf = concat(stacked, UnionArgs::default())?;
    // A backward look-up never reaches past the block's last instant, so the timeline rows after
    // it are left out rather than grouped for the block.
    let ts = block.column("ts")?.i64()?;
    let tol = tolerance_ms.abs();
    let t_max = ts.max().map(|t| t + tol);
    let t_min = ts.min().map(|t| t - tol);

    // Step 1, recipient: the session's window with the latest start <= t+d, open while t+d < its
    // end ("State over time", Sessions).
    let lf = asof(
        lf,
        tl.sessions.clone().lazy(),
        "t",
        "s_start",
        &["session_id"],
        &["session_id"],
    )
    .with_column(
        when(col("t").lt(col("s_end")))
            .then(col("account"))
            .otherwise(lit(NULL).cast(DataType::UInt32))
            .alias("recipient"),
    );

    // Step 2, content from the cache: the latest fill, evict or purge of (cache_node, cache_key)
    // at or before t+d ("State over time", Cache)...
    let lf = asof(
        lf,
        cache.rows_for(&tl.cache, t_min, t_max)?.lazy(),
        "t",
        "c_ts",
        &["cache_node", "cache_key"],
        &["c_node", "c_key"],
    );
    // ...unless a purge of `*` on the node came after that row.
    let lf = asof(
        lf,
        reachable(&tl.purges, "p_ts", t_max).lazy(),
        "t",
        "p_ts",
        &["cache_node"],
        &["p_node"],
    );
    // Step 2, which content: the delivery's own origin where it names one, else the cache's.
    let named = col("d_origin").is_not_null();
    let held = col("c_fill")
        .fill_null(lit(false))
        .and(col("p_ts").is_null().or(col("p_ts").lt_eq(col("c_ts"))));
    let from_cache = named.clone().not().and(held.clone());
    let null_code = || lit(NULL).cast(DataType::UInt32);
    let null_i64 = || lit(NULL).cast(DataType::Int64);
    let lf = lf.with_columns([
        named.clone().alias("named"),
        when(named.clone())
            .then(col("d_origin"))
            .otherwise(
                when(held.clone())
                    .then(col("c_origin"))
                    .otherwise(null_code()),
            )
            .alias("origin"),
        when(named.clone())
            .then(coalesce(&[col("d_captured"), col("ts")]))
            .otherwise(
                when(held.clone())
                    .then(coalesce(&[col("c_captured"), col("c_ts")]))
                    .otherwise(null_i64()),
            )
            .alias("capture_ts"),
        when(from_cache.clone())
            .then(col("c_object"))
            .otherwise(null_code())
            .alias("object"),
        when(from_cache.clone())
            .then(col("c_ts"))
            .otherwise(null_i64())
            .alias("fill_ts"),
        when(from_cache)
            .then(col("c_config"))
            .otherwise(null_code())
            .alias("config"),
    ]);
    // A capture-time look-up shifts with the delivery-time ones; rows with no
    // content get a key that sorts first and matches nothing.
    let lf = lf.with_column(
        (col("capture_ts") + col("d"))
            .fill_null(lit(i64::MIN))
            .alias("o_at"),
    );
    // Step 3, subject: the owner of the origin stream at capture time + d ("State over time",
    // Ownership).
    let lf = asof(
        lf,
        tl.owners.clone().lazy(),
        "o_at",
        "o_ts",
        &["origin"],
        &["stream_id"],
    );
    // Step 4, grant: whether the recipient held a grant on the origin stream at t+d ("State over
    // time", Grants). Whether that authorizes the delivery is `decide`'s to say.
    let lf = asof(
        lf,
        tl.grants.clone().lazy(),
        "t",
        "g_ts",
        &["origin", "recipient"],
        &["g_stream", "g_account"],
    );
    lf.select([
        col("idx"),
        col("shift"),
        col("recipient"),
        col("origin"),
        col("owner").alias("subject"),
        col("granted").fill_null(lit(false)),
        col("capture_ts"),
        col("object"),
        col("fill_ts"),
        col("config"),
        col("named"),
    ])
    .collect()
    .and_then(in_delivery_order)
}

/// The look-ups ordered by (`idx`, `shift`), each row put straight in its place: every pair occurs
/// exactly once, so no sort (a two-column sort was a large part of the join) is needed.
fn in_delivery_order(df: DataFrame) -> PolarsResult<DataFrame> {
    let idx = df.column("idx")?.cast(&IDX_DTYPE)?;
    let shift = df.column("shift")?.cast(&DataType::UInt32)?;
    let mut order = vec![IdxSize::MAX; df.height()];
    for (row, (i, s)) in idx.idx()?.iter().zip(shift.u32()?.iter()).enumerate() {
        let slot = match (i, s) {
            (Some(i), Some(s)) if s <= SHIFT_LATER => 3 * i as usize + s as usize,
            _ => polars_bail!(ComputeError: "look-up row {row} has no delivery or shift"),
        };
        match order.get_mut(slot) {
            Some(o) if *o == IdxSize::MAX => *o = row as IdxSize,
            _ => {
                polars_bail!(ComputeError: "look-up rows repeat or fall outside the block at row {row}")
            }
        }
    }
    df.take(&IdxCa::from_vec("order".into(), order))
}

/// The cache timeline as a block's look-ups need it, carried from block to block.
///
/// A backward look-up from an instant in [t_min, t_max] reaches only rows up to t_max, and of the
/// rows before t_min only the last of each (node, key). Blocks come in time order, so the last row
/// of each key before the block is carried forward, and a block groups that and its own window of
/// the timeline, not every row before it: at 10^8 deliveries 1.5 million keys instead of up to 18
/// million rows, for each of 96 blocks.
#[derive(Debug, Default)]
pub struct CacheWindow {
    /// Rows before `next` are summarised in `last`.
    next: usize,
    /// The last row of each (node, key) among rows `0..next`.
    last: HashMap<(u32, u32), IdxSize>,
}

impl CacheWindow {
    /// The rows of the cache timeline `cache` (sorted by `c_ts`) that look-ups between `t_min`
    /// and `t_max` can reach, in time order.
    fn rows_for(
        &mut self,
        cache: &DataFrame,
        t_min: Option<i64>,
        t_max: Option<i64>,
    ) -> PolarsResult<DataFrame> {
        let slices = (
            cache.column("c_ts")?.i64()?.cont_slice(),
            cache.column("c_node")?.u32()?.cont_slice(),
            cache.column("c_key")?.u32()?.cont_slice(),
        );
        let (Some(t_min), (Ok(ts), Ok(node), Ok(key))) = (t_min, slices) else {
            return Ok(reachable(cache, "c_ts", t_max));
        };
        let lo = ts.partition_point(|&t| t < t_min);
        let hi = t_max.map_or(ts.len(), |m| ts.partition_point(|&t| t <= m));
        if lo < self.next || hi < lo {
            // A block earlier than the one before: the carried rows say too much for it.
            return Ok(reachable(cache, "c_ts", t_max));
        }
        for i in self.next..lo {
            self.last.insert((node[i], key[i]), i as IdxSize);
        }
        self.next = lo;
        let mut rows: Vec<IdxSize> = self.last.values().copied().collect();
        rows.sort_unstable();
        rows.extend(lo as IdxSize..hi as IdxSize);
        cache.take(&IdxCa::from_vec("rows".into(), rows))
    }
}

/// The rows of `timeline`, sorted by its time column `on`, that a backward look-up at or before
/// `t_max` can reach: those up to `t_max`. All of them if the column is not one plain slice.
fn reachable(timeline: &DataFrame, on: &str, t_max: Option<i64>) -> DataFrame {
    let times = timeline
        .column(on)
        .ok()
        .and_then(|c| c.i64().ok())
        .and_then(|c| c.cont_slice().ok());
    match (times, t_max) {
        (Some(ts), Some(t_max)) => timeline.slice(0, ts.partition_point(|&t| t <= t_max)),
        _ => timeline.clone(),
    }
}

/// Backward as-of join with equality: each left row gets the latest right row with `right_on <= left_on` in its group.
fn asof(
    left: LazyFrame,
    right: LazyFrame,
    left_on: &str,
    right_on: &str,
    left_by: &[&str],
    right_by: &[&str],
) -> LazyFrame {
    let by = |v: &[&str]| Some(v.iter().map(|s| PlSmallStr::from(*s)).collect::<Vec<_>>());
    left.sort(
        [left_on],
        SortMultipleOptions::default().with_maintain_order(true),
    )
    .join_builder()
    .with(right)
    .left_on([col(left_on)])
    .right_on([col(right_on)])
    .how(JoinType::AsOf(Box::new(AsOfOptions {
        strategy: AsofStrategy::Backward,
        left_by: by(left_by),
        right_by: by(right_by),
        allow_eq: true,
        check_sortedness: false,
        ..Default::default()
    })))
    .coalesce(JoinCoalesce::KeepColumns)
    .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookups(idx: &[u32], shift: &[u32]) -> DataFrame {
        df!("idx" => idx, "shift" => shift, "tag" => (0..idx.len() as i64).collect::<Vec<_>>())
            .unwrap()
    }

    #[test]
    fn look_ups_are_put_in_delivery_then_shift_order() {
        let df = in_delivery_order(lookups(&[1, 0, 1, 0, 0, 1], &[2, 1, 0, 0, 2, 1])).unwrap();
        let tags: Vec<Option<i64>> = df.column("tag").unwrap().i64().unwrap().iter().collect();
        assert_eq!(
            tags,
            [3, 1, 4, 2, 5, 0].map(Some).to_vec(),
            "rows of delivery 0 (shifts 0, 1, 2), then of delivery 1"
        );
    }

    #[test]
    fn only_rows_up_to_the_last_instant_are_reachable() {
        let tl = df!("c_ts" => [10i64, 20, 20, 30], "v" => [1, 2, 3, 4]).unwrap();
        let heights: Vec<usize> = [Some(5), Some(20), Some(29), Some(30), None]
            .iter()
            .map(|&t| reachable(&tl, "c_ts", t).height())
            .collect();
        assert_eq!(heights, [0, 3, 3, 4, 4]);
    }

    /// Each block gets the last row of every key before it and every row of its own window; a
    /// block earlier than the one before gets every row up to its end.
    #[test]
    fn the_cache_window_carries_the_last_row_of_each_key() {
        let cache = df!(
            "c_node" => [1u32, 1, 1, 2, 1],
            "c_key" => [1u32, 1, 2, 1, 1],
            "c_ts" => [10i64, 20, 30, 40, 50],
        )
        .unwrap();
        let mut w = CacheWindow::default();
        let mut times = |lo, hi| -> Vec<Option<i64>> {
            let df = w.rows_for(&cache, Some(lo), Some(hi)).unwrap();
            df.column("c_ts").unwrap().i64().unwrap().iter().collect()
        };
        assert_eq!(times(25, 45), [20, 30, 40].map(Some));
        assert_eq!(times(45, 60), [20, 30, 40, 50].map(Some));
        assert_eq!(times(51, 60), [30, 40, 50].map(Some));
        assert_eq!(times(0, 15), [Some(10)]);
    }

    #[test]
    fn repeated_or_missing_look_ups_are_an_error() {
        assert!(in_delivery_order(lookups(&[0, 0, 0], &[0, 1, 1])).is_err());
        assert!(in_delivery_order(lookups(&[0, 0, 1], &[0, 1, 2])).is_err());
        assert!(in_delivery_order(lookups(&[0, 0, 0], &[0, 1, 3])).is_err());
    }
}
