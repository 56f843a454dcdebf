//! ONNX Runtime engine (CPU execution provider): the x86 and CI path.
//!
//! Input and outputs are bound once with an `IoBinding` to tensors allocated at start-up, so a
//! run writes into the same memory frame after frame.

use std::path::{Path, PathBuf};

use ort::memory::Allocator;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};

use super::{BatchOutputs, ElemType, Engine, ShapeDisplay, TensorInfo, TensorView};
use crate::error::{Error, Result};
use crate::preprocess::{InputSlot, Memory, TensorMut};

/// Options for loading a model with ONNX Runtime.
#[derive(Debug, Clone, Default)]
pub struct OnnxOptions {
    /// Intra-op threads; 0 lets ONNX Runtime choose (one per physical core).
    pub threads: usize,
    /// Explicit path of libonnxruntime (config key `model.onnxruntime_lib`).
    pub library: Option<PathBuf>,
    /// Whether the intra-op workers busy-wait for work (`model.spin_wait`, resolved).
    pub spin: bool,
}

enum InputTensor {
    F32(Tensor<f32>),
    U8(Tensor<u8>),
}

/// Where an output's data lives after a run.
enum OutSlot {
    /// Pre-allocated tensor bound to the output (shape known once the input shape is).
    Bound(Tensor<f32>),
    /// Output with a data-dependent shape: ONNX Runtime allocates it, kept until the next run.
    Dynamic(Option<DynValue>),
}

/// The outputs of a run of `batch` images.
struct OnnxOutputs {
    names: Vec<String>,
    slots: Vec<OutSlot>,
    batch: usize,
    /// Per output, its shape with the batch dimension set to 1 (refreshed after every run, in
    /// place, so a batch costs no allocation).
    image_shapes: Vec<Vec<i64>>,
}

impl OnnxOutputs {
    fn whole(&self, index: usize) -> Result<(&[i64], &[f32])> {
        let name = self.names.get(index).map(String::as_str).unwrap_or("?");
        let extracted = match self.slots.get(index) {
            Some(OutSlot::Bound(t)) => Ok(t.extract_tensor()),
            Some(OutSlot::Dynamic(Some(v))) => v.try_extract_tensor::<f32>(),
            _ => {
                return Err(Error::model(format!("output {index} ({name}) has not been computed")));
            }
        };
        let (shape, data) = extracted.map_err(|e| Error::model(format!("output {name} cannot be read as f32: {e}")))?;
        Ok((shape, data))
    }

    /// Records each output's per-image shape after a run, checking it is batched.
    fn refresh_shapes(&mut self) -> Result<()> {
        let mut shapes = std::mem::take(&mut self.image_shapes);
        shapes.resize_with(self.slots.len(), Vec::new);
        for (i, s) in shapes.iter_mut().enumerate() {
            let (shape, _) = self.whole(i)?;
            if self.batch > 1 && shape.first() != Some(&(self.batch as i64)) {
                let name = &self.names[i];
                return Err(Error::model(format!(
                    "output {name} has shape {} for a batch of {}; edgesight batches models whose outputs \
                     start with the batch dimension: set model.batch = 1",
                    ShapeDisplay(shape),
                    self.batch
                )));
            }
            s.clear();
            s.extend_from_slice(shape);
            if let Some(first) = s.first_mut()
                && self.batch > 1
            {
                *first = 1;
            }
        }
        self.image_shapes = shapes;
        Ok(())
    }
}

impl BatchOutputs for OnnxOutputs {
    fn output(&self, image: usize, index: usize) -> Result<TensorView<'_>> {
        let (shape, data) = self.whole(index)?;
        if self.batch == 1 {
            return Ok(TensorView { shape, data });
        }
        if image >= self.batch {
            return Err(Error::model(format!("image {image} of a batch of {}", self.batch)));
        }
        let per = data.len() / self.batch;
        Ok(TensorView { shape: &self.image_shapes[index], data: &data[image * per..(image + 1) * per] })
    }
}

