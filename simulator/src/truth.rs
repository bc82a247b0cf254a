//! Ground truth: what each delivery really was, from the simulation's own state (who the session
//! really was, what the server really sent, who owned the camera when it was captured), classified
//! by the contract's §4 rules, and the counts that make up `truth.json`.
//!
//! Nothing here reads the written files or calls the analyser. The rules are applied to the world
//! the simulator planned and the content it chose to send.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::rows::LogKind;
use super::specials::{Planted, PlantedRow};
use super::timefmt::utc;
use super::world::{account_name, cam_name, session_name, Special, SpecialKind, World};

/// An object the platform stored or sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjId {
    /// A still or page render stored in the cache.
    Img(u64),
    /// A live segment.
    Seg(u64),
    /// A recorded clip of a camera, by capture time.
    Clip(u32, i64),
}

impl ObjId {
    pub fn name(self) -> String {
        match self {
            ObjId::Img(n) => format!("img-{n:010}"),
            ObjId::Seg(n) => format!("seg-{n:010}"),
            ObjId::Clip(c, ms) => format!("clip-{c:07}-{ms}"),
        }
    }
}

/// A cache fill: the object a (node, key) holds from `ts` on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    pub ts: i64,
    pub cam: u32,
    pub captured: Option<i64>,
    pub obj: ObjId,
}

/// What was sent, as the logs can tell it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Content {
    /// Named by the delivery row (origin, captured_at, object).
    Row {
        cam: u32,
        captured: Option<i64>,
        obj: Option<ObjId>,
    },
    /// From the cache: the fill in force when sent, and what the key held before that fill;
    /// `purged`: the key was purged at that instant, after `now`.
    Cache {
        now: Option<Fill>,
        before: Option<Fill>,
        purged: Option<i64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Missing {
    NoSession,
    NoContent,
    NoOwner,
}

impl Missing {
    pub fn name(self) -> &'static str {
        match self {
            Missing::NoSession => "no_session",
            Missing::NoContent => "no_content",
            Missing::NoOwner => "no_owner",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Ok,
    Leak,
    Ambiguous,
    Unresolved(Missing),
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Leak => "leak",
            Class::Ambiguous => "ambiguous",
            Class::Unresolved(_) => "unresolved",
        }
    }
}

/// The verdict of one delivery, with the parties as the world knows them at the send time.
#[derive(Debug, Clone, Copy)]
pub struct Eval {
    pub class: Class,
    pub recipient: Option<u32>,
    pub subject: Option<u32>,
    pub object: Option<ObjId>,
}

struct Look {
    authorized: bool,
    recipient: u32,
    subject: u32,
    object: Option<ObjId>,
}

/// Who owned a camera, and who held a grant on it, at an instant, as the look-ups of a verdict
/// see it: the world's own events, or what registry snapshots show of them.
pub trait Registry {
    fn owner_at(&self, cam: u32, at: i64) -> Option<u32>;
    fn granted(&self, cam: u32, account: u32, at: i64) -> bool;
}

impl Registry for World {
    fn owner_at(&self, cam: u32, at: i64) -> Option<u32> {
        World::owner_at(self, cam, at)
    }

    fn granted(&self, cam: u32, account: u32, at: i64) -> bool {
        World::granted(self, cam, account, at)
    }
}

/// Contract §4 on the simulated world: recipient, content, subject, grant, at a shift `d` ms,
/// with owners and grants from `r`.
fn look(
    w: &World,
    r: &impl Registry,
    ts: i64,
    session: u32,
    content: &Content,
    d: i64,
) -> Result<Look, Missing> {
    let t = ts + d;
    let recipient = w.session_account(session, t).ok_or(Missing::NoSession)?;
    let (cam, capture, object) = match *content {
        Content::Row { cam, captured, obj } => (cam, captured.unwrap_or(ts) + d, obj),
        Content::Cache {
            now,
            before,
            purged,
        } => {
            let fill = match now {
                Some(f) if f.ts <= t => Some(f),
                _ => before.filter(|b| b.ts <= t),
            };
            let f = fill.ok_or(Missing::NoContent)?;
            if purged.is_some_and(|p| p <= t && p > f.ts) {
                return Err(Missing::NoContent);
            }
            (f.cam, f.captured.unwrap_or(f.ts) + d, Some(f.obj))
        }
    };
    let subject = r.owner_at(cam, capture).ok_or(Missing::NoOwner)?;
    let authorized = recipient == subject || r.granted(cam, recipient, t);
    Ok(Look {
        authorized,
        recipient,
        subject,
        object,
    })
}

