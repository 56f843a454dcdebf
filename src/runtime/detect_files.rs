//! `edgesight detect`: the configured model on image and video files, events on the sink.
//! The developer's tool and the tests' oracle check: every decoded frame is counted, none dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::assemble;
use super::supervise::FILE_STALL_HINT;
use crate::capture::Pull;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::RunStats;
use crate::sink::Sink;

/// How long a file may give neither a frame nor its end before `detect` gives up on it.
const FILE_STALL: Duration = Duration::from_secs(10);

pub struct DetectArgs {
    pub inputs: Vec<PathBuf>,
    /// Process frames whose index is a multiple of this (1 = every frame).
    pub every: u64,
}

/// Runs the model over every input; returns the stats and the engine's name.
pub fn detect_files(
    cfg: &Config,
    args: &DetectArgs,
    sink: &mut dyn Sink,
    stop: &AtomicBool,
) -> Result<(RunStats, &'static str)> {
    let mut detector = assemble::detector(&cfg.model)?;
    let engine = detector.engine_name();
    let opts = assemble::capture(detector.preprocessor(), &cfg.model, &cfg.pipeline);
    let mut stats = RunStats::default();
    for input in &args.inputs {
        let name = input.file_name().map_or_else(|| input.display().to_string(), |n| n.to_string_lossy().into_owned());
        let mut cap = assemble::open_file(input, &opts, stop)?;
        stats.start(Instant::now());
        let mut decoded = 0u64;
        let mut waiting = Duration::ZERO;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok((stats, engine));
            }
            let frame = match cap.pull(Duration::from_secs(1))? {
                Pull::Frame(f) => f,
                Pull::Eos => break,
                Pull::Timeout => {
                    waiting += Duration::from_secs(1);
                    if waiting >= FILE_STALL {
                        return Err(Error::source(format!(
                            "{}: no frame for {} s; {FILE_STALL_HINT}",
                            input.display(),
                            FILE_STALL.as_secs()
                        )));
                    }
                    continue;
                }
            };
            waiting = Duration::ZERO;
            decoded += 1;
            if frame.index % args.every != 0 {
                continue;
            }
            detector.detect_batch(std::iter::once(&frame), |_, found, labels, times| {
                let now = Instant::now();
                let latency = now.saturating_duration_since(frame.captured);
                sink.emit(&super::frame_event(&name, &frame, latency, found.reported(), &[], labels))?;
                stats.record(now, latency, times);
                stats.batches += 1;
                Ok(())
            })?;
        }
        if decoded == 0 {
            return Err(Error::source(format!(
                "{}: the stream ended without a single video frame; is it a video or image file?",
                input.display()
            )));
        }
    }
    sink.flush()?;
    Ok((stats, engine))
}
