//! The investigator's full tables as spreadsheet-safe CSV: every factor pattern (`factors.csv`) and every colliding cache key (`cache_collisions.csv`).

use std::path::Path;

use super::escape::spreadsheet;
use crate::error::{Error, Result};
use crate::findings::collisions::KeyCollision;
use crate::findings::factors::{Factors, Pattern};

fn writer(path: &Path, head: &[&str]) -> Result<csv::Writer<std::fs::File>> {
    let mut w = csv::Writer::from_path(path).map_err(|e| Error::output(path, e))?;
    w.write_record(head).map_err(|e| Error::output(path, e))?;
    Ok(w)
}

/// Writes one row, every cell spreadsheet-safe: values come from the logs.
fn write_row<const N: usize>(
    w: &mut csv::Writer<std::fs::File>,
    path: &Path,
    row: [String; N],
) -> Result<()> {
    w.write_record(row.iter().map(|c| spreadsheet(c)).map(|c| c.into_owned()))
        .map_err(|e| Error::output(path, e))
}

/// Rates with nine decimals: enough to compare, fixed so that output never varies.
fn rate(x: f64) -> String {
    format!("{x:.9}")
}

pub fn write_factors(f: &Factors, path: &Path) -> Result<()> {
    let mut w = writer(
        path,
        &[
            "kind",
            "attribute_1",
            "value_1",
            "attribute_2",
            "value_2",
            "deliveries",
            "leaks",
            "support",
            "leak_rate",
            "rest_rate",
            "risk_ratio",
            "explanation",
        ],
    )?;
    // Where the pattern stands among the explanations: `request #1`, `environment #3`, or empty.
    let rank = |p: &Pattern| {
        let find = |list: &[Pattern], name: &str| {
            list.iter()
                .position(|r| r.items == p.items || r.equivalent.contains(&p.items))
                .map(|k| format!("{name} #{}", k + 1))
        };
        find(&f.request, "request")
            .or_else(|| find(&f.environment, "environment"))
            .unwrap_or_default()
    };
    let singles = f.single.values().flatten();
    for p in singles.chain(f.pairs.iter()) {
        let item = |k: usize| {
            p.items
                .get(k)
                .map(|(a, v)| (a.name().to_string(), v.clone()))
                .unwrap_or_default()
        };
        let ((a1, v1), (a2, v2)) = (item(0), item(1));
        let kind = if p.items.len() == 1 { "single" } else { "pair" };
        write_row(
            &mut w,
            path,
            [
                kind.to_string(),
                a1,
                v1,
                a2,
                v2,
                p.deliveries.to_string(),
                p.leaks.to_string(),
                rate(p.support),
                rate(p.leak_rate),
                rate(p.rest_rate),
                rate(p.risk_ratio),
                rank(p),
            ],
        )?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}

pub fn write_collisions(c: &[KeyCollision], path: &Path) -> Result<()> {
    let mut w = writer(
        path,
        &[
            "cache_key",
            "subjects",
            "streams",
            "nodes",
            "deliveries",
            "leak_deliveries",
        ],
    )?;
    for k in c {
        write_row(
            &mut w,
            path,
            [
                k.cache_key.clone(),
                k.subjects.to_string(),
                k.streams.to_string(),
                k.nodes.to_string(),
                k.deliveries.to_string(),
                k.leaks.to_string(),
            ],
        )?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}
