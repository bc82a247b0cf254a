//! Planning the world: accounts and their cameras, resales, shared access, sessions (and the
//! outage that cuts them), the change log, and the finishing pass that indexes it all.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::mechanism::Mechanism;
use super::scenario::Scenario;
use super::shape::Shape;
use super::timefmt::{tick_ms, CONTROL, HIT, LOGIN, TICKS};
use super::world::*;

pub(super) fn ctrl(rng: &mut ChaCha8Rng, tick: i64) -> i64 {
    tick_ms(tick) + rng.gen_range(CONTROL.0..CONTROL.1)
}

pub(super) fn hit_time(rng: &mut ChaCha8Rng, tick: i64) -> i64 {
    tick_ms(tick) + rng.gen_range(HIT.0..HIT.1)
}

pub(super) struct Planner {
    pub(super) rng: ChaCha8Rng,
    pub(super) w: World,
    /// Per account: the cameras bound to it at the start.
    pub(super) owned: Vec<Vec<u32>>,
    pub(super) by_country: Vec<Vec<u32>>,
    /// 1: has grants, 2: changes hands.
    pub(super) cam_busy: Vec<u8>,
    pub(super) special_objects: u64,
}

/// Plans a world for `deliveries` deliveries. Deterministic in its arguments.
pub(super) fn plan(
    scenario: Scenario,
    mechanism: Mechanism,
    rng: ChaCha8Rng,
    deliveries: u64,
    shape: Shape,
) -> World {
    let mut p = Planner {
        rng,
        w: World {
            scenario,
            mechanism,
            ttl_ms: DEFAULT_TTL_MS,
            tolerance_ms: DEFAULT_TOLERANCE_MS,
            accounts: Vec::new(),
            cams: Vec::new(),
            grants: Vec::new(),
            grant_index: HashMap::new(),
            sessions: Vec::new(),
            nodes: Vec::new(),
            country_nodes: Vec::new(),
            vis: Vec::new(),
            activations: Vec::new(),
            resales: Vec::new(),
            changes: Vec::new(),
            specials: Vec::new(),
            specials_dropped: 0,
        },
        owned: Vec::new(),
        by_country: vec![Vec::new(); COUNTRIES.len()],
        cam_busy: Vec::new(),
        special_objects: SPECIAL_OBJECTS,
    };
    let n_accounts =
        (deliveries / shape.deliveries_per_account()).clamp(60, shape.max_accounts()) as u32;
    p.accounts_and_cams(n_accounts);
    p.nodes();
    p.resales((p.w.cams.len() / 250).max(2));
    p.grants(((n_accounts as usize) * 8 / 100).max(3));
    p.sessions();
    if scenario == Scenario::SessionMixup {
        p.outage_split();
    }
    let per_kind = (deliveries / 4000).clamp(1, 150) as usize;
    p.specials(per_kind);
    p.changes();
    p.finish()
}

impl Planner {
    pub(super) fn pick_country(&mut self) -> u8 {
        let total: u32 = COUNTRIES.iter().map(|c| c.1).sum();
        let mut x = self.rng.gen_range(0..total);
        for (i, c) in COUNTRIES.iter().enumerate() {
            if x < c.1 {
                return i as u8;
            }
            x -= c.1;
        }
        0
    }

    pub(super) fn new_cam(&mut self) -> u32 {
        self.w.cams.push(Cam::default());
        self.cam_busy.push(0);
        (self.w.cams.len() - 1) as u32
    }

