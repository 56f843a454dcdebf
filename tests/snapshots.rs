//! `[snapshots]` on real pipelines: the first 150 frames of the bundled street clip (people
//! walking), not in real time, so every frame is processed and the rate limit is judged in
//! stream time (the events' `pts_ms`), which makes the counts deterministic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use gstreamer as gst;
use gstreamer::prelude::*;
use serde_json::Value;

/// The first 150 frames of the bundled clip, made once per test binary.
fn short_clip() -> &'static Path {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let out = dir.join("street150.mp4");
        gst_run(&format!(
            "filesrc location={} ! qtdemux ! h264parse ! decodebin ! identity eos-after=150 ! videoconvert ! \
             x264enc speed-preset=ultrafast key-int-max=30 ! h264parse ! mp4mux ! filesink location={}",
            p(&clip()),
            p(&out)
        ));
        out
    })
}

/// A config for the short clip as stream "cam" with `[snapshots]` holding `snapshots`.
fn config(dir: &Path, snapshots: &str, metrics: Option<&str>) -> (PathBuf, PathBuf) {
    let events = dir.join("events.jsonl");
    let mut b = ConfigBuilder::nanodet(dir).labels().stream("cam", p(short_clip()), "").events(&events);
    if let Some(addr) = metrics {
        b = b.metrics(addr);
    }
    let text = format!("{}\n[snapshots]\ndir = \"{}\"\n{snapshots}", b.text(), p(&dir.join("snaps")));
    let cfg = dir.join("edgesight.toml");
    std::fs::write(&cfg, text).expect("config");
    (cfg, events)
}

fn run(cfg: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_edgesight"))
        .args(["run", "--config", p(cfg)])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .output()
        .expect("run");
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    out
}

fn frame_events(events: &Path) -> Vec<Value> {
    common::events(events).into_iter().filter(|e| e.get("kind").is_none()).collect()
}

/// (width, height) from a baseline JPEG's SOF0, after checking SOI and EOI.
fn jpeg_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "no SOI");
    assert_eq!(&bytes[bytes.len() - 2..], &[0xFF, 0xD9], "no EOI");
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0");
    let h = u16::from_be_bytes([bytes[sof + 5], bytes[sof + 6]]);
    let w = u16::from_be_bytes([bytes[sof + 7], bytes[sof + 8]]);
    (w as u32, h as u32)
}

/// Decodes a JPEG with GStreamer's jpegdec (not the encoder under test) into packed RGB.
fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
    use gstreamer_app as gst_app;
    gst::init().expect("gstreamer");
    let line = format!(
        "filesrc location={} ! jpegdec ! videoconvert ! video/x-raw,format=RGB ! appsink name=out sync=false",
        p(path)
    );
    let pipeline = gst::parse::launch(&line).expect("pipeline").downcast::<gst::Pipeline>().expect("a pipeline");
    let sink = pipeline.by_name("out").expect("appsink").downcast::<gst_app::AppSink>().expect("an appsink");
    pipeline.set_state(gst::State::Playing).expect("playing");
    let sample = sink.pull_sample().expect("a decoded picture");
    let info = gstreamer_video::VideoInfo::from_caps(sample.caps().expect("caps")).expect("video caps");
    let map = sample.buffer().expect("buffer").map_readable().expect("map");
    let (w, h, stride) = (info.width(), info.height(), info.stride()[0] as usize);
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h as usize {
        rgb.extend_from_slice(&map[y * stride..y * stride + w as usize * 3]);
    }
    drop(map);
    pipeline.set_state(gst::State::Null).expect("stopped");
    (w, h, rgb)
}

/// Mean of R - max(G, B) over a column segment: how red it is.
fn redness(rgb: &[u8], w: u32, x: i64, ys: std::ops::Range<i64>) -> f64 {
    let n = ys.clone().count().max(1) as f64;
    ys.map(|y| {
        let i = (y as usize * w as usize + x as usize) * 3;
        rgb[i] as f64 - rgb[i + 1].max(rgb[i + 2]) as f64
    })
    .sum::<f64>()
        / n
}

fn jpg_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(sub.path()).into_iter().flatten().flatten() {
            if f.path().extension().is_some_and(|e| e == "jpg") {
                out.push(f.path());
            }
        }
    }
    out
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for sub in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(files) = std::fs::read_dir(sub.path()) {
            total += files.flatten().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum::<u64>();
        }
    }
    total
}

