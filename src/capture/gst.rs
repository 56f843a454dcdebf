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
        LaunchOptions { transport: Transport::Auto, latency_ms: 200, raw_format: Pixels::I420, fps_limit: None }
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
            // `auto` opens with TCP; the reader reopens with UDP when the server refuses TCP.
            let proto = match opts.transport {
                Transport::Auto | Transport::Tcp => "tcp",
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
///
/// `nvvidconv` (the Jetson VIC: memory, layout, format and size in one pass) whenever NVMM is on
/// either side: surfaces the preprocessor cannot read are brought to system memory; surfaces it
/// does read still pass through it, because decoders and cameras fill block-linear surfaces and
/// CUDA reads only pitch-linear ones through EGL (the copy stays in GPU memory); and system-memory
/// frames of a stream that takes NVMM only (USB cameras, test patterns) are put into a surface
/// once. In system memory, `videoscale` when frames are downscaled in the pipeline (before
/// converting: the scaler works on the smaller YUV frame, the converter on the smaller result)
/// and `videoconvert` only for a format the preprocessor does not read.
pub fn tail(raw: RawCaps, accepts: &Accepts, scale: bool) -> Vec<&'static str> {
    let nvmm_only = accepts.memory.contains(&FrameMemory::Nvmm) && !accepts.memory.contains(&FrameMemory::System);
    if raw.memory == FrameMemory::Nvmm
        || (raw.memory != FrameMemory::System && !accepts.memory.contains(&raw.memory))
        || (raw.memory == FrameMemory::System && nvmm_only)
    {
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
    describe_with_caps(source_part, tail, None)
}

fn describe_with_caps(source_part: &str, tail: &[&str], caps: Option<&str>) -> String {
    let mut s = format!("{source_part} ! queue max-size-buffers=2");
    for e in tail {
        s.push_str(" ! ");
        s.push_str(e);
    }
    s.push_str(" ! capsfilter name=fit");
    if let Some(caps) = caps {
        s.push_str(" caps=");
        s.push_str(&quote(caps));
    }
    s.push_str(" ! appsink name=sink");
    s
}

/// Whether a stream with these accepted frames keeps them in NVMM (`memory = "nvmm"`): then a
/// decodebin may use only the hardware video decoder (`reader`), and NVMM frames are mapped for
/// CUDA instead of read by the CPU.
pub fn nvmm_only(accepts: &Accepts) -> bool {
    accepts.memory == [FrameMemory::Nvmm]
}

/// The video decoders a stream that keeps its frames in NVMM may use: the Jetson hardware
/// decoder (H.264, H.265, VP8/9, AV1 on Orin, MPEG-2/4), which writes NVMM surfaces. A software
/// decoder would decode into system memory and need a copy up: refused, never a silent fallback.
pub const NVMM_DECODERS: &[&str] = &["nvv4l2decoder"];

/// The pipeline a stream runs, as `check` prints it: the source part, the conversion, and the
/// caps the appsink takes. The conversion is known before any data flows where the source fixes
/// its raw video: NVMM streams always go through `nvvidconv` (their decodebin may use only
/// `nvv4l2decoder`), CSI cameras give NVMM NV12, test patterns their configured format. A
/// system-memory decodebin's output is known only once it decodes: shown as
/// `[conversion the decoder's output needs]`.
pub fn plan(spec: &SourceSpec, opts: &LaunchOptions, accepts: &Accepts, scale: bool) -> String {
    let raw = match spec {
        SourceSpec::Csi { .. } => Some(RawCaps { memory: FrameMemory::Nvmm, format: Some(Pixels::Nv12) }),
        SourceSpec::Test { .. } => Some(RawCaps { memory: FrameMemory::System, format: Some(opts.raw_format) }),
        _ if nvmm_only(accepts) => Some(RawCaps { memory: FrameMemory::Nvmm, format: None }),
        _ => None,
    };
    let tail = match raw {
        Some(raw) => tail(raw, accepts, scale),
        None => vec!["[conversion the decoder's output needs]"],
    };
    let line = describe_with_caps(&source_part(spec, opts), &tail, Some(&accepted_caps(accepts)));
    match spec {
        SourceSpec::Rtsp { .. } if opts.transport == Transport::Auto => {
            format!("{line} [transport auto: protocols=udp when the server refuses tcp]")
        }
        _ => line,
    }
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
        assert_eq!(
            tail(nvmm, &gpu, false),
            ["nvvidconv"],
            "decoders fill block-linear surfaces; CUDA reads pitch-linear ones: nvvidconv, NVMM to NVMM"
        );
        assert_eq!(
            accepted_caps(&gpu),
            "video/x-raw(memory:NVMM), format=(string){ NV12 }; video/x-raw, format=(string){ NV12 }"
        );
        let sys = RawCaps { memory: FrameMemory::System, format: Some(Pixels::Nv12) };
        assert!(tail(sys, &gpu, false).is_empty(), "system memory accepted as it is");
        assert_eq!(tail(sys, &nvmm_stream(), false), ["nvvidconv"], "put into a surface once");
        assert_eq!(tail(sys, &nvmm_stream(), true), ["nvvidconv"], "nvvidconv scales too");
        assert!(nvmm_only(&nvmm_stream()) && !nvmm_only(&gpu) && !nvmm_only(&cpu()));
    }

    /// What a stream with `memory = "nvmm"` accepts (runtime::assemble): NVMM NV12 only.
    fn nvmm_stream() -> Accepts {
        Accepts { memory: vec![FrameMemory::Nvmm], formats: vec![Pixels::Nv12] }
    }

    /// Every source kind with `memory = "nvmm"`, as `check` prints it: hardware decoding
    /// (decodebin restricted to nvv4l2decoder), nvvidconv into pitch-linear NVMM NV12, appsink.
    /// Nothing converts to system memory after the decoder.
    #[test]
    fn nvmm_launch_strings_for_every_source() {
        let acc = nvmm_stream();
        let tail_caps = "! queue max-size-buffers=2 ! nvvidconv ! \
                         capsfilter name=fit caps=\"video/x-raw(memory:NVMM), format=(string){ NV12 }\" ! appsink name=sink";
        let cases = [
            (
                SourceSpec::File { path: PathBuf::from("/data/clip.mp4") },
                "filesrc location=\"/data/clip.mp4\" ! decodebin name=dec",
            ),
            (
                SourceSpec::Rtsp { url: "rtsp://cam/s1".into(), user: Some("u".into()), password: Some("pw".into()) },
                "rtspsrc name=src location=\"rtsp://cam/s1\" protocols=tcp latency=200 ! decodebin name=dec",
            ),
            (
                SourceSpec::Csi { sensor_id: 0 },
                "nvarguscamerasrc sensor-id=0 ! capsfilter caps=\"video/x-raw(memory:NVMM),format=NV12\"",
            ),
            (
                SourceSpec::V4l2 { device: PathBuf::from("/dev/video0") },
                "v4l2src device=\"/dev/video0\" ! decodebin name=dec",
            ),
            (
                SourceSpec::Test { pattern: "ball".into(), width: 640, height: 480, fps: 15 },
                "videotestsrc is-live=true pattern=ball ! capsfilter caps=\"video/x-raw,format=I420,width=640,height=480,framerate=15/1\"",
            ),
        ];
        for (spec, source) in cases {
            let line = plan(&spec, &opts(), &acc, false);
            assert_eq!(line, format!("{source} {tail_caps}"), "{spec:?}");
            assert!(!line.contains("videoconvert") && !line.contains("pw"), "{line}");
            // The same tail whatever the source's raw video turns out to be, scaled or not.
            for memory in [FrameMemory::Nvmm, FrameMemory::System] {
                for scale in [false, true] {
                    assert_eq!(tail(RawCaps { memory, format: None }, &acc, scale), ["nvvidconv"]);
                }
            }
        }
        assert!(NVMM_DECODERS.contains(&"nvv4l2decoder"));
    }

    #[test]
    fn system_memory_plans_name_the_conversion_only_where_the_source_fixes_it() {
        let file = plan(&SourceSpec::File { path: PathBuf::from("/d/a.mp4") }, &opts(), &cpu(), false);
        assert_eq!(
            file,
            "filesrc location=\"/d/a.mp4\" ! decodebin name=dec ! queue max-size-buffers=2 ! \
             [conversion the decoder's output needs] ! capsfilter name=fit caps=\"video/x-raw, format=(string){ I420, NV12, BGR, BGRx }\" ! appsink name=sink"
        );
        let csi = plan(&SourceSpec::Csi { sensor_id: 1 }, &opts(), &cpu(), false);
        assert!(csi.contains("! nvvidconv ! capsfilter name=fit caps=\"video/x-raw, format"), "{csi}");
        let test =
            plan(&SourceSpec::Test { pattern: "ball".into(), width: 8, height: 8, fps: 5 }, &opts(), &cpu(), false);
        assert!(test.contains("! queue max-size-buffers=2 ! capsfilter name=fit"), "no conversion: {test}");
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
