//! Population at risk: distinct accounts that used each client and integration during the exposure window, and the share affected.

use std::collections::{BTreeMap, BTreeSet};

use super::exposures::ABSENT;
use crate::context::SessionStarts;
use crate::intervals::SessionInterval;

/// Which session attribute a group is defined by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dimension {
    All,
    Client,
    Integration,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::All => "all sessions",
            Dimension::Client => "client",
            Dimension::Integration => "integration",
        }
    }
}

/// The accounts of one group and how many of them the leak touched.
#[derive(Debug, Clone, PartialEq)]
pub struct AtRisk {
    pub dimension: Dimension,
    /// The client or integration, [`ABSENT`] for sessions that named none.
    pub value: String,
    /// Distinct accounts with a session of this group open at some point of the window.
    pub accounts: u64,
    /// Of those, accounts exposed as subjects.
    pub exposed: u64,
    /// Of those, accounts that received someone else's content.
    pub recipients: u64,
    /// Exposed or recipient (or both).
    pub affected: u64,
}

impl AtRisk {
    pub fn share_affected(&self) -> f64 {
        if self.accounts == 0 {
            0.0
        } else {
            self.affected as f64 / self.accounts as f64
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Population {
    /// The exposure window `[first leak, last leak]`; `None` when there was no leak.
    pub window: Option<(i64, i64)>,
    /// Sorted by dimension, then by accounts (descending), then value.
    pub groups: Vec<AtRisk>,
}

/// `windows` are the session windows (intervals.rs); `exposed` and `recipients` the accounts of leak deliveries.
pub fn population(
    windows: &[SessionInterval],
    starts: &SessionStarts,
    window: Option<(i64, i64)>,
    exposed: &BTreeSet<&str>,
    recipients: &BTreeSet<&str>,
) -> Population {
    let Some((first, last)) = window else {
        return Population::default();
    };
    let mut groups: BTreeMap<(Dimension, String), BTreeSet<&str>> = BTreeMap::new();
    for w in windows.iter().filter(|w| w.start <= last && w.end > first) {
        let start = starts.at(&w.session_id, w.start);
        let label = |v: Option<&str>| v.unwrap_or(ABSENT).to_string();
        let client = label(start.and_then(|s| s.client.as_deref()));
        let integration = label(start.and_then(|s| s.integration.as_deref()));
        for key in [
            (Dimension::All, String::new()),
            (Dimension::Client, client),
            (Dimension::Integration, integration),
        ] {
            groups.entry(key).or_default().insert(w.account.as_str());
        }
    }
    let mut out: Vec<AtRisk> = groups
        .into_iter()
        .map(|((dimension, value), accounts)| {
            let exp = accounts.iter().filter(|a| exposed.contains(*a)).count() as u64;
            let rec = accounts.iter().filter(|a| recipients.contains(*a)).count() as u64;
            let aff = accounts
                .iter()
                .filter(|a| exposed.contains(*a) || recipients.contains(*a))
                .count() as u64;
            AtRisk {
                dimension,
                value,
                accounts: accounts.len() as u64,
                exposed: exp,
                recipients: rec,
                affected: aff,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.dimension, std::cmp::Reverse(a.accounts), &a.value).cmp(&(
            b.dimension,
            std::cmp::Reverse(b.accounts),
            &b.value,
        ))
    });
    Population {
        window: Some((first, last)),
        groups: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(s: &str, start: i64, end: i64, a: &str) -> SessionInterval {
        SessionInterval {
            session_id: s.into(),
            start,
            end,
            account: a.into(),
        }
    }

    #[test]
    fn counts_accounts_with_sessions_in_the_window() {
        let windows = vec![
            iv("s1", 0, 100, "a"),
            iv("s2", 0, 5, "b"),
            iv("s3", 50, 60, "c"),
            iv("s4", 200, 300, "d"),
        ];
        let starts = SessionStarts::default();
        let exposed: BTreeSet<&str> = ["a"].into_iter().collect();
        let recipients: BTreeSet<&str> = ["c"].into_iter().collect();
        let p = population(&windows, &starts, Some((10, 150)), &exposed, &recipients);
        let all = &p.groups[0];
        assert_eq!(
            (
                all.dimension,
                all.accounts,
                all.exposed,
                all.recipients,
                all.affected
            ),
            (Dimension::All, 2, 1, 1, 2)
        );
        assert!((all.share_affected() - 1.0).abs() < 1e-12);
        assert_eq!(p.groups[1].value, ABSENT);
    }
}
