//! The reload plan: what a new configuration changes, worked out from the two configurations
//! (and the capture settings each implies) alone. Pure: no file, model or GStreamer is touched,
//! so every case is unit-tested; `pipeline.rs` carries the plan out, preparing everything that
//! can fail before it changes anything running.

use crate::capture::CaptureOptions;
use crate::config::{Config, ModelConfig, StreamConfig};

/// What happens to the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelChange {
    /// Nothing in `[model]` changed.
    None,
    /// Thresholds, allow-list, NMS, cap or batch fill time: applied to the loaded model.
    InPlace,
    /// The network, its input contract, engine, preprocessing or batch: a new detector is loaded.
    Reload,
}

impl ModelChange {
    /// `files_changed`: the model or labels file was replaced on disk since it was loaded (same
    /// path, new content), which the configurations alone cannot show.
    pub fn between(old: &ModelConfig, new: &ModelConfig, files_changed: bool) -> ModelChange {
        if files_changed || !old.same_network(new) {
            ModelChange::Reload
        } else if old == new {
            ModelChange::None
        } else {
            ModelChange::InPlace
        }
    }
}

/// The model and labels files a detector was loaded from, as they were then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    model: Option<crate::fsutil::Stamp>,
    labels: Option<crate::fsutil::Stamp>,
}

impl ModelFiles {
    pub fn of(mc: &ModelConfig) -> ModelFiles {
        ModelFiles {
            model: crate::fsutil::stamp(&mc.path),
            labels: mc.labels.as_deref().and_then(crate::fsutil::stamp),
        }
    }
}

/// Streams by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamPlan {
    /// Running on, untouched.
    pub keep: Vec<String>,
    /// Stopped: removed, disabled, changed, or every stream when the capture settings changed.
    pub stop: Vec<String>,
    /// Opened: new, changed, or every stream when the capture settings changed.
    pub start: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReloadPlan {
    pub model: ModelChange,
    /// Open the new event output and switch to it.
    pub output: bool,
    /// Restart the metrics listener (address, health settings or the device name it reports).
    pub metrics: bool,
    /// The log level changes.
    pub log_level: Option<log::LevelFilter>,
    pub streams: StreamPlan,
    /// Keys that changed but only take effect after a restart of the process.
    pub restart_required: Vec<&'static str>,
}

fn enabled(cfg: &Config) -> impl Iterator<Item = &StreamConfig> {
    cfg.streams.iter().filter(|s| s.enabled)
}

/// The plan for going from `old` to `new`. `old_capture` and `new_capture` are the capture
/// settings each configuration implies (they depend on the loaded model's input): when they
/// differ, every stream restarts.
pub fn plan(
    old: &Config,
    new: &Config,
    old_capture: &CaptureOptions,
    new_capture: &CaptureOptions,
    files_changed: bool,
) -> ReloadPlan {
    let restart_all = old_capture != new_capture;
    let mut streams = StreamPlan::default();
    for s in enabled(old) {
        let same = enabled(new).any(|n| n.same_capture(s));
        if same && !restart_all {
            streams.keep.push(s.name.clone());
        } else {
            streams.stop.push(s.name.clone());
        }
    }
    for s in enabled(new) {
        if !streams.keep.contains(&s.name) {
            streams.start.push(s.name.clone());
        }
    }
    let mut restart_required = Vec::new();
    if old.model.onnxruntime_lib != new.model.onnxruntime_lib {
        restart_required.push("model.onnxruntime_lib");
    }
    if old.visualise != new.visualise {
        restart_required.push("visualise");
    }
    ReloadPlan {
        model: ModelChange::between(&old.model, &new.model, files_changed),
        output: old.output != new.output,
        metrics: old.metrics != new.metrics || (new.metrics.listen.is_some() && old.device.name != new.device.name),
        log_level: (old.device.log_level != new.device.log_level).then_some(new.device.log_level),
        streams,
        restart_required,
    }
}

