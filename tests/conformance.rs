//! Backend conformance, in the manner of tract's `test-rt`: one set of cases, instantiated per
//! preprocessor × engine pair with a tolerance per pair. The CPU pair is held to bit-exactness;
//! the CUDA and TensorRT builds add their pairs with `conformance!` and their own tolerance.
//! The CPU preprocessor runs twice: `cpu_onnx` on the path `CpuPreprocessor::new` picks (the
//! vector one this CPU runs, or scalar under `EDGESIGHT_SIMD=off`) and `cpu_scalar` on the scalar
//! reference path, tensor cases only (its tensors are the same bits, so its detections would be).
//!
//! Cases:
//! - tensors: frames in every format capture delivers (packed BGR/RGB, BGRx/RGBA, I420 and NV12
//!   with swscale or libjpeg conversion), several sizes and row pitches, into the input contract
//!   of every model family plus each letterbox mode, f32/u8 and NCHW/NHWC. Each tensor is checked
//!   against its golden digest (tests/data/conformance/tensors.txt) and against an independent,
//!   naive implementation of the same arithmetic written below (per pixel, no tables or caches).
//! - detections: real frames (the bundled clip and images) in each frame format through the
//!   bundled NanoDet and SSDLite models: golden detections (tests/data/conformance/detections.jsonl),
//!   and every format of one picture giving the same detections.
//! - batching: images run as one batch on the dynamic-batch NanoDet give each image its batch-1
//!   result.
//!
//! `EDGESIGHT_BLESS=1 cargo test --release --test conformance` rewrites the golden files from the
//! CPU pair (only after the independent checks pass); commit them with the change that explains
//! why they moved.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use edgesight::capture::{CaptureOptions, GstCapture, Pull, SourceSpec};
use edgesight::detect::family::DecodeOptions;
use edgesight::detect::{ClassPolicy, Detection, Family, PostProcess};
use edgesight::engine::onnx::{OnnxEngine, OnnxOptions};
use edgesight::engine::{Engine, ImageOutputs};
use edgesight::preprocess::{
    ChannelOrder, CpuPreprocessor, DType, FrameData, FrameView, InputSlot, InputSpec, Layout, Letterbox, Matrix, Pad,
    PixelFormat, Preprocessor, Simd, TensorMut, YuvCoefficients, YuvConversion,
};

// ------------------------------------------------------------------------------------------------
// Backends

/// How close a backend's tensors must be to the golden ones.
#[derive(Debug, Clone, Copy)]
pub enum Tolerance {
    /// Same bits.
    Exact,
    /// Per element: f32 within `f32_abs`, u8 within `u8_abs`.
    Close { f32_abs: f32, u8_abs: u8 },
}

/// How close a backend's detections must be to the golden ones.
#[derive(Debug, Clone, Copy)]
pub struct DetectionTolerance {
    pub score: f32,
    /// Box corners, in source pixels.
    pub px: f32,
}

/// A tensor as the suite compares it.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    F32(Vec<f32>),
    /// binary16 bits.
    F16(Vec<u16>),
    U8(Vec<u8>),
}

impl Tensor {
    fn zeros(spec: &InputSpec) -> Tensor {
        match spec.dtype {
            DType::F32 => Tensor::F32(vec![f32::NAN; spec.len()]),
            DType::F16 => Tensor::F16(vec![0x7e01; spec.len()]),
            DType::U8 => Tensor::U8(vec![0xA5; spec.len()]),
        }
    }

    fn slot(&mut self) -> InputSlot<'_> {
        InputSlot::Host(match self {
            Tensor::F32(v) => TensorMut::F32(v),
            Tensor::F16(v) => TensorMut::F16(v),
            Tensor::U8(v) => TensorMut::U8(v),
        })
    }

    /// FNV-1a over the little-endian bytes: a stable digest for the golden file.
    fn digest(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: u8| {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        match self {
            Tensor::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).for_each(&mut eat),
            Tensor::F16(v) => v.iter().flat_map(|x| x.to_le_bytes()).for_each(&mut eat),
            Tensor::U8(v) => v.iter().copied().for_each(&mut eat),
        }
        format!("{h:016x}")
    }

    /// The first element outside `tol`, if any.
    fn mismatch(&self, other: &Tensor, tol: Tolerance) -> Option<String> {
        let (f_abs, u_abs) = match tol {
            Tolerance::Exact => (0.0, 0),
            Tolerance::Close { f32_abs, u8_abs } => (f32_abs, u8_abs),
        };
        match (self, other) {
            (Tensor::F32(a), Tensor::F32(b)) if a.len() == b.len() => a
                .iter()
                .zip(b)
                .position(|(x, y)| !(x.to_bits() == y.to_bits() || (x - y).abs() <= f_abs))
                .map(|i| format!("element {i}: {} vs {}", a[i], b[i])),
            // binary16 compared as values: within f32_abs, or the same bits.
            (Tensor::F16(a), Tensor::F16(b)) if a.len() == b.len() => a
                .iter()
                .zip(b)
                .position(|(x, y)| !(x == y || (f16_value(*x) - f16_value(*y)).abs() <= f_abs as f64))
                .map(|i| format!("element {i}: {:#06x} vs {:#06x}", a[i], b[i])),
            (Tensor::U8(a), Tensor::U8(b)) if a.len() == b.len() => a
                .iter()
                .zip(b)
                .position(|(x, y)| x.abs_diff(*y) > u_abs)
                .map(|i| format!("element {i}: {} vs {}", a[i], b[i])),
            _ => Some("tensors differ in type or length".into()),
        }
    }
}

/// A preprocessor × engine pair under test.
pub trait Backend {
    const NAME: &'static str;
    const TENSORS: Tolerance;
    const DETECTIONS: DetectionTolerance;
    fn preprocessor(spec: InputSpec) -> Box<dyn Preprocessor>;
    fn engine(model: &Path) -> Box<dyn Engine>;
    /// Runs `pre` on `frame` and returns the tensor in host memory.
    fn tensor(pre: &mut dyn Preprocessor, frame: &FrameView<'_>) -> Tensor {
        let mut t = Tensor::zeros(pre.spec());
        pre.run(&FrameData::Host(*frame), t.slot()).expect("preprocess");
        t
    }
}

/// The CPU preprocessor with ONNX Runtime: the reference pair, bit-exact.
pub struct CpuOnnx;

