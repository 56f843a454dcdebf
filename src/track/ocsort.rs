//! OC-SORT (Cao et al., CVPR 2023, "Observation-Centric SORT"), one instance per stream, the
//! alternative to ByteTrack (`tracking.tracker = "ocsort"`).
//!
//! SORT's Kalman filter on the box centre, area and aspect ratio `[x, y, s, r, vx, vy, vs]`, and
//! the paper's three observation-centric parts:
//! - ORU (re-update): a track found again after frames without a match does not keep the state
//!   its blind predictions built up; the filter goes back to its state at the last observation
//!   and is updated again along a virtual trajectory, linear between that observation and the new
//!   one, one step per frame that passed. The velocity it ends with is the one of the gap.
//! - OCM (momentum): the first association's cost has, besides the IoU with the predicted box, a
//!   term for how well the direction from the track's observation `DELTA_T` observations back to
//!   the detection agrees with the track's observed direction of motion, weighted `INERTIA` and
//!   by the detection's score.
//! - OCR (recovery): detections and tracks left over are matched once more on the IoU with the
//!   track's *last observation* instead of its prediction: a track whose prediction ran off while
//!   the object stood still behind an occluder is picked up where it was last seen.
//!
//! Between OCM and OCR the BYTE stage of the authors' code (`use_byte`) runs, on by default here:
//! confirmed tracks still unmatched × the low-score detections (above `low_score`, below the
//! reporting threshold) on plain IoU ≥ 0.5, as ByteTrack's second association; `low_score = 1`
//! turns it off. Every matching is a minimum-cost assignment (`assignment.rs`) between boxes of
//! the same class only.
//!
//! As `bytetrack.rs`, for the appliance: time is stream time (the filter steps in reference
//! frames of 1/30 s; a lost track lives `lost_s`), a track gets its ID once it was matched
//! `min_hits` frames in a row, IDs count 1, 2, 3… and are never reused; a tentative track missed
//! once is dropped; the first frame confirms nothing. The reported box is the track's latest
//! observation, as in the authors' code.

// Small fixed-size matrix algebra reads like its formulas with indices.
#![allow(clippy::needless_range_loop)]

use super::assignment::Assignment;
use super::bytetrack::{ActiveTrack, finite, iou};
use super::kalman::{REFERENCE_FPS, cholesky_solve};
use super::{EndReason, TrackEnd, TrackerSettings};
use crate::detect::Detection;

/// OCM's weight of the direction term (the paper's and the authors' default `inertia`, 0.2). A
/// constant: the paper found it insensitive, and one more key would be one more thing to tune.
pub const INERTIA: f64 = 0.2;
/// OCM's observation span: directions are taken from the observation this many observations back
/// (the paper's Δt = 3, there in frames; here in observations, so the frame rate does not matter).
pub const DELTA_T: usize = 3;
/// The BYTE stage's least IoU between a predicted box and a low-score detection (ByteTrack's).
const BYTE_IOU: f64 = 0.5;

type State = [f64; 7];
type StateCov = [[f64; 7]; 7];

/// SORT's Kalman filter (`KalmanBoxTracker`): constant velocity on the centre and area, constant
/// aspect ratio; noise in pixels as SORT sets it, scaled by the time step.
mod filter {
    use super::{State, StateCov, cholesky_solve};

    /// `[x1, y1, x2, y2]` → `[cx, cy, area, w / h]`.
    pub fn z_of(b: &[f32; 4]) -> [f64; 4] {
        let (w, h) = ((b[2] - b[0]) as f64, (b[3] - b[1]) as f64);
        [b[0] as f64 + w / 2.0, b[1] as f64 + h / 2.0, w * h, w / h.max(1e-3)]
    }

    pub fn box_of(x: &State) -> [f32; 4] {
        let (s, r) = (x[2].max(0.0), x[3].max(1e-6));
        let w = (s * r).sqrt();
        let h = if w > 0.0 { s / w } else { 0.0 };
        [(x[0] - w / 2.0) as f32, (x[1] - h / 2.0) as f32, (x[0] + w / 2.0) as f32, (x[1] + h / 2.0) as f32]
    }

    /// SORT: `P[4:, 4:] *= 1000; P *= 10`.
    pub fn initiate(z: [f64; 4]) -> (State, StateCov) {
        let mut p = [[0.0; 7]; 7];
        for i in 0..7 {
            p[i][i] = if i < 4 { 10.0 } else { 10_000.0 };
        }
        ([z[0], z[1], z[2], z[3], 0.0, 0.0, 0.0], p)
    }

