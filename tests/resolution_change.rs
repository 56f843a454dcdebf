//! A stream whose resolution changes while it runs (a camera reconfigured; the decoder
//! renegotiates its caps): every frame is read with the size it was decoded at, so events carry
//! the right width and height and boxes are scaled for their own frame. Before, the size came
//! from the newest caps seen at the pipeline's tail, so the frames still in flight at a change
//! got the next frame's size and their boxes were scaled wrong.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// The same six frames of the bundled clip at each size, as one H.264 elementary stream: the
/// decoder meets a new sequence header, and new caps, at every change.
const SIZES: [(u32, u32); 3] = [(640, 480), (320, 240), (800, 600)];
const FRAMES: u64 = 6;

fn encode_segment(out: &Path, width: u32, height: u32) {
    gst_run(&format!(
        "filesrc location={} ! decodebin ! identity eos-after={FRAMES} ! videoconvert ! videoscale ! \
         video/x-raw,width={width},height={height} ! x264enc speed-preset=ultrafast tune=zerolatency ! \
         video/x-h264,stream-format=byte-stream,alignment=au ! filesink location={}",
        clip().display(),
        out.display()
    ));
}

/// The segments, and the clip that chains them.
fn changing_clip(dir: &Path) -> (Vec<std::path::PathBuf>, std::path::PathBuf) {
    let mut all = Vec::new();
    let mut segments = Vec::new();
    for (i, (w, h)) in SIZES.iter().enumerate() {
        let seg = dir.join(format!("seg{i}.h264"));
        encode_segment(&seg, *w, *h);
        all.extend(std::fs::read(&seg).expect("segment"));
        segments.push(seg);
    }
    let path = dir.join("changes.h264");
    std::fs::write(&path, all).expect("clip");
    (segments, path)
}

fn detect(config: &Path, input: &Path) -> Vec<Value> {
    let o = edgesight(&["detect", "--config", p(config), p(input)], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    parse_lines(&stdout(&o))
}

/// The chained clip gives, frame for frame, what each segment gives alone: its size, and the
/// same detections (the same pictures, decoded after a renegotiation instead of from the start).
fn check(config: &Path, segments: &[std::path::PathBuf], chained: &Path) {
    let events = detect(config, chained);
    let mut next = 0usize;
    for (s, seg) in segments.iter().enumerate() {
        let alone = detect(config, seg);
        assert!(alone.len() >= FRAMES as usize, "segment {s}: {} frames", alone.len());
        for a in &alone {
            let e = events.get(next).unwrap_or_else(|| panic!("the chained clip ends before segment {s}"));
            let (w, h) = SIZES[s];
            assert_eq!((e["width"].as_u64(), e["height"].as_u64()), (Some(w as u64), Some(h as u64)), "{e}");
            assert_eq!(e["detections"], a["detections"], "segment {s} frame {}: {e}\nalone: {a}", a["frame"]);
            next += 1;
        }
    }
    assert_eq!(next, events.len(), "no frame more than the segments have");
    assert!(events.iter().any(|e| !e["detections"].as_array().is_none_or(Vec::is_empty)), "detections to compare");
}

#[test]
fn every_frame_keeps_the_size_it_was_decoded_at() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (segments, chained) = changing_clip(dir.path());
    // Resize in the preprocessor (the default).
    check(&root().join("configs/x86-dev.toml"), &segments, &chained);
    // resize = "capture": GStreamer scales each frame; its source size travels with it.
    let cfg = ConfigBuilder::nanodet(dir.path()).labels().write();
    let text = std::fs::read_to_string(&cfg).expect("cfg") + "\n[pipeline]\nresize = \"capture\"\n";
    std::fs::write(&cfg, text).expect("cfg");
    check(&cfg, &segments, &chained);
}
