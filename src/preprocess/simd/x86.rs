//! SSE2 (baseline) and AVX2 (detected at run time) kernels. Each returns how many elements from
//! the start it wrote (a multiple of its vector width); the caller finishes the row portably.
//! Every wrapper checks what its unsafe block relies on: the feature, and that each vector access
//! stays inside the slices (lengths are asserted by the callers in `simd`, indices by `Columns`).
// Vector intrinsics read and write through raw pointers and need `unsafe`; the crate denies unsafe
// code everywhere else.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::Columns;
use crate::preprocess::yuv::YuvCoefficients;

pub fn horizontal_packed_avx2(src: &[u8], cols: &Columns, out: &mut [i32]) -> usize {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return 0;
    }
    let n = cols.len();
    // Gathers read 4 bytes at i0·3 and at i0·3 + 2: up to byte i0·3 + 5, inside the row while
    // i0 + 1 < src_w, which holds for the first `pairs` samples (`Columns::set`).
    let done = cols.pairs / 8 * 8;
    debug_assert!(src.len() >= cols.src_w * 3 && out.len() == n * 3);
    // SAFETY: AVX2 is present (checked above); gathers stay inside `src` (see above), loads of
    // the tables read `done ≤ n` elements of vectors of length n, stores write planes of `out`
    // (length 3n) below `done`.
    unsafe { h_packed(src.as_ptr(), cols, out.as_mut_ptr(), n, done) };
    done
}

#[target_feature(enable = "avx2")]
unsafe fn h_packed(src: *const u8, cols: &Columns, out: *mut i32, n: usize, done: usize) {
    let lo = _mm256_set1_epi32(0xff);
    let hi = _mm256_set1_epi32(0xff_0000);
    let mut x = 0;
    while x < done {
        // SAFETY: see `horizontal_packed_avx2`.
        unsafe {
            let offs = _mm256_loadu_si256(cols.i0x3.as_ptr().add(x).cast());
            let w = _mm256_loadu_si256(cols.wpair.as_ptr().add(x).cast());
            // g1 = [c0 c1 c2 | c0'], g2 = [c2 | c0' c1' c2'] of the pixel pair (i0, i0 + 1).
            let g1 = _mm256_i32gather_epi32::<1>(src.cast(), offs);
            let g2 = _mm256_i32gather_epi32::<1>(src.add(2).cast(), offs);
            // Per channel: the first sample in the low 16 bits, the second in the high 16.
            let p0 = _mm256_or_si256(_mm256_and_si256(g1, lo), _mm256_and_si256(_mm256_srli_epi32::<8>(g1), hi));
            let p1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32::<8>(g1), lo), _mm256_and_si256(g2, hi));
            let p2 = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi32::<16>(g1), lo),
                _mm256_and_si256(_mm256_srli_epi32::<8>(g2), hi),
            );
            _mm256_storeu_si256(out.add(x).cast(), _mm256_madd_epi16(p0, w));
            _mm256_storeu_si256(out.add(n + x).cast(), _mm256_madd_epi16(p1, w));
            _mm256_storeu_si256(out.add(2 * n + x).cast(), _mm256_madd_epi16(p2, w));
        }
        x += 8;
    }
}

pub fn horizontal_planes_avx2(planes: &[i16], stride: usize, cols: &Columns, out: &mut [i32]) -> usize {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return 0;
    }
    let n = cols.len();
    // A gather reads samples i0 and i0 + 1 of a plane: inside it while i0 + 1 < src_w ≤ stride.
    let done = cols.pairs / 8 * 8;
    debug_assert!(stride >= cols.src_w && planes.len() >= stride * 3 && out.len() == n * 3);
    // SAFETY: AVX2 is present; gathers stay inside each plane (above); table loads and stores
    // stay below `done ≤ n` as in `horizontal_packed_avx2`.
    unsafe { h_planes(planes.as_ptr(), stride, cols, out.as_mut_ptr(), n, done) };
    done
}

