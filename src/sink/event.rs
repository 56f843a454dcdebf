//! The detection event (DESIGN.md): one JSON object per processed frame, also the MQTT payload.
//!
//! `{"ts", "stream", "frame", "pts_ms", "width", "height", "latency_ms", "detections": [{"label",
//! "class_id", "score", "bbox": [x1, y1, x2, y2], "track_id"}]}`, boxes in source-frame pixels;
//! `track_id` only with a tracker (null on a detection that is on no confirmed track). Scores are
//! rounded to 4 decimals and coordinates to 0.1 px: finer digits are noise.
//!
//! With a tracker, the end of a confirmed track is its own line: `{"kind": "track_end", "ts",
//! "stream", "track_id", "label", "class_id", "first_pts_ms", "last_pts_ms", "frames", "bbox",
//! "reason"}` (docs/specs/model_interface.md).

use std::time::SystemTime;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::detect::{Detection, Labels};
use crate::track::TrackEnd;
use crate::zones::{RegionEvent, Regions, StreamRegions};

pub struct Event<'a> {
    pub ts: SystemTime,
    pub stream: &'a str,
    pub frame: u64,
    pub pts_ms: Option<u64>,
    pub width: u32,
    pub height: u32,
    pub latency_ms: f64,
    pub detections: &'a [Detection],
    /// Track ID per detection, same order; empty without a tracker (no `track_id` key then).
    pub track_ids: &'a [Option<u32>],
    pub labels: &'a Labels,
    /// The snapshot taken of this frame, relative to `snapshots.dir` (`"snapshot"` key, only when one was).
    pub snapshot: Option<&'a str>,
}

/// An event that is not a frame's: it carries its own `"kind"`, and on MQTT goes to its own topic
/// (`<prefix>/<device>/<stream>/<kind>`).
pub enum KindEvent<'a> {
    TrackEnd(TrackEndEvent<'a>),
    /// `line_cross`, `zone_enter`, `zone_exit`, `zone_loiter`.
    Region(RegionEventOut<'a>),
    /// `counts`: the stream's line and zone counts, periodically.
    Counts(CountsEvent<'a>),
}

impl KindEvent<'_> {
    /// The `"kind"` field and the topic's last level.
    pub fn kind(&self) -> &'static str {
        match self {
            KindEvent::TrackEnd(_) => "track_end",
            KindEvent::Region(e) => e.event.kind(),
            KindEvent::Counts(_) => "counts",
        }
    }

    pub fn stream(&self) -> &str {
        match self {
            KindEvent::TrackEnd(e) => e.stream,
            KindEvent::Region(e) => e.stream,
            KindEvent::Counts(e) => e.stream,
        }
    }
}

impl Serialize for KindEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            KindEvent::TrackEnd(e) => e.serialize(s),
            KindEvent::Region(e) => e.serialize(s),
            KindEvent::Counts(e) => e.serialize(s),
        }
    }
}

/// The end of a confirmed track (`"kind": "track_end"`).
pub struct TrackEndEvent<'a> {
    pub ts: SystemTime,
    pub stream: &'a str,
    pub end: &'a TrackEnd,
    pub labels: &'a Labels,
}

impl Serialize for TrackEndEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.end;
        let mut m = s.serialize_map(Some(11))?;
        m.serialize_entry("kind", "track_end")?;
        m.serialize_entry("ts", &humantime::format_rfc3339_millis(self.ts).to_string())?;
        m.serialize_entry("stream", self.stream)?;
        m.serialize_entry("track_id", &e.track_id)?;
        m.serialize_entry("label", self.labels.name(e.class_id))?;
        m.serialize_entry("class_id", &e.class_id)?;
        m.serialize_entry("first_pts_ms", &e.first_ms)?;
        m.serialize_entry("last_pts_ms", &e.last_ms)?;
        m.serialize_entry("frames", &e.hits)?;
        m.serialize_entry("bbox", &BBox(&e.bbox))?;
        m.serialize_entry("reason", e.reason.as_str())?;
        m.end()
    }
}

/// A zone or line event of one stream.
pub struct RegionEventOut<'a> {
    pub ts: SystemTime,
    pub stream: &'a str,
    pub event: &'a RegionEvent,
    pub regions: &'a Regions,
    pub labels: &'a Labels,
}

