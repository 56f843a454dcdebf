//! Shutdown bounded by `pipeline.shutdown_timeout_s`: a drain that cannot finish in time ends the
//! process with status 6 and says how many frames it had taken for processing and not finished.
//! (A drain that finishes exits 0 with every event written: tests/run.rs, tests/service.rs.)

mod common;

use std::time::Duration;

use common::*;

/// `run` on a test pattern with `pipeline.shutdown_timeout_s = timeout_s` and an engine that
/// takes `delay_ms` per run (test hooks); returns once the first event is written.
fn slow_service(dir: &std::path::Path, timeout_s: &str, delay_ms: &str) -> (Proc, std::path::PathBuf) {
    assert_test_hooks();
    let events = dir.join("events.jsonl");
    let cfg = ConfigBuilder::nanodet(dir)
        .stream("cam", "test://ball?width=160&height=120&fps=10", "")
        .events(&events)
        .write();
    let text =
        std::fs::read_to_string(&cfg).expect("cfg") + &format!("\n[pipeline]\nshutdown_timeout_s = {timeout_s}\n");
    std::fs::write(&cfg, text).expect("cfg");
    let child = run_service(&cfg, &[("EDGESIGHT_TEST_INFERENCE_DELAY_MS", delay_ms)]);
    wait_for("the first event", Duration::from_secs(60), || {
        std::fs::read_to_string(&events).is_ok_and(|t| t.lines().count() >= 1)
    });
    (child, events)
}

#[test]
fn a_drain_past_the_timeout_exits_6_and_counts_the_frames_it_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Every engine run takes 3 s: SIGTERM right after the first event lands mid-run.
    let (child, events) = slow_service(dir.path(), "0.5", "3000");
    signal(&child, "TERM");
    let out = child.wait_with_output();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(6), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("shutdown took longer than 0.5 s"))
        .unwrap_or_else(|| panic!("no timeout line: {err}"));
    let lost: u64 = line
        .split("): ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line}"));
    assert!(lost >= 1, "the frame in the engine was not processed: {line}");
    assert!(line.contains("exiting with status 6"), "{line}");
    // What was written is whole: the stats line agrees with the events file.
    let written = parse_lines(&std::fs::read_to_string(&events).expect("events")).len() as u64;
    assert_eq!(stats_value(&err, "frames"), written, "{err}");
}

#[test]
fn a_second_sigterm_during_a_slow_drain_exits_130_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A drain that would take up to 60 s (each engine run takes 5 s): the operator's second
    // SIGTERM ends it (the runbook's exit 130), as systemd's final kill would.
    let (mut child, _events) = slow_service(dir.path(), "60", "5000");
    let lines = stderr_lines(&mut child);
    signal(&child, "TERM");
    // The second signal only once the first has started the drain (its log line says so).
    let mut log = Vec::new();
    wait_for("the drain to start", Duration::from_secs(30), || {
        log.extend(lines.try_iter());
        log.iter().any(|l| l.contains("stopping: draining frames in flight"))
    });
    signal(&child, "TERM");
    assert_eq!(child.wait().expect("exit").code(), Some(130), "{log:?}");
}
