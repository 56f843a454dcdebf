//! From the validated tree to the typed `Config`, with the checks that involve more than one
//! value (unique stream names, source URIs, keys that exclude each other). Wrong types were
//! reported by `validate`; here they are skipped so every other problem is still found.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::threads::SpinWait;
use super::tree::{Node, Value};
use super::{
    Config, DeviceConfig, EngineKind, EventTarget, Issue, Issues, Layers, MetricsConfig, ModelConfig, MqttConfig,
    MqttTls, OutputConfig, PipelineConfig, PreprocessKind, ResizeAt, StreamConfig, VisualiseConfig, defaults,
};
use crate::capture::{SourceSpec, Transport};
use crate::detect::Family;
use crate::detect::family::{DecodeOptions, InputOverrides};
use crate::preprocess::{ChannelOrder, FrameMemory, Layout, Letterbox, Pad};
use crate::track::{TrackerKind, TrackerSettings};
use crate::zones::geometry::{MIN_LINE_LENGTH, Point, polygon_problem};
use crate::zones::{LineSpec, RegionsConfig, ZoneSpec};

fn str_of(n: Option<&Node>) -> Option<&str> {
    match n.map(|n| &n.value) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

fn int_of(n: Option<&Node>) -> Option<i64> {
    match n.map(|n| &n.value) {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    }
}

fn num_of(n: Option<&Node>) -> Option<f64> {
    match n.map(|n| &n.value) {
        Some(Value::Int(i)) => Some(*i as f64),
        Some(Value::Float(f)) if f.is_finite() => Some(*f),
        _ => None,
    }
}

fn bool_of(n: Option<&Node>) -> Option<bool> {
    match n.map(|n| &n.value) {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn list_of(n: Option<&Node>) -> Option<&[Node]> {
    match n.map(|n| &n.value) {
        Some(Value::Array(a)) => Some(a),
        _ => None,
    }
}

fn nums3(n: Option<&Node>) -> Option<[f32; 3]> {
    let l = list_of(n)?;
    match l {
        [a, b, c] => Some([num_of(Some(a))? as f32, num_of(Some(b))? as f32, num_of(Some(c))? as f32]),
        _ => None,
    }
}

/// A path value resolved against the directory of the file that set it.
fn path_of(n: Option<&Node>, layers: &Layers) -> Option<PathBuf> {
    let n = n?;
    let s = str_of(Some(n))?;
    let p = Path::new(s);
    Some(if p.is_absolute() { p.to_path_buf() } else { layers.dir_of(&n.origin).join(p) })
}

/// A duration in seconds. Out-of-range values were already reported by the schema stage, which
/// runs first but does not stop this one (so that one `check` lists every error): they fall back to
/// the default here instead of panicking in `Duration`.
fn secs(n: Option<&Node>, default: f64) -> Duration {
    num_of(n).and_then(|s| Duration::try_from_secs_f64(s).ok()).unwrap_or_else(|| Duration::from_secs_f64(default))
}

fn family(s: &str) -> Option<Family> {
    Some(match s {
        "nanodet" => Family::Nanodet,
        "ssd" => Family::Ssd,
        "yolov5" => Family::Yolov5,
        "yolov8" => Family::Yolov8,
        "yolox" => Family::Yolox,
        _ => return None,
    })
}

fn model(m: &Node, layers: &Layers, is: &mut Issues) -> Option<ModelConfig> {
    let path_node = m.get("path");
    if let (Some(n), Some(s)) = (path_node, str_of(path_node))
        && s.trim().is_empty()
    {
        is.push(Issue::at(&n.origin, "model.path", "is empty; expected the path of an .onnx file"));
    }
    let mut mc = ModelConfig::new(path_of(path_node, layers)?, family(str_of(m.get("family"))?)?);
    mc.engine = match str_of(m.get("engine")) {
        Some("tensorrt") => EngineKind::Tensorrt,
        _ => EngineKind::OnnxCpu,
    };
    mc.preprocess = match str_of(m.get("preprocess")) {
        Some("cuda") => PreprocessKind::Cuda,
        _ => PreprocessKind::Cpu,
    };
    mc.labels = path_of(m.get("labels"), layers);
    mc.score_threshold = num_of(m.get("score_threshold")).map_or(defaults::SCORE_THRESHOLD, |v| v as f32);
    mc.nms_iou = num_of(m.get("nms_iou")).map_or(defaults::NMS_IOU, |v| v as f32);
    if let Some(t) = m.get("class_thresholds") {
        for e in t.entries() {
            if let Some(v) = num_of(Some(&e.node)) {
                mc.class_thresholds.push((e.key.clone(), v as f32));
            }
        }
    }
    if let Some(list) = list_of(m.get("classes")) {
        let mut seen = HashSet::new();
        for c in list {
            let Some(name) = str_of(Some(c)) else {
                continue;
            };
            if name.trim().is_empty() {
                is.push(Issue::at(&c.origin, "model.classes", "contains an empty name"));
            } else if !seen.insert(name.to_string()) {
                is.push(Issue::at(&c.origin, "model.classes", format!("lists \"{name}\" twice")));
            } else {
                mc.classes.push(name.to_string());
            }
        }
    }
    mc.max_detections = int_of(m.get("max_detections")).map_or(defaults::MAX_DETECTIONS, |v| v as usize);
    mc.threads = int_of(m.get("threads")).map_or(defaults::THREADS, |v| v as usize);
    mc.spin_wait = str_of(m.get("spin_wait")).and_then(SpinWait::from_name).unwrap_or_default();
    mc.batch = int_of(m.get("batch")).filter(|&b| b >= 1).map_or(defaults::BATCH, |v| v as usize);
    mc.batch_timeout = Duration::from_millis(
        int_of(m.get("batch_timeout_ms")).map_or(defaults::BATCH_TIMEOUT_MS, |v| v.max(0) as u64),
    );
    mc.onnxruntime_lib = path_of(m.get("onnxruntime_lib"), layers);
    if let Some(p) = str_of(m.get("precision")).and_then(crate::engine::engine_cache::Precision::from_name) {
        mc.tensorrt.precision = p;
    }
    mc.tensorrt.dla_core = int_of(m.get("dla_core")).map(|d| d.max(0) as u32);
    mc.tensorrt.engine_cache = path_of(m.get("engine_cache"), layers);
    if str_of(m.get("on_engine_mismatch")) == Some("refuse") {
        mc.tensorrt.on_mismatch = crate::engine::engine_cache::OnMismatch::Refuse;
    }
    mc.tensorrt.library = path_of(m.get("tensorrt_lib"), layers);
    mc.tensorrt.calibration_images = path_of(m.get("calibration_images"), layers);
    let mut input = InputOverrides::default();
    if let Some([w, h]) = list_of(m.get("input_size"))
        && let (Some(w), Some(h)) = (int_of(Some(w)), int_of(Some(h)))
    {
        input.size = Some((w as u32, h as u32));
    }
    input.layout = match str_of(m.get("layout")) {
        Some("nchw") => Some(Layout::Nchw),
        Some("nhwc") => Some(Layout::Nhwc),
        _ => None,
    };
    input.channel_order = match str_of(m.get("channel_order")) {
        Some("rgb") => Some(ChannelOrder::Rgb),
        Some("bgr") => Some(ChannelOrder::Bgr),
        _ => None,
    };
    input.letterbox = match str_of(m.get("letterbox")) {
        Some("top-left") => Some(Letterbox::TopLeft),
        Some("center") => Some(Letterbox::Center),
        Some("stretch") => Some(Letterbox::Stretch),
        _ => None,
    };
    input.mean = nums3(m.get("mean"));
    input.std = nums3(m.get("std"));
    if let (Some(s), Some(n)) = (input.std, m.get("std"))
        && s.contains(&0.0)
    {
        is.push(Issue::at(&n.origin, "model.std", "contains 0; expected non-zero divisors"));
    }
    match (m.get("pad_pixel"), m.get("pad_value")) {
        (Some(_), Some(v)) => {
            is.push(Issue::at(&v.origin, "model.pad_value", "set together with model.pad_pixel; keep one of them"))
        }
        (Some(p), None) => input.pad = num_of(Some(p)).map(|v| Pad::Pixel(v as f32)),
        (None, Some(v)) => input.pad = num_of(Some(v)).map(|v| Pad::Tensor(v as f32)),
        (None, None) => {}
    }
    mc.input = input;
    mc.decode = DecodeOptions {
        strides: list_of(m.get("strides")).and_then(|l| {
            let v: Vec<u32> = l.iter().filter_map(|n| int_of(Some(n)).map(|i| i as u32)).collect();
            (!v.is_empty()).then_some(v)
        }),
        reg_max: int_of(m.get("reg_max")).map(|v| v as u32),
    };
    if let Some(n) = m.get("strides")
        && list_of(Some(n)).is_some_and(|l| l.is_empty())
    {
        is.push(Issue::at(&n.origin, "model.strides", "is empty; expected e.g. [8, 16, 32]"));
    }
    Some(mc)
}

/// Longest stream or device name, in characters.
pub const NAME_MAX_CHARS: usize = 64;

/// What a stream or device name may hold: it appears in every event, in logs, metrics labels,
/// thread names and (later) MQTT topics and file names, so letters and digits of any script,
/// spaces, `_`, `-` and `.`; nothing that is a separator or wildcard somewhere (`/ + # " \\`),
/// no control or formatting character. Why not, or None.
pub fn name_problem(name: &str) -> Option<String> {
    const RULE: &str = "names may hold letters, digits, spaces, '_', '-' and '.'";
    if name.is_empty() {
        return Some("is empty; expected a short unique name (it appears in every event)".into());
    }
    if name.chars().any(crate::text::unsafe_char) {
        // Already reported, with its position in the value, by the schema stage.
        return None;
    }
    if let Some(c) = name.chars().find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.'))) {
        return Some(format!("contains {}; {RULE}", crate::text::describe_char(c)));
    }
    let n = name.chars().count();
    if n > NAME_MAX_CHARS {
        return Some(format!("has {n} characters; at most {NAME_MAX_CHARS} ({RULE})"));
    }
    None
}

/// `[output.jsonl]`: where events go and how the file is written. Rotation applies to a file;
/// the total cap needs a file size to rotate at and holds at least one file.
fn output(j: Option<&Node>, jsonl: Option<EventTarget>, is: &mut Issues) -> OutputConfig {
    let get = |k: &str| j.and_then(|j| j.get(k));
    let mb = |n: Option<&Node>| num_of(n).map(|v| (v * 1_000_000.0).round() as u64);
    let (max_file, max_total) = (mb(get("max_file_mb")), mb(get("max_total_mb")));
    if jsonl == Some(EventTarget::Stdout)
        && let Some(n) = get("max_file_mb").or(get("max_total_mb"))
    {
        is.push(Issue::at(&n.origin, "output.jsonl", "max_file_mb and max_total_mb apply to an event file, not \"-\""));
    }
    if let (None, Some(n)) = (max_file, get("max_total_mb")) {
        is.push(Issue::at(&n.origin, "output.jsonl.max_total_mb", "needs max_file_mb (the size to rotate at)"));
    }
    if let (Some(f), Some(t), Some(n)) = (max_file, max_total, get("max_total_mb"))
        && t < f
    {
        is.push(Issue::at(&n.origin, "output.jsonl.max_total_mb", "is below max_file_mb; it must hold one file"));
    }
    OutputConfig {
        jsonl,
        mqtt: None,
        max_file_bytes: max_file,
        max_total_bytes: max_file.map(|f| max_total.unwrap_or(f * defaults::ROTATED_FILES)),
        flush_interval: secs(get("flush_interval_s"), defaults::FLUSH_INTERVAL_S),
    }
}

/// This machine's host name (the default MQTT device name), "edgesight" when unknown.
fn host_name() -> String {
    device_default(std::fs::read_to_string("/proc/sys/kernel/hostname").ok().as_deref())
}

/// The device name a host name gives: itself when it is a usable name, else "edgesight".
fn device_default(host: Option<&str>) -> String {
    host.map(str::trim)
        .filter(|h| !h.is_empty() && name_problem(h).is_none())
        .map_or_else(|| "edgesight".to_string(), str::to_string)
}

/// `[output.mqtt]`; ranges were checked by the schema stage, files are read by `check`'s stage b.
fn mqtt(m: &Node, layers: &Layers, is: &mut Issues) -> Option<MqttConfig> {
    use super::defaults as d;
    let get = |k: &str| m.get(k);
    let host = str_of(get("host"))?.trim().to_string();
    if host.is_empty()
        && let Some(n) = get("host")
    {
        is.push(Issue::at(&n.origin, "output.mqtt.host", "is empty; expected the broker's host name or IP address"));
    }
    let device = match (get("device"), str_of(get("device"))) {
        (Some(n), Some(dev)) => {
            if let Some(p) = name_problem(dev.trim()) {
                is.push(Issue::at(&n.origin, "output.mqtt.device", p));
            }
            dev.trim().to_string()
        }
        _ => host_name(),
    };
    let prefix = str_of(get("topic_prefix")).unwrap_or(d::MQTT_PREFIX).to_string();
    if let Some(n) = get("topic_prefix")
        // An empty level covers "", a leading or trailing '/' and "a//b".
        && (prefix.split('/').any(str::is_empty) || prefix.contains(['+', '#', '\0']))
    {
        is.push(Issue::at(
            &n.origin,
            "output.mqtt.topic_prefix",
            "must be one or more non-empty topic levels separated by '/', without '+', '#' or a leading or trailing '/'",
        ));
    }
    let tls = m.get("tls").and_then(|t| {
        let (cert, key) = (path_of(t.get("cert_file"), layers), path_of(t.get("key_file"), layers));
        if cert.is_some() != key.is_some()
            && let Some(n) = t.get("cert_file").or(t.get("key_file"))
        {
            is.push(Issue::at(
                &n.origin,
                "output.mqtt.tls",
                "cert_file and key_file go together (a client certificate and its key)",
            ));
        }
        Some(MqttTls { ca_file: path_of(t.get("ca_file"), layers)?, cert_file: cert, key_file: key })
    });
    let username = str_of(get("username")).map(str::to_string);
    let password_file = path_of(get("password_file"), layers);
    if let (None, Some(n)) = (&username, get("password_file")) {
        is.push(Issue::at(&n.origin, "output.mqtt.password_file", "needs output.mqtt.username"));
    }
    let (rmin, rmax) =
        (secs(get("reconnect_min_s"), d::MQTT_RECONNECT_MIN_S), secs(get("reconnect_max_s"), d::MQTT_RECONNECT_MAX_S));
    if rmax < rmin
        && let Some(n) = get("reconnect_max_s")
    {
        is.push(Issue::at(&n.origin, "output.mqtt.reconnect_max_s", "is below reconnect_min_s"));
    }
    let default_port = if tls.is_some() { d::MQTT_TLS_PORT } else { d::MQTT_PORT };
    Some(MqttConfig {
        host,
        // 1..=65535 by the schema stage.
        port: int_of(get("port")).and_then(|p| u16::try_from(p).ok()).unwrap_or(default_port),
        device,
        topic_prefix: prefix,
        qos: int_of(get("qos")).map_or(d::MQTT_QOS, |q| u8::from(q >= 1)),
        username,
        password_file,
        tls,
        keep_alive: secs(get("keep_alive_s"), d::MQTT_KEEP_ALIVE_S),
        connect_timeout: secs(get("connect_timeout_s"), d::MQTT_CONNECT_TIMEOUT_S),
        stats_interval: secs(get("stats_interval_s"), d::MQTT_STATS_INTERVAL_S),
        spool_dir: path_of(get("spool_dir"), layers).unwrap_or_else(|| crate::fsutil::state_dir().join("spool")),
        // At least 0.1 by the schema stage.
        spool_max_bytes: num_of(get("spool_max_mb"))
            .map_or((d::MQTT_SPOOL_MAX_MB * 1e6) as u64, |v| (v * 1e6).round() as u64),
        reconnect_min: rmin,
        reconnect_max: rmax.max(rmin),
    })
}

fn stream(s: &Node, layers: &Layers, is: &mut Issues, names: &mut HashSet<String>) -> Option<StreamConfig> {
    let name_node = s.get("name");
    let name = str_of(name_node).map(|n| n.trim().to_string());
    // Debug formatting: a name that breaks the rules is shown escaped, never raw.
    let label = name.as_ref().map_or_else(|| "stream".to_string(), |n| format!("stream {n:?}"));
    if let (Some(n), Some(name)) = (name_node, &name) {
        if let Some(problem) = name_problem(name) {
            is.push(Issue::at(&n.origin, "stream.name", problem));
        } else if !names.insert(name.clone()) {
            is.push(Issue::at(
                &n.origin,
                &format!("{label}.name"),
                "is used by another [[stream]]; names must be unique",
            ));
        }
    }
    let uri_node = s.get("uri")?;
    let uri = str_of(Some(uri_node))?;
    let source = match SourceSpec::parse(uri, &layers.dir_of(&uri_node.origin)) {
        Ok(mut src) => {
            let (user, password) = (str_of(s.get("user")), str_of(s.get("password")));
            if let SourceSpec::Rtsp { user: u, password: p, .. } = &mut src {
                if user.is_some() {
                    *u = user.map(str::to_string);
                }
                if password.is_some() {
                    *p = password.map(str::to_string);
                }
            } else if let Some(n) = s.get("user").or(s.get("password")) {
                is.push(Issue::at(
                    &n.origin,
                    &format!("{label}.user"),
                    "user and password apply to rtsp:// sources only",
                ));
            }
            for key in ["realtime", "loop"] {
                if let Some(n) = s.get(key)
                    && !matches!(src, SourceSpec::File { .. })
                {
                    is.push(Issue::at(&n.origin, &format!("{label}.{key}"), "applies to file sources only"));
                }
            }
            if let (Some(i), Some(m)) = (num_of(s.get("backoff_initial_s")), s.get("backoff_max_s"))
                && num_of(Some(m)).is_some_and(|max| max < i)
            {
                is.push(Issue::at(&m.origin, &format!("{label}.backoff_max_s"), "is below backoff_initial_s"));
            }
            if let Some(n) = s.get("transport").or(s.get("latency_ms"))
                && !matches!(src, SourceSpec::Rtsp { .. })
            {
                is.push(Issue::at(&n.origin, &label, "transport and latency_ms apply to rtsp:// sources only"));
            }
            Some(src)
        }
        Err(e) => {
            is.push(Issue::at(&uri_node.origin, &format!("{label}.uri"), e));
            None
        }
    }?;
    let regions = regions(s, &label, is);
    Some(StreamConfig {
        regions,
        name: name?,
        source,
        enabled: bool_of(s.get("enabled")).unwrap_or(true),
        fps_limit: num_of(s.get("fps_limit")),
        fps_target: num_of(s.get("fps_target")),
        realtime: bool_of(s.get("realtime")).unwrap_or(false),
        transport: match str_of(s.get("transport")) {
            Some("udp") => Transport::Udp,
            Some("tcp") => Transport::Tcp,
            _ => Transport::Auto,
        },
        latency_ms: int_of(s.get("latency_ms")).map_or(defaults::RTSP_LATENCY_MS, |v| v as u32),
        stall_timeout: secs(s.get("stall_timeout_s"), defaults::STALL_TIMEOUT_S),
        backoff_initial: secs(s.get("backoff_initial_s"), defaults::BACKOFF_INITIAL_S),
        backoff_max: secs(s.get("backoff_max_s"), defaults::BACKOFF_MAX_S),
        max_retries: int_of(s.get("max_retries")).map_or(0, |v| v as u64),
        looped: bool_of(s.get("loop")).unwrap_or(false),
        memory: match str_of(s.get("memory")) {
            Some("nvmm") => FrameMemory::Nvmm,
            _ => FrameMemory::System,
        },
    })
}

fn point(n: &Node) -> Option<Point> {
    match list_of(Some(n))? {
        [x, y] => Some([num_of(Some(x))?, num_of(Some(y))?]),
        _ => None,
    }
}

fn names_of(n: Option<&Node>) -> Vec<String> {
    list_of(n).unwrap_or(&[]).iter().filter_map(|c| str_of(Some(c)).map(str::to_string)).collect()
}

/// `[[stream.zone]]` and `[[stream.line]]` of one stream: unique names, usable polygons and
/// lines. Types and ranges were checked by the schema stage; what fails here is skipped.
fn regions(s: &Node, label: &str, is: &mut Issues) -> RegionsConfig {
    let mut out = RegionsConfig::default();
    let mut seen = HashSet::new();
    for (kind, list) in [("zone", s.get("zone")), ("line", s.get("line"))] {
        seen.clear();
        for el in list_of(list).unwrap_or(&[]) {
            let Some(name_node) = el.get("name") else { continue };
            let Some(name) = str_of(Some(name_node)).map(|n| n.trim().to_string()) else { continue };
            let key = format!("{label}.{kind} {name:?}");
            if let Some(problem) = name_problem(&name) {
                is.push(Issue::at(&name_node.origin, &format!("{key}.name"), problem));
                continue;
            }
            if !seen.insert(name.clone()) {
                is.push(Issue::at(
                    &name_node.origin,
                    &format!("{key}.name"),
                    format!("is used by another [[stream.{kind}]] of this stream; names must be unique"),
                ));
                continue;
            }
            let classes = names_of(el.get("classes"));
            if kind == "zone" {
                let Some(pn) = el.get("polygon") else { continue };
                let Some(polygon) = list_of(Some(pn)).unwrap_or(&[]).iter().map(point).collect::<Option<Vec<_>>>()
                else {
                    continue;
                };
                if let Some(p) = polygon_problem(&polygon) {
                    is.push(Issue::at(&pn.origin, &format!("{key}.polygon"), p.describe(polygon.len())));
                    continue;
                }
                out.zones.push(ZoneSpec {
                    name,
                    polygon,
                    classes,
                    inertia: int_of(el.get("inertia")).map_or(defaults::ZONE_INERTIA, |v| v.clamp(1, 100) as u32),
                    loiter_s: num_of(el.get("loiter_s")),
                });
            } else {
                let (Some(from_node), Some(to_node)) = (el.get("from"), el.get("to")) else { continue };
                let (Some(from), Some(to)) = (point(from_node), point(to_node)) else { continue };
                if (to[0] - from[0]).hypot(to[1] - from[1]) < MIN_LINE_LENGTH {
                    is.push(Issue::at(
                        &to_node.origin,
                        &format!("{key}.to"),
                        format!(
                            "is {from:?}, the same point as `from` (a line needs two ends at least {MIN_LINE_LENGTH} \
                             of the frame apart); give the line's other end"
                        ),
                    ));
                    continue;
                }
                // Anchors (box bottom-centres) stay inside the frame: a line along its border
                // can never be crossed.
                if (0..2).any(|k| from[k] == to[k] && (from[k] == 0.0 || from[k] == 1.0)) {
                    is.push(Issue::at(
                        &to_node.origin,
                        &format!("{key}.to"),
                        "puts the line on the frame's border, where no object can cross it; move it inside the \
                         frame (e.g. 0.02 instead of 0)",
                    ));
                    continue;
                }
                out.lines.push(LineSpec { name, from, to, classes });
            }
        }
    }
    out
}

/// NVMM surfaces live in GPU memory that only the CUDA kernel reads: a stream that keeps its
/// frames there needs `model.preprocess = "cuda"`. Reported at the stream's `memory` key, with
/// where the preprocessor was chosen.
fn memory_needs_cuda(root: &Node, model: Option<&ModelConfig>, layers: &Layers, is: &mut Issues) {
    if model.is_none_or(|m| m.preprocess == PreprocessKind::Cuda) {
        return;
    }
    let chosen = match root.get("model").and_then(|m| m.get("preprocess")) {
        Some(n) => format!("model.preprocess = \"cpu\" at {}", layers.position(&n.origin)),
        None => "model.preprocess is \"cpu\" by default".to_string(),
    };
    for s in list_of(root.get("stream")).unwrap_or(&[]) {
        if let Some(n) = s.get("memory")
            && str_of(Some(n)) == Some("nvmm")
        {
            let label =
                str_of(s.get("name")).map_or_else(|| "stream".to_string(), |n| format!("stream {:?}", n.trim()));
            is.push(Issue::at(
                &n.origin,
                &format!("{label}.memory"),
                format!(
                    "\"nvmm\" needs model.preprocess = \"cuda\" (only the CUDA kernel reads NVMM surfaces; {chosen}): \
                     set model.preprocess = \"cuda\", or memory = \"system\""
                ),
            ));
        }
    }
}

/// Builds the typed configuration; problems go to `is`. None when required parts are unusable.
pub fn build(root: &Node, layers: &Layers, origin: Option<&Path>, is: &mut Issues) -> Option<Config> {
    let dev = root.get("device");
    if let Some(n) = dev.and_then(|d| d.get("name"))
        && let Some(name) = str_of(Some(n))
        && let Some(problem) = name_problem(name)
    {
        is.push(Issue::at(&n.origin, "device.name", problem));
    }
    let device = DeviceConfig {
        name: str_of(dev.and_then(|d| d.get("name"))).unwrap_or("edgesight").to_string(),
        log_level: str_of(dev.and_then(|d| d.get("log_level")))
            .and_then(|l| l.parse().ok())
            .unwrap_or(log::LevelFilter::Info),
    };
    let model = root.get("model").and_then(|m| model(m, layers, is));
    memory_needs_cuda(root, model.as_ref(), layers, is);
    let p = root.get("pipeline");
    let pipeline = PipelineConfig {
        fps_limit: num_of(p.and_then(|p| p.get("fps_limit"))),
        fps_target: num_of(p.and_then(|p| p.get("fps_target"))),
        resize: match str_of(p.and_then(|p| p.get("resize"))) {
            Some("capture") => ResizeAt::Capture,
            _ => ResizeAt::Preprocess,
        },
        max_frame_pixels: int_of(p.and_then(|p| p.get("max_frame_pixels")))
            .filter(|&v| v > 0)
            .map_or(crate::capture::reader::DEFAULT_MAX_PIXELS, |v| v as u64),
        shutdown_timeout: secs(p.and_then(|p| p.get("shutdown_timeout_s")), defaults::SHUTDOWN_TIMEOUT_S),
        decoder_threads: int_of(p.and_then(|p| p.get("decoder_threads")))
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(defaults::DECODER_THREADS),
    };
    let mut names = HashSet::new();
    let mut streams = Vec::new();
    for s in list_of(root.get("stream")).unwrap_or(&[]) {
        if let Some(sc) = stream(s, layers, is, &mut names) {
            streams.push(sc);
        }
    }
    let path = root.get("output").and_then(|o| o.get("jsonl")).and_then(|j| j.get("path"));
    let out_node = root.get("output");
    let mqtt_node = out_node.and_then(|o| o.get("mqtt"));
    let jsonl_node = out_node.and_then(|o| o.get("jsonl"));
    let jsonl = match (path, str_of(path)) {
        // Only another output configured: no JSON lines.
        (None, _) if jsonl_node.is_none() && mqtt_node.is_some() => None,
        (_, None) | (_, Some("-")) => Some(EventTarget::Stdout),
        (Some(n), Some(s)) if s.trim().is_empty() => {
            is.push(Issue::at(
                &n.origin,
                "output.jsonl.path",
                "is empty; expected a file path or \"-\" for standard output",
            ));
            Some(EventTarget::Stdout)
        }
        (n, Some(_)) => Some(EventTarget::File(path_of(n, layers)?)),
    };
    let mut output = output(jsonl_node, jsonl, is);
    output.mqtt = mqtt_node.and_then(|m| mqtt(m, layers, is));
    let listen = root.get("metrics").and_then(|m| m.get("listen"));
    if let (Some(n), Some(a)) = (listen, str_of(listen))
        && a.parse::<std::net::SocketAddr>().is_err()
    {
        is.push(Issue::at(
            &n.origin,
            "metrics.listen",
            format!("\"{a}\" is not an address:port such as \"127.0.0.1:9464\""),
        ));
    }
    let metrics = MetricsConfig {
        listen: str_of(listen).map(str::to_string),
        max_frame_age: secs(root.get("health").and_then(|h| h.get("max_frame_age_s")), 30.0),
    };
    let tracking_node = root.get("tracking");
    let tracking = tracking(tracking_node);
    zones_need_a_tracker(root, &tracking, layers, is);
    let counts_interval =
        num_of(tracking_node.and_then(|t| t.get("counts_interval_s"))).unwrap_or(defaults::COUNTS_INTERVAL_S);
    let counts_interval = (counts_interval > 0.0).then(|| Duration::from_secs_f64(counts_interval));
    let visualise = root.get("visualise").map(|v| visualise(v, &streams, layers, is));
    Some(Config {
        origin: origin.map(Path::to_path_buf),
        device,
        model: model?,
        pipeline,
        streams,
        output,
        metrics,
        tracking,
        counts_interval,
        snapshots: root.get("snapshots").and_then(|n| snapshots(n, layers, is)),
        visualise,
    })
}

/// `[snapshots]`: on when the section is present, unless `enabled = false`.
fn snapshots(n: &Node, layers: &Layers, is: &mut Issues) -> Option<super::SnapshotConfig> {
    use super::defaults as d;
    if bool_of(n.get("enabled")) == Some(false) {
        return None;
    }
    if let Some(p) = n.get("dir")
        && str_of(Some(p)).is_some_and(|s| s.trim().is_empty())
    {
        is.push(Issue::at(&p.origin, "snapshots.dir", "is empty; expected a directory path"));
    }
    let mut classes = Vec::new();
    let mut seen = HashSet::new();
    for c in list_of(n.get("classes")).unwrap_or(&[]) {
        let Some(name) = str_of(Some(c)) else { continue };
        if name.trim().is_empty() {
            is.push(Issue::at(&c.origin, "snapshots.classes", "contains an empty name"));
        } else if !seen.insert(name.to_string()) {
            is.push(Issue::at(&c.origin, "snapshots.classes", format!("lists \"{name}\" twice")));
        } else {
            classes.push(name.to_string());
        }
    }
    if let Some(c) = n.get("classes")
        && list_of(Some(c)).is_some_and(|l| l.is_empty())
    {
        is.push(Issue::at(
            &c.origin,
            "snapshots.classes",
            "is empty, so nothing would trigger a snapshot; list labels, or leave it out for all classes",
        ));
    }
    Some(super::SnapshotConfig {
        dir: path_of(n.get("dir"), layers).unwrap_or_else(|| crate::fsutil::state_dir().join("snapshots")),
        classes,
        min_score: num_of(n.get("min_score")).map_or(0.0, |v| v as f32),
        min_interval: secs(n.get("min_interval_s"), d::SNAPSHOT_MIN_INTERVAL_S),
        // At least 0.01 by the schema stage.
        max_total_bytes: num_of(n.get("max_total_mb"))
            .map_or((d::SNAPSHOT_MAX_TOTAL_MB * 1e6) as u64, |v| (v * 1e6).round() as u64),
        quality: int_of(n.get("quality")).map_or(d::SNAPSHOT_QUALITY, |q| q.clamp(1, 100) as u8),
    })
}

/// `[visualise]`: an RTSP address and/or a file, streams that exist; ranges were checked by the
/// schema stage.
fn visualise(v: &Node, streams: &[StreamConfig], layers: &Layers, is: &mut Issues) -> VisualiseConfig {
    let listen = v.get("rtsp_listen");
    let rtsp_listen = match (listen, str_of(listen)) {
        (Some(n), Some(a)) => match a.parse::<std::net::SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                is.push(Issue::at(
                    &n.origin,
                    "visualise.rtsp_listen",
                    format!("\"{a}\" is not an address:port such as \"127.0.0.1:8554\""),
                ));
                None
            }
        },
        _ => None,
    };
    let file_node = v.get("file");
    let file = path_of(file_node, layers);
    if let (Some(n), Some(f)) = (file_node, &file) {
        let ext = f.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), Some("mp4" | "mkv")) {
            is.push(Issue::at(
                &n.origin,
                "visualise.file",
                format!(
                    "\"{}\" must end in .mp4 or .mkv (the container is chosen by the extension)",
                    str_of(Some(n)).unwrap_or_default()
                ),
            ));
        }
    }
    if listen.is_none() && file_node.is_none() {
        is.push(Issue::at(
            &v.origin,
            "visualise",
            "shows nothing: set rtsp_listen (e.g. \"127.0.0.1:8554\") and/or file, or remove [visualise] (off)",
        ));
    }
    let mut names = Vec::new();
    for n in list_of(v.get("streams")).unwrap_or(&[]) {
        let Some(name) = str_of(Some(n)) else { continue };
        if !streams.iter().any(|s| s.name == name) {
            let known: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
            is.push(Issue::at(
                &n.origin,
                "visualise.streams",
                format!("no [[stream]] is named \"{name}\" (streams: {})", known.join(", ")),
            ));
        }
        names.push(name.to_string());
    }
    let width = int_of(v.get("width")).map(|w| w as u32);
    if let (Some(n), Some(w)) = (v.get("width"), width)
        && w % 2 != 0
    {
        is.push(Issue::at(&n.origin, "visualise.width", format!("{w} is odd; H.264 needs an even width")));
    }
    VisualiseConfig {
        rtsp_listen,
        file,
        streams: names,
        fps: num_of(v.get("fps")).unwrap_or(10.0),
        bitrate_kbps: int_of(v.get("bitrate_kbps")).map_or(2000, |b| b as u32),
        width,
    }
}

