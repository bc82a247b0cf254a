//! Codes: one `u32` per distinct identifier of the timelines, so that joins group and compare integers, not strings.
//!
//! Only the timelines (sessions, ownership, cache) fill the dictionary. A
//! delivery's identifier that no timeline names gets [`UNKNOWN`], which no
//! timeline row carries, so its look-ups find nothing, exactly as the string
//! would have found nothing.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use polars::prelude::{polars_bail, PolarsResult};

use crate::table::Text;

/// The code of an identifier the timelines never name: it matches no timeline row.
pub const UNKNOWN: u32 = u32::MAX;

/// Identifiers and their codes, both ways.
#[derive(Debug, Default)]
pub struct Dictionary {
    index: HashMap<Text, u32, RandomState>,
    values: Vec<Text>,
}

impl Dictionary {
    /// The code of `v`, given a new one if `v` is new.
    pub fn code(&mut self, v: &str) -> PolarsResult<u32> {
        if let Some(&c) = self.index.get(v) {
            return Ok(c);
        }
        let Some(c) = u32::try_from(self.values.len())
            .ok()
            .filter(|&c| c != UNKNOWN)
        else {
            polars_bail!(ComputeError: "more than {} distinct identifiers in the timelines", UNKNOWN);
        };
        let t = Text::from(v);
        self.values.push(t.clone());
        self.index.insert(t, c);
        Ok(c)
    }

    /// The code of `v`, or [`UNKNOWN`] when no timeline names it.
    pub fn lookup(&self, v: &str) -> u32 {
        self.index.get(v).copied().unwrap_or(UNKNOWN)
    }

    /// The identifier behind a code handed out by this dictionary.
    pub fn value(&self, code: u32) -> Option<&Text> {
        self.values.get(code as usize)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknowns_match_nothing() {
        let mut d = Dictionary::default();
        let a = d.code("acct-a").unwrap();
        let b = d.code("acct-b").unwrap();
        assert_eq!(d.code("acct-a").unwrap(), a);
        assert_ne!(a, b);
        assert_eq!(d.len(), 2);
        assert_eq!(d.value(b).map(|t| &**t), Some("acct-b"));
        assert_eq!(d.lookup("acct-a"), a);
        assert_eq!(d.lookup("never-seen"), UNKNOWN);
        assert_eq!(d.value(UNKNOWN), None);
    }
}
