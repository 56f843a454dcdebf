//! The shim's C ABI (shim.cpp) and owning wrappers around its handles. Every handle is freed by
//! its wrapper, in dependency order (contexts before engines before runtimes), except a runtime
//! created while TensorRT logged an error: that pointer may be garbage and is never touched.
// FFI into the TensorRT shim: each unsafe block says what it relies on.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_void};
use std::sync::Mutex;

pub type CreateFn = unsafe extern "C" fn(logger: *mut c_void, version: i32) -> *mut c_void;
pub type ParserFn = unsafe extern "C" fn(network: *mut c_void, logger: *mut c_void, version: i32) -> *mut c_void;
type LogFn = unsafe extern "C" fn(user: *mut c_void, severity: i32, msg: *const c_char);
pub type ProgressFn = unsafe extern "C" fn(user: *mut c_void, kind: i32, phase: *const c_char, value: i32);
pub type CalibBatchFn =
    unsafe extern "C" fn(user: *mut c_void, dims: *const i64, nb_dims: i32, device_input: *mut *mut c_void) -> i32;
pub type CalibCacheFn = unsafe extern "C" fn(user: *mut c_void, data: *const c_void, len: usize);

#[repr(C)]
pub struct BuildOptions {
    pub precision: i32,
    pub dla_core: i32,
    pub max_batch: i32,
    pub calib_batch: i32,
    pub workspace: u64,
    pub calib_cache: *const c_void,
    pub calib_cache_len: usize,
}

#[repr(C)]
pub struct BuildCallbacks {
    pub progress: Option<ProgressFn>,
    pub calib_batch: Option<CalibBatchFn>,
    pub calib_cache: Option<CalibCacheFn>,
    pub user: *mut c_void,
}

unsafe extern "C" {
    pub fn es_trt_header_major() -> i32;
    pub fn es_trt_header_minor() -> i32;
    fn es_trt_logger_new(f: LogFn, user: *mut c_void) -> *mut c_void;
    fn es_trt_logger_free(logger: *mut c_void);
    fn es_trt_logger_errors(logger: *const c_void) -> i32;
    fn es_trt_runtime_new(create: CreateFn, logger: *mut c_void) -> *mut c_void;
    fn es_trt_runtime_free(rt: *mut c_void);
    fn es_trt_runtime_set_dla_core(rt: *mut c_void, core: i32);
    fn es_trt_engine_new(rt: *mut c_void, blob: *const c_void, len: usize) -> *mut c_void;
    fn es_trt_engine_free(e: *mut c_void);
    fn es_trt_io_count(e: *const c_void) -> i32;
    fn es_trt_io_name(e: *const c_void, i: i32) -> *const c_char;
    fn es_trt_io_is_input(e: *const c_void, name: *const c_char) -> i32;
    fn es_trt_io_dtype(e: *const c_void, name: *const c_char) -> i32;
    fn es_trt_io_shape(e: *const c_void, name: *const c_char, dims: *mut i64, cap: i32) -> i32;
    fn es_trt_profile_shape(e: *const c_void, name: *const c_char, which: i32, dims: *mut i64, cap: i32) -> i32;
    fn es_trt_context_new(e: *mut c_void) -> *mut c_void;
    fn es_trt_context_free(c: *mut c_void);
    fn es_trt_set_input_shape(c: *mut c_void, name: *const c_char, dims: *const i64, n: i32) -> i32;
    fn es_trt_set_address(c: *mut c_void, name: *const c_char, ptr: *mut c_void) -> i32;
    fn es_trt_enqueue(c: *mut c_void, stream: *mut c_void) -> i32;
    fn es_trt_free(p: *mut c_void);
    #[allow(clippy::too_many_arguments)]
    fn es_trt_build(
        create_builder: CreateFn,
        create_parser: ParserFn,
        logger: *mut c_void,
        onnx: *const c_void,
        onnx_len: usize,
        opts: *const BuildOptions,
        cb: *const BuildCallbacks,
        out: *mut *mut c_void,
        out_len: *mut usize,
        err: *mut c_char,
        err_cap: usize,
    ) -> i32;
}

/// The TensorRT version the shim was compiled against (its headers).
pub fn header_version() -> (i32, i32) {
    // SAFETY: constants compiled into the shim.
    unsafe { (es_trt_header_major(), es_trt_header_minor()) }
}

/// TensorRT's messages, kept for error reports (the last few errors) and forwarded to the log.
#[derive(Default)]
pub struct Messages {
    pub errors: Vec<String>,
    /// While set, messages are only kept (their errors end up in the caller's one-line error).
    pub quiet: bool,
}

/// Severity numbers of nvinfer1::ILogger::Severity.
fn forward(severity: i32, msg: &str) {
    let msg = crate::text::printable(msg);
    match severity {
        0 | 1 => log::error!("tensorrt: {msg}"),
        2 => log::warn!("tensorrt: {msg}"),
        3 => log::info!("tensorrt: {msg}"),
        _ => log::debug!("tensorrt: {msg}"),
    }
}

