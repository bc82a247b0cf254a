//! The simulated platform, planned up front: accounts and countries, cameras and their owners over time,
//! shared access, viewer sessions, cache nodes, and the change log of the incident.
//!
//! Everything here is bounded by the number of accounts, not deliveries. The
//! traffic sweep ([`super::sim`]) only reads it.

use std::collections::HashMap;

use super::mechanism::Mechanism;
use super::scenario::Scenario;
pub use super::specials::{Special, SpecialKind};

/// Stream ids from here on were never bound to anyone (factory test cameras).
pub const PHANTOM_CAM_BASE: u32 = 9_000_000;
pub const DEFAULT_TTL_MS: i64 = 86_400_000;
pub const DEFAULT_TOLERANCE_MS: i64 = 2_000;
/// Dirty datasets: this cache node's clock ran 1.5 s fast (declared correction −1500 ms) ...
pub const FAST_NODE: (&str, i64) = ("cache-us-1", -1500);
/// ... and this stream server's 0.75 s slow (+750 ms).
pub const SLOW_SERVER: (&str, i64) = ("stream-cn-1", 750);
/// Object ids of the fills planned for boundary cases start here.
pub(super) const SPECIAL_OBJECTS: u64 = 9_000_000_000;

/// Accounts placed by the scenario rather than at random (see `accounts_and_cams`).
pub(super) const FORCED_ACCOUNTS: u32 = 6;

/// Countries (ISO 3166-1 alpha-2) and their share of accounts, in percent.
pub const COUNTRIES: &[(&str, u32)] = &[
    ("US", 28),
    ("CN", 14),
    ("DE", 11),
    ("IN", 8),
    ("GB", 8),
    ("FR", 7),
    ("JP", 6),
    ("BR", 6),
    ("CA", 5),
    ("NL", 4),
    ("ES", 3),
];

pub fn account_name(a: u32) -> String {
    format!("acct-{a:06}")
}

pub fn cam_name(c: u32) -> String {
    format!("cam-{c:07}")
}

pub fn session_name(s: u32) -> String {
    format!("sess-{s:08}")
}

#[derive(Debug, Clone)]
pub struct Account {
    pub country: u8,
    /// The first camera; never sold, shown on the account's dashboard page.
    pub primary: u32,
    pub plan: &'static str,
}

/// A bind or unbind of a camera stream.
#[derive(Debug, Clone, Copy)]
pub struct OwnEvent {
    pub ts: i64,
    pub account: u32,
    pub bind: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Cam {
    pub events: Vec<OwnEvent>,
}

/// Shared access of `grantee` to `cam`: grant (true) and revoke (false) events.
#[derive(Debug, Clone)]
pub struct Grant {
    pub cam: u32,
    pub grantee: u32,
    pub events: Vec<(i64, bool)>,
    /// After a revoke, the grantee's app keeps showing the camera until this tick (a leak).
    pub stale_until: Option<i64>,
}

/// A session event: `start` as an account, or `end`.
#[derive(Debug, Clone, Copy)]
pub struct SessEvent {
    pub ts: i64,
    pub start: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub events: Vec<SessEvent>,
    pub client: &'static str,
    pub integration: Option<&'static str>,
    pub poor: bool,
    pub node: u16,
    /// Made for one boundary case; never split by the outage.
    pub dedicated: bool,
    /// An app's session: its first start is a login in the login phase, and the app's first
    /// request follows it.
    pub logs_in: bool,
}

/// A stretch of ticks in which ordinary traffic may use a session, and the account it is then.
#[derive(Debug, Clone, Copy)]
pub struct Activation {
    pub session: u32,
    pub account: u32,
    pub from: i64,
    pub to: i64,
}

/// A camera an account may ask for during [from, to) (ticks).
#[derive(Debug, Clone, Copy)]
pub struct Vis {
    pub cam: u32,
    pub from: i64,
    pub to: i64,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub server: String,
    pub country: u8,
}

/// A camera changing hands: unbind then bind after a gap, or a direct bind (transfer).
#[derive(Debug, Clone, Copy)]
pub struct Resale {
    pub cam: u32,
    pub from: u32,
    pub to: u32,
    /// The tick of the first ownership change (the unbind, or the transfer's bind).
    pub tick: i64,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub ts: i64,
    pub component: &'static str,
    pub kind: &'static str,
    pub version: Option<String>,
    pub description: String,
}

/// The planned world.
#[derive(Debug)]
pub struct World {
    pub scenario: Scenario,
    /// What the bug needs of a request besides its window.
    pub mechanism: Mechanism,
    pub ttl_ms: i64,
    pub tolerance_ms: i64,
    pub accounts: Vec<Account>,
    pub cams: Vec<Cam>,
    pub grants: Vec<Grant>,
    pub(super) grant_index: HashMap<(u32, u32), u32>,
    pub sessions: Vec<Session>,
    pub nodes: Vec<Node>,
    pub country_nodes: Vec<Vec<u16>>,
    /// Per account: the cameras it may ask for, and when.
    pub vis: Vec<Vec<Vis>>,
    pub activations: Vec<Activation>,
    pub resales: Vec<Resale>,
    pub changes: Vec<Change>,
    /// Sorted by time.
    pub specials: Vec<Special>,
    /// Planned specials dropped because the evaluator disagreed with their intent (should be rare).
    pub specials_dropped: usize,
}

impl World {
    pub fn owner_at(&self, cam: u32, at: i64) -> Option<u32> {
        let ev = &self.cams.get(cam as usize)?.events;
        let i = ev.partition_point(|e| e.ts <= at);
        let e = ev.get(i.checked_sub(1)?)?;
        e.bind.then_some(e.account)
    }

    pub fn granted(&self, cam: u32, account: u32, at: i64) -> bool {
        let Some(&gi) = self.grant_index.get(&(cam, account)) else {
            return false;
        };
        let ev = &self.grants[gi as usize].events;
        let i = ev.partition_point(|e| e.0 <= at);
        i > 0 && ev[i - 1].1
    }

    /// The account session `s` is authenticated as at `at`, under the contract's TTL rule.
    pub fn session_account(&self, s: u32, at: i64) -> Option<u32> {
        let ev = &self.sessions.get(s as usize)?.events;
        let mut start: Option<SessEvent> = None;
        for e in ev.iter().take_while(|e| e.ts <= at) {
            if e.start.is_some() {
                start = Some(*e);
            }
        }
        let st = start?;
        let end = ev
            .iter()
            .filter(|e| e.start.is_none() && e.ts >= st.ts)
            .map(|e| e.ts)
            .min()
            .unwrap_or(i64::MAX);
        (at < end.min(st.ts + self.ttl_ms)).then_some(st.start?)
    }

    /// The node's cache clock region country code.
    pub fn country_code(&self, node: u16) -> &'static str {
        COUNTRIES[self.nodes[node as usize].country as usize].0
    }

    pub fn account_country(&self, a: u32) -> &'static str {
        COUNTRIES[self.accounts[a as usize].country as usize].0
    }
}
