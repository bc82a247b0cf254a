//! `TextColumn`: the values of one text column, coded against the column's own dictionary while
//! its values repeat, shared text once they are mostly distinct.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// A text value. Equal values of a column usually share one allocation.
pub type Text = Arc<str>;

/// The code of an absent value in [`TextColumn::coded`].
pub const ABSENT: u32 = u32::MAX;

/// Distinct values a coded column takes before it may judge itself mostly unique: below that the
/// dictionary is small whatever the column holds.
const TRIAL: usize = 1 << 16;

/// A column is kept coded while at most 1 in 4 of its recent cells starts a new value. A coded
/// cell costs 4 bytes and each distinct value about 60 once loaded (its text and its slot); a
/// shared-text cell 16 bytes and, unshared, its own text of about 32. But each new value is also
/// looked up again whenever the validators' chunks are joined into a file's table, where text is
/// a copy: for ids that are mostly new (request and object ids) that is most of the cost of
/// loading. Recent, not overall: a column of a few hundred thousand keys meets many of them early,
/// and is still worth coding.
const PLAIN_ABOVE: (usize, usize) = (1, 4);

/// Cells over which the share of new values is judged.
const WINDOW: usize = 1 << 16;

/// One text column. Both forms give the same values; which one a column takes depends only on
/// the values it was given, and what reads it never sees the difference.
#[derive(Debug, Clone)]
pub struct TextColumn {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// Each cell the position of its value in `values` ([`ABSENT`] for none); `index` finds a
    /// value's position.
    Coded {
        codes: Vec<u32>,
        values: Vec<Text>,
        index: HashMap<Text, u32, foldhash::fast::RandomState>,
        /// Cells pushed, and new values among them, since the share was last judged.
        recent: (usize, usize),
    },
    /// Each cell its text, equal values shared where they came shared.
    Plain(Vec<Option<Text>>),
}

impl Default for TextColumn {
    fn default() -> TextColumn {
        TextColumn::new()
    }
}

/// The column of a kind that has none: no cells.
pub static NO_TEXT: TextColumn = TextColumn {
    repr: Repr::Plain(Vec::new()),
};

impl TextColumn {
    pub fn new() -> TextColumn {
        TextColumn {
            repr: Repr::Coded {
                codes: Vec::new(),
                values: Vec::new(),
                index: HashMap::default(),
                recent: (0, 0),
            },
        }
    }

    /// `n` absent values.
    pub fn absent(n: usize) -> TextColumn {
        let mut c = TextColumn::new();
        if let Repr::Coded { codes, .. } = &mut c.repr {
            codes.resize(n, ABSENT);
        }
        c
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Coded { codes, .. } => codes.len(),
            Repr::Plain(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reserve(&mut self, additional: usize) {
        match &mut self.repr {
            Repr::Coded { codes, .. } => codes.reserve(additional),
            Repr::Plain(v) => v.reserve(additional),
        }
    }

    /// How many distinct values the column may hold: a coded column's values (values no cell
    /// holds may be among them), a shared-text column's cells (it is shared text because its
    /// values proved mostly distinct).
    pub fn distinct(&self) -> usize {
        match &self.repr {
            Repr::Coded { values, .. } => values.len(),
            Repr::Plain(v) => v.len(),
        }
    }

    /// Room for `n` more distinct values in a coded column, so that its index does not grow
    /// step by step; nothing for shared text.
    pub fn reserve_distinct(&mut self, n: usize) {
        if let Repr::Coded { values, index, .. } = &mut self.repr {
            values.reserve(n);
            index.reserve(n);
        }
    }

    /// The value of cell `i`; none past the end, as for a column the kind does not have.
    pub fn get(&self, i: usize) -> Option<&Text> {
        match &self.repr {
            Repr::Coded { codes, values, .. } => match codes.get(i) {
                None | Some(&ABSENT) => None,
                Some(&c) => values.get(c as usize),
            },
            Repr::Plain(v) => v.get(i).and_then(|t| t.as_ref()),
        }
    }

    /// The value of cell `i` as a string.
    pub fn str(&self, i: usize) -> Option<&str> {
        self.get(i).map(|t| &**t)
    }

    /// Every cell's value, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<&Text>> + Clone + '_ {
        self.range(0..self.len())
    }

    /// The values of cells `rows`, in order.
    pub fn range(
        &self,
        rows: Range<usize>,
    ) -> impl ExactSizeIterator<Item = Option<&Text>> + Clone + '_ {
        rows.map(move |i| self.get(i))
    }

