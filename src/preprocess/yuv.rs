//! YUV 4:2:0 → packed BGR in fixed point, reproducing the two converters the rest of the
//! ecosystem uses, so a frame decoded here is byte for byte the frame a Python/OpenCV tool sees
//! and detections can be compared with such tools without rounding noise:
//! - video (`Video`): FFmpeg swscale's x86 path, used by OpenCV's video capture: 13-bit
//!   coefficients, `(a·b) >> 16` products, nearest chroma; matrix and range from the stream;
//! - JPEG (`Jpeg`): libjpeg(-turbo)'s decompressor, used by `cv2.imread`: "fancy" triangular
//!   chroma upsampling and the JFIF full-range tables with 16-bit fixed point.

/// Matrix coefficients of a YUV → RGB conversion, in swscale's fixed-point form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YuvCoefficients {
    y_mul: i32,
    y_off: i32,
    vr: i32,
    ub: i32,
    ug: i32,
    vg: i32,
}

/// Colour matrix of a YUV stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matrix {
    Bt601,
    Bt709,
    Bt2020,
}

/// swscale's `roundToInt16(x)`: `x` is a 16.16 value, the result `round(x / 65536)`.
fn round_16(x: i64) -> i32 {
    ((x + (1 << 15)) >> 16) as i32
}

impl YuvCoefficients {
    /// Coefficients for a matrix and range (`full` = 0..255 luma, else 16..235).
    pub fn new(matrix: Matrix, full: bool) -> YuvCoefficients {
        let (kr, kb) = match matrix {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
            Matrix::Bt2020 => (0.2627, 0.0593),
        };
        let kg = 1.0 - kr - kb;
        // Chroma factors for limited-range chroma in 16.16, as in swscale's coefficient table.
        let lim = 255.0 / 224.0;
        let table = |f: f64| (f * lim * 65536.0).round() as i64;
        let mut crv = table(2.0 * (1.0 - kr));
        let mut cbu = table(2.0 * (1.0 - kb));
        let mut cgu = -table(2.0 * kb * (1.0 - kb) / kg);
        let mut cgv = -table(2.0 * kr * (1.0 - kr) / kg);
        let (cy, oy): (i64, i64) = if full {
            crv = crv * 224 / 255;
            cbu = cbu * 224 / 255;
            cgu = cgu * 224 / 255;
            cgv = cgv * 224 / 255;
            (1 << 16, 0)
        } else {
            ((1i64 << 16) * 255 / 219, 16 << 16)
        };
        YuvCoefficients {
            y_mul: round_16(cy * (1 << 13)),
            y_off: round_16(oy * (1 << 3)),
            vr: round_16(crv * (1 << 13)),
            ub: round_16(cbu * (1 << 13)),
            ug: round_16(cgu * (1 << 13)),
            vg: round_16(cgv * (1 << 13)),
        }
    }

    /// The six fixed-point factors as the CUDA kernel takes them: y_mul, y_off, vr, ub, ug, vg.
    pub fn fixed_point(&self) -> [i32; 6] {
        [self.y_mul, self.y_off, self.vr, self.ub, self.ug, self.vg]
    }

    /// Converts one row: `y` has `width` samples, `u` and `v` `ceil(width / 2)`; `out` gets
    /// `width` pixels in B, G, R order.
    pub fn row_to_bgr(&self, y: &[u8], u: &[u8], v: &[u8], out: &mut [u8]) {
        // pmulhw: signed 16x16 product, high half (floor).
        #[inline(always)]
        fn mulhi(a: i32, b: i32) -> i32 {
            (a * b) >> 16
        }
        #[inline(always)]
        fn sat(x: i32) -> u8 {
            x.clamp(0, 255) as u8
        }
        // Two pixels share one chroma sample: its three terms are computed once per pair.
        let pairs = y.chunks(2).zip(u.iter().zip(v)).zip(out.chunks_mut(6));
        for ((ys, (&cu, &cv)), px) in pairs {
            let (cu, cv) = (cu as i32 * 8 - 1024, cv as i32 * 8 - 1024);
            let (b, g, r) = (mulhi(cu, self.ub), mulhi(cu, self.ug) + mulhi(cv, self.vg), mulhi(cv, self.vr));
            for (&yv, p) in ys.iter().zip(px.chunks_exact_mut(3)) {
                let l = mulhi(yv as i32 * 8 - self.y_off, self.y_mul);
                p[0] = sat(l + b);
                p[1] = sat(l + g);
                p[2] = sat(l + r);
            }
        }
    }
}

/// libjpeg's `FIX(x)` in 16 fractional bits.
const fn fix(x: f64) -> i32 {
    (x * 65536.0 + 0.5) as i32
}

/// How a planar 4:2:0 frame becomes BGR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YuvConversion {
    Video(YuvCoefficients),
    Jpeg,
}

/// One chroma plane's contribution to a luma row: its own chroma row and the vertical neighbour
/// (the row above for even luma rows, below for odd ones; used by the JPEG upsampler only).
#[derive(Debug, Clone, Copy)]
pub struct ChromaRows<'a> {
    pub near: &'a [u8],
    pub far: &'a [u8],
}

