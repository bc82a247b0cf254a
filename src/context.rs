//! Delivery context: the attributes a delivery does not carry itself (client, integration, countries), looked up once per classified delivery.
//!
//! Client and integration come from the session's latest `start` at or before the
//! delivery; an account's country and region from the optional accounts kind.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;

use foldhash::fast::RandomState;
use rayon::prelude::*;

use crate::load::LoadedDataset;
use crate::schema::{Kind, SessionEvent};
use crate::table::{Interner, Table, Text};
use crate::verdict::Verdict;

/// What a delivery's context is looked up in: the account directory and when sessions began.
pub struct Basis {
    pub dir: AccountDirectory,
    pub starts: SessionStarts,
}

impl Basis {
    pub fn new(loaded: &LoadedDataset) -> Basis {
        Basis {
            dir: AccountDirectory::from_table(loaded.table(Kind::Accounts)),
            starts: SessionStarts::from_table(loaded.table(Kind::Sessions)),
        }
    }

    /// The context of rows `rows` of the deliveries `d`, whose verdicts are `verdicts`.
    pub fn context(&self, d: &Table, rows: Range<usize>, verdicts: &[Verdict]) -> DeliveryContext {
        DeliveryContext::build(d, rows, verdicts, &self.starts, &self.dir)
    }
}

/// Extra accounts columns read as the account's region (a US state for the 500-resident threshold), first present wins.
pub const REGION_COLUMNS: [&str; 2] = ["state", "region"];

/// Where each account lives, from the accounts kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountDirectory {
    // Looked up twice per delivery: a fast hash beats a tree walk of string compares, and values
    // shared among accounts are handed out per delivery by cloning, without copying the text.
    pub country: HashMap<String, Text, RandomState>,
    pub region: HashMap<String, Text, RandomState>,
    /// Accounts listed with two or more different countries (the smallest country code is used).
    pub conflicting: u64,
    /// Which extra column gave regions, if any.
    pub region_column: Option<&'static str>,
}

impl AccountDirectory {
    pub fn from_table(t: &Table) -> AccountDirectory {
        let ids = t.text("account_id");
        let countries = t.text("country");
        let region_column = REGION_COLUMNS
            .into_iter()
            .find(|c| t.extra.contains_key(*c));
        let regions = region_column.map(|c| &t.extra[c]);
        let mut pool = Interner::default();
        let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut region: HashMap<String, Text, RandomState> = HashMap::default();
        for i in 0..t.len() {
            let Some(id) = ids.str(i) else {
                continue;
            };
            let entry = seen.entry(id).or_default();
            if let Some(c) = countries.str(i) {
                entry.push(c);
            }
            if let Some(r) = regions.and_then(|r| r.get(i)).and_then(|x| x.as_deref()) {
                // Smallest region wins, so that file order never matters.
                match region.get_mut(id) {
                    Some(slot) if r < &**slot => *slot = pool.intern(1, r),
                    Some(_) => {}
                    None => {
                        region.insert(id.to_string(), pool.intern(1, r));
                    }
                }
            }
        }
        let mut country: HashMap<String, Text, RandomState> = HashMap::default();
        let mut conflicting = 0;
        for (id, mut cs) in seen {
            cs.sort_unstable();
            cs.dedup();
            if cs.len() > 1 {
                conflicting += 1;
            }
            if let Some(c) = cs.first() {
                country.insert(id.to_string(), pool.intern(0, c));
            }
        }
        AccountDirectory {
            country,
            region,
            conflicting,
            region_column,
        }
    }

    pub fn country_of(&self, account: &str) -> Option<&str> {
        self.country.get(account).map(|c| &**c)
    }

    /// The account's country as a shared value, for holding once per delivery.
    pub fn shared_country_of(&self, account: &str) -> Option<&Text> {
        self.country.get(account)
    }

    pub fn region_of(&self, account: &str) -> Option<&str> {
        self.region.get(account).map(|r| &**r)
    }
}

/// The client and integration a session announced at one `start`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionStart {
    pub ts: i64,
    pub account: String,
    pub client: Option<Arc<str>>,
    pub integration: Option<Arc<str>>,
}

