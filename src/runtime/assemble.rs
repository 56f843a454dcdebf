//! One assembly path: the only place that turns a `Config` into running parts: engine,
//! preprocessor, detector, event output, capture settings, stream pipelines and their
//! supervision. `run`, `check`, `detect` and reload all build through here, so what `check`
//! validates is exactly what `run` opens.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::detector::{Detector, DetectorParts};
use super::mailbox::BatchPolicy;
use super::supervise::Policy;
use crate::capture::gst::{LaunchOptions, plan};
use crate::capture::{CaptureOptions, Fit, GstCapture, Pull, SourceSpec, TransportMemory};
use crate::config::threads;
use crate::config::{
    Config, EngineKind, EventTarget, Loaded, ModelConfig, OutputConfig, PipelineConfig, PreprocessKind, ResizeAt,
    StreamConfig,
};
use crate::detect::{ClassPolicy, Labels, PostProcess};
use crate::engine::onnx::{OnnxEngine, OnnxOptions};
use crate::engine::{Engine, TensorInfo};
use crate::error::{Error, Result};
use crate::preprocess::{Accepts, CpuPreprocessor, FrameMemory, InputSpec, Pixels, Preprocessor};
use crate::sink::{FanOut, FilePolicy, JsonlSink, MqttSink, Sink, SinkStats, Snapshots};
use crate::zones::{Line, Regions, Zone};

/// The engine `[model]` asks for. A GPU engine on a build without it is an error, never a
/// silent CPU fallback.
pub fn engine(mc: &ModelConfig) -> Result<Box<dyn Engine>> {
    let engine: Box<dyn Engine> = match mc.engine {
        EngineKind::OnnxCpu => Box::new(OnnxEngine::load(
            &mc.path,
            &OnnxOptions { threads: mc.threads, library: mc.onnxruntime_lib.clone(), spin: spin(mc) },
        )?),
        EngineKind::Tensorrt => tensorrt_engine(mc)?,
    };
    Ok(test_hooks::wrap(engine))
}

/// Whether ONNX Runtime's workers spin (`model.spin_wait`, the rule for `auto`).
fn spin(mc: &ModelConfig) -> bool {
    let cores = threads::cores();
    threads::spin(mc.spin_wait, cores, threads::engine_threads(mc.engine, mc.threads, cores))
}

/// Threads of each stream's software decoder (`pipeline.decoder_threads`, the rule for 0).
pub fn decoder_threads(mc: &ModelConfig, pipeline: &PipelineConfig) -> u32 {
    let cores = threads::cores();
    threads::decoder_threads(pipeline.decoder_threads, cores, threads::engine_threads(mc.engine, mc.threads, cores))
}

#[cfg(feature = "tensorrt")]
fn tensorrt_engine(mc: &ModelConfig) -> Result<Box<dyn Engine>> {
    use crate::engine::tensorrt::{TensorRtEngine, TensorRtOptions};
    let t = &mc.tensorrt;
    let opts = TensorRtOptions {
        library: t.library.clone(),
        precision: t.precision,
        dla_core: t.dla_core,
        max_batch: mc.batch as u32,
        cache_dir: t.engine_cache.clone(),
        on_mismatch: t.on_mismatch,
        calibration: match &t.calibration_images {
            Some(dir) => Some(std::sync::Mutex::new(Box::new(super::calibration::ImageCalibration::new(
                dir,
                mc.family,
                mc.input.clone(),
            )?)
                as Box<dyn crate::engine::tensorrt::CalibrationSource>)),
            None => None,
        },
    };
    Ok(Box::new(TensorRtEngine::load(&mc.path, &opts)?))
}