impl YuvConversion {
    pub fn row_to_bgr(&self, y: &[u8], u: ChromaRows<'_>, v: ChromaRows<'_>, out: &mut [u8]) {
        match self {
            YuvConversion::Video(c) => c.row_to_bgr(y, u.near, v.near, out),
            YuvConversion::Jpeg => jpeg_row_to_bgr(y, u, v, out),
        }
    }
}

/// Converts one row as libjpeg does: h2v2 "fancy" upsampling (each output chroma sample is
/// 9/16 nearest, 3/16 each of the two next, 1/16 diagonal, with libjpeg's alternating rounding;
/// edges repeat), then the JFIF YCbCr → RGB tables.
fn jpeg_row_to_bgr(y: &[u8], u: ChromaRows<'_>, v: ChromaRows<'_>, out: &mut [u8]) {
    const HALF: i32 = 1 << 15;
    let n = u.near.len().min(v.near.len());
    // Vertical pass: 3 × the chroma row of this luma row + the neighbouring chroma row.
    let col = |c: &ChromaRows<'_>, i: usize| c.near[i] as i32 * 3 + c.far[i] as i32;
    let mut prev = (col(&u, 0), col(&v, 0));
    for (i, (ys, px)) in y.chunks(2).zip(out.chunks_mut(6)).enumerate().take(n) {
        let this = (col(&u, i), col(&v, i));
        let next = if i + 1 < n { (col(&u, i + 1), col(&v, i + 1)) } else { this };
        // Horizontal pass: even outputs lean left (+8), odd outputs right (+7).
        let chroma = [
            ((this.0 * 3 + prev.0 + 8) >> 4, (this.1 * 3 + prev.1 + 8) >> 4),
            ((this.0 * 3 + next.0 + 7) >> 4, (this.1 * 3 + next.1 + 7) >> 4),
        ];
        for ((&l, p), (cb, cr)) in ys.iter().zip(px.chunks_exact_mut(3)).zip(chroma) {
            let (l, cb, cr) = (l as i32, cb - 128, cr - 128);
            let r = l + ((fix(1.402) * cr + HALF) >> 16);
            let g = l + ((-fix(0.34414) * cb + HALF - fix(0.71414) * cr) >> 16);
            let b = l + ((fix(1.772) * cb + HALF) >> 16);
            p[0] = b.clamp(0, 255) as u8;
            p[1] = g.clamp(0, 255) as u8;
            p[2] = r.clamp(0, 255) as u8;
        }
        prev = this;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bt601_limited_matches_swscale_constants() {
        // swscale: yCoeff 9539, vrCoeff 13075, ubCoeff 16525, ugCoeff -3209, vgCoeff -6660, yOffset 128.
        let c = YuvCoefficients::new(Matrix::Bt601, false);
        assert_eq!((c.y_mul, c.y_off, c.vr, c.ub, c.ug, c.vg), (9539, 128, 13075, 16525, -3209, -6660));
    }

    #[test]
    fn grey_levels_and_saturation() {
        let c = YuvCoefficients::new(Matrix::Bt601, false);
        let mut out = [0u8; 9];
        c.row_to_bgr(&[16, 235, 126], &[128, 128], &[128, 128], &mut out);
        // Limited-range black and white map to 0 and 255; mid grey stays grey.
        assert_eq!(&out[0..6], &[0, 0, 0, 255, 255, 255]);
        assert_eq!(out[6], out[7]);
        assert_eq!(out[7], out[8]);
        // Strong blue chroma saturates the blue channel.
        c.row_to_bgr(&[235, 235], &[255], &[128], &mut out[..6]);
        assert_eq!(out[0], 255);
    }

    #[test]
    fn jpeg_fancy_upsampling_weights_near_chroma_three_to_one() {
        // Luma 128 everywhere: only chroma moves the output. Cr rows near = [100, 140] (far equal).
        let grey = ChromaRows { near: &[128, 128], far: &[128, 128] };
        let cr = ChromaRows { near: &[100, 140], far: &[100, 140] };
        let mut out = [0u8; 12];
        YuvConversion::Jpeg.row_to_bgr(&[128; 4], grey, cr, &mut out);
        // Upsampled Cr (x16): column 0 edge 400*4+8, 1: 400*3+560+7, 2: 560*3+400+8, 3 edge 560*4+7.
        let cr_up = [(1600 + 8) >> 4, (1200 + 560 + 7) >> 4, (1680 + 400 + 8) >> 4, (2240 + 7) >> 4];
        for (x, c) in cr_up.iter().enumerate() {
            let red = 128 + ((fix(1.402) * (c - 128) + (1 << 15)) >> 16);
            assert_eq!(out[x * 3 + 2] as i32, red, "column {x}");
        }
        let mut out = [0u8; 6];
        YuvConversion::Jpeg.row_to_bgr(
            &[0, 200],
            ChromaRows { near: &[128], far: &[128] },
            ChromaRows { near: &[128], far: &[128] },
            &mut out,
        );
        assert_eq!(out, [0, 0, 0, 200, 200, 200]);
    }

    #[test]
    fn full_range_passes_luma_through() {
        let c = YuvCoefficients::new(Matrix::Bt601, true);
        let mut out = [0u8; 6];
        c.row_to_bgr(&[0, 200], &[128], &[128], &mut out);
        assert_eq!(out, [0, 0, 0, 200, 200, 200]);
    }
}
