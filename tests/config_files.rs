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