/// No silent fallback: a build without TensorRT says which build to use.
#[cfg(not(feature = "tensorrt"))]
fn tensorrt_engine(_mc: &ModelConfig) -> Result<Box<dyn Engine>> {
    Err(Error::model(
        "model.engine = \"tensorrt\" needs a build with TensorRT (cargo feature tensorrt, or jetson-jp5 / jetson-jp6 \
         / jetson-13; the Jetson image); this binary runs \"onnx-cpu\" only: set model.engine = \"onnx-cpu\" and an \
         .onnx model",
    ))
}

/// The preprocessor `[model] preprocess` asks for, producing `spec`.
pub fn preprocessor(mc: &ModelConfig, spec: InputSpec) -> Result<Box<dyn Preprocessor>> {
    match mc.preprocess {
        PreprocessKind::Cpu => Ok(Box::new(CpuPreprocessor::new(spec))),
        PreprocessKind::Cuda => cuda_preprocessor(spec),
    }
}

#[cfg(feature = "cuda")]
fn cuda_preprocessor(spec: InputSpec) -> Result<Box<dyn Preprocessor>> {
    let pre = crate::preprocess::cuda::CudaPreprocessor::new(spec, 0)?;
    log::info!("preprocess: cuda on {}", pre.summary());
    Ok(Box::new(pre))
}

/// No silent fallback: a build without CUDA says which build to use.
#[cfg(not(feature = "cuda"))]
fn cuda_preprocessor(_spec: InputSpec) -> Result<Box<dyn Preprocessor>> {
    Err(Error::model(
        "model.preprocess = \"cuda\" needs a build with CUDA (cargo feature cuda-jp5, cuda-jp6 or cuda-13; the \
         Jetson image); this binary preprocesses on the CPU: set model.preprocess = \"cpu\"",
    ))
}

fn class_id(labels: &Labels, key: &str, name: &str, labels_path: &str) -> Result<u32> {
    labels.id(name).ok_or_else(|| {
        let hint = crate::config::validate::closest(name, labels.names().iter().map(String::as_str))
            .map(|c| format!(" (did you mean {c:?}?)"))
            .unwrap_or_default();
        Error::config(format!("{key}: {name:?} is not a class of the model's labels ({labels_path}){hint}"))
    })
}

/// Where the model's labels come from, for messages about label names.
fn labels_origin(mc: &ModelConfig) -> String {
    mc.labels.as_ref().map_or("no model.labels set".to_string(), |p| p.display().to_string())
}

/// The zones and lines of a stream with their label names resolved against the model's labels;
/// a name the model does not have is a configuration error at its key.
pub fn regions(s: &StreamConfig, mc: &ModelConfig, labels: &Labels) -> Result<Regions> {
    let origin = labels_origin(mc);
    let ids = |kind: &str, name: &str, classes: &[String]| -> Result<Vec<u32>> {
        let key = format!("stream {:?}.{kind} {name:?}.classes", s.name);
        classes.iter().map(|c| class_id(labels, &key, c, &origin)).collect()
    };
    let r = &s.regions;
    Ok(Regions {
        lines: r
            .lines
            .iter()
            .map(|l| {
                let classes = ids("line", &l.name, &l.classes)?;
                Ok(Line { name: l.name.clone(), from: l.from, to: l.to, classes })
            })
            .collect::<Result<_>>()?,
        zones: r
            .zones
            .iter()
            .map(|z| {
                Ok(Zone {
                    name: z.name.clone(),
                    polygon: z.polygon.clone(),
                    classes: ids("zone", &z.name, &z.classes)?,
                    inertia: z.inertia,
                    loiter_ms: z.loiter_s.map(|s| (s * 1000.0).round() as u64),
                })
            })
            .collect::<Result<_>>()?,
    })
}

/// Thresholds, allow-list, NMS and cap from `[model]`, by label name. Fails on labels the model
/// does not have.
pub fn postprocess(mc: &ModelConfig, labels: &Labels) -> Result<PostProcess> {
    let mut policy = ClassPolicy::new(mc.score_threshold);
    let labels_path = labels_origin(mc);
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
    Ok(PostProcess::new(policy, mc.nms_iou, mc.max_detections))
}

