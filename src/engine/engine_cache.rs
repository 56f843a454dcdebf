//! The TensorRT engine cache: which serialized engine a model may use, and what to do when the
//! one on disk was made for something else. Engines are not portable across TensorRT versions,
//! GPUs, DLA cores, precisions or batch sizes, so each is stored with the full key it was built
//! for and used only on an exact match. Pure decisions and file naming, no TensorRT: tested on
//! any machine.
//!
//! Layout: `<cache>/<model stem>-<key hash>.engine` and, beside it, `….json` holding the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Numeric precision of an engine build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    Fp32,
    Fp16,
    /// INT8 with FP16 fallback: Q/DQ nodes in the model, or calibration images.
    Int8,
    /// The ONNX file's own types (an FP16 export or a Q/DQ model); TensorRT 11 knows only this.
    AsExported,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
            Precision::AsExported => "as-exported",
        }
    }

    pub fn from_name(s: &str) -> Option<Precision> {
        [Precision::Fp32, Precision::Fp16, Precision::Int8, Precision::AsExported].into_iter().find(|p| p.name() == s)
    }

    /// The shim's precision code (EsBuildOptions::precision).
    pub fn code(self) -> i32 {
        match self {
            Precision::Fp32 => 0,
            Precision::Fp16 => 1,
            Precision::Int8 => 2,
            Precision::AsExported => 3,
        }
    }
}

/// What an engine was built from and for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineKey {
    /// SHA-256 of the ONNX file.
    pub onnx_sha256: String,
    /// TensorRT library version, `10.3.0`.
    pub tensorrt: String,
    /// GPU name and compute capability, `Orin (8.7)`.
    pub gpu: String,
    pub dla_core: Option<u32>,
    pub precision: Precision,
    /// Largest batch of the optimisation profile (1: the model's own shapes).
    pub max_batch: u32,
    /// SHA-256 of the INT8 calibration data used (empty otherwise).
    #[serde(default)]
    pub calibration: String,
}

impl EngineKey {
    /// 16 hex digits naming the engine file.
    pub fn hash(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        crate::sha256::hex(text.as_bytes())[..16].to_string()
    }

    /// The fields in which `self` (cached) differs from `want`, as `field a → b`.
    pub fn differences(&self, want: &EngineKey) -> Vec<String> {
        let mut out = Vec::new();
        let mut diff = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name} {a} → {b}"));
            }
        };
        let short = |s: &str| s.chars().take(12).collect::<String>();
        diff("model sha256", short(&self.onnx_sha256), short(&want.onnx_sha256));
        diff("TensorRT", self.tensorrt.clone(), want.tensorrt.clone());
        diff("GPU", self.gpu.clone(), want.gpu.clone());
        let dla = |d: Option<u32>| d.map_or("none".to_string(), |d| d.to_string());
        diff("DLA core", dla(self.dla_core), dla(want.dla_core));
        diff("precision", self.precision.name().into(), want.precision.name().into());
        diff("max batch", self.max_batch.to_string(), want.max_batch.to_string());
        diff("calibration", short(&self.calibration), short(&want.calibration));
        out
    }
}

/// What to do when the cache holds an engine of this model made for another key, or one that
/// does not deserialize (`model.on_engine_mismatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMismatch {
    Rebuild,
    Refuse,
}

/// The decision for one model load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An engine built for exactly this key.
    Use(PathBuf),
    /// Build one (first start, or a mismatch with `rebuild`), saying why.
    Build { reason: String },
    /// A mismatch with `refuse`: the error line.
    Refuse { reason: String },
}

/// Engine and key file of `key` for a model whose file stem is `stem`.
pub fn paths(dir: &Path, stem: &str, key: &EngineKey) -> (PathBuf, PathBuf) {
    let base = dir.join(format!("{stem}-{}", key.hash()));
    (base.with_extension("engine"), base.with_extension("json"))
}

