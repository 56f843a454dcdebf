//! The TensorRT engine (`model.engine = "tensorrt"`, feature `tensorrt`): a serialized engine, or
//! one built from an `.onnx` model and kept in the engine cache (`engine_cache`), run through the
//! project's own C++ shim over TensorRT's named-tensor API (`shim.cpp`; why not a crate:
//! docs/ops/jetson_tensorrt.md).
//!
//! The input lives on the GPU: the CUDA preprocessor writes each image straight into its slot,
//! on this engine's stream, and `run` enqueues the engine on the same stream, so a frame goes
//! from the preprocessor to the network without a host round trip. Outputs are copied to the
//! host once per run (FP16 outputs widened to f32 there) for the decoders, which never change.
//! The GPU time of each run is measured with CUDA events.
// FFI through cudarc and the shim: each unsafe block says why it holds.
#![allow(unsafe_code)]

pub mod ffi;
pub mod library;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cudarc::driver::{CudaContext, CudaEvent, CudaSlice, CudaStream, DevicePtr};

use super::engine_cache::{self, BuildEvent, Decision, EngineKey, OnMismatch, Precision, ProgressReport};
use super::{BatchOutputs, ElemType, Engine, TensorInfo, TensorView};
use crate::error::{Error, Result};
use crate::preprocess::normalise::f16_to_f32;
use crate::preprocess::{DType, DeviceSlot, InputSlot, Memory};
use library::{Nvinfer, OnnxParser};

/// Preprocessed images for INT8 calibration (implemented above the engine, where images can be
/// decoded: `runtime::calibration`).
pub trait CalibrationSource: Send {
    /// The next batch for an input of `shape` (batch dimension first, f32 elements in the
    /// model's layout), or None when there are no more.
    fn next(&mut self, shape: &[i64]) -> Result<Option<Vec<f32>>>;
    /// Identifies the images (part of the engine cache key).
    fn digest(&self) -> String;
}

/// `[model]` settings of the TensorRT engine.
pub struct TensorRtOptions {
    pub library: Option<PathBuf>,
    pub precision: Precision,
    pub dla_core: Option<u32>,
    /// Largest batch to build for (model.batch).
    pub max_batch: u32,
    /// None: `fsutil::cache_dir()/engines`; none of them: build at every start.
    pub cache_dir: Option<PathBuf>,
    pub on_mismatch: OnMismatch,
    /// INT8 calibration images, for precision int8 with a model without Q/DQ nodes.
    pub calibration: Option<std::sync::Mutex<Box<dyn CalibrationSource>>>,
}

impl TensorRtOptions {
    /// The calibration data's digest for the cache key (empty without INT8 calibration).
    fn calibration_digest(&self) -> String {
        match (&self.calibration, self.precision) {
            (Some(c), Precision::Int8) => c.lock().map(|c| c.digest()).unwrap_or_default(),
            _ => String::new(),
        }
    }
}

/// nvinfer1::DataType numbers.
fn elem_type(t: i32) -> ElemType {
    match t {
        0 => ElemType::F32,
        1 => ElemType::F16,
        5 => ElemType::U8,
        2 => ElemType::Other("i8".into()),
        3 => ElemType::Other("i32".into()),
        4 => ElemType::Other("bool".into()),
        other => ElemType::Other(format!("tensorrt type {other}")),
    }
}

fn elem_size(t: &ElemType) -> Option<usize> {
    match t {
        ElemType::F32 => Some(4),
        ElemType::F16 => Some(2),
        ElemType::U8 => Some(1),
        ElemType::Other(_) => None,
    }
}

fn driver(what: &'static str) -> impl Fn(cudarc::driver::DriverError) -> Error {
    move |e| Error::model(format!("CUDA failed while {what} for the TensorRT engine: {e:?}"))
}

/// The GPU's name and compute capability, for the engine cache key: `Orin (8.7)`.
fn gpu_name(ctx: &CudaContext) -> Result<String> {
    let (major, minor) = ctx.compute_capability().map_err(driver("reading the compute capability"))?;
    Ok(format!("{} ({major}.{minor})", ctx.name().unwrap_or_else(|_| "unknown GPU".into())))
}

/// Everything TensorRT, in drop order: contexts before engines before runtimes before the
/// logger and the library.
struct Trt {
    context: ffi::Context,
    _engine: ffi::CudaEngine,
    _runtime: ffi::Runtime,
    _logger: ffi::Logger,
    _nvinfer: Nvinfer,
}

