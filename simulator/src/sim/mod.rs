//! The traffic sweep: tick by tick, viewers ask for stills, pages, live segments and clips; caches
//! fill and serve; the incident's bug does its damage; every delivery is written and judged.
//!
//! Deliveries stream straight to the writers; only one tick's deliveries and the cache's current
//! entries are held in memory.

mod cache;

use std::collections::HashMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::mechanism::{region_config, CALM_LOSS10, CALM_RTT_MS};
use super::output::Output;
use super::registry::Snapshots;
use super::rows::{LogKind, Row, Val};
use super::scenario::Scenario;
use super::shape::Shape;
use super::timefmt::{tick_ms, tick_of, CONTROL, FILL, FIRST_REQUEST, HIT, TICKS};
use super::truth::{evaluate, special_content, Content, Fill, ObjId, TruthAcc};
use super::world::{account_name, cam_name, session_name, Activation, SpecialKind, World};

/// Per-writer clock errors: a logged time is the true time minus the declared correction.
#[derive(Debug, Clone, Default)]
pub struct Clocks {
    /// Per cache node (index into `World::nodes`).
    pub node: Vec<Clock>,
    /// Per stream server (same index as its node).
    pub server: Vec<Clock>,
}

/// One writer's clock: the correction (`[clock_offset_ms]`: corrected = logged + offset) that
/// makes its times true, and where it drifts, the correction from a true instant on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    pub offset: i64,
    /// (true time from which, offset from then on).
    pub drift: Option<(i64, i64)>,
}

impl Clock {
    pub fn fixed(offset: i64) -> Clock {
        Clock {
            offset,
            drift: None,
        }
    }

    /// The correction in force at true time `ts`.
    pub fn at(&self, ts: i64) -> i64 {
        match self.drift {
            Some((from, later)) if ts >= from => later,
            _ => self.offset,
        }
    }
}

/// How the logs record the world, beside what happens in it: the servers' clocks, and the
/// ownership log as registry snapshots instead of events (`--ownership-snapshots`).
pub struct Recording<'a> {
    pub clocks: &'a Clocks,
    pub snapshots: Option<&'a Snapshots>,
}

/// Counters the tests and the run summary look at.
#[derive(Debug, Clone, Default)]
pub struct SimStats {
    pub fills: u64,
    pub evictions: u64,
    pub purges: u64,
    pub hits: u64,
    pub misses: u64,
    pub with_origin: u64,
    pub misrouted: u64,
    pub shared_key_hits: u64,
    /// Ordinary deliveries whose recipient was not the account the simulation meant. Must be 0.
    pub recipient_mismatch: u64,
}

const STILL_MAX_AGE: i64 = 45;
const PAGE_MAX_AGE: i64 = 10;
/// Under the bad page config, pages are kept an hour.
const SHARED_PAGE_MAX_AGE: i64 = 60;

struct Entry {
    node: u16,
    key: String,
    fill: Option<Fill>,
    before: Option<Fill>,
    fill_tick: i64,
    seen_tick: i64,
    /// Position in `Sim::filled`, or `u32::MAX`.
    filled_pos: u32,
}

/// One delivery of the current tick, before it gets its request id.
struct Del {
    ts: i64,
    seq: u32,
    session: u32,
    requested: u32,
    node: u16,
    key: String,
    status: &'static str,
    origin: Option<u32>,
    object: Option<ObjId>,
    captured: Option<i64>,
    /// Content from the cache when the row names none.
    cached: Option<Content>,
    kind: &'static str,
    bytes: i64,
    viewed: Option<bool>,
    rtt: i64,
    loss10: i64,
    cause: &'static str,
    /// The account the simulation sent it to (`None` for planned boundary cases).
    meant_for: Option<u32>,
    /// The planned boundary case it is, by index into the world's specials.
    special: Option<usize>,
}

impl Del {
    fn content(&self) -> Content {
        match self.origin {
            Some(cam) => Content::Row {
                cam,
                captured: self.captured,
                obj: self.object,
            },
            None => self.cached.unwrap_or(Content::Cache {
                now: None,
                before: None,
                purged: None,
            }),
        }
    }
}

/// What a key holds as the analyser infers it from the misses alone (`--real-logs`), and when a
/// delivery last looked it up.
#[derive(Clone, Copy)]
struct Inferred {
    now: Option<Fill>,
    before: Option<Fill>,
    last_look: i64,
}

