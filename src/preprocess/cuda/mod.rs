//! CUDA preprocessing (`model.preprocess = "cuda"`, builds with a `cuda-*` feature): the kernel of
//! `kernels/`, compiled by NVRTC at start-up, turns a frame into one image of the engine's input
//! on the GPU, with the CPU path's geometry and bits (`kernel::KernelPlan` builds every launch;
//! the host emulation of the same launch is tested bit-exact in `make test`).
//!
//! - Frames in system memory are copied once into a pinned staging buffer (each plane's rows,
//!   nothing else), uploaded asynchronously, then the kernel runs. Frames already on the GPU
//!   (`FrameData::Device`, device addresses) are read where they are.
//! - An engine whose input lives on the GPU lends a device slot: the kernel writes straight into
//!   it on the engine's stream, no synchronisation. An engine whose input is on the host (ONNX
//!   Runtime on the CPU) gets the tensor copied back, inside the preprocessing time.
//! - Everything NVIDIA is loaded at run time: the libraries are probed first, and the start-up
//!   runs the kernel once on a small frame, so a missing library, an old driver or a GPU that
//!   cannot run it stops the start with one line instead of failing at the first real frame.
// FFI through cudarc: launches, raw device addresses and borrowed streams; each block says why.
#![allow(unsafe_code)]

pub mod compile;
pub mod probe;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, DeviceRepr, DriverError, LaunchConfig,
    PinnedHostSlice, PushKernelArg, sys,
};

use super::Preprocessor;
use super::frame::{Accepts, FrameData, FrameMemory, FrameView, PixelFormat, Pixels};
use super::geometry::Geometry;
use super::kernel::{BLOCK, ENTRY, KernelFrame, KernelParams, KernelPlan, element_size, pitches_fit};
use super::slot::{InputSlot, Memory, TensorMut};
use super::spec::{ChannelOrder, InputSpec};
use crate::error::{Error, Result};

// SAFETY: KernelParams is repr(C), made of integers only, and mirrors the kernel's EsParams
// (layout checked by kernel.rs tests and against g++'s layout in the emulated tests).
unsafe impl DeviceRepr for KernelParams {}

/// Plane starts in the staging buffer are aligned like a CUDA allocation would be.
const PLANE_ALIGN: usize = 256;

fn driver(what: &'static str) -> impl Fn(DriverError) -> Error {
    move |e| {
        let detail = match e.error_string() {
            Ok(s) => format!("{:?}, {}", e.0, s.to_string_lossy()),
            Err(_) => format!("{:?}", e.0),
        };
        Error::model(format!("CUDA failed while {what}: {detail}; or set model.preprocess = \"cpu\""))
    }
}

/// Runs `f`, turning a panic inside cudarc (a symbol an old driver or NVRTC lacks is resolved
/// lazily and panics when missing) into a model error, without the panic's own report.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    r.unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        Err(Error::model(format!(
            "the CUDA libraries failed while {what}: {msg}; the NVIDIA driver or NVRTC is older than this build's \
             CUDA version (see docs/ops/jetson_cuda.md), or set model.preprocess = \"cpu\""
        )))
    })
}

pub struct CudaPreprocessor {
    plan: KernelPlan,
    ctx: Arc<CudaContext>,
    /// Our own stream, for engines whose input lives on the host.
    stream: Arc<CudaStream>,
    func: CudaFunction,
    _module: Arc<CudaModule>,
    lut: CudaSlice<u8>,
    /// Tap tables of the current source size.
    taps: Option<(CudaSlice<i32>, CudaSlice<i32>)>,
    /// Frames from system memory: pinned staging and its device copy, grown as frames grow.
    staging: Option<(PinnedHostSlice<u8>, CudaSlice<u8>)>,
    /// The image, for engines whose input lives on the host.
    out: Option<CudaSlice<u8>>,
    device: i32,
    /// Start-up report: device, architecture, NVRTC and how the kernel was obtained.
    summary: String,
}

impl CudaPreprocessor {
    /// Probes the libraries, creates a context on `device`, compiles (or loads) the kernel for
    /// the device's architecture and runs it once on a small frame.
    pub fn new(spec: InputSpec, device: usize) -> Result<CudaPreprocessor> {
        probe::libraries()?;
        guarded("starting", || {
            let ctx = CudaContext::new(device).map_err(driver("creating a context on device 0 (is a GPU present?)"))?;
            let (major, minor) = ctx.compute_capability().map_err(driver("reading the compute capability"))?;
            let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
            let arch = (major * 10 + minor) as u32;
            let compiled = compile::kernel(arch, crate::fsutil::cache_dir().as_deref())?;
            let module = ctx.load_module(cudarc::nvrtc::Ptx::from_src(compiled.ptx.clone())).map_err(driver(
                "loading the compiled kernel (a driver older than its NVRTC refuses newer PTX: update the driver)",
            ))?;
            let func = module.load_function(ENTRY).map_err(driver("finding the kernel's entry point"))?;
            let stream = ctx.new_stream().map_err(driver("creating a stream"))?;
            let plan = KernelPlan::new(spec);
            let lut = stream.clone_htod(plan.lut()).map_err(driver("uploading the normalisation table"))?;
            let summary =
                format!("device {device} ({name}, compute capability {major}.{minor}); {}", compiled.describe());
            let mut pre = CudaPreprocessor {
                plan,
                ctx,
                stream,
                func,
                _module: module,
                lut,
                taps: None,
                staging: None,
                out: None,
                device: device as i32,
                summary,
            };
            pre.self_test()?;
            Ok(pre)
        })
    }

