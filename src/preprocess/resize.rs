//! Bilinear resize of 8-bit images in the fixed-point arithmetic of OpenCV's `INTER_LINEAR`:
//! 11-bit weights (rounded half to even from single-precision fractions), integer horizontal
//! sums, and the vertical blend `((S0 >> 4)·b0 >> 16) + ((S1 >> 4)·b1 >> 16) + 2 >> 2`.
//! Half-pixel centres, edges clamped. Matching it exactly keeps the input tensor identical to
//! what OpenCV-based tools (and the reference detections) feed the model.

/// Weights are fractions of this.
pub const COEF_SCALE: f32 = 2048.0;

/// One output sample: the two source samples and their weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tap {
    pub i0: usize,
    pub i1: usize,
    pub w0: i32,
    pub w1: i32,
}

/// Position of output sample `d` in source samples, split into integer part and fraction,
/// computed as OpenCV does (double, then single precision).
fn split(d: u32, scale: f64) -> (i64, f32) {
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let i = f.floor();
    (i as i64, f - i)
}

fn weight(f: f32) -> i32 {
    (f * COEF_SCALE).round_ties_even() as i32
}

/// The two source rows the vertical pass blends for one output row, as horizontal sums, and
/// which source row each holds: consecutive output rows mostly share a source row, so each is
/// resampled once per frame and kept (both CPU paths use it).
#[derive(Debug)]
pub struct RowPair {
    pub rows: [Vec<i32>; 2],
    src: [usize; 2],
}

impl Default for RowPair {
    fn default() -> Self {
        RowPair { rows: [Vec::new(), Vec::new()], src: [usize::MAX; 2] }
    }
}

impl RowPair {
    /// Both rows sized for `len` sums; nothing held.
    pub fn resize(&mut self, len: usize) {
        for r in &mut self.rows {
            r.clear();
            r.resize(len, 0);
        }
        self.forget();
    }

    /// A new frame: the rows held are another frame's.
    pub fn forget(&mut self) {
        self.src = [usize::MAX; 2];
    }

    /// Makes `rows` hold the sums of source rows `tap.i0` and `tap.i1`, reusing what is already
    /// there; `fill(y, out)` resamples source row `y` into `out`.
    pub fn load(&mut self, tap: Tap, mut fill: impl FnMut(usize, &mut [i32])) {
        if self.src[0] != tap.i0 {
            if self.src[1] == tap.i0 {
                self.rows.swap(0, 1);
                self.src.swap(0, 1);
            } else {
                fill(tap.i0, &mut self.rows[0]);
                self.src[0] = tap.i0;
            }
        }
        if self.src[1] != tap.i1 {
            if tap.i1 == tap.i0 {
                let (a, b) = self.rows.split_at_mut(1);
                b[0].copy_from_slice(&a[0]);
            } else {
                fill(tap.i1, &mut self.rows[1]);
            }
            self.src[1] = tap.i1;
        }
    }
}

/// Horizontal taps: fractions left of the first or right of the last sample are dropped.
pub fn column_taps(src: u32, dst: u32, taps: &mut Vec<Tap>) {
    taps.clear();
    let scale = 1.0 / (dst as f64 / src as f64);
    let last = src as i64 - 1;
    for d in 0..dst {
        let (mut i, mut f) = split(d, scale);
        if i < 0 {
            i = 0;
            f = 0.0;
        }
        if i >= last {
            i = last;
            f = 0.0;
        }
        taps.push(Tap { i0: i as usize, i1: (i + 1).min(last) as usize, w0: weight(1.0 - f), w1: weight(f) });
    }
}

/// Vertical taps: the rows are clamped but the fractions kept (OpenCV's row fetch clamps).
pub fn row_taps(src: u32, dst: u32, taps: &mut Vec<Tap>) {
    taps.clear();
    let scale = 1.0 / (dst as f64 / src as f64);
    let last = src as i64 - 1;
    for d in 0..dst {
        let (i, f) = split(d, scale);
        taps.push(Tap {
            i0: i.clamp(0, last) as usize,
            i1: (i + 1).clamp(0, last) as usize,
            w0: weight(1.0 - f),
            w1: weight(f),
        });
    }
}

