//! edgesight: a video-analytics appliance. Capture (GStreamer) → preprocess → engine (ONNX
//! Runtime on CPU; TensorRT on Jetson) → decode + NMS → events. See DESIGN in docs/architecture.md.

pub mod alloc_tuning;
pub mod capture;
pub mod cli;
pub mod config;
pub mod detect;
pub mod engine;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod preprocess;
pub mod runtime;
pub mod sink;

pub use error::{Error, ExitKind, Result};
