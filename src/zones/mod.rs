//! Zones and lines: per stream, after the tracker. An object's position is its box's
//! bottom-centre (its anchor: where it stands); a line counts the anchors that cross it, a zone
//! the tracks inside it, with events for each crossing, entry, exit and long stay, and periodic
//! counts (docs/ops/ops_runbook.md, "Zones and lines").
//!
//! `geometry.rs` is the plane geometry, `line.rs` the crossing of one track at one line,
//! `zone.rs` the presence of one track in one zone, `stream.rs` all of them for one stream.
//! Coordinates in the configuration are fractions of the frame (0–1), so a resolution change
//! keeps them; they are scaled to pixels per frame size.

pub mod geometry;
pub mod line;
pub mod stats;
pub mod stream;
pub mod zone;

pub use line::Direction;
pub use stats::{RegionStats, StreamCounts};
pub use stream::{LineCount, Observation, StreamRegions, ZoneCount};

use geometry::Point;

/// `[[stream.line]]` as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSpec {
    pub name: String,
    pub from: Point,
    pub to: Point,
    /// Labels counted; empty: all.
    pub classes: Vec<String>,
}

/// `[[stream.zone]]` as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneSpec {
    pub name: String,
    pub polygon: Vec<Point>,
    pub classes: Vec<String>,
    /// Observations in a row that must agree before an entry or exit holds.
    pub inertia: u32,
    /// Report a stay this long (`zone_loiter`); None: never.
    pub loiter_s: Option<f64>,
}

/// The zones and lines of one stream, as configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegionsConfig {
    pub lines: Vec<LineSpec>,
    pub zones: Vec<ZoneSpec>,
}

impl RegionsConfig {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.zones.is_empty()
    }
}

/// A line with its classes as ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    pub from: Point,
    pub to: Point,
    /// Class ids counted; empty: all.
    pub classes: Vec<u32>,
}

/// A zone with its classes as ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: String,
    pub polygon: Vec<Point>,
    /// Class ids watched; empty: all.
    pub classes: Vec<u32>,
    pub inertia: u32,
    pub loiter_ms: Option<u64>,
}

impl Line {
    pub fn applies_to(&self, class_id: u32) -> bool {
        self.classes.is_empty() || self.classes.contains(&class_id)
    }
}

impl Zone {
    pub fn applies_to(&self, class_id: u32) -> bool {
        self.classes.is_empty() || self.classes.contains(&class_id)
    }
}

/// The zones and lines of one stream, ready to run (labels resolved by `runtime::assemble`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Regions {
    pub lines: Vec<Line>,
    pub zones: Vec<Zone>,
}

/// What happened at a line or in a zone in one frame. `t_ms` is stream time (the frame's
/// timestamp); indices are into `Regions::lines` / `zones`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RegionEvent {
    LineCross {
        line: usize,
        track_id: u32,
        class_id: u32,
        t_ms: u64,
        direction: Direction,
    },
    /// `t_ms`: when the stay began (the first of the `inertia` observations inside); `stay_id`
    /// numbers the stays of the stream from 1, never reused while the process lives.
    ZoneEnter {
        zone: usize,
        track_id: u32,
        stay_id: u64,
        class_id: u32,
        t_ms: u64,
        appeared: bool,
    },
    /// `stay_id`: the stay this exit ends (from its `ZoneEnter`); its track may differ from the
    /// one that entered when an ID switch handed the stay over.
    ZoneExit {
        zone: usize,
        track_id: u32,
        stay_id: u64,
        class_id: u32,
        t_ms: u64,
        dwell_ms: u64,
        reason: ExitReason,
    },
    ZoneLoiter {
        zone: usize,
        track_id: u32,
        stay_id: u64,
        class_id: u32,
        t_ms: u64,
        dwell_ms: u64,
    },
}

/// Why a stay in a zone ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// The object was seen outside (`inertia` observations in a row).
    Left,
    /// Its track ended inside: lost for `lost_s`, or the stream stopped or was reset.
    TrackEnd,
    /// A reload changed the stream's zones or lines.
    Reconfigured,
}

impl ExitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Left => "left",
            ExitReason::TrackEnd => "track_end",
            ExitReason::Reconfigured => "reconfigured",
        }
    }
}

impl RegionEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            RegionEvent::LineCross { .. } => "line_cross",
            RegionEvent::ZoneEnter { .. } => "zone_enter",
            RegionEvent::ZoneExit { .. } => "zone_exit",
            RegionEvent::ZoneLoiter { .. } => "zone_loiter",
        }
    }
}
