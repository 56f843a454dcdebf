//! Engine stage: runs the network on the preprocessed tensor.
//!
//! Engines describe their inputs and outputs by name, shape and element type, so detector families
//! can check a model against their contract without knowing which engine loaded it.

pub mod engine_cache;
#[cfg(feature = "test-hooks")]
pub mod hooked;
pub mod onnx;
pub mod ortlib;
#[cfg(feature = "tensorrt")]
pub mod tensorrt;

use std::fmt;

use crate::error::Result;
use crate::preprocess::{InputSlot, Memory};

/// Element type of a tensor, as far as edgesight cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElemType {
    F32,
    /// IEEE binary16 (TensorRT FP16 I/O).
    F16,
    U8,
    /// Anything else, by name (f16, i64, …): reported in errors, never used on the hot path.
    Other(String),
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElemType::F32 => f.write_str("f32"),
            ElemType::F16 => f.write_str("f16"),
            ElemType::U8 => f.write_str("u8"),
            ElemType::Other(s) => f.write_str(s),
        }
    }
}

/// Name, element type and shape of a model input or output; `-1` marks a dynamic dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: ElemType,
    pub shape: Vec<i64>,
}

impl fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}{}", self.name, self.dtype, ShapeDisplay(&self.shape))
    }
}

/// Formats a shape as `[1,3,416,416]`, with `?` for dynamic dimensions.
pub struct ShapeDisplay<'a>(pub &'a [i64]);

impl fmt::Display for ShapeDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if *d < 0 {
                f.write_str("?")?;
            } else {
                write!(f, "{d}")?;
            }
        }
        f.write_str("]")
    }
}

/// Lists tensors for error messages: `a f32[1,2], b f32[3]`.
pub fn describe(tensors: &[TensorInfo]) -> String {
    tensors.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
}

/// A borrowed output tensor after a run: concrete shape and f32 data.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    pub shape: &'a [i64],
    pub data: &'a [f32],
}

/// Access to one image's outputs of the last run, by index in `Engine::outputs()` order, with
/// a batch dimension of 1: what the decoders read, whatever engine and batch produced it.
pub trait Outputs {
    fn output(&self, index: usize) -> Result<TensorView<'_>>;
}

/// The outputs of a whole batch, image by image.
pub trait BatchOutputs {
    fn output(&self, image: usize, index: usize) -> Result<TensorView<'_>>;
}

/// One image of a batch, as the decoders see it.
pub struct ImageOutputs<'a> {
    pub batch: &'a dyn BatchOutputs,
    pub image: usize,
}

impl Outputs for ImageOutputs<'_> {
    fn output(&self, index: usize) -> Result<TensorView<'_>> {
        self.batch.output(self.image, index)
    }
}

/// The seam between preprocessing and decoding. One CPU implementation (ONNX Runtime) and,
/// behind the `tensorrt` feature, one GPU implementation.
///
/// A run: `allocate` once; then per batch of `n` images, `slot(n, i)` for each image (the
/// preprocessor writes it), `run(n)`, and `results()` until the next run. Inputs live where the
/// engine says (`input_memory`); outputs are always host f32, so decoders never change.
pub trait Engine: Send {
    /// Short name for logs and stats (`onnx-cpu`, `tensorrt`).
    fn name(&self) -> &'static str;
    /// The model's single image input, as declared (batch dimension included).
    fn input(&self) -> &TensorInfo;
    /// The model's outputs, in model order.
    fn outputs(&self) -> &[TensorInfo];
    /// Where the input slots live.
    fn input_memory(&self) -> Memory;
    /// The largest batch this model can run (1 for a batch-1 export).
    fn max_batch(&self) -> usize;
    /// Fixes the per-image input shape (batch dimension 1, dynamic dimensions resolved) and the
    /// largest batch that will be run, and allocates what does not depend on the batch size.
    fn allocate(&mut self, image_shape: [i64; 4], batch: usize) -> Result<()>;
    /// The input slot of image `image` of a batch of `batch` images.
    fn slot(&mut self, batch: usize, image: usize) -> Result<InputSlot<'_>>;
    /// Runs the network on the first `batch` images. Returns once the outputs are readable (an
    /// asynchronous engine synchronises here), so the frames behind the inputs may be released.
    fn run(&mut self, batch: usize) -> Result<()>;
    /// Outputs of the last `run`, per image.
    fn results(&self) -> &dyn BatchOutputs;
}
