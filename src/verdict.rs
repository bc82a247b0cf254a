//! The verdict of one delivery: the rule that decides its class ([`decide`], contract §4), and the
//! record of its class, why, and the evidence behind it. Every report reads that record.

use serde::{Deserialize, Serialize};

use crate::cite::Cited;
use crate::table::Text;

/// The one class each delivery gets (contract §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Ok,
    Leak,
    Ambiguous,
    Unresolved,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Leak => "leak",
            Class::Ambiguous => "ambiguous",
            Class::Unresolved => "unresolved",
        }
    }
}

/// What could not be determined for an `unresolved` delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// The session was not open at t, or has no events at all.
    NoSession,
    /// The delivery names no origin and the cache held nothing under its key at t.
    NoContent,
    /// The origin stream had no owner at capture time.
    NoOwner,
}

impl Missing {
    pub fn as_str(self) -> &'static str {
        match self {
            Missing::NoSession => "no_session",
            Missing::NoContent => "no_content",
            Missing::NoOwner => "no_owner",
        }
    }
}

/// Which evaluation gave another verdict to an `ambiguous` delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flip {
    /// The look-ups taken `tolerance` earlier.
    Earlier,
    /// The look-ups taken `tolerance` later.
    Later,
    /// Both.
    Both,
    /// The owner at capture time taken from the later of two registry snapshots that show
    /// different owners and lie on either side of it (`ownership_snapshots`).
    BetweenSnapshots,
}

impl Flip {
    pub fn as_str(self) -> &'static str {
        match self {
            Flip::Earlier => "earlier",
            Flip::Later => "later",
            Flip::Both => "both",
            Flip::BetweenSnapshots => "between_snapshots",
        }
    }
}

/// What the look-ups of one delivery found at one instant (at t, or shifted by the tolerance).
/// Accounts are compared by equality only, so they may be codes of one dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup<A> {
    /// The account of the session at that instant (docs/SEMANTICS.md, step 1).
    pub recipient: Option<A>,
    /// Whether there was content: the delivery's own origin, or what the cache held (step 2).
    pub content: bool,
    /// The owner of the content's origin stream at its capture time (step 3).
    pub subject: Option<A>,
    /// Whether the recipient held a grant on the origin stream at that instant (step 4).
    pub granted: bool,
}

/// The outcome of one evaluation: what was missing, or whether the delivery was authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    Missing(Missing),
    Authorized(bool),
}

impl<A: PartialEq> Lookup<A> {
    /// Authorized when the recipient is the subject or holds a grant; otherwise the first of
    /// recipient, content and subject that is missing.
    pub fn evaluate(&self) -> Evaluation {
        let Some(recipient) = &self.recipient else {
            return Evaluation::Missing(Missing::NoSession);
        };
        if !self.content {
            return Evaluation::Missing(Missing::NoContent);
        }
        let Some(subject) = &self.subject else {
            return Evaluation::Missing(Missing::NoOwner);
        };
        Evaluation::Authorized(recipient == subject || self.granted)
    }
}

/// A delivery's class, with the reason for `unresolved` and the flip for `ambiguous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Ok,
    Leak,
    Ambiguous(Flip),
    Unresolved(Missing),
}

impl Decision {
    pub fn class(self) -> Class {
        match self {
            Decision::Ok => Class::Ok,
            Decision::Leak => Class::Leak,
            Decision::Ambiguous(_) => Class::Ambiguous,
            Decision::Unresolved(_) => Class::Unresolved,
        }
    }

    pub fn missing(self) -> Option<Missing> {
        match self {
            Decision::Unresolved(m) => Some(m),
            _ => None,
        }
    }

    pub fn flip(self) -> Option<Flip> {
        match self {
            Decision::Ambiguous(f) => Some(f),
            _ => None,
        }
    }
}

/// The verdict rule (contract §4): a delivery's class from its look-ups at t (`now`), and with
/// every look-up taken `tolerance` earlier and later.
///
/// - `unresolved` when at t the recipient, the content or the subject is missing;
/// - `ambiguous` when the verdict at t is resolved and a shifted verdict is resolved and
///   opposite (a shifted look-up that finds nothing leaves the verdict at t standing);
/// - `ok` when authorized, `leak` when not.
pub fn decide<A: PartialEq>(now: &Lookup<A>, earlier: &Lookup<A>, later: &Lookup<A>) -> Decision {
    let authorized = match now.evaluate() {
        Evaluation::Missing(m) => return Decision::Unresolved(m),
        Evaluation::Authorized(a) => a,
    };
    let flips = |shifted: &Lookup<A>| shifted.evaluate() == Evaluation::Authorized(!authorized);
    match (flips(earlier), flips(later)) {
        (true, true) => Decision::Ambiguous(Flip::Both),
        (true, false) => Decision::Ambiguous(Flip::Earlier),
        (false, true) => Decision::Ambiguous(Flip::Later),
        (false, false) if authorized => Decision::Ok,
        (false, false) => Decision::Leak,
    }
}