impl Backend for CpuOnnx {
    const NAME: &'static str = "cpu × onnx-cpu";
    const TENSORS: Tolerance = Tolerance::Exact;
    const DETECTIONS: DetectionTolerance = DetectionTolerance { score: 0.0, px: 0.0 };
    fn preprocessor(spec: InputSpec) -> Box<dyn Preprocessor> {
        Box::new(CpuPreprocessor::new(spec))
    }
    fn engine(model: &Path) -> Box<dyn Engine> {
        Box::new(
            OnnxEngine::load(model, &OnnxOptions { threads: 2, ..OnnxOptions::default() })
                .expect("ONNX Runtime loads the model"),
        )
    }
}

/// The CPU preprocessor's scalar reference path (`Simd::Off`), whatever the CPU: its tensors
/// must be the vector path's bits.
pub struct CpuScalarOnnx;

impl Backend for CpuScalarOnnx {
    const NAME: &'static str = "cpu (scalar) × onnx-cpu";
    const TENSORS: Tolerance = Tolerance::Exact;
    const DETECTIONS: DetectionTolerance = DetectionTolerance { score: 0.0, px: 0.0 };
    fn preprocessor(spec: InputSpec) -> Box<dyn Preprocessor> {
        Box::new(CpuPreprocessor::with_simd(spec, Simd::Off))
    }
    fn engine(model: &Path) -> Box<dyn Engine> {
        CpuOnnx::engine(model)
    }
}

/// The CUDA preprocess kernel compiled for the host (`kernels/` through g++, feature
/// kernel-emulation) with ONNX Runtime: the kernel's arithmetic, held to the CPU pair's bits on
/// every case. The kernel on a real GPU is the `cuda_onnx` pair (scripts/gpu-check.sh).
pub struct CudaEmulatedOnnx;

impl Backend for CudaEmulatedOnnx {
    const NAME: &'static str = "cuda-emulated × onnx-cpu";
    const TENSORS: Tolerance = Tolerance::Exact;
    const DETECTIONS: DetectionTolerance = DetectionTolerance { score: 0.0, px: 0.0 };
    fn preprocessor(spec: InputSpec) -> Box<dyn Preprocessor> {
        Box::new(edgesight::preprocess::emulated::EmulatedPreprocessor::new(spec))
    }
    fn engine(model: &Path) -> Box<dyn Engine> {
        CpuOnnx::engine(model)
    }
}

/// The CUDA kernel on a real GPU (builds with a `cuda-*` feature; scripts/gpu-check.sh runs it)
/// with ONNX Runtime: the kernel writes on the device and the tensor is copied back, bit-exact.
#[cfg(feature = "cuda")]
pub struct CudaOnnx;

#[cfg(feature = "cuda")]
impl Backend for CudaOnnx {
    const NAME: &'static str = "cuda × onnx-cpu";
    const TENSORS: Tolerance = Tolerance::Exact;
    const DETECTIONS: DetectionTolerance = DetectionTolerance { score: 0.0, px: 0.0 };
    fn preprocessor(spec: InputSpec) -> Box<dyn Preprocessor> {
        Box::new(
            edgesight::preprocess::cuda::CudaPreprocessor::new(spec, 0).expect("a CUDA GPU with its driver and NVRTC"),
        )
    }
    fn engine(model: &Path) -> Box<dyn Engine> {
        CpuOnnx::engine(model)
    }
}

/// The CUDA kernel writing straight into a TensorRT FP32 engine's input on the GPU (builds with
/// the tensorrt feature; scripts/gpu-check.sh runs it where TensorRT is installed). Tensors are
/// the kernel's (exact); detections within what FP32 TensorRT kernels (TF32 where the GPU has it)
/// move scores and boxes: 0.01 and 1 px.
#[cfg(feature = "tensorrt")]
pub struct CudaTensorRt;

#[cfg(feature = "tensorrt")]
impl Backend for CudaTensorRt {
    const NAME: &'static str = "cuda × tensorrt (fp32)";
    const TENSORS: Tolerance = Tolerance::Exact;
    const DETECTIONS: DetectionTolerance = DetectionTolerance { score: 0.01, px: 1.0 };
    fn preprocessor(spec: InputSpec) -> Box<dyn Preprocessor> {
        CudaOnnx::preprocessor(spec)
    }
    fn engine(model: &Path) -> Box<dyn Engine> {
        use edgesight::engine::engine_cache::{OnMismatch, Precision};
        use edgesight::engine::tensorrt::{TensorRtEngine, TensorRtOptions};
        let cache = std::env::temp_dir().join("edgesight-conformance-engines");
        let opts = TensorRtOptions {
            library: None,
            precision: Precision::Fp32,
            dla_core: None,
            max_batch: 4,
            cache_dir: Some(cache),
            on_mismatch: OnMismatch::Rebuild,
            calibration: None,
        };
        Box::new(TensorRtEngine::load(model, &opts).expect("TensorRT builds and loads the model"))
    }
}

/// Instantiates the suite for a backend pair (`tensors`: the tensor cases only, which need no
/// engine).
macro_rules! conformance {
    ($module:ident, $backend:ty, tensors) => {
        mod $module {
            use super::*;

            #[test]
            fn tensors_match_the_golden_digests_and_the_naive_reference() {
                tensors::<$backend>();
            }

            #[test]
            fn random_sizes_pitches_and_contracts_match_the_naive_reference_and_the_cpu_path() {
                random_cases::<$backend>();
            }
        }
    };
    ($module:ident, $backend:ty) => {
        mod $module {
            use super::*;

            #[test]
            fn tensors_match_the_golden_digests_and_the_naive_reference() {
                tensors::<$backend>();
            }

            #[test]
            fn detections_match_the_golden_ones_in_every_frame_format() {
                detections::<$backend>();
            }

            #[test]
            fn a_batch_gives_each_image_its_batch_1_result() {
                batch::<$backend>();
            }

            #[test]
            fn random_sizes_pitches_and_contracts_match_the_naive_reference_and_the_cpu_path() {
                random_cases::<$backend>();
            }
        }
    };
}

conformance!(cpu_onnx, CpuOnnx);
conformance!(cpu_scalar, CpuScalarOnnx, tensors);
conformance!(cuda_emulated_onnx, CudaEmulatedOnnx);
#[cfg(feature = "cuda")]
conformance!(cuda_onnx, CudaOnnx);
#[cfg(feature = "tensorrt")]
conformance!(cuda_tensorrt, CudaTensorRt);

