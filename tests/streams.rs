//! Several streams and a slow engine: every stream is served (round-robin, fairly), and when the
//! engine is slower than the cameras, frames are dropped and counted while end-to-end latency
//! stays flat for the whole run. The runs last a number of events, not of seconds (a loaded
//! machine takes longer, not fewer), and the assertions are ratios of counts and of the run's own
//! engine cycle.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Time-outs only end a test that is already failing: generous, for loaded machines.
const PATIENCE: Duration = Duration::from_secs(180);

fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn metrics(addr: &str) -> String {
    http_get(addr, "/metrics")
}

fn sum_metric(text: &str, prefix: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// Runs `streams` (name, uri) with 2 inference threads, events and metrics.
fn spawn(
    dir: &Path,
    streams: &[(String, &str)],
    metrics_addr: &str,
    env: &[(&str, &str)],
) -> (Proc, std::path::PathBuf) {
    let events = dir.join("events.jsonl");
    let config = streams.iter().fold(ConfigBuilder::nanodet(dir), |c, (name, uri)| c.stream(name, uri, ""));
    let cfg = config.threads(2).events(&events).metrics(metrics_addr).write();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgesight"));
    cmd.args(["run", "--config", p(&cfg)]).stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    (Proc::spawn(&mut cmd), events)
}

fn p95(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * 0.95).ceil() as usize).saturating_sub(1).min(v.len() - 1)]
}

#[test]
fn eight_streams_are_served_fairly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let streams: Vec<_> = (0..8).map(|i| (format!("cam{i}"), "test://ball?width=160&height=120&fps=10")).collect();
    let addr = free_addr();
    let (child, events) = spawn(dir.path(), &streams, &addr, &[]);
    // 30 turns per stream on average: enough that the streams' staggered starts weigh little.
    wait_for("240 events", PATIENCE, || events_count(&events) >= 240);
    let m = metrics(&addr);
    stop(child);
    let lines = parse_lines(&std::fs::read_to_string(&events).expect("events"));
    let counts: Vec<usize> =
        (0..8).map(|i| lines.iter().filter(|e| e["stream"] == format!("cam{i}")).count()).collect();
    let (min, max) = (*counts.iter().min().unwrap_or(&0), *counts.iter().max().unwrap_or(&0));
    assert!(min > 0, "every stream is served: {counts:?}");
    assert!(min as f64 >= 0.8 * max as f64, "round-robin keeps streams within 20%: {counts:?}");
    // 80 frames/s offered is more than the engine takes: the rest is dropped and counted.
    assert!(sum_metric(&m, "edgesight_frames_dropped_total") > 0.0, "{m}");
    assert_eq!(sum_metric(&m, "edgesight_stream_up"), 8.0, "{m}");
}

#[test]
fn a_slow_engine_drops_frames_instead_of_building_latency() {
    assert_test_hooks();
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_addr();
    let (child, events) = spawn(
        dir.path(),
        &[("cam".into(), "test://ball?width=160&height=120&fps=30")],
        &addr,
        &[("EDGESIGHT_TEST_INFERENCE_DELAY_MS", "150")],
    );
    // 120 processed frames (about 25 s at the ~200 ms cycle of an idle machine); the drop
    // counter is read after the first third and at the end.
    let total = 120;
    wait_for("the first third of the events", PATIENCE, || events_count(&events) >= total / 3);
    let (processed_early, dropped_early) =
        (events_count(&events), sum_metric(&metrics(&addr), "edgesight_frames_dropped_total"));
    wait_for("all events", PATIENCE, || events_count(&events) >= total);
    let (processed_late, dropped_late) =
        (events_count(&events), sum_metric(&metrics(&addr), "edgesight_frames_dropped_total"));
    stop(child);
    // 30 frames/s offered, one taken per engine cycle (150 ms delay + inference): most are
    // dropped, all along.
    let (processed, dropped) = ((processed_late - processed_early) as f64, dropped_late - dropped_early);
    assert!(
        dropped > 2.0 * processed,
        "frames dropped while the engine is busy: {dropped} dropped, {processed} processed after the first third"
    );
    let lines = parse_lines(&std::fs::read_to_string(&events).expect("events"));
    let lat: Vec<f64> = lines.iter().filter_map(|e| e["latency_ms"].as_f64()).collect();
    // The engine cycle measured in this run (first to last event), not a constant: the bound below
    // must hold on a loaded machine too, where inference itself takes longer.
    let ts = |e: &serde_json::Value| humantime::parse_rfc3339(e["ts"].as_str().expect("ts")).expect("rfc3339");
    let span = ts(&lines[lines.len() - 1]).duration_since(ts(&lines[0])).expect("ordered");
    let cycle_ms = span.as_secs_f64() * 1000.0 / (lines.len() - 1) as f64;
    assert!(lat.len() >= total, "{} events", lat.len());
    let third = lat.len() / 3;
    let (first, last) = (p95(lat[..third].to_vec()), p95(lat[lat.len() - third..].to_vec()));
    // Latency includes the 150 ms delay; "within noise" is 20% or 20 ms, whichever is larger.
    assert!(
        last <= first + (0.2 * first).max(20.0),
        "latency p95 crept up: first third {first:.1} ms, last third {last:.1} ms"
    );
    // A frame waits less than one cycle in the mailbox, then takes its own: under two cycles
    // (measured here: p95 1.2 cycles). At the ~190 ms cycle of an idle machine this is stricter
    // than the fixed 400 ms it replaces.
    assert!(last < 2.0 * cycle_ms, "latency bounded by two engine cycles: p95 {last:.1} ms, cycle {cycle_ms:.1} ms");
}
