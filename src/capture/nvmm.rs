//! NVMM zero-copy (streams with `memory = "nvmm"`, builds with a `cuda-*` feature): each frame's
//! NvBufSurface, a pitch-linear NV12 surface in Jetson GPU memory, mapped to CUDA device
//! addresses the preprocess kernel reads in place. Nothing is copied to system memory.
//!
//! The sequence (docs/ops/jetson_cuda.md, "NVMM capture"): `gst_buffer_map(READ)` gives the
//! `NvBufSurface*`; `NvBufSurfaceMapEglImage(surf, 0)` makes an EGLImage of its first surface;
//! with a CUDA context current, `cuGraphicsEGLRegisterImage(READ_ONLY)` and
//! `cuGraphicsResourceGetMappedEglFrame` give the planes' device addresses. Released in the
//! reverse order: `cuGraphicsUnregisterResource`, `NvBufSurfaceUnMapEglImage`, `gst_buffer_unmap`
//! (`NvmmMapping`'s drop). The mapping lives in the `FrameGuard`, which the detector keeps until
//! the engine has run: an asynchronous kernel reads the surface until then.
//!
//! libnvbufsurface (L4T), libEGL and libcuda's EGL interop are loaded at run time, once
//! (`probe`): the binary builds and starts everywhere, and where they are missing, opening an
//! NVMM stream says which one and how to install it. The C layouts below are NVIDIA's public
//! headers' (`nvbufsurface.h` of JetPack 5/6, `cudaEGL.h`), asserted at compile time.
// FFI: libnvbufsurface, libEGL and libcuda's EGL interop through libloading, raw surfaces and
// device addresses. Each unsafe block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::mem::{offset_of, size_of};
use std::sync::{Arc, OnceLock};

use cudarc::driver::CudaContext;
use gstreamer as gst;
use libloading::Library;

use crate::error::{Error, Result};
use crate::preprocess::{DeviceFrame, FrameMemory, PixelFormat};

const NVBUF_MAX_PLANES: usize = 4;
const STRUCTURE_PADDING: usize = 4;
/// `NVBUF_MEM_DEFAULT` (the surface array on Jetson) and `NVBUF_MEM_SURFACE_ARRAY`: the memory
/// types EGL mapping works on.
const NVBUF_MEM_DEFAULT: c_int = 0;
const NVBUF_MEM_SURFACE_ARRAY: c_int = 4;
/// `NVBUF_LAYOUT_PITCH`.
const NVBUF_LAYOUT_PITCH: c_int = 0;
/// `CU_GRAPHICS_MAP_RESOURCE_FLAGS_READ_ONLY`.
const CU_GRAPHICS_MAP_RESOURCE_FLAGS_READ_ONLY: c_uint = 1;
/// `CU_EGL_FRAME_TYPE_PITCH` (`CU_EGL_FRAME_TYPE_ARRAY` is 0: a CUDA array, block-linear).
const CU_EGL_FRAME_TYPE_PITCH: c_int = 1;
/// `CUDA_SUCCESS`.
const CUDA_SUCCESS: c_int = 0;

/// `NvBufSurfacePlaneParams` (nvbufsurface.h).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct NvBufSurfacePlaneParams {
    num_planes: u32,
    width: [u32; NVBUF_MAX_PLANES],
    height: [u32; NVBUF_MAX_PLANES],
    pitch: [u32; NVBUF_MAX_PLANES],
    offset: [u32; NVBUF_MAX_PLANES],
    psize: [u32; NVBUF_MAX_PLANES],
    bytes_per_pix: [u32; NVBUF_MAX_PLANES],
    _reserved: [*mut c_void; STRUCTURE_PADDING * NVBUF_MAX_PLANES],
}

/// `NvBufSurfaceMappedAddr`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct NvBufSurfaceMappedAddr {
    addr: [*mut c_void; NVBUF_MAX_PLANES],
    egl_image: *mut c_void,
    _reserved: [*mut c_void; STRUCTURE_PADDING],
}

