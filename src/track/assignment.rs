//! Minimum-cost linear assignment with a cost limit: the Hungarian method (Kuhn–Munkres with
//! potentials, O(n³)), as ByteTrack's `lap.lapjv(cost, extend_cost=True, cost_limit=thresh)`.
//!
//! A pair costing more than the limit is never matched: the `r × c` problem is solved as the
//! square `(r + c)` one in which every row and every column may instead take a dummy partner at
//! half the limit, so leaving a row and a column unmatched costs exactly the limit.
//!
//! The problem first splits into the connected components of the pairs within the limit (a track
//! and the detections near it), each solved on its own: as no pair between two components can be
//! matched and an unmatched row or column costs the same wherever it is, the optimum is the union
//! of the components' optima. A frame of 200 tracks and 200 boxes is then some hundred problems of
//! a few rows, not one of 400: the cost per frame grows about linearly with the objects, not with
//! their cube. Buffers are kept between calls: solving allocates nothing once they have grown to
//! the largest problem.

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
    /// The `rows × cols` costs, row-major, those above the limit as `limit + 1`.
    full: Vec<f64>,
    /// Union-find over rows (`0..rows`) and columns (`rows..rows + cols`).
    parent: Vec<usize>,
    /// (component root, node), sorted: each component's rows, then its columns.
    order: Vec<(usize, usize)>,
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
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
        // Above the limit all costs are equally "no match"; a finite value keeps the arithmetic
        // of the potentials finite.
        let cap = limit + 1.0;
        self.full.clear();
        self.parent.clear();
        self.parent.extend(0..rows + cols);
        for r in 0..rows {
            for c in 0..cols {
                let x = cost(r, c);
                if x <= limit {
                    let (a, b) = (find(&mut self.parent, r), find(&mut self.parent, rows + c));
                    self.parent[a.max(b)] = a.min(b);
                    self.full.push(x);
                } else {
                    self.full.push(cap);
                }
            }
        }
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        for i in 0..rows + cols {
            order.push((find(&mut self.parent, i), i));
        }
        order.sort_unstable();
        let mut start = 0;
        while start < order.len() {
            let root = order[start].0;
            let end = start + order[start..].iter().take_while(|o| o.0 == root).count();
            let group = &order[start..end];
            let nr = group.iter().take_while(|o| o.1 < rows).count();
            let (grows, gcols) = group.split_at(nr);
            match (grows.len(), gcols.len()) {
                (0, _) | (_, 0) => {}
                // One row, one column: joined by a pair within the limit.
                (1, 1) => self.pairs.push((grows[0].1, gcols[0].1 - rows)),
                (nr, nc) => {
                    let n = nr + nc;
                    self.n = n;
                    self.cost.clear();
                    self.cost.resize(n * n, limit / 2.0);
                    for (i, &(_, r)) in grows.iter().enumerate() {
                        for (j, &(_, c)) in gcols.iter().enumerate() {
                            self.cost[i * n + j] = self.full[r * cols + (c - rows)];
                        }
                    }
                    for i in nr..n {
                        for j in nc..n {
                            self.cost[i * n + j] = 0.0;
                        }
                    }
                    self.hungarian();
                    // p[j] = 1-based row of column j.
                    for j in 1..=nc {
                        let i = self.p[j];
                        if i >= 1 && i <= nr && self.cost[(i - 1) * n + (j - 1)] <= limit {
                            self.pairs.push((grows[i - 1].1, gcols[j - 1].1 - rows));
                        }
                    }
                }
            }
            start = end;
        }
        self.order = order;
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

    /// A seeded xorshift generator of numbers in [0, 1), steps of 1e-4.
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 10_000) as f64 / 10_000.0
        }
    }

    #[test]
    fn optimal_against_brute_force_on_random_matrices() {
        let mut rnd = uniform(0x9e37_79b9_7f4a_7c15);
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

    /// Several independent groups (pairs between groups over the limit), rows and columns
    /// shuffled: solved per component, the optimum is the sum of the groups' optima.
    #[test]
    fn components_solved_apart_give_the_joint_optimum() {
        let mut rnd = uniform(0x2545_f491_4f6c_dd1d);
        let mut solver = Assignment::default();
        for case in 0..300 {
            let limit = 0.3 + rnd() * 0.6;
            let groups = 1 + (rnd() * 4.0) as usize;
            let (mut rows, mut cols, mut want) = (Vec::new(), Vec::new(), 0.0);
            let mut blocks = Vec::new();
            for g in 0..groups {
                let (r, c) = (1 + (rnd() * 4.0) as usize, 1 + (rnd() * 4.0) as usize);
                let block: Vec<Vec<f64>> = (0..r).map(|_| (0..c).map(|_| rnd()).collect()).collect();
                want += brute(&block, limit);
                rows.extend((0..r).map(|i| (g, i)));
                cols.extend((0..c).map(|k| (g, k)));
                blocks.push(block);
            }
            // Shuffle rows and columns (Fisher–Yates on the generator).
            for v in [&mut rows, &mut cols] {
                for i in (1..v.len()).rev() {
                    let j = (rnd() * (i + 1) as f64) as usize % (i + 1);
                    v.swap(i, j);
                }
            }
            let c: Vec<Vec<f64>> = rows
                .iter()
                .map(|&(g, i)| cols.iter().map(|&(h, k)| if g == h { blocks[g][i][k] } else { 2.0 }).collect())
                .collect();
            let pairs = solver.solve(rows.len(), cols.len(), limit, |r, k| c[r][k]).to_vec();
            let got = objective(&c, &pairs, limit);
            assert!((got - want).abs() < 1e-9, "case {case}: {got} vs {want}");
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