/// Device and host buffers for the largest batch.
struct Buffers {
    input: CudaSlice<u8>,
    /// Per output: device buffer, element type, per-image shape (batch 1), elements per image.
    outputs: Vec<(CudaSlice<u8>, ElemType, Vec<i64>, usize)>,
    /// Host copies, f32, batch-major.
    host: Vec<Vec<f32>>,
    raw: Vec<u8>,
    batch: usize,
    image_elements: usize,
    input_elem: usize,
}

pub struct TensorRtEngine {
    // Field order is drop order: buffers and TensorRT objects before the stream and context.
    buffers: Option<Buffers>,
    trt: Trt,
    events: (CudaEvent, CudaEvent),
    stream: Arc<CudaStream>,
    ctx: Arc<CudaContext>,
    path: PathBuf,
    input_info: TensorInfo,
    output_infos: Vec<TensorInfo>,
    max_batch: usize,
    dynamic_batch: bool,
    last: Option<usize>,
    /// GPU time of the last run.
    pub gpu_time: Duration,
}

impl TensorRtEngine {
    /// Loads `path`: a serialized engine (`.engine`, `.plan`, `.trt`), or an `.onnx` model whose
    /// engine comes from the cache or is built now.
    pub fn load(path: &Path, opts: &TensorRtOptions) -> Result<TensorRtEngine> {
        crate::fsutil::check(path, &crate::fsutil::MODEL)?;
        let nvinfer = Nvinfer::load(opts.library.as_deref())?;
        // The runtime first: TensorRT initialises CUDA itself and says what is wrong with it
        // ("CUDA initialization failure with error: 35" without a driver).
        let logger = ffi::Logger::new();
        let runtime = new_runtime(&nvinfer, &logger)?;
        // SAFETY: only dlopens candidate names.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(Error::model(format!(
                "model.engine = \"tensorrt\" cannot start: {} was not found: {}",
                crate::preprocess::cuda::probe::DRIVER.name,
                crate::preprocess::cuda::probe::DRIVER.fix
            )));
        }
        let ctx = CudaContext::new(0).map_err(driver("creating a context on device 0 (is a GPU present?)"))?;
        if let Some(core) = opts.dla_core {
            runtime.set_dla_core(core as i32);
        }
        let is_onnx = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
        let engine = if is_onnx {
            load_from_onnx(path, opts, &nvinfer, &logger, &runtime, &ctx)?
        } else {
            let blob = crate::fsutil::read(path, &crate::fsutil::MODEL)?;
            runtime.deserialize(&blob).ok_or_else(|| {
                Error::model(format!(
                    "{} is not a TensorRT engine this TensorRT ({}) and GPU can load ({}); rebuild it with `edgesight \
                     engine build` on this device, or give model.path the .onnx model",
                    path.display(),
                    version_text(nvinfer.version),
                    logger.last_errors()
                ))
            })?
        };
        Self::from_engine(path, engine, runtime, logger, nvinfer, ctx)
    }

    fn from_engine(
        path: &Path,
        mut engine: ffi::CudaEngine,
        runtime: ffi::Runtime,
        logger: ffi::Logger,
        nvinfer: Nvinfer,
        ctx: Arc<CudaContext>,
    ) -> Result<TensorRtEngine> {
        let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
        for i in 0..engine.io_count() {
            let name = engine.io_name(i);
            let info =
                TensorInfo { dtype: elem_type(engine.dtype(&name)), shape: engine.shape(&name), name: name.clone() };
            if engine.is_input(&name) { inputs.push(info) } else { outputs.push(info) }
        }
        let input_info = match inputs.as_slice() {
            [one] => one.clone(),
            _ => {
                return Err(Error::model(format!(
                    "{} has {} inputs ({}); edgesight feeds engines with exactly one image input",
                    path.display(),
                    inputs.len(),
                    super::describe(&inputs)
                )));
            }
        };
        let dynamic_batch = input_info.shape.first().is_some_and(|&b| b < 0);
        let max_batch = if dynamic_batch {
            engine.profile(&input_info.name).and_then(|(_, max)| max.first().copied()).unwrap_or(1).max(1) as usize
        } else {
            input_info.shape.first().copied().unwrap_or(1).max(1) as usize
        };
        let context = engine.context().ok_or_else(|| {
            Error::model(format!(
                "TensorRT could not create an execution context for {}: {}",
                path.display(),
                logger.last_errors()
            ))
        })?;
        let stream = ctx.new_stream().map_err(driver("creating a stream"))?;
        let events = (
            ctx.new_event(None).map_err(driver("creating timing events"))?,
            ctx.new_event(None).map_err(driver("creating timing events"))?,
        );
        log::info!(
            "tensorrt: {} with TensorRT {} ({}), input {}, batch up to {max_batch}",
            path.display(),
            version_text(nvinfer.version),
            nvinfer.path.display(),
            input_info
        );
        Ok(TensorRtEngine {
            buffers: None,
            trt: Trt { context, _engine: engine, _runtime: runtime, _logger: logger, _nvinfer: nvinfer },
            events,
            stream,
            ctx,
            path: path.to_path_buf(),
            input_info,
            output_infos: outputs,
            max_batch,
            dynamic_batch,
            last: None,
            gpu_time: Duration::ZERO,
        })
    }

    fn err(&self, what: &str) -> Error {
        Error::model(format!("{}: {what}", self.path.display()))
    }
}

