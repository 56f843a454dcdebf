//! Line crossing for one track and one line: the anchor's path must cut the line segment (a
//! fast object that jumps over it between two frames still counts), and the crossing counts only
//! once the anchor has left a band around the line on the other side (hysteresis: box flicker and
//! an object standing on the line count nothing, or once when it finally leaves).

use super::geometry::{Point, segments_meet, signed_distance};

/// Which way a line was crossed. Side `a` is on the left of the directed line `from`→`to` as seen
/// on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    AToB,
    BToA,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::AToB => "a_to_b",
            Direction::BToA => "b_to_a",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A line in pixels of the current frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub from: Point,
    pub to: Point,
}

/// What one track has done at one line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LineState {
    /// The side the anchor was last seen on outside the band (`true`: side b); None until then.
    settled: Option<bool>,
    /// The anchor's path cut the segment since it was last settled.
    crossed: bool,
    /// The guard: each direction counts at most once per track and line, so that an ID that
    /// jumps between two objects at the line (an ID swap) cannot count the same passage again.
    counted: [bool; 2],
}

impl LineState {
    /// The track's anchor moved from `prev` (None: its first observation) to `now`; `band` is
    /// the half-width of the hysteresis band in pixels. `handed`: this step joins a vanished
    /// track's last place to a new track's first (an ID switch); a crossing on it waits for the
    /// next observation to confirm the side, since the new box may be jittered back over the line.
    pub fn step(
        &mut self,
        line: Segment,
        prev: Option<Point>,
        now: Point,
        band: f64,
        handed: bool,
    ) -> Option<Direction> {
        if let Some(p) = prev
            && segments_meet(p, now, line.from, line.to)
        {
            self.crossed = true;
        }
        let d = signed_distance(line.from, line.to, now);
        if d.abs() <= band {
            return None;
        }
        let side_b = d > 0.0;
        if handed && self.settled.is_some_and(|was_b| was_b != side_b) {
            return None;
        }
        let dir = match self.settled {
            Some(was_b) if was_b != side_b && self.crossed => {
                Some(if side_b { Direction::AToB } else { Direction::BToA })
            }
            _ => None,
        };
        self.settled = Some(side_b);
        self.crossed = false;
        let dir = dir?;
        if std::mem::replace(&mut self.counted[dir.index()], true) {
            return None;
        }
        Some(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A horizontal line at y = 100 from x = 0 to x = 200, drawn left to right: side a is above.
    const LINE: Segment = Segment { from: [0.0, 100.0], to: [200.0, 100.0] };

    fn run(ys: &[f64], x: f64) -> Vec<Direction> {
        let mut s = LineState::default();
        let mut prev = None;
        let mut out = Vec::new();
        for &y in ys {
            out.extend(s.step(LINE, prev, [x, y], 5.0, false));
            prev = Some([x, y]);
        }
        out
    }

    #[test]
    fn a_walk_across_counts_once_in_its_direction() {
        assert_eq!(run(&[60.0, 80.0, 95.0, 104.0, 120.0, 140.0], 50.0), vec![Direction::AToB]);
        assert_eq!(run(&[140.0, 120.0, 80.0], 50.0), vec![Direction::BToA]);
    }

    #[test]
    fn a_jump_over_the_line_between_two_frames_counts() {
        assert_eq!(run(&[40.0, 160.0], 50.0), vec![Direction::AToB]);
    }

    #[test]
    fn hovering_on_the_line_counts_once_when_it_leaves_on_the_other_side() {
        let ys = [80.0, 97.0, 103.0, 98.0, 102.0, 96.0, 104.0, 99.0, 130.0];
        assert_eq!(run(&ys, 50.0), vec![Direction::AToB]);
        // … and nothing when it leaves on the side it came from.
        assert!(run(&[80.0, 97.0, 103.0, 98.0, 102.0, 70.0], 50.0).is_empty());
    }

    #[test]
    fn flicker_across_the_line_within_the_band_counts_nothing() {
        assert!(run(&[80.0, 96.0, 104.0, 96.0, 104.0, 96.0, 80.0], 50.0).is_empty());
    }

    #[test]
    fn passing_beside_the_end_of_the_line_is_no_crossing() {
        assert!(run(&[40.0, 160.0], 250.0).is_empty());
        // The end point itself belongs to the line.
        assert_eq!(run(&[40.0, 160.0], 200.0), vec![Direction::AToB]);
    }

    #[test]
    fn a_track_first_seen_on_the_line_counts_nothing_when_it_leaves() {
        assert!(run(&[101.0, 130.0], 50.0).is_empty());
    }

    #[test]
    fn a_handed_over_step_counts_only_when_the_next_observation_confirms_it() {
        let mut s = LineState::default();
        assert_eq!(s.step(LINE, None, [50.0, 60.0], 5.0, false), None);
        // The new track's first box lies past the line: not yet…
        assert_eq!(s.step(LINE, Some([50.0, 60.0]), [50.0, 130.0], 5.0, true), None);
        // …counted when the next observation is still there.
        assert_eq!(s.step(LINE, Some([50.0, 130.0]), [50.0, 140.0], 5.0, false), Some(Direction::AToB));
        // Jittered back over the line on the hand-over, then on the far side again: nothing.
        let mut s = LineState::default();
        s.step(LINE, None, [50.0, 140.0], 5.0, false);
        assert_eq!(s.step(LINE, Some([50.0, 140.0]), [50.0, 80.0], 5.0, true), None);
        assert_eq!(s.step(LINE, Some([50.0, 80.0]), [50.0, 150.0], 5.0, false), None);
    }

    #[test]
    fn the_guard_counts_each_direction_once_per_track() {
        // Across, back (an ID that jumped to another object behind the line), across again.
        assert_eq!(run(&[40.0, 160.0, 40.0, 160.0], 50.0), vec![Direction::AToB, Direction::BToA]);
    }
}