/// Tensors and binding for one batch size, made the first time that size runs.
struct Sized {
    input: InputTensor,
    binding: IoBinding,
    outputs: OnnxOutputs,
}

pub struct OnnxEngine {
    path: PathBuf,
    session: Session,
    input_info: TensorInfo,
    output_infos: Vec<TensorInfo>,
    /// The model's fixed batch size, when its input declares one.
    static_batch: Option<usize>,
    /// Per-image input shape and the largest batch that will run, from `allocate`.
    image_shape: Option<[i64; 4]>,
    batch_cap: usize,
    /// Index n - 1: the tensors for batches of n.
    sized: Vec<Option<Sized>>,
    /// Batch size of the last run.
    last: Option<usize>,
}

fn elem_type(t: TensorElementType) -> ElemType {
    match t {
        TensorElementType::Float32 => ElemType::F32,
        TensorElementType::Uint8 => ElemType::U8,
        other => ElemType::Other(format!("{other:?}").to_lowercase()),
    }
}

fn tensor_info(name: &str, ty: &ValueType) -> TensorInfo {
    match ty {
        ValueType::Tensor { ty, shape, .. } => {
            TensorInfo { name: name.to_string(), dtype: elem_type(*ty), shape: shape.to_vec() }
        }
        other => TensorInfo {
            name: name.to_string(),
            dtype: ElemType::Other(format!("{other:?}").to_lowercase()),
            shape: Vec::new(),
        },
    }
}

/// Checks the file before ONNX Runtime sees it, so the common mistakes get specific messages and
/// a directory, FIFO or device (`/dev/zero`) is never handed to it: a regular file of at most
/// 2 GiB (`fsutil::MODEL`), not empty.
fn check_model_file(path: &Path) -> Result<()> {
    let meta = crate::fsutil::check(path, &crate::fsutil::MODEL)?;
    if meta.len() == 0 {
        return Err(Error::model(format!("model file {} is empty; copy the model again", path.display())));
    }
    Ok(())
}

