//! Reading and validating a config file. Validation reports every problem it finds, each as
//! `file:line:col: key: what was found, what is expected`.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::schema::{EngineKind, RawConfig, RawModel, RawStream};
use super::{
    Config, DeviceConfig, EventTarget, ModelConfig, OutputConfig, PipelineConfig, StreamConfig,
    defaults,
};
use crate::capture::{SourceSpec, Transport};
use crate::detect::family::{DecodeOptions, InputOverrides};
use crate::error::{Error, Result};
use crate::preprocess::Pad;

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

/// Collects validation problems with their position.
struct Issues<'a> {
    file: &'a str,
    text: &'a str,
    list: Vec<String>,
}

impl Issues<'_> {
    fn at(&mut self, span: Option<Range<usize>>, key: &str, msg: impl std::fmt::Display) {
        let pos = match span {
            Some(s) => {
                let (l, c) = line_col(self.text, s.start);
                format!("{}:{l}:{c}", self.file)
            }
            None => self.file.to_string(),
        };
        self.list.push(format!("{pos}: {key}: {msg}"));
    }

    fn unit<T: Copy + Into<f64>>(
        &mut self,
        v: &Option<Spanned<T>>,
        key: &str,
        lo: f64,
        hi: f64,
        default: f32,
    ) -> f32 {
        match v {
            None => default,
            Some(s) => {
                let x: f64 = (*s.get_ref()).into();
                if !(lo..=hi).contains(&x) {
                    self.at(
                        Some(s.span()),
                        key,
                        format!("{x} is out of range, expected a number in {lo}..={hi}"),
                    );
                }
                x as f32
            }
        }
    }

    fn int(&mut self, v: &Option<Spanned<i64>>, key: &str, lo: i64, hi: i64, default: i64) -> i64 {
        match v {
            None => default,
            Some(s) => {
                let x = *s.get_ref();
                if !(lo..=hi).contains(&x) {
                    self.at(
                        Some(s.span()),
                        key,
                        format!("{x} is out of range, expected a whole number in {lo}..={hi}"),
                    );
                    return default;
                }
                x
            }
        }
    }

    fn triple(
        &mut self,
        v: &Option<Spanned<Vec<f64>>>,
        key: &str,
        nonzero: bool,
    ) -> Option<[f32; 3]> {
        let s = v.as_ref()?;
        let vals = s.get_ref();
        if vals.len() != 3 {
            self.at(
                Some(s.span()),
                key,
                format!(
                    "has {} values, expected 3 (one per channel, in tensor order)",
                    vals.len()
                ),
            );
            return None;
        }
        if nonzero && vals.contains(&0.0) {
            self.at(
                Some(s.span()),
                key,
                "contains 0, expected non-zero divisors",
            );
            return None;
        }
        Some([vals[0] as f32, vals[1] as f32, vals[2] as f32])
    }
}

/// Reads and validates a config file.
pub fn load_file(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "cannot read config file {}: {e}; pass an existing file with --config",
            path.display()
        ))
    })?;
    parse_str(&text, Some(path))
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Parses and validates config text; relative paths are resolved against `origin`'s directory.
pub fn parse_str(text: &str, origin: Option<&Path>) -> Result<Config> {
    let file = origin.map_or_else(|| "<config>".to_string(), |p| p.display().to_string());
    let base = origin
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let pos = match e.span() {
            Some(s) => {
                let (l, c) = line_col(text, s.start);
                format!("{file}:{l}:{c}")
            }
            None => file.clone(),
        };
        Error::config(format!("{pos}: {}", e.message().trim()))
    })?;
    let mut issues = Issues {
        file: &file,
        text,
        list: Vec::new(),
    };
    let device = DeviceConfig {
        name: raw.device.name.as_ref().map_or_else(|| "edgesight".to_string(), |n| n.get_ref().clone()),
        log_level: match &raw.device.log_level {
            None => log::LevelFilter::Info,
            Some(l) => l.get_ref().parse().unwrap_or_else(|_| {
                issues.at(
                    Some(l.span()),
                    "device.log_level",
                    format!("{:?} is not a log level, expected one of off, error, warn, info, debug, trace", l.get_ref()),
                );
                log::LevelFilter::Info
            }),
        },
    };
    let model = match &raw.model {
        Some(m) => Some(model_config(m.get_ref(), &base, &mut issues)),
        None => {
            issues.at(
                None,
                "model",
                "missing [model] section; it needs at least path and family",
            );
            None
        }
    };
    let mut names = HashSet::new();
    let mut streams = Vec::new();
    for s in &raw.streams {
        if let Some(sc) = stream_config(s.get_ref(), &base, &mut issues, &mut names) {
            streams.push(sc);
        }
    }
    let jsonl = match &raw.output.jsonl {
        None => EventTarget::Stdout,
        Some(j) if j.path.get_ref() == "-" => EventTarget::Stdout,
        Some(j) if j.path.get_ref().trim().is_empty() => {
            issues.at(
                Some(j.path.span()),
                "output.jsonl.path",
                "is empty, expected a file path or \"-\" for standard output",
            );
            EventTarget::Stdout
        }
        Some(j) => EventTarget::File(resolve(&base, j.path.get_ref())),
    };
    if !issues.list.is_empty() {
        return Err(Error::config(issues.list.join("\n")));
    }
    let Some(model) = model else {
        return Err(Error::config(format!(
            "{file}: model: missing [model] section"
        )));
    };
    Ok(Config {
        origin: origin.map(Path::to_path_buf),
        device,
        model,
        pipeline: PipelineConfig {
            resize: raw
                .pipeline
                .resize
                .unwrap_or(PipelineConfig::default().resize),
        },
        streams,
        output: OutputConfig { jsonl },
    })
}

