//! SIGHUP reloads that must really swap what runs (docs/ops/ops_runbook.md, "Reload or
//! restart?"): a new model (NanoDet → the SSDLite person detector: the events carry the new
//! model's class ids), a new event file (the events after the swap land in it, none in the old
//! one), a new log level (debug lines appear, then go again), and a reload refused because its
//! model cannot be loaded (missing, or damaged in place): the running configuration goes on and
//! /status, /healthz and /metrics say so; a refused reload that would have restarted the metrics
//! listener leaves it serving.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// `edgesight run` with its stderr lines collected as they come.
struct Service {
    child: Proc,
    rx: Receiver<String>,
    log: Vec<String>,
}

impl Service {
    /// Without RUST_LOG, which would override `device.log_level`.
    fn start(cfg: &Path) -> Service {
        let mut child = Proc::spawn(
            Command::new(env!("CARGO_BIN_EXE_edgesight"))
                .args(["run", "--config", p(cfg)])
                .env_remove("RUST_LOG")
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let rx = stderr_lines(&mut child);
        Service { child, rx, log: Vec::new() }
    }

    fn lines(&mut self) -> &[String] {
        self.log.extend(self.rx.try_iter());
        &self.log
    }

    /// SIGHUP, then the first line of its answer (`configuration reloaded: …` or `reload
    /// refused, …`). Every line the reload logged comes before its answer.
    fn reload(&mut self) -> String {
        let is_answer = |l: &String| l.contains("configuration reloaded: ") || l.contains("reload refused");
        let before = self.lines().iter().filter(|l| is_answer(l)).count();
        signal(&self.child, "HUP");
        wait_for("the reload's answer", Duration::from_secs(120), || {
            self.lines().iter().filter(|l| is_answer(l)).count() > before
        });
        self.log.iter().filter(|l| is_answer(l)).nth(before).expect("an answer").clone()
    }

    /// SIGTERM, a clean exit, the whole log.
    fn stop(mut self) -> Vec<String> {
        signal(&self.child, "TERM");
        let status = self.child.wait().expect("exit");
        self.log.extend(self.rx.iter());
        assert_eq!(status.code(), Some(0), "{:#?}", self.log);
        self.log
    }
}

fn detections(e: &Value) -> Vec<Value> {
    e["detections"].as_array().cloned().unwrap_or_default()
}

/// A person as each model reports it: NanoDet's COCO labels count from 0, the SSDLite labels
/// file starts with "background", so its person is class 1.
fn person_of(e: &Value, class_id: u64) -> bool {
    detections(e).iter().any(|d| d["label"] == "person" && d["class_id"] == class_id)
}

#[test]
fn a_reload_to_another_model_runs_the_new_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("events.jsonl");
    let clip = format!("file://{}", clip().display());
    let config = |b: ConfigBuilder| b.stream("walk", &clip, "loop = true\n").events(&ev).write();
    let cfg = config(ConfigBuilder::nanodet(dir.path()).labels());
    let mut svc = Service::start(&cfg);
    wait_for("NanoDet's persons", Duration::from_secs(120), || {
        events(&ev).iter().filter(|e| person_of(e, 0)).count() >= 3
    });

    config(
        ConfigBuilder::nanodet(dir.path())
            .model_of_family("ssdlite_mobilenet_v2_person.onnx", "ssd")
            .labels_file("ssdlite_person_labels.txt"),
    );
    let answer = svc.reload();
    assert!(answer.contains("configuration reloaded") && answer.contains("model reloaded"), "{answer}");
    wait_for("SSDLite's persons", Duration::from_secs(120), || {
        events(&ev).iter().filter(|e| person_of(e, 1)).count() >= 5
    });
    svc.stop();

    // One model, then the other, never a mix: before the first SSDLite event only NanoDet's
    // classes, from it on only SSDLite's one class.
    let all = events(&ev);
    let swap = all.iter().position(|e| person_of(e, 1)).expect("an SSDLite event");
    assert!(swap >= 3, "NanoDet ran first");
    assert!(!all[..swap].iter().any(|e| person_of(e, 1)));
    for e in &all[swap..] {
        for d in detections(e) {
            assert!(d["label"] == "person" && d["class_id"] == 1, "a NanoDet detection after the swap: {e}");
        }
    }
}