impl OnnxEngine {
    pub fn load(path: &Path, opts: &OnnxOptions) -> Result<OnnxEngine> {
        check_model_file(path)?;
        let env = super::ortlib::environment(opts.library.as_deref())?;
        let err = |stage: &str, e: &dyn std::fmt::Display| {
            Error::model(format!("ONNX Runtime could not {stage} for {}: {e}", path.display()))
        };
        let mut builder = Session::builder(env)
            .map_err(|e| err("create a session", &e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| err("set the optimisation level", &e))?
            .with_inter_threads(1)
            .map_err(|e| err("set inter-op threads", &e))?;
        if opts.threads > 0 {
            builder = builder.with_intra_threads(opts.threads).map_err(|e| err("set intra-op threads", &e))?;
        }
        // Off, the workers sleep between operators instead of taking a core the decoder or the
        // preprocessor needs (config::threads::spin).
        builder = builder.with_intra_op_spinning(opts.spin).map_err(|e| err("set intra-op spinning", &e))?;
        // No memory pattern: ONNX Runtime then takes each run's tensors from its arena instead of
        // keeping a planned block per input shape beside it; 15 MB less RSS with the same
        // inference time (docs/perf/optimization_guide.md, "Threads and cores").
        builder = builder.with_memory_pattern(false).map_err(|e| err("turn off the memory pattern", &e))?;
        let session = builder.commit_from_file(path).map_err(|e| {
            Error::model(format!(
                "{} is not a loadable ONNX model ({e}); the file may be truncated or not ONNX: copy or export it again",
                path.display()
            ))
        })?;
        let inputs: Vec<TensorInfo> = session.inputs().iter().map(|o| tensor_info(o.name(), o.dtype())).collect();
        let output_infos: Vec<TensorInfo> =
            session.outputs().iter().map(|o| tensor_info(o.name(), o.dtype())).collect();
        let input_info = match inputs.as_slice() {
            [one] => one.clone(),
            _ => {
                return Err(Error::model(format!(
                    "{} has {} inputs ({}); edgesight feeds models with exactly one image input",
                    path.display(),
                    inputs.len(),
                    super::describe(&inputs)
                )));
            }
        };
        let static_batch = match input_info.shape.first() {
            Some(&b) if b > 0 => Some(b as usize),
            _ => None,
        };
        Ok(OnnxEngine {
            path: path.to_path_buf(),
            session,
            input_info,
            output_infos,
            static_batch,
            image_shape: None,
            batch_cap: 1,
            sized: Vec::new(),
            last: None,
        })
    }

    fn model_err(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::model(format!("{}: {what}: {e}", self.path.display()))
    }
}

impl OnnxEngine {
    /// Tensors and binding for `n` images, allocated once per size.
    fn make_sized(&self, n: usize) -> Result<Sized> {
        let Some(image) = self.image_shape else {
            return Err(Error::model("engine used before allocate()"));
        };
        let alloc = Allocator::default();
        let shape = [n as i64, image[1], image[2], image[3]];
        let input = match self.input_info.dtype {
            ElemType::F32 => InputTensor::F32(
                Tensor::<f32>::new(&alloc, shape).map_err(|e| self.model_err("allocating the input", e))?,
            ),
            ElemType::U8 => InputTensor::U8(
                Tensor::<u8>::new(&alloc, shape).map_err(|e| self.model_err("allocating the input", e))?,
            ),
            ref other => {
                return Err(Error::model(format!(
                    "{}: input {} is {other}; edgesight feeds f32 or u8 inputs (export the model with one of those)",
                    self.path.display(),
                    self.input_info.name
                )));
            }
        };
        let mut binding = self.session.create_binding().map_err(|e| self.model_err("creating the I/O binding", e))?;
        match &input {
            InputTensor::F32(t) => binding.bind_input(&self.input_info.name, t),
            InputTensor::U8(t) => binding.bind_input(&self.input_info.name, t),
        }
        .map_err(|e| self.model_err("binding the input", e))?;
        // Outputs whose only dynamic dimension is the batch get a pre-allocated tensor.
        let mut slots = Vec::with_capacity(self.output_infos.len());
        for info in &self.output_infos {
            if info.dtype != ElemType::F32 {
                return Err(Error::model(format!(
                    "{}: output {info} is not f32; the detector families read f32 outputs",
                    self.path.display()
                )));
            }
            let mut shape = info.shape.clone();
            if let Some(first) = shape.first_mut()
                && *first < 0
            {
                *first = n as i64;
            }
            if shape.iter().all(|&d| d >= 0) {
                let mut t = Tensor::<f32>::new(&alloc, shape.clone())
                    .map_err(|e| self.model_err(&format!("allocating output {}", info.name), e))?;
                binding
                    .bind_output(&info.name, &mut t)
                    .map_err(|e| self.model_err(&format!("binding output {}", info.name), e))?;
                slots.push(OutSlot::Bound(t));
            } else {
                let mem = alloc.memory_info();
                binding
                    .bind_output_to_device(&info.name, mem)
                    .map_err(|e| self.model_err(&format!("binding output {}", info.name), e))?;
                log::debug!("output {} has dynamic shape {}; allocated per run", info.name, ShapeDisplay(&info.shape));
                slots.push(OutSlot::Dynamic(None));
            }
        }
        let names = self.output_infos.iter().map(|o| o.name.clone()).collect();
        Ok(Sized { input, binding, outputs: OnnxOutputs { names, slots, batch: n, image_shapes: Vec::new() } })
    }