    pub(super) fn accounts_and_cams(&mut self, n: u32) {
        // A few accounts make each story happen even in small worlds: neighbours on one poor US
        // network (cache-key-collision), a German household (auth-page-cache).
        let forced = match self.w.scenario {
            Scenario::CacheKeyCollision => Some("US"),
            Scenario::AuthPageCache => Some(self.w.mechanism.regions[0]),
            Scenario::SessionMixup => None,
        };
        for a in 0..n {
            let country = match forced {
                Some(cc) if a < FORCED_ACCOUNTS => {
                    COUNTRIES.iter().position(|c| c.0 == cc).unwrap_or(0) as u8
                }
                _ => self.pick_country(),
            };
            let n_cams =
                1 + (self.rng.gen::<f64>() < 0.35) as u32 + (self.rng.gen::<f64>() < 0.12) as u32;
            let mut cams = Vec::new();
            for _ in 0..n_cams {
                let c = self.new_cam();
                let bind_tick = -self.rng.gen_range(1440..86_400);
                let t = ctrl(&mut self.rng, bind_tick);
                self.w.cams[c as usize].events.push(OwnEvent {
                    ts: t,
                    account: a,
                    bind: true,
                });
                cams.push(c);
            }
            let plan = *["free", "free", "plus", "pro"]
                .choose(&mut self.rng)
                .unwrap_or(&"free");
            self.w.accounts.push(Account {
                country,
                primary: cams[0],
                plan,
            });
            self.owned.push(cams);
            self.by_country[country as usize].push(a);
        }
    }

    pub(super) fn nodes(&mut self) {
        for (ci, (cc, _)) in COUNTRIES.iter().enumerate() {
            let n = (1 + self.by_country[ci].len() / 4000).min(6);
            let mut ids = Vec::new();
            for i in 1..=n {
                let lc = cc.to_ascii_lowercase();
                self.w.nodes.push(Node {
                    name: format!("cache-{lc}-{i}"),
                    server: format!("stream-{lc}-{i}"),
                    country: ci as u8,
                });
                ids.push((self.w.nodes.len() - 1) as u16);
            }
            self.w.country_nodes.push(ids);
        }
    }

    pub(super) fn node_for(&mut self, account: u32) -> u16 {
        let c = self.w.accounts[account as usize].country as usize;
        let nodes = &self.w.country_nodes[c];
        nodes[self.rng.gen_range(0..nodes.len())]
    }

    pub(super) fn random_account(&mut self) -> u32 {
        self.rng.gen_range(0..self.w.accounts.len() as u32)
    }

    pub(super) fn other_account(&mut self, not: u32) -> u32 {
        loop {
            let a = self.random_account();
            if a != not {
                return a;
            }
        }
    }

    /// A sellable camera: not primary, no grants, not sold before.
    pub(super) fn sellable_cam(&mut self) -> Option<(u32, u32)> {
        for _ in 0..50 {
            let a = self.random_account();
            let cams = &self.owned[a as usize];
            if cams.len() < 2 {
                continue;
            }
            let c = cams[self.rng.gen_range(1..cams.len())];
            if self.cam_busy[c as usize] == 0 {
                return Some((a, c));
            }
        }
        None
    }

    /// Unbind at `tick` and bind to `to` at `bind_tick`, or a direct transfer when they are equal.
    pub(super) fn sell(
        &mut self,
        cam: u32,
        from: u32,
        to: u32,
        tick: i64,
        bind_tick: i64,
    ) -> (i64, i64) {
        self.cam_busy[cam as usize] = 2;
        let t1 = ctrl(&mut self.rng, tick);
        let ev = &mut self.w.cams[cam as usize].events;
        if bind_tick != tick {
            ev.push(OwnEvent {
                ts: t1,
                account: from,
                bind: false,
            });
        }
        let t2 = if bind_tick != tick {
            ctrl(&mut self.rng, bind_tick)
        } else {
            t1
        };
        self.w.cams[cam as usize].events.push(OwnEvent {
            ts: t2,
            account: to,
            bind: true,
        });
        self.w.resales.push(Resale {
            cam,
            from,
            to,
            tick,
        });
        (t1, t2)
    }

