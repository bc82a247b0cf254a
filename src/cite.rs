//! `Cite`: where one log row came from, its input file and line (or Parquet row), in 8 bytes.
//!
//! Every timeline event keeps the cite of the row that decided it, so that a verdict can name
//! the log lines behind each of its look-ups (docs/REPORTS.md, "Citations").

use serde::{Deserialize, Serialize};

/// Bits of a cite that hold the line; the file index sits above them.
const LINE_BITS: u32 = 40;
const LINE_MASK: u64 = (1 << LINE_BITS) - 1;

/// An input file (index into the run's file list, the manifest's `files`) and a line in it:
/// 1-based for text files (the header is line 1), the 0-based row index for Parquet.
/// [`Cite::NONE`] for an event no row stated (a session's TTL, an inferred fill's expiry).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cite(u64);

impl Cite {
    pub const NONE: Cite = Cite(u64::MAX);

    /// The cite of `line` of file `file`; a dataset of more than 2^24 files or a file of more than
    /// 2^40 lines is beyond what a cite holds.
    pub fn new(file: u32, line: u64) -> Result<Cite, BeyondCite> {
        if file >= (1 << (64 - LINE_BITS)) - 1 || line > LINE_MASK {
            return Err(BeyondCite { file, line });
        }
        Ok(Cite((u64::from(file) << LINE_BITS) | line))
    }

    /// The cite of a row's source as a [`crate::table::Table`] keeps it.
    pub fn of(source: (u32, u64)) -> Result<Cite, BeyondCite> {
        Cite::new(source.0, source.1)
    }

    /// The file and line, unless this is [`Cite::NONE`].
    pub fn get(self) -> Option<(u32, u64)> {
        (self != Cite::NONE).then_some(((self.0 >> LINE_BITS) as u32, self.0 & LINE_MASK))
    }

    pub fn is_none(self) -> bool {
        self == Cite::NONE
    }

    /// This cite, or `other` where this is [`Cite::NONE`].
    pub fn or(self, other: Cite) -> Cite {
        match self.is_none() {
            true => other,
            false => self,
        }
    }
}

/// A row a cite cannot hold: a dataset beyond the engine's limits, not a bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("row {line} of input file {file} is beyond what a citation holds (2^24 files, 2^40 lines)")]
pub struct BeyondCite {
    pub file: u32,
    pub line: u64,
}

/// A cited row with the time of its event, clock-corrected: where a timeline shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cited {
    pub ts: i64,
    pub cite: Cite,
}

impl Cited {
    /// The event at `ts` stated by `cite`, unless no row states it.
    pub fn at(ts: i64, cite: Cite) -> Option<Cited> {
        (!cite.is_none()).then_some(Cited { ts, cite })
    }
}

impl std::fmt::Debug for Cite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            Some((file, line)) => write!(f, "Cite({file}:{line})"),
            None => write!(f, "Cite(none)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cite_gives_back_its_file_and_line_and_refuses_what_it_cannot_hold() {
        let c = Cite::new(7, 123_456_789_012).unwrap();
        assert_eq!(c.get(), Some((7, 123_456_789_012)));
        assert_eq!(Cite::NONE.get(), None);
        assert!(Cite::new(0, 1 << 40).is_err());
        assert!(Cite::new((1 << 24) - 1, 0).is_err());
        assert_eq!(
            Cite::new((1 << 24) - 2, LINE_MASK)
                .unwrap()
                .get()
                .unwrap()
                .0,
            (1 << 24) - 2
        );
        assert!(Cite::new(0, 5).unwrap() < Cite::new(1, 0).unwrap());
        assert_eq!(Cite::NONE.or(c), c);
        assert_eq!(c.or(Cite::NONE), c);
    }
}