/// `NvBufSurfaceParams`: one surface of a batch.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct NvBufSurfaceParams {
    width: u32,
    height: u32,
    pitch: u32,
    color_format: c_int,
    layout: c_int,
    buffer_desc: u64,
    data_size: u32,
    data_ptr: *mut c_void,
    plane_params: NvBufSurfacePlaneParams,
    mapped_addr: NvBufSurfaceMappedAddr,
    paramex: *mut c_void,
    _reserved: [*mut c_void; STRUCTURE_PADDING - 1],
}

/// `NvBufSurface`: what `gst_buffer_map` of an NVMM buffer points at (JetPack 5 and 6; JetPack
/// 4's nvbuf_utils buffers are another structure and are not supported).
#[repr(C)]
#[derive(Debug)]
pub struct NvBufSurface {
    gpu_id: u32,
    batch_size: u32,
    num_filled: u32,
    is_contiguous: bool,
    mem_type: c_int,
    surface_list: *mut NvBufSurfaceParams,
    _reserved: [*mut c_void; STRUCTURE_PADDING],
}

/// `CUeglFrame` (cudaEGL.h): the union of `CUarray pArray[3]` and `void *pPitch[3]` is three
/// pointers either way.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct CuEglFrame {
    frame: [*mut c_void; 3],
    width: c_uint,
    height: c_uint,
    depth: c_uint,
    pitch: c_uint,
    plane_count: c_uint,
    num_channels: c_uint,
    frame_type: c_int,
    egl_color_format: c_int,
    cu_format: c_int,
}

// The layouts of NVIDIA's headers on 64-bit Linux (x86_64 and aarch64 alike), from GPU_NOTES.md:
// a field out of place would read garbage addresses, so the build stops instead.
const _: () = assert!(size_of::<CuEglFrame>() == 64);
const _: () = assert!(offset_of!(CuEglFrame, width) == 24);
const _: () = assert!(offset_of!(CuEglFrame, pitch) == 36);
const _: () = assert!(offset_of!(CuEglFrame, plane_count) == 40);
const _: () = assert!(offset_of!(CuEglFrame, frame_type) == 48);
const _: () = assert!(size_of::<NvBufSurfacePlaneParams>() == 232);
const _: () = assert!(offset_of!(NvBufSurfacePlaneParams, pitch) == 36);
const _: () = assert!(size_of::<NvBufSurfaceMappedAddr>() == 72);
const _: () = assert!(size_of::<NvBufSurfaceParams>() == 384);
const _: () = assert!(offset_of!(NvBufSurfaceParams, layout) == 16);
const _: () = assert!(offset_of!(NvBufSurfaceParams, plane_params) == 48);
const _: () = assert!(offset_of!(NvBufSurfaceParams, mapped_addr) == 280);
const _: () =
    assert!(offset_of!(NvBufSurfaceParams, mapped_addr) + offset_of!(NvBufSurfaceMappedAddr, egl_image) == 312);
const _: () = assert!(size_of::<NvBufSurface>() == 64);
const _: () = assert!(offset_of!(NvBufSurface, mem_type) == 16);
const _: () = assert!(offset_of!(NvBufSurface, surface_list) == 24);

type CuGraphicsResource = *mut c_void;

/// The functions NVMM mapping calls, looked up once.
struct Api {
    map_egl: unsafe extern "C" fn(*mut NvBufSurface, c_int) -> c_int,
    unmap_egl: unsafe extern "C" fn(*mut NvBufSurface, c_int) -> c_int,
    egl_get_error: unsafe extern "C" fn() -> c_int,
    register: unsafe extern "C" fn(*mut CuGraphicsResource, *mut c_void, c_uint) -> c_int,
    mapped_frame: unsafe extern "C" fn(*mut CuEglFrame, CuGraphicsResource, c_uint, c_uint) -> c_int,
    unregister: unsafe extern "C" fn(CuGraphicsResource) -> c_int,
    error_name: unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int,
}

/// A library NVMM mapping loads: the names tried, in order, and what to tell someone who lacks it.
#[derive(Debug, Clone, Copy)]
pub struct Lib {
    pub names: &'static [&'static str],
    /// What it is, after its name in the message.
    pub what: &'static str,
    /// What its absence means, when that says more than "not found" (only a Jetson has it).
    pub absent: Option<&'static str>,
    /// How to get it, per platform.
    pub fix: &'static str,
    pub symbols: &'static [&'static str],
}

