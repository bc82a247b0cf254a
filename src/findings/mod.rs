//! Findings: the aggregate facts behind the investigator and compliance reports, computed once from the verdicts.
//!
//! Each submodule computes one section's numbers; `src/report/` only renders them.
//! Every result here is ordered (BTreeMap, sorted vectors), so that the same inputs
//! give the same reports byte for byte; hash maps serve look-ups, or are sorted
//! on a total order before anything leaves them.

pub mod changepoint;
pub mod collisions;
pub mod context;
pub mod coverage;
pub mod exposures;
pub mod factors;
pub mod headline;
pub mod population;
pub mod timeline;

use std::collections::BTreeSet;

use crate::intervals::session_intervals;
use crate::load::table::{ColumnData, Table, Text};
use crate::load::LoadedDataset;
use crate::schema::Kind;
use crate::verdict::{Class, Verdict};

pub use collisions::KeyCollision;
pub use context::{AccountDirectory, DeliveryContext, SessionStarts};
pub use coverage::DataQuality;
pub use exposures::Exposures;
pub use factors::Factors;
pub use headline::Headline;
pub use population::Population;
pub use timeline::Timeline;

/// Everything the reports say, section by section.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub context: DeliveryContext,
    pub headline: Headline,
    pub population: Population,
    pub timeline: Timeline,
    pub factors: Factors,
    pub collisions: Vec<KeyCollision>,
    pub quality: DataQuality,
    pub exposures: Exposures,
}

/// A delivery's `viewed` flags (absent where the column is).
pub fn viewed_flags(d: &Table) -> Vec<Option<bool>> {
    match d.column("viewed") {
        Some(ColumnData::Bool(v)) => v.clone(),
        _ => vec![None; d.len()],
    }
}

/// A numeric column (empty where the column is absent, as every value then is).
fn numbers<'a>(d: &'a Table, name: &str) -> &'a [Option<f64>] {
    match d.column(name) {
        Some(ColumnData::Num(v)) => v,
        _ => &[],
    }
}

/// A text column as an attribute of each delivery.
fn text_attribute(v: &[Option<Text>]) -> factors::Column<'_> {
    Box::new(move |i| v.get(i).and_then(|x| x.as_deref()))
}

/// A numeric column as an attribute of each delivery, through its buckets.
fn bucket_attribute(
    v: &[Option<f64>],
    bucket: fn(Option<f64>) -> &'static str,
) -> factors::Column<'_> {
    Box::new(move |i| Some(bucket(v.get(i).copied().flatten())))
}

/// The factors' attributes, read in place from the deliveries, their verdicts and context.
fn attribute_values<'a>(
    d: &'a Table,
    verdicts: &'a [Verdict],
    context: &'a DeliveryContext,
) -> factors::AttributeValues<'a> {
    factors::AttributeValues {
        columns: [
            text_attribute(&context.integration),
            text_attribute(&context.client),
            text_attribute(d.text("kind")),
            bucket_attribute(numbers(d, "rtt_ms"), factors::rtt_bucket),
            bucket_attribute(numbers(d, "loss_pct"), factors::loss_bucket),
            Box::new(|i| verdicts.get(i).and_then(|v| v.config_version.as_deref())),
            text_attribute(d.text("cache_node")),
            text_attribute(d.text("server")),
            text_attribute(&context.recipient_country),
        ],
    }
}

/// What every section's findings start from: the account directory, when sessions began, and
/// each delivery's context, which verdicts.parquet also carries.
pub struct Basis {
    pub dir: AccountDirectory,
    pub starts: SessionStarts,
    pub context: DeliveryContext,
}

/// The [`Basis`] of the findings. `verdicts[i]` belongs to row i of the deliveries table.
pub fn basis(loaded: &LoadedDataset, verdicts: &[Verdict]) -> Basis {
    let dir = AccountDirectory::from_table(loaded.table(Kind::Accounts));
    let starts = SessionStarts::from_table(loaded.table(Kind::Sessions));
    let context = DeliveryContext::build(loaded, verdicts, &starts, &dir);
    Basis {
        dir,
        starts,
        context,
    }
}

/// Computes every section's findings. `verdicts[i]` belongs to row i of the deliveries table.
pub fn find(loaded: &LoadedDataset, verdicts: &[Verdict]) -> Findings {
    let b = basis(loaded, verdicts);
    let found = find_from(loaded, verdicts, &b);
    Findings {
        context: b.context,
        ..found
    }
}

/// Every section's findings but the context, which stays in `basis` (the caller moves it in).
pub fn find_from(loaded: &LoadedDataset, verdicts: &[Verdict], basis: &Basis) -> Findings {
    let d = loaded.table(Kind::Deliveries);
    let ts = d.time("ts");
    let viewed = viewed_flags(d);
    let (dir, starts, context) = (&basis.dir, &basis.starts, &basis.context);

    let headline = headline::headline(verdicts, ts, &viewed);
    let window = headline.first_leak.zip(headline.last_leak);

    let exposures = exposures::exposures(
        &exposures::LeakInputs {
            verdicts,
            ts,
            viewed: &viewed,
            session: d.text("session_id"),
            kind: d.text("kind"),
        },
        dir,
    );
    let exposed: BTreeSet<&str> = exposures
        .subjects
        .iter()
        .map(|s| s.account.as_str())
        .collect();
    let recipients: BTreeSet<&str> = exposures
        .recipients
        .iter()
        .map(|s| s.account.as_str())
        .collect();
    let windows = session_intervals(loaded.table(Kind::Sessions), loaded.settings.session_ttl_ms);
    let population = population::population(&windows, starts, window, &exposed, &recipients);

    let timeline = timeline::timeline(
        timeline::changes_of(loaded.table(Kind::Changes)),
        verdicts,
        ts,
    );

    let in_window: Vec<bool> = ts
        .iter()
        .map(|t| matches!((t, window), (Some(t), Some((a, b))) if *t >= a && *t <= b))
        .collect();
    let factors = factors::factors(
        verdicts,
        &in_window,
        &attribute_values(d, verdicts, context),
    );
    let collisions = collisions::collisions(verdicts, d.text("cache_key"), d.text("cache_node"));
    let quality = coverage::quality(loaded, verdicts, dir.conflicting);
    debug_assert!(
        verdicts.iter().filter(|v| v.class == Class::Leak).count() as u64
            == headline.delivered.lower.deliveries
    );
    Findings {
        context: DeliveryContext::default(),
        headline,
        population,
        timeline,
        factors,
        collisions,
        quality,
        exposures,
    }
}
