//! Minimum-cost linear assignment with a cost limit: the Hungarian method (Kuhn–Munkres with
//! potentials, O(n³)), as ByteTrack's `lap.lapjv(cost, extend_cost=True, cost_limit=thresh)`.
//!
//! A pair costing more than the limit is never matched: the `r × c` problem is solved as the
//! square `(r + c)` one in which every row and every column may instead take a dummy partner at
//! half the limit, so leaving a row and a column unmatched costs exactly the limit. Buffers are
//! kept between calls: solving allocates nothing once they have grown to the largest problem.

/// A reusable solver.
#[derive(Debug, Default)]
pub struct Assignment {
    n: usize,
    cost: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
    p: Vec<usize>,
    way: Vec<usize>,
    minv: Vec<f64>,
    used: Vec<bool>,
    pairs: Vec<(usize, usize)>,
}

impl Assignment {
    /// Matches `rows` to `cols` at the least total cost, where `cost(r, c)` is the cost of a pair
    /// and pairs costing more than `limit` (or NaN) stay unmatched. Returns `(row, col)` pairs in
    /// row order.
    pub fn solve(
        &mut self,
        rows: usize,
        cols: usize,
        limit: f64,
        mut cost: impl FnMut(usize, usize) -> f64,
    ) -> &[(usize, usize)] {
        self.pairs.clear();
        if rows == 0 || cols == 0 {
            return &self.pairs;
        }
        let n = rows + cols;
        self.n = n;
        self.cost.clear();
        self.cost.resize(n * n, limit / 2.0);
        // Above the limit all costs are equally "no match"; a finite value keeps the arithmetic
        // of the potentials finite.
        let cap = limit + 1.0;
        for r in 0..rows {
            for c in 0..cols {
                let x = cost(r, c);
                self.cost[r * n + c] = if x <= limit { x } else { cap };
            }
        }
        for r in rows..n {
            for c in cols..n {
                self.cost[r * n + c] = 0.0;
            }
        }
        self.hungarian();
        // p[j] = 1-based row of column j.
        for j in 1..=cols {
            let r = self.p[j];
            if r >= 1 && r <= rows {
                let (r, c) = (r - 1, j - 1);
                if self.cost[r * n + c] <= limit {
                    self.pairs.push((r, c));
                }
            }
        }
        self.pairs.sort_unstable();
        &self.pairs
    }

