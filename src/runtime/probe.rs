//! A run watched from outside: `edgesight bench` sees every processed frame with its stage times
//! and decides when the measured period starts (after a warm-up) and ends. `run` has no probe;
//! with one, the pipeline is otherwise the same (same threads, outputs, tracker and zones).

use std::time::{Duration, Instant};

use crate::metrics::StageTimes;
use crate::status::StreamStats;

/// One processed frame, as the inference loop saw it.
#[derive(Debug, Clone, Copy)]
pub struct FrameSample<'a> {
    pub stream: &'a str,
    /// When its event was written.
    pub at: Instant,
    /// Capture to event.
    pub latency: Duration,
    /// Preprocessing, inference and decode+NMS (a batch's time divided by its frames).
    pub times: &'a StageTimes,
    /// The tracker, zones and lines (events of their own included).
    pub tracking: Duration,
    /// Snapshot and the frame's event through the configured outputs.
    pub sinks: Duration,
    /// Drawing and handing the frame to the visualisation, when `[visualise]` shows it.
    pub visualise: Option<Duration>,
}

/// What the loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    Go,
    /// The warm-up is over: `mark` gets the streams' counters at this moment.
    WarmedUp,
    /// The measured period is over: `mark` gets the counters, then the run stops as if its
    /// streams had ended (frames in flight processed, outputs flushed).
    Stop,
}

pub trait Probe: Send + Sync {
    fn frame(&self, f: &FrameSample<'_>);
    /// Asked once per turn of the inference loop (at least every 100 ms).
    fn poll(&self, now: Instant) -> Poll;
    /// The streams' counters at a `WarmedUp` or `Stop`.
    fn mark(&self, what: Poll, streams: Vec<StreamStats>);
}
