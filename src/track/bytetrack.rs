//! ByteTrack (Zhang et al., ECCV 2022; the authors' `byte_tracker.py`), one instance per stream.
//!
//! Per frame: predict every track to the frame's time; match confirmed tracks (tracked and lost)
//! to the high-score detections on IoU × score; match the tracks still unmatched that were tracked
//! in the previous frame to the *low*-score detections on plain IoU (the step that keeps a person
//! through an occlusion, when the detector's score drops); match tentative tracks to what is left
//! of the high-score detections; start tentative tracks from the rest. Every matching is a true
//! minimum-cost assignment (`assignment.rs`), only between boxes of the same class.
//!
//! Differences from the reference code, each for the appliance: a lost track lives for a span of
//! stream time, not a number of frames (`fps_limit` and dropped frames change the frame rate, not
//! the scene); a track gets its ID when it is confirmed, so IDs count 1, 2, 3… without the gaps
//! that tentative tracks leave in the reference code, and a tentative track's ID never appears; the
//! very first frame gets no instant confirmation.

use super::assignment::Assignment;
use super::kalman::{self, Cov, Mean, REFERENCE_FPS};
use super::{EndReason, TrackEnd, TrackerSettings};
use crate::detect::Detection;

/// ByteTrack's thresholds of the second (low-score, plain IoU) and third (tentative tracks) stages,
/// as IoU distances (`1 - IoU`); the first stage's comes from the settings.
const SECOND_STAGE_DISTANCE: f64 = 0.5;
const TENTATIVE_DISTANCE: f64 = 0.7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Matched in the last frame.
    Tracked,
    /// Unmatched since `last_ms`, kept for `lost_s` of stream time.
    Lost,
}

#[derive(Debug, Clone)]
struct Track {
    /// 0 while tentative.
    id: u32,
    class_id: u32,
    score: f32,
    mean: Mean,
    cov: Cov,
    state: State,
    /// Frames matched (in a row while tentative).
    hits: u32,
    first_ms: u64,
    /// Stream time of the last match.
    last_ms: u64,
    /// The state's box right after its last match.
    bbox: [f32; 4],
    /// Matched in the current frame.
    updated: bool,
}

impl Track {
    fn matched(&mut self, d: &Detection, t_ms: u64) {
        kalman::update(&mut self.mean, &mut self.cov, kalman::xyah(&d.bbox));
        self.state = State::Tracked;
        self.score = d.score;
        self.hits += 1;
        self.last_ms = t_ms;
        self.bbox = kalman::to_xyxy(&self.mean);
        self.updated = true;
    }

    fn end(&self, reason: EndReason) -> TrackEnd {
        TrackEnd {
            track_id: self.id,
            class_id: self.class_id,
            first_ms: self.first_ms,
            last_ms: self.last_ms,
            hits: self.hits,
            bbox: self.bbox,
            reason,
        }
    }
}

/// A confirmed track matched in the latest frame, as `ByteTrack::active` and `OcSort::active`
/// list it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActiveTrack {
    pub track_id: u32,
    pub class_id: u32,
    pub score: f32,
    /// The box the reference code reports: ByteTrack's filter box after the update, OC-SORT's
    /// latest observation.
    pub bbox: [f32; 4],
}

pub(super) fn iou(a: &[f32; 4], b: &[f32; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0) as f64;
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0) as f64;
    let inter = iw * ih;
    let area = |r: &[f32; 4]| ((r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0)) as f64;
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

pub(super) fn finite(d: &Detection) -> bool {
    d.score.is_finite() && d.bbox.iter().all(|v| v.is_finite()) && d.bbox[2] > d.bbox[0] && d.bbox[3] > d.bbox[1]
}

pub struct ByteTrack {
    settings: TrackerSettings,
    /// Detections at or above this start tentative tracks (ByteTrack's `det_thresh`).
    new_track_score: f32,
    tracks: Vec<Track>,
    next_id: u32,
    last_ms: Option<u64>,
    solver: Assignment,
    // Reused per frame.
    ids: Vec<Option<u32>>,
    ended: Vec<TrackEnd>,
    rows: Vec<usize>,
    cols: Vec<usize>,
    pairs: Vec<(usize, usize)>,
    det_used: Vec<bool>,
    /// Track index → the frame's predicted box, for the cost functions.
    predicted: Vec<[f32; 4]>,
}