struct Sim<'a> {
    w: &'a World,
    rng: ChaCha8Rng,
    out: &'a mut Output,
    truth: &'a mut TruthAcc,
    clocks: &'a Clocks,
    snapshots: Option<&'a Snapshots>,
    entries: Vec<Entry>,
    index: HashMap<(u16, String), u32>,
    filled: Vec<u32>,
    pool: Vec<u32>,
    pool_pos: Vec<u32>,
    next_img: u64,
    next_seg: u64,
    next_req: u64,
    stats: SimStats,
    cache_rows: Vec<(i64, u16, Row)>,
    shape: Shape,
    /// `--real-logs` only: per (node, key), the fills the misses show.
    inferred: HashMap<(u16, String), Inferred>,
}

/// Runs the sweep and writes every kind. Returns the counters.
pub fn run(
    w: &World,
    rng: ChaCha8Rng,
    out: &mut Output,
    truth: &mut TruthAcc,
    recording: &Recording,
    deliveries: u64,
    shape: Shape,
) -> anyhow::Result<SimStats> {
    write_static(w, out, recording.snapshots)?;
    let mut sim = Sim {
        w,
        rng,
        out,
        truth,
        clocks: recording.clocks,
        snapshots: recording.snapshots,
        entries: Vec::new(),
        index: HashMap::new(),
        filled: Vec::new(),
        pool: Vec::new(),
        pool_pos: vec![u32::MAX; w.activations.len()],
        next_img: 1,
        next_seg: 1,
        next_req: 1,
        stats: SimStats::default(),
        cache_rows: Vec::new(),
        shape,
        inferred: HashMap::new(),
    };
    sim.sweep(deliveries)?;
    Ok(sim.stats)
}