/// The cached engines of the model `stem` in `dir`, with their keys (unreadable keys skipped).
pub fn cached(dir: &Path, stem: &str) -> Vec<(PathBuf, EngineKey)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(PathBuf, EngineKey)> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.rsplit_once('-'))
                    .is_some_and(|(s, h)| s == stem && h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .filter_map(|p| {
            let key: EngineKey = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
            Some((p.with_extension("engine"), key))
        })
        .filter(|(engine, _)| engine.is_file())
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Chooses between the cached engines of a model and a build.
pub fn decide(want: &EngineKey, cached: &[(PathBuf, EngineKey)], policy: OnMismatch) -> Decision {
    if let Some((path, _)) = cached.iter().find(|(_, k)| k == want) {
        return Decision::Use(path.clone());
    }
    let Some((path, other)) = cached.last() else {
        return Decision::Build { reason: "no engine has been built for this model yet".into() };
    };
    let what = format!(
        "the cached engine {} was built for another set-up ({})",
        path.display(),
        other.differences(want).join(", ")
    );
    match policy {
        OnMismatch::Rebuild => {
            Decision::Build { reason: format!("{what}; rebuilding (model.on_engine_mismatch = \"rebuild\")") }
        }
        OnMismatch::Refuse => Decision::Refuse {
            reason: format!(
                "{what}; model.on_engine_mismatch = \"refuse\": build it with `edgesight engine build`, or set \
                 on_engine_mismatch = \"rebuild\""
            ),
        },
    }
}

/// The decision after an engine chosen by `decide` failed to deserialize.
pub fn after_failed_load(path: &Path, why: &str, policy: OnMismatch) -> Decision {
    let what = format!("the cached engine {} does not load ({why})", path.display());
    match policy {
        OnMismatch::Rebuild => Decision::Build { reason: format!("{what}; rebuilding") },
        OnMismatch::Refuse => Decision::Refuse {
            reason: format!(
                "{what}; model.on_engine_mismatch = \"refuse\": delete it and run `edgesight engine build`, or set \
                 on_engine_mismatch = \"rebuild\""
            ),
        },
    }
}

/// Writes an engine and its key atomically (temporary files, then renames: the key last, so a
/// key file always has its engine).
pub fn store(dir: &Path, stem: &str, key: &EngineKey, engine: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let (eng, meta) = paths(dir, stem, key);
    let write = |path: &Path, bytes: &[u8]| -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    };
    write(&eng, engine)?;
    write(&meta, serde_json::to_string_pretty(key).unwrap_or_default().as_bytes())?;
    Ok(eng)
}

// ------------------------------------------------------------------------------------------------
// Build progress

/// An event of an engine build, as TensorRT's progress monitor reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    PhaseStart { phase: String, steps: i32 },
    Step { phase: String, step: i32 },
    PhaseFinish { phase: String },
}

/// Turns build events into log lines and keeps systemd from timing out the start: a line per
/// phase start and finish, and for steps at most one line per `interval`; `extend(usec)` is
/// called at most once per `interval` with twice that interval (EXTEND_TIMEOUT_USEC).
pub struct ProgressReport<'a> {
    clock: &'a dyn crate::clock::Clock,
    interval: std::time::Duration,
    last: Option<std::time::Instant>,
    started: std::time::Instant,
    log: &'a mut dyn FnMut(String),
    extend: &'a mut dyn FnMut(u32),
}

