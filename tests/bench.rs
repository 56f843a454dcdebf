//! `edgesight bench` end to end on the bundled model and clip: the JSON report holds every
//! documented field and only those (docs/perf/bench_report.md), its figures agree with each other,
//! and the verdict follows the configured target. No timing is asserted: only sanity.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{ConfigBuilder, clip, edgesight, make_clip, stderr, stdout};
use serde_json::Value;

/// Every field path of `v` (`a.b`, arrays as `a[]`).
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                if !x.is_array() {
                    out.insert(p.clone());
                }
                paths(x, &p, out);
            }
        }
        Value::Array(items) => {
            let p = format!("{prefix}[]");
            out.insert(p.clone());
            for x in items {
                paths(x, &p, out);
            }
        }
        _ => {}
    }
}

/// Whether `path` is documented: a table row names it in its first cell, or names its parent
/// there and the leaf (in backticks) in the row.
fn documented(doc: &str, path: &str) -> bool {
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
    let first = |row: &str| row.split('|').nth(1).unwrap_or("").trim().trim_matches('`').to_string();
    if rows.iter().any(|r| first(r) == path) {
        return true;
    }
    let Some((parent, leaf)) = path.rsplit_once('.') else { return false };
    rows.iter().any(|r| first(r) == parent && r.contains(&format!("`{leaf}`")))
}

fn num(v: &Value, path: &str) -> f64 {
    let mut x = v;
    for k in path.split('.') {
        x = &x[k];
    }
    x.as_f64().unwrap_or_else(|| panic!("{path} is not a number: {x}"))
}

fn bench(cfg: &Path, extra: &[&str]) -> (Value, String) {
    let json = cfg.with_extension("json");
    let mut args = vec!["bench", "--config", cfg.to_str().unwrap(), "--json", json.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = edgesight(&args, &[]);
    assert!(o.status.success(), "bench failed: {}\n{}", stderr(&o), stdout(&o));
    let text = std::fs::read_to_string(&json).expect("the JSON report");
    (serde_json::from_str(&text).expect("valid JSON"), stdout(&o))
}

#[test]
fn the_report_holds_the_documented_fields_and_sane_figures() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let cfg = ConfigBuilder::nanodet(dir.path())
        .threads(2)
        .stream("cam", &format!("file://{}", clip().display()), "fps_target = 0.5\n")
        .events(&events)
        .write();
    let text = std::fs::read_to_string(&cfg).unwrap() + "\n[pipeline]\nfps_target = 0.5\n";
    std::fs::write(&cfg, text).unwrap();
    let (r, out) = bench(&cfg, &["--frames", "25", "--warmup", "1"]);

    let doc = std::fs::read_to_string(common::root().join("docs/perf/bench_report.md")).unwrap();
    let mut found = BTreeSet::new();
    paths(&r, "", &mut found);
    let undocumented: Vec<&String> = found.iter().filter(|p| !documented(&doc, p)).collect();
    assert!(undocumented.is_empty(), "fields missing from docs/perf/bench_report.md: {undocumented:#?}");
    for required in [
        "pipeline.fps.mean",
        "pipeline.fps.p95",
        "pipeline.latency_ms.p99",
        "pipeline.stages_ms.preprocess",
        "pipeline.stages_ms.inference",
        "pipeline.stages_ms.decode_nms",
        "pipeline.stages_ms.sinks",
        "ceiling.fps",
        "ceiling.pipeline_fraction",
        "system.cpu_process_pct",
        "system.rss_peak_mb",
        "system.rss_steady_mb",
        "system.gpu",
        "verdict.outcome",
    ] {
        assert!(found.contains(required), "{required} missing from the report");
    }

    assert_eq!(r["schema"], "edgesight-bench/1");
    assert_eq!(r["engine"]["name"], "onnx-cpu");
    assert_eq!(r["engine"]["device"], "cpu");
    assert_eq!(r["period"]["ended_by"], "frames");
    assert_eq!(r["pipeline"]["frames"], 25, "the frame limit is exact with batch 1");
    assert_eq!(r["streams"][0]["name"], "cam");
    assert_eq!(r["streams"][0]["frames"], 25);
    let fps = num(&r, "pipeline.fps.mean");
    let measured = num(&r, "period.measured_s");
    assert!(fps > 0.0 && measured > 0.0);
    assert!((fps * measured - 25.0).abs() < 1e-6, "mean FPS is frames over the measured period: {fps} x {measured}");
    assert!(num(&r, "pipeline.fps.min") <= num(&r, "pipeline.fps.p95"));
    let l = &r["pipeline"]["latency_ms"];
    let (p50, p95, p99, max) = (num(l, "p50"), num(l, "p95"), num(l, "p99"), num(l, "max"));
    assert!(0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 <= max, "{l}");
    assert!(num(&r, "pipeline.stages_ms.inference.mean") > 0.0);
    let ceiling = num(&r, "ceiling.fps");
    assert!(ceiling > 0.0 && r["ceiling"]["runs"].as_u64().unwrap() >= 3);
    assert!((num(&r, "ceiling.pipeline_fraction") - fps / ceiling).abs() < 1e-9);
    assert!(num(&r, "system.rss_peak_mb") > 20.0, "ONNX Runtime and the model alone take more");
    assert!(num(&r, "system.rss_steady_mb") > 0.0 && num(&r, "system.rss_steady_mb") <= num(&r, "system.rss_peak_mb"));
    assert!(num(&r, "system.cpu_process_pct") > 0.0);
    assert!(r["system"]["gpu"].is_object());

    assert_eq!(r["verdict"]["outcome"], "met", "{}", r["verdict"]);
    assert_eq!(r["verdict"]["checks"].as_array().unwrap().len(), 2, "the pipeline's and the stream's targets");
    assert!(r["alternatives"].as_array().unwrap().iter().all(|a| a["pipeline_fps"].is_null()), "not run when met");
    let warmup = r["period"]["warmup_frames"].as_u64().unwrap() as usize;
    // Frames handed over before the stop are processed too (as when a run stops).
    assert!(
        common::events_count(&events) >= 25 + warmup,
        "every processed frame's event reaches the configured output"
    );

    for needle in ["pipeline: 25 frames", "engine alone:", "verdict (Met):", "latency capture->event"] {
        assert!(out.contains(needle), "{needle:?} not in the text report:\n{out}");
    }
}