#[test]
fn a_reload_to_another_event_file_writes_every_later_event_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = (dir.path().join("old.jsonl"), dir.path().join("new.jsonl"));
    let config = |ev: &Path| {
        ConfigBuilder::nanodet(dir.path())
            .labels()
            .stream("cam", "test://ball?width=160&height=120&fps=10", "")
            .events(ev)
            .write()
    };
    let mut svc = Service::start(&config(&old));
    wait_for("events in the old file", Duration::from_secs(60), || events(&old).len() >= 3);

    config(&new);
    let answer = svc.reload();
    assert!(answer.ends_with("1 stream(s) kept, 0 stopped, 0 started; model unchanged"), "{answer}");
    // The old file is flushed and let go before the first event goes to the new one.
    wait_for("an event in the new file", Duration::from_secs(60), || !events(&new).is_empty());
    let in_old = std::fs::read_to_string(&old).expect("old file");
    wait_for("more events in the new file", Duration::from_secs(60), || events(&new).len() >= 6);
    let log = svc.stop();

    assert_eq!(std::fs::read_to_string(&old).expect("old file"), in_old, "the old file grew after the swap");
    assert!(in_old.ends_with('\n'), "the old file ends with a whole line");
    let (old_events, new_events) = (parse_lines(&in_old), parse_lines(&std::fs::read_to_string(&new).expect("new")));
    let frame = |e: &Value| e["frame"].as_u64().expect("frame");
    let last_old = old_events.iter().map(frame).max().expect("old events");
    let first_new = new_events.iter().map(frame).min().expect("new events");
    assert!(last_old < first_new, "the stream ran on: frames {last_old} then {first_new}");
    let processed = stats_value(&log.join("\n"), "frames");
    assert_eq!((old_events.len() + new_events.len()) as u64, processed, "every event in one of the two files");
}

#[test]
fn a_reload_turns_debug_lines_on_and_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("events.jsonl");
    // Opening a stream logs its pipeline at debug level: the line shows which level is in force.
    let patterns = [("a", "ball"), ("b", "snow"), ("c", "smpte")];
    let config = |level: &str, streams: usize| {
        let mut b = ConfigBuilder::nanodet(dir.path()).labels().log_level(level).events(&ev);
        for (name, pattern) in &patterns[..streams] {
            b = b.stream(name, &format!("test://{pattern}?width=160&height=120&fps=10"), "");
        }
        b.write()
    };
    let debug_line = |log: &[String], pattern: &str| {
        log.iter().any(|l| l.contains("DEBUG") && l.contains("pipeline:") && l.contains(&format!("pattern={pattern}")))
    };
    let mut svc = Service::start(&config("info", 1));
    wait_for("events from a", Duration::from_secs(60), || events(&ev).iter().any(|e| e["stream"] == "a"));
    assert!(!svc.lines().iter().any(|l| l.contains("DEBUG")), "no debug line at info: {:#?}", svc.log);

    config("debug", 1);
    assert!(svc.reload().contains("configuration reloaded"));
    // A stream opened after that reload logs its pipeline.
    config("debug", 2);
    assert!(svc.reload().contains("configuration reloaded: 1 stream(s) kept, 0 stopped, 1 started"));
    assert!(debug_line(svc.lines(), "snow"), "debug line of stream b: {:#?}", svc.log);

    config("info", 2);
    assert!(svc.reload().contains("configuration reloaded"));
    config("info", 3);
    assert!(svc.reload().contains("configuration reloaded: 2 stream(s) kept, 0 stopped, 1 started"));
    wait_for("events from c", Duration::from_secs(60), || events(&ev).iter().any(|e| e["stream"] == "c"));
    let log = svc.stop();
    assert!(!debug_line(&log, "smpte"), "debug line after the level went back to info: {log:#?}");
}

#[test]
fn a_reload_whose_model_cannot_load_is_refused_and_the_running_configuration_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("events.jsonl");
    let running_model = dir.path().join("detector.onnx");
    std::fs::copy(model("nanodet_g_416_coco.onnx"), &running_model).expect("copy the model");
    let addr = format!("127.0.0.1:{}", free_port());
    let config = |model: &Path, stream: &str| {
        ConfigBuilder::nanodet(dir.path())
            .model_path(model)
            .labels()
            .stream(stream, "test://ball?width=160&height=120&fps=10", "")
            .events(&ev)
            .metrics(&addr)
            .write()
    };
    let mut svc = Service::start(&config(&running_model, "cam"));
    wait_for("events", Duration::from_secs(60), || events(&ev).len() >= 3);

    // A model path that does not exist, in a configuration that also renames the stream.
    let missing = dir.path().join("missing.onnx");
    config(&missing, "renamed");
    let answer = svc.reload();
    let expected = format!("cannot read model file {}: No such file or directory", missing.display());
    assert!(
        answer.contains("reload refused, the running configuration stays: ") && answer.contains(&expected),
        "{answer}"
    );

    // The running model's own file damaged in place (a copy cut short): same path, new content.
    let bytes = std::fs::read(&running_model).expect("model");
    std::fs::write(&running_model, &bytes[..bytes.len() / 2]).expect("damage the model");
    config(&running_model, "renamed");
    let answer = svc.reload();
    assert!(
        answer.contains("reload refused, the running configuration stays: ")
            && answer.contains("is not a loadable ONNX model")
            && answer.contains("copy or export it again"),
        "{answer}"
    );
    assert!(svc.lines().iter().any(|l| l.contains("the model or labels file changed on disk; loading it again")));

    // Still the old configuration: stream "cam" up and counting, no "renamed".
    let frames = |metrics: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with("edgesight_frames_total{stream=\"cam\"}"));
        line.and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{metrics}"))
    };
    let before = frames(&http_get(&addr, "/metrics"));
    let n = events(&ev).len();
    wait_for("events after the refusals", Duration::from_secs(60), || events(&ev).len() >= n + 5);
    let metrics = http_get(&addr, "/metrics");
    assert!(frames(&metrics) >= before + 5.0, "frames counted on: {metrics}");
    assert!(!metrics.contains("renamed"), "{metrics}");
    let health = http_get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.0 200") || health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("1/1 streams up"), "{health}");
    let status = http_get(&addr, "/status");
    let body: Value = serde_json::from_str(status.split("\r\n\r\n").nth(1).expect("a body")).expect("JSON");
    assert!(status.contains("\"cam\"") && !status.contains("renamed"), "{status}");
    assert!(body.to_string().contains("\"up\""), "{status}");
    svc.stop();
    assert!(events(&ev).iter().all(|e| e["stream"] == "cam"), "no event of the refused configuration");
}

