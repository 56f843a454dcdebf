//! `edgesight run` end to end: real GStreamer pipelines (files, live test pattern), ONNX Runtime,
//! events to a JSONL file, clean shutdown on SIGINT, start-up failures with their exit codes.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Device "test", the COCO labels, 2 inference threads.
fn config(dir: &Path) -> ConfigBuilder {
    ConfigBuilder::nanodet(dir).device("test").labels().threads(2)
}

#[test]
fn files_are_processed_frame_by_frame_into_the_event_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("clip.mp4");
    make_clip(&clip, 20, "ball");
    let events = dir.path().join("events.jsonl");
    let cfg = config(dir.path())
        .stream("clip", &format!("file://{}", clip.display()), "")
        .stream("still", p(&image("basketball1.png")), "")
        .stream("off", "test://", "enabled = false\n")
        .events(&events)
        .write();
    let o = edgesight(&["run", "--config", p(&cfg)], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines = parse_lines(&std::fs::read_to_string(&events).expect("events"));
    let frames = |name: &str| -> Vec<u64> {
        lines.iter().filter(|e| e["stream"] == name).map(|e| e["frame"].as_u64().unwrap_or(u64::MAX)).collect()
    };
    assert_eq!(frames("clip"), (0..20).collect::<Vec<_>>(), "every frame of the clip, in order");
    assert_eq!(frames("still"), vec![0]);
    assert!(frames("off").is_empty(), "disabled streams do not run");
    assert_eq!(stats_value(&stderr(&o), "frames"), lines.len() as u64, "stats agree with events");
    let person = &lines.iter().find(|e| e["stream"] == "still").expect("still event")["detections"][0];
    assert_eq!(person["label"], "person");
    let clip_event = lines.iter().find(|e| e["stream"] == "clip").expect("clip event");
    assert_eq!(clip_event["width"], 320);
}

#[test]
fn sigint_stops_a_live_run_cleanly_with_every_event_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("events.jsonl");
    let cfg = config(dir.path()).stream("live", "test://ball?width=320&height=240&fps=30", "").events(&events).write();
    let child = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_edgesight"))
            .args(["run", "--config", p(&cfg)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    // Wait for events to flow, then interrupt.
    wait_for("5 events", Duration::from_secs(60), || {
        std::fs::read_to_string(&events).map_or(0, |t| t.lines().count()) >= 5
    });
    signal(&child, "INT");
    let out = child.wait_with_output();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    let text = std::fs::read_to_string(&events).expect("events");
    assert!(text.ends_with('\n'), "last event complete");
    let lines = parse_lines(&text);
    assert_eq!(stats_value(&err, "frames"), lines.len() as u64, "every processed frame has its event");
    // A live source is never queued: frames the engine could not take are dropped and counted.
    let numbers: Vec<u64> = lines.iter().map(|e| e["frame"].as_u64().unwrap_or(0)).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "frame numbers increase");
}

#[test]
fn startup_failures_have_their_exit_codes_and_write_no_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("events.jsonl");
    // Source missing: 4.
    let cfg = config(dir.path()).stream("gone", "file:///nonexistent/clip.mp4", "").events(&events).write();
    let o = edgesight(&["run", "--config", p(&cfg)], &[]);
    assert_fails(&o, 4, &["stream \"gone\"", "/nonexistent/clip.mp4"]);
    assert_eq!(std::fs::read_to_string(&events).unwrap_or_default(), "");
    // Output directory missing: 5.
    let cfg =
        config(dir.path()).stream("a", "test://", "").events(&dir.path().join("no/such/dir/events.jsonl")).write();
    let o = edgesight(&["run", "--config", p(&cfg)], &[]);
    assert_fails(&o, 5, &["no/such/dir", "output.jsonl.path"]);
    // No stream: 2.
    let cfg = config(dir.path()).events(&events).write();
    let o = edgesight(&["run", "--config", p(&cfg)], &[]);
    assert_fails(&o, 2, &["no enabled [[stream]]"]);
    // GPU engine on a CPU build: 3, never a silent CPU fallback.
    let text = std::fs::read_to_string(&cfg)
        .expect("cfg")
        .replace("family = \"nanodet\"", "family = \"nanodet\"\nengine = \"tensorrt\"");
    std::fs::write(&cfg, format!("{text}[[stream]]\nname = \"a\"\nuri = \"test://\"\n")).expect("write");
    let o = edgesight(&["run", "--config", p(&cfg)], &[]);
    assert_fails(&o, 3, &["tensorrt", "onnx-cpu"]);
}
