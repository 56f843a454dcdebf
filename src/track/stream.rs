//! The tracker of one stream in `run`: sees every processed frame of that stream in order, and
//! drops its tracks (ending the confirmed ones) when they no longer describe the picture: the
//! source was reopened (reconnect), its timestamps went back (a looped file, a restarted camera),
//! its resolution changed, or the stream ended.

use std::time::Instant;

use super::{TrackEnd, Tracker, TrackerSettings};
use crate::detect::Detection;

/// What identifies one continuous picture: the source's session (reopen count) and frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Continuity {
    pub session: u64,
    pub width: u32,
    pub height: u32,
}

pub struct StreamTracker {
    inner: Option<Tracker>,
    last: Option<Continuity>,
    ended: Vec<TrackEnd>,
    /// Where stream time starts for sources without timestamps.
    epoch: Option<Instant>,
    /// The next ID, kept also while tracking is off, for `continue_ids`.
    next_id: u32,
}

impl StreamTracker {
    /// `high_score`: the reporting threshold (model.score_threshold).
    pub fn new(settings: &TrackerSettings, high_score: f32) -> StreamTracker {
        let inner = Tracker::new(settings, high_score);
        StreamTracker { inner, last: None, ended: Vec::with_capacity(64), epoch: None, next_id: 1 }
    }

    /// The ID the next confirmed track of this stream gets.
    pub fn next_id(&self) -> u32 {
        self.inner.as_ref().map_or(self.next_id, Tracker::next_id)
    }

    /// Continues the numbering of the tracker this one replaces (a reload), so that the stream
    /// never shows an ID twice while the process lives.
    pub fn continue_ids(&mut self, next: u32) {
        self.next_id = self.next_id.max(next);
        if let Some(t) = &mut self.inner {
            t.continue_ids(next);
        }
    }

    /// A frame's stream time: its presentation timestamp, or for sources without one the time
    /// since this stream's first frame reached the pipeline.
    pub fn stream_ms(&mut self, pts_ms: Option<u64>, captured: Instant) -> u64 {
        pts_ms.unwrap_or_else(|| {
            let epoch = *self.epoch.get_or_insert(captured);
            captured.saturating_duration_since(epoch).as_millis() as u64
        })
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// One processed frame at stream time `t_ms`; `dets[..high]` are the reported detections,
    /// the rest low-score ones for the second association.
    pub fn frame(&mut self, at: Continuity, t_ms: u64, dets: &[Detection], high: usize) {
        self.ended.clear();
        let Some(t) = &mut self.inner else { return };
        if self.last.is_some_and(|l| l != at) {
            t.reset();
            self.ended.extend_from_slice(t.ended());
        }
        self.last = Some(at);
        t.update(t_ms, dets, high);
        self.ended.extend_from_slice(t.ended());
    }

    /// The stream ended: every confirmed track ends.
    pub fn finish(&mut self) {
        self.ended.clear();
        if let Some(t) = &mut self.inner {
            t.reset();
            self.ended.extend_from_slice(t.ended());
        }
        self.last = None;
    }

    /// Track IDs of the latest frame's detections; empty when tracking is off.
    pub fn ids(&self) -> &[Option<u32>] {
        self.inner.as_ref().map_or(&[], |t| t.ids())
    }

    /// Tracks that ended with the latest `frame` or `finish`.
    pub fn ended(&self) -> &[TrackEnd] {
        &self.ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::{EndReason, TrackerKind};

    fn det(x: f32) -> Detection {
        Detection { class_id: 0, score: 0.9, bbox: [x, 0.0, x + 20.0, 50.0] }
    }

    #[test]
    fn a_new_session_or_size_ends_the_tracks() {
        let mut s = StreamTracker::new(&TrackerSettings::default(), 0.35);
        let at = Continuity { session: 0, width: 640, height: 480 };
        s.frame(at, 0, &[det(1.0)], 1);
        s.frame(at, 40, &[det(1.0)], 1);
        assert_eq!(s.ids(), &[Some(1)]);
        s.frame(Continuity { session: 1, ..at }, 80, &[det(1.0)], 1);
        assert_eq!((s.ended().len(), s.ids()), (1, &[None][..]), "reconnect: track 1 ends, a new one starts");
        assert_eq!(s.ended()[0].reason, EndReason::Reset);
        let at = Continuity { session: 1, ..at };
        s.frame(at, 120, &[det(1.0)], 1);
        assert_eq!(s.ids(), &[Some(2)]);
        s.frame(Continuity { width: 1280, ..at }, 160, &[det(1.0)], 1);
        assert_eq!(s.ended().len(), 1, "resolution change");
        s.finish();
        assert!(s.ended().is_empty(), "the new track was tentative");
    }

    #[test]
    fn a_replacing_tracker_continues_the_numbering() {
        let at = Continuity { session: 0, width: 64, height: 48 };
        let mut s = StreamTracker::new(&TrackerSettings::default(), 0.35);
        s.frame(at, 0, &[det(1.0)], 1);
        s.frame(at, 40, &[det(1.0)], 1);
        assert_eq!((s.ids(), s.next_id()), (&[Some(1)][..], 2));
        let off = TrackerSettings { kind: TrackerKind::None, ..TrackerSettings::default() };
        let mut between = StreamTracker::new(&off, 0.35);
        between.continue_ids(s.next_id());
        let mut again = StreamTracker::new(&TrackerSettings::default(), 0.35);
        again.continue_ids(between.next_id());
        again.frame(at, 0, &[det(1.0)], 1);
        again.frame(at, 40, &[det(1.0)], 1);
        assert_eq!(again.ids(), &[Some(2)], "through a reload with tracking off and on again");
    }

    #[test]
    fn off_means_no_ids_and_no_ends() {
        let settings = TrackerSettings { kind: TrackerKind::None, ..TrackerSettings::default() };
        let mut s = StreamTracker::new(&settings, 0.35);
        let at = Continuity { session: 0, width: 64, height: 48 };
        s.frame(at, 0, &[det(1.0)], 1);
        s.frame(at, 40, &[det(1.0)], 1);
        assert!(s.ids().is_empty() && s.ended().is_empty() && !s.enabled());
    }
}