    /// A coded column's cells as positions in its distinct values ([`ABSENT`] for none), so that
    /// whatever is worked out per value is worked out once. Values no cell holds may be among them.
    pub fn coded(&self) -> Option<(&[u32], &[Text])> {
        match &self.repr {
            Repr::Coded { codes, values, .. } => Some((codes, values)),
            Repr::Plain(_) => None,
        }
    }

    /// Cells `rows` (those of them the column has), read by their position within `rows`.
    pub fn slice(&self, rows: Range<usize>) -> TextSlice<'_> {
        let start = rows.start.min(self.len());
        TextSlice {
            col: self,
            start,
            len: rows.end.min(self.len()).saturating_sub(start),
        }
    }

    /// Appends a value, coded if the column is.
    pub fn push(&mut self, v: Option<&str>) {
        match v {
            None => self.push_absent(),
            Some(s) => self.push_with(s, || Text::from(s)),
        }
    }

    /// Appends again the value of cell `cell`, without looking it up.
    pub fn push_repeat(&mut self, cell: usize) {
        match &mut self.repr {
            Repr::Coded { codes, recent, .. } => {
                codes.push(codes.get(cell).copied().unwrap_or(ABSENT));
                recent.0 += 1;
            }
            Repr::Plain(v) => v.push(v.get(cell).cloned().flatten()),
        }
    }

    /// A coded column of `codes` (each a position in `values`, or [`ABSENT`]) that is read from
    /// now on, as [`TextColumn::shrink`] leaves one: adding to it first builds its index.
    pub fn from_codes(codes: Vec<u32>, values: Vec<Text>) -> TextColumn {
        debug_assert!(codes
            .iter()
            .all(|&c| c == ABSENT || (c as usize) < values.len()));
        let recent = (codes.len(), values.len());
        TextColumn {
            repr: Repr::Coded {
                codes,
                values,
                index: HashMap::default(),
                recent,
            },
        }
    }

    /// Appends cell `i` of `src`, as [`TextColumn::push_text`] would, remembering in `memo` (by
    /// `src`'s code) the code its value took here, so that a value met again is not looked up.
    /// `memo` holds for one pair of columns: whoever changes either clears it.
    pub fn push_via(&mut self, src: &TextColumn, i: usize, memo: &mut Vec<u32>) {
        let Repr::Coded { codes: theirs, .. } = &src.repr else {
            return self.push_text(src.get(i));
        };
        let c = theirs.get(i).copied().unwrap_or(ABSENT);
        if c == ABSENT {
            return self.push_absent();
        }
        if let Repr::Coded { codes, recent, .. } = &mut self.repr {
            if let Some(&mine) = memo.get(c as usize).filter(|&&m| m != ABSENT) {
                codes.push(mine);
                recent.0 += 1;
                if recent.0 >= WINDOW {
                    self.settle();
                }
                return;
            }
        }
        self.push_text(src.get(i));
        if let Repr::Coded { codes, .. } = &self.repr {
            if memo.len() <= c as usize {
                memo.resize(c as usize + 1, ABSENT);
            }
            memo[c as usize] = codes.last().copied().unwrap_or(ABSENT);
        }
    }

    /// Appends a value that is already text, sharing it.
    pub fn push_text(&mut self, v: Option<&Text>) {
        match v {
            None => self.push_absent(),
            Some(t) => self.push_with(t, || t.clone()),
        }
    }

    fn push_absent(&mut self) {
        match &mut self.repr {
            Repr::Coded { codes, recent, .. } => {
                codes.push(ABSENT);
                recent.0 += 1;
            }
            Repr::Plain(v) => v.push(None),
        }
    }

    fn push_with(&mut self, s: &str, text: impl FnOnce() -> Text) {
        self.reindex();
        match &mut self.repr {
            Repr::Coded {
                codes,
                values,
                index,
                recent,
            } => {
                recent.0 += 1;
                match index.get(s) {
                    Some(&c) => codes.push(c),
                    None => {
                        let t = text();
                        let c = values.len() as u32;
                        values.push(t.clone());
                        index.insert(t, c);
                        codes.push(c);
                        recent.1 += 1;
                    }
                }
                if recent.0 >= WINDOW || values.len() >= ABSENT as usize {
                    self.settle();
                }
            }
            Repr::Plain(v) => v.push(Some(text())),
        }
    }

    /// Lets go of what only adding values needs (the index of a coded column, spare capacity),
    /// for a column that is read from now on; adding to it afterwards rebuilds the index.
    pub fn shrink(&mut self) {
        match &mut self.repr {
            Repr::Coded {
                codes,
                values,
                index,
                ..
            } => {
                *index = HashMap::default();
                codes.shrink_to_fit();
                values.shrink_to_fit();
            }
            Repr::Plain(v) => v.shrink_to_fit(),
        }
    }

    /// Rebuilds the index a [`TextColumn::shrink`] let go of.
    fn reindex(&mut self) {
        if let Repr::Coded { values, index, .. } = &mut self.repr {
            if index.len() < values.len() {
                index.extend(
                    values
                        .iter()
                        .enumerate()
                        .map(|(c, t)| (t.clone(), c as u32)),
                );
            }
        }
    }

    /// Turns a coded column whose values prove mostly distinct (or too many to code) into shared
    /// text, which then costs less.
    fn settle(&mut self) {
        let Repr::Coded {
            codes,
            values,
            recent,
            ..
        } = &mut self.repr
        else {
            return;
        };
        let (num, den) = PLAIN_ABOVE;
        let (cells, new) = std::mem::take(recent);
        let too_distinct = values.len() > TRIAL && new * den > cells * num;
        if !(too_distinct || values.len() >= ABSENT as usize) {
            return;
        }
        let plain = codes
            .iter()
            .map(|&c| match c {
                ABSENT => None,
                c => Some(values[c as usize].clone()),
            })
            .collect();
        self.repr = Repr::Plain(plain);
    }

    /// Appends every cell of `other`.
    pub fn append(&mut self, other: TextColumn) {
        if self.is_empty() {
            *self = other;
            return;
        }
        match other.repr {
            Repr::Coded {
                codes: theirs,
                values: their_values,
                ..
            } if matches!(self.repr, Repr::Coded { .. }) => {
                self.reindex();
                // Each of their values is looked up once, not once per cell.
                let mut remap = Vec::with_capacity(their_values.len());
                if let Repr::Coded {
                    codes,
                    values,
                    index,
                    recent,
                } = &mut self.repr
                {
                    // Grown once, not doubling after every few thousand new values.
                    index.reserve(their_values.len());
                    codes.reserve(theirs.len());
                    for t in &their_values {
                        let c = *index.entry(t.clone()).or_insert_with(|| {
                            values.push(t.clone());
                            recent.1 += 1;
                            (values.len() - 1) as u32
                        });
                        remap.push(c);
                    }
                    codes.extend(theirs.iter().map(|&c| match c {
                        ABSENT => ABSENT,
                        c => remap[c as usize],
                    }));
                    recent.0 += theirs.len();
                    if recent.0 >= WINDOW || values.len() >= ABSENT as usize {
                        self.settle();
                    }
                }
            }
            Repr::Coded { codes, values, .. } => {
                for c in codes {
                    self.push_text(match c {
                        ABSENT => None,
                        c => Some(&values[c as usize]),
                    });
                }
            }
            Repr::Plain(v) => {
                if let Repr::Coded { .. } = self.repr {
                    self.make_plain();
                }
                if let Repr::Plain(mine) = &mut self.repr {
                    mine.extend(v);
                }
            }
        }
    }

    fn make_plain(&mut self) {
        if let Repr::Coded { .. } = self.repr {
            let plain = self.iter().map(|t| t.cloned()).collect();
            self.repr = Repr::Plain(plain);
        }
    }

    /// Keeps the cells at `idx` (no index twice), in that order.
    pub fn select(self, idx: &[usize]) -> TextColumn {
        let repr = match self.repr {
            Repr::Coded {
                codes,
                values,
                index,
                recent,
            } => Repr::Coded {
                codes: idx.iter().map(|&i| codes[i]).collect(),
                values,
                index,
                recent,
            },
            Repr::Plain(mut v) => Repr::Plain(idx.iter().map(|&i| v[i].take()).collect()),
        };
        TextColumn { repr }
    }
}

