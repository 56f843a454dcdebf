//! CPU preprocessing: bilinear resize into the letterbox, normalisation, channel order and layout,
//! in one pass from the decoded frame straight into the engine's input tensor.
//!
//! Rows are converted (YUV) and resampled horizontally only when the vertical pass needs them,
//! two at a time; normalisation is a 256-entry table per channel, `(v - mean) / std` in single
//! precision like NumPy. All buffers live in the struct and change only with the source size.
//!
//! Two paths give the same bits: the scalar one below (the reference, and what
//! `EDGESIGHT_SIMD=off` or `Simd::Off` selects) and the vector one (`planar`, kernels in `simd`),
//! which `new` picks when the CPU has one (SSE2 or AVX2 on x86_64, NEON on aarch64).

use super::Preprocessor;
use super::frame::{Accepts, FrameData, FrameMemory, FrameView, PixelFormat, Pixels, RowScratch};
use super::geometry::Geometry;
use super::normalise::{Lut, Luts};
use super::planar::PlanarResampler;
use super::resize::{RowPair, Tap, column_taps, horizontal, row_taps, vertical};
use super::simd::Simd;
use super::slot::{InputSlot, Memory, TensorMut};
use super::spec::{ChannelOrder, InputSpec, Layout};
use crate::error::{Error, Result};

pub struct CpuPreprocessor {
    spec: InputSpec,
    geometry: Option<Geometry>,
    resampler: Resampler,
    /// The vector path, unless the scalar one was asked for.
    planar: Option<PlanarResampler>,
    luts: Box<Luts>,
}

/// Resize tables and the rows in flight.
#[derive(Default)]
struct Resampler {
    xtaps: Vec<Tap>,
    ytaps: Vec<Tap>,
    /// Horizontal sums of the two source rows the current output row blends.
    rows: RowPair,
    /// A row converted to packed 3-byte pixels (YUV, 4-byte formats).
    scratch: RowScratch,
}

impl CpuPreprocessor {
    /// The preprocessor with the best vector instructions of this CPU, or the scalar path when
    /// the environment says `EDGESIGHT_SIMD=off` (`Simd::from_env`).
    pub fn new(spec: InputSpec) -> CpuPreprocessor {
        CpuPreprocessor::with_simd(spec, Simd::from_env())
    }

    /// The preprocessor on the given path; a level this CPU does not run gives the scalar path.
    /// Every level gives the same bits.
    pub fn with_simd(spec: InputSpec, simd: Simd) -> CpuPreprocessor {
        let luts = Luts::new(&spec);
        let planar = (simd != Simd::Off && simd.runs_here()).then(|| PlanarResampler::new(simd, &spec, &luts));
        CpuPreprocessor { spec, geometry: None, resampler: Resampler::default(), planar, luts }
    }

    /// The path in use.
    pub fn simd(&self) -> Simd {
        self.planar.as_ref().map_or(Simd::Off, PlanarResampler::level)
    }

    pub fn spec(&self) -> &InputSpec {
        &self.spec
    }

    /// Geometry for a frame of this size; rebuilds the resize tables when the size changed.
    fn geometry_for(&mut self, w: u32, h: u32) -> Geometry {
        if let Some(g) = self.geometry
            && g.src_w == w
            && g.src_h == h
        {
            return g;
        }
        let g = Geometry::new(w, h, self.spec.width, self.spec.height, self.spec.letterbox);
        let rs = &mut self.resampler;
        column_taps(w, g.new_w, &mut rs.xtaps);
        row_taps(h, g.new_h, &mut rs.ytaps);
        match &mut self.planar {
            Some(p) => p.resize(&g, &rs.xtaps),
            None => rs.rows.resize(g.new_w as usize * 3),
        }
        self.geometry = Some(g);
        g
    }

