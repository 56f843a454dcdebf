//! Build script: compiles the CUDA preprocess kernel for the host when the `kernel-emulation`
//! feature asks for it (tests). Release builds compile nothing here: on a GPU the kernel is
//! compiled at start-up by NVRTC from the same source (src/preprocess/kernel.rs).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "kernel-emulation")]
    emulation();
    #[cfg(feature = "tensorrt")]
    tensorrt();
}

/// The TensorRT shim (src/engine/tensorrt/shim.cpp) against the target's own TensorRT headers
/// when `EDGESIGHT_TENSORRT_INCLUDE` names them (JetPack 5's 8.5 headers are proprietary and
/// never vendored; JetPack 6 and Yocto sysroots have theirs), else the vendored Apache-2.0
/// TensorRT 10.16 headers. It links no TensorRT library: libnvinfer is loaded at run time.
#[cfg(feature = "tensorrt")]
fn tensorrt() {
    println!("cargo:rerun-if-changed=src/engine/tensorrt/shim.cpp");
    println!("cargo:rerun-if-env-changed=EDGESIGHT_TENSORRT_INCLUDE");
    let own = std::env::var("EDGESIGHT_TENSORRT_INCLUDE").ok().filter(|s| !s.is_empty());
    if own.is_none() && std::env::var_os("CARGO_FEATURE_CUDA_JP5").is_some() {
        panic!(
            "JetPack 5's TensorRT is 8.5, whose headers are NVIDIA-proprietary and not in this repository: set \
             EDGESIGHT_TENSORRT_INCLUDE to the JetPack 5 sysroot's include folder (libnvinfer-dev, NvInfer.h)"
        );
    }
    if own.is_none() && std::env::var_os("CARGO_FEATURE_CUDA_JP6").is_some() {
        println!(
            "cargo:warning=tensorrt: compiled against the vendored TensorRT 10.16 headers, so the binary needs \
             TensorRT >= 10.16 at run time; for JetPack 6 (TensorRT 10.3) set EDGESIGHT_TENSORRT_INCLUDE to its headers"
        );
    }
    let include = own.unwrap_or_else(|| "third_party/tensorrt-10.16/include".into());
    if !std::path::Path::new(&include).join("NvInfer.h").exists() {
        panic!(
            "feature tensorrt: no NvInfer.h in {include}; set EDGESIGHT_TENSORRT_INCLUDE to the target's TensorRT headers"
        );
    }
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("src/engine/tensorrt/shim.cpp")
        // System includes: TensorRT's own headers warn about their own deprecated members.
        .flag("-isystem")
        .flag(&include)
        .flag("-isystem")
        .flag("src/engine/tensorrt/cuda_stub")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("edgesight_tensorrt_shim");
}

#[cfg(feature = "kernel-emulation")]
fn emulation() {
    for f in ["emulate.cpp", "emulate.h", "preprocess_body.cuh", "preprocess.cu"] {
        println!("cargo:rerun-if-changed=kernels/{f}");
    }
    // fp-contract off here and in emulate.h: user CXXFLAGS must not fuse what NVRTC, run with
    // --fmad=false, does not.
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("kernels/emulate.cpp")
        .flag("-ffp-contract=off")
        .flag("-fno-fast-math")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("edgesight_kernel_emulation");
}