// ------------------------------------------------------------------------------------------------
// Frames

/// xorshift32: deterministic content; the golden digests depend on it never changing.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

/// A smooth picture with noise and hard edges (what resizing has to get right), one byte per
/// sample, `channels` per pixel.
fn picture(w: usize, h: usize, channels: usize, seed: u32) -> Vec<u8> {
    let mut rng = Rng(seed.max(1));
    let mut out = Vec::with_capacity(w * h * channels);
    for y in 0..h {
        for x in 0..w {
            for c in 0..channels {
                let smooth = (x * (3 + c) * 255 / w.max(1) + y * (5 + 2 * c) * 255 / h.max(1)) % 256;
                let edge = if (x / 7 + y / 5 + c).is_multiple_of(3) { 90 } else { 0 };
                let noise = (rng.next() % 41) as usize;
                out.push(((smooth + edge + noise) % 256) as u8);
            }
        }
    }
    out
}

/// Copies `rows` rows of `row` bytes from `src` into `dst` at `offset` with `stride`.
fn place(dst: &mut Vec<u8>, offset: usize, stride: usize, src: &[u8], row: usize, rows: usize) {
    dst.resize(dst.len().max(offset + stride * rows), 0x5A);
    for r in 0..rows {
        dst[offset + r * stride..offset + r * stride + row].copy_from_slice(&src[r * row..(r + 1) * row]);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Packed(ChannelOrder),
    /// Four bytes per pixel, the fourth ignored (alpha or padding).
    Packed4(ChannelOrder),
    I420(YuvConversion),
    Nv12(YuvConversion),
}

/// A frame owning its bytes, laid out with `pad` extra bytes at the end of every row.
struct OwnedFrame {
    data: Vec<u8>,
    w: u32,
    h: u32,
    format: PixelFormat,
    offsets: [usize; 3],
    strides: [usize; 3],
}

impl OwnedFrame {
    fn view(&self) -> FrameView<'_> {
        FrameView {
            data: &self.data,
            width: self.w,
            height: self.h,
            format: self.format,
            offsets: self.offsets,
            strides: self.strides,
        }
    }
}

fn make_frame(kind: Kind, w: usize, h: usize, pad: usize, seed: u32) -> OwnedFrame {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut data = Vec::new();
    let (format, offsets, strides) = match kind {
        Kind::Packed(order) => {
            place(&mut data, 0, w * 3 + pad, &picture(w, h, 3, seed), w * 3, h);
            (PixelFormat::Packed(order), [0; 3], [w * 3 + pad, 0, 0])
        }
        Kind::Packed4(order) => {
            place(&mut data, 0, w * 4 + pad, &picture(w, h, 4, seed), w * 4, h);
            (PixelFormat::Packed4(order), [0; 3], [w * 4 + pad, 0, 0])
        }
        Kind::I420(conv) | Kind::Nv12(conv) => {
            let y = picture(w, h, 1, seed);
            let u = picture(cw, ch, 1, seed ^ 0x55);
            let v = picture(cw, ch, 1, seed ^ 0xAA);
            let ys = w + pad;
            place(&mut data, 0, ys, &y, w, h);
            // A gap between planes, as decoders with aligned allocations leave.
            let uoff = ys * h + 64;
            if let Kind::I420(_) = kind {
                let cs = cw + pad / 2;
                place(&mut data, uoff, cs, &u, cw, ch);
                let voff = uoff + cs * ch + 32;
                place(&mut data, voff, cs, &v, cw, ch);
                (PixelFormat::I420(conv), [0, uoff, voff], [ys, cs, cs])
            } else {
                let uv: Vec<u8> = u.iter().zip(&v).flat_map(|(a, b)| [*a, *b]).collect();
                place(&mut data, uoff, cw * 2 + pad, &uv, cw * 2, ch);
                (PixelFormat::Nv12(conv), [0, uoff, 0], [ys, cw * 2 + pad, 0])
            }
        }
    };
    OwnedFrame { data, w: w as u32, h: h as u32, format, offsets, strides }
}

// ------------------------------------------------------------------------------------------------
// The naive reference: OpenCV's arithmetic written per output pixel

/// The frame as full-size BGR (YUV through the library's row converters, which are checked
/// against swscale and libjpeg elsewhere; every other step is independent).
fn to_bgr(f: &FrameView<'_>) -> Vec<u8> {
    let (w, h) = (f.width as usize, f.height as usize);
    let mut out = vec![0u8; w * h * 3];
    let row = |plane: usize, y: usize, len: usize| &f.data[f.offsets[plane] + y * f.strides[plane]..][..len];
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    for y in 0..h {
        let dst = &mut out[y * w * 3..(y + 1) * w * 3];
        match f.format {
            PixelFormat::Packed(order) | PixelFormat::Packed4(order) => {
                let bpp = if matches!(f.format, PixelFormat::Packed(_)) { 3 } else { 4 };
                for (x, px) in row(0, y, w * bpp).chunks(bpp).enumerate() {
                    let (b, g, r) =
                        if order == ChannelOrder::Bgr { (px[0], px[1], px[2]) } else { (px[2], px[1], px[0]) };
                    dst[x * 3..x * 3 + 3].copy_from_slice(&[b, g, r]);
                }
            }
            PixelFormat::I420(conv) | PixelFormat::Nv12(conv) => {
                let near = y / 2;
                let far = if y % 2 == 0 { near.saturating_sub(1) } else { (near + 1).min(ch - 1) };
                let chroma = |r: usize, k: usize| -> Vec<u8> {
                    match f.format {
                        PixelFormat::I420(_) => row(1 + k, r, cw).to_vec(),
                        _ => row(1, r, cw * 2).iter().skip(k).step_by(2).copied().collect(),
                    }
                };
                let (un, uf, vn, vf) = (chroma(near, 0), chroma(far, 0), chroma(near, 1), chroma(far, 1));
                use edgesight::preprocess::yuv::ChromaRows;
                conv.row_to_bgr(
                    row(0, y, w),
                    ChromaRows { near: &un, far: &uf },
                    ChromaRows { near: &vn, far: &vf },
                    dst,
                );
            }
        }
    }
    out
}

