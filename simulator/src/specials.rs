//! The planned boundary cases: deliveries placed on purpose within the tolerance of a session,
//! grant, ownership or cache boundary (or missing a session, content or owner), each checked
//! against the evaluator before it is kept.

use rand::seq::SliceRandom;
use rand::Rng;

use super::plan::{ctrl, hit_time, Planner};
use super::timefmt::{tick_ms, FILL, TICKS};
use super::truth::{Fill, ObjId};
use super::world::*;

/// What a planned boundary case is meant to be; checked against the evaluator before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpecialKind {
    /// 1 s after the session re-authenticated as another account.
    AmbiguousReauth,
    /// 1 s after a grant.
    AmbiguousGrant,
    /// 1 s before a revoke.
    AmbiguousRevoke,
    /// Captured 1 s after a camera was transferred to the recipient.
    AmbiguousCapture,
    /// 1 s after the session started: the earlier look-up finds no session, which does not count.
    OkAfterStart,
    /// Captured 1 s after a rebind that followed an ownerless gap: the earlier look-up finds no owner.
    OkAfterGap,
    /// 1 s before the session's TTL runs out.
    OkBeforeTtl,
    /// 1 s after the TTL ran out.
    NoSessionAfterTtl,
    /// On a session that was never logged.
    NoSessionOrphan,
    /// A hit on a key that was never filled.
    NoContent,
    /// Content of a stream that was never bound.
    NoOwner,
    /// On a session after its logged end.
    NoSessionAfterEnd,
    /// A camera sold to someone else, viewed by the old owner's grantee: a grant outlives a change of owner.
    OkGrantSurvivesResale,
    /// A hit 1 s after the key was refilled with another home's still (the earlier look-up finds the recipient's own).
    AmbiguousRefill,
    /// A hit 1 s after the key's first fill: the earlier look-up finds no content, which does not count.
    LeakAfterFirstFill,
    /// A hit 3 s after a refill on the cache node whose clock runs fast: only right after correction is it a plain leak.
    LeakCacheClockSkew,
    /// 2.5 s after a re-auth, logged by the stream server whose clock runs slow: only right after correction is it plain ok.
    OkServerClockSkew,
    /// The grantee's app keeps showing a camera after the share was revoked.
    LeakAfterRevoke,
    /// The new owner of a resold camera opens a clip recorded in the previous owner's home.
    LeakResaleClip,
    /// After someone else signs in on a shared tablet, it still shows the first account's camera.
    LeakStaleAfterReauth,
    /// A hit 1 s after the key was purged: the purge emptied it.
    NoContentAfterPurge,
}

impl SpecialKind {
    pub const ALL: [SpecialKind; 21] = [
        SpecialKind::AmbiguousReauth,
        SpecialKind::AmbiguousGrant,
        SpecialKind::AmbiguousRevoke,
        SpecialKind::AmbiguousCapture,
        SpecialKind::OkAfterStart,
        SpecialKind::OkAfterGap,
        SpecialKind::OkBeforeTtl,
        SpecialKind::NoSessionAfterTtl,
        SpecialKind::NoSessionOrphan,
        SpecialKind::NoContent,
        SpecialKind::NoOwner,
        SpecialKind::NoSessionAfterEnd,
        SpecialKind::OkGrantSurvivesResale,
        SpecialKind::AmbiguousRefill,
        SpecialKind::LeakAfterFirstFill,
        SpecialKind::LeakCacheClockSkew,
        SpecialKind::OkServerClockSkew,
        SpecialKind::LeakAfterRevoke,
        SpecialKind::LeakResaleClip,
        SpecialKind::LeakStaleAfterReauth,
        SpecialKind::NoContentAfterPurge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SpecialKind::AmbiguousReauth => "ambiguous_reauth",
            SpecialKind::AmbiguousGrant => "ambiguous_grant",
            SpecialKind::AmbiguousRevoke => "ambiguous_revoke",
            SpecialKind::AmbiguousCapture => "ambiguous_capture",
            SpecialKind::OkAfterStart => "ok_after_start",
            SpecialKind::OkAfterGap => "ok_after_gap",
            SpecialKind::OkBeforeTtl => "ok_before_ttl",
            SpecialKind::NoSessionAfterTtl => "no_session_after_ttl",
            SpecialKind::NoSessionOrphan => "no_session_orphan",
            SpecialKind::NoContent => "no_content",
            SpecialKind::NoOwner => "no_owner",
            SpecialKind::NoSessionAfterEnd => "no_session_after_end",
            SpecialKind::OkGrantSurvivesResale => "ok_grant_survives_resale",
            SpecialKind::AmbiguousRefill => "ambiguous_refill",
            SpecialKind::LeakAfterFirstFill => "leak_after_first_fill",
            SpecialKind::LeakCacheClockSkew => "leak_cache_clock_skew",
            SpecialKind::OkServerClockSkew => "ok_server_clock_skew",
            SpecialKind::LeakAfterRevoke => "leak_after_revoke",
            SpecialKind::LeakResaleClip => "leak_resale_clip",
            SpecialKind::LeakStaleAfterReauth => "leak_stale_after_reauth",
            SpecialKind::NoContentAfterPurge => "no_content_after_purge",
        }
    }
}