fn version_text(v: (i32, i32, i32)) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

/// A TensorRT runtime, or the one-line error naming TensorRT's own messages and the driver.
fn new_runtime(nvinfer: &Nvinfer, logger: &ffi::Logger) -> Result<ffi::Runtime> {
    ffi::Runtime::new(nvinfer.create_runtime, logger).map_err(|msg| {
        Error::model(format!(
            "TensorRT {} ({}) could not create a runtime: {msg}; check the NVIDIA driver ({}) and GPU, or use \
             model.engine = \"onnx-cpu\"",
            version_text(nvinfer.version),
            nvinfer.path.display(),
            crate::preprocess::cuda::probe::DRIVER.name
        ))
    })
}

/// Where the engine of the ONNX model at `path` (its bytes `onnx`) lives in the cache: its key
/// for this TensorRT, GPU and settings, the model's file stem, and the cache folder (None: no
/// cache folder known).
fn cache_entry(
    path: &Path,
    onnx: &[u8],
    opts: &TensorRtOptions,
    nvinfer: &Nvinfer,
    ctx: &CudaContext,
) -> Result<(EngineKey, String, Option<PathBuf>)> {
    let key = EngineKey {
        onnx_sha256: crate::sha256::hex(onnx),
        tensorrt: version_text(nvinfer.version),
        gpu: gpu_name(ctx)?,
        dla_core: opts.dla_core,
        precision: opts.precision,
        max_batch: opts.max_batch.max(1),
        calibration: opts.calibration_digest(),
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let dir = opts.cache_dir.clone().or_else(|| crate::fsutil::cache_dir().map(|d| d.join("engines")));
    Ok((key, stem, dir))
}

/// The engine of an `.onnx` model: from the cache when one was built for exactly this set-up,
/// else built now (and stored), or refused, as `on_mismatch` says.
fn load_from_onnx(
    path: &Path,
    opts: &TensorRtOptions,
    nvinfer: &Nvinfer,
    logger: &ffi::Logger,
    runtime: &ffi::Runtime,
    ctx: &Arc<CudaContext>,
) -> Result<ffi::CudaEngine> {
    let onnx = crate::fsutil::read(path, &crate::fsutil::MODEL)?;
    let (key, stem, dir) = cache_entry(path, &onnx, opts, nvinfer, ctx)?;
    let cached = dir.as_deref().map(|d| engine_cache::cached(d, &stem)).unwrap_or_default();
    let mut decision = engine_cache::decide(&key, &cached, opts.on_mismatch);
    if let Decision::Use(file) = &decision {
        match crate::fsutil::read(file, &crate::fsutil::MODEL).ok().and_then(|b| runtime.deserialize(&b)) {
            Some(engine) => {
                log::info!("tensorrt: using the cached engine {}", file.display());
                return Ok(engine);
            }
            None => decision = engine_cache::after_failed_load(file, &logger.last_errors(), opts.on_mismatch),
        }
    }
    match decision {
        Decision::Use(_) => unreachable!("handled above"),
        Decision::Refuse { reason } => Err(Error::model(format!("{}: {reason}", path.display()))),
        Decision::Build { reason } => {
            log::info!("tensorrt: building an engine for {}: {reason}; this takes minutes on a Jetson", path.display());
            let blob = build_engine(&onnx, opts, nvinfer, logger, ctx)?;
            match dir.as_deref().map(|d| engine_cache::store(d, &stem, &key, &blob)) {
                Some(Ok(file)) => log::info!("tensorrt: engine stored in {}", file.display()),
                Some(Err(e)) => {
                    log::warn!("tensorrt: the engine could not be cached ({e}); it is built again at the next start")
                }
                None => {
                    log::warn!("tensorrt: no cache folder (set model.engine_cache); the engine is built at every start")
                }
            }
            runtime.deserialize(&blob).ok_or_else(|| {
                Error::model(format!("TensorRT built an engine it cannot load: {}", logger.last_errors()))
            })
        }
    }
}

/// `edgesight engine build`: builds the engine of `onnx` for this device and stores it in the
/// cache (the key `run` computes for the same settings) or writes it to `output`; checks that it
/// deserializes. Returns where it went.
pub fn build_to(onnx: &Path, opts: &TensorRtOptions, output: Option<&Path>) -> Result<PathBuf> {
    crate::fsutil::check(onnx, &crate::fsutil::MODEL)?;
    let nvinfer = Nvinfer::load(opts.library.as_deref())?;
    let logger = ffi::Logger::new();
    let runtime = new_runtime(&nvinfer, &logger)?;
    let ctx = CudaContext::new(0).map_err(driver("creating a context on device 0 (is a GPU present?)"))?;
    let bytes = crate::fsutil::read(onnx, &crate::fsutil::MODEL)?;
    let (key, stem, dir) = cache_entry(onnx, &bytes, opts, &nvinfer, &ctx)?;
    log::info!("tensorrt: building {} for {} with TensorRT {}", onnx.display(), key.gpu, key.tensorrt);
    let blob = build_engine(&bytes, opts, &nvinfer, &logger, &ctx)?;
    if runtime.deserialize(&blob).is_none() {
        return Err(Error::model(format!("TensorRT built an engine it cannot load: {}", logger.last_errors())));
    }
    let written = match output {
        Some(out) => std::fs::write(out, &blob).map(|_| out.to_path_buf()),
        None => {
            let dir = dir.ok_or_else(|| Error::model("no engine cache folder: pass --cache DIR or --output FILE"))?;
            engine_cache::store(&dir, &stem, &key, &blob)
        }
    };
    written.map_err(|e| Error::output(format!("cannot write the engine: {e}; choose another --output or --cache")))
}

/// Builds a serialized engine from ONNX bytes, logging progress and extending systemd's start
/// timeout while it runs.
pub fn build_engine(
    onnx: &[u8],
    opts: &TensorRtOptions,
    nvinfer: &Nvinfer,
    logger: &ffi::Logger,
    ctx: &Arc<CudaContext>,
) -> Result<Vec<u8>> {
    let create_builder = nvinfer.create_builder.ok_or_else(|| {
        Error::model(format!(
            "{} runs prebuilt engines only (a lean or dispatch runtime) and cannot build one: install the full \
             TensorRT (libnvinfer) or give model.path a prebuilt .engine file",
            nvinfer.path.display()
        ))
    })?;
    let parser = OnnxParser::load(nvinfer)?;
    let clock = crate::clock::RealClock;
    let mut log_line = |l: String| log::info!("tensorrt: {l}");
    let mut extend = |usec: u32| {
        // Only under systemd; harmless elsewhere.
        let _ = sd_notify::notify(&[sd_notify::NotifyState::ExtendTimeoutUsec(usec)]);
    };
    let report = ProgressReport::new(&clock, Duration::from_secs(15), &mut log_line, &mut extend);
    unsafe extern "C" fn on_progress(
        user: *mut std::ffi::c_void,
        kind: i32,
        phase: *const std::ffi::c_char,
        value: i32,
    ) {
        // SAFETY: `user` is the BuildState below, alive for the whole build; `phase` is a
        // NUL-terminated string TensorRT owns during the call.
        let (state, phase) = unsafe {
            (&mut *(user as *mut BuildState<'_, '_>), std::ffi::CStr::from_ptr(phase).to_string_lossy().into_owned())
        };
        let report = &mut state.report;
        let e = match kind {
            0 => BuildEvent::PhaseStart { phase, steps: value },
            1 => BuildEvent::Step { phase, step: value },
            _ => BuildEvent::PhaseFinish { phase },
        };
        report.event(&e);
    }
    let options = ffi::BuildOptions {
        precision: opts.precision.code(),
        dla_core: opts.dla_core.map_or(-1, |c| c as i32),
        max_batch: opts.max_batch.max(1) as i32,
        calib_batch: 0,
        workspace: 0,
        calib_cache: std::ptr::null(),
        calib_cache_len: 0,
    };
    let calib_guard = match (&opts.calibration, opts.precision) {
        (Some(c), Precision::Int8) => Some(c.lock().map_err(|_| Error::other("calibration source poisoned"))?),
        _ => None,
    };
    let mut state = BuildState {
        report,
        calibration: calib_guard.map(|g| Calibration {
            source: g,
            stream: ctx.default_stream(),
            buffer: None,
            batches: 0,
            error: None,
        }),
    };
    let callbacks = ffi::BuildCallbacks {
        progress: Some(on_progress),
        calib_batch: state.calibration.is_some().then_some(on_calib_batch as ffi::CalibBatchFn),
        calib_cache: None,
        user: &mut state as *mut BuildState<'_, '_> as *mut std::ffi::c_void,
    };
    // TensorRT 8.5 has no progress monitor: a ticker keeps systemd's start timeout extended and
    // says the build is alive whatever the version reports.
    let done = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            let started = std::time::Instant::now();
            let stop = &done;
            let real = crate::clock::RealClock;
            while crate::clock::Clock::sleep(&real, Duration::from_secs(20), stop) {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::ExtendTimeoutUsec(60_000_000)]);
                log::info!("tensorrt: still building the engine, {} s", started.elapsed().as_secs());
            }
        });
        let r = ffi::build(create_builder, parser.create, logger, onnx, &options, &callbacks);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    });
    if let Some(c) = &mut state.calibration {
        if let Some(e) = c.error.take() {
            return Err(e);
        }
        log::info!("tensorrt: INT8 calibration used {} batches", c.batches);
    }
    result.map_err(|e| Error::model(format!("TensorRT could not build an engine: {e}")))
}

