//! NEON kernels (the aarch64 baseline). Each returns how many elements from the start it wrote
//! (a multiple of its vector width); the caller finishes the row portably. NEON has no gather:
//! the horizontal pass stays portable on aarch64.
// Vector intrinsics read and write through raw pointers and need `unsafe`; the crate denies unsafe
// code everywhere else.
#![allow(unsafe_code)]

use std::arch::aarch64::*;

use crate::preprocess::yuv::YuvCoefficients;

/// The blend of 4 lanes in 32 bits, clamped to 0..=255 like `resize::vertical`.
///
/// # Safety
/// `s0` and `s1` point to 4 readable elements.
#[target_feature(enable = "neon")]
unsafe fn blend4(s0: *const i32, s1: *const i32, b0: int32x4_t, b1: int32x4_t) -> int32x4_t {
    // SAFETY: 4 readable elements each (the callers).
    let (a, b) = unsafe { (vld1q_s32(s0), vld1q_s32(s1)) };
    let a = vshrq_n_s32::<16>(vmulq_s32(vshrq_n_s32::<4>(a), b0));
    let b = vshrq_n_s32::<16>(vmulq_s32(vshrq_n_s32::<4>(b), b1));
    let v = vshrq_n_s32::<2>(vaddq_s32(vaddq_s32(a, b), vdupq_n_s32(2)));
    vminq_s32(vmaxq_s32(v, vdupq_n_s32(0)), vdupq_n_s32(255))
}

pub fn vertical_u8(s0: &[i32], s1: &[i32], b0: i32, b1: i32, out: &mut [u8]) -> usize {
    let done = out.len() / 8 * 8;
    debug_assert!(s0.len() >= done && s1.len() >= done);
    // SAFETY: NEON is the aarch64 baseline; 8-element reads of s0, s1 and 8-byte writes of out
    // below `done`, within all three (equal lengths, asserted by the caller).
    unsafe { v_u8(s0.as_ptr(), s1.as_ptr(), b0, b1, out.as_mut_ptr(), done) };
    done
}

#[target_feature(enable = "neon")]
unsafe fn v_u8(s0: *const i32, s1: *const i32, b0: i32, b1: i32, out: *mut u8, done: usize) {
    let (b0, b1) = (vdupq_n_s32(b0), vdupq_n_s32(b1));
    let mut x = 0;
    while x < done {
        // SAFETY: see `vertical_u8`.
        unsafe {
            let lo = blend4(s0.add(x), s1.add(x), b0, b1);
            let hi = blend4(s0.add(x + 4), s1.add(x + 4), b0, b1);
            // 0..=255: the narrowing is exact.
            let h = vcombine_u16(vqmovun_s32(lo), vqmovun_s32(hi));
            vst1_u8(out.add(x), vqmovn_u16(h));
        }
        x += 8;
    }
}

#[allow(clippy::too_many_arguments)]
pub fn vertical_f32(s0: &[i32], s1: &[i32], b0: i32, b1: i32, mean: f32, std: f32, out: &mut [f32]) -> usize {
    let done = out.len() / 4 * 4;
    debug_assert!(s0.len() >= done && s1.len() >= done);
    // SAFETY: NEON is the aarch64 baseline; 4-element reads and writes below `done`, within all
    // three slices.
    unsafe { v_f32(s0.as_ptr(), s1.as_ptr(), b0, b1, mean, std, out.as_mut_ptr(), done) };
    done
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "neon")]
unsafe fn v_f32(s0: *const i32, s1: *const i32, b0: i32, b1: i32, mean: f32, std: f32, out: *mut f32, done: usize) {
    let (b0, b1) = (vdupq_n_s32(b0), vdupq_n_s32(b1));
    let (mean, std) = (vdupq_n_f32(mean), vdupq_n_f32(std));
    let mut x = 0;
    while x < done {
        // SAFETY: see `vertical_f32`.
        unsafe {
            let v = vcvtq_f32_s32(blend4(s0.add(x), s1.add(x), b0, b1));
            // Separate subtract and divide (no fused operation): the bits of `(v - mean) / std`.
            vst1q_f32(out.add(x), vdivq_f32(vsubq_f32(v, mean), std));
        }
        x += 4;
    }
}

