//! Sink stage: detection events out of the process (JSON lines, MQTT; several at once through
//! `FanOut`).

pub mod event;
pub mod jsonl;
pub mod mqtt;
pub mod rotate;
pub mod snapshot;
pub mod spool;
pub mod stats;

pub use event::{CountsEvent, Event, KindEvent, RegionEventOut, TrackEndEvent};
pub use jsonl::{FilePolicy, JsonlSink};
pub use mqtt::MqttSink;
pub use snapshot::Snapshots;
pub use stats::{MqttDrop, SinkDrop, SinkStats, SnapshotStats};

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

/// Several outputs at once (`[output.jsonl]` and `[output.mqtt]`): each event goes to every one;
/// a failing one does not keep the event from the others (its error is returned after).
pub struct FanOut {
    pub sinks: Vec<Box<dyn Sink>>,
}

impl FanOut {
    fn each(&mut self, mut f: impl FnMut(&mut dyn Sink) -> Result<()>) -> Result<()> {
        let mut first = None;
        for s in &mut self.sinks {
            if let Err(e) = f(s.as_mut()) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Sink for FanOut {
    fn emit(&mut self, event: &Event<'_>) -> Result<()> {
        self.each(|s| s.emit(event))
    }

    fn emit_kind(&mut self, event: &KindEvent<'_>) -> Result<()> {
        self.each(|s| s.emit_kind(event))
    }

    fn tick(&mut self) -> Result<()> {
        self.each(|s| s.tick())
    }

    fn flush(&mut self) -> Result<()> {
        self.each(|s| s.flush())
    }
}