    /// `frames` reference frames ahead. SORT's `Q[4:, 4:] *= 0.01; Q[-1, -1] *= 0.01`, as the
    /// variance of one frame, growing linearly with time.
    pub fn predict(x: &mut State, p: &mut StateCov, frames: f64) {
        if frames <= 0.0 {
            return;
        }
        if x[2] + x[6] * frames <= 0.0 {
            // SORT: an area about to turn negative stops shrinking.
            x[6] = 0.0;
        }
        for i in 0..3 {
            x[i] += x[i + 4] * frames;
        }
        for i in 0..3 {
            for j in 0..7 {
                p[i][j] += frames * p[i + 4][j];
            }
        }
        for row in p.iter_mut() {
            for j in 0..3 {
                row[j] += frames * row[j + 4];
            }
        }
        const Q: [f64; 7] = [1.0, 1.0, 1.0, 1.0, 1e-2, 1e-2, 1e-4];
        for i in 0..7 {
            p[i][i] += Q[i] * frames;
        }
    }

    /// SORT's measurement noise: `R[2:, 2:] *= 10`.
    pub fn update(x: &mut State, p: &mut StateCov, z: [f64; 4]) {
        const R: [f64; 4] = [1.0, 1.0, 10.0, 10.0];
        let mut s = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                s[i][j] = p[i][j];
            }
            s[i][i] += R[i];
        }
        let mut k = [[0.0; 4]; 7];
        for i in 0..7 {
            let mut row = [p[i][0], p[i][1], p[i][2], p[i][3]];
            if !cholesky_solve(&s, &mut row) {
                return;
            }
            k[i] = row;
        }
        let y = [z[0] - x[0], z[1] - x[1], z[2] - x[2], z[3] - x[3]];
        for i in 0..7 {
            for j in 0..4 {
                x[i] += k[i][j] * y[j];
            }
        }
        let mut hp = [[0.0; 7]; 4];
        hp.copy_from_slice(&p[..4]);
        for i in 0..7 {
            for j in 0..7 {
                let mut d = 0.0;
                for m in 0..4 {
                    d += k[i][m] * hp[m][j];
                }
                p[i][j] -= d;
            }
        }
    }
}

/// Unit vector from the centre of `a` to the centre of `b` (`speed_direction`); zero when they
/// coincide.
fn direction(a: &[f32; 4], b: &[f32; 4]) -> [f64; 2] {
    let dx = ((b[0] + b[2]) - (a[0] + a[2])) as f64 / 2.0;
    let dy = ((b[1] + b[3]) - (a[1] + a[3])) as f64 / 2.0;
    let n = (dx * dx + dy * dy).sqrt() + 1e-6;
    [dx / n, dy / n]
}

/// OCM's term: +0.5 for the same direction, 0 at a right angle or without a direction, −0.5
/// for the opposite one (`(π/2 − |Δθ|) / π`).
fn consistency(v: [f64; 2], w: [f64; 2]) -> f64 {
    let cos = (v[0] * w[0] + v[1] * w[1]).clamp(-1.0, 1.0);
    (std::f64::consts::FRAC_PI_2 - cos.acos()) / std::f64::consts::PI
}

#[derive(Debug, Clone)]
struct Track {
    /// 0 while tentative.
    id: u32,
    class_id: u32,
    score: f32,
    mean: State,
    cov: StateCov,
    /// The filter right after the last observation, where ORU starts again from.
    saved: (State, StateCov),
    /// Up to `DELTA_T` latest observations, oldest first; the last one is the latest.
    recent: [[f32; 4]; DELTA_T],
    n_recent: usize,
    /// Observed direction of motion (unit vector), zero until a second observation.
    direction: [f64; 2],
    /// Frames predicted since the last observation.
    steps: u32,
    /// Frames matched (in a row while tentative).
    hits: u32,
    first_ms: u64,
    /// Stream time of the last observation.
    last_ms: u64,
    /// Observed in the current frame.
    updated: bool,
}

impl Track {
    fn new(d: &Detection, t_ms: u64) -> Track {
        let (mean, cov) = filter::initiate(filter::z_of(&d.bbox));
        Track {
            id: 0,
            class_id: d.class_id,
            score: d.score,
            mean,
            cov,
            saved: (mean, cov),
            recent: [d.bbox; DELTA_T],
            n_recent: 1,
            direction: [0.0; 2],
            steps: 0,
            hits: 1,
            first_ms: t_ms,
            last_ms: t_ms,
            updated: true,
        }
    }

