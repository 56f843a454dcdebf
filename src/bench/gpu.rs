//! GPU load for `edgesight bench` (src/bench/system.rs samples it): NVML on a desktop or server
//! NVIDIA GPU, the Tegra GPU's sysfs load file on a Jetson, otherwise nothing, with the reason.
//!
//! Everything is found at run time: the binary links no NVIDIA library and builds, starts and
//! reports ("source": "none" with why) on a machine without any NVIDIA software.
//!
//! NVML (libnvidia-ml.so.1, installed with the NVIDIA driver) is called through `libloading`.
//! The ABI facts relied on, all from NVML's public header `nvml.h` (stable since the `_v2`
//! entry points of driver 325):
//! - `nvmlReturn_t` is a C enum (an `int`): `NVML_SUCCESS` = 0, `NVML_ERROR_NOT_SUPPORTED` = 3;
//!   `nvmlErrorString(nvmlReturn_t)` returns a static `const char*`.
//! - `nvmlDevice_t` is `struct nvmlDevice_st*`, an opaque pointer.
//! - `nvmlUtilization_t` is `{ unsigned int gpu; unsigned int memory; }`: percent of the last
//!   sample period (between 1/6 s and 1 s, per product) in which a kernel ran / memory was read
//!   or written.
//! - `nvmlMemory_t` (version 1) is `{ unsigned long long total, free, used; }` in bytes,
//!   device-wide (every process's allocations plus the driver's reserve).
//! - `nvmlInit_v2(void)`, `nvmlShutdown(void)`, `nvmlDeviceGetCount_v2(unsigned int*)`,
//!   `nvmlDeviceGetHandleByIndex_v2(unsigned int, nvmlDevice_t*)`,
//!   `nvmlDeviceGetUtilizationRates(nvmlDevice_t, nvmlUtilization_t*)`,
//!   `nvmlDeviceGetMemoryInfo(nvmlDevice_t, nvmlMemory_t*)`,
//!   `nvmlDeviceGetName(nvmlDevice_t, char*, unsigned int)` (buffer of
//!   `NVML_DEVICE_NAME_V2_BUFFER_SIZE` = 96).
//!
//! The Jetson GPU (an integrated Tegra GPU: no NVML) publishes its load in per mille of the last
//! devfreq window in a sysfs `load` file; where it lives depends on the L4T release, so the known
//! paths are tried, then any devfreq device named like the GPU (not verified on every JetPack).
// FFI: NVML through libloading. Each unsafe block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_uint};
use std::path::{Path, PathBuf};

use libloading::Library;
use serde::Serialize;

/// What the bench report says about the GPU (steady part of the run, like the CPU figures).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum GpuReport {
    /// A GPU NVML sees (desktop/server NVIDIA driver), one entry per device.
    Nvml { devices: Vec<GpuDevice> },
    /// A Jetson's integrated GPU: load only (its memory is the system's, see the RSS figures).
    Tegra { load_file: String, busy_mean_pct: Option<f64>, busy_max_pct: Option<f64>, samples: usize },
    /// No GPU figures, and why.
    None { reason: String },
}

/// One NVML device's figures over the steady part.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GpuDevice {
    pub index: u32,
    pub name: Option<String>,
    /// Mean and max of NVML's "gpu" utilisation: % of time a kernel was running.
    pub busy_mean_pct: Option<f64>,
    pub busy_max_pct: Option<f64>,
    /// Device memory in use (all processes, not only this one), max over the samples, MiB.
    pub memory_used_mb_max: Option<f64>,
    pub memory_total_mb: Option<f64>,
    pub samples: usize,
    /// Why a figure is missing (e.g. the device does not report utilisation).
    pub note: Option<String>,
}

/// One reading of one device.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Reading {
    pub busy_pct: Option<f64>,
    pub memory_used_mb: Option<f64>,
    pub memory_total_mb: Option<f64>,
}

/// `nvmlUtilization_t`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct NvmlUtilization {
    gpu: c_uint,
    memory: c_uint,
}

/// `nvmlMemory_t` (v1).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct NvmlMemory {
    total: u64,
    free: u64,
    used: u64,
}

const _: () = assert!(std::mem::size_of::<NvmlUtilization>() == 8);
const _: () = assert!(std::mem::size_of::<NvmlMemory>() == 24);

