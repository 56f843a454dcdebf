//! Configuration: `/etc/edgesight/edgesight.toml` plus `conf.d/*.toml` drop-ins, parsed once into
//! a validated, typed `Config`.
//!
//! `tree` reads the files into values that remember their file and position and merges the
//! drop-ins; `schema` lists every key; `validate` checks the tree against it (stage a, schema);
//! `build` turns it into `Config` with the checks that need several keys; `report` prints the
//! resolved configuration. Stage b (model, outputs, sources) builds them as `run` does, in
//! `runtime::assemble::check`.

pub mod build;
pub mod report;
pub mod schema;
pub mod threads;
pub mod tree;
pub mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::capture::{SourceSpec, Transport};
use crate::detect::Family;
use crate::detect::family::{DecodeOptions, InputOverrides};
use crate::error::{Error, Result};
use crate::preprocess::FrameMemory;
use tree::{Node, Origin, SourceFile};

/// Defaults of optional keys (documented in configs/edgesight.toml and `schema`).
pub mod defaults {
    pub const SCORE_THRESHOLD: f32 = 0.35;
    pub const NMS_IOU: f32 = 0.6;
    pub const MAX_DETECTIONS: usize = 100;
    pub const THREADS: usize = 0;
    /// 0: the rule in `threads::decoder_threads`.
    pub const DECODER_THREADS: u32 = 0;
    pub const BATCH: usize = 1;
    pub const BATCH_TIMEOUT_MS: u64 = 10;
    pub const RTSP_LATENCY_MS: u32 = 200;
    pub const SHUTDOWN_TIMEOUT_S: f64 = 5.0;
    pub const STALL_TIMEOUT_S: f64 = 10.0;
    pub const BACKOFF_INITIAL_S: f64 = 1.0;
    pub const BACKOFF_MAX_S: f64 = 30.0;
    pub const FLUSH_INTERVAL_S: f64 = 1.0;
    /// `max_total_mb` when only `max_file_mb` is set: this many files' worth.
    pub const ROTATED_FILES: u64 = 10;
    pub const ZONE_INERTIA: u32 = 3;
    pub const COUNTS_INTERVAL_S: f64 = 60.0;
    pub const MQTT_PORT: u16 = 1883;
    pub const MQTT_TLS_PORT: u16 = 8883;
    pub const MQTT_PREFIX: &str = "edgesight";
    pub const MQTT_QOS: u8 = 1;
    pub const MQTT_KEEP_ALIVE_S: f64 = 30.0;
    pub const MQTT_CONNECT_TIMEOUT_S: f64 = 10.0;
    pub const MQTT_STATS_INTERVAL_S: f64 = 60.0;
    pub const MQTT_SPOOL_MAX_MB: f64 = 100.0;
    pub const MQTT_RECONNECT_MIN_S: f64 = 1.0;
    pub const MQTT_RECONNECT_MAX_S: f64 = 60.0;
    pub const SNAPSHOT_MIN_INTERVAL_S: f64 = 10.0;
    pub const SNAPSHOT_MAX_TOTAL_MB: f64 = 500.0;
    pub const SNAPSHOT_QUALITY: u8 = 85;
}

/// Where the service's configuration lives on a device.
pub const DEFAULT_PATH: &str = "/etc/edgesight/edgesight.toml";

/// One validation problem: where, which key, what was found and what is expected.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub origin: Option<Origin>,
    pub key: String,
    pub message: String,
}

impl Issue {
    pub fn at(origin: &Origin, key: &str, message: impl Into<String>) -> Issue {
        Issue { origin: Some(origin.clone()), key: key.to_string(), message: message.into() }
    }

    pub fn maybe_at(origin: Option<&Origin>, key: &str, message: impl Into<String>) -> Issue {
        Issue { origin: origin.cloned(), key: key.to_string(), message: message.into() }
    }
}

#[derive(Debug, Default)]
pub struct Issues {
    pub list: Vec<Issue>,
}