impl Serialize for RegionEventOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", self.event.kind())?;
        m.serialize_entry("ts", &humantime::format_rfc3339_millis(self.ts).to_string())?;
        m.serialize_entry("stream", self.stream)?;
        let (track_id, class_id, t_ms) = match *self.event {
            RegionEvent::LineCross { line, track_id, class_id, t_ms, direction } => {
                m.serialize_entry("line", &self.regions.lines[line].name)?;
                m.serialize_entry("direction", direction.as_str())?;
                (track_id, class_id, t_ms)
            }
            RegionEvent::ZoneEnter { zone, track_id, stay_id, class_id, t_ms, appeared } => {
                m.serialize_entry("zone", &self.regions.zones[zone].name)?;
                m.serialize_entry("appeared_inside", &appeared)?;
                m.serialize_entry("stay_id", &stay_id)?;
                (track_id, class_id, t_ms)
            }
            RegionEvent::ZoneExit { zone, track_id, stay_id, class_id, t_ms, dwell_ms, reason } => {
                m.serialize_entry("zone", &self.regions.zones[zone].name)?;
                m.serialize_entry("dwell_ms", &dwell_ms)?;
                m.serialize_entry("reason", reason.as_str())?;
                m.serialize_entry("stay_id", &stay_id)?;
                (track_id, class_id, t_ms)
            }
            RegionEvent::ZoneLoiter { zone, track_id, stay_id, class_id, t_ms, dwell_ms } => {
                m.serialize_entry("zone", &self.regions.zones[zone].name)?;
                m.serialize_entry("dwell_ms", &dwell_ms)?;
                m.serialize_entry("stay_id", &stay_id)?;
                (track_id, class_id, t_ms)
            }
        };
        m.serialize_entry("pts_ms", &t_ms)?;
        m.serialize_entry("track_id", &track_id)?;
        m.serialize_entry("label", self.labels.name(class_id))?;
        m.serialize_entry("class_id", &class_id)?;
        m.end()
    }
}

/// The counts of a stream's lines and zones (`"kind": "counts"`).
pub struct CountsEvent<'a> {
    pub ts: SystemTime,
    pub stream: &'a str,
    pub pts_ms: u64,
    pub regions: &'a StreamRegions,
}

struct LineCounts<'a>(&'a StreamRegions);
struct ZoneCounts<'a>(&'a StreamRegions);

impl Serialize for LineCounts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(Some(r.line_counts().len()))?;
        for (l, c) in r.regions().lines.iter().zip(r.line_counts()) {
            m.serialize_entry(&l.name, c)?;
        }
        m.end()
    }
}

impl Serialize for ZoneCounts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(Some(r.zone_counts().len()))?;
        for (z, c) in r.regions().zones.iter().zip(r.zone_counts()) {
            m.serialize_entry(&z.name, c)?;
        }
        m.end()
    }
}

impl Serialize for CountsEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("kind", "counts")?;
        m.serialize_entry("ts", &humantime::format_rfc3339_millis(self.ts).to_string())?;
        m.serialize_entry("stream", self.stream)?;
        m.serialize_entry("pts_ms", &self.pts_ms)?;
        m.serialize_entry("lines", &LineCounts(self.regions))?;
        m.serialize_entry("zones", &ZoneCounts(self.regions))?;
        m.end()
    }
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

struct Dets<'a>(&'a [Detection], &'a [Option<u32>], &'a Labels);
/// A detection, its track ID (outer None: no tracker) and the labels.
struct Det<'a>(&'a Detection, Option<Option<u32>>, &'a Labels);
struct BBox<'a>(&'a [f32; 4]);

impl Serialize for BBox<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(4))?;
        for v in self.0 {
            seq.serialize_element(&(round(*v as f64, 1) as f32))?;
        }
        seq.end()
    }
}

impl Serialize for Det<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4 + usize::from(self.1.is_some())))?;
        m.serialize_entry("label", self.2.name(self.0.class_id))?;
        m.serialize_entry("class_id", &self.0.class_id)?;
        m.serialize_entry("score", &(round(self.0.score as f64, 4) as f32))?;
        m.serialize_entry("bbox", &BBox(&self.0.bbox))?;
        if let Some(id) = self.1 {
            m.serialize_entry("track_id", &id)?;
        }
        m.end()
    }
}

