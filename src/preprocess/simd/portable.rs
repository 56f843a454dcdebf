//! The fast path's kernels in plain Rust: the whole row where a level has no vector version, and
//! the tail (from `from`) after a vector kernel. The arithmetic of `resize` and `yuv`, element for
//! element, on planar rows.

use super::Columns;
use crate::preprocess::resize::vertical;
use crate::preprocess::yuv::YuvCoefficients;

pub fn horizontal_packed(src: &[u8], cols: &Columns, out: &mut [i32], from: usize) {
    let n = cols.len();
    let (p0, rest) = out.split_at_mut(n);
    let (p1, p2) = rest.split_at_mut(n);
    // One pass over the output samples, all three channels at a time (like `resize::horizontal`).
    for x in from..n {
        let (a, b) = (cols.i0[x] as usize * 3, cols.i1[x] as usize * 3);
        let (w0, w1) = (cols.w0[x], cols.w1[x]);
        let (a, b) = (&src[a..a + 3], &src[b..b + 3]);
        p0[x] = a[0] as i32 * w0 + b[0] as i32 * w1;
        p1[x] = a[1] as i32 * w0 + b[1] as i32 * w1;
        p2[x] = a[2] as i32 * w0 + b[2] as i32 * w1;
    }
}

pub fn horizontal_planes(planes: &[i16], stride: usize, cols: &Columns, out: &mut [i32], from: usize) {
    let n = cols.len();
    for (c, plane) in out.chunks_exact_mut(n).enumerate() {
        let src = &planes[c * stride..(c + 1) * stride];
        let taps = cols.i0[from..].iter().zip(&cols.i1[from..]).zip(cols.w0[from..].iter().zip(&cols.w1[from..]));
        for (o, ((&i0, &i1), (&w0, &w1))) in plane[from..].iter_mut().zip(taps) {
            *o = src[i0 as usize] as i32 * w0 + src[i1 as usize] as i32 * w1;
        }
    }
}

pub fn vertical_u8(s0: &[i32], s1: &[i32], b0: i32, b1: i32, out: &mut [u8]) {
    for ((&a, &b), o) in s0.iter().zip(s1).zip(out) {
        *o = vertical(a, b, b0, b1);
    }
}

pub fn vertical_f32(s0: &[i32], s1: &[i32], b0: i32, b1: i32, mean: f32, std: f32, out: &mut [f32]) {
    for ((&a, &b), o) in s0.iter().zip(s1).zip(out) {
        // The expression of `normalise::normalise`, so the bits are the table's.
        *o = (vertical(a, b, b0, b1) as f32 - mean) / std;
    }
}

pub fn yuv_planes(c: &YuvCoefficients, y: &[u8], u: &[u8], v: &[u8], out: &mut [i16], stride: usize, from: usize) {
    let [y_mul, y_off, vr, ub, ug, vg] = c.fixed_point();
    let mulhi = |a: i32, b: i32| (a * b) >> 16;
    let (bp, rest) = out.split_at_mut(stride);
    let (gp, rp) = rest.split_at_mut(stride);
    // `from` is even: two pixels share one chroma sample, its terms computed once per pair.
    debug_assert!(from.is_multiple_of(2));
    let pixels =
        y[from..].chunks(2).zip(bp[from..].chunks_mut(2)).zip(gp[from..].chunks_mut(2).zip(rp[from..].chunks_mut(2)));
    for (((ys, b), (g, r)), (&cu, &cv)) in pixels.zip(u[from / 2..].iter().zip(&v[from / 2..])) {
        let (cu, cv) = (cu as i32 * 8 - 1024, cv as i32 * 8 - 1024);
        let (cb, cg, cr) = (mulhi(cu, ub), mulhi(cu, ug) + mulhi(cv, vg), mulhi(cv, vr));
        for (i, &yv) in ys.iter().enumerate() {
            let l = mulhi(yv as i32 * 8 - y_off, y_mul);
            b[i] = (l + cb).clamp(0, 255) as i16;
            g[i] = (l + cg).clamp(0, 255) as i16;
            r[i] = (l + cr).clamp(0, 255) as i16;
        }
    }
}
