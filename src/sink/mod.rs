//! Sink stage: detection events out of the process (JSON lines; MQTT and snapshots join later).

pub mod event;
pub mod jsonl;

pub use event::{Event, TrackEndEvent};
pub use jsonl::JsonlSink;

use crate::error::Result;

/// Where events go. Implementations own their buffers; `emit` is called once per processed frame.
pub trait Sink: Send {
    fn emit(&mut self, event: &Event<'_>) -> Result<()>;
    /// The end of a confirmed track (with a tracker), between the frame events of its stream.
    fn emit_track_end(&mut self, event: &TrackEndEvent<'_>) -> Result<()>;
    /// Pushes everything written so far to its destination (called at shutdown).
    fn flush(&mut self) -> Result<()>;
}