fn model_config(m: &RawModel, base: &Path, is: &mut Issues<'_>) -> ModelConfig {
    if m.path.get_ref().trim().is_empty() {
        is.at(
            Some(m.path.span()),
            "model.path",
            "is empty, expected the path of an .onnx file",
        );
    }
    let mut mc = ModelConfig::new(resolve(base, m.path.get_ref()), *m.family.get_ref());
    mc.engine = m
        .engine
        .as_ref()
        .map_or(EngineKind::OnnxCpu, |e| *e.get_ref());
    mc.labels = m.labels.as_ref().map(|l| resolve(base, l.get_ref()));
    mc.score_threshold = is.unit(
        &m.score_threshold,
        "model.score_threshold",
        0.0,
        1.0,
        defaults::SCORE_THRESHOLD,
    );
    mc.nms_iou = is.unit(&m.nms_iou, "model.nms_iou", 0.0, 1.0, defaults::NMS_IOU);
    if let Some(ct) = &m.class_thresholds {
        for (name, v) in ct {
            let t = is.unit(
                &Some(v.clone()),
                &format!("model.class_thresholds.{name:?}"),
                0.0,
                1.0,
                0.0,
            );
            mc.class_thresholds.push((name.clone(), t));
        }
    }
    if let Some(cl) = &m.classes {
        let mut seen = HashSet::new();
        for c in cl.get_ref() {
            if c.get_ref().trim().is_empty() {
                is.at(Some(c.span()), "model.classes", "contains an empty name");
            } else if !seen.insert(c.get_ref().clone()) {
                is.at(
                    Some(c.span()),
                    "model.classes",
                    format!("lists {:?} twice", c.get_ref()),
                );
            } else {
                mc.classes.push(c.get_ref().clone());
            }
        }
    }
    mc.max_detections = is.int(
        &m.max_detections,
        "model.max_detections",
        1,
        10_000,
        defaults::MAX_DETECTIONS as i64,
    ) as usize;
    mc.threads = is.int(
        &m.threads,
        "model.threads",
        0,
        256,
        defaults::THREADS as i64,
    ) as usize;
    mc.onnxruntime_lib = m
        .onnxruntime_lib
        .as_ref()
        .map(|l| resolve(base, l.get_ref()));
    let mut input = InputOverrides::default();
    if let Some(sz) = &m.input_size {
        match sz.get_ref().as_slice() {
            &[w, h] if (1..=8192).contains(&w) && (1..=8192).contains(&h) => {
                input.size = Some((w as u32, h as u32))
            }
            other => is.at(
                Some(sz.span()),
                "model.input_size",
                format!("{other:?} is not [width, height] with each in 1..=8192"),
            ),
        }
    }
    input.layout = m.layout.as_ref().map(|v| *v.get_ref());
    input.channel_order = m.channel_order.as_ref().map(|v| *v.get_ref());
    input.letterbox = m.letterbox.as_ref().map(|v| *v.get_ref());
    input.mean = is.triple(&m.mean, "model.mean", false);
    input.std = is.triple(&m.std, "model.std", true);
    match (&m.pad_pixel, &m.pad_value) {
        (Some(_), Some(v)) => is.at(
            Some(v.span()),
            "model.pad_value",
            "set together with model.pad_pixel; keep one of them",
        ),
        (Some(p), None) => {
            input.pad = Some(Pad::Pixel(is.unit(
                &Some(p.clone()),
                "model.pad_pixel",
                0.0,
                255.0,
                0.0,
            )))
        }
        (None, Some(v)) => input.pad = Some(Pad::Tensor(*v.get_ref() as f32)),
        (None, None) => {}
    }
    mc.input = input;
    let mut decode = DecodeOptions::default();
    if let Some(st) = &m.strides {
        let v = st.get_ref();
        if v.is_empty() || v.iter().any(|&s| !(1..=1024).contains(&s)) {
            is.at(
                Some(st.span()),
                "model.strides",
                format!("{v:?} is not a non-empty list of strides in 1..=1024"),
            );
        } else {
            decode.strides = Some(v.iter().map(|&s| s as u32).collect());
        }
    }
    if m.reg_max.is_some() {
        decode.reg_max = Some(is.int(&m.reg_max, "model.reg_max", 1, 64, 7) as u32);
    }
    mc.decode = decode;
    mc
}