    fn last_obs(&self) -> &[f32; 4] {
        &self.recent[self.n_recent - 1]
    }

    /// The box `DELTA_T` observations back (or the oldest kept): where OCM's directions start.
    fn previous_obs(&self) -> &[f32; 4] {
        &self.recent[0]
    }

    fn observe(&mut self, d: &Detection, t_ms: u64, oru: bool) {
        let b = d.bbox;
        self.direction = direction(self.previous_obs(), &b);
        if oru && self.steps > 1 {
            // ORU: back to the last observation, then one predict + update per frame of the gap
            // along the straight line (centre, width, height) to the new observation.
            let gap = t_ms.saturating_sub(self.last_ms) as f64 / 1000.0 * REFERENCE_FPS;
            let n = self.steps;
            let dt = gap / n as f64;
            (self.mean, self.cov) = self.saved;
            let a = *self.last_obs();
            for i in 1..=n {
                let f = i as f32 / n as f32;
                let lerp = |k: usize| a[k] + (b[k] - a[k]) * f;
                filter::predict(&mut self.mean, &mut self.cov, dt);
                filter::update(&mut self.mean, &mut self.cov, filter::z_of(&[lerp(0), lerp(1), lerp(2), lerp(3)]));
            }
        } else {
            filter::update(&mut self.mean, &mut self.cov, filter::z_of(&b));
        }
        self.saved = (self.mean, self.cov);
        if self.n_recent < DELTA_T {
            self.n_recent += 1;
        } else {
            self.recent.rotate_left(1);
        }
        self.recent[self.n_recent - 1] = b;
        self.steps = 0;
        self.score = d.score;
        self.hits += 1;
        self.last_ms = t_ms;
        self.updated = true;
    }

    fn end(&self, reason: EndReason) -> TrackEnd {
        TrackEnd {
            track_id: self.id,
            class_id: self.class_id,
            first_ms: self.first_ms,
            last_ms: self.last_ms,
            hits: self.hits,
            bbox: *self.last_obs(),
            reason,
        }
    }
}

/// Matches `rows` (track indices) to `cols` (detection indices) at the least total `cost`; pairs
/// above `limit` stay unmatched. Fills `pairs` with (track index, detection index).
fn associate(
    solver: &mut Assignment,
    rows: &[usize],
    cols: &[usize],
    pairs: &mut Vec<(usize, usize)>,
    limit: f64,
    cost: impl Fn(usize, usize) -> f64,
) {
    pairs.clear();
    let found = solver.solve(rows.len(), cols.len(), limit, |r, c| cost(rows[r], cols[c]));
    pairs.extend(found.iter().map(|&(r, c)| (rows[r], cols[c])));
}

pub struct OcSort {
    settings: TrackerSettings,
    /// Detections at or above this start tentative tracks.
    new_track_score: f32,
    /// OCM's weight and whether ORU and OCR run: constants, switched off only by the tests that
    /// show what each part does.
    inertia: f64,
    oru: bool,
    ocr: bool,
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
    /// Track index → the frame's predicted box.
    predicted: Vec<[f32; 4]>,
}

