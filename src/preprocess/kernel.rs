//! The host half of the preprocess kernel (`kernels/`): its source text, its parameter block, the
//! tables it reads and its launch grid. The CUDA preprocessor (`cuda`, behind a `cuda-*` feature)
//! and the host emulation (`emulated`, for tests on machines without a GPU) both build their
//! launches here, so what the tests prove bit-exact is what the device runs.
//!
//! The kernel does the per-pixel integer work (YUV conversion, OpenCV fixed-point resampling,
//! letterbox placement, layout); the host computes what depends only on the source size and the
//! model (tap tables from `resize`, normalisation tables from `normalise`, the `Geometry`) once,
//! exactly as the CPU path computes them.

use super::frame::PixelFormat;
use super::geometry::Geometry;
use super::normalise::Luts;
use super::resize::{Tap, column_taps, row_taps};
use super::spec::{ChannelOrder, DType, InputSpec, Layout};
use super::yuv::YuvConversion;

/// The kernel as NVRTC compiles it: the arithmetic, then the entry point (no include paths).
pub const SOURCE: &str =
    concat!(include_str!("../../kernels/preprocess_body.cuh"), "\n", include_str!("../../kernels/preprocess.cu"));

/// Name of the `extern "C"` entry point.
pub const ENTRY: &str = "edgesight_preprocess";

/// Threads per block: 32 × 8 output pixels (one warp per row segment, coalesced writes in NCHW).
pub const BLOCK: (u32, u32) = (32, 8);

/// `EsParams` of `kernels/preprocess_body.cuh`, field for field (168 bytes, 8-aligned).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelParams {
    pub plane: [u64; 3],
    pub xtaps: u64,
    pub ytaps: u64,
    pub lut: u64,
    pub out: u64,
    pub pitch: [u32; 3],
    pub src_w: u32,
    pub src_h: u32,
    pub format: u32,
    pub yuv: u32,
    pub yc: [i32; 6],
    pub dst_w: u32,
    pub dst_h: u32,
    pub off_x: u32,
    pub off_y: u32,
    pub new_w: u32,
    pub new_h: u32,
    pub layout: u32,
    pub elem: u32,
    pub src_ch: [u32; 3],
    pub pad: [u32; 3],
    pub reserved: u32,
}

/// A frame as the kernel reads it: format, size and per-plane address and pitch (device
/// addresses on the GPU, host addresses in the emulation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelFrame {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub planes: [u64; 3],
    pub pitches: [usize; 3],
}

/// What one model input needs from the host: the tables (rebuilt only when the source size
/// changes) and the parameter block of each launch.
pub struct KernelPlan {
    spec: InputSpec,
    geometry: Option<Geometry>,
    /// Tap tables as the kernel reads them: `{i0, i1, w0, w1}` per column / row of the image.
    xtaps: Vec<[i32; 4]>,
    ytaps: Vec<[i32; 4]>,
    taps: Vec<Tap>,
    lut: Vec<u8>,
    pad: [u32; 3],
}

fn kernel_taps(taps: &[Tap], out: &mut Vec<[i32; 4]>) {
    out.clear();
    out.extend(taps.iter().map(|t| [t.i0 as i32, t.i1 as i32, t.w0, t.w1]));
}

/// Bytes per element of a tensor of `dtype`.
pub fn element_size(dtype: DType) -> usize {
    match dtype {
        DType::F32 => 4,
        DType::F16 => 2,
        DType::U8 => 1,
    }
}

impl KernelPlan {
    pub fn new(spec: InputSpec) -> KernelPlan {
        let (lut, pad) = Luts::new(&spec).bytes(spec.dtype);
        KernelPlan { spec, geometry: None, xtaps: Vec::new(), ytaps: Vec::new(), taps: Vec::new(), lut, pad }
    }

    pub fn spec(&self) -> &InputSpec {
        &self.spec
    }

    /// The normalisation table (3 × 256 elements of the tensor's type, little-endian): uploaded
    /// once, it never changes for a model.
    pub fn lut(&self) -> &[u8] {
        &self.lut
    }

    /// Geometry for a `w × h` source, and whether the tap tables changed (a new source size) so
    /// that a device copy of them must be refreshed.
    pub fn prepare(&mut self, w: u32, h: u32) -> (Geometry, bool) {
        if let Some(g) = self.geometry
            && (g.src_w, g.src_h) == (w, h)
        {
            return (g, false);
        }
        let g = Geometry::new(w, h, self.spec.width, self.spec.height, self.spec.letterbox);
        column_taps(w, g.new_w, &mut self.taps);
        kernel_taps(&self.taps, &mut self.xtaps);
        row_taps(h, g.new_h, &mut self.taps);
        kernel_taps(&self.taps, &mut self.ytaps);
        self.geometry = Some(g);
        (g, true)
    }

