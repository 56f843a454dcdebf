//! `edgesight detect` against the expected detections of ONNX Runtime in Python
//! (tests/data/reference, tolerance in its README), for NanoDet and SSDLite, on images and on
//! every 25th frame of the bundled clip; and the files themselves against their generator,
//! scripts/references.py, so that neither can change without the other.

mod common;

use common::*;

fn nanodet_args() -> Vec<String> {
    vec!["detect".into(), "--config".into(), root().join("configs/x86-dev.toml").display().to_string()]
}

fn images() -> Vec<String> {
    ["astronaut.png", "chelsea.png", "basketball1.png", "vtest_f00100.jpg"]
        .iter()
        .map(|n| image(n).display().to_string())
        .collect()
}

fn detect(args: &[String]) -> Vec<serde_json::Value> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = edgesight(&a, &[]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(stderr(&o).contains("stats: frames="), "stats line missing: {}", stderr(&o));
    parse_lines(&stdout(&o))
}

#[test]
fn nanodet_images_match_reference() {
    let mut args = nanodet_args();
    args.extend(images());
    let failures = compare(&reference("nanodet_images.jsonl"), &detect(&args));
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn ssdlite_images_match_reference() {
    let mut args: Vec<String> = vec![
        "detect".into(),
        "--model".into(),
        model("ssdlite_mobilenet_v2_person.onnx").display().to_string(),
        "--family".into(),
        "ssd".into(),
        "--labels".into(),
        model("ssdlite_person_labels.txt").display().to_string(),
    ];
    args.extend(images());
    let events = detect(&args);
    let failures = compare(&reference("ssdlite_person_images.jsonl"), &events);
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(events[2]["detections"][0]["label"], "person");
}

#[test]
fn nanodet_every_25th_frame_of_the_clip_matches_reference() {
    let mut args = nanodet_args();
    args.extend(["--every".into(), "25".into(), clip().display().to_string()]);
    let events = detect(&args);
    let frames: Vec<u64> = events.iter().map(|e| e["frame"].as_u64().unwrap_or(u64::MAX)).collect();
    assert_eq!(frames, (0..32).map(|i| i * 25).collect::<Vec<_>>(), "frame numbers count decoded frames");
    let failures = compare(&reference("nanodet_vtest_h264_every25.jsonl"), &events);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The comparison is not vacuous: a pipeline that places the image wrongly (centred instead of
/// top-left letterbox) or reads the wrong channel order fails it.
#[test]
fn a_wrong_pipeline_fails_the_comparison() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = std::fs::read_to_string(root().join("configs/x86-dev.toml")).expect("config");
    let base = base.replace("../models/", &format!("{}/", root().join("models").display()));
    for (name, extra) in [("letterbox", "letterbox = \"center\"\n"), ("channels", "channel_order = \"rgb\"\n")] {
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(&cfg, base.replace("threads = 2\n", &format!("threads = 2\n{extra}"))).expect("write");
        let mut args: Vec<String> = vec!["detect".into(), "--config".into(), cfg.display().to_string()];
        args.extend(images());
        let failures = compare(&reference("nanodet_images.jsonl"), &detect(&args));
        assert!(!failures.is_empty(), "{name}: a wrong pipeline passed the reference comparison");
    }
}

/// The committed files are what scripts/references.py (an independent Python/OpenCV/NumPy
/// pipeline) computes today, within the tolerance its --check states: a change of model, media,
/// contract or pinned versions that moves the expected detections fails here, not silently.
#[test]
fn the_generator_reproduces_the_committed_references() {
    let py = python();
    let o = std::process::Command::new(&py)
        .arg(root().join("scripts/references.py"))
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; run `make test-deps` or set EDGESIGHT_PYTHON", py.display()));
    let report = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "scripts/references.py --check ({}): {report}", o.status);
    assert_eq!(report.matches(" records, ").count(), 3, "one summary line per file: {report}");
}
