//! From the pairs' edges to every clock's offset: a tree of the best-evidenced links, the offsets summed along it, and the reference taken out.
//!
//! The clocks are the session log, the stream servers and the cache nodes. Each set of pairs
//! links two clocks with an [`Edge`] per stretch of time. The links that carry the most pairs
//! and join every clock form a maximum spanning tree; an offset relative to the tree's root is
//! the sum of the edges on the way, and its interval the sum of theirs. Offsets are then told
//! relative to the reference: by default the stream servers' consensus, their median.

use super::edge::{stretches, stretches_at, Edge, Stretch};
use super::pairs::Gathered;

/// The latency bound of both kinds of pair: a fill is logged at most this long before the
/// delivery of its miss, an app's first request at most this long after its login.
pub const LATENCY_MS: i64 = 5_000;

/// Pairs per block when looking for a link's changes: a fill follows its miss within a few
/// milliseconds, so a few fills give a steady edge; a login's first request spreads over up to a
/// second, so it takes more.
const FILL_BLOCK: usize = 12;
const LOGIN_BLOCK: usize = 40;

/// One clock of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Vertex {
    SessionLog,
    Server(u32),
    Node(u32),
}

/// Two clocks the pairs of one set link, `c(to) − c(from)` per stretch of time.
#[derive(Debug, Clone)]
pub struct Link {
    pub from: Vertex,
    pub to: Vertex,
    pub stretches: Vec<Stretch>,
    pub pairs: usize,
    pub set_aside: usize,
}

/// An offset and its interval; a bound of `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    pub value: i64,
    pub lo: Option<i64>,
    pub hi: Option<i64>,
}

impl Offset {
    const ZERO: Offset = Offset {
        value: 0,
        lo: Some(0),
        hi: Some(0),
    };

    fn plus(self, e: &Edge) -> Offset {
        Offset {
            value: self.value.saturating_add(e.value),
            lo: self.lo.map(|l| l.saturating_add(e.lo)),
            hi: self.hi.map(|h| h.saturating_add(e.hi)),
        }
    }

    fn minus(self, e: &Edge) -> Offset {
        Offset {
            value: self.value.saturating_sub(e.value),
            lo: self.lo.map(|l| l.saturating_sub(e.hi)),
            hi: self.hi.map(|h| h.saturating_sub(e.lo)),
        }
    }

    /// `self − r`, the interval wide enough for both.
    fn relative_to(self, r: Offset) -> Offset {
        Offset {
            value: self.value.saturating_sub(r.value),
            lo: self.lo.zip(r.hi).map(|(a, b)| a.saturating_sub(b)),
            hi: self.hi.zip(r.lo).map(|(a, b)| a.saturating_sub(b)),
        }
    }

    /// Shifted by a stated correction.
    pub fn shifted(self, by: i64) -> Offset {
        Offset {
            value: self.value.saturating_add(by),
            lo: self.lo.map(|l| l.saturating_add(by)),
            hi: self.hi.map(|h| h.saturating_add(by)),
        }
    }
}

/// What the clocks are told relative to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// The median of the stream servers linked to each clock.
    Consensus,
    /// One clock.
    Clock(Vertex),
}

/// One clock's offset over a stretch of time starting at `from` (`i64::MIN`: the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub from: i64,
    pub offset: Offset,
}

/// The links of the gathered pairs, one per set with enough pairs; each set is sorted by time.
///
/// A server's change shows in its logins, which are sparse, and at the same instant in every
/// link of its fills, which are dense. So a server with fill links changes only where one of them
/// does, and its logins say at which of those instants: there their levels differ.
pub fn links(g: &mut Gathered) -> Vec<Link> {
    let mut out = Vec::new();
    for ((node, server), p) in &mut g.fills {
        let s = stretches(p, LATENCY_MS, FILL_BLOCK);
        push_link(
            &mut out,
            Vertex::Server(*server),
            Vertex::Node(*node),
            s,
            false,
        );
    }
    for (server, p) in &mut g.logins {
        let v = Vertex::Server(*server);
        let fills: Vec<&Link> = out.iter().filter(|l| l.from == v).collect();
        let s = match fills.is_empty() {
            true => stretches(p, LATENCY_MS, LOGIN_BLOCK),
            false => {
                let mut at: Vec<i64> = fills
                    .iter()
                    .flat_map(|l| l.stretches.iter().skip(1).map(|s| s.from))
                    .collect();
                at.sort_unstable();
                stretches_at(p, LATENCY_MS, &at)
            }
        };
        push_link(&mut out, Vertex::SessionLog, v, s, true);
    }
    out
}