    /// The tensors a batch of `n` images runs in: `n`, or the model's fixed batch.
    fn sized_for(&mut self, n: usize) -> Result<&mut Sized> {
        if n == 0 || n > self.batch_cap {
            return Err(Error::model(format!(
                "{}: a batch of {n} images, the engine was allocated for 1 to {}",
                self.path.display(),
                self.batch_cap
            )));
        }
        let n = self.static_batch.unwrap_or(n);
        if self.sized.len() < n {
            self.sized.resize_with(n, || None);
        }
        if self.sized[n - 1].is_none() {
            self.sized[n - 1] = Some(self.make_sized(n)?);
        }
        self.sized[n - 1].as_mut().ok_or_else(|| Error::model("engine used before allocate()"))
    }
}

impl Engine for OnnxEngine {
    fn name(&self) -> &'static str {
        "onnx-cpu"
    }

    fn input(&self) -> &TensorInfo {
        &self.input_info
    }

    fn outputs(&self) -> &[TensorInfo] {
        &self.output_infos
    }

    fn input_memory(&self) -> Memory {
        Memory::Host
    }

    fn max_batch(&self) -> usize {
        self.static_batch.unwrap_or(usize::MAX)
    }

    fn allocate(&mut self, image_shape: [i64; 4], batch: usize) -> Result<()> {
        if batch == 0 || batch > self.max_batch() {
            return Err(Error::model(format!(
                "{}: a batch of {batch}, the model takes {} (input {})",
                self.path.display(),
                self.static_batch.unwrap_or(1),
                self.input_info
            )));
        }
        self.image_shape = Some(image_shape);
        self.batch_cap = batch;
        self.sized.clear();
        self.last = None;
        // The full batch now, so a model that cannot run it fails at start-up; smaller batches
        // are allocated the first time they occur.
        self.sized_for(batch)?;
        Ok(())
    }

    fn slot(&mut self, batch: usize, image: usize) -> Result<InputSlot<'_>> {
        if image >= batch {
            return Err(Error::model(format!("input slot {image} of a batch of {batch}")));
        }
        let sized = self.sized_for(batch)?;
        Ok(InputSlot::Host(match &mut sized.input {
            InputTensor::F32(t) => {
                let data = t.extract_tensor_mut().1;
                let per = data.len() / sized.outputs.batch;
                TensorMut::F32(&mut data[image * per..(image + 1) * per])
            }
            InputTensor::U8(t) => {
                let data = t.extract_tensor_mut().1;
                let per = data.len() / sized.outputs.batch;
                TensorMut::U8(&mut data[image * per..(image + 1) * per])
            }
        }))
    }

    fn run(&mut self, batch: usize) -> Result<()> {
        let path = self.path.clone();
        self.last = None;
        let n = self.static_batch.unwrap_or(batch);
        self.sized_for(batch)?;
        let OnnxEngine { session, sized, .. } = self;
        let Some(Some(sized)) = sized.get_mut(n - 1) else {
            return Err(Error::model("engine used before allocate()"));
        };
        let mut results = session
            .run_binding(&sized.binding)
            .map_err(|e| Error::model(format!("{}: inference failed: {e}", path.display())))?;
        let outputs = &mut sized.outputs;
        for (name, slot) in outputs.names.iter().zip(outputs.slots.iter_mut()) {
            if let OutSlot::Dynamic(v) = slot {
                *v = results.remove(name);
            }
        }
        outputs.refresh_shapes()?;
        self.last = Some(n);
        Ok(())
    }

    fn results(&self) -> &dyn BatchOutputs {
        match self.last.and_then(|n| self.sized.get(n - 1)) {
            Some(Some(s)) => &s.outputs,
            _ => &NO_RESULTS,
        }
    }
}

/// What `results()` gives before any run: every output is an error.
struct NoResults;

static NO_RESULTS: NoResults = NoResults;

impl BatchOutputs for NoResults {
    fn output(&self, _image: usize, index: usize) -> Result<TensorView<'_>> {
        Err(Error::model(format!("output {index} read before the engine ran")))
    }
}