#[target_feature(enable = "avx2")]
unsafe fn h_planes(planes: *const i16, stride: usize, cols: &Columns, out: *mut i32, n: usize, done: usize) {
    let mut x = 0;
    while x < done {
        // SAFETY: see `horizontal_planes_avx2`.
        unsafe {
            let idx = _mm256_loadu_si256(cols.i0.as_ptr().add(x).cast());
            let w = _mm256_loadu_si256(cols.wpair.as_ptr().add(x).cast());
            for c in 0..3 {
                // Samples i0 (low 16 bits) and i0 + 1 (high): the pair the weights multiply.
                let g = _mm256_i32gather_epi32::<2>(planes.add(c * stride).cast(), idx);
                _mm256_storeu_si256(out.add(c * n + x).cast(), _mm256_madd_epi16(g, w));
            }
        }
        x += 8;
    }
}

/// The blend of 8 lanes in 32 bits, clamped to 0..=255 like `resize::vertical`.
#[target_feature(enable = "avx2")]
unsafe fn blend8(s0: *const i32, s1: *const i32, b0: __m256i, b1: __m256i) -> __m256i {
    // SAFETY: the callers pass pointers to 8 readable elements.
    let (a, b) = unsafe { (_mm256_loadu_si256(s0.cast()), _mm256_loadu_si256(s1.cast())) };
    let a = _mm256_srai_epi32::<16>(_mm256_mullo_epi32(_mm256_srai_epi32::<4>(a), b0));
    let b = _mm256_srai_epi32::<16>(_mm256_mullo_epi32(_mm256_srai_epi32::<4>(b), b1));
    let v = _mm256_srai_epi32::<2>(_mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_set1_epi32(2)));
    _mm256_min_epi32(_mm256_max_epi32(v, _mm256_setzero_si256()), _mm256_set1_epi32(255))
}

pub fn vertical_u8_avx2(s0: &[i32], s1: &[i32], b0: i32, b1: i32, out: &mut [u8]) -> usize {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return 0;
    }
    let done = out.len() / 8 * 8;
    debug_assert!(s0.len() >= done && s1.len() >= done);
    // SAFETY: AVX2 is present; 8-element reads of s0, s1 and 8-byte writes of out below `done`,
    // which is within all three (equal lengths, asserted by the caller).
    unsafe { v_u8(s0.as_ptr(), s1.as_ptr(), b0, b1, out.as_mut_ptr(), done) };
    done
}

#[target_feature(enable = "avx2")]
unsafe fn v_u8(s0: *const i32, s1: *const i32, b0: i32, b1: i32, out: *mut u8, done: usize) {
    let (b0, b1) = (_mm256_set1_epi32(b0), _mm256_set1_epi32(b1));
    let mut x = 0;
    while x < done {
        // SAFETY: see `vertical_u8_avx2`.
        unsafe {
            let v = blend8(s0.add(x), s1.add(x), b0, b1);
            // 0..=255 in 32-bit lanes → bytes: lanes 0-3 and 4-7 end in each half's low 4 bytes.
            let p = _mm256_packus_epi16(_mm256_packs_epi32(v, v), _mm256_setzero_si256());
            let lo = _mm_cvtsi128_si32(_mm256_castsi256_si128(p)) as u32 as u64;
            let hi = _mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(p)) as u32 as u64;
            out.add(x).cast::<u64>().write_unaligned(lo | (hi << 32));
        }
        x += 8;
    }
}

#[allow(clippy::too_many_arguments)]
pub fn vertical_f32_avx2(s0: &[i32], s1: &[i32], b0: i32, b1: i32, mean: f32, std: f32, out: &mut [f32]) -> usize {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return 0;
    }
    let done = out.len() / 8 * 8;
    debug_assert!(s0.len() >= done && s1.len() >= done);
    // SAFETY: AVX2 is present; 8-element reads and writes below `done`, within all three slices.
    unsafe { v_f32(s0.as_ptr(), s1.as_ptr(), b0, b1, mean, std, out.as_mut_ptr(), done) };
    done
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn v_f32(s0: *const i32, s1: *const i32, b0: i32, b1: i32, mean: f32, std: f32, out: *mut f32, done: usize) {
    let (b0, b1) = (_mm256_set1_epi32(b0), _mm256_set1_epi32(b1));
    let (mean, std) = (_mm256_set1_ps(mean), _mm256_set1_ps(std));
    let mut x = 0;
    while x < done {
        // SAFETY: see `vertical_f32_avx2`.
        unsafe {
            let v = _mm256_cvtepi32_ps(blend8(s0.add(x), s1.add(x), b0, b1));
            _mm256_storeu_ps(out.add(x), _mm256_div_ps(_mm256_sub_ps(v, mean), std));
        }
        x += 8;
    }
}

