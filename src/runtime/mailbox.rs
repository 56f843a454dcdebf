//! One-slot mailboxes between the capture threads and the inference loop, plus each stream's
//! state and counters.
//!
//! Each stream has a slot holding at most one frame. A live stream overwrites its slot (the
//! overwritten frame is counted as dropped, reason `busy`), so the engine always sees the newest
//! frame and latency cannot build up; a file processed frame by frame waits for its slot to empty
//! instead. The consumer serves streams round-robin so a busy engine is shared fairly. Streams
//! can be added and retired while running (configuration reload).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::supervise::RetryReason;
use crate::capture::Frame;

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
}

/// Why frames were dropped before inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A newer frame replaced it while the engine was busy.
    Busy,
    /// Above the stream's `fps_limit`.
    FpsLimit,
}

/// Counters and state of one stream, as reported in logs and status.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamStats {
    pub name: String,
    pub state: StreamState,
    pub processed: u64,
    pub dropped_busy: u64,
    pub dropped_fps_limit: u64,
    /// Reopen attempts by reason: error, eos, stall.
    pub retries: [u64; 3],
    /// Times frames flowed again after an outage.
    pub reconnects: u64,
}

impl StreamStats {
    pub fn retries(&self, reason: RetryReason) -> u64 {
        self.retries[RetryReason::ALL.iter().position(|r| *r == reason).unwrap_or(0)]
    }
}

struct Slot {
    stats: StreamStats,
    active: bool,
    frame: Option<Frame>,
}

pub struct Mailbox {
    slots: Mutex<Vec<Slot>>,
    changed: Condvar,
}

/// What the consumer gets.
pub enum Take {
    Frame(usize, Frame),
    /// Nothing within the timeout.
    Idle,
    /// Every active stream has finished and every slot is empty.
    AllFinished,
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox { slots: Mutex::new(Vec::new()), changed: Condvar::new() }
    }
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        // A panicking holder cannot leave a slot half-written: recover the data.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a stream; returns its id (never reused).
    pub fn add(&self, name: &str) -> usize {
        let mut slots = self.lock();
        slots.push(Slot {
            stats: StreamStats {
                name: name.to_string(),
                state: StreamState::Starting,
                processed: 0,
                dropped_busy: 0,
                dropped_fps_limit: 0,
                retries: [0; 3],
                reconnects: 0,
            },
            active: true,
            frame: None,
        });
        slots.len() - 1
    }

    /// Removes a stream from service (reload): its pending frame is discarded.
    pub fn retire(&self, id: usize) {
        let mut slots = self.lock();
        if let Some(s) = slots.get_mut(id) {
            s.active = false;
            s.frame = None;
        }
        self.changed.notify_all();
    }

    /// Hands over a frame. With `wait`, blocks until the slot is free (false if `stop` was
    /// raised meanwhile); without, replaces an unread frame and counts it as dropped.
    pub fn put(&self, id: usize, mut frame: Frame, wait: bool, stop: &AtomicBool) -> bool {
        let mut slots = self.lock();
        if wait {
            while slots[id].frame.is_some() {
                if stop.load(Ordering::SeqCst) {
                    return false;
                }
                slots = self
                    .changed
                    .wait_timeout(slots, Duration::from_millis(100))
                    .map_or_else(|p| p.into_inner().0, |(g, _)| g);
            }
            // A file processed frame by frame: latency counts from the hand-over, not from the
            // time the frame waited for the engine to catch up with the decoder.
            frame.captured = Instant::now();
        } else if slots[id].frame.is_some() {
            slots[id].stats.dropped_busy += 1;
        }
        let slot = &mut slots[id];
        if matches!(slot.stats.state, StreamState::Starting | StreamState::Reconnecting(_)) {
            slot.stats.state = StreamState::Up;
        }
        if slot.active {
            slot.frame = Some(frame);
        }
        self.changed.notify_all();
        true
    }

    pub fn count_drop(&self, id: usize, reason: DropReason) {
        let mut slots = self.lock();
        let s = &mut slots[id].stats;
        match reason {
            DropReason::Busy => s.dropped_busy += 1,
            DropReason::FpsLimit => s.dropped_fps_limit += 1,
        }
        if matches!(s.state, StreamState::Starting | StreamState::Reconnecting(_)) {
            s.state = StreamState::Up;
        }
    }

    /// Records a reopen attempt; the stream is down until frames flow again.
    pub fn count_retry(&self, id: usize, reason: RetryReason) {
        let mut slots = self.lock();
        let s = &mut slots[id].stats;
        if let Some(i) = RetryReason::ALL.iter().position(|r| *r == reason) {
            s.retries[i] += 1;
        }
        s.state = StreamState::Reconnecting(reason);
        slots[id].frame = None;
    }

    pub fn count_reconnect(&self, id: usize) {
        self.lock()[id].stats.reconnects += 1;
    }

    pub fn set_state(&self, id: usize, state: StreamState) {
        let mut slots = self.lock();
        slots[id].stats.state = state;
        self.changed.notify_all();
    }

    pub fn count_processed(&self, id: usize) {
        self.lock()[id].stats.processed += 1;
    }

    fn next_frame(slots: &mut [Slot], cursor: &mut usize) -> Option<(usize, Frame)> {
        let n = slots.len();
        for k in 0..n {
            let i = (*cursor + k) % n;
            if slots[i].active
                && let Some(f) = slots[i].frame.take()
            {
                *cursor = (i + 1) % n;
                return Some((i, f));
            }
        }
        None
    }

    /// Next frame, round-robin from `*cursor`, waiting up to `timeout`.
    pub fn take(&self, cursor: &mut usize, timeout: Duration) -> Take {
        let deadline = Instant::now() + timeout;
        let mut slots = self.lock();
        loop {
            if let Some((i, f)) = Self::next_frame(&mut slots, cursor) {
                self.changed.notify_all();
                return Take::Frame(i, f);
            }
            if slots.iter().filter(|s| s.active).all(|s| s.stats.state.finished()) {
                return Take::AllFinished;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Take::Idle;
            }
            slots = self.changed.wait_timeout(slots, left).map_or_else(|p| p.into_inner().0, |(g, _)| g);
        }
    }

    /// A pending frame, without waiting (draining at shutdown).
    pub fn take_pending(&self, cursor: &mut usize) -> Option<(usize, Frame)> {
        let r = Self::next_frame(&mut self.lock(), cursor);
        self.changed.notify_all();
        r
    }

    /// Stats of the active streams.
    pub fn stats(&self) -> Vec<StreamStats> {
        self.lock().iter().filter(|s| s.active).map(|s| s.stats.clone()).collect()
    }
}