    /// Writes a host `frame` into `out` (one image in the spec's layout) and returns the geometry
    /// that maps boxes back to the frame.
    pub fn fill(&mut self, frame: &FrameView<'_>, out: TensorMut<'_>) -> Result<Geometry, String> {
        frame.check()?;
        let need = self.spec.len();
        if out.dtype() != self.spec.dtype {
            return Err(format!(
                "input tensor holds {:?} elements, the model input takes {:?}",
                out.dtype(),
                self.spec.dtype
            ));
        }
        if out.len() != need {
            return Err(format!(
                "input tensor holds {} values, the model input {}x{}x3 needs {need}",
                out.len(),
                self.spec.width,
                self.spec.height
            ));
        }
        let g = self.geometry_for(frame.width, frame.height);
        let order = match frame.format {
            PixelFormat::Packed(o) | PixelFormat::Packed4(o) => o,
            PixelFormat::I420(_) | PixelFormat::Nv12(_) => ChannelOrder::Bgr,
        };
        // Tensor channel c reads row channel src_ch[c].
        let src_ch: [usize; 3] = if order == self.spec.channel_order { [0, 1, 2] } else { [2, 1, 0] };
        let (spec, rs) = (&self.spec, &mut self.resampler);
        if let Some(p) = &mut self.planar {
            let mut out = out;
            match &mut out {
                TensorMut::F32(t) => fill_padding(t, spec, &g, self.luts.f32.pad),
                TensorMut::F16(t) => fill_padding(t, spec, &g, self.luts.f16.pad),
                TensorMut::U8(t) => fill_padding(t, spec, &g, self.luts.u8.pad),
            }
            p.fill(spec, frame, &g, &rs.ytaps, src_ch, &self.luts, out);
            return Ok(g);
        }
        match out {
            TensorMut::F32(t) => rs.fill(spec, frame, &g, src_ch, &self.luts.f32, t),
            TensorMut::F16(t) => rs.fill(spec, frame, &g, src_ch, &self.luts.f16, t),
            TensorMut::U8(t) => rs.fill(spec, frame, &g, src_ch, &self.luts.u8, t),
        }
        Ok(g)
    }
}

impl Preprocessor for CpuPreprocessor {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn spec(&self) -> &InputSpec {
        &self.spec
    }

    /// Every 8-bit format it converts exactly, in system memory: YUV 4:2:0 as decoders emit it
    /// first (converted here, bit-exact), then packed in the model's channel order.
    fn accepts(&self) -> Accepts {
        let formats = match self.spec.channel_order {
            ChannelOrder::Bgr => [
                Pixels::I420,
                Pixels::Nv12,
                Pixels::Bgr,
                Pixels::Rgb,
                Pixels::Bgrx,
                Pixels::Bgra,
                Pixels::Rgbx,
                Pixels::Rgba,
            ],
            ChannelOrder::Rgb => [
                Pixels::I420,
                Pixels::Nv12,
                Pixels::Rgb,
                Pixels::Bgr,
                Pixels::Rgbx,
                Pixels::Rgba,
                Pixels::Bgrx,
                Pixels::Bgra,
            ],
        };
        Accepts { memory: vec![FrameMemory::System], formats: formats.to_vec() }
    }

    fn writes(&self, memory: Memory) -> bool {
        memory == Memory::Host
    }

    fn run(&mut self, frame: &FrameData<'_>, slot: InputSlot<'_>) -> Result<Geometry> {
        let view = match frame {
            FrameData::Host(v) => v,
            FrameData::Device(d) => {
                return Err(Error::model(format!(
                    "the cpu preprocessor cannot read a {:?} frame in {:?} memory; capture must deliver system memory \
                     (or set model.preprocess = \"cuda\" on a GPU build)",
                    d.format.pixels(),
                    d.memory
                )));
            }
        };
        let out = match slot {
            InputSlot::Host(t) => t,
            InputSlot::Device(d) => {
                return Err(Error::model(format!(
                    "the engine takes its input in CUDA device {} memory, which the cpu preprocessor cannot write; \
                     set model.preprocess = \"cuda\"",
                    d.device
                )));
            }
        };
        self.fill(view, out).map_err(|e| Error::source(format!("unusable frame: {e}")))
    }
}