/// The verdict rule when owners come from registry snapshots (`ownership_snapshots`): `placed`
/// is [`decide`]'s class with each change of owner at the snapshot that first shows it, `other`
/// its class with the owners of the look-ups that fall between two snapshots taken from the
/// later one (`None`: none falls between). A change is known only to lie between the two, so a
/// delivery whose class differs between them is `ambiguous`, unless `placed` is already
/// ambiguous (its flip stands) or neither is resolved (what was missing stands).
pub fn decide_between(placed: Decision, other: Option<Decision>) -> Decision {
    let Some(other) = other else {
        return placed;
    };
    let resolved = |d: Decision| !matches!(d, Decision::Unresolved(_));
    match placed {
        Decision::Ambiguous(_) => placed,
        _ if placed.class() == other.class() => placed,
        _ if !resolved(placed) && !resolved(other) => placed,
        _ => Decision::Ambiguous(Flip::BetweenSnapshots),
    }
}

/// Where a delivery's content was determined from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentSource {
    /// The delivery row named its own origin stream.
    Delivery,
    /// The cache log: what (cache_node, cache_key) held at t.
    Cache,
    /// What (cache_node, cache_key) held at t as inferred from the misses, for a node without
    /// a cache log (`infer_cache`).
    Inferred,
}

impl ContentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentSource::Delivery => "delivery",
            ContentSource::Cache => "cache",
            ContentSource::Inferred => "inferred",
        }
    }
}

/// The verdict and evidence for one accepted delivery (evaluated at t, no shift).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub class: Class,
    /// For `unresolved`: the first thing that could not be found.
    pub missing: Option<Missing>,
    /// For `ambiguous`: which shifted evaluation flipped.
    pub flipped: Option<Flip>,
    pub recipient: Option<Text>,
    pub subject: Option<Text>,
    pub origin_stream_id: Option<Text>,
    pub object_id: Option<Text>,
    /// The capture time used for the ownership look-up.
    pub capture_ts: Option<i64>,
    pub content_source: Option<ContentSource>,
    /// The fill that the cache held at t, when content came from the cache.
    pub fill_ts: Option<i64>,
    pub config_version: Option<Text>,
    /// The recipient held a grant on the origin stream at t.
    pub granted: bool,
    /// The rows behind the look-ups of a delivery that is not `ok`.
    pub cites: Option<Box<Citations>>,
}

/// The log rows that decided a verdict, each with its event's time: for each look-up at t, the
/// event in force (`None` where there was none), and for `ambiguous`, the rows that flip it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citations {
    /// Step 1: the session `start` in force at t, and the `end` that closes its window (none
    /// when the TTL does).
    pub session_start: Option<Cited>,
    pub session_end: Option<Cited>,
    /// Step 2: the cache row in force at t (the fill held, or the evict or purge that emptied the
    /// key); none when the delivery named its own origin.
    pub content: Option<Cited>,
    /// Step 3: the ownership row in force at capture time (a bind or unbind, or the snapshot
    /// listing the owner).
    pub owner: Option<Cited>,
    /// Step 4: the grant or revoke of the recipient on the origin stream in force at t.
    pub grant: Option<Cited>,
    /// For `ambiguous`: the rows whose events, within the tolerance of t (or of the capture
    /// time), give the shifted look-ups another answer; for a flip between registry snapshots,
    /// the later snapshot's listing. Sorted, no repeats.
    pub flips: Vec<Cited>,
}

