//! One GStreamer pipeline ending in an appsink, pulled frame by frame.
//!
//! The caps and the elements after the source come from what the preprocessor reads (`Accepts`):
//! once the source's raw video pad and its caps are known, only the conversion it needs is put
//! between it and the appsink. Errors and end-of-stream from the bus are reported to the caller
//! as such; nothing is swallowed.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::gst::{LaunchOptions, NVMM_DECODERS, RawCaps, accepted_caps, describe, nvmm_only, source_part, tail};
use super::rtsp::{self, Offer, Offers, TransportMemory};
use super::uri::{SourceSpec, Transport};
use crate::error::{Error, Result};
use crate::preprocess::{
    Accepts, ChannelOrder, FrameData, FrameMemory, FrameView, Geometry, Letterbox, Matrix, PixelFormat, Pixels,
    YuvCoefficients, YuvConversion,
};

/// Initialises GStreamer once per process.
pub fn init() -> Result<()> {
    static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| gst::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| Error::source(format!("GStreamer failed to initialise: {e}; install gstreamer1.0-plugins-base")))
}

/// Downscale in GStreamer towards the model input, keeping what the letterbox would keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub width: u32,
    pub height: u32,
    pub letterbox: Letterbox,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaptureOptions {
    /// What the preprocessor reads: memory kinds and formats, best first.
    pub accepts: Accepts,
    /// When set, frames are scaled down in the pipeline (never up) before conversion.
    pub fit: Option<Fit>,
    pub launch: LaunchOptions,
    /// Deliver frames at their timestamps (a file played like a camera) instead of as fast as pulled.
    pub sync: bool,
    /// Let the appsink drop old frames if nobody pulls (live sources; a backstop, the caller's
    /// mailbox does the counted dropping).
    pub leaky: bool,
    /// Largest frame (width × height) a source may deliver; checked on the decoder's caps before
    /// any buffer of that size is converted or read (`pipeline.max_frame_pixels`).
    pub max_pixels: u64,
    /// Threads of a software video decoder (libav `max-threads`; 0 = libav's choice, one per
    /// core plus one). `pipeline.decoder_threads`, resolved by `config::threads`.
    pub decoder_threads: u32,
}

/// 7680 × 4320 (8K UHD): the default `pipeline.max_frame_pixels`.
pub const DEFAULT_MAX_PIXELS: u64 = 7680 * 4320;

/// How long a file may take to decode its first frame (preroll).
const PREROLL_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            accepts: Accepts {
                memory: vec![FrameMemory::System],
                formats: vec![Pixels::I420, Pixels::Nv12, Pixels::Bgr, Pixels::Rgb],
            },
            fit: None,
            launch: LaunchOptions::default(),
            sync: false,
            leaky: false,
            max_pixels: DEFAULT_MAX_PIXELS,
            decoder_threads: 0,
        }
    }
}

/// A decoded frame: the GStreamer sample (no copy) and what is needed to read it.
pub struct Frame {
    sample: gst::Sample,
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    pub memory: FrameMemory,
    offsets: [usize; 3],
    strides: [usize; 3],
    /// Size of the decoded frame before any scaling in the pipeline: event boxes refer to it.
    pub source_width: u32,
    pub source_height: u32,
    /// Decoded frames of this source before this one (from 0).
    pub index: u64,
    /// Presentation timestamp in milliseconds, when the source has one.
    pub pts_ms: Option<u64>,
    /// When the frame left the pipeline: the start of its end-to-end latency.
    pub captured: Instant,
    /// How many times the stream's source was reopened before this frame (set by the runtime):
    /// a tracker's state does not carry over a reconnect.
    pub session: u64,
}

/// A frame mapped for reading. It owns its mapping, so it can be held past the preprocessor
/// until the engine has consumed the tensor (an asynchronous GPU engine reads the frame's
/// surface until it synchronises), and kept in a reused list without borrowing the frame.
pub struct FrameGuard {
    mapping: Mapping,
}

enum Mapping {
    /// A system-memory buffer mapped for the CPU.
    Host {
        map: gst::MappedBuffer<gst::buffer::Readable>,
        width: u32,
        height: u32,
        format: PixelFormat,
        offsets: [usize; 3],
        strides: [usize; 3],
    },
    /// An NVMM surface mapped for CUDA (released in NVIDIA's order when dropped).
    #[cfg(feature = "cuda")]
    Nvmm(super::nvmm::NvmmMapping),
}

impl FrameGuard {
    /// The frame as the preprocessor reads it.
    pub fn data(&self) -> FrameData<'_> {
        match &self.mapping {
            Mapping::Host { map, width, height, format, offsets, strides } => FrameData::Host(FrameView {
                data: map.as_slice(),
                width: *width,
                height: *height,
                format: *format,
                offsets: *offsets,
                strides: *strides,
            }),
            #[cfg(feature = "cuda")]
            Mapping::Nvmm(m) => FrameData::Device(m.frame()),
        }
    }
}

impl Frame {
    /// Maps the frame's buffer (no copy); the mapping lives as long as the guard. System
    /// memory is mapped for the CPU; NVMM surfaces (CUDA builds) to CUDA device addresses.
    pub fn map(&self) -> Result<FrameGuard> {
        let buffer = self.sample.buffer_owned().ok_or_else(|| Error::source("sample without a buffer"))?;
        let mapping = match self.memory {
            FrameMemory::System => Mapping::Host {
                map: buffer
                    .into_mapped_buffer_readable()
                    .map_err(|_| Error::source("cannot map a video buffer for reading"))?,
                width: self.width,
                height: self.height,
                format: self.format,
                offsets: self.offsets,
                strides: self.strides,
            },
            #[cfg(feature = "cuda")]
            FrameMemory::Nvmm => Mapping::Nvmm(super::nvmm::map(buffer, self.width, self.height, self.format)?),
            other => {
                return Err(Error::source(format!(
                    "a frame in {other:?} memory reached a build that cannot map it; this build reads system memory \
                     only (NVMM: a cuda-* build)"
                )));
            }
        };
        Ok(FrameGuard { mapping })
    }

