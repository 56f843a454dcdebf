//! Preprocess stage: captured frame → one image of the model's input tensor.
//!
//! `Preprocessor` is the seam: the CPU implementation (`cpu`) here, a CUDA kernel beside it behind
//! a feature. It reads a frame in host or device memory (`FrameData`), writes into the slot the
//! engine lends (`InputSlot`, host or device) and returns the `Geometry` every implementation
//! shares; host↔device pairings are resolved inside the preprocessor, never by the runtime.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "kernel-emulation")]
pub mod emulated;
pub mod frame;
pub mod geometry;
pub mod kernel;
pub mod normalise;
pub mod planar;
pub mod resize;
pub mod simd;
pub mod slot;
pub mod spec;
pub mod yuv;

pub use cpu::CpuPreprocessor;
pub use frame::{Accepts, DeviceFrame, FrameData, FrameMemory, FrameView, PixelFormat, Pixels, RowScratch};
pub use geometry::Geometry;
pub use simd::Simd;
pub use slot::{DeviceSlot, InputSlot, Memory, TensorMut};
pub use spec::{ChannelOrder, DType, InputSpec, Layout, Letterbox, Pad};
pub use yuv::{Matrix, YuvCoefficients, YuvConversion};

use crate::error::Result;

/// Turns frames into model input, one image at a time.
pub trait Preprocessor: Send {
    /// Short name for logs (`cpu`, `cuda`).
    fn name(&self) -> &'static str;
    /// The input contract it produces.
    fn spec(&self) -> &InputSpec;
    /// The frames it reads, best first; capture asks its sources for these.
    fn accepts(&self) -> Accepts;
    /// Whether it can write an engine input that lives in `memory`.
    fn writes(&self, memory: Memory) -> bool;
    /// Writes `frame` into `slot` as one image and returns the geometry that maps boxes back to
    /// the frame. A frame that does not hold what it claims is a source error; a slot or frame in
    /// memory this preprocessor cannot reach is a model error.
    fn run(&mut self, frame: &FrameData<'_>, slot: InputSlot<'_>) -> Result<Geometry>;
}
