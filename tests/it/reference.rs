//! A deliberately simple reference implementation of docs/SEMANTICS.md ("State over time" and
//! "The verdict of one delivery"), for differential testing of the engine and as the first of
//! the three implementations every hand-worked case in tests/cases runs through.
//!
//! No polars, no indexes, no sorting tricks: every look-up scans every event. All times are
//! corrected UTC epoch milliseconds. Each function quotes the sentence it implements.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub request_id: String,
    /// Corrected delivery time t.
    pub ts: i64,
    pub session_id: String,
    pub requested_stream_id: String,
    pub cache_node: String,
    pub cache_key: String,
    pub cache_status: String,
    pub object_id: Option<String>,
    pub origin_stream_id: Option<String>,
    pub captured_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOp {
    Fill,
    Evict,
    Purge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEvent {
    /// Corrected time on the node.
    pub ts: i64,
    pub node: String,
    pub key: String,
    pub op: CacheOp,
    /// Present for fills.
    pub object_id: Option<String>,
    /// Present for fills.
    pub origin_stream_id: Option<String>,
    pub captured_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOp {
    Start,
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    pub ts: i64,
    pub session_id: String,
    pub event: SessionOp,
    /// Present for starts (required), optional for ends (ignored).
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnOp {
    Bind,
    Unbind,
    Grant,
    Revoke,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipEvent {
    pub ts: i64,
    pub stream_id: String,
    pub account_id: String,
    pub event: OwnOp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub deliveries: Vec<Delivery>,
    pub cache: Vec<CacheEvent>,
    pub sessions: Vec<SessionEvent>,
    pub ownership: Vec<OwnershipEvent>,
    pub tolerance_ms: i64,
    pub session_ttl_ms: i64,
    /// `ownership_snapshots`: each ownership row lists an owner (`bind`) or shared access
    /// (`grant`) at a snapshot time.
    pub snapshots: bool,
}

/// Which owners a look-up takes when ownership comes from registry snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// Each change at the snapshot that first shows it (and the contract's events as they are).
    Placed,
    /// Each change between two snapshots at the earliest instant after the earlier one.
    Early,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Ok,
    Leak,
    Ambiguous,
    Unresolved,
}

// The names mirror the contract's reasons (no_session, no_content, no_owner).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Missing {
    NoSession,
    NoContent,
    NoOwner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefVerdict {
    pub class: Class,
    pub missing: Option<Missing>,
}

/// The fill a cache key held at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub ts: i64,
    pub object_id: Option<String>,
    pub origin_stream_id: String,
    pub captured_at: Option<i64>,
}

impl Dataset {
    /// "For session s at t: take the latest `start` with ts <= t. The session is open if
    /// t < min(next `end` with ts >= that start, start + `session_ttl`). [...] Two `start`s of
    /// one session at the same millisecond: the one with the greatest account id wins."
    pub fn recipient(&self, session: &str, at: i64) -> Option<String> {
        let starts: Vec<&SessionEvent> = self
            .sessions
            .iter()
            .filter(|e| e.session_id == session && e.event == SessionOp::Start && e.ts <= at)
            .collect();
        let start_ts = starts.iter().map(|e| e.ts).max()?;
        let account = starts
            .iter()
            .filter(|e| e.ts == start_ts)
            .map(|e| e.account_id.clone())
            .max()?;
        let next_end = self
            .sessions
            .iter()
            .filter(|e| e.session_id == session && e.event == SessionOp::End && e.ts >= start_ts)
            .map(|e| e.ts)
            .min();
        let closes = match next_end {
            Some(end) => end.min(start_ts + self.session_ttl_ms),
            None => start_ts + self.session_ttl_ms,
        };
        if at < closes {
            account
        } else {
            None
        }
    }

    /// "The owner at L is the account of the latest `bind` with ts <= L, unless an `unbind`
    /// came later (no owner). At one millisecond, `bind` wins over `unbind`; two binds at one
    /// millisecond: the greatest account id."
    pub fn owner(&self, stream: &str, at: i64) -> Option<String> {
        let binds: Vec<&OwnershipEvent> = self
            .ownership
            .iter()
            .filter(|e| e.stream_id == stream && e.event == OwnOp::Bind && e.ts <= at)
            .collect();
        let bind_ts = binds.iter().map(|e| e.ts).max()?;
        let unbound_later = self.ownership.iter().any(|e| {
            e.stream_id == stream && e.event == OwnOp::Unbind && e.ts > bind_ts && e.ts <= at
        });
        if unbound_later {
            return None;
        }
        binds
            .iter()
            .filter(|e| e.ts == bind_ts)
            .map(|e| e.account_id.clone())
            .max()
    }

    /// "(stream, account) holds a grant at L if its latest `grant` or `revoke` with ts <= L is a
    /// `grant`. A change of owner does not end a grant. At one millisecond, `revoke` wins."
    pub fn granted(&self, stream: &str, account: &str, at: i64) -> bool {
        let evs: Vec<&OwnershipEvent> = self
            .ownership
            .iter()
            .filter(|e| {
                e.stream_id == stream
                    && e.account_id == account
                    && matches!(e.event, OwnOp::Grant | OwnOp::Revoke)
                    && e.ts <= at
            })
            .collect();
        let Some(last) = evs.iter().map(|e| e.ts).max() else {
            return false;
        };
        !evs.iter().any(|e| e.ts == last && e.event == OwnOp::Revoke)
    }

    /// "(node, key) holds the object of the latest `fill` with ts <= L, unless an `evict` or
    /// `purge` of that key, or a `purge` of `*` on that node, came after it. At one millisecond a
    /// `fill` wins over `evict`/`purge`; two fills at one millisecond: the greatest object id."
    pub fn cache_at(&self, node: &str, key: &str, at: i64) -> Option<Fill> {
        let fills: Vec<&CacheEvent> = self
            .cache
            .iter()
            .filter(|e| e.node == node && e.key == key && e.op == CacheOp::Fill && e.ts <= at)
            .collect();
        let fill_ts = fills.iter().map(|e| e.ts).max()?;
        let removed_later = self.cache.iter().any(|e| {
            e.node == node
                && e.ts > fill_ts
                && e.ts <= at
                && match e.op {
                    CacheOp::Fill => false,
                    CacheOp::Evict => e.key == key,
                    CacheOp::Purge => e.key == key || e.key == "*",
                }
        });
        if removed_later {
            return None;
        }
        let winner = fills
            .iter()
            .filter(|e| e.ts == fill_ts)
            .max_by(|a, b| a.object_id.cmp(&b.object_id))?;
        Some(Fill {
            ts: winner.ts,
            object_id: winner.object_id.clone(),
            origin_stream_id: winner
                .origin_stream_id
                .clone()
                .expect("fills name their origin"),
            captured_at: winner.captured_at,
        })
    }

    /// "A snapshot at T shows the state at T; a stream it does not list as owned had no owner
    /// then; a snapshot listing two owners of a stream is not read for it." What each readable
    /// snapshot shows of `stream`, in time order.
    fn snapshot_owners(&self, stream: &str) -> Vec<(i64, Option<String>)> {
        let times: BTreeSet<i64> = self.ownership.iter().map(|e| e.ts).collect();
        times
            .into_iter()
            .filter_map(|g| {
                let listed: BTreeSet<&str> = self
                    .ownership
                    .iter()
                    .filter(|e| e.ts == g && e.stream_id == stream && e.event == OwnOp::Bind)
                    .map(|e| e.account_id.as_str())
                    .collect();
                match listed.len() {
                    0 => Some((g, None)),
                    1 => Some((g, listed.first().map(|a| a.to_string()))),
                    _ => None,
                }
            })
            .collect()
    }

    /// The owner at L from snapshots: what the latest readable snapshot at or before L shows;
    /// in the early world, where L lies strictly between two readable snapshots showing
    /// different owners, the later one's.
    fn snapshot_owner(&self, stream: &str, at: i64, world: World) -> Option<String> {
        snapshot_state(&self.snapshot_owners(stream), at, world).flatten()
    }

    /// "A (stream, account) a snapshot does not list as shared held no grant then." Whether it
    /// held one at L, read as the owner is.
    fn snapshot_granted(&self, stream: &str, account: &str, at: i64, world: World) -> bool {
        let times: BTreeSet<i64> = self.ownership.iter().map(|e| e.ts).collect();
        let shown: Vec<(i64, bool)> = times
            .into_iter()
            .map(|g| {
                let listed = self.ownership.iter().any(|e| {
                    e.ts == g
                        && e.stream_id == stream
                        && e.account_id == account
                        && e.event == OwnOp::Grant
                });
                (g, listed)
            })
            .collect();
        snapshot_state(&shown, at, world).unwrap_or(false)
    }

    /// The delivery evaluated at shift d: `Ok(authorized)` or the first thing not found.
    pub fn evaluate(&self, del: &Delivery, d: i64) -> Result<bool, Missing> {
        self.evaluate_in(del, d, World::Placed)
    }

    /// [`Dataset::evaluate`] with the owners of `world`.
    pub fn evaluate_in(&self, del: &Delivery, d: i64, world: World) -> Result<bool, Missing> {
        let t = del.ts;
        // 1. recipient = the account of s at t+d
        let recipient = self
            .recipient(&del.session_id, t + d)
            .ok_or(Missing::NoSession)?;
        // 2. content
        let (origin, capture) = match &del.origin_stream_id {
            Some(origin) => (origin.clone(), del.captured_at.unwrap_or(t)),
            None => {
                let fill = self
                    .cache_at(&del.cache_node, &del.cache_key, t + d)
                    .ok_or(Missing::NoContent)?;
                let capture = fill.captured_at.unwrap_or(fill.ts);
                (fill.origin_stream_id, capture)
            }
        };
        // 3. subject = the owner of the origin stream at capture time + d
        let subject = match self.snapshots {
            true => self.snapshot_owner(&origin, capture + d, world),
            false => self.owner(&origin, capture + d),
        }
        .ok_or(Missing::NoOwner)?;
        // 4. authorized = recipient == subject, or the recipient holds a grant at t+d
        let granted = match self.snapshots {
            true => self.snapshot_granted(&origin, &recipient, t + d, world),
            false => self.granted(&origin, &recipient, t + d),
        };
        Ok(recipient == subject || granted)
    }

    /// The class in the placed world; from snapshots, `ambiguous` where the early world gives
    /// another class, unless the placed one is ambiguous already or neither is resolved.
    pub fn classify(&self, del: &Delivery) -> RefVerdict {
        let placed = self.classify_in(del, World::Placed);
        if !self.snapshots {
            return placed;
        }
        let early = self.classify_in(del, World::Early);
        let unresolved = |v: &RefVerdict| v.class == Class::Unresolved;
        if placed.class == Class::Ambiguous
            || placed.class == early.class
            || (unresolved(&placed) && unresolved(&early))
        {
            return placed;
        }
        RefVerdict {
            class: Class::Ambiguous,
            missing: None,
        }
    }

    /// The class with the owners of `world` only.
    pub fn classify_in(&self, del: &Delivery, world: World) -> RefVerdict {
        let at0 = match self.evaluate_in(del, 0, world) {
            Err(m) => {
                return RefVerdict {
                    class: Class::Unresolved,
                    missing: Some(m),
                }
            }
            Ok(a) => a,
        };
        let tol = self.tolerance_ms;
        let flips = [-tol, tol]
            .iter()
            .any(|&d| self.evaluate_in(del, d, world) == Ok(!at0));
        let class = if flips {
            Class::Ambiguous
        } else if at0 {
            Class::Ok
        } else {
            Class::Leak
        };
        RefVerdict {
            class,
            missing: None,
        }
    }

    /// Every delivery's verdict, by request_id.
    pub fn verdicts(&self) -> BTreeMap<String, RefVerdict> {
        self.deliveries
            .iter()
            .map(|d| (d.request_id.clone(), self.classify(d)))
            .collect()
    }
}

/// What readable snapshots `shown` (time, state; in time order) say at L: the state of the
/// latest at or before L (`None` before the first); in the early world, where L lies strictly
/// between two that differ, the later one's.
fn snapshot_state<T: Clone + PartialEq>(shown: &[(i64, T)], at: i64, world: World) -> Option<T> {
    let before = shown.iter().rev().find(|(g, _)| *g <= at);
    let after = shown.iter().find(|(g, _)| *g > at);
    match (world, before, after) {
        (World::Early, Some((g, was)), Some((_, next))) if *g < at && was != next => {
            Some(next.clone())
        }
        (_, Some((_, was)), _) => Some(was.clone()),
        (_, None, _) => None,
    }
}

// ---------------------------------------------------------------------------------------------

/// The instant case times count from, `T+0` in tests/cases: 2019-12-26T00:00:00Z.
pub const BASE: i64 = 1_577_318_400_000;

impl Dataset {
    /// No events, the contract's default tolerance (2 s) and session TTL (24 h).
    pub fn new() -> Dataset {
        Dataset {
            deliveries: Vec::new(),
            cache: Vec::new(),
            sessions: Vec::new(),
            ownership: Vec::new(),
            tolerance_ms: 2_000,
            session_ttl_ms: 24 * 3_600_000,
            snapshots: false,
        }
    }
}
