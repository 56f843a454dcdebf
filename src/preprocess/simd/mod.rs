//! Vector kernels of the CPU preprocessor's fast path, bit-exact with the scalar path.
//!
//! The scalar path (`cpu::Resampler`, `resize`, `yuv`, the normalisation tables) stays the
//! reference and the fallback. The fast path (`planar::PlanarResampler`) keeps rows as planes
//! (one per colour) so that every step runs along a row in vector lanes:
//! - YUV → BGR (swscale arithmetic) for the rows the resize needs, into 16-bit planes;
//! - the horizontal pass: both taps of an output sample are neighbours (`i1 = i0 + 1`, or the
//!   second weight is 0), so one 32-bit gather fetches the pair and one multiply-add gives
//!   `a·w0 + b·w1`;
//! - the vertical blend `((S0 >> 4)·b0 >> 16) + ((S1 >> 4)·b1 >> 16) + 2 >> 2` in 32-bit lanes
//!   (16-bit high multiplies on SSE2, exact because `S >> 4` and the weights fit in 16 bits);
//! - f32 normalisation `(v - mean) / std` in single precision: IEEE subtraction and division give
//!   the table's bits, which is checked over all 256 values per channel before it is used.
//!
//! Levels: SSE2 (x86_64 baseline), AVX2 (chosen at run time), NEON (aarch64 baseline). Every
//! kernel has a portable version here (`portable`), used where a level has none and for the tails
//! of rows shorter than a vector. `EDGESIGHT_SIMD=off` (read once) forces the scalar path.

#[cfg(target_arch = "aarch64")]
mod neon;
pub mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::OnceLock;

use super::resize::Tap;
use super::yuv::YuvCoefficients;

/// Which instructions the CPU preprocessor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    /// The scalar reference path (`EDGESIGHT_SIMD=off`).
    Off,
    /// x86_64 baseline.
    Sse2,
    /// x86_64 with AVX2 (detected at run time).
    Avx2,
    /// aarch64 baseline.
    Neon,
}

impl Simd {
    /// The best level this CPU runs.
    pub fn best() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") { Simd::Avx2 } else { Simd::Sse2 }
        }
        #[cfg(target_arch = "aarch64")]
        {
            Simd::Neon
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            Simd::Off
        }
    }

    /// The level `CpuPreprocessor::new` uses: the best one, or the scalar path when the
    /// environment variable `EDGESIGHT_SIMD` is `off` (read once per process).
    pub fn from_env() -> Simd {
        static LEVEL: OnceLock<Simd> = OnceLock::new();
        *LEVEL.get_or_init(|| Simd::parse_env(std::env::var("EDGESIGHT_SIMD").ok().as_deref()))
    }

    /// `EDGESIGHT_SIMD`'s meaning: `off` (or `scalar`, `0`) the scalar path, anything else the
    /// best level.
    fn parse_env(value: Option<&str>) -> Simd {
        match value.map(str::trim) {
            Some("off" | "scalar" | "0") => Simd::Off,
            _ => Simd::best(),
        }
    }

    /// Whether this CPU runs the level.
    pub fn runs_here(self) -> bool {
        Simd::available().contains(&self)
    }

    /// Every level this CPU runs, the scalar path first.
    pub fn available() -> Vec<Simd> {
        let mut v = vec![Simd::Off];
        #[cfg(target_arch = "x86_64")]
        {
            v.push(Simd::Sse2);
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(Simd::Avx2);
            }
        }
        #[cfg(target_arch = "aarch64")]
        v.push(Simd::Neon);
        v
    }

    /// Short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Simd::Off => "scalar",
            Simd::Sse2 => "sse2",
            Simd::Avx2 => "avx2",
            Simd::Neon => "neon",
        }
    }
}

/// The horizontal taps of one source width, in the forms the kernels read.
#[derive(Debug, Default, Clone)]
pub struct Columns {
    src_w: usize,
    /// Per output sample: first and second source index, and the weights.
    i0: Vec<i32>,
    i1: Vec<i32>,
    w0: Vec<i32>,
    w1: Vec<i32>,
    /// `i0 · 3`: byte offset of the first pixel in a packed row.
    i0x3: Vec<i32>,
    /// `w0` in the low and `w1` in the high 16 bits: one multiply-add on a pair of samples.
    wpair: Vec<i32>,
    /// Output samples, from the first, whose pair can be read as two neighbours within the row
    /// (`i1 = i0 + 1` or `w1 = 0`, and `i0 + 1 < src_w`); the rest take the general path.
    pairs: usize,
}

impl Columns {
    /// Built from `resize::column_taps(src_w, …)`.
    pub fn new(src_w: usize, taps: &[Tap]) -> Columns {
        let mut c = Columns::default();
        c.set(src_w, taps);
        c
    }

    /// Rebuilds in place (keeps the buffers).
    pub fn set(&mut self, src_w: usize, taps: &[Tap]) {
        self.src_w = src_w;
        for v in [&mut self.i0, &mut self.i1, &mut self.w0, &mut self.w1, &mut self.i0x3, &mut self.wpair] {
            v.clear();
        }
        self.pairs = taps
            .iter()
            .take_while(|t| (t.i1 == t.i0 + 1 || t.w1 == 0) && t.i0 + 1 < src_w && fits_i16(t.w0) && fits_i16(t.w1))
            .count();
        for t in taps {
            // Indices and weights are below the source width and 2048; the casts are exact.
            self.i0.push(t.i0 as i32);
            self.i1.push(t.i1 as i32);
            self.w0.push(t.w0);
            self.w1.push(t.w1);
            self.i0x3.push(t.i0 as i32 * 3);
            self.wpair.push((t.w0 & 0xffff) | (t.w1 << 16));
        }
    }

