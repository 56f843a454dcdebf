//! NVMM capture (`[[stream]] memory = "nvmm"`) in the CUDA build, on a machine that is not a
//! Jetson (run by scripts/cuda-check.sh, part of `make test`):
//! - opening an NVMM stream probes libnvbufsurface, libEGL and libcuda first; each one missing,
//!   or lacking a function the mapping calls, is one line naming it and its package (JetPack and
//!   Yocto), and `check` exits 3, never a panic;
//! - with the libraries there (stand-ins compiled here), the probe passes and the stream's
//!   decodebin may use only the hardware decoder: this machine's software H.264 decoder is
//!   refused, with the line that says what to install;
//! - `check` prints each stream's pipeline: hardware decoding, nvvidconv into NVMM NV12, appsink.
//!
//! What only a Jetson shows (the real EGL mapping, NvBufSurface offsets, frames through the
//! kernel) is listed in docs/ops/jetson_cuda.md.
#![cfg(feature = "cuda")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether `name` loads here (a real NVIDIA library would change what these tests can show).
fn loads(name: &str) -> bool {
    // SAFETY: only loads the library by name, as the product's probe does.
    #[allow(unsafe_code)]
    unsafe {
        libloading::Library::new(name).is_ok()
    }
}

/// A real Jetson or NVIDIA driver: the missing-library cases cannot be shown here.
fn nvidia_libraries_installed() -> bool {
    loads("libnvbufsurface.so") || loads("libcuda.so.1")
}

/// NanoDet with the CUDA preprocessor and two NVMM streams: the bundled H.264 clip and a CSI
/// camera (which `check` looks for but does not open).
fn nvmm_config(dir: &Path) -> PathBuf {
    common::ConfigBuilder::nanodet(dir)
        .model_extra("preprocess = \"cuda\"\n")
        .stream("clip", &format!("file:{}", common::clip().display()), "memory = \"nvmm\"")
        .stream("cam", "csi://0", "memory = \"nvmm\"")
        .write()
}

/// `edgesight ARGS --config CFG` with the loader path set to `path` only.
fn edgesight_with_loader_path(args: &[&str], path: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = nvmm_config(dir.path());
    let mut all = args.to_vec();
    all.extend(["--config", cfg.to_str().expect("utf-8")]);
    common::edgesight(&all, &[("LD_LIBRARY_PATH", path)])
}

/// Compiles `source` into the shared library `dir/name` (a stand-in for an NVIDIA library).
fn stub(dir: &Path, name: &str, source: &str) {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, source).expect("stub source");
    let status =
        Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(dir.join(name)).arg(&c).status().expect("cc runs");
    assert!(status.success(), "the stand-in {name} compiles");
}

/// Stand-ins exporting every function the NVMM mapping looks up (never called by `check`).
fn complete_stubs(dir: &Path) {
    stub(
        dir,
        "libnvbufsurface.so",
        "int NvBufSurfaceMapEglImage(void *s, int i) { (void)s; (void)i; return -1; }\n\
         int NvBufSurfaceUnMapEglImage(void *s, int i) { (void)s; (void)i; return -1; }\n",
    );
    stub(dir, "libEGL.so.1", "int eglGetError(void) { return 0x3000; }\n");
    // cuInit answers "no device", as in a container without a GPU: the CUDA preprocessor stops
    // there (exit 3), after the NVMM probe has passed.
    stub(
        dir,
        "libcuda.so.1",
        "int cuInit(unsigned int f) { (void)f; return 100; }\n\
         int cuGetErrorName(int e, const char **s) { (void)e; *s = \"CUDA_ERROR_NO_DEVICE\"; return 0; }\n\
         int cuGetErrorString(int e, const char **s) { (void)e; *s = \"no CUDA-capable device is detected\"; return 0; }\n\
         int cuGraphicsEGLRegisterImage(void **r, void *i, unsigned int f) { (void)r; (void)i; (void)f; return 999; }\n\
         int cuGraphicsResourceGetMappedEglFrame(void *f, void *r, unsigned int i, unsigned int m) { (void)f; (void)r; (void)i; (void)m; return 999; }\n\
         int cuGraphicsUnregisterResource(void *r) { (void)r; return 999; }\n",
    );
}

