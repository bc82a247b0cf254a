//! Sequential covering: each term grown condition by condition on the rule's F1, "x or y" cuts over two numbers, every cut chosen again with the rest of the rule fixed, and what no longer pays its price dropped.

use rayon::prelude::*;

use super::coded::{f1, Coded, Count, Cut, Half, Histograms, PAIRS};
use super::{
    Condition, Numeric, CATEGORICAL, MAX_CONDITIONS, MAX_SPAN, MAX_TERMS, MIN_LEAKS,
    MIN_TERM_SUPPORT, PENALTY, REFINE_ROUNDS,
};

/// The best cut of the histograms `h` of the candidate rows (`base` counted already), by the
/// rule's F1 less [`PENALTY`] per condition beyond one; `keep` says which cuts may be chosen.
/// The first of equals wins, in the order categorical, numeric, time, either.
fn best_cut(
    c: &Coded,
    h: &Histograms,
    base: Count,
    keep: &dyn Fn(Cut) -> bool,
) -> Option<(Cut, Count, f64)> {
    let mut best: Option<(Cut, Count, f64)> = None;
    let mut offer = |cut: Cut, got: Count| {
        if got.l == 0 || !keep(cut) {
            return;
        }
        let mut all = base;
        all.add(got);
        let score = f1(all, c.leaks) - PENALTY * (cut.cost() - 1) as f64;
        if best.is_none_or(|(_, _, s)| score > s) {
            best = Some((cut, got, score));
        }
    };
    for (a, counts) in h.cat.iter().enumerate() {
        // Values in name order, so that ties do not depend on the order values appeared in.
        let mut order: Vec<u32> = (0..counts.len() as u32)
            .filter(|&v| Some(v) != c.absent[a])
            .collect();
        order.sort_by(|&x, &y| {
            c.codes
                .name(CATEGORICAL[a], x)
                .cmp(c.codes.name(CATEGORICAL[a], y))
        });
        for v in order {
            offer(Cut::Is(a, v), counts[v as usize]);
        }
    }
    for (k, counts) in h.num.iter().enumerate() {
        let total = counts.iter().fold(Count::default(), |mut s, x| {
            s.add(*x);
            s
        });
        let mut below = Count::default();
        for (b, x) in counts.iter().enumerate() {
            if b > 0 && below.n > 0 && below.n < total.n {
                offer(Cut::AtLeast(k, b), minus(total, below));
                offer(Cut::Below(k, b), below);
            }
            below.add(*x);
        }
    }
    let prefix: Vec<Count> = std::iter::once(Count::default())
        .chain(h.time.iter().scan(Count::default(), |s, x| {
            s.add(*x);
            Some(*s)
        }))
        .collect();
    // prefix[t] counts the rows with fewer than t instants behind them.
    let m = c.instants.len();
    let span = |lo: usize, hi: usize| minus(prefix[hi], prefix[lo]);
    for j in 0..m {
        offer(Cut::After(j), span(j + 1, m + 1));
        offer(Cut::Before(j), span(0, j + 1));
    }
    // Windows span at most MAX_SPAN changes, so that a long change log costs linear time.
    for i in 0..m {
        for j in i + 1..m.min(i + 1 + MAX_SPAN) {
            offer(Cut::Between(i, j), span(i + 1, j + 1));
        }
    }
    for (p, &(x, y)) in PAIRS.iter().enumerate() {
        either_cuts(c, &h.pair[p], x, y, &mut offer);
    }
    best
}

fn minus(a: Count, b: Count) -> Count {
    Count {
        n: a.n - b.n,
        l: a.l - b.l,
    }
}

/// Offers every "x ⊙ a or y ⊙ b" at coarse group boundaries, from the pair's table `t`.
fn either_cuts(c: &Coded, t: &[Count], x: usize, y: usize, offer: &mut dyn FnMut(Cut, Count)) {
    let (gx, gy) = (c.groups[x].len(), c.groups[y].len());
    let total = t.iter().fold(Count::default(), |mut s, v| {
        s.add(*v);
        s
    });
    for (ax, ay) in [(true, true), (true, false), (false, true), (false, false)] {
        // Axes ordered so that "fails the cut" is a prefix: absent first, then the groups
        // ascending for "at least" (fails below the cut), descending for "below".
        let order = |n: usize, at_least: bool| -> Vec<usize> {
            std::iter::once(n)
                .chain(if at_least {
                    (0..n).collect::<Vec<_>>()
                } else {
                    (0..n).rev().collect()
                })
                .collect()
        };
        let (ox, oy) = (order(gx, ax), order(gy, ay));
        // prefix[i][j]: rows whose x is among the first i of ox and y among the first j of oy.
        let w = gy + 2;
        let mut prefix = vec![Count::default(); (gx + 2) * w];
        for i in 0..=gx {
            for j in 0..=gy {
                let v = t[ox[i] * (gy + 1) + oy[j]];
                let mut s = prefix[i * w + (j + 1)];
                s.add(prefix[(i + 1) * w + j]);
                let s = minus(s, prefix[i * w + j]);
                let mut s = s;
                s.add(v);
                prefix[(i + 1) * w + (j + 1)] = s;
            }
        }
        // Cut at group boundary q: "at least" fails on absent and groups < q (a prefix of q + 1);
        // "below" fails on absent and groups ≥ q (a prefix of n − q + 1).
        let fails = |n: usize, at_least: bool, q: usize| if at_least { q + 1 } else { n - q + 1 };
        for qx in 1..gx {
            for qy in 1..gy {
                let neither = prefix[fails(gx, ax, qx) * w + fails(gy, ay, qy)];
                let got = minus(total, neither);
                offer(
                    Cut::Either(
                        Half {
                            k: x,
                            b: c.groups[x][qx],
                            at_least: ax,
                        },
                        Half {
                            k: y,
                            b: c.groups[y][qy],
                            at_least: ay,
                        },
                    ),
                    got,
                );
            }
        }
    }
}