/// What a boundary case was built on, for one look-up of its verdict: the log row the verdict must
/// cite in `role` (`session_start`, `session_end`, `content`, `owner`, `grant`, or `flip` for a
/// row within the tolerance that flips it), or `None` where the case is built on there being
/// no such row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    pub role: &'static str,
    pub row: Option<PlantedRow>,
}

/// A log row as the world holds it, at its true time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlantedRow {
    Session {
        session: u32,
        ts: i64,
        start: bool,
    },
    /// `ts`: `None` where the case does not fix which of the camera's binds it is.
    Owner {
        cam: u32,
        account: u32,
        ts: Option<i64>,
        bind: bool,
    },
    Grant {
        cam: u32,
        account: u32,
        ts: i64,
        grant: bool,
    },
    Fill {
        node: u16,
        key: String,
        ts: i64,
    },
    /// A purge of one key.
    Purge {
        node: u16,
        key: String,
        ts: i64,
    },
}

fn planted(role: &'static str, row: PlantedRow) -> Planted {
    Planted {
        role,
        row: Some(row),
    }
}

fn absent(role: &'static str) -> Planted {
    Planted { role, row: None }
}

/// One planned boundary-case delivery. Its content is named by the row unless `origin` is `None`;
/// then it is what `fills` (planned cache fills of `key` on `node`, in time order) left there.
#[derive(Debug, Clone)]
pub struct Special {
    pub kind: SpecialKind,
    pub ts: i64,
    pub session: u32,
    pub node: u16,
    pub requested: u32,
    pub origin: Option<u32>,
    pub captured: Option<i64>,
    pub key: String,
    pub fills: Vec<Fill>,
    /// A purge of `key` on `node` at this time, after the fills.
    pub purge: Option<i64>,
    /// The rows its verdict turns on (none for the `ok` cases, which are not cited).
    pub why: Vec<Planted>,
}

impl Planner {
    /// Session `s` starts again as account `b` at `rts` (tick `r`): its latest activation ends
    /// at `r` and `b` is active for the next 30 ticks.
    fn reauthenticate(&mut self, s: u32, b: u32, r: i64, rts: i64) {
        self.w.sessions[s as usize].events.push(SessEvent {
            ts: rts,
            start: Some(b),
        });
        let act = self.w.activations.len() - 1;
        self.w.activations[act].to = r;
        self.w.activations.push(Activation {
            session: s,
            account: b,
            from: r,
            to: r + 30,
        });
    }

    pub(super) fn dedicated(&mut self, account: u32, from: i64, to: i64, open: bool) -> (u32, i64) {
        self.dedicated_on(account, from, to, open, None)
    }

    pub(super) fn dedicated_on(
        &mut self,
        account: u32,
        from: i64,
        to: i64,
        open: bool,
        node: Option<u16>,
    ) -> (u32, i64) {
        let start = ctrl(&mut self.rng, from);
        let mut events = vec![SessEvent {
            ts: start,
            start: Some(account),
        }];
        if !open {
            events.push(SessEvent {
                ts: ctrl(&mut self.rng, to),
                start: None,
            });
        }
        let node = match node {
            Some(n) => n,
            None => self.node_for(account),
        };
        let client = *["ios", "android"].choose(&mut self.rng).unwrap_or(&"ios");
        let s = Session {
            events,
            client,
            integration: None,
            poor: false,
            node,
            dedicated: true,
            logs_in: false,
        };
        let id = self.push_session(s, &[(from, to, account)]);
        (id, start)
    }

