//! `edgesight bench`: the configured pipeline run as `run` runs it (same streams, engine,
//! threads, tracker, outputs), measured after a warm-up for a duration or a number of frames,
//! with the machine sampled meanwhile; then the engine alone on a prepared tensor (the ceiling);
//! then the decision rules, with alternatives (INT8, a smaller input, `--compare` models)
//! measured through the same pipeline when a target is missed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::measure::{Limit, Recorded, Recorder};
use super::report::{
    Ceiling, Drops, EngineInfo, Fps, Latency, Period, PipelineFigures, Report, SCHEMA, Stages, StreamFigures,
    Visualised,
};
use super::system::{Sampler, SystemReport};
use super::verdict::{self, Alternative, Device, Figures};
use crate::config::{Config, EngineKind, EventTarget, ModelConfig, PreprocessKind};
use crate::error::{Error, Result};
use crate::metrics::stats::Histogram;
use crate::runtime::assemble;
use crate::runtime::pipeline::{RunReport, run_probed};
use crate::runtime::signals::Signals;
use crate::status::StreamStats;

/// How the system is sampled while the pipeline runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// The ceiling: at most this many engine runs, or this long.
const CEILING_RUNS: usize = 300;
const CEILING_BUDGET: Duration = Duration::from_secs(6);

pub struct BenchArgs {
    pub limit: Limit,
    pub warmup: Duration,
    /// Models to measure instead of the configured one, when a target is missed.
    pub compare: Vec<PathBuf>,
}

/// One measured pipeline run.
struct Measured {
    recorded: Recorded,
    report: RunReport,
}

