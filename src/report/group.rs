//! One row group of the row tables, gathered from classified blocks, its text columns coded
//! against the group's own values, so that the Parquet writer is handed each dictionary instead of
//! hashing every cell to build it.

use std::collections::HashMap;
use std::ops::Range;

use polars::prelude::*;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::schema::{ColumnType, Kind};
use crate::sink::ClassifiedBlock;
use crate::table::{ColumnData, Text};
use crate::text::ABSENT;
use crate::verdict::{Class, Verdict};

/// The Parquet writer's own rule for a text column: over more than 128 values, more than 3 in 4
/// distinct is not worth a dictionary. Applied to the exact count, where the writer estimates it.
const DICTIONARY_UP_TO: (usize, usize) = (3, 4);
const DICTIONARY_ALWAYS: usize = 128;

/// A column whose first cells of a group are mostly distinct is written plain without coding the
/// rest: ids that are new at every delivery (request and object ids) would cost a look-up per
/// cell for a dictionary the writer would not use. The first cells, so that the choice depends on
/// the group's values only, never on how the blocks cut it.
const SAMPLE: usize = 4096;

type Hasher = foldhash::fast::RandomState;

/// A text column of one group.
enum TextCells {
    Coded(DictColumn),
    Plain(Vec<Option<Text>>),
}

impl Default for TextCells {
    fn default() -> TextCells {
        TextCells::Coded(DictColumn::default())
    }
}

impl TextCells {
    fn push_text<'a>(&mut self, cells: impl Iterator<Item = Option<&'a Text>>) {
        for c in cells {
            match self {
                TextCells::Coded(d) => {
                    let id = c.map_or(ABSENT, |t| d.id_of_text(t));
                    self.push_id(id);
                }
                TextCells::Plain(p) => p.push(c.cloned()),
            }
        }
    }

    /// Cells given as positions in `values`, each value looked up once whatever its cells.
    fn push_coded(&mut self, codes: &[u32], values: &[Text]) {
        const UNSEEN: u32 = u32::MAX;
        let mut memo = vec![UNSEEN; values.len()];
        for &c in codes {
            let value = values.get(c as usize);
            match self {
                TextCells::Coded(d) => {
                    let id = match (value, memo.get_mut(c as usize)) {
                        (Some(v), Some(m)) if *m == UNSEEN => {
                            *m = d.id_of_str(v);
                            *m
                        }
                        (Some(_), Some(m)) => *m,
                        _ => ABSENT,
                    };
                    self.push_id(id);
                }
                TextCells::Plain(p) => p.push(value.cloned()),
            }
        }
    }

    /// Names of a closed set: text that lives as long as the program, and never repeats an
    /// address with another length.
    fn push_names(&mut self, cells: impl Iterator<Item = Option<&'static str>>) {
        for c in cells {
            match self {
                TextCells::Coded(d) => {
                    let id = c.map_or(ABSENT, |s| d.id_of_name(s));
                    self.push_id(id);
                }
                TextCells::Plain(p) => p.push(c.map(Text::from)),
            }
        }
    }

    fn push_absent(&mut self, n: usize) {
        for _ in 0..n {
            match self {
                TextCells::Coded(_) => self.push_id(ABSENT),
                TextCells::Plain(p) => p.push(None),
            }
        }
    }

    /// Appends a coded cell; at the end of the sample, turns plain if the sample is mostly distinct.
    fn push_id(&mut self, id: u32) {
        let TextCells::Coded(d) = self else {
            return;
        };
        d.ids.push(id);
        let (num, den) = DICTIONARY_UP_TO;
        if d.ids.len() == SAMPLE && d.values.len() * den > SAMPLE * num {
            let plain = d.ids.iter().map(|&i| d.values.get(i as usize).cloned());
            *self = TextCells::Plain(plain.collect());
        }
    }

    /// The column: categorical over the group's values where a dictionary is worth it (written
    /// as text with that dictionary), else plain text.
    fn finish(self, name: PlSmallStr) -> Result<Column> {
        let d = match self {
            TextCells::Plain(p) => {
                let text = p.iter().map(|t| t.as_deref());
                return Ok(Column::new(name, text.collect::<Vec<_>>()));
            }
            TextCells::Coded(d) => d,
        };
        let cells = d.ids.iter().map(|&i| (i != ABSENT).then_some(i));
        if !d.worth_a_dictionary() {
            let text = cells.map(|i| i.map(|i| &*d.values[i as usize]));
            return Ok(Column::new(name, text.collect::<Vec<_>>()));
        }
        // A mapping of its own, so that the dictionary holds this group's values and no others,
        // each at the position its cells name.
        let categories = Categories::random(PlSmallStr::EMPTY, CategoricalPhysical::U32);
        let mapping = categories.mapping();
        for (i, v) in d.values.iter().enumerate() {
            let code = mapping
                .insert_cat(v)
                .map_err(|e| Error::polars("coding a text column", e))?;
            if code as usize != i {
                return Err(Error::internal(
                    "a fresh categorical mapping did not number its values in order",
                    "",
                ));
            }
        }
        let ids = UInt32Chunked::from_iter_options(name, cells);
        let dtype = DataType::Categorical(categories, mapping);
        Ok(Categorical32Chunked::from_cats_and_dtype(ids, dtype)
            .into_series()
            .into_column())
    }
}

