//! The zones and lines of one stream at run time: per confirmed track, where its anchor (the
//! bottom centre of its box) was and what it did at each line and in each zone; the events of the
//! latest frame; the counts since the stream's zones were set up.

use super::geometry::{Point, in_polygon};
use super::line::{Direction, LineState, Segment};
use super::zone::{ZoneChange, ZoneState};
use super::{ExitReason, RegionEvent, Regions};
use crate::track::TrackEnd;

/// A confirmed track observed in the current frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub track_id: u32,
    pub class_id: u32,
    pub bbox: [f32; 4],
}

/// Counts of one line since its stream's zones were set up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LineCount {
    pub a_to_b: u64,
    pub b_to_a: u64,
}

/// Counts of one zone: tracks inside now, entries (seen coming in), tracks that appeared inside,
/// exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ZoneCount {
    pub occupancy: u64,
    pub entered: u64,
    pub appeared: u64,
    pub exited: u64,
}

/// The hysteresis band around a line, as a fraction of the box height, and its floor in pixels:
/// the bottom edge of a box jitters by a few percent of its height from frame to frame.
const BAND_OF_HEIGHT: f64 = 0.1;
const MIN_BAND_PX: f64 = 2.0;

struct TrackState {
    id: u32,
    class_id: u32,
    anchor: Point,
    /// Where the anchor was before the current frame (None: first observation).
    prev: Option<Point>,
    /// The state came from a vanished track in this frame (an ID switch): the step from the old
    /// track's place is not counted until the next observation confirms the side.
    handed: bool,
    last_ms: u64,
    seen_now: bool,
    /// Its state went to a new track (an ID switch): its end closes nothing.
    handed_over: bool,
    lines: Vec<LineState>,
    zones: Vec<ZoneState>,
}

pub struct StreamRegions {
    regions: Regions,
    tracks: Vec<TrackState>,
    /// States of ended tracks, kept for reuse: no allocation per frame once warm.
    spare: Vec<TrackState>,
    events: Vec<RegionEvent>,
    lines: Vec<LineCount>,
    zones: Vec<ZoneCount>,
    /// Handing over: how long a vanished track's state waits for a new track at its place.
    handover_ms: u64,
    /// Scratch: polygons and lines in pixels of the current frame.
    segments: Vec<Segment>,
    polygons: Vec<Vec<Point>>,
    size: (u32, u32),
    next_counts_ms: Option<u64>,
    counts_seen_ms: Option<u64>,
    /// The latest stay's number.
    next_stay: u64,
}

impl StreamRegions {
    /// `handover_s`: the tracker's `lost_s`, the time a lost track may still come back.
    pub fn new(regions: Regions, handover_s: f64) -> StreamRegions {
        let (nl, nz) = (regions.lines.len(), regions.zones.len());
        StreamRegions {
            polygons: regions.zones.iter().map(|z| Vec::with_capacity(z.polygon.len())).collect(),
            regions,
            tracks: Vec::with_capacity(64),
            spare: Vec::new(),
            events: Vec::with_capacity(64),
            lines: vec![LineCount::default(); nl],
            zones: vec![ZoneCount::default(); nz],
            handover_ms: (handover_s * 1000.0).round() as u64,
            segments: Vec::with_capacity(nl),
            size: (0, 0),
            next_counts_ms: None,
            counts_seen_ms: None,
            next_stay: 0,
        }
    }

    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    pub fn is_empty(&self) -> bool {
        self.regions.lines.is_empty() && self.regions.zones.is_empty()
    }

    /// Events of the latest `frame` or `end_all`.
    pub fn events(&self) -> &[RegionEvent] {
        &self.events
    }

    pub fn line_counts(&self) -> &[LineCount] {
        &self.lines
    }

    pub fn zone_counts(&self) -> &[ZoneCount] {
        &self.zones
    }

