//! Findings: the aggregate facts behind the investigator and compliance reports, computed once from the verdicts.
//!
//! Each submodule computes one section's numbers; `src/report/` only renders them.
//! Every result here is ordered (BTreeMap, sorted vectors), so that the same inputs
//! give the same reports byte for byte; hash maps serve look-ups, or are sorted
//! on a total order before anything leaves them.

pub mod attributes;
pub mod changepoint;
pub mod collisions;
pub mod coverage;
pub mod decimals;
pub mod exposures;
pub mod factors;
pub mod headline;
pub mod mechanism;
pub mod population;
pub mod timeline;

use std::collections::BTreeSet;
use std::ops::Range;

use crate::context::{Basis, DeliveryContext};
use crate::error::{Error, Result};
use crate::infer::InferredCache;
use crate::intervals::session_intervals;
use crate::load::LoadedDataset;
use crate::schema::Kind;
use crate::sink::{BlockSink, ClassifiedBlock};
use crate::table::{ColumnData, Table, Text, TextSlice};
use crate::verdict::{Class, Verdict};

pub use collisions::KeyCollision;
pub use coverage::DataQuality;
pub use exposures::Exposures;
pub use factors::Factors;
pub use headline::Headline;
pub use mechanism::Mechanism;
pub use population::Population;
pub use timeline::Timeline;

/// Everything the reports say, section by section.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub headline: Headline,
    pub population: Population,
    pub timeline: Timeline,
    pub factors: Factors,
    /// The mechanism as a rule over the request's attributes and the changes.
    pub mechanism: Mechanism,
    pub collisions: Vec<KeyCollision>,
    pub quality: DataQuality,
    pub exposures: Exposures,
    /// The first [`FIRST_LEAKS`] leak deliveries by time, as evidence.
    pub first_leaks: Notable,
}

/// A text column as an attribute of each delivery.
fn text_attribute(v: &[Option<Text>]) -> attributes::Column<'_> {
    Box::new(move |i| v.get(i).and_then(|x| x.as_deref()))
}

/// A text column of the deliveries as an attribute of each delivery.
fn column_attribute(v: TextSlice<'_>) -> attributes::Column<'_> {
    Box::new(move |i| v.str(i))
}

/// The factors' categorical attributes of rows `rows` of the deliveries, read in place from the
/// deliveries, their verdicts and context (index 0 is row `rows.start`). The numeric ones are
/// gathered by [`mechanism::RuleColumns`] and binned at the end.
fn attribute_values<'a>(
    d: &'a Table,
    rows: Range<usize>,
    verdicts: &'a [Verdict],
    context: &'a DeliveryContext,
) -> attributes::AttributeValues<'a> {
    let text = |name| column_attribute(d.text(name).slice(rows.clone()));
    attributes::AttributeValues {
        columns: [
            text_attribute(&context.integration),
            text_attribute(&context.client),
            text("kind"),
            Box::new(|_| None),
            Box::new(|_| None),
            Box::new(|i| verdicts.get(i).and_then(|v| v.config_version.as_deref())),
            text("cache_node"),
            text("server"),
            text_attribute(&context.recipient_country),
        ],
    }
}

/// Every delivery that is not `ok`, with what the leak sections read of it. They are few next to
/// all deliveries, so they are kept whole while the `ok` ones are only counted.
#[derive(Debug, Clone, Default)]
pub struct Notable {
    /// The delivery's number, in the order of the deliveries table.
    pub index: Vec<usize>,
    pub verdicts: Vec<Verdict>,
    pub ts: Vec<Option<i64>>,
    pub viewed: Vec<Option<bool>>,
    pub session: Vec<Option<Text>>,
    pub kind: Vec<Option<Text>>,
    pub cache_node: Vec<Option<Text>>,
    pub cache_key: Vec<Option<Text>>,
    pub request_id: Vec<Option<Text>>,
}