/// Lines of stderr that contain `needle`.
fn lines_with<'a>(stderr: &'a str, needle: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn without_the_jetson_libraries_each_missing_one_is_one_line_and_exit_3() {
    if nvidia_libraries_installed() {
        eprintln!("SKIPPED: NVIDIA libraries are installed here; the missing-library case needs a machine without");
        return;
    }
    let o = edgesight_with_loader_path(&["check", "--quiet", "--offline"], "/nonexistent");
    let err = common::stderr(&o);
    common::assert_fails(&o, 3, &[]);
    for stream in ["clip", "cam"] {
        let nvbuf = lines_with(
            &err,
            &format!("stream \"{stream}\": NVMM unavailable: not a Jetson (libnvbufsurface.so not found)"),
        );
        assert_eq!(nvbuf.len(), 1, "{err}");
        assert!(
            nvbuf[0].contains("nvidia-l4t-multimedia") && nvbuf[0].contains("tegra-libraries-multimedia-utils"),
            "{err}"
        );
        let cuda = lines_with(
            &err,
            &format!("stream \"{stream}\": NVMM unavailable: libcuda.so.1 (the CUDA driver) not found"),
        );
        assert_eq!(cuda.len(), 1, "{err}");
        assert!(cuda[0].contains("nvidia-l4t-cuda") && cuda[0].contains("tegra-libraries-cuda"), "{err}");
        let egl = lines_with(&err, &format!("stream \"{stream}\": NVMM unavailable: libEGL.so.1"));
        if loads("libEGL.so.1") {
            // This machine has an EGL (Mesa's): found, so not reported (the line's text is
            // checked by the unit test of src/capture/nvmm.rs and by the stand-in case below).
            assert!(egl.is_empty(), "EGL is installed here: {err}");
        } else {
            assert_eq!(egl.len(), 1, "{err}");
            assert!(egl[0].contains("nvidia-l4t-3d-core") && egl[0].contains("tegra-libraries-eglcore"), "{err}");
        }
        // Model/engine class: every NVMM line is labelled as such.
        assert!(
            lines_with(&err, "NVMM unavailable").iter().all(|l| l.starts_with("edgesight: model error: ")),
            "{err}"
        );
    }
}

#[test]
fn libraries_without_the_functions_the_mapping_calls_are_named_with_the_function() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An old or foreign library of each name: it loads, and lacks what NVMM mapping calls.
    stub(dir.path(), "libnvbufsurface.so", "int NvBufSurfaceCreate(void) { return -1; }\n");
    stub(dir.path(), "libEGL.so.1", "int eglInitialize(void) { return 0; }\n");
    stub(dir.path(), "libcuda.so.1", "int cuInit(unsigned int f) { (void)f; return 100; }\n");
    let o = edgesight_with_loader_path(&["check", "--quiet", "--offline"], &dir.path().display().to_string());
    let err = common::stderr(&o);
    common::assert_fails(
        &o,
        3,
        &[
            "stream \"clip\": NVMM unavailable: libnvbufsurface.so (L4T's NvBufSurface library) lacks NvBufSurfaceMapEglImage",
            "stream \"clip\": NVMM unavailable: libEGL.so.1 (EGL) lacks eglGetError",
            "stream \"clip\": NVMM unavailable: libcuda.so.1 (the CUDA driver) lacks cuGraphicsEGLRegisterImage",
        ],
    );
    assert_eq!(lines_with(&err, "NVMM unavailable").len(), 6, "three lines per NVMM stream: {err}");
}