    /// Continues the counts of the regions this one replaces (same names), and the numbering of
    /// stays, across a reload.
    pub fn continue_counts(&mut self, old: &StreamRegions) {
        self.next_stay = self.next_stay.max(old.next_stay);
        for (i, l) in self.regions.lines.iter().enumerate() {
            if let Some(j) = old.regions.lines.iter().position(|o| o.name == l.name) {
                self.lines[i] = old.lines[j];
            }
        }
        for (i, z) in self.regions.zones.iter().enumerate() {
            if let Some(j) = old.regions.zones.iter().position(|o| o.name == z.name) {
                self.zones[i] = ZoneCount { occupancy: 0, ..old.zones[j] };
            }
        }
    }

    /// Whether a periodic counts event is due at stream time `t_ms` (every `interval_ms`; None:
    /// never). The first one is one interval after the first frame; time going back restarts it.
    pub fn counts_due(&mut self, t_ms: u64, interval_ms: Option<u64>) -> bool {
        let Some(every) = interval_ms.filter(|_| !self.is_empty()) else { return false };
        let back = self.counts_seen_ms.is_some_and(|seen| t_ms < seen);
        self.counts_seen_ms = Some(t_ms);
        match self.next_counts_ms {
            Some(next) if !back && t_ms >= next && t_ms < next + 2 * every => {
                self.next_counts_ms = Some(next + every);
                true
            }
            Some(next) if !back && t_ms < next => false,
            // First frame, time went back, or a long gap: start again from here.
            _ => {
                self.next_counts_ms = Some(t_ms + every);
                false
            }
        }
    }

    fn scale(&mut self, w: u32, h: u32) {
        if self.size == (w, h) && self.segments.len() == self.regions.lines.len() {
            return;
        }
        self.size = (w, h);
        let (fw, fh) = (w as f64, h as f64);
        let px = |p: &Point| [p[0] * fw, p[1] * fh];
        self.segments.clear();
        self.segments.extend(self.regions.lines.iter().map(|l| Segment { from: px(&l.from), to: px(&l.to) }));
        for (poly, z) in self.polygons.iter_mut().zip(&self.regions.zones) {
            poly.clear();
            poly.extend(z.polygon.iter().map(px));
        }
    }

    /// One processed frame at stream time `t_ms`, `width` × `height` pixels: the tracks that
    /// ended with it (their stays end), then the confirmed tracks observed in it.
    pub fn frame(&mut self, t_ms: u64, width: u32, height: u32, ended: &[TrackEnd], seen: &[Observation]) {
        self.events.clear();
        if self.is_empty() {
            return;
        }
        self.scale(width, height);
        for e in ended {
            self.end_track(e.track_id, e.last_ms, ExitReason::TrackEnd);
        }
        for t in &mut self.tracks {
            t.seen_now = false;
        }
        for o in seen {
            self.observe(t_ms, o);
        }
    }

    /// Every track ended (the stream stopped or was reset): their stays end.
    pub fn end_all(&mut self, ended: &[TrackEnd]) {
        self.events.clear();
        for e in ended {
            self.end_track(e.track_id, e.last_ms, ExitReason::TrackEnd);
        }
        self.drop_tracks(ExitReason::TrackEnd);
    }

    /// These zones and lines are being replaced (a reload): every stay ends.
    pub fn end_for_reload(&mut self) {
        self.events.clear();
        self.drop_tracks(ExitReason::Reconfigured);
    }

    fn drop_tracks(&mut self, reason: ExitReason) {
        while let Some(&TrackState { id, last_ms, .. }) = self.tracks.last() {
            self.end_track(id, last_ms, reason);
        }
    }

    fn end_track(&mut self, id: u32, last_ms: u64, reason: ExitReason) {
        let Some(i) = self.tracks.iter().position(|t| t.id == id) else { return };
        let mut t = self.tracks.swap_remove(i);
        if !t.handed_over {
            for (zi, z) in t.zones.iter_mut().enumerate() {
                if let Some(dwell_ms) = z.end(last_ms) {
                    self.zones[zi].occupancy -= 1;
                    self.zones[zi].exited += 1;
                    self.events.push(RegionEvent::ZoneExit {
                        zone: zi,
                        track_id: t.id,
                        stay_id: z.stay_id,
                        class_id: t.class_id,
                        t_ms: last_ms,
                        dwell_ms,
                        reason,
                    });
                }
            }
        }
        self.spare.push(t);
    }

