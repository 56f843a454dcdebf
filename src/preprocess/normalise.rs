//! Normalisation as tables: every 8-bit pixel value of every channel mapped once to its tensor
//! element, `(v - mean) / std` in single precision like NumPy, then converted to the tensor's
//! element type. The CPU preprocessor indexes these tables; the CUDA kernel indexes a copy of
//! the same bytes on the device, which is why both give the same bits without either doing float
//! arithmetic per pixel.

use super::spec::{DType, InputSpec, Pad};

/// Per tensor channel: the element for each pixel value, and the padding element.
pub struct Lut<T> {
    pub table: [[T; 256]; 3],
    pub pad: [T; 3],
}

/// The tables in every element type a tensor can have.
pub struct Luts {
    pub f32: Lut<f32>,
    /// IEEE binary16 bits, rounded to nearest, ties to even.
    pub f16: Lut<u16>,
    pub u8: Lut<u8>,
}

fn normalise(v: f32, mean: f32, std: f32) -> f32 {
    (v - mean) / std
}

fn to_u8(x: f32) -> u8 {
    x.round().clamp(0.0, 255.0) as u8
}

impl Luts {
    pub fn new(spec: &InputSpec) -> Box<Luts> {
        let mut l = Box::new(Luts {
            f32: Lut { table: [[0.0; 256]; 3], pad: [0.0; 3] },
            f16: Lut { table: [[0; 256]; 3], pad: [0; 3] },
            u8: Lut { table: [[0; 256]; 3], pad: [0; 3] },
        });
        for c in 0..3 {
            for v in 0..256 {
                let x = normalise(v as f32, spec.mean[c], spec.std[c]);
                l.f32.table[c][v] = x;
                l.f16.table[c][v] = f16_bits(x);
                l.u8.table[c][v] = to_u8(x);
            }
            let pad = match spec.pad {
                Pad::Tensor(t) => t,
                Pad::Pixel(p) => normalise(p, spec.mean[c], spec.std[c]),
            };
            l.f32.pad[c] = pad;
            l.f16.pad[c] = f16_bits(pad);
            l.u8.pad[c] = to_u8(pad);
        }
        l
    }

    /// The table for `dtype` as little-endian bytes (3 × 256 elements), and each channel's
    /// padding element as bits: what the kernel is given.
    pub fn bytes(&self, dtype: DType) -> (Vec<u8>, [u32; 3]) {
        match dtype {
            DType::F32 => (
                self.f32.table.iter().flatten().flat_map(|x| x.to_le_bytes()).collect(),
                self.f32.pad.map(f32::to_bits),
            ),
            DType::F16 => {
                (self.f16.table.iter().flatten().flat_map(|x| x.to_le_bytes()).collect(), self.f16.pad.map(u32::from))
            }
            DType::U8 => (self.u8.table.iter().flatten().copied().collect(), self.u8.pad.map(u32::from)),
        }
    }
}

/// `x` as IEEE binary16 bits, rounded to nearest with ties to even (what CUDA's `__float2half_rn`
/// and NumPy's `astype(float16)` do); overflow gives infinity, NaN stays NaN.
pub fn f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 | (man >> 13) as u16 } else { 0 };
    }
    // Exponent re-biased from 127 to 15.
    let e = exp - 112;
    if e >= 31 {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Subnormal (or zero) in binary16: units of 2^-24. Below half the smallest one is zero.
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        // A carry out of the subnormal range gives 0x400, the smallest normal: still correct.
        return sign | round_shift(m, (14 - e) as u32) as u16;
    }
    let v = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    // A carry into the exponent is the right result too (up to 0x7c00, infinity).
    let v = if rem > 0x1000 || (rem == 0x1000 && v & 1 == 1) { v + 1 } else { v };
    sign | v as u16
}

