//! Tracking: one tracker per stream between decode + NMS and the sinks. It gives detections a
//! `track_id` that lasts while the object is in view and reports the end of each confirmed track.
//!
//! `bytetrack.rs` is the default tracker, on `kalman.rs` (motion) and `assignment.rs` (minimum-cost
//! matching); `ocsort.rs` the alternative (`tracker = "ocsort"`), on the same solver; `Tracker`
//! holds either; `stream.rs` feeds it the frames of one stream and notices when its state no longer
//! applies; `mot.rs` reads and writes the MOTChallenge text format for `edgesight track`.

pub mod assignment;
pub mod bytetrack;
pub mod kalman;
pub mod mot;
pub mod ocsort;
pub mod stream;

use crate::detect::Detection;

pub use bytetrack::{ActiveTrack, ByteTrack};
pub use ocsort::OcSort;
pub use stream::StreamTracker;

/// Which tracker runs (`tracking.tracker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackerKind {
    ByteTrack,
    OcSort,
    None,
}

/// The tracker of one stream: ByteTrack or OC-SORT, with one surface.
pub enum Tracker {
    ByteTrack(ByteTrack),
    OcSort(OcSort),
}

impl Tracker {
    /// None for `TrackerKind::None`. `high_score`: the reporting threshold.
    pub fn new(settings: &TrackerSettings, high_score: f32) -> Option<Tracker> {
        match settings.kind {
            TrackerKind::ByteTrack => Some(Tracker::ByteTrack(ByteTrack::new(settings.clone(), high_score))),
            TrackerKind::OcSort => Some(Tracker::OcSort(OcSort::new(settings.clone(), high_score))),
            TrackerKind::None => None,
        }
    }

    /// One frame at stream time `t_ms`; `dets[..high]` reported, the rest low-score.
    pub fn update(&mut self, t_ms: u64, dets: &[Detection], high: usize) {
        match self {
            Tracker::ByteTrack(t) => t.update(t_ms, dets, high),
            Tracker::OcSort(t) => t.update(t_ms, dets, high),
        }
    }

    /// Track ID of each detection of the latest `update`.
    pub fn ids(&self) -> &[Option<u32>] {
        match self {
            Tracker::ByteTrack(t) => t.ids(),
            Tracker::OcSort(t) => t.ids(),
        }
    }

    /// Confirmed tracks removed by the latest `update` or `reset`.
    pub fn ended(&self) -> &[TrackEnd] {
        match self {
            Tracker::ByteTrack(t) => t.ended(),
            Tracker::OcSort(t) => t.ended(),
        }
    }

    /// Confirmed tracks matched in the latest frame.
    pub fn active(&self) -> impl Iterator<Item = ActiveTrack> + '_ {
        let (a, b) = match self {
            Tracker::ByteTrack(t) => (Some(t.active()), None),
            Tracker::OcSort(t) => (None, Some(t.active())),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }

    pub fn next_id(&self) -> u32 {
        match self {
            Tracker::ByteTrack(t) => t.next_id(),
            Tracker::OcSort(t) => t.next_id(),
        }
    }

    pub fn continue_ids(&mut self, next: u32) {
        match self {
            Tracker::ByteTrack(t) => t.continue_ids(next),
            Tracker::OcSort(t) => t.continue_ids(next),
        }
    }

    pub fn reset(&mut self) {
        match self {
            Tracker::ByteTrack(t) => t.reset(),
            Tracker::OcSort(t) => t.reset(),
        }
    }
}

/// The `[tracking]` settings (defaults argued in configs/edgesight.toml).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerSettings {
    pub kind: TrackerKind,
    /// Detections above this, below the reporting threshold, take part in ByteTrack's second
    /// association (ByteTrack: 0.1) and in OC-SORT's BYTE stage.
    pub low_score: f32,
    /// Detections at or above this start a track; None: the reporting threshold + 0.1 (ByteTrack's
    /// `det_thresh = track_thresh + 0.1`).
    pub new_track_score: Option<f32>,
    /// First association: smallest IoU × score between a track's predicted box and a detection
    /// (ByteTrack's `match_thresh` 0.8 is this as a distance, 1 − 0.2); OC-SORT: smallest plain
    /// IoU in its first association and in OCR (its `iou_threshold`, default 0.3).
    pub match_iou: f32,
    /// How long an unmatched track is kept, in seconds of stream time (ByteTrack: 30 frames at 30 FPS).
    pub lost_s: f64,
    /// Frames in a row a new track must be matched before it is confirmed and gets an ID.
    pub min_hits: u32,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        TrackerSettings::defaults(TrackerKind::ByteTrack)
    }
}

/// OC-SORT's `iou_threshold` (the paper's and the authors' default), the default of `match_iou`
/// with `tracker = "ocsort"`, where it is a plain IoU.
pub const OCSORT_MATCH_IOU: f32 = 0.3;

impl TrackerSettings {
    /// The defaults of a tracker: ByteTrack's, and for OC-SORT its own `match_iou`.
    pub fn defaults(kind: TrackerKind) -> TrackerSettings {
        TrackerSettings {
            kind,
            low_score: 0.1,
            new_track_score: None,
            match_iou: if kind == TrackerKind::OcSort { OCSORT_MATCH_IOU } else { 0.2 },
            lost_s: 1.0,
            min_hits: 2,
        }
    }
}

/// Why a track ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Unmatched for longer than `lost_s`.
    Lost,
    /// The stream's tracks were dropped: reconnect, end of stream, resolution change, time going back.
    Reset,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Lost => "lost",
            EndReason::Reset => "reset",
        }
    }
}

/// A confirmed track that was removed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackEnd {
    pub track_id: u32,
    pub class_id: u32,
    /// Stream time of the first and the last detection of the track.
    pub first_ms: u64,
    pub last_ms: u64,
    /// Frames the track was matched in.
    pub hits: u32,
    /// The box at the last match.
    pub bbox: [f32; 4],
    pub reason: EndReason,
}