#[test]
fn snapshots_are_rate_limited_in_stream_time_and_show_the_boxes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let interval_s = 2.0;
    let (cfg, events) = config(dir.path(), &format!("classes = [\"person\"]\nmin_interval_s = {interval_s}\n"), None);
    let out = run(&cfg);
    let evs = frame_events(&events);
    assert_eq!(evs.len() as u64, stats_value(&stderr(&out), "frames"), "every frame has its event");
    assert!(evs.len() >= 150, "{} frames", evs.len());
    let pts = |e: &Value| e["pts_ms"].as_u64().expect("pts_ms");
    let duration_s = (pts(&evs[evs.len() - 1]) - pts(&evs[0])) as f64 / 1e3;
    let snaps: Vec<&Value> = evs.iter().filter(|e| e.get("snapshot").is_some()).collect();
    let most = (duration_s / interval_s).ceil() as usize + 1;
    assert!(!snaps.is_empty() && snaps.len() <= most, "{} snapshots in {duration_s} s (at most {most})", snaps.len());
    for w in snaps.windows(2) {
        let gap = pts(w[1]) - pts(w[0]);
        assert!(gap as f64 >= interval_s * 1e3, "snapshots {gap} ms apart in stream time");
    }
    // With people in almost every frame, the limiter is what spaces them: one per interval.
    assert!(snaps.len() + 1 >= most, "{} snapshots, expected about {most}", snaps.len());
    let snap_dir = dir.path().join("snaps");
    assert_eq!(jpg_files(&snap_dir).len(), snaps.len(), "one file per snapshot event, no .tmp left");
    for e in &snaps {
        let name = e["snapshot"].as_str().expect("a file name");
        assert!(name.starts_with("cam/cam-") && name.ends_with(".jpg"), "{name}");
        let path = snap_dir.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|err| panic!("{name}: {err}"));
        let (w, h) = (e["width"].as_u64().unwrap() as u32, e["height"].as_u64().unwrap() as u32);
        assert_eq!(jpeg_size(&bytes), (w, h), "{name}");
        let dets = e["detections"].as_array().expect("detections");
        assert!(dets.iter().any(|d| d["label"] == "person"), "a snapshot without a person: {e}");
    }
    // The boxes are drawn: the left edge of the best person box of the first snapshot is red
    // (class 0's colour, 255,56,56), the pixels 6 px either side of it much less so.
    let e = snaps[0];
    let (w, h, rgb) = decode(&snap_dir.join(e["snapshot"].as_str().unwrap()));
    assert_eq!((w as u64, h as u64), (e["width"].as_u64().unwrap(), e["height"].as_u64().unwrap()));
    let best = e["detections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["label"] == "person")
        .max_by(|a, b| a["score"].as_f64().partial_cmp(&b["score"].as_f64()).unwrap())
        .unwrap();
    let b: Vec<f64> = best["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let (x0, y0, y1) = (b[0].round() as i64, b[1].round() as i64, b[3].round() as i64);
    assert!(x0 >= 8 && y1 - y0 > 20, "box {b:?} too small or at the border for this check");
    let ys = (y0 + 4)..(y1 - 4).min(h as i64);
    let (edge, outside, inside) =
        (redness(&rgb, w, x0 + 1, ys.clone()), redness(&rgb, w, x0 - 6, ys.clone()), redness(&rgb, w, x0 + 7, ys));
    eprintln!("box edge redness {edge:.0}, outside {outside:.0}, inside {inside:.0}");
    assert!(
        edge > 90.0 && edge > outside + 50.0 && edge > inside + 50.0,
        "box edge redness {edge:.0}, outside {outside:.0}, inside {inside:.0}"
    );
}

#[test]
fn a_class_absent_from_the_clip_takes_no_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cfg, events) = config(dir.path(), "classes = [\"giraffe\"]\nmin_interval_s = 0\n", None);
    let out = run(&cfg);
    let evs = frame_events(&events);
    assert_eq!(evs.len() as u64, stats_value(&stderr(&out), "frames"));
    assert!(evs.iter().any(|e| !e["detections"].as_array().unwrap().is_empty()), "the clip has detections");
    assert!(evs.iter().all(|e| e.get("snapshot").is_none()), "no snapshot key without a triggering class");
    assert!(jpg_files(&dir.path().join("snaps")).is_empty());
}

