//! GStreamer's own words ("Internal data stream error", "This file contains no playable streams",
//! "Could not open resource for reading and writing") used to reach the user as they were; now
//! each known error is given its cause and fix, with GStreamer's text kept after them.

mod common;

use std::process::Command;

use common::*;

fn detect(input: &std::path::Path) -> std::process::Output {
    edgesight(&["detect", "--config", p(&root().join("configs/x86-dev.toml")), p(input)], &[])
}

/// Encodes with gst-launch-1.0 (gstreamer1.0-tools).
fn gst_launch(line: &str) {
    let ok = Command::new("gst-launch-1.0").arg("-q").args(line.split(' ')).status().expect("gst-launch-1.0");
    assert!(ok.success(), "gst-launch-1.0 {line}");
}

#[test]
fn media_errors_name_their_cause_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An audio-only file: "Internal data stream error" from the demuxer (not linked).
    let audio = dir.path().join("audio.m4a");
    gst_launch(&format!(
        "audiotestsrc num-buffers=20 ! audioconvert ! avenc_aac ! aacparse ! mp4mux ! filesink location={}",
        audio.display()
    ));
    assert_fails(
        &detect(&audio),
        4,
        &["the input has no decodable video stream", "(GStreamer: \"Internal data stream error\""],
    );
    // A truncated MP4 whose index is cut: "This file contains no playable streams".
    let full = dir.path().join("av.mp4");
    make_clip(&full, 30, "ball");
    let bytes = std::fs::read(&full).expect("clip");
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).expect("cut");
    let o = detect(&cut);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("damaged, truncated or empty") || stderr(&o).contains("without a single video frame"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn camera_errors_name_their_cause_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let check = |uri: &str| {
        let cfg = ConfigBuilder::nanodet(dir.path()).stream("cam", uri, "").events(&dir.path().join("e.jsonl")).write();
        edgesight(&["check", "--quiet", "--config", p(&cfg)], &[])
    };
    // Nothing listens on the port: "Could not open resource for reading and writing".
    let closed = free_port();
    assert_fails(
        &check(&format!("rtsp://127.0.0.1:{closed}/test")),
        4,
        &["cannot connect: the camera refused or did not answer", "check the address and port"],
    );
    // A server that does not know the path: 404.
    let port = free_port();
    let _server = rtsp_server(port, None);
    assert_fails(
        &check(&format!("rtsp://127.0.0.1:{port}/nothing-here")),
        4,
        &["does not know this stream path (404)"],
    );
}