unsafe extern "C" fn on_log(user: *mut c_void, severity: i32, msg: *const c_char) {
    // SAFETY: `user` is the Box<Mutex<Messages>> the Logger owns, alive as long as the shim's
    // logger; `msg` is a NUL-terminated string TensorRT owns for the duration of the call.
    let (messages, text) = unsafe { (&*(user as *const Mutex<Messages>), CStr::from_ptr(msg).to_string_lossy()) };
    let Ok(mut m) = messages.lock() else { return };
    if !m.quiet {
        forward(severity, &text);
    }
    if severity <= 1 {
        if m.errors.len() >= 8 {
            m.errors.remove(0);
        }
        m.errors.push(text.into_owned());
    }
}

/// The shim's ILogger: counts errors, keeps the last ones, forwards everything to `log`.
pub struct Logger {
    ptr: *mut c_void,
    messages: Box<Mutex<Messages>>,
}

// SAFETY: the shim's logger only increments a counter and calls `on_log`, which locks.
unsafe impl Send for Logger {}

impl Default for Logger {
    fn default() -> Self {
        Logger::new()
    }
}

impl Logger {
    pub fn new() -> Logger {
        let messages = Box::new(Mutex::new(Messages::default()));
        let user = &*messages as *const Mutex<Messages> as *mut c_void;
        // SAFETY: `user` outlives the logger (both owned by this struct, messages freed last).
        let ptr = unsafe { es_trt_logger_new(on_log, user) };
        assert!(!ptr.is_null(), "out of memory creating the TensorRT logger");
        Logger { ptr, messages }
    }

    pub fn errors(&self) -> i32 {
        // SAFETY: a live logger.
        unsafe { es_trt_logger_errors(self.ptr) }
    }

    /// The last error messages TensorRT logged, joined for an error line.
    pub fn last_errors(&self) -> String {
        let m = self.messages.lock().map(|m| m.errors.join(" / ")).unwrap_or_default();
        if m.is_empty() { "no message from TensorRT".into() } else { crate::text::printable(&m).into_owned() }
    }

    pub fn raw(&self) -> *mut c_void {
        self.ptr
    }

    /// Keeps messages without logging them while `f` runs (their errors go into its result).
    pub fn quietly<T>(&self, f: impl FnOnce() -> T) -> T {
        let set = |q| {
            if let Ok(mut m) = self.messages.lock() {
                m.quiet = q;
            }
        };
        set(true);
        let r = f();
        set(false);
        r
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        // SAFETY: created by es_trt_logger_new; every runtime/builder using it is gone (they are
        // dropped first by the owners, see TensorRt).
        unsafe { es_trt_logger_free(self.ptr) }
    }
}

/// An IRuntime that TensorRT created without logging an error.
pub struct Runtime {
    ptr: *mut c_void,
}

// SAFETY: used from one thread at a time (the engine owning it is Send, not Sync).
unsafe impl Send for Runtime {}

impl Runtime {
    /// Creates the runtime; `None` with the messages when TensorRT logged an error meanwhile (the
    /// pointer it returned, if any, is abandoned: with no driver it can be garbage).
    pub fn new(create: CreateFn, logger: &Logger) -> Result<Runtime, String> {
        let before = logger.errors();
        // SAFETY: `create` is createInferRuntime_INTERNAL of a library whose major version
        // matched the headers; the logger lives longer than the runtime.
        let ptr = logger.quietly(|| unsafe { es_trt_runtime_new(create, logger.raw()) });
        if logger.errors() != before || ptr.is_null() {
            return Err(logger.last_errors());
        }
        Ok(Runtime { ptr })
    }

    pub fn set_dla_core(&self, core: i32) {
        // SAFETY: a live runtime.
        unsafe { es_trt_runtime_set_dla_core(self.ptr, core) }
    }

    pub fn deserialize(&self, blob: &[u8]) -> Option<CudaEngine> {
        // SAFETY: a live runtime; TensorRT copies what it needs from the blob.
        let ptr = unsafe { es_trt_engine_new(self.ptr, blob.as_ptr().cast(), blob.len()) };
        (!ptr.is_null()).then_some(CudaEngine { ptr })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // SAFETY: created without errors by es_trt_runtime_new; its engines are dropped first.
        unsafe { es_trt_runtime_free(self.ptr) }
    }
}

/// A deserialized engine.
pub struct CudaEngine {
    ptr: *mut c_void,
}

// SAFETY: as Runtime.
unsafe impl Send for CudaEngine {}

fn cstring(name: &str) -> CString {
    CString::new(name).unwrap_or_default()
}

impl CudaEngine {
    pub fn io_count(&self) -> usize {
        // SAFETY: a live engine.
        unsafe { es_trt_io_count(self.ptr) }.max(0) as usize
    }