/// `snapshots.classes` as class ids of the model's labels (None = every class).
pub fn snapshot_classes(
    sc: &crate::config::SnapshotConfig,
    mc: &ModelConfig,
    labels: &Labels,
) -> Result<Option<Vec<u32>>> {
    if sc.classes.is_empty() {
        return Ok(None);
    }
    let labels_path = labels_origin(mc);
    sc.classes
        .iter()
        .map(|n| class_id(labels, "snapshots.classes", n, &labels_path))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// The snapshot writer `cfg` asks for, started (None when `[snapshots]` is off).
pub fn snapshots(cfg: &crate::config::Config, labels: &Labels, stats: Arc<SinkStats>) -> Result<Option<Snapshots>> {
    let Some(sc) = &cfg.snapshots else { return Ok(None) };
    let classes = snapshot_classes(sc, &cfg.model, labels)?;
    Snapshots::start(sc.clone(), classes, stats).map(Some)
}

/// Width and height of an image input with static spatial dimensions, NCHW or NHWC.
fn static_size(input: &TensorInfo) -> Option<(u32, u32)> {
    match input.shape.as_slice() {
        &[_, 3, h, w] | &[_, h, w, 3] if h > 0 && w > 0 => Some((w as u32, h as u32)),
        _ => None,
    }
}

/// A labels file must name exactly the classes the model scores, when its outputs say how many:
/// one name too many or too few shifts or loses names in every event, so it is a model error
/// naming both counts. Families whose outputs do not give the count (SSD, whose class ids come
/// from the graph, 1-based, with line 0 of its labels a `background` placeholder) take the file
/// as it is. Without `model.labels`, classes are named `class<N>`.
fn check_label_count(labels: &std::path::Path, names: usize, model: &std::path::Path, classes: usize) -> Result<()> {
    if names == classes {
        return Ok(());
    }
    Err(Error::model(format!(
        "labels file {} names {names} classes but model {} scores {classes}; set model.labels to the labels \
         file made for this model: {classes} lines, one name per line, the first naming class id 0",
        labels.display(),
        model.display()
    )))
}

/// Loads the model and builds the detector: engine, family check, input contract, batch,
/// preprocessor (and whether it can write where the engine's input lives), labels and policy.
/// Nothing is half-built: any mismatch is an error before a frame is read.
pub fn detector(mc: &ModelConfig) -> Result<Detector> {
    let mut engine = engine(mc)?;
    // The outputs are the clearest sign of a wrong family: check them against the family's
    // default input (at the model's own size) before anything else.
    let mut provisional = mc.family.default_input();
    if let Some((w, h)) = static_size(engine.input()) {
        (provisional.width, provisional.height) = (w, h);
    }
    mc.family.decoder(&provisional, engine.outputs(), &mc.decode)?;
    let spec = mc.family.resolve_input(engine.input(), &mc.input)?;
    let decoder = mc.family.decoder(&spec, engine.outputs(), &mc.decode)?;
    if mc.batch > engine.max_batch() {
        return Err(Error::model(format!(
            "model.batch = {} but {} takes batches of at most {} (input {}); export it with a dynamic batch \
             dimension (models/nanodet_g_416_coco_dynbatch.onnx is one) or set model.batch = {}",
            mc.batch,
            mc.path.display(),
            engine.max_batch(),
            engine.input(),
            engine.max_batch()
        )));
    }
    let pre = preprocessor(mc, spec)?;
    if !pre.writes(engine.input_memory()) {
        return Err(Error::model(format!(
            "the {} preprocessor cannot write the input of engine {}, which lives in {}; choose a matching \
             model.preprocess",
            pre.name(),
            engine.name(),
            engine.input_memory()
        )));
    }
    engine.allocate(pre.spec().image_shape(), mc.batch)?;
    let mut labels = match &mc.labels {
        Some(p) => Labels::load(p)?,
        None => Labels::default(),
    };
    if let Some(n) = decoder.num_classes() {
        if let Some(path) = &mc.labels {
            check_label_count(path, labels.len(), &mc.path, n)?;
        }
        labels.cover(n);
    }
    let post = postprocess(mc, &labels)?;
    let spec = pre.spec();
    log::info!(
        "model {} loaded: family {}, engine {}, preprocess {}, input {}x{} {:?} {:?}, batch {}, {} classes",
        mc.path.display(),
        mc.family,
        engine.name(),
        pre.name(),
        spec.width,
        spec.height,
        spec.layout,
        spec.channel_order,
        mc.batch,
        labels.len()
    );
    Ok(Detector::new(DetectorParts { engine, pre, decoder, post, labels, family: mc.family, batch: mc.batch }))
}

/// How the inference loop takes frames from the mailbox.
pub fn batch_policy(mc: &ModelConfig) -> BatchPolicy {
    BatchPolicy { max: mc.batch, fill: mc.batch_timeout }
}

/// The event outputs; `stats` are the run's sink counters (kept across reloads). Several
/// configured outputs are fanned out; none configured is JSON lines to standard output.
pub fn sink(out: &OutputConfig, stats: Arc<SinkStats>) -> Result<Box<dyn Sink>> {
    let policy = FilePolicy {
        max_file_bytes: out.max_file_bytes,
        max_total_bytes: out.max_total_bytes,
        flush_interval: out.flush_interval,
    };
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    match (&out.jsonl, &out.mqtt) {
        (Some(EventTarget::File(p)), _) => sinks.push(Box::new(JsonlSink::file(p, policy, Arc::clone(&stats))?)),
        (Some(EventTarget::Stdout), _) | (None, None) => {
            sinks.push(Box::new(JsonlSink::stdout(policy, Arc::clone(&stats))))
        }
        (None, Some(_)) => {}
    }
    if let Some(m) = &out.mqtt {
        sinks.push(Box::new(MqttSink::start(m, stats)?));
    }
    Ok(if sinks.len() == 1 { sinks.pop().expect("one sink") } else { Box::new(FanOut { sinks }) })
}

/// Checks the event outputs as `run` would open them and leaves nothing behind: an event file
/// the probe created is removed; the MQTT output's files are read and its spool directory
/// written to, without contacting the broker (field devices may be offline at `check`).
pub fn probe_sink(out: &OutputConfig) -> Result<()> {
    if let Some(m) = &out.mqtt {
        crate::sink::mqtt::probe(m)?;
    }
    let Some(jsonl) = &out.jsonl else { return Ok(()) };
    let created = match jsonl {
        EventTarget::File(p) if !p.exists() => Some(p.clone()),
        _ => None,
    };
    let jsonl_only = OutputConfig { mqtt: None, ..out.clone() };
    let opened = sink(&jsonl_only, Arc::default());
    if let Some(p) = created
        && opened.is_ok()
    {
        drop(opened);
        let _ = std::fs::remove_file(&p);
        return Ok(());
    }
    opened.map(|_| ())
}

/// Capture settings every stream shares: the frames the preprocessor reads, the largest frame
/// a source may deliver and, with `resize = "capture"`, a downscale in GStreamer to what the
/// letterbox keeps.
pub fn capture(pre: &dyn Preprocessor, mc: &ModelConfig, pipeline: &PipelineConfig) -> CaptureOptions {
    let accepts = pre.accepts();
    let spec = pre.spec();
    CaptureOptions {
        launch: LaunchOptions {
            raw_format: accepts.formats.first().copied().unwrap_or(crate::preprocess::Pixels::I420),
            ..LaunchOptions::default()
        },
        accepts,
        max_pixels: pipeline.max_frame_pixels,
        decoder_threads: decoder_threads(mc, pipeline),
        fit: (pipeline.resize == ResizeAt::Capture).then_some(Fit {
            width: spec.width,
            height: spec.height,
            letterbox: spec.letterbox,
        }),
        ..CaptureOptions::default()
    }
}

/// Capture settings for a configuration whose model could not be loaded: what its
/// preprocessor would read with the family's default contract (so `check` still opens sources).
/// A CUDA preprocessor reads NVMM surfaces too.
pub fn capture_without_model(mc: &ModelConfig, pipeline: &PipelineConfig) -> CaptureOptions {
    let mut base = capture(&CpuPreprocessor::new(mc.family.default_input()), mc, pipeline);
    if mc.preprocess == PreprocessKind::Cuda {
        base.accepts.memory.insert(0, FrameMemory::Nvmm);
    }
    base
}

/// What one stream's frames are, from what the preprocessor reads (`base`, every memory kind
/// it takes) and the stream's `memory`: system memory in the preprocessor's formats, or NVMM
/// surfaces as pitch-linear NV12 only. NV12 is what the decoders write (nvvidconv then changes
/// only the layout), 1.5 bytes a pixel through the VIC and the kernel where RGBA is 4, and the
/// kernel converts it with the CPU path's YUV arithmetic, so the tensor is the one
/// `preprocess = "cpu"` makes of the same decoded picture (RGBA from the VIC would be NVIDIA's
/// own conversion). Its two planes map through EGL as two device addresses.
pub fn stream_accepts(base: &Accepts, memory: FrameMemory) -> Result<Accepts> {
    match memory {
        FrameMemory::System if base.memory.contains(&FrameMemory::System) => {
            Ok(Accepts { memory: vec![FrameMemory::System], formats: base.formats.clone() })
        }
        FrameMemory::Nvmm if base.takes(FrameMemory::Nvmm, Pixels::Nv12) => {
            Ok(Accepts { memory: vec![FrameMemory::Nvmm], formats: vec![Pixels::Nv12] })
        }
        FrameMemory::Nvmm => Err(Error::model(
            "memory = \"nvmm\" needs a preprocessor that reads NVMM surfaces: set model.preprocess = \"cuda\"",
        )),
        other => Err(Error::model(format!("the preprocessor does not read frames in {other:?} memory"))),
    }
}

/// Capture settings of one stream.
pub fn stream_capture(base: &CaptureOptions, s: &StreamConfig) -> Result<CaptureOptions> {
    let live = !matches!(s.source, SourceSpec::File { .. });
    Ok(CaptureOptions {
        accepts: stream_accepts(&base.accepts, s.memory)?,
        launch: LaunchOptions {
            transport: s.transport,
            latency_ms: s.latency_ms,
            fps_limit: s.fps_limit,
            ..base.launch.clone()
        },
        sync: !live && s.realtime,
        leaky: live || s.realtime,
        ..base.clone()
    })
}

/// For a stream with `memory = "nvmm"`: whether this build and machine can map NVMM surfaces,
/// asked before its pipeline is built. A missing library is a model/engine-class error (exit 3),
/// one line each, naming it and how to install it.
fn nvmm_ready(s: &StreamConfig) -> Result<()> {
    if s.memory != FrameMemory::Nvmm {
        return Ok(());
    }
    crate::capture::nvmm_ready().map_err(|lines| {
        Error::model(lines.iter().map(|l| format!("stream \"{}\": {l}", s.name)).collect::<Vec<_>>().join("\n"))
    })
}

/// Opens a stream's pipeline (the start-up, reload or reconnect step that can fail); `stop`
/// ends a wait for a file's first frame early.
pub fn open_stream(s: &StreamConfig, base: &CaptureOptions, stop: &AtomicBool) -> Result<GstCapture> {
    open_stream_remembering(s, base, stop, Arc::default())
}

/// `open_stream` for a reconnect: an RTSP stream with `transport = "auto"` tries the transport
/// that worked last first (`memory`, kept by the stream's capture thread).
pub fn open_stream_remembering(
    s: &StreamConfig,
    base: &CaptureOptions,
    stop: &AtomicBool,
    memory: Arc<TransportMemory>,
) -> Result<GstCapture> {
    nvmm_ready(s)?;
    let opts = stream_capture(base, s).map_err(|e| Error::model(format!("stream \"{}\": {e}", s.name)))?;
    GstCapture::open_remembering(&s.source, &opts, stop, memory)
        .map_err(|e| Error::source(format!("stream \"{}\": {e}", s.name)))
}

/// The pipeline a stream runs, as `check` prints it (`capture::gst::plan`).
pub fn stream_plan(s: &StreamConfig, base: &CaptureOptions) -> Result<String> {
    let opts = stream_capture(base, s)?;
    Ok(plan(&s.source, &opts.launch, &opts.accepts, opts.fit.is_some()))
}

/// Opens an image or video file frame by frame (`detect`), in system memory.
pub fn open_file(path: &std::path::Path, base: &CaptureOptions, stop: &AtomicBool) -> Result<GstCapture> {
    let opts = CaptureOptions { accepts: stream_accepts(&base.accepts, FrameMemory::System)?, ..base.clone() };
    GstCapture::open(&SourceSpec::File { path: path.to_path_buf() }, &opts, stop)
}

/// The supervision settings of a stream.
pub fn policy(s: &StreamConfig) -> Policy {
    Policy {
        stall_timeout: s.stall_timeout,
        backoff_initial: s.backoff_initial,
        backoff_max: s.backoff_max,
        max_retries: s.max_retries,
        eos_ends: matches!(s.source, SourceSpec::File { .. }),
        looped: s.looped,
    }
}

/// What `run` (and so `check`) says of a configuration without an enabled stream.
pub fn no_streams(cfg: &Config) -> Error {
    Error::config(format!(
        "{}: no enabled [[stream]]; add one with name and uri (see configs/x86-dev.toml)",
        cfg.origin.as_ref().map_or("<config>".into(), |p| p.display().to_string())
    ))
}

/// The enabled streams of a configuration.
pub fn enabled(cfg: &Config) -> Vec<StreamConfig> {
    cfg.streams.iter().filter(|s| s.enabled).cloned().collect()
}

/// Opens every stream or none: on the first failure the ones already opened are dropped.
pub fn open_streams(
    list: &[StreamConfig],
    base: &CaptureOptions,
    stop: &AtomicBool,
) -> Result<Vec<(StreamConfig, GstCapture)>> {
    list.iter().map(|s| Ok((s.clone(), open_stream(s, base, stop)?))).collect()
}

/// Options of `check`.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Skip checks that need the network (RTSP sources).
    pub offline: bool,
    /// How long a network source has to deliver its first frame.
    pub source_timeout: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { offline: false, source_timeout: Duration::from_secs(10) }
    }
}