impl Notable {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Adds the rows of `rows` of `d` whose verdict is not `ok`; `first` is the number of row `rows.start`.
    fn add(&mut self, d: &Table, rows: Range<usize>, first: usize, verdicts: &[Verdict]) {
        let ts = &d.time("ts")[rows.clone()];
        let viewed = match d.column("viewed") {
            Some(ColumnData::Bool(v)) => &v[rows.clone()],
            _ => &[],
        };
        let text = |name| d.text(name).slice(rows.clone());
        let (session, kind, node, key, request) = (
            text("session_id"),
            text("kind"),
            text("cache_node"),
            text("cache_key"),
            text("request_id"),
        );
        let cell = |c: TextSlice, i: usize| c.get(i).cloned();
        for (i, v) in verdicts.iter().enumerate() {
            if v.class == Class::Ok {
                continue;
            }
            self.index.push(first + i);
            self.verdicts.push(v.clone());
            self.ts.push(ts[i]);
            self.viewed.push(viewed.get(i).copied().flatten());
            self.session.push(cell(session, i));
            self.kind.push(cell(kind, i));
            self.cache_node.push(cell(node, i));
            self.cache_key.push(cell(key, i));
            self.request_id.push(cell(request, i));
        }
    }

    /// The first `n` leak deliveries by time (then number).
    pub fn first_leaks(&self, n: usize) -> Notable {
        let mut leaks: Vec<usize> = (0..self.len())
            .filter(|&k| self.verdicts[k].class == Class::Leak)
            .collect();
        leaks.sort_by_key(|&k| (self.ts[k], self.index[k]));
        let mut out = Notable::default();
        for &k in leaks.iter().take(n) {
            out.index.push(self.index[k]);
            out.verdicts.push(self.verdicts[k].clone());
            out.ts.push(self.ts[k]);
            out.viewed.push(self.viewed[k]);
            out.session.push(self.session[k].clone());
            out.kind.push(self.kind[k].clone());
            out.cache_node.push(self.cache_node[k].clone());
            out.cache_key.push(self.cache_key[k].clone());
            out.request_id.push(self.request_id[k].clone());
        }
        out
    }
}

/// Leak deliveries the report lists as first evidence.
pub const FIRST_LEAKS: usize = 10;

/// Gathers what the findings and the summary need, a block of classified deliveries at a time, in
/// the order of the deliveries table; [`FindingsBuilder::finish`] computes them.
///
/// Per delivery it keeps only its time, class and attribute codes; the deliveries that are not
/// `ok` are kept whole ([`Notable`]), and the rest is counted as it goes.
pub struct FindingsBuilder {
    classes: Vec<Class>,
    /// Every accepted delivery has a time: validation rejects a row without one.
    ts: Vec<i64>,
    notable: Notable,
    attributes: attributes::AttributeCodes,
    rule: mechanism::RuleColumns,
    collisions: collisions::CollisionTally,
    coverage: coverage::CoverageTally,
}

impl FindingsBuilder {
    /// Findings of `loaded`, whose cache log was completed with `inferred` fills, if any, and
    /// whose owners came from registry snapshots with `snapshot_conflicts`, if they did.
    /// `keeps_deliveries`: the deliveries table is still whole in `loaded` at [`Self::finish`]
    /// (else the numeric attributes are gathered as the blocks go by).
    pub fn new(
        loaded: &LoadedDataset,
        inferred: Option<InferredCache>,
        snapshot_conflicts: Option<u64>,
        keeps_deliveries: bool,
    ) -> FindingsBuilder {
        FindingsBuilder {
            classes: Vec::new(),
            ts: Vec::new(),
            notable: Notable::default(),
            attributes: attributes::AttributeCodes::default(),
            rule: mechanism::RuleColumns::new(!keeps_deliveries),
            collisions: collisions::CollisionTally::default(),
            coverage: coverage::CoverageTally::new(
                loaded.cache_hours.clone(),
                inferred,
                snapshot_conflicts,
            ),
        }
    }

    /// Room for `n` deliveries, so that the per-delivery columns are allocated once at their size
    /// instead of doubling (at 10^8 deliveries a doubling leaves gigabytes behind).
    pub fn reserve(&mut self, n: usize) {
        self.classes.reserve_exact(n);
        self.ts.reserve_exact(n);
        self.attributes.reserve(n);
        self.rule.reserve(n);
    }

