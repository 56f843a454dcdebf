//! A model file replaced at the same path (a new version copied over the old one) is loaded on
//! SIGHUP even though the configuration did not change; before, the reload said "model unchanged"
//! and kept running the old network until a restart.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn sighup_reloads_a_model_file_replaced_at_the_same_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model_path = dir.path().join("detector.onnx");
    std::fs::copy(model("nanodet_g_416_coco.onnx"), &model_path).expect("copy model");
    let events = dir.path().join("events.jsonl");
    let text = ConfigBuilder::nanodet(dir.path())
        .stream("cam", "test://ball?width=160&height=120&fps=10", "")
        .events(&events)
        .text()
        .replace(&model("nanodet_g_416_coco.onnx").display().to_string(), &model_path.display().to_string());
    let cfg = dir.path().join("edgesight.toml");
    std::fs::write(&cfg, text).expect("cfg");
    let mut child = run_service(&cfg, &[]);
    let rx = stderr_lines(&mut child);
    let mut log = Vec::new();
    let mut wait_log = |what: &str, needle: &str| {
        wait_for(what, Duration::from_secs(60), || {
            log.extend(rx.try_iter());
            log.iter().any(|l| l.contains(needle))
        });
        log.clear();
    };
    wait_log("the start", "running 1 stream");
    // Nothing changed: the model stays.
    signal(&child, "HUP");
    wait_log("a reload with nothing to do", "model unchanged");
    // A new model file at the same path (the dynamic-batch export): loaded again.
    let tmp = dir.path().join("detector.onnx.new");
    std::fs::copy(model("nanodet_g_416_coco_dynbatch.onnx"), &tmp).expect("copy model");
    std::fs::rename(&tmp, &model_path).expect("replace model");
    signal(&child, "HUP");
    wait_log("the reload of the replaced model", "model reloaded");
    let n = std::fs::read_to_string(&events).map_or(0, |t| t.lines().count());
    wait_for("events after the reload", Duration::from_secs(60), || {
        std::fs::read_to_string(&events).is_ok_and(|t| t.lines().count() >= n + 3)
    });
    stop(child);
}