/// Consecutive cells of a [`TextColumn`], index 0 the first of them.
#[derive(Debug, Clone, Copy)]
pub struct TextSlice<'a> {
    col: &'a TextColumn,
    start: usize,
    len: usize,
}

impl<'a> TextSlice<'a> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of the slice's cell `i`; none past its end.
    pub fn get(&self, i: usize) -> Option<&'a Text> {
        match i < self.len {
            true => self.col.get(self.start + i),
            false => None,
        }
    }

    pub fn str(&self, i: usize) -> Option<&'a str> {
        self.get(i).map(|t| &**t)
    }

    /// [`TextColumn::coded`] for the slice's cells.
    pub fn coded(&self) -> Option<(&'a [u32], &'a [Text])> {
        let (codes, values) = self.col.coded()?;
        Some((&codes[self.start..self.start + self.len], values))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<&'a Text>> + '_ {
        (0..self.len).map(move |i| self.get(i))
    }
}

impl FromIterator<Option<Text>> for TextColumn {
    fn from_iter<I: IntoIterator<Item = Option<Text>>>(iter: I) -> TextColumn {
        let mut c = TextColumn::new();
        for t in iter {
            c.push_text(t.as_ref());
        }
        c
    }
}

impl<'a> FromIterator<Option<&'a str>> for TextColumn {
    fn from_iter<I: IntoIterator<Item = Option<&'a str>>>(iter: I) -> TextColumn {
        let mut c = TextColumn::new();
        for s in iter {
            c.push(s);
        }
        c
    }
}