const NVML_SUCCESS: c_int = 0;
const NVML_DEVICE_NAME_V2_BUFFER_SIZE: usize = 96;
const MIB: f64 = 1024.0 * 1024.0;

type NvmlDevice = *mut std::ffi::c_void;

fn utilization_pct(u: &NvmlUtilization) -> f64 {
    f64::from(u.gpu.min(100))
}

fn memory_mb(m: &NvmlMemory) -> (f64, f64) {
    (m.used as f64 / MIB, m.total as f64 / MIB)
}

/// The name NVML wrote into `buf`: up to the first NUL, lossy UTF-8; None when empty.
fn device_name(buf: &[u8]) -> Option<String> {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let s = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// A required NVML symbol that is missing: a driver older than the `_v2` entry points.
fn missing(e: &libloading::Error) -> String {
    format!("libnvidia-ml.so.1 lacks an NVML entry point this build needs (driver too old?): {e}")
}

/// The NVML entry points used, resolved once.
pub(crate) struct Nvml {
    _lib: Library,
    shutdown: unsafe extern "C" fn() -> c_int,
    utilization: unsafe extern "C" fn(NvmlDevice, *mut NvmlUtilization) -> c_int,
    memory: unsafe extern "C" fn(NvmlDevice, *mut NvmlMemory) -> c_int,
    devices: Vec<(u32, NvmlDevice, Option<String>)>,
}

// SAFETY: NVML is thread-safe (nvml.h: "all NVML calls are thread-safe"); device handles are
// plain identifiers valid until nvmlShutdown, which only Drop calls.
unsafe impl Send for Nvml {}

impl Nvml {
    fn open() -> Result<Nvml, String> {
        // SAFETY: loading libnvidia-ml runs its initialisers, which have no preconditions.
        let lib = unsafe { Library::new("libnvidia-ml.so.1") }.map_err(|e| {
            // libloading's own text is "dlopen failed"; the loader's (its source) says why.
            let e = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
            if e.contains("No such file") {
                "no NVIDIA driver (libnvidia-ml.so.1 not found)".to_string()
            } else {
                format!("no usable NVIDIA driver (libnvidia-ml.so.1: {e})")
            }
        })?;
        // SAFETY: each symbol is declared with the signature nvml.h gives it (module comment).
        unsafe {
            let init = *lib.get::<unsafe extern "C" fn() -> c_int>(b"nvmlInit_v2\0").map_err(|e| missing(&e))?;
            let shutdown = *lib.get::<unsafe extern "C" fn() -> c_int>(b"nvmlShutdown\0").map_err(|e| missing(&e))?;
            let count_fn = *lib
                .get::<unsafe extern "C" fn(*mut c_uint) -> c_int>(b"nvmlDeviceGetCount_v2\0")
                .map_err(|e| missing(&e))?;
            let handle_fn = *lib
                .get::<unsafe extern "C" fn(c_uint, *mut NvmlDevice) -> c_int>(b"nvmlDeviceGetHandleByIndex_v2\0")
                .map_err(|e| missing(&e))?;
            let utilization = *lib
                .get::<unsafe extern "C" fn(NvmlDevice, *mut NvmlUtilization) -> c_int>(
                    b"nvmlDeviceGetUtilizationRates\0",
                )
                .map_err(|e| missing(&e))?;
            let memory = *lib
                .get::<unsafe extern "C" fn(NvmlDevice, *mut NvmlMemory) -> c_int>(b"nvmlDeviceGetMemoryInfo\0")
                .map_err(|e| missing(&e))?;
            let error_string =
                lib.get::<unsafe extern "C" fn(c_int) -> *const c_char>(b"nvmlErrorString\0").ok().map(|s| *s);
            let name_fn = lib
                .get::<unsafe extern "C" fn(NvmlDevice, *mut c_char, c_uint) -> c_int>(b"nvmlDeviceGetName\0")
                .ok()
                .map(|s| *s);
            let describe = |r: c_int| -> String {
                match error_string.map(|f| f(r)) {
                    Some(p) if !p.is_null() => format!("{} (NVML error {r})", CStr::from_ptr(p).to_string_lossy()),
                    _ => format!("NVML error {r}"),
                }
            };
            let r = init();
            if r != NVML_SUCCESS {
                return Err(format!("NVIDIA driver found but NVML did not start: {}", describe(r)));
            }
            let mut n: c_uint = 0;
            let r = count_fn(&mut n);
            if r != NVML_SUCCESS || n == 0 {
                shutdown();
                return Err(if r != NVML_SUCCESS {
                    format!("NVML cannot count the GPUs: {}", describe(r))
                } else {
                    "NVML sees no GPU".into()
                });
            }
            let mut devices = Vec::new();
            for i in 0..n {
                let mut h: NvmlDevice = std::ptr::null_mut();
                if handle_fn(i, &mut h) != NVML_SUCCESS || h.is_null() {
                    // A GPU this process may not see (e.g. restricted by cgroup): skipped.
                    continue;
                }
                let name = name_fn.and_then(|f| {
                    let mut buf = [0u8; NVML_DEVICE_NAME_V2_BUFFER_SIZE];
                    (f(h, buf.as_mut_ptr().cast(), buf.len() as c_uint) == NVML_SUCCESS)
                        .then(|| device_name(&buf))
                        .flatten()
                });
                devices.push((i, h, name));
            }
            if devices.is_empty() {
                shutdown();
                return Err(format!("NVML counts {n} GPU(s) but gives no handle to any"));
            }
            Ok(Nvml { _lib: lib, shutdown, utilization, memory, devices })
        }
    }

    fn read(&self) -> Vec<Reading> {
        self.devices
            .iter()
            .map(|&(_, h, _)| {
                let mut u = NvmlUtilization::default();
                let mut m = NvmlMemory::default();
                // SAFETY: `h` came from nvmlDeviceGetHandleByIndex_v2 and NVML is initialised
                // until Drop; the out-pointers are valid, correctly laid out locals.
                let (ru, rm) = unsafe { ((self.utilization)(h, &mut u), (self.memory)(h, &mut m)) };
                let (used, total) = memory_mb(&m);
                Reading {
                    busy_pct: (ru == NVML_SUCCESS).then(|| utilization_pct(&u)),
                    memory_used_mb: (rm == NVML_SUCCESS).then_some(used),
                    memory_total_mb: (rm == NVML_SUCCESS).then_some(total),
                }
            })
            .collect()
    }
}

impl Drop for Nvml {
    fn drop(&mut self) {
        // SAFETY: paired with the successful nvmlInit_v2 in `open`; no handle is used afterwards.
        unsafe {
            (self.shutdown)();
        }
    }
}

/// Per mille in a Tegra `load` file → percent; None for anything but a number.
pub(crate) fn parse_tegra_load(text: &str) -> Option<f64> {
    let v: u32 = text.trim().parse().ok()?;
    Some(f64::from(v.min(1000)) / 10.0)
}

/// Where the Tegra GPU's load file may be: the fixed paths of L4T 32 to 36, then devfreq devices
/// named after the Tegra GPUs (gp10b Xavier NX/TX2, gv11b Xavier, ga10b Orin) or "gpu".
fn tegra_candidates(sys: &Path) -> Vec<PathBuf> {
    let mut c = vec![sys.join("devices/gpu.0/load"), sys.join("devices/platform/gpu.0/load")];
    if let Ok(entries) = std::fs::read_dir(sys.join("class/devfreq")) {
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().to_lowercase();
                ["gpu", "gp10b", "gv11b", "ga10b", "gb10b"].iter().any(|g| n.contains(g))
            })
            .map(|e| e.path().join("device/load"))
            .collect();
        found.sort();
        c.extend(found);
    }
    c
}

