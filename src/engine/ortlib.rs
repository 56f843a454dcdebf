//! Finding and loading the ONNX Runtime shared library.
//!
//! edgesight links ONNX Runtime dynamically (`ort` feature `load-dynamic`), so the binary builds
//! and starts without it and a missing or wrong library is a clear error, not a loader failure.
//! The library normally comes from the PyPI `onnxruntime` wheel (`onnxruntime/capi/`).
//!
//! Order: the config key `model.onnxruntime_lib`, then `ORT_DYLIB_PATH` (either one, when set, is
//! the only place tried), then install locations next to the binary, then the copy `make` puts in
//! the source tree, then the system's library search path.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

/// Oldest ONNX Runtime accepted: the `api-20` feature of `ort`.
pub const MIN_VERSION: &str = "1.20";

/// Where `make onnxruntime` puts the library in a source checkout.
pub const DEV_LIB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/onnxruntime/libonnxruntime.so");

const INSTALL_HINT: &str = "install it with `make onnxruntime` (unpacks the PyPI `onnxruntime` wheel into .cache/onnxruntime), \
or point `model.onnxruntime_lib` or ORT_DYLIB_PATH at libonnxruntime.so.1.x from `pip download --no-deps onnxruntime` \
(inside the wheel: onnxruntime/capi/)";

/// One place looked at, and why it was not used.
struct Attempt {
    place: String,
    why: String,
}

/// The ONNX Runtime environment of the process (ONNX Runtime allows one), created on first use.
static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();
/// Path the library was loaded from.
static LOADED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Candidate paths in search order, each with a note of where it came from.
fn candidates(explicit: Option<&Path>) -> Vec<(PathBuf, String)> {
    if let Some(p) = explicit {
        return vec![(p.to_path_buf(), "model.onnxruntime_lib".into())];
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return vec![(PathBuf::from(p), "ORT_DYLIB_PATH".into())];
    }
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        out.push((dir.join("libonnxruntime.so"), "next to the binary".into()));
        out.push((dir.join("../lib/edgesight/libonnxruntime.so"), "install prefix".into()));
    }
    out.push((PathBuf::from("/usr/lib/edgesight/libonnxruntime.so"), "system install".into()));
    out.push((PathBuf::from(DEV_LIB), "source tree (make onnxruntime)".into()));
    // A bare name goes through the dynamic linker's search (LD_LIBRARY_PATH, ld.so.cache).
    out.push((PathBuf::from("libonnxruntime.so"), "system library path".into()));
    out
}

/// Turns ort's load error into the reason shown to the user.
fn reason(e: &ort::LoadDynamicError) -> String {
    match e {
        ort::LoadDynamicError::Dlopen { error, .. } => error.to_string(),
        ort::LoadDynamicError::MissingApi { .. } => {
            "not an ONNX Runtime library (it does not export OrtGetApiBase)".into()
        }
        ort::LoadDynamicError::InvalidVersionString => "the library reports a malformed version".into(),
        ort::LoadDynamicError::BadVersion { version_str, .. } => {
            format!("ONNX Runtime {version_str} is too old: edgesight needs {MIN_VERSION} or newer")
        }
    }
}

/// Loads the library (once per process) and returns the process-wide environment.
pub fn environment(explicit: Option<&Path>) -> Result<&'static ort::environment::Environment> {
    if let Some(env) = ENVIRONMENT.get() {
        if let Some(p) = explicit
            && let Ok(guard) = LOADED.lock()
            && guard.as_deref() != Some(p)
        {
            log::warn!(
                "ONNX Runtime is already loaded from {}; model.onnxruntime_lib = {} takes effect after a restart",
                guard.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
                p.display()
            );
        }
        return Ok(env);
    }
    let mut attempts = Vec::new();
    let mut loaded = None;
    for (path, origin) in candidates(explicit) {
        // A bare library name is resolved by the dynamic linker; anything else must exist.
        // It must be a regular file: the loader would block on a FIFO and read a device.
        let is_bare = path.components().count() == 1;
        if !is_bare && let Err(p) = crate::fsutil::inspect(&path, crate::fsutil::LIBRARY.cap) {
            let why = match p {
                crate::fsutil::Problem::Io(e) if e.kind() == std::io::ErrorKind::NotFound => "no such file".into(),
                p => p.to_string(),
            };
            attempts.push(Attempt { place: format!("{} ({origin})", path.display()), why });
            continue;
        }
        match ort::init_from(&path) {
            Ok(builder) => {
                loaded = Some((path, builder));
                break;
            }
            Err(e) => attempts.push(Attempt { place: format!("{} ({origin})", path.display()), why: reason(&e) }),
        }
    }
    let Some((path, builder)) = loaded else {
        let tried = attempts.iter().map(|a| format!("{}: {}", a.place, a.why)).collect::<Vec<_>>().join("; ");
        return Err(Error::model(format!("cannot load the ONNX Runtime library: tried {tried}; {INSTALL_HINT}")));
    };
    log::debug!("ONNX Runtime loaded from {}", path.display());
    if let Ok(mut guard) = LOADED.lock() {
        *guard = Some(path.clone());
    }
    let env = builder
        .with_name("edgesight")
        .with_logger(Arc::new(|level, _category, _id, location, message| {
            use ort::logging::LogLevel;
            let lvl = match level {
                LogLevel::Verbose => log::Level::Trace,
                LogLevel::Info => log::Level::Debug,
                LogLevel::Warning => log::Level::Warn,
                LogLevel::Error | LogLevel::Fatal => log::Level::Error,
            };
            log::log!(target: "onnxruntime", lvl, "{message} ({location})");
        }))
        .build()
        .map_err(|e| Error::model(format!("ONNX Runtime from {} failed to start: {e}", path.display())))?;
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// Path of the loaded library, for `--version` style reports.
pub fn loaded_path() -> Option<PathBuf> {
    LOADED.lock().ok().and_then(|g| g.clone())
}