/// Equal when the cells hold equal values, whichever form either column took.
impl PartialEq for TextColumn {
    fn eq(&self, other: &TextColumn) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(c: &TextColumn) -> Vec<Option<&str>> {
        c.iter().map(|t| t.map(|t| &**t)).collect()
    }

    fn is_coded(c: &TextColumn) -> bool {
        matches!(c.repr, Repr::Coded { .. })
    }

    /// Cells pushed through a memo give the column pushing them one by one gives, in the same
    /// form, whether it stays coded or turns plain part way, from coded and plain sources.
    #[test]
    fn pushing_via_a_memo_equals_pushing_text() {
        let repeating: Vec<Option<String>> = (0..3 * WINDOW)
            .map(|i| (i % 9 != 0).then(|| format!("v{}", i % 300)))
            .collect();
        let distinct: Vec<Option<String>> = (0..3 * WINDOW)
            .map(|i| Some(format!("v{}", if i < WINDOW { i % 50 } else { i })))
            .collect();
        for cells in [repeating, distinct] {
            let chunks: Vec<TextColumn> = cells
                .chunks(5000)
                .map(|c| c.iter().map(|v| v.as_deref()).collect())
                .collect();
            let (mut one_by_one, mut via) = (TextColumn::new(), TextColumn::new());
            for src in &chunks {
                let mut memo = Vec::new();
                for i in 0..src.len() {
                    one_by_one.push_text(src.get(i));
                    via.push_via(src, i, &mut memo);
                }
            }
            assert_eq!(values(&via), values(&one_by_one));
            assert_eq!(is_coded(&via), is_coded(&one_by_one));
            let plain = TextColumn {
                repr: Repr::Plain(chunks[0].iter().map(|t| t.cloned()).collect()),
            };
            let mut from_plain = TextColumn::new();
            let mut memo = Vec::new();
            for i in 0..plain.len() {
                from_plain.push_via(&plain, i, &mut memo);
            }
            assert_eq!(values(&from_plain), values(&chunks[0]));
        }
    }

    #[test]
    fn a_column_from_codes_reads_its_values() {
        let c = TextColumn::from_codes(vec![1, ABSENT, 0, 1], vec!["a".into(), "b".into()]);
        assert_eq!(values(&c), [Some("b"), None, Some("a"), Some("b")]);
        let mut d = c.clone();
        d.push(Some("a"));
        d.push(Some("c"));
        assert_eq!(
            d.coded().map(|(codes, _)| codes[4..].to_vec()),
            Some(vec![0, 2])
        );
    }

