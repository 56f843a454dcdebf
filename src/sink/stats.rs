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
    /// The MQTT output's counters (`sink="mqtt"`), shown once an MQTT output was configured.
    pub mqtt: MqttStats,
    /// The snapshots' counters, shown once `[snapshots]` was on.
    pub snapshots: SnapshotStats,
    /// What `/status` shows, for the MQTT output's periodic `stats` message (set by the runtime).
    status: StatusSlot,
}

#[derive(Default)]
struct StatusSlot(std::sync::Mutex<Option<StatusFn>>);

impl std::fmt::Debug for StatusSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatusSlot")
    }
}

/// Renders the `/status` document.
pub type StatusFn = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// Why an event did not reach the MQTT broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttDrop {
    /// The spool reached `spool_max_mb`: its oldest segment went, with its unsent events.
    SpoolFull,
    /// The queue from the inference loop to the MQTT thread was full (the spool disk stalled).
    QueueFull,
    /// One event larger than half of `spool_max_mb`.
    TooLarge,
    /// The spool could not be written (disk full, read-only, removed directory).
    SpoolError,
}

impl MqttDrop {
    pub const ALL: [MqttDrop; 4] = [MqttDrop::SpoolFull, MqttDrop::QueueFull, MqttDrop::TooLarge, MqttDrop::SpoolError];

    pub fn as_str(self) -> &'static str {
        match self {
            MqttDrop::SpoolFull => "spool_full",
            MqttDrop::QueueFull => "queue_full",
            MqttDrop::TooLarge => "too_large",
            MqttDrop::SpoolError => "spool_error",
        }
    }
}

/// The MQTT output's counters.
#[derive(Debug, Default)]
pub struct MqttStats {
    /// An MQTT output was configured in this run (its metrics and `/status` entry are shown).
    pub enabled: std::sync::atomic::AtomicBool,
    /// 1 while connected to the broker.
    pub connected: AtomicU64,
    /// Events the broker acknowledged (QoS 1) or that were written to its connection (QoS 0).
    pub sent: AtomicU64,
    /// Events stored in the spool while the broker was not connected.
    pub spooled: AtomicU64,
    /// Events sent after a (re)connection or a restart that had waited in the spool.
    pub replayed: AtomicU64,
    dropped: [AtomicU64; 4],
    /// Connection attempts that failed or connections that were lost.
    pub errors: AtomicU64,
    /// Successful connections (CONNACK accepted).
    pub connects: AtomicU64,
    /// Bytes of the spool's segment files.
    pub spool_bytes: AtomicU64,
    /// Events in the spool not yet acknowledged.
    pub spool_events: AtomicU64,
}

impl MqttStats {
    pub fn dropped(&self, why: MqttDrop) -> u64 {
        self.dropped[why as usize].load(Ordering::Relaxed)
    }

    pub fn count_dropped(&self, why: MqttDrop, n: u64) {
        self.dropped[why as usize].fetch_add(n, Ordering::Relaxed);
    }
}

/// `[snapshots]` counters (`edgesight_snapshots_total{result}`, `edgesight_snapshot_bytes_on_disk`).
#[derive(Debug, Default)]
pub struct SnapshotStats {
    /// Snapshots were on in this run (their metrics and `/status` entry are shown).
    pub enabled: std::sync::atomic::AtomicBool,
    /// JPEG files written (renamed into place).
    pub written: AtomicU64,
    /// Snapshots not taken because the writer thread was still busy with earlier ones.
    pub dropped_busy: AtomicU64,
    /// Snapshots that could not be made or written (unwritable folder, disk full, frame unreadable).
    pub failed: AtomicU64,
    /// Bytes of the snapshot files in the folder, as the writer knows them.
    pub bytes_on_disk: AtomicU64,
}

impl SinkStats {
    /// Sets what the MQTT output publishes as its periodic `stats` message.
    pub fn set_status(&self, f: StatusFn) {
        *self.status.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }

    /// The `/status` document, when the runtime gave a way to render it.
    pub fn status(&self) -> Option<String> {
        let f = self.status.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        f.map(|f| f())
    }

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