/// OpenCV `INTER_LINEAR` on 8-bit data, one output sample at a time.
fn naive_resize(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    let coef = |f: f32| (f * 2048.0).round_ties_even() as i32;
    let sx = sw as f64 / dw as f64;
    let sy = sh as f64 / dh as f64;
    let mut out = vec![0u8; dw * dh * 3];
    for y in 0..dh {
        let fy = ((y as f64 + 0.5) * sy - 0.5) as f32;
        let iy = fy.floor();
        let ty = fy - iy;
        let iy = iy as i64;
        let clamp_row = |r: i64| r.clamp(0, sh as i64 - 1) as usize;
        let (r0, r1) = (clamp_row(iy), clamp_row(iy + 1));
        let (b0, b1) = (coef(1.0 - ty), coef(ty));
        for x in 0..dw {
            let fx = ((x as f64 + 0.5) * sx - 0.5) as f32;
            let mut ix = fx.floor() as i64;
            let mut tx = fx - fx.floor();
            if ix < 0 {
                ix = 0;
                tx = 0.0;
            }
            if ix >= sw as i64 - 1 {
                ix = sw as i64 - 1;
                tx = 0.0;
            }
            let (x0, x1) = (ix as usize, (ix as usize + 1).min(sw - 1));
            let (a0, a1) = (coef(1.0 - tx), coef(tx));
            for c in 0..3 {
                let h = |r: usize| src[(r * sw + x0) * 3 + c] as i32 * a0 + src[(r * sw + x1) * 3 + c] as i32 * a1;
                let v = (((h(r0) >> 4) * b0) >> 16) + (((h(r1) >> 4) * b1) >> 16);
                out[(y * dw + x) * 3 + c] = ((v + 2) >> 2).clamp(0, 255) as u8;
            }
        }
    }
    out
}

/// Letterbox placement, as the reference implementations compute it: (x, y, w, h).
fn placement(sw: usize, sh: usize, spec: &InputSpec) -> (usize, usize, usize, usize) {
    let (dw, dh) = (spec.width as usize, spec.height as usize);
    if spec.letterbox == Letterbox::Stretch {
        return (0, 0, dw, dh);
    }
    let r = (dw as f64 / sw as f64).min(dh as f64 / sh as f64);
    let nw = ((sw as f64 * r).round_ties_even() as usize).clamp(1, dw);
    let nh = ((sh as f64 * r).round_ties_even() as usize).clamp(1, dh);
    match spec.letterbox {
        Letterbox::Center => ((dw - nw) / 2, (dh - nh) / 2, nw, nh),
        _ => (0, 0, nw, nh),
    }
}

fn naive_preprocess(f: &FrameView<'_>, spec: &InputSpec) -> Tensor {
    let (sw, sh) = (f.width as usize, f.height as usize);
    let (dw, dh) = (spec.width as usize, spec.height as usize);
    let (ox, oy, nw, nh) = placement(sw, sh, spec);
    let resized = naive_resize(&to_bgr(f), sw, sh, nw, nh);
    let value = |c: usize, pixel: Option<u8>| -> f32 {
        match (pixel, spec.pad) {
            (Some(p), _) => (p as f32 - spec.mean[c]) / spec.std[c],
            (None, Pad::Pixel(p)) => (p - spec.mean[c]) / spec.std[c],
            (None, Pad::Tensor(t)) => t,
        }
    };
    let mut vals = vec![0f32; dw * dh * 3];
    for y in 0..dh {
        for x in 0..dw {
            for c in 0..3 {
                // Tensor channel c in the model's order; `resized` is BGR.
                let bgr = if spec.channel_order == ChannelOrder::Bgr { c } else { 2 - c };
                let inside = x >= ox && x < ox + nw && y >= oy && y < oy + nh;
                let pixel = inside.then(|| resized[((y - oy) * nw + (x - ox)) * 3 + bgr]);
                let i = match spec.layout {
                    Layout::Nchw => c * dw * dh + y * dw + x,
                    Layout::Nhwc => (y * dw + x) * 3 + c,
                };
                vals[i] = value(c, pixel);
            }
        }
    }
    match spec.dtype {
        DType::F32 => Tensor::F32(vals),
        DType::F16 => Tensor::F16(vals.iter().map(|&v| naive_f16(v)).collect()),
        DType::U8 => Tensor::U8(vals.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect()),
    }
}

/// binary16 bits to their value (exact in f64).
fn f16_value(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let (e, m) = (((h >> 10) & 0x1f) as i32, (h & 0x3ff) as f64);
    match e {
        0 => sign * m * 2f64.powi(-24),
        31 if m == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + m / 1024.0) * 2f64.powi(e - 15),
    }
}

/// f32 to binary16, nearest with ties to even, in f64 arithmetic (exact for these values):
/// independent of the library's bit manipulation.
fn naive_f16(x: f32) -> u16 {
    let sign = if x.is_sign_negative() { 0x8000u16 } else { 0 };
    let a = (x as f64).abs();
    if a >= 65520.0 {
        return sign | 0x7c00;
    }
    if a < 2f64.powi(-14) {
        return sign | (a * 2f64.powi(24)).round_ties_even() as u16;
    }
    let mut e = a.log2().floor() as i32;
    // log2 of values just below a power of two can round up: keep the mantissa in [1, 2).
    if a < 2f64.powi(e) {
        e -= 1;
    }
    let mut q = ((a / 2f64.powi(e) - 1.0) * 1024.0).round_ties_even() as u16;
    if q == 1024 {
        (e, q) = (e + 1, 0);
    }
    sign | (((e + 15) as u16) << 10) | q
}

// ------------------------------------------------------------------------------------------------
// Tensor cases

fn kinds() -> Vec<(&'static str, Kind)> {
    let video = |m, full| YuvConversion::Video(YuvCoefficients::new(m, full));
    vec![
        ("bgr", Kind::Packed(ChannelOrder::Bgr)),
        ("rgb", Kind::Packed(ChannelOrder::Rgb)),
        ("bgrx", Kind::Packed4(ChannelOrder::Bgr)),
        ("rgba", Kind::Packed4(ChannelOrder::Rgb)),
        ("i420-601", Kind::I420(video(Matrix::Bt601, false))),
        ("i420-709", Kind::I420(video(Matrix::Bt709, false))),
        ("i420-jpeg", Kind::I420(YuvConversion::Jpeg)),
        ("nv12-601", Kind::Nv12(video(Matrix::Bt601, false))),
        ("nv12-2020-full", Kind::Nv12(video(Matrix::Bt2020, true))),
        ("nv12-jpeg", Kind::Nv12(YuvConversion::Jpeg)),
    ]
}