    #[test]
    fn repeated_values_stay_coded_and_share_one_text() {
        let c: TextColumn = ["a", "b", "a", "a"].into_iter().map(Some).collect();
        assert!(is_coded(&c));
        assert_eq!(c.distinct(), 2);
        assert_eq!(values(&c), [Some("a"), Some("b"), Some("a"), Some("a")]);
        assert!(Arc::ptr_eq(c.get(0).unwrap(), c.get(3).unwrap()));
        // Room taken ahead changes no value and no code.
        let mut c = c;
        c.reserve_distinct(1000);
        c.push(Some("b"));
        c.push(Some("c"));
        assert_eq!(c.distinct(), 3);
        assert_eq!(values(&c)[4..], [Some("b"), Some("c")]);
        assert!(Arc::ptr_eq(c.get(1).unwrap(), c.get(4).unwrap()));
        c.push_repeat(1);
        c.push_repeat(9);
        assert_eq!(values(&c)[6..], [Some("b"), None]);
    }

    #[test]
    fn mostly_distinct_values_turn_to_text_with_the_same_cells() {
        let n = TRIAL * 3;
        let ids: Vec<String> = (0..n).map(|i| format!("id-{i}")).collect();
        let mut c = TextColumn::new();
        for (i, s) in ids.iter().enumerate() {
            c.push((i % 7 != 3).then_some(s.as_str()));
        }
        assert!(
            !is_coded(&c),
            "a column of unique ids should not keep a dictionary"
        );
        assert_eq!(c.distinct(), n);
        assert_eq!(c.len(), n);
        assert_eq!(c.str(0), Some("id-0"));
        assert_eq!(c.str(3), None);
        assert_eq!(c.str(n - 2), Some(format!("id-{}", n - 2).as_str()));
        // Repeating values do not, however many distinct ones there are.
        let mut r = TextColumn::new();
        for i in 0..n * 2 {
            r.push(Some(&ids[i % (TRIAL + 10)]));
        }
        assert!(is_coded(&r));
    }

    #[test]
    fn append_remaps_codes_and_mixes_forms() {
        let mut a: TextColumn = [Some("x"), None, Some("y")].into_iter().collect();
        let b: TextColumn = [Some("y"), Some("z"), None].into_iter().collect();
        a.append(b);
        assert_eq!(
            values(&a),
            [Some("x"), None, Some("y"), Some("y"), Some("z"), None]
        );
        assert!(is_coded(&a));
        let mut plain = TextColumn {
            repr: Repr::Plain(vec![Some(Text::from("p")), None]),
        };
        plain.append(a.clone());
        assert_eq!(values(&plain)[..3], [Some("p"), None, Some("x")]);
        a.append(TextColumn {
            repr: Repr::Plain(vec![Some(Text::from("q"))]),
        });
        assert_eq!(values(&a).last(), Some(&Some("q")));
        assert_eq!(a.len(), 7);
    }

    #[test]
    fn a_shrunk_column_reads_the_same_and_codes_new_cells_against_its_old_values() {
        let mut c: TextColumn = ["a", "b", "a"].into_iter().map(Some).collect();
        c.shrink();
        assert_eq!(values(&c), [Some("a"), Some("b"), Some("a")]);
        c.push(Some("b"));
        c.push(Some("c"));
        let Repr::Coded { codes, values, .. } = &c.repr else {
            panic!("still coded");
        };
        assert_eq!(
            (codes.as_slice(), values.len()),
            ([0, 1, 0, 1, 2].as_slice(), 3)
        );
    }

    #[test]
    fn select_and_equality_ignore_the_form() {
        let c: TextColumn = ["a", "b", "c"].into_iter().map(Some).collect();
        let picked = c.clone().select(&[2, 0]);
        assert_eq!(values(&picked), [Some("c"), Some("a")]);
        let plain = TextColumn {
            repr: Repr::Plain(vec![Some(Text::from("c")), Some(Text::from("a"))]),
        };
        assert_eq!(picked, plain);
        assert_ne!(picked, c);
        assert_eq!(
            TextColumn::absent(2),
            [None::<&str>, None].into_iter().collect()
        );
        let s = c.slice(1..9);
        assert_eq!(
            (s.len(), s.str(0), s.str(1), s.str(2)),
            (2, Some("b"), Some("c"), None)
        );
        assert!(c.slice(5..9).is_empty());
    }
}
