//! File sources as the runbook describes them: `loop = true` starts again at the end without an
//! outage; `loop = false` ends (state `ended`, and `run` exits 0 once every stream has ended);
//! `realtime = true` plays at the clip's frame rate, measured on the product's own timestamps.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

/// `frames` frames at `fps` frames per second, H.264 in MP4.
fn clip_at(path: &Path, frames: u32, fps: u32) {
    gst_run(&format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width=320,height=240,framerate={fps}/1 ! \
         x264enc ! h264parse ! mp4mux ! filesink location={}",
        path.display()
    ));
}

/// Milliseconds since the Unix epoch of an event's `ts` (`2026-11-30T12:22:42.383Z`).
fn ts_ms(e: &serde_json::Value) -> f64 {
    let t = e["ts"].as_str().expect("ts");
    let time = t.split('T').nth(1).expect("time").trim_end_matches('Z');
    let mut parts = time.split(':').map(|p| p.parse::<f64>().expect("number"));
    let (h, m, s) = (parts.next().unwrap_or(0.0), parts.next().unwrap_or(0.0), parts.next().unwrap_or(0.0));
    ((h * 60.0 + m) * 60.0 + s) * 1000.0
}

#[test]
fn a_looped_file_starts_again_without_an_outage_and_an_unlooped_one_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("ten.mp4");
    clip_at(&clip, 10, 10);
    let ev = dir.path().join("looped.jsonl");
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = ConfigBuilder::nanodet(dir.path())
        .stream("file", &format!("file:{}", clip.display()), "loop = true\n")
        .events(&ev)
        .metrics(&addr)
        .write();
    let child = run_service(&cfg, &[]);
    wait_for("35 events: three and a half passes of a 10-frame clip", Duration::from_secs(180), || {
        events(&ev).len() >= 35
    });
    let status = status_json(&addr);
    let s = &status["streams"][0];
    assert_eq!(s["state"], "up", "a looped file is not ended: {status}");
    assert_eq!(s["reconnects"], 0, "a loop is not an outage: {status}");
    stop(child);

    // The same clip without loop: ten events, state ended, and run exits 0 by itself.
    let ev2 = dir.path().join("once.jsonl");
    let cfg2 =
        ConfigBuilder::nanodet(dir.path()).stream("file", &format!("file:{}", clip.display()), "").events(&ev2).write();
    let o = std::process::Command::new("timeout")
        .args(["120", env!("CARGO_BIN_EXE_edgesight"), "run", "--config", p(&cfg2)])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(events(&ev2).len(), 10, "every frame once");
    assert!(stderr(&o).contains("Ended"), "the end log names the state: {}", stderr(&o));
}

#[test]
fn realtime_plays_a_file_at_its_frame_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clip = dir.path().join("slow.mp4");
    // 20 frames at 5 fps: 4 s of video, which this machine decodes and detects in well under that.
    clip_at(&clip, 20, 5);
    let ev = dir.path().join("events.jsonl");
    let cfg = ConfigBuilder::nanodet(dir.path())
        .stream("file", &format!("file:{}", clip.display()), "realtime = true\n")
        .events(&ev)
        .write();
    let o = std::process::Command::new("timeout")
        .args(["120", env!("CARGO_BIN_EXE_edgesight"), "run", "--config", p(&cfg)])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = events(&ev);
    assert!(e.len() >= 15, "newest-frame delivery may skip a few, not most: {} events", e.len());
    let (first, last) = (&e[0], &e[e.len() - 1]);
    let video = last["pts_ms"].as_f64().expect("pts") - first["pts_ms"].as_f64().expect("pts");
    let wall = ts_ms(last) - ts_ms(first);
    let ratio = wall / video;
    assert!((0.85..=1.5).contains(&ratio), "events follow the clip's clock: {wall:.0} ms for {video:.0} ms of video");
}

/// `pipeline.decoder_threads` reaches the software H.264 decoder (libav `max-threads`): as set
/// through the capture options, as configured through `run`, and by the rule when 0 (the cores
/// the engine's threads leave free, at least one).
#[test]
fn the_decoder_gets_the_configured_threads() {
    use edgesight::capture::{CaptureOptions, GstCapture, SourceSpec};
    let stop = std::sync::atomic::AtomicBool::new(false);
    let spec = SourceSpec::File { path: clip() };
    for n in [0u32, 1, 3] {
        let opts = CaptureOptions { decoder_threads: n, ..CaptureOptions::default() };
        let cap = GstCapture::open(&spec, &opts, &stop).expect("open the clip");
        assert_eq!(cap.decoder_threads(), Some(n), "0 leaves libav's own choice");
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let short = dir.path().join("three.mp4");
    clip_at(&short, 3, 10);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let by_rule = cores.saturating_sub(1).max(1);
    for (table, want) in [("[pipeline]\ndecoder_threads = 2\n", 2), ("", by_rule)] {
        let mut text = ConfigBuilder::nanodet(dir.path())
            .threads(1)
            .stream("file", &format!("file:{}", short.display()), "")
            .events(&dir.path().join("ev.jsonl"))
            .text();
        text += table;
        let cfg = dir.path().join("edgesight.toml");
        std::fs::write(&cfg, text).expect("config");
        let o = std::process::Command::new("timeout")
            .args(["120", env!("CARGO_BIN_EXE_edgesight"), "run", "--config", p(&cfg)])
            .env("RUST_LOG", "edgesight::capture=debug")
            .output()
            .expect("run");
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stderr(&o).contains(&format!("max-threads = {want}")), "{table:?}: {}", stderr(&o));
    }
}