#[test]
fn the_folder_never_passes_its_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap_mb = 0.25;
    let (cfg, events) =
        config(dir.path(), &format!("min_interval_s = 0\nmax_total_mb = {cap_mb}\nquality = 90\n"), None);
    let snap_dir = dir.path().join("snaps");
    // Files of an earlier run count too: the index is built from the folder at start.
    std::fs::create_dir_all(snap_dir.join("old")).unwrap();
    std::fs::write(snap_dir.join("old/old-1.jpg"), vec![0u8; 100_000]).unwrap();
    let mut child = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_edgesight"))
            .args(["run", "--config", p(&cfg)])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let cap = (cap_mb * 1e6) as u64;
    let mut most = 0;
    while child.try_wait().expect("wait").is_none() {
        most = most.max(dir_bytes(&snap_dir));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(child.wait().expect("exit").success());
    most = most.max(dir_bytes(&snap_dir));
    assert!(most <= cap, "the folder held {most} bytes, cap {cap}");
    let named = frame_events(&events).iter().filter(|e| e.get("snapshot").is_some()).count();
    let kept = jpg_files(&snap_dir).len();
    assert!(named > kept && kept >= 1, "{named} snapshots named, {kept} kept: the oldest must have been removed");
    assert!(!snap_dir.join("old/old-1.jpg").exists(), "the earlier run's file was the oldest");
}

#[test]
fn a_folder_that_becomes_unwritable_counts_failures_and_the_pipeline_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = format!("127.0.0.1:{}", free_port());
    let (cfg, events) = config(dir.path(), "min_interval_s = 0\n", Some(&addr));
    let log = dir.path().join("log");
    let mut child = run_logged(&cfg, &log);
    let stream_dir = dir.path().join("snaps/cam");
    wait_for("a first snapshot", Duration::from_secs(120), || !jpg_files(&dir.path().join("snaps")).is_empty());
    // Works as root too (chmod would not stop root): the stream's folder becomes a plain file.
    wait_for("the stream folder replaced by a file", Duration::from_secs(10), || {
        std::fs::remove_dir_all(&stream_dir).is_ok() && std::fs::write(&stream_dir, b"not a folder").is_ok()
    });
    let metric = |text: &str, key: &str| {
        text.lines().find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse::<u64>().ok())).unwrap_or(0)
    };
    // The failures are counted while the run goes on.
    let (mut failed, mut written) = (0, 0);
    while failed == 0 {
        assert!(child.try_wait().expect("wait").is_none(), "the run ended before a failure was counted");
        let text = http_get(&addr, "/metrics");
        failed = metric(&text, "edgesight_snapshots_total{result=\"failed\"}");
        written = metric(&text, "edgesight_snapshots_total{result=\"written\"}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(written >= 1, "the first snapshot was counted as written");
    let status = status_json(&addr);
    assert!(status["sinks"]["snapshots"]["failed"].as_u64().unwrap_or(0) >= 1, "{status}");
    let out = child.wait_with_output();
    assert!(out.status.success(), "the run did not end well");
    let log = std::fs::read_to_string(&log).expect("log");
    assert!(log.contains("not written"), "the failure is logged:\n{log}");
    assert_eq!(frame_events(&events).len() as u64, stats_value(&log, "frames"), "every frame still has its event");
}

#[test]
fn a_reload_turns_snapshots_on_and_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("events.jsonl");
    let base = ConfigBuilder::nanodet(dir.path())
        .labels()
        .stream("cam", p(short_clip()), "loop = true\n")
        .events(&events)
        .text();
    let cfg = dir.path().join("edgesight.toml");
    std::fs::write(&cfg, &base).expect("config");
    let log = dir.path().join("log");
    let child = run_logged(&cfg, &log);
    wait_for("events", Duration::from_secs(60), || events_of_stream(&events, "cam") > 5);
    let snaps = dir.path().join("snaps");
    std::fs::write(&cfg, format!("{base}\n[snapshots]\ndir = \"{}\"\nmin_interval_s = 0\n", p(&snaps)))
        .expect("config");
    signal(&child, "HUP");
    wait_for("a snapshot after the reload", Duration::from_secs(60), || !jpg_files(&snaps).is_empty());
    std::fs::write(&cfg, &base).expect("config");
    signal(&child, "HUP");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("the second reload", Duration::from_secs(30), || read_log().contains("; snapshots off"));
    // The writer finished its queue before the reload was logged: no file comes after it.
    let files = jpg_files(&snaps).len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(jpg_files(&snaps).len(), files, "no snapshot after they were turned off");
    stop(child);
    assert!(read_log().contains("; snapshots (re)started"), "{}", read_log());
    let named = frame_events(&events).iter().filter(|e| e.get("snapshot").is_some()).count();
    assert_eq!(named, files, "every snapshot named in an event was written, and only those");
}