/// Accounts, ownership (as events, or as the registry's snapshots), sessions and changes: all
/// planned, written sorted by time.
fn write_static(w: &World, out: &mut Output, snapshots: Option<&Snapshots>) -> anyhow::Result<()> {
    for (a, acc) in w.accounts.iter().enumerate() {
        let row = vec![
            Val::text(account_name(a as u32)),
            Val::text(w.account_country(a as u32)),
            Val::text(acc.plan),
        ];
        out.emit(LogKind::Accounts, a, row)?;
    }
    let mut own: Vec<(i64, u32, u32, &'static str)> = Vec::new();
    for (c, cam) in w.cams.iter().enumerate() {
        for e in &cam.events {
            own.push((
                e.ts,
                c as u32,
                e.account,
                if e.bind { "bind" } else { "unbind" },
            ));
        }
    }
    for g in &w.grants {
        for &(ts, grant) in &g.events {
            own.push((ts, g.cam, g.grantee, if grant { "grant" } else { "revoke" }));
        }
    }
    own.sort();
    if let Some(s) = snapshots {
        own = s.rows(w)?;
    }
    for (ts, cam, acct, ev) in own {
        let row = vec![
            Val::Ts(ts),
            Val::text(cam_name(cam)),
            Val::text(account_name(acct)),
            Val::Enum(ev),
        ];
        out.emit(LogKind::Ownership, cam as usize, row)?;
    }
    // (ts, session, start account, account named on an end row)
    let mut sess: Vec<(i64, u32, Option<u32>, Option<u32>)> = Vec::new();
    for (s, session) in w.sessions.iter().enumerate() {
        let mut current = None;
        for e in &session.events {
            if e.start.is_some() {
                current = e.start;
            }
            // Some collectors name the account on end rows too (optional there).
            let named = if e.start.is_none() && s % 3 == 0 {
                current
            } else {
                None
            };
            sess.push((e.ts, s as u32, e.start, named));
        }
    }
    sess.sort();
    for (ts, s, start, named) in sess {
        let session = &w.sessions[s as usize];
        let row = vec![
            Val::Ts(ts),
            Val::text(session_name(s)),
            Val::Enum(if start.is_some() { "start" } else { "end" }),
            Val::opt_text(start.or(named).map(account_name)),
            Val::text(session.client),
            Val::opt_text(session.integration.map(str::to_string)),
        ];
        out.emit(LogKind::Sessions, s as usize, row)?;
    }
    for (i, c) in w.changes.iter().enumerate() {
        let row = vec![
            Val::Ts(c.ts),
            Val::text(c.component),
            Val::Enum(c.kind),
            Val::opt_text(c.version.clone()),
            Val::text(c.description.clone()),
        ];
        out.emit(LogKind::Changes, i, row)?;
    }
    Ok(())
}

/// Deliveries per tick: a day/night triangle (integers only, so every platform agrees), summing to `total`.
fn quotas(scenario: Scenario, total: u64) -> Vec<u64> {
    let weights: Vec<u64> = (0..TICKS)
        .map(|k| (600 + ((k + 360).rem_euclid(1440) - 720).unsigned_abs()) * scenario.surge(k))
        .collect();
    let sum: u128 = weights.iter().map(|&w| w as u128).sum();
    let mut cum: u128 = 0;
    let mut prev: u64 = 0;
    weights
        .iter()
        .map(|&w| {
            cum += w as u128;
            let upto = (total as u128 * cum / sum) as u64;
            let q = upto - prev;
            prev = upto;
            q
        })
        .collect()
}

impl Sim<'_> {
    fn sweep(&mut self, deliveries: u64) -> anyhow::Result<()> {
        let w = self.w;
        let specials = w.specials.len() as u64;
        anyhow::ensure!(
            deliveries >= specials * 4,
            "--deliveries {deliveries} is too small for the planned boundary cases ({specials}); use at least {}",
            specials * 4
        );
        let quota = quotas(w.scenario, deliveries - specials);
        let mut starts: Vec<Vec<u32>> = vec![Vec::new(); TICKS as usize];
        let mut ends: Vec<Vec<u32>> = vec![Vec::new(); TICKS as usize + 1];
        for (i, a) in w.activations.iter().enumerate() {
            if a.from >= a.to {
                continue;
            }
            starts[a.from as usize].push(i as u32);
            ends[a.to as usize].push(i as u32);
        }
        let mut resale_at: HashMap<i64, Vec<u32>> = HashMap::new();
        for r in &w.resales {
            resale_at.entry(r.tick).or_default().push(r.cam);
        }
        let inc = w.scenario.incident();
        let mut special_fills: Vec<(i64, u16, String, Fill)> = w
            .specials
            .iter()
            .flat_map(|s| {
                s.fills
                    .iter()
                    .map(move |f| (f.ts, s.node, s.key.clone(), *f))
            })
            .collect();
        special_fills.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
        let mut next_fill = 0usize;
        let mut special_purges: Vec<(i64, u16, String)> = w
            .specials
            .iter()
            .filter_map(|s| Some((s.purge?, s.node, s.key.clone())))
            .collect();
        special_purges.sort();
        let mut next_purge = 0usize;
        let mut carry = 0u64;
        let mut next_special = 0usize;
        for k in 0..TICKS {
            for &a in &ends[k as usize] {
                self.pool_remove(a);
            }
            // Apps that log in this tick, whose first request follows their login.
            let mut logins: Vec<u32> = Vec::new();
            for &a in &starts[k as usize] {
                self.pool_add(a);
                let act = &w.activations[a as usize];
                let s = &w.sessions[act.session as usize];
                if s.logs_in && s.events.first().is_some_and(|e| tick_of(e.ts) == act.from) {
                    logins.push(a);
                }
            }
            // Control phase: evictions on resale, purges at mitigation, ordinary LRU evictions.
            if let Some(cams) = resale_at.get(&k) {
                for &c in cams {
                    self.evict_cam(k, c);
                }
            }
            if k == inc.mitigation {
                match w.scenario {
                    Scenario::CacheKeyCollision => {
                        for n in 0..w.nodes.len() as u16 {
                            self.purge(k, n);
                        }
                    }
                    Scenario::AuthPageCache => {
                        for n in 0..w.nodes.len() as u16 {
                            if w.mechanism.in_region(w.country_code(n)) {
                                self.purge(k, n);
                            }
                        }
                    }
                    Scenario::SessionMixup => {}
                }
            }
            self.random_evictions(k);
            while next_fill < special_fills.len() && special_fills[next_fill].0 < tick_ms(k + 1) {
                let (ts, node, key, fill) = special_fills[next_fill].clone();
                self.cache_row(ts, node, &key, "fill", Some(&fill), k);
                self.stats.fills += 1;
                next_fill += 1;
            }
            while next_purge < special_purges.len() && special_purges[next_purge].0 < tick_ms(k + 1)
            {
                let (ts, node, key) = special_purges[next_purge].clone();
                self.cache_row(ts, node, &key, "purge", None, k);
                self.stats.purges += 1;
                next_purge += 1;
            }

            let mut dels: Vec<Del> = Vec::new();
            let q = quota[k as usize] + carry;
            if self.pool.is_empty() {
                carry = q;
            } else {
                carry = 0;
                logins.truncate(q as usize);
                for &a in &logins {
                    let act = w.activations[a as usize];
                    let login = w.sessions[act.session as usize].events[0].ts;
                    let at = login + self.rng.gen_range(FIRST_REQUEST.0..FIRST_REQUEST.1);
                    let d = self.request_of(act, k, dels.len() as u32, Some(at));
                    dels.push(d);
                }
                for _ in logins.len() as u64..q {
                    let d = self.request(k, dels.len() as u32);
                    dels.push(d);
                }
            }
            if w.scenario == Scenario::SessionMixup && k > inc.start && k < inc.mitigation {
                self.misroute(&mut dels);
            }
            while next_special < w.specials.len() && w.specials[next_special].ts < tick_ms(k + 1) {
                let d = self.special(next_special, dels.len() as u32);
                dels.push(d);
                next_special += 1;
            }
            self.flush_cache_rows()?;
            dels.sort_by_key(|d| (d.ts, d.seq));
            for d in dels {
                self.emit(d)?;
            }
        }
        anyhow::ensure!(
            carry == 0,
            "{carry} deliveries found no open session at the end of the window"
        );
        anyhow::ensure!(
            next_special == w.specials.len(),
            "a planned boundary case fell outside the window"
        );
        Ok(())
    }

    fn pool_add(&mut self, a: u32) {
        self.pool_pos[a as usize] = self.pool.len() as u32;
        self.pool.push(a);
    }

    fn pool_remove(&mut self, a: u32) {
        let p = self.pool_pos[a as usize];
        if p == u32::MAX {
            return;
        }
        let last = *self.pool.last().expect("pool holds a");
        self.pool.swap_remove(p as usize);
        if last != a {
            self.pool_pos[last as usize] = p;
        }
        self.pool_pos[a as usize] = u32::MAX;
    }

    fn ctrl_ts(&mut self, k: i64) -> i64 {
        tick_ms(k) + self.rng.gen_range(CONTROL.0..CONTROL.1)
    }

    /// One request's rtt (ms) and loss (tenths of a percent), from its session's kind of network.
    /// Both spread smoothly over the range any bound is drawn from, so that the bound the bug
    /// follows shows in the log as a step, not as a gap between two clusters. A poor network is
    /// slow, lossy or both (a satellite link, a crowded Wi-Fi), fixed per session, so that each
    /// of an "rtt or loss" condition holds deliveries the other does not.
    fn network(&mut self, poor: bool, session: u32) -> (i64, i64) {
        let (slow, lossy) = match (poor, session.wrapping_mul(0x9E37_79B1) >> 29) {
            (false, _) => (false, false),
            (true, 0..=2) => (true, false),
            (true, 3..=5) => (false, true),
            (true, _) => (true, true),
        };
        let (lo, hi): (f64, f64) = if slow { (120.0, 1500.0) } else { (12.0, 400.0) };
        let rtt = (lo.ln() + self.rng.gen::<f64>() * (hi / lo).ln())
            .exp()
            .round() as i64;
        let loss10 = if lossy {
            self.rng.gen_range(0..150)
        } else if self.rng.gen::<f64>() < 0.6 {
            self.rng.gen_range(0..8)
        } else {
            self.rng.gen_range(0..40)
        };
        (rtt, loss10)
    }

    /// A boundary case's network: below every bound a mechanism can have.
    fn calm_network(&mut self) -> (i64, i64) {
        (
            self.rng.gen_range(CALM_RTT_MS.0..CALM_RTT_MS.1),
            self.rng.gen_range(CALM_LOSS10.0..CALM_LOSS10.1),
        )
    }

    fn viewed(&mut self) -> Option<bool> {
        (self.rng.gen::<f64>() < 0.75).then(|| self.rng.gen::<f64>() < 0.6)
    }

    fn visible_cam(&mut self, account: u32, k: i64) -> u32 {
        let vis = &self.w.vis[account as usize];
        let n = vis.iter().filter(|v| v.from <= k && k < v.to).count();
        let pick = self.rng.gen_range(0..n.max(1));
        vis.iter()
            .filter(|v| v.from <= k && k < v.to)
            .nth(pick)
            .map(|v| v.cam)
            .unwrap_or(self.w.accounts[account as usize].primary)
    }

    /// One ordinary request from a random open session.
    fn request(&mut self, k: i64, seq: u32) -> Del {
        let act = self.w.activations[self.pool[self.rng.gen_range(0..self.pool.len())] as usize];
        self.request_of(act, k, seq, None)
    }

    /// One ordinary request of `act` in tick `k`, sent `at` that instant if given, else in its phase.
    fn request_of(&mut self, act: Activation, k: i64, seq: u32, at: Option<i64>) -> Del {
        let w = self.w;
        let s = &w.sessions[act.session as usize];
        let (rtt, loss10) = self.network(s.poor, act.session);
        // The client asks for low-quality stills whenever this request's network is poor.
        let poor = w.mechanism.poor.holds(rtt, loss10);
        let viewed = self.viewed();
        let mix = w.scenario.mix();
        let x = self.rng.gen_range(0..1000);
        let inc = w.scenario.incident();
        let live = k >= inc.start && k < inc.mitigation;
        let mut d = Del {
            ts: 0,
            seq,
            session: act.session,
            requested: 0,
            node: s.node,
            key: String::new(),
            status: "bypass",
            origin: None,
            object: None,
            captured: None,
            cached: None,
            kind: "still",
            bytes: 0,
            viewed,
            rtt,
            loss10,
            cause: "normal",
            meant_for: Some(act.account),
            special: None,
        };
        if x < mix.still + mix.page {
            let (cam, key, max_age) = if x < mix.still {
                let cam = self.visible_cam(act.account, k);
                let shared = w.scenario == Scenario::CacheKeyCollision
                    && live
                    && s.integration == Some("google_home")
                    && poor;
                let key = if shared {
                    d.cause = "shared_key";
                    "still//lq".to_string()
                } else {
                    format!("still/{}/{}", cam_name(cam), if poor { "lq" } else { "hq" })
                };
                // A JPEG's size follows its scene as much as its quality: the two overlap.
                d.bytes = if poor {
                    self.rng.gen_range(15_000..150_000)
                } else {
                    self.rng.gen_range(40_000..400_000)
                };
                (cam, key, self.shape.max_age().unwrap_or(STILL_MAX_AGE))
            } else {
                let cam = w.accounts[act.account as usize].primary;
                let shared = w.scenario == Scenario::AuthPageCache
                    && live
                    && w.mechanism.in_region(w.country_code(s.node));
                let (key, max_age) = if shared {
                    d.cause = "shared_page";
                    ("page/dashboard".to_string(), SHARED_PAGE_MAX_AGE)
                } else {
                    (
                        format!("page/dashboard/{}", account_name(act.account)),
                        self.shape.max_age().unwrap_or(PAGE_MAX_AGE),
                    )
                };
                d.kind = "page";
                d.bytes = self.rng.gen_range(40_000..90_000);
                (cam, key, max_age)
            };
            d.requested = cam;
            self.through_cache(&mut d, k, at, cam, key, max_age);
            return d;
        }
        let cam = self.visible_cam(act.account, k);
        d.requested = cam;
        d.ts = match at {
            Some(t) => t,
            None => tick_ms(k) + self.rng.gen_range(HIT.0..HIT.1),
        };
        if x >= mix.still + mix.page + mix.segment {
            // A recorded clip from the last two days.
            for _ in 0..6 {
                let c = self.rng.gen_range((k - 2880)..k);
                let cap = tick_ms(c) + self.rng.gen_range(HIT.0..HIT.1);
                if w.owner_at(cam, cap).is_some() {
                    d.kind = "clip";
                    d.key = format!("clip/{}", cam_name(cam));
                    d.origin = Some(cam);
                    d.captured = Some(cap);
                    d.object = Some(ObjId::Clip(cam, cap));
                    d.bytes = self.rng.gen_range(1_000_000..4_000_000);
                    self.stats.with_origin += 1;
                    return d;
                }
            }
        }
        d.kind = "segment";
        d.key = format!("live/{}", cam_name(cam));
        d.origin = Some(cam);
        d.captured = (self.rng.gen::<f64>() < 0.9).then(|| d.ts - self.rng.gen_range(400..2500));
        d.object = (self.rng.gen::<f64>() < 0.9).then_some(ObjId::Seg(self.next_seg));
        self.next_seg += 1;
        d.bytes = self.rng.gen_range(300_000..900_000);
        self.stats.with_origin += 1;
        d
    }

    /// The connection-pool bug: some responses go out on another viewer's session.
    fn misroute(&mut self, dels: &mut [Del]) {
        let w = self.w;
        for d in dels.iter_mut() {
            // The responses whose request a poor network cancelled are left on the pooled
            // connection, and the next session's request reads them.
            if !w.mechanism.poor.holds(d.rtt, d.loss10) || self.pool.len() < 2 {
                continue;
            }
            let other = w.activations[self.pool[self.rng.gen_range(0..self.pool.len())] as usize];
            if Some(other.account) == d.meant_for || other.session == d.session {
                continue;
            }
            if let Some(Content::Cache { now: Some(f), .. }) = d.cached {
                d.origin = Some(f.cam);
                d.object = Some(f.obj);
                d.captured = Some(f.captured.unwrap_or(f.ts));
                d.cached = None;
                self.stats.with_origin += 1;
            }
            d.session = other.session;
            d.requested = w.accounts[other.account as usize].primary;
            d.meant_for = Some(other.account);
            d.cause = "misrouted";
            self.stats.misrouted += 1;
        }
    }

    fn special(&mut self, i: usize, seq: u32) -> Del {
        let sp = &self.w.specials[i];
        let (rtt, loss10) = self.calm_network();
        let viewed = self.viewed();
        let content = special_content(sp);
        let (object, cached) = match content {
            Content::Row { obj, .. } => (obj, None),
            c @ Content::Cache { .. } => (None, Some(c)),
        };
        if sp.origin.is_some() {
            self.stats.with_origin += 1;
        }
        Del {
            ts: sp.ts,
            seq,
            session: sp.session,
            requested: sp.requested,
            node: sp.node,
            key: sp.key.clone(),
            status: if sp.origin.is_some() { "bypass" } else { "hit" },
            origin: sp.origin,
            object,
            captured: sp.captured,
            cached,
            kind: if sp.origin.is_some() { "clip" } else { "still" },
            bytes: self.rng.gen_range(100_000..2_000_000),
            viewed,
            rtt,
            loss10,
            cause: sp.kind.name(),
            meant_for: None,
            special: Some(i),
        }
    }

    fn emit(&mut self, d: Del) -> anyhow::Result<()> {
        let w = self.w;
        let rid = format!("req-{:010}", self.next_req);
        self.next_req += 1;
        let content = d.content();
        let eval = evaluate(w, d.ts, d.session, &content);
        if let Some(a) = d.meant_for {
            if eval.recipient != Some(a) {
                self.stats.recipient_mismatch += 1;
            }
        }
        let planned = d.meant_for.is_none() && SpecialKind::ALL.iter().any(|k| k.name() == d.cause);
        // The verdict on the content the logs show: the contract form's own unless the cache is
        // inferred from the misses.
        let (logged, plain, mut why) = match self.out.real_logs() {
            true => {
                let (logged, why) = self.inferred_content(&d, &content)?;
                (logged, evaluate(w, d.ts, d.session, &logged), why)
            }
            false => (content, eval, ""),
        };
        let shown = match self.snapshots {
            Some(s) => {
                let shown = s.judge(w, d.ts, d.session, &logged);
                if shown.class != plain.class || shown.subject != plain.subject {
                    why = "the registry's snapshots show owners and shares only at each snapshot";
                }
                shown
            }
            None => plain,
        };
        let differs = shown.class != eval.class
            || shown.subject != eval.subject
            || shown.object != eval.object;
        if differs {
            self.truth.record_difference(&rid, &eval, &shown, why)?;
        }
        // A verdict the logs cannot show as it was is explained, not a failure of the design.
        let planned = planned || (differs && self.snapshots.is_some());
        self.truth
            .record(&rid, d.ts, d.viewed, &shown, d.cause, planned)?;
        if let (Some(i), false) = (d.special, differs) {
            self.truth
                .record_why(&rid, d.cause, &w.specials[i].why, w)?;
        }
        let node = &w.nodes[d.node as usize];
        let row = vec![
            Val::Ts(d.ts - self.clocks.server[d.node as usize].at(d.ts)),
            Val::text(session_name(d.session)),
            Val::text(cam_name(d.requested)),
            Val::text(node.name.clone()),
            Val::text(d.key),
            Val::Enum(d.status),
            Val::text(rid),
            Val::opt_text(d.object.map(ObjId::name)),
            Val::opt_text(d.origin.map(cam_name)),
            Val::opt_ts(d.captured),
            Val::text(d.kind),
            Val::Int(d.bytes),
            d.viewed.map(Val::Bool).unwrap_or(Val::Null),
            Val::text(node.server.clone()),
            Val::Int(d.rtt),
            Val::Num(d.loss10 as f64 / 10.0),
            Val::text(app_version(w, d.session)),
        ];
        self.out.emit(LogKind::Deliveries, d.node as usize, row)
    }
}