/// Rows of `set` meeting every cut of `cuts`.
fn filter(c: &Coded, set: &[u32], cuts: &[Cut]) -> Vec<u32> {
    set.par_iter()
        .copied()
        .filter(|&r| cuts.iter().all(|k| c.meets(k, r as usize)))
        .collect()
}

fn count(c: &Coded, set: &[u32]) -> Count {
    set.par_iter()
        .map(|&r| c.unit(r as usize))
        .reduce(Count::default, |mut a, b| {
            a.add(b);
            a
        })
}

/// Rows of the population the rule `terms` holds (by population row).
fn covered(c: &Coded, terms: &[Vec<Cut>]) -> Vec<bool> {
    (0..c.rows.len())
        .into_par_iter()
        .map(|r| terms.iter().any(|t| t.iter().all(|k| c.meets(k, r))))
        .collect()
}

fn rule_count(c: &Coded, terms: &[Vec<Cut>]) -> Count {
    (0..c.rows.len())
        .into_par_iter()
        .filter(|&r| terms.iter().any(|t| t.iter().all(|k| c.meets(k, r))))
        .map(|r| c.unit(r))
        .reduce(Count::default, |mut a, b| {
            a.add(b);
            a
        })
}

/// How many terms `terms` are once their "either" cuts are split.
fn expanded_len(terms: &[Vec<Cut>]) -> usize {
    terms
        .iter()
        .map(|t| 1 + t.iter().any(|k| matches!(k, Cut::Either(..))) as usize)
        .sum()
}

/// How many conditions a term costs.
fn cost(t: &[Cut]) -> usize {
    t.iter().map(|k| k.cost()).sum()
}

/// Grows one term over the rows `rest` (those the rule, counted in `base`, does not hold);
/// `either` says whether it may hold an "either" cut (the rule has room for two more terms).
fn grow(c: &Coded, rest: Vec<u32>, base: Count, either: bool) -> Vec<Cut> {
    let mut term: Vec<Cut> = Vec::new();
    let mut set = rest;
    let mut score = f1(
        {
            let mut b = base;
            b.add(count(c, &set));
            b
        },
        c.leaks,
    );
    while term.len() < MAX_CONDITIONS {
        let h = c.histograms(&set);
        let used: u32 = term.iter().fold(0, |u, k| u | k.slots());
        let has_either = term.iter().any(|k| matches!(k, Cut::Either(..)));
        let keep = |k: Cut| {
            k.slots() & used == 0 && (!matches!(k, Cut::Either(..)) || (either && !has_either))
        };
        let Some((cut, _, s)) = best_cut(c, &h, base, &keep) else {
            break;
        };
        // Even the first condition must beat the term that holds every delivery left (`s` has
        // the price of a cut's conditions beyond one taken off already).
        if s < score + PENALTY {
            break;
        }
        term.push(cut);
        set = filter(c, &set, &[cut]);
        score = s;
    }
    term
}

/// The terms with each "either" cut split into two terms.
fn expand(terms: Vec<Vec<Cut>>) -> Vec<Vec<Cut>> {
    let mut out = Vec::new();
    for t in terms {
        match t.iter().position(|k| matches!(k, Cut::Either(..))) {
            Some(p) => {
                let Cut::Either(x, y) = t[p] else {
                    unreachable!("position found an either cut")
                };
                for h in [x, y] {
                    let mut u = t.clone();
                    u[p] = h.cut();
                    out.push(u);
                }
            }
            None => out.push(t),
        }
    }
    out
}

/// Drops the conditions of term `t` of `terms` whose removal costs the rule less than [`PENALTY`].
fn prune(c: &Coded, terms: &mut [Vec<Cut>], t: usize) {
    let mut score = f1(rule_count(c, terms), c.leaks);
    let mut k = terms[t].len();
    while k > 0 && terms[t].len() > 1 {
        k -= 1;
        let mut trial = terms.to_vec();
        trial[t].remove(k);
        let s = f1(rule_count(c, &trial), c.leaks);
        if s > score - PENALTY * terms[t][k].cost() as f64 {
            terms[t].remove(k);
            score = s;
        }
    }
}

