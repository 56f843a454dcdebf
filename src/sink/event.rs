//! The detection event (DESIGN.md): one JSON object per processed frame, also the MQTT payload.
//!
//! `{"ts", "stream", "frame", "pts_ms", "width", "height", "latency_ms", "detections": [{"label",
//! "class_id", "score", "bbox": [x1, y1, x2, y2]}]}`, boxes in source-frame pixels. Scores are
//! rounded to 4 decimals and coordinates to 0.1 px: finer digits are noise.

use std::time::SystemTime;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::detect::{Detection, Labels};

pub struct Event<'a> {
    pub ts: SystemTime,
    pub stream: &'a str,
    pub frame: u64,
    pub pts_ms: Option<u64>,
    pub width: u32,
    pub height: u32,
    pub latency_ms: f64,
    pub detections: &'a [Detection],
    pub labels: &'a Labels,
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

struct Dets<'a>(&'a [Detection], &'a Labels);
struct Det<'a>(&'a Detection, &'a Labels);
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
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("label", self.1.name(self.0.class_id))?;
        m.serialize_entry("class_id", &self.0.class_id)?;
        m.serialize_entry("score", &(round(self.0.score as f64, 4) as f32))?;
        m.serialize_entry("bbox", &BBox(&self.0.bbox))?;
        m.end()
    }
}

impl Serialize for Dets<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for d in self.0 {
            seq.serialize_element(&Det(d, self.1))?;
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
        m.serialize_entry("detections", &Dets(self.detections, self.labels))?;
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
            labels: &labels,
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
    }
}