/// A login pair measures `c(log) − c(server)` plus the login latency's floor, so its edge is
/// negated into `c(server) − c(log)`.
fn push_link(out: &mut Vec<Link>, from: Vertex, to: Vertex, mut s: Vec<Stretch>, negate: bool) {
    if s.is_empty() {
        return;
    }
    if negate {
        for x in &mut s {
            x.edge = x.edge.negated();
        }
    }
    let pairs = s.iter().map(|x| x.edge.pairs).sum();
    let set_aside = s.iter().map(|x| x.edge.set_aside).sum();
    out.push(Link {
        from,
        to,
        stretches: s,
        pairs,
        set_aside,
    });
}

/// Each clock's offset relative to `reference`, piece by piece, for the clocks the links reach;
/// with the links of the tree that decided it.
pub fn solve(links: &[Link], reference: &Reference) -> Vec<Solved> {
    let tree = spanning_tree(links);
    let mut cuts: Vec<i64> = tree
        .iter()
        .flat_map(|&l| links[l].stretches.iter().skip(1).map(|s| s.from))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let starts: Vec<i64> = std::iter::once(i64::MIN).chain(cuts).collect();
    let mut vertices: Vec<Vertex> = tree
        .iter()
        .flat_map(|&l| [links[l].from, links[l].to])
        .collect();
    vertices.sort_unstable();
    vertices.dedup();
    let main = main_tree(links, &tree, &vertices);
    let mut pieces: Vec<Vec<Piece>> = vec![Vec::new(); vertices.len()];
    let mut relative_to: Vec<Option<Vertex>> = vec![None; vertices.len()];
    for &t in &starts {
        let raw = offsets_at(links, &tree, &vertices, t);
        for (i, v) in vertices.iter().enumerate() {
            let Some(o) = raw[i] else { continue };
            let Some((clock, r)) =
                reference_at(&vertices, &raw, *v, links, &tree, reference, &main)
            else {
                continue;
            };
            if !main.contains(v) {
                relative_to[i] = clock;
            }
            let rel = match clock == Some(*v) {
                true => Offset::ZERO,
                false => o.relative_to(r),
            };
            if pieces[i].last().is_none_or(|p| p.offset != rel) {
                pieces[i].push(Piece {
                    from: t,
                    offset: rel,
                });
            }
        }
    }
    vertices
        .into_iter()
        .zip(pieces)
        .zip(relative_to)
        .filter(|((_, p), _)| !p.is_empty())
        .map(|((v, p), relative_to)| Solved {
            vertex: v,
            pieces: p,
            links: tree
                .iter()
                .copied()
                .filter(|&l| links[l].from == v || links[l].to == v)
                .collect(),
            relative_to,
        })
        .collect()
}

/// One clock's solution.
#[derive(Debug, Clone)]
pub struct Solved {
    pub vertex: Vertex,
    pub pieces: Vec<Piece>,
    /// The links of the tree at the clock.
    pub links: Vec<usize>,
    /// For a clock the reference's tree does not reach, the clock of its own tree it is told
    /// relative to: the first of that tree's servers.
    pub relative_to: Option<Vertex>,
}

/// The tree the consensus is taken in: the one with the most servers, then the one holding the
/// session log, then the one with the first vertex; none where that tree has one server and no
/// session log.
fn main_tree(links: &[Link], tree: &[usize], vertices: &[Vertex]) -> Vec<Vertex> {
    let mut best: Option<(usize, bool, Vec<Vertex>)> = None;
    let mut seen: Vec<Vertex> = Vec::new();
    for &v in vertices {
        if seen.contains(&v) {
            continue;
        }
        let members = tree_of(links, tree, v);
        seen.extend(&members);
        let servers = members
            .iter()
            .filter(|x| matches!(x, Vertex::Server(_)))
            .count();
        let log = members.contains(&Vertex::SessionLog);
        if best
            .as_ref()
            .is_none_or(|(s, l, _)| (servers, log) > (*s, *l))
        {
            best = Some((servers, log, members));
        }
    }
    // A consensus of one server, with no session log tying it to others, is no consensus.
    best.filter(|(servers, log, _)| *servers >= 2 || *log)
        .map(|b| b.2)
        .unwrap_or_default()
}

/// The links of a maximum spanning forest by pairs (Kruskal), ties broken by the clocks.
fn spanning_tree(links: &[Link]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..links.len()).collect();
    order.sort_by_key(|&l| {
        (
            std::cmp::Reverse(links[l].pairs),
            links[l].from,
            links[l].to,
        )
    });
    let mut parent: std::collections::BTreeMap<Vertex, Vertex> = Default::default();
    fn root(p: &mut std::collections::BTreeMap<Vertex, Vertex>, v: Vertex) -> Vertex {
        let mut r = v;
        while let Some(&u) = p.get(&r).filter(|&&u| u != r) {
            r = u;
        }
        p.insert(v, r);
        r
    }
    let mut tree = Vec::new();
    for l in order {
        let (a, b) = (
            root(&mut parent, links[l].from),
            root(&mut parent, links[l].to),
        );
        if a != b {
            // The session log stays a root, so that every tree it is in hangs from it.
            match a == Vertex::SessionLog {
                true => parent.insert(b, a),
                false => parent.insert(a, b),
            };
            tree.push(l);
        }
    }
    tree
}