/// binary16 bits to f32, exactly (every binary16 value is an f32 value): FP16 engine outputs.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h & 0x8000) as u32) << 16;
    let (e, m) = (((h >> 10) & 0x1f) as u32, (h & 0x3ff) as u32);
    let bits = match (e, m) {
        (0, 0) => sign,
        // Subnormal: normalise the mantissa into f32's wider exponent range.
        (0, m) => {
            let shift = m.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | (((m << shift) & 0x3ff) << 13)
        }
        (31, 0) => sign | 0x7f80_0000,
        (31, m) => sign | 0x7fc0_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// `m >> s` rounded to nearest, ties to even (`s` in 1..=24).
fn round_shift(m: u32, s: u32) -> u32 {
    let (q, rem, half) = (m >> s, m & ((1 << s) - 1), 1 << (s - 1));
    if rem > half || (rem == half && q & 1 == 1) { q + 1 } else { q }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// binary16 bits to f32: exact, and written independently of `f16_bits`.
    fn f16_value(h: u16) -> f64 {
        let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
        let (e, m) = ((h >> 10) & 0x1f, (h & 0x3ff) as f64);
        match e {
            0 => sign * m * 2f64.powi(-24),
            31 if m == 0.0 => sign * f64::INFINITY,
            31 => f64::NAN,
            _ => sign * (1.0 + m / 1024.0) * 2f64.powi(e as i32 - 15),
        }
    }

    /// The nearest binary16 by search over all finite positive values, ties to the even one.
    fn nearest(x: f32) -> u16 {
        let (sign, a) = (if x.is_sign_negative() { 0x8000 } else { 0 }, (x as f64).abs());
        let max = f16_value(0x7bff);
        // Past the midpoint between the largest finite value and the next power: infinity.
        if a >= max + 2f64.powi(4) {
            return sign | 0x7c00;
        }
        let (mut best, mut err) = (0u16, f64::INFINITY);
        for h in 0..=0x7bffu16 {
            let e = (f16_value(h) - a).abs();
            if e < err || (e == err && h & 1 == 0) {
                (best, err) = (h, e);
            }
        }
        sign | best
    }

    #[test]
    fn every_f16_widens_exactly_and_rounds_back_to_itself() {
        for h in 0..=u16::MAX {
            let x = f16_to_f32(h);
            if (h >> 10) & 0x1f == 31 && h & 0x3ff != 0 {
                assert!(x.is_nan(), "{h:#06x}");
                continue;
            }
            assert_eq!(x as f64, f16_value(h), "{h:#06x}");
            assert_eq!(f16_bits(x), h, "{h:#06x}");
        }
    }

    #[test]
    fn f16_rounds_to_nearest_even_like_an_exhaustive_search() {
        let mut cases: Vec<f32> = vec![0.0, -0.0, 1.0, -2.5, 65504.0, 65519.99, 65520.0, 1e-8, 2.9802322e-8];
        // Exact ties between neighbours (normal and subnormal) and their neighbours.
        for h in [0x0001u16, 0x0002, 0x03ff, 0x0400, 0x3c00, 0x3c01, 0x7bfe] {
            let mid = ((f16_value(h) + f16_value(h + 1)) / 2.0) as f32;
            cases.extend([mid, f32::from_bits(mid.to_bits() - 1), f32::from_bits(mid.to_bits() + 1), -mid]);
        }
        // Every value the tables produce for common normalisations, and a spread of magnitudes.
        for v in 0..256 {
            cases.push((v as f32 - 103.53) / 57.375);
            cases.push(v as f32 / 255.0);
        }
        let mut s = 0x1234_5678u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s
        };
        // Random mantissas and signs over binary16's whole range and a little past both ends.
        for _ in 0..2000 {
            let (a, b) = (next(), next());
            cases.push(f32::from_bits((a & 0x8000_0000) | ((100 + b % 45) << 23) | (a & 0x7f_ffff)));
        }
        for x in cases {
            assert_eq!(f16_bits(x), nearest(x), "{x:e} ({:#010x})", x.to_bits());
        }
        assert_eq!(f16_bits(f32::INFINITY), 0x7c00);
        assert_eq!(f16_bits(f32::NAN) & 0x7c00, 0x7c00);
        assert_ne!(f16_bits(f32::NAN) & 0x3ff, 0);
    }
}