/// Zones and lines follow tracks: with `tracking.tracker = "none"` they would count nothing.
fn zones_need_a_tracker(root: &Node, tracking: &TrackerSettings, layers: &Layers, is: &mut Issues) {
    if tracking.kind != TrackerKind::None {
        return;
    }
    let off = match root.get("tracking").and_then(|t| t.get("tracker")) {
        Some(n) => format!("tracking.tracker = \"none\" at {}", layers.position(&n.origin)),
        None => "tracking.tracker is \"none\"".to_string(),
    };
    for s in list_of(root.get("stream")).unwrap_or(&[]) {
        let label = str_of(s.get("name")).map_or_else(|| "stream".to_string(), |n| format!("stream {:?}", n.trim()));
        for kind in ["zone", "line"] {
            if let Some(first) = list_of(s.get(kind)).and_then(|l| l.first()) {
                is.push(Issue::at(
                    &first.origin,
                    &format!("{label}.{kind}"),
                    format!(
                        "zones and lines follow tracks, and {off}: set tracking.tracker = \"bytetrack\", or remove \
                         the stream's [[stream.{kind}]] entries"
                    ),
                ));
            }
        }
    }
}

/// `[tracking]`; ranges were checked by the schema stage.
fn tracking(t: Option<&Node>) -> TrackerSettings {
    let get = |k: &str| t.and_then(|t| t.get(k));
    let kind = match str_of(get("tracker")) {
        Some("none") => TrackerKind::None,
        Some("ocsort") => TrackerKind::OcSort,
        _ => TrackerKind::ByteTrack,
    };
    let d = TrackerSettings::defaults(kind);
    TrackerSettings {
        kind,
        low_score: num_of(get("low_score")).map_or(d.low_score, |v| v as f32),
        new_track_score: num_of(get("new_track_score")).map(|v| v as f32),
        match_iou: num_of(get("match_iou")).map_or(d.match_iou, |v| v as f32),
        lost_s: num_of(get("lost_s")).filter(|v| *v >= 0.0).unwrap_or(d.lost_s),
        min_hits: int_of(get("min_hits")).filter(|v| *v >= 1).map_or(d.min_hits, |v| v.min(100) as u32),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::super::{EventTarget, parse_str};

    const MIN: &str = "[model]\npath = \"m.onnx\"\nfamily = \"nanodet\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse_str(MIN, Some(Path::new("/etc/edgesight/edgesight.toml"))).unwrap();
        assert_eq!(c.model.path, Path::new("/etc/edgesight/m.onnx"));
        assert_eq!(c.model.score_threshold, 0.35);
        assert_eq!(c.output.jsonl, Some(EventTarget::Stdout));
        assert_eq!(c.pipeline.shutdown_timeout.as_secs(), 5);
        assert!(c.streams.is_empty());
    }

    /// `pipeline.decoder_threads` (0..=64, 0 = the rule) and `model.spin_wait` (auto, on, off):
    /// defaults, every accepted value, and the errors at both ends of the range.
    #[test]
    fn decoder_threads_and_spin_wait() {
        use super::super::threads::SpinWait;
        let c = parse_str(MIN, Some(Path::new("a.toml"))).unwrap();
        assert_eq!(c.pipeline.decoder_threads, 0, "0: the rule");
        assert_eq!(c.model.spin_wait, SpinWait::Auto);
        for n in [0u32, 1, 2, 64] {
            let c = parse_str(&format!("{MIN}[pipeline]\ndecoder_threads = {n}\n"), None).unwrap();
            assert_eq!(c.pipeline.decoder_threads, n);
        }
        for v in ["-1", "65", "1.5", "\"2\""] {
            let text = format!("{MIN}[pipeline]\ndecoder_threads = {v}\n");
            let e = parse_str(&text, Some(Path::new("a.toml"))).unwrap_err().to_string();
            assert!(e.starts_with(&format!("a.toml:5:19: pipeline.decoder_threads: found {v}")), "{text}: {e}");
        }
        for (name, want) in [("auto", SpinWait::Auto), ("on", SpinWait::On), ("off", SpinWait::Off)] {
            let c = parse_str(&format!("{MIN}spin_wait = \"{name}\"\n"), None).unwrap();
            assert_eq!(c.model.spin_wait, want);
        }
        for v in ["\"yes\"", "true", "1"] {
            let text = format!("{MIN}spin_wait = {v}\n");
            let e = parse_str(&text, Some(Path::new("a.toml"))).unwrap_err().to_string();
            assert!(e.starts_with(&format!("a.toml:4:13: model.spin_wait: found {v}")), "{text}: {e}");
        }
        // A different spin_wait is a different engine: the model is loaded again on reload.
        let on = parse_str(&format!("{MIN}spin_wait = \"on\"\n"), None).unwrap();
        let off = parse_str(&format!("{MIN}spin_wait = \"off\"\n"), None).unwrap();
        assert!(!on.model.same_network(&off.model));
        assert!(on.model.same_network(&on.model.clone()));
    }

    /// Found by the config fuzzer in CI: `Duration::from_secs_f64(-1.0)` panicked in the build stage,
    /// which runs after a failed schema stage so that every error is listed.
    #[test]
    fn out_of_range_durations_are_errors_not_panics() {
        for (section, key) in [("pipeline", "shutdown_timeout_s"), ("health", "max_frame_age_s")] {
            for v in ["-1", "-0.5", "1e300", "-1e300"] {
                let text = format!("{MIN}[{section}]\n{key} = {v}\n");
                let e = parse_str(&text, Some(Path::new("a.toml"))).unwrap_err().to_string();
                assert!(e.contains(&format!("{section}.{key}: found")), "{text}: {e}");
            }
        }
        let stream = "[[stream]]\nname = \"a\"\nuri = \"test://\"\n";
        for key in ["stall_timeout_s", "backoff_initial_s", "backoff_max_s"] {
            let text = format!("{MIN}{stream}{key} = -3\n");
            let e = parse_str(&text, Some(Path::new("a.toml"))).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn fps_targets_are_read_per_stream_and_for_the_pipeline() {
        let c = parse_str(MIN, None).unwrap();
        assert_eq!(c.pipeline.fps_target, None);
        let text = format!(
            "{MIN}[pipeline]\nfps_target = 24.5\n[[stream]]\nname = \"a\"\nuri = \"test://\"\nfps_target = 12\n\
             [[stream]]\nname = \"b\"\nuri = \"test://\"\n"
        );
        let c = parse_str(&text, None).unwrap();
        assert_eq!(c.pipeline.fps_target, Some(24.5));
        assert_eq!((c.streams[0].fps_target, c.streams[1].fps_target), (Some(12.0), None));
        for v in ["0", "-1", "1001"] {
            let e = parse_str(&format!("{MIN}[pipeline]\nfps_target = {v}\n"), None).unwrap_err().to_string();
            assert!(e.contains("pipeline.fps_target: found"), "{v}: {e}");
        }
    }

    #[test]
    fn unknown_key_names_file_line_key_and_suggestion() {
        let text = format!("{MIN}scor_threshold = 0.5\n");
        let e = parse_str(&text, Some(Path::new("a.toml"))).unwrap_err().to_string();
        assert_eq!(e, "a.toml:4:1: model.scor_threshold: unknown key; did you mean `score_threshold`?");
    }

    #[test]
    fn every_error_is_reported_in_file_order() {
        let text = format!(
            "{MIN}score_threshold = 1.5\nnms_iou = \"high\"\n[[stream]]\nname = \"a\"\nuri = \"test://\"\n[[stream]]\nname = \"a\"\nuri = \"ftp://x\"\n"
        );
        let e = parse_str(&text, Some(Path::new("a.toml"))).unwrap_err().to_string();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 4, "{e}");
        assert_eq!(lines[0], "a.toml:4:19: model.score_threshold: found 1.5, expected a number in 0..=1");
        assert_eq!(lines[1], "a.toml:5:11: model.nms_iou: found \"high\", expected a number in 0..=1");
        assert_eq!(lines[2], "a.toml:10:8: stream \"a\".name: is used by another [[stream]]; names must be unique");
        assert!(lines[3].starts_with("a.toml:11:7: stream \"a\".uri: unsupported scheme \"ftp\""), "{e}");
    }

    #[test]
    fn nvmm_memory_needs_the_cuda_preprocessor_and_says_where_both_keys_are() {
        let stream = "[[stream]]\nname = \"cam\"\nuri = \"csi://0\"\nmemory = \"nvmm\"\n";
        let e = parse_str(&format!("{MIN}preprocess = \"cpu\"\n{stream}"), Some(Path::new("a.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.toml:8:10: stream \"cam\".memory: \"nvmm\" needs model.preprocess = \"cuda\""), "{e}");
        assert!(e.contains("model.preprocess = \"cpu\" at a.toml:4:14"), "{e}");
        let e = parse_str(&format!("{MIN}{stream}"), Some(Path::new("a.toml"))).unwrap_err().to_string();
        assert!(e.contains("model.preprocess is \"cpu\" by default"), "{e}");
        let c = parse_str(&format!("{MIN}preprocess = \"cuda\"\n{stream}"), Some(Path::new("a.toml"))).unwrap();
        assert_eq!(c.streams[0].memory, crate::preprocess::FrameMemory::Nvmm);
        let c = parse_str(&format!("{MIN}[[stream]]\nname = \"a\"\nuri = \"test://\"\n"), None).unwrap();
        assert_eq!(c.streams[0].memory, crate::preprocess::FrameMemory::System, "system memory by default");
    }

    #[test]
    fn missing_model_section_and_enum_suggestion() {
        let e = parse_str("[device]\nname = \"x\"\n", Some(Path::new("a.toml"))).unwrap_err().to_string();
        assert!(e.contains("model: missing [model] section"), "{e}");
        let e = parse_str("[model]\npath = \"m\"\nfamily = \"nanodett\"\n", Some(Path::new("a.toml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.toml:3:10: model.family: found \"nanodett\", expected one of"), "{e}");
        assert!(e.contains("did you mean \"nanodet\"?"), "{e}");
    }

    /// Every family the schema accepts builds to that decoder (a config the schema lets through
    /// must not then fail, or pick another decoder, in the build stage).
    #[test]
    fn every_family_of_the_schema_builds_to_its_decoder() {
        for name in crate::config::schema::FAMILIES {
            let text = MIN.replace("\"nanodet\"", &format!("\"{name}\""));
            let c = parse_str(&text, Some(Path::new("a.toml"))).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(c.model.family.to_string(), *name);
        }
    }

    /// Explicit strides and reg_max reach the decoder as written (a model with a fourth output
    /// level decodes with the wrong anchors otherwise).
    #[test]
    fn model_strides_and_reg_max_are_kept() {
        let c =
            parse_str(&format!("{MIN}strides = [8, 16, 32, 64]\nreg_max = 10\n"), Some(Path::new("a.toml"))).unwrap();
        assert_eq!(c.model.decode.strides, Some(vec![8, 16, 32, 64]));
        assert_eq!(c.model.decode.reg_max, Some(10));
        let c = parse_str(MIN, Some(Path::new("a.toml"))).unwrap();
        assert_eq!((c.model.decode.strides, c.model.decode.reg_max), (None, None));
    }

    /// `[output.jsonl]`: sizes in bytes (MB = 10^6), the total 10 files' worth by default, a
    /// total equal to the file size allowed, and the rules that need a file and a size.
    #[test]
    fn event_file_rotation_keys() {
        let out = |jsonl: &str| {
            let text = format!("{MIN}[output.jsonl]\n{jsonl}");
            parse_str(&text, Some(Path::new("/etc/a.toml"))).map(|c| c.output)
        };
        let o = out("path = \"e.jsonl\"\nmax_file_mb = 2\n").unwrap();
        assert_eq!((o.max_file_bytes, o.max_total_bytes), (Some(2_000_000), Some(20_000_000)));
        assert_eq!(o.flush_interval, Duration::from_secs(1));
        let o = out("path = \"e.jsonl\"\nmax_file_mb = 0.5\nmax_total_mb = 0.5\nflush_interval_s = 0.25\n").unwrap();
        assert_eq!((o.max_file_bytes, o.max_total_bytes), (Some(500_000), Some(500_000)));
        assert_eq!(o.flush_interval, Duration::from_millis(250));
        let o = out("path = \"e.jsonl\"\n").unwrap();
        assert_eq!((o.max_file_bytes, o.max_total_bytes), (None, None), "never rotated by default");
        for (jsonl, want) in [
            ("path = \"e.jsonl\"\nmax_file_mb = 2\nmax_total_mb = 1\n", "max_total_mb: is below max_file_mb"),
            ("path = \"-\"\nmax_file_mb = 2\n", "apply to an event file, not \"-\""),
            ("path = \"e.jsonl\"\nmax_total_mb = 2\n", "max_total_mb: needs max_file_mb"),
        ] {
            let e = out(jsonl).unwrap_err().to_string();
            assert!(e.contains(want), "{jsonl:?}: {e}");
        }
        assert!(out("path = \"-\"\n").is_ok() && out("path = \"e.jsonl\"\nmax_file_mb = 1\n").is_ok());
    }

    /// Ranges include both ends, also for a whole number written into a float key
    /// (`score_threshold = 1`, the schema's "0..=1").
    #[test]
    fn stream_transport_is_what_the_key_says_and_auto_by_default() {
        use crate::capture::uri::Transport;
        for (line, want) in [
            ("transport = \"udp\"\n", Transport::Udp),
            ("transport = \"tcp\"\n", Transport::Tcp),
            ("transport = \"auto\"\n", Transport::Auto),
            ("", Transport::Auto),
        ] {
            let text = format!("{MIN}[[stream]]\nname = \"a\"\nuri = \"rtsp://h/s\"\n{line}");
            let c = parse_str(&text, Some(Path::new("a.toml"))).unwrap();
            assert_eq!(c.streams[0].transport, want, "{line:?}");
        }
    }

    /// Names end up in topics, file names and metric labels: separators and wildcards are refused.
    #[test]
    fn stream_names_hold_no_separator_and_have_a_length_limit() {
        use super::{NAME_MAX_CHARS, name_problem};
        for ok in ["gate", "cam 1", "Tür-2.a_b", &"x".repeat(NAME_MAX_CHARS)] {
            assert_eq!(name_problem(ok), None, "{ok:?}");
        }
        for bad in ["", "a/b", "a+b", "a#b", "a\"b", "a\\b", &"x".repeat(NAME_MAX_CHARS + 1)] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
        let text = format!("{MIN}[[stream]]\nname = \"site/gate\"\nuri = \"test://\"\n");
        let e = parse_str(&text, Some(Path::new("a.toml"))).unwrap_err().to_string();
        assert!(e.contains("contains"), "{e}");
    }

    /// A secret of the wrong type is described by its TOML type, never by its value.
    #[test]
    fn a_secret_of_the_wrong_type_is_named_by_its_type_not_its_value() {
        for (v, found) in [("12345", "an integer"), ("true", "a boolean"), ("[12345]", "an array")] {
            let text = format!("{MIN}[[stream]]\nname = \"a\"\nuri = \"rtsp://h/s\"\npassword = {v}\n");
            let e = parse_str(&text, Some(Path::new("a.toml"))).unwrap_err().to_string();
            assert!(e.contains(&format!("password: found {found}")), "{v}: {e}");
            assert!(!e.contains("12345"), "{e}");
        }
    }

    #[test]
    fn tracking_keys_are_read_and_checked() {
        use crate::track::{TrackerKind, TrackerSettings};
        let c = parse_str(MIN, Some(Path::new("a.toml"))).unwrap();
        assert_eq!(c.tracking, TrackerSettings::default(), "ByteTrack by default");
        let text = format!(
            "{MIN}[tracking]\ntracker = \"none\"\nlow_score = 0.05\nnew_track_score = 0.7\nmatch_iou = 0.3\nlost_s = 2.5\nmin_hits = 4\n"
        );
        let t = parse_str(&text, Some(Path::new("a.toml"))).unwrap().tracking;
        assert_eq!(
            t,
            TrackerSettings {
                kind: TrackerKind::None,
                low_score: 0.05,
                new_track_score: Some(0.7),
                match_iou: 0.3,
                lost_s: 2.5,
                min_hits: 4
            }
        );
        let t = parse_str(&format!("{MIN}[tracking]\ntracker = \"ocsort\"\n"), Some(Path::new("a.toml"))).unwrap();
        assert_eq!(t.tracking, TrackerSettings::defaults(TrackerKind::OcSort));
        assert_eq!(t.tracking.match_iou, 0.3, "OC-SORT's own iou_threshold");
        for (bad, want) in [
            ("tracker = \"sort\"", "a.toml:5:11: tracking.tracker: found \"sort\", expected one of"),
            ("lost_s = -1", "a.toml:5:10: tracking.lost_s: found -1"),
            ("min_hits = 0", "a.toml:5:12: tracking.min_hits: found 0"),
            ("low_score = 1.5", "a.toml:5:13: tracking.low_score: found 1.5"),
            ("lost = 1", "a.toml:5:1: tracking.lost: unknown key; did you mean `lost_s`?"),
        ] {
            let e = parse_str(&format!("{MIN}[tracking]\n{bad}\n"), Some(Path::new("a.toml"))).unwrap_err().to_string();
            assert!(e.starts_with(want), "{bad}: {e}");
        }
    }

    #[test]
    fn zones_and_lines_are_read_and_checked() {
        use crate::zones::{LineSpec, ZoneSpec};
        const STREAM: &str = "[[stream]]\nname = \"gate\"\nuri = \"test://\"\n";
        let parse = |extra: &str| parse_str(&format!("{MIN}{STREAM}{extra}"), Some(Path::new("a.toml")));
        let c = parse(
            "[[stream.line]]\nname = \"mid\"\nfrom = [0.0, 0.5]\nto = [1.0, 0.5]\nclasses = [\"person\"]\n\
             [[stream.line]]\nname = \"short\"\nfrom = [0.0, 0.5]\nto = [0.001, 0.5]\n\
             [[stream.zone]]\nname = \"mid\"\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]\ninertia = 5\nloiter_s = 30\n\
             [[stream.zone]]\nname = \"b\"\npolygon = [[0, 0], [1, 0], [1, 1]]\nclasses = [\"car\", \"truck\"]\n\
             [tracking]\ncounts_interval_s = 0\n",
        )
        .unwrap();
        let r = &c.streams[0].regions;
        let line = |name: &str, to: [f64; 2], classes: &[&str]| LineSpec {
            name: name.into(),
            from: [0.0, 0.5],
            to,
            classes: classes.iter().map(|c| c.to_string()).collect(),
        };
        assert_eq!(r.lines, vec![line("mid", [1.0, 0.5], &["person"]), line("short", [0.001, 0.5], &[])]);
        assert_eq!(
            r.zones,
            vec![
                ZoneSpec {
                    name: "mid".into(),
                    polygon: vec![[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]],
                    classes: vec![],
                    inertia: 5,
                    loiter_s: Some(30.0)
                },
                ZoneSpec {
                    name: "b".into(),
                    polygon: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
                    classes: vec!["car".into(), "truck".into()],
                    inertia: 3,
                    loiter_s: None
                },
            ]
        );
        assert_eq!(c.counts_interval, None, "0: no counts events");
        assert_eq!(parse("").unwrap().counts_interval, Some(Duration::from_secs(60)));
        assert_eq!(
            parse("[tracking]\ncounts_interval_s = 2.5\n").unwrap().counts_interval,
            Some(Duration::from_millis(2500))
        );
        let line = |from: &str, to: &str| format!("[[stream.line]]\nname = \"l\"\nfrom = {from}\nto = {to}\n");
        let zone = |name: &str, poly: &str| format!("[[stream.zone]]\nname = \"{name}\"\npolygon = {poly}\n");
        for (bad, want) in [
            (
                line("[0.0, 0.2]", "[0.0, 0.8]"),
                "a.toml:10:6: stream \"gate\".line \"l\".to: puts the line on the frame's border",
            ),
            (line("[1.0, 0.2]", "[1.0, 0.8]"), "stream \"gate\".line \"l\".to: puts the line on the frame's border"),
            (line("[0.2, 0.0]", "[0.8, 0.0]"), "stream \"gate\".line \"l\".to: puts the line on the frame's border"),
            (line("[0.2, 1.0]", "[0.8, 1.0]"), "stream \"gate\".line \"l\".to: puts the line on the frame's border"),
            (
                line("[0.3, 0.3]", "[0.3, 0.3]"),
                "stream \"gate\".line \"l\".to: is [0.3, 0.3], the same point as `from`",
            ),
            (line("[0.3, 0.3]", "[0.3009, 0.3]"), "the same point as `from`"),
            (zone("z", "[[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]"), "zone \"z\".polygon: intersects itself"),
            (zone("z", "[[0.1, 0.1], [0.9, 0.9]]"), "zone \"z\".polygon: has 2 corner(s)"),
            (zone("z/1", "[[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]"), "zone \"z/1\".name: contains '/'"),
            (
                zone("z", "[[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]") + &zone("z", "[[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]"),
                "a.toml:11:8: stream \"gate\".zone \"z\".name: is used by another [[stream.zone]] of this stream",
            ),
            (
                line("[0.2, 0.5]", "[0.8, 0.5]") + "[tracking]\ntracker = \"none\"\n",
                "a.toml:7:1: stream \"gate\".line: zones and lines follow tracks, and tracking.tracker = \"none\" at a.toml:12:11",
            ),
        ] {
            let e = parse(&bad).unwrap_err().to_string();
            assert!(e.contains(want), "{bad}\n{e}");
        }
        // With a tracker, no such error.
        parse(&line("[0.2, 0.5]", "[0.8, 0.5]")).unwrap();
    }

    #[test]
    fn mqtt_keys_are_read_and_checked() {
        use super::super::{MqttConfig, MqttTls};
        let parse = |extra: &str| parse_str(&format!("{MIN}{extra}"), Some(Path::new("/etc/e/a.toml")));
        let full = "[output.mqtt]\nhost = \" broker.local \"\nport = 1884\ndevice = \"cam-7\"\ntopic_prefix = \"site1/es\"\n\
                    qos = 0\nusername = \"u\"\npassword_file = \"pw\"\nkeep_alive_s = 20\nconnect_timeout_s = 5\n\
                    stats_interval_s = 0\nspool_dir = \"/var/spool/es\"\nspool_max_mb = 2.5\nreconnect_min_s = 2\n\
                    reconnect_max_s = 2\n[output.mqtt.tls]\nca_file = \"ca.pem\"\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n";
        let c = parse(full).unwrap();
        assert_eq!(c.output.jsonl, None, "only MQTT configured: no JSON lines");
        let s = Duration::from_secs;
        assert_eq!(
            c.output.mqtt,
            Some(MqttConfig {
                host: "broker.local".into(),
                port: 1884,
                device: "cam-7".into(),
                topic_prefix: "site1/es".into(),
                qos: 0,
                username: Some("u".into()),
                password_file: Some("/etc/e/pw".into()),
                tls: Some(MqttTls {
                    ca_file: "/etc/e/ca.pem".into(),
                    cert_file: Some("/etc/e/c.pem".into()),
                    key_file: Some("/etc/e/k.pem".into()),
                }),
                keep_alive: s(20),
                connect_timeout: s(5),
                stats_interval: s(0),
                spool_dir: "/var/spool/es".into(),
                spool_max_bytes: 2_500_000,
                reconnect_min: s(2),
                reconnect_max: s(2),
            })
        );
        let m = parse("[output.mqtt]\nhost = \"b\"\n").unwrap().output.mqtt.unwrap();
        assert_eq!((m.port, m.qos, m.topic_prefix.as_str(), m.spool_max_bytes), (1883, 1, "edgesight", 100_000_000));
        assert_eq!((m.keep_alive, m.reconnect_min, m.reconnect_max, m.stats_interval), (s(30), s(1), s(60), s(60)));
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
        assert_eq!(m.device, super::device_default(host.as_deref()), "the host name by default");
        assert!(!m.device.is_empty());
        let tls = parse("[output.mqtt]\nhost = \"b\"\n[output.mqtt.tls]\nca_file = \"ca\"\n").unwrap();
        assert_eq!(tls.output.mqtt.unwrap().port, 8883, "TLS's port by default");
        let both = parse("[output.jsonl]\npath = \"-\"\n[output.mqtt]\nhost = \"b\"\n").unwrap();
        assert_eq!(both.output.jsonl, Some(EventTarget::Stdout), "both outputs");
        assert_eq!(parse("").unwrap().output.mqtt, None);
        for (bad, want) in [
            ("host = \"  \"", "output.mqtt.host: is empty"),
            ("host = \"b\"\ndevice = \"a/b\"", "output.mqtt.device: contains '/'"),
            ("host = \"b\"\ntopic_prefix = \"\"", "output.mqtt.topic_prefix: must be"),
            ("host = \"b\"\ntopic_prefix = \"/a\"", "output.mqtt.topic_prefix: must be"),
            ("host = \"b\"\ntopic_prefix = \"a/\"", "output.mqtt.topic_prefix: must be"),
            ("host = \"b\"\ntopic_prefix = \"a//b\"", "output.mqtt.topic_prefix: must be"),
            ("host = \"b\"\ntopic_prefix = \"a/+\"", "output.mqtt.topic_prefix: must be"),
            ("host = \"b\"\ntopic_prefix = \"a#\"", "output.mqtt.topic_prefix: must be"),
            ("host = \"b\"\npassword_file = \"pw\"", "output.mqtt.password_file: needs output.mqtt.username"),
            ("host = \"b\"\nreconnect_min_s = 5\nreconnect_max_s = 4.9", "output.mqtt.reconnect_max_s: is below"),
            (
                "host = \"b\"\n[output.mqtt.tls]\nca_file = \"c\"\ncert_file = \"x\"",
                "cert_file and key_file go together",
            ),
            (
                "host = \"b\"\n[output.mqtt.tls]\nca_file = \"c\"\nkey_file = \"x\"",
                "cert_file and key_file go together",
            ),
        ] {
            let e = parse(&format!("[output.mqtt]\n{bad}\n")).unwrap_err().to_string();
            assert!(e.contains(want), "{bad}\n{e}");
        }
        // A deep prefix is fine.
        parse("[output.mqtt]\nhost = \"b\"\ntopic_prefix = \"a/b/c\"\n").unwrap();
    }

    #[test]
    fn snapshot_and_visualise_keys_are_read_and_checked() {
        const STREAM: &str = "[[stream]]\nname = \"gate\"\nuri = \"test://\"\n";
        let parse = |extra: &str| parse_str(&format!("{MIN}{STREAM}{extra}"), Some(Path::new("/etc/e/a.toml")));
        let s = parse("[snapshots]\ndir = \"snaps\"\nmax_total_mb = 2.5\nquality = 70\nmin_interval_s = 3\n")
            .unwrap()
            .snapshots
            .expect("on");
        assert_eq!(
            (s.dir.as_path(), s.max_total_bytes, s.quality, s.min_interval),
            (Path::new("/etc/e/snaps"), 2_500_000, 70, Duration::from_secs(3))
        );
        let s = parse("[snapshots]\n").unwrap().snapshots.expect("on");
        assert_eq!((s.max_total_bytes, s.quality, s.min_interval), (500_000_000, 85, Duration::from_secs(10)));
        assert_eq!(parse("[snapshots]\nenabled = false\n").unwrap().snapshots, None);
        let v = parse("[visualise]\nrtsp_listen = \"127.0.0.1:8554\"\nwidth = 160\n").unwrap().visualise.expect("on");
        assert_eq!((v.rtsp_listen.map(|a| a.port()), v.file, v.width), (Some(8554), None, Some(160)));
        let v = parse("[visualise]\nfile = \"v.mkv\"\nstreams = [\"gate\"]\n").unwrap().visualise.expect("on");
        assert_eq!(
            (v.file.as_deref(), v.streams, v.fps, v.bitrate_kbps),
            (Some(Path::new("/etc/e/v.mkv")), vec!["gate".to_string()], 10.0, 2000)
        );
        for (bad, want) in [
            ("[visualise]\nfps = 5\n", "visualise: shows nothing"),
            ("[visualise]\nfile = \"v.avi\"\n", "visualise.file: \"v.avi\" must end in .mp4 or .mkv"),
            ("[visualise]\nfile = \"v.mkv\"\nwidth = 161\n", "visualise.width: 161 is odd"),
            (
                "[visualise]\nfile = \"v.mkv\"\nstreams = [\"yard\"]\n",
                "visualise.streams: no [[stream]] is named \"yard\"",
            ),
            ("[visualise]\nrtsp_listen = \"8554\"\n", "visualise.rtsp_listen: \"8554\" is not an address:port"),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(want), "{bad}\n{e}");
        }
    }

    #[test]
    fn the_default_device_is_a_usable_host_name() {
        assert_eq!(super::device_default(Some(" cam-7\n")), "cam-7");
        assert_eq!(super::device_default(Some("")), "edgesight");
        assert_eq!(super::device_default(Some("a/b")), "edgesight", "a name MQTT topics cannot hold");
        assert_eq!(super::device_default(None), "edgesight");
    }

    #[test]
    fn range_ends_are_inside_the_range() {
        let parse = |extra: &str| parse_str(&format!("{MIN}{extra}\n"), Some(Path::new("a.toml")));
        for ok in ["score_threshold = 0", "score_threshold = 1", "score_threshold = 1.0", "reg_max = 1", "reg_max = 64"]
        {
            parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in
            ["score_threshold = -1", "score_threshold = 2", "score_threshold = 1.01", "reg_max = 0", "reg_max = 65"]
        {
            assert!(parse(bad).is_err(), "{bad} accepted");
        }
    }
}
