//! The model's input contract: what the preprocessor must produce.
//!
//! Each detector family has a default contract (see `detect::family`); the config can override
//! any part of it for models exported differently (docs/specs/model_interface.md).

use serde::Deserialize;

/// Memory layout of the 4-D input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[N, C, H, W]`, planar.
    Nchw,
    /// `[N, H, W, C]`, interleaved.
    Nhwc,
}

/// Element type of the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    /// IEEE binary16 (TensorRT engines with FP16 inputs); values rounded to nearest, ties to even.
    F16,
    U8,
}

/// Order of the three colour channels in the tensor (and of captured frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// How the source frame is fitted into the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Letterbox {
    /// Keep aspect ratio, image at the top-left corner, padding right and bottom (NanoDet, YOLOX).
    TopLeft,
    /// Keep aspect ratio, image centred, padding on both sides (YOLOv5/v8).
    Center,
    /// Stretch to the input size, no padding (SSD).
    Stretch,
}

/// Value written into the padded area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pad {
    /// A pixel value (0..=255) that goes through normalisation like the image (YOLO's grey 114).
    Pixel(f32),
    /// A value written into the tensor as is, after normalisation (NanoDet pads with 0).
    Tensor(f32),
}

/// The complete, resolved input contract of a loaded model.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub dtype: DType,
    pub channel_order: ChannelOrder,
    /// Per tensor channel, in the tensor's channel order: value = (pixel - mean) / std.
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub letterbox: Letterbox,
    pub pad: Pad,
}

impl InputSpec {
    /// Number of elements of one image in the tensor.
    pub fn len(&self) -> usize {
        self.width as usize * self.height as usize * 3
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of one image in the declared layout (batch dimension 1; the engine sets the batch).
    pub fn image_shape(&self) -> [i64; 4] {
        let (w, h) = (self.width as i64, self.height as i64);
        match self.layout {
            Layout::Nchw => [1, 3, h, w],
            Layout::Nhwc => [1, h, w, 3],
        }
    }
}
