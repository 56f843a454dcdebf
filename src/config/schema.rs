//! Every configuration key: type, range, default and meaning. The validator walks the files
//! against this table, `edgesight check` prints it with the resolved values, and a test makes
//! sure configs/edgesight.toml and the ops runbook mention every key.

/// The type of a key's value, with its allowed range.
#[derive(Debug)]
pub enum Kind {
    Str,
    /// A file-system path (relative paths are relative to the file that sets them).
    Path,
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    /// A string never printed (passwords): `check` shows `********`, messages never quote it.
    Secret,
    /// A source address: printed only through `capture::uri::redact` (credentials masked).
    Uri,
    Enum(&'static [&'static str]),
    /// An array of values; `len` fixes the length.
    List {
        item: &'static Kind,
        len: Option<usize>,
    },
    Table(&'static [Field]),
    /// `[[name]]` sections.
    TableArray(&'static [Field]),
    /// A table with free keys, each holding `Kind`.
    Map(&'static Kind),
}

#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// The compiled-in default as shown to users ("none" when the key is simply absent).
    pub default: &'static str,
    pub doc: &'static str,
}

const fn opt(name: &'static str, kind: Kind, default: &'static str, doc: &'static str) -> Field {
    Field { name, kind, required: false, default, doc }
}

const fn req(name: &'static str, kind: Kind, doc: &'static str) -> Field {
    Field { name, kind, required: true, default: "required", doc }
}

pub const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
pub const FAMILIES: &[&str] = &["nanodet", "ssd", "yolov5", "yolov8", "yolox"];
pub const ENGINES: &[&str] = &["onnx-cpu", "tensorrt"];
pub const PREPROCESSORS: &[&str] = &["cpu", "cuda"];
pub const MEMORY: &[&str] = &["system", "nvmm"];

const UNIT: Kind = Kind::Float { min: 0.0, max: 1.0 };
const F32: Kind = Kind::Float { min: f64::MIN, max: f64::MAX };
const STR: Kind = Kind::Str;

pub static DEVICE: &[Field] = &[
    opt("name", Kind::Str, "\"edgesight\"", "name of this device, for logs and status"),
    opt("log_level", Kind::Enum(LOG_LEVELS), "\"info\"", "log level; RUST_LOG overrides it"),
];

pub static MODEL: &[Field] = &[
    req("path", Kind::Path, "the model file (ONNX)"),
    req("family", Kind::Enum(FAMILIES), "decoder family (docs/specs/model_interface.md)"),
    opt(
        "engine",
        Kind::Enum(ENGINES),
        "\"onnx-cpu\"",
        "inference engine; tensorrt needs a tensorrt build and a GPU (docs/ops/jetson_tensorrt.md)",
    ),
    opt(
        "preprocess",
        Kind::Enum(PREPROCESSORS),
        "\"cpu\"",
        "where preprocessing runs; cuda needs a cuda-* build and a GPU (docs/ops/jetson_cuda.md)",
    ),
    opt("labels", Kind::Path, "none (class<N>)", "class names, one per line, line n = class id n"),
    opt("score_threshold", UNIT, "0.35", "report detections scoring strictly above this"),
    opt("nms_iou", UNIT, "0.6", "per-class NMS: drop boxes overlapping a better one by more than this IoU"),
    opt("class_thresholds", Kind::Map(&UNIT), "none", "score thresholds per label, overriding score_threshold"),
    opt("classes", Kind::List { item: &STR, len: None }, "all", "report only these labels"),
    opt("max_detections", Kind::Int { min: 1, max: 10_000 }, "100", "at most this many detections per frame"),
    opt("threads", Kind::Int { min: 0, max: 256 }, "0", "ONNX Runtime intra-op threads (0 = one per core)"),
    opt(
        "spin_wait",
        Kind::Enum(&["auto", "on", "off"]),
        "\"auto\"",
        "ONNX Runtime workers busy-wait for work between operators; auto = off when the engine's threads take every core",
    ),
    opt(
        "batch",
        Kind::Int { min: 1, max: 64 },
        "1",
        "frames of different streams run through the engine together (needs a model with a dynamic batch)",
    ),
    opt(
        "batch_timeout_ms",
        Kind::Int { min: 0, max: 1000 },
        "10",
        "with batch > 1, how long the first frame waits for frames of other streams",
    ),
    opt("onnxruntime_lib", Kind::Path, "searched", "the ONNX Runtime library (libonnxruntime.so.1.x, >= 1.20)"),
    opt(
        "precision",
        Kind::Enum(&["fp32", "fp16", "int8", "as-exported"]),
        "\"fp16\"",
        "tensorrt: precision of engines built from an .onnx model (TensorRT 11: as-exported only)",
    ),
    opt(
        "dla_core",
        Kind::Int { min: 0, max: 1 },
        "none (GPU)",
        "tensorrt: run on this DLA core (Orin, Xavier), GPU fallback on",
    ),
    opt(
        "engine_cache",
        Kind::Path,
        "<cache folder>/engines",
        "tensorrt: where engines built from .onnx models are kept (/var/cache/edgesight/engines under systemd)",
    ),
    opt(
        "on_engine_mismatch",
        Kind::Enum(&["rebuild", "refuse"]),
        "\"rebuild\"",
        "tensorrt: a cached engine made for another TensorRT, GPU, precision or batch, or that does not load",
    ),
    opt("tensorrt_lib", Kind::Path, "searched (libnvinfer.so.<major>)", "tensorrt: the TensorRT runtime library"),
    opt(
        "calibration_images",
        Kind::Path,
        "none",
        "tensorrt, precision int8, a model without Q/DQ nodes: a folder of .jpg/.png frames to calibrate with",
    ),
    opt(
        "input_size",
        Kind::List { item: &Kind::Int { min: 1, max: 8192 }, len: Some(2) },
        "from the model",
        "[width, height] for models with dynamic spatial dimensions",
    ),
    opt("layout", Kind::Enum(&["nchw", "nhwc"]), "from the model", "input tensor layout"),
    opt("channel_order", Kind::Enum(&["rgb", "bgr"]), "family default", "channel order of the input tensor"),
    opt("mean", Kind::List { item: &F32, len: Some(3) }, "family default", "per-channel mean, tensor channel order"),
    opt("std", Kind::List { item: &F32, len: Some(3) }, "family default", "per-channel divisor, tensor channel order"),
    opt(
        "letterbox",
        Kind::Enum(&["top-left", "center", "stretch"]),
        "family default",
        "how the frame is fitted into the input",
    ),
    opt(
        "pad_pixel",
        Kind::Float { min: 0.0, max: 255.0 },
        "family default",
        "padding as a pixel value, normalised like the image",
    ),
    opt("pad_value", F32, "family default", "padding written into the tensor as is"),
    opt(
        "strides",
        Kind::List { item: &Kind::Int { min: 1, max: 1024 }, len: None },
        "[8, 16, 32]",
        "feature-map strides (nanodet, yolox)",
    ),
    opt("reg_max", Kind::Int { min: 1, max: 64 }, "from the outputs", "NanoDet distribution bins minus one"),
];

pub static PIPELINE: &[Field] = &[
    opt(
        "fps_limit",
        Kind::Float { min: 0.01, max: 1000.0 },
        "none",
        "at most this many frames per second through the engine, all streams together",
    ),
    opt(
        "fps_target",
        Kind::Float { min: 0.01, max: 1000.0 },
        "none",
        "frames per second the pipeline must reach, all streams together; `edgesight bench` judges against it",
    ),
    opt(
        "resize",
        Kind::Enum(&["preprocess", "capture"]),
        "\"preprocess\"",
        "where frames are resized (capture = in GStreamer, before colour conversion)",
    ),
    opt(
        "max_frame_pixels",
        Kind::Int { min: 1, max: 1 << 28 },
        "33177600 (7680x4320)",
        "largest frame (width x height) a source may deliver; larger caps are refused before any conversion",
    ),
    opt(
        "shutdown_timeout_s",
        Kind::Float { min: 0.1, max: 300.0 },
        "5",
        "on SIGTERM/SIGINT, the time allowed to drain frames and flush outputs",
    ),
    opt(
        "decoder_threads",
        Kind::Int { min: 0, max: 64 },
        "0 (the cores the engine leaves free, at least 1)",
        "threads of each stream's software video decoder (libav max-threads)",
    ),
];

pub static STREAM: &[Field] = &[
    req("name", Kind::Str, "unique stream name, in every event"),
    req("uri", Kind::Uri, "rtsp://, file://, file:rel, test://, v4l2:///dev/videoN, csi://N"),
    opt("enabled", Kind::Bool, "true", "run this stream"),
    opt(
        "fps_limit",
        Kind::Float { min: 0.01, max: 1000.0 },
        "none",
        "at most this many frames per second from this stream",
    ),
    opt(
        "fps_target",
        Kind::Float { min: 0.01, max: 1000.0 },
        "none",
        "frames per second this stream must reach; `edgesight bench` judges against it",
    ),
    opt(
        "memory",
        Kind::Enum(MEMORY),
        "\"system\"",
        "where decoded frames live: nvmm keeps them in Jetson GPU memory, zero-copy (needs model.preprocess = \"cuda\" \
         and a cuda-* build; docs/ops/jetson_cuda.md)",
    ),
    opt(
        "transport",
        Kind::Enum(&["auto", "tcp", "udp"]),
        "\"auto\"",
        "RTSP transport: auto asks for TCP, then UDP when the server refuses TCP",
    ),
    opt("latency_ms", Kind::Int { min: 0, max: 60_000 }, "200", "RTSP jitter buffer"),
    opt("user", Kind::Str, "none", "RTSP user (never logged)"),
    opt("password", Kind::Secret, "none", "RTSP password (never printed)"),
    opt("realtime", Kind::Bool, "false", "files: play at the clip's rate like a camera instead of every frame"),
    opt("loop", Kind::Bool, "false", "files: start again at the end (soak tests, demos)"),
    opt(
        "stall_timeout_s",
        Kind::Float { min: 0.5, max: 3600.0 },
        "10",
        "no frame for this long counts as a stall: the source is reopened",
    ),
    opt(
        "backoff_initial_s",
        Kind::Float { min: 0.1, max: 600.0 },
        "1",
        "first delay before reopening a failed source; doubles each attempt",
    ),
    opt("backoff_max_s", Kind::Float { min: 0.1, max: 3600.0 }, "30", "longest delay between reopen attempts"),
    opt(
        "max_retries",
        Kind::Int { min: 0, max: 1_000_000 },
        "0",
        "reopen attempts in a row before giving up (0 = forever)",
    ),
    opt("zone", Kind::TableArray(ZONE), "none", "[[stream.zone]]: an area whose tracks are followed in and out"),
    opt("line", Kind::TableArray(LINE), "none", "[[stream.line]]: a line whose crossings are counted"),
];

const POINT: Kind = Kind::List { item: &UNIT, len: Some(2) };

pub static ZONE: &[Field] = &[
    req("name", Kind::Str, "unique among the stream's zones, in every zone event"),
    req(
        "polygon",
        Kind::List { item: &POINT, len: None },
        "corners [x, y] in order around the zone, as fractions of the frame (0-1, from the top-left corner)",
    ),
    opt("classes", Kind::List { item: &STR, len: None }, "all", "labels this zone watches"),
    opt(
        "inertia",
        Kind::Int { min: 1, max: 100 },
        "3",
        "observations in a row inside (outside) before an object counts as entered (left)",
    ),
    opt(
        "loiter_s",
        Kind::Float { min: 0.1, max: 86_400.0 },
        "none (off)",
        "a zone_loiter event when a stay lasts this long",
    ),
];

pub static LINE: &[Field] = &[
    req("name", Kind::Str, "unique among the stream's lines, in every line_cross event"),
    req("from", POINT, "one end [x, y], fractions of the frame (0-1)"),
    req("to", POINT, "the other end; side a is on the left walking from `from` to `to`, as seen on the screen"),
    opt("classes", Kind::List { item: &STR, len: None }, "all", "labels this line counts"),
];

pub static JSONL: &[Field] = &[
    req("path", Kind::Str, "event file (appended to), or \"-\" for standard output"),
    opt(
        "flush_interval_s",
        Kind::Float { min: 0.0, max: 60.0 },
        "1",
        "events wait in memory this long and are written together (0: each at once); a kill -9 loses at most \
         this much",
    ),
    opt(
        "max_file_mb",
        Kind::Float { min: 0.01, max: 1_000_000.0 },
        "none (one file, never rotated)",
        "rotate the event file when it would pass this size: it becomes path.1, the older ones path.2, …",
    ),
    opt(
        "max_total_mb",
        Kind::Float { min: 0.01, max: 10_000_000.0 },
        "10 x max_file_mb",
        "the event file and its rotated files together never pass this: the oldest rotated files are removed",
    ),
];

pub static MQTT_TLS: &[Field] = &[
    req("ca_file", Kind::Path, "the CA certificate(s) that signed the broker's certificate (PEM)"),
    opt("cert_file", Kind::Path, "none", "client certificate (PEM) for brokers that require one; needs key_file"),
    opt("key_file", Kind::Path, "none", "the client certificate's private key (PEM); needs cert_file"),
];

pub static MQTT: &[Field] = &[
    req("host", Kind::Str, "the broker's host name or IP address"),
    opt("port", Kind::Int { min: 1, max: 65_535 }, "1883, or 8883 with [output.mqtt.tls]", "the broker's port"),
    opt(
        "device",
        Kind::Str,
        "the host name",
        "this device in the topics (<prefix>/<device>/...) and the client ID (edgesight-<device>)",
    ),
    opt("topic_prefix", Kind::Str, "\"edgesight\"", "first topic level(s), e.g. \"site1/edgesight\""),
    opt(
        "qos",
        Kind::Int { min: 0, max: 1 },
        "1",
        "1: at least once (acknowledged, resent when unsure: duplicates possible); 0: at most once",
    ),
    opt("username", Kind::Str, "none", "user name for the broker (with password_file)"),
    opt(
        "password_file",
        Kind::Path,
        "none",
        "file whose first line is the broker password (never logged nor printed); needs username",
    ),
    opt("tls", Kind::Table(MQTT_TLS), "off (plain TCP)", "TLS to the broker"),
    opt(
        "keep_alive_s",
        Kind::Float { min: 5.0, max: 3600.0 },
        "30",
        "MQTT keep-alive: a dead link is noticed within 1.5 x this",
    ),
    opt(
        "connect_timeout_s",
        Kind::Float { min: 1.0, max: 300.0 },
        "10",
        "a connection attempt (TCP, TLS and CONNACK) that takes longer fails and is retried",
    ),
    opt(
        "stats_interval_s",
        Kind::Float { min: 0.0, max: 86_400.0 },
        "60",
        "publish the /status document to <prefix>/<device>/stats this often (0 = never)",
    ),
    opt(
        "spool_dir",
        Kind::Path,
        "<state folder>/spool (/var/lib/edgesight/spool under systemd)",
        "on-disk spool: every event waits here until the broker acknowledges it",
    ),
    opt(
        "spool_max_mb",
        Kind::Float { min: 0.1, max: 1_000_000.0 },
        "100",
        "the spool never passes this size: when full, the oldest unsent events are dropped and counted",
    ),
    opt(
        "reconnect_min_s",
        Kind::Float { min: 0.1, max: 3600.0 },
        "1",
        "first delay before reconnecting to the broker; doubles each failed attempt",
    ),
    opt("reconnect_max_s", Kind::Float { min: 0.1, max: 3600.0 }, "60", "longest delay between reconnection attempts"),
];

pub static OUTPUT: &[Field] = &[
    opt("jsonl", Kind::Table(JSONL), "standard output (when no output is configured)", "events as JSON lines"),
    opt("mqtt", Kind::Table(MQTT), "off", "events to an MQTT broker (docs/ops/ops_runbook.md, MQTT output)"),
];

pub static METRICS: &[Field] = &[opt(
    "listen",
    Kind::Str,
    "off",
    "address:port of the HTTP listener for /metrics, /healthz and /status (e.g. \"127.0.0.1:9464\")",
)];

pub static HEALTH: &[Field] = &[opt(
    "max_frame_age_s",
    Kind::Float { min: 1.0, max: 86_400.0 },
    "30",
    "/healthz fails when no frame was processed, or the inference loop did not move, for this long",
)];

pub static VISUALISE: &[Field] = &[
    opt(
        "rtsp_listen",
        Kind::Str,
        "off",
        "address:port of edgesight's own RTSP server for the annotated streams, one mount per stream: rtsp://<address>/<stream> (e.g. \"0.0.0.0:8554\")",
    ),
    opt(
        "file",
        Kind::Path,
        "off",
        "write the annotated video (H.264) to this .mp4 or .mkv file; with several streams, one file each: <name>-<stream>.<ext>",
    ),
    opt("streams", Kind::List { item: &STR, len: None }, "all enabled streams", "names of the streams to visualise"),
    opt(
        "fps",
        Kind::Float { min: 0.1, max: 120.0 },
        "10",
        "at most this many annotated frames per second per stream (processed frames above it are not drawn)",
    ),
    opt("bitrate_kbps", Kind::Int { min: 100, max: 100_000 }, "2000", "H.264 bit rate of the annotated video"),
    opt(
        "width",
        Kind::Int { min: 64, max: 7680 },
        "the source width",
        "scale the annotated video down to this width (even; height keeps the aspect ratio)",
    ),
];

pub const TRACKERS: &[&str] = &["bytetrack", "ocsort", "none"];

pub static TRACKING: &[Field] = &[
    opt(
        "tracker",
        Kind::Enum(TRACKERS),
        "\"bytetrack\"",
        "per-stream tracker giving detections a track_id: bytetrack, ocsort (OC-SORT), or none = off (no track_id, no track_end events)",
    ),
    opt(
        "low_score",
        UNIT,
        "0.1",
        "detections above this but not above the score threshold help keep tracks (ByteTrack's second association, OC-SORT's BYTE stage; 1 = off); never reported",
    ),
    opt(
        "new_track_score",
        UNIT,
        "model.score_threshold + 0.1",
        "a detection at or above this, matching no track, starts a new one",
    ),
    opt(
        "match_iou",
        UNIT,
        "0.2 (ocsort: 0.3)",
        "first association: least IoU x score between a track's predicted box and a detection (ByteTrack's match_thresh 0.8 = 1 - 0.2); ocsort: least plain IoU in its first association and OCR (OC-SORT's iou_threshold)",
    ),
    opt(
        "lost_s",
        Kind::Float { min: 0.0, max: 3600.0 },
        "1.0",
        "seconds of stream time an unmatched track is kept before it ends (ByteTrack: 30 frames at 30 FPS)",
    ),
    opt(
        "min_hits",
        Kind::Int { min: 1, max: 100 },
        "2",
        "frames in a row a new track must be matched before it is confirmed and gets an ID",
    ),
    opt(
        "counts_interval_s",
        Kind::Float { min: 0.0, max: 86_400.0 },
        "60",
        "streams with zones or lines: a counts event this often, in stream time (0: never)",
    ),
];

pub static SNAPSHOTS: &[Field] = &[
    opt("enabled", Kind::Bool, "true (when [snapshots] is present)", "false turns snapshots off and keeps the section"),
    opt(
        "dir",
        Kind::Path,
        "<state folder>/snapshots (/var/lib/edgesight/snapshots under systemd)",
        "where snapshots go: <dir>/<stream>/<stream>-<frame>-<pts_ms>.jpg",
    ),
    opt("classes", Kind::List { item: &STR, len: None }, "all", "labels whose detections trigger a snapshot"),
    opt("min_score", UNIT, "0 (every reported detection)", "a triggering detection scores at least this"),
    opt(
        "min_interval_s",
        Kind::Float { min: 0.0, max: 86_400.0 },
        "10",
        "per stream, snapshots are at least this far apart in stream time (0: every triggering frame)",
    ),
    opt(
        "max_total_mb",
        Kind::Float { min: 0.01, max: 10_000_000.0 },
        "500",
        "the snapshot folder never passes this size: the oldest snapshots are removed first",
    ),
    opt("quality", Kind::Int { min: 1, max: 100 }, "85", "JPEG quality"),
];

pub static ROOT: &[Field] = &[
    opt("device", Kind::Table(DEVICE), "", "this device"),
    req("model", Kind::Table(MODEL), "the detector"),
    opt("pipeline", Kind::Table(PIPELINE), "", "frame flow"),
    opt("stream", Kind::TableArray(STREAM), "none", "one per video source"),
    opt("output", Kind::Table(OUTPUT), "", "where events go"),
    opt("metrics", Kind::Table(METRICS), "", "Prometheus metrics and status over HTTP"),
    opt("health", Kind::Table(HEALTH), "", "what /healthz calls healthy"),
    opt("tracking", Kind::Table(TRACKING), "", "object tracking per stream (docs/ops/ops_runbook.md, Tracking)"),
    opt(
        "snapshots",
        Kind::Table(SNAPSHOTS),
        "off",
        "JPEG pictures of frames with detections (docs/ops/ops_runbook.md, Snapshots)",
    ),
    opt(
        "visualise",
        Kind::Table(VISUALISE),
        "off",
        "the streams with boxes drawn, over RTSP or to a file, for installation and demos; off in production (docs/ops/ops_runbook.md, Visualisation)",
    ),
];

/// Every key as a dotted path (`model.score_threshold`, `stream.uri`), for documentation checks.
pub fn all_keys() -> Vec<String> {
    fn walk(prefix: &str, fields: &[Field], out: &mut Vec<String>) {
        for f in fields {
            let path = if prefix.is_empty() { f.name.to_string() } else { format!("{prefix}.{}", f.name) };
            match &f.kind {
                Kind::Table(sub) | Kind::TableArray(sub) => walk(&path, sub, out),
                _ => out.push(path),
            }
        }
    }
    let mut out = Vec::new();
    walk("", ROOT, &mut out);
    out
}

#[cfg(test)]
mod tests {
    /// tests/docs.rs checks every key of `all_keys` against the docs: an empty or flat list would
    /// pass that check without checking anything.
    #[test]
    fn all_keys_lists_the_nested_keys_by_dotted_path() {
        let keys = super::all_keys();
        for k in ["model.path", "model.reg_max", "stream.uri", "output.jsonl.path", "health.max_frame_age_s"] {
            assert!(keys.iter().any(|x| x == k), "{k} not in {keys:?}");
        }
        assert!(
            !keys.iter().any(|k| k == "model" || k == "stream" || k == "output.jsonl"),
            "tables are not keys: {keys:?}"
        );
    }
}