/// The first readable Tegra load file under `sys` (normally "/sys").
pub(crate) fn find_tegra_load(sys: &Path) -> Option<PathBuf> {
    tegra_candidates(sys)
        .into_iter()
        .find(|p| std::fs::read_to_string(p).ok().and_then(|t| parse_tegra_load(&t)).is_some())
}

/// The GPU source the sampler reads from.
pub(crate) enum Probe {
    Nvml(Nvml),
    Tegra(PathBuf),
    None(String),
}

impl Probe {
    /// Tries the Jetson load file first (a Jetson has no NVML), then NVML.
    pub(crate) fn open() -> Probe {
        if let Some(p) = find_tegra_load(Path::new("/sys")) {
            return Probe::Tegra(p);
        }
        match Nvml::open() {
            Ok(n) => Probe::Nvml(n),
            Err(reason) => Probe::None(reason),
        }
    }

    /// One reading per device; empty for no source (or a failed read on a Jetson).
    pub(crate) fn read(&self) -> Vec<Reading> {
        match self {
            Probe::Nvml(n) => n.read(),
            Probe::Tegra(p) => {
                let busy = std::fs::read_to_string(p).ok().and_then(|t| parse_tegra_load(&t));
                vec![Reading { busy_pct: busy, ..Reading::default() }]
            }
            Probe::None(_) => Vec::new(),
        }
    }
}

