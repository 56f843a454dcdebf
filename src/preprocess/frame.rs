//! A borrowed decoded frame, packed RGB/BGR or planar I420, read row by row.

use super::spec::ChannelOrder;
use super::yuv::{ChromaRows, YuvConversion};

/// Pixel format of a frame handed to the preprocessor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PixelFormat {
    /// Packed 8-bit, 3 bytes per pixel.
    Packed(ChannelOrder),
    /// Planar YUV 4:2:0 (Y, U, V planes), converted row by row as rows are needed.
    I420(YuvConversion),
}

/// A decoded frame in memory: `data` with per-plane offsets and strides.
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
        let (w, h) = (self.width as usize, self.height as usize);
        let planes: &[(usize, usize)] = match self.format {
            PixelFormat::Packed(_) => &[(w * 3, h)],
            PixelFormat::I420(_) => &[(w, h), (w.div_ceil(2), h.div_ceil(2)), (w.div_ceil(2), h.div_ceil(2))],
        };
        for (i, &(row, rows)) in planes.iter().enumerate() {
            if self.strides[i] < row {
                return Err(format!("plane {i}: row stride {} is shorter than a row of {row} bytes", self.strides[i]));
            }
            let need = self.offsets[i] + self.strides[i] * (rows - 1) + row;
            if self.data.len() < need {
                return Err(format!(
                    "frame buffer holds {} bytes, plane {i} of a {}x{} frame needs {need}",
                    self.data.len(),
                    self.width,
                    self.height
                ));
            }
        }
        Ok(())
    }

    fn plane_row(&self, plane: usize, y: usize, len: usize) -> &'a [u8] {
        let start = self.offsets[plane] + y * self.strides[plane];
        &self.data[start..start + len]
    }

    /// Row `y` as packed pixels: borrowed for packed frames, converted into `scratch` (BGR) for
    /// YUV. Callers have passed `check`.
    pub fn row<'s>(&self, y: usize, scratch: &'s mut Vec<u8>) -> (&'s [u8], ChannelOrder)
    where
        'a: 's,
    {
        let w = self.width as usize;
        match self.format {
            PixelFormat::Packed(order) => (self.plane_row(0, y, w * 3), order),
            PixelFormat::I420(conv) => {
                scratch.resize(w * 3, 0);
                let (cw, ch) = (w.div_ceil(2), (self.height as usize).div_ceil(2));
                let near = y / 2;
                // Vertical neighbour for JPEG upsampling: above for even rows, below for odd, edges repeated.
                let far = if y.is_multiple_of(2) { near.saturating_sub(1) } else { (near + 1).min(ch - 1) };
                let rows =
                    |plane| ChromaRows { near: self.plane_row(plane, near, cw), far: self.plane_row(plane, far, cw) };
                conv.row_to_bgr(self.plane_row(0, y, w), rows(1), rows(2), scratch);
                (scratch.as_slice(), ChannelOrder::Bgr)
            }
        }
    }
}
