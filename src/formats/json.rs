//! JSON lines read for the fields a spec wants only: each wanted value borrowed from the line where it can be, every other value skipped without building it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// The key paths a spec wants from each line as a tree: each object level's wanted keys once,
/// so that a key of a line is compared with the keys wanted at its own place only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paths {
    keys: Vec<Wanted>,
}

/// One wanted key of an object level: the slots of the paths that end at it, the keys wanted
/// within its value, and every slot at or below it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    key: String,
    slots: Vec<usize>,
    below: Paths,
    within: Vec<usize>,
}

impl Paths {
    /// The tree of `paths`, the value at path i going to slot i; an empty path finds nothing.
    pub fn new(paths: &[Vec<String>]) -> Paths {
        let mut root = Paths::default();
        for (slot, path) in paths.iter().enumerate() {
            let mut node = &mut root;
            for (depth, key) in path.iter().enumerate() {
                let at = match node.keys.iter().position(|w| w.key == *key) {
                    Some(at) => at,
                    None => {
                        node.keys.push(Wanted {
                            key: key.clone(),
                            slots: Vec::new(),
                            below: Paths::default(),
                            within: Vec::new(),
                        });
                        node.keys.len() - 1
                    }
                };
                if depth + 1 == path.len() {
                    node.keys[at].slots.push(slot);
                }
                node.keys[at].within.push(slot);
                node = &mut node.keys[at].below;
            }
        }
        root
    }
}

/// One JSON value as text: strings as they are, numbers as their digits, booleans as
/// `true`/`false`; `Nested` for an object or a list.
enum Scalar<'de> {
    Text(Cow<'de, str>),
    Null,
    Nested,
}

/// An object's key, borrowed from the line unless it holds an escape (`Cow<str>`'s own
/// `Deserialize` always copies).
pub(crate) struct Key<'a>(pub Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// One value read into `out`: its text, and within an object the keys `node` wants, each into
/// its slots; `nested` gets the slots whose value is an object or a list.
struct Pick<'p, 'o, 'a> {
    node: &'p Paths,
    out: &'o mut [Option<Cow<'a, str>>],
    nested: &'o mut Vec<usize>,
}

type Picked<'de> = Scalar<'de>;

impl<'de: 'a, 'a> DeserializeSeed<'de> for Pick<'_, '_, 'a> {
    type Value = Picked<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Pick<'_, '_, 'a> {
    type Value = Picked<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        while let Some(Key(key)) = m.next_key::<Key>()? {
            let Some(w) = self.node.keys.iter().find(|w| w.key == key) else {
                m.next_value::<IgnoredAny>()?;
                continue;
            };
            // The last of a repeated key is its value, with everything below it.
            for &i in &w.within {
                self.out[i] = None;
            }
            if !self.nested.is_empty() {
                self.nested.retain(|i| !w.within.contains(i));
            }
            let inner = Pick {
                node: &w.below,
                out: &mut *self.out,
                nested: &mut *self.nested,
            };
            let value = m.next_value_seed(inner)?;
            for &i in &w.slots {
                match &value {
                    Scalar::Text(t) => self.out[i] = Some(t.clone()),
                    Scalar::Null => {}
                    Scalar::Nested => self.nested.push(i),
                }
            }
        }
        Ok(Scalar::Nested)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nested)
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
        // As serde_json prints a number it parsed.
        let text = serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string());
        Ok(Scalar::Text(Cow::Owned(text)))
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
}

fn nested_error(name: &str) -> String {
    format!("{name:?} holds an object or a list, not a value")
}

/// Reads the values `paths` wants (keys, then keys within objects) from one JSON object line,
/// into `out` (one slot per path; `names` name them in errors).
pub fn pick<'a>(
    line: &'a str,
    paths: &Paths,
    names: &[String],
    out: &mut [Option<Cow<'a, str>>],
) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(line);
    let not_object = |e: serde_json::Error| format!("not a JSON object: {e}");
    let mut nested = Vec::new();
    let pick = Pick {
        node: paths,
        out: &mut *out,
        nested: &mut nested,
    };
    // The line itself must be an object; below it, a path through anything else finds nothing.
    de::Deserializer::deserialize_map(&mut de, pick).map_err(not_object)?;
    de.end().map_err(not_object)?;
    if let Some(&i) = nested.iter().min() {
        return Err(nested_error(&names[i]));
    }
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
        let paths = Paths::new(&paths);
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
        // A key is read only under its own parents: "y" under "b" is not "a.y".
        assert_eq!(
            read(r#"{"b":{"y":"2"},"a":{"y":"1","x":"3"}}"#, &["b.y", "a.x"]).unwrap(),
            [Some("2".into()), Some("3".into())]
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

    /// A key wanted both as a value and as a parent: a scalar is its value, an object is an
    /// error for it and the source of the deeper path.
    #[test]
    fn a_key_wanted_as_value_and_parent() {
        assert_eq!(
            read(r#"{"a":5}"#, &["a", "a.b"]).unwrap(),
            [Some("5".into()), None]
        );
        assert!(read(r#"{"a":{"b":1}}"#, &["a", "a.b"])
            .unwrap_err()
            .contains("\"a\" holds an object"));
    }

    /// Random nested objects and random paths read as navigating serde_json's `Value` does:
    /// objects by key (the last of a repeated key), anything else finding nothing, the value's
    /// text as serde_json prints it, and an error exactly where a wanted value is an object or a
    /// list.
    #[test]
    fn values_are_serde_json_values_at_their_paths() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        const KEYS: [&str; 4] = ["a", "b", "c", "d\\u0041"];
        fn value(next: &mut dyn FnMut(u64) -> u64, depth: u32) -> String {
            match next(if depth < 3 { 9 } else { 6 }) {
                0 => "null".into(),
                1 => "true".into(),
                2 => format!("{}", next(1000) as i64 - 500),
                3 => format!("{}.{}e{}", next(100), next(100), next(5) as i64 - 2),
                4 => format!("\"s{}\\n\"", next(10)),
                5 => "\"\"".into(),
                6 => format!("[{}]", value(next, depth + 1)),
                _ => object(next, depth + 1),
            }
        }
        fn object(next: &mut dyn FnMut(u64) -> u64, depth: u32) -> String {
            let n = next(5);
            let fields: Vec<String> = (0..n)
                .map(|_| format!("\"{}\":{}", KEYS[next(4) as usize], value(next, depth)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        let mut checked = 0;
        for _ in 0..3000 {
            let line = object(&mut next, 0);
            let fields: Vec<String> = (0..1 + next(4))
                .map(|_| {
                    let depth = 1 + next(3);
                    (0..depth)
                        .map(|_| ["a", "b", "c", "dA"][next(4) as usize])
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .collect();
            let names: Vec<&str> = fields.iter().map(String::as_str).collect();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let expected: Result<Vec<Option<String>>, ()> = fields
                .iter()
                .map(|f| {
                    let mut at = Some(&v);
                    for k in f.split('.') {
                        at = at.and_then(|x| x.as_object()).and_then(|o| o.get(k));
                    }
                    match at {
                        None | Some(serde_json::Value::Null) => Ok(None),
                        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                        Some(serde_json::Value::Object(_) | serde_json::Value::Array(_)) => Err(()),
                        Some(other) => Ok(Some(other.to_string())),
                    }
                })
                .map(|r| r.map(|v| v.filter(|s| !s.is_empty())))
                .collect();
            let got = read(&line, &names).map_err(|_| ());
            assert_eq!(got, expected, "{line} {fields:?}");
            checked += got.is_ok() as usize;
        }
        assert!(checked > 1500, "only {checked} lines without an error");
    }
}