/// Checks one stream through the pipeline `run` would open. Cameras that a running service
/// holds (V4L2, CSI) are only looked for, and network sources are skipped offline. For an RTSP
/// source that delivered a frame: how it answered (`RTP over UDP, H264, 320x240`).
fn check_source(s: &StreamConfig, base: &CaptureOptions, opts: &CheckOptions) -> Result<Option<String>> {
    let err = |msg: String| Error::source(format!("stream \"{}\": {msg}", s.name));
    // Before anything is looked for: cameras are not opened here, their NVMM path is checked.
    nvmm_ready(s)?;
    match &s.source {
        SourceSpec::V4l2 { device } if !device.exists() => {
            Err(err(format!("{} does not exist; is the camera plugged in?", device.display())))
        }
        SourceSpec::V4l2 { .. } | SourceSpec::Csi { .. } => Ok(None),
        SourceSpec::Rtsp { .. } if opts.offline => Ok(None),
        SourceSpec::Rtsp { .. } => {
            let mut cap = open_stream(s, base, &AtomicBool::new(false))?;
            let start = std::time::Instant::now();
            loop {
                let left = opts.source_timeout.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(err(format!(
                        "{}: no frame within {} s; check the address, the network and that the camera is on",
                        s.source.redacted(),
                        opts.source_timeout.as_secs()
                    )));
                }
                match cap.pull(left.min(Duration::from_millis(500))) {
                    Ok(Pull::Frame(f)) => {
                        let answer = cap.answer().unwrap_or_default();
                        return Ok(Some(format!("{answer}, {}x{}", f.source_width, f.source_height)));
                    }
                    Ok(Pull::Eos) => return Err(err(format!("{}: the stream ended at once", s.source.redacted()))),
                    Ok(Pull::Timeout) => {}
                    Err(e) => return Err(err(e.to_string())),
                }
            }
        }
        // Files preroll when opened (decodable or not), test patterns start.
        SourceSpec::File { .. } | SourceSpec::Test { .. } => {
            open_stream(s, base, &AtomicBool::new(false)).map(|_| None)
        }
    }
}