impl Verdict {
    /// A verdict with its class only, for stage tests that do not look at evidence.
    #[cfg(test)]
    pub(crate) fn without_evidence(class: Class) -> Verdict {
        Verdict {
            class,
            missing: None,
            flipped: None,
            recipient: None,
            subject: None,
            origin_stream_id: None,
            object_id: None,
            capture_ts: None,
            content_source: None,
            fill_ts: None,
            config_version: None,
            granted: false,
            cites: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: u32 = 1;
    const BOB: u32 = 2;

    /// A look-up that evaluates to `e`.
    fn found(e: Evaluation) -> Lookup<u32> {
        let all = Lookup {
            recipient: Some(ALICE),
            content: true,
            subject: Some(ALICE),
            granted: false,
        };
        match e {
            Evaluation::Authorized(true) => all,
            Evaluation::Authorized(false) => Lookup {
                subject: Some(BOB),
                ..all
            },
            Evaluation::Missing(Missing::NoSession) => Lookup {
                recipient: None,
                ..all
            },
            Evaluation::Missing(Missing::NoContent) => Lookup {
                content: false,
                ..all
            },
            Evaluation::Missing(Missing::NoOwner) => Lookup {
                subject: None,
                ..all
            },
        }
    }

    #[test]
    fn evaluation_names_the_first_missing_look_up() {
        let none = Lookup::<u32> {
            recipient: None,
            content: false,
            subject: None,
            granted: true,
        };
        let e = |l: Lookup<u32>| l.evaluate();
        assert_eq!(e(none), Evaluation::Missing(Missing::NoSession));
        let with_recipient = Lookup {
            recipient: Some(BOB),
            ..none
        };
        assert_eq!(e(with_recipient), Evaluation::Missing(Missing::NoContent));
        let with_content = Lookup {
            content: true,
            ..with_recipient
        };
        assert_eq!(e(with_content), Evaluation::Missing(Missing::NoOwner));
        let foreign = Lookup {
            subject: Some(ALICE),
            granted: false,
            ..with_content
        };
        assert_eq!(e(foreign), Evaluation::Authorized(false));
        assert_eq!(
            e(Lookup {
                granted: true,
                ..foreign
            }),
            Evaluation::Authorized(true),
            "a grant authorizes another account's camera"
        );
        assert_eq!(
            e(Lookup {
                subject: Some(BOB),
                ..foreign
            }),
            Evaluation::Authorized(true)
        );
    }

    /// Every evaluation at t against every pair of shifted evaluations.
    #[test]
    fn truth_table() {
        use Evaluation::{Authorized as A, Missing as M};
        use Missing::*;
        let (ok, leak) = (A(true), A(false));
        let gone = [M(NoSession), M(NoContent), M(NoOwner)];
        // (at t, earlier, later) -> decision, for a resolved verdict at t.
        let resolved = [
            (ok, ok, ok, Decision::Ok),
            (ok, leak, ok, Decision::Ambiguous(Flip::Earlier)),
            (ok, ok, leak, Decision::Ambiguous(Flip::Later)),
            (ok, leak, leak, Decision::Ambiguous(Flip::Both)),
            (leak, leak, leak, Decision::Leak),
            (leak, ok, leak, Decision::Ambiguous(Flip::Earlier)),
            (leak, leak, ok, Decision::Ambiguous(Flip::Later)),
            (leak, ok, ok, Decision::Ambiguous(Flip::Both)),
        ];
        let mut checked = 0;
        for (now, earlier, later, want) in resolved {
            let d = decide(&found(now), &found(earlier), &found(later));
            assert_eq!(d, want, "{now:?} {earlier:?} {later:?}");
            checked += 1;
        }
        // A shifted look-up that finds nothing leaves the verdict at t standing, whatever the other finds.
        for now in [ok, leak] {
            let same = if now == ok {
                Decision::Ok
            } else {
                Decision::Leak
            };
            let opposite = if now == ok { leak } else { ok };
            for g in gone {
                for h in gone {
                    assert_eq!(decide(&found(now), &found(g), &found(h)), same);
                    checked += 1;
                }
                for (e, l, want) in [
                    (g, now, same),
                    (now, g, same),
                    (g, opposite, Decision::Ambiguous(Flip::Later)),
                    (opposite, g, Decision::Ambiguous(Flip::Earlier)),
                ] {
                    let d = decide(&found(now), &found(e), &found(l));
                    assert_eq!(d, want, "{now:?} {e:?} {l:?}");
                    checked += 1;
                }
            }
        }
        // Missing at t: unresolved with that reason, whatever the shifts find.
        let every = [ok, leak, M(NoSession), M(NoContent), M(NoOwner)];
        for m in [NoSession, NoContent, NoOwner] {
            for e in every {
                for l in every {
                    let d = decide(&found(M(m)), &found(e), &found(l));
                    assert_eq!(d, Decision::Unresolved(m));
                    assert_eq!(
                        (d.class(), d.missing(), d.flip()),
                        (Class::Unresolved, Some(m), None)
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(
            checked,
            5 * 5 * 5,
            "every evaluation at each of the three instants"
        );
    }

    #[test]
    fn decisions_give_class_reason_and_flip() {
        let a = Decision::Ambiguous(Flip::Both);
        assert_eq!(
            (a.class(), a.missing(), a.flip()),
            (Class::Ambiguous, None, Some(Flip::Both))
        );
        assert_eq!(Decision::Leak.class(), Class::Leak);
        assert_eq!(Decision::Ok.class(), Class::Ok);
        assert_eq!(Flip::Earlier.as_str(), "earlier");
    }

    /// Every pair of decisions with the owners placed and taken from the later snapshot.
    #[test]
    fn a_class_that_depends_on_when_between_snapshots_is_ambiguous() {
        use Decision as D;
        let between = D::Ambiguous(Flip::BetweenSnapshots);
        let all = [
            D::Ok,
            D::Leak,
            D::Ambiguous(Flip::Later),
            D::Unresolved(Missing::NoOwner),
            D::Unresolved(Missing::NoSession),
        ];
        for placed in all {
            assert_eq!(decide_between(placed, None), placed);
            for other in all {
                let want = match (placed, other) {
                    (D::Ambiguous(_), _) => placed,
                    (D::Unresolved(_), D::Unresolved(_)) => placed,
                    _ if placed.class() == other.class() => placed,
                    _ => between,
                };
                assert_eq!(
                    decide_between(placed, Some(other)),
                    want,
                    "{placed:?} {other:?}"
                );
            }
        }
        assert_eq!(decide_between(D::Ok, Some(D::Leak)), between);
        assert_eq!(
            decide_between(D::Unresolved(Missing::NoOwner), Some(D::Leak)),
            between
        );
        assert_eq!(
            decide_between(D::Leak, Some(D::Unresolved(Missing::NoOwner))),
            between
        );
        assert_eq!(between.flip().map(Flip::as_str), Some("between_snapshots"));
    }
}