/// `(a·b) >> 16` of 8 signed 16-bit lanes (x86's `pmulhw`): the full products, then their high
/// halves (a truncating narrow of an arithmetic shift, exact as the results fit).
#[target_feature(enable = "neon")]
fn mulhi(a: int16x8_t, b: int16x8_t) -> int16x8_t {
    let lo = vmull_s16(vget_low_s16(a), vget_low_s16(b));
    let hi = vmull_high_s16(a, b);
    vcombine_s16(vshrn_n_s32::<16>(lo), vshrn_n_s32::<16>(hi))
}

pub fn yuv_planes(c: &YuvCoefficients, y: &[u8], u: &[u8], v: &[u8], out: &mut [i16], stride: usize) -> usize {
    let k = c.fixed_point();
    // 16-bit lanes are exact only with 16-bit factors (every matrix and range has them).
    if !k.iter().all(|&f| i16::try_from(f).is_ok()) {
        return 0;
    }
    // 8 pixels (4 chroma samples) a step.
    let done = y.len() / 8 * 8;
    debug_assert!(u.len() >= done / 2 && v.len() >= done / 2 && stride >= y.len() && out.len() >= stride * 3);
    // SAFETY: NEON is the aarch64 baseline; 8 luma bytes at x < done are within y; 8-element
    // writes at c·stride + x stay within each plane (stride ≥ w ≥ done); chroma is read with
    // checked indexing.
    unsafe { yuv(k, y, u, v, out.as_mut_ptr(), stride, done) };
    done
}

#[target_feature(enable = "neon")]
unsafe fn yuv(k: [i32; 6], y: &[u8], u: &[u8], v: &[u8], out: *mut i16, stride: usize, done: usize) {
    let y_mul = vdupq_n_s16(k[0] as i16);
    let y_off = vdupq_n_s16(k[1] as i16);
    let vr = vdupq_n_s16(k[2] as i16);
    let ub = vdupq_n_s16(k[3] as i16);
    let ug = vdupq_n_s16(k[4] as i16);
    let vg = vdupq_n_s16(k[5] as i16);
    let bias = vdupq_n_s16(1024);
    let (zero, max) = (vdupq_n_s16(0), vdupq_n_s16(255));
    let mut x = 0;
    while x < done {
        // SAFETY: see `yuv_planes`.
        unsafe {
            let yv = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(y.as_ptr().add(x))));
            // Each chroma sample twice, for the two pixels that share it.
            let cu = vcreate_u8(u32::from_le_bytes(chroma4(u, x / 2)) as u64);
            let cv = vcreate_u8(u32::from_le_bytes(chroma4(v, x / 2)) as u64);
            let cu = vreinterpretq_s16_u16(vmovl_u8(vzip1_u8(cu, cu)));
            let cv = vreinterpretq_s16_u16(vmovl_u8(vzip1_u8(cv, cv)));
            let cu = vsubq_s16(vshlq_n_s16::<3>(cu), bias);
            let cv = vsubq_s16(vshlq_n_s16::<3>(cv), bias);
            let l = mulhi(vsubq_s16(vshlq_n_s16::<3>(yv), y_off), y_mul);
            let b = vaddq_s16(l, mulhi(cu, ub));
            let g = vaddq_s16(l, vaddq_s16(mulhi(cu, ug), mulhi(cv, vg)));
            let r = vaddq_s16(l, mulhi(cv, vr));
            vst1q_s16(out.add(x), vminq_s16(vmaxq_s16(b, zero), max));
            vst1q_s16(out.add(stride + x), vminq_s16(vmaxq_s16(g, zero), max));
            vst1q_s16(out.add(2 * stride + x), vminq_s16(vmaxq_s16(r, zero), max));
        }
        x += 8;
    }
}

/// Four chroma samples from `i` (a checked read).
fn chroma4(c: &[u8], i: usize) -> [u8; 4] {
    [c[i], c[i + 1], c[i + 2], c[i + 3]]
}