impl OcSort {
    /// `high_score`: the score from which a detection is reported (the caller's own threshold),
    /// used for the default of `new_track_score`.
    pub fn new(settings: TrackerSettings, high_score: f32) -> OcSort {
        let new_track_score = settings.new_track_score.unwrap_or((high_score + 0.1).min(1.0));
        OcSort {
            settings,
            new_track_score,
            inertia: INERTIA,
            oru: true,
            ocr: true,
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

    /// Confirmed tracks matched in the latest frame, with their latest observation as the box.
    pub fn active(&self) -> impl Iterator<Item = ActiveTrack> + '_ {
        self.tracks.iter().filter(|t| t.id > 0 && t.updated).map(|t| ActiveTrack {
            track_id: t.id,
            class_id: t.class_id,
            score: t.score,
            bbox: *t.last_obs(),
        })
    }

    /// The ID the next confirmed track gets.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Continues the numbering of an earlier tracker of the same stream.
    pub fn continue_ids(&mut self, next: u32) {
        self.next_id = self.next_id.max(next);
    }

    /// Forgets every track; confirmed ones are listed in `ended`. IDs keep counting.
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

    /// Records the matches in `self.pairs`: observations, confirmations, IDs.
    fn apply(&mut self, dets: &[Detection], t_ms: u64) {
        for k in 0..self.pairs.len() {
            let (ti, d) = self.pairs[k];
            let t = &mut self.tracks[ti];
            t.observe(&dets[d], t_ms, self.oru);
            self.det_used[d] = true;
            if t.id == 0 && t.hits >= self.settings.min_hits {
                t.id = self.next_id;
                self.next_id = self.next_id.saturating_add(1);
            }
            if t.id > 0 {
                self.ids[d] = Some(t.id);
            }
        }
    }

    /// One frame at stream time `t_ms`: `dets[..high]` are the detections the caller reports
    /// (above its score threshold), `dets[high..]` the low-score ones above `low_score`.
    pub fn update(&mut self, t_ms: u64, dets: &[Detection], high: usize) {
        let high = high.min(dets.len());
        if self.last_ms.is_some_and(|l| t_ms < l) {
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
            filter::predict(&mut t.mean, &mut t.cov, frames);
            t.steps += 1;
            t.updated = false;
            self.predicted.push(filter::box_of(&t.mean));
        }
        let usable = |i: usize, d: &Detection, used: &[bool]| !used[i] && finite(d);
        let match_iou = self.settings.match_iou as f64;

        // 1. Every track × the high-score detections: IoU with the prediction plus OCM's term.
        self.rows.clear();
        self.rows.extend(0..self.tracks.len());
        self.cols.clear();
        self.cols.extend((0..high).filter(|&i| usable(i, &dets[i], &self.det_used)));
        {
            let OcSort { solver, rows, cols, pairs, tracks, predicted, inertia, .. } = self;
            let inertia = *inertia;
            // Any pair with IoU >= match_iou may match (costs lie in [-0.1, 1]); the limit only
            // keeps out the others.
            associate(solver, rows, cols, pairs, 2.0, |ti, di| {
                let (t, d) = (&tracks[ti], &dets[di]);
                if t.class_id != d.class_id {
                    return f64::INFINITY;
                }
                let overlap = iou(&predicted[ti], &d.bbox);
                if overlap < match_iou {
                    return f64::INFINITY;
                }
                let ocm = consistency(t.direction, direction(t.previous_obs(), &d.bbox));
                1.0 - overlap - inertia * d.score as f64 * ocm
            });
        }
        self.apply(dets, t_ms);

        // 2. BYTE: confirmed tracks still unmatched × the low-score detections, plain IoU.
        let tracks = &self.tracks;
        self.rows.retain(|&i| !tracks[i].updated && tracks[i].id > 0);
        self.cols.clear();
        let low = self.settings.low_score;
        self.cols.extend((high..dets.len()).filter(|&i| dets[i].score > low && usable(i, &dets[i], &self.det_used)));
        {
            let OcSort { solver, rows, cols, pairs, tracks, predicted, .. } = self;
            associate(solver, rows, cols, pairs, 1.0 - BYTE_IOU, |ti, di| {
                if tracks[ti].class_id != dets[di].class_id {
                    return f64::INFINITY;
                }
                1.0 - iou(&predicted[ti], &dets[di].bbox)
            });
        }
        self.apply(dets, t_ms);

        // 3. OCR: every track still unmatched × the high-score detections left, IoU with the
        //    track's last observation.
        if self.ocr {
            let tracks = &self.tracks;
            self.rows.clear();
            self.rows.extend((0..tracks.len()).filter(|&i| !tracks[i].updated));
            self.cols.clear();
            self.cols.extend((0..high).filter(|&i| usable(i, &dets[i], &self.det_used)));
            let OcSort { solver, rows, cols, pairs, tracks, .. } = self;
            associate(solver, rows, cols, pairs, 1.0 - match_iou, |ti, di| {
                if tracks[ti].class_id != dets[di].class_id {
                    return f64::INFINITY;
                }
                1.0 - iou(tracks[ti].last_obs(), &dets[di].bbox)
            });
            self.apply(dets, t_ms);
        }

        // 4. A tentative track missed once is dropped; new tentative tracks from the confident
        //    detections left.
        self.tracks.retain(|t| t.id > 0 || t.updated);
        for (d, det) in dets.iter().enumerate().take(high) {
            if !usable(d, det, &self.det_used) || det.score < self.new_track_score {
                continue;
            }
            let mut t = Track::new(det, t_ms);
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
            let expired = !t.updated && t_ms.saturating_sub(t.last_ms) > lost_ms;
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
    use crate::track::TrackerKind;

    fn boxed(class_id: u32, score: f32, b: [f32; 4]) -> Detection {
        Detection { class_id, score, bbox: b }
    }

    fn det(class_id: u32, x: f32) -> Detection {
        boxed(class_id, 0.9, [x, 100.0, x + 40.0, 200.0])
    }

    fn tracker() -> OcSort {
        OcSort::new(TrackerSettings::defaults(TrackerKind::OcSort), 0.5)
    }

    /// 40 ms frames (25 FPS) in reference frames.
    const STEP: f64 = 0.04 * REFERENCE_FPS;

    #[test]
    fn ids_on_confirmation_increasing_never_reused_one_class_per_track() {
        let mut t = tracker();
        t.update(0, &[det(0, 10.0), det(1, 300.0)], 2);
        assert_eq!(t.ids(), &[None, None], "tentative tracks have no ID");
        t.update(40, &[det(0, 12.0), det(1, 302.0)], 2);
        assert_eq!(t.ids(), &[Some(1), Some(2)]);
        // The person's place taken by a car: the person's track is not matched to it.
        t.update(80, &[det(1, 14.0), det(1, 304.0)], 2);
        assert_eq!(t.ids(), &[None, Some(2)]);
        assert!(t.tracks.iter().all(|k| k.class_id == if k.id == 1 { 0 } else { 1 }));
        t.update(120, &[det(1, 14.0), det(1, 306.0)], 2);
        assert_eq!(t.ids(), &[Some(3), Some(2)], "the car's own track, a new ID");
        // Everything lost for longer than lost_s: ends, and new tracks get new IDs.
        t.update(2000, &[], 0);
        let mut ended: Vec<u32> = t.ended().iter().map(|e| e.track_id).collect();
        ended.sort_unstable();
        assert_eq!(ended, [1, 2, 3]);
        t.update(2040, &[det(0, 10.0)], 1);
        t.update(2080, &[det(0, 10.0)], 1);
        assert_eq!((t.ids(), t.next_id()), (&[Some(4)][..], 5));
        t.reset();
        assert_eq!(t.ended().len(), 1);
        t.continue_ids(10);
        t.update(0, &[det(0, 10.0)], 1);
        t.update(40, &[det(0, 10.0)], 1);
        assert_eq!(t.ids(), &[Some(10)]);
    }

    /// ORU: moving at 6 px a frame, then unseen for 8 frames in which it slowed to 2 px a frame.
    /// Found again, the filter is re-run along the straight line between the two observations:
    /// its state is the one of a track that saw a box on that line in every frame of the gap
    /// (velocity and covariance included), not that of one update after 9 blind predictions.
    #[test]
    fn oru_reruns_the_filter_along_the_interpolated_trajectory() {
        let run = |oru: bool, seen_in_gap: bool| {
            let mut t = tracker();
            t.oru = oru;
            for f in 0..10u64 {
                t.update(f * 40, &[det(0, 6.0 * f as f32)], 1);
            }
            for f in 10..18u64 {
                let x = 54.0 + 2.0 * (f - 9) as f32;
                let d = [det(0, x)];
                let n = usize::from(seen_in_gap);
                t.update(f * 40, &d[..n], n);
            }
            t.update(18 * 40, &[det(0, 72.0)], 1);
            assert_eq!(t.ids(), &[Some(1)], "re-associated (oru {oru})");
            (t.tracks[0].mean, t.tracks[0].cov)
        };
        let (seen, seen_cov) = run(true, true);
        let (oru, oru_cov) = run(true, false);
        let (plain, plain_cov) = run(false, false);
        for i in 0..7 {
            assert!((oru[i] - seen[i]).abs() < 1e-3, "state {i}: {} after ORU, {} seen throughout", oru[i], seen[i]);
            assert!((oru_cov[i][i] - seen_cov[i][i]).abs() < 1e-3 * seen_cov[i][i], "variance {i}");
        }
        let v = |m: &State| m[4] * STEP;
        assert!(v(&oru) < 6.0 - 2.0, "velocity {} turned towards the gap's 2 px a frame", v(&oru));
        assert!(plain_cov[0][0] > 1.2 * oru_cov[0][0], "without ORU the position stays less certain");
        assert!((plain[0] - oru[0]).abs() > 1e-3 || (plain[4] - oru[4]).abs() > 1e-3);
    }

    /// OCM: a track moving diagonally; two detections overlap its prediction exactly alike, one
    /// along its direction of motion, one across it. OCM takes the consistent one even though the
    /// other comes first (which an IoU tie would pick).
    #[test]
    fn ocm_prefers_the_detection_in_the_direction_of_motion() {
        let pick = |inertia: f64| {
            let mut t = tracker();
            t.inertia = inertia;
            let sq = |x: f32, y: f32| boxed(0, 0.9, [x, y, x + 50.0, y + 50.0]);
            for f in 0..6u64 {
                let v = 3.0 * f as f32;
                t.update(f * 33, &[sq(100.0 + v, 100.0 + v)], 1);
            }
            // The prediction for the next frame, as `update` will make it.
            let (mut m, mut c) = (t.tracks[0].mean, t.tracks[0].cov);
            filter::predict(&mut m, &mut c, 0.033 * REFERENCE_FPS);
            let p = filter::box_of(&m);
            let shifted = |dx: f32, dy: f32| boxed(0, 0.9, [p[0] + dx, p[1] + dy, p[2] + dx, p[3] + dy]);
            let (across, along) = (shifted(4.0, -4.0), shifted(4.0, 4.0));
            assert_eq!(iou(&p, &across.bbox), iou(&p, &along.bbox));
            t.update(6 * 33, &[across, along], 2);
            t.ids().to_vec()
        };
        assert_eq!(pick(INERTIA), [None, Some(1)], "OCM: the detection along the motion");
        assert_eq!(pick(0.0), [Some(1), None], "IoU alone: a tie, the first one");
    }

    /// OCR: a person walking fast stops behind an occluder; the prediction runs on for the frames
    /// it is unseen and no longer overlaps where the person reappears. OCR matches on the last
    /// observation and keeps the ID.
    #[test]
    fn ocr_recovers_a_track_whose_prediction_drifted() {
        let run = |ocr: bool| {
            let mut t = tracker();
            t.ocr = ocr;
            for f in 0..8u64 {
                t.update(f * 40, &[det(0, 10.0 * f as f32)], 1);
            }
            for f in 8..14u64 {
                t.update(f * 40, &[], 0);
            }
            let pred = filter::box_of(&t.tracks[0].mean);
            assert!(pred[0] > 100.0, "the prediction ran off: {pred:?}");
            t.update(14 * 40, &[det(0, 72.0)], 1);
            t.ids()[0]
        };
        assert_eq!(run(true), Some(1));
        assert_eq!(run(false), None, "without OCR the track is not found again");
    }

    #[test]
    fn a_low_score_box_keeps_a_confirmed_track() {
        let mut t = tracker();
        for (i, ms) in [0u64, 33, 66].into_iter().enumerate() {
            t.update(ms, &[det(0, 10.0 + i as f32)], 1);
        }
        t.update(100, &[boxed(0, 0.2, [13.0, 100.0, 53.0, 200.0])], 0);
        assert_eq!(t.ids(), &[Some(1)]);
        let mut off =
            OcSort::new(TrackerSettings { low_score: 1.0, ..TrackerSettings::defaults(TrackerKind::OcSort) }, 0.5);
        for (i, ms) in [0u64, 33, 66].into_iter().enumerate() {
            off.update(ms, &[det(0, 10.0 + i as f32)], 1);
        }
        off.update(100, &[boxed(0, 0.2, [13.0, 100.0, 53.0, 200.0])], 0);
        assert_eq!(off.ids(), &[None], "low_score = 1: no BYTE stage");
    }

    #[test]
    fn bad_boxes_are_ignored_and_time_going_back_resets() {
        let mut t = tracker();
        let bad = boxed(0, f32::NAN, [f32::NAN, 0.0, 1.0, 1.0]);
        t.update(1000, &[bad, det(0, 10.0)], 2);
        t.update(1040, &[bad, det(0, 10.0)], 2);
        assert_eq!(t.ids(), &[None, Some(1)]);
        t.update(0, &[det(0, 10.0)], 1);
        assert_eq!((t.ended().len(), t.ended()[0].reason), (1, EndReason::Reset));
        assert_eq!(t.ids(), &[None]);
    }
}
