//! Preprocess stage: captured frame → model input tensor.
//!
//! `Geometry` is shared by every implementation; `cpu` is the portable one (a CUDA kernel joins it
//! behind the `cuda` feature on Jetson).

pub mod cpu;
pub mod frame;
pub mod geometry;
pub mod resize;
pub mod spec;
pub mod yuv;

pub use cpu::CpuPreprocessor;
pub use frame::{FrameView, PixelFormat};
pub use geometry::Geometry;
pub use spec::{ChannelOrder, DType, InputSpec, Layout, Letterbox, Pad};
pub use yuv::{Matrix, YuvCoefficients, YuvConversion};

/// The engine's input buffer for one image, in the element type the model takes.
pub enum TensorMut<'a> {
    F32(&'a mut [f32]),
    U8(&'a mut [u8]),
}

impl TensorMut<'_> {
    pub fn len(&self) -> usize {
        match self {
            TensorMut::F32(t) => t.len(),
            TensorMut::U8(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
