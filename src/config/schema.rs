//! The TOML file as written: serde structs that reject unknown keys. Values that get range checks
//! keep their position (`Spanned`) so errors can point at file:line:col.
//! Every key here is documented in configs/edgesight.toml and docs/ops/ops_runbook.md.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::capture::Transport;
use crate::detect::Family;
use crate::preprocess::{ChannelOrder, Layout, Letterbox};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub device: RawDevice,
    pub model: Option<Spanned<RawModel>>,
    #[serde(default)]
    pub pipeline: RawPipeline,
    #[serde(default, rename = "stream")]
    pub streams: Vec<Spanned<RawStream>>,
    #[serde(default)]
    pub output: RawOutput,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub name: Option<Spanned<String>>,
    pub log_level: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    OnnxCpu,
    Tensorrt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeAt {
    /// Downscale in the GStreamer pipeline towards the model input, before colour conversion.
    Capture,
    /// Convert at full size and resize only in the preprocessor (bit-faithful to the reference).
    Preprocess,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub path: Spanned<String>,
    pub family: Spanned<Family>,
    pub engine: Option<Spanned<EngineKind>>,
    pub labels: Option<Spanned<String>>,
    pub score_threshold: Option<Spanned<f64>>,
    pub nms_iou: Option<Spanned<f64>>,
    pub class_thresholds: Option<BTreeMap<String, Spanned<f64>>>,
    pub classes: Option<Spanned<Vec<Spanned<String>>>>,
    pub max_detections: Option<Spanned<i64>>,
    pub threads: Option<Spanned<i64>>,
    pub onnxruntime_lib: Option<Spanned<String>>,
    // Input contract overrides (docs/specs/model_interface.md).
    pub input_size: Option<Spanned<Vec<i64>>>,
    pub layout: Option<Spanned<Layout>>,
    pub channel_order: Option<Spanned<ChannelOrder>>,
    pub mean: Option<Spanned<Vec<f64>>>,
    pub std: Option<Spanned<Vec<f64>>>,
    pub letterbox: Option<Spanned<Letterbox>>,
    pub pad_pixel: Option<Spanned<f64>>,
    pub pad_value: Option<Spanned<f64>>,
    pub strides: Option<Spanned<Vec<i64>>>,
    pub reg_max: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    pub resize: Option<ResizeAt>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStream {
    pub name: Spanned<String>,
    pub uri: Spanned<String>,
    pub enabled: Option<bool>,
    /// Files: play at the clip's frame rate like a camera (newest frame wins) instead of
    /// processing every frame as fast as the engine allows.
    pub realtime: Option<bool>,
    pub transport: Option<Transport>,
    pub latency_ms: Option<Spanned<i64>>,
    pub user: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    pub jsonl: Option<RawJsonl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJsonl {
    /// "-" for standard output, else a file path (appended to).
    pub path: Spanned<String>,
}
