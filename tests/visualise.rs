//! `[visualise]`: the annotated streams over edgesight's own RTSP server and to a file.
//! - A GStreamer client (rtspsrc, in this test) plays rtsp://127.0.0.1:PORT/demo while edgesight
//!   runs on the realtime looped clip: decoded frames of the clip's size, with the person boxes'
//!   pure green on them, a colour no frame of the un-annotated clip has; /metrics counts the sent
//!   frames and times the stage.
//! - `file = ….mkv` on a non-realtime clip run to its end: the file decodes with the clip's
//!   frame count (± 2), scaled to `width`.
//! - Without `[visualise]` edgesight listens on no TCP port at all (no metrics either here).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

const PATIENCE: Duration = Duration::from_secs(120);

/// Pixels close to the person boxes' colour (pure green), allowing for H.264 and chroma loss.
fn green_pixels(rgb: &[u8]) -> usize {
    rgb.chunks_exact(3).filter(|p| p[1] > 170 && p[0] < 110 && p[2] < 110).count()
}

/// A pipeline ending in `appsink name=sink` (RGB), playing.
fn client(line: &str) -> (gst::Pipeline, gst_app::AppSink) {
    gst::init().expect("gstreamer");
    let pipeline = gst::parse::launch(line).expect("launch").downcast::<gst::Pipeline>().expect("pipeline");
    let sink = pipeline.by_name("sink").expect("sink").downcast::<gst_app::AppSink>().expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("playing");
    (pipeline, sink)
}

/// (width, height, RGB bytes) of a sample.
fn rgb(sample: &gst::Sample) -> (i32, i32, Vec<u8>) {
    let s = sample.caps().and_then(|c| c.structure(0).map(|s| s.to_owned())).expect("caps");
    let (w, h) = (s.get::<i32>("width").expect("width"), s.get::<i32>("height").expect("height"));
    let map = sample.buffer().expect("buffer").map_readable().expect("map");
    // videoconvert's RGB rows are 4-byte aligned: keep the pixels only.
    let stride = map.len() / h as usize;
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h as usize {
        out.extend_from_slice(&map[y * stride..y * stride + w as usize * 3]);
    }
    (w, h, out)
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name_and_labels} in:\n{text}"))
}

#[test]
fn the_rtsp_mount_plays_the_stream_with_boxes_drawn() {
    let dir = tempfile::tempdir().expect("tmp");
    let (port, metrics) = (free_port(), format!("127.0.0.1:{}", free_port()));
    let cfg = ConfigBuilder::nanodet(dir.path())
        .labels()
        .stream("demo", &format!("file:{}", clip().display()), "realtime = true\nloop = true\n")
        .events(&dir.path().join("events.jsonl"))
        .metrics(&metrics)
        .text()
        + &format!("\n[visualise]\nrtsp_listen = \"127.0.0.1:{port}\"\nfps = 10\n");
    let path = dir.path().join("edgesight.toml");
    std::fs::write(&path, cfg).expect("config");
    let _run = run_logged(&path, &dir.path().join("log"));
    wait_for("the RTSP port", PATIENCE, || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());

    let (pipeline, sink) = client(&format!(
        "rtspsrc location=rtsp://127.0.0.1:{port}/demo protocols=tcp latency=0 ! rtph264depay ! h264parse ! \
         avdec_h264 ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false max-buffers=4 drop=true"
    ));
    let start = Instant::now();
    let mut frames = 0;
    let mut most_green = 0;
    while frames < 30 && start.elapsed() < PATIENCE {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(5)) else { continue };
        let (w, h, data) = rgb(&sample);
        assert_eq!((w, h), (768, 576), "the clip's size");
        most_green = most_green.max(green_pixels(&data));
        frames += 1;
    }
    pipeline.set_state(gst::State::Null).expect("stopped");
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    assert!(frames >= 30, "{frames} frames decoded from the mount in {PATIENCE:?}; log:\n{log}");

    // The same clip without annotations has no such green.
    let (source, sink) = client(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
        clip().display()
    ));
    let mut source_green = 0;
    for _ in 0..60 {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) else { break };
        source_green = source_green.max(green_pixels(&rgb(&sample).2));
    }
    source.set_state(gst::State::Null).expect("stopped");
    eprintln!("box-green pixels: at most {most_green} in a received frame, {source_green} in the clip");
    // A 4-pixel outline of one 30 x 60 person box alone is about 700 pixels.
    assert!(most_green > 500, "the most box-green pixels in a received frame: {most_green}");
    assert!(source_green < 50, "the un-annotated clip has {source_green} box-green pixels");

    let text = http_get(&metrics, "/metrics");
    let sent = metric(&text, "edgesight_visualise_frames_total{stream=\"demo\",result=\"sent\"}");
    let _dropped = metric(&text, "edgesight_visualise_frames_total{stream=\"demo\",result=\"dropped\"}");
    let timed = metric(&text, "edgesight_stage_seconds_count{stage=\"visualise\"}");
    assert!(sent >= 30.0 && timed == sent, "sent {sent}, timed {timed}:\n{text}");
}