/// Cells coded as the position of their value among the group's distinct values, in the order
/// they first appear (the order the writer's own dictionary would have).
#[derive(Default)]
struct DictColumn {
    ids: Vec<u32>,
    values: Vec<Text>,
    by_value: HashMap<Text, u32, Hasher>,
    /// A shared value's address and length: most cells repeat an allocation already seen.
    by_address: HashMap<(usize, usize), u32, Hasher>,
    /// Every allocation `by_address` names, kept alive so that no address is reused while the
    /// group is built.
    held: Vec<Text>,
}

impl DictColumn {
    fn id_of_str(&mut self, v: &str) -> u32 {
        if let Some(&id) = self.by_value.get(v) {
            return id;
        }
        self.new_value(Text::from(v))
    }

    fn new_value(&mut self, v: Text) -> u32 {
        // A group holds at most `ROW_GROUP` cells, far below u32::MAX.
        let id = self.values.len() as u32;
        self.by_value.insert(v.clone(), id);
        self.values.push(v);
        id
    }

    fn id_of_text(&mut self, v: &Text) -> u32 {
        let address = (v.as_ptr() as usize, v.len());
        if let Some(&id) = self.by_address.get(&address) {
            return id;
        }
        let id = match self.by_value.get(&**v) {
            Some(&id) => id,
            None => self.new_value(v.clone()),
        };
        self.by_address.insert(address, id);
        self.held.push(v.clone());
        id
    }

    fn id_of_name(&mut self, s: &'static str) -> u32 {
        let address = (s.as_ptr() as usize, s.len());
        if let Some(&id) = self.by_address.get(&address) {
            return id;
        }
        let id = self.id_of_str(s);
        self.by_address.insert(address, id);
        id
    }

    /// Whether the writer should be given the dictionary.
    fn worth_a_dictionary(&self) -> bool {
        let (num, den) = DICTIONARY_UP_TO;
        self.ids.len() <= DICTIONARY_ALWAYS || self.values.len() * den <= self.ids.len() * num
    }
}

/// Where a column of the row tables takes its cells from.
#[derive(Debug)]
enum Field {
    /// A contract column of the deliveries, by position in the schema.
    Delivery(usize),
    /// A column the contract does not name, by header.
    Extra(String),
    Class,
    Reason,
    Flipped,
    Recipient,
    Origin,
    Subject,
    Object,
    CaptureTs,
    FillTs,
    ConfigVersion,
    ContentSource,
    Granted,
    Client,
    Integration,
    RecipientCountry,
    SubjectCountry,
}

