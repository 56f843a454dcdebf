//! Counters of the event outputs, shared with `/metrics` and `/status`. They outlive a sink: a
//! reload that replaces the output keeps counting on the same ones (counters never go back).

use std::sync::atomic::{AtomicU64, Ordering};

/// Why an event did not reach its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkDrop {
    /// The output could not be written (disk full, unwritable, removed directory) for so long
    /// that the events kept in memory meanwhile passed their cap: the oldest went first.
    Disk,
    /// One event larger than `max_file_mb`: it fits in no file under the cap.
    TooLarge,
}

impl SinkDrop {
    pub const ALL: [SinkDrop; 2] = [SinkDrop::Disk, SinkDrop::TooLarge];

    pub fn as_str(self) -> &'static str {
        match self {
            SinkDrop::Disk => "disk",
            SinkDrop::TooLarge => "too_large",
        }
    }
}

/// The JSON-lines output's counters (`sink="jsonl"`).
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Events written to the output (handed to the operating system).
    pub written: AtomicU64,
    dropped_disk: AtomicU64,
    dropped_too_large: AtomicU64,
    /// Writes (or reopenings) that failed.
    pub errors: AtomicU64,
    /// Files rotated away by size.
    pub rotations: AtomicU64,
    /// Times the file was opened again because it was removed or replaced under the same name.
    pub reopens: AtomicU64,
    /// Bytes of the event file and its rotated files, as last written.
    pub bytes_on_disk: AtomicU64,
    /// Bytes of events waiting in memory to be written.
    pub pending_bytes: AtomicU64,
}

impl SinkStats {
    pub fn dropped(&self, why: SinkDrop) -> u64 {
        self.drop_counter(why).load(Ordering::Relaxed)
    }

    pub fn count_dropped(&self, why: SinkDrop, n: u64) {
        self.drop_counter(why).fetch_add(n, Ordering::Relaxed);
    }

    fn drop_counter(&self, why: SinkDrop) -> &AtomicU64 {
        match why {
            SinkDrop::Disk => &self.dropped_disk,
            SinkDrop::TooLarge => &self.dropped_too_large,
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }
}
