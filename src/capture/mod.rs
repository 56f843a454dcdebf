//! Capture stage: video sources through GStreamer to decoded frames in the formats and memory
//! the preprocessor reads.

pub mod gst;
#[cfg(feature = "cuda")]
pub mod nvmm;
pub mod reader;
pub mod rtsp;
pub mod uri;

pub use reader::{CaptureOptions, Fit, Frame, FrameGuard, GstCapture, Pull};
pub use rtsp::TransportMemory;
pub use uri::{SourceSpec, Transport};

/// Whether this build on this machine can keep a stream's frames in NVMM (`memory = "nvmm"`):
/// Ok, or one line per problem, each naming what is missing and how to get it.
#[cfg(feature = "cuda")]
pub fn nvmm_ready() -> Result<(), Vec<String>> {
    nvmm::probe()
}

/// A build without CUDA cannot map NVMM surfaces: it says which build can, never falls back.
#[cfg(not(feature = "cuda"))]
pub fn nvmm_ready() -> Result<(), Vec<String>> {
    Err(vec![
        "memory = \"nvmm\" needs a build with CUDA (cargo feature cuda-jp5, cuda-jp6 or cuda-13: the Jetson image); this \
         binary reads frames from system memory only: set memory = \"system\""
            .to_string(),
    ])
}
