//! `edgesight detect`: the configured model on image and video files, events on the sink.
//! The developer's tool and the tests' oracle check: every decoded frame is counted, none dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::{Detector, capture_options};
use crate::capture::{GstCapture, Pull, SourceSpec};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::{RunStats, StageTimes};
use crate::sink::{Event, Sink};

pub struct DetectArgs {
    pub inputs: Vec<PathBuf>,
    /// Process frames whose index is a multiple of this (1 = every frame).
    pub every: u64,
}

pub fn detect_files(cfg: &Config, args: &DetectArgs, sink: &mut dyn Sink, stop: &AtomicBool) -> Result<RunStats> {
    let mut detector = Detector::load(&cfg.model)?;
    let opts = capture_options(detector.input_spec(), cfg.pipeline.resize);
    let mut stats = RunStats::default();
    let mut times = StageTimes::default();
    for input in &args.inputs {
        let name = input.file_name().map_or_else(|| input.display().to_string(), |n| n.to_string_lossy().into_owned());
        let mut cap = GstCapture::open(&SourceSpec::File { path: input.clone() }, &opts)?;
        stats.start();
        let mut decoded = 0u64;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(stats);
            }
            let frame = match cap.pull(Duration::from_secs(1))? {
                Pull::Frame(f) => f,
                Pull::Eos => break,
                Pull::Timeout => continue,
            };
            decoded += 1;
            if frame.index % args.every != 0 {
                continue;
            }
            let (dets, labels) = detector.detect(&frame, &mut times)?;
            let latency = frame.captured.elapsed();
            sink.emit(&Event {
                ts: SystemTime::now(),
                stream: &name,
                frame: frame.index,
                pts_ms: frame.pts_ms,
                width: frame.source_width,
                height: frame.source_height,
                latency_ms: latency.as_secs_f64() * 1e3,
                detections: dets,
                labels,
            })?;
            stats.record(latency, &times);
        }
        if decoded == 0 {
            return Err(Error::source(format!(
                "{}: the stream ended without a single video frame; is it a video or image file?",
                input.display()
            )));
        }
    }
    sink.flush()?;
    Ok(stats)
}
