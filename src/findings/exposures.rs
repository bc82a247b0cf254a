//! Exposures: the per-account and per-pair facts behind notification lists, and the counts a regulator asks for.
//!
//! Only `leak` deliveries count here (the lower bound); ambiguous ones are in the
//! headline's upper bound and in verdicts.parquet.

use std::collections::BTreeMap;
use std::hash::Hash;

use foldhash::{HashMap, HashSet};

use crate::context::AccountDirectory;
use crate::table::Text;
use crate::verdict::{Class, Verdict};

/// US state laws commonly require notifying the state attorney general above this many affected residents.
pub const US_STATE_THRESHOLD: u64 = 500;

/// The label used wherever a value is absent.
pub const ABSENT: &str = "(absent)";

/// One exposed account (as subject) or one recipient account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountExposure {
    pub account: String,
    pub country: Option<String>,
    pub region: Option<String>,
    pub first: i64,
    pub last: i64,
    pub deliveries: u64,
    /// Leak deliveries with `viewed = true`.
    pub viewed: u64,
    /// Distinct accounts on the other side (recipients of a subject, subjects of a recipient).
    pub counterparts: u64,
    pub objects: u64,
    /// Distinct sessions that received the leaks (meaningful for recipients).
    pub sessions: u64,
    /// The first leak delivery's request_id, for `leakscope explain`.
    pub first_request_id: Option<String>,
}

/// One (subject, recipient) pair.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairExposure {
    pub subject: String,
    pub recipient: String,
    pub first: i64,
    pub last: i64,
    pub deliveries: u64,
    pub viewed: u64,
    pub objects: u64,
    /// The first leak delivery's request_id, for `leakscope explain`.
    pub first_request_id: Option<String>,
}

/// Subjects and recipients per country (each account counted in its own country).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountryCount {
    pub subjects: u64,
    pub subjects_viewed: u64,
    pub recipients: u64,
}

/// Records of one delivery `kind` (still, segment, ...) in leak deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryCount {
    pub deliveries: u64,
    pub objects: u64,
    pub subjects: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposures {
    /// Sorted by account id.
    pub subjects: Vec<AccountExposure>,
    pub recipients: Vec<AccountExposure>,
    /// Sorted by (subject, recipient).
    pub pairs: Vec<PairExposure>,
    /// Keyed by country code, or [`ABSENT`].
    pub by_country: BTreeMap<String, CountryCount>,
    /// Exposed US subjects per state (region), [`ABSENT`] where unknown.
    pub us_states: BTreeMap<String, u64>,
    /// Leak deliveries per delivery `kind`, [`ABSENT`] where the delivery had none.
    pub categories: BTreeMap<String, CategoryCount>,
    /// Whether the accounts kind gave any country at all.
    pub have_countries: bool,
    pub region_column: Option<&'static str>,
}

/// One account's or pair's leaks so far. The sets are only counted, so they are hashed.
#[derive(Default)]
struct Acc<'a> {
    first: i64,
    last: i64,
    deliveries: u64,
    viewed: u64,
    counterparts: HashSet<&'a str>,
    objects: HashSet<&'a str>,
    sessions: HashSet<&'a str>,
    /// The request_id of the earliest delivery, the first one added among equals.
    first_request: Option<&'a str>,
}

impl<'a> Acc<'a> {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        t: i64,
        seen: bool,
        other: &'a str,
        object: Option<&'a str>,
        session: Option<&'a str>,
        request: Option<&'a str>,
    ) {
        if self.deliveries == 0 || t < self.first {
            self.first_request = request;
        }
        if self.deliveries == 0 {
            (self.first, self.last) = (t, t);
        }
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        self.deliveries += 1;
        self.viewed += seen as u64;
        self.counterparts.insert(other);
        if let Some(o) = object {
            self.objects.insert(o);
        }
        if let Some(s) = session {
            self.sessions.insert(s);
        }
    }
}

/// Per-delivery inputs the exposures read.
pub struct LeakInputs<'a> {
    pub verdicts: &'a [Verdict],
    pub ts: &'a [Option<i64>],
    pub viewed: &'a [Option<bool>],
    pub session: &'a [Option<Text>],
    pub kind: &'a [Option<Text>],
    pub request_id: &'a [Option<Text>],
}

