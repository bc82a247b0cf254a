//! Raw rows: the text cells of one row as a file had them, before any value is interpreted.

/// The cells of one row, in header order, held in one buffer with where each ends; an empty
/// cell is absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cells {
    text: String,
    // u32 rather than usize: a row keeps its ends until it is validated, and with 16 cells the
    // ends were a quarter of a log row's memory.
    ends: Vec<u32>,
}

/// A row whose cells together pass what one row can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong;

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the row's cells together pass {} bytes", u32::MAX)
    }
}

/// Why a CSV record is not a row of cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// The field at this position is not UTF-8 text.
    NotText(usize),
    TooLong(TooLong),
}

impl Cells {
    /// The cell at header position `i`; `None` when empty or past the end.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i.checked_sub(1) {
            Some(p) => self.ends[p] as usize,
            None => 0,
        };
        self.text.get(start..end).filter(|s| !s.is_empty())
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of every cell together.
    pub fn bytes(&self) -> usize {
        self.text.len()
    }

    /// Room for `fields` cells of `bytes` bytes in all.
    pub fn with_capacity(bytes: usize, fields: usize) -> Cells {
        Cells {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(fields),
        }
    }

    /// Appends the next cell (`None`: absent).
    pub fn push(&mut self, v: Option<&str>) -> Result<(), TooLong> {
        let v = v.unwrap_or("");
        let end = self
            .text
            .len()
            .checked_add(v.len())
            .and_then(|e| u32::try_from(e).ok())
            .ok_or(TooLong)?;
        self.text.push_str(v);
        self.ends.push(end);
        Ok(())
    }

    /// Appends an absent cell, which takes no room.
    pub fn push_absent(&mut self) {
        // The text never holds more than u32::MAX bytes: `push` refuses what would.
        let end = self.ends.last().copied().unwrap_or(0);
        self.ends.push(end);
    }

    /// A CSV record's fields as cells.
    pub fn from_record(record: &csv::ByteRecord) -> Result<Cells, RecordError> {
        let whole = record.as_slice();
        // Each field is checked, not only the whole: two fields may split one character.
        if !whole.is_ascii() {
            if let Some(i) = record.iter().position(|f| std::str::from_utf8(f).is_err()) {
                return Err(RecordError::NotText(i));
            }
        }
        // Every field is text, so the whole is.
        let text = std::str::from_utf8(whole).map_err(|_| RecordError::NotText(0))?;
        let mut ends = Vec::with_capacity(record.len());
        let mut end = 0usize;
        for f in record {
            end += f.len();
            ends.push(u32::try_from(end).map_err(|_| RecordError::TooLong(TooLong))?);
        }
        Ok(Cells {
            text: text.to_string(),
            ends,
        })
    }

    pub fn to_vec(&self) -> Vec<Option<String>> {
        (0..self.len())
            .map(|i| self.get(i).map(str::to_string))
            .collect()
    }
}

/// One data row as the file had it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    /// 1-based line for text formats (the CSV header is line 1), 0-based row index for Parquet.
    pub line: u64,
    /// One cell per header column; `None` is absent (empty string or null).
    /// `Err` when the row could not even be split into cells.
    pub cells: Result<Cells, String>,
    /// Header positions whose JSON value was an object or array.
    pub nested: Vec<usize>,
    /// Byte range of the row in the decoded file, for quoting it back (text formats).
    pub span: (usize, usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_keep_their_values_and_absent_ones() {
        let mut c = Cells::with_capacity(0, 0);
        c.push(Some("ab")).unwrap();
        c.push(None).unwrap();
        c.push_absent();
        c.push(Some("é")).unwrap();
        assert_eq!(
            c.to_vec(),
            [Some("ab".into()), None, None, Some("é".into())]
        );
        assert_eq!((c.len(), c.bytes(), c.get(4)), (4, 4, None));
    }

    #[test]
    fn a_record_reads_as_cells_unless_a_field_is_not_text() {
        let r = csv::ByteRecord::from(vec![&b"x"[..], b"", "ü".as_bytes()]);
        let c = Cells::from_record(&r).unwrap();
        assert_eq!(c.to_vec(), [Some("x".into()), None, Some("ü".into())]);
        // "é" is C3 A9: split across two fields, neither is text though the whole is.
        let split = csv::ByteRecord::from(vec![&b"ok"[..], b"\xC3", b"\xA9"]);
        assert_eq!(Cells::from_record(&split), Err(RecordError::NotText(1)));
    }
}