    /// Every section's findings, once every block is in. `loaded` has its row accounting settled.
    pub fn finish(self, loaded: &LoadedDataset, basis: &Basis) -> Findings {
        let FindingsBuilder {
            classes,
            ts,
            notable,
            attributes,
            rule,
            collisions,
            coverage,
        } = self;
        let total = classes.len() as u64;
        let headline = headline::headline(total, &notable.verdicts, &notable.ts, &notable.viewed);
        let window = headline.first_leak.zip(headline.last_leak);

        // The exposures with the session windows, and the timeline with the factors, side by side.
        let ((exposures, windows), (timeline, mechanism, factors)) = rayon::join(
            || {
                rayon::join(
                    || {
                        exposures::exposures(
                            &exposures::LeakInputs {
                                verdicts: &notable.verdicts,
                                ts: &notable.ts,
                                viewed: &notable.viewed,
                                session: &notable.session,
                                kind: &notable.kind,
                                request_id: &notable.request_id,
                            },
                            &basis.dir,
                        )
                    },
                    || {
                        session_intervals(
                            loaded.table(Kind::Sessions),
                            loaded.settings.session_ttl_ms,
                        )
                    },
                )
            },
            || {
                let timeline = timeline::timeline(
                    timeline::changes_of(loaded.table(Kind::Changes)),
                    &classes,
                    &ts,
                );
                // The numeric attributes are read where the deliveries table still holds them.
                let numbers = rule.numbers().unwrap_or_else(|| {
                    let d = loaded.table(Kind::Deliveries);
                    debug_assert_eq!(d.len(), classes.len(), "deliveries kept whole");
                    mechanism::Numbers::of_table(d)
                });
                let mechanism = mechanism::mechanism(&mechanism::RuleInputs {
                    classes: &classes,
                    ts: &ts,
                    codes: &attributes,
                    columns: &rule,
                    numbers,
                    changes: &timeline.changes,
                    window,
                });
                let in_window: Vec<bool> = ts
                    .iter()
                    .map(|&t| matches!(window, Some((a, b)) if t >= a && t <= b))
                    .collect();
                drop(ts);
                // The factor tables bin rtt and loss at the rule's cuts, else at their quartiles.
                let numeric: Vec<attributes::NumericBins> = [
                    (attributes::Attribute::Rtt, mechanism::Numeric::Rtt),
                    (attributes::Attribute::Loss, mechanism::Numeric::Loss),
                ]
                .into_iter()
                .map(|(attr, n)| {
                    let cuts = mechanism::cuts_of(&mechanism, n);
                    let values = numbers[n as usize];
                    attributes::NumericBins {
                        attr,
                        cuts: if cuts.is_empty() {
                            mechanism::quartiles(values, &classes, &in_window)
                        } else {
                            cuts
                        },
                        value: Box::new(move |i| values.get(i)),
                        show: Box::new(move |v| n.show(v)),
                    }
                })
                .collect();
                let factors = factors::gathered(&attributes, &classes, &in_window, &numeric);
                (timeline, mechanism, factors)
            },
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
        let population =
            population::population(&windows, &basis.starts, window, &exposed, &recipients);
        let quality = coverage::quality(loaded, coverage, basis.dir.conflicting);
        Findings {
            headline,
            population,
            timeline,
            factors,
            mechanism,
            collisions: collisions.finish(),
            quality,
            exposures,
            first_leaks: notable.first_leaks(FIRST_LEAKS),
        }
    }
}

impl BlockSink for FindingsBuilder {
    /// Counts the block's deliveries and keeps the ones that are not `ok`.
    fn add(&mut self, b: &ClassifiedBlock) -> Result<()> {
        let (d, rows, verdicts) = (b.deliveries, b.rows.clone(), b.verdicts);
        let FindingsBuilder {
            classes,
            ts,
            notable,
            attributes,
            rule,
            collisions,
            coverage,
        } = self;
        let first = classes.len();
        // Each tally takes the block on its own, side by side.
        let ((_, (_, coded)), _) = rayon::join(
            || {
                rayon::join(
                    || {
                        classes.extend(verdicts.iter().map(|v| v.class));
                        ts.extend(
                            d.time("ts")[rows.clone()]
                                .iter()
                                .map(|t| t.unwrap_or(i64::MIN)),
                        );
                        notable.add(d, rows.clone(), first, verdicts);
                    },
                    || {
                        rayon::join(
                            || {
                                attributes.add(
                                    &attribute_values(d, rows.clone(), verdicts, b.context),
                                    verdicts.len(),
                                )
                            },
                            || rule.add(d, rows.clone(), verdicts),
                        )
                    },
                )
            },
            || {
                rayon::join(
                    || {
                        collisions.add(
                            verdicts,
                            d.text("cache_key").slice(rows.clone()),
                            d.text("cache_node").slice(rows.clone()),
                        )
                    },
                    || coverage.add(d, rows.clone(), verdicts),
                )
            },
        );
        coded.map_err(|e| Error::timeline("coding the recipients of the mechanism's population", e))
    }
}
