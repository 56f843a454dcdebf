//! The bench report: one structure, written as text for people and as JSON (`--json`) for
//! machines. Every field is documented in docs/perf/bench_report.md, and tests/bench.rs checks
//! that the JSON holds only documented fields.

use std::fmt::Write as _;

use serde::Serialize;

use super::gpu::GpuReport;
use super::measure::{Series, Windows};
use super::system::SystemReport;
use super::verdict::{Alternative, Device, Verdict};
use crate::metrics::stats::Histogram;

/// Bumped when a field changes meaning or disappears (new fields keep the version).
pub const SCHEMA: &str = "edgesight-bench/1";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub edgesight: &'static str,
    pub config: String,
    pub engine: EngineInfo,
    pub period: Period,
    pub pipeline: PipelineFigures,
    pub streams: Vec<StreamFigures>,
    pub ceiling: Ceiling,
    pub system: SystemReport,
    pub alternatives: Vec<Alternative>,
    pub verdict: Verdict,
    /// What the run changed from the configuration, and why (e.g. events to standard output).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineInfo {
    pub name: &'static str,
    pub device: Device,
    pub model: String,
    pub batch: usize,
    /// `model.threads` (0: ONNX Runtime's choice).
    pub threads: usize,
    pub preprocess: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Period {
    pub warmup_s: f64,
    pub warmup_frames: u64,
    pub measured_s: f64,
    /// "duration", "frames" (the limit was reached) or "streams_ended".
    pub ended_by: &'static str,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Fps {
    /// Frames / measured seconds.
    pub mean: f64,
    /// The rate reached or beaten in 95% of the one-second windows (their 5th percentile).
    pub p95: f64,
    pub min: f64,
    pub windows: usize,
}

impl Fps {
    pub fn of(frames: u64, measured_s: f64, windows: &Windows) -> Fps {
        let mut rates = windows.rates(std::time::Duration::from_secs_f64(measured_s));
        rates.sort_by(f64::total_cmp);
        let mean = if measured_s > 0.0 { frames as f64 / measured_s } else { 0.0 };
        let p95 = low_percentile(&rates, 0.05);
        Fps { mean, p95, min: rates.first().copied().unwrap_or(0.0), windows: rates.len() }
    }
}