impl<'a> ProgressReport<'a> {
    pub fn new(
        clock: &'a dyn crate::clock::Clock,
        interval: std::time::Duration,
        log: &'a mut dyn FnMut(String),
        extend: &'a mut dyn FnMut(u32),
    ) -> ProgressReport<'a> {
        let started = clock.now();
        ProgressReport { clock, interval, last: None, started, log, extend }
    }

    pub fn event(&mut self, e: &BuildEvent) {
        let now = self.clock.now();
        let due = self.last.is_none_or(|t| now.duration_since(t) >= self.interval);
        let elapsed = now.duration_since(self.started).as_secs();
        let line = match e {
            BuildEvent::PhaseStart { phase, steps } => {
                Some(format!("engine build: {phase} ({steps} steps), {elapsed} s"))
            }
            BuildEvent::PhaseFinish { phase } => Some(format!("engine build: {phase} done, {elapsed} s")),
            BuildEvent::Step { phase, step } if due => Some(format!("engine build: {phase} step {step}, {elapsed} s")),
            BuildEvent::Step { .. } => None,
        };
        if let Some(l) = line {
            (self.log)(l);
        }
        if due {
            let usec = (self.interval.as_micros() * 2).min(u32::MAX as u128) as u32;
            (self.extend)(usec);
            self.last = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> EngineKey {
        EngineKey {
            onnx_sha256: "ab".repeat(32),
            tensorrt: "10.3.0".into(),
            gpu: "Orin (8.7)".into(),
            dla_core: None,
            precision: Precision::Fp16,
            max_batch: 1,
            calibration: String::new(),
        }
    }

    #[test]
    fn exact_match_is_used_and_the_first_start_builds() {
        let k = key();
        let p = PathBuf::from("/c/m-x.engine");
        assert_eq!(decide(&k, &[(p.clone(), k.clone())], OnMismatch::Refuse), Decision::Use(p));
        assert!(
            matches!(decide(&k, &[], OnMismatch::Refuse), Decision::Build { .. }),
            "first start builds even with refuse"
        );
    }

    #[test]
    fn every_key_field_is_a_mismatch_and_says_which() {
        let want = key();
        let variants: Vec<(EngineKey, &str)> = vec![
            (EngineKey { onnx_sha256: "cd".repeat(32), ..key() }, "model sha256"),
            (EngineKey { tensorrt: "10.4.0".into(), ..key() }, "TensorRT 10.4.0 → 10.3.0"),
            (EngineKey { gpu: "Xavier (7.2)".into(), ..key() }, "GPU Xavier (7.2) → Orin (8.7)"),
            (EngineKey { dla_core: Some(0), ..key() }, "DLA core 0 → none"),
            (EngineKey { precision: Precision::Int8, ..key() }, "precision int8 → fp16"),
            (EngineKey { max_batch: 4, ..key() }, "max batch 4 → 1"),
            (EngineKey { calibration: "ef".repeat(32), ..key() }, "calibration"),
        ];
        for (cached, says) in variants {
            assert_ne!(cached.hash(), want.hash(), "{says}: another file name");
            let c = [(PathBuf::from("/c/m-1.engine"), cached)];
            match decide(&want, &c, OnMismatch::Rebuild) {
                Decision::Build { reason } => {
                    assert!(reason.contains(says) && reason.contains("rebuilding"), "{reason}")
                }
                d => panic!("{says}: {d:?}"),
            }
            match decide(&want, &c, OnMismatch::Refuse) {
                Decision::Refuse { reason } => {
                    assert!(reason.contains(says) && reason.contains("edgesight engine build"), "{reason}")
                }
                d => panic!("{says}: {d:?}"),
            }
        }
    }

    #[test]
    fn a_failed_deserialisation_rebuilds_or_refuses_saying_so() {
        let p = Path::new("/c/m-1.engine");
        match after_failed_load(p, "version tag mismatch", OnMismatch::Rebuild) {
            Decision::Build { reason } => assert!(reason.contains("does not load (version tag mismatch)")),
            d => panic!("{d:?}"),
        }
        assert!(matches!(after_failed_load(p, "x", OnMismatch::Refuse), Decision::Refuse { .. }));
    }

    #[test]
    fn stored_engines_are_found_by_model_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let k = key();
        let eng = store(dir.path(), "nanodet", &k, b"engine bytes").unwrap();
        let other = EngineKey { max_batch: 4, ..key() };
        store(dir.path(), "nanodet", &other, b"engine 4").unwrap();
        store(dir.path(), "nanodet-int8", &k, b"another model").unwrap();
        std::fs::write(dir.path().join("nanodet-0123456789abcdef.json"), "not json").unwrap();
        let found = cached(dir.path(), "nanodet");
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(decide(&k, &found, OnMismatch::Refuse), Decision::Use(eng.clone()));
        assert_eq!(std::fs::read(eng).unwrap(), b"engine bytes");
        // A key file whose engine is gone is not a candidate.
        let (e4, _) = paths(dir.path(), "nanodet", &other);
        std::fs::remove_file(e4).unwrap();
        assert_eq!(cached(dir.path(), "nanodet").len(), 1);
    }

    #[test]
    fn progress_logs_phases_and_rate_limits_steps_and_extends_the_start_timeout() {
        use crate::clock::{Clock, SimClock};
        use std::time::Duration;
        let clock = SimClock::new();
        let (mut lines, mut extends) = (Vec::new(), Vec::new());
        {
            let mut log = |l: String| lines.push(l);
            let mut extend = |u: u32| extends.push(u);
            let mut r = ProgressReport::new(&clock, Duration::from_secs(10), &mut log, &mut extend);
            // A fake builder: one phase of 100 steps, one per second, then done.
            r.event(&BuildEvent::PhaseStart { phase: "Building engine".into(), steps: 100 });
            for step in 0..100 {
                clock.advance(Duration::from_secs(1));
                r.event(&BuildEvent::Step { phase: "Building engine".into(), step });
            }
            r.event(&BuildEvent::PhaseFinish { phase: "Building engine".into() });
        }
        assert_eq!(lines.first().map(String::as_str), Some("engine build: Building engine (100 steps), 0 s"));
        assert_eq!(lines.last().map(String::as_str), Some("engine build: Building engine done, 100 s"));
        let steps = lines.iter().filter(|l| l.contains(" step ")).count();
        assert_eq!(steps, 10, "one step line per 10 s: {lines:?}");
        assert_eq!(extends.len(), 11, "{extends:?}");
        assert!(extends.iter().all(|&u| u == 20_000_000));
        let _ = clock.now();
    }
}
