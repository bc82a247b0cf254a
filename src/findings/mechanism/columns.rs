//! What the learner reads of every delivery besides its class, time and codes: the numeric attributes (where the deliveries table keeps them, or gathered) and the recipient.

use super::Numeric;
use crate::codes::{Dictionary, UNKNOWN};
use crate::findings::decimals::DecimalColumn;
use crate::table::{ColumnData, Table};
use crate::text::Text;
use crate::timeline::TimelineError;
use crate::verdict::Verdict;

/// One numeric attribute's value per delivery.
#[derive(Debug, Clone, Copy)]
pub enum Numbers<'a> {
    /// Gathered as the blocks went by.
    Gathered(&'a DecimalColumn),
    /// The deliveries table's own column.
    Table(&'a [Option<f64>]),
    Absent,
}

impl Numbers<'_> {
    /// Delivery `i`'s value, NaN where absent.
    pub fn get(&self, i: usize) -> f64 {
        match self {
            Numbers::Gathered(v) => v.get(i),
            Numbers::Table(v) => v.get(i).copied().flatten().unwrap_or(f64::NAN),
            Numbers::Absent => f64::NAN,
        }
    }

    /// The numeric columns of the deliveries table `d`, in [`Numeric::ALL`] order.
    pub fn of_table(d: &Table) -> [Numbers<'_>; 3] {
        Numeric::ALL.map(|n| match d.column(n.column()) {
            Some(ColumnData::Num(v)) => Numbers::Table(v),
            _ => Numbers::Absent,
        })
    }
}

/// The recipient of every delivery, and, when the deliveries table is not kept to the end, the
/// numeric attributes, gathered a block at a time.
#[derive(Debug)]
pub struct RuleColumns {
    /// Per [`Numeric::ALL`]: one value per delivery; empty unless gathered.
    values: [DecimalColumn; 3],
    gather: bool,
    /// The recipient account's code per delivery, [`UNKNOWN`] where there is none.
    pub(super) recipient: Vec<u32>,
    pub(super) recipients: Dictionary,
}

impl RuleColumns {
    /// `gather`: keep the numeric attributes (the deliveries table will be gone at the end).
    pub fn new(gather: bool) -> RuleColumns {
        RuleColumns {
            values: Default::default(),
            gather,
            recipient: Vec::new(),
            recipients: Dictionary::new("recipient accounts"),
        }
    }

    pub fn reserve(&mut self, n: usize) {
        if self.gather {
            for v in &mut self.values {
                v.reserve(n);
            }
        }
        self.recipient.reserve_exact(n);
    }

    /// The gathered numeric attributes, if they were gathered.
    pub fn numbers(&self) -> Option<[Numbers<'_>; 3]> {
        self.gather
            .then(|| [0, 1, 2].map(|k| Numbers::Gathered(&self.values[k])))
    }

    /// Adds rows `rows` of the deliveries `d`, whose verdicts are `verdicts`.
    pub fn add(
        &mut self,
        d: &Table,
        rows: std::ops::Range<usize>,
        verdicts: &[Verdict],
    ) -> Result<(), TimelineError> {
        if self.gather {
            for (k, n) in Numeric::ALL.into_iter().enumerate() {
                let col = match d.column(n.column()) {
                    Some(ColumnData::Num(v)) => v.get(rows.clone()),
                    _ => None,
                };
                match col {
                    Some(v) => v.iter().for_each(|x| self.values[k].push(*x)),
                    None => (0..rows.len()).for_each(|_| self.values[k].push(None)),
                }
            }
        }
        // Equal recipients mostly share one allocation; the last one answers most rows.
        let mut last: Option<(&Text, u32)> = None;
        for v in verdicts {
            let code = match &v.recipient {
                None => UNKNOWN,
                Some(r) => match last {
                    Some((l, c)) if std::sync::Arc::ptr_eq(l, r) => c,
                    _ => {
                        let c = self.recipients.code(r)?;
                        last = Some((r, c));
                        c
                    }
                },
            };
            self.recipient.push(code);
        }
        Ok(())
    }
}
