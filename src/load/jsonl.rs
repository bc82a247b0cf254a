//! The JSON Lines reader: each line's object parsed into its keys and values as text, borrowed
//! from the file where they can be, lines parsed in parallel a block at a time.
//!
//! A value is the text a JSON document would show for it: strings as they are, numbers as
//! serde_json prints them, `true`/`false`, absent for `null`, and an object or a list as its
//! compact JSON (the header position is then marked nested). A key given twice keeps its first
//! position and its last value, as a JSON map does.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use rayon::prelude::*;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::raw::{Cells, RawRow};
use super::text::{line_ends, TextRows};
use crate::formats::json::Key;

/// Lines parsed together: enough to share between threads, few enough that what a block holds
/// before it becomes rows stays small.
const BLOCK: usize = 1 << 14;

/// One value of a line's object.
#[derive(Debug, PartialEq)]
enum Value<'a> {
    Null,
    Text(Cow<'a, str>),
    /// An object or a list, as compact JSON.
    Nested(String),
}

/// A line's (key, value) pairs in order, or why it has none.
type Pairs<'a> = Result<Vec<(Cow<'a, str>, Value<'a>)>, String>;

/// A line's object as (key, value) pairs in order; `None` when the line is JSON but no object.
struct Line<'a>(Option<Vec<(Cow<'a, str>, Value<'a>)>>);

/// Splits JSON Lines text; every non-blank line is one row, its cells in header order, the
/// header every key of the file in the order they first appear.
pub fn split_jsonl(text: Vec<u8>) -> TextRows {
    let mut file = TextRows::default();
    let mut index: HashMap<String, usize, foldhash::fast::RandomState> = HashMap::default();
    let lines = non_blank_lines(&text);
    for block in lines.chunks(BLOCK) {
        let mut parsed: Vec<Pairs> = block
            .par_iter()
            .map(|&(_, (a, b))| parse_line(&text[a..b]))
            .collect();
        // Header positions are handed out in line order, the only step that is not parallel.
        let positions: Vec<Vec<usize>> = parsed
            .iter()
            .map(|pairs| match pairs {
                Err(_) => Vec::new(),
                Ok(pairs) => pairs
                    .iter()
                    .map(|(key, _)| match index.get(key.as_ref()) {
                        Some(&i) => i,
                        None => {
                            let i = file.headers.len();
                            file.headers.push(key.to_string());
                            index.insert(key.to_string(), i);
                            i
                        }
                    })
                    .collect(),
            })
            .collect();
        let width = file.headers.len();
        let rows: Vec<RawRow> = block
            .par_iter()
            .zip(parsed.par_drain(..))
            .zip(positions.par_iter())
            .map(|((&(line, span), pairs), at)| {
                let mut nested = Vec::new();
                let cells = pairs.and_then(|pairs| row_cells(&pairs, at, width, &mut nested));
                RawRow {
                    line,
                    cells,
                    nested,
                    span,
                }
            })
            .collect();
        file.rows.extend(rows);
    }
    // Rows read before a key first appeared get its cell too, absent.
    let width = file.headers.len();
    for row in &mut file.rows {
        if let Ok(cells) = &mut row.cells {
            while cells.len() < width {
                cells.push_absent();
            }
        }
    }
    file.text = text;
    file
}

/// A line's cells, `width` of them: each header position takes the last pair of its key (`at`
/// gives each pair's position); the positions of nested values go into `nested`.
fn row_cells(
    pairs: &[(Cow<str>, Value)],
    at: &[usize],
    width: usize,
    nested: &mut Vec<usize>,
) -> Result<Cells, String> {
    let mut slots: Vec<Option<&Value>> = vec![None; width];
    for ((_, v), &i) in pairs.iter().zip(at) {
        slots[i] = Some(v);
    }
    fn cell<'v>(v: &Option<&'v Value>) -> Option<&'v str> {
        match v {
            Some(Value::Text(t)) => Some(t.as_ref()),
            Some(Value::Nested(t)) => Some(t.as_str()),
            Some(Value::Null) | None => None,
        }
    }
    nested.extend((0..width).filter(|&i| matches!(slots[i], Some(Value::Nested(_)))));
    let bytes = slots.iter().map(|v| cell(v).map_or(0, str::len)).sum();
    let mut cells = Cells::with_capacity(bytes, width);
    for v in &slots {
        cells.push(cell(v)).map_err(|e| e.to_string())?;
    }
    Ok(cells)
}

/// The 1-based number and byte span (line break included) of every line that is not blank.
fn non_blank_lines(text: &[u8]) -> Vec<(u64, (usize, usize))> {
    let mut start = 0;
    let mut lines = Vec::new();
    for (n, end) in line_ends(text).enumerate() {
        if !text[start..end].trim_ascii().is_empty() {
            lines.push((n as u64 + 1, (start, end)));
        }
        start = end;
    }
    lines
}