impl Serialize for Dets<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (i, d) in self.0.iter().enumerate() {
            // Without a tracker the list is empty: no key at all.
            let id = (!self.1.is_empty()).then(|| self.1.get(i).copied().flatten());
            seq.serialize_element(&Det(d, id, self.2))?;
        }
        seq.end()
    }
}

impl Serialize for Event<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(8))?;
        m.serialize_entry("ts", &humantime::format_rfc3339_millis(self.ts).to_string())?;
        m.serialize_entry("stream", self.stream)?;
        m.serialize_entry("frame", &self.frame)?;
        m.serialize_entry("pts_ms", &self.pts_ms)?;
        m.serialize_entry("width", &self.width)?;
        m.serialize_entry("height", &self.height)?;
        m.serialize_entry("latency_ms", &round(self.latency_ms, 2))?;
        m.serialize_entry("detections", &Dets(self.detections, self.track_ids, self.labels))?;
        if let Some(name) = self.snapshot {
            m.serialize_entry("snapshot", name)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_and_rounding() {
        let labels = Labels::from_names(["person", "bicycle"]);
        let dets = [Detection { class_id: 1, score: 0.873_456, bbox: [1.04, 2.96, 100.25, 50.0] }];
        let ev = Event {
            ts: SystemTime::UNIX_EPOCH,
            stream: "gate",
            frame: 7,
            pts_ms: Some(700),
            width: 640,
            height: 480,
            latency_ms: 12.345_6,
            detections: &dets,
            track_ids: &[],
            labels: &labels,
            snapshot: None,
        };
        let v: serde_json::Value = serde_json::from_str(&serde_json::to_string(&ev).unwrap()).unwrap();
        assert_eq!(v["ts"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["stream"], "gate");
        assert_eq!(v["frame"], 7);
        assert_eq!(v["pts_ms"], 700);
        assert_eq!(v["latency_ms"], 12.35);
        let d = &v["detections"][0];
        assert_eq!(d["label"], "bicycle");
        assert_eq!(d["class_id"], 1);
        assert_eq!(d["score"].as_f64().unwrap() as f32, 0.8735f32);
        let b: Vec<f32> = d["bbox"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(b, vec![1.0, 3.0, 100.3, 50.0]);
        assert!(d.get("track_id").is_none(), "no tracker, no key");
    }

    #[test]
    fn track_ids_and_track_end() {
        let labels = Labels::from_names(["person"]);
        let d = Detection { class_id: 0, score: 0.9, bbox: [0.0, 0.0, 1.0, 1.0] };
        let dets = [d, d];
        let ev = Event {
            ts: SystemTime::UNIX_EPOCH,
            stream: "gate",
            frame: 7,
            pts_ms: None,
            width: 640,
            height: 480,
            latency_ms: 1.0,
            detections: &dets,
            track_ids: &[Some(3), None],
            labels: &labels,
            snapshot: None,
        };
        let v: serde_json::Value = serde_json::to_value(&ev).unwrap();
        assert!(v.get("snapshot").is_none(), "no snapshot key without a snapshot");
        let with = serde_json::to_value(&Event { snapshot: Some("gate/gate-x.jpg"), ..ev }).unwrap();
        assert_eq!(with["snapshot"], "gate/gate-x.jpg");
        assert_eq!(v["detections"][0]["track_id"], 3);
        assert!(v["detections"][1]["track_id"].is_null() && v["detections"][1].get("track_id").is_some());
        let end = TrackEnd {
            track_id: 3,
            class_id: 0,
            first_ms: 100,
            last_ms: 900,
            hits: 20,
            bbox: [1.04, 2.0, 3.0, 4.0],
            reason: crate::track::EndReason::Lost,
        };
        let e = TrackEndEvent { ts: SystemTime::UNIX_EPOCH, stream: "gate", end: &end, labels: &labels };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"kind":"track_end","ts":"1970-01-01T00:00:00.000Z","stream":"gate","track_id":3,"label":"person","class_id":0,"first_pts_ms":100,"last_pts_ms":900,"frames":20,"bbox":[1.0,2.0,3.0,4.0],"reason":"lost"}"#
        );
    }
}