#[test]
fn a_library_whose_own_dependency_is_missing_is_reported_with_the_dependency() {
    // What a Jetson image without EGL looks like: libnvbufsurface is there but needs libEGL.
    let dir = tempfile::tempdir().expect("tempdir");
    stub(dir.path(), "libedgesight_gone.so", "int edgesight_gone(void) { return 0; }\n");
    let c = dir.path().join("nvbuf.c");
    std::fs::write(
        &c,
        "int edgesight_gone(void);\nint NvBufSurfaceMapEglImage(void *s, int i) { return edgesight_gone(); }\n",
    )
    .expect("source");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(dir.path().join("libnvbufsurface.so"))
        .arg(&c)
        .arg(format!("-L{}", dir.path().display()))
        .arg("-ledgesight_gone")
        .status()
        .expect("cc runs");
    assert!(status.success(), "the stand-in compiles");
    std::fs::remove_file(dir.path().join("libedgesight_gone.so")).expect("remove the dependency");
    let o = edgesight_with_loader_path(&["check", "--quiet", "--offline"], &dir.path().display().to_string());
    common::assert_fails(
        &o,
        3,
        &["stream \"clip\": NVMM unavailable: libnvbufsurface.so (L4T's NvBufSurface library) does not load: \
           libedgesight_gone.so: cannot open shared object file"],
    );
}

#[test]
fn with_the_libraries_the_probe_passes_and_only_the_hardware_decoder_may_decode() {
    if loads("libnvbufsurface.so") {
        eprintln!("SKIPPED: a Jetson: nvv4l2decoder may be installed, so the refusal cannot be shown");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    complete_stubs(dir.path());
    let o = edgesight_with_loader_path(&["check", "--quiet", "--offline"], &dir.path().display().to_string());
    let err = common::stderr(&o);
    // The CUDA preprocessor finds no GPU behind the stand-in driver: exit 3 for that.
    common::assert_fails(&o, 3, &[]);
    assert!(!err.contains("NVMM unavailable"), "the probe passes with the libraries there: {err}");
    // The clip is H.264: avdec_h264 is installed here, and refused for an NVMM stream.
    let refused = lines_with(&err, "stream \"clip\": ");
    assert!(
        refused.iter().any(|l| l.contains("memory = \"nvmm\" decodes video on the Jetson's hardware decoder only")
            && l.contains("nvidia-l4t-gstreamer")
            && l.contains("gstreamer1.0-plugins-nvvideo4linux2")),
        "{err}"
    );
}

#[test]
fn check_prints_each_nvmm_pipeline_zero_copy_from_decoder_to_appsink() {
    let o = edgesight_with_loader_path(&["check", "--offline"], "/nonexistent");
    let out = common::stdout(&o);
    let nvmm_tail = "! queue max-size-buffers=2 ! nvvidconv ! capsfilter name=fit \
                     caps=\"video/x-raw(memory:NVMM), format=(string){ NV12 }\" ! appsink name=sink";
    let clip = format!(
        "# pipeline of stream \"clip\": filesrc location=\"{}\" ! decodebin name=dec {nvmm_tail}",
        common::clip().display()
    );
    assert!(out.lines().any(|l| l == clip), "{out}");
    let cam = format!(
        "# pipeline of stream \"cam\": nvarguscamerasrc sensor-id=0 ! capsfilter \
         caps=\"video/x-raw(memory:NVMM),format=NV12\" {nvmm_tail}"
    );
    assert!(out.lines().any(|l| l == cam), "{out}");
    assert!(!out.contains("videoconvert"), "nothing converts in system memory: {out}");
}

#[test]
fn run_stops_with_exit_3_and_no_panic_without_the_libraries() {
    if nvidia_libraries_installed() {
        eprintln!("SKIPPED: NVIDIA libraries are installed here");
        return;
    }
    // `run` builds the model first: the CUDA preprocessor's own library line comes first.
    let o = edgesight_with_loader_path(&["run"], "/nonexistent");
    common::assert_fails(&o, 3, &["libcuda.so.1"]);
}