/// Every session's starts, sorted by time, one per millisecond.
#[derive(Debug, Clone, Default)]
pub struct SessionStarts {
    // Looked up once per delivery.
    by_session: HashMap<String, Vec<SessionStart>, RandomState>,
}

impl SessionStarts {
    /// Two starts of one session at one millisecond: the greatest (account, client, integration) wins,
    /// the same account choice as docs/SEMANTICS.md makes.
    pub fn from_table(t: &Table) -> SessionStarts {
        let (ts, sid, ev, acct) = (
            t.time("ts"),
            t.text("session_id"),
            t.enums::<SessionEvent>("event"),
            t.text("account_id"),
        );
        let (client, integ) = (t.text("client"), t.text("integration"));
        let mut by_session: BTreeMap<String, BTreeMap<i64, SessionStart>> = BTreeMap::new();
        for i in 0..t.len() {
            let (Some(at), Some(s), Some(SessionEvent::Start), Some(a)) =
                (ts[i], sid.str(i), ev[i], acct.str(i))
            else {
                continue;
            };
            let new = SessionStart {
                ts: at,
                account: a.to_string(),
                client: client.get(i).cloned(),
                integration: integ.get(i).cloned(),
            };
            let slot = by_session
                .entry(s.to_string())
                .or_default()
                .entry(at)
                .or_insert_with(|| new.clone());
            if new > *slot {
                *slot = new;
            }
        }
        SessionStarts {
            by_session: by_session
                .into_iter()
                .map(|(k, v)| (k, v.into_values().collect()))
                .collect(),
        }
    }

    /// The latest start of `session` at or before `t`.
    pub fn at(&self, session: &str, t: i64) -> Option<&SessionStart> {
        SessionStarts::latest(self.of(session)?, t)
    }

    /// Every start of `session`, sorted by time.
    fn of(&self, session: &str) -> Option<&[SessionStart]> {
        self.by_session.get(session).map(Vec::as_slice)
    }

    /// The latest of one session's `starts` at or before `t`.
    fn latest(starts: &[SessionStart], t: i64) -> Option<&SessionStart> {
        let n = starts.partition_point(|s| s.ts <= t);
        n.checked_sub(1).map(|i| &starts[i])
    }
}

/// Deliveries whose context one thread works out at a time.
const CHUNK: usize = 1 << 14;

/// Countries of the accounts met so far by [`DeliveryContext::build`]. The verdicts of one account
/// share its text, so it is remembered by the text's address and looked up by value once; the
/// verdicts hold their text for as long as this lives, so no address is reused meanwhile.
struct Countries<'a> {
    dir: &'a AccountDirectory,
    by_address: HashMap<usize, Option<Text>, RandomState>,
}