/// L4T's buffer library: only a Jetson has it. Not always on the default loader path, and the
/// unversioned name may be only in a -dev package (Yocto): both names, then L4T's folder.
pub const NVBUFSURFACE: Lib = Lib {
    names: &[
        "libnvbufsurface.so",
        "libnvbufsurface.so.1.0.0",
        "/usr/lib/aarch64-linux-gnu/tegra/libnvbufsurface.so.1.0.0",
        "/usr/lib/aarch64-linux-gnu/tegra/libnvbufsurface.so",
    ],
    what: "L4T's NvBufSurface library",
    absent: Some("not a Jetson"),
    fix: "on a Jetson it comes with JetPack 5/6's nvidia-l4t-multimedia (Yocto: meta-tegra's \
          tegra-libraries-multimedia-utils)",
    symbols: &["NvBufSurfaceMapEglImage", "NvBufSurfaceUnMapEglImage"],
};

/// EGL, which turns a surface into an image CUDA can register (libnvbufsurface needs it too).
pub const EGL: Lib = Lib {
    names: &["libEGL.so.1", "/usr/lib/aarch64-linux-gnu/tegra-egl/libEGL.so.1"],
    what: "EGL",
    absent: None,
    fix: "JetPack: nvidia-l4t-3d-core (with libglvnd's libegl1); Yocto: tegra-libraries-eglcore and libglvnd",
    symbols: &["eglGetError"],
};

/// The CUDA driver, for its EGL interop (which cudarc does not bind).
pub const CUDA: Lib = Lib {
    names: &["libcuda.so.1", "libcuda.so", "/usr/lib/aarch64-linux-gnu/tegra/libcuda.so.1"],
    what: "the CUDA driver",
    absent: None,
    fix: "on a Jetson it comes with L4T (JetPack: nvidia-l4t-cuda; Yocto: meta-tegra's tegra-libraries-cuda)",
    symbols: &[
        "cuGraphicsEGLRegisterImage",
        "cuGraphicsResourceGetMappedEglFrame",
        "cuGraphicsUnregisterResource",
        "cuGetErrorName",
    ],
};

/// Loads `lib` by the first name that loads, and checks its symbols. The message says why not:
/// not found anywhere, found but not loadable (a dependency missing), or lacking a function.
pub fn open(lib: &Lib) -> Result<&'static Library, String> {
    let mut other = None;
    for name in lib.names {
        // SAFETY: loading runs the library's initialisers, as any dlopen of these system
        // libraries does; nothing else is called here.
        match unsafe { Library::new(*name) } {
            Ok(l) => {
                // Kept loaded for the life of the process: the functions looked up are used by
                // every frame, and unloading EGL or the driver under a running pipeline is unsafe.
                let l: &'static Library = Box::leak(Box::new(l));
                for sym in lib.symbols {
                    // SAFETY: only looks the symbol up; its type is not relied on here.
                    if unsafe { l.get::<*const c_void>(*sym) }.is_err() {
                        return Err(format!(
                            "NVMM unavailable: {name} ({}) lacks {sym}: an older or damaged library; {}",
                            lib.what, lib.fix
                        ));
                    }
                }
                return Ok(l);
            }
            Err(e) => {
                // libloading's own text is "dlopen failed"; dlerror's is its source.
                let e = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
                // "cannot open shared object file: No such file or directory" names the file
                // itself; anything else (a dependency missing, a wrong architecture) matters.
                if other.is_none()
                    && !(e.contains(name.rsplit('/').next().unwrap_or(name)) && e.contains("No such file"))
                {
                    other = Some(e);
                }
            }
        }
    }
    let first = lib.names.first().copied().unwrap_or("?");
    Err(match other {
        Some(e) => format!("NVMM unavailable: {first} ({}) does not load: {e}; {}", lib.what, lib.fix),
        None => match lib.absent {
            Some(meaning) => format!("NVMM unavailable: {meaning} ({first} not found); {}", lib.fix),
            None => format!("NVMM unavailable: {first} ({}) not found; {}", lib.what, lib.fix),
        },
    })
}