/// Classifies a delivery sent at `ts` (true time) on `session` with `content`.
pub fn evaluate(w: &World, ts: i64, session: u32, content: &Content) -> Eval {
    evaluate_in(w, w, ts, session, content)
}

/// [`evaluate`] with owners and grants from `r`.
pub fn evaluate_in(w: &World, r: &impl Registry, ts: i64, session: u32, content: &Content) -> Eval {
    let at = match look(w, r, ts, session, content, 0) {
        Ok(l) => l,
        Err(m) => {
            return Eval {
                class: Class::Unresolved(m),
                recipient: w.session_account(session, ts),
                subject: None,
                object: None,
            }
        }
    };
    let tol = w.tolerance_ms;
    let flips = [-tol, tol]
        .iter()
        .any(|&d| match look(w, r, ts, session, content, d) {
            Ok(l) => l.authorized != at.authorized,
            Err(_) => false,
        });
    let class = if flips {
        Class::Ambiguous
    } else if at.authorized {
        Class::Ok
    } else {
        Class::Leak
    };
    Eval {
        class,
        recipient: Some(at.recipient),
        subject: Some(at.subject),
        object: at.object,
    }
}

/// The content a planned special sends.
pub fn special_content(sp: &Special) -> Content {
    match sp.origin {
        Some(cam) => Content::Row {
            cam,
            captured: sp.captured,
            obj: sp.captured.map(|c| ObjId::Clip(cam, c)),
        },
        None => {
            let n = sp.fills.len();
            Content::Cache {
                now: sp.fills.last().copied(),
                before: n.checked_sub(2).map(|i| sp.fills[i]),
                purged: sp.purge,
            }
        }
    }
}

/// Whether a planned special comes out as intended (it is dropped otherwise).
pub fn special_as_planned(w: &World, sp: &Special) -> bool {
    let class = evaluate(w, sp.ts, sp.session, &special_content(sp)).class;
    let want = match sp.kind {
        SpecialKind::AmbiguousReauth
        | SpecialKind::AmbiguousGrant
        | SpecialKind::AmbiguousRevoke
        | SpecialKind::AmbiguousCapture => Class::Ambiguous,
        SpecialKind::OkAfterStart | SpecialKind::OkAfterGap | SpecialKind::OkBeforeTtl => Class::Ok,
        SpecialKind::NoSessionAfterTtl | SpecialKind::NoSessionOrphan => {
            Class::Unresolved(Missing::NoSession)
        }
        SpecialKind::NoContent | SpecialKind::NoContentAfterPurge => {
            Class::Unresolved(Missing::NoContent)
        }
        SpecialKind::NoOwner => Class::Unresolved(Missing::NoOwner),
        SpecialKind::NoSessionAfterEnd => Class::Unresolved(Missing::NoSession),
        SpecialKind::OkGrantSurvivesResale | SpecialKind::OkServerClockSkew => Class::Ok,
        SpecialKind::AmbiguousRefill => Class::Ambiguous,
        SpecialKind::LeakAfterFirstFill
        | SpecialKind::LeakCacheClockSkew
        | SpecialKind::LeakAfterRevoke
        | SpecialKind::LeakResaleClip
        | SpecialKind::LeakStaleAfterReauth => Class::Leak,
    };
    class == want
}

/// Row accounting of one kind, as `summary.json` states it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub read: u64,
    pub rejected: u64,
    pub duplicates: u64,
}

impl RowCounts {
    pub fn accepted(&self) -> u64 {
        self.read - self.rejected - self.duplicates
    }
}