fn measure(cfg: &Config, args: &BenchArgs, signals: &Signals, sampler: Option<&Sampler>) -> Result<Measured> {
    let recorder = Arc::new(Recorder::new(args.warmup, args.limit));
    let probe: Arc<dyn crate::runtime::probe::Probe> = recorder.clone();
    let done = std::sync::atomic::AtomicBool::new(false);
    let report = std::thread::scope(|scope| {
        // The sampler's steady part starts with the measured period.
        if let Some(sampler) = sampler {
            let (recorder, done) = (&recorder, &done);
            scope.spawn(move || {
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    if recorder.measuring() {
                        sampler.mark_steady();
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
        let report = run_probed(cfg.clone(), None, signals.clone(), Some(probe));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        report
    })?;
    if signals.terminating() {
        return Err(Error::other("bench interrupted (SIGINT/SIGTERM): no report"));
    }
    let recorded = recorder.take();
    if recorded.measured.is_zero() || recorded.all.frames == 0 {
        return Err(Error::source(format!(
            "the streams ended during the warm-up ({} frames in {:.1} s): nothing was measured; bench a longer clip, \
             set `loop = true` on file streams, or shorten --warmup",
            recorded.warmup_frames,
            args.warmup.as_secs_f64()
        )));
    }
    Ok(Measured { recorded, report })
}

fn device(cfg: &Config) -> Device {
    match cfg.model.engine {
        EngineKind::OnnxCpu => Device::Cpu,
        EngineKind::Tensorrt => Device::Gpu,
    }
}

/// Drops between the start of the measured period and its end.
fn drops(start: &[StreamStats], end: &[StreamStats], name: Option<&str>) -> Drops {
    let pick = |list: &[StreamStats]| -> (u64, u64) {
        list.iter()
            .filter(|s| name.is_none_or(|n| s.name == n))
            .fold((0, 0), |(b, f), s| (b + s.dropped_busy, f + s.dropped_fps_limit))
    };
    let (b0, f0) = pick(start);
    let (b1, f1) = pick(end);
    Drops { busy: b1.saturating_sub(b0), fps_limit: f1.saturating_sub(f0) }
}

/// The engine alone for `mc`: each run's time per image, and the images per second they give.
fn engine_alone(mc: &ModelConfig, runs: usize, budget: Duration) -> Result<(Vec<Duration>, f64)> {
    let times = assemble::detector(mc)?.time_engine(runs, budget)?;
    let mean = times.iter().sum::<Duration>().as_secs_f64() / times.len() as f64;
    Ok((times, if mean > 0.0 { 1.0 / mean } else { 0.0 }))
}

fn histogram(times: &[Duration]) -> Histogram {
    let mut h = Histogram::default();
    for &t in times {
        h.record(t);
    }
    h
}

/// The most the configured `fps_limit`s let through, all enabled streams together: the global
/// one, or the streams' sum when every stream has one (the smaller of the two when both).
pub fn cap(cfg: &Config) -> Option<f64> {
    let streams = assemble::enabled(cfg);
    let sum = streams.iter().map(|s| s.fps_limit).sum::<Option<f64>>().filter(|_| !streams.is_empty());
    match (cfg.pipeline.fps_limit, sum) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The INT8 sibling of a model (`name_int8.onnx` next to `name.onnx`), when there is one.
pub fn int8_sibling(model: &Path) -> Option<PathBuf> {
    let stem = model.file_stem()?.to_str()?;
    if stem.ends_with("_int8") {
        return None;
    }
    let ext = model.extension().and_then(|e| e.to_str()).unwrap_or("onnx");
    let p = model.with_file_name(format!("{stem}_int8.{ext}"));
    p.is_file().then_some(p)
}

/// A smaller input for a model whose size comes from the config (dynamic spatial dimensions):
/// three quarters of it, a multiple of 32, at least 160.
pub fn smaller_input(size: (u32, u32)) -> Option<(u32, u32)> {
    let shrink = |v: u32| ((v * 3 / 4) / 32 * 32).max(160);
    let s = (shrink(size.0), shrink(size.1));
    (s.0 < size.0 || s.1 < size.1).then_some(s)
}

/// How busy the machine was with other processes (% of all its cores), when that was more than
/// a quarter of it: the cores' busy share less this process's.
pub fn others_share(sys: &SystemReport) -> Option<f64> {
    let cores = sys.cpu_per_core_pct.len();
    let process = sys.cpu_process_pct?;
    if cores == 0 {
        return None;
    }
    let machine = sys.cpu_per_core_pct.iter().sum::<f64>() / cores as f64;
    let other = machine - process / cores as f64;
    (other > 25.0).then_some(other)
}

/// Measures `alt` through the pipeline with the same streams and limits.
fn run_alternative(
    cfg: &Config,
    args: &BenchArgs,
    signals: &Signals,
    mut alt: Alternative,
    alt_cfg: Config,
) -> Alternative {
    let checks = |fps: f64, streams: &[(String, f64)]| {
        cfg.pipeline.fps_target.is_none_or(|t| fps >= t)
            && cfg
                .streams
                .iter()
                .all(|s| s.fps_target.is_none_or(|t| streams.iter().any(|(n, f)| n == &s.name && *f >= t)))
    };
    match measure(&alt_cfg, args, signals, None) {
        Ok(m) => {
            let secs = m.recorded.measured.as_secs_f64();
            let fps = m.recorded.all.frames as f64 / secs;
            let per: Vec<(String, f64)> =
                m.recorded.streams.iter().map(|(n, s)| (n.clone(), s.frames as f64 / secs)).collect();
            alt.pipeline_fps = Some(fps);
            alt.meets = Some(checks(fps, &per));
        }
        Err(e) => alt.error = Some(e.to_string()),
    }
    alt
}

/// Runs the benchmark of `cfg` (read from `path`).
pub fn bench(cfg: &Config, path: &Path, args: &BenchArgs, signals: &Signals) -> Result<Report> {
    let mut cfg = cfg.clone();
    let mut notes = Vec::new();
    if cfg.output.jsonl == Some(EventTarget::Stdout) {
        // The report goes to standard output: events written there would bury it.
        cfg.output.jsonl = Some(EventTarget::File(PathBuf::from("/dev/null")));
        notes.push("events configured for standard output were written to /dev/null".to_string());
    }
    let sampler = Sampler::start(SAMPLE_EVERY);
    let measured = measure(&cfg, args, signals, Some(&sampler));
    let system: SystemReport = sampler.finish();
    let Measured { recorded: rec, report: run } = measured?;
    let secs = rec.measured.as_secs_f64();
    let at_end = rec.at_end.clone().unwrap_or_else(|| run.streams.clone());
    let all_drops = drops(&rec.at_start, &at_end, None);
    let decoded = rec.all.frames + all_drops.busy + all_drops.fps_limit;
    let video_decode_cpu = system
        .threads
        .iter()
        .find(|g| g.name == "decode")
        .filter(|_| decoded > 0)
        .map(|g| g.cpu_pct / 100.0 * secs * 1e3 / decoded as f64);
    let pipeline = PipelineFigures {
        frames: rec.all.frames,
        fps: Fps::of(rec.all.frames, secs, &rec.all.windows),
        fps_target: cfg.pipeline.fps_target,
        latency_ms: Latency::of(&rec.all.latency),
        stages_ms: Stages::of(&rec.all, video_decode_cpu),
        drops: all_drops,
    };
    let streams: Vec<StreamFigures> = assemble::enabled(&cfg)
        .iter()
        .map(|s| {
            let series = rec.streams.get(&s.name);
            let frames = series.map_or(0, |x| x.frames);
            let reconnects = at_end.iter().find(|x| x.name == s.name).map_or(0, |x| x.reconnects);
            StreamFigures {
                name: s.name.clone(),
                frames,
                fps: series
                    .map_or(Fps { mean: 0.0, p95: 0.0, min: 0.0, windows: 0 }, |x| Fps::of(frames, secs, &x.windows)),
                fps_target: s.fps_target,
                latency_ms: series.map_or(Latency::of(&Histogram::default()), |x| Latency::of(&x.latency)),
                drops: drops(&rec.at_start, &at_end, Some(&s.name)),
                reconnects,
                visualised: run.stats.visual_frames.get(&s.name).map(|&(sent, dropped)| Visualised { sent, dropped }),
            }
        })
        .collect();
    let (times, ceiling_fps) = engine_alone(&cfg.model, CEILING_RUNS, CEILING_BUDGET)?;
    let ceiling = Ceiling {
        fps: ceiling_fps,
        inference_ms: Latency::of(&histogram(&times)),
        runs: times.len(),
        pipeline_fraction: if ceiling_fps > 0.0 { pipeline.fps.mean / ceiling_fps } else { 0.0 },
    };
    let device = device(&cfg);
    let figures = |alternatives| Figures {
        device,
        pipeline_fps: pipeline.fps.mean,
        ceiling_fps,
        pipeline_target: cfg.pipeline.fps_target,
        cap: cap(&cfg),
        streams: streams.iter().map(|s| (s.name.as_str(), s.fps.mean, s.fps_target)).collect(),
        alternatives,
    };
    let first = verdict::decide(&figures(&[]));
    // Alternatives: their engine alone always (cheap); the pipeline only when a target was missed.
    let mut candidates: Vec<(String, Config)> = Vec::new();
    if let Some(p) = int8_sibling(&cfg.model.path) {
        let mut c = cfg.clone();
        c.model.path = p;
        candidates.push(("int8".into(), c));
    }
    if let Some(size) = cfg.model.input.size
        && let Some(small) = smaller_input(size)
    {
        let mut c = cfg.clone();
        c.model.input.size = Some(small);
        candidates.push((format!("input {}x{}", small.0, small.1), c));
    }
    for p in &args.compare {
        let mut c = cfg.clone();
        c.model.path = p.clone();
        candidates
            .push((p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned()), c));
    }
    let missed = matches!(first.outcome, verdict::Outcome::MissedOnCpu | verdict::Outcome::MissedOnGpu);
    let mut alternatives = Vec::new();
    for (label, c) in candidates {
        let mut alt = Alternative {
            label,
            model: c.model.path.display().to_string(),
            ceiling_fps: None,
            pipeline_fps: None,
            meets: None,
            error: None,
        };
        match engine_alone(&c.model, CEILING_RUNS / 3, CEILING_BUDGET / 3) {
            Ok((_, fps)) => {
                alt.ceiling_fps = Some(fps);
                if missed {
                    alt = run_alternative(&cfg, args, signals, alt, c);
                }
            }
            Err(e) => alt.error = Some(e.to_string()),
        }
        alternatives.push(alt);
    }
    if missed && device == Device::Cpu && cfg.model.input.size.is_none() {
        notes.push(
            "a smaller input was not measured: this model's input size is fixed; export it at a smaller size \
             (docs/specs/model_interface.md) and pass it with --compare"
                .to_string(),
        );
    }
    if let Some(other) = others_share(&system) {
        notes.push(format!(
            "other processes kept the machine {other:.0}% busy during the measurement: these figures understate \
             what it can do; bench on a quiet machine"
        ));
    }
    let verdict = verdict::decide(&figures(&alternatives));
    Ok(Report {
        schema: SCHEMA,
        edgesight: env!("CARGO_PKG_VERSION"),
        config: path.display().to_string(),
        engine: EngineInfo {
            name: run.engine,
            device,
            model: cfg.model.path.display().to_string(),
            batch: cfg.model.batch,
            threads: cfg.model.threads,
            preprocess: match cfg.model.preprocess {
                PreprocessKind::Cpu => "cpu",
                PreprocessKind::Cuda => "cuda",
            },
        },
        period: Period {
            warmup_s: args.warmup.as_secs_f64(),
            warmup_frames: rec.warmup_frames,
            measured_s: secs,
            ended_by: match (rec.reached_limit, args.limit) {
                (false, _) => "streams_ended",
                (true, Limit::Duration(_)) => "duration",
                (true, Limit::Frames(_)) => "frames",
            },
        },
        pipeline,
        streams,
        ceiling,
        system,
        alternatives,
        verdict,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_inputs_are_three_quarters_in_multiples_of_32() {
        assert_eq!(smaller_input((416, 416)), Some((288, 288)));
        assert_eq!(smaller_input((640, 384)), Some((480, 288)));
        assert_eq!(smaller_input((160, 160)), None);
        assert_eq!(smaller_input((200, 160)), Some((160, 160)));
    }

    #[test]
    fn the_int8_sibling_is_found_next_to_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("det.onnx");
        assert_eq!(int8_sibling(&m), None);
        std::fs::write(dir.path().join("det_int8.onnx"), b"x").unwrap();
        assert_eq!(int8_sibling(&m), Some(dir.path().join("det_int8.onnx")));
        assert_eq!(int8_sibling(&dir.path().join("det_int8.onnx")), None, "an INT8 model has no INT8 sibling");
    }

    #[test]
    fn the_cap_is_the_global_fps_limit_or_every_streams_sum() {
        let mut cfg = crate::config::parse_str(
            "[model]\npath = \"m.onnx\"\nfamily = \"nanodet\"\n\
             [[stream]]\nname = \"a\"\nuri = \"test://\"\nfps_limit = 5\n\
             [[stream]]\nname = \"b\"\nuri = \"test://\"\n",
            None,
        )
        .unwrap();
        assert_eq!(cap(&cfg), None, "b is not limited");
        cfg.streams[1].fps_limit = Some(3.0);
        assert_eq!(cap(&cfg), Some(8.0));
        cfg.pipeline.fps_limit = Some(6.0);
        assert_eq!(cap(&cfg), Some(6.0));
        cfg.pipeline.fps_limit = Some(10.0);
        assert_eq!(cap(&cfg), Some(8.0));
        cfg.streams[1].fps_limit = None;
        assert_eq!(cap(&cfg), Some(10.0));
        cfg.streams[0].enabled = false;
        cfg.streams[1].enabled = false;
        cfg.pipeline.fps_limit = None;
        assert_eq!(cap(&cfg), None, "no stream: nothing to sum");
    }

    #[test]
    fn a_machine_busy_with_other_work_is_noticed() {
        let sys = |per_core: Vec<f64>, process: Option<f64>| SystemReport {
            cores: Some(per_core.len()),
            window_s: 10.0,
            samples: 40,
            cpu_process_pct: process,
            cpu_per_core_pct: per_core,
            threads: vec![],
            threads_raw: vec![],
            rss_peak_mb: None,
            rss_steady_mb: None,
            rss_max_steady_mb: None,
            gpu: crate::bench::gpu::GpuReport::None { reason: String::new() },
            notes: vec![],
        };
        assert_eq!(others_share(&sys(vec![100.0, 100.0], Some(40.0))), Some(80.0));
        assert_eq!(others_share(&sys(vec![100.0, 100.0], Some(150.0))), None, "25% of the machine is tolerated");
        assert_eq!(others_share(&sys(vec![100.0, 90.0], Some(130.0))), Some(30.0));
        assert_eq!(others_share(&sys(vec![], Some(40.0))), None);
        assert_eq!(others_share(&sys(vec![100.0], None)), None);
    }

    #[test]
    fn drops_count_only_the_measured_period() {
        let s = |name: &str, busy, lim| StreamStats {
            dropped_busy: busy,
            dropped_fps_limit: lim,
            ..StreamStats::new(name)
        };
        let start = [s("a", 5, 1), s("b", 2, 0)];
        let end = [s("a", 9, 4), s("b", 3, 0)];
        assert_eq!((drops(&start, &end, None).busy, drops(&start, &end, None).fps_limit), (5, 3));
        assert_eq!(drops(&start, &end, Some("b")).busy, 1);
        assert_eq!(drops(&[], &end, Some("a")).fps_limit, 4);
    }
}