#[test]
fn a_refused_reload_that_would_restart_the_metrics_listener_leaves_it_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("events.jsonl");
    let addr = format!("127.0.0.1:{}", free_port());
    let config = |device: &str, missing_stream: bool| {
        let mut b = ConfigBuilder::nanodet(dir.path())
            .device(device)
            .labels()
            .stream("cam", "test://ball?width=160&height=120&fps=10", "")
            .events(&ev)
            .metrics(&addr);
        if missing_stream {
            b = b.stream("missing", "file:///nonexistent/clip.mp4", "");
        }
        b.write()
    };
    let mut svc = Service::start(&config("gate", false));
    wait_for("events", Duration::from_secs(60), || events(&ev).len() >= 3);
    // A new device name restarts the listener (it reports the name); the new stream cannot
    // open, so the whole reload is refused.
    config("gate-2", true);
    let answer = svc.reload();
    assert!(answer.contains("reload refused") && answer.contains("missing"), "{answer}");
    let health = http_get(&addr, "/healthz");
    assert!(health.contains(" 200 ") && health.contains("1/1 streams up"), "{health}");
    assert!(http_get(&addr, "/status").contains("\"device\":\"gate\""));
    // Without the stream the same change is applied: the listener restarted with the new name.
    config("gate-2", false);
    assert!(svc.reload().contains("configuration reloaded"));
    assert!(http_get(&addr, "/status").contains("\"device\":\"gate-2\""));
    svc.stop();
}

