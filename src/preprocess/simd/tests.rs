//! Every kernel at every level this CPU runs against the scalar reference (`resize`, `yuv`, the
//! normalisation expression), on seeded random rows: widths from 1 (shorter than any vector) to a
//! few hundred (not multiples of the vector widths), upscales and downscales, every value range.

use super::*;
use crate::preprocess::resize::{column_taps, horizontal, row_taps, vertical};
use crate::preprocess::yuv::Matrix;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32
    }
    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        // Extremes often: saturation and clamping live there.
        (0..n)
            .map(|_| match self.below(8) {
                0 => 0,
                1 => 255,
                _ => self.next() as u8,
            })
            .collect()
    }
}

/// The vector levels of this CPU (the scalar one has no kernels of its own).
fn levels() -> Vec<Simd> {
    let v: Vec<Simd> = Simd::available().into_iter().filter(|&l| l != Simd::Off).collect();
    #[cfg(target_arch = "x86_64")]
    assert!(v.contains(&Simd::Sse2));
    #[cfg(target_arch = "aarch64")]
    assert!(v.contains(&Simd::Neon));
    v
}

/// `(src_w, dst_w)` pairs: tiny, equal, up and down, around the vector widths.
fn widths(rng: &mut Rng) -> Vec<(usize, usize)> {
    let mut v = vec![(1, 1), (1, 9), (9, 1), (2, 17), (8, 8), (16, 8), (17, 9), (33, 16), (768, 416), (1920, 416)];
    for _ in 0..150 {
        v.push((1 + rng.below(300), 1 + rng.below(300)));
    }
    v
}

#[test]
fn horizontal_passes_match_the_scalar_pass() {
    let mut rng = Rng(0x5eed_0001);
    let mut taps = Vec::new();
    for (sw, dw) in widths(&mut rng) {
        column_taps(sw as u32, dw as u32, &mut taps);
        let cols = Columns::new(sw, &taps);
        let src = rng.bytes(sw * 3);
        let mut want = vec![0i32; dw * 3];
        horizontal(&src, &taps, &mut want);
        // The scalar pass interleaves; the planar ones give plane c, sample x.
        let want: Vec<i32> = (0..3).flat_map(|c| want.iter().skip(c).step_by(3).copied().collect::<Vec<_>>()).collect();
        let stride = sw + rng.below(5);
        let mut planes = vec![0i16; stride * 3];
        for c in 0..3 {
            for x in 0..sw {
                planes[c * stride + x] = src[x * 3 + c] as i16;
            }
        }
        for level in std::iter::once(Simd::Off).chain(levels()) {
            let mut got = vec![-1; dw * 3];
            horizontal_packed(level, &src, &cols, &mut got);
            assert_eq!(got, want, "{level:?} packed {sw} -> {dw}");
            let mut got = vec![-1; dw * 3];
            horizontal_planes(level, &planes, stride, &cols, &mut got);
            assert_eq!(got, want, "{level:?} planes {sw} -> {dw} (stride {stride})");
        }
    }
}

#[test]
fn vertical_blends_match_the_scalar_blend_and_normalisation() {
    let mut rng = Rng(0x5eed_0002);
    let mut ytaps = Vec::new();
    let mut xtaps = Vec::new();
    for (sh, dh) in widths(&mut rng).into_iter().take(60) {
        row_taps(sh as u32, dh as u32, &mut ytaps);
        let n = 1 + rng.below(200);
        // Horizontal sums as the horizontal pass makes them, of random pixels and random taps.
        column_taps(1 + rng.below(400) as u32, n as u32, &mut xtaps);
        let sums = |rng: &mut Rng| -> Vec<i32> {
            xtaps.iter().map(|t| rng.bytes(1)[0] as i32 * t.w0 + rng.bytes(1)[0] as i32 * t.w1).collect()
        };
        let (s0, s1) = (sums(&mut rng), sums(&mut rng));
        let (mean, std) = (rng.below(256) as f32 * 0.75 - 20.0, 0.25 + rng.below(300) as f32 * 0.5);
        for tap in ytaps.iter().step_by(1 + dh / 8) {
            let want: Vec<u8> = s0.iter().zip(&s1).map(|(&a, &b)| vertical(a, b, tap.w0, tap.w1)).collect();
            let want_f: Vec<u32> = want.iter().map(|&v| ((v as f32 - mean) / std).to_bits()).collect();
            for level in std::iter::once(Simd::Off).chain(levels()) {
                let mut got = vec![0xa5u8; n];
                vertical_u8(level, &s0, &s1, tap.w0, tap.w1, &mut got);
                assert_eq!(got, want, "{level:?} u8, {n} samples, weights {} {}", tap.w0, tap.w1);
                let mut got = vec![f32::NAN; n];
                vertical_f32(level, &s0, &s1, tap.w0, tap.w1, mean, std, &mut got);
                let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
                assert_eq!(got, want_f, "{level:?} f32, {n} samples, weights {} {}", tap.w0, tap.w1);
            }
        }
    }
}

