//! Join: resolves each delivery's recipient, content, subject and grant with polars as-of joins.
//!
//! Every delivery is looked up three times, with all look-ups shifted by
//! -tolerance, 0 and +tolerance (contract §4), by stacking three copies of the
//! deliveries and joining once. Each as-of join is backward with equality
//! allowed: the state at instant L is the result of every event with ts <= L.

use polars::prelude::*;

use crate::intervals::Timelines;

/// Shifts in evaluation order; the index is the `shift` column.
pub const SHIFT_EARLIER: u32 = 0;
pub const SHIFT_NONE: u32 = 1;
pub const SHIFT_LATER: u32 = 2;

/// The look-ups of every (delivery, shift), sorted by delivery index then shift.
///
/// Columns: `idx` (row of the deliveries table), `shift`, `recipient`,
/// `origin`, `subject`, `granted`, `capture_ts`, `object`, `fill_ts`,
/// `config`, `named` (content named by the delivery itself).
pub fn resolve(
    deliveries: &DataFrame,
    tl: &Timelines,
    tolerance_ms: i64,
) -> PolarsResult<DataFrame> {
    let base = deliveries
        .clone()
        .lazy()
        .select([
            col("ts"),
            col("session_id"),
            col("cache_node"),
            col("cache_key"),
            col("origin_stream_id").alias("d_origin"),
            col("captured_at").alias("d_captured"),
            col("object_id").alias("d_object"),
        ])
        .with_row_index("idx", None);
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
            .otherwise(lit(NULL).cast(DataType::String))
            .alias("recipient"),
    );

    let lf = asof(
        lf,
        tl.cache.clone().lazy(),
        "t",
        "c_ts",
        &["cache_node", "cache_key"],
        &["c_node", "c_key"],
    );
    let lf = asof(
        lf,
        tl.purges.clone().lazy(),
        "t",
        "p_ts",
        &["cache_node"],
        &["p_node"],
    );
    let named = col("d_origin").is_not_null();
    let held = col("c_fill")
        .fill_null(lit(false))
        .and(col("p_ts").is_null().or(col("p_ts").lt_eq(col("c_ts"))));
    let from_cache = named.clone().not().and(held.clone());
    let null_str = || lit(NULL).cast(DataType::String);
    let null_i64 = || lit(NULL).cast(DataType::Int64);
    let lf = lf.with_columns([
        named.clone().alias("named"),
        when(named.clone())
            .then(col("d_origin"))
            .otherwise(
                when(held.clone())
                    .then(col("c_origin"))
                    .otherwise(null_str()),
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
        when(named.clone())
            .then(col("d_object"))
            .otherwise(when(held).then(col("c_object")).otherwise(null_str()))
            .alias("object"),
        when(from_cache.clone())
            .then(col("c_ts"))
            .otherwise(null_i64())
            .alias("fill_ts"),
        when(from_cache)
            .then(col("c_config"))
            .otherwise(null_str())
            .alias("config"),
    ]);
    // A capture-time look-up shifts with the delivery-time ones; rows with no
    // content get a key that sorts first and matches nothing.
    let lf = lf.with_column(
        (col("capture_ts") + col("d"))
            .fill_null(lit(i64::MIN))
            .alias("o_at"),
    );
    let lf = asof(
        lf,
        tl.owners.clone().lazy(),
        "o_at",
        "o_ts",
        &["origin"],
        &["stream_id"],
    );
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
    .sort(["idx", "shift"], SortMultipleOptions::default())
    .collect()
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