    /// Column and row taps of the current geometry, in the kernel's layout.
    pub fn taps(&self) -> (&[[i32; 4]], &[[i32; 4]]) {
        (&self.xtaps, &self.ytaps)
    }

    /// The grid covering the model input with `BLOCK`-sized blocks.
    pub fn grid(&self) -> (u32, u32) {
        (self.spec.width.div_ceil(BLOCK.0), self.spec.height.div_ceil(BLOCK.1))
    }

    /// The parameter block for one launch. `tables` are the addresses of the x taps, y taps and
    /// normalisation table, `out` the image's first element; `frame` must be the size last
    /// given to `prepare`.
    pub fn params(&self, frame: &KernelFrame, tables: [u64; 3], out: u64) -> KernelParams {
        let g = self.geometry.expect("prepare() before params()");
        debug_assert_eq!((g.src_w, g.src_h), (frame.width, frame.height));
        let (format, conv, order) = match frame.format {
            PixelFormat::Packed(o) => (0, None, o),
            PixelFormat::Packed4(o) => (1, None, o),
            PixelFormat::I420(c) => (2, Some(c), ChannelOrder::Bgr),
            PixelFormat::Nv12(c) => (3, Some(c), ChannelOrder::Bgr),
        };
        let (yuv, yc) = match conv {
            Some(YuvConversion::Jpeg) => (1, [0; 6]),
            Some(YuvConversion::Video(c)) => (0, c.fixed_point()),
            None => (0, [0; 6]),
        };
        // Tensor channel c reads frame channel src_ch[c], as in the CPU path.
        let src_ch = if order == self.spec.channel_order { [0, 1, 2] } else { [2, 1, 0] };
        KernelParams {
            plane: frame.planes,
            xtaps: tables[0],
            ytaps: tables[1],
            lut: tables[2],
            out,
            pitch: frame.pitches.map(|p| p as u32),
            src_w: frame.width,
            src_h: frame.height,
            format,
            yuv,
            yc,
            dst_w: self.spec.width,
            dst_h: self.spec.height,
            off_x: g.off_x,
            off_y: g.off_y,
            new_w: g.new_w,
            new_h: g.new_h,
            layout: match self.spec.layout {
                Layout::Nchw => 0,
                Layout::Nhwc => 1,
            },
            elem: element_size(self.spec.dtype) as u32,
            src_ch,
            pad: self.pad,
            reserved: 0,
        }
    }
}

/// Whether plane pitches fit the kernel's 32-bit pitch fields (they always do for real frames;
/// a source claiming otherwise is refused rather than read out of bounds).
pub fn pitches_fit(pitches: &[usize; 3]) -> bool {
    pitches.iter().all(|&p| p <= u32::MAX as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn params_layout_is_the_c_structs() {
        // The offsets the C side has with natural alignment (see kernels/emulate.cpp, which
        // the emulated tests compare at run time as well).
        assert_eq!(size_of::<KernelParams>(), 168);
        assert_eq!(align_of::<KernelParams>(), 8);
        assert_eq!(offset_of!(KernelParams, pitch), 56);
        assert_eq!(offset_of!(KernelParams, yc), 84);
        assert_eq!(offset_of!(KernelParams, src_ch), 140);
        assert_eq!(offset_of!(KernelParams, reserved), 164);
    }

    /// The kernel's pitch fields are 32-bit: a wider pitch would be truncated and the kernel
    /// would read the wrong rows (or out of bounds), so such a frame is refused.
    #[test]
    fn pitches_wider_than_32_bits_do_not_fit() {
        let max = u32::MAX as usize;
        assert!(pitches_fit(&[1920 * 4, 0, 0]));
        assert!(pitches_fit(&[max, max, max]));
        for i in 0..3 {
            let mut p = [4096; 3];
            p[i] = max + 1;
            assert!(!pitches_fit(&p), "{p:?}");
        }
    }

    #[test]
    fn source_has_the_entry_point_and_no_includes() {
        assert!(SOURCE.contains(&format!("extern \"C\" __global__ void {ENTRY}(")));
        assert!(!SOURCE.contains("#include"), "NVRTC compiles it with no include path");
    }
}