/// Accumulates the truth while deliveries stream past; memory is bounded by accounts and leaks' distinct sets.
pub struct TruthAcc {
    pub deliveries: u64,
    pub leaks: u64,
    pub ambiguous: u64,
    pub unresolved: u64,
    pub viewed_leaks: u64,
    exposed: BTreeSet<u32>,
    recipients: BTreeSet<u32>,
    pairs: BTreeSet<(u32, u32)>,
    objects: BTreeSet<ObjId>,
    exposed_viewed: BTreeSet<u32>,
    first: Option<i64>,
    last: Option<i64>,
    leaks_csv: BufWriter<File>,
    details_csv: BufWriter<File>,
    /// Per planned boundary case, the rows its verdict turns on ([`crate::specials::Planted`]).
    why_csv: BufWriter<File>,
    /// `--real-logs`: the deliveries whose verdict differs from the contract form's, and why.
    differences_csv: Option<BufWriter<File>>,
    /// How many rows `differences_csv` has.
    pub differences: u64,
    /// Non-ok deliveries by cause (`shared_key`, `misrouted`, a special's name, ...).
    pub by_cause: BTreeMap<String, u64>,
    /// Ordinary deliveries that came out ambiguous or unresolved: the design's margins failed. Must be 0.
    pub unplanned: u64,
}

impl TruthAcc {
    /// With `differences`, also `truth_differences.csv` (see [`TruthAcc::record_difference`]).
    pub fn create(root: &Path, differences: bool) -> anyhow::Result<TruthAcc> {
        let mut leaks_csv = BufWriter::new(File::create(root.join("truth_leaks.csv"))?);
        writeln!(leaks_csv, "request_id")?;
        let mut details_csv = BufWriter::new(File::create(root.join("truth_details.csv"))?);
        writeln!(
            details_csv,
            "request_id,class,cause,recipient_account,subject_account"
        )?;
        let mut why_csv = BufWriter::new(File::create(root.join("truth_citations.csv"))?);
        writeln!(why_csv, "request_id,cause,role,log,key,ts,event")?;
        let differences_csv = if differences {
            let mut w = BufWriter::new(File::create(root.join("truth_differences.csv"))?);
            writeln!(
                w,
                "request_id,contract_class,contract_reason,class,reason,contract_subject,subject,why"
            )?;
            Some(w)
        } else {
            None
        };
        Ok(TruthAcc {
            deliveries: 0,
            leaks: 0,
            ambiguous: 0,
            unresolved: 0,
            viewed_leaks: 0,
            exposed: BTreeSet::new(),
            recipients: BTreeSet::new(),
            pairs: BTreeSet::new(),
            objects: BTreeSet::new(),
            exposed_viewed: BTreeSet::new(),
            first: None,
            last: None,
            leaks_csv,
            details_csv,
            why_csv,
            differences_csv,
            differences: 0,
            by_cause: BTreeMap::new(),
            unplanned: 0,
        })
    }

    /// Records one delivery; must be called in increasing `request_id` order.
    pub fn record(
        &mut self,
        request_id: &str,
        ts: i64,
        viewed: Option<bool>,
        e: &Eval,
        cause: &str,
        planned: bool,
    ) -> anyhow::Result<()> {
        self.deliveries += 1;
        match e.class {
            Class::Ok => {
                if planned {
                    *self.by_cause.entry(format!("ok:{cause}")).or_default() += 1;
                }
                return Ok(());
            }
            Class::Leak => {
                self.leaks += 1;
                let (s, r) = (e.subject.unwrap_or(0), e.recipient.unwrap_or(0));
                self.exposed.insert(s);
                self.recipients.insert(r);
                self.pairs.insert((s, r));
                if let Some(o) = e.object {
                    self.objects.insert(o);
                }
                if viewed == Some(true) {
                    self.viewed_leaks += 1;
                    self.exposed_viewed.insert(s);
                }
                self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
                self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
                writeln!(self.leaks_csv, "{request_id}")?;
            }
            Class::Ambiguous => self.ambiguous += 1,
            Class::Unresolved(_) => self.unresolved += 1,
        }
        if !planned && matches!(e.class, Class::Ambiguous | Class::Unresolved(_)) {
            self.unplanned += 1;
        }
        let cause = match e.class {
            Class::Unresolved(m) if !planned => format!("{cause}:{}", m.name()),
            _ => cause.to_string(),
        };
        writeln!(
            self.details_csv,
            "{request_id},{},{cause},{},{}",
            e.class.name(),
            e.recipient.map(account_name).unwrap_or_default(),
            e.subject.map(account_name).unwrap_or_default()
        )?;
        *self
            .by_cause
            .entry(format!("{}:{cause}", e.class.name()))
            .or_default() += 1;
        Ok(())
    }