    fn new_state(&mut self, o: &Observation, t_ms: u64, anchor: Point) -> TrackState {
        let (nl, nz) = (self.regions.lines.len(), self.regions.zones.len());
        let mut t = self.spare.pop().unwrap_or_else(|| TrackState {
            id: 0,
            class_id: 0,
            anchor,
            prev: None,
            handed: false,
            last_ms: t_ms,
            seen_now: false,
            handed_over: false,
            lines: Vec::with_capacity(nl),
            zones: Vec::with_capacity(nz),
        });
        (t.id, t.class_id, t.anchor, t.prev, t.handed, t.last_ms, t.seen_now, t.handed_over) =
            (o.track_id, o.class_id, anchor, None, false, t_ms, true, false);
        // An ID switch: a track of the same class that vanished within the hand-over time, whose
        // last anchor is within a box height of this one, passes its zone and line state on, so
        // that the same object neither crosses nor enters twice.
        let reach = (o.bbox[3] - o.bbox[1]) as f64;
        let from = self
            .tracks
            .iter()
            .enumerate()
            .filter(|(_, v)| {
                !v.seen_now
                    && !v.handed_over
                    && v.class_id == o.class_id
                    && t_ms.saturating_sub(v.last_ms) <= self.handover_ms
            })
            .map(|(i, v)| (i, (v.anchor[0] - anchor[0]).hypot(v.anchor[1] - anchor[1])))
            .filter(|&(_, d)| d <= reach)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i);
        t.lines.clear();
        t.zones.clear();
        match from {
            Some(i) => {
                let v = &mut self.tracks[i];
                v.handed_over = true;
                (t.prev, t.handed) = (Some(v.anchor), true);
                t.lines.extend_from_slice(&v.lines);
                t.zones.extend_from_slice(&v.zones);
            }
            None => {
                t.lines.resize(nl, LineState::default());
                t.zones.resize(nz, ZoneState::default());
            }
        }
        t
    }

    fn observe(&mut self, t_ms: u64, o: &Observation) {
        let b = o.bbox;
        let anchor = [((b[0] + b[2]) / 2.0) as f64, b[3] as f64];
        let i = match self.tracks.iter().position(|t| t.id == o.track_id) {
            Some(i) => {
                let t = &mut self.tracks[i];
                if t.handed_over {
                    // The old ID came back after its state went to another: it starts afresh.
                    t.handed_over = false;
                    t.lines.iter_mut().for_each(|l| *l = LineState::default());
                    t.zones.iter_mut().for_each(|z| *z = ZoneState::default());
                    t.prev = None;
                } else {
                    t.prev = Some(t.anchor);
                }
                t.handed = false;
                (t.anchor, t.last_ms, t.seen_now) = (anchor, t_ms, true);
                i
            }
            None => {
                let t = self.new_state(o, t_ms, anchor);
                self.tracks.push(t);
                self.tracks.len() - 1
            }
        };
        let band = (BAND_OF_HEIGHT * (b[3] - b[1]) as f64).max(MIN_BAND_PX);
        let t = &mut self.tracks[i];
        for (li, line) in self.regions.lines.iter().enumerate() {
            if !line.applies_to(o.class_id) {
                continue;
            }
            if let Some(direction) = t.lines[li].step(self.segments[li], t.prev, anchor, band, t.handed) {
                match direction {
                    Direction::AToB => self.lines[li].a_to_b += 1,
                    Direction::BToA => self.lines[li].b_to_a += 1,
                }
                self.events.push(RegionEvent::LineCross {
                    line: li,
                    track_id: t.id,
                    class_id: t.class_id,
                    t_ms,
                    direction,
                });
            }
        }
        for (zi, zone) in self.regions.zones.iter().enumerate() {
            if !zone.applies_to(o.class_id) {
                continue;
            }
            let inside = in_polygon(&self.polygons[zi], anchor, 0.5);
            let (track_id, class_id, stay_id) = (t.id, t.class_id, t.zones[zi].stay_id);
            let count = &mut self.zones[zi];
            let ev = match t.zones[zi].step(inside, t_ms, zone.inertia, zone.loiter_ms) {
                None => continue,
                Some(ZoneChange::Enter { since_ms, appeared }) => {
                    count.occupancy += 1;
                    if appeared {
                        count.appeared += 1;
                    } else {
                        count.entered += 1;
                    }
                    self.next_stay += 1;
                    t.zones[zi].stay_id = self.next_stay;
                    let stay_id = self.next_stay;
                    RegionEvent::ZoneEnter { zone: zi, track_id, stay_id, class_id, t_ms: since_ms, appeared }
                }
                Some(ZoneChange::Exit { since_ms, dwell_ms }) => {
                    count.occupancy -= 1;
                    count.exited += 1;
                    RegionEvent::ZoneExit {
                        zone: zi,
                        track_id,
                        stay_id,
                        class_id,
                        t_ms: since_ms,
                        dwell_ms,
                        reason: ExitReason::Left,
                    }
                }
                Some(ZoneChange::Loiter { dwell_ms }) => {
                    RegionEvent::ZoneLoiter { zone: zi, track_id, stay_id, class_id, t_ms, dwell_ms }
                }
            };
            self.events.push(ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Detection;
    use crate::track::TrackerSettings;
    use crate::track::stream::{Continuity, StreamTracker};
    use crate::zones::{Line, Zone};

    const W: u32 = 640;
    const H: u32 = 480;

    /// A horizontal line across the middle, drawn left to right (side a above), and a zone in
    /// the middle of the frame: pixels (160, 120)–(480, 360).
    fn regions(line_classes: Vec<u32>) -> Regions {
        Regions {
            lines: vec![Line { name: "mid".into(), from: [0.0, 0.5], to: [1.0, 0.5], classes: line_classes }],
            zones: vec![Zone {
                name: "box".into(),
                polygon: vec![[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]],
                classes: vec![],
                inertia: 3,
                loiter_ms: None,
            }],
        }
    }

    /// A 40 × 80 box standing at (x, y).
    fn bbox(x: f32, y: f32) -> [f32; 4] {
        [x - 20.0, y - 80.0, x + 20.0, y]
    }

    fn obs(id: u32, x: f32, y: f32) -> Observation {
        Observation { track_id: id, class_id: 0, bbox: bbox(x, y) }
    }

    /// Feeds one observation list per frame, 40 ms apart; returns the events.
    fn feed(r: &mut StreamRegions, frames: &[Vec<Observation>]) -> Vec<RegionEvent> {
        let mut out = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            r.frame(i as u64 * 40, W, H, &[], f);
            out.extend_from_slice(r.events());
        }
        out
    }

    fn crossings(ev: &[RegionEvent]) -> Vec<(u32, Direction)> {
        ev.iter()
            .filter_map(|e| match *e {
                RegionEvent::LineCross { track_id, direction, .. } => Some((track_id, direction)),
                _ => None,
            })
            .collect()
    }

    fn path(id: u32, x: f32, ys: &[f32]) -> Vec<Vec<Observation>> {
        ys.iter().map(|&y| vec![obs(id, x, y)]).collect()
    }

    #[test]
    fn a_fast_object_jumping_over_the_line_counts_once() {
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        let ev = feed(&mut r, &path(1, 100.0, &[60.0, 420.0, 470.0]));
        assert_eq!(crossings(&ev), vec![(1, Direction::AToB)]);
        assert_eq!(r.line_counts(), &[LineCount { a_to_b: 1, b_to_a: 0 }]);
    }

    #[test]
    fn hovering_on_the_line_counts_once_when_it_leaves() {
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        let ys = [200.0, 236.0, 244.0, 238.0, 243.0, 239.0, 245.0, 300.0];
        let ev = feed(&mut r, &path(1, 100.0, &ys));
        assert_eq!(crossings(&ev), vec![(1, Direction::AToB)]);
        // Hovering, then back where it came from: nothing.
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        let ev = feed(&mut r, &path(1, 100.0, &[200.0, 236.0, 244.0, 238.0, 243.0, 180.0]));
        assert!(crossings(&ev).is_empty());
    }

    #[test]
    fn a_detection_gap_at_the_line_counts_once_after_it() {
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        let mut frames = path(1, 100.0, &[180.0, 210.0, 235.0]);
        frames.extend([vec![], vec![], vec![]]);
        frames.extend(path(1, 100.0, &[290.0, 320.0]));
        assert_eq!(crossings(&feed(&mut r, &frames)), vec![(1, Direction::AToB)]);
    }

    #[test]
    fn an_id_switch_at_the_line_does_not_count_the_object_twice() {
        // Track 1 crosses; the tracker loses it and starts track 2 on the same object, whose
        // first box sits back behind the line (jitter), then walks on.
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        let mut frames = path(1, 100.0, &[200.0, 220.0, 252.0]);
        frames.extend(path(2, 100.0, &[226.0, 262.0, 290.0]));
        let ev = feed(&mut r, &frames);
        assert_eq!(crossings(&ev), vec![(1, Direction::AToB)], "{ev:?}");
        // Without the hand-over (another class, so not the same object) track 2 counts.
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        let mut frames = path(1, 100.0, &[200.0, 220.0, 252.0]);
        frames.extend(
            path(2, 100.0, &[226.0, 262.0, 290.0])
                .into_iter()
                .map(|f| f.into_iter().map(|o| Observation { class_id: 1, ..o }).collect::<Vec<_>>()),
        );
        assert_eq!(crossings(&feed(&mut r, &frames)).len(), 2);
    }

    #[test]
    fn the_switch_before_the_line_counts_the_crossing_once() {
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        let mut frames = path(1, 100.0, &[150.0, 200.0, 237.0]);
        frames.extend(path(2, 100.0, &[243.0, 280.0]));
        assert_eq!(crossings(&feed(&mut r, &frames)), vec![(2, Direction::AToB)]);
    }

    #[test]
    fn lines_at_the_frame_edge() {
        // A vertical line 2 % in from the left edge, drawn downwards: side a is to its right
        // on the screen. An object coming in from the left edge crosses it b → a.
        let edge = Regions {
            lines: vec![Line { name: "left".into(), from: [0.02, 0.0], to: [0.02, 1.0], classes: vec![] }],
            zones: vec![],
        };
        let mut r = StreamRegions::new(edge.clone(), 1.0);
        let frames: Vec<_> = [2.0, 6.0, 30.0, 80.0].iter().map(|&x| vec![obs(1, x, 300.0)]).collect();
        assert_eq!(crossings(&feed(&mut r, &frames)), vec![(1, Direction::BToA)]);
        // The full-width line crossed at the very left of the picture (its end point).
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        assert_eq!(crossings(&feed(&mut r, &path(1, 0.0, &[200.0, 300.0]))), vec![(1, Direction::AToB)]);
    }

    #[test]
    fn points_on_a_zone_edge_are_inside() {
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        // Standing on the bottom edge, on the right edge, and one pixel outside the right edge.
        let frame = vec![obs(1, 300.0, 360.0), obs(2, 480.0, 200.0), obs(3, 481.0, 200.0)];
        let ev = feed(&mut r, &[frame.clone(), frame.clone(), frame]);
        let entered: Vec<u32> = ev
            .iter()
            .filter_map(|e| match *e {
                RegionEvent::ZoneEnter { track_id, appeared: true, .. } => Some(track_id),
                _ => None,
            })
            .collect();
        assert_eq!(entered, vec![1, 2]);
        assert_eq!(r.zone_counts()[0], ZoneCount { occupancy: 2, entered: 0, appeared: 2, exited: 0 });
    }

    #[test]
    fn jitter_at_a_zone_edge_does_not_enter_and_leave_again() {
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        // Walks in, jitters across the left edge (x = 160) for a while, walks out.
        let xs = [100.0, 130.0, 170.0, 175.0, 180.0, 158.0, 163.0, 157.0, 165.0, 120.0, 100.0, 90.0];
        let frames: Vec<_> = xs.iter().map(|&x| vec![obs(1, x, 300.0)]).collect();
        let ev = feed(&mut r, &frames);
        let kinds: Vec<&str> = ev.iter().map(RegionEvent::kind).collect();
        assert_eq!(kinds, vec!["zone_enter", "zone_exit"], "{ev:?}");
        assert!(matches!(ev[1], RegionEvent::ZoneExit { dwell_ms: 280, reason: ExitReason::Left, .. }), "{ev:?}");
    }

    #[test]
    fn a_parked_car_whose_id_changes_does_not_enter_again() {
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        let mut frames: Vec<_> = (0..5).map(|_| vec![obs(1, 300.0, 300.0)]).collect();
        // Occluded for two frames, then a new ID at the same place (within lost_s).
        frames.extend([vec![], vec![]]);
        frames.extend((0..5).map(|_| vec![obs(2, 301.0, 300.0)]));
        let ev = feed(&mut r, &frames);
        assert_eq!(ev.iter().filter(|e| e.kind() == "zone_enter").count(), 1, "{ev:?}");
        // Track 1 now ends (lost): its stay went to track 2, so nothing closes.
        r.frame(2000, W, H, &[end(1, 160)], &[obs(2, 301.0, 300.0)]);
        assert!(r.events().is_empty(), "{:?}", r.events());
        assert_eq!(r.zone_counts()[0].occupancy, 1);
        // Track 2 drives out: one exit, dwell from the first entry.
        let out: Vec<_> = (0..3).map(|_| vec![obs(2, 600.0, 300.0)]).collect();
        let mut ev = Vec::new();
        for (i, f) in out.iter().enumerate() {
            r.frame(2040 + i as u64 * 40, W, H, &[], f);
            ev.extend_from_slice(r.events());
        }
        assert!(matches!(ev[..], [RegionEvent::ZoneExit { track_id: 2, stay_id: 1, dwell_ms: 2040, .. }]), "{ev:?}");
        assert_eq!(r.zone_counts()[0], ZoneCount { occupancy: 0, entered: 0, appeared: 1, exited: 1 });
    }

    fn end(id: u32, last_ms: u64) -> TrackEnd {
        TrackEnd {
            track_id: id,
            class_id: 0,
            first_ms: 0,
            last_ms,
            hits: 5,
            bbox: bbox(300.0, 300.0),
            reason: crate::track::EndReason::Lost,
        }
    }

    #[test]
    fn class_flicker_through_the_real_tracker_counts_one_crossing_and_one_entry() {
        // Every third detection of a person walking down through the zone and across the line
        // comes out as another class; the line counts class 0 only.
        let mut tracker = StreamTracker::new(&TrackerSettings::default(), 0.35);
        let mut r = StreamRegions::new(regions(vec![0]), 1.0);
        let at = Continuity { session: 0, width: W, height: H };
        let mut ev = Vec::new();
        let mut seen = Vec::new();
        for i in 0..40u64 {
            let y = 100.0 + i as f32 * 8.0;
            let class_id = u32::from(i % 3 == 2);
            let dets = [Detection { class_id, score: 0.9, bbox: bbox(300.0, y) }];
            tracker.frame(at, i * 40, &dets, 1);
            seen.clear();
            seen.extend(
                tracker.ids().iter().zip(&dets).filter_map(|(id, d)| {
                    id.map(|track_id| Observation { track_id, class_id: d.class_id, bbox: d.bbox })
                }),
            );
            r.frame(i * 40, W, H, tracker.ended(), &seen);
            ev.extend_from_slice(r.events());
        }
        assert_eq!(crossings(&ev).len(), 1, "{ev:?}");
        assert_eq!(ev.iter().filter(|e| e.kind() == "zone_enter").count(), 1, "{ev:?}");
        assert_eq!(r.line_counts()[0], LineCount { a_to_b: 1, b_to_a: 0 });
    }

    #[test]
    fn counts_are_due_every_interval_of_stream_time() {
        let mut r = StreamRegions::new(regions(vec![]), 1.0);
        let due: Vec<u64> = (0..=25).map(|i| i * 400).filter(|&t| r.counts_due(t, Some(1000))).collect();
        assert_eq!(due, vec![1200, 2000, 3200, 4000, 5200, 6000, 7200, 8000, 9200, 10000]);
        assert!(!r.counts_due(100, Some(1000)), "time went back: the period starts again");
        assert!(r.counts_due(1100, Some(1000)));
        assert!(!StreamRegions::new(Regions::default(), 1.0).counts_due(5000, Some(1)), "no zones, no counts");
    }
}
