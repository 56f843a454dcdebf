//! Build script: compiles the CUDA preprocess kernel for the host when the `kernel-emulation`
//! feature asks for it (tests). Release builds compile nothing here: on a GPU the kernel is
//! compiled at start-up by NVRTC from the same source (src/preprocess/kernel.rs).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "kernel-emulation")]
    emulation();
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
