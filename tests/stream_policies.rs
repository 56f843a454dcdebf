//! Stream policies end to end.
//! - `fps_limit`: a camera-like file stream (the bundled 10 fps clip played in real time) limited
//!   to 2 fps gets about a fifth of its frames processed, the rest dropped and counted with the
//!   reason `fps_limit` in /status, /metrics and the end log. Ratios of counts, not wall-clock
//!   windows: the machine's speed does not move them.
//! - `max_retries`: one stream gives up and stays failed while another keeps running, and the
//!   service stays healthy.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_stream_fps_limit_keeps_that_rate_and_counts_the_rest_as_fps_limit_drops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = ConfigBuilder::nanodet(dir.path())
        .stream("cam", &format!("file:{}", clip().display()), "realtime = true\nfps_limit = 2\n")
        .events(&dir.path().join("events.jsonl"))
        .metrics(&addr)
        .write();
    let mut child = run_service(&cfg, &[]);
    let lines = stderr_lines(&mut child);
    // 60 decoded frames (6 s of the clip) is enough for the ratio; generous time-out.
    let mut seen = serde_json::Value::Null;
    wait_for("60 frames decoded", Duration::from_secs(120), || {
        seen = status_json(&addr);
        let s = &seen["streams"][0];
        s["frames"].as_u64().unwrap_or(0) + s["dropped"]["fps_limit"].as_u64().unwrap_or(0) >= 60
    });
    let s = &seen["streams"][0];
    let (kept, limited) = (s["frames"].as_u64().unwrap_or(0), s["dropped"]["fps_limit"].as_u64().unwrap_or(0));
    let ratio = kept as f64 / (kept + limited) as f64;
    assert!(
        (0.12..=0.32).contains(&ratio),
        "2 of 10 fps expected: {kept} kept, {limited} limited ({ratio:.2}): {seen}"
    );
    let metrics = http_get(&addr, "/metrics");
    let line = metrics
        .lines()
        .find(|l| l.starts_with("edgesight_frames_dropped_total{") && l.contains("reason=\"fps_limit\""))
        .unwrap_or_else(|| panic!("no fps_limit drop counter: {metrics}"));
    let counted: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a value");
    assert!(counted >= limited as f64, "{line} vs /status {limited}");
    signal(&child, "TERM");
    assert_eq!(child.wait().expect("exit").code(), Some(0));
    let log: Vec<String> = lines.try_iter().collect();
    let end = log.iter().find(|l| l.contains("stream \"cam\"")).unwrap_or_else(|| panic!("{log:?}"));
    assert!(end.contains("dropped (fps_limit)"), "{end}");
}

#[test]
fn max_retries_fails_one_stream_while_the_others_keep_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = format!("127.0.0.1:{}", free_port());
    // Nothing listens on this port: every attempt is refused at once.
    let dead = format!("rtsp://127.0.0.1:{}/cam", free_port());
    let cfg = ConfigBuilder::nanodet(dir.path())
        .stream("dead", &dead, "max_retries = 2\nbackoff_initial_s = 0.2\nbackoff_max_s = 0.5\n")
        .stream("live", "test://ball?width=160&height=120&fps=10", "")
        .events(&dir.path().join("events.jsonl"))
        .metrics(&addr)
        .write();
    let child = run_service(&cfg, &[]);
    let state = |s: &serde_json::Value, name: &str| {
        s["streams"].as_array().and_then(|a| a.iter().find(|x| x["name"] == name).cloned()).unwrap_or_default()
    };
    let mut seen = serde_json::Value::Null;
    wait_for("the dead stream to fail", Duration::from_secs(120), || {
        seen = status_json(&addr);
        state(&seen, "dead")["state"] == "failed"
    });
    let before = state(&seen, "live")["frames"].as_u64().unwrap_or(0);
    assert!(state(&seen, "live")["state"] == "up", "the other stream is up: {seen}");
    // The failed stream stays failed and the live one keeps going.
    wait_for("20 more frames on the live stream", Duration::from_secs(120), || {
        seen = status_json(&addr);
        state(&seen, "live")["frames"].as_u64().unwrap_or(0) >= before + 20
    });
    assert_eq!(state(&seen, "dead")["state"], "failed", "{seen}");
    assert_eq!(seen["healthy"], true, "one stream up is healthy: {seen}");
    stop(child);
}