impl Resampler {
    fn fill<T: Copy>(
        &mut self,
        spec: &InputSpec,
        frame: &FrameView<'_>,
        g: &Geometry,
        src_ch: [usize; 3],
        lut: &Lut<T>,
        t: &mut [T],
    ) {
        self.rows.forget();
        let (w, h) = (spec.width as usize, spec.height as usize);
        let (ox, oy) = (g.off_x as usize, g.off_y as usize);
        let (nw, nh) = (g.new_w as usize, g.new_h as usize);
        fill_padding(t, spec, g, lut.pad);
        for y in 0..nh {
            let tap = self.ytaps[y];
            let (scratch, xtaps) = (&mut self.scratch, &self.xtaps);
            self.rows.load(tap, |src_y, row| horizontal(frame.row(src_y, scratch).0, xtaps, row));
            let [r0, r1] = &self.rows.rows;
            match spec.layout {
                Layout::Nchw => {
                    for (c, &sc) in src_ch.iter().enumerate() {
                        let start = c * w * h + (oy + y) * w + ox;
                        let dst = &mut t[start..start + nw];
                        let table = &lut.table[c];
                        for ((a, b), d) in r0.chunks_exact(3).zip(r1.chunks_exact(3)).zip(dst.iter_mut()) {
                            *d = table[vertical(a[sc], b[sc], tap.w0, tap.w1) as usize];
                        }
                    }
                }
                Layout::Nhwc => {
                    let start = ((oy + y) * w + ox) * 3;
                    let dst = &mut t[start..start + nw * 3];
                    for ((a, b), px) in r0.chunks_exact(3).zip(r1.chunks_exact(3)).zip(dst.chunks_exact_mut(3)) {
                        for (c, &sc) in src_ch.iter().enumerate() {
                            px[c] = lut.table[c][vertical(a[sc], b[sc], tap.w0, tap.w1) as usize];
                        }
                    }
                }
            }
        }
    }
}

