//! Notification lists: `subjects.csv`, `recipients.csv` and `exposures.csv`, spreadsheet-safe, with ids pseudonymised when asked.

use std::path::Path;

use super::escape::spreadsheet;
use super::pseudonym::Pseudonyms;
use crate::error::{Error, Result};
use crate::findings::exposures::{AccountExposure, Exposures};
use crate::time::format_ms;

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn write_rows(path: &Path, head: &[&str], mut rows: Vec<Vec<String>>) -> Result<()> {
    // Sorted by what is printed, so that pseudonymised lists do not keep the order of the real ids.
    rows.sort();
    let mut w = csv::Writer::from_path(path).map_err(|e| Error::output(path, e))?;
    w.write_record(head).map_err(|e| Error::output(path, e))?;
    for r in rows {
        w.write_record(r.iter().map(|c| spreadsheet(c).into_owned()))
            .map_err(|e| Error::output(path, e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}

fn account_row(a: &AccountExposure, ids: &Pseudonyms, counterpart_and_more: &[u64]) -> Vec<String> {
    let mut r = vec![
        ids.account(&a.account).into_owned(),
        opt(&a.country),
        opt(&a.region),
        format_ms(a.first),
        format_ms(a.last),
        a.deliveries.to_string(),
        a.viewed.to_string(),
    ];
    r.extend(counterpart_and_more.iter().map(u64::to_string));
    r.push(a.first_request_id.clone().unwrap_or_default());
    r
}

/// Writes the three lists into `out`.
pub fn write_lists(x: &Exposures, ids: &Pseudonyms, out: &Path) -> Result<()> {
    let common = [
        "account",
        "country",
        "region",
        "first_exposure",
        "last_exposure",
        "deliveries",
        "viewed",
    ];
    let head = |more: &[&'static str]| -> Vec<&'static str> {
        common.iter().chain(more).copied().collect()
    };
    write_rows(
        &out.join("subjects.csv"),
        &head(&["recipients", "objects", "first_request_id"]),
        x.subjects
            .iter()
            .map(|a| account_row(a, ids, &[a.counterparts, a.objects]))
            .collect(),
    )?;
    write_rows(
        &out.join("recipients.csv"),
        &head(&["subjects", "objects", "sessions", "first_request_id"]),
        x.recipients
            .iter()
            .map(|a| account_row(a, ids, &[a.counterparts, a.objects, a.sessions]))
            .collect(),
    )?;
    let country = |a: &str, list: &[AccountExposure]| {
        list.binary_search_by(|e| e.account.as_str().cmp(a))
            .ok()
            .and_then(|i| list[i].country.clone())
            .unwrap_or_default()
    };
    write_rows(
        &out.join("exposures.csv"),
        &[
            "subject",
            "recipient",
            "subject_country",
            "recipient_country",
            "first_exposure",
            "last_exposure",
            "deliveries",
            "viewed",
            "objects",
            "first_request_id",
        ],
        x.pairs
            .iter()
            .map(|p| {
                vec![
                    ids.account(&p.subject).into_owned(),
                    ids.account(&p.recipient).into_owned(),
                    country(&p.subject, &x.subjects),
                    country(&p.recipient, &x.recipients),
                    format_ms(p.first),
                    format_ms(p.last),
                    p.deliveries.to_string(),
                    p.viewed.to_string(),
                    p.objects.to_string(),
                    p.first_request_id.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    )
}