    pub(super) fn special(
        &mut self,
        kind: SpecialKind,
        ts: i64,
        session: u32,
        requested: u32,
        origin: Option<u32>,
        captured: Option<i64>,
    ) {
        let node = match self.w.sessions.get(session as usize) {
            Some(s) => s.node,
            None => 0,
        };
        let key = match origin {
            Some(c) => format!("clip/{}", cam_name(c)),
            None => format!("still/{}/uhq", cam_name(requested)),
        };
        self.w.specials.push(Special {
            kind,
            ts,
            session,
            node,
            requested,
            origin,
            captured,
            key,
            fills: Vec::new(),
            purge: None,
            why: Vec::new(),
        });
    }

    /// Records why the special planned last comes out as it does.
    fn why(&mut self, why: Vec<Planted>) {
        if let Some(sp) = self.w.specials.last_mut() {
            sp.why = why;
        }
    }

    /// A fill planned for a boundary case, on a key ordinary traffic never uses.
    pub(super) fn special_fill(&mut self, ts: i64, cam: u32) -> Fill {
        let n = self.special_objects;
        self.special_objects += 1;
        Fill {
            ts,
            cam,
            captured: Some(ts - self.rng.gen_range(300..1500)),
            obj: ObjId::Img(n),
        }
    }

    /// A tick for a cache boundary case whose fills cannot straddle the mitigation's purge.
    pub(super) fn cache_tick(&mut self) -> i64 {
        let m = self.w.scenario.incident().mitigation;
        loop {
            let k = self.mid_tick();
            if k + 5 < m || k - 10 > m {
                return k;
            }
        }
    }

    pub(super) fn node_named(&self, name: &str, server: bool) -> u16 {
        self.w
            .nodes
            .iter()
            .position(|n| {
                if server {
                    n.server == name
                } else {
                    n.name == name
                }
            })
            .unwrap_or(0) as u16
    }