    /// What the start-up did, for the log.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// One launch through every step (upload, kernel, copy back) on a 4x2 I420 frame: any
    /// library function the driver lacks, or a kernel the GPU cannot run, shows here.
    fn self_test(&mut self) -> Result<()> {
        let data = [16u8, 80, 160, 235, 40, 100, 200, 220, 90, 200, 240, 60];
        let conv = super::yuv::YuvConversion::Jpeg;
        let view = FrameView {
            data: &data,
            width: 4,
            height: 2,
            format: PixelFormat::I420(conv),
            offsets: [0, 8, 10],
            strides: [4, 2, 2],
        };
        let n = self.plan.spec().len();
        let mut bytes = vec![0u8; n * element_size(self.plan.spec().dtype)];
        let stream = self.stream.clone();
        self.launch(&FrameData::Host(view), &stream, None)?;
        self.copy_back(&mut bytes)?;
        // A fresh plan for real frames (the self-test's 4x2 taps are not kept).
        self.taps = None;
        self.plan = KernelPlan::new(self.plan.spec().clone());
        Ok(())
    }

    /// Copies a host frame's planes into the staging buffer and uploads them on `stream`;
    /// returns the frame as the kernel reads it.
    fn upload(&mut self, v: &FrameView<'_>, stream: &Arc<CudaStream>) -> Result<KernelFrame> {
        v.check().map_err(|e| Error::source(format!("unusable frame: {e}")))?;
        let spans = v.plane_spans();
        let mut at = [0usize; 3];
        let mut total = 0;
        for (i, s) in spans.iter().enumerate() {
            if let Some((_, len)) = s {
                at[i] = total;
                total += len.next_multiple_of(PLANE_ALIGN);
            }
        }
        if self.staging.as_ref().is_none_or(|(p, _)| p.len() < total) {
            // SAFETY: a fresh pinned allocation of u8, written below before any read.
            let pinned = unsafe { self.ctx.alloc_pinned::<u8>(total) }.map_err(driver("allocating pinned memory"))?;
            // SAFETY: device memory read only where the upload below has written it.
            let dev = unsafe { stream.alloc::<u8>(total) }.map_err(driver("allocating frame memory"))?;
            self.staging = Some((pinned, dev));
        }
        let (pinned, dev) = self.staging.as_mut().expect("allocated above");
        // Waits for the previous upload from this buffer to finish before overwriting it.
        let host = pinned.as_mut_slice().map_err(driver("waiting for the previous upload"))?;
        for (i, s) in spans.iter().enumerate() {
            if let Some((off, len)) = *s {
                host[at[i]..at[i] + len].copy_from_slice(&v.data[off..off + len]);
            }
        }
        stream.memcpy_htod(&*pinned, dev).map_err(driver("uploading a frame"))?;
        let (base, _sync) = dev.device_ptr(stream);
        let planes = [0, 1, 2].map(|i| if spans[i].is_some() { base + at[i] as u64 } else { 0 });
        Ok(KernelFrame { format: v.format, width: v.width, height: v.height, planes, pitches: v.strides })
    }

    /// Queues the kernel for `frame` on `stream`, writing at `out` (a device address) or, with
    /// `None`, into our own image buffer.
    fn launch(&mut self, frame: &FrameData<'_>, stream: &Arc<CudaStream>, out: Option<u64>) -> Result<Geometry> {
        let kf = match frame {
            FrameData::Host(v) => self.upload(v, stream)?,
            FrameData::Device(d) => {
                KernelFrame { format: d.format, width: d.width, height: d.height, planes: d.planes, pitches: d.pitches }
            }
        };
        if !pitches_fit(&kf.pitches) || kf.width == 0 || kf.height == 0 {
            return Err(Error::source(format!(
                "unusable frame: {}x{} with pitches {:?}",
                kf.width, kf.height, kf.pitches
            )));
        }
        let (g, changed) = self.plan.prepare(kf.width, kf.height);
        if changed || self.taps.is_none() {
            let (xt, yt) = self.plan.taps();
            let flat = |t: &[[i32; 4]]| t.iter().flatten().copied().collect::<Vec<i32>>();
            let x = self.stream.clone_htod(&flat(xt)).map_err(driver("uploading resize tables"))?;
            let y = self.stream.clone_htod(&flat(yt)).map_err(driver("uploading resize tables"))?;
            // The kernel may run on the engine's stream: the tables must be there first.
            self.stream.synchronize().map_err(driver("uploading resize tables"))?;
            self.taps = Some((x, y));
        }
        let bytes = self.plan.spec().len() * element_size(self.plan.spec().dtype);
        if out.is_none() && self.out.as_ref().is_none_or(|o| o.len() != bytes) {
            // SAFETY: the kernel writes every element of the image before it is read.
            self.out = Some(unsafe { self.stream.alloc::<u8>(bytes) }.map_err(driver("allocating the image"))?);
        }
        let (xt, yt) = self.taps.as_ref().expect("uploaded above");
        let (xp, _s1) = xt.device_ptr(stream);
        let (yp, _s2) = yt.device_ptr(stream);
        let (lp, _s3) = self.lut.device_ptr(stream);
        let own = self.out.as_ref().map(|o| o.device_ptr(stream));
        let out_ptr = out.or(own.as_ref().map(|(p, _)| *p)).expect("an output");
        let params = self.plan.params(&kf, [xp, yp, lp], out_ptr);
        let (gx, gy) = self.plan.grid();
        let cfg = LaunchConfig { grid_dim: (gx, gy, 1), block_dim: (BLOCK.0, BLOCK.1, 1), shared_mem_bytes: 0 };
        let mut b = stream.launch_builder(&self.func);
        b.arg(&params);
        // SAFETY: the parameter block matches the kernel's signature; every address in it points
        // at memory that holds what the kernel reads (frame planes checked above or given by the
        // capture, tables sized by the plan) and at an output of spec.len() elements.
        unsafe { b.launch(cfg) }.map_err(driver("launching the kernel"))?;
        Ok(g)
    }