impl Issues {
    pub fn push(&mut self, i: Issue) {
        self.list.push(i);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// The files a configuration was read from, in the order they apply.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    pub files: Vec<SourceFile>,
}

impl Layers {
    /// `file:line:col` of an origin.
    pub fn position(&self, o: &Origin) -> String {
        match self.files.get(o.file) {
            Some(f) => {
                let (l, c) = tree::line_col(&f.text, o.span.start);
                format!("{}:{l}:{c}", f.path.display())
            }
            None => "<config>".into(),
        }
    }

    pub fn dir_of(&self, o: &Origin) -> PathBuf {
        self.files.get(o.file).and_then(|f| f.path.parent()).map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    /// All issues as lines `file:line:col: key: message`, in file order.
    pub fn render(&self, issues: &Issues) -> String {
        let mut list = issues.list.clone();
        list.sort_by_key(|i| i.origin.as_ref().map_or((usize::MAX, 0), |o| (o.file, o.span.start)));
        list.dedup();
        list.iter()
            .map(|i| {
                let pos = match &i.origin {
                    Some(o) => self.position(o),
                    None => self.files.first().map_or("<config>".into(), |f| f.path.display().to_string()),
                };
                format!("{pos}: {}: {}", i.key, i.message)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The main file (None for configs built from command-line flags).
    pub origin: Option<PathBuf>,
    pub device: DeviceConfig,
    pub model: ModelConfig,
    pub pipeline: PipelineConfig,
    pub streams: Vec<StreamConfig>,
    pub output: OutputConfig,
    pub metrics: MetricsConfig,
    pub tracking: crate::track::TrackerSettings,
    /// `tracking.counts_interval_s`: how often streams with zones or lines report their counts.
    pub counts_interval: Option<Duration>,
    /// `[snapshots]`: JPEG pictures of frames with detections; None = off.
    pub snapshots: Option<SnapshotConfig>,
    /// `[visualise]`: absent = off.
    pub visualise: Option<VisualiseConfig>,
}

/// `[snapshots]`: a JPEG of a frame with its boxes drawn when it has a detection of `classes`,
/// at most one per `min_interval` of stream time per stream, in `dir` capped at `max_total_bytes`.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotConfig {
    pub dir: PathBuf,
    /// Labels that trigger a snapshot (resolved against the model's labels at start); empty = all.
    pub classes: Vec<String>,
    /// Least score of a triggering detection (reported detections only).
    pub min_score: f32,
    pub min_interval: Duration,
    pub max_total_bytes: u64,
    /// JPEG quality, 1..=100.
    pub quality: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VisualiseConfig {
    /// The RTSP server's address: mounts `/<stream>`.
    pub rtsp_listen: Option<std::net::SocketAddr>,
    /// An .mp4 or .mkv file (one per stream, named after it, when several are visualised).
    pub file: Option<PathBuf>,
    /// The visualised streams; empty = every enabled stream.
    pub streams: Vec<String>,
    pub fps: f64,
    pub bitrate_kbps: u32,
    pub width: Option<u32>,
}

impl VisualiseConfig {
    /// Whether stream `name` is visualised.
    pub fn shows(&self, name: &str) -> bool {
        self.streams.is_empty() || self.streams.iter().any(|s| s == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// HTTP listener for /metrics, /healthz, /status; None = off.
    pub listen: Option<String>,
    pub max_frame_age: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { listen: None, max_frame_age: Duration::from_secs(30) }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    pub name: String,
    pub log_level: log::LevelFilter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    OnnxCpu,
    Tensorrt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreprocessKind {
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeAt {
    /// Convert at full size and resize only in the preprocessor (bit-faithful to OpenCV).
    Preprocess,
    /// Downscale in the GStreamer pipeline towards the model input, before colour conversion.
    Capture,
}

/// `[model]` keys of the TensorRT engine (ignored by onnx-cpu).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRtConfig {
    pub precision: crate::engine::engine_cache::Precision,
    pub dla_core: Option<u32>,
    /// None: `fsutil::cache_dir()/engines`.
    pub engine_cache: Option<PathBuf>,
    pub on_mismatch: crate::engine::engine_cache::OnMismatch,
    pub library: Option<PathBuf>,
    /// A folder of images for INT8 calibration.
    pub calibration_images: Option<PathBuf>,
}

impl Default for TensorRtConfig {
    fn default() -> Self {
        TensorRtConfig {
            precision: crate::engine::engine_cache::Precision::Fp16,
            dla_core: None,
            engine_cache: None,
            on_mismatch: crate::engine::engine_cache::OnMismatch::Rebuild,
            library: None,
            calibration_images: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub path: PathBuf,
    pub family: Family,
    pub engine: EngineKind,
    pub preprocess: PreprocessKind,
    pub labels: Option<PathBuf>,
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// Per-class thresholds by label name.
    pub class_thresholds: Vec<(String, f32)>,
    /// Allow-list by label name; empty means every class.
    pub classes: Vec<String>,
    pub max_detections: usize,
    pub threads: usize,
    /// Whether ONNX Runtime's workers busy-wait for work (`threads::spin` resolves `Auto`).
    pub spin_wait: threads::SpinWait,
    /// Frames run through the engine together (1 = no batching).
    pub batch: usize,
    /// How long the first frame of a batch waits for more.
    pub batch_timeout: Duration,
    pub onnxruntime_lib: Option<PathBuf>,
    pub tensorrt: TensorRtConfig,
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
            preprocess: PreprocessKind::Cpu,
            labels: None,
            score_threshold: defaults::SCORE_THRESHOLD,
            nms_iou: defaults::NMS_IOU,
            class_thresholds: Vec::new(),
            classes: Vec::new(),
            max_detections: defaults::MAX_DETECTIONS,
            threads: defaults::THREADS,
            spin_wait: threads::SpinWait::Auto,
            batch: defaults::BATCH,
            batch_timeout: Duration::from_millis(defaults::BATCH_TIMEOUT_MS),
            onnxruntime_lib: None,
            tensorrt: TensorRtConfig::default(),
            input: InputOverrides::default(),
            decode: DecodeOptions::default(),
        }
    }

    /// True when only post-processing keys (and the batch fill time) differ: applied without
    /// reloading the model.
    pub fn same_network(&self, other: &ModelConfig) -> bool {
        self.path == other.path
            && self.family == other.family
            && self.engine == other.engine
            && self.preprocess == other.preprocess
            && self.labels == other.labels
            && self.threads == other.threads
            && self.spin_wait == other.spin_wait
            && self.batch == other.batch
            && self.onnxruntime_lib == other.onnxruntime_lib
            && self.tensorrt == other.tensorrt
            && self.input == other.input
            && self.decode == other.decode
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    pub fps_limit: Option<f64>,
    /// What `bench` judges the pipeline against (frames per second, all streams); no effect on `run`.
    pub fps_target: Option<f64>,
    pub resize: ResizeAt,
    /// Largest frame (width × height) a source may deliver.
    pub max_frame_pixels: u64,
    pub shutdown_timeout: Duration,
    /// Threads of each stream's software video decoder; 0 = the rule (`threads::decoder_threads`).
    pub decoder_threads: u32,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            fps_limit: None,
            fps_target: None,
            resize: ResizeAt::Preprocess,
            max_frame_pixels: crate::capture::reader::DEFAULT_MAX_PIXELS,
            shutdown_timeout: Duration::from_secs_f64(defaults::SHUTDOWN_TIMEOUT_S),
            decoder_threads: defaults::DECODER_THREADS,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    pub name: String,
    pub source: SourceSpec,
    pub enabled: bool,
    pub fps_limit: Option<f64>,
    /// What `bench` judges this stream against; no effect on `run`.
    pub fps_target: Option<f64>,
    pub realtime: bool,
    pub transport: Transport,
    pub latency_ms: u32,
    /// No frame for this long (source still open) counts as a stall and reopens the source.
    pub stall_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Reopen attempts in a row before giving up; 0 = forever.
    pub max_retries: u64,
    /// Files: start again at the end.
    pub looped: bool,
    /// Where decoded frames live: `System`, or `Nvmm` (Jetson GPU memory, read in place by the
    /// CUDA preprocessor). Never `Cuda`: no source produces it from the configuration.
    pub memory: FrameMemory,
    /// `[[stream.zone]]` and `[[stream.line]]`: applied to the stream's tracks; changing them
    /// keeps the stream running (`same_capture`).
    pub regions: crate::zones::RegionsConfig,
}

impl StreamConfig {
    /// Whether `other` captures the same way: everything but the zones and lines, which a reload
    /// applies without reopening the source, and `fps_target`, which only `bench` reads.
    pub fn same_capture(&self, other: &StreamConfig) -> bool {
        let strip = |s: &StreamConfig| StreamConfig { regions: Default::default(), fps_target: None, ..s.clone() };
        strip(self) == strip(other)
    }
}

/// Where JSONL events go.
#[derive(Debug, Clone, PartialEq)]
pub enum EventTarget {
    Stdout,
    File(PathBuf),
}

/// `[output.mqtt]` (src/sink/mqtt.rs). Holds the password file's path, never the password.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    /// The topic level after the prefix; also the client ID (`edgesight-<device>`).
    pub device: String,
    pub topic_prefix: String,
    /// 0 or 1.
    pub qos: u8,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub tls: Option<MqttTls>,
    pub keep_alive: Duration,
    pub connect_timeout: Duration,
    /// Zero: no stats messages.
    pub stats_interval: Duration,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

/// `[output.mqtt.tls]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttTls {
    pub ca_file: PathBuf,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputConfig {
    /// None when only other outputs are configured (`[output.mqtt]` without `[output.jsonl]`).
    pub jsonl: Option<EventTarget>,
    pub mqtt: Option<MqttConfig>,
    /// `max_file_mb`: rotate the event file when it would pass this size.
    pub max_file_bytes: Option<u64>,
    /// `max_total_mb`: the event file and its rotated files together (10 × max_file_mb if unset).
    pub max_total_bytes: Option<u64>,
    /// `flush_interval_s`: how long events wait in memory before they are written.
    pub flush_interval: Duration,
}

impl OutputConfig {
    /// Events to standard output, written at once (`detect` and built-in defaults).
    pub fn stdout() -> OutputConfig {
        OutputConfig {
            jsonl: Some(EventTarget::Stdout),
            mqtt: None,
            max_file_bytes: None,
            max_total_bytes: None,
            flush_interval: Duration::from_secs_f64(defaults::FLUSH_INTERVAL_S),
        }
    }
}

/// A loaded configuration with the files and values it came from (for `check`'s report).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub layers: Layers,
    pub tree: Node,
}

impl Loaded {
    /// Gives a configuration error found after loading (e.g. a class name the model's labels do
    /// not have) the file:line:col of the key it names (`model.classes: "persn" …`).
    pub fn locate(&self, e: Error) -> Error {
        let Error::Config(msg) = &e else { return e };
        let Some((key, _)) = msg.split_once(": ") else {
            return e;
        };
        let path = key_path(key);
        let Some(node) = validate::origin_node(&self.tree, &path) else {
            return e;
        };
        // Point at the element or entry the message quotes, when there is one.
        let quoted = msg.split('"').nth(1);
        let origin = match (&node.value, quoted) {
            (tree::Value::Array(items), Some(q)) => {
                items.iter().find(|n| n.value == tree::Value::Str(q.to_string())).map_or(&node.origin, |n| &n.origin)
            }
            (tree::Value::Table(entries), Some(q)) => {
                entries.iter().find(|en| en.key == q).map_or(&node.origin, |en| &en.key_origin)
            }
            _ => &node.origin,
        };
        Error::Config(format!("{}: {msg}", self.layers.position(origin)))
    }
}

/// The parts of a dotted key (`stream "a.b".zone "z".classes`): dots inside quotes (names may
/// hold them) do not split.
fn key_path(key: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in key.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => {
                parts.push(&key[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&key[start..]);
    parts
}

/// Reads `main` and its drop-ins, validates all of them and returns the typed configuration,
/// or every problem found as a config error (one line each).
pub fn load(main: &Path) -> Result<Loaded> {
    let text = crate::fsutil::read_text(main, &crate::fsutil::CONFIG)?;
    let mut files = vec![SourceFile { path: main.to_path_buf(), text }];
    for p in tree::drop_ins(main)? {
        let text = crate::fsutil::read_text(&p, &crate::fsutil::DROP_IN)?;
        files.push(SourceFile { path: p, text });
    }
    from_layers(Layers { files }, Some(main))
}

/// Validates already-read files (the first is the main one).
pub fn from_layers(layers: Layers, origin: Option<&Path>) -> Result<Loaded> {
    let mut issues = Issues::default();
    let mut root: Option<Node> = None;
    for (i, f) in layers.files.iter().enumerate() {
        let (node, syntax) = tree::parse(&f.text, i);
        for e in syntax {
            let origin = e.span.map(|span| Origin { file: i, span });
            issues.push(Issue::maybe_at(origin.as_ref(), "syntax", e.message));
        }
        match &mut root {
            None => root = Some(node),
            Some(r) => tree::merge(r, node),
        }
    }
    let root = root.unwrap_or(Node { value: tree::Value::Table(Vec::new()), origin: Origin { file: 0, span: 0..0 } });
    validate::check(&root, schema::ROOT, &mut issues);
    let config = build::build(&root, &layers, origin, &mut issues);
    match config {
        Some(config) if issues.is_empty() => Ok(Loaded { config, layers, tree: root }),
        _ => Err(Error::config(layers.render(&issues))),
    }
}

/// Parses a single file's text (tests, and `detect` with an explicit file).
pub fn parse_str(text: &str, origin: Option<&Path>) -> Result<Config> {
    let path = origin.map_or_else(|| PathBuf::from("<config>"), Path::to_path_buf);
    let layers = Layers { files: vec![SourceFile { path, text: text.to_string() }] };
    from_layers(layers, origin).map(|l| l.config)
}

/// Reads a config file and its drop-ins and returns the typed configuration.
pub fn load_file(path: &Path) -> Result<Config> {
    load(path).map(|l| l.config)
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_paths_split_at_dots_outside_quotes() {
        assert_eq!(super::key_path("model.classes"), ["model", "classes"]);
        assert_eq!(super::key_path("stream \"a.b\".zone \"z\".classes"), ["stream \"a.b\"", "zone \"z\"", "classes"]);
        assert_eq!(super::key_path("device"), ["device"]);
    }

    #[test]
    fn visualise_shows_every_stream_or_the_listed_ones() {
        let all = super::VisualiseConfig {
            rtsp_listen: None,
            file: None,
            streams: vec![],
            fps: 10.0,
            bitrate_kbps: 2000,
            width: None,
        };
        assert!(all.shows("gate") && all.shows("yard"), "none listed: every stream");
        let some = super::VisualiseConfig { streams: vec!["gate".into(), "dock".into()], ..all };
        assert!(some.shows("gate") && some.shows("dock"));
        assert!(!some.shows("yard"));
    }

    /// `check` shows where events go when no JSON-lines output is configured.
    #[test]
    fn check_names_the_missing_event_file_by_what_replaces_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let show = |out: &str| {
            let path = dir.path().join("e.toml");
            std::fs::write(&path, format!("[model]\npath = \"m.onnx\"\nfamily = \"nanodet\"\n{out}")).expect("write");
            super::report::resolved(&super::load(&path).expect("valid"))
        };
        let line = |text: &str| text.lines().find(|l| l.starts_with("# path")).expect("path line").to_string();
        assert!(line(&show("")).ends_with("# default: standard output"), "{}", show(""));
        let mqtt = show("[output.mqtt]\nhost = \"b\"\n");
        assert!(line(&mqtt).ends_with("# default: none (only [output.mqtt])"), "{mqtt}");
        assert!(mqtt.contains("[output.mqtt]"), "{mqtt}");
    }
}
