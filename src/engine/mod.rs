//! Engine stage: runs the network on the preprocessed tensor.
//!
//! Engines describe their inputs and outputs by name, shape and element type, so detector families
//! can check a model against their contract without knowing which engine loaded it.

pub mod onnx;
pub mod ortlib;

use std::fmt;

use crate::error::Result;
use crate::preprocess::TensorMut;

/// Element type of a tensor, as far as edgesight cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElemType {
    F32,
    U8,
    /// Anything else, by name (f16, i64, …): reported in errors, never used on the hot path.
    Other(String),
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElemType::F32 => f.write_str("f32"),
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

/// Access to the outputs of the last run, by index in `Engine::outputs()` order.
pub trait Outputs {
    fn output(&self, index: usize) -> Result<TensorView<'_>>;
}

/// The seam between preprocessing and decoding. One CPU implementation (ONNX Runtime) and,
/// behind the `tensorrt` feature, one GPU implementation.
pub trait Engine: Send {
    /// Short name for logs and stats (`onnx-cpu`, `tensorrt`).
    fn name(&self) -> &'static str;
    /// The model's single image input.
    fn input(&self) -> &TensorInfo;
    /// The model's outputs, in model order.
    fn outputs(&self) -> &[TensorInfo];
    /// Fixes the input shape (dynamic dimensions resolved) and allocates the buffers once.
    fn allocate(&mut self, input_shape: [i64; 4]) -> Result<()>;
    /// The input buffer the preprocessor writes into (after `allocate`).
    fn input_mut(&mut self) -> Result<TensorMut<'_>>;
    /// Runs the network on the current input.
    fn run(&mut self) -> Result<()>;
    /// Outputs of the last `run`.
    fn results(&self) -> &dyn Outputs;
}
