//! The CUDA build on a machine without a GPU (run by scripts/cuda-check.sh, part of `make test`,
//! once per CUDA feature, with the NVRTC of that CUDA version on LD_LIBRARY_PATH):
//! - the product's own NVRTC call compiles the kernel for Xavier (compute_72) and Orin
//!   (compute_87); `ptxas` assembles the PTX for sm_72 and sm_87 with no register spills, and
//!   the PTX holds no fused multiply-add, approximate or flush-to-zero instruction;
//! - compiled kernels are cached by source, options, NVRTC version and architecture;
//! - the binary of this build starts without the NVIDIA libraries and, with `preprocess =
//!   "cuda"`, stops with one line per missing library (exit 3), never a panic: no library, NVRTC
//!   without the driver, a driver that finds no GPU, a driver library missing a function.
//!
//! The kernel's arithmetic itself is proven bit-exact by the emulated conformance pair
//! (tests/conformance.rs); running it on a GPU is scripts/gpu-check.sh.
#![cfg(feature = "cuda")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use edgesight::preprocess::cuda::{compile, probe};

/// `ptxas` from the nvcc wheel (scripts/setup.sh cuda), or `EDGESIGHT_PTXAS`.
fn ptxas() -> PathBuf {
    std::env::var_os("EDGESIGHT_PTXAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::root().join(".cache/cuda/nvcc-12.2/ptxas"))
}

/// scripts/cuda-check.sh puts the NVRTC of this build's CUDA version on the loader path; without
/// it these tests cannot say anything, so they fail rather than pass.
fn require_nvrtc() {
    // SAFETY: only loads the library by name.
    #[allow(unsafe_code)]
    let present = unsafe { cudarc::nvrtc::sys::is_culib_present() };
    assert!(
        present,
        "{} is not on the loader path: run scripts/cuda-check.sh (it installs NVRTC from PyPI and sets \
         LD_LIBRARY_PATH)",
        probe::NVRTC.name
    );
}

/// Lines of PTX that are instructions using fused multiply-add, approximate or flush-to-zero
/// forms (comments and directives excluded).
fn forbidden_instructions(ptx: &str) -> Vec<String> {
    ptx.lines()
        .map(|l| l.split("//").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('.'))
        .filter(|l| {
            // A guard predicate (`@%p1`, `@!%p1`) comes before the opcode.
            let mut words = l.split_whitespace();
            let first = words.next().unwrap_or("");
            let op = if first.starts_with('@') { words.next().unwrap_or("") } else { first };
            op.starts_with("fma")
                || (op.starts_with("mad.") && op.contains(".f"))
                || op.contains(".approx")
                || op.contains(".ftz")
        })
        .map(str::to_string)
        .collect()
}

/// Runs ptxas on `ptx` for `sm` and returns (registers, spill store bytes, spill load bytes).
fn assemble(ptx: &str, sm: u32) -> (u32, u32, u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("k.ptx");
    std::fs::write(&file, ptx).expect("ptx");
    let out = Command::new(ptxas())
        .args([format!("-arch=sm_{sm}"), "-v".into(), "-O3".into()])
        .arg(&file)
        .arg("-o")
        .arg(dir.path().join("k.cubin"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh cuda", ptxas().display()));
    let log = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ptxas -arch=sm_{sm} failed:\n{log}");
    let number_before = |needle: &str| -> u32 {
        let at = log.find(needle).unwrap_or_else(|| panic!("ptxas -v reports {needle:?}:\n{log}"));
        log[..at].split_whitespace().last().and_then(|n| n.parse().ok()).expect("a number")
    };
    let registers = {
        let at = log.find("Used ").expect("ptxas -v reports registers") + 5;
        log[at..].split_whitespace().next().and_then(|n| n.parse().ok()).expect("register count")
    };
    (registers, number_before("bytes spill stores"), number_before("bytes spill loads"))
}

#[test]
fn nvrtc_compiles_the_kernel_for_xavier_and_orin_and_ptxas_assembles_it_without_spills() {
    require_nvrtc();
    let (major, minor) = compile::nvrtc_version().expect("NVRTC version");
    for arch in [72u32, 87] {
        let options = compile::options(arch);
        let ptx = compile::compile(&options).expect("NVRTC compiles the kernel").to_src();
        assert!(ptx.contains(&format!(".target sm_{arch}")), "PTX for sm_{arch}");
        assert!(ptx.contains(".entry edgesight_preprocess"), "the entry point is exported unmangled");
        let bad = forbidden_instructions(&ptx);
        assert!(bad.is_empty(), "instructions the CPU path does not compute exactly: {bad:?}");
        let version = ptx.lines().find(|l| l.starts_with(".version")).unwrap_or("").to_string();
        let (regs, stores, loads) = assemble(&ptx, arch);
        assert_eq!((stores, loads), (0, 0), "sm_{arch}: register spills");
        assert!(regs <= 64, "sm_{arch}: {regs} registers would halve occupancy; keep the kernel lean");
        common::cuda_report(&format!(
            "NVRTC {major}.{minor} compute_{arch} ({}, {version}): ptxas sm_{arch}: {regs} registers, 0 spill \
             stores, 0 spill loads; no fma/.approx/.ftz; {} PTX lines",
            options.join(" "),
            ptx.lines().count()
        ));
    }
}

#[test]
fn the_forbidden_instruction_check_sees_them() {
    // A guard on the guard: PTX lines of the kinds --fmad=false and IEEE division rule out.
    let ptx = ".version 8.2\n// fma in a comment\n\tfma.rn.f32 %f1, %f2, %f3, %f4;\n\tdiv.approx.f32 %f1, %f2, %f3;\n\
               \tadd.ftz.f32 %f1, %f2, %f3;\n\t@%p1 fma.rn.f32 %f1, %f2, %f3, %f4;\n\tmad.lo.s32 %r1, %r2, %r3, %r4;\n\tadd.rn.f32 %f1, %f2, %f3;\n";
    assert_eq!(forbidden_instructions(ptx).len(), 4, "{:?}", forbidden_instructions(ptx));
}

#[test]
fn compiled_kernels_are_cached_by_nvrtc_version_and_architecture() {
    require_nvrtc();
    let dir = tempfile::tempdir().expect("tempdir");
    let first = compile::kernel(87, Some(dir.path())).expect("compile");
    let (file, loaded) = first.cached.clone().expect("written to the cache");
    assert!(!loaded && file.exists(), "{}", first.describe());
    let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let (major, minor) = compile::nvrtc_version().expect("version");
    assert!(name.contains(&format!("nvrtc{major}.{minor}")) && name.contains("compute_87"), "{name}");
    let second = compile::kernel(87, Some(dir.path())).expect("load");
    assert_eq!(second.cached.as_ref().map(|c| c.1), Some(true), "{}", second.describe());
    assert_eq!(first.ptx, second.ptx);
    assert!(second.describe().contains("loaded from"), "{}", second.describe());
    // Another architecture is another file; a damaged file is compiled again, not loaded.
    let other = compile::kernel(72, Some(dir.path())).expect("compile");
    assert_ne!(other.cached.as_ref().map(|c| c.0.clone()), Some(file.clone()));
    std::fs::write(&file, "garbage").expect("damage");
    let again = compile::kernel(87, Some(dir.path())).expect("recompile");
    assert_eq!(again.cached.as_ref().map(|c| c.1), Some(false));
    assert_eq!(again.ptx, first.ptx);
}

/// A config running NanoDet with `preprocess = "cuda"`.
fn cuda_config(dir: &Path) -> PathBuf {
    common::ConfigBuilder::nanodet(dir)
        .model_extra("preprocess = \"cuda\"\n")
        .stream("cam", &format!("file:{}", common::clip().display()), "")
        .write()
}

/// `check` of the CUDA config with the loader path set to `path` only.
fn check_with_loader_path(path: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = cuda_config(dir.path());
    common::edgesight(&["check", "--quiet", "--config", cfg.to_str().expect("utf-8")], &[("LD_LIBRARY_PATH", path)])
}

/// Builds a stand-in `libcuda.so.1` from C source into `dir`.
fn stub_driver(dir: &Path, source: &str) {
    let c = dir.join("stub.c");
    std::fs::write(&c, source).expect("stub source");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(dir.join("libcuda.so.1"))
        .arg(&c)
        .status()
        .expect("cc runs");
    assert!(status.success(), "the stub driver compiles");
}

fn nvrtc_dir() -> String {
    std::env::var("EDGESIGHT_NVRTC_DIR").expect("scripts/cuda-check.sh sets EDGESIGHT_NVRTC_DIR")
}

#[test]
fn without_any_cuda_library_the_start_names_both_and_exits_3() {
    if common::driver_installed() {
        eprintln!("SKIPPED: an NVIDIA driver is installed here; the missing-driver case needs a machine without");
        return;
    }
    let o = check_with_loader_path("/nonexistent");
    common::assert_fails(&o, 3, &["libcuda.so.1", probe::NVRTC.name, "model.preprocess = \"cpu\""]);
    assert_eq!(common::stderr(&o).lines().count(), 1, "{}", common::stderr(&o));
    common::cuda_report(&format!("no CUDA libraries: exit 3: {}", common::stderr(&o).trim()));
}

#[test]
fn with_nvrtc_but_no_driver_the_start_names_the_driver() {
    if common::driver_installed() {
        eprintln!("SKIPPED: an NVIDIA driver is installed here");
        return;
    }
    let o = check_with_loader_path(&nvrtc_dir());
    common::assert_fails(&o, 3, &["libcuda.so.1", "install the NVIDIA driver"]);
    assert!(!common::stderr(&o).contains("libnvrtc"), "NVRTC is there: {}", common::stderr(&o));
    common::cuda_report(&format!("NVRTC, no driver: exit 3: {}", common::stderr(&o).trim()));
}

#[test]
fn with_nvrtc_and_a_driver_but_no_gpu_the_start_says_so() {
    if common::driver_installed() {
        eprintln!("SKIPPED: an NVIDIA driver is installed here");
        return;
    }
    // What a container without --gpus sees: the driver library answers, there is no device.
    let stub = tempfile::tempdir().expect("tempdir");
    stub_driver(
        stub.path(),
        "int cuInit(unsigned int flags) { (void)flags; return 100; }\n\
         int cuGetErrorString(int e, const char **s) { *s = e == 100 ? \"no CUDA-capable device is detected\" : \"?\"; return 0; }\n\
         int cuGetErrorName(int e, const char **s) { *s = e == 100 ? \"CUDA_ERROR_NO_DEVICE\" : \"?\"; return 0; }\n",
    );
    let path = format!("{}:{}", stub.path().display(), nvrtc_dir());
    let o = check_with_loader_path(&path);
    common::assert_fails(&o, 3, &["creating a context on device 0", "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device"]);
    common::cuda_report(&format!("NVRTC, driver, no GPU: exit 3: {}", common::stderr(&o).trim()));
}

#[test]
fn a_driver_library_without_the_functions_this_build_calls_is_an_error_not_a_panic() {
    if common::driver_installed() {
        eprintln!("SKIPPED: an NVIDIA driver is installed here");
        return;
    }
    // An old or broken libcuda: it loads, but cuInit is not in it (cudarc panics on that).
    let stub = tempfile::tempdir().expect("tempdir");
    stub_driver(stub.path(), "int edgesight_not_cuda(void) { return 0; }\n");
    let path = format!("{}:{}", stub.path().display(), nvrtc_dir());
    let o = check_with_loader_path(&path);
    common::assert_fails(&o, 3, &["the CUDA libraries failed while starting", "cuInit", "older than this build"]);
    assert_eq!(common::stderr(&o).lines().count(), 1, "{}", common::stderr(&o));
    common::cuda_report(&format!("driver without cuInit: exit 3: {}", common::stderr(&o).trim()));
}

#[test]
fn the_binary_of_this_build_links_no_nvidia_library() {
    let out = Command::new("ldd").arg(env!("CARGO_BIN_EXE_edgesight")).output().expect("ldd");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(out.status.success(), "ldd");
    for lib in ["libcuda", "libnvrtc", "libcudart", "libnvinfer", "nvidia"] {
        assert!(!text.contains(lib), "linked against {lib}:\n{text}");
    }
    assert!(text.contains("libgstreamer"), "ldd lists the libraries it links: {text}");
}

#[test]
fn version_names_the_cuda_api_this_build_loads() {
    let o = common::edgesight(&["--version"], &[]);
    let out = common::stdout(&o);
    let want = if cfg!(feature = "cuda-jp5") { "CUDA 11.4 API: JetPack 5" } else { "CUDA 12.2 API: JetPack 6" };
    assert!(out.contains("preprocess: cpu, cuda (") && out.contains(want), "{out}");
}