    /// Copies our image into a host tensor's bytes and waits for it.
    fn copy_back(&mut self, dst: &mut [u8]) -> Result<()> {
        let out = self.out.as_ref().expect("launched into our own image");
        self.stream.memcpy_dtoh(out, dst).map_err(driver("copying the image to the host"))?;
        self.stream.synchronize().map_err(driver("running the kernel"))
    }
}

/// A host tensor's elements as bytes (all element types are plain numbers).
fn bytes_of<'a>(t: &'a mut TensorMut<'_>) -> &'a mut [u8] {
    match t {
        // SAFETY: f32 and u16 have no invalid bit patterns and stricter alignment than u8; the
        // byte slice covers exactly the same memory.
        TensorMut::F32(s) => unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len() * 4) },
        TensorMut::F16(s) => unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len() * 2) },
        TensorMut::U8(s) => s,
    }
}

impl Preprocessor for CudaPreprocessor {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn spec(&self) -> &InputSpec {
        self.plan.spec()
    }

    /// YUV first (what decoders emit; the kernel converts it bit-exact), then packed formats.
    /// NVMM first: surfaces mapped to device addresses are read in place (capture gives them to
    /// streams with `memory = "nvmm"`, as NV12); system memory is uploaded.
    fn accepts(&self) -> Accepts {
        let order = self.plan.spec().channel_order;
        let mut formats = vec![Pixels::I420, Pixels::Nv12];
        let (same, other) = match order {
            ChannelOrder::Rgb => ([Pixels::Rgba, Pixels::Rgbx, Pixels::Rgb], [Pixels::Bgrx, Pixels::Bgra, Pixels::Bgr]),
            ChannelOrder::Bgr => ([Pixels::Bgrx, Pixels::Bgra, Pixels::Bgr], [Pixels::Rgba, Pixels::Rgbx, Pixels::Rgb]),
        };
        formats.extend(same);
        formats.extend(other);
        Accepts { memory: vec![FrameMemory::Nvmm, FrameMemory::System], formats }
    }

    fn writes(&self, memory: Memory) -> bool {
        memory == Memory::Host || memory == Memory::Cuda { device: self.device }
    }

    fn run(&mut self, frame: &FrameData<'_>, slot: InputSlot<'_>) -> Result<Geometry> {
        let spec = self.plan.spec();
        let (n, dtype) = (spec.len(), spec.dtype);
        match slot {
            InputSlot::Host(mut t) => {
                if t.dtype() != dtype || t.len() != n {
                    return Err(Error::model(format!(
                        "input tensor of {} {:?} elements for a model input of {n} {dtype:?}",
                        t.len(),
                        t.dtype()
                    )));
                }
                let stream = self.stream.clone();
                let g = self.launch(frame, &stream, None)?;
                self.copy_back(bytes_of(&mut t))?;
                Ok(g)
            }
            InputSlot::Device(d) => {
                if d.device != self.device || d.dtype != dtype || d.elements != n {
                    return Err(Error::model(format!(
                        "the engine's input slot ({} {:?} elements on CUDA device {}) does not fit the kernel's image \
                         ({n} {dtype:?} on device {})",
                        d.elements, d.dtype, d.device, self.device
                    )));
                }
                // SAFETY: the engine lent this stream with the slot, in our context (same device),
                // and keeps it alive while the slot's borrow lasts; its own work is queued on the
                // same stream, so ordering is the stream's.
                let stream = unsafe { self.ctx.wrap_borrowed_stream(d.stream as sys::CUstream) };
                self.launch(frame, &stream, Some(d.ptr))
            }
        }
    }
}
