//! The simulated caches: entries per (node, key), fills, evictions and purges written to the
//! cache log, and the still/page path through them that decides hit or miss.

use super::*;

impl Sim<'_> {
    pub(super) fn cache_row(
        &mut self,
        ts: i64,
        node: u16,
        key: &str,
        op: &'static str,
        fill: Option<&Fill>,
        k: i64,
    ) {
        let n = &self.w.nodes[node as usize];
        let logged = ts - self.clocks.node[node as usize].at(ts);
        let (obj, origin, cap, cfg) = match fill {
            Some(f) => {
                let cfg = (self.rng.gen::<f64>() < 0.97).then(|| config_version(self.w, node, k));
                (
                    Val::text(f.obj.name()),
                    Val::text(cam_name(f.cam)),
                    Val::opt_ts(f.captured),
                    Val::opt_text(cfg),
                )
            }
            None => (Val::Null, Val::Null, Val::Null, Val::Null),
        };
        let row = vec![
            Val::Ts(logged),
            Val::text(n.name.clone()),
            Val::text(key),
            Val::Enum(op),
            obj,
            origin,
            cap,
            cfg,
        ];
        self.cache_rows.push((ts, node, row));
    }

    pub(super) fn flush_cache_rows(&mut self) -> anyhow::Result<()> {
        let mut rows = std::mem::take(&mut self.cache_rows);
        rows.sort_by_key(|r| r.0);
        for (_, node, row) in rows {
            self.out.emit(LogKind::Cache, node as usize, row)?;
        }
        Ok(())
    }

    /// The key holds nothing from now on (evict or purge).
    pub(super) fn unfill(&mut self, id: u32) {
        let e = &mut self.entries[id as usize];
        e.fill = None;
        e.fill_tick = i64::MIN / 2;
        let p = e.filled_pos;
        e.filled_pos = u32::MAX;
        if p != u32::MAX {
            let last = *self.filled.last().expect("filled holds id");
            self.filled.swap_remove(p as usize);
            if last != id {
                self.entries[last as usize].filled_pos = p;
            }
        }
    }

    pub(super) fn evict_cam(&mut self, k: i64, cam: u32) {
        for n in 0..self.w.nodes.len() as u16 {
            for q in ["hq", "lq"] {
                let key = format!("still/{}/{q}", cam_name(cam));
                if let Some(&id) = self.index.get(&(n, key.clone())) {
                    if self.entries[id as usize].fill.is_some() {
                        let ts = self.ctrl_ts(k);
                        self.unfill(id);
                        self.cache_row(ts, n, &key, "evict", None, k);
                        self.stats.evictions += 1;
                    }
                }
            }
        }
    }

    pub(super) fn purge(&mut self, k: i64, node: u16) {
        let ts = self.ctrl_ts(k);
        let ids: Vec<u32> = self
            .filled
            .iter()
            .copied()
            .filter(|&id| self.entries[id as usize].node == node)
            .collect();
        for id in ids {
            self.unfill(id);
        }
        self.cache_row(ts, node, "*", "purge", None, k);
        self.stats.purges += 1;
    }

    pub(super) fn random_evictions(&mut self, k: i64) {
        if let Some(share) = self.shape.churn() {
            // A busy cache: a share of the entries goes every minute, to be refilled on demand.
            let mut i = 0;
            while i < self.filled.len() {
                let id = self.filled[i];
                if self.rng.gen::<f64>() < share {
                    let (node, key) = (
                        self.entries[id as usize].node,
                        self.entries[id as usize].key.clone(),
                    );
                    let ts = self.ctrl_ts(k);
                    // unfill swaps the last entry into position i, which is looked at next.
                    self.unfill(id);
                    self.cache_row(ts, node, &key, "evict", None, k);
                    self.stats.evictions += 1;
                } else {
                    i += 1;
                }
            }
            return;
        }
        // Memory pressure: now and then an entry that has not been refreshed for two hours goes.
        if !self.filled.is_empty() && self.rng.gen::<f64>() < 0.3 {
            let id = self.filled[self.rng.gen_range(0..self.filled.len())];
            let e = &self.entries[id as usize];
            if e.fill_tick < k - 120 {
                let (node, key) = (e.node, e.key.clone());
                let ts = self.ctrl_ts(k);
                self.unfill(id);
                self.cache_row(ts, node, &key, "evict", None, k);
                self.stats.evictions += 1;
            }
        }
    }

    pub(super) fn entry(&mut self, node: u16, key: String) -> u32 {
        if let Some(&id) = self.index.get(&(node, key.clone())) {
            return id;
        }
        let id = self.entries.len() as u32;
        self.entries.push(Entry {
            node,
            key: key.clone(),
            fill: None,
            before: None,
            fill_tick: i64::MIN / 2,
            seen_tick: i64::MIN,
            filled_pos: u32::MAX,
        });
        self.index.insert((node, key), id);
        id
    }

    /// A still or page through the cache: the first request of a tick for a stale or empty key
    /// misses and fills it (fill phase); the others hit (hit phase). A request sent `at` a given
    /// instant (an app's first, after its login) fills or hits then.
    pub(super) fn through_cache(
        &mut self,
        d: &mut Del,
        k: i64,
        at: Option<i64>,
        cam: u32,
        key: String,
        max_age: i64,
    ) {
        let id = self.entry(d.node, key.clone());
        d.key = key;
        let first = self.entries[id as usize].seen_tick != k;
        self.entries[id as usize].seen_tick = k;
        let e = &self.entries[id as usize];
        if first && (e.fill.is_none() || e.fill_tick < k - max_age) {
            let ts = match at {
                Some(t) => t,
                None => tick_ms(k) + self.rng.gen_range(FILL.0..FILL.1),
            };
            let fill_ts = ts - self.rng.gen_range(0..30);
            let captured =
                (self.rng.gen::<f64>() < 0.9).then(|| fill_ts - self.rng.gen_range(200..2000));
            let fill = Fill {
                ts: fill_ts,
                cam,
                captured,
                obj: ObjId::Img(self.next_img),
            };
            self.next_img += 1;
            let e = &mut self.entries[id as usize];
            e.before = e.fill;
            e.fill = Some(fill);
            e.fill_tick = k;
            if e.filled_pos == u32::MAX {
                e.filled_pos = self.filled.len() as u32;
                self.filled.push(id);
            }
            let key = e.key.clone();
            self.cache_row(fill_ts, d.node, &key, "fill", Some(&fill), k);
            self.stats.fills += 1;
            self.stats.misses += 1;
            self.stats.with_origin += 1;
            d.ts = ts;
            d.status = "miss";
            d.origin = Some(cam);
            d.object = Some(fill.obj);
            d.captured = captured;
        } else {
            let e = &self.entries[id as usize];
            let fill = e.fill.expect("a fresh entry holds a fill");
            d.cached = Some(Content::Cache {
                now: Some(fill),
                before: e.before,
                purged: None,
            });
            d.ts = match at {
                Some(t) => t,
                None => tick_ms(k) + self.rng.gen_range(HIT.0..HIT.1),
            };
            d.status = "hit";
            if self.rng.gen::<f64>() < 0.25 {
                d.object = Some(fill.obj);
            }
            if self.rng.gen::<f64>() < 0.2 {
                // Some servers log the capture time of what they served: the fill's.
                d.captured = fill.captured;
            }
            self.stats.hits += 1;
            if d.cause == "shared_key" || d.cause == "shared_page" {
                self.stats.shared_key_hits += 1;
            }
        }
    }
}
