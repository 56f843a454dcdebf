//! The line and zone counts of every stream, as the metrics endpoints read them: the inference
//! loop publishes a stream's counts when they change, `/metrics` and `/status` take a snapshot.

use std::sync::Mutex;

use super::{LineCount, StreamRegions, ZoneCount};

/// The counts of one stream's lines and zones, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamCounts {
    pub stream: String,
    pub lines: Vec<(String, LineCount)>,
    pub zones: Vec<(String, ZoneCount)>,
}

#[derive(Debug, Default)]
pub struct RegionStats {
    streams: Mutex<Vec<StreamCounts>>,
}

impl RegionStats {
    /// Records the counts of `stream` (replacing what was there).
    pub fn publish(&self, stream: &str, r: &StreamRegions) {
        let mut all = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let i = match all.iter().position(|s| s.stream == stream) {
            Some(i) => i,
            None => {
                all.push(StreamCounts { stream: stream.to_string(), ..Default::default() });
                all.len() - 1
            }
        };
        let s = &mut all[i];
        s.lines.clear();
        s.lines.extend(r.regions().lines.iter().map(|l| l.name.clone()).zip(r.line_counts().iter().copied()));
        s.zones.clear();
        s.zones.extend(r.regions().zones.iter().map(|z| z.name.clone()).zip(r.zone_counts().iter().copied()));
    }

    /// A stream that stopped or lost its zones and lines.
    pub fn remove(&self, stream: &str) {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).retain(|s| s.stream != stream);
    }

    pub fn snapshot(&self) -> Vec<StreamCounts> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
