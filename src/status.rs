//! What the running pipeline reports about itself: each stream's state and counters, why streams
//! were reopened, why frames were dropped, and the inference loop's heartbeat.
//!
//! These are plain snapshot types at the bottom of the layering: the runtime writes them, the
//! metrics endpoints, systemd STATUS= and the logs read them, and nothing here imports upwards.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::{RealClock, SharedClock};

/// Why a stream had to be reopened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryReason {
    /// The pipeline reported an error (also: opening failed).
    Error,
    /// A live source ended its stream.
    Eos,
    /// No frame for `stall_timeout` while the source stayed open.
    Stall,
}

impl RetryReason {
    pub const ALL: [RetryReason; 3] = [RetryReason::Error, RetryReason::Eos, RetryReason::Stall];

    pub fn as_str(self) -> &'static str {
        match self {
            RetryReason::Error => "error",
            RetryReason::Eos => "eos",
            RetryReason::Stall => "stall",
        }
    }

    fn index(self) -> usize {
        match self {
            RetryReason::Error => 0,
            RetryReason::Eos => 1,
            RetryReason::Stall => 2,
        }
    }
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a stream is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamState {
    /// Opened, no frame yet.
    Starting,
    /// Frames are arriving.
    Up,
    /// Down, to be reopened (after backoff) because of this.
    Reconnecting(RetryReason),
    /// End of stream (files).
    Ended,
    /// Stopped by an error, with its message.
    Failed(String),
    /// Stopped on request (shutdown, reload).
    Stopped,
}

impl StreamState {
    pub fn finished(&self) -> bool {
        matches!(self, StreamState::Ended | StreamState::Failed(_) | StreamState::Stopped)
    }

    /// The state as a short word for /status and logs.
    pub fn name(&self) -> String {
        match self {
            StreamState::Starting => "starting".into(),
            StreamState::Up => "up".into(),
            StreamState::Reconnecting(r) => format!("reconnecting ({r})"),
            StreamState::Ended => "ended".into(),
            StreamState::Failed(_) => "failed".into(),
            StreamState::Stopped => "stopped".into(),
        }
    }
}

/// Why frames were dropped before inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A newer frame replaced it while the engine was busy.
    Busy,
    /// Above the stream's `fps_limit`.
    FpsLimit,
}

/// Counters and state of one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamStats {
    pub name: String,
    pub state: StreamState,
    pub processed: u64,
    pub dropped_busy: u64,
    pub dropped_fps_limit: u64,
    /// Reopen attempts by reason, indexed like `RetryReason::ALL`.
    pub retries: [u64; 3],
    /// Times frames flowed again after an outage.
    pub reconnects: u64,
}

impl StreamStats {
    pub fn new(name: &str) -> StreamStats {
        StreamStats {
            name: name.to_string(),
            state: StreamState::Starting,
            processed: 0,
            dropped_busy: 0,
            dropped_fps_limit: 0,
            retries: [0; 3],
            reconnects: 0,
        }
    }

    pub fn retries(&self, reason: RetryReason) -> u64 {
        self.retries[reason.index()]
    }

    pub fn count_retry(&mut self, reason: RetryReason) {
        self.retries[reason.index()] += 1;
    }

    pub fn dropped(&self) -> u64 {
        self.dropped_busy + self.dropped_fps_limit
    }
}

/// Anything that can tell the current state of the streams (the runtime's mailbox).
pub trait StreamStatus: Send + Sync {
    /// Snapshot of the active streams.
    fn streams(&self) -> Vec<StreamStats>;
}

/// Progress marker the inference loop refreshes on every iteration (it never waits longer than
/// a fraction of a second when healthy). Clones share it.
#[derive(Clone)]
pub struct Heartbeat {
    clock: SharedClock,
    epoch: std::time::Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat::new(RealClock::shared())
    }
}

impl Heartbeat {
    pub fn new(clock: SharedClock) -> Heartbeat {
        Heartbeat { epoch: clock.now(), clock, last_ms: Arc::new(AtomicU64::new(0)) }
    }

    pub fn beat(&self) {
        let ms = self.clock.now().saturating_duration_since(self.epoch).as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    pub fn age(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.clock.now().saturating_duration_since(self.epoch).saturating_sub(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimClock;

    #[test]
    fn heartbeat_age_follows_the_clock() {
        let c = SimClock::new();
        let hb = Heartbeat::new(c.shared());
        hb.beat();
        c.advance(Duration::from_millis(1500));
        assert_eq!(hb.age(), Duration::from_millis(1500));
        hb.clone().beat();
        assert_eq!(hb.age(), Duration::ZERO);
    }
}
