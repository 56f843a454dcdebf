//! Runtime: the detector, the `detect` command over files and the `run` pipeline over streams.

pub mod detect_files;
pub mod detector;
pub mod mailbox;
pub mod notify;
pub mod pipeline;
pub mod signals;
pub mod streams;
pub mod supervise;

pub use detector::Detector;

use crate::capture::{CaptureOptions, Fit};
use crate::config::ResizeAt;
use crate::preprocess::InputSpec;

/// Capture settings that suit the model: its channel order, and with `resize = "capture"` a
/// downscale in GStreamer to what the letterbox keeps.
pub fn capture_options(spec: &InputSpec, resize: ResizeAt) -> CaptureOptions {
    CaptureOptions {
        order: spec.channel_order,
        fit: (resize == ResizeAt::Capture).then_some(Fit {
            width: spec.width,
            height: spec.height,
            letterbox: spec.letterbox,
        }),
        ..CaptureOptions::default()
    }
}