/// What `check` found: every problem (empty when the configuration can run), the pipeline
/// of each enabled stream, by name, and how each RTSP source that was reached answered.
pub struct Checked {
    pub errors: Vec<Error>,
    pub pipelines: Vec<(String, String)>,
    pub answers: Vec<(String, String)>,
}

/// Stage (b) of validation: every problem that stops `loaded` from running (model, output,
/// sources), found by building them as `run` does.
pub fn check(loaded: &Loaded, opts: &CheckOptions) -> Checked {
    let cfg = &loaded.config;
    let mut errors = Vec::new();
    let mut pipelines = Vec::new();
    let mut answers = Vec::new();
    let base = match detector(&cfg.model) {
        Ok(d) => {
            // Zone and line classes name the model's labels.
            for s in cfg.streams.iter().filter(|s| s.enabled) {
                if let Err(e) = regions(s, &cfg.model, d.labels()) {
                    errors.push(loaded.locate(e));
                }
            }
            if let Some(sc) = &cfg.snapshots
                && let Err(e) = snapshot_classes(sc, &cfg.model, d.labels())
            {
                errors.push(loaded.locate(e));
            }
            capture(d.preprocessor(), &cfg.model, &cfg.pipeline)
        }
        Err(e) => {
            errors.push(loaded.locate(e));
            capture_without_model(&cfg.model, &cfg.pipeline)
        }
    };
    if let Err(e) = probe_sink(&cfg.output) {
        errors.push(e);
    }
    if let Some(sc) = &cfg.snapshots
        && let Err(e) = crate::sink::snapshot::probe(&sc.dir)
    {
        errors.push(e);
    }
    // The rule `run` applies before anything else.
    if enabled(cfg).is_empty() {
        errors.push(no_streams(cfg));
    }
    for s in cfg.streams.iter().filter(|s| s.enabled) {
        if let Ok(line) = stream_plan(s, &base) {
            pipelines.push((s.name.clone(), line));
        }
        match check_source(s, &base, opts) {
            Ok(Some(answer)) => answers.push((s.name.clone(), answer)),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    Checked { errors, pipelines, answers }
}

/// Test-only engine behaviour, compiled only with the `test-hooks` feature (which `cargo test`
/// turns on through a dev-dependency; release builds never read these variables).
mod test_hooks {
    use crate::engine::Engine;

    #[cfg(feature = "test-hooks")]
    pub fn wrap(engine: Box<dyn Engine>) -> Box<dyn Engine> {
        crate::engine::hooked::Hooked::from_env(engine)
    }

    #[cfg(not(feature = "test-hooks"))]
    pub fn wrap(engine: Box<dyn Engine>) -> Box<dyn Engine> {
        engine
    }
}
