//! Capture stage: video sources through GStreamer to decoded frames in the formats and memory
//! the preprocessor reads.

pub mod gst;
pub mod reader;
pub mod uri;

pub use reader::{CaptureOptions, Fit, Frame, FrameGuard, GstCapture, Pull};
pub use uri::{SourceSpec, Transport};
