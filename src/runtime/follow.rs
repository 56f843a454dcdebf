//! What follows the objects of one stream in `run`: its tracker, then its zones and lines, and
//! the events they write between the stream's frame events — zone and line events, then the
//! ends of tracks, then (when due) the stream's counts.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::detect::{Detection, Labels};
use crate::error::Result;
use crate::sink::{CountsEvent, KindEvent, RegionEventOut, Sink, TrackEndEvent};
use crate::track::StreamTracker;
use crate::track::stream::Continuity;
use crate::zones::{Observation, RegionStats, StreamRegions};

pub struct Follow {
    pub tracker: StreamTracker,
    pub regions: StreamRegions,
    /// Every how many ms of stream time the counts are written (None: never).
    counts_every_ms: Option<u64>,
    stats: Arc<RegionStats>,
    /// The latest frame's observed confirmed tracks (reused).
    observed: Vec<Observation>,
    /// Stream time of the latest frame, for the counts written when the stream stops.
    last_ms: Option<u64>,
}

impl Follow {
    pub fn new(
        tracker: StreamTracker,
        regions: StreamRegions,
        counts_every: Option<std::time::Duration>,
        stats: Arc<RegionStats>,
    ) -> Follow {
        Follow {
            tracker,
            regions,
            counts_every_ms: counts_every.map(|d| d.as_millis() as u64),
            stats,
            observed: Vec::with_capacity(256),
            last_ms: None,
        }
    }

    /// One processed frame: `found[..reported]` are the detections events show, the rest the
    /// low-score ones the tracker also uses. Writes this frame's zone, line and track-end events.
    #[allow(clippy::too_many_arguments)]
    pub fn frame(
        &mut self,
        sink: &mut dyn Sink,
        stream: &str,
        at: Continuity,
        pts_ms: Option<u64>,
        captured: Instant,
        found: &[Detection],
        reported: usize,
        labels: &Labels,
    ) -> Result<()> {
        let t_ms = self.tracker.stream_ms(pts_ms, captured);
        self.last_ms = Some(t_ms);
        self.tracker.frame(at, t_ms, found, reported);
        if !self.regions.is_empty() {
            self.observed.clear();
            let ids = self.tracker.ids();
            self.observed.extend(
                ids.iter().zip(found).filter_map(|(id, d)| {
                    id.map(|track_id| Observation { track_id, class_id: d.class_id, bbox: d.bbox })
                }),
            );
            self.regions.frame(t_ms, at.width, at.height, self.tracker.ended(), &self.observed);
        }
        self.write(sink, stream, labels)?;
        if self.regions.counts_due(t_ms, self.counts_every_ms) {
            self.write_counts(sink, stream, t_ms)?;
        }
        Ok(())
    }

    fn write_counts(&self, sink: &mut dyn Sink, stream: &str, t_ms: u64) -> Result<()> {
        let counts = CountsEvent { ts: SystemTime::now(), stream, pts_ms: t_ms, regions: &self.regions };
        sink.emit_kind(&KindEvent::Counts(counts))
    }

    /// Track IDs of the latest frame's detections (empty without a tracker).
    pub fn ids(&self) -> &[Option<u32>] {
        self.tracker.ids()
    }

    /// The stream stops, or what follows it is replaced: every confirmed track ends, and with it
    /// every stay in a zone; a stream with zones or lines writes its counts as they end.
    pub fn finish(&mut self, sink: &mut dyn Sink, stream: &str, labels: &Labels) -> Result<()> {
        self.tracker.finish();
        self.regions.end_all(self.tracker.ended());
        self.write(sink, stream, labels)?;
        match self.last_ms.take() {
            Some(t_ms) if !self.regions.is_empty() => {
                self.stats.publish(stream, &self.regions);
                self.write_counts(sink, stream, t_ms)
            }
            _ => Ok(()),
        }
    }

    /// A reload changed the stream's zones or lines: the stays in the old zones end, the counts
    /// of lines and zones that keep their names go on, the tracks go on.
    pub fn replace_regions(
        &mut self,
        mut fresh: StreamRegions,
        sink: &mut dyn Sink,
        stream: &str,
        labels: &Labels,
    ) -> Result<()> {
        self.regions.end_for_reload();
        self.write_regions(sink, stream, labels)?;
        fresh.continue_counts(&self.regions);
        self.regions = fresh;
        self.publish(stream);
        Ok(())
    }

    /// Zone and line events of the latest frame or finish, then the ends of tracks.
    fn write(&self, sink: &mut dyn Sink, stream: &str, labels: &Labels) -> Result<()> {
        self.write_regions(sink, stream, labels)?;
        let ts = SystemTime::now();
        for end in self.tracker.ended() {
            sink.emit_kind(&KindEvent::TrackEnd(TrackEndEvent { ts, stream, end, labels }))?;
        }
        Ok(())
    }

    fn write_regions(&self, sink: &mut dyn Sink, stream: &str, labels: &Labels) -> Result<()> {
        let ts = SystemTime::now();
        let events = self.regions.events();
        for event in events {
            let out = RegionEventOut { ts, stream, event, regions: self.regions.regions(), labels };
            sink.emit_kind(&KindEvent::Region(out))?;
        }
        if !events.is_empty() {
            self.stats.publish(stream, &self.regions);
        }
        Ok(())
    }

    /// Publishes the counts as they are (a stream starts or its zones change).
    pub fn publish(&self, stream: &str) {
        if self.regions.is_empty() {
            self.stats.remove(stream);
        } else {
            self.stats.publish(stream, &self.regions);
        }
    }
}
