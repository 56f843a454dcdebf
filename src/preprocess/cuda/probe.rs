//! Whether the CUDA libraries this build loads at run time are there, asked before the first
//! call: cudarc panics on a library it cannot load, and a field tech needs one line naming the
//! library and how to install it instead (exit 3, like every model/engine error).
// FFI: the probes are `unsafe` in cudarc (they load libraries).
#![allow(unsafe_code)]

use crate::error::{Error, Result};

/// A library the CUDA path loads, and what to tell someone who does not have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Library {
    pub name: &'static str,
    pub fix: &'static str,
}

/// The NVIDIA driver's CUDA library.
pub const DRIVER: Library = Library {
    name: "libcuda.so.1 (the NVIDIA driver's CUDA library)",
    fix: "on a Jetson it comes with L4T (JetPack; Yocto: meta-tegra's tegra-libraries-cuda); on x86 install the \
          NVIDIA driver (Debian: nvidia-driver, or libcuda1 in containers started with --gpus)",
};

/// NVRTC of the CUDA version this build was made for.
pub const NVRTC: Library = nvrtc_for_build();

const fn nvrtc_for_build() -> Library {
    if cfg!(feature = "cuda-jp5") {
        Library {
            name: "libnvrtc.so (CUDA 11.4 NVRTC)",
            fix: "JetPack 5's cuda-nvrtc-11-4 installs only libnvrtc.so.11.2, a name this build does not look up: \
                  install cuda-nvrtc-dev-11-4 (it adds the libnvrtc.so link) or run `ln -s libnvrtc.so.11.2 \
                  /usr/local/cuda-11.4/lib64/libnvrtc.so`, and make /usr/local/cuda-11.4/lib64 known to the loader \
                  (ldconfig); libnvrtc-builtins.so.11.4 must sit beside it",
        }
    } else if cfg!(feature = "cuda-13") {
        Library {
            name: "libnvrtc.so.13 (CUDA 13 NVRTC)",
            fix: "install cuda-nvrtc-13-x (Yocto: the cuda-nvrtc recipe) and make its lib directory known to the \
                  loader (ldconfig); libnvrtc-builtins.so.13.x must sit beside it",
        }
    } else {
        Library {
            name: "libnvrtc.so.12 (CUDA 12 NVRTC)",
            fix: "JetPack 6: apt install cuda-nvrtc-12-6 (12-2 on JetPack 6.0) and make /usr/local/cuda/lib64 known \
                  to the loader (ldconfig); x86: the CUDA toolkit's cuda-nvrtc-12-x, or `pip install \
                  nvidia-cuda-nvrtc-cu12` with its lib folder on LD_LIBRARY_PATH; libnvrtc-builtins.so.12.x must \
                  sit beside it",
        }
    }
}

/// The one-line error for the libraries that are missing (none: Ok).
pub fn missing(missing: &[Library]) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing.iter().map(|l| format!("{} was not found: {}", l.name, l.fix)).collect();
    Err(Error::model(format!(
        "model.preprocess = \"cuda\" cannot start: {}; or set model.preprocess = \"cpu\"",
        list.join("; and ")
    )))
}

/// Probes both libraries (dlopen by the names cudarc tries) without calling into them.
pub fn libraries() -> Result<()> {
    let mut absent = Vec::new();
    // SAFETY: each probe only dlopens candidate names (running their initialisers, as any load
    // would) and reports whether one loaded; nothing is called.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        absent.push(DRIVER);
    }
    // SAFETY: as above.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        absent.push(NVRTC);
    }
    missing(&absent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_library_is_named_with_its_fix_in_one_line() {
        assert!(missing(&[]).is_ok());
        let e = missing(&[DRIVER, NVRTC]).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.exit_code(), 3);
        assert!(msg.contains("libcuda.so.1") && msg.contains("libnvrtc"), "{msg}");
        assert!(msg.contains("model.preprocess = \"cpu\""), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}