    /// Records the rows planned boundary case `request_id` (of kind `cause`) turns on, one line
    /// per role: the row as log, key (`session`; `cam/account` for ownership; `node/key` for the
    /// cache), true time and event, all empty where the case is built on there being none.
    pub fn record_why(
        &mut self,
        request_id: &str,
        cause: &str,
        why: &[Planted],
        w: &World,
    ) -> anyhow::Result<()> {
        for p in why {
            let (log, key, ts, event) = match &p.row {
                None => ("", String::new(), None, ""),
                Some(PlantedRow::Session { session, ts, start }) => (
                    "sessions",
                    session_name(*session),
                    Some(*ts),
                    if *start { "start" } else { "end" },
                ),
                Some(PlantedRow::Owner {
                    cam,
                    account,
                    ts,
                    bind,
                }) => (
                    "ownership",
                    format!("{}/{}", cam_name(*cam), account_name(*account)),
                    *ts,
                    if *bind { "bind" } else { "unbind" },
                ),
                Some(PlantedRow::Grant {
                    cam,
                    account,
                    ts,
                    grant,
                }) => (
                    "ownership",
                    format!("{}/{}", cam_name(*cam), account_name(*account)),
                    Some(*ts),
                    if *grant { "grant" } else { "revoke" },
                ),
                Some(PlantedRow::Fill { node, key, ts }) => {
                    let node = w.nodes.get(*node as usize).map_or("", |n| n.name.as_str());
                    ("cache", format!("{node}/{key}"), Some(*ts), "fill")
                }
                Some(PlantedRow::Purge { node, key, ts }) => {
                    let node = w.nodes.get(*node as usize).map_or("", |n| n.name.as_str());
                    ("cache", format!("{node}/{key}"), Some(*ts), "purge")
                }
            };
            let ts = ts.map(|t| t.to_string()).unwrap_or_default();
            writeln!(
                self.why_csv,
                "{request_id},{cause},{},{log},{key},{ts},{event}",
                p.role
            )?;
        }
        Ok(())
    }

    /// The expected `summary.json`.
    pub fn summary(&self, rows: &BTreeMap<LogKind, RowCounts>) -> Value {
        let mut r = serde_json::Map::new();
        for kind in LogKind::ALL {
            let c = rows.get(&kind).copied().unwrap_or_default();
            r.insert(
                kind.name().to_string(),
                json!({"read": c.read, "accepted": c.accepted(), "rejected": c.rejected, "duplicates": c.duplicates}),
            );
        }
        json!({
            "deliveries": self.deliveries,
            "leak_deliveries": self.leaks,
            "ambiguous_deliveries": self.ambiguous,
            "unresolved_deliveries": self.unresolved,
            "exposed_accounts": self.exposed.len(),
            "recipient_accounts": self.recipients.len(),
            "exposure_pairs": self.pairs.len(),
            "leaked_objects": self.objects.len(),
            "viewed_leak_deliveries": self.viewed_leaks,
            "exposed_accounts_viewed": self.exposed_viewed.len(),
            "first_leak": self.first.map(utc),
            "last_leak": self.last.map(utc),
            "rows": Value::Object(r),
        })
    }

    /// A delivery the real log forms judge otherwise than the contract form (`contract`), because
    /// they cannot show what `why` says.
    pub fn record_difference(
        &mut self,
        request_id: &str,
        contract: &Eval,
        shown: &Eval,
        why: &str,
    ) -> anyhow::Result<()> {
        let reason = |e: &Eval| match e.class {
            Class::Unresolved(m) => m.name(),
            _ => "",
        };
        if let Some(w) = self.differences_csv.as_mut() {
            writeln!(
                w,
                "{request_id},{},{},{},{},{},{},{why}",
                contract.class.name(),
                reason(contract),
                shown.class.name(),
                reason(shown),
                contract.subject.map(account_name).unwrap_or_default(),
                shown.subject.map(account_name).unwrap_or_default()
            )?;
            self.differences += 1;
        }
        Ok(())
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        if let Some(w) = self.differences_csv.as_mut() {
            w.flush()?;
        }
        self.leaks_csv.flush()?;
        self.details_csv.flush()?;
        self.why_csv.flush()?;
        Ok(())
    }
}