    pub(super) fn resales(&mut self, n: usize) {
        for _ in 0..n {
            let Some((from, cam)) = self.sellable_cam() else {
                break;
            };
            let to = self.other_account(from);
            let tick = self.rng.gen_range(TICKS / 8..TICKS * 3 / 4);
            let bind_tick = if self.rng.gen::<f64>() < 0.7 {
                tick + self.rng.gen_range(10..=120)
            } else {
                tick
            };
            self.sell(cam, from, to, tick, bind_tick);
        }
    }

    pub(super) fn add_grant(
        &mut self,
        cam: u32,
        grantee: u32,
        events: Vec<(i64, bool)>,
        stale_until: Option<i64>,
    ) -> bool {
        if self.w.grant_index.contains_key(&(cam, grantee)) || self.cam_busy[cam as usize] == 2 {
            return false;
        }
        self.cam_busy[cam as usize] = 1;
        self.w
            .grant_index
            .insert((cam, grantee), self.w.grants.len() as u32);
        self.w.grants.push(Grant {
            cam,
            grantee,
            events,
            stale_until,
        });
        true
    }

    /// Family members and friends sharing a camera; some shares are revoked, and some apps miss the revoke.
    pub(super) fn grants(&mut self, n: usize) {
        for _ in 0..n * 2 {
            if self.w.grants.len() >= n {
                break;
            }
            let owner = self.random_account();
            let cams = self.owned[owner as usize].clone();
            let cam = cams[self.rng.gen_range(0..cams.len())];
            if self.cam_busy[cam as usize] == 2 {
                continue;
            }
            let country = self.w.accounts[owner as usize].country as usize;
            let grantee = if self.rng.gen::<f64>() < 0.7 && self.by_country[country].len() > 1 {
                let pool = &self.by_country[country];
                pool[self.rng.gen_range(0..pool.len())]
            } else {
                self.random_account()
            };
            if grantee == owner {
                continue;
            }
            let g = if self.rng.gen::<f64>() < 0.6 {
                -self.rng.gen_range(10..20_000)
            } else {
                self.rng.gen_range(60..TICKS - 200)
            };
            let mut events = vec![(ctrl(&mut self.rng, g), true)];
            let mut stale = None;
            if self.rng.gen::<f64>() < 0.35 {
                let rv = g.max(0) + self.rng.gen_range(120..2000);
                if rv < TICKS - 10 {
                    events.push((ctrl(&mut self.rng, rv), false));
                    if self.rng.gen::<f64>() < 0.5 {
                        stale = Some(rv + self.rng.gen_range(30..400));
                    }
                }
            }
            self.add_grant(cam, grantee, events, stale);
        }
    }

    pub(super) fn push_session(&mut self, s: Session, acts: &[(i64, i64, u32)]) -> u32 {
        let id = self.w.sessions.len() as u32;
        self.w.sessions.push(s);
        for &(from, to, account) in acts {
            let (from, to) = (from.max(0), to.min(TICKS));
            if from < to {
                self.w.activations.push(Activation {
                    session: id,
                    account,
                    from,
                    to,
                });
            }
        }
        id
    }

    pub(super) fn network(&mut self, poor_share: f64) -> bool {
        self.rng.gen::<f64>() < poor_share
    }