    /// A hit on `key` of `node` at `ts` whose content is what `fills` left.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn cache_special(
        &mut self,
        kind: SpecialKind,
        ts: i64,
        session: u32,
        node: u16,
        requested: u32,
        fills: Vec<Fill>,
    ) {
        let key = format!("still/{}/x{}", cam_name(requested), self.w.specials.len());
        self.w.specials.push(Special {
            kind,
            ts,
            session,
            node,
            requested,
            origin: None,
            captured: None,
            key,
            fills,
            purge: None,
            why: Vec::new(),
        });
    }

    pub(super) fn mid_tick(&mut self) -> i64 {
        self.rng.gen_range(100..TICKS - 100)
    }

    pub(super) fn specials(&mut self, per_kind: usize) {
        let mut orphan = 0u32;
        for kind in SpecialKind::ALL {
            for _ in 0..per_kind {
                match kind {
                    SpecialKind::AmbiguousReauth | SpecialKind::LeakStaleAfterReauth => {
                        let a = self.random_account();
                        let b = self.other_account(a);
                        let t0 = self.mid_tick();
                        let r = t0 + 20;
                        let (s, _) = self.dedicated(a, t0, r + 30, false);
                        let rts = ctrl(&mut self.rng, r);
                        // Ordinary traffic: account a before the re-auth, b after.
                        self.reauthenticate(s, b, r, rts);
                        let reauth = PlantedRow::Session {
                            session: s,
                            ts: rts,
                            start: true,
                        };
                        if kind == SpecialKind::AmbiguousReauth {
                            let cam = self.w.accounts[b as usize].primary;
                            let cap = hit_time(&mut self.rng, r - 3);
                            self.special(kind, rts + 1000, s, cam, Some(cam), Some(cap));
                            self.why(vec![
                                planted("session_start", reauth.clone()),
                                planted("flip", reauth),
                            ]);
                        } else {
                            let cam = self.w.accounts[a as usize].primary;
                            let ts = hit_time(&mut self.rng, r + 5);
                            let cap = ts - self.rng.gen_range(500..2500);
                            self.special(kind, ts, s, cam, Some(cam), Some(cap));
                            self.why(vec![planted("session_start", reauth)]);
                        }
                    }
                    SpecialKind::LeakAfterRevoke => {
                        let owner = self.random_account();
                        let grantee = self.other_account(owner);
                        let cam = self.w.accounts[owner as usize].primary;
                        let g = self.mid_tick();
                        let granted = ctrl(&mut self.rng, g - 300);
                        let revoked = ctrl(&mut self.rng, g);
                        let events = vec![(granted, true), (revoked, false)];
                        if !self.add_grant(cam, grantee, events, Some(g + 40)) {
                            continue;
                        }
                        let (s, _) = self.dedicated(grantee, g + 5, g + 30, false);
                        let ts = hit_time(&mut self.rng, g + 10);
                        let cap = ts - self.rng.gen_range(500..2500);
                        self.special(kind, ts, s, cam, Some(cam), Some(cap));
                        self.why(vec![planted(
                            "grant",
                            PlantedRow::Grant {
                                cam,
                                account: grantee,
                                ts: revoked,
                                grant: false,
                            },
                        )]);
                    }
                    SpecialKind::LeakResaleClip => {
                        let Some((from, cam)) = self.sellable_cam() else {
                            continue;
                        };
                        let to = self.other_account(from);
                        let tick = self.rng.gen_range(300..TICKS - 200);
                        self.sell(cam, from, to, tick, tick + 15);
                        let (s, _) = self.dedicated(to, tick + 20, tick + 45, false);
                        let ts = hit_time(&mut self.rng, tick + 25);
                        let before = tick - self.rng.gen_range(30..280);
                        let cap = hit_time(&mut self.rng, before);
                        self.special(kind, ts, s, cam, Some(cam), Some(cap));
                        // Captured before the sale: the seller's bind, whenever it was.
                        self.why(vec![planted(
                            "owner",
                            PlantedRow::Owner {
                                cam,
                                account: from,
                                ts: None,
                                bind: true,
                            },
                        )]);
                    }
                    SpecialKind::AmbiguousGrant | SpecialKind::AmbiguousRevoke => {
                        let owner = self.random_account();
                        let grantee = self.other_account(owner);
                        let cam = self.w.accounts[owner as usize].primary;
                        let g = self.mid_tick();
                        let t = ctrl(&mut self.rng, g);
                        let events = if kind == SpecialKind::AmbiguousGrant {
                            vec![(t, true)]
                        } else {
                            vec![(ctrl(&mut self.rng, g - 90), true), (t, false)]
                        };
                        if !self.add_grant(cam, grantee, events, None) {
                            continue;
                        }
                        let (s, _) = self.dedicated(grantee, g - 15, g + 15, false);
                        let cap = hit_time(&mut self.rng, g - 2);
                        let ts = if kind == SpecialKind::AmbiguousGrant {
                            t + 1000
                        } else {
                            t - 1000
                        };
                        self.special(kind, ts, s, cam, Some(cam), Some(cap));
                        let change = PlantedRow::Grant {
                            cam,
                            account: grantee,
                            ts: t,
                            grant: kind == SpecialKind::AmbiguousGrant,
                        };
                        // A grant just before t is the one in force; a revoke just after is not.
                        let why = match kind == SpecialKind::AmbiguousGrant {
                            true => vec![planted("grant", change.clone()), planted("flip", change)],
                            false => vec![planted("flip", change)],
                        };
                        self.why(why);
                    }
                    SpecialKind::AmbiguousCapture | SpecialKind::OkAfterGap => {
                        let Some((from, cam)) = self.sellable_cam() else {
                            continue;
                        };
                        let to = self.other_account(from);
                        let tick = self.rng.gen_range(100..TICKS - 200);
                        let bind_tick = if kind == SpecialKind::AmbiguousCapture {
                            tick
                        } else {
                            tick + 20
                        };
                        let (_, bind_ts) = self.sell(cam, from, to, tick, bind_tick);
                        let (s, _) = self.dedicated(to, bind_tick + 5, bind_tick + 30, false);
                        let ts = hit_time(&mut self.rng, bind_tick + 10);
                        self.special(kind, ts, s, cam, Some(cam), Some(bind_ts + 1000));
                        if kind == SpecialKind::AmbiguousCapture {
                            let bind = PlantedRow::Owner {
                                cam,
                                account: to,
                                ts: Some(bind_ts),
                                bind: true,
                            };
                            self.why(vec![planted("owner", bind.clone()), planted("flip", bind)]);
                        }
                    }
                    SpecialKind::OkAfterStart => {
                        let a = self.random_account();
                        let t0 = self.mid_tick();
                        let (s, start) = self.dedicated(a, t0, t0 + 20, false);
                        let cam = self.w.accounts[a as usize].primary;
                        let cap = hit_time(&mut self.rng, t0 - 2);
                        self.special(kind, start + 1000, s, cam, Some(cam), Some(cap));
                    }
                    SpecialKind::OkBeforeTtl | SpecialKind::NoSessionAfterTtl => {
                        let a = self.random_account();
                        let t0 = self.rng.gen_range(100..TICKS - 1600);
                        let (s, start) = self.dedicated(a, t0, t0 + 1438, true);
                        let cam = self.w.accounts[a as usize].primary;
                        let cap = hit_time(&mut self.rng, t0 + 1430);
                        let ttl = self.w.ttl_ms;
                        let ts = if kind == SpecialKind::OkBeforeTtl {
                            start + ttl - 1000
                        } else {
                            start + ttl + 1000
                        };
                        self.special(kind, ts, s, cam, Some(cam), Some(cap));
                        if kind == SpecialKind::NoSessionAfterTtl {
                            // Never ended: the TTL closed the window, which no row states.
                            self.why(vec![
                                planted(
                                    "session_start",
                                    PlantedRow::Session {
                                        session: s,
                                        ts: start,
                                        start: true,
                                    },
                                ),
                                absent("session_end"),
                            ]);
                        }
                    }
                    SpecialKind::NoSessionOrphan => {
                        let a = self.random_account();
                        let t0 = self.mid_tick();
                        let cam = self.w.accounts[a as usize].primary;
                        let ts = hit_time(&mut self.rng, t0);
                        let cap = ts - self.rng.gen_range(500..2500);
                        // Never logged: ids past every planned session (the planner stops adding sessions after this).
                        self.special(kind, ts, u32::MAX - orphan, cam, Some(cam), Some(cap));
                        self.why(vec![absent("session_start")]);
                        orphan += 1;
                        let node = self.node_for(a);
                        if let Some(sp) = self.w.specials.last_mut() {
                            sp.node = node;
                        }
                    }
                    SpecialKind::NoContent | SpecialKind::NoOwner => {
                        let a = self.random_account();
                        let t0 = self.mid_tick();
                        let (s, _) = self.dedicated(a, t0, t0 + 20, false);
                        let ts = hit_time(&mut self.rng, t0 + 5);
                        if kind == SpecialKind::NoContent {
                            let cam = self.w.accounts[a as usize].primary;
                            self.special(kind, ts, s, cam, None, None);
                            self.why(vec![absent("content")]);
                        } else {
                            let cam = PHANTOM_CAM_BASE + self.rng.gen_range(0..99_999);
                            let cap = ts - self.rng.gen_range(500..2500);
                            self.special(kind, ts, s, cam, Some(cam), Some(cap));
                            self.why(vec![absent("owner")]);
                        }
                    }
                    SpecialKind::NoSessionAfterEnd => {
                        let a = self.random_account();
                        let t0 = self.mid_tick();
                        let (s, start) = self.dedicated(a, t0, t0 + 20, false);
                        let cam = self.w.accounts[a as usize].primary;
                        let ts = hit_time(&mut self.rng, t0 + 25);
                        let cap = ts - self.rng.gen_range(500..2500);
                        self.special(kind, ts, s, cam, Some(cam), Some(cap));
                        let session = |ts, start| PlantedRow::Session {
                            session: s,
                            ts,
                            start,
                        };
                        let ended = self.w.sessions[s as usize]
                            .events
                            .iter()
                            .find(|e| e.start.is_none())
                            .map(|e| e.ts);
                        if let Some(end) = ended {
                            self.why(vec![
                                planted("session_start", session(start, true)),
                                planted("session_end", session(end, false)),
                            ]);
                        }
                    }
                    SpecialKind::OkGrantSurvivesResale => {
                        let Some((from, cam)) = self.sellable_cam() else {
                            continue;
                        };
                        let grantee = self.other_account(from);
                        let to = self.other_account(from);
                        if to == grantee {
                            continue;
                        }
                        let g = -self.rng.gen_range(100..5000);
                        let gts = ctrl(&mut self.rng, g);
                        if !self.add_grant(cam, grantee, vec![(gts, true)], None) {
                            continue;
                        }
                        let tick = self.rng.gen_range(100..TICKS - 200);
                        self.sell(cam, from, to, tick, tick);
                        let (s, _) = self.dedicated(grantee, tick + 5, tick + 30, false);
                        let ts = hit_time(&mut self.rng, tick + 10);
                        let cap = ts - self.rng.gen_range(500..2500);
                        self.special(kind, ts, s, cam, Some(cam), Some(cap));
                    }
                    SpecialKind::AmbiguousRefill
                    | SpecialKind::LeakAfterFirstFill
                    | SpecialKind::LeakCacheClockSkew => {
                        let fast = self.node_named(FAST_NODE.0, false);
                        let r = if kind == SpecialKind::LeakCacheClockSkew {
                            let us = self.w.nodes[fast as usize].country as usize;
                            let pool = &self.by_country[us];
                            pool[self.rng.gen_range(0..pool.len())]
                        } else {
                            self.random_account()
                        };
                        let x = self.other_account(r);
                        let k = self.cache_tick();
                        let node = (kind == SpecialKind::LeakCacheClockSkew).then_some(fast);
                        let (s, _) = self.dedicated_on(r, k - 10, k + 10, false, node);
                        let node = self.w.sessions[s as usize].node;
                        let own = self.w.accounts[r as usize].primary;
                        let other = self.w.accounts[x as usize].primary;
                        let mut fills = Vec::new();
                        if kind != SpecialKind::LeakAfterFirstFill {
                            let t1 = tick_ms(k - 3) + self.rng.gen_range(FILL.0..FILL.1);
                            fills.push(self.special_fill(t1, own));
                        }
                        let t2 = tick_ms(k) + self.rng.gen_range(FILL.0..FILL.1);
                        fills.push(self.special_fill(t2, other));
                        let after = if kind == SpecialKind::LeakCacheClockSkew {
                            3000
                        } else {
                            1000
                        };
                        self.cache_special(kind, t2 + after, s, node, own, fills);
                        let key = self
                            .w
                            .specials
                            .last()
                            .map(|sp| sp.key.clone())
                            .unwrap_or_default();
                        let refill = PlantedRow::Fill { node, key, ts: t2 };
                        let why = match kind == SpecialKind::AmbiguousRefill {
                            true => {
                                vec![planted("content", refill.clone()), planted("flip", refill)]
                            }
                            false => vec![planted("content", refill)],
                        };
                        self.why(why);
                    }
                    SpecialKind::NoContentAfterPurge => {
                        let a = self.random_account();
                        let k = self.cache_tick();
                        let (s, _) = self.dedicated(a, k - 10, k + 10, false);
                        let node = self.w.sessions[s as usize].node;
                        let own = self.w.accounts[a as usize].primary;
                        let t1 = tick_ms(k - 3) + self.rng.gen_range(FILL.0..FILL.1);
                        let fills = vec![self.special_fill(t1, own)];
                        let purged = tick_ms(k) + self.rng.gen_range(FILL.0..FILL.1);
                        self.cache_special(kind, purged + 1000, s, node, own, fills);
                        let key = match self.w.specials.last_mut() {
                            Some(sp) => {
                                sp.purge = Some(purged);
                                sp.key.clone()
                            }
                            None => continue,
                        };
                        let ts = purged;
                        self.why(vec![planted(
                            "content",
                            PlantedRow::Purge { node, key, ts },
                        )]);
                    }
                    SpecialKind::OkServerClockSkew => {
                        let slow = self.node_named(SLOW_SERVER.0, true);
                        let cn = self.w.nodes[slow as usize].country as usize;
                        let pool = &self.by_country[cn];
                        if pool.is_empty() {
                            continue;
                        }
                        let a = pool[self.rng.gen_range(0..pool.len())];
                        let b = self.other_account(a);
                        let t0 = self.mid_tick();
                        let r = t0 + 20;
                        let (s, _) = self.dedicated_on(a, t0, r + 30, false, Some(slow));
                        let rts = ctrl(&mut self.rng, r);
                        self.reauthenticate(s, b, r, rts);
                        let cam = self.w.accounts[b as usize].primary;
                        let cap = hit_time(&mut self.rng, r - 3);
                        self.special(kind, rts + 2500, s, cam, Some(cam), Some(cap));
                    }
                }
            }
        }
    }
}