fn stream_config(
    s: &RawStream,
    base: &Path,
    is: &mut Issues<'_>,
    names: &mut HashSet<String>,
) -> Option<StreamConfig> {
    let name = s.name.get_ref().trim().to_string();
    if name.is_empty() {
        is.at(
            Some(s.name.span()),
            "stream.name",
            "is empty, expected a short unique name (it appears in every event)",
        );
    } else if !names.insert(name.clone()) {
        is.at(
            Some(s.name.span()),
            "stream.name",
            format!("{name:?} is used by another [[stream]]; names must be unique"),
        );
    }
    let source = match SourceSpec::parse(s.uri.get_ref(), base) {
        Ok(mut src) => {
            if let SourceSpec::Rtsp { user, password, .. } = &mut src {
                if s.user.is_some() {
                    *user = s.user.clone();
                }
                if s.password.is_some() {
                    *password = s.password.clone();
                }
            } else if s.user.is_some() || s.password.is_some() {
                is.at(
                    Some(s.uri.span()),
                    &format!("stream {name:?}"),
                    "user and password apply to rtsp:// sources only",
                );
            }
            if s.realtime.is_some() && !matches!(src, SourceSpec::File { .. }) {
                is.at(
                    Some(s.uri.span()),
                    &format!("stream {name:?}"),
                    "realtime applies to file sources only (live sources are always realtime)",
                );
            }
            Some(src)
        }
        Err(e) => {
            is.at(Some(s.uri.span()), "stream.uri", e);
            None
        }
    };
    let latency_ms = is.int(
        &s.latency_ms,
        "stream.latency_ms",
        0,
        60_000,
        defaults::RTSP_LATENCY_MS as i64,
    ) as u32;
    Some(StreamConfig {
        name,
        source: source?,
        enabled: s.enabled.unwrap_or(true),
        realtime: s.realtime.unwrap_or(false),
        transport: s.transport.unwrap_or(Transport::Tcp),
        latency_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "[model]\npath = \"m.onnx\"\nfamily = \"nanodet\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse_str(MIN, Some(Path::new("/etc/edgesight/edgesight.toml"))).unwrap();
        assert_eq!(c.model.path, PathBuf::from("/etc/edgesight/m.onnx"));
        assert_eq!(c.model.score_threshold, 0.35);
        assert_eq!(c.output.jsonl, EventTarget::Stdout);
        assert!(c.streams.is_empty());
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = format!("{MIN}scor_threshold = 0.5\n");
        let e = parse_str(&text, Some(Path::new("a.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("a.toml:4:1: unknown field `scor_threshold`"),
            "{e}"
        );
    }

    #[test]
    fn every_range_error_is_reported() {
        let text = format!(
            "{MIN}score_threshold = 1.5\nnms_iou = -1\n[[stream]]\nname = \"a\"\nuri = \"test://\"\n[[stream]]\nname = \"a\"\nuri = \"ftp://x\"\n"
        );
        let e = parse_str(&text, Some(Path::new("a.toml")))
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 4, "{e}");
        assert!(
            lines[0].starts_with("a.toml:4:19: model.score_threshold: 1.5 is out of range"),
            "{e}"
        );
        assert!(lines[1].starts_with("a.toml:5:11: model.nms_iou"), "{e}");
        assert!(
            lines[2].starts_with("a.toml:10:8: stream.name: \"a\" is used by another"),
            "{e}"
        );
        assert!(
            lines[3].starts_with("a.toml:11:7: stream.uri: unsupported scheme \"ftp\""),
            "{e}"
        );
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