/// The blend of 8 lanes in 16 bits (`pmulhw` is the `(a·b) >> 16` of the scalar blend, exact as
/// `S >> 4` ≤ 32767 and the weights ≤ 2048 fit), clamped to 0..=255.
///
/// # Safety
/// `s0` and `s1` point to 8 readable elements.
#[target_feature(enable = "sse2")]
unsafe fn blend8_sse2(s0: *const i32, s1: *const i32, b0: __m128i, b1: __m128i) -> __m128i {
    // SAFETY: 8 readable elements each (the callers).
    let (a0, a1, c0, c1) = unsafe {
        (
            _mm_loadu_si128(s0.cast()),
            _mm_loadu_si128(s0.add(4).cast()),
            _mm_loadu_si128(s1.cast()),
            _mm_loadu_si128(s1.add(4).cast()),
        )
    };
    let a = _mm_packs_epi32(_mm_srai_epi32::<4>(a0), _mm_srai_epi32::<4>(a1));
    let c = _mm_packs_epi32(_mm_srai_epi32::<4>(c0), _mm_srai_epi32::<4>(c1));
    let v = _mm_add_epi16(_mm_mulhi_epi16(a, b0), _mm_mulhi_epi16(c, b1));
    let v = _mm_srai_epi16::<2>(_mm_add_epi16(v, _mm_set1_epi16(2)));
    _mm_min_epi16(_mm_max_epi16(v, _mm_setzero_si128()), _mm_set1_epi16(255))
}

/// Whether the 16-bit blend is exact for these weights (the horizontal sums always fit).
pub(super) fn sse2_weights(b0: i32, b1: i32) -> bool {
    (0..=i16::MAX as i32).contains(&b0) && (0..=i16::MAX as i32).contains(&b1)
}

pub fn vertical_u8_sse2(s0: &[i32], s1: &[i32], b0: i32, b1: i32, out: &mut [u8]) -> usize {
    if !sse2_weights(b0, b1) {
        return 0;
    }
    let done = out.len() / 8 * 8;
    debug_assert!(s0.len() >= done && s1.len() >= done);
    // SAFETY: SSE2 is the x86_64 baseline; 8-element reads of s0, s1 and 8-byte writes of out
    // below `done`, within all three (equal lengths, asserted by the caller).
    unsafe { v_u8_sse2(s0.as_ptr(), s1.as_ptr(), b0, b1, out.as_mut_ptr(), done) };
    done
}

#[target_feature(enable = "sse2")]
unsafe fn v_u8_sse2(s0: *const i32, s1: *const i32, b0: i32, b1: i32, out: *mut u8, done: usize) {
    let (b0, b1) = (_mm_set1_epi16(b0 as i16), _mm_set1_epi16(b1 as i16));
    let mut x = 0;
    while x < done {
        // SAFETY: see `vertical_u8_sse2`.
        unsafe {
            let v = blend8_sse2(s0.add(x), s1.add(x), b0, b1);
            _mm_storel_epi64(out.add(x).cast(), _mm_packus_epi16(v, v));
        }
        x += 8;
    }
}

#[allow(clippy::too_many_arguments)]
pub fn vertical_f32_sse2(s0: &[i32], s1: &[i32], b0: i32, b1: i32, mean: f32, std: f32, out: &mut [f32]) -> usize {
    if !sse2_weights(b0, b1) {
        return 0;
    }
    let done = out.len() / 8 * 8;
    debug_assert!(s0.len() >= done && s1.len() >= done);
    // SAFETY: SSE2 is the x86_64 baseline; 8-element reads and writes below `done`, within all
    // three slices.
    unsafe { v_f32_sse2(s0.as_ptr(), s1.as_ptr(), b0, b1, mean, std, out.as_mut_ptr(), done) };
    done
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "sse2")]
unsafe fn v_f32_sse2(
    s0: *const i32,
    s1: *const i32,
    b0: i32,
    b1: i32,
    mean: f32,
    std: f32,
    out: *mut f32,
    done: usize,
) {
    let (b0, b1) = (_mm_set1_epi16(b0 as i16), _mm_set1_epi16(b1 as i16));
    let (mean, std) = (_mm_set1_ps(mean), _mm_set1_ps(std));
    let zero = _mm_setzero_si128();
    let mut x = 0;
    while x < done {
        // SAFETY: see `vertical_f32_sse2`.
        unsafe {
            let v = blend8_sse2(s0.add(x), s1.add(x), b0, b1);
            // 0..=255: widening with zeros is exact.
            let lo = _mm_cvtepi32_ps(_mm_unpacklo_epi16(v, zero));
            let hi = _mm_cvtepi32_ps(_mm_unpackhi_epi16(v, zero));
            _mm_storeu_ps(out.add(x), _mm_div_ps(_mm_sub_ps(lo, mean), std));
            _mm_storeu_ps(out.add(x + 4), _mm_div_ps(_mm_sub_ps(hi, mean), std));
        }
        x += 8;
    }
}