    pub(super) fn sessions(&mut self) {
        let (hub_share, hub_poor) = self.w.scenario.hub_share();
        let n = self.w.accounts.len() as u32;
        for a in 0..n {
            // Always-on displays: Google Home hubs (the first two accounts always have one) and Echo Shows.
            let forced = a < FORCED_ACCOUNTS && self.w.scenario == Scenario::CacheKeyCollision;
            let hub = a < 2 || forced || self.rng.gen::<f64>() < hub_share;
            let echo = !hub && self.rng.gen::<f64>() < 0.05;
            if hub || echo {
                let poor = self.network(if hub { hub_poor } else { 0.2 }) || forced;
                let node = self.node_for(a);
                let mut events = Vec::new();
                let mut t = -self.rng.gen_range(1..700);
                while t < TICKS {
                    events.push(SessEvent {
                        ts: ctrl(&mut self.rng, t),
                        start: Some(a),
                    });
                    t += 720;
                }
                let s = Session {
                    events,
                    client: if hub { "nest_hub" } else { "echo_show" },
                    integration: Some(if hub { "google_home" } else { "alexa" }),
                    poor,
                    node,
                    dedicated: false,
                    logs_in: false,
                };
                self.push_session(s, &[(0, TICKS, a)]);
            }
            let n_app = 1 + self.rng.gen_range(0..4);
            for _ in 0..n_app {
                self.app_session(a, None);
            }
            let inc = self.w.scenario.incident();
            if self.w.scenario == Scenario::AuthPageCache
                && self
                    .w
                    .mechanism
                    .in_region(COUNTRIES[self.w.accounts[a as usize].country as usize].0)
                && self.rng.gen::<f64>() < 0.8
            {
                // The sale that caused the load spike: most of the region is online during it.
                let start = self.rng.gen_range(inc.start - 30..inc.start + 180);
                self.app_session(a, Some(start));
            }
        }
    }

    pub(super) fn app_session(&mut self, a: u32, start: Option<i64>) {
        let client = *["ios", "android", "web", "ios", "android"]
            .choose(&mut self.rng)
            .unwrap_or(&"ios");
        let poor = self.network(0.1);
        let node = self.node_for(a);
        let start = start.unwrap_or_else(|| self.rng.gen_range(-300..TICKS - 15));
        let dur = if self.rng.gen::<f64>() < 0.7 {
            self.rng.gen_range(10..150)
        } else {
            self.rng.gen_range(150..1200)
        };
        let ended = self.rng.gen::<f64>() < 0.88;
        // A session with no end is used for less than its TTL; the TTL closes it in the logs.
        let end = if ended {
            start + dur
        } else {
            (start + dur).min(start + 1438)
        };
        let mut events = vec![SessEvent {
            ts: tick_ms(start) + self.rng.gen_range(LOGIN.0..LOGIN.1),
            start: Some(a),
        }];
        let mut acts = Vec::new();
        if dur >= 40 && self.rng.gen::<f64>() < 0.03 {
            // A shared tablet: someone else signs in on the same session.
            let country = self.w.accounts[a as usize].country as usize;
            let pool = &self.by_country[country];
            let b = pool[self.rng.gen_range(0..pool.len())];
            if b != a {
                let r = start + dur / 2;
                events.push(SessEvent {
                    ts: ctrl(&mut self.rng, r),
                    start: Some(b),
                });
                acts.push((start, r, a));
                acts.push((r, end, b));
            } else {
                acts.push((start, end, a));
            }
        } else {
            acts.push((start, end, a));
        }
        if ended {
            events.push(SessEvent {
                ts: ctrl(&mut self.rng, end),
                start: None,
            });
            if acts.len() == 1 && self.rng.gen::<f64>() < 0.05 {
                // The app comes back on the same session id later: a start after an end reopens it.
                let a2 = end + self.rng.gen_range(5..60);
                let b2 = a2 + self.rng.gen_range(10..200);
                events.push(SessEvent {
                    ts: ctrl(&mut self.rng, a2),
                    start: Some(a),
                });
                events.push(SessEvent {
                    ts: ctrl(&mut self.rng, b2),
                    start: None,
                });
                acts.push((a2, b2, a));
            }
        }
        let s = Session {
            events,
            client,
            integration: None,
            poor,
            node,
            dedicated: false,
            logs_in: true,
        };
        self.push_session(s, &acts);
    }