fn parse_line(raw: &[u8]) -> Pairs<'_> {
    let s = std::str::from_utf8(raw.trim_ascii()).map_err(|_| "invalid UTF-8".to_string())?;
    match serde_json::from_str::<Line>(s) {
        Ok(Line(Some(pairs))) => Ok(pairs),
        Ok(Line(None)) => Err("line is JSON but not an object".to_string()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

impl<'de> de::Deserialize<'de> for Line<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Line<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(Key(k)) = m.next_key::<Key>()? {
                    pairs.push((k, m.next_value_seed(ValueSeed)?));
                }
                Ok(Line(Some(pairs)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                while s.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Line(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Line(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Line(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Line(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Line(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Line(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Line(None))
            }
        }
        d.deserialize_any(V)
    }
}

struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Value::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Value::Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Value::Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Value::Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                // As serde_json prints a number it parsed.
                let n = serde_json::Number::from_f64(v);
                Ok(Value::Text(Cow::Owned(
                    n.map_or_else(|| v.to_string(), |n| n.to_string()),
                )))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Value::Text(Cow::Borrowed(if v { "true" } else { "false" })))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Value::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Self::Value, A::Error> {
                let v: serde_json::Value =
                    de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(Value::Nested(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<Self::Value, A::Error> {
                let v: serde_json::Value =
                    de::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(s))?;
                Ok(Value::Nested(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_rows_union_keys() {
        let f = split_jsonl(
            b"{\"a\":1,\"b\":null}\n\n{\"c\":\"x\",\"a\":\"\"}\n[1]\nnot json\n{\"a\":{\"k\":1}}"
                .to_vec(),
        );
        assert_eq!(f.headers, vec!["a", "b", "c"]);
        assert_eq!(f.rows.len(), 5);
        assert_eq!(
            f.rows[0].cells.as_ref().unwrap().to_vec(),
            vec![Some("1".into()), None, None]
        );
        assert_eq!(f.rows[1].line, 3);
        assert_eq!(
            f.rows[1].cells.as_ref().unwrap().to_vec(),
            vec![None, None, Some("x".into())]
        );
        assert!(f.rows[2].cells.is_err());
        assert!(f.rows[3].cells.is_err());
        assert_eq!(f.rows[4].nested, vec![0]);
        assert_eq!(f.quote(&f.rows[3]), "not json");
    }

    /// Every value reads as the text `serde_json::Value` gives it, line by line, across blocks.
    #[test]
    fn values_read_as_serde_json_prints_them() {
        let lines = [
            r#"{"s":"caf\u00e9 \"q\"","i":-7,"u":18446744073709551615,"f":1.50,"g":-0.0}"#,
            r#"{"e":1e400}"#,
            r#"{"b":true,"n":null,"o":{"z": [1, {"y":2}], "a":"x"},"l":[ ],"big":123456789012345678901234}"#,
            r#"{"d":1,"d":{"k":2},"s":"later"}"#,
            r#"{"d":{"k":3},"d":"plain"}"#,
            r#"{"s":"x"} trailing"#,
            "\"just text\"",
        ];
        let mut text = String::new();
        for i in 0..BLOCK + 10 {
            text.push_str(lines[i % lines.len()]);
            text.push('\n');
        }
        let f = split_jsonl(text.clone().into_bytes());
        assert_eq!(f.rows.len(), BLOCK + 10);
        for (i, row) in f.rows.iter().enumerate() {
            let line = lines[i % lines.len()];
            assert_eq!(row.line, i as u64 + 1);
            let expected: Result<serde_json::Map<String, serde_json::Value>, String> =
                match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(serde_json::Value::Object(m)) => Ok(m),
                    Ok(_) => Err("line is JSON but not an object".into()),
                    Err(e) => Err(format!("invalid JSON: {e}")),
                };
            match (&row.cells, expected) {
                (Ok(cells), Ok(m)) => {
                    let mut nested = Vec::new();
                    for (h, name) in f.headers.iter().enumerate() {
                        let want = match m.get(name) {
                            None | Some(serde_json::Value::Null) => None,
                            Some(serde_json::Value::String(s)) => Some(s.clone()),
                            Some(
                                v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_)),
                            ) => {
                                nested.push(h);
                                Some(v.to_string())
                            }
                            Some(v) => Some(v.to_string()),
                        };
                        assert_eq!(
                            cells.get(h).map(str::to_string),
                            want,
                            "line {} {name}",
                            i + 1
                        );
                    }
                    assert_eq!(row.nested, nested, "line {}", i + 1);
                }
                (Err(a), Err(b)) => assert_eq!(a, &b, "line {}", i + 1),
                (a, b) => panic!("line {}: {a:?} against {b:?}", i + 1),
            }
        }
    }
}