/// Readings gathered over the steady part, per device.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    per_device: Vec<Vec<Reading>>,
}

impl Accumulator {
    pub(crate) fn add(&mut self, readings: Vec<Reading>) {
        if self.per_device.len() < readings.len() {
            self.per_device.resize_with(readings.len(), Vec::new);
        }
        for (d, r) in self.per_device.iter_mut().zip(readings) {
            d.push(r);
        }
    }

    pub(crate) fn report(&self, probe: &Probe) -> GpuReport {
        match probe {
            Probe::None(reason) => GpuReport::None { reason: reason.clone() },
            Probe::Tegra(p) => {
                let s = self.per_device.first().map(Vec::as_slice).unwrap_or_default();
                let (mean, max, n) = busy_stats(s);
                GpuReport::Tegra {
                    load_file: p.display().to_string(),
                    busy_mean_pct: mean,
                    busy_max_pct: max,
                    samples: n,
                }
            }
            Probe::Nvml(nvml) => GpuReport::Nvml {
                devices: nvml
                    .devices
                    .iter()
                    .enumerate()
                    .map(|(k, (index, _, name))| {
                        let s = self.per_device.get(k).map(Vec::as_slice).unwrap_or_default();
                        device_report(*index, name.clone(), s)
                    })
                    .collect(),
            },
        }
    }
}