/// Every vertex's offset from its tree's root at time `t` (the root: the session log if the
/// tree holds it, else its smallest vertex). The session log's own offset is bounded above only:
/// its pairs hold the login latency's floor, unknown, which makes the log seem early.
fn offsets_at(links: &[Link], tree: &[usize], vertices: &[Vertex], t: i64) -> Vec<Option<Offset>> {
    let at = |l: usize| -> Edge {
        let s = &links[l].stretches;
        let i = s.partition_point(|x| x.from <= t).saturating_sub(1);
        s[i].edge
    };
    let idx = |v: Vertex| vertices.binary_search(&v).ok();
    let mut out: Vec<Option<Offset>> = vec![None; vertices.len()];
    for (root_i, root) in vertices.iter().enumerate() {
        if out[root_i].is_some() {
            continue;
        }
        let start = match tree_of(links, tree, *root).contains(&Vertex::SessionLog) {
            true => Vertex::SessionLog,
            false => *root,
        };
        let Some(si) = idx(start) else { continue };
        out[si] = Some(match start {
            Vertex::SessionLog => Offset {
                value: 0,
                lo: None,
                hi: Some(0),
            },
            _ => Offset::ZERO,
        });
        let mut stack = vec![start];
        while let Some(v) = stack.pop() {
            let Some(o) = idx(v).and_then(|i| out[i]) else {
                continue;
            };
            // The servers hang from the session log's clock plus the floor, which is exact: the
            // floor is common to them all and leaves their differences alone.
            let o = match v {
                Vertex::SessionLog => Offset::ZERO,
                _ => o,
            };
            for &l in tree {
                let (from, to) = (links[l].from, links[l].to);
                let next = match (from == v, to == v) {
                    (true, _) => Some((to, o.plus(&at(l)))),
                    (_, true) => Some((from, o.minus(&at(l)))),
                    _ => None,
                };
                if let Some((w, ow)) = next {
                    if let Some(wi) = idx(w).filter(|&wi| out[wi].is_none()) {
                        out[wi] = Some(ow);
                        stack.push(w);
                    }
                }
            }
        }
    }
    out
}

/// The vertices of the tree that holds `v`.
fn tree_of(links: &[Link], tree: &[usize], v: Vertex) -> Vec<Vertex> {
    let mut seen = vec![v];
    let mut grew = true;
    while grew {
        grew = false;
        for &l in tree {
            let (a, b) = (links[l].from, links[l].to);
            for (x, y) in [(a, b), (b, a)] {
                if seen.contains(&x) && !seen.contains(&y) {
                    seen.push(y);
                    grew = true;
                }
            }
        }
    }
    seen
}

/// The reference for vertex `v` at one time: the named clock, if in `v`'s tree; or the lower
/// median of the servers of the main tree, bound by bound (with no clock to name), for `v` in it;
/// or the first server of `v`'s own tree.
fn reference_at(
    vertices: &[Vertex],
    raw: &[Option<Offset>],
    v: Vertex,
    links: &[Link],
    tree: &[usize],
    reference: &Reference,
    main: &[Vertex],
) -> Option<(Option<Vertex>, Offset)> {
    let members = tree_of(links, tree, v);
    let of = |x: &Vertex| {
        let i = vertices.binary_search(x).ok()?;
        raw[i]
    };
    match reference {
        Reference::Clock(r) => match members.contains(r) {
            true => Some((Some(*r), of(r)?)),
            false => None,
        },
        Reference::Consensus if !main.contains(&v) => {
            let first = members
                .iter()
                .filter(|x| matches!(x, Vertex::Server(_)))
                .min()
                .copied()?;
            Some((Some(first), of(&first)?))
        }
        Reference::Consensus => {
            let servers: Vec<Offset> = members
                .iter()
                .filter(|x| matches!(x, Vertex::Server(_)))
                .filter_map(of)
                .collect();
            if servers.is_empty() {
                return None;
            }
            let med = |mut xs: Vec<Option<i64>>| {
                if xs.iter().any(Option::is_none) {
                    return None;
                }
                xs.sort_unstable();
                xs[(xs.len() - 1) / 2]
            };
            let value = med(servers.iter().map(|o| Some(o.value)).collect())?;
            let lo = med(servers.iter().map(|o| o.lo).collect());
            let hi = med(servers.iter().map(|o| o.hi).collect());
            Some((None, Offset { value, lo, hi }))
        }
    }
}
