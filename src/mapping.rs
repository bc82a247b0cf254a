//! Mapping files: rename a foreign schema's columns and values onto the contract's.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::evidence::{read_config, ConfigFile};
use crate::formats::{Compiled, FormatSpec};
use crate::schema::{closest_column, ColumnType, Kind};

/// Column renames and value rewrites per kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Mapping {
    /// The file it came from, for the manifest.
    pub file: Option<ConfigFile>,
    /// kind -> their column name -> contract column name.
    pub columns: BTreeMap<Kind, BTreeMap<String, String>>,
    /// kind -> contract column -> their value -> contract value.
    pub values: BTreeMap<Kind, BTreeMap<String, BTreeMap<String, String>>>,
    /// kind -> the format its files are written in, where it is not the contract's. Left out
    /// of the manifest when empty, so that contract datasets' manifests stay as they were.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub formats: BTreeMap<Kind, FormatSpec>,
}

impl Mapping {
    /// The explicit mapping if given, else `<dataset>/mapping.toml` if present, else none.
    pub fn resolve(dataset: &Path, explicit: Option<&Path>) -> Result<Mapping> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = dataset.join("mapping.toml");
                if !p.exists() {
                    return Ok(Mapping::default());
                }
                p
            }
        };
        let (text, file) = read_config(dataset, &path)?;
        let mut m = Mapping::parse(&text).map_err(|reason| Error::Mapping {
            path: path.clone(),
            reason,
        })?;
        m.file = Some(file);
        Ok(m)
    }

    pub fn parse(text: &str) -> std::result::Result<Mapping, String> {
        let table = crate::evidence::parse_toml(text)?;
        let mut m = Mapping::default();
        for (section, value) in &table {
            let inner = value
                .as_table()
                .ok_or_else(|| format!("[{section}] must be a table"))?;
            match section.as_str() {
                "columns" => {
                    for (kind_name, renames) in inner {
                        let kind = kind_of(kind_name)?;
                        let renames = renames
                            .as_table()
                            .ok_or_else(|| format!("[columns.{kind_name}] must be a table"))?;
                        let out = m.columns.entry(kind).or_default();
                        for (theirs, ours) in renames {
                            let ours = ours.as_str().ok_or_else(|| {
                                format!("[columns.{kind_name}] {theirs:?} must map to a column name")
                            })?;
                            check_column(kind, ours, &format!("[columns.{kind_name}] {theirs:?}"))?;
                            out.insert(theirs.clone(), ours.to_string());
                        }
                    }
                }
                "values" => {
                    for (kind_name, cols) in inner {
                        let kind = kind_of(kind_name)?;
                        let cols = cols
                            .as_table()
                            .ok_or_else(|| format!("[values.{kind_name}] must be a table"))?;
                        for (col, vals) in cols {
                            check_column(kind, col, &format!("[values.{kind_name}.{col}]"))?;
                            let vals = vals.as_table().ok_or_else(|| {
                                format!("[values.{kind_name}.{col}] must be a table")
                            })?;
                            let allowed = match kind.column(col).map(|c| c.ty) {
                                Some(ColumnType::Enum(allowed)) => Some(allowed),
                                _ => None,
                            };
                            let out = m
                                .values
                                .entry(kind)
                                .or_default()
                                .entry(col.clone())
                                .or_default();
                            for (theirs, ours) in vals {
                                let ours = ours.as_str().ok_or_else(|| {
                                    format!("[values.{kind_name}.{col}] {theirs:?} must map to a string")
                                })?;
                                if let Some(allowed) = allowed {
                                    if !allowed.contains(&ours.to_ascii_lowercase().as_str()) {
                                        return Err(format!(
                                            "[values.{kind_name}.{col}] {theirs:?} maps to {ours:?}, which is not one of {}",
                                            allowed.join(", ")
                                        ));
                                    }
                                }
                                out.insert(theirs.clone(), ours.to_string());
                            }
                        }
                    }
                }
                kind_name if Kind::from_name(kind_name).is_some() => {
                    let kind = kind_of(kind_name)?;
                    if let Some(spec) = FormatSpec::parse(kind, inner)? {
                        Compiled::new(kind, &spec, None).map_err(|e| format!("[{kind}]: {e}"))?;
                        m.formats.insert(kind, spec);
                    }
                }
                other => return Err(format!("unknown section [{other}]; expected [columns.<kind>], [values.<kind>.<column>] or [<kind>] with a format")),
            }
        }
        Ok(m)
    }

    /// The contract name for a column header of `kind`.
    pub fn column_name<'a>(&'a self, kind: Kind, header: &'a str) -> &'a str {
        self.columns
            .get(&kind)
            .and_then(|m| m.get(header))
            .map(String::as_str)
            .unwrap_or(header)
    }

    /// The format `kind`'s files are written in, if not the contract's.
    pub fn format_of(&self, kind: Kind) -> Option<&FormatSpec> {
        self.formats.get(&kind)
    }

    /// The value rewrites for one contract column, if any.
    pub fn values_for(&self, kind: Kind, column: &str) -> Option<&BTreeMap<String, String>> {
        self.values.get(&kind).and_then(|m| m.get(column))
    }
}

fn kind_of(name: &str) -> std::result::Result<Kind, String> {
    Kind::from_name(name).ok_or_else(|| {
        format!("unknown log kind {name:?}; expected deliveries, cache, sessions, ownership, changes or accounts")
    })
}

fn check_column(kind: Kind, name: &str, at: &str) -> std::result::Result<(), String> {
    if kind.column(name).is_some() {
        return Ok(());
    }
    let hint = closest_column(kind, name)
        .map(|c| format!(" (did you mean {c:?}?)"))
        .unwrap_or_default();
    Err(format!(
        "{at}: {name:?} is not a {kind} column of the contract{hint}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_and_values() {
        let m = Mapping::parse(
            r#"
[columns.deliveries]
"req" = "request_id"
"t" = "ts"
[values.deliveries.cache_status]
"TCP_HIT" = "hit"
"#,
        )
        .unwrap();
        assert_eq!(m.column_name(Kind::Deliveries, "req"), "request_id");
        assert_eq!(m.column_name(Kind::Deliveries, "other"), "other");
        assert_eq!(m.column_name(Kind::Cache, "req"), "req");
        let v = m.values_for(Kind::Deliveries, "cache_status").unwrap();
        assert_eq!(v.get("TCP_HIT").map(String::as_str), Some("hit"));
    }

    #[test]
    fn unknown_target_gets_a_hint() {
        let e = Mapping::parse("[columns.deliveries]\n\"sid\" = \"sesion_id\"\n").unwrap_err();
        assert!(e.contains("did you mean \"session_id\""), "{e}");
        let e = Mapping::parse("[columns.delivery]\n\"a\" = \"ts\"\n").unwrap_err();
        assert!(e.contains("unknown log kind"), "{e}");
        let e = Mapping::parse("[values.deliveries.cache_status]\n\"X\" = \"hot\"\n").unwrap_err();
        assert!(e.contains("not one of"), "{e}");
    }
}
