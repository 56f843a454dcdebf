//! The CPU preprocessor's vector path (`simd`): the scalar `cpu::Resampler`'s rows, bit for bit,
//! kept as planes so every step runs along a row in vector lanes. Rows are converted (YUV) and
//! resampled horizontally only when the vertical pass needs them, as in the scalar path; the f32
//! NCHW tensor rows (NanoDet's, YOLO's) are written by the normalising blend directly, the other
//! tensors through the normalisation tables. All buffers live in the struct.

use super::frame::{FrameView, RowScratch};
use super::geometry::Geometry;
use super::normalise::{Lut, Luts};
use super::resize::{RowPair, Tap};
use super::simd::{self, Columns, Simd};
use super::slot::TensorMut;
use super::spec::{InputSpec, Layout};

pub struct PlanarResampler {
    level: Simd,
    cols: Columns,
    /// Horizontal sums of the two source rows the current output row blends: three planes of
    /// `new_w` each, in the row's channel order.
    rows: RowPair,
    /// A YUV row converted into three 16-bit planes of `stride` samples.
    planes: Vec<i16>,
    stride: usize,
    scratch: RowScratch,
    /// Blended 8-bit rows (three planes of `new_w`) for the tables.
    bytes: Vec<u8>,
    /// Per tensor channel: whether the normalising blend gives the f32 table's bits.
    exact: [bool; 3],
}

impl PlanarResampler {
    pub fn new(level: Simd, spec: &InputSpec, luts: &Luts) -> PlanarResampler {
        let exact = [0, 1, 2].map(|c| simd::normalises_like(level, spec.mean[c], spec.std[c], &luts.f32.table[c]));
        PlanarResampler {
            level,
            cols: Columns::default(),
            rows: RowPair::default(),
            planes: Vec::new(),
            stride: 0,
            scratch: RowScratch::default(),
            bytes: Vec::new(),
            exact,
        }
    }

    pub fn level(&self) -> Simd {
        self.level
    }

    /// Sizes the tables and rows for a source of `g.src_w` columns.
    pub fn resize(&mut self, g: &Geometry, xtaps: &[Tap]) {
        let (src_w, nw) = (g.src_w as usize, g.new_w as usize);
        self.cols.set(src_w, xtaps);
        self.rows.resize(nw * 3);
        self.stride = src_w;
        self.planes.clear();
        self.planes.resize(src_w * 3, 0);
        self.bytes.clear();
        self.bytes.resize(nw * 3, 0);
    }

    /// The image rectangle of the tensor (the padding is written by the caller).
    #[allow(clippy::too_many_arguments)]
    pub fn fill(
        &mut self,
        spec: &InputSpec,
        frame: &FrameView<'_>,
        g: &Geometry,
        ytaps: &[Tap],
        src_ch: [usize; 3],
        luts: &Luts,
        out: TensorMut<'_>,
    ) {
        self.rows.forget();
        let (w, h) = (spec.width as usize, spec.height as usize);
        let (ox, oy) = (g.off_x as usize, g.off_y as usize);
        let nw = g.new_w as usize;
        let mut out = out;
        for (y, &tap) in ytaps.iter().enumerate() {
            let (level, stride, cols) = (self.level, self.stride, &self.cols);
            let (planes, scratch) = (&mut self.planes, &mut self.scratch);
            self.rows.load(tap, |src_y, row| horizontal(level, cols, planes, stride, scratch, frame, src_y, row));
            let [r0, r1] = &self.rows.rows;
            let plane = |sc: usize| sc * nw..(sc + 1) * nw;
            let row_start = (oy + y) * w + ox;
            if let (TensorMut::F32(t), Layout::Nchw) = (&mut out, spec.layout) {
                for (c, &sc) in src_ch.iter().enumerate() {
                    let dst = &mut t[c * w * h + row_start..][..nw];
                    let (s0, s1) = (&r0[plane(sc)], &r1[plane(sc)]);
                    if self.exact[c] {
                        simd::vertical_f32(self.level, s0, s1, tap.w0, tap.w1, spec.mean[c], spec.std[c], dst);
                    } else {
                        let b = &mut self.bytes[..nw];
                        simd::vertical_u8(self.level, s0, s1, tap.w0, tap.w1, b);
                        let table = &luts.f32.table[c];
                        dst.iter_mut().zip(b.iter()).for_each(|(d, &v)| *d = table[v as usize]);
                    }
                }
                continue;
            }
            for sc in 0..3 {
                simd::vertical_u8(
                    self.level,
                    &r0[plane(sc)],
                    &r1[plane(sc)],
                    tap.w0,
                    tap.w1,
                    &mut self.bytes[plane(sc)],
                );
            }
            let rows = [0, 1, 2].map(|c| &self.bytes[plane(src_ch[c])]);
            match &mut out {
                TensorMut::F32(t) => write_row(t, spec.layout, (w, h), row_start, rows, &luts.f32),
                TensorMut::F16(t) => write_row(t, spec.layout, (w, h), row_start, rows, &luts.f16),
                TensorMut::U8(t) => write_row(t, spec.layout, (w, h), row_start, rows, &luts.u8),
            }
        }
    }
}

/// Source row `y`, converted if it is YUV, resampled horizontally into `out`.
#[allow(clippy::too_many_arguments)]
fn horizontal(
    level: Simd,
    cols: &Columns,
    planes: &mut [i16],
    stride: usize,
    scratch: &mut RowScratch,
    frame: &FrameView<'_>,
    y: usize,
    out: &mut [i32],
) {
    // Levels without a YUV kernel (SSE2) convert with the scalar row code: the portable
    // planar conversion is no faster and its 16-bit planes cost more to write.
    if matches!(level, Simd::Avx2 | Simd::Neon)
        && let Some((c, yr, u, v)) = frame.video_yuv_row(y, scratch)
    {
        simd::yuv_planes(level, &c, yr, u, v, planes, stride);
        simd::horizontal_planes(level, planes, stride, cols, out);
    } else {
        let (row, _) = frame.row(y, scratch);
        simd::horizontal_packed(level, row, cols, out);
    }
}

/// Writes one image row of the tensor through the tables: `rows[c]` holds tensor channel c's
/// pixel values; the row starts at element `start` of a plane (NCHW) or pixel `start` (NHWC).
fn write_row<T: Copy>(
    t: &mut [T],
    layout: Layout,
    (w, h): (usize, usize),
    start: usize,
    rows: [&[u8]; 3],
    lut: &Lut<T>,
) {
    let nw = rows[0].len();
    match layout {
        Layout::Nchw => {
            for (c, row) in rows.iter().enumerate() {
                let table = &lut.table[c];
                let dst = &mut t[c * w * h + start..][..nw];
                dst.iter_mut().zip(row.iter()).for_each(|(d, &v)| *d = table[v as usize]);
            }
        }
        Layout::Nhwc => {
            let dst = &mut t[start * 3..][..nw * 3];
            for (x, px) in dst.chunks_exact_mut(3).enumerate() {
                for (c, p) in px.iter_mut().enumerate() {
                    *p = lut.table[c][rows[c][x] as usize];
                }
            }
        }
    }
}
