//! The shipped configuration files parse and validate, and x86-dev points at files in the repo.

use std::path::Path;

use edgesight::config::{self, EventTarget};
use edgesight::detect::Family;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn x86_dev_config_is_complete_and_self_contained() {
    let cfg = config::load_file(&root().join("configs/x86-dev.toml")).expect("x86-dev.toml is valid");
    assert!(cfg.model.path.exists(), "model {} exists", cfg.model.path.display());
    assert!(cfg.model.labels.as_ref().is_some_and(|l| l.exists()), "labels exist");
    assert_eq!(cfg.model.family, Family::Nanodet);
    assert_eq!(cfg.output.jsonl, Some(EventTarget::Stdout));
    assert_eq!(cfg.streams.len(), 1);
    match &cfg.streams[0].source {
        edgesight::capture::SourceSpec::File { path } => {
            assert!(path.exists(), "clip {} exists", path.display())
        }
        other => panic!("x86-dev streams the bundled clip, not {}", other.redacted()),
    }
}

#[test]
fn reference_config_documents_every_section_and_is_valid() {
    let cfg = config::load_file(&root().join("configs/edgesight.toml")).expect("edgesight.toml is valid");
    assert_eq!(cfg.model.classes.len(), 6);
    assert_eq!(cfg.model.class_thresholds, vec![("sports ball".to_string(), 0.6)]);
    assert_eq!(cfg.streams[0].name, "gate");
    // The [tracking] values written there are the documented defaults.
    assert_eq!(cfg.tracking, edgesight::track::TrackerSettings::default());
}

#[test]
fn jetson_config_runs_the_gpu_path() {
    use edgesight::config::{EngineKind, PreprocessKind};
    use edgesight::engine::engine_cache::Precision;
    let cfg = config::load_file(&root().join("configs/jetson-orin-nano.toml")).expect("jetson-orin-nano.toml is valid");
    assert_eq!(cfg.model.engine, EngineKind::Tensorrt);
    assert_eq!(cfg.model.preprocess, PreprocessKind::Cuda);
    assert_eq!(cfg.model.tensorrt.precision, Precision::Fp16);
    assert!(cfg.model.path.extension().is_some_and(|e| e == "onnx"), "built on the device at first start");
    assert_eq!(cfg.streams.len(), 2);
    assert!(
        cfg.streams.iter().all(|s| s.memory == edgesight::preprocess::FrameMemory::Nvmm),
        "frames stay in GPU memory"
    );
}

/// configs/x86-dev-int8.toml is x86-dev.toml with the INT8 model (scripts/quantize_int8.py): the
/// same thresholds, threads and stream, so that A/B runs compare only the model.
#[test]
fn x86_dev_int8_config_differs_from_x86_dev_only_in_the_model() {
    let fp32 = config::load_file(&root().join("configs/x86-dev.toml")).expect("x86-dev.toml is valid");
    let int8 = config::load_file(&root().join("configs/x86-dev-int8.toml")).expect("x86-dev-int8.toml is valid");
    assert!(int8.model.path.exists(), "model {} exists", int8.model.path.display());
    assert!(int8.model.path.ends_with("nanodet_g_416_coco_int8.onnx"), "{}", int8.model.path.display());
    assert_eq!(int8.model.family, fp32.model.family);
    assert_eq!(int8.model.engine, fp32.model.engine);
    assert_eq!(int8.model.threads, fp32.model.threads);
    assert_eq!(int8.model.score_threshold, fp32.model.score_threshold);
    assert_eq!(int8.model.nms_iou, fp32.model.nms_iou);
    assert_eq!(int8.model.labels, fp32.model.labels);
    assert_eq!(int8.output.jsonl, fp32.output.jsonl);
    assert_eq!(int8.streams.len(), 1);
    assert_eq!(int8.streams[0].source.redacted(), fp32.streams[0].source.redacted());
}