    /// Turns a geometry computed on the delivered buffer into one that maps to source pixels.
    pub fn to_source_geometry(&self, g: Geometry) -> Geometry {
        if self.source_width == self.width && self.source_height == self.height {
            return g;
        }
        let fx = self.source_width as f32 / self.width.max(1) as f32;
        let fy = self.source_height as f32 / self.height.max(1) as f32;
        Geometry {
            src_w: self.source_width,
            src_h: self.source_height,
            inv_scale_x: g.inv_scale_x * fx,
            inv_scale_y: g.inv_scale_y * fy,
            ..g
        }
    }
}

/// Result of one pull.
pub enum Pull {
    Frame(Frame),
    Eos,
    /// Nothing within the timeout; the pipeline is still running.
    Timeout,
}

pub struct GstCapture {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    bus: gst::Bus,
    /// Frames are scaled in the pipeline: their source size travels with each buffer.
    scaled: bool,
    /// Layout of the current caps, recomputed only when the caps change.
    layout: Option<(gst::Caps, gst_video::VideoInfo, PixelFormat, FrameMemory)>,
    /// End of stream was posted; the appsink may still hold frames.
    eos_seen: bool,
    max_pixels: u64,
    frames: u64,
    /// The source, for scrubbing GStreamer's messages about it.
    spec: SourceSpec,
    /// Frames stay in NVMM (`memory = "nvmm"`): video decodes on the hardware decoder only.
    nvmm: bool,
    /// Its redacted form, the prefix of every message about it.
    describe: String,
    /// RTSP sources: the transports of this connection attempt and what the server offered.
    rtsp: Option<RtspSession>,
}

/// How often, and after how long, a transport is asked for again when the server answered 503
/// just after refusing the previous one.
const BUSY_RETRIES: u32 = 3;
const BUSY_PAUSE: Duration = Duration::from_millis(300);

/// An RTSP source's connection attempt (`capture::rtsp`): the transports it tries in order and
/// what the server offered. Kept by the capture, so that a refusal before the first frame is
/// answered by opening again with the next transport, inside the same attempt (no backoff).
struct RtspSession {
    configured: Transport,
    order: Vec<Transport>,
    /// How many of `order` were tried; the last of them is the current pipeline's.
    tried: usize,
    memory: Arc<TransportMemory>,
    offers: Offers,
    /// The last error was the transport's: refused by the server, or RTP over UDP that never came.
    transport_failed: Option<rtsp::TransportFailure>,
    /// Times the server answered 503 after a switch of transport (`TransportFailure::Busy`).
    busy: u32,
    /// The options to open the next transport with.
    opts: CaptureOptions,
}

impl RtspSession {
    fn current(&self) -> Transport {
        self.order[self.tried - 1]
    }

    fn offers(&self) -> Vec<Offer> {
        self.offers.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// The transport to try next, when the current one failed as a transport and another may
    /// work; the current one again when the server was busy closing the refused session.
    fn next(&self) -> Option<Transport> {
        match self.transport_failed? {
            rtsp::TransportFailure::Busy => (self.tried > 1 && self.busy < BUSY_RETRIES).then(|| self.current()),
            _ if rtsp::no_decodable_video(&self.offers()) => None,
            _ => self.order.get(self.tried).copied(),
        }
    }
}

/// How the preprocessor reads a frame of these caps.
fn pixel_format(info: &gst_video::VideoInfo) -> Option<PixelFormat> {
    let yuv = || {
        let c = info.colorimetry();
        let matrix = match c.matrix() {
            gst_video::VideoColorMatrix::Bt709 => Matrix::Bt709,
            gst_video::VideoColorMatrix::Bt2020 => Matrix::Bt2020,
            _ => Matrix::Bt601,
        };
        let full = c.range() == gst_video::VideoColorRange::Range0_255;
        // JPEG (full range, JPEG chroma siting) is converted as libjpeg does; video as swscale.
        if full && info.chroma_site() == gst_video::VideoChromaSite::JPEG {
            YuvConversion::Jpeg
        } else {
            YuvConversion::Video(YuvCoefficients::new(matrix, full))
        }
    };
    use gst_video::VideoFormat as F;
    match info.format() {
        F::I420 => Some(PixelFormat::I420(yuv())),
        F::Nv12 => Some(PixelFormat::Nv12(yuv())),
        F::Bgr => Some(PixelFormat::Packed(ChannelOrder::Bgr)),
        F::Rgb => Some(PixelFormat::Packed(ChannelOrder::Rgb)),
        F::Bgrx | F::Bgra => Some(PixelFormat::Packed4(ChannelOrder::Bgr)),
        F::Rgbx | F::Rgba => Some(PixelFormat::Packed4(ChannelOrder::Rgb)),
        _ => None,
    }
}

/// A frame of `w × h` within `max` pixels, or why not (with the fix).
fn frame_size_allowed(w: u32, h: u32, max: u64) -> Result<(), String> {
    let pixels = w as u64 * h as u64;
    if pixels > max {
        return Err(format!(
            "frames of {w}x{h} ({pixels} pixels) are larger than pipeline.max_frame_pixels = {max}; \
             lower the camera's resolution or raise the limit"
        ));
    }
    Ok(())
}

/// Width and height of a caps event, if `info` holds one.
fn caps_event_size(info: &gst::PadProbeInfo<'_>) -> Option<(u32, u32)> {
    let Some(gst::PadProbeData::Event(ev)) = &info.data else { return None };
    let gst::EventView::Caps(c) = ev.view() else { return None };
    let s = c.caps().structure(0)?;
    let (w, h) = (s.get::<i32>("width").ok()?, s.get::<i32>("height").ok()?);
    (w > 0 && h > 0).then_some((w as u32, h as u32))
}

/// Name of the reference caps that carry a buffer's size before scaling.
const SOURCE_SIZE: &str = "edgesight/source-size";

/// The size a buffer had before the pipeline scaled it.
fn source_size_of(buffer: &gst::BufferRef) -> Option<(u32, u32)> {
    buffer.iter_meta::<gst::ReferenceTimestampMeta>().find_map(|m| {
        let s = m.reference().structure(0)?;
        if s.name() != SOURCE_SIZE {
            return None;
        }
        Some((s.get::<i32>("width").ok()? as u32, s.get::<i32>("height").ok()? as u32))
    })
}

/// One line out of a GStreamer error message, with a hint for the common causes. `describe` is
/// the source's redacted form; GStreamer's own text goes through `SourceSpec::scrub`.
/// The GStreamer error codes the messages below tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GstCode {
    MissingPlugin,
    TypeNotFound,
    NotFound,
    OpenRead,
    Read,
    NotAuthorized,
    Other,
}