    pub fn io_name(&self, i: usize) -> String {
        // SAFETY: `i` < io_count; TensorRT returns a string it owns for the engine's lifetime.
        let p = unsafe { es_trt_io_name(self.ptr, i as i32) };
        if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned() }
    }

    pub fn is_input(&self, name: &str) -> bool {
        let n = cstring(name);
        // SAFETY: a live engine and a NUL-terminated name.
        unsafe { es_trt_io_is_input(self.ptr, n.as_ptr()) != 0 }
    }

    /// nvinfer1::DataType as its number.
    pub fn dtype(&self, name: &str) -> i32 {
        let n = cstring(name);
        // SAFETY: as above.
        unsafe { es_trt_io_dtype(self.ptr, n.as_ptr()) }
    }

    pub fn shape(&self, name: &str) -> Vec<i64> {
        let n = cstring(name);
        let mut d = [0i64; 8];
        // SAFETY: as above; the shim writes at most `cap` values.
        let k = unsafe { es_trt_io_shape(self.ptr, n.as_ptr(), d.as_mut_ptr(), 8) };
        d[..k.clamp(0, 8) as usize].to_vec()
    }

    /// Profile 0's (min, max) shape of an input, if the engine has a profile.
    pub fn profile(&self, name: &str) -> Option<(Vec<i64>, Vec<i64>)> {
        let n = cstring(name);
        let get = |which| {
            let mut d = [0i64; 8];
            // SAFETY: as above.
            let k = unsafe { es_trt_profile_shape(self.ptr, n.as_ptr(), which, d.as_mut_ptr(), 8) };
            (k >= 0).then(|| d[..k.min(8) as usize].to_vec())
        };
        Some((get(0)?, get(2)?))
    }

    pub fn context(&mut self) -> Option<Context> {
        // SAFETY: a live engine; the context is dropped before it (TensorRt's field order).
        let ptr = unsafe { es_trt_context_new(self.ptr) };
        (!ptr.is_null()).then_some(Context { ptr })
    }
}

impl Drop for CudaEngine {
    fn drop(&mut self) {
        // SAFETY: created by es_trt_engine_new; its contexts are dropped first.
        unsafe { es_trt_engine_free(self.ptr) }
    }
}

/// An execution context.
pub struct Context {
    ptr: *mut c_void,
}

// SAFETY: as Runtime.
unsafe impl Send for Context {}

impl Context {
    pub fn set_input_shape(&mut self, name: &str, dims: &[i64]) -> bool {
        let n = cstring(name);
        // SAFETY: a live context, a NUL-terminated name, `dims.len()` values.
        unsafe { es_trt_set_input_shape(self.ptr, n.as_ptr(), dims.as_ptr(), dims.len() as i32) != 0 }
    }

    /// # Safety
    /// `address` must be device memory large enough for the tensor at the shapes set, alive
    /// until the work enqueued with it has finished.
    pub unsafe fn set_address(&mut self, name: &str, address: u64) -> bool {
        let n = cstring(name);
        // SAFETY: per the caller's contract.
        unsafe { es_trt_set_address(self.ptr, n.as_ptr(), address as *mut c_void) != 0 }
    }

    /// # Safety
    /// `stream` must be a live CUDA stream of the engine's context.
    pub unsafe fn enqueue(&mut self, stream: u64) -> bool {
        // SAFETY: per the caller's contract; addresses were set by set_address.
        unsafe { es_trt_enqueue(self.ptr, stream as *mut c_void) != 0 }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: created by es_trt_context_new.
        unsafe { es_trt_context_free(self.ptr) }
    }
}

/// Builds a serialized engine from ONNX bytes through the shim's builder.
pub fn build(
    create_builder: CreateFn,
    create_parser: ParserFn,
    logger: &Logger,
    onnx: &[u8],
    opts: &BuildOptions,
    callbacks: &BuildCallbacks,
) -> Result<Vec<u8>, String> {
    let mut out: *mut c_void = std::ptr::null_mut();
    let mut len = 0usize;
    let mut err = [0 as c_char; 512];
    // SAFETY: the factory functions come from libraries whose major version matched the headers;
    // every pointer is valid for the call; the callbacks' `user` outlives it.
    let rc = unsafe {
        es_trt_build(
            create_builder,
            create_parser,
            logger.raw(),
            onnx.as_ptr().cast(),
            onnx.len(),
            opts,
            callbacks,
            &mut out,
            &mut len,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if rc != 0 || out.is_null() {
        // SAFETY: the shim always NUL-terminates `err`.
        let msg = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
        return Err(format!("{msg} (TensorRT: {})", logger.last_errors()));
    }
    // SAFETY: `out` holds `len` bytes malloc'd by the shim, freed right after the copy.
    let bytes = unsafe { std::slice::from_raw_parts(out as *const u8, len) }.to_vec();
    unsafe { es_trt_free(out) };
    Ok(bytes)
}
