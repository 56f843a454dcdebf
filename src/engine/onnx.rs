//! ONNX Runtime engine (CPU execution provider): the x86 and CI path.
//!
//! Input and outputs are bound once with an `IoBinding` to tensors allocated at start-up, so a
//! run writes into the same memory frame after frame.

use std::path::{Path, PathBuf};

use ort::memory::Allocator;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};

use super::{ElemType, Engine, Outputs, ShapeDisplay, TensorInfo, TensorView};
use crate::error::{Error, Result};
use crate::preprocess::TensorMut;

/// Options for loading a model with ONNX Runtime.
#[derive(Debug, Clone, Default)]
pub struct OnnxOptions {
    /// Intra-op threads; 0 lets ONNX Runtime choose (one per physical core).
    pub threads: usize,
    /// Explicit path of libonnxruntime (config key `model.onnxruntime_lib`).
    pub library: Option<PathBuf>,
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

struct OnnxOutputs {
    names: Vec<String>,
    slots: Vec<OutSlot>,
}

impl Outputs for OnnxOutputs {
    fn output(&self, index: usize) -> Result<TensorView<'_>> {
        let name = self.names.get(index).map(String::as_str).unwrap_or("?");
        let extracted = match self.slots.get(index) {
            Some(OutSlot::Bound(t)) => Ok(t.extract_tensor()),
            Some(OutSlot::Dynamic(Some(v))) => v.try_extract_tensor::<f32>(),
            _ => {
                return Err(Error::model(format!("output {index} ({name}) has not been computed")));
            }
        };
        let (shape, data) = extracted.map_err(|e| Error::model(format!("output {name} cannot be read as f32: {e}")))?;
        Ok(TensorView { shape, data })
    }
}

pub struct OnnxEngine {
    path: PathBuf,
    session: Session,
    input_info: TensorInfo,
    output_infos: Vec<TensorInfo>,
    input: Option<InputTensor>,
    binding: Option<IoBinding>,
    outputs: OnnxOutputs,
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

/// Checks the file before ONNX Runtime sees it, so the common mistakes get specific messages.
fn check_model_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::model(format!(
            "model file {}: {e}; set model.path to an .onnx file (the bundled ones are in models/)",
            path.display()
        ))
    })?;
    if meta.is_dir() {
        return Err(Error::model(format!("model path {} is a directory, not an .onnx file", path.display())));
    }
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
        let names = output_infos.iter().map(|o| o.name.clone()).collect();
        Ok(OnnxEngine {
            path: path.to_path_buf(),
            session,
            input_info,
            output_infos,
            input: None,
            binding: None,
            outputs: OnnxOutputs { names, slots: Vec::new() },
        })
    }

    fn model_err(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::model(format!("{}: {what}: {e}", self.path.display()))
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

    fn allocate(&mut self, input_shape: [i64; 4]) -> Result<()> {
        let alloc = Allocator::default();
        let input = match self.input_info.dtype {
            ElemType::F32 => InputTensor::F32(
                Tensor::<f32>::new(&alloc, input_shape).map_err(|e| self.model_err("allocating the input", e))?,
            ),
            ElemType::U8 => InputTensor::U8(
                Tensor::<u8>::new(&alloc, input_shape).map_err(|e| self.model_err("allocating the input", e))?,
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
                *first = 1;
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
        self.input = Some(input);
        self.binding = Some(binding);
        self.outputs.slots = slots;
        Ok(())
    }

    fn input_mut(&mut self) -> Result<TensorMut<'_>> {
        match self.input.as_mut() {
            Some(InputTensor::F32(t)) => Ok(TensorMut::F32(t.extract_tensor_mut().1)),
            Some(InputTensor::U8(t)) => Ok(TensorMut::U8(t.extract_tensor_mut().1)),
            None => Err(Error::model("engine used before allocate()")),
        }
    }

    fn run(&mut self) -> Result<()> {
        let OnnxEngine { session, binding, outputs, path, .. } = self;
        let Some(binding) = binding.as_ref() else {
            return Err(Error::model("engine used before allocate()"));
        };
        let mut results = session
            .run_binding(binding)
            .map_err(|e| Error::model(format!("{}: inference failed: {e}", path.display())))?;
        for (name, slot) in outputs.names.iter().zip(outputs.slots.iter_mut()) {
            if let OutSlot::Dynamic(v) = slot {
                *v = results.remove(name);
            }
        }
        Ok(())
    }

    fn results(&self) -> &dyn Outputs {
        &self.outputs
    }
}