pub fn yuv_planes_avx2(c: &YuvCoefficients, y: &[u8], u: &[u8], v: &[u8], out: &mut [i16], stride: usize) -> usize {
    let k = c.fixed_point();
    // 16-bit lanes are exact only with 16-bit factors (every matrix and range has them).
    if !std::arch::is_x86_feature_detected!("avx2") || !k.iter().all(|&f| i16::try_from(f).is_ok()) {
        return 0;
    }
    // 16 pixels (8 chroma samples) a step.
    let done = y.len() / 16 * 16;
    debug_assert!(u.len() >= done / 2 && v.len() >= done / 2 && stride >= y.len() && out.len() >= stride * 3);
    // SAFETY: AVX2 is present; reads of 16 luma and 8 chroma bytes at x < done and x / 2 stay
    // within y, u and v (u, v hold ceil(w / 2) ≥ done / 2); 16-element writes at c·stride + x stay
    // within each plane (stride ≥ w ≥ done).
    unsafe { yuv(k, y.as_ptr(), u.as_ptr(), v.as_ptr(), out.as_mut_ptr(), stride, done) };
    done
}

#[target_feature(enable = "avx2")]
unsafe fn yuv(k: [i32; 6], y: *const u8, u: *const u8, v: *const u8, out: *mut i16, stride: usize, done: usize) {
    // The factors fit in 16 bits (checked by the caller; swscale keeps them there for pmulhw).
    let y_mul = _mm256_set1_epi16(k[0] as i16);
    let y_off = _mm256_set1_epi16(k[1] as i16);
    let vr = _mm256_set1_epi16(k[2] as i16);
    let ub = _mm256_set1_epi16(k[3] as i16);
    let ug = _mm256_set1_epi16(k[4] as i16);
    let vg = _mm256_set1_epi16(k[5] as i16);
    let bias = _mm256_set1_epi16(1024);
    let max = _mm256_set1_epi16(255);
    let zero = _mm256_setzero_si256();
    let mut x = 0;
    while x < done {
        // SAFETY: see `yuv_planes_avx2`.
        unsafe {
            let yv = _mm256_cvtepu8_epi16(_mm_loadu_si128(y.add(x).cast()));
            // Each chroma sample twice, for the two pixels that share it.
            let cu = _mm_cvtepu8_epi16(_mm_loadl_epi64(u.add(x / 2).cast()));
            let cu = _mm256_set_m128i(_mm_unpackhi_epi16(cu, cu), _mm_unpacklo_epi16(cu, cu));
            let cu = _mm256_sub_epi16(_mm256_slli_epi16::<3>(cu), bias);
            let cv = _mm_cvtepu8_epi16(_mm_loadl_epi64(v.add(x / 2).cast()));
            let cv = _mm256_set_m128i(_mm_unpackhi_epi16(cv, cv), _mm_unpacklo_epi16(cv, cv));
            let cv = _mm256_sub_epi16(_mm256_slli_epi16::<3>(cv), bias);
            let l = _mm256_mulhi_epi16(_mm256_sub_epi16(_mm256_slli_epi16::<3>(yv), y_off), y_mul);
            let b = _mm256_add_epi16(l, _mm256_mulhi_epi16(cu, ub));
            let g = _mm256_add_epi16(l, _mm256_add_epi16(_mm256_mulhi_epi16(cu, ug), _mm256_mulhi_epi16(cv, vg)));
            let r = _mm256_add_epi16(l, _mm256_mulhi_epi16(cv, vr));
            for (i, p) in [b, g, r].into_iter().enumerate() {
                let p = _mm256_min_epi16(_mm256_max_epi16(p, zero), max);
                _mm256_storeu_si256(out.add(i * stride + x).cast(), p);
            }
        }
        x += 16;
    }
}