/// The cells gathered for one column.
enum Cells {
    Text(TextCells),
    Time(Vec<Option<i64>>),
    Num(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

/// Rows of the row tables, one per delivery: the delivery's columns (its `object_id` as
/// `delivery_object_id`, its `origin_stream_id` replaced by the resolved one), then its verdict
/// and evidence, then its context.
pub struct Group {
    columns: Vec<(PlSmallStr, Field, Cells)>,
    classes: Vec<Class>,
}

impl Group {
    /// An empty group with the columns of `block`'s deliveries.
    pub fn like(block: &ClassifiedBlock) -> Group {
        let mut columns = Vec::new();
        for (i, c) in Kind::Deliveries.columns().iter().enumerate() {
            let name = match c.name {
                "origin_stream_id" => continue,
                "object_id" => "delivery_object_id",
                n => n,
            };
            let cells = match c.ty {
                ColumnType::Timestamp => Cells::Time(Vec::new()),
                ColumnType::Number => Cells::Num(Vec::new()),
                ColumnType::Bool => Cells::Bool(Vec::new()),
                ColumnType::Text | ColumnType::Enum(_) => Cells::Text(TextCells::default()),
            };
            columns.push((name.into(), Field::Delivery(i), cells));
        }
        for name in block.deliveries.extra_columns() {
            let cells = Cells::Text(TextCells::default());
            columns.push((name.into(), Field::Extra(name.to_string()), cells));
        }
        let text = || Cells::Text(TextCells::default());
        let evidence = [
            ("class", Field::Class, text()),
            ("reason", Field::Reason, text()),
            ("flipped", Field::Flipped, text()),
            ("recipient_account", Field::Recipient, text()),
            ("origin_stream_id", Field::Origin, text()),
            ("subject_account", Field::Subject, text()),
            ("object_id", Field::Object, text()),
            ("capture_ts", Field::CaptureTs, Cells::Time(Vec::new())),
            ("fill_ts", Field::FillTs, Cells::Time(Vec::new())),
            ("config_version", Field::ConfigVersion, text()),
            ("content_source", Field::ContentSource, text()),
            ("granted", Field::Granted, Cells::Bool(Vec::new())),
            ("client", Field::Client, text()),
            ("integration", Field::Integration, text()),
            ("recipient_country", Field::RecipientCountry, text()),
            ("subject_country", Field::SubjectCountry, text()),
        ];
        columns.extend(evidence.into_iter().map(|(n, s, c)| (n.into(), s, c)));
        Group {
            columns,
            classes: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether `block`'s deliveries have the columns of this group.
    pub fn fits(&self, block: &ClassifiedBlock) -> bool {
        let ours = self.columns.iter().filter_map(|(_, s, _)| match s {
            Field::Extra(name) => Some(name.as_str()),
            _ => None,
        });
        ours.eq(block.deliveries.extra_columns())
    }

    /// Appends the deliveries at positions `k` of `block` (positions into its verdicts).
    pub fn push(&mut self, block: &ClassifiedBlock, k: Range<usize>) {
        let rows = block.rows.start + k.start..block.rows.start + k.end;
        let d = block.deliveries;
        let v = &block.verdicts[k.clone()];
        let cx = block.context;
        self.classes.extend(v.iter().map(|x| x.class));
        // Columns are independent: each is gathered on its own, side by side.
        self.columns
            .par_iter_mut()
            .for_each(|(_, source, cells)| match (source, cells) {
                (Field::Delivery(i), cells) => push_delivery(cells, *i, d.columns.get(*i), &rows),
                (Field::Extra(name), Cells::Text(c)) => {
                    if let Some(values) = d.extra.get(name.as_str()) {
                        c.push_text(values[rows.clone()].iter().map(|t| t.as_ref()));
                    }
                }
                (Field::Class, Cells::Text(c)) => {
                    c.push_names(v.iter().map(|x| Some(x.class.as_str())))
                }
                (Field::Reason, Cells::Text(c)) => {
                    c.push_names(v.iter().map(|x| x.missing.map(|m| m.as_str())))
                }
                (Field::Flipped, Cells::Text(c)) => {
                    c.push_names(v.iter().map(|x| x.flipped.map(|f| f.as_str())))
                }
                (Field::ContentSource, Cells::Text(c)) => {
                    c.push_names(v.iter().map(|x| x.content_source.map(|s| s.as_str())))
                }
                (Field::Recipient, Cells::Text(c)) => push_evidence(c, v, |x| &x.recipient),
                (Field::Origin, Cells::Text(c)) => push_evidence(c, v, |x| &x.origin_stream_id),
                (Field::Subject, Cells::Text(c)) => push_evidence(c, v, |x| &x.subject),
                (Field::Object, Cells::Text(c)) => push_evidence(c, v, |x| &x.object_id),
                (Field::ConfigVersion, Cells::Text(c)) => {
                    push_evidence(c, v, |x| &x.config_version)
                }
                (Field::CaptureTs, Cells::Time(c)) => c.extend(v.iter().map(|x| x.capture_ts)),
                (Field::FillTs, Cells::Time(c)) => c.extend(v.iter().map(|x| x.fill_ts)),
                (Field::Granted, Cells::Bool(c)) => c.extend(v.iter().map(|x| Some(x.granted))),
                (Field::Client, Cells::Text(c)) => {
                    c.push_text(cx.client[k.clone()].iter().map(|t| t.as_ref()))
                }
                (Field::Integration, Cells::Text(c)) => {
                    c.push_text(cx.integration[k.clone()].iter().map(|t| t.as_ref()))
                }
                (Field::RecipientCountry, Cells::Text(c)) => {
                    c.push_text(cx.recipient_country[k.clone()].iter().map(|t| t.as_ref()))
                }
                (Field::SubjectCountry, Cells::Text(c)) => {
                    c.push_text(cx.subject_country[k.clone()].iter().map(|t| t.as_ref()))
                }
                (s, _) => unreachable!("{s:?} was given cells of another type"),
            });
    }

    /// The rows as one frame (text coded where a dictionary is worth it), and each row's class.
    pub fn finish(self) -> Result<(DataFrame, Vec<Class>)> {
        let n = self.classes.len();
        let columns = self
            .columns
            .into_par_iter()
            .map(|(name, _, cells)| match cells {
                Cells::Text(c) => c.finish(name),
                Cells::Time(v) => Ok(Column::new(name, v)),
                Cells::Num(v) => Ok(Column::new(name, v)),
                Cells::Bool(v) => Ok(Column::new(name, v)),
            })
            .collect::<Result<Vec<_>>>()?;
        let frame = DataFrame::new(n, columns)
            .map_err(|e| Error::polars("building the verdict table", e))?;
        Ok((frame, self.classes))
    }
}

fn push_evidence(c: &mut TextCells, v: &[Verdict], f: fn(&Verdict) -> &Option<Text>) {
    c.push_text(v.iter().map(|x| f(x).as_ref()));
}

/// Appends rows `rows` of deliveries column `i`; a column the table lacks gives absent cells.
fn push_delivery(cells: &mut Cells, i: usize, data: Option<&ColumnData>, rows: &Range<usize>) {
    let n = rows.len();
    match (cells, data) {
        (Cells::Text(c), Some(ColumnData::Text(t))) => match t.coded() {
            Some((codes, values)) => c.push_coded(&codes[rows.clone()], values),
            None => c.push_text(t.range(rows.clone())),
        },
        (Cells::Text(c), Some(ColumnData::Enum(v))) => {
            let names = match Kind::Deliveries.columns().get(i).map(|c| c.ty) {
                Some(ColumnType::Enum(names)) => names,
                _ => &[],
            };
            let name = |x: &Option<u8>| x.and_then(|x| names.get(x as usize).copied());
            c.push_names(v[rows.clone()].iter().map(name))
        }
        (Cells::Time(c), Some(ColumnData::Time(v))) => c.extend_from_slice(&v[rows.clone()]),
        (Cells::Num(c), Some(ColumnData::Num(v))) => c.extend_from_slice(&v[rows.clone()]),
        (Cells::Bool(c), Some(ColumnData::Bool(v))) => c.extend_from_slice(&v[rows.clone()]),
        (Cells::Text(c), _) => c.push_absent(n),
        (Cells::Time(c), _) => c.extend(std::iter::repeat_n(None, n)),
        (Cells::Num(c), _) => c.extend(std::iter::repeat_n(None, n)),
        (Cells::Bool(c), _) => c.extend(std::iter::repeat_n(None, n)),
    }
}

/// A column as [`Group`] would write it, for tests of the writers.
#[cfg(test)]
pub(super) fn coded_column(name: &str, cells: &[Option<&str>]) -> Column {
    let mut c = TextCells::default();
    let text: Vec<Option<Text>> = cells.iter().map(|c| c.map(Text::from)).collect();
    c.push_text(text.iter().map(|t| t.as_ref()));
    c.finish(name.into()).unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Text {
        Text::from(s)
    }

    fn values(c: &TextCells) -> (Vec<u32>, Vec<&str>) {
        match c {
            TextCells::Coded(d) => (d.ids.clone(), d.values.iter().map(|v| &**v).collect()),
            TextCells::Plain(_) => panic!("the column turned plain"),
        }
    }

    #[test]
    fn values_are_numbered_in_order_of_first_appearance_whatever_their_source() {
        let mut c = TextCells::default();
        c.push_coded(&[1, 0, 1, ABSENT], &[text("b"), text("a")]);
        // Equal values in other allocations, or given by name, share the position of the first.
        let (a, new) = (text("a"), text("c"));
        c.push_text([Some(&a), None, Some(&new), Some(&a)].into_iter());
        c.push_names([Some("b"), Some("c"), None].into_iter());
        c.push_absent(1);
        let (ids, vals) = values(&c);
        assert_eq!(
            ids,
            [0, 1, 0, ABSENT, 0, ABSENT, 2, 0, 1, 2, ABSENT, ABSENT]
        );
        assert_eq!(vals, ["a", "b", "c"]);
    }

    #[test]
    fn a_mostly_distinct_sample_turns_the_column_plain_however_the_cells_come() {
        let cells: Vec<Option<Text>> = (0..SAMPLE + 100)
            .map(|i| (i % 5 != 0).then(|| text(&format!("id-{i}"))))
            .collect();
        let column = |chunk: usize| {
            let mut c = TextCells::default();
            for part in cells.chunks(chunk) {
                c.push_text(part.iter().map(|t| t.as_ref()));
            }
            assert!(matches!(c, TextCells::Plain(_)), "chunks of {chunk}");
            c.finish("x".into()).unwrap()
        };
        let whole = column(cells.len());
        assert_eq!(whole.dtype(), &DataType::String);
        assert_eq!(
            whole.null_count(),
            cells.iter().filter(|c| c.is_none()).count()
        );
        assert_eq!(whole.str().unwrap().get(SAMPLE + 98), Some("id-4194"));
        for chunk in [1, 7, SAMPLE - 1, SAMPLE] {
            assert!(column(chunk) == whole, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_group_is_given_a_dictionary_unless_more_than_three_in_four_values_are_distinct() {
        // 200 cells: 150 distinct is at the bound, 151 beyond it.
        let column = |distinct: usize| {
            let cells: Vec<Text> = (0..200)
                .map(|i| text(&(i % distinct).to_string()))
                .collect();
            let mut c = TextCells::default();
            c.push_text(cells.iter().map(Some));
            c.finish("x".into()).unwrap()
        };
        let coded = column(150);
        assert!(coded.dtype().is_categorical());
        let back = coded.cast(&DataType::String).unwrap();
        assert_eq!(back.str().unwrap().get(199), Some("49"));
        assert_eq!(column(151).dtype(), &DataType::String);
        // Up to 128 cells always get one.
        let mut few = TextCells::default();
        let distinct: Vec<Text> = (0..128).map(|i| text(&i.to_string())).collect();
        few.push_text(distinct.iter().map(Some));
        assert!(few.finish("x".into()).unwrap().dtype().is_categorical());
    }
}