impl GstCode {
    fn of(err: &gst::glib::Error) -> GstCode {
        use gst::{CoreError, ResourceError, StreamError};
        if err.matches(CoreError::MissingPlugin) || err.matches(StreamError::CodecNotFound) {
            GstCode::MissingPlugin
        } else if err.matches(StreamError::TypeNotFound) || err.matches(StreamError::WrongType) {
            GstCode::TypeNotFound
        } else if err.matches(ResourceError::NotFound) {
            GstCode::NotFound
        } else if err.matches(ResourceError::OpenRead) || err.matches(ResourceError::OpenReadWrite) {
            GstCode::OpenRead
        } else if err.matches(ResourceError::Read) {
            GstCode::Read
        } else if err.matches(ResourceError::NotAuthorized) {
            GstCode::NotAuthorized
        } else {
            GstCode::Other
        }
    }
}

/// The cause and fix of a GStreamer error, from its code, its message and its debug text
/// (`reason not-linked` and the like), for a network source or a local one. GStreamer's own
/// words ("Internal data stream error", "Could not open resource for reading and writing")
/// name neither; the product's messages do. None for errors without a known cause.
fn cause_and_fix(code: GstCode, msg: &str, debug: &str, network: bool) -> Option<&'static str> {
    let lower = msg.to_ascii_lowercase();
    Some(match code {
        GstCode::MissingPlugin => {
            "a decoder is missing: install gstreamer1.0-plugins-good, -bad, -ugly and gstreamer1.0-libav"
        }
        _ if lower.contains("missing a plug-in") => {
            "a decoder is missing: install gstreamer1.0-plugins-good, -bad, -ugly and gstreamer1.0-libav"
        }
        GstCode::TypeNotFound => "the file is not a video or image GStreamer can decode",
        GstCode::NotAuthorized => "check the user and password of the stream",
        _ if lower.contains("unauthorized") || lower.contains("forbidden") => {
            "the camera refused the credentials: check the user and password of the stream"
        }
        _ if lower.contains("no playable streams") => {
            "the file holds no stream that can be played: it is damaged, truncated or empty; copy or export it again"
        }
        _ if debug.contains("not-linked") => "the input has no decodable video stream",
        _ if debug.contains("not-negotiated") => {
            "the decoder's output could not be agreed on (format or size): the stream changed to something \
             edgesight cannot read; report it with the stream's codec and resolution"
        }
        // rtspsrc 1.22 tells its UDP timeout in the debug text of "Could not read from resource".
        _ if super::rtsp::is_udp_silence(msg) || super::rtsp::is_udp_silence(debug) => {
            "no video arrives over UDP (a firewall or NAT drops RTP): set transport = \"auto\" or \"tcp\" for this \
             stream"
        }
        GstCode::Read if network && debug.contains("Timeout while waiting for server response") => {
            "the address accepted the connection but gave no RTSP answer: check the port (554 is RTSP's usual one) \
             and that the camera is not overloaded"
        }
        GstCode::Read if network && debug.contains("Parse error") => {
            "the address answered, but not in RTSP: check the port (554 is RTSP's usual one; this one serves \
             something else, HTTP perhaps)"
        }
        // rtspsrc posts statuses it has no code for as "Unhandled error", the status in the debug text.
        GstCode::Other if network && debug.contains("(403)") => {
            "the camera refused this user (403 Forbidden): check that the user may stream on the camera, and \
             the user and password of the stream"
        }
        GstCode::Other if network && super::rtsp::is_busy(debug) => {
            "the server is busy (503 Service Unavailable): it may be at its limit of clients, or restarting the \
             stream; close other viewers if it lasts"
        }
        GstCode::NotFound if network => {
            "the server does not know this stream path (404): check the path after the address in the uri"
        }
        GstCode::OpenRead if network => {
            "cannot connect: the camera refused or did not answer; check the address and port, the network, \
             and that the camera's RTSP service is on"
        }
        GstCode::NotFound | GstCode::OpenRead => "check the path or address and that it is readable",
        GstCode::Read if network => "the connection to the camera dropped; the stream is reopened",
        GstCode::Read => "the file could not be read to its end: a damaged file or a failing disk",
        _ if lower.contains("internal data stream error") => {
            "the stream stopped inside GStreamer: the file or stream is damaged or uses an unusual encoding; \
             try it with gst-play-1.0 and re-encode it if it fails there too"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod explain_tests {
    use super::{GstCode, cause_and_fix};

    #[test]
    fn gstreamer_texts_get_a_cause_and_a_fix() {
        let fix = |code, msg, debug, net| cause_and_fix(code, msg, debug, net).unwrap_or("none");
        assert!(
            fix(GstCode::Other, "Internal data stream error.", "reason not-linked (-1)", false)
                .contains("no decodable video")
        );
        assert!(fix(GstCode::Other, "Internal data stream error.", "reason error (-5)", false).contains("damaged"));
        assert!(fix(GstCode::Other, "This file contains no playable streams.", "", false).contains("truncated"));
        assert!(
            fix(GstCode::OpenRead, "Could not open resource for reading and writing.", "", true)
                .contains("cannot connect")
        );
        assert!(fix(GstCode::OpenRead, "Could not open resource for reading.", "", false).contains("readable"));
        assert!(fix(GstCode::NotFound, "Not Found", "", true).contains("404"));
        assert!(fix(GstCode::Read, "Could not read from resource.", "", true).contains("dropped"));
        let read = "Could not read from resource.";
        let silent = "Could not receive message. (Timeout while waiting for server response)";
        assert!(fix(GstCode::Read, read, silent, true).contains("no RTSP answer: check the port"));
        assert!(
            fix(GstCode::Other, "Unhandled error", "gst_rtspsrc_send ():\nService Unavailable (503)", true)
                .contains("busy (503")
        );
        assert!(
            fix(GstCode::Other, "Unhandled error", "gst_rtspsrc_send ():\nForbidden (403)", true)
                .contains("user and password of the stream")
        );
        let http = "Could not receive message. (Parse error)";
        assert!(fix(GstCode::Read, read, http, true).contains("not in RTSP: check the port"));
        assert!(fix(GstCode::Other, "Could not receive any UDP packets for 5.0000 seconds", "", true).contains("tcp"));
        let udp = "gstrtspsrc.c(6136): gst_rtspsrc_reconnect (): …:\nCould not receive any UDP packets for 5.0000 \
                   seconds, maybe your firewall is blocking it. No other protocols to try.";
        assert!(fix(GstCode::Read, "Could not read from resource.", udp, true).contains("no video arrives over UDP"));
        assert!(fix(GstCode::Other, "Unauthorized", "", true).contains("user and password"));
        assert!(fix(GstCode::MissingPlugin, "no decoder", "", false).contains("gstreamer1.0-libav"));
        assert_eq!(cause_and_fix(GstCode::Other, "something new", "", false), None);
    }
}

/// A stream with `memory = "nvmm"` whose video found no decoder: only the hardware one may be used.
const NVMM_DECODER_MISSING: &str = "memory = \"nvmm\" decodes video on the Jetson's hardware decoder only \
    (nvv4l2decoder), which is missing or does not decode this stream's codec: install nvidia-l4t-gstreamer (Yocto: \
    gstreamer1.0-plugins-nvvideo4linux2), or set memory = \"system\"";

/// One line out of a GStreamer error message: the product's cause and fix where the error is
/// known, GStreamer's words kept after them for support; credentials never echoed.
fn explain(
    spec: &SourceSpec,
    describe: &str,
    err: &gst::glib::Error,
    debug: Option<&str>,
    from: &str,
    nvmm: bool,
    rtsp: Option<&RtspSession>,
) -> Error {
    let msg = spec.scrub(err.message());
    let network = matches!(spec, SourceSpec::Rtsp { .. });
    let from = spec.scrub(from);
    let code = GstCode::of(err);
    let offers = rtsp.map(RtspSession::offers).unwrap_or_default();
    let fix: Option<std::borrow::Cow<'static, str>> = match cause_and_fix(code, &msg, debug.unwrap_or(""), network) {
        _ if rtsp.is_some() && rtsp::is_refusal(&msg) => {
            rtsp.map(|r| rtsp::refusal_hint(r.configured, &r.order[..r.tried], &offers).into())
        }
        Some(f) if f.starts_with("a decoder is missing") && nvmm => Some(NVMM_DECODER_MISSING.into()),
        Some(f) if f.starts_with("a decoder is missing") && !rtsp::video_encodings(&offers).is_empty() => Some(
            format!(
                "no installed decoder reads the camera's video ({}): install gstreamer1.0-plugins-good, -bad, -ugly \
                 and gstreamer1.0-libav, or set the camera to H.264",
                rtsp::video_encodings(&offers)
            )
            .into(),
        ),
        f => f.map(Into::into),
    };
    match fix {
        Some(fix) => {
            Error::source(format!("{describe}: {fix} (GStreamer: \"{}\" from {from})", msg.trim_end_matches('.')))
        }
        None => Error::source(format!("{describe}: {msg} (from {from})")),
    }
}

/// Memory and format of a raw video pad's caps, as far as they are fixed.
fn raw_caps(caps: &gst::CapsRef) -> Option<RawCaps> {
    let s = caps.structure(0)?;
    if !s.name().starts_with("video/") {
        return None;
    }
    let nvmm = caps.features(0).is_some_and(|f| f.contains("memory:NVMM"));
    let memory = if nvmm { FrameMemory::Nvmm } else { FrameMemory::System };
    let format = if caps.size() == 1 { s.get::<&str>("format").ok().and_then(Pixels::from_name) } else { None };
    Some(RawCaps { memory, format })
}

/// Makes `dec` (a decodebin) skip every video decoder but the Jetson hardware decoder, which
/// decodes into NVMM: a software decoder would decode into system memory, the copy an NVMM
/// stream exists to avoid. Without the hardware decoder (or for a codec it lacks) decodebin
/// reports a missing decoder, which `explain` turns into `NVMM_DECODER_MISSING`. Containers,
/// RTP depayloading and parsing stay decodebin's: the codec of a file or camera is not known
/// before it is opened, and decodebin makes the parser emit what the decoder takes (byte-stream
/// H.264/H.265 from MP4's avc, which a fixed `parsebin ! nvv4l2decoder` fails to link).
fn hardware_video_decoders_only(dec: &gst::Element) -> Result<(), String> {
    let class = gst::glib::Type::from_name("GstAutoplugSelectResult")
        .and_then(gst::glib::EnumClass::with_type)
        .ok_or("decodebin has no autoplug-select result type (GStreamer older than 1.16?)")?;
    let (try_, skip) = match (class.value_by_nick("try"), class.value_by_nick("skip")) {
        (Some(t), Some(s)) => (t.value(), s.value()),
        _ => return Err("decodebin's autoplug-select result lacks try/skip".into()),
    };
    let result_type = class.type_();
    dec.connect("autoplug-select", false, move |args| {
        let factory = args.get(3).and_then(|v| v.get::<gst::ElementFactory>().ok());
        let skip_it = factory.is_some_and(|f| {
            let klass = f.metadata(gst::ELEMENT_METADATA_KLASS).unwrap_or("");
            klass.contains("Decoder") && klass.contains("Video") && !NVMM_DECODERS.contains(&f.name().as_str())
        });
        let class = gst::glib::EnumClass::with_type(result_type)?;
        class.to_value(if skip_it { skip } else { try_ })
    });
    Ok(())
}

/// A libav (`gst-libav`) video decoder: the software decoders whose threads `max-threads` sets.
fn is_libav_video_decoder(factory: &gst::ElementFactory) -> bool {
    factory.name().starts_with("avdec_")
        && factory.has_type(gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO)
}

/// The first source pad nothing is linked to: the raw video of a source without a decodebin.
fn unlinked_src_pad(pipeline: &gst::Pipeline) -> Option<gst::Pad> {
    pipeline.iterate_elements().into_iter().flatten().find_map(|e| e.src_pads().into_iter().find(|p| !p.is_linked()))
}

/// The part of a pipeline after the source, built once the raw video's caps are known.
#[derive(Clone)]
struct Tail {
    pipeline: gst::glib::WeakRef<gst::Pipeline>,
    queue: gst::Element,
    fit: gst::Element,
    accepts: Accepts,
    scale: bool,
    /// The source part of the launch line, for the log.
    source_line: String,
}

impl Tail {
    /// Links `pad` through the conversion its caps need to the `fit` capsfilter. Runs on the
    /// streaming thread for decodebin pads.
    fn link(&self, pad: &gst::Pad, caps: RawCaps) -> Result<(), String> {
        let Some(pipeline) = self.pipeline.upgrade() else { return Ok(()) };
        let names = tail(caps, &self.accepts, self.scale);
        log::debug!("pipeline: {} (raw video {caps:?})", describe(&self.source_line, &names));
        let mut chain = vec![self.queue.clone()];
        for name in &names {
            let e = gst::ElementFactory::make(name).build().map_err(|_| {
                format!(
                    "GStreamer element {name} is missing; install gstreamer1.0-plugins-base (nvvidconv: JetPack's \
                     nvidia-l4t-gstreamer, Yocto: gstreamer1.0-plugins-nvvidconv)"
                )
            })?;
            // CUDA maps only pitch-linear surfaces; say so where the property exists (JetPack 5/6
            // default to it) rather than rely on the default.
            if *name == "nvvidconv" && e.find_property("bl-output").is_some() {
                e.set_property("bl-output", false);
            }
            pipeline.add(&e).map_err(|e| e.to_string())?;
            chain.push(e);
        }
        chain.push(self.fit.clone());
        gst::Element::link_many(chain.iter()).map_err(|e| format!("cannot link the conversion: {e}"))?;
        // Downstream first, so nothing upstream pushes into an element that is not running yet.
        for e in chain.iter().rev() {
            e.sync_state_with_parent().map_err(|e| e.to_string())?;
        }
        let sink = self.queue.static_pad("sink").ok_or("queue without sink pad")?;
        pad.link(&sink).map(|_| ()).map_err(|e| format!("cannot link the source's video: {e:?}"))
    }
}

impl GstCapture {
    /// Opens the pipeline; files are decoded up to their first frame. `stop` ends the wait for
    /// that early (shutdown), with an error the caller recognises by its raised flag.
    pub fn open(spec: &SourceSpec, opts: &CaptureOptions, stop: &AtomicBool) -> Result<GstCapture> {
        GstCapture::open_remembering(spec, opts, stop, Arc::default())
    }

    /// `open`, for an RTSP stream that has a transport memory (its reconnects): with
    /// `transport = "auto"`, the transport that worked last is tried first.
    pub fn open_remembering(
        spec: &SourceSpec,
        opts: &CaptureOptions,
        stop: &AtomicBool,
        memory: Arc<TransportMemory>,
    ) -> Result<GstCapture> {
        let session = matches!(spec, SourceSpec::Rtsp { .. }).then(|| RtspSession {
            configured: opts.launch.transport,
            order: rtsp::attempt_order(opts.launch.transport, memory.get()),
            tried: 1,
            memory,
            offers: Offers::default(),
            transport_failed: None,
            busy: 0,
            opts: opts.clone(),
        });
        GstCapture::open_attempt(spec, opts, stop, session)
    }

    /// One pipeline: for RTSP, with the session's current transport.
    fn open_attempt(
        spec: &SourceSpec,
        opts: &CaptureOptions,
        stop: &AtomicBool,
        session: Option<RtspSession>,
    ) -> Result<GstCapture> {
        init()?;
        let describe = spec.redacted();
        // A regular file: GStreamer's filesrc would block opening a FIFO and read a device.
        if let SourceSpec::File { path } = spec {
            crate::fsutil::check(path, &crate::fsutil::MEDIA)?;
        }
        let launch = LaunchOptions {
            transport: session.as_ref().map_or(opts.launch.transport, RtspSession::current),
            ..opts.launch.clone()
        };
        let line = source_part(spec, &launch);
        let element = gst::parse::launch(&line).map_err(|e| {
            Error::source(format!("{describe}: cannot build the pipeline ({e}); is GStreamer fully installed?"))
        })?;
        let pipeline = element
            .downcast::<gst::Pipeline>()
            .map_err(|_| Error::source(format!("{describe}: launch line did not make a pipeline")))?;
        if let SourceSpec::Rtsp { user, password, .. } = spec
            && let Some(src) = pipeline.by_name("src")
        {
            if let Some(u) = user {
                src.set_property("user-id", u);
            }
            if let Some(p) = password {
                src.set_property("user-pw", p);
            }
            // What the SDP offers, before SETUP: the codec behind a refusal, and `check`'s report.
            if let Some(s) = &session {
                let offers = Arc::clone(&s.offers);
                src.connect("select-stream", false, move |args| {
                    let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
                    if let (Some(o), Ok(mut list)) = (caps.as_deref().and_then(Offer::of), offers.lock()) {
                        list.push(o);
                    }
                    Some(true.to_value())
                });
            }
        }
        // The accurate integer IDCT, as libjpeg-based tools use by default (GStreamer's is "ifast").
        // Software video decoders get the configured thread count: libav's own choice (one per
        // core plus one) fights the engine for the cores (config::threads).
        let decoder_threads = opts.decoder_threads;
        pipeline.connect_deep_element_added(move |_, _, element| {
            let Some(factory) = element.factory() else {
                return;
            };
            if factory.name() == "jpegdec" {
                element.set_property_from_str("idct-method", "islow");
            } else if decoder_threads > 0
                && is_libav_video_decoder(&factory)
                && element.find_property("max-threads").is_some()
            {
                element.set_property("max-threads", i32::try_from(decoder_threads).unwrap_or(i32::MAX));
                log::debug!("{}: max-threads = {decoder_threads}", element.name());
            }
        });
        // The source's raw video: decodebin's pad once it knows the stream, or the last element's.
        let dec = pipeline.by_name("dec");
        let nvmm = nvmm_only(&opts.accepts);
        if nvmm && let Some(dec) = &dec {
            hardware_video_decoders_only(dec).map_err(|e| Error::source(format!("{describe}: {e}")))?;
        }
        let static_pad = if dec.is_none() {
            Some(
                unlinked_src_pad(&pipeline)
                    .ok_or_else(|| Error::source(format!("{describe}: the source has no video output")))?,
            )
        } else {
            None
        };
        let build = |factory: &str, name: &str| {
            gst::ElementFactory::make(factory).name(name).build().map_err(|_| {
                Error::source(format!("GStreamer element {factory} is missing; install gstreamer1.0-plugins-base"))
            })
        };
        let queue = build("queue", "tailqueue")?;
        queue.set_property("max-size-buffers", 2u32);
        let fit = build("capsfilter", "fit")?;
        let sink = build("appsink", "sink")?
            .downcast::<gst_app::AppSink>()
            .map_err(|_| Error::source("appsink is not an AppSink"))?;
        let caps = gst::Caps::from_str(&accepted_caps(&opts.accepts))
            .map_err(|e| Error::source(format!("unusable accepted caps {}: {e}", accepted_caps(&opts.accepts))))?;
        fit.set_property("caps", &caps);
        pipeline.add_many([&queue, &fit, sink.upcast_ref()]).map_err(|e| Error::source(e.to_string()))?;
        fit.link(&sink).map_err(|e| Error::source(format!("cannot link the appsink: {e}")))?;
        sink.set_property("sync", opts.sync);
        sink.set_max_buffers(if opts.leaky { 2 } else { 1 });
        sink.set_drop(opts.leaky);
        sink.set_property("emit-signals", false);
        Self::install_fit(&queue, &fit, caps, opts)?;
        let chain = Tail {
            pipeline: pipeline.downgrade(),
            queue,
            fit,
            accepts: opts.accepts.clone(),
            scale: opts.fit.is_some(),
            source_line: line.clone(),
        };
        if let Some(dec) = dec {
            // decodebin shows its pads once it knows the stream: link the first video pad.
            let linked = Arc::new(AtomicBool::new(false));
            let bus = pipeline.bus();
            dec.connect_pad_added(move |dec, pad| {
                let fail = {
                    let (bus, dec) = (bus.clone(), dec.clone());
                    move |e: String| {
                        if let Some(bus) = &bus {
                            let err = gst::message::Error::builder(gst::CoreError::Negotiation, &e).src(&dec).build();
                            let _ = bus.post(err);
                        }
                    }
                };
                // The first video pad is linked; audio and subtitles stay unlinked.
                let link = {
                    let (chain, linked) = (chain.clone(), Arc::clone(&linked));
                    move |pad: &gst::Pad, raw: RawCaps| {
                        if !linked.swap(true, Ordering::SeqCst)
                            && let Err(e) = chain.link(pad, raw)
                        {
                            fail(e);
                        }
                    }
                };
                match pad.current_caps() {
                    Some(caps) => {
                        if let Some(raw) = raw_caps(&caps) {
                            link(pad, raw);
                        }
                    }
                    // Decoders that show the pad before their caps (PNG) are linked on their
                    // first caps event, so the choice of conversion sees the real format.
                    None => {
                        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
                            let Some(gst::PadProbeData::Event(ev)) = &info.data else { return gst::PadProbeReturn::Ok };
                            match ev.view() {
                                gst::EventView::Caps(c) => {
                                    if let Some(raw) = raw_caps(c.caps()) {
                                        link(pad, raw);
                                    }
                                }
                                // A video stream that ends before its first frame (a truncated
                                // file): link anyway so the end reaches the appsink and is reported.
                                gst::EventView::Eos(_) => {
                                    let q = pad.query_caps(None);
                                    if q.is_any() || raw_caps(&q).is_some() {
                                        link(pad, RawCaps { memory: FrameMemory::System, format: None })
                                    }
                                }
                                _ => return gst::PadProbeReturn::Ok,
                            }
                            gst::PadProbeReturn::Remove
                        });
                    }
                }
            });
        } else if let Some(pad) = static_pad {
            let caps = pad.query_caps(None);
            let raw = raw_caps(&caps).unwrap_or(RawCaps { memory: FrameMemory::System, format: None });
            chain.link(&pad, raw).map_err(|e| Error::source(format!("{describe}: {e}")))?;
        }
        let bus = pipeline.bus().ok_or_else(|| Error::source("pipeline has no bus"))?;
        let mut capture = GstCapture {
            pipeline,
            sink,
            bus,
            scaled: opts.fit.is_some(),
            layout: None,
            eos_seen: false,
            max_pixels: opts.max_pixels,
            frames: 0,
            spec: spec.clone(),
            nvmm,
            describe,
            rtsp: session,
        };
        if capture.pipeline.set_state(gst::State::Playing).is_err() {
            // The reason is on the bus.
            capture.check_bus(Duration::from_millis(500))?;
            return Err(Error::source(format!("{}: the pipeline refused to start", capture.describe)));
        }
        if matches!(spec, SourceSpec::File { .. }) {
            // Files preroll: wait for it so an unreadable or non-video file fails here, at open.
            capture.preroll(stop)?;
        }
        Ok(capture)
    }

    /// Waits for the pipeline to preroll, in short steps: a stop request ends the wait, and a
    /// wake-up of GStreamer's state wait by a signal (which it reports as a failed state change
    /// while the change is still under way) is not taken for a failure.
    fn preroll(&mut self, stop: &AtomicBool) -> Result<()> {
        let deadline = Instant::now() + PREROLL_TIMEOUT;
        loop {
            let (res, current, pending) = self.pipeline.state(gst::ClockTime::from_mseconds(100));
            match res {
                Ok(gst::StateChangeSuccess::Async) => {}
                Ok(_) => return Ok(()),
                Err(_) => {
                    // A real failure posts its reason on the bus, or leaves nothing pending.
                    self.check_bus(Duration::ZERO)?;
                    if pending == gst::State::VoidPending && current < gst::State::Paused {
                        self.check_bus(Duration::from_millis(500))?;
                        return Err(Error::source(format!("{}: cannot be decoded", self.describe)));
                    }
                }
            }
            if stop.load(Ordering::SeqCst) {
                return Err(Error::source(format!("{}: opening stopped (shutdown)", self.describe)));
            }
            if Instant::now() >= deadline {
                self.check_bus(Duration::from_millis(500))?;
                return Err(Error::source(format!(
                    "{}: no frame decoded within {} s; the file may be damaged or on a stalled disk or mount",
                    self.describe,
                    PREROLL_TIMEOUT.as_secs()
                )));
            }
        }
    }

    /// Watches the caps entering the tail: refuses frames above the size limit and, with `fit`,
    /// asks the scaler for the size the letterbox would produce and tags every buffer with its
    /// size before scaling (frames in flight keep theirs when a camera changes resolution).
    fn install_fit(
        queue: &gst::Element,
        fit_filter: &gst::Element,
        accepted: gst::Caps,
        opts: &CaptureOptions,
    ) -> Result<()> {
        let sink = queue.static_pad("sink").ok_or_else(|| Error::source("queue without sink pad"))?;
        let src = queue.static_pad("src").ok_or_else(|| Error::source("queue without src pad"))?;
        let max_pixels = opts.max_pixels;
        // Entering the queue: refuse frames above the limit, and tag each buffer with the size
        // of the caps it came with (its size before any scaling).
        let current: Arc<Mutex<Option<gst::Caps>>> = Arc::default();
        if opts.fit.is_some() {
            let current = Arc::clone(&current);
            sink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let tag = current.lock().ok().and_then(|c| c.clone());
                if let (Some(tag), Some(gst::PadProbeData::Buffer(buffer))) = (tag, &mut info.data) {
                    gst::ReferenceTimestampMeta::add(
                        buffer.make_mut(),
                        &tag,
                        gst::ClockTime::ZERO,
                        gst::ClockTime::NONE,
                    );
                }
                gst::PadProbeReturn::Ok
            });
        }
        sink.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
            if let Some((w, h)) = caps_event_size(info) {
                // Refused before any buffer of that size reaches a converter or the preprocessor.
                if let Err(e) = frame_size_allowed(w, h, max_pixels)
                    && let Some(parent) = pad.parent_element()
                {
                    let msg = gst::message::Error::builder(gst::StreamError::Format, &e).src(&parent).build();
                    let _ = parent.post_message(msg);
                    return gst::PadProbeReturn::Drop;
                }
                if let Ok(mut c) = current.lock() {
                    *c = Some(
                        gst::Caps::builder(SOURCE_SIZE).field("width", w as i32).field("height", h as i32).build(),
                    );
                }
            }
            gst::PadProbeReturn::Ok
        });
        // Leaving the queue, in order with the buffers: the scaler's target changes only once the
        // frames of the previous size have gone through it (a camera that changes resolution).
        if let Some(f) = opts.fit {
            let fit_filter = fit_filter.clone();
            src.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some((w, h)) = caps_event_size(info) {
                    let g = Geometry::new(w, h, f.width, f.height, f.letterbox);
                    let mut caps = accepted.clone();
                    if g.new_w < w && g.new_h <= h || g.new_h < h && g.new_w <= w {
                        let caps = caps.make_mut();
                        for s in caps.iter_mut() {
                            s.set("width", g.new_w as i32);
                            s.set("height", g.new_h as i32);
                        }
                    }
                    fit_filter.set_property("caps", caps);
                }
                gst::PadProbeReturn::Ok
            });
        }
        Ok(())
    }

    /// Returns an error posted on the bus, or Ok(true) at end of stream, waiting up to `wait`.
    ///
    /// Every other message is taken off the bus and dropped: a bus nobody empties keeps every
    /// state change, tag and stream-status message of a long-running pipeline in memory.
    fn check_bus(&mut self, wait: Duration) -> Result<bool> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(msg) = self.bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else {
                break;
            };
            match msg.view() {
                gst::MessageView::Error(e) => {
                    let from = msg.src().map(|s| s.name().to_string()).unwrap_or_else(|| "pipeline".into());
                    let debug = e.debug().map(|d| d.to_string());
                    let error = e.error();
                    if let Some(r) = &mut self.rtsp {
                        let m = error.message();
                        let d = debug.as_deref().unwrap_or("");
                        r.transport_failed = (from == "src").then(|| rtsp::TransportFailure::of(m, d)).flatten();
                    }
                    let (spec, rtsp) = (&self.spec, self.rtsp.as_ref());
                    return Err(explain(spec, &self.describe, &error, debug.as_deref(), &from, self.nvmm, rtsp));
                }
                gst::MessageView::Warning(w) => {
                    log::warn!("{}: {}", self.describe, self.spec.scrub(&w.error().to_string()))
                }
                gst::MessageView::Eos(_) => self.eos_seen = true,
                _ => {}
            }
        }
        Ok(self.eos_seen)
    }

    /// Waits up to `timeout` for the next frame. An RTSP source whose server refuses the
    /// transport before the first frame is opened again with the next one of `transport = "auto"`
    /// (reported as a timeout: the attempt goes on).
    pub fn pull(&mut self, timeout: Duration) -> Result<Pull> {
        match self.pull_frame(timeout) {
            Err(e) => match self.rtsp.as_ref().filter(|_| self.frames == 0).and_then(RtspSession::next) {
                Some(next) => {
                    self.switch_transport(next)?;
                    Ok(Pull::Timeout)
                }
                None => Err(e),
            },
            Ok(Pull::Frame(f)) => {
                if f.index == 0 {
                    self.first_frame(&f);
                }
                Ok(Pull::Frame(f))
            }
            other => other,
        }
    }

    /// Opens the source again with `next`, the following transport of this connection attempt.
    fn switch_transport(&mut self, next: Transport) -> Result<()> {
        let Some(mut session) = self.rtsp.take() else { return Ok(()) };
        // The refused session is closed before the next one opens (servers count sessions).
        let _ = self.pipeline.set_state(gst::State::Null);
        match session.transport_failed {
            Some(rtsp::TransportFailure::Busy) => {
                log::debug!("{}: the server is busy (503); asking for {} again", self.describe, next.label());
                session.busy += 1;
                std::thread::sleep(BUSY_PAUSE);
            }
            failed => {
                let failed = match failed {
                    Some(rtsp::TransportFailure::UdpSilent) => "no RTP arrived over UDP".to_string(),
                    _ => format!("the server refused RTP over {}", session.current().label()),
                };
                log::info!("{}: {failed}; trying {} (transport = \"auto\")", self.describe, next.label());
                session.tried += 1;
            }
        }
        session.transport_failed = None;
        session.offers = Offers::default();
        let opts = session.opts.clone();
        let spec = self.spec.clone();
        *self = GstCapture::open_attempt(&spec, &opts, &AtomicBool::new(false), Some(session))?;
        Ok(())
    }

    /// An RTSP connection's first frame: its transport is remembered for the stream's reconnects.
    fn first_frame(&self, f: &Frame) {
        let Some(s) = &self.rtsp else { return };
        s.memory.set(s.current());
        let line = format!("{}: {}, {}x{}", self.describe, self.answer().unwrap_or_default(), f.width, f.height);
        if s.configured == Transport::Auto {
            log::info!("{line} (transport = \"auto\")");
        } else {
            log::debug!("{line}");
        }
    }

    /// How an RTSP source answered: the transport and the video the server offered
    /// (`RTP over TCP, H264`); None for other sources.
    pub fn answer(&self) -> Option<String> {
        let s = self.rtsp.as_ref()?;
        let video = rtsp::video_encodings(&s.offers());
        let video = if video.is_empty() { "video".to_string() } else { video };
        Some(format!("RTP over {}, {video}", s.current().label()))
    }

    /// The transport memory of an RTSP stream, for its reconnects (`open_remembering`).
    pub fn transport_memory(&self) -> Option<Arc<TransportMemory>> {
        self.rtsp.as_ref().map(|s| Arc::clone(&s.memory))
    }

    fn pull_frame(&mut self, timeout: Duration) -> Result<Pull> {
        let Some(sample) = self.sink.try_pull_sample(gst::ClockTime::from_mseconds(timeout.as_millis() as u64)) else {
            if self.check_bus(Duration::ZERO)? || self.sink.is_eos() {
                // An error can follow the EOS of a broken file: give it a moment to arrive.
                self.check_bus(Duration::from_millis(20))?;
                return Ok(Pull::Eos);
            }
            return Ok(Pull::Timeout);
        };
        let captured = Instant::now();
        // Errors surface as soon as they are posted, and the bus never grows.
        self.check_bus(Duration::ZERO)?;
        let caps = sample.caps().ok_or_else(|| Error::source(format!("{}: frame without caps", self.describe)))?;
        let stale = self.layout.as_ref().is_none_or(|(c, ..)| c.as_ptr() != caps.as_ptr());
        if stale {
            let info = gst_video::VideoInfo::from_caps(caps)
                .map_err(|_| Error::source(format!("{}: unusable frame caps {caps}", self.describe)))?;
            let format = pixel_format(&info).ok_or_else(|| {
                Error::source(format!("{}: unexpected pixel format {}", self.describe, info.format()))
            })?;
            frame_size_allowed(info.width(), info.height(), self.max_pixels)
                .map_err(|e| Error::source(format!("{}: {e}", self.describe)))?;
            let memory = raw_caps(caps).map_or(FrameMemory::System, |r| r.memory);
            self.layout = Some((caps.to_owned(), info, format, memory));
        }
        let Some((_, info, format, memory)) = &self.layout else {
            return Err(Error::source(format!("{}: frame layout unknown", self.describe)));
        };
        let (w, h, format, memory) = (info.width(), info.height(), *format, *memory);
        let buffer =
            sample.buffer().ok_or_else(|| Error::source(format!("{}: sample without buffer", self.describe)))?;
        // A video meta (decoder-chosen strides) wins over the default layout of the caps.
        let mut offsets = [0usize; 3];
        let mut strides = [0usize; 3];
        let mut copy = |offs: &[usize], st: &[i32]| {
            for i in 0..offs.len().min(3) {
                offsets[i] = offs[i];
                strides[i] = st.get(i).copied().unwrap_or(0).max(0) as usize;
            }
        };
        match buffer.meta::<gst_video::VideoMeta>() {
            Some(m) => copy(m.offset(), m.stride()),
            None => copy(info.offset(), info.stride()),
        }
        let pts_ms = buffer.pts().map(|t| t.mseconds());
        // The size this very frame was decoded at: its own caps, or the tag it got before scaling.
        let (sw, sh) = if self.scaled { source_size_of(buffer).unwrap_or((w, h)) } else { (w, h) };
        let index = self.frames;
        self.frames += 1;
        Ok(Pull::Frame(Frame {
            sample,
            width: w,
            height: h,
            format,
            memory,
            offsets,
            strides,
            source_width: sw,
            source_height: sh,
            index,
            pts_ms,
            captured,
            session: 0,
        }))
    }

    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// `max-threads` of the pipeline's libav video decoder (0 = libav's choice), once decodebin
    /// has made it (a file: when `open` returns); None without one (hardware decoders, images,
    /// test patterns).
    pub fn decoder_threads(&self) -> Option<u32> {
        self.pipeline.iterate_recurse().into_iter().flatten().find_map(|e| {
            let libav = e.factory().is_some_and(|f| is_libav_video_decoder(&f));
            (libav && e.find_property("max-threads").is_some())
                .then(|| u32::try_from(e.property::<i32>("max-threads")).unwrap_or(0))
        })
    }
}

impl Drop for GstCapture {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