/// The value at or below which a fraction `q` of the sorted `values` lie (nearest rank).
pub fn low_percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(h: &Histogram) -> Latency {
        Latency {
            mean: h.mean_ms(),
            p50: h.quantile_ms(0.5),
            p95: h.quantile_ms(0.95),
            p99: h.quantile_ms(0.99),
            max: h.max_ms(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stage {
    pub mean: f64,
    pub p95: f64,
}

impl Stage {
    fn of(h: &Histogram) -> Option<Stage> {
        (h.count() > 0).then(|| Stage { mean: h.mean_ms(), p95: h.quantile_ms(0.95) })
    }
}

/// Milliseconds per processed frame in each stage of the inference loop, and the video
/// decoder's CPU time per decoded frame.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stages {
    pub preprocess: Option<Stage>,
    pub inference: Option<Stage>,
    pub decode_nms: Option<Stage>,
    pub tracking: Option<Stage>,
    pub sinks: Option<Stage>,
    pub visualise: Option<Stage>,
    /// CPU time of the decoder's threads per decoded frame (processed and dropped), from the
    /// system sampler; None when no thread was recognised as a decoder.
    pub video_decode_cpu: Option<f64>,
}

impl Stages {
    pub fn of(s: &Series, video_decode_cpu: Option<f64>) -> Stages {
        Stages {
            preprocess: Stage::of(&s.preprocess),
            inference: Stage::of(&s.inference),
            decode_nms: Stage::of(&s.decode),
            tracking: Stage::of(&s.tracking),
            sinks: Stage::of(&s.sinks),
            visualise: Stage::of(&s.visualise),
            video_decode_cpu,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Drops {
    /// Replaced by a newer frame while the engine was busy.
    pub busy: u64,
    /// Skipped by `fps_limit`.
    pub fps_limit: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineFigures {
    pub frames: u64,
    pub fps: Fps,
    pub fps_target: Option<f64>,
    pub latency_ms: Latency,
    pub stages_ms: Stages,
    pub drops: Drops,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamFigures {
    pub name: String,
    pub frames: u64,
    pub fps: Fps,
    pub fps_target: Option<f64>,
    pub latency_ms: Latency,
    pub drops: Drops,
    pub reconnects: u64,
    /// Frames shown by `[visualise]` and dropped because its encoder was behind (whole run).
    pub visualised: Option<Visualised>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Visualised {
    pub sent: u64,
    pub dropped: u64,
}

/// The engine alone, back to back on a prepared tensor, same model, batch and threads.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ceiling {
    /// Images per second.
    pub fps: f64,
    pub inference_ms: Latency,
    pub runs: usize,
    /// Pipeline FPS / ceiling FPS.
    pub pipeline_fraction: f64,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let p = &self.pipeline;
        let e = &self.engine;
        let _ = writeln!(
            s,
            "edgesight bench: {} ({:?}), model {}, batch {}, threads {}, preprocess {}",
            e.name, e.device, e.model, e.batch, e.threads, e.preprocess
        );
        let _ = writeln!(
            s,
            "period: {:.1} s measured after a {:.1} s warm-up ({} frames), ended by {}",
            self.period.measured_s, self.period.warmup_s, self.period.warmup_frames, self.period.ended_by
        );
        let target = |t: Option<f64>| t.map_or(String::new(), |t| format!(", target {t:.1}"));
        let _ = writeln!(
            s,
            "pipeline: {} frames, FPS mean {:.1}, p95 {:.1} (1 s windows: {}, lowest {:.1}){}",
            p.frames,
            p.fps.mean,
            p.fps.p95,
            p.fps.windows,
            p.fps.min,
            target(p.fps_target)
        );
        let l = &p.latency_ms;
        let _ = writeln!(
            s,
            "latency capture->event ms: mean {:.1}, p50 {:.1}, p95 {:.1}, p99 {:.1}, max {:.1}",
            l.mean, l.p50, l.p95, l.p99, l.max
        );
        let _ = writeln!(s, "stages, ms per frame (mean / p95):");
        let st = &p.stages_ms;
        for (name, stage) in [
            ("preprocess", st.preprocess),
            ("inference", st.inference),
            ("decode+nms", st.decode_nms),
            ("tracking", st.tracking),
            ("sinks", st.sinks),
            ("visualise", st.visualise),
        ] {
            match stage {
                Some(g) => {
                    let _ = writeln!(s, "  {name:<12} {:>8.2} / {:>8.2}", g.mean, g.p95);
                }
                None if name == "visualise" => {}
                None => {
                    let _ = writeln!(s, "  {name:<12}      n/a");
                }
            }
        }
        match st.video_decode_cpu {
            Some(ms) => {
                let _ = writeln!(s, "  {:<12} {:>8.2} ms of decoder-thread CPU per decoded frame", "video decode", ms);
            }
            None => {
                let _ = writeln!(s, "  {:<12}      n/a (no decoder thread recognised)", "video decode");
            }
        }
        let _ = writeln!(s, "drops: {} (engine busy), {} (fps_limit)", p.drops.busy, p.drops.fps_limit);
        if let Some(v) = st.visualise {
            // Issue 12: the visualisation's price, so that it is switched off in production.
            let encode = self.system.threads.iter().find(|g| g.name == "encode").map_or(0.0, |g| g.cpu_pct);
            let _ = writeln!(
                s,
                "visualisation cost: {:.2} ms per frame on the inference loop, its encoder threads {:.0}% of a core; \
                 keep [visualise] off in production",
                v.mean, encode
            );
        }
        for st in &self.streams {
            let _ = writeln!(
                s,
                "stream \"{}\": {} frames, FPS mean {:.1}, p95 {:.1}{}; latency p95 {:.1} ms; drops {} busy, {} fps_limit; reconnects {}{}",
                st.name,
                st.frames,
                st.fps.mean,
                st.fps.p95,
                target(st.fps_target),
                st.latency_ms.p95,
                st.drops.busy,
                st.drops.fps_limit,
                st.reconnects,
                st.visualised.map_or(String::new(), |v| format!("; visualised {} sent, {} dropped", v.sent, v.dropped))
            );
        }
        let c = &self.ceiling;
        let _ = writeln!(
            s,
            "engine alone: {:.1} images/s (inference ms mean {:.1}, p95 {:.1}, {} runs); the pipeline reaches {:.0}% of it",
            c.fps,
            c.inference_ms.mean,
            c.inference_ms.p95,
            c.runs,
            c.pipeline_fraction * 100.0
        );
        system_text(&mut s, &self.system);
        for a in &self.alternatives {
            let _ = writeln!(
                s,
                "alternative {} ({}): engine alone {}, pipeline {}",
                a.label,
                a.model,
                a.ceiling_fps.map_or("n/a".to_string(), |f| format!("{f:.1} images/s")),
                a.pipeline_fps.map_or("not measured".to_string(), |f| format!("{f:.1} FPS")),
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        let _ = writeln!(s, "verdict ({:?}):", self.verdict.outcome);
        for l in &self.verdict.lines {
            let _ = writeln!(s, "  {l}");
        }
        s
    }
}

/// The system figures as text lines.
fn system_text(s: &mut String, sys: &SystemReport) {
    let opt = |v: Option<f64>, unit: &str| v.map_or("n/a".to_string(), |v| format!("{v:.0}{unit}"));
    let per_core: Vec<String> = sys.cpu_per_core_pct.iter().map(|c| format!("{c:.0}%")).collect();
    let _ = writeln!(
        s,
        "CPU: process {} of one core ({} cores; each core busy, whole machine: {})",
        opt(sys.cpu_process_pct, "%"),
        sys.cores.map_or("?".to_string(), |c| c.to_string()),
        if per_core.is_empty() { "n/a".to_string() } else { per_core.join(" ") }
    );
    let groups: Vec<String> = sys.threads.iter().map(|g| format!("{} {:.0}%", g.name, g.cpu_pct)).collect();
    let _ =
        writeln!(s, "CPU by thread group: {}", if groups.is_empty() { "n/a".to_string() } else { groups.join(", ") });
    let _ = writeln!(
        s,
        "memory: RSS steady {} (max {}), peak {}",
        opt(sys.rss_steady_mb, " MiB"),
        opt(sys.rss_max_steady_mb, " MiB"),
        opt(sys.rss_peak_mb, " MiB")
    );
    let _ = match &sys.gpu {
        GpuReport::Nvml { devices } => {
            let d: Vec<String> = devices
                .iter()
                .map(|d| {
                    format!(
                        "GPU {} ({}): busy mean {}, max {}; memory used {} of {}",
                        d.index,
                        d.name.as_deref().unwrap_or("?"),
                        opt(d.busy_mean_pct, "%"),
                        opt(d.busy_max_pct, "%"),
                        opt(d.memory_used_mb_max, " MiB"),
                        opt(d.memory_total_mb, " MiB")
                    )
                })
                .collect();
            writeln!(s, "GPU (NVML): {}", d.join("; "))
        }
        GpuReport::Tegra { busy_mean_pct, busy_max_pct, .. } => {
            writeln!(s, "GPU (Tegra load): busy mean {}, max {}", opt(*busy_mean_pct, "%"), opt(*busy_max_pct, "%"))
        }
        GpuReport::None { reason } => writeln!(s, "GPU: n/a ({reason})"),
    };
    for n in &sys.notes {
        let _ = writeln!(s, "note: {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fps_p95_is_the_rate_beaten_in_95_percent_of_windows() {
        let mut w = Windows::default();
        // 20 windows: 19 of 10 frames, one of 2.
        for i in 0..20u64 {
            let n = if i == 7 { 2 } else { 10 };
            for k in 0..n {
                w.count(Duration::from_millis(i * 1000 + k * 90));
            }
        }
        let f = Fps::of(192, 20.0, &w);
        assert_eq!((f.mean, f.p95, f.min, f.windows), (9.6, 2.0, 2.0, 20));
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(low_percentile(&sorted, 0.05), 5.0);
        assert_eq!(low_percentile(&sorted[..10], 0.05), 1.0);
        assert_eq!(low_percentile(&[], 0.05), 0.0);
    }
}