/// Writes the pad value everywhere outside the image rectangle of `g`.
fn fill_padding<T: Copy>(t: &mut [T], spec: &InputSpec, g: &Geometry, pad: [T; 3]) {
    let (layout, w, h) = (spec.layout, spec.width as usize, spec.height as usize);
    let (x0, y0) = (g.off_x as usize, g.off_y as usize);
    let (x1, y1) = (x0 + g.new_w as usize, y0 + g.new_h as usize);
    if x0 == 0 && y0 == 0 && x1 == w && y1 == h {
        return;
    }
    match layout {
        Layout::Nchw => {
            for (c, plane) in t.chunks_exact_mut(w * h).enumerate() {
                for (y, row) in plane.chunks_exact_mut(w).enumerate() {
                    if y < y0 || y >= y1 {
                        row.fill(pad[c]);
                    } else {
                        row[..x0].fill(pad[c]);
                        row[x1..].fill(pad[c]);
                    }
                }
            }
        }
        Layout::Nhwc => {
            for (y, row) in t.chunks_exact_mut(w * 3).enumerate() {
                // Pixels [0, a) and [b, w) of the row: all of it above and below the image.
                let (a, b) = if y < y0 || y >= y1 { (w, w) } else { (x0, x1) };
                let (left, rest) = row.split_at_mut(a * 3);
                let right = &mut rest[(b - a) * 3..];
                for px in left.chunks_exact_mut(3).chain(right.chunks_exact_mut(3)) {
                    px.copy_from_slice(&pad);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::simd::Simd;
    use crate::preprocess::spec::{DType, Letterbox, Pad};
    use crate::preprocess::yuv::{Matrix, YuvCoefficients, YuvConversion};

    fn spec(w: u32, h: u32, layout: Layout, order: ChannelOrder, letterbox: Letterbox, pad: Pad) -> InputSpec {
        InputSpec {
            width: w,
            height: h,
            layout,
            dtype: DType::F32,
            channel_order: order,
            mean: [0.0; 3],
            std: [1.0; 3],
            letterbox,
            pad,
        }
    }

    /// A frame whose pixel (x, y) has channels (x, y, 7), with row padding to exercise the stride.
    fn frame_data(w: usize, h: usize, stride: usize) -> Vec<u8> {
        let mut d = vec![0u8; stride * h];
        for y in 0..h {
            for x in 0..w {
                d[y * stride + x * 3] = x as u8;
                d[y * stride + x * 3 + 1] = y as u8;
                d[y * stride + x * 3 + 2] = 7;
            }
        }
        d
    }

    #[test]
    fn same_size_is_a_copy_with_layout_and_channel_swap() {
        let data = frame_data(5, 4, 16);
        let f = FrameView::packed(&data, 5, 4, 16, ChannelOrder::Bgr);
        let mut p =
            CpuPreprocessor::new(spec(5, 4, Layout::Nchw, ChannelOrder::Rgb, Letterbox::TopLeft, Pad::Tensor(0.0)));
        let mut t = vec![0.0f32; 60];
        p.fill(&f, TensorMut::F32(&mut t)).unwrap();
        // RGB tensor from a BGR frame: channel 0 (R) holds the frame's third byte (7).
        assert!(t[0..20].iter().all(|&v| v == 7.0));
        assert_eq!(t[20 + 3 * 5 + 2], 3.0, "G holds y");
        assert_eq!(t[40 + 3 * 5 + 2], 2.0, "B holds x");
    }

    #[test]
    fn downscale_by_two_averages_pixel_pairs() {
        let data = frame_data(8, 8, 24);
        let f = FrameView::packed(&data, 8, 8, 24, ChannelOrder::Rgb);
        let mut p =
            CpuPreprocessor::new(spec(4, 4, Layout::Nhwc, ChannelOrder::Rgb, Letterbox::Stretch, Pad::Tensor(0.0)));
        let mut t = vec![0.0f32; 48];
        p.fill(&f, TensorMut::F32(&mut t)).unwrap();
        // pixel (1, 2): x = mean(2, 3) = 2.5 -> 3; y = mean(4, 5) = 4.5 -> 5.
        assert_eq!(&t[(2 * 4 + 1) * 3..(2 * 4 + 1) * 3 + 3], &[3.0, 5.0, 7.0]);
    }

    #[test]
    fn letterbox_pads_with_normalised_pixel_value() {
        let data = frame_data(4, 2, 12);
        let f = FrameView::packed(&data, 4, 2, 12, ChannelOrder::Rgb);
        let mut s = spec(4, 4, Layout::Nchw, ChannelOrder::Rgb, Letterbox::Center, Pad::Pixel(114.0));
        s.std = [255.0; 3];
        let mut p = CpuPreprocessor::new(s);
        let mut t = vec![-1.0f32; 48];
        let g = p.fill(&f, TensorMut::F32(&mut t)).unwrap();
        assert_eq!((g.off_y, g.new_h), (1, 2));
        let pad = 114.0 / 255.0;
        assert_eq!(t[0], pad, "top row is padding");
        assert_eq!(t[15], pad, "bottom row is padding");
        assert_eq!(t[4 + 1], 1.0 / 255.0, "image row holds x");
        assert!(t.iter().all(|&v| v >= 0.0), "every element written");
    }

    #[test]
    fn normalisation_divides_like_numpy() {
        let data = [200u8, 100, 50];
        let f = FrameView::packed(&data, 1, 1, 3, ChannelOrder::Bgr);
        let mut s = spec(1, 1, Layout::Nchw, ChannelOrder::Bgr, Letterbox::TopLeft, Pad::Tensor(0.0));
        s.mean = [103.53, 116.28, 123.675];
        s.std = [57.375, 57.12, 58.395];
        let mut t = vec![0.0f32; 3];
        CpuPreprocessor::new(s).fill(&f, TensorMut::F32(&mut t)).unwrap();
        assert_eq!(t, vec![(200.0f32 - 103.53) / 57.375, (100.0f32 - 116.28) / 57.12, (50.0f32 - 123.675) / 58.395]);
    }

    #[test]
    fn u8_nhwc_output() {
        let data = frame_data(2, 2, 6);
        let f = FrameView::packed(&data, 2, 2, 6, ChannelOrder::Rgb);
        let mut s = spec(2, 2, Layout::Nhwc, ChannelOrder::Rgb, Letterbox::Stretch, Pad::Pixel(0.0));
        s.dtype = DType::U8;
        let mut t = vec![0u8; 12];
        CpuPreprocessor::new(s).fill(&f, TensorMut::U8(&mut t)).unwrap();
        assert_eq!(t, vec![0, 0, 7, 1, 0, 7, 0, 1, 7, 1, 1, 7]);
    }

    #[test]
    fn i420_frames_are_converted_per_row() {
        // 2x2 limited-range white with neutral chroma: planes Y (2x2), U (1x1), V (1x1).
        let data = [235u8, 235, 235, 235, 128, 128];
        let f = FrameView {
            data: &data,
            width: 2,
            height: 2,
            format: PixelFormat::I420(YuvConversion::Video(YuvCoefficients::new(Matrix::Bt601, false))),
            offsets: [0, 4, 5],
            strides: [2, 1, 1],
        };
        let mut t = vec![0.0f32; 12];
        CpuPreprocessor::new(spec(2, 2, Layout::Nchw, ChannelOrder::Rgb, Letterbox::Stretch, Pad::Tensor(0.0)))
            .fill(&f, TensorMut::F32(&mut t))
            .unwrap();
        assert!(t.iter().all(|&v| v == 255.0), "{t:?}");
    }

    #[test]
    fn wrong_tensor_size_and_short_frame_are_errors() {
        let data = frame_data(2, 2, 6);
        let mut p =
            CpuPreprocessor::new(spec(2, 2, Layout::Nhwc, ChannelOrder::Rgb, Letterbox::Stretch, Pad::Tensor(0.0)));
        let f = FrameView::packed(&data, 2, 2, 6, ChannelOrder::Rgb);
        let mut t = vec![0.0f32; 11];
        assert!(p.fill(&f, TensorMut::F32(&mut t)).is_err());
        let short = FrameView::packed(&data[..10], 2, 2, 6, ChannelOrder::Rgb);
        let mut t = vec![0.0f32; 12];
        assert!(p.fill(&short, TensorMut::F32(&mut t)).is_err());
    }

    /// A random frame of `format`, `w × h`, with `pad` extra bytes per row of each plane.
    fn random_frame(format: PixelFormat, w: usize, h: usize, pad: usize, seed: &mut u64) -> FrameView<'static> {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 24) as u8
        };
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let planes: Vec<(usize, usize)> = match format {
            PixelFormat::Packed(_) => vec![(w * 3, h)],
            PixelFormat::Packed4(_) => vec![(w * 4, h)],
            PixelFormat::I420(_) => vec![(w, h), (cw, ch), (cw, ch)],
            PixelFormat::Nv12(_) => vec![(w, h), (cw * 2, ch)],
        };
        let (mut offsets, mut strides, mut len) = ([0; 3], [0; 3], 0);
        for (i, &(row, rows)) in planes.iter().enumerate() {
            offsets[i] = len;
            strides[i] = row + pad;
            len += strides[i] * rows;
        }
        let data: Vec<u8> = (0..len).map(|_| next()).collect();
        // Leaked so the view can outlive this function: tests only, a few kilobytes each.
        let data: &'static [u8] = Box::leak(data.into_boxed_slice());
        FrameView { data, width: w as u32, height: h as u32, format, offsets, strides }
    }

    #[test]
    fn every_vector_level_gives_the_scalar_tensor() {
        let mut seed = 0x0dd5_eed5u64;
        let mut pick = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 33) as usize % n
        };
        let video = |m| YuvConversion::Video(YuvCoefficients::new(m, false));
        let formats = [
            PixelFormat::Packed(ChannelOrder::Bgr),
            PixelFormat::Packed(ChannelOrder::Rgb),
            PixelFormat::Packed4(ChannelOrder::Rgb),
            PixelFormat::I420(video(Matrix::Bt601)),
            PixelFormat::I420(YuvConversion::Video(YuvCoefficients::new(Matrix::Bt709, true))),
            PixelFormat::Nv12(video(Matrix::Bt2020)),
            PixelFormat::I420(YuvConversion::Jpeg),
            PixelFormat::Nv12(YuvConversion::Jpeg),
        ];
        let levels: Vec<Simd> = Simd::available().into_iter().filter(|&l| l != Simd::Off).collect();
        assert!(!levels.is_empty());
        let mut frame_seed = 99u64;
        for case in 0..240 {
            let format = formats[case % formats.len()];
            // The first cases: 1-pixel and tiny frames and models; then random sizes.
            let (w, h) = if case < 16 { (1 + case % 3, 1 + case / 8) } else { (1 + pick(200), 1 + pick(150)) };
            let (tw, th) =
                if case < 8 { (1 + case as u32 % 2, 1) } else { (1 + pick(160) as u32, 1 + pick(160) as u32) };
            let frame = random_frame(format, w, h, pick(9), &mut frame_seed);
            let mut s = spec(
                tw,
                th,
                [Layout::Nchw, Layout::Nhwc][pick(2)],
                [ChannelOrder::Rgb, ChannelOrder::Bgr][pick(2)],
                [Letterbox::TopLeft, Letterbox::Center, Letterbox::Stretch][pick(3)],
                if pick(2) == 0 { Pad::Pixel(pick(256) as f32) } else { Pad::Tensor(0.5) },
            );
            s.mean = [pick(256) as f32 + 0.25, 116.28, 0.0];
            s.std = [57.375, 1.0 + pick(90) as f32, 255.0];
            s.dtype = [DType::F32, DType::F32, DType::F16, DType::U8][pick(4)];
            let run = |level: Simd| -> Vec<u32> {
                let mut p = CpuPreprocessor::with_simd(s.clone(), level);
                assert_eq!(p.simd(), level);
                let n = s.len();
                // Twice: the second run reuses the rows and tables of the first.
                let mut last = Vec::new();
                for _ in 0..2 {
                    last = match s.dtype {
                        DType::F32 => {
                            let mut t = vec![f32::NAN; n];
                            p.fill(&frame, TensorMut::F32(&mut t)).unwrap();
                            t.iter().map(|x| x.to_bits()).collect()
                        }
                        DType::F16 => {
                            let mut t = vec![0x7e01u16; n];
                            p.fill(&frame, TensorMut::F16(&mut t)).unwrap();
                            t.iter().map(|&x| x as u32).collect()
                        }
                        DType::U8 => {
                            let mut t = vec![0xa5u8; n];
                            p.fill(&frame, TensorMut::U8(&mut t)).unwrap();
                            t.iter().map(|&x| x as u32).collect()
                        }
                    };
                }
                last
            };
            let want = run(Simd::Off);
            for &level in &levels {
                let got = run(level);
                let first = got.iter().zip(&want).position(|(a, b)| a != b);
                assert_eq!(first, None, "case {case}: {level:?} on {format:?} {w}x{h} into {s:?}");
            }
        }
    }

    #[test]
    fn a_level_this_cpu_lacks_gives_the_scalar_path() {
        let s = spec(4, 4, Layout::Nchw, ChannelOrder::Rgb, Letterbox::Center, Pad::Tensor(0.0));
        #[cfg(target_arch = "x86_64")]
        let foreign = Simd::Neon;
        #[cfg(not(target_arch = "x86_64"))]
        let foreign = Simd::Avx2;
        assert_eq!(CpuPreprocessor::with_simd(s.clone(), foreign).simd(), Simd::Off);
        assert_eq!(CpuPreprocessor::with_simd(s, Simd::best()).simd(), Simd::best());
    }
}
