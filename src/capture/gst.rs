//! GStreamer launch strings per source and the elements between a source's raw video and the
//! appsink. Pure functions, unit-tested as strings, so the Jetson elements are checked on machines
//! that do not have them.
//!
//! A pipeline is the source part (below), then `queue`, then only the conversion the frames need
//! (`tail`: none when the decoder's output is already a format and memory the preprocessor reads),
//! then `capsfilter name=fit` (the accepted formats, optionally a downscale towards the model
//! input once the decoded size is known) and `appsink name=sink`.

use super::uri::{SourceSpec, Transport};
use crate::preprocess::{Accepts, FrameMemory, Pixels};

/// Per-stream options that shape the launch string.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchOptions {
    pub transport: Transport,
    pub latency_ms: u32,
    /// Format a generated source (test pattern) produces: the preprocessor's first choice, so no
    /// conversion follows it.
    pub raw_format: Pixels,
    /// The stream's `fps_limit`, applied in the pipeline where the source allows dropping before
    /// decoding (test pattern: generated at that rate; USB cameras: `videorate` before the
    /// decoder). Elsewhere (RTSP, files) frames are dropped after decoding, before any conversion.
    pub fps_limit: Option<f64>,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions { transport: Transport::Tcp, latency_ms: 200, raw_format: Pixels::I420, fps_limit: None }
    }
}

/// Quotes a property value for gst_parse_launch (`"` and `\` escaped).
pub fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// The part of the pipeline that produces decoded raw video, per source.
pub fn source_part(spec: &SourceSpec, opts: &LaunchOptions) -> String {
    match spec {
        SourceSpec::File { path } => {
            format!("filesrc location={} ! decodebin name=dec", quote(&path.to_string_lossy()))
        }
        SourceSpec::Rtsp { url, .. } => {
            // Credentials are set as properties on `src` after parsing, never in this string.
            let proto = match opts.transport {
                Transport::Tcp => "tcp",
                Transport::Udp => "udp",
            };
            format!(
                "rtspsrc name=src location={} protocols={proto} latency={} ! decodebin name=dec",
                quote(url),
                opts.latency_ms
            )
        }
        SourceSpec::Test { pattern, width, height, fps } => {
            let (n, d) = match opts.fps_limit {
                Some(l) if l < *fps as f64 => ((l * 1000.0).round().max(1.0) as u64, 1000),
                _ => (*fps as u64, 1),
            };
            // An explicit capsfilter: the source part ends here and the tail is linked after it.
            format!(
                "videotestsrc is-live=true pattern={pattern} ! capsfilter caps=\"video/x-raw,format={},width={width},height={height},framerate={n}/{d}\"",
                opts.raw_format.name()
            )
        }
        SourceSpec::V4l2 { device } => {
            let rate = match opts.fps_limit {
                Some(l) if l >= 1.0 => format!(" ! videorate drop-only=true max-rate={}", l.floor() as u64),
                _ => String::new(),
            };
            format!("v4l2src device={}{rate} ! decodebin name=dec", quote(&device.to_string_lossy()))
        }
        // NVMM surfaces; the tail brings them to system memory when the preprocessor needs that.
        SourceSpec::Csi { sensor_id } => {
            format!("nvarguscamerasrc sensor-id={sensor_id} ! capsfilter caps=\"video/x-raw(memory:NVMM),format=NV12\"")
        }
    }
}

/// Memory and format of a source's raw video, as far as its caps tell before data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawCaps {
    pub memory: FrameMemory,
    /// None when the caps leave the format open (a list, or no format field).
    pub format: Option<Pixels>,
}

/// The elements between the raw video and the `fit` capsfilter: only what the frames need.
/// NVMM surfaces the preprocessor cannot read go through `nvvidconv` (which also converts and
/// scales); in system memory, `videoscale` when frames are downscaled in the pipeline (before
/// converting: the scaler works on the smaller YUV frame, the converter on the smaller result)
/// and `videoconvert` only for a format the preprocessor does not read.
pub fn tail(raw: RawCaps, accepts: &Accepts, scale: bool) -> Vec<&'static str> {
    if raw.memory != FrameMemory::System && !accepts.memory.contains(&raw.memory) {
        return vec!["nvvidconv"];
    }
    let mut t = Vec::new();
    if scale {
        t.push("videoscale");
    }
    if !raw.format.is_some_and(|f| accepts.takes(raw.memory, f)) {
        t.push("videoconvert");
    }
    t
}