/// Input contracts: every family's default (at a small size, to keep the suite fast) and the
/// letterbox × layout × dtype combinations they do not cover.
fn specs() -> Vec<(String, InputSpec)> {
    let mut out = Vec::new();
    for family in [Family::Nanodet, Family::Ssd, Family::Yolov5, Family::Yolov8, Family::Yolox] {
        let mut s = family.default_input();
        (s.width, s.height) = (96, 64);
        out.push((format!("{family}"), s));
    }
    // NanoDet at its real size: the model the product ships.
    out.push(("nanodet-416".into(), Family::Nanodet.default_input()));
    for letterbox in [Letterbox::TopLeft, Letterbox::Center, Letterbox::Stretch] {
        for layout in [Layout::Nchw, Layout::Nhwc] {
            for dtype in [DType::F32, DType::F16, DType::U8] {
                let mut s = Family::Yolov5.default_input();
                (s.width, s.height, s.letterbox, s.layout, s.dtype) = (80, 112, letterbox, layout, dtype);
                if dtype == DType::U8 {
                    (s.mean, s.std) = ([0.0; 3], [1.0; 3]);
                }
                out.push((format!("{letterbox:?}-{layout:?}-{dtype:?}").to_lowercase(), s));
            }
        }
    }
    // Per-channel normalisation that differs between channels (a pad or LUT indexed by the wrong
    // channel shows), with the pad as a pixel value and as a tensor value.
    for (name, pad) in [("pixel", Pad::Pixel(114.0)), ("tensor", Pad::Tensor(-1.5))] {
        let mut s = Family::Nanodet.default_input();
        (s.width, s.height, s.letterbox, s.pad) = (72, 72, Letterbox::Center, pad);
        (s.mean, s.std) = ([10.0, 90.0, 200.0], [50.0, 2.0, 130.0]);
        out.push((format!("normalise-{name}"), s));
    }
    out
}

/// Source sizes (odd ones included: 4:2:0 chroma rounding) and row padding in bytes.
const SIZES: [(usize, usize); 3] = [(160, 120), (77, 45), (31, 57)];
const PADS: [usize; 2] = [0, 24];

fn golden_path(name: &str) -> PathBuf {
    common::root().join("tests/data/conformance").join(name)
}

fn blessing() -> bool {
    std::env::var_os("EDGESIGHT_BLESS").is_some()
}

