//! The CUDA preprocess kernel run on the host (feature `kernel-emulation`, on for `cargo test`):
//! `kernels/` compiled by g++ through `kernels/emulate.h` (build.rs) and launched over the same
//! grid with the same parameter block the CUDA preprocessor builds (`kernel::KernelPlan`). The
//! conformance suite holds it to the CPU preprocessor's bits, so the kernel's arithmetic is
//! proven on machines without a GPU; only the device's execution of it is left to a device.
// FFI into the emulated kernel: each unsafe block says what it relies on.
#![allow(unsafe_code)]

use super::Preprocessor;
use super::frame::{Accepts, FrameData, FrameMemory, Pixels};
use super::geometry::Geometry;
use super::kernel::{BLOCK, KernelFrame, KernelParams, KernelPlan, pitches_fit};
use super::slot::{InputSlot, Memory, TensorMut};
use super::spec::InputSpec;
use crate::error::{Error, Result};

unsafe extern "C" {
    fn edgesight_emulate_preprocess(params: *const KernelParams, gx: u32, gy: u32, bx: u32, by: u32);
    fn edgesight_emulate_params_size() -> u32;
    fn edgesight_emulate_params_offset(field: u32) -> u32;
}

/// `sizeof(EsParams)` and the offsets of `pitch`, `yc`, `src_ch` and `reserved` as g++ laid the
/// C struct out: they must equal the Rust struct's.
pub fn c_layout() -> (usize, [usize; 4]) {
    // SAFETY: pure functions of the compiled struct layout, no arguments that point anywhere.
    unsafe {
        (edgesight_emulate_params_size() as usize, [0, 1, 2, 3].map(|f| edgesight_emulate_params_offset(f) as usize))
    }
}

/// The emulated launch: parameter block, grid (x, y), block (x, y).
pub type EmulatedKernel = unsafe extern "C" fn(*const KernelParams, u32, u32, u32, u32);

pub struct EmulatedPreprocessor {
    plan: KernelPlan,
    kernel: EmulatedKernel,
}

impl EmulatedPreprocessor {
    /// The kernel of `kernels/` as built by build.rs.
    pub fn new(spec: InputSpec) -> EmulatedPreprocessor {
        EmulatedPreprocessor { plan: KernelPlan::new(spec), kernel: edgesight_emulate_preprocess }
    }

    /// Another build of the kernel with the same entry point (the mutation tests compile
    /// deliberately broken copies and check that the suite notices).
    ///
    /// # Safety
    /// `kernel` must be `edgesight_emulate_preprocess` of a build of kernels/emulate.cpp whose
    /// `EsParams` has this crate's `KernelParams` layout, and must stay loaded while this lives.
    pub unsafe fn with_kernel(spec: InputSpec, kernel: EmulatedKernel) -> EmulatedPreprocessor {
        EmulatedPreprocessor { plan: KernelPlan::new(spec), kernel }
    }
}

impl Preprocessor for EmulatedPreprocessor {
    fn name(&self) -> &'static str {
        "cuda-emulated"
    }

    fn spec(&self) -> &InputSpec {
        self.plan.spec()
    }

    fn accepts(&self) -> Accepts {
        Accepts { memory: vec![FrameMemory::System], formats: Pixels::ALL.to_vec() }
    }

    fn writes(&self, memory: Memory) -> bool {
        memory == Memory::Host
    }

    fn run(&mut self, frame: &FrameData<'_>, slot: InputSlot<'_>) -> Result<Geometry> {
        let (FrameData::Host(view), InputSlot::Host(mut out)) = (frame, slot) else {
            return Err(Error::model("the emulated kernel reads and writes host memory only"));
        };
        view.check().map_err(|e| Error::source(format!("unusable frame: {e}")))?;
        let spec = self.plan.spec();
        if out.dtype() != spec.dtype || out.len() != spec.len() {
            return Err(Error::model(format!(
                "input slot of {} {:?} elements for a {}x{}x3 {:?} input",
                out.len(),
                out.dtype(),
                spec.width,
                spec.height,
                spec.dtype
            )));
        }
        if !pitches_fit(&view.strides) {
            return Err(Error::source("unusable frame: a row pitch above 4 GiB"));
        }
        let (g, _) = self.plan.prepare(view.width, view.height);
        let base = view.data.as_ptr() as u64;
        let frame = KernelFrame {
            format: view.format,
            width: view.width,
            height: view.height,
            planes: view.offsets.map(|o| base + o as u64),
            pitches: view.strides,
        };
        let (xt, yt) = self.plan.taps();
        let tables = [xt.as_ptr() as u64, yt.as_ptr() as u64, self.plan.lut().as_ptr() as u64];
        let out_ptr = match &mut out {
            TensorMut::F32(t) => t.as_mut_ptr() as u64,
            TensorMut::F16(t) => t.as_mut_ptr() as u64,
            TensorMut::U8(t) => t.as_mut_ptr() as u64,
        };
        let params = self.plan.params(&frame, tables, out_ptr);
        let (gx, gy) = self.plan.grid();
        // SAFETY: `check` proved every plane holds its rows at these offsets and pitches, the tap
        // tables index only rows and columns inside the frame (resize clamps them), the output
        // holds spec.len() elements of the element size in `params.elem`, and every pointer
        // outlives the call, which returns only when all "threads" have run.
        unsafe { (self.kernel)(&params, gx, gy, BLOCK.0, BLOCK.1) };
        Ok(g)
    }
}