/// What the build callbacks reach through their `user` pointer.
struct BuildState<'r, 'c> {
    report: ProgressReport<'r>,
    calibration: Option<Calibration<'c>>,
}

struct Calibration<'c> {
    source: std::sync::MutexGuard<'c, Box<dyn CalibrationSource>>,
    stream: Arc<CudaStream>,
    buffer: Option<CudaSlice<f32>>,
    batches: usize,
    /// The first failure, reported after the build (TensorRT only sees "no more batches").
    error: Option<Error>,
}

impl Calibration<'_> {
    /// The next batch uploaded to the device: its address, or None when done or failed.
    fn next(&mut self, shape: &[i64]) -> Option<u64> {
        let batch = match self.source.next(shape) {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                self.error.get_or_insert(e);
                return None;
            }
        };
        let want = shape.iter().product::<i64>().max(0) as usize;
        if batch.len() != want {
            self.error.get_or_insert(Error::model(format!(
                "calibration batch of {} values for an input of {shape:?} ({want})",
                batch.len()
            )));
            return None;
        }
        if self.buffer.as_ref().is_none_or(|b| b.len() != want) {
            match self.stream.alloc_zeros::<f32>(want) {
                Ok(b) => self.buffer = Some(b),
                Err(e) => {
                    self.error
                        .get_or_insert(Error::model(format!("CUDA failed allocating a calibration batch: {e:?}")));
                    return None;
                }
            }
        }
        let buf = self.buffer.as_mut()?;
        if let Err(e) = self.stream.memcpy_htod(&batch, buf).and_then(|_| self.stream.synchronize()) {
            self.error.get_or_insert(Error::model(format!("CUDA failed uploading a calibration batch: {e:?}")));
            return None;
        }
        self.batches += 1;
        Some(buf.device_ptr(&self.stream).0)
    }
}

