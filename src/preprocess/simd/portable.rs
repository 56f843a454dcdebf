//! The fast path's kernels in plain Rust: the whole row where a level has no vector version, and
//! the tail (from `from`) after a vector kernel. The arithmetic of `resize` and `yuv`, element for
//! element, on planar rows.

use super::Columns;
use crate::preprocess::resize::vertical;
use crate::preprocess::yuv::YuvCoefficients;

pub fn horizontal_packed(src: &[u8], cols: &Columns, out: &mut [i32], from: usize) {
    let n = cols.len();
    for (c, plane) in out.chunks_exact_mut(n).enumerate() {
        for x in from..n {
            let (a, b) = (src[cols.i0[x] as usize * 3 + c] as i32, src[cols.i1[x] as usize * 3 + c] as i32);
            plane[x] = a * cols.w0[x] + b * cols.w1[x];
        }
    }
}

pub fn horizontal_planes(planes: &[i16], stride: usize, cols: &Columns, out: &mut [i32], from: usize) {
    let n = cols.len();
    for (c, plane) in out.chunks_exact_mut(n).enumerate() {
        let src = &planes[c * stride..];
        for x in from..n {
            let (a, b) = (src[cols.i0[x] as usize] as i32, src[cols.i1[x] as usize] as i32);
            plane[x] = a * cols.w0[x] + b * cols.w1[x];
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
    for x in from..y.len() {
        let (cu, cv) = (u[x / 2] as i32 * 8 - 1024, v[x / 2] as i32 * 8 - 1024);
        let l = mulhi(y[x] as i32 * 8 - y_off, y_mul);
        bp[x] = (l + mulhi(cu, ub)).clamp(0, 255) as i16;
        gp[x] = (l + mulhi(cu, ug) + mulhi(cv, vg)).clamp(0, 255) as i16;
        rp[x] = (l + mulhi(cv, vr)).clamp(0, 255) as i16;
    }
}