impl Sim<'_> {
    /// A delivery's content when what its key held is known only from the misses, as the
    /// analyser infers it (`docs/FORMATS.md`): each miss fills its (node, key) at its own time
    /// with what it fetched, until the next miss. Returns it with the reason its verdict would
    /// differ.
    fn inferred_content(
        &mut self,
        d: &Del,
        content: &Content,
    ) -> anyhow::Result<(Content, &'static str)> {
        let key = (d.node, d.key.clone());
        let blank = Inferred {
            now: None,
            before: None,
            last_look: i64::MIN / 2,
        };
        let shown = match content {
            Content::Row { .. } => *content,
            Content::Cache { .. } => {
                let e = self.inferred.entry(key.clone()).or_insert(blank);
                e.last_look = d.ts;
                Content::Cache {
                    now: e.now,
                    before: e.before,
                    purged: None,
                }
            }
        };
        let why = match shown {
            Content::Cache { now: None, .. } => {
                "no miss shows what the key was filled with: only the cache log's fill does"
            }
            _ => "the fills inferred from the misses differ from the cache log's",
        };
        if d.status == "miss" {
            let tol = self.w.tolerance_ms;
            let e = self.inferred.entry(key).or_insert(blank);
            // The look-ups above see a key as it was at the delivery; a look-up shifted by the
            // tolerance past a later inferred fill would need more than that.
            anyhow::ensure!(
                d.ts - e.last_look > tol,
                "a miss on {} of node {} comes within the tolerance after a look-up of the key; the truth of inferred fills cannot judge that",
                d.key,
                d.node
            );
            let obj = d.object.ok_or_else(|| {
                anyhow::anyhow!("a simulated miss on {} names no object (a bug)", d.key)
            })?;
            e.before = e.now;
            e.now = Some(Fill {
                ts: d.ts,
                cam: d.origin.unwrap_or(d.requested),
                captured: d.captured,
                obj,
            });
        }
        Ok((shown, why))
    }
}

/// The client build that logged a delivery (an extra, non-contract column).
fn app_version(w: &World, session: u32) -> &'static str {
    match w.sessions.get(session as usize).map(|s| s.client) {
        Some("ios") => "ios-5.12.0",
        Some("android") => "android-5.11.3",
        Some("web") => "web-2019.12",
        Some("nest_hub") => "gh-1.52",
        Some("echo_show") => "alexa-3.2",
        _ => "unknown",
    }
}

/// The cache configuration a fill was stored under.
fn config_version(w: &World, node: u16, k: i64) -> String {
    let inc = w.scenario.incident();
    let live = k >= inc.start && k < inc.mitigation;
    match w.scenario {
        Scenario::CacheKeyCollision => if live { "v2" } else { "v1" }.to_string(),
        Scenario::SessionMixup => "v7".to_string(),
        Scenario::AuthPageCache => {
            if live && w.mechanism.in_region(w.country_code(node)) {
                region_config(w.country_code(node))
            } else {
                "edge-cfg-41".to_string()
            }
        }
    }
}
