//! The detector: preprocess → engine → decode for one frame, built from the `[model]` config.
//! Loading checks the model against its family before any frame is read.

use std::time::Instant;

use crate::capture::Frame;
use crate::config::{EngineKind, ModelConfig, PreprocessKind};
use crate::detect::{ClassPolicy, Decoder, Detection, Family, Labels, PostProcess};
use crate::engine::onnx::{OnnxEngine, OnnxOptions};
use crate::engine::{Engine, TensorInfo};
use crate::error::{Error, Result};
use crate::metrics::StageTimes;
use crate::preprocess::{CpuPreprocessor, InputSpec};

pub struct Detector {
    engine: Box<dyn Engine>,
    pre: CpuPreprocessor,
    decoder: Box<dyn Decoder>,
    post: PostProcess,
    labels: Labels,
    family: Family,
}

fn class_id(labels: &Labels, key: &str, name: &str, labels_path: &str) -> Result<u32> {
    labels.id(name).ok_or_else(|| {
        let hint = crate::config::validate::closest(name, labels.names().iter().map(String::as_str))
            .map(|c| format!(" (did you mean {c:?}?)"))
            .unwrap_or_default();
        Error::config(format!("{key}: {name:?} is not a class of the model's labels ({labels_path}){hint}"))
    })
}

/// Builds the class policy (thresholds, allow-list) from label names.
fn class_policy(mc: &ModelConfig, labels: &Labels) -> Result<ClassPolicy> {
    let mut policy = ClassPolicy::new(mc.score_threshold);
    let labels_path = mc.labels.as_ref().map_or("no model.labels set".to_string(), |p| p.display().to_string());
    for (name, t) in &mc.class_thresholds {
        let id = class_id(labels, "model.class_thresholds", name, &labels_path)?;
        policy.set_threshold(id, *t);
    }
    if !mc.classes.is_empty() {
        let ids = mc
            .classes
            .iter()
            .map(|n| class_id(labels, "model.classes", n, &labels_path))
            .collect::<Result<Vec<_>>>()?;
        policy.allow_only(&ids);
    }
    Ok(policy)
}

/// Width and height of an image input with static spatial dimensions, NCHW or NHWC.
fn static_size(input: &TensorInfo) -> Option<(u32, u32)> {
    match input.shape.as_slice() {
        &[_, 3, h, w] | &[_, h, w, 3] if h > 0 && w > 0 => Some((w as u32, h as u32)),
        _ => None,
    }
}

impl Detector {
    pub fn load(mc: &ModelConfig) -> Result<Detector> {
        if mc.preprocess == PreprocessKind::Cuda {
            return Err(Error::model(
                "model.preprocess = \"cuda\" needs a build with the `cuda` feature (Jetson image); \
                 this binary preprocesses on the CPU: set model.preprocess = \"cpu\"",
            ));
        }
        let mut engine: Box<dyn Engine> = match mc.engine {
            EngineKind::OnnxCpu => Box::new(OnnxEngine::load(
                &mc.path,
                &OnnxOptions { threads: mc.threads, library: mc.onnxruntime_lib.clone() },
            )?),
            // Never fall back to the CPU silently: a GPU config on a CPU build is an error.
            EngineKind::Tensorrt => {
                return Err(Error::model(
                    "model.engine = \"tensorrt\" needs a build with the `tensorrt` feature (Jetson image); \
                     this binary runs \"onnx-cpu\" only: set model.engine = \"onnx-cpu\" and an .onnx model",
                ));
            }
        };
        // The outputs are the clearest sign of a wrong family: check them against the family's
        // default input (at the model's own size) before anything else.
        let mut provisional = mc.family.default_input();
        if let Some((w, h)) = static_size(engine.input()) {
            (provisional.width, provisional.height) = (w, h);
        }
        mc.family.decoder(&provisional, engine.outputs(), &mc.decode)?;
        let spec = mc.family.resolve_input(engine.input(), &mc.input)?;
        let decoder = mc.family.decoder(&spec, engine.outputs(), &mc.decode)?;
        engine.allocate(spec.shape())?;
        let mut labels = match &mc.labels {
            Some(p) => Labels::load(p)?,
            None => Labels::default(),
        };
        if let Some(n) = decoder.num_classes() {
            if mc.labels.is_some() && labels.len() < n {
                log::warn!(
                    "labels file {} names {} classes, the model scores {n}; the rest are reported as class<N>",
                    mc.labels.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                    labels.len()
                );
            }
            labels.cover(n);
        }
        let policy = class_policy(mc, &labels)?;
        log::info!(
            "model {} loaded: family {}, engine {}, input {}x{} {:?} {:?}, {} classes",
            mc.path.display(),
            mc.family,
            engine.name(),
            spec.width,
            spec.height,
            spec.layout,
            spec.channel_order,
            labels.len()
        );
        Ok(Detector {
            engine,
            pre: CpuPreprocessor::new(spec),
            decoder,
            post: PostProcess::new(policy, mc.nms_iou, mc.max_detections),
            labels,
            family: mc.family,
        })
    }

    /// Post-processing for new thresholds, allow-list, NMS and cap on the loaded model (a
    /// reload that leaves the network alone). Fails on labels the model does not have.
    pub fn postprocess_for(&self, mc: &ModelConfig) -> Result<PostProcess> {
        Ok(PostProcess::new(class_policy(mc, &self.labels)?, mc.nms_iou, mc.max_detections))
    }

    pub fn set_postprocess(&mut self, post: PostProcess) {
        self.post = post;
    }

    pub fn input_spec(&self) -> &InputSpec {
        self.pre.spec()
    }

    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// Runs the model on one frame; boxes come back in the frame's source pixels, with the
    /// labels to name their classes.
    pub fn detect(&mut self, frame: &Frame, times: &mut StageTimes) -> Result<(&[Detection], &Labels)> {
        let t0 = Instant::now();
        let Detector { engine, pre, decoder, post, labels, .. } = self;
        let input = engine.input_mut()?;
        let geometry = frame
            .with_view(|view| pre.run(&view, input))?
            .map_err(|e| Error::source(format!("unusable frame: {e}")))?;
        let geometry = frame.to_source_geometry(geometry);
        let t1 = Instant::now();
        engine.run()?;
        let t2 = Instant::now();
        let dets = post.run(decoder.as_mut(), engine.results(), &geometry)?;
        times.preprocess = t1 - t0;
        times.inference = t2 - t1;
        times.decode = t2.elapsed();
        Ok((dets, labels))
    }
}
