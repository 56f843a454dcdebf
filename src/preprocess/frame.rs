//! What a preprocessor reads: a decoded frame, either planes in host memory (`FrameView`, read row
//! by row) or a surface in GPU-accessible memory (`DeviceFrame`), and the formats capture can ask
//! its sources for (`Pixels`, `FrameMemory`, `Accepts`).

use super::spec::ChannelOrder;
use super::yuv::{ChromaRows, YuvCoefficients, YuvConversion};

/// Pixel format of a frame handed to the preprocessor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PixelFormat {
    /// Packed 8-bit, 3 bytes per pixel.
    Packed(ChannelOrder),
    /// Packed 8-bit, 4 bytes per pixel: the three colours in this order, then alpha or padding
    /// (RGBA, RGBx, BGRA, BGRx), which is ignored like OpenCV's `cvtColor(…A2…)` ignores it.
    Packed4(ChannelOrder),
    /// Planar YUV 4:2:0 (Y, U, V planes), converted row by row as rows are needed.
    I420(YuvConversion),
    /// Semi-planar YUV 4:2:0 (Y plane, then one plane of interleaved U, V), what hardware decoders
    /// and `nvvidconv` emit. Converted with the same arithmetic as I420: the same picture gives
    /// the same tensor whichever of the two layouts the decoder chose.
    Nv12(YuvConversion),
}

impl PixelFormat {
    /// The capture-level format this is.
    pub fn pixels(self) -> Pixels {
        match self {
            PixelFormat::Packed(ChannelOrder::Bgr) => Pixels::Bgr,
            PixelFormat::Packed(ChannelOrder::Rgb) => Pixels::Rgb,
            PixelFormat::Packed4(ChannelOrder::Bgr) => Pixels::Bgrx,
            PixelFormat::Packed4(ChannelOrder::Rgb) => Pixels::Rgbx,
            PixelFormat::I420(_) => Pixels::I420,
            PixelFormat::Nv12(_) => Pixels::Nv12,
        }
    }

    /// (bytes per row, rows) of each plane of a `w × h` frame.
    fn planes(self, w: usize, h: usize) -> ([(usize, usize); 3], usize) {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match self {
            PixelFormat::Packed(_) => ([(w * 3, h), (0, 0), (0, 0)], 1),
            PixelFormat::Packed4(_) => ([(w * 4, h), (0, 0), (0, 0)], 1),
            PixelFormat::I420(_) => ([(w, h), (cw, ch), (cw, ch)], 3),
            PixelFormat::Nv12(_) => ([(w, h), (cw * 2, ch), (0, 0)], 2),
        }
    }
}

/// Raw video formats by their GStreamer (and FourCC-like) names: what a preprocessor asks capture
/// for. The alpha variants read the same as the padding ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pixels {
    I420,
    Nv12,
    Bgr,
    Rgb,
    Bgrx,
    Rgbx,
    Bgra,
    Rgba,
}

impl Pixels {
    pub const ALL: [Pixels; 8] =
        [Pixels::I420, Pixels::Nv12, Pixels::Bgr, Pixels::Rgb, Pixels::Bgrx, Pixels::Rgbx, Pixels::Bgra, Pixels::Rgba];

    pub fn name(self) -> &'static str {
        match self {
            Pixels::I420 => "I420",
            Pixels::Nv12 => "NV12",
            Pixels::Bgr => "BGR",
            Pixels::Rgb => "RGB",
            Pixels::Bgrx => "BGRx",
            Pixels::Rgbx => "RGBx",
            Pixels::Bgra => "BGRA",
            Pixels::Rgba => "RGBA",
        }
    }

    pub fn from_name(name: &str) -> Option<Pixels> {
        Pixels::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Where a frame's pixels live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameMemory {
    /// Ordinary CPU-readable buffers.
    System,
    /// NVIDIA's NVMM surfaces (Jetson decoders, `nvarguscamerasrc`): GPU memory, no CPU mapping.
    Nvmm,
    /// CUDA device memory (GStreamer's `memory:CUDAMemory`, DeepStream's device buffers): plane
    /// addresses a kernel reads directly.
    Cuda,
}