    /// The outage: every connected session drops at the outage tick and reconnects on a new session.
    pub(super) fn outage_split(&mut self) {
        let o = self.w.scenario.incident().start;
        let o_lo = tick_ms(o - 5);
        let o_hi = tick_ms(o + 11);
        let n_sessions = self.w.sessions.len();
        let mut acts_of: Vec<Vec<usize>> = vec![Vec::new(); n_sessions];
        for (i, a) in self.w.activations.iter().enumerate() {
            acts_of[a.session as usize].push(i);
        }
        let mut moved: Vec<(u32, u32)> = Vec::new();
        for s in 0..n_sessions as u32 {
            let sess = &self.w.sessions[s as usize];
            if sess.dedicated || sess.events.iter().any(|e| e.ts >= o_lo && e.ts < o_hi) {
                continue;
            }
            let acts = &self.w.activations;
            let spanning = acts_of[s as usize]
                .iter()
                .copied()
                .find(|&i| acts[i].from < o && acts[i].to > o);
            let Some(ai) = spanning else { continue };
            let account = self.w.activations[ai].account;
            let d = self.rng.gen_range(1..=4);
            if self.w.activations[ai].to <= o + d + 1 {
                // It was about to stop anyway: no reconnect.
                continue;
            }
            let end_ts = ctrl(&mut self.rng, o);
            let restart_ts = ctrl(&mut self.rng, o + d);
            let old = &mut self.w.sessions[s as usize];
            let later: Vec<SessEvent> = old
                .events
                .iter()
                .copied()
                .filter(|e| e.ts >= o_hi)
                .collect();
            old.events.retain(|e| e.ts < o_lo);
            old.events.push(SessEvent {
                ts: end_ts,
                start: None,
            });
            let mut events = vec![SessEvent {
                ts: restart_ts,
                start: Some(account),
            }];
            events.extend(later);
            let new = Session {
                events,
                client: old.client,
                integration: old.integration,
                poor: old.poor,
                node: old.node,
                dedicated: false,
                logs_in: false,
            };
            let new_id = self.w.sessions.len() as u32;
            self.w.sessions.push(new);
            let act = self.w.activations[ai];
            self.w.activations[ai].to = o;
            self.w.activations.push(Activation {
                session: new_id,
                account,
                from: o + d,
                to: act.to,
            });
            moved.push((s, new_id));
        }
        // Later activations of split sessions belong to the new sessions.
        let map: HashMap<u32, u32> = moved.into_iter().collect();
        for a in self.w.activations.iter_mut() {
            if let Some(&n) = map.get(&a.session) {
                if a.from > o {
                    a.session = n;
                }
            }
        }
    }

    /// A session made for one boundary case: `start` at `from`, `end` at `to` unless `open`.
    pub(super) fn change(
        &mut self,
        tick: i64,
        component: &'static str,
        kind: &'static str,
        version: Option<&str>,
        description: &str,
    ) {
        let ts = ctrl(&mut self.rng, tick);
        self.w.changes.push(Change {
            ts,
            component,
            kind,
            version: version.map(str::to_string),
            description: description.to_string(),
        });
    }

