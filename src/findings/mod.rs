//! Findings: the aggregate facts behind the investigator and compliance reports, computed once from the verdicts.
//!
//! Each submodule computes one section's numbers; `src/report/` only renders them.
//! Everything here is ordered (BTreeMap, sorted vectors), so that the same inputs
//! give the same reports byte for byte.

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
use crate::load::table::{ColumnData, Table};
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

fn as_strs<T: std::ops::Deref<Target = str>>(v: &[Option<T>]) -> Vec<Option<&str>> {
    v.iter().map(|x| x.as_deref()).collect()
}

fn numbers(d: &Table, name: &str) -> Vec<Option<f64>> {
    match d.column(name) {
        Some(ColumnData::Num(v)) => v.clone(),
        _ => vec![None; d.len()],
    }
}

/// Computes every section's findings. `verdicts[i]` belongs to row i of the deliveries table.
pub fn find(loaded: &LoadedDataset, verdicts: &[Verdict]) -> Findings {
    let d = loaded.table(Kind::Deliveries);
    let ts = d.time("ts");
    let viewed = viewed_flags(d);
    let dir = AccountDirectory::from_table(loaded.table(Kind::Accounts));
    let starts = SessionStarts::from_table(loaded.table(Kind::Sessions));
    let context = DeliveryContext::build(loaded, verdicts, &starts, &dir);

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
        &dir,
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
    let population = population::population(&windows, &starts, window, &exposed, &recipients);

    let timeline = timeline::timeline(
        timeline::changes_of(loaded.table(Kind::Changes)),
        verdicts,
        ts,
    );

    let in_window: Vec<bool> = ts
        .iter()
        .map(|t| matches!((t, window), (Some(t), Some((a, b))) if *t >= a && *t <= b))
        .collect();
    let (rtt, loss) = (numbers(d, "rtt_ms"), numbers(d, "loss_pct"));
    let values = factors::AttributeValues {
        columns: [
            as_strs(&context.integration),
            as_strs(&context.client),
            as_strs(d.text("kind")),
            rtt.iter().map(|&x| Some(factors::rtt_bucket(x))).collect(),
            loss.iter()
                .map(|&x| Some(factors::loss_bucket(x)))
                .collect(),
            verdicts
                .iter()
                .map(|v| v.config_version.as_deref())
                .collect(),
            as_strs(d.text("cache_node")),
            as_strs(d.text("server")),
            as_strs(&context.recipient_country),
        ],
    };
    let factors = factors::factors(verdicts, &in_window, &values);
    let collisions = collisions::collisions(verdicts, d.text("cache_key"), d.text("cache_node"));
    let quality = coverage::quality(loaded, verdicts, dir.conflicting);
    debug_assert!(
        verdicts.iter().filter(|v| v.class == Class::Leak).count() as u64
            == headline.delivered.lower.deliveries
    );
    Findings {
        context,
        headline,
        population,
        timeline,
        factors,
        collisions,
        quality,
        exposures,
    }
}