unsafe extern "C" fn on_calib_batch(
    user: *mut std::ffi::c_void,
    dims: *const i64,
    nb_dims: i32,
    device_input: *mut *mut std::ffi::c_void,
) -> i32 {
    // SAFETY: `user` is the BuildState of build_engine, alive for the whole build; `dims` holds
    // `nb_dims` values owned by the shim's calibrator; `device_input` is one writable pointer.
    let (state, shape) = unsafe {
        (&mut *(user as *mut BuildState<'_, '_>), std::slice::from_raw_parts(dims, nb_dims.clamp(0, 8) as usize))
    };
    let Some(cal) = state.calibration.as_mut() else { return 0 };
    match cal.next(shape) {
        Some(ptr) => {
            // SAFETY: see above.
            unsafe { *device_input = ptr as *mut std::ffi::c_void };
            1
        }
        None => 0,
    }
}

impl Engine for TensorRtEngine {
    fn name(&self) -> &'static str {
        "tensorrt"
    }

    fn input(&self) -> &TensorInfo {
        &self.input_info
    }

    fn outputs(&self) -> &[TensorInfo] {
        &self.output_infos
    }

    fn input_memory(&self) -> Memory {
        Memory::Cuda { device: 0 }
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn allocate(&mut self, image_shape: [i64; 4], batch: usize) -> Result<()> {
        // TensorRT works in the calling thread's current context: ours (the primary context,
        // shared with the CUDA preprocessor), whichever thread runs the detector.
        self.ctx.bind_to_thread().map_err(driver("binding the CUDA context"))?;
        if batch == 0 || batch > self.max_batch {
            return Err(self.err(&format!(
                "a batch of {batch}, the engine takes at most {} (rebuild it with the batch: model.batch, or \
                 `edgesight engine build --batch N`)",
                self.max_batch
            )));
        }
        let input_elem = elem_size(&self.input_info.dtype)
            .ok_or_else(|| self.err(&format!("input {} is not f32, f16 or u8", self.input_info)))?;
        let image_elements = image_shape.iter().product::<i64>().max(0) as usize;
        let full = [batch as i64, image_shape[1], image_shape[2], image_shape[3]];
        if self.dynamic_batch && !self.trt.context.set_input_shape(&self.input_info.name, &full) {
            return Err(self.err(&format!("TensorRT refused the input shape {full:?}")));
        }
        // SAFETY: device memory written by the preprocessor before the engine reads it.
        let input = unsafe { self.stream.alloc::<u8>(batch * image_elements * input_elem) }
            .map_err(driver("allocating the input"))?;
        let mut outputs = Vec::new();
        for info in &self.output_infos {
            let size = elem_size(&info.dtype)
                .filter(|_| info.dtype != ElemType::U8)
                .ok_or_else(|| self.err(&format!("output {info} is not f32 or f16; the decoders read floats")))?;
            let mut per_image = info.shape.clone();
            if let Some(b) = per_image.first_mut() {
                *b = 1;
            }
            if per_image.iter().any(|&d| d < 0) {
                return Err(self.err(&format!("output {info} has dynamic dimensions besides the batch")));
            }
            let n = per_image.iter().product::<i64>() as usize;
            // SAFETY: written by the engine before it is read back.
            let dev = unsafe { self.stream.alloc::<u8>(batch * n * size) }.map_err(driver("allocating an output"))?;
            outputs.push((dev, info.dtype.clone(), per_image, n));
        }
        let input_ptr = input.device_ptr(&self.stream).0;
        // SAFETY: the buffers hold the largest batch and live as long as the context uses them
        // (both owned by this engine; `buffers` is dropped before `trt`).
        unsafe {
            if !self.trt.context.set_address(&self.input_info.name, input_ptr) {
                return Err(self.err("TensorRT refused the input address"));
            }
            for ((dev, _, _, _), info) in outputs.iter().zip(&self.output_infos) {
                let (p, _s) = dev.device_ptr(&self.stream);
                if !self.trt.context.set_address(&info.name, p) {
                    return Err(self.err(&format!("TensorRT refused the address of output {}", info.name)));
                }
            }
        }
        let host = outputs.iter().map(|(_, _, _, n)| vec![0f32; batch * n]).collect();
        let raw_len = outputs.iter().map(|(d, _, _, _)| d.len()).max().unwrap_or(0);
        self.buffers = Some(Buffers { input, outputs, host, raw: vec![0; raw_len], batch, image_elements, input_elem });
        self.last = None;
        Ok(())
    }

    fn slot(&mut self, batch: usize, image: usize) -> Result<InputSlot<'_>> {
        let Some(b) = &self.buffers else { return Err(self.err("engine used before allocate()")) };
        if image >= batch || batch > b.batch {
            return Err(self.err(&format!("input slot {image} of a batch of {batch} (allocated for {})", b.batch)));
        }
        let (base, _s) = b.input.device_ptr(&self.stream);
        let dtype = match self.input_info.dtype {
            ElemType::F16 => DType::F16,
            ElemType::U8 => DType::U8,
            _ => DType::F32,
        };
        let ptr = base + (image * b.image_elements * b.input_elem) as u64;
        Ok(InputSlot::Device(DeviceSlot::new(ptr, b.image_elements, dtype, 0, self.stream.cu_stream() as u64)))
    }

    fn run(&mut self, batch: usize) -> Result<()> {
        self.last = None;
        self.ctx.bind_to_thread().map_err(driver("binding the CUDA context"))?;
        let Some(b) = self.buffers.as_mut() else { return Err(self.err("engine used before allocate()")) };
        if batch == 0 || batch > b.batch {
            return Err(Error::model(format!("a batch of {batch}, allocated for {}", b.batch)));
        }
        if self.dynamic_batch {
            let mut dims = self.input_info.shape.clone();
            dims[0] = batch as i64;
            // The spatial dimensions are the allocated ones (static in every engine we build).
            if dims.iter().skip(1).any(|&d| d < 0) {
                return Err(Error::model(format!(
                    "{}: dynamic spatial dimensions are not supported",
                    self.path.display()
                )));
            }
            if !self.trt.context.set_input_shape(&self.input_info.name, &dims) {
                return Err(Error::model(format!("{}: TensorRT refused a batch of {batch}", self.path.display())));
            }
        }
        self.events.0.record(&self.stream).map_err(driver("timing"))?;
        // SAFETY: the addresses were set in allocate() for buffers of the largest batch; the
        // stream is this engine's, on which the preprocessor queued the input writes.
        if !unsafe { self.trt.context.enqueue(self.stream.cu_stream() as u64) } {
            return Err(Error::model(format!("{}: TensorRT could not enqueue the engine", self.path.display())));
        }
        self.events.1.record(&self.stream).map_err(driver("timing"))?;
        for ((dev, dtype, _, n), host) in b.outputs.iter().zip(b.host.iter_mut()) {
            let count = batch * *n;
            match dtype {
                ElemType::F16 => {
                    let bytes = &mut b.raw[..count * 2];
                    self.stream.memcpy_dtoh(&dev.slice(..count * 2), bytes).map_err(driver("copying outputs"))?;
                    self.stream.synchronize().map_err(driver("running the engine"))?;
                    for (o, c) in host.iter_mut().zip(bytes.chunks_exact(2)) {
                        *o = f16_to_f32(u16::from_le_bytes([c[0], c[1]]));
                    }
                }
                _ => {
                    // SAFETY: f32 has no invalid bit patterns; the byte view covers `count` floats.
                    let bytes = unsafe { std::slice::from_raw_parts_mut(host.as_mut_ptr().cast::<u8>(), count * 4) };
                    self.stream.memcpy_dtoh(&dev.slice(..count * 4), bytes).map_err(driver("copying outputs"))?;
                }
            }
        }
        self.stream.synchronize().map_err(driver("running the engine"))?;
        let ms = self.events.0.elapsed_ms(&self.events.1).unwrap_or(0.0);
        self.gpu_time = Duration::from_secs_f32(ms.max(0.0) / 1000.0);
        log::trace!("tensorrt: batch of {batch} in {ms:.2} ms GPU time");
        self.last = Some(batch);
        Ok(())
    }

    fn results(&self) -> &dyn BatchOutputs {
        self
    }
}

impl BatchOutputs for TensorRtEngine {
    fn output(&self, image: usize, index: usize) -> Result<TensorView<'_>> {
        let (Some(b), Some(n)) = (&self.buffers, self.last) else {
            return Err(Error::model(format!("output {index} read before the engine ran")));
        };
        if image >= n {
            return Err(Error::model(format!("output of image {image} of a batch of {n}")));
        }
        let (Some((_, _, shape, per)), Some(host)) = (b.outputs.get(index), b.host.get(index)) else {
            return Err(Error::model(format!("output {index} of {}", b.outputs.len())));
        };
        Ok(TensorView { shape, data: &host[image * per..(image + 1) * per] })
    }
}
