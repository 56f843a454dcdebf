//! One-slot mailboxes between the capture threads and the inference loop, plus each stream's
//! state and counters.
//!
//! Each stream has a slot holding at most one frame. A live stream overwrites its slot (the
//! overwritten frame is counted as dropped, reason `busy`), so the engine always sees the newest
//! frame and latency cannot build up; a file processed frame by frame waits for its slot to empty
//! instead. The consumer takes up to a batch of frames, each from a different stream, round-robin
//! so a busy engine is shared fairly; with a batch above one it may wait a short fill time for
//! more streams' frames. Streams can be added and retired while running (configuration reload).
//!
//! Time comes from a `Clock`, so the drop and batching logic is tested on simulated time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::capture::Frame;
use crate::clock::SharedClock;
use crate::status::{DropReason, RetryReason, StreamState, StreamStats, StreamStatus};

/// A frame as the mailbox handles it: it restamps the capture time of frames that waited for
/// their slot (files processed frame by frame), so latency counts from the hand-over.
pub trait Stamped: Send {
    fn restamp(&mut self, at: Instant);
}

impl Stamped for Frame {
    fn restamp(&mut self, at: Instant) {
        self.captured = at;
    }
}

struct Slot<F> {
    stats: StreamStats,
    active: bool,
    frame: Option<F>,
}

pub struct Mailbox<F = Frame> {
    slots: Mutex<Vec<Slot<F>>>,
    changed: Condvar,
    clock: SharedClock,
}

/// What the consumer gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    /// This many frames were appended to the caller's list.
    Frames(usize),
    /// Nothing within the timeout.
    Idle,
    /// Every active stream has finished and every slot is empty.
    AllFinished,
}

/// How many frames a take may return, and how long it may wait for more than the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    pub max: usize,
    /// After the first frame, wait up to this long for frames of other streams.
    pub fill: Duration,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy { max: 1, fill: Duration::ZERO }
    }
}

impl<F: Stamped> Mailbox<F> {
    pub fn new(clock: SharedClock) -> Mailbox<F> {
        Mailbox { slots: Mutex::new(Vec::new()), changed: Condvar::new(), clock }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Slot<F>>> {
        // A panicking holder cannot leave a slot half-written: recover the data.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a change for at most `left` (simulated clocks only advance).
    fn wait<'a>(&self, slots: MutexGuard<'a, Vec<Slot<F>>>, left: Duration) -> MutexGuard<'a, Vec<Slot<F>>> {
        let real = self.clock.blocking(left);
        if real.is_zero() {
            return slots;
        }
        self.changed.wait_timeout(slots, real).map_or_else(|p| p.into_inner().0, |(g, _)| g)
    }

