//! One-slot mailboxes between the capture threads and the inference loop.
//!
//! Each stream has a slot holding at most one frame. A live stream overwrites its slot (the
//! overwritten frame is counted as dropped), so the engine always sees the newest frame and
//! latency cannot build up; a file processed frame by frame waits for its slot to empty instead.
//! The consumer serves streams round-robin so a busy engine is shared fairly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::capture::Frame;
use crate::error::Error;

/// Why a stream stopped delivering.
#[derive(Debug)]
pub enum Finish {
    Eos,
    Failed(Error),
    Stopped,
}

#[derive(Default)]
struct Slot {
    frame: Option<Frame>,
    finished: Option<Finish>,
    dropped: u64,
}

pub struct Mailbox {
    slots: Mutex<Vec<Slot>>,
    changed: Condvar,
}

/// What the consumer gets.
pub enum Take {
    Frame(usize, Frame),
    /// Every stream has finished and every slot is empty.
    AllFinished,
    /// The stop flag was raised.
    Stopped,
}

const WAKE: Duration = Duration::from_millis(100);

impl Mailbox {
    pub fn new(streams: usize) -> Mailbox {
        Mailbox {
            slots: Mutex::new((0..streams).map(|_| Slot::default()).collect()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        // A panicking holder cannot leave a slot half-written: recover the data.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands over a frame. With `wait`, blocks until the slot is free (false if `stop` was
    /// raised meanwhile); without, replaces an unread frame and counts it as dropped.
    pub fn put(&self, stream: usize, frame: Frame, wait: bool, stop: &AtomicBool) -> bool {
        let mut slots = self.lock();
        if wait {
            while slots[stream].frame.is_some() {
                if stop.load(Ordering::SeqCst) {
                    return false;
                }
                slots = self
                    .changed
                    .wait_timeout(slots, WAKE)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        } else if slots[stream].frame.is_some() {
            slots[stream].dropped += 1;
        }
        let mut frame = frame;
        if wait {
            // A file processed frame by frame: latency counts from the hand-over, not from the
            // time the frame waited for the engine to catch up with the decoder.
            frame.captured = std::time::Instant::now();
        }
        slots[stream].frame = Some(frame);
        self.changed.notify_all();
        true
    }

    pub fn finish(&self, stream: usize, why: Finish) {
        let mut slots = self.lock();
        slots[stream].finished = Some(why);
        self.changed.notify_all();
    }

    /// Next frame, round-robin from `*cursor`.
    pub fn take(&self, cursor: &mut usize, stop: &AtomicBool) -> Take {
        let mut slots = self.lock();
        loop {
            if stop.load(Ordering::SeqCst) {
                return Take::Stopped;
            }
            let n = slots.len();
            for k in 0..n {
                let i = (*cursor + k) % n;
                if let Some(f) = slots[i].frame.take() {
                    *cursor = (i + 1) % n;
                    self.changed.notify_all();
                    return Take::Frame(i, f);
                }
            }
            if slots.iter().all(|s| s.finished.is_some()) {
                return Take::AllFinished;
            }
            slots = self
                .changed
                .wait_timeout(slots, WAKE)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Frames overwritten before inference, per stream.
    pub fn dropped(&self) -> Vec<u64> {
        self.lock().iter().map(|s| s.dropped).collect()
    }

    /// Takes the finish reasons (None for streams still running).
    pub fn take_finishes(&self) -> Vec<Option<Finish>> {
        self.lock().iter_mut().map(|s| s.finished.take()).collect()
    }
}