#[test]
fn yuv_conversions_match_the_scalar_conversion() {
    let mut rng = Rng(0x5eed_0003);
    for case in 0..300 {
        let w = if case < 40 { 1 + case } else { 1 + rng.below(400) };
        let matrix = [Matrix::Bt601, Matrix::Bt709, Matrix::Bt2020][case % 3];
        let c = YuvCoefficients::new(matrix, case % 2 == 0);
        let (y, u, v) = (rng.bytes(w), rng.bytes(w.div_ceil(2)), rng.bytes(w.div_ceil(2)));
        let mut bgr = vec![0u8; w * 3];
        c.row_to_bgr(&y, &u, &v, &mut bgr);
        let stride = w + rng.below(20);
        for level in std::iter::once(Simd::Off).chain(levels()) {
            let mut planes = vec![-1i16; stride * 3];
            yuv_planes(level, &c, &y, &u, &v, &mut planes, stride);
            for x in 0..w {
                for ch in 0..3 {
                    assert_eq!(
                        planes[ch * stride + x],
                        bgr[x * 3 + ch] as i16,
                        "{level:?} {matrix:?} w {w} x {x} ch {ch}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_normalisation_check_compares_every_value() {
    let (mean, std) = (103.53f32, 57.375f32);
    let mut table = [0.0f32; 256];
    for (v, t) in table.iter_mut().enumerate() {
        *t = (v as f32 - mean) / std;
    }
    for level in std::iter::once(Simd::Off).chain(levels()) {
        assert!(normalises_like(level, mean, std, &table), "{level:?}");
        // One value one bit off, first or last: the check must see it.
        for i in [0, 255] {
            let mut t = table;
            t[i] = f32::from_bits(t[i].to_bits() ^ 1);
            assert!(!normalises_like(level, mean, std, &t), "{level:?} value {i}");
        }
    }
}

#[test]
fn pairs_end_where_the_second_tap_leaves_the_row() {
    let mut taps = Vec::new();
    // Upscale: the last output samples clamp to the last pixel (i0 = last): not pairs.
    column_taps(4, 16, &mut taps);
    let c = Columns::new(4, &taps);
    assert_eq!(c.len(), 16);
    assert!(taps[..c.pairs].iter().all(|t| t.i0 + 1 < 4));
    assert!(c.pairs < 16 && taps[c.pairs].i0 + 1 >= 4);
    // A one-pixel row has no pairs at all.
    column_taps(1, 5, &mut taps);
    assert_eq!(Columns::new(1, &taps).pairs, 0);
    // Taps that are not neighbours with a weight end the pairs.
    let odd = [Tap { i0: 0, i1: 1, w0: 1024, w1: 1024 }, Tap { i0: 0, i1: 2, w0: 1024, w1: 1024 }];
    assert_eq!(Columns::new(3, &odd).pairs, 1);
    let zero = [Tap { i0: 0, i1: 2, w0: 2048, w1: 0 }];
    assert_eq!(Columns::new(3, &zero).pairs, 1);
    assert_eq!(Columns::new(3, &[Tap { i0: 0, i1: 1, w0: 40000, w1: 0 }]).pairs, 0);
    assert_eq!(Columns::new(3, &[Tap { i0: 0, i1: 1, w0: 0, w1: 40000 }]).pairs, 0);
    assert_eq!(Columns::new(3, &[Tap { i0: 0, i1: 1, w0: -1, w1: 0 }]).pairs, 0);
    assert!(!Columns::new(3, &zero).is_empty() && Columns::default().is_empty());
}

#[test]
fn the_environment_turns_the_vector_path_off() {
    for off in ["off", " off ", "scalar", "0"] {
        assert_eq!(Simd::parse_env(Some(off)), Simd::Off, "{off:?}");
    }
    for on in [None, Some(""), Some("on"), Some("auto"), Some("avx2")] {
        assert_eq!(Simd::parse_env(on), Simd::best(), "{on:?}");
    }
    assert!(Simd::best().runs_here() && Simd::Off.runs_here());
    assert_eq!(Simd::from_env(), Simd::parse_env(std::env::var("EDGESIGHT_SIMD").ok().as_deref()));
    #[cfg(target_arch = "x86_64")]
    assert_eq!(Simd::best(), if std::arch::is_x86_feature_detected!("avx2") { Simd::Avx2 } else { Simd::Sse2 });
    #[cfg(target_arch = "aarch64")]
    assert_eq!(Simd::best(), Simd::Neon);
    assert_eq!(Simd::available()[0], Simd::Off);
    #[cfg(target_arch = "x86_64")]
    assert!(!Simd::Neon.runs_here());
    #[cfg(target_arch = "aarch64")]
    assert!(!Simd::Avx2.runs_here() && !Simd::Sse2.runs_here());
    let names: Vec<&str> = [Simd::Off, Simd::Sse2, Simd::Avx2, Simd::Neon].iter().map(|l| l.name()).collect();
    assert_eq!(names, ["scalar", "sse2", "avx2", "neon"]);
}

/// What a vector kernel writes by itself (before the portable tail): `(written, expected)`
/// counts, and whether that prefix is right and nothing after it was touched. A kernel that gave
/// up and left the row to the portable code would give the same tensor: this is what sees it.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn prefix_ok<T: PartialEq + Copy>(got: &[T], want: &[T], before: T, done: usize) -> bool {
    got[..done] == want[..done] && got[done..].iter().all(|&g| g == before)
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn vector_kernels_do_the_work_themselves() {
    let mut rng = Rng(0x5eed_0004);
    let mut taps = Vec::new();
    for (sw, dw) in [(768, 416), (1920, 416), (40, 33), (100, 203), (5, 3)] {
        column_taps(sw as u32, dw as u32, &mut taps);
        let cols = Columns::new(sw, &taps);
        let src = rng.bytes(sw * 3);
        let mut want = vec![0i32; dw * 3];
        horizontal_packed(Simd::Off, &src, &cols, &mut want);
        let expect = cols.pairs / 8 * 8;
        let planes: Vec<i16> =
            (0..3).flat_map(|c| (0..sw).map(move |x| (c, x))).map(|(c, x)| src[x * 3 + c] as i16).collect();
        let mut b = vec![0i32; dw * 3];
        horizontal_planes(Simd::Off, &planes, sw, &cols, &mut b);
        assert_eq!(b, want);
        #[cfg(target_arch = "x86_64")]
        if Simd::Avx2.runs_here() {
            let mut got = vec![-1; dw * 3];
            let done = x86::horizontal_packed_avx2(&src, &cols, &mut got);
            assert_eq!(done, expect, "{sw} -> {dw}");
            for c in 0..3 {
                let r = c * dw..(c + 1) * dw;
                assert!(prefix_ok(&got[r.clone()], &want[r], -1, done), "packed {sw} -> {dw} plane {c}");
            }
            let mut got = vec![-1; dw * 3];
            assert_eq!(x86::horizontal_planes_avx2(&planes, sw, &cols, &mut got), expect);
            for c in 0..3 {
                let r = c * dw..(c + 1) * dw;
                assert!(prefix_ok(&got[r.clone()], &want[r], -1, expect), "planes {sw} -> {dw} plane {c}");
            }
        }
        let _ = expect;
    }
    for n in [1, 7, 8, 9, 15, 16, 17, 100, 416] {
        let s0: Vec<i32> = (0..n).map(|_| rng.below(256) as i32 * 2048).collect();
        let s1: Vec<i32> = (0..n).map(|_| rng.below(256) as i32 * 1024 + rng.below(256) as i32 * 1024).collect();
        let (b0, b1) = (1 + rng.below(2047) as i32, 0);
        let b1 = b1 + 2048 - b0;
        let (mean, std) = (103.53, 57.375);
        let mut want = vec![0u8; n];
        vertical_u8(Simd::Off, &s0, &s1, b0, b1, &mut want);
        let mut want_f = vec![0.0f32; n];
        vertical_f32(Simd::Off, &s0, &s1, b0, b1, mean, std, &mut want_f);
        let want_f: Vec<u32> = want_f.iter().map(|x| x.to_bits()).collect();
        type U8Kernel = fn(&[i32], &[i32], i32, i32, &mut [u8]) -> usize;
        type F32Kernel = fn(&[i32], &[i32], i32, i32, f32, f32, &mut [f32]) -> usize;
        let mut kernels: Vec<(&str, U8Kernel, F32Kernel, usize)> = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            kernels.push(("sse2", x86::vertical_u8_sse2, x86::vertical_f32_sse2, n / 8 * 8));
            if Simd::Avx2.runs_here() {
                kernels.push(("avx2", x86::vertical_u8_avx2, x86::vertical_f32_avx2, n / 8 * 8));
            }
        }
        #[cfg(target_arch = "aarch64")]
        kernels.push(("neon", neon::vertical_u8, neon::vertical_f32, n / 8 * 8));
        for (name, ku8, kf32, expect) in kernels {
            let mut got = vec![0xa5u8; n];
            assert_eq!(ku8(&s0, &s1, b0, b1, &mut got), expect, "{name} u8 {n}");
            assert!(prefix_ok(&got, &want, 0xa5, expect), "{name} u8 {n}");
            let mut got = vec![f32::NAN; n];
            let done = kf32(&s0, &s1, b0, b1, mean, std, &mut got);
            // NEON works 4 lanes at a time for f32.
            assert!(done == expect || (name == "neon" && done == n / 4 * 4), "{name} f32 {n}: {done}");
            let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
            assert!(prefix_ok(&got, &want_f, f32::NAN.to_bits(), done), "{name} f32 {n}");
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        assert!(x86::sse2_weights(2048, 0) && x86::sse2_weights(0, 32767));
        assert!(!x86::sse2_weights(32768, 0) && !x86::sse2_weights(0, 32768));
        assert!(!x86::sse2_weights(-1, 0) && !x86::sse2_weights(0, -1));
    }
    type YuvKernel = fn(&YuvCoefficients, &[u8], &[u8], &[u8], &mut [i16], usize) -> usize;
    for w in [1, 15, 16, 17, 33, 768] {
        let c = YuvCoefficients::new(Matrix::Bt709, false);
        let (y, u, v) = (rng.bytes(w), rng.bytes(w.div_ceil(2)), rng.bytes(w.div_ceil(2)));
        let mut want = vec![0i16; w * 3];
        yuv_planes(Simd::Off, &c, &y, &u, &v, &mut want, w);
        #[cfg(target_arch = "x86_64")]
        let (kernel, expect): (Option<YuvKernel>, usize) =
            (Simd::Avx2.runs_here().then_some(x86::yuv_planes_avx2 as _), w / 16 * 16);
        #[cfg(target_arch = "aarch64")]
        let (kernel, expect): (Option<YuvKernel>, usize) = (Some(neon::yuv_planes as _), w / 8 * 8);
        if let Some(k) = kernel {
            let mut got = vec![-1i16; w * 3];
            assert_eq!(k(&c, &y, &u, &v, &mut got, w), expect, "yuv {w}");
            for ch in 0..3 {
                let r = ch * w..(ch + 1) * w;
                assert!(prefix_ok(&got[r.clone()], &want[r], -1, expect), "yuv {w} plane {ch}");
            }
        }
    }
}
