//! Runtime: assembling the parts from a configuration, the detector, the `detect` command over
//! files and the `run` pipeline over streams.

pub mod assemble;
#[cfg(feature = "tensorrt")]
pub mod calibration;
pub mod detect_files;
pub mod detector;
pub mod follow;
pub mod mailbox;
pub mod notify;
pub mod pipeline;
pub mod plan;
pub mod probe;
pub mod signals;
pub mod streams;
pub mod supervise;
pub mod track_mot;

pub use detector::Detector;

use std::time::{Duration, SystemTime};

use crate::capture::Frame;
use crate::detect::{Detection, Labels};
use crate::sink::Event;

/// The event of a processed frame: its stream, numbers, source size and capture-to-event latency.
pub(crate) fn frame_event<'a>(
    stream: &'a str,
    frame: &Frame,
    latency: Duration,
    detections: &'a [Detection],
    track_ids: &'a [Option<u32>],
    labels: &'a Labels,
) -> Event<'a> {
    Event {
        ts: SystemTime::now(),
        stream,
        frame: frame.index,
        pts_ms: frame.pts_ms,
        width: frame.source_width,
        height: frame.source_height,
        latency_ms: latency.as_secs_f64() * 1e3,
        detections,
        track_ids,
        labels,
        snapshot: None,
    }
}