/// Looks a function up in a library that `open` has checked to hold it.
///
/// # Safety
/// `F` must be the C signature of `name`.
unsafe fn function<F: Copy>(lib: &'static Library, name: &str) -> std::result::Result<F, String> {
    // SAFETY: the caller names the function's real signature; the library stays loaded forever.
    unsafe { lib.get::<F>(name) }.map(|s| *s).map_err(|e| format!("NVMM unavailable: {name}: {e}"))
}

fn load() -> Result<Api, Vec<String>> {
    let mut missing = Vec::new();
    let mut libs = Vec::new();
    for lib in [NVBUFSURFACE, EGL, CUDA] {
        match open(&lib) {
            Ok(l) => libs.push(l),
            Err(line) => missing.push(line),
        }
    }
    let [nvbuf, egl, cuda] = libs[..] else { return Err(missing) };
    // SAFETY: each type below is the function's C prototype (nvbufsurface.h, EGL 1.4, cuda.h and
    // cudaEGL.h), with C enums as int and CUresult read as int (any value is representable).
    let api = unsafe {
        (|| {
            Ok::<_, String>(Api {
                map_egl: function(nvbuf, "NvBufSurfaceMapEglImage")?,
                unmap_egl: function(nvbuf, "NvBufSurfaceUnMapEglImage")?,
                egl_get_error: function(egl, "eglGetError")?,
                register: function(cuda, "cuGraphicsEGLRegisterImage")?,
                mapped_frame: function(cuda, "cuGraphicsResourceGetMappedEglFrame")?,
                unregister: function(cuda, "cuGraphicsUnregisterResource")?,
                error_name: function(cuda, "cuGetErrorName")?,
            })
        })()
    };
    api.map_err(|e| vec![e])
}

fn api() -> Result<&'static Api, &'static [String]> {
    static API: OnceLock<Result<Api, Vec<String>>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(Vec::as_slice)
}

/// Whether NVMM frames can be mapped here: Ok, or one line per missing library (or function)
/// with how to install it. Loads the libraries once; later calls answer from memory.
pub fn probe() -> Result<(), Vec<String>> {
    api().map(|_| ()).map_err(<[String]>::to_vec)
}

/// The CUDA context the mappings are made in: device 0's primary context, the one the CUDA
/// preprocessor uses, so the addresses mean the same to its kernel. Made once, kept forever.
fn context() -> Result<&'static Arc<CudaContext>> {
    static CTX: OnceLock<Result<Arc<CudaContext>, String>> = OnceLock::new();
    CTX.get_or_init(|| {
        // cudarc panics on a driver it cannot load; the probe above has found it, and the CUDA
        // preprocessor has already created this context by the time frames flow.
        std::panic::catch_unwind(|| CudaContext::new(0).map_err(|e| format!("{e:?}")))
            .unwrap_or_else(|_| Err("the CUDA driver failed to load".into()))
    })
    .as_ref()
    .map_err(|e| Error::model(format!("NVMM mapping needs a CUDA context on device 0: {e}")))
}

/// One frame's surface mapped for CUDA. Dropping it unregisters the CUDA resource, destroys the
/// EGLImage and then (the `map` field, dropped after `drop` runs) unmaps the GStreamer buffer.
pub struct NvmmMapping {
    frame: DeviceFrame,
    api: &'static Api,
    surface: *mut NvBufSurface,
    egl_mapped: bool,
    resource: CuGraphicsResource,
    /// The buffer's `gst_buffer_map(READ)`: it keeps the buffer, and so the surface, alive.
    _map: gst::MappedBuffer<gst::buffer::Readable>,
}

// SAFETY: the surface pointer is owned by the mapped buffer held in the same value; the CUDA
// resource is a context-wide handle, usable from any thread with the context current (drop makes
// it current). Nothing here is tied to the thread that mapped it.
unsafe impl Send for NvmmMapping {}

impl NvmmMapping {
    /// The frame as the preprocessor reads it.
    pub fn frame(&self) -> &DeviceFrame {
        &self.frame
    }
}