    /// Output samples.
    pub fn len(&self) -> usize {
        self.i0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.i0.is_empty()
    }
}

fn fits_i16(w: i32) -> bool {
    (0..=i16::MAX as i32).contains(&w)
}

/// Horizontal pass of a packed 3-byte row (`src_w` pixels) into three planes of sums:
/// `out[c · n + x]` for channel byte `c` of output sample `x` (`n = cols.len()`).
pub fn horizontal_packed(level: Simd, src: &[u8], cols: &Columns, out: &mut [i32]) {
    assert!(src.len() >= cols.src_w * 3 && out.len() == cols.len() * 3, "row sizes");
    let done = match level {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => x86::horizontal_packed_avx2(src, cols, out),
        _ => 0,
    };
    portable::horizontal_packed(src, cols, out, done);
}

/// Horizontal pass of three 16-bit planes (`planes[c · stride + i]`, `stride ≥ src_w`) into
/// three planes of sums, as `horizontal_packed`.
pub fn horizontal_planes(level: Simd, planes: &[i16], stride: usize, cols: &Columns, out: &mut [i32]) {
    assert!(stride >= cols.src_w && planes.len() >= stride * 3 && out.len() == cols.len() * 3, "row sizes");
    let done = match level {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => x86::horizontal_planes_avx2(planes, stride, cols, out),
        _ => 0,
    };
    portable::horizontal_planes(planes, stride, cols, out, done);
}

/// Vertical blend of two rows of sums into 8-bit values (`resize::vertical` per element).
pub fn vertical_u8(level: Simd, s0: &[i32], s1: &[i32], b0: i32, b1: i32, out: &mut [u8]) {
    assert!(s0.len() == out.len() && s1.len() == out.len(), "row sizes");
    let done = match level {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => x86::vertical_u8_avx2(s0, s1, b0, b1, out),
        #[cfg(target_arch = "x86_64")]
        Simd::Sse2 => x86::vertical_u8_sse2(s0, s1, b0, b1, out),
        #[cfg(target_arch = "aarch64")]
        Simd::Neon => neon::vertical_u8(s0, s1, b0, b1, out),
        _ => 0,
    };
    portable::vertical_u8(&s0[done..], &s1[done..], b0, b1, &mut out[done..]);
}

/// Vertical blend then `(v - mean) / std` in single precision, into f32 elements.
#[allow(clippy::too_many_arguments)]
pub fn vertical_f32(level: Simd, s0: &[i32], s1: &[i32], b0: i32, b1: i32, mean: f32, std: f32, out: &mut [f32]) {
    assert!(s0.len() == out.len() && s1.len() == out.len(), "row sizes");
    let done = match level {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => x86::vertical_f32_avx2(s0, s1, b0, b1, mean, std, out),
        #[cfg(target_arch = "x86_64")]
        Simd::Sse2 => x86::vertical_f32_sse2(s0, s1, b0, b1, mean, std, out),
        #[cfg(target_arch = "aarch64")]
        Simd::Neon => neon::vertical_f32(s0, s1, b0, b1, mean, std, out),
        _ => 0,
    };
    portable::vertical_f32(&s0[done..], &s1[done..], b0, b1, mean, std, &mut out[done..]);
}

/// Whether `vertical_f32` at `level` gives the bits of `table` (the f32 normalisation table of
/// one channel) for every pixel value: a blend with weights (2048, 0) of `v · 2048` is `v`.
pub fn normalises_like(level: Simd, mean: f32, std: f32, table: &[f32; 256]) -> bool {
    let s0: Vec<i32> = (0..256).map(|v| v << 11).collect();
    let s1 = vec![0; 256];
    let mut out = vec![0.0f32; 256];
    vertical_f32(level, &s0, &s1, 2048, 0, mean, std, &mut out);
    out.iter().zip(table).all(|(a, b)| a.to_bits() == b.to_bits())
}

/// swscale's YUV → BGR (`YuvCoefficients::row_to_bgr`) of one row into three 16-bit planes
/// `out[c · stride + x]` (B, G, R), each value 0..=255.
pub fn yuv_planes(level: Simd, c: &YuvCoefficients, y: &[u8], u: &[u8], v: &[u8], out: &mut [i16], stride: usize) {
    let w = y.len();
    assert!(
        u.len() >= w.div_ceil(2) && v.len() >= w.div_ceil(2) && stride >= w && out.len() >= stride * 3,
        "row sizes"
    );
    let done = match level {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => x86::yuv_planes_avx2(c, y, u, v, out, stride),
        #[cfg(target_arch = "aarch64")]
        Simd::Neon => neon::yuv_planes(c, y, u, v, out, stride),
        _ => 0,
    };
    portable::yuv_planes(c, y, u, v, out, stride, done);
}

#[cfg(test)]
mod tests;
