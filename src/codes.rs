//! Codes: one `u32` per distinct identifier of a domain (sessions, accounts, streams, cache nodes,
//! cache keys, configurations), so that timelines and look-ups compare integers, not strings.
//!
//! Only the timelines (sessions, ownership, cache) fill the dictionaries. A delivery's identifier
//! that no timeline names gets [`UNKNOWN`], which no timeline row carries, so its look-ups find
//! nothing, exactly as the string would have found nothing.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::text::{Text, TextColumn, TextSlice, ABSENT};
use crate::timeline::TimelineError;

/// The code of an identifier the timelines never name: it matches no timeline row.
pub const UNKNOWN: u32 = u32::MAX;

/// How many codes one dictionary hands out: every `u32` but [`UNKNOWN`].
pub const LIMIT: u32 = UNKNOWN;

/// Each cell's code through the code of its column value.
fn per_cell(cells: &[u32], of_value: &[u32]) -> Vec<u32> {
    cells
        .iter()
        .map(|&c| match c {
            ABSENT => UNKNOWN,
            c => of_value.get(c as usize).copied().unwrap_or(UNKNOWN),
        })
        .collect()
}

/// The identifiers of one domain and their codes, both ways. Codes are handed out in the order
/// values are first seen, from 0.
#[derive(Debug)]
pub struct Dictionary {
    /// What the domain's identifiers are, for the error when there are too many.
    domain: &'static str,
    index: HashMap<Text, u32, RandomState>,
    values: Vec<Text>,
}

impl Dictionary {
    pub fn new(domain: &'static str) -> Dictionary {
        Dictionary {
            domain,
            index: HashMap::default(),
            values: Vec::new(),
        }
    }

    /// The code of `v`, given a new one if `v` is new.
    pub fn code(&mut self, v: &Text) -> Result<u32, TimelineError> {
        if let Some(&c) = self.index.get(&**v) {
            return Ok(c);
        }
        let Some(c) = u32::try_from(self.values.len()).ok().filter(|&c| c < LIMIT) else {
            return Err(TimelineError::TooManyIdentifiers {
                domain: self.domain,
                limit: LIMIT,
            });
        };
        // The table's own allocation is shared, not copied.
        self.values.push(v.clone());
        self.index.insert(v.clone(), c);
        Ok(c)
    }

    /// The code of every cell of `column` ([`UNKNOWN`] where absent), new values given new codes.
    pub fn code_all(&mut self, column: &TextColumn) -> Result<Vec<u32>, TimelineError> {
        let Some((cells, values)) = column.coded() else {
            return column
                .iter()
                .map(|v| v.map_or(Ok(UNKNOWN), |v| self.code(v)))
                .collect();
        };
        let mut of_value = Vec::with_capacity(values.len());
        for v in values {
            of_value.push(self.code(v)?);
        }
        Ok(per_cell(cells, &of_value))
    }

    /// The code of every cell of `cells`, [`UNKNOWN`] where absent or not named by any timeline.
    pub fn lookup_all(&self, cells: TextSlice<'_>) -> Vec<u32> {
        match cells.coded() {
            Some((cells, values)) => {
                let of_value: Vec<u32> = values.iter().map(|v| self.lookup(v)).collect();
                per_cell(cells, &of_value)
            }
            None => cells
                .iter()
                .map(|v| v.map_or(UNKNOWN, |v| self.lookup(v)))
                .collect(),
        }
    }

    /// The code of `v`, or [`UNKNOWN`] when no timeline names it.
    pub fn lookup(&self, v: &str) -> u32 {
        self.index.get(v).copied().unwrap_or(UNKNOWN)
    }

    /// The identifier behind a code handed out by this dictionary.
    pub fn value(&self, code: u32) -> Option<&Text> {
        self.values.get(code as usize)
    }

    /// Every identifier, in code order.
    pub fn values(&self) -> &[Text] {
        &self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// One dictionary per identifier domain. Accounts share one, whichever log names them, so that
/// equal codes are equal accounts; likewise streams.
#[derive(Debug)]
pub struct Codes {
    pub sessions: Dictionary,
    pub accounts: Dictionary,
    pub streams: Dictionary,
    pub nodes: Dictionary,
    pub keys: Dictionary,
    pub configs: Dictionary,
}

impl Default for Codes {
    fn default() -> Codes {
        Codes {
            sessions: Dictionary::new("session ids"),
            accounts: Dictionary::new("account ids"),
            streams: Dictionary::new("stream ids"),
            nodes: Dictionary::new("cache nodes"),
            keys: Dictionary::new("cache keys"),
            configs: Dictionary::new("config versions"),
        }
    }
}

/// Ids of pairs of codes (a cache node and key, a stream and account), handed out in the order
/// pairs are first seen, from 0: the key of a timeline whose events belong to a pair.
#[derive(Debug, Default)]
pub struct Pairs {
    index: HashMap<(u32, u32), u32, RandomState>,
}

impl Pairs {
    /// The id of `(a, b)`, given a new one if the pair is new.
    pub fn id(&mut self, a: u32, b: u32) -> Result<u32, TimelineError> {
        let next = self.index.len();
        match self.index.entry((a, b)) {
            std::collections::hash_map::Entry::Occupied(e) => Ok(*e.get()),
            std::collections::hash_map::Entry::Vacant(e) => {
                let id = u32::try_from(next).ok().filter(|&c| c < LIMIT).ok_or(
                    TimelineError::TooManyIdentifiers {
                        domain: "pairs",
                        limit: LIMIT,
                    },
                )?;
                Ok(*e.insert(id))
            }
        }
    }

    /// The id of `(a, b)`, if the pair was ever seen.
    pub fn get(&self, a: u32, b: u32) -> Option<u32> {
        self.index.get(&(a, b)).copied()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknowns_match_nothing() {
        let mut d = Dictionary::new("accounts");
        let a = d.code(&Text::from("acct-a")).unwrap();
        let b = d.code(&Text::from("acct-b")).unwrap();
        assert_eq!((a, b), (0, 1), "codes in the order first seen");
        assert_eq!(d.code(&Text::from("acct-a")).unwrap(), a);
        assert_eq!(d.len(), 2);
        assert_eq!(d.value(b).map(|t| &**t), Some("acct-b"));
        assert_eq!(d.lookup("acct-a"), a);
        assert_eq!(d.lookup("never-seen"), UNKNOWN);
        assert_eq!(d.value(UNKNOWN), None);
    }

    #[test]
    fn pairs_get_one_id_each() {
        let mut p = Pairs::default();
        assert_eq!(p.id(3, 4).unwrap(), 0);
        assert_eq!(p.id(4, 3).unwrap(), 1, "order within a pair matters");
        assert_eq!(p.id(3, 4).unwrap(), 0);
        assert_eq!((p.get(4, 3), p.get(9, 9), p.len()), (Some(1), None, 2));
    }
}
