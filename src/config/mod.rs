//! Configuration: the TOML file parsed once into a validated, typed `Config`.
//!
//! `schema` is the file as written (unknown keys rejected), `load` reads and validates it; the
//! rest of the program only ever sees the types below, with defaults applied and paths resolved
//! against the config file's directory.

pub mod load;
pub mod schema;

use std::path::PathBuf;

pub use load::{load_file, parse_str};
pub use schema::{EngineKind, ResizeAt};

use crate::capture::{SourceSpec, Transport};
use crate::detect::Family;
use crate::detect::family::{DecodeOptions, InputOverrides};

/// Defaults of optional keys (documented in configs/edgesight.toml).
pub mod defaults {
    pub const SCORE_THRESHOLD: f32 = 0.35;
    pub const NMS_IOU: f32 = 0.6;
    pub const MAX_DETECTIONS: usize = 100;
    pub const THREADS: usize = 0;
    pub const RTSP_LATENCY_MS: u32 = 200;
    pub const LOG_LEVEL: &str = "info";
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this came from (None for configs built from command-line flags).
    pub origin: Option<PathBuf>,
    pub device: DeviceConfig,
    pub model: ModelConfig,
    pub pipeline: PipelineConfig,
    pub streams: Vec<StreamConfig>,
    pub output: OutputConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    pub name: String,
    pub log_level: log::LevelFilter,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub path: PathBuf,
    pub family: Family,
    pub engine: EngineKind,
    pub labels: Option<PathBuf>,
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// Per-class thresholds by label name.
    pub class_thresholds: Vec<(String, f32)>,
    /// Allow-list by label name; empty means every class.
    pub classes: Vec<String>,
    pub max_detections: usize,
    pub threads: usize,
    pub onnxruntime_lib: Option<PathBuf>,
    pub input: InputOverrides,
    pub decode: DecodeOptions,
}

impl ModelConfig {
    /// A model config with every optional key at its default.
    pub fn new(path: PathBuf, family: Family) -> ModelConfig {
        ModelConfig {
            path,
            family,
            engine: EngineKind::OnnxCpu,
            labels: None,
            score_threshold: defaults::SCORE_THRESHOLD,
            nms_iou: defaults::NMS_IOU,
            class_thresholds: Vec::new(),
            classes: Vec::new(),
            max_detections: defaults::MAX_DETECTIONS,
            threads: defaults::THREADS,
            onnxruntime_lib: None,
            input: InputOverrides::default(),
            decode: DecodeOptions::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    pub resize: ResizeAt,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            resize: ResizeAt::Preprocess,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    pub name: String,
    pub source: SourceSpec,
    pub enabled: bool,
    pub realtime: bool,
    pub transport: Transport,
    pub latency_ms: u32,
}

/// Where JSONL events go.
#[derive(Debug, Clone, PartialEq)]
pub enum EventTarget {
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputConfig {
    pub jsonl: EventTarget,
}
