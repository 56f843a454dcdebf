//! Sink stage: detection events out of the process (JSON lines; MQTT and snapshots join later).

pub mod event;
pub mod jsonl;
pub mod rotate;
pub mod stats;

pub use event::{CountsEvent, Event, KindEvent, RegionEventOut, TrackEndEvent};
pub use jsonl::{FilePolicy, JsonlSink};
pub use stats::{SinkDrop, SinkStats};

use crate::error::Result;

/// Where events go. Implementations own their buffers; `emit` is called once per processed frame.
pub trait Sink: Send {
    fn emit(&mut self, event: &Event<'_>) -> Result<()>;
    /// An event with its own kind (the end of a confirmed track, zone and line events, counts),
    /// between the frame events of its stream.
    fn emit_kind(&mut self, event: &KindEvent<'_>) -> Result<()>;
    /// Called by the inference loop at least every 100 ms, with or without events: writes what
    /// waited its interval.
    fn tick(&mut self) -> Result<()> {
        Ok(())
    }
    /// Pushes everything written so far to its destination (shutdown, reload, end of `detect`).
    fn flush(&mut self) -> Result<()>;
}