impl Drop for NvmmMapping {
    fn drop(&mut self) {
        if !self.resource.is_null() {
            if let Ok(ctx) = context() {
                let _ = ctx.bind_to_thread();
            }
            // SAFETY: registered by `map` in this context and not yet unregistered; nothing reads
            // the frame any more (the detector drops guards after the engine has run).
            let rc = unsafe { (self.api.unregister)(self.resource) };
            if rc != CUDA_SUCCESS {
                log::warn!("NVMM: cuGraphicsUnregisterResource failed: {}", cuda_error(self.api, rc));
            }
        }
        if self.egl_mapped {
            // SAFETY: the surface is alive (the buffer is still mapped) and its EGLImage was made
            // by `map`; the CUDA registration of it is gone.
            let rc = unsafe { (self.api.unmap_egl)(self.surface, 0) };
            if rc != 0 {
                log::warn!("NVMM: NvBufSurfaceUnMapEglImage failed ({rc})");
            }
        }
        // `_map` drops next: gst_buffer_unmap, last.
    }
}

/// `CUDA_ERROR_…` name of a driver result.
fn cuda_error(api: &Api, rc: c_int) -> String {
    let mut name: *const c_char = std::ptr::null();
    // SAFETY: cuGetErrorName writes a pointer to a static string, or leaves it null.
    let ok = unsafe { (api.error_name)(rc, &mut name) } == CUDA_SUCCESS && !name.is_null();
    if ok {
        // SAFETY: a NUL-terminated static string from the driver.
        unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned()
    } else {
        format!("CUresult {rc}")
    }
}

/// Maps an NVMM buffer of `width × height` NV12 for CUDA: the returned value holds the device
/// addresses of its planes until it is dropped.
pub fn map(buffer: gst::Buffer, width: u32, height: u32, format: PixelFormat) -> Result<NvmmMapping> {
    let api = api().map_err(|lines| Error::model(lines.join("\n")))?;
    if !matches!(format, PixelFormat::Nv12(_)) {
        return Err(Error::source(format!(
            "an NVMM frame in {:?}: NVMM streams are read as pitch-linear NV12 (nvvidconv's output caps)",
            format.pixels()
        )));
    }
    let ctx = context()?;
    ctx.bind_to_thread()
        .map_err(|e| Error::model(format!("NVMM mapping: cannot make the CUDA context current: {e:?}")))?;
    let map = buffer
        .into_mapped_buffer_readable()
        .map_err(|_| Error::source("cannot map an NVMM buffer (gst_buffer_map failed)"))?;
    if map.size() < size_of::<NvBufSurface>() {
        return Err(Error::source(format!(
            "an NVMM buffer of {} bytes is not an NvBufSurface ({} bytes): JetPack 4's buffers are not supported, \
             use JetPack 5 or 6",
            map.size(),
            size_of::<NvBufSurface>()
        )));
    }
    let surface = map.as_ptr() as *mut NvBufSurface;
    let mut m = NvmmMapping {
        frame: DeviceFrame { width, height, format, memory: FrameMemory::Nvmm, planes: [0; 3], pitches: [0; 3] },
        api,
        surface,
        egl_mapped: false,
        resource: std::ptr::null_mut(),
        _map: map,
    };
    // SAFETY: `surface` points at the mapped buffer's NvBufSurface (size checked above), which
    // lives as long as `m`; reading its header fields copies plain integers and a pointer.
    let (mem_type, batch, list) = unsafe { ((*surface).mem_type, (*surface).batch_size, (*surface).surface_list) };
    if list.is_null() || batch == 0 {
        return Err(Error::source("an NVMM buffer without a surface (empty NvBufSurface batch)"));
    }
    if mem_type != NVBUF_MEM_DEFAULT && mem_type != NVBUF_MEM_SURFACE_ARRAY {
        return Err(Error::source(format!(
            "an NvBufSurface of memory type {mem_type}: EGL mapping needs NVBUF_MEM_SURFACE_ARRAY (Jetson nvvidconv output)"
        )));
    }
    // SAFETY: `surfaceList` holds `batchSize` (≥ 1) surfaces; the first is copied out (plain data).
    let first: NvBufSurfaceParams = unsafe { *list };
    if first.layout != NVBUF_LAYOUT_PITCH {
        return Err(Error::source(
            "an NVMM surface in block-linear layout: CUDA reads pitch-linear surfaces; nvvidconv should have \
             converted it (bl-output=false)",
        ));
    }
    // SAFETY: a surface-array NvBufSurface of the mapped buffer; index 0 exists (batch ≥ 1).
    let rc = unsafe { (api.map_egl)(surface, 0) };
    if rc != 0 {
        // SAFETY: eglGetError only reads this thread's EGL error state.
        let egl = unsafe { (api.egl_get_error)() };
        return Err(Error::source(format!(
            "NvBufSurfaceMapEglImage failed ({rc}, EGL error {egl:#x}): the service user needs the video and render \
             groups, and the EGL of L4T (not Mesa's) must be the one loaded"
        )));
    }
    m.egl_mapped = true;
    // SAFETY: NvBufSurfaceMapEglImage has just written `mappedAddr.eglImage` of surface 0.
    let image = unsafe { (*list).mapped_addr.egl_image };
    if image.is_null() {
        return Err(Error::source("NvBufSurfaceMapEglImage returned no EGLImage"));
    }
    let mut resource: CuGraphicsResource = std::ptr::null_mut();
    // SAFETY: a valid EGLImage; the context is current on this thread; `resource` is written
    // only on success.
    let rc = unsafe { (api.register)(&mut resource, image, CU_GRAPHICS_MAP_RESOURCE_FLAGS_READ_ONLY) };
    if rc != CUDA_SUCCESS {
        return Err(Error::source(format!("cuGraphicsEGLRegisterImage failed: {}", cuda_error(api, rc))));
    }
    m.resource = resource;
    let mut egl_frame = CuEglFrame {
        frame: [std::ptr::null_mut(); 3],
        width: 0,
        height: 0,
        depth: 0,
        pitch: 0,
        plane_count: 0,
        num_channels: 0,
        frame_type: 0,
        egl_color_format: 0,
        cu_format: 0,
    };
    // SAFETY: a registered resource; the driver fills the 64-byte CUeglFrame.
    let rc = unsafe { (api.mapped_frame)(&mut egl_frame, resource, 0, 0) };
    if rc != CUDA_SUCCESS {
        return Err(Error::source(format!("cuGraphicsResourceGetMappedEglFrame failed: {}", cuda_error(api, rc))));
    }
    m.frame.planes = [0, 1, 2].map(|i| egl_frame.frame[i] as u64);
    m.frame.pitches = device_pitches(&egl_frame, &first.plane_params);
    check_frame(&egl_frame, &m.frame)?;
    Ok(m)
}

