//! The optimisation guide's decision rules, applied to measured figures (docs/perf/
//! optimization_guide.md): a target met is met; missed with the engine on the CPU → move to a
//! GPU/Jetson, unless a measured alternative (INT8, a smaller input) meets it on this CPU;
//! missed with the engine on a GPU → a smaller input or model. Before any of that, a pipeline
//! far below what its engine does alone is a pipeline problem, not a model one.

use serde::Serialize;

/// A pipeline reaching less than this fraction of its engine's ceiling is limited by the
/// pipeline (decoding, preprocessing, outputs, threads), which pipeline work fixes first.
pub const PIPELINE_BOUND_BELOW: f64 = 0.75;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Cpu,
    Gpu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No `fps_target` is configured: figures only.
    NoTarget,
    Met,
    MissedOnCpu,
    MissedOnGpu,
}

/// One target and what was measured against it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// "pipeline" or "stream NAME".
    pub what: String,
    pub target_fps: f64,
    pub measured_fps: f64,
    pub met: bool,
}

/// A model measured instead of the configured one (same config otherwise).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alternative {
    /// "int8", "input 320x320", or the file name given with `--compare`.
    pub label: String,
    pub model: String,
    /// The engine alone, images per second; None when it could not run (see `error`).
    pub ceiling_fps: Option<f64>,
    /// The whole pipeline with it, when measured (only when the target was missed).
    pub pipeline_fps: Option<f64>,
    /// Whether the pipeline with it met every target, when measured.
    pub meets: Option<bool>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub checks: Vec<Check>,
    /// The reasoning, one sentence each, figures included; the first is the verdict.
    pub lines: Vec<String>,
}

/// What the rules are applied to.
pub struct Figures<'a> {
    pub device: Device,
    /// Pipeline FPS (mean) and the ceiling of its engine alone.
    pub pipeline_fps: f64,
    pub ceiling_fps: f64,
    pub pipeline_target: Option<f64>,
    /// The most `fps_limit` lets through, all streams together (`cap`), when it is set.
    pub cap: Option<f64>,
    /// (stream, measured FPS, target)
    pub streams: Vec<(&'a str, f64, Option<f64>)>,
    pub alternatives: &'a [Alternative],
}

/// The targets of `f` and whether each is met.
pub fn checks(f: &Figures<'_>) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(t) = f.pipeline_target {
        out.push(Check {
            what: "pipeline".into(),
            target_fps: t,
            measured_fps: f.pipeline_fps,
            met: f.pipeline_fps >= t,
        });
    }
    for &(name, fps, target) in &f.streams {
        if let Some(t) = target {
            out.push(Check { what: format!("stream \"{name}\""), target_fps: t, measured_fps: fps, met: fps >= t });
        }
    }
    out
}