    pub(super) fn changes(&mut self) {
        let inc = self.w.scenario.incident();
        self.change(200, "web", "deploy", Some("2.14.0"), "routine web release");
        self.change(
            3300,
            "mobile-api",
            "config",
            Some("rate-limit-7"),
            "raise per-account rate limit",
        );
        match self.w.scenario {
            Scenario::CacheKeyCollision => {
                self.change(
                    inc.start,
                    "cache",
                    "deploy",
                    Some("v2"),
                    "still cache v2: compact keys for low-quality stills (poor-network clients)",
                );
                self.change(
                    inc.detection,
                    "security",
                    "detection",
                    None,
                    "user reports: Google Home hub shows stills from other homes",
                );
                self.change(
                    inc.mitigation,
                    "google_home",
                    "mitigation",
                    None,
                    "Google Home integration disabled; all cache nodes purged",
                );
                self.change(
                    inc.mitigation + 1,
                    "cache",
                    "rollback",
                    Some("v1"),
                    "still cache back to v1 keys",
                );
            }
            Scenario::SessionMixup => {
                self.change(
                    inc.start - 60,
                    "edge-proxy",
                    "deploy",
                    Some("3.1.0"),
                    "connection pool rewrite",
                );
                self.change(
                    inc.start,
                    "edge-proxy",
                    "note",
                    None,
                    "edge outage; clients reconnecting",
                );
                self.change(
                    inc.detection,
                    "security",
                    "detection",
                    None,
                    "users report thumbnails and clips from cameras that are not theirs",
                );
                self.change(
                    inc.mitigation,
                    "edge-proxy",
                    "mitigation",
                    None,
                    "connection reuse across sessions disabled",
                );
                self.change(
                    inc.mitigation + 1,
                    "edge-proxy",
                    "rollback",
                    Some("3.0.9"),
                    "back to the previous pool",
                );
            }
            Scenario::AuthPageCache => {
                for region in self.w.mechanism.regions.clone() {
                    self.change(
                        inc.start,
                        "cdn",
                        "config",
                        Some(&super::mechanism::region_config(region)),
                        &format!(
                            "{region} edge: cache dashboard pages to absorb load, keyed by path"
                        ),
                    );
                }
                self.change(
                    inc.detection,
                    "security",
                    "detection",
                    None,
                    &format!(
                        "users in {} see other accounts' dashboards",
                        self.w.mechanism.region_names()
                    ),
                );
                self.change(
                    inc.mitigation,
                    "cdn",
                    "mitigation",
                    None,
                    &format!(
                        "dashboard caching disabled; {} edge purged",
                        self.w.mechanism.region_names()
                    ),
                );
                self.change(
                    inc.mitigation + 1,
                    "cdn",
                    "rollback",
                    Some("edge-cfg-41"),
                    "previous edge config",
                );
            }
        }
    }

    pub(super) fn finish(mut self) -> World {
        for c in self.w.cams.iter_mut() {
            c.events.sort_by_key(|e| (e.ts, e.bind, e.account));
        }
        for g in self.w.grants.iter_mut() {
            g.events.sort_by_key(|e| (e.0, !e.1));
        }
        for s in self.w.sessions.iter_mut() {
            s.events.sort_by_key(|e| (e.ts, e.start.is_some(), e.start));
        }
        self.w.changes.sort_by_key(|c| c.ts);
        // What each account may ask for: its own cameras while bound, and shared ones while granted
        // (plus the stale stretch after a missed revoke).
        let mut vis = vec![Vec::new(); self.w.accounts.len()];
        for (ci, cam) in self.w.cams.iter().enumerate() {
            for (i, e) in cam.events.iter().enumerate() {
                if !e.bind {
                    continue;
                }
                let from = super::timefmt::tick_of(e.ts);
                let to = cam
                    .events
                    .get(i + 1)
                    .map(|n| super::timefmt::tick_of(n.ts))
                    .unwrap_or(i64::MAX);
                if from < to {
                    vis[e.account as usize].push(Vis {
                        cam: ci as u32,
                        from,
                        to,
                    });
                }
            }
        }
        for g in &self.w.grants {
            let from = super::timefmt::tick_of(g.events[0].0);
            let revoke = g
                .events
                .iter()
                .find(|e| !e.1)
                .map(|e| super::timefmt::tick_of(e.0));
            let to = g.stale_until.or(revoke).unwrap_or(i64::MAX);
            vis[g.grantee as usize].push(Vis {
                cam: g.cam,
                from,
                to,
            });
        }
        self.w.vis = vis;
        self.w.specials.sort_by_key(|s| (s.ts, s.kind));
        // Orphan sessions were numbered from the top; renumber them just past the real ones.
        let n = self.w.sessions.len() as u32;
        for s in self.w.specials.iter_mut() {
            if s.kind == SpecialKind::NoSessionOrphan {
                s.session = n + (u32::MAX - s.session);
            }
        }
        let world = self.w;
        let keep: Vec<bool> = world
            .specials
            .iter()
            .map(|s| super::truth::special_as_planned(&world, s))
            .collect();
        let mut world = world;
        let before = world.specials.len();
        let mut i = 0;
        world.specials.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        world.specials_dropped = before - world.specials.len();
        world
    }
}