/// Row pitches of the two NV12 planes. CUeglFrame records only the first plane's; the
/// surface's own plane parameters give the chroma plane's (equal to it on L4T, but not assumed).
fn device_pitches(f: &CuEglFrame, planes: &NvBufSurfacePlaneParams) -> [usize; 3] {
    let uv = match planes.pitch[1] {
        0 => f.pitch,
        p => p,
    };
    [f.pitch as usize, uv as usize, 0]
}

/// What the kernel relies on: pitch-linear memory, two planes, at least the frame's size.
fn check_frame(f: &CuEglFrame, d: &DeviceFrame) -> Result<()> {
    let problem = if f.frame_type != CU_EGL_FRAME_TYPE_PITCH {
        Some(format!(
            "CUDA sees a {} frame, not pitch-linear memory",
            if f.frame_type == 0 { "CUDA-array (block-linear)" } else { "unknown" }
        ))
    } else if f.plane_count < 2 || d.planes[0] == 0 || d.planes[1] == 0 {
        Some(format!("{} plane(s) mapped; NV12 has 2", f.plane_count))
    } else if f.width < d.width || f.height < d.height {
        Some(format!("the surface is {}x{}, smaller than the frame's {}x{}", f.width, f.height, d.width, d.height))
    } else if d.pitches[0] < d.width as usize || d.pitches[1] < d.width.next_multiple_of(2) as usize {
        Some(format!("pitches {:?} are shorter than a row of {} pixels", &d.pitches[..2], d.width))
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::source(format!("unusable NVMM surface: {p}; report it with the JetPack version"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egl(frame_type: c_int, planes: c_uint, pitch: c_uint) -> CuEglFrame {
        CuEglFrame {
            frame: [8 as *mut c_void, 16 as *mut c_void, std::ptr::null_mut()],
            width: 64,
            height: 48,
            depth: 1,
            pitch,
            plane_count: planes,
            num_channels: 1,
            frame_type,
            egl_color_format: 0,
            cu_format: 0,
        }
    }

    fn device(f: &CuEglFrame) -> DeviceFrame {
        DeviceFrame {
            width: 64,
            height: 48,
            format: PixelFormat::Nv12(crate::preprocess::YuvConversion::Jpeg),
            memory: FrameMemory::Nvmm,
            planes: [0, 1, 2].map(|i| f.frame[i] as u64),
            pitches: [f.pitch as usize, f.pitch as usize, 0],
        }
    }

    #[test]
    fn only_pitch_linear_two_plane_surfaces_of_the_frame_size_are_read() {
        let ok = egl(CU_EGL_FRAME_TYPE_PITCH, 2, 64);
        assert!(check_frame(&ok, &device(&ok)).is_ok());
        let array = egl(0, 2, 64);
        assert!(check_frame(&array, &device(&array)).unwrap_err().to_string().contains("block-linear"));
        let one = egl(CU_EGL_FRAME_TYPE_PITCH, 1, 64);
        assert!(check_frame(&one, &device(&one)).unwrap_err().to_string().contains("NV12 has 2"));
        let short = egl(CU_EGL_FRAME_TYPE_PITCH, 2, 32);
        assert!(check_frame(&short, &device(&short)).unwrap_err().to_string().contains("shorter than a row"));
        let mut small = device(&ok);
        small.height = 96;
        assert!(check_frame(&ok, &small).unwrap_err().to_string().contains("smaller than"));
    }

    #[test]
    fn the_chroma_pitch_comes_from_the_surface_when_it_has_one() {
        let f = egl(CU_EGL_FRAME_TYPE_PITCH, 2, 256);
        let mut planes = NvBufSurfacePlaneParams {
            num_planes: 2,
            width: [64, 32, 0, 0],
            height: [48, 24, 0, 0],
            pitch: [256, 512, 0, 0],
            offset: [0; 4],
            psize: [0; 4],
            bytes_per_pix: [1, 2, 0, 0],
            _reserved: [std::ptr::null_mut(); 16],
        };
        assert_eq!(device_pitches(&f, &planes), [256, 512, 0]);
        planes.pitch[1] = 0;
        assert_eq!(device_pitches(&f, &planes), [256, 256, 0]);
    }

    #[test]
    fn a_missing_library_is_one_line_naming_it_and_its_package() {
        let absent = Lib { names: &["libedgesight-absent-nvbuf.so.1"], ..NVBUFSURFACE };
        let line = open(&absent).unwrap_err();
        assert_eq!(
            line,
            format!("NVMM unavailable: not a Jetson (libedgesight-absent-nvbuf.so.1 not found); {}", NVBUFSURFACE.fix)
        );
        assert!(line.contains("nvidia-l4t-multimedia") && line.contains("tegra-libraries-multimedia-utils"));
        let egl = open(&Lib { names: &["libedgesight-absent-egl.so.1"], ..EGL }).unwrap_err();
        assert!(egl.starts_with("NVMM unavailable: libedgesight-absent-egl.so.1 (EGL) not found;"), "{egl}");
        assert!(egl.contains("nvidia-l4t-3d-core") && egl.contains("tegra-libraries-eglcore"), "{egl}");
        let cuda = open(&Lib { names: &["libedgesight-absent-cuda.so.1"], ..CUDA }).unwrap_err();
        assert!(cuda.contains("(the CUDA driver) not found") && cuda.contains("tegra-libraries-cuda"), "{cuda}");
        for l in [&line, &egl, &cuda] {
            assert!(!l.contains('\n'), "{l}");
        }
    }

    #[test]
    fn a_library_without_the_functions_is_named_with_the_missing_one() {
        // libc is everywhere and has none of NVIDIA's functions.
        let libc = Lib { names: &["libc.so.6"], ..NVBUFSURFACE };
        let line = open(&libc).unwrap_err();
        assert!(line.contains("libc.so.6 (L4T's NvBufSurface library) lacks NvBufSurfaceMapEglImage"), "{line}");
    }
}