impl ByteTrack {
    /// `high_score`: the score from which a detection is reported (the caller's own threshold),
    /// used for the default of `new_track_score`.
    pub fn new(settings: TrackerSettings, high_score: f32) -> ByteTrack {
        let new_track_score = settings.new_track_score.unwrap_or((high_score + 0.1).min(1.0));
        ByteTrack {
            settings,
            new_track_score,
            tracks: Vec::with_capacity(64),
            next_id: 1,
            last_ms: None,
            solver: Assignment::default(),
            ids: Vec::with_capacity(256),
            ended: Vec::with_capacity(64),
            rows: Vec::with_capacity(64),
            cols: Vec::with_capacity(256),
            pairs: Vec::with_capacity(64),
            det_used: Vec::with_capacity(256),
            predicted: Vec::with_capacity(64),
        }
    }

    /// Track ID of each detection of the latest `update` (same order); None for detections on no
    /// confirmed track.
    pub fn ids(&self) -> &[Option<u32>] {
        &self.ids
    }

    /// Confirmed tracks removed by the latest `update` or `reset`.
    pub fn ended(&self) -> &[TrackEnd] {
        &self.ended
    }

    /// Confirmed tracks matched in the latest frame.
    pub fn active(&self) -> impl Iterator<Item = ActiveTrack> + '_ {
        self.tracks.iter().filter(|t| t.id > 0 && t.updated).map(|t| ActiveTrack {
            track_id: t.id,
            class_id: t.class_id,
            score: t.score,
            bbox: t.bbox,
        })
    }

    /// The ID the next confirmed track gets.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Continues the numbering of an earlier tracker of the same stream (a reload that replaced
    /// it), so that no ID is given twice while the process lives.
    pub fn continue_ids(&mut self, next: u32) {
        self.next_id = self.next_id.max(next);
    }

    /// Forgets every track (new source, resolution change, end of stream); confirmed ones are
    /// listed in `ended`. IDs keep counting: they are never reused while the process lives.
    pub fn reset(&mut self) {
        self.ended.clear();
        self.ids.clear();
        for t in &self.tracks {
            if t.id > 0 {
                self.ended.push(t.end(EndReason::Reset));
            }
        }
        self.tracks.clear();
        self.last_ms = None;
    }

    /// Matches stripped-down sets with the solver; `cost(track, det)` is a distance, pairs above
    /// `limit` stay unmatched. Fills `self.pairs` with (track index, detection index).
    fn associate(&mut self, dets: &[Detection], limit: f64, fuse_score: bool) {
        let ByteTrack { rows, cols, predicted, tracks, solver, pairs, .. } = self;
        pairs.clear();
        let found = solver.solve(rows.len(), cols.len(), limit, |r, c| {
            let (t, d) = (&tracks[rows[r]], &dets[cols[c]]);
            if t.class_id != d.class_id {
                return f64::INFINITY;
            }
            let sim = iou(&predicted[rows[r]], &d.bbox);
            1.0 - if fuse_score { sim * d.score as f64 } else { sim }
        });
        pairs.extend(found.iter().map(|&(r, c)| (rows[r], cols[c])));
    }

    /// One frame at stream time `t_ms`: `dets[..high]` are the detections the caller reports
    /// (above its score threshold), `dets[high..]` the low-score ones above `low_score`.
    pub fn update(&mut self, t_ms: u64, dets: &[Detection], high: usize) {
        let high = high.min(dets.len());
        if self.last_ms.is_some_and(|l| t_ms < l) {
            // Time went back: another source, or the same one restarted.
            self.reset();
        } else {
            self.ended.clear();
        }
        let frames = self.last_ms.map_or(0.0, |l| (t_ms - l) as f64 / 1000.0 * REFERENCE_FPS);
        self.last_ms = Some(t_ms);
        self.ids.clear();
        self.ids.resize(dets.len(), None);
        self.det_used.clear();
        self.det_used.resize(dets.len(), false);
        self.predicted.clear();
        for t in &mut self.tracks {
            if t.state != State::Tracked {
                // As the reference code: a lost track's height stops changing.
                t.mean[7] = 0.0;
            }
            kalman::predict(&mut t.mean, &mut t.cov, frames);
            t.updated = false;
            self.predicted.push(kalman::to_xyxy(&t.mean));
        }
        let usable = |i: usize, d: &Detection, used: &[bool]| !used[i] && finite(d);

        // 1. Confirmed tracks (tracked and lost) × high-score detections, IoU × score.
        self.rows.clear();
        self.rows.extend((0..self.tracks.len()).filter(|&i| self.tracks[i].id > 0));
        self.cols.clear();
        self.cols.extend((0..high).filter(|&i| usable(i, &dets[i], &self.det_used)));
        self.associate(dets, 1.0 - self.settings.match_iou as f64, true);
        for k in 0..self.pairs.len() {
            let (t, d) = self.pairs[k];
            self.tracks[t].matched(&dets[d], t_ms);
            self.det_used[d] = true;
            self.ids[d] = Some(self.tracks[t].id);
        }

        // 2. Confirmed tracks tracked until the last frame and still unmatched × low-score
        //    detections, plain IoU.
        let tracks = &self.tracks;
        self.rows.retain(|&i| !tracks[i].updated && tracks[i].state == State::Tracked);
        self.cols.clear();
        let low = self.settings.low_score;
        self.cols.extend((high..dets.len()).filter(|&i| dets[i].score > low && usable(i, &dets[i], &self.det_used)));
        self.associate(dets, SECOND_STAGE_DISTANCE, false);
        for k in 0..self.pairs.len() {
            let (t, d) = self.pairs[k];
            self.tracks[t].matched(&dets[d], t_ms);
            self.det_used[d] = true;
            self.ids[d] = Some(self.tracks[t].id);
        }
        for t in &mut self.tracks {
            if t.id > 0 && !t.updated {
                t.state = State::Lost;
            }
        }

        // 3. Tentative tracks × the high-score detections left, IoU × score.
        self.rows.clear();
        self.rows.extend((0..self.tracks.len()).filter(|&i| self.tracks[i].id == 0));
        self.cols.clear();
        self.cols.extend((0..high).filter(|&i| usable(i, &dets[i], &self.det_used)));
        self.associate(dets, TENTATIVE_DISTANCE, true);
        for k in 0..self.pairs.len() {
            let (t, d) = self.pairs[k];
            self.tracks[t].matched(&dets[d], t_ms);
            self.det_used[d] = true;
            if self.tracks[t].hits >= self.settings.min_hits {
                self.tracks[t].id = self.next_id;
                self.next_id = self.next_id.saturating_add(1);
                self.ids[d] = Some(self.tracks[t].id);
            }
        }
        // A tentative track missed once is dropped, as in the reference code.
        self.tracks.retain(|t| t.id > 0 || t.updated);

        // 4. New tentative tracks from the confident detections left.
        for (d, det) in dets.iter().enumerate().take(high) {
            if !usable(d, det, &self.det_used) || det.score < self.new_track_score {
                continue;
            }
            let (mean, cov) = kalman::initiate(kalman::xyah(&det.bbox));
            let mut t = Track {
                id: 0,
                class_id: det.class_id,
                score: det.score,
                mean,
                cov,
                state: State::Tracked,
                hits: 1,
                first_ms: t_ms,
                last_ms: t_ms,
                bbox: kalman::to_xyxy(&mean),
                updated: true,
            };
            if self.settings.min_hits <= 1 {
                t.id = self.next_id;
                self.next_id = self.next_id.saturating_add(1);
                self.ids[d] = Some(t.id);
            }
            self.tracks.push(t);
        }

        // 5. Lost tracks past their time.
        let lost_ms = (self.settings.lost_s * 1000.0).round() as u64;
        let ended = &mut self.ended;
        self.tracks.retain(|t| {
            let expired = t.state == State::Lost && t_ms.saturating_sub(t.last_ms) > lost_ms;
            if expired {
                ended.push(t.end(EndReason::Lost));
            }
            !expired
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class_id: u32, score: f32, x: f32) -> Detection {
        Detection { class_id, score, bbox: [x, 100.0, x + 40.0, 200.0] }
    }

    fn tracker() -> ByteTrack {
        ByteTrack::new(TrackerSettings::default(), 0.5)
    }

    #[test]
    fn ids_appear_on_confirmation_and_count_from_one() {
        let mut t = tracker();
        t.update(0, &[det(0, 0.9, 10.0), det(0, 0.9, 300.0)], 2);
        assert_eq!(t.ids(), &[None, None], "tentative tracks have no ID");
        t.update(33, &[det(0, 0.9, 12.0), det(0, 0.9, 302.0)], 2);
        assert_eq!(t.ids(), &[Some(1), Some(2)]);
        t.update(66, &[det(0, 0.9, 304.0), det(0, 0.9, 14.0)], 2);
        assert_eq!(t.ids(), &[Some(2), Some(1)]);
    }

    #[test]
    fn a_low_score_box_keeps_a_track_through_an_occlusion() {
        let mut t = tracker();
        for (i, ms) in [0u64, 33, 66].into_iter().enumerate() {
            t.update(ms, &[det(0, 0.9, 10.0 + i as f32)], 1);
        }
        // Score drops below the reporting threshold: the box comes in the low part.
        t.update(100, &[det(0, 0.2, 13.0)], 0);
        assert_eq!(t.ids(), &[Some(1)]);
        assert_eq!(t.active().count(), 1);
    }

    #[test]
    fn classes_never_match_each_other() {
        let mut t = tracker();
        t.update(0, &[det(0, 0.9, 10.0)], 1);
        t.update(33, &[det(0, 0.9, 10.0)], 1);
        t.update(66, &[det(2, 0.9, 10.0)], 1);
        assert_eq!(t.ids(), &[None], "a car where the person was starts its own tentative track");
    }

    /// Lost-track life is stream time: with frames 10 s apart a track is gone, with the same
    /// number of frames 40 ms apart it is kept.
    #[test]
    fn a_lost_track_lives_for_lost_s_of_stream_time() {
        let mut t = tracker();
        t.update(0, &[det(0, 0.9, 10.0)], 1);
        t.update(40, &[det(0, 0.9, 10.0)], 1);
        t.update(80, &[], 0);
        t.update(1000, &[det(0, 0.9, 10.0)], 1);
        assert_eq!(t.ids(), &[Some(1)], "0.92 s later: same track");
        t.update(1040, &[], 0);
        assert!(t.ended().is_empty());
        t.update(2100, &[], 0);
        assert_eq!(t.ended().len(), 1, "1.06 s lost: ended");
        assert_eq!((t.ended()[0].track_id, t.ended()[0].reason), (1, EndReason::Lost));
        t.update(2140, &[det(0, 0.9, 10.0)], 1);
        t.update(2180, &[det(0, 0.9, 10.0)], 1);
        assert_eq!(t.ids(), &[Some(2)], "a new ID, never the old one");
    }

    #[test]
    fn reset_ends_confirmed_tracks_and_time_going_back_resets() {
        let mut t = tracker();
        t.update(1000, &[det(0, 0.9, 10.0), det(0, 0.9, 300.0)], 2);
        t.update(1040, &[det(0, 0.9, 10.0)], 1);
        t.update(0, &[det(0, 0.9, 10.0)], 1);
        assert_eq!(t.ended().len(), 1, "only the confirmed track ends");
        assert_eq!(t.ended()[0].reason, EndReason::Reset);
        assert_eq!(t.ids(), &[None]);
    }

    #[test]
    fn bad_boxes_are_ignored() {
        let mut t = tracker();
        let bad = Detection { class_id: 0, score: f32::NAN, bbox: [f32::NAN, 0.0, 1.0, 1.0] };
        t.update(0, &[bad, det(0, 0.9, 10.0)], 2);
        t.update(40, &[bad, det(0, 0.9, 10.0)], 2);
        assert_eq!(t.ids(), &[None, Some(1)]);
    }
}
