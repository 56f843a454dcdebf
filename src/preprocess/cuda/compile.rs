//! The kernel compiled at start-up by the device's own NVRTC, for the device's own architecture:
//! PTX built elsewhere could be newer than the driver accepts (GPU_NOTES). `--fmad=false` keeps
//! any float step the kernel may grow unfused, as its host emulation computes it. The PTX is
//! cached by a hash of the source and options, the NVRTC version and the architecture, so a
//! restart loads it instead of compiling (and a different NVRTC or GPU never reuses it).
// FFI: nvrtcVersion through cudarc's raw bindings, after the probe found the library.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use cudarc::nvrtc::{CompileError, CompileOptions, Ptx};

use crate::error::{Error, Result};
use crate::preprocess::kernel::SOURCE;

/// NVRTC's version, (major, minor).
pub fn nvrtc_version() -> Result<(i32, i32)> {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library was found by the probe; the call writes two ints it is given.
    let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    if r != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(Error::model(format!("NVRTC did not report its version ({r:?}); reinstall it")));
    }
    Ok((major, minor))
}

/// The options the kernel is compiled with, for `compute_<arch>` (e.g. 87 for Orin).
pub fn options(arch: u32) -> Vec<String> {
    vec![format!("--gpu-architecture=compute_{arch}"), "--fmad=false".into(), "--std=c++14".into()]
}

/// FNV-1a over the source and options: names the cached PTX.
fn key(source: &str, options: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in source.bytes().chain(options.iter().flat_map(|o| o.bytes().chain([0]))) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// What was compiled, and how: for the start-up log.
pub struct Compiled {
    pub ptx: String,
    pub options: Vec<String>,
    pub nvrtc: (i32, i32),
    /// Where the PTX came from or went: a cache file, or none.
    pub cached: Option<(PathBuf, bool)>,
    pub seconds: f64,
}

impl Compiled {
    pub fn describe(&self) -> String {
        let cache = match &self.cached {
            Some((p, true)) => format!("loaded from {}", p.display()),
            Some((p, false)) => format!("compiled in {:.2} s, cached in {}", self.seconds, p.display()),
            None => format!("compiled in {:.2} s, not cached (no cache folder)", self.seconds),
        };
        format!("NVRTC {}.{}, options {}: {cache}", self.nvrtc.0, self.nvrtc.1, self.options.join(" "))
    }
}

/// Compiles (or loads from `cache`) the kernel for `compute_<arch>`.
pub fn kernel(arch: u32, cache: Option<&Path>) -> Result<Compiled> {
    let options = options(arch);
    let nvrtc = nvrtc_version()?;
    let file = cache.map(|d| {
        d.join(format!("preprocess-{:016x}-nvrtc{}.{}-compute_{arch}.ptx", key(SOURCE, &options), nvrtc.0, nvrtc.1))
    });
    if let Some(f) = &file
        && let Ok(ptx) = std::fs::read_to_string(f)
        && ptx.contains(".entry edgesight_preprocess")
    {
        return Ok(Compiled { ptx, options, nvrtc, cached: Some((f.clone(), true)), seconds: 0.0 });
    }
    let t = Instant::now();
    let ptx = compile(&options)?.to_src();
    let seconds = t.elapsed().as_secs_f64();
    // A cache that cannot be written costs a compile at the next start, nothing else.
    let cached = file.and_then(|f| {
        let tmp = f.with_extension("ptx.tmp");
        let dir = f.parent()?;
        std::fs::create_dir_all(dir).ok()?;
        std::fs::write(&tmp, &ptx).ok()?;
        std::fs::rename(&tmp, &f).ok()?;
        Some((f, false))
    });
    Ok(Compiled { ptx, options, nvrtc, cached, seconds })
}

/// Compiles the kernel source with `options` (no cache).
pub fn compile(options: &[String]) -> Result<Ptx> {
    let opts = CompileOptions {
        options: options.to_vec(),
        name: Some("edgesight_preprocess.cu".into()),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(SOURCE, opts).map_err(|e| {
        let detail = match e {
            CompileError::CompileError { nvrtc, log, .. } => {
                format!("{nvrtc:?}: {}", log.to_string_lossy().lines().take(3).collect::<Vec<_>>().join(" / "))
            }
            other => format!("{other:?}"),
        };
        Error::model(format!(
            "NVRTC could not compile the preprocess kernel ({detail}); check that libnvrtc-builtins of the same \
             CUDA version sits beside libnvrtc, or set model.preprocess = \"cpu\""
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_pin_the_architecture_and_turn_off_fused_multiply_add() {
        let o = options(87);
        assert!(o.contains(&"--gpu-architecture=compute_87".to_string()));
        assert!(o.contains(&"--fmad=false".to_string()));
    }

    #[test]
    fn the_cache_key_changes_with_source_and_options() {
        let a = key("k", &options(72));
        assert_ne!(a, key("k", &options(87)));
        assert_ne!(a, key("k2", &options(72)));
        assert_eq!(a, key("k", &options(72)));
    }
}
