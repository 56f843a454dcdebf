//! GStreamer launch strings per source and platform. Pure functions, unit-tested as strings, so
//! the Jetson elements are checked on machines that do not have them.
//!
//! Every pipeline ends in `videoscale ! capsfilter name=fit ! appsink name=sink`; the capture
//! sets `fit`'s caps (I420 or packed 8-bit BGR/RGB, optionally downscaled towards the model
//! input once the decoded size is known) and the appsink's queueing per pacing.

use super::uri::{SourceSpec, Transport};
use crate::preprocess::ChannelOrder;

/// Per-stream options that shape the launch string.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchOptions {
    pub transport: Transport,
    pub latency_ms: u32,
    /// The Jetson hardware path: nvarguscamerasrc / nvvidconv instead of software conversion.
    pub jetson: bool,
    /// The stream's `fps_limit`, applied in the pipeline where the source allows dropping before
    /// decoding (test pattern: generated at that rate; USB cameras: `videorate` before the
    /// decoder). Elsewhere (RTSP, files) frames are dropped after decoding, before any conversion.
    pub fps_limit: Option<f64>,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions { transport: Transport::Tcp, latency_ms: 200, jetson: false, fps_limit: None }
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

pub fn format_name(order: ChannelOrder) -> &'static str {
    match order {
        ChannelOrder::Bgr => "BGR",
        ChannelOrder::Rgb => "RGB",
    }
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
            format!(
                "videotestsrc is-live=true pattern={pattern} ! video/x-raw,width={width},height={height},framerate={n}/{d}"
            )
        }
        SourceSpec::V4l2 { device } => {
            let rate = match opts.fps_limit {
                Some(l) if l >= 1.0 => format!(" ! videorate drop-only=true max-rate={}", l.floor() as u64),
                _ => String::new(),
            };
            format!("v4l2src device={}{rate} ! decodebin name=dec", quote(&device.to_string_lossy()))
        }
        SourceSpec::Csi { sensor_id } => format!(
            "nvarguscamerasrc sensor-id={sensor_id} ! video/x-raw(memory:NVMM),format=NV12 ! nvvidconv ! video/x-raw,format=BGRx"
        ),
    }
}

/// The whole launch string: source, scaler, converter, appsink.
pub fn launch(spec: &SourceSpec, opts: &LaunchOptions) -> String {
    // On Jetson, decoded frames may sit in NVMM memory: nvvidconv brings them to system memory
    // (the CSI source part already ends in nvvidconv).
    let to_system = if opts.jetson && !matches!(spec, SourceSpec::Csi { .. } | SourceSpec::Test { .. }) {
        "nvvidconv ! video/x-raw,format=BGRx ! "
    } else {
        ""
    };
    // Scale before converting: the scaler works on the smaller YUV frame, the converter on the
    // smaller result.
    format!(
        "{} ! queue max-size-buffers=2 ! {to_system}videoscale ! videoconvert ! capsfilter name=fit ! appsink name=sink",
        source_part(spec, opts)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn opts() -> LaunchOptions {
        LaunchOptions { transport: Transport::Tcp, latency_ms: 200, jetson: false, fps_limit: None }
    }

    #[test]
    fn fps_limit_before_decoding_where_the_source_allows() {
        let mut o = opts();
        o.fps_limit = Some(2.5);
        let t = source_part(&SourceSpec::Test { pattern: "ball".into(), width: 32, height: 32, fps: 15 }, &o);
        assert!(t.ends_with("framerate=2500/1000"), "{t}");
        let v = source_part(&SourceSpec::V4l2 { device: PathBuf::from("/dev/video0") }, &o);
        assert_eq!(v, "v4l2src device=\"/dev/video0\" ! videorate drop-only=true max-rate=2 ! decodebin name=dec");
        o.fps_limit = Some(30.0);
        let t = source_part(&SourceSpec::Test { pattern: "ball".into(), width: 32, height: 32, fps: 15 }, &o);
        assert!(t.ends_with("framerate=15/1"), "a limit above the source rate changes nothing: {t}");
        let r = source_part(&SourceSpec::Rtsp { url: "rtsp://c/s".into(), user: None, password: None }, &o);
        assert!(!r.contains("videorate"), "RTSP drops after decoding: {r}");
    }

    #[test]
    fn file_paths_are_quoted() {
        let s = launch(&SourceSpec::File { path: PathBuf::from("/data/my \"clip\".mp4") }, &opts());
        assert_eq!(
            s,
            "filesrc location=\"/data/my \\\"clip\\\".mp4\" ! decodebin name=dec ! queue max-size-buffers=2 ! videoscale ! \
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
        let s = launch(&spec, &o);
        assert!(s.starts_with("rtspsrc name=src location=\"rtsp://cam/s1\" protocols=udp latency=50 ! decodebin"));
        assert!(!s.contains("pw") && !s.contains("user"));
    }

    #[test]
    fn test_pattern_caps() {
        let s = source_part(&SourceSpec::Test { pattern: "ball".into(), width: 320, height: 240, fps: 5 }, &opts());
        assert_eq!(s, "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=5/1");
    }

    #[test]
    fn jetson_elements() {
        let mut o = opts();
        o.jetson = true;
        let csi = launch(&SourceSpec::Csi { sensor_id: 1 }, &o);
        assert!(csi.starts_with(
            "nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),format=NV12 ! nvvidconv ! video/x-raw,format=BGRx ! queue"
        ));
        assert!(csi.contains("BGRx ! queue max-size-buffers=2 ! videoscale ! videoconvert ! capsfilter"));
        let rtsp = launch(&SourceSpec::Rtsp { url: "rtsp://c/s".into(), user: None, password: None }, &o);
        assert!(rtsp.contains(
            "queue max-size-buffers=2 ! nvvidconv ! video/x-raw,format=BGRx ! videoscale ! videoconvert ! capsfilter"
        ));
        let v4l2 = launch(&SourceSpec::V4l2 { device: PathBuf::from("/dev/video0") }, &opts());
        assert!(v4l2.starts_with("v4l2src device=\"/dev/video0\" ! decodebin name=dec"));
    }
}
