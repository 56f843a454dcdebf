//! edgesight: a video-analytics appliance. Capture (GStreamer) → preprocess → engine (ONNX
//! Runtime on CPU; TensorRT on Jetson) → decode + NMS → events. See DESIGN in docs/architecture.md.

// Exactly one CUDA version per build (Cargo.toml, [features]).
#[cfg(all(feature = "cuda", not(any(feature = "cuda-jp5", feature = "cuda-jp6", feature = "cuda-13"))))]
compile_error!("feature `cuda` needs its CUDA version: build with cuda-jp5, cuda-jp6 or cuda-13 instead");
#[cfg(any(
    all(feature = "cuda-jp5", feature = "cuda-jp6"),
    all(feature = "cuda-jp5", feature = "cuda-13"),
    all(feature = "cuda-jp6", feature = "cuda-13")
))]
compile_error!("cuda-jp5, cuda-jp6 and cuda-13 exclude each other: build with one (never --all-features)");

pub mod alloc_tuning;
pub mod bench;
pub mod capture;
pub mod cli;
pub mod clock;
pub mod config;
pub mod detect;
pub mod engine;
pub mod error;
pub mod font;
pub mod fsutil;
pub mod logging;
pub mod metrics;
pub mod preprocess;
pub mod runtime;
pub mod sha256;
pub mod sink;
pub mod status;
pub mod text;
pub mod track;
pub mod visual;
pub mod zones;

pub use error::{Error, ExitKind, Result};
