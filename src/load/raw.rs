//! Raw rows: the text cells of one row as a file had them, before any value is interpreted.

/// The cells of one row, in header order, held in one buffer; an empty cell is absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cells(pub(super) csv::StringRecord);

impl Cells {
    /// The cell at header position `i`; `None` when empty or past the end.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i).filter(|s| !s.is_empty())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes of every cell together.
    pub fn bytes(&self) -> usize {
        self.0.as_slice().len()
    }

    /// Room for `fields` cells of `bytes` bytes in all.
    pub fn with_capacity(bytes: usize, fields: usize) -> Cells {
        Cells(csv::StringRecord::with_capacity(bytes, fields))
    }

    /// Appends the next cell (`None`: absent).
    pub fn push(&mut self, v: Option<&str>) {
        self.0.push_field(v.unwrap_or(""));
    }

    pub fn to_vec(&self) -> Vec<Option<String>> {
        (0..self.len())
            .map(|i| self.get(i).map(str::to_string))
            .collect()
    }
}

impl<'a> FromIterator<Option<&'a str>> for Cells {
    fn from_iter<I: IntoIterator<Item = Option<&'a str>>>(iter: I) -> Self {
        let mut r = csv::StringRecord::new();
        for c in iter {
            r.push_field(c.unwrap_or(""));
        }
        Cells(r)
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
