//! Post-processing cost per frame (issue 16; `make bench`): NanoDet decode + per-class NMS on
//! real model outputs, and the JSON event line of a frame with 12 detections.
//!
//! The outputs are real: the setup runs the bundled NanoDet (configs/x86-dev.toml, FP32, and the
//! INT8 model when present) once on each image of tests/data/images through edgesight's own
//! capture, preprocessing and ONNX Runtime engine, and keeps the raw outputs; the benchmark then
//! decodes those outputs again and again. Decode cost depends on how many cells score above the
//! threshold, so the images (1 to 13 detections) are benchmarked separately.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use edgesight::capture::Pull;
use edgesight::config::{self, ModelConfig, PipelineConfig};
use edgesight::detect::{Decoder, Detection, Labels, PostProcess};
use edgesight::engine::{Outputs, TensorView};
use edgesight::error::Result;
use edgesight::preprocess::Geometry;
use edgesight::runtime::assemble;
use edgesight::sink::event::Event;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One image's raw outputs, owned.
struct Saved {
    tensors: Vec<(Vec<i64>, Vec<f32>)>,
}

impl Outputs for Saved {
    fn output(&self, index: usize) -> Result<TensorView<'_>> {
        let (shape, data) = &self.tensors[index];
        Ok(TensorView { shape, data })
    }
}

/// What decoding one image needs: its raw outputs, the geometry, the family's decoder and a
/// post-processor with the config's thresholds.
struct Decode {
    saved: Saved,
    geometry: Geometry,
    decoder: Box<dyn Decoder>,
    post: PostProcess,
}

/// Runs `model` once on `image` through edgesight's capture, preprocessing and engine.
fn run_once(model: &ModelConfig, pipeline: &PipelineConfig, image: &Path) -> Decode {
    let mut engine = assemble::engine(model).expect("engine (scripts/setup.sh ort)");
    let spec = model.family.resolve_input(engine.input(), &model.input).expect("input");
    let decoder = model.family.decoder(&spec, engine.outputs(), &model.decode).expect("decoder");
    let mut pre = assemble::preprocessor(model, spec.clone()).expect("preprocessor");
    engine.allocate(pre.spec().image_shape(), 1).expect("allocate");
    let stop = AtomicBool::new(false);
    let opts = assemble::capture(pre.as_ref(), model, pipeline);
    let mut cap = assemble::open_file(image, &opts, &stop).expect("open image");
    let frame = loop {
        match cap.pull(Duration::from_secs(5)).expect("pull") {
            Pull::Frame(f) => break f,
            Pull::Eos => panic!("{}: no frame", image.display()),
            Pull::Timeout => {}
        }
    };
    let guard = frame.map().expect("map");
    let geometry =
        frame.to_source_geometry(pre.run(&guard.data(), engine.slot(1, 0).expect("slot")).expect("preprocess"));
    engine.run(1).expect("inference");
    let tensors = (0..engine.outputs().len())
        .map(|i| {
            let v = engine.results().output(0, i).expect("output");
            (v.shape.to_vec(), v.data.to_vec())
        })
        .collect();
    let labels = Labels::load(model.labels.as_ref().expect("labels")).expect("labels");
    let post = assemble::postprocess(model, &labels).expect("postprocess");
    Decode { saved: Saved { tensors }, geometry, decoder, post }
}

fn decode_and_nms(c: &mut Criterion) {
    let mut group = c.benchmark_group("nanodet_decode_nms");
    for (precision, cfg) in [("fp32", "configs/x86-dev.toml"), ("int8", "configs/x86-dev-int8.toml")] {
        let cfg = config::load_file(&root().join(cfg)).expect("config");
        let model = &cfg.model;
        if !model.path.exists() {
            continue;
        }
        for name in ["astronaut.png", "basketball1.png", "vtest_f00100.jpg"] {
            let Decode { saved, geometry, mut decoder, mut post } =
                run_once(model, &cfg.pipeline, &root().join("tests/data/images").join(name));
            let n = post.run(decoder.as_mut(), &saved, &geometry).expect("decode").len();
            let id = BenchmarkId::new(precision, format!("{name} ({n} detections)"));
            group.bench_function(id, |b| {
                b.iter(|| black_box(post.run(decoder.as_mut(), black_box(&saved), &geometry).expect("decode").len()))
            });
        }
    }
    group.finish();
}

/// A frame like the bundled clip's busiest: 12 people and objects, with track IDs.
fn event_line(c: &mut Criterion) {
    let labels = Labels::load(&root().join("models/coco80_labels.txt")).expect("labels");
    let dets: Vec<Detection> = (0..12)
        .map(|i| {
            let x = 37.3 + 55.7 * i as f32;
            Detection {
                class_id: [0, 0, 0, 2, 0, 26, 0, 0, 32, 0, 7, 0][i],
                score: 0.9 - 0.043 * i as f32,
                bbox: [x, 101.26, x + 48.91, 290.04],
            }
        })
        .collect();
    let track_ids: Vec<Option<u32>> = (0..12).map(|i| (i != 7).then_some(100 + i)).collect();
    let mut line = Vec::with_capacity(4096);
    c.bench_function("event_json_12_detections", |b| {
        b.iter(|| {
            let ev = Event {
                ts: SystemTime::now(),
                stream: "gate",
                frame: 4711,
                pts_ms: Some(188_440),
                width: 1920,
                height: 1080,
                latency_ms: 41.734,
                detections: black_box(&dets),
                track_ids: &track_ids,
                labels: &labels,
                snapshot: None,
            };
            line.clear();
            serde_json::to_writer(&mut line, &ev).expect("encode");
            line.push(b'\n');
            black_box(line.len())
        })
    });
}

criterion_group!(benches, decode_and_nms, event_line);
criterion_main!(benches);