impl<'a> Countries<'a> {
    fn new(dir: &'a AccountDirectory) -> Countries<'a> {
        Countries {
            dir,
            by_address: HashMap::default(),
        }
    }

    fn of(&mut self, account: &Option<Text>) -> Option<Text> {
        let a = account.as_ref()?;
        let dir = self.dir;
        self.by_address
            .entry(Arc::as_ptr(a) as *const u8 as usize)
            .or_insert_with(|| dir.shared_country_of(a).cloned())
            .clone()
    }
}

/// Per-delivery attributes for the reports; index i belongs to delivery row i. Values are shared
/// (a few distinct clients and countries over millions of deliveries).
#[derive(Debug, Clone, Default)]
pub struct DeliveryContext {
    pub client: Vec<Option<Arc<str>>>,
    pub integration: Vec<Option<Arc<str>>>,
    /// Country of the recipient account (the viewer), from the accounts kind.
    pub recipient_country: Vec<Option<Arc<str>>>,
    /// Country of the subject account (whose home is in the picture).
    pub subject_country: Vec<Option<Arc<str>>>,
}

impl DeliveryContext {
    /// The context of rows `rows` of the deliveries table `d`, whose verdicts are `verdicts` (in order).
    pub fn build(
        d: &Table,
        rows: Range<usize>,
        verdicts: &[Verdict],
        starts: &SessionStarts,
        dir: &AccountDirectory,
    ) -> Self {
        let ts = &d.time("ts")[rows.clone()];
        let sid = d.text("session_id").slice(rows);
        // Each distinct session of the block is looked up once, not once per delivery.
        let session_starts: Vec<Option<&[SessionStart]>> = match sid.coded() {
            Some((codes, values)) => {
                let of_value: Vec<Option<&[SessionStart]>> =
                    values.iter().map(|v| starts.of(v)).collect();
                codes
                    .iter()
                    .map(|&c| of_value.get(c as usize).copied().flatten())
                    .collect()
            }
            None => (0..sid.len())
                .map(|i| sid.get(i).and_then(|s| starts.of(s)))
                .collect(),
        };
        let parts: Vec<DeliveryContext> = verdicts
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(k, verdicts)| {
                let at = k * CHUNK;
                let mut cx = DeliveryContext::with_capacity(verdicts.len());
                let mut countries = Countries::new(dir);
                for (i, v) in (at..).zip(verdicts) {
                    let start = match (ts.get(i).copied().flatten(), session_starts.get(i)) {
                        (Some(t), Some(Some(starts))) => SessionStarts::latest(starts, t),
                        _ => None,
                    };
                    cx.client.push(start.and_then(|s| s.client.clone()));
                    cx.integration
                        .push(start.and_then(|s| s.integration.clone()));
                    cx.recipient_country.push(countries.of(&v.recipient));
                    cx.subject_country.push(countries.of(&v.subject));
                }
                cx
            })
            .collect();
        let mut cx = DeliveryContext::with_capacity(verdicts.len());
        for p in parts {
            cx.append(p);
        }
        cx
    }

    fn with_capacity(n: usize) -> DeliveryContext {
        DeliveryContext {
            client: Vec::with_capacity(n),
            integration: Vec::with_capacity(n),
            recipient_country: Vec::with_capacity(n),
            subject_country: Vec::with_capacity(n),
        }
    }

    /// A copy of the context of rows `rows` (values stay shared).
    pub fn slice(&self, rows: Range<usize>) -> DeliveryContext {
        DeliveryContext {
            client: self.client[rows.clone()].to_vec(),
            integration: self.integration[rows.clone()].to_vec(),
            recipient_country: self.recipient_country[rows.clone()].to_vec(),
            subject_country: self.subject_country[rows].to_vec(),
        }
    }

    /// Appends the context of the rows that follow.
    pub fn append(&mut self, more: DeliveryContext) {
        self.client.extend(more.client);
        self.integration.extend(more.integration);
        self.recipient_country.extend(more.recipient_country);
        self.subject_country.extend(more.subject_country);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::table_from_csv;
    use crate::schema::Kind;

    fn table(kind: Kind, csv: &str) -> Table {
        table_from_csv(kind, csv, 0)
    }

    #[test]
    fn latest_start_gives_client_and_integration() {
        let t = table(
            Kind::Sessions,
            "ts,session_id,event,account_id,client,integration\n10,s,start,a,nest_hub,google_home\n20,s,end,,,\n30,s,start,a,web,\n30,s,start,a,ios,\n",
        );
        let st = SessionStarts::from_table(&t);
        assert!(st.at("s", 9).is_none());
        assert_eq!(
            st.at("s", 25).unwrap().integration.as_deref(),
            Some("google_home")
        );
        assert_eq!(st.at("s", 30).unwrap().client.as_deref(), Some("web"));
        assert!(st.at("x", 30).is_none());
    }

    #[test]
    fn directory_reads_country_and_region() {
        let t = table(
            Kind::Accounts,
            "account_id,country,state\na,US,CA\na,US,\nb,DE,\nc,FR,\nc,BE,\n",
        );
        let d = AccountDirectory::from_table(&t);
        assert_eq!(d.country_of("a"), Some("US"));
        assert_eq!(d.region_of("a"), Some("CA"));
        assert_eq!(d.country_of("c"), Some("BE"));
        assert_eq!(d.conflicting, 1);
        assert_eq!(d.region_column, Some("state"));
    }
}
