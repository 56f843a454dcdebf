//! TensorRT's libraries, loaded at run time: libnvinfer (runtime and builder factories, version)
//! and, for engine builds only, libnvonnxparser. The library's major version must be the one the
//! shim was compiled for: TensorRT's class layouts change between majors, so a mismatch is
//! refused before any object is created.
// FFI: symbol lookups in the loaded libraries.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};

use super::ffi::{CreateFn, ParserFn, header_version};
use crate::error::{Error, Result};

/// A TensorRT version as `getInferLibVersion` encodes it: 8503 for 8.5.3, 100300 for 10.3.0.
pub fn decode_version(v: i32) -> (i32, i32, i32) {
    if v >= 10_000 { (v / 10_000, (v / 100) % 100, v % 100) } else { (v / 1000, (v / 100) % 10, v % 100) }
}

/// What to install for the library of a TensorRT major version.
fn install_hint(major: i32) -> &'static str {
    match major {
        8 => "JetPack 5: apt install libnvinfer8 libnvonnxparsers8 (nvidia-tensorrt)",
        10 => "JetPack 6: apt install libnvinfer10 libnvonnxparsers10 (nvidia-tensorrt); Yocto: tensorrt-core",
        _ => "install the TensorRT runtime of that major version",
    }
}

/// libnvinfer, opened and checked.
pub struct Nvinfer {
    _lib: libloading::Library,
    pub path: PathBuf,
    pub version: (i32, i32, i32),
    pub create_runtime: CreateFn,
    /// Absent from the lean and dispatch runtimes, which run prebuilt engines only.
    pub create_builder: Option<CreateFn>,
}

fn open(candidates: &[PathBuf]) -> std::result::Result<(libloading::Library, PathBuf), Vec<String>> {
    let mut tried = Vec::new();
    for c in candidates {
        // SAFETY: loading a TensorRT library runs its initialisers, which is what using it needs.
        match unsafe { libloading::Library::new(c) } {
            Ok(lib) => return Ok((lib, c.clone())),
            // libloading's own text is "dlopen failed"; the loader's (its source) says why.
            Err(e) => tried.push(format!(
                "{}: {}",
                c.display(),
                std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string())
            )),
        }
    }
    Err(tried)
}

impl Nvinfer {
    /// Opens `configured` (model.tensorrt_lib) or `libnvinfer.so.<major of the headers>` from
    /// the loader path.
    pub fn load(configured: Option<&Path>) -> Result<Nvinfer> {
        let (major, minor) = header_version();
        let candidates = match configured {
            Some(p) => vec![p.to_path_buf()],
            None => vec![PathBuf::from(format!("libnvinfer.so.{major}"))],
        };
        let (lib, path) = open(&candidates).map_err(|tried| {
            Error::model(format!(
                "model.engine = \"tensorrt\" cannot start: libnvinfer.so.{major} (TensorRT {major}) was not found \
                 ({}): {}, or set model.tensorrt_lib; or use model.engine = \"onnx-cpu\"",
                tried.join("; "),
                install_hint(major)
            ))
        })?;
        // SAFETY: getInferLibVersion is `int32_t getInferLibVersion() noexcept` in every release.
        let version = unsafe { lib.get::<unsafe extern "C" fn() -> i32>(b"getInferLibVersion\0") }
            .map(|f| unsafe { f() })
            .map_err(|e| {
                Error::model(format!("{} is not a TensorRT library ({e}); fix model.tensorrt_lib", path.display()))
            })?;
        let version = decode_version(version);
        if version.0 != major || version.1 < minor {
            return Err(Error::model(format!(
                "{} is TensorRT {}.{}.{} but this build was compiled against TensorRT {major}.{minor} headers: \
                 install TensorRT {major}.{minor} or newer within {major}.x, or use the edgesight build for this \
                 JetPack",
                path.display(),
                version.0,
                version.1,
                version.2
            )));
        }
        // SAFETY: the factory's C signature is the same in every TensorRT release.
        let create_runtime =
            unsafe { lib.get::<CreateFn>(b"createInferRuntime_INTERNAL\0") }.map(|s| *s).map_err(|e| {
                Error::model(format!(
                    "{} has no TensorRT runtime factory ({e}); fix model.tensorrt_lib",
                    path.display()
                ))
            })?;
        // SAFETY: as above.
        let create_builder = unsafe { lib.get::<CreateFn>(b"createInferBuilder_INTERNAL\0") }.ok().map(|s| *s);
        Ok(Nvinfer { _lib: lib, path, version, create_runtime, create_builder })
    }
}

/// libnvonnxparser, for engine builds.
pub struct OnnxParser {
    _lib: libloading::Library,
    pub create: ParserFn,
}

impl OnnxParser {
    pub fn load(nvinfer: &Nvinfer) -> Result<OnnxParser> {
        let major = nvinfer.version.0;
        // Beside libnvinfer first (a configured path), then the loader path.
        let mut candidates = Vec::new();
        if let Some(dir) = nvinfer.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            candidates.push(dir.join(format!("libnvonnxparser.so.{major}")));
        }
        candidates.push(PathBuf::from(format!("libnvonnxparser.so.{major}")));
        let (lib, path) = open(&candidates).map_err(|tried| {
            Error::model(format!(
                "building a TensorRT engine needs libnvonnxparser.so.{major}, which was not found ({}): {}; or give \
                 model.path a prebuilt .engine file",
                tried.join("; "),
                install_hint(major)
            ))
        })?;
        // SAFETY: the parser factory's C signature is the same in every release.
        let create = unsafe { lib.get::<ParserFn>(b"createNvOnnxParser_INTERNAL\0") }.map(|s| *s).map_err(|e| {
            Error::model(format!("{} has no ONNX parser factory ({e}); reinstall TensorRT", path.display()))
        })?;
        Ok(OnnxParser { _lib: lib, create })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_decode_in_both_encodings() {
        assert_eq!(decode_version(8503), (8, 5, 3));
        assert_eq!(decode_version(100300), (10, 3, 0));
        assert_eq!(decode_version(101601), (10, 16, 1));
        assert_eq!(decode_version(110100), (11, 1, 0));
    }
}