/// Mean and max of the busy readings present, and how many there were.
fn busy_stats(s: &[Reading]) -> (Option<f64>, Option<f64>, usize) {
    let v: Vec<f64> = s.iter().filter_map(|r| r.busy_pct).collect();
    if v.is_empty() {
        return (None, None, 0);
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (Some(mean), v.iter().copied().reduce(f64::max), v.len())
}

pub(crate) fn device_report(index: u32, name: Option<String>, s: &[Reading]) -> GpuDevice {
    let (mean, max, n) = busy_stats(s);
    let used = s.iter().filter_map(|r| r.memory_used_mb).reduce(f64::max);
    let total = s.iter().filter_map(|r| r.memory_total_mb).reduce(f64::max);
    let note = match (s.is_empty(), mean.is_none(), used.is_none()) {
        (true, _, _) => Some("no sample in the steady part".to_string()),
        (false, true, true) => Some("the device reports neither utilisation nor memory".to_string()),
        (false, true, false) => Some("the device does not report utilisation".to_string()),
        (false, false, true) => Some("the device does not report memory".to_string()),
        _ => None,
    };
    GpuDevice {
        index,
        name,
        busy_mean_pct: mean,
        busy_max_pct: max,
        memory_used_mb_max: used,
        memory_total_mb: total,
        samples: n.max(s.len()),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvml_structs_convert() {
        let u = NvmlUtilization { gpu: 37, memory: 12 };
        assert_eq!(utilization_pct(&u), 37.0);
        // A driver never says more than 100; if one did, the figure stays a percentage.
        assert_eq!(utilization_pct(&NvmlUtilization { gpu: 250, memory: 0 }), 100.0);
        let m = NvmlMemory { total: 80 * 1024 * 1024 * 1024, free: 0, used: 1536 * 1024 * 1024 };
        assert_eq!(memory_mb(&m), (1536.0, 80.0 * 1024.0));
    }

    #[test]
    fn device_names_stop_at_nul() {
        let mut buf = [0u8; NVML_DEVICE_NAME_V2_BUFFER_SIZE];
        buf[..10].copy_from_slice(b"NVIDIA H20");
        assert_eq!(device_name(&buf).as_deref(), Some("NVIDIA H20"));
        assert_eq!(device_name(&[0u8; 8]), None);
        assert_eq!(device_name(b"no nul at all").as_deref(), Some("no nul at all"));
    }

    #[test]
    fn tegra_load_is_per_mille() {
        assert_eq!(parse_tegra_load("0\n"), Some(0.0));
        assert_eq!(parse_tegra_load("537\n"), Some(53.7));
        assert_eq!(parse_tegra_load(" 1000 "), Some(100.0));
        assert_eq!(parse_tegra_load("1200"), Some(100.0));
        assert_eq!(parse_tegra_load(""), None);
        assert_eq!(parse_tegra_load("-3"), None);
        assert_eq!(parse_tegra_load("busy"), None);
    }

    #[test]
    fn tegra_load_file_found_in_a_fake_sysfs() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(find_tegra_load(d.path()), None);
        let dev = d.path().join("class/devfreq/17000000.ga10b/device");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("load"), "250\n").unwrap();
        std::fs::create_dir_all(d.path().join("class/devfreq/cpu0/device")).unwrap();
        std::fs::write(d.path().join("class/devfreq/cpu0/device/load"), "999\n").unwrap();
        assert_eq!(find_tegra_load(d.path()), Some(dev.join("load")));
        // The fixed path wins; an unreadable one is skipped.
        std::fs::create_dir_all(d.path().join("devices/gpu.0")).unwrap();
        std::fs::write(d.path().join("devices/gpu.0/load"), "garbage").unwrap();
        assert_eq!(find_tegra_load(d.path()), Some(dev.join("load")));
        std::fs::write(d.path().join("devices/gpu.0/load"), "10").unwrap();
        assert_eq!(find_tegra_load(d.path()), Some(d.path().join("devices/gpu.0/load")));
    }

    #[test]
    fn readings_summarise_per_device() {
        let r = |b: Option<f64>, m: Option<f64>| Reading {
            busy_pct: b,
            memory_used_mb: m,
            memory_total_mb: m.map(|_| 100.0),
        };
        let d =
            device_report(0, Some("g".into()), &[r(Some(10.0), Some(5.0)), r(Some(30.0), Some(7.0)), r(None, None)]);
        assert_eq!((d.busy_mean_pct, d.busy_max_pct, d.memory_used_mb_max), (Some(20.0), Some(30.0), Some(7.0)));
        assert_eq!((d.memory_total_mb, d.samples, d.note), (Some(100.0), 3, None));
        let d = device_report(1, None, &[r(None, Some(1.0))]);
        assert_eq!(d.note.as_deref(), Some("the device does not report utilisation"));
        assert_eq!(device_report(2, None, &[]).note.as_deref(), Some("no sample in the steady part"));
    }

    #[test]
    fn report_serialises_with_its_source() {
        let none = serde_json::to_value(GpuReport::None { reason: "no NVIDIA driver".into() }).unwrap();
        assert_eq!(none, serde_json::json!({"source": "none", "reason": "no NVIDIA driver"}));
        let t = GpuReport::Tegra { load_file: "/x".into(), busy_mean_pct: Some(1.0), busy_max_pct: None, samples: 1 };
        assert_eq!(serde_json::to_value(t).unwrap()["source"], "tegra");
        let mut acc = Accumulator::default();
        acc.add(vec![Reading { busy_pct: Some(40.0), ..Reading::default() }]);
        acc.add(vec![Reading { busy_pct: Some(60.0), ..Reading::default() }]);
        match acc.report(&Probe::Tegra("/l".into())) {
            GpuReport::Tegra { busy_mean_pct, busy_max_pct, samples, .. } => {
                assert_eq!((busy_mean_pct, busy_max_pct, samples), (Some(50.0), Some(60.0), 2))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_a_driver_the_reason_names_the_library() {
        // On machines with a driver this opens NVML instead; both are fine, neither may panic.
        match Nvml::open() {
            Ok(n) => assert!(!n.devices.is_empty()),
            Err(reason) => assert!(reason.contains("libnvidia-ml.so.1") || reason.contains("NVML"), "{reason}"),
        }
    }
}