#[test]
fn the_file_holds_every_frame_scaled_to_width() {
    let dir = tempfile::tempdir().expect("tmp");
    let clip = dir.path().join("clip.mp4");
    make_clip(&clip, 60, "ball");
    let out = dir.path().join("annotated.mkv");
    let cfg = ConfigBuilder::nanodet(dir.path())
        .labels()
        .stream("demo", &format!("file:{}", clip.display()), "")
        .events(&dir.path().join("events.jsonl"))
        .text()
        + &format!("\n[visualise]\nfile = \"{}\"\nfps = 120\nwidth = 160\n", out.display());
    let path = dir.path().join("edgesight.toml");
    std::fs::write(&path, cfg).expect("config");
    let o = edgesight(&["run", "--config", p(&path)], &[]);
    assert!(o.status.success(), "run: {}", stderr(&o));
    let (pipeline, sink) = client(&format!(
        "filesrc location={} ! matroskademux ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=RGB ! \
         appsink name=sink sync=false",
        out.display()
    ));
    let mut frames = 0;
    let mut size = None;
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        let (w, h, _) = rgb(&sample);
        size = Some((w, h));
        frames += 1;
    }
    pipeline.set_state(gst::State::Null).expect("stopped");
    assert_eq!(size, Some((160, 120)), "scaled to width = 160");
    assert!((58..=60).contains(&frames), "{frames} frames in {}, the clip has 60", out.display());
}

/// TCP sockets in LISTEN state held by process `pid` (from /proc).
fn listening(pid: u32) -> Vec<String> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                out.push(f[1].to_string());
            }
        }
    }
    out
}

#[test]
fn without_visualise_no_port_is_opened() {
    let dir = tempfile::tempdir().expect("tmp");
    let events = dir.path().join("events.jsonl");
    let cfg = ConfigBuilder::nanodet(dir.path())
        .stream("demo", &format!("file:{}", common::clip().display()), "realtime = true\nloop = true\n")
        .events(&events)
        .write();
    let run = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_edgesight"))
            .args(["run", "--config", p(&cfg)])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_for("events", PATIENCE, || events_count(&events) >= 3);
    assert_eq!(listening(run.id()), Vec::<String>::new(), "listening sockets of edgesight");
    assert!(Path::new(&format!("/proc/{}", run.id())).exists(), "still running");
}

#[test]
fn frames_an_encoder_cannot_take_are_dropped_and_counted_not_queued() {
    assert_test_hooks();
    let dir = tempfile::tempdir().expect("tmp");
    let (metrics, out) = (format!("127.0.0.1:{}", free_port()), dir.path().join("slow.mkv"));
    let events = dir.path().join("events.jsonl");
    let cfg = ConfigBuilder::nanodet(dir.path())
        .labels()
        .stream("cam", "test://ball?width=160&height=120&fps=10", "")
        .events(&events)
        .metrics(&metrics)
        .text()
        + &format!("\n[visualise]\nfile = \"{}\"\nfps = 30\n", out.display());
    let path = dir.path().join("edgesight.toml");
    std::fs::write(&path, cfg).expect("config");
    // An encoder that takes 400 ms a frame against 10 shown frames a second: once it holds
    // `QUEUE` (4) frames, most shown frames must be dropped.
    let run = run_service(&path, &[("EDGESIGHT_TEST_VISUAL_DELAY_MS", "400")]);
    wait_for("the metrics listener", PATIENCE, || std::net::TcpStream::connect(&metrics).is_ok());
    let scrape = || http_get(&metrics, "/metrics");
    let count = |text: &str, result: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(&format!("edgesight_visualise_frames_total{{stream=\"cam\",result=\"{result}\"}}"))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    };
    wait_for("25 dropped frames", PATIENCE, || count(&scrape(), "dropped") >= 25.0);
    let text = scrape();
    let (sent, dropped) = (count(&text, "sent"), count(&text, "dropped"));
    let timed = metric(&text, "edgesight_stage_seconds_count{stage=\"visualise\"}");
    let processed = metric(&text, "edgesight_frames_total{stream=\"cam\"}");
    stop(run);
    // Every shown frame is either sent or dropped, the dropped ones are not drawn (not timed),
    // and the inference loop went on at the source's pace instead of waiting for the encoder.
    assert!(sent >= 4.0, "the first frames fill the encoder's queue: sent {sent}");
    assert_eq!(timed, sent, "only sent frames are drawn and timed:\n{text}");
    assert!(dropped > sent, "the encoder took ~2.5 of 10 frames a second: sent {sent}, dropped {dropped}");
    // (+1: a scrape may fall between a frame's visualisation count and its processed count.)
    assert!(processed + 1.0 >= sent + dropped, "{processed} frames processed, {sent} sent + {dropped} dropped");
    // What was sent was encoded: the file holds at least the frames sent when scraped.
    let (pipeline, sink) = client(&format!(
        "filesrc location={} ! matroskademux ! h264parse ! avdec_h264 ! appsink name=sink sync=false",
        out.display()
    ));
    let mut frames = 0.0;
    while sink.try_pull_sample(gst::ClockTime::from_seconds(10)).is_some() {
        frames += 1.0;
    }
    pipeline.set_state(gst::State::Null).expect("stopped");
    eprintln!("sent {sent}, dropped {dropped}, processed {processed}; {frames} frames in the file");
    assert!(frames >= sent, "{frames} frames in the file, {sent} sent");
}