pub fn exposures(x: &LeakInputs, dir: &AccountDirectory) -> Exposures {
    // Hashed while counting (one lookup per leak, not a search), ordered once at the end.
    let mut subj: HashMap<&str, Acc> = HashMap::default();
    let mut recp: HashMap<&str, Acc> = HashMap::default();
    let mut pairs: HashMap<(&str, &str), Acc> = HashMap::default();
    let mut cats: HashMap<&str, (u64, HashSet<&str>, HashSet<&str>)> = HashMap::default();
    for (i, v) in x.verdicts.iter().enumerate() {
        if v.class != Class::Leak {
            continue;
        }
        let (Some(s), Some(r), Some(t)) = (
            v.subject.as_deref(),
            v.recipient.as_deref(),
            x.ts.get(i).copied().flatten(),
        ) else {
            continue;
        };
        let seen = x.viewed.get(i).copied().flatten() == Some(true);
        let obj = v.object_id.as_deref();
        let session = x.session.get(i).and_then(|s| s.as_deref());
        let rid = x.request_id.get(i).and_then(|s| s.as_deref());
        subj.entry(s).or_default().add(t, seen, r, obj, None, rid);
        recp.entry(r)
            .or_default()
            .add(t, seen, s, obj, session, rid);
        pairs
            .entry((s, r))
            .or_default()
            .add(t, seen, r, obj, None, rid);
        let kind = x.kind.get(i).and_then(|k| k.as_deref()).unwrap_or(ABSENT);
        let c = cats.entry(kind).or_default();
        c.0 += 1;
        if let Some(o) = obj {
            c.1.insert(o);
        }
        c.2.insert(s);
    }
    let account = |(id, a): (&str, Acc)| AccountExposure {
        account: id.to_string(),
        country: dir.country_of(id).map(str::to_string),
        region: dir.region_of(id).map(str::to_string),
        first: a.first,
        last: a.last,
        deliveries: a.deliveries,
        viewed: a.viewed,
        counterparts: a.counterparts.len() as u64,
        objects: a.objects.len() as u64,
        sessions: a.sessions.len() as u64,
        first_request_id: a.first_request.map(str::to_string),
    };
    let subjects: Vec<AccountExposure> = sorted(subj).into_iter().map(account).collect();
    let recipients: Vec<AccountExposure> = sorted(recp).into_iter().map(account).collect();
    let mut by_country: BTreeMap<String, CountryCount> = BTreeMap::new();
    let mut us_states: BTreeMap<String, u64> = BTreeMap::new();
    let country_key = |c: &Option<String>| c.clone().unwrap_or_else(|| ABSENT.to_string());
    for s in &subjects {
        let c = by_country.entry(country_key(&s.country)).or_default();
        c.subjects += 1;
        c.subjects_viewed += (s.viewed > 0) as u64;
        if s.country
            .as_deref()
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("US"))
        {
            *us_states
                .entry(s.region.clone().unwrap_or_else(|| ABSENT.to_string()))
                .or_default() += 1;
        }
    }
    for r in &recipients {
        by_country
            .entry(country_key(&r.country))
            .or_default()
            .recipients += 1;
    }
    Exposures {
        subjects,
        recipients,
        pairs: sorted(pairs)
            .into_iter()
            .map(|((s, r), a)| PairExposure {
                subject: s.to_string(),
                recipient: r.to_string(),
                first: a.first,
                last: a.last,
                deliveries: a.deliveries,
                viewed: a.viewed,
                objects: a.objects.len() as u64,
                first_request_id: a.first_request.map(str::to_string),
            })
            .collect(),
        by_country,
        us_states,
        categories: sorted(cats)
            .into_iter()
            .map(|(k, (n, o, s))| {
                (
                    k.to_string(),
                    CategoryCount {
                        deliveries: n,
                        objects: o.len() as u64,
                        subjects: s.len() as u64,
                    },
                )
            })
            .collect(),
        have_countries: !dir.country.is_empty(),
        region_column: dir.region_column,
    }
}

/// The entries of `map` in key order (keys are distinct, so the order is total).
fn sorted<K: Ord + Hash, V>(map: HashMap<K, V>) -> Vec<(K, V)> {
    let mut v: Vec<(K, V)> = map.into_iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v
}

impl Exposures {
    /// US states (or [`ABSENT`]) with more than [`US_STATE_THRESHOLD`] exposed residents.
    pub fn states_over_threshold(&self) -> Vec<(&str, u64)> {
        self.us_states
            .iter()
            .filter(|(_, &n)| n > US_STATE_THRESHOLD)
            .map(|(s, &n)| (s.as_str(), n))
            .collect()
    }
}