impl FrameMemory {
    /// The GStreamer caps feature that marks this memory (none for system memory).
    pub fn caps_feature(self) -> Option<&'static str> {
        match self {
            FrameMemory::System => None,
            FrameMemory::Nvmm => Some("memory:NVMM"),
            FrameMemory::Cuda => Some("memory:CUDAMemory"),
        }
    }
}

/// The frames a preprocessor reads, best first; capture builds its caps and decides its
/// conversion elements from this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepts {
    pub memory: Vec<FrameMemory>,
    pub formats: Vec<Pixels>,
}

impl Accepts {
    pub fn takes(&self, memory: FrameMemory, format: Pixels) -> bool {
        self.memory.contains(&memory) && self.formats.contains(&format)
    }
}

/// A decoded frame in host memory: `data` with per-plane offsets and strides.
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    /// Byte offset of each plane (only the first is used for packed formats).
    pub offsets: [usize; 3],
    /// Bytes from one row to the next, per plane.
    pub strides: [usize; 3],
}

/// A decoded frame in GPU-accessible memory (an NVMM surface or CUDA device memory): device
/// addresses and pitches of its planes. Only a GPU preprocessor reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceFrame {
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    pub memory: FrameMemory,
    /// Device address of each plane.
    pub planes: [u64; 3],
    /// Bytes from one row to the next, per plane.
    pub pitches: [usize; 3],
}

/// A mapped frame as a preprocessor receives it. Borrowed from the guard that keeps the mapping
/// alive until the engine has consumed the tensor.
#[derive(Debug, Clone, Copy)]
pub enum FrameData<'a> {
    Host(FrameView<'a>),
    Device(&'a DeviceFrame),
}

/// Reusable buffers for rows that have to be converted before resampling.
#[derive(Debug, Default)]
pub struct RowScratch {
    /// A row as packed 3-byte pixels.
    pixels: Vec<u8>,
    /// De-interleaved chroma of an NV12 row: U near, U far, V near, V far.
    chroma: [Vec<u8>; 4],
}

impl<'a> FrameView<'a> {
    /// A packed frame with one plane at offset 0.
    pub fn packed(data: &'a [u8], width: u32, height: u32, stride: usize, order: ChannelOrder) -> FrameView<'a> {
        FrameView { data, width, height, format: PixelFormat::Packed(order), offsets: [0; 3], strides: [stride, 0, 0] }
    }

    /// Checks that every plane really holds its rows.
    pub fn check(&self) -> Result<(), String> {
        if self.width == 0 || self.height == 0 {
            return Err("empty frame (0 pixels)".into());
        }
        let (planes, n) = self.format.planes(self.width as usize, self.height as usize);
        for (i, &(row, rows)) in planes.iter().enumerate().take(n) {
            if self.strides[i] < row {
                return Err(format!("plane {i}: row stride {} is shorter than a row of {row} bytes", self.strides[i]));
            }
            let need = self.strides[i]
                .checked_mul(rows - 1)
                .and_then(|b| b.checked_add(row))
                .and_then(|b| b.checked_add(self.offsets[i]));
            if need.is_none_or(|need| self.data.len() < need) {
                return Err(format!(
                    "frame buffer holds {} bytes, too few for plane {i} of a {}x{} {:?} frame (offset {}, stride {})",
                    self.data.len(),
                    self.width,
                    self.height,
                    self.format.pixels(),
                    self.offsets[i],
                    self.strides[i]
                ));
            }
        }
        Ok(())
    }

    /// (offset, bytes) of each plane the format has, from its first byte to the end of its
    /// last row: what a GPU upload copies. Callers have passed `check`.
    pub fn plane_spans(&self) -> [Option<(usize, usize)>; 3] {
        let (planes, n) = self.format.planes(self.width as usize, self.height as usize);
        let mut out = [None; 3];
        for (i, &(row, rows)) in planes.iter().enumerate().take(n) {
            out[i] = Some((self.offsets[i], self.strides[i] * (rows - 1) + row));
        }
        out
    }

    fn plane_row(&self, plane: usize, y: usize, len: usize) -> &'a [u8] {
        let start = self.offsets[plane] + y * self.strides[plane];
        &self.data[start..start + len]
    }

    /// Row `y` as packed 3-byte pixels: borrowed for packed frames, converted into `scratch` for
    /// the others (YUV to BGR). Callers have passed `check`.
    pub fn row<'s>(&self, y: usize, scratch: &'s mut RowScratch) -> (&'s [u8], ChannelOrder)
    where
        'a: 's,
    {
        let w = self.width as usize;
        let (cw, ch) = (w.div_ceil(2), (self.height as usize).div_ceil(2));
        // Vertical chroma neighbour for JPEG upsampling: above for even rows, below for odd, edges repeated.
        let near = y / 2;
        let far = if y.is_multiple_of(2) { near.saturating_sub(1) } else { (near + 1).min(ch - 1) };
        match self.format {
            PixelFormat::Packed(order) => (self.plane_row(0, y, w * 3), order),
            PixelFormat::Packed4(order) => {
                let out = &mut scratch.pixels;
                out.resize(w * 3, 0);
                for (d, s) in out.chunks_exact_mut(3).zip(self.plane_row(0, y, w * 4).chunks_exact(4)) {
                    d.copy_from_slice(&s[..3]);
                }
                (out.as_slice(), order)
            }
            PixelFormat::I420(conv) => {
                scratch.pixels.resize(w * 3, 0);
                let rows =
                    |plane| ChromaRows { near: self.plane_row(plane, near, cw), far: self.plane_row(plane, far, cw) };
                conv.row_to_bgr(self.plane_row(0, y, w), rows(1), rows(2), &mut scratch.pixels);
                (scratch.pixels.as_slice(), ChannelOrder::Bgr)
            }
            PixelFormat::Nv12(conv) => {
                scratch.pixels.resize(w * 3, 0);
                let [un, uf, vn, vf] = &mut scratch.chroma;
                split_uv(self.plane_row(1, near, cw * 2), un, vn);
                split_uv(self.plane_row(1, far, cw * 2), uf, vf);
                let (u, v) = (ChromaRows { near: un, far: uf }, ChromaRows { near: vn, far: vf });
                conv.row_to_bgr(self.plane_row(0, y, w), u, v, &mut scratch.pixels);
                (scratch.pixels.as_slice(), ChannelOrder::Bgr)
            }
        }
    }
}

/// A YUV row as `FrameView::video_yuv_row` gives it: coefficients, luma, U and V.
pub type YuvRow<'s> = (YuvCoefficients, &'s [u8], &'s [u8], &'s [u8]);