#[test]
fn a_missed_target_on_the_cpu_says_gpu_and_measures_the_alternatives() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ConfigBuilder::nanodet(dir.path())
        .threads(2)
        .stream("cam", &format!("file://{}", clip().display()), "")
        .events(&dir.path().join("events.jsonl"))
        .write();
    let text = std::fs::read_to_string(&cfg).unwrap() + "\n[pipeline]\nfps_target = 1000\n";
    std::fs::write(&cfg, text).unwrap();
    let other = common::model("ssdlite_mobilenet_v2_person.onnx");
    let (r, out) = bench(&cfg, &["--frames", "8", "--warmup", "0.5", "--compare", other.to_str().unwrap()]);
    assert_eq!(r["verdict"]["outcome"], "missed_on_cpu", "{}", r["verdict"]);
    let lines = r["verdict"]["lines"].as_array().unwrap();
    let first = lines[0].as_str().unwrap();
    assert!(first.starts_with("missed on the CPU: pipeline") && first.ends_with("move to a GPU/Jetson"), "{first}");
    assert!(lines.iter().any(|l| l.as_str().unwrap().contains("below the 1000.0 FPS the targets need")), "{lines:?}");
    let alts = r["alternatives"].as_array().unwrap();
    // The --compare model has another family's outputs: measured or refused, never silently skipped.
    let named = alts.iter().find(|a| a["label"] == "ssdlite_mobilenet_v2_person.onnx").expect("the --compare model");
    assert!(named["error"].is_string() || named["pipeline_fps"].as_f64().unwrap() > 0.0, "{named}");
    if common::model("nanodet_g_416_coco_int8.onnx").is_file() {
        let int8 = alts.iter().find(|a| a["label"] == "int8").expect("the INT8 sibling is measured");
        assert!(int8["ceiling_fps"].as_f64().unwrap() > 0.0 && int8["pipeline_fps"].as_f64().unwrap() > 0.0, "{int8}");
        assert_eq!(int8["meets"], false);
    }
    assert!(out.contains("verdict (MissedOnCpu):"), "{out}");
}

#[test]
fn streams_that_end_in_the_warm_up_are_an_error_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.mp4");
    make_clip(&short, 5, "ball");
    let cfg = ConfigBuilder::nanodet(dir.path())
        .stream("cam", &format!("file://{}", short.display()), "")
        .events(&dir.path().join("events.jsonl"))
        .write();
    let o = edgesight(&["bench", "--config", cfg.to_str().unwrap(), "--warmup", "30"], &[]);
    common::assert_fails(&o, 4, &["ended during the warm-up (5 frames", "loop = true", "--warmup"]);
}