/// Chooses every numeric cut and time window of the rule again, the rest of the rule fixed.
fn refine(c: &Coded, terms: &mut [Vec<Cut>]) {
    for _ in 0..REFINE_ROUNDS {
        let mut changed = false;
        for t in 0..terms.len() {
            for k in 0..terms[t].len() {
                let cut = terms[t][k];
                if matches!(cut, Cut::Is(..)) {
                    continue;
                }
                let others: Vec<Vec<Cut>> = terms
                    .iter()
                    .enumerate()
                    .filter(|&(u, _)| u != t)
                    .map(|(_, x)| x.clone())
                    .collect();
                let rest: Vec<Cut> = terms[t]
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != k)
                    .map(|(_, x)| *x)
                    .collect();
                let held = covered(c, &others);
                let base = held
                    .par_iter()
                    .enumerate()
                    .filter(|(_, &h)| h)
                    .map(|(r, _)| c.unit(r))
                    .reduce(Count::default, |mut a, b| {
                        a.add(b);
                        a
                    });
                let free: Vec<u32> = (0..c.rows.len() as u32)
                    .into_par_iter()
                    .filter(|&r| !held[r as usize] && rest.iter().all(|x| c.meets(x, r as usize)))
                    .collect();
                let h = c.histograms(&free);
                let same_kind = |x: Cut| {
                    std::mem::discriminant(&x) == std::mem::discriminant(&cut)
                        && x.slots() == cut.slots()
                };
                if let Some((best, _, _)) = best_cut(c, &h, base, &same_kind) {
                    if best != cut {
                        terms[t][k] = best;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
}

/// The learned rule in the learner's terms.
pub(super) fn learn(c: &Coded) -> Vec<Vec<Cut>> {
    let mut terms: Vec<Vec<Cut>> = Vec::new();
    if c.leaks < MIN_LEAKS {
        return terms;
    }
    let min_leaks = MIN_TERM_SUPPORT * c.leaks as f64;
    let all = 0..c.rows.len() as u32;
    while expanded_len(&terms) < MAX_TERMS {
        let before = rule_count(c, &terms);
        let rest: Vec<u32> = all
            .clone()
            .into_par_iter()
            .filter(|&r| {
                !terms
                    .iter()
                    .any(|t| t.iter().all(|k| c.meets(k, r as usize)))
            })
            .collect();
        let term = grow(c, rest, before, expanded_len(&terms) + 2 <= MAX_TERMS);
        if term.is_empty() {
            break;
        }
        let mut trial = terms.clone();
        trial.push(term);
        let last = trial.len() - 1;
        prune(c, &mut trial, last);
        let own = all
            .clone()
            .into_par_iter()
            .filter(|&r| trial[last].iter().all(|k| c.meets(k, r as usize)))
            .map(|r| c.unit(r as usize))
            .reduce(Count::default, |mut a, b| {
                a.add(b);
                a
            });
        let gain = f1(rule_count(c, &trial), c.leaks) - f1(before, c.leaks);
        if (own.l as f64) < min_leaks || gain < PENALTY * cost(&trial[last]) as f64 {
            break;
        }
        terms = trial;
    }
    let mut terms = expand(terms);
    refine(c, &mut terms);
    // A term that no longer pays for its conditions after the cuts moved goes.
    let mut t = terms.len();
    while t > 0 {
        t -= 1;
        let with = f1(rule_count(c, &terms), c.leaks);
        let mut without = terms.clone();
        without.remove(t);
        if with - f1(rule_count(c, &without), c.leaks) < PENALTY * cost(&terms[t]) as f64 {
            terms = without;
        }
    }
    for t in 0..terms.len() {
        prune(c, &mut terms, t);
    }
    terms
}

/// The condition a cut stands for, with its readable value.
pub(super) fn condition(c: &Coded, cut: Cut) -> Option<Condition> {
    Some(match cut {
        Cut::Is(a, code) => Condition::Is {
            attr: CATEGORICAL[a],
            value: c.codes.name(CATEGORICAL[a], code).to_string(),
        },
        Cut::AtLeast(k, b) => Condition::AtLeast {
            attr: Numeric::ALL[k],
            value: c.bins[k].cut_value(b)?,
        },
        Cut::Below(k, b) => Condition::Below {
            attr: Numeric::ALL[k],
            value: c.bins[k].cut_value(b)?,
        },
        Cut::After(j) => Condition::After {
            change: c.instants[j].1,
        },
        Cut::Before(j) => Condition::Before {
            change: c.instants[j].1,
        },
        Cut::Between(i, j) => Condition::Between {
            from: c.instants[i].1,
            to: c.instants[j].1,
        },
        Cut::Either(..) => return None,
    })
}
