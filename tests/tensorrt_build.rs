//! The TensorRT build on a machine without a GPU (scripts/cuda-check.sh runs it with
//! `--features cuda-jp6,tensorrt`, the PyPI TensorRT dispatch runtime in .cache/cuda/tensorrt):
//! - the shim compiles with -Werror against the vendored TensorRT 10.16 and 11.1 headers (the
//!   `#if NV_TENSORRT_MAJOR` branches), and the build's own copy links no TensorRT library;
//! - a real TensorRT library (libnvinfer_dispatch 10.16) is loaded, its version checked against
//!   the headers, and creating a runtime without a driver is a clean error: TensorRT logs "CUDA
//!   initialization failure" and returns a pointer that is never touched;
//! - `edgesight check` with engine = "tensorrt": every missing or wrong library is one line and
//!   exit 3, never a panic.
#![cfg(feature = "tensorrt")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use edgesight::engine::tensorrt::{ffi, library};

/// The dispatch runtime from PyPI (scripts/setup.sh cuda), or `EDGESIGHT_TRT_DISPATCH`.
fn dispatch_lib() -> PathBuf {
    let p = std::env::var_os("EDGESIGHT_TRT_DISPATCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::root().join(".cache/cuda/tensorrt/libnvinfer_dispatch.so.10"));
    assert!(p.exists(), "{} is missing: run scripts/cuda-check.sh (it installs it from PyPI)", p.display());
    p
}

#[test]
fn the_shim_compiles_with_werror_against_tensorrt_10_and_11_headers() {
    let root = common::root();
    for version in ["10.16", "11.1"] {
        let out = Command::new("g++")
            .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-isystem"])
            .arg(root.join(format!("third_party/tensorrt-{version}/include")))
            .arg("-isystem")
            .arg(root.join("src/engine/tensorrt/cuda_stub"))
            .arg(root.join("src/engine/tensorrt/shim.cpp"))
            .output()
            .expect("g++ runs");
        assert!(out.status.success(), "TensorRT {version}: {}", String::from_utf8_lossy(&out.stderr));
        common::cuda_report(&format!("shim: g++ -Werror -fsyntax-only against TensorRT {version} headers: clean"));
    }
    let (major, minor) = ffi::header_version();
    assert_eq!((major, minor), (10, 16), "this build's shim uses the vendored 10.16 headers");
}

#[test]
fn a_runtime_without_a_driver_is_a_clean_error_and_its_pointer_is_never_used() {
    if common::driver_installed() {
        eprintln!("SKIPPED: an NVIDIA driver is installed here");
        return;
    }
    let lib = library::Nvinfer::load(Some(&dispatch_lib())).expect("the dispatch runtime loads");
    assert_eq!((lib.version.0, lib.version.1), (10, 16), "{:?}", lib.version);
    assert!(lib.create_builder.is_none(), "the dispatch runtime cannot build engines");
    let logger = ffi::Logger::new();
    let err = ffi::Runtime::new(lib.create_runtime, &logger).err().expect("no runtime without a driver");
    assert!(logger.errors() >= 1);
    assert!(err.contains("CUDA initialization failure"), "{err}");
    common::cuda_report(&format!(
        "TensorRT {}.{}.{} dispatch runtime, no driver: {err}",
        lib.version.0, lib.version.1, lib.version.2
    ));
}

/// `check` of NanoDet with engine = "tensorrt" and `extra` model lines, loader path `path`.
fn check(extra: &str, path: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = common::ConfigBuilder::nanodet(dir.path())
        .model_extra(&format!("engine = \"tensorrt\"\npreprocess = \"cuda\"\n{extra}"))
        .stream("cam", &format!("file:{}", common::clip().display()), "")
        .write();
    common::edgesight(&["check", "--quiet", "--config", cfg.to_str().expect("utf-8")], &[("LD_LIBRARY_PATH", path)])
}

fn one_line(o: &std::process::Output) -> String {
    let err = common::stderr(o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err.trim().to_string()
}

#[test]
fn without_libnvinfer_the_start_names_it_and_exits_3() {
    let o = check("", "/nonexistent");
    common::assert_fails(&o, 3, &["libnvinfer.so.10 (TensorRT 10) was not found", "model.tensorrt_lib", "onnx-cpu"]);
    common::cuda_report(&format!("no libnvinfer: exit 3: {}", one_line(&o)));
}

#[test]
fn a_library_that_is_not_tensorrt_is_named() {
    let libc = Path::new("/lib/x86_64-linux-gnu/libz.so.1");
    if !libc.exists() {
        eprintln!("SKIPPED: no {}", libc.display());
        return;
    }
    let o = check(&format!("tensorrt_lib = \"{}\"\n", libc.display()), "/nonexistent");
    common::assert_fails(&o, 3, &["is not a TensorRT library", "model.tensorrt_lib"]);
    common::cuda_report(&format!("not TensorRT: exit 3: {}", one_line(&o)));
}

#[test]
fn with_the_dispatch_runtime_and_no_driver_the_start_says_tensorrt_cannot_initialise_cuda() {
    if common::driver_installed() {
        eprintln!("SKIPPED: an NVIDIA driver is installed here");
        return;
    }
    let o = check(&format!("tensorrt_lib = \"{}\"\n", dispatch_lib().display()), "/nonexistent");
    common::assert_fails(&o, 3, &["could not create a runtime", "CUDA initialization failure", "libcuda.so.1"]);
    common::cuda_report(&format!("dispatch runtime, no driver: exit 3: {}", one_line(&o)));
}

#[test]
fn the_binary_links_no_tensorrt_or_cuda_library() {
    let out = Command::new("ldd").arg(env!("CARGO_BIN_EXE_edgesight")).output().expect("ldd");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    for lib in ["libnvinfer", "libnvonnxparser", "libcuda", "libnvrtc", "libcudart"] {
        assert!(!text.contains(lib), "linked against {lib}:\n{text}");
    }
    let v = common::stdout(&common::edgesight(&["--version"], &[]));
    assert!(v.contains("tensorrt (libnvinfer loaded at run time)"), "{v}");
}

#[test]
fn engine_build_without_a_driver_is_one_line_and_exit_3() {
    if common::driver_installed() {
        eprintln!("SKIPPED: an NVIDIA driver is installed here");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (lib, cache) = (dispatch_lib(), dir.path().to_path_buf());
    let o = engine_build(&["--tensorrt-lib", lib.to_str().expect("utf-8"), "--cache", cache.to_str().expect("utf-8")]);
    common::assert_fails(&o, 3, &["could not create a runtime", "CUDA initialization failure"]);
    assert_eq!(std::fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0), 0, "nothing cached");
    common::cuda_report(&format!("engine build, no driver: exit 3: {}", one_line(&o)));
}

#[test]
fn calibration_images_are_the_tensors_inference_sees() {
    use edgesight::detect::Family;
    use edgesight::engine::tensorrt::CalibrationSource;
    use edgesight::preprocess::{CpuPreprocessor, FrameData, InputSlot, Preprocessor, TensorMut};
    use edgesight::runtime::calibration::ImageCalibration;
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["chelsea.png", "vtest_f00100.jpg"] {
        std::fs::copy(common::image(name), dir.path().join(name)).expect("copy");
    }
    std::fs::write(dir.path().join("notes.txt"), "not an image").expect("write");
    let mut cal = ImageCalibration::new(dir.path(), Family::Nanodet, Default::default()).expect("calibration set");
    let shape = [1i64, 3, 416, 416];
    let first = cal.next(&shape).expect("decode").expect("a batch");
    let second = cal.next(&shape).expect("decode").expect("a batch");
    assert!(cal.next(&shape).expect("end").is_none(), "two images, two batches of one");
    // The same tensor detect's path produces for the same file.
    let spec = Family::Nanodet.default_input();
    let mut pre = CpuPreprocessor::new(spec.clone());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let opts = edgesight::capture::CaptureOptions { accepts: pre.accepts(), ..Default::default() };
    let mut cap = edgesight::runtime::assemble::open_file(&common::image("chelsea.png"), &opts, &stop).expect("open");
    let frame = loop {
        if let edgesight::capture::Pull::Frame(f) = cap.pull(std::time::Duration::from_secs(2)).expect("pull") {
            break f;
        }
    };
    let guard = frame.map().expect("map");
    let mut want = vec![0f32; spec.len()];
    let data: FrameData<'_> = guard.data();
    pre.run(&data, InputSlot::Host(TensorMut::F32(&mut want))).expect("preprocess");
    assert_eq!(first, want, "chelsea.png (sorted first)");
    assert_ne!(first, second);
    // A batch of 2 wraps around to fill; the digest follows the contents.
    let mut cal2 = ImageCalibration::new(dir.path(), Family::Nanodet, Default::default()).expect("calibration set");
    assert_eq!(cal2.next(&[2, 3, 416, 416]).expect("decode").expect("batch").len(), 2 * spec.len());
    let digest = cal2.digest();
    std::fs::write(dir.path().join("chelsea.png"), std::fs::read(common::image("basketball1.png")).expect("read"))
        .expect("replace");
    let cal3 = ImageCalibration::new(dir.path(), Family::Nanodet, Default::default()).expect("calibration set");
    assert_ne!(cal3.digest(), digest, "other images, another engine");
    let empty = tempfile::tempdir().expect("tempdir");
    let e = ImageCalibration::new(empty.path(), Family::Nanodet, Default::default()).err().expect("no images");
    assert!(e.to_string().contains("holds no .jpg, .jpeg or .png images") && e.exit_code() == 2, "{e}");
}

#[test]
fn calib_without_int8_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = engine_build(&["--calib", dir.path().to_str().expect("utf-8"), "--family", "nanodet"]);
    common::assert_fails(&o, 2, &["--calib calibrates INT8 engines: add --precision int8"]);
}

/// `edgesight engine build --onnx <bundled NanoDet> ARGS`.
fn engine_build(args: &[&str]) -> std::process::Output {
    let onnx = common::model("nanodet_g_416_coco.onnx");
    let mut all = vec!["engine", "build", "--onnx", onnx.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    common::edgesight(&all, &[])
}