impl<'a> FrameView<'a> {
    /// Row `y` of a YUV frame converted the swscale way, unconverted: its coefficients and its
    /// luma, U and V rows (NV12 chroma de-interleaved into `scratch`), for a preprocessor that
    /// converts with its own kernels. `None` for the other formats. Callers have passed `check`.
    pub fn video_yuv_row<'s>(&self, y: usize, scratch: &'s mut RowScratch) -> Option<YuvRow<'s>>
    where
        'a: 's,
    {
        let w = self.width as usize;
        let cw = w.div_ceil(2);
        match self.format {
            PixelFormat::I420(YuvConversion::Video(c)) => {
                Some((c, self.plane_row(0, y, w), self.plane_row(1, y / 2, cw), self.plane_row(2, y / 2, cw)))
            }
            PixelFormat::Nv12(YuvConversion::Video(c)) => {
                let [u, _, v, _] = &mut scratch.chroma;
                split_uv(self.plane_row(1, y / 2, cw * 2), u, v);
                Some((c, self.plane_row(0, y, w), u.as_slice(), v.as_slice()))
            }
            _ => None,
        }
    }
}

/// De-interleaves one NV12 chroma row (U, V, U, V, …).
fn split_uv(uv: &[u8], u: &mut Vec<u8>, v: &mut Vec<u8>) {
    let n = uv.len() / 2;
    u.resize(n, 0);
    v.resize(n, 0);
    for ((pair, u), v) in uv.chunks_exact(2).zip(u.iter_mut()).zip(v.iter_mut()) {
        *u = pair[0];
        *v = pair[1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::yuv::{Matrix, YuvCoefficients};

    #[test]
    fn every_format_reads_the_same_row() {
        // A 4x2 I420 frame, the same samples as NV12, and its BGR conversion as BGRx.
        let conv = YuvConversion::Video(YuvCoefficients::new(Matrix::Bt601, false));
        let (y, u, v) = ([16u8, 60, 120, 235, 30, 90, 150, 210], [90u8, 200], [240u8, 60]);
        let i420: Vec<u8> = [&y[..], &u, &v].concat();
        let f = FrameView {
            data: &i420,
            width: 4,
            height: 2,
            format: PixelFormat::I420(conv),
            offsets: [0, 8, 10],
            strides: [4, 2, 2],
        };
        let nv12: Vec<u8> = [&y[..], &[90, 240, 200, 60]].concat();
        let g = FrameView {
            data: &nv12,
            width: 4,
            height: 2,
            format: PixelFormat::Nv12(conv),
            offsets: [0, 8, 0],
            strides: [4, 4, 0],
        };
        let (mut s1, mut s2, mut s3) = (RowScratch::default(), RowScratch::default(), RowScratch::default());
        for row in 0..2 {
            assert!(f.check().is_ok() && g.check().is_ok());
            let (a, _) = f.row(row, &mut s1);
            let (b, _) = g.row(row, &mut s2);
            assert_eq!(a, b, "row {row}");
            let bgrx: Vec<u8> = a.chunks(3).flat_map(|p| [p[0], p[1], p[2], 0xAB]).collect();
            let h = FrameView {
                data: &bgrx,
                width: 4,
                height: 1,
                format: PixelFormat::Packed4(ChannelOrder::Bgr),
                offsets: [0; 3],
                strides: [16, 0, 0],
            };
            assert_eq!(h.row(0, &mut s3), (a, ChannelOrder::Bgr));
        }
    }

    #[test]
    fn video_yuv_rows_are_the_planes_rows() {
        let conv = YuvCoefficients::new(Matrix::Bt601, false);
        let (y, u, v) = ([16u8, 60, 120, 235, 30, 90], [90u8, 200], [240u8, 60]);
        let i420: Vec<u8> = [&y[..], &u, &v].concat();
        let f = FrameView {
            data: &i420,
            width: 3,
            height: 2,
            format: PixelFormat::I420(YuvConversion::Video(conv)),
            offsets: [0, 6, 8],
            strides: [3, 2, 2],
        };
        let nv12: Vec<u8> = [&y[..], &[90, 240, 200, 60]].concat();
        let g = FrameView {
            data: &nv12,
            format: PixelFormat::Nv12(YuvConversion::Video(conv)),
            offsets: [0, 6, 0],
            strides: [3, 4, 0],
            ..f
        };
        let mut s = RowScratch::default();
        for frame in [f, g] {
            let (c, yr, ur, vr) = frame.video_yuv_row(1, &mut s).expect("a video YUV row");
            assert_eq!((c, yr, ur, vr), (conv, &y[3..6], &u[..], &v[..]), "{:?}", frame.format);
        }
        assert!(FrameView { format: PixelFormat::I420(YuvConversion::Jpeg), ..f }.video_yuv_row(0, &mut s).is_none());
        assert!(FrameView::packed(&i420, 2, 1, 6, ChannelOrder::Bgr).video_yuv_row(0, &mut s).is_none());
    }

    #[test]
    fn short_planes_are_reported_not_read() {
        let data = [0u8; 11];
        let conv = YuvConversion::Jpeg;
        let f = FrameView {
            data: &data,
            width: 4,
            height: 2,
            format: PixelFormat::Nv12(conv),
            offsets: [0, 8, 0],
            strides: [4, 4, 0],
        };
        assert!(f.check().unwrap_err().contains("plane 1"));
        let huge = FrameView { strides: [usize::MAX, 4, 0], ..f };
        assert!(huge.check().is_err(), "overflowing layouts are errors, not panics");
    }
}
