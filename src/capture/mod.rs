//! Capture stage: video sources through GStreamer to packed 8-bit frames in system memory.

pub mod gst;
pub mod reader;
pub mod uri;

pub use reader::{CaptureOptions, Fit, Frame, GstCapture, Pull};
pub use uri::{SourceSpec, Transport};