    /// e-maxx's formulation over the square `n × n` matrix in `self.cost`, 1-based internally.
    fn hungarian(&mut self) {
        let n = self.n;
        for buf in [&mut self.u, &mut self.v, &mut self.minv] {
            buf.clear();
            buf.resize(n + 1, 0.0);
        }
        for buf in [&mut self.p, &mut self.way] {
            buf.clear();
            buf.resize(n + 1, 0);
        }
        self.used.clear();
        self.used.resize(n + 1, false);
        let a = |i: usize, j: usize, cost: &[f64]| cost[(i - 1) * n + (j - 1)];
        for i in 1..=n {
            self.p[0] = i;
            let mut j0 = 0;
            self.minv.fill(f64::INFINITY);
            self.used.fill(false);
            loop {
                self.used[j0] = true;
                let i0 = self.p[j0];
                let mut delta = f64::INFINITY;
                let mut j1 = 0;
                for j in 1..=n {
                    if !self.used[j] {
                        let cur = a(i0, j, &self.cost) - self.u[i0] - self.v[j];
                        if cur < self.minv[j] {
                            self.minv[j] = cur;
                            self.way[j] = j0;
                        }
                        if self.minv[j] < delta {
                            delta = self.minv[j];
                            j1 = j;
                        }
                    }
                }
                if j1 == 0 {
                    // Only reachable with NaN costs, which `solve` never stores; stop rather than loop.
                    return;
                }
                for j in 0..=n {
                    if self.used[j] {
                        self.u[self.p[j]] += delta;
                        self.v[j] -= delta;
                    } else {
                        self.minv[j] -= delta;
                    }
                }
                j0 = j1;
                if self.p[j0] == 0 {
                    break;
                }
            }
            loop {
                let j1 = self.way[j0];
                self.p[j0] = self.p[j1];
                j0 = j1;
                if j0 == 0 {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The objective the solver minimises: matched costs plus half the limit per unmatched row
    /// and per unmatched column.
    fn objective(c: &[Vec<f64>], pairs: &[(usize, usize)], limit: f64) -> f64 {
        let (rows, cols) = (c.len(), c[0].len());
        let matched: f64 = pairs.iter().map(|&(r, k)| c[r][k]).sum();
        matched + limit / 2.0 * ((rows - pairs.len()) + (cols - pairs.len())) as f64
    }

    /// Every partial matching that uses only pairs within the limit, by brute force.
    fn brute(c: &[Vec<f64>], limit: f64) -> f64 {
        fn go(
            r: usize,
            c: &[Vec<f64>],
            used: &mut Vec<bool>,
            acc: &mut Vec<(usize, usize)>,
            limit: f64,
            best: &mut f64,
        ) {
            if r == c.len() {
                *best = best.min(objective(c, acc, limit));
                return;
            }
            go(r + 1, c, used, acc, limit, best);
            for k in 0..c[0].len() {
                if !used[k] && c[r][k] <= limit {
                    used[k] = true;
                    acc.push((r, k));
                    go(r + 1, c, used, acc, limit, best);
                    acc.pop();
                    used[k] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        go(0, c, &mut vec![false; c[0].len()], &mut Vec::new(), limit, &mut best);
        best
    }

    #[test]
    fn optimal_against_brute_force_on_random_matrices() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 10_000) as f64 / 10_000.0
        };
        let mut solver = Assignment::default();
        for case in 0..2000 {
            let rows = 1 + (rnd() * 6.0) as usize;
            let cols = 1 + (rnd() * 6.0) as usize;
            let limit = 0.2 + rnd() * 0.8;
            let c: Vec<Vec<f64>> = (0..rows).map(|_| (0..cols).map(|_| rnd()).collect()).collect();
            let pairs = solver.solve(rows, cols, limit, |r, k| c[r][k]).to_vec();
            for &(r, k) in &pairs {
                assert!(c[r][k] <= limit, "case {case}: pair over the limit");
            }
            let mut rs: Vec<_> = pairs.iter().map(|p| p.0).collect();
            let mut ks: Vec<_> = pairs.iter().map(|p| p.1).collect();
            rs.dedup();
            ks.sort_unstable();
            ks.dedup();
            assert_eq!((rs.len(), ks.len()), (pairs.len(), pairs.len()), "case {case}: one partner each");
            let (got, want) = (objective(&c, &pairs, limit), brute(&c, limit));
            assert!((got - want).abs() < 1e-9, "case {case}: {got} vs optimum {want} for {c:?}");
        }
    }

    /// The case greedy matching gets wrong: taking the cheapest pair first (0.1) forces 0.9 on the
    /// other row; the optimum pairs crosswise (0.2 + 0.2).
    #[test]
    fn beats_greedy_where_greedy_is_wrong() {
        let c = [[0.2, 0.1], [0.9, 0.2]];
        let mut s = Assignment::default();
        assert_eq!(s.solve(2, 2, 1.0, |r, k| c[r][k]), &[(0, 0), (1, 1)]);
    }

    #[test]
    fn over_the_limit_and_nan_stay_unmatched() {
        let mut s = Assignment::default();
        assert!(s.solve(1, 1, 0.5, |_, _| 0.6).is_empty());
        assert!(s.solve(1, 1, 0.5, |_, _| f64::NAN).is_empty());
        assert!(s.solve(0, 3, 0.5, |_, _| 0.0).is_empty());
        assert_eq!(s.solve(2, 1, 0.5, |r, _| if r == 1 { 0.1 } else { 0.4 }), &[(1, 0)]);
    }
}