/// A reload that changes a stream's zones and lines keeps the stream and its tracker running:
/// the stays in the old zones end (`reason: "reconfigured"`), the line kept by name keeps
/// counting from where it was, the new line appears in the counts, and no track ends.
#[test]
fn a_reload_of_zones_and_lines_keeps_the_stream_and_its_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("events.jsonl");
    let zones = |polygon: &str, extra_line: &str| {
        ConfigBuilder::nanodet(dir.path())
            .labels()
            .threads(2)
            .stream(
                "clip",
                &format!("file://{}", clip().display()),
                &format!(
                    "realtime = true\nloop = true\n[[stream.line]]\nname = \"mid\"\nfrom = [0.0, 0.5]\nto = [1.0, 0.5]\n\
                     [[stream.zone]]\nname = \"floor\"\npolygon = {polygon}\n{extra_line}"
                ),
            )
            .events(&events)
            .text()
            + "\n[tracking]\ncounts_interval_s = 1\n"
    };
    let cfg = dir.path().join("edgesight.toml");
    std::fs::write(&cfg, zones("[[0.1, 0.3], [0.9, 0.3], [0.9, 0.95], [0.1, 0.95]]", "")).expect("config");
    let mut svc = Service::start(&cfg);
    let read = || -> Vec<Value> {
        std::fs::read_to_string(&events)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    wait_for("a zone entry and a counts event", Duration::from_secs(120), || {
        let e = read();
        e.iter().any(|e| e["kind"] == "zone_enter") && e.iter().any(|e| e["kind"] == "counts")
    });
    let new = "[[stream.line]]\nname = \"low\"\nfrom = [0.0, 0.8]\nto = [1.0, 0.8]\n";
    std::fs::write(&cfg, zones("[[0.2, 0.5], [0.8, 0.5], [0.8, 0.9], [0.2, 0.9]]", new)).expect("config");
    let answer = svc.reload();
    assert!(answer.contains("1 stream(s) kept, 0 stopped, 0 started"), "{answer}");
    let before = read();
    wait_for("counts with the new line", Duration::from_secs(60), || {
        read().iter().skip(before.len()).any(|e| e["kind"] == "counts" && e["lines"].get("low").is_some())
    });
    svc.stop();
    let all = read();
    let at = before.len();
    let (old, after) = all.split_at(at);
    // Every stay open at the reload ended then, as "reconfigured" (or earlier, as usual).
    let mut open = std::collections::BTreeSet::new();
    for e in old.iter().chain(after) {
        match e["kind"].as_str() {
            Some("zone_enter") => assert!(open.insert(e["stay_id"].as_u64().expect("stay")), "{e}"),
            Some("zone_exit") => assert!(open.remove(&e["stay_id"].as_u64().expect("stay")), "{e}"),
            _ => {}
        }
    }
    assert!(open.is_empty(), "stays never closed: {open:?}");
    let reconfigured = all.iter().filter(|e| e["reason"] == "reconfigured").count();
    let resets = all.iter().filter(|e| e["kind"] == "track_end" && e["reason"] == "reset").count();
    let last_before = old.iter().rev().find(|e| e["kind"] == "counts").expect("counts before");
    let last = all.iter().rev().find(|e| e["kind"] == "counts").expect("counts after");
    let crossings =
        |c: &Value| c["lines"]["mid"]["a_to_b"].as_u64().unwrap() + c["lines"]["mid"]["b_to_a"].as_u64().unwrap();
    assert!(crossings(last) >= crossings(last_before), "the kept line counts on: {last_before} → {last}");
    assert!(last["zones"]["floor"].is_object() && last["lines"]["low"].is_object(), "{last}");
    // The tracks went on: the only resets are those of the final stop, after the last frame.
    let last_frame = all.iter().rposition(|e| e.get("kind").is_none()).expect("frame events");
    assert!(
        all.iter().enumerate().all(|(i, e)| !(e["kind"] == "track_end" && e["reason"] == "reset") || i > last_frame),
        "a track was reset before the stop"
    );
    println!("reload of zones: {reconfigured} stays ended as reconfigured, {resets} resets at the stop");
}

/// The status line of an RTSP DESCRIBE of `rtsp://127.0.0.1:port/path` ("RTSP/1.0 200 OK", …).
fn describe(port: u16, path: &str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return "no connection".into() };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = write!(s, "DESCRIBE rtsp://127.0.0.1:{port}/{path} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n");
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line.trim_end().to_string()
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

#[test]
fn a_reload_that_adds_a_stream_visualises_it_and_one_that_removes_it_closes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("events.jsonl");
    let (port, file) = (free_port(), dir.path().join("vis.mkv"));
    let config = |streams: &[&str]| {
        let mut b = ConfigBuilder::nanodet(dir.path()).labels().events(&ev);
        for s in streams {
            b = b.stream(s, "test://ball?width=160&height=120&fps=10", "");
        }
        let text = b.text()
            + &format!("\n[visualise]\nrtsp_listen = \"127.0.0.1:{port}\"\nfile = \"{}\"\nfps = 10\n", file.display());
        let path = dir.path().join("edgesight.toml");
        std::fs::write(&path, text).expect("config");
        path
    };
    let mut svc = Service::start(&config(&["a"]));
    wait_for("events of a", Duration::from_secs(60), || events_of_stream(&ev, "a") >= 3);
    assert_eq!(describe(port, "b"), "RTSP/1.0 404 Not Found", "no mount for a stream not configured");

    config(&["a", "b"]);
    let answer = svc.reload();
    assert!(answer.contains("visualised streams +b"), "{answer}");
    // The running stream keeps its file; the new one gets its own, and a mount.
    let b_file = dir.path().join("vis-b.mkv");
    wait_for("b's file", Duration::from_secs(60), || file_size(&b_file) > 1000);
    assert_eq!(describe(port, "b"), "RTSP/1.0 200 OK", "b's mount");
    assert_eq!(describe(port, "a"), "RTSP/1.0 200 OK", "a's mount");

    config(&["a"]);
    let answer = svc.reload();
    assert!(answer.contains("visualised streams -b"), "{answer}");
    assert_eq!(describe(port, "b"), "RTSP/1.0 404 Not Found", "b's mount is gone");
    // b's file is finished: it no longer grows; a's still does.
    let (b_size, a_size) = (file_size(&b_file), file_size(&file));
    let a_events = events_of_stream(&ev, "a");
    wait_for("more events of a", Duration::from_secs(60), || events_of_stream(&ev, "a") >= a_events + 20);
    wait_for("a's file growing", Duration::from_secs(60), || file_size(&file) > a_size);
    assert_eq!(file_size(&b_file), b_size, "b's file grew after its stream was removed");
    assert_eq!(describe(port, "a"), "RTSP/1.0 200 OK", "a's mount");
    svc.stop();
}