impl ReloadPlan {
    /// One line for the log: `2 stream(s) kept, 1 stopped, 1 started; model settings applied`.
    pub fn summary(&self) -> String {
        let model = match self.model {
            ModelChange::None => "model unchanged",
            ModelChange::InPlace => "model settings applied",
            ModelChange::Reload => "model reloaded",
        };
        format!(
            "{} stream(s) kept, {} stopped, {} started; {model}",
            self.streams.keep.len(),
            self.streams.stop.len(),
            self.streams.start.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    const MODEL: &str = "[model]\npath = \"m.onnx\"\nfamily = \"nanodet\"\n";

    fn cfg(model_extra: &str, streams: &[(&str, &str)], rest: &str) -> Config {
        let streams: String =
            streams.iter().map(|(n, u)| format!("[[stream]]\nname = \"{n}\"\nuri = \"{u}\"\n")).collect();
        parse_str(&format!("{MODEL}{model_extra}\n{streams}{rest}"), None).expect("valid config")
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn streams_added_removed_and_changed() {
        let old = cfg("", &[("a", "test://"), ("b", "test://ball"), ("c", "test://snow")], "");
        let new = cfg("", &[("a", "test://"), ("b", "test://smpte"), ("d", "test://")], "");
        let cap = CaptureOptions::default();
        let p = plan(&old, &new, &cap, &cap, false);
        assert_eq!(p.streams.keep, names(&["a"]), "unchanged stream keeps running");
        assert_eq!(p.streams.stop, names(&["b", "c"]), "changed and removed streams stop");
        assert_eq!(p.streams.start, names(&["b", "d"]), "changed and new streams start");
        assert_eq!((p.model, p.output, p.metrics, p.log_level), (ModelChange::None, false, false, None));
        assert_eq!(p.summary(), "1 stream(s) kept, 2 stopped, 2 started; model unchanged");
    }

    #[test]
    fn new_zones_and_lines_keep_the_stream_running() {
        let old = cfg("", &[("a", "test://"), ("b", "test://")], "");
        let mut new = old.clone();
        new.streams[0].regions.lines.push(crate::zones::LineSpec {
            name: "l".into(),
            from: [0.1, 0.5],
            to: [0.9, 0.5],
            classes: vec![],
        });
        new.streams[1].fps_limit = Some(2.0);
        let cap = CaptureOptions::default();
        let p = plan(&old, &new, &cap, &cap, false);
        assert_eq!((p.streams.keep, p.streams.start), (names(&["a"]), names(&["b"])), "zones only: kept");
        assert!(new.streams[0].same_capture(&old.streams[0]) && !new.streams[1].same_capture(&old.streams[1]));
        // A target is only read by `bench`: changing it keeps the stream too.
        let mut target = old.clone();
        target.streams[1].fps_target = Some(5.0);
        assert!(target.streams[1].same_capture(&old.streams[1]));
    }

    #[test]
    fn a_disabled_stream_stops_and_a_capture_change_restarts_every_stream() {
        let old = cfg("", &[("a", "test://"), ("b", "test://")], "");
        let mut new = old.clone();
        new.streams[1].enabled = false;
        let cap = CaptureOptions::default();
        let p = plan(&old, &new, &cap, &cap, false);
        assert_eq!((p.streams.keep, p.streams.stop, p.streams.start), (names(&["a"]), names(&["b"]), vec![]));
        let mut resized = cap.clone();
        resized.fit =
            Some(crate::capture::Fit { width: 416, height: 416, letterbox: crate::preprocess::Letterbox::TopLeft });
        let p = plan(&old, &old, &cap, &resized, false);
        assert_eq!(
            (p.streams.keep.len(), p.streams.stop, p.streams.start),
            (0, names(&["a", "b"]), names(&["a", "b"]))
        );
    }

    #[test]
    fn model_changes_in_place_or_by_reloading() {
        let base = cfg("", &[("a", "test://")], "");
        let cap = CaptureOptions::default();
        for (extra, expected) in [
            ("score_threshold = 0.5", ModelChange::InPlace),
            ("classes = [\"person\"]", ModelChange::InPlace),
            ("nms_iou = 0.4\nmax_detections = 5", ModelChange::InPlace),
            ("batch_timeout_ms = 50", ModelChange::InPlace),
            ("batch = 4", ModelChange::Reload),
            ("threads = 1", ModelChange::Reload),
            ("letterbox = \"center\"", ModelChange::Reload),
        ] {
            let p = plan(&base, &cfg(extra, &[("a", "test://")], ""), &cap, &cap, false);
            assert_eq!(p.model, expected, "{extra}");
            assert_eq!(p.streams.keep, names(&["a"]), "{extra}: the stream keeps running");
        }
        let p = plan(&base, &cfg("onnxruntime_lib = \"/opt/ort.so\"", &[("a", "test://")], ""), &cap, &cap, false);
        assert_eq!((p.model, p.restart_required), (ModelChange::Reload, vec!["model.onnxruntime_lib"]));
        // The same configuration over a model file replaced on disk: reloaded, streams kept.
        let p = plan(&base, &base, &cap, &cap, true);
        assert_eq!((p.model, p.streams.keep.clone()), (ModelChange::Reload, names(&["a"])));
    }

    #[test]
    fn outputs_metrics_and_log_level() {
        let cap = CaptureOptions::default();
        let base = cfg("", &[("a", "test://")], "[metrics]\nlisten = \"127.0.0.1:9464\"\n");
        let other = cfg(
            "",
            &[("a", "test://")],
            "[output.jsonl]\npath = \"/tmp/e.jsonl\"\n[metrics]\nlisten = \"127.0.0.1:9464\"\n",
        );
        let p = plan(&base, &other, &cap, &cap, false);
        assert!(p.output && !p.metrics);
        let mut renamed = base.clone();
        renamed.device.name = "gate-2".into();
        renamed.device.log_level = log::LevelFilter::Debug;
        let p = plan(&base, &renamed, &cap, &cap, false);
        assert!(p.metrics, "/status reports the device name: the listener restarts");
        assert_eq!(p.log_level, Some(log::LevelFilter::Debug));
        let p = plan(
            &base,
            &cfg("", &[("a", "test://")], "[health]\nmax_frame_age_s = 5\n[metrics]\nlisten = \"127.0.0.1:9464\"\n"),
            &cap,
            &cap,
            false,
        );
        assert!(p.metrics && !p.output);
    }
}