fn read_golden_tensors() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(golden_path("tensors.txt")).unwrap_or_default();
    text.lines().filter_map(|l| l.split_once(' ')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn tensors<B: Backend>() {
    let golden = read_golden_tensors();
    let mut digests = BTreeMap::new();
    let mut failures = Vec::new();
    for (sname, spec) in specs() {
        let mut pre = B::preprocessor(spec.clone());
        for (kname, kind) in kinds() {
            for (si, &(w, h)) in SIZES.iter().enumerate() {
                for &pad in &PADS {
                    let case = format!("{sname}/{kname}/{w}x{h}+{pad}");
                    let frame = make_frame(kind, w, h, pad, 7 + si as u32);
                    let got = B::tensor(pre.as_mut(), &frame.view());
                    // The CPU output is the golden; every backend also meets the naive reference.
                    let reference = naive_preprocess(&frame.view(), &spec);
                    if let Some(m) = reference.mismatch(&got, B::TENSORS) {
                        failures.push(format!("{case}: differs from the naive reference at {m}"));
                    }
                    match (B::TENSORS, golden.get(&case)) {
                        (Tolerance::Exact, Some(d)) if *d != got.digest() => {
                            failures.push(format!("{case}: digest {} instead of the golden {d}", got.digest()))
                        }
                        (_, None) if !blessing() => failures.push(format!("{case}: no golden digest")),
                        _ => {}
                    }
                    digests.insert(case, got.digest());
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}: {} problems in {} cases:\n{}",
        B::NAME,
        failures.len(),
        digests.len(),
        failures.join("\n")
    );
    assert!(digests.len() >= 1000, "{} cases", digests.len());
    if blessing() {
        let text: String = digests.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        std::fs::create_dir_all(golden_path("")).expect("golden dir");
        std::fs::write(golden_path("tensors.txt"), text).expect("write golden tensors");
    } else {
        assert_eq!(golden.len(), digests.len(), "the golden file has cases the suite no longer runs");
    }
}

/// Random cases beyond the golden grid: source sizes from 1x1 (odd ones: 4:2:0 chroma edges),
/// odd row pitches, every frame kind, and random contracts (size, letterbox, layout, element
/// type, channel order, normalisation, pad). Each tensor must equal the naive reference within
/// the backend's tolerance, and the CPU preprocessor's tensor likewise.
fn random_cases<B: Backend>() {
    const CASES: usize = 400;
    let mut rng = Rng(0x0bad_5eed);
    let mut pick = |n: usize| (rng.next() as usize) % n;
    let families = [Family::Nanodet, Family::Ssd, Family::Yolov5, Family::Yolov8, Family::Yolox];
    let mut failures = Vec::new();
    for case in 0..CASES {
        let mut spec = families[pick(families.len())].default_input();
        (spec.width, spec.height) = (1 + pick(120) as u32, 1 + pick(120) as u32);
        spec.letterbox = [Letterbox::TopLeft, Letterbox::Center, Letterbox::Stretch][pick(3)];
        spec.layout = [Layout::Nchw, Layout::Nhwc][pick(2)];
        spec.channel_order = [ChannelOrder::Rgb, ChannelOrder::Bgr][pick(2)];
        spec.dtype = [DType::F32, DType::F16, DType::U8][pick(3)];
        if spec.dtype == DType::U8 {
            (spec.mean, spec.std) = ([0.0; 3], [1.0; 3]);
        } else {
            spec.mean = [pick(256) as f32 + 0.25, pick(256) as f32, pick(256) as f32 * 0.5];
            spec.std = [1.0 + pick(100) as f32, 0.5 + pick(200) as f32, 255.0];
        }
        spec.pad = if pick(2) == 0 { Pad::Pixel(pick(256) as f32) } else { Pad::Tensor(pick(9) as f32 - 4.5) };
        let kinds = kinds();
        let (kname, kind) = kinds[pick(kinds.len())];
        let (w, h, pad) = (1 + pick(300), 1 + pick(200), pick(40));
        let frame = make_frame(kind, w, h, pad, 1 + case as u32);
        let name = format!("case {case}: {kname} {w}x{h}+{pad} into {spec:?}");
        let got = B::tensor(B::preprocessor(spec.clone()).as_mut(), &frame.view());
        if let Some(m) = naive_preprocess(&frame.view(), &spec).mismatch(&got, B::TENSORS) {
            failures.push(format!("{name}: differs from the naive reference at {m}"));
        }
        let cpu = CpuOnnx::tensor(&mut CpuPreprocessor::new(spec.clone()), &frame.view());
        if let Some(m) = cpu.mismatch(&got, B::TENSORS) {
            failures.push(format!("{name}: differs from the CPU preprocessor at {m}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{}: {} problems in {CASES} random cases:\n{}",
        B::NAME,
        failures.len(),
        failures.join("\n")
    );
}

/// On a GPU: the kernel writing into an engine's device slot on the engine's stream gives the
/// tensor it gives through a host slot, for every element type and layout.
#[cfg(feature = "cuda")]
#[test]
fn cuda_device_slots_get_the_host_slot_tensor() {
    use edgesight::preprocess::DeviceSlot;
    let ctx = cudarc::driver::CudaContext::new(0).expect("a CUDA GPU");
    let stream = ctx.new_stream().expect("stream");
    for (name, spec) in specs() {
        let mut pre = CudaOnnx::preprocessor(spec.clone());
        let frame = make_frame(Kind::Nv12(YuvConversion::Jpeg), 77, 45, 24, 5);
        let host = CudaOnnx::tensor(pre.as_mut(), &frame.view());
        let size = match spec.dtype {
            DType::F32 => 4,
            DType::F16 => 2,
            DType::U8 => 1,
        };
        let mut dev = stream.alloc_zeros::<u8>(spec.len() * size).expect("device memory");
        let ptr = {
            use cudarc::driver::DevicePtrMut;
            let (p, _sync) = dev.device_ptr_mut(&stream);
            p
        };
        let slot = DeviceSlot::new(ptr, spec.len(), spec.dtype, 0, stream.cu_stream() as u64);
        pre.run(&FrameData::Host(frame.view()), InputSlot::Device(slot)).expect("kernel into the device slot");
        let bytes = stream.clone_dtoh(&dev).expect("copy back");
        let got = match spec.dtype {
            DType::F32 => {
                Tensor::F32(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
            }
            DType::F16 => Tensor::F16(bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect()),
            DType::U8 => Tensor::U8(bytes),
        };
        assert_eq!(got.mismatch(&host, Tolerance::Exact), None, "{name}");
    }
}

#[test]
fn the_naive_reference_is_not_the_code_under_test() {
    // A guard on the guard: the naive reference itself must see what a broken preprocessor
    // would do. Flip one bit of a correct tensor and it must no longer match.
    let spec = Family::Nanodet.default_input();
    let frame = make_frame(Kind::Packed(ChannelOrder::Bgr), 77, 45, 24, 3);
    let mut t = naive_preprocess(&frame.view(), &spec);
    let good = CpuOnnx::tensor(&mut CpuPreprocessor::new(spec.clone()), &frame.view());
    assert_eq!(t.mismatch(&good, Tolerance::Exact), None);
    if let Tensor::F32(v) = &mut t {
        v[1234] = f32::from_bits(v[1234].to_bits() ^ 1);
    }
    assert!(t.mismatch(&good, Tolerance::Exact).is_some());
}

/// Packed frames (BGR, RGB, BGRx, RGBA) against OpenCV itself: `cv2.cvtColor`, `cv2.resize`
/// and NumPy normalisation (scripts/opencv_reference.py), byte for byte. YUV frames are held to
/// swscale and libjpeg instead (tests/reference.rs): OpenCV's own `cvtColor` YUV conversions use
/// other coefficients than its video capture, whose results the product reproduces.
#[test]
fn packed_frames_match_opencv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cases = Vec::new();
    let mut ours = Vec::new();
    for (sname, spec) in specs() {
        let mut pre = CpuPreprocessor::new(spec.clone());
        for (kname, kind) in kinds().into_iter().filter(|(_, k)| matches!(k, Kind::Packed(_) | Kind::Packed4(_))) {
            for (si, &(w, h)) in SIZES.iter().enumerate() {
                for &pad in &PADS {
                    let frame = make_frame(kind, w, h, pad, 11 + si as u32);
                    let i = cases.len();
                    std::fs::write(dir.path().join(format!("case_{i}.frame")), &frame.data).expect("frame");
                    let (pad_pixel, pad_value) = match spec.pad {
                        Pad::Pixel(p) => (serde_json::json!(p), serde_json::Value::Null),
                        Pad::Tensor(t) => (serde_json::Value::Null, serde_json::json!(t)),
                    };
                    cases.push(serde_json::json!({
                        "name": format!("{sname}/{kname}/{w}x{h}+{pad}"),
                        "format": kname, "width": w, "height": h, "stride": frame.strides[0],
                        "input_width": spec.width, "input_height": spec.height,
                        "letterbox": format!("{:?}", spec.letterbox).to_lowercase().replace("topleft", "top-left"),
                        "channel_order": format!("{:?}", spec.channel_order).to_lowercase(),
                        "layout": format!("{:?}", spec.layout).to_lowercase(),
                        "dtype": format!("{:?}", spec.dtype).to_lowercase(),
                        "mean": spec.mean, "std": spec.std, "pad_pixel": pad_pixel, "pad_value": pad_value,
                    }));
                    ours.push(CpuOnnx::tensor(&mut pre, &frame.view()));
                }
            }
        }
    }
    std::fs::write(dir.path().join("cases.json"), serde_json::to_string(&cases).expect("json")).expect("cases");
    let py = common::python();
    let out = std::process::Command::new(&py)
        .arg(common::root().join("scripts/opencv_reference.py"))
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| {
            panic!("{}: {e}; run `make test-deps` (a venv with OpenCV) or set EDGESIGHT_PYTHON", py.display())
        });
    assert!(
        out.status.success(),
        "scripts/opencv_reference.py failed (run `make test-deps`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut failures = Vec::new();
    for (i, (case, t)) in cases.iter().zip(&ours).enumerate() {
        let bytes = std::fs::read(dir.path().join(format!("case_{i}.tensor"))).expect("OpenCV tensor");
        let theirs = match t {
            Tensor::F32(_) => {
                Tensor::F32(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
            }
            Tensor::F16(_) => Tensor::F16(bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect()),
            Tensor::U8(_) => Tensor::U8(bytes),
        };
        if let Some(m) = theirs.mismatch(t, Tolerance::Exact) {
            failures.push(format!("{}: {m}", case["name"]));
        }
    }
    assert!(cases.len() > 300, "{} cases", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from OpenCV:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ------------------------------------------------------------------------------------------------
// Detection cases

/// Decoded frames of real media through the product's own capture, as BGR pixels.
fn real_pictures() -> Vec<(String, usize, usize, Vec<u8>)> {
    let mut out = Vec::new();
    let opts = CaptureOptions {
        accepts: edgesight::preprocess::Accepts {
            memory: vec![edgesight::preprocess::FrameMemory::System],
            formats: vec![edgesight::preprocess::Pixels::Bgr],
        },
        ..CaptureOptions::default()
    };
    let sources = [
        (common::clip(), vec![0u64, 100, 250]),
        (common::image("vtest_f00100.jpg"), vec![0]),
        (common::image("basketball1.png"), vec![0]),
    ];
    for (path, wanted) in sources {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let mut cap = GstCapture::open(&SourceSpec::File { path: path.clone() }, &opts, &stop).expect("open media");
        let mut index = 0u64;
        while out.len() < 64 {
            match cap.pull(Duration::from_secs(5)).expect("decode") {
                Pull::Frame(f) => {
                    if wanted.contains(&index) {
                        let guard = f.map().expect("map");
                        let FrameData::Host(v) = guard.data() else { panic!("host frame") };
                        let name = format!("{}#{index}", path.file_name().unwrap_or_default().to_string_lossy());
                        out.push((name, v.width as usize, v.height as usize, to_bgr(&v)));
                    }
                    index += 1;
                }
                Pull::Eos => break,
                Pull::Timeout => {}
            }
        }
    }
    out
}

/// The same picture in a frame format: packed ones exactly; YUV ones by the BT.601 full-range
/// JPEG equations inverted, which is not exact, so YUV variants are compared among themselves.
fn as_format(bgr: &[u8], w: usize, h: usize, kind: &str) -> OwnedFrame {
    let mut f = make_frame(Kind::Packed(ChannelOrder::Bgr), w, h, 8, 1);
    match kind {
        "bgr" => place(&mut f.data, 0, w * 3 + 8, bgr, w * 3, h),
        "rgba" => {
            let rgba: Vec<u8> = bgr.chunks(3).flat_map(|p| [p[2], p[1], p[0], 0x80]).collect();
            f = make_frame(Kind::Packed4(ChannelOrder::Rgb), w, h, 0, 1);
            place(&mut f.data, 0, w * 4, &rgba, w * 4, h);
        }
        "i420" | "nv12" => {
            // JFIF forward transform, 4:2:0 by averaging (edges repeated).
            let px = |x: usize, y: usize| {
                let p = &bgr[(y.min(h - 1) * w + x.min(w - 1)) * 3..];
                (p[2] as f32, p[1] as f32, p[0] as f32)
            };
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let mut yp = vec![0u8; w * h];
            for y in 0..h {
                for x in 0..w {
                    let (r, g, b) = px(x, y);
                    yp[y * w + x] = (0.299 * r + 0.587 * g + 0.114 * b).round().clamp(0.0, 255.0) as u8;
                }
            }
            let (mut u, mut v) = (vec![0u8; cw * ch], vec![0u8; cw * ch]);
            for y in 0..ch {
                for x in 0..cw {
                    let mut acc = (0.0, 0.0);
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let (r, g, b) = px(2 * x + dx, 2 * y + dy);
                        acc.0 += -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0;
                        acc.1 += 0.5 * r - 0.418688 * g - 0.081312 * b + 128.0;
                    }
                    u[y * cw + x] = (acc.0 / 4.0).round().clamp(0.0, 255.0) as u8;
                    v[y * cw + x] = (acc.1 / 4.0).round().clamp(0.0, 255.0) as u8;
                }
            }
            let mut data = Vec::new();
            place(&mut data, 0, w, &yp, w, h);
            let uoff = w * h;
            if kind == "i420" {
                place(&mut data, uoff, cw, &u, cw, ch);
                place(&mut data, uoff + cw * ch, cw, &v, cw, ch);
                f = OwnedFrame {
                    data,
                    w: w as u32,
                    h: h as u32,
                    format: PixelFormat::I420(YuvConversion::Jpeg),
                    offsets: [0, uoff, uoff + cw * ch],
                    strides: [w, cw, cw],
                };
            } else {
                let uv: Vec<u8> = u.iter().zip(&v).flat_map(|(a, b)| [*a, *b]).collect();
                place(&mut data, uoff, cw * 2, &uv, cw * 2, ch);
                f = OwnedFrame {
                    data,
                    w: w as u32,
                    h: h as u32,
                    format: PixelFormat::Nv12(YuvConversion::Jpeg),
                    offsets: [0, uoff, 0],
                    strides: [w, cw * 2, 0],
                };
            }
        }
        other => panic!("unknown format {other}"),
    }
    f
}

struct Model {
    path: PathBuf,
    family: Family,
}

fn models() -> Vec<Model> {
    vec![
        Model { path: common::model("nanodet_g_416_coco.onnx"), family: Family::Nanodet },
        Model { path: common::model("ssdlite_mobilenet_v2_person.onnx"), family: Family::Ssd },
    ]
}

/// Detections of `frames`, run as one batch.
fn detect_batch(
    engine: &mut dyn Engine,
    pre: &mut dyn Preprocessor,
    family: Family,
    frames: &[&FrameView<'_>],
) -> Vec<Vec<Detection>> {
    let n = frames.len();
    let mut geometries = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        geometries.push(pre.run(&FrameData::Host(**f), engine.slot(n, i).expect("slot")).expect("preprocess"));
    }
    engine.run(n).expect("inference");
    let mut decoder = family.decoder(pre.spec(), engine.outputs(), &DecodeOptions::default()).expect("decoder");
    let mut post = PostProcess::new(ClassPolicy::new(0.35), 0.6, 100);
    (0..n)
        .map(|i| {
            post.run(decoder.as_mut(), &ImageOutputs { batch: engine.results(), image: i }, &geometries[i])
                .expect("decode")
                .to_vec()
        })
        .collect()
}

fn engine_for<B: Backend>(m: &Model, batch: usize) -> (Box<dyn Engine>, Box<dyn Preprocessor>) {
    let mut engine = B::engine(&m.path);
    let spec = m.family.resolve_input(engine.input(), &Default::default()).expect("input contract");
    let pre = B::preprocessor(spec);
    engine.allocate(pre.spec().image_shape(), batch).expect("allocate");
    (engine, pre)
}

fn line(model: &str, picture: &str, format: &str, dets: &[Detection]) -> String {
    let d: Vec<String> = dets
        .iter()
        .map(|d| {
            format!(
                "[{},{:.4},{:.1},{:.1},{:.1},{:.1}]",
                d.class_id, d.score, d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]
            )
        })
        .collect();
    format!(
        "{{\"model\":\"{model}\",\"picture\":\"{picture}\",\"format\":\"{format}\",\"detections\":[{}]}}",
        d.join(",")
    )
}

/// Detections agree within `tol` (same count, classes in order).
fn close(a: &[Detection], b: &[Detection], tol: DetectionTolerance) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.class_id == y.class_id
                && (x.score - y.score).abs() <= tol.score + 5e-5
                && x.bbox.iter().zip(&y.bbox).all(|(p, q)| (p - q).abs() <= tol.px + 0.05)
        })
}

fn parse_golden_line(l: &str) -> (String, Vec<Detection>) {
    let v: serde_json::Value = serde_json::from_str(l).expect("golden JSON");
    let key = format!(
        "{}|{}|{}",
        v["model"].as_str().unwrap_or(""),
        v["picture"].as_str().unwrap_or(""),
        v["format"].as_str().unwrap_or("")
    );
    let dets = v["detections"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    let n = |i: usize| d[i].as_f64().unwrap_or(f64::NAN) as f32;
                    Detection { class_id: n(0) as u32, score: n(1), bbox: [n(2), n(3), n(4), n(5)] }
                })
                .collect()
        })
        .unwrap_or_default();
    (key, dets)
}

fn detections<B: Backend>() {
    let pictures = real_pictures();
    assert_eq!(pictures.len(), 5, "clip frames 0, 100, 250, the JPEG and the PNG");
    let golden: BTreeMap<String, Vec<Detection>> = std::fs::read_to_string(golden_path("detections.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(parse_golden_line)
        .collect();
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let mut any = 0;
    for m in models() {
        let (mut engine, mut pre) = engine_for::<B>(&m, 1);
        let mname = m.path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for (pname, w, h, bgr) in &pictures {
            let mut by_format = Vec::new();
            for format in ["bgr", "rgba", "i420", "nv12"] {
                let frame = as_format(bgr, *w, *h, format);
                let dets = detect_batch(engine.as_mut(), pre.as_mut(), m.family, &[&frame.view()]).remove(0);
                any += dets.len();
                let key = format!("{mname}|{pname}|{format}");
                match golden.get(&key) {
                    Some(g) if !close(&dets, g, B::DETECTIONS) => {
                        failures.push(format!("{key}: {dets:?}\n  golden {g:?}"))
                    }
                    None if !blessing() => failures.push(format!("{key}: no golden detections")),
                    _ => {}
                }
                lines.push(line(&mname, pname, format, &dets));
                by_format.push((format, dets));
            }
            // One picture, one answer: packed formats hold the same pixels, and so do I420 and NV12.
            for (a, b) in [(0, 1), (2, 3)] {
                if by_format[a].1 != by_format[b].1 {
                    failures.push(format!("{mname} {pname}: {} and {} differ", by_format[a].0, by_format[b].0));
                }
            }
        }
    }
    assert!(any > 50, "the cases must produce detections ({any})");
    assert!(failures.is_empty(), "{}:\n{}", B::NAME, failures.join("\n"));
    if blessing() {
        std::fs::create_dir_all(golden_path("")).expect("golden dir");
        std::fs::write(golden_path("detections.jsonl"), lines.join("\n") + "\n").expect("write golden detections");
    } else {
        assert_eq!(golden.len(), lines.len(), "the golden file has cases the suite no longer runs");
    }
}

// ------------------------------------------------------------------------------------------------
// Batching

fn batch<B: Backend>() {
    let pictures = real_pictures();
    let frames: Vec<OwnedFrame> = pictures.iter().map(|(_, w, h, bgr)| as_format(bgr, *w, *h, "bgr")).collect();
    let views: Vec<FrameView<'_>> = frames.iter().map(OwnedFrame::view).collect();
    let m = Model { path: common::model("nanodet_g_416_coco_dynbatch.onnx"), family: Family::Nanodet };
    let (mut engine, mut pre) = engine_for::<B>(&m, 4);
    assert!(engine.max_batch() >= 4, "the dynamic-batch model takes any batch");
    let single: Vec<Vec<Detection>> =
        views.iter().map(|v| detect_batch(engine.as_mut(), pre.as_mut(), m.family, &[v]).remove(0)).collect();
    assert!(single.iter().all(|d| !d.is_empty()), "every picture has detections");
    // The batch-1 model agrees with the dynamic one run on one image.
    let (mut one, mut pre1) =
        engine_for::<B>(&Model { path: common::model("nanodet_g_416_coco.onnx"), family: Family::Nanodet }, 1);
    for (v, s) in views.iter().zip(&single) {
        let d = detect_batch(one.as_mut(), pre1.as_mut(), Family::Nanodet, &[v]).remove(0);
        assert!(close(&d, s, B::DETECTIONS), "batch-1 export vs dynamic export on one image");
    }
    for n in [2, 3, 4] {
        for start in 0..=views.len() - n {
            let refs: Vec<&FrameView<'_>> = views[start..start + n].iter().collect();
            let batched = detect_batch(engine.as_mut(), pre.as_mut(), m.family, &refs);
            for (i, dets) in batched.iter().enumerate() {
                assert!(
                    close(dets, &single[start + i], DetectionTolerance { score: 1e-4, px: 0.1 }),
                    "{}: image {} of a batch of {n} differs from its batch-1 result:\n{dets:?}\n{:?}",
                    B::NAME,
                    start + i,
                    single[start + i]
                );
            }
        }
    }
}