    /// Adds a stream; returns its id (never reused).
    pub fn add(&self, name: &str) -> usize {
        let mut slots = self.lock();
        slots.push(Slot { stats: StreamStats::new(name), active: true, frame: None });
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
    pub fn put(&self, id: usize, mut frame: F, wait: bool, stop: &AtomicBool) -> bool {
        let mut slots = self.lock();
        if wait {
            while slots[id].frame.is_some() {
                if stop.load(Ordering::SeqCst) {
                    return false;
                }
                slots = self.wait(slots, Duration::from_millis(100));
            }
            // A file processed frame by frame: latency counts from the hand-over, not from the
            // time the frame waited for the engine to catch up with the decoder.
            frame.restamp(self.clock.now());
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
        s.count_retry(reason);
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

    /// Moves fresh frames into `out`, round-robin from `*cursor`, until it holds `max`; a stream
    /// already in `out` keeps its newer frame for the next batch.
    fn collect(slots: &mut [Slot<F>], cursor: &mut usize, max: usize, out: &mut Vec<(usize, F)>) -> usize {
        let n = slots.len();
        let before = out.len();
        for k in 0..n {
            if out.len() >= max {
                break;
            }
            let i = (*cursor + k) % n;
            if slots[i].active
                && slots[i].frame.is_some()
                && !out.iter().any(|(j, _)| *j == i)
                && let Some(f) = slots[i].frame.take()
            {
                out.push((i, f));
            }
        }
        if let Some((last, _)) = out.last()
            && out.len() > before
        {
            *cursor = (last + 1) % n;
        }
        out.len() - before
    }

    /// Up to `batch.max` frames from different streams into `out` (cleared first), waiting up to
    /// `timeout` for the first and then up to `batch.fill` for more. Files waiting for their slot
    /// are released as their frames are taken.
    pub fn take(&self, cursor: &mut usize, batch: BatchPolicy, timeout: Duration, out: &mut Vec<(usize, F)>) -> Take {
        out.clear();
        let max = batch.max.max(1);
        let deadline = self.clock.now() + timeout;
        let mut slots = self.lock();
        loop {
            if Self::collect(&mut slots, cursor, max, out) > 0 {
                self.changed.notify_all();
                break;
            }
            if slots.iter().filter(|s| s.active).all(|s| s.stats.state.finished()) {
                return Take::AllFinished;
            }
            let left = deadline.saturating_duration_since(self.clock.now());
            if left.is_zero() {
                return Take::Idle;
            }
            slots = self.wait(slots, left);
        }
        // Fill the batch: wait for streams that are up (frames flowing) and not in it yet; a
        // stream that is starting or reconnecting is not waited for.
        let fill_until = self.clock.now() + batch.fill;
        while out.len() < max {
            let waiting = slots
                .iter()
                .enumerate()
                .filter(|(i, s)| s.active && s.stats.state == StreamState::Up && !out.iter().any(|(j, _)| j == i))
                .count();
            if waiting == 0 {
                break;
            }
            let left = fill_until.saturating_duration_since(self.clock.now());
            if left.is_zero() {
                break;
            }
            slots = self.wait(slots, left);
            if Self::collect(&mut slots, cursor, max, out) > 0 {
                self.changed.notify_all();
            }
        }
        Take::Frames(out.len())
    }

    /// A pending frame, without waiting (draining at shutdown).
    pub fn take_pending(&self, cursor: &mut usize, out: &mut Vec<(usize, F)>) -> bool {
        out.clear();
        let n = Self::collect(&mut self.lock(), cursor, 1, out);
        self.changed.notify_all();
        n > 0
    }

    /// Frames waiting in slots (not yet taken).
    pub fn pending(&self) -> usize {
        self.lock().iter().filter(|s| s.active && s.frame.is_some()).count()
    }

    /// Stats of the active streams.
    pub fn stats(&self) -> Vec<StreamStats> {
        self.lock().iter().filter(|s| s.active).map(|s| s.stats.clone()).collect()
    }
}

impl<F: Stamped> StreamStatus for Mailbox<F> {
    fn streams(&self) -> Vec<StreamStats> {
        self.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SimClock};

    struct TestFrame {
        captured: Instant,
    }

    impl Stamped for TestFrame {
        fn restamp(&mut self, at: Instant) {
            self.captured = at;
        }
    }

    fn mailbox(streams: usize) -> (SimClock, Mailbox<TestFrame>) {
        let clock = SimClock::new();
        let mb = Mailbox::new(clock.shared());
        for i in 0..streams {
            mb.add(&format!("cam{i}"));
        }
        (clock, mb)
    }

    fn put(mb: &Mailbox<TestFrame>, clock: &SimClock, id: usize) {
        assert!(mb.put(id, TestFrame { captured: clock.now() }, false, &AtomicBool::new(false)));
    }

    const ONE: BatchPolicy = BatchPolicy { max: 1, fill: Duration::ZERO };

    #[test]
    fn a_slow_engine_gets_the_newest_frame_and_every_other_frame_is_counted_as_dropped() {
        // A 30 FPS camera and an engine that takes 150 ms per frame, for 60 s of simulated time.
        let (clock, mb) = mailbox(1);
        let (period, engine) = (Duration::from_secs(1) / 30, Duration::from_millis(150));
        let (mut produced, mut next_frame, mut busy_until) = (0u64, Duration::ZERO, Duration::ZERO);
        let (mut cursor, mut out, mut latencies) = (0, Vec::new(), Vec::new());
        while clock.elapsed() < Duration::from_secs(60) {
            if next_frame <= busy_until {
                clock.advance(next_frame - clock.elapsed());
                put(&mb, &clock, 0);
                produced += 1;
                next_frame += period;
            } else {
                clock.advance(busy_until - clock.elapsed());
                if mb.take(&mut cursor, ONE, Duration::ZERO, &mut out) == Take::Frames(1) {
                    // Capture to event: the wait in the slot, then the engine's own time.
                    latencies.push(clock.now() - out[0].1.captured + engine);
                    mb.count_processed(0);
                    busy_until = clock.elapsed() + engine;
                } else {
                    busy_until = next_frame;
                }
            }
        }
        let s = &mb.stats()[0];
        assert_eq!(s.processed + s.dropped_busy + mb.pending() as u64, produced, "every frame is processed or counted");
        assert_eq!(s.processed, latencies.len() as u64);
        // One frame per engine cycle (150 ms, rounded up to the next frame): 60 s / 166.7 ms.
        assert!((355..=401).contains(&s.processed), "{} processed", s.processed);
        assert!(s.dropped_busy > 1300, "{} dropped", s.dropped_busy);
        // Latency never creeps: at most one camera period in the slot plus the engine's time.
        let worst = latencies.iter().max().copied().unwrap_or_default();
        assert!(worst <= period + engine, "worst latency {worst:?}");
        let third = latencies.len() / 3;
        let mean = |l: &[Duration]| l.iter().sum::<Duration>() / l.len() as u32;
        let (first, last) = (mean(&latencies[..third]), mean(&latencies[latencies.len() - third..]));
        assert!(last <= first + Duration::from_millis(5), "mean latency first third {first:?}, last third {last:?}");
    }

    #[test]
    fn a_batch_takes_one_frame_per_stream_and_waits_at_most_the_fill_time() {
        let (clock, mb) = mailbox(3);
        let (mut cursor, mut out) = (0, Vec::new());
        let batch = BatchPolicy { max: 4, fill: Duration::from_millis(10) };
        // Three cameras whose frames flow.
        for id in 0..3 {
            mb.set_state(id, StreamState::Up);
        }
        put(&mb, &clock, 0);
        put(&mb, &clock, 2);
        let t0 = clock.elapsed();
        assert_eq!(mb.take(&mut cursor, batch, Duration::from_millis(100), &mut out), Take::Frames(2));
        assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(clock.elapsed() - t0, Duration::from_millis(10), "waited the fill time for cam1");
        // A full batch does not wait; round-robin goes on from where it stopped.
        for id in 0..3 {
            put(&mb, &clock, id);
        }
        let two = BatchPolicy { max: 2, ..batch };
        let t0 = clock.elapsed();
        assert_eq!(mb.take(&mut cursor, two, Duration::from_millis(100), &mut out), Take::Frames(2));
        assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(clock.elapsed(), t0, "no wait for a full batch");
        assert_eq!(mb.take(&mut cursor, ONE, Duration::ZERO, &mut out), Take::Frames(1));
        assert_eq!(out[0].0, 2);
        // Streams that have finished or are reconnecting are not waited for.
        mb.set_state(1, StreamState::Ended);
        mb.set_state(2, StreamState::Reconnecting(RetryReason::Stall));
        put(&mb, &clock, 0);
        let t0 = clock.elapsed();
        assert_eq!(mb.take(&mut cursor, batch, Duration::from_millis(100), &mut out), Take::Frames(1));
        assert_eq!(clock.elapsed(), t0);
    }

    #[test]
    fn idle_then_all_finished() {
        let (clock, mb) = mailbox(2);
        let (mut cursor, mut out) = (0, Vec::new());
        let t0 = clock.elapsed();
        assert_eq!(mb.take(&mut cursor, ONE, Duration::from_millis(100), &mut out), Take::Idle);
        assert_eq!(clock.elapsed() - t0, Duration::from_millis(100), "waited the whole timeout");
        put(&mb, &clock, 1);
        mb.set_state(0, StreamState::Ended);
        mb.set_state(1, StreamState::Ended);
        assert_eq!(mb.take(&mut cursor, ONE, Duration::ZERO, &mut out), Take::Frames(1), "a last frame first");
        assert_eq!(mb.take(&mut cursor, ONE, Duration::ZERO, &mut out), Take::AllFinished);
        let id = mb.add("late");
        mb.retire(id);
        assert_eq!(
            mb.take(&mut cursor, ONE, Duration::ZERO, &mut out),
            Take::AllFinished,
            "retired streams do not count"
        );
    }
}