/// The accepted formats as a caps string (one structure per memory kind, best first).
pub fn accepted_caps(accepts: &Accepts) -> String {
    let formats = accepts.formats.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ");
    accepts
        .memory
        .iter()
        .map(|m| match m.caps_feature() {
            Some(feature) => format!("video/x-raw({feature}), format=(string){{ {formats} }}"),
            None => format!("video/x-raw, format=(string){{ {formats} }}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The whole pipeline as one line (the source part, then the tail), for logs and tests.
pub fn describe(source_part: &str, tail: &[&str]) -> String {
    let mut s = format!("{source_part} ! queue max-size-buffers=2");
    for e in tail {
        s.push_str(" ! ");
        s.push_str(e);
    }
    s.push_str(" ! capsfilter name=fit ! appsink name=sink");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn opts() -> LaunchOptions {
        LaunchOptions { transport: Transport::Tcp, latency_ms: 200, raw_format: Pixels::I420, fps_limit: None }
    }

    fn cpu() -> Accepts {
        Accepts {
            memory: vec![FrameMemory::System],
            formats: vec![Pixels::I420, Pixels::Nv12, Pixels::Bgr, Pixels::Bgrx],
        }
    }

    #[test]
    fn fps_limit_before_decoding_where_the_source_allows() {
        let mut o = opts();
        o.fps_limit = Some(2.5);
        let t = source_part(&SourceSpec::Test { pattern: "ball".into(), width: 32, height: 32, fps: 15 }, &o);
        assert!(t.ends_with("framerate=2500/1000\""), "{t}");
        let v = source_part(&SourceSpec::V4l2 { device: PathBuf::from("/dev/video0") }, &o);
        assert_eq!(v, "v4l2src device=\"/dev/video0\" ! videorate drop-only=true max-rate=2 ! decodebin name=dec");
        o.fps_limit = Some(30.0);
        let t = source_part(&SourceSpec::Test { pattern: "ball".into(), width: 32, height: 32, fps: 15 }, &o);
        assert!(t.ends_with("framerate=15/1\""), "a limit above the source rate changes nothing: {t}");
        let r = source_part(&SourceSpec::Rtsp { url: "rtsp://c/s".into(), user: None, password: None }, &o);
        assert!(!r.contains("videorate"), "RTSP drops after decoding: {r}");
    }

    #[test]
    fn file_paths_are_quoted() {
        let spec = SourceSpec::File { path: PathBuf::from("/data/my \"clip\".mp4") };
        let s = describe(&source_part(&spec, &opts()), &["videoconvert"]);
        assert_eq!(
            s,
            "filesrc location=\"/data/my \\\"clip\\\".mp4\" ! decodebin name=dec ! queue max-size-buffers=2 ! \
             videoconvert ! capsfilter name=fit ! appsink name=sink"
        );
    }

    #[test]
    fn rtsp_has_transport_latency_and_no_credentials() {
        let spec =
            SourceSpec::Rtsp { url: "rtsp://cam/s1".into(), user: Some("u".into()), password: Some("pw".into()) };
        let mut o = opts();
        o.transport = Transport::Udp;
        o.latency_ms = 50;
        let s = describe(&source_part(&spec, &o), &[]);
        assert!(s.starts_with("rtspsrc name=src location=\"rtsp://cam/s1\" protocols=udp latency=50 ! decodebin"));
        assert!(!s.contains("pw") && !s.contains("user"));
    }

    #[test]
    fn test_pattern_caps_in_the_preprocessors_format() {
        let mut o = opts();
        let s = source_part(&SourceSpec::Test { pattern: "ball".into(), width: 320, height: 240, fps: 5 }, &o);
        assert_eq!(
            s,
            "videotestsrc is-live=true pattern=ball ! capsfilter caps=\"video/x-raw,format=I420,width=320,height=240,framerate=5/1\""
        );
        o.raw_format = Pixels::Bgrx;
        let s = source_part(&SourceSpec::Test { pattern: "ball".into(), width: 320, height: 240, fps: 5 }, &o);
        assert!(s.contains("format=BGRx,"), "{s}");
    }

    #[test]
    fn no_conversion_element_when_the_decoder_format_is_accepted() {
        let sys = |f| RawCaps { memory: FrameMemory::System, format: Some(f) };
        assert!(tail(sys(Pixels::I420), &cpu(), false).is_empty());
        assert!(tail(sys(Pixels::Nv12), &cpu(), false).is_empty());
        assert_eq!(tail(sys(Pixels::Rgba), &cpu(), false), ["videoconvert"]);
        assert_eq!(tail(RawCaps { memory: FrameMemory::System, format: None }, &cpu(), false), ["videoconvert"]);
        assert_eq!(tail(sys(Pixels::I420), &cpu(), true), ["videoscale"]);
        assert_eq!(tail(sys(Pixels::Rgba), &cpu(), true), ["videoscale", "videoconvert"]);
    }

    #[test]
    fn nvmm_surfaces_go_through_nvvidconv_only_when_the_preprocessor_needs_system_memory() {
        let nvmm = RawCaps { memory: FrameMemory::Nvmm, format: Some(Pixels::Nv12) };
        assert_eq!(tail(nvmm, &cpu(), false), ["nvvidconv"]);
        assert_eq!(tail(nvmm, &cpu(), true), ["nvvidconv"], "nvvidconv scales too");
        let gpu = Accepts { memory: vec![FrameMemory::Nvmm, FrameMemory::System], formats: vec![Pixels::Nv12] };
        assert!(tail(nvmm, &gpu, false).is_empty(), "zero-copy: the surface goes straight to the appsink");
        assert_eq!(
            accepted_caps(&gpu),
            "video/x-raw(memory:NVMM), format=(string){ NV12 }; video/x-raw, format=(string){ NV12 }"
        );
    }

    #[test]
    fn jetson_sources() {
        let csi = describe(&source_part(&SourceSpec::Csi { sensor_id: 1 }, &opts()), &["nvvidconv"]);
        assert_eq!(
            csi,
            "nvarguscamerasrc sensor-id=1 ! capsfilter caps=\"video/x-raw(memory:NVMM),format=NV12\" ! queue max-size-buffers=2 ! \
             nvvidconv ! capsfilter name=fit ! appsink name=sink"
        );
        let v4l2 = source_part(&SourceSpec::V4l2 { device: PathBuf::from("/dev/video0") }, &opts());
        assert!(v4l2.starts_with("v4l2src device=\"/dev/video0\" ! decodebin name=dec"));
    }
}