pub fn decide(f: &Figures<'_>) -> Verdict {
    let checks = checks(f);
    let mut lines = Vec::new();
    let efficiency = if f.ceiling_fps > 0.0 { f.pipeline_fps / f.ceiling_fps } else { 0.0 };
    let missed: Vec<&Check> = checks.iter().filter(|c| !c.met).collect();
    let outcome = if checks.is_empty() {
        lines.push(
            "no target: set pipeline.fps_target (all streams) or a stream's fps_target to get a verdict".to_string(),
        );
        Outcome::NoTarget
    } else if missed.is_empty() {
        let all: Vec<String> =
            checks.iter().map(|c| format!("{} {:.1} FPS >= {:.1}", c.what, c.measured_fps, c.target_fps)).collect();
        lines.push(format!("met: {}", all.join(", ")));
        Outcome::Met
    } else {
        let all: Vec<String> =
            missed.iter().map(|c| format!("{} {:.1} FPS < {:.1}", c.what, c.measured_fps, c.target_fps)).collect();
        match f.device {
            Device::Cpu => {
                lines.push(format!("missed on the CPU: {}; the rule: move to a GPU/Jetson", all.join(", ")));
                Outcome::MissedOnCpu
            }
            Device::Gpu => {
                lines.push(format!(
                    "missed on the GPU: {}; the rule: a smaller input size or a smaller model",
                    all.join(", ")
                ));
                Outcome::MissedOnGpu
            }
        }
    };
    // A pipeline that runs at its `fps_limit` is not held back: it does what it was told.
    let capped = f.cap.is_some_and(|c| f.pipeline_fps >= 0.9 * c);
    if capped {
        lines.push(format!(
            "the pipeline runs at its fps_limit ({:.1} FPS, all streams): the engine alone could do {:.1}",
            f.cap.unwrap_or(0.0),
            f.ceiling_fps
        ));
    }
    if outcome == Outcome::NoTarget || outcome == Outcome::Met {
        if !capped && f.ceiling_fps > 0.0 && efficiency < PIPELINE_BOUND_BELOW {
            lines.push(format!(
                "the pipeline reaches {:.0}% of its engine alone ({:.1} of {:.1} FPS): room for pipeline work",
                efficiency * 100.0,
                f.pipeline_fps,
                f.ceiling_fps
            ));
        }
        return Verdict { outcome, checks, lines };
    }
    if !capped && f.ceiling_fps > 0.0 && efficiency < PIPELINE_BOUND_BELOW {
        lines.push(format!(
            "first, pipeline work: the pipeline reaches only {:.0}% of its engine alone ({:.1} of {:.1} FPS), so \
             decoding, preprocessing, outputs or threads hold it back (optimisation guide, part 3)",
            efficiency * 100.0,
            f.pipeline_fps,
            f.ceiling_fps
        ));
    }
    // What the engine must do for every target together: the pipeline's, or the streams' sum.
    let needed = f.pipeline_target.unwrap_or(0.0).max(f.streams.iter().filter_map(|s| s.2).sum());
    if f.ceiling_fps > 0.0 && f.ceiling_fps < needed {
        lines.push(format!(
            "the engine alone reaches {:.1} FPS on this machine, below the {needed:.1} FPS the targets need: no \
             pipeline work can meet them with this model here",
            f.ceiling_fps
        ));
    }
    for a in f.alternatives {
        lines.push(match (&a.error, a.pipeline_fps, a.meets) {
            (Some(e), _, _) => format!("{} ({}): not measured: {e}", a.label, a.model),
            (None, Some(p), Some(true)) => {
                format!(
                    "{} ({}) meets it on this machine: {:.1} FPS measured through the pipeline",
                    a.label, a.model, p
                )
            }
            (None, Some(p), _) => {
                format!("{} ({}) does not meet it either: {:.1} FPS measured through the pipeline", a.label, a.model, p)
            }
            (None, None, _) => format!(
                "{} ({}): engine alone {:.1} FPS (pipeline not measured)",
                a.label,
                a.model,
                a.ceiling_fps.unwrap_or(0.0)
            ),
        });
    }
    Verdict { outcome, checks, lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(device: Device, fps: f64, ceiling: f64, target: Option<f64>) -> Figures<'static> {
        Figures {
            device,
            pipeline_fps: fps,
            ceiling_fps: ceiling,
            pipeline_target: target,
            cap: None,
            streams: vec![],
            alternatives: &[],
        }
    }

    #[test]
    fn no_target_gives_figures_only() {
        let v = decide(&fig(Device::Cpu, 20.0, 25.0, None));
        assert_eq!(v.outcome, Outcome::NoTarget);
        assert!(v.checks.is_empty());
        assert_eq!(v.lines.len(), 1, "{:?}", v.lines);
        let v = decide(&fig(Device::Cpu, 10.0, 25.0, None));
        assert!(v.lines[1].contains("40% of its engine alone"), "{:?}", v.lines);
    }

    #[test]
    fn a_target_reached_exactly_is_met() {
        let v = decide(&fig(Device::Cpu, 20.0, 25.0, Some(20.0)));
        assert_eq!(v.outcome, Outcome::Met);
        assert_eq!(v.lines, vec!["met: pipeline 20.0 FPS >= 20.0".to_string()]);
    }

    #[test]
    fn missed_on_the_cpu_says_gpu_and_which_alternative_meets_it() {
        let alts = [
            Alternative {
                label: "int8".into(),
                model: "m_int8.onnx".into(),
                ceiling_fps: Some(60.0),
                pipeline_fps: Some(33.0),
                meets: Some(true),
                error: None,
            },
            Alternative {
                label: "input 320x320".into(),
                model: "m.onnx".into(),
                ceiling_fps: None,
                pipeline_fps: None,
                meets: None,
                error: Some("the model's input size is fixed".into()),
            },
        ];
        let f = Figures { alternatives: &alts, ..fig(Device::Cpu, 20.0, 24.0, Some(30.0)) };
        let v = decide(&f);
        assert_eq!(v.outcome, Outcome::MissedOnCpu);
        assert!(v.lines[0].starts_with("missed on the CPU: pipeline 20.0 FPS < 30.0"), "{:?}", v.lines);
        assert!(v.lines[0].ends_with("move to a GPU/Jetson"));
        assert!(v.lines.iter().any(|l| l.contains("engine alone reaches 24.0 FPS")), "{:?}", v.lines);
        assert!(v.lines.iter().any(|l| l.starts_with("int8 (m_int8.onnx) meets it") && l.contains("33.0 FPS")));
        assert!(v.lines.iter().any(|l| l.contains("not measured: the model's input size is fixed")));
        assert!(!v.lines.iter().any(|l| l.contains("pipeline work:")), "83% of the ceiling is not pipeline-bound");
    }

    #[test]
    fn a_pipeline_at_its_fps_limit_is_not_called_slow() {
        let v = decide(&Figures { cap: Some(8.0), ..fig(Device::Cpu, 7.9, 45.0, None) });
        assert_eq!(v.lines.len(), 2, "{:?}", v.lines);
        assert!(v.lines[1].starts_with("the pipeline runs at its fps_limit (8.0 FPS"), "{:?}", v.lines);
        let v = decide(&Figures { cap: Some(8.0), ..fig(Device::Cpu, 7.0, 45.0, Some(10.0)) });
        assert!(
            v.lines.iter().any(|l| l.starts_with("first, pipeline work")),
            "7 of 8 is under the cap: {:?}",
            v.lines
        );
        let v = decide(&Figures { cap: Some(8.0), ..fig(Device::Cpu, 7.2, 45.0, Some(10.0)) });
        assert!(!v.lines.iter().any(|l| l.starts_with("first, pipeline work")), "{:?}", v.lines);
    }

    #[test]
    fn a_slow_pipeline_on_a_fast_engine_is_pipeline_work_first() {
        let v = decide(&fig(Device::Cpu, 10.0, 40.0, Some(15.0)));
        assert_eq!(v.outcome, Outcome::MissedOnCpu);
        assert!(v.lines[1].contains("only 25% of its engine alone (10.0 of 40.0 FPS)"), "{:?}", v.lines);
        assert!(!v.lines.iter().any(|l| l.contains("cannot meet")), "{:?}", v.lines);
    }

    #[test]
    fn missed_on_the_gpu_says_smaller_input_or_model_and_streams_are_judged_each() {
        let f = Figures {
            streams: vec![("a", 9.0, Some(10.0)), ("b", 12.0, Some(10.0)), ("c", 3.0, None)],
            ..fig(Device::Gpu, 24.0, 26.0, None)
        };
        let v = decide(&f);
        assert_eq!(v.outcome, Outcome::MissedOnGpu);
        assert_eq!(v.checks.len(), 2);
        assert_eq!((v.checks[0].met, v.checks[1].met), (false, true));
        assert!(v.lines[0].starts_with("missed on the GPU: stream \"a\" 9.0 FPS < 10.0;"), "{:?}", v.lines);
        assert!(v.lines[0].ends_with("smaller input size or a smaller model"));
    }
}
