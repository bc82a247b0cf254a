//! JSON lines read for the fields a spec wants only: each wanted value borrowed from the line where it can be, every other value skipped without building it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// One JSON value as text: strings as they are, numbers as their digits, booleans as
/// `true`/`false`; `Nested` for an object or a list.
enum Scalar<'de> {
    Text(Cow<'de, str>),
    Null,
    Nested,
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(
                    serde_json::Number::from_f64(v)
                        .map_or_else(|| v.to_string(), |n| n.to_string()),
                )))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(if v {
                    "true"
                } else {
                    "false"
                })))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nested)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nested)
            }
        }
        d.deserialize_any(V)
    }
}

/// An object read into `out` (one slot per path): the keys at `depth` of each path.
struct Pick<'p, 'o, 'a> {
    paths: &'p [Vec<String>],
    names: &'p [String],
    out: &'o mut [Option<Cow<'a, str>>],
    depth: usize,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Pick<'_, '_, 'a> {
    type Value = Result<(), String>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.depth == 0 {
            d.deserialize_map(self)
        } else {
            // Within a line, a path through something that is not an object finds nothing.
            d.deserialize_any(self)
        }
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Pick<'_, '_, 'a> {
    type Value = Result<(), String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let depth = self.depth;
        let mut failed = Ok(());
        // The paths that name this key at this depth, each compared once per key.
        let mut hits: Vec<usize> = Vec::with_capacity(self.paths.len());
        while let Some(key) = m.next_key::<Cow<'de, str>>()? {
            hits.clear();
            hits.extend(
                (0..self.paths.len())
                    .filter(|&i| self.paths[i].get(depth).is_some_and(|k| *k == key)),
            );
            let deeper = hits.iter().any(|&i| self.paths[i].len() > depth + 1);
            if deeper {
                let inner = Pick {
                    paths: self.paths,
                    names: self.names,
                    out: &mut *self.out,
                    depth: depth + 1,
                };
                let r = m.next_value_seed(inner)?;
                failed = failed.and(r);
                for &i in hits.iter().filter(|&&i| self.paths[i].len() == depth + 1) {
                    failed = Err(nested(&self.names[i]));
                }
                continue;
            }
            if hits.is_empty() {
                m.next_value::<IgnoredAny>()?;
                continue;
            }
            let value: Scalar<'de> = m.next_value()?;
            for &i in &hits {
                self.out[i] = match &value {
                    Scalar::Text(t) => Some(t.clone()),
                    Scalar::Null => None,
                    Scalar::Nested => {
                        failed = Err(nested(&self.names[i]));
                        None
                    }
                };
            }
        }
        Ok(failed)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Ok(()))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Ok(()))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Ok(()))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Ok(()))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Ok(()))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Ok(()))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Ok(()))
    }
}

fn nested(name: &str) -> String {
    format!("{name:?} holds an object or a list, not a value")
}

/// Reads the values of `paths` (keys, then keys within objects) from one JSON object line.
pub fn pick<'a>(
    line: &'a str,
    paths: &[Vec<String>],
    names: &[String],
    out: &mut [Option<Cow<'a, str>>],
) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(line);
    let not_object = |e: serde_json::Error| format!("not a JSON object: {e}");
    let picked = Pick {
        paths,
        names,
        out,
        depth: 0,
    }
    .deserialize(&mut de)
    .map_err(not_object)?;
    de.end().map_err(not_object)?;
    picked?;
    for slot in out.iter_mut() {
        if slot.as_deref() == Some("") {
            *slot = None;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(line: &str, fields: &[&str]) -> Result<Vec<Option<String>>, String> {
        let names: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        let paths: Vec<Vec<String>> = names
            .iter()
            .map(|f| f.split('.').map(str::to_string).collect())
            .collect();
        let mut out = vec![None; names.len()];
        pick(line, &paths, &names, &mut out)?;
        Ok(out.into_iter().map(|v| v.map(Cow::into_owned)).collect())
    }

    #[test]
    fn wanted_values_only_at_any_depth() {
        let line = r#"{"a":"x\"y","skip":{"deep":[1,2,{"z":3}]},"n":-12.5,"big":1577318400123456789,"o":{"p":{"q":true},"r":"s"},"e":""}"#;
        let got = read(
            line,
            &["a", "n", "big", "o.p.q", "o.r", "o.missing", "e", "absent"],
        )
        .unwrap();
        assert_eq!(
            got,
            [
                Some("x\"y".into()),
                Some("-12.5".into()),
                Some("1577318400123456789".into()),
                Some("true".into()),
                Some("s".into()),
                None,
                None,
                None
            ]
        );
        // A path through a value that is not an object finds nothing; the last of two equal keys wins.
        assert_eq!(
            read(r#"{"a":1,"a":2,"o":"text"}"#, &["a", "o.p"]).unwrap(),
            [Some("2".into()), None]
        );
        assert!(read(r#"{"o":{"p":1}}"#, &["o"])
            .unwrap_err()
            .contains("holds an object"));
        assert!(read(r#"{"a":1} trailing"#, &["a"])
            .unwrap_err()
            .starts_with("not a JSON object"));
        assert!(read("[1]", &["a"])
            .unwrap_err()
            .starts_with("not a JSON object"));
    }
}
