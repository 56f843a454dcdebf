//! Metrics: latency histograms, FPS and per-stream counters.

pub mod http;
pub mod listener;
pub mod stats;

pub use stats::{Histogram, RunStats, StageTimes};
