//! Capture that stays up, against a real RTSP server (gst-rtsp-server, scripts/rtsp_server.py):
//! the server is killed and restarted three times and frames come back each time within the
//! backoff cap + 2 s with the reconnect counter equal to the outages; a server that stops
//! sending without closing triggers the stall path within stall_timeout + 1 s.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Starts the RTSP server (no authentication) and waits for its READY line.
fn server(port: u16) -> Proc {
    rtsp_server(port, None)
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name_and_labels} in:\n{text}"))
}

fn events_count(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().filter(|l| l.ends_with('}')).count()).unwrap_or(0)
}

fn start_edgesight(dir: &Path, rtsp_port: u16, metrics: &str, stream_extra: &str) -> (Proc, std::path::PathBuf) {
    let events = dir.join("events.jsonl");
    let cfg = ConfigBuilder::nanodet(dir)
        .threads(1)
        .stream("cam", &format!("rtsp://127.0.0.1:{rtsp_port}/test"), &format!("latency_ms = 0\n{stream_extra}"))
        .events(&events)
        .metrics(metrics)
        .write();
    let child = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_edgesight"))
            .args(["run", "--config", p(&cfg)])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    (child, events)
}

#[test]
fn reconnects_after_every_server_outage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut srv = server(port);
    let cap = 2.0;
    let (mut es, events) = start_edgesight(
        dir.path(),
        port,
        &metrics,
        &format!("backoff_initial_s = 0.5\nbackoff_max_s = {cap}\nstall_timeout_s = 3\n"),
    );
    wait_for("first frames", Duration::from_secs(60), || events_count(&events) > 5);
    for outage in 1..=3 {
        let _ = srv.kill();
        let _ = srv.wait();
        std::thread::sleep(Duration::from_secs(3));
        assert!(es.try_wait().expect("status").is_none(), "edgesight exited during outage {outage}");
        let before = events_count(&events);
        srv = server(port);
        let back = wait_for("frames after the restart", Duration::from_secs(30), || events_count(&events) > before + 2);
        assert!(
            back.as_secs_f64() <= cap + 2.0 + 1.0,
            "outage {outage}: frames came back {back:?} after the restart (cap {cap} s + 2 s, +1 s for 3 frames)"
        );
        let m = http_get(&metrics, "/metrics");
        assert_eq!(metric(&m, "edgesight_reconnects_total{stream=\"cam\"}") as u32, outage, "{m}");
    }
    let m = http_get(&metrics, "/metrics");
    assert_eq!(metric(&m, "edgesight_stream_up{stream=\"cam\"}"), 1.0);
    let retries: f64 = ["error", "eos", "stall"]
        .iter()
        .map(|r| metric(&m, &format!("edgesight_stream_retries_total{{stream=\"cam\",reason=\"{r}\"}}")))
        .sum();
    assert!(retries >= 3.0, "{m}");
    let status = http_get(&metrics, "/status");
    assert!(status.contains("\"reconnects\":3"), "{status}");
    assert!(http_get(&metrics, "/healthz").starts_with("HTTP/1.1 200"));
    stop(es);
    let _ = srv.kill();
}

#[test]
fn a_server_that_stops_sending_triggers_the_stall_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut srv = server(port);
    let stall = 3.0;
    let (es, events) = start_edgesight(
        dir.path(),
        port,
        &metrics,
        &format!("stall_timeout_s = {stall}\nbackoff_initial_s = 0.5\nbackoff_max_s = 1\n"),
    );
    wait_for("first frames", Duration::from_secs(60), || events_count(&events) > 5);
    // Stop sending without closing the session.
    let paused_at = Instant::now();
    signal(&srv, "USR1");
    let stall_metric = "edgesight_stream_retries_total{stream=\"cam\",reason=\"stall\"}";
    let detected = wait_for("the stall retry", Duration::from_secs(30), || {
        metric(&http_get(&metrics, "/metrics"), stall_metric) >= 1.0
    });
    let after = paused_at.elapsed().max(detected);
    assert!(after.as_secs_f64() <= stall + 1.0, "stall detected after {after:?} (stall_timeout {stall} s + 1 s)");
    assert!(after.as_secs_f64() >= stall - 0.5, "stall detected too early: {after:?}");
    signal(&srv, "USR2");
    stop(es);
    let _ = srv.kill();
    let _ = srv.wait();
}