/// Horizontal pass of one row of packed 3-channel pixels into fixed-point sums.
pub fn horizontal(src: &[u8], taps: &[Tap], out: &mut [i32]) {
    for (t, o) in taps.iter().zip(out.chunks_exact_mut(3)) {
        let (a, b) = (&src[t.i0 * 3..t.i0 * 3 + 3], &src[t.i1 * 3..t.i1 * 3 + 3]);
        for k in 0..3 {
            o[k] = a[k] as i32 * t.w0 + b[k] as i32 * t.w1;
        }
    }
}

/// Vertical blend of two horizontal sums into an 8-bit value.
#[inline(always)]
pub fn vertical(s0: i32, s1: i32, b0: i32, b1: i32) -> u8 {
    let v = (((s0 >> 4) * b0) >> 16) + (((s1 >> 4) * b1) >> 16);
    ((v + 2) >> 2).clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each source row is resampled once while consecutive output rows share it, and a new frame
    /// (`forget`) resamples again.
    #[test]
    fn a_row_pair_resamples_each_source_row_once() {
        let tap = |i0, i1| Tap { i0, i1, w0: 1024, w1: 1024 };
        let mut pair = RowPair::default();
        pair.resize(2);
        let mut filled = Vec::new();
        let load = |pair: &mut RowPair, t: Tap, filled: &mut Vec<usize>| {
            pair.load(t, |y, row| {
                filled.push(y);
                row.fill(y as i32);
            })
        };
        for t in [tap(0, 1), tap(0, 1), tap(1, 2), tap(2, 3), tap(3, 3), tap(3, 3)] {
            load(&mut pair, t, &mut filled);
            assert_eq!(pair.rows, [vec![t.i0 as i32; 2], vec![t.i1 as i32; 2]], "{t:?}");
        }
        assert_eq!(filled, [0, 1, 2, 3], "rows 1, 2 and 3 reused, the clamped last row copied");
        pair.forget();
        load(&mut pair, tap(3, 3), &mut filled);
        assert_eq!(filled, [0, 1, 2, 3, 3]);
        pair.resize(3);
        load(&mut pair, tap(5, 4), &mut filled);
        assert_eq!(filled[5..], [5, 4]);
        assert_eq!(pair.rows, [vec![5; 3], vec![4; 3]]);
    }

    #[test]
    fn same_size_is_identity() {
        let mut t = Vec::new();
        column_taps(5, 5, &mut t);
        assert!(t.iter().enumerate().all(|(i, t)| t.i0 == i && t.w0 == 2048 && t.w1 == 0));
        for p in [0u8, 1, 127, 254, 255] {
            let s = p as i32 * 2048;
            assert_eq!(vertical(s, s, 2048, 0), p);
        }
    }

    #[test]
    fn halving_averages_with_rounding() {
        let mut t = Vec::new();
        column_taps(4, 2, &mut t);
        assert_eq!(t[0], Tap { i0: 0, i1: 1, w0: 1024, w1: 1024 });
        let row = [10u8, 10, 10, 13, 13, 13, 0, 0, 0, 0, 0, 0];
        let mut h = [0i32; 6];
        horizontal(&row, &t, &mut h);
        // (10 + 13) / 2 = 11.5 rounds up, as OpenCV's area-fast (a+b+c+d+2)>>2 does.
        assert_eq!(vertical(h[0], h[0], 1024, 1024), 12);
    }

    #[test]
    fn edges_are_clamped() {
        let mut t = Vec::new();
        column_taps(2, 8, &mut t);
        assert_eq!((t[0].i0, t[0].w1), (0, 0));
        assert_eq!((t[7].i0, t[7].i1, t[7].w1), (1, 1, 0));
        row_taps(2, 8, &mut t);
        // Above the first row both taps read row 0, weights kept.
        assert_eq!((t[0].i0, t[0].i1), (0, 0));
        assert_eq!(t[0].w0 + t[0].w1, 2048);
    }
}
