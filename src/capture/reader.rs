//! One GStreamer pipeline ending in an appsink, pulled frame by frame.
//!
//! Errors and end-of-stream from the bus are reported to the caller as such; nothing is swallowed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::gst::{LaunchOptions, format_name, launch};
use super::uri::SourceSpec;
use crate::error::{Error, Result};
use crate::preprocess::{
    ChannelOrder, FrameView, Geometry, Letterbox, Matrix, PixelFormat, YuvCoefficients, YuvConversion,
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
    pub order: ChannelOrder,
    /// When set, frames are scaled down in the pipeline (never up) before conversion.
    pub fit: Option<Fit>,
    pub launch: LaunchOptions,
    /// Deliver frames at their timestamps (a file played like a camera) instead of as fast as pulled.
    pub sync: bool,
    /// Let the appsink drop old frames if nobody pulls (live sources; a backstop, the caller's
    /// mailbox does the counted dropping).
    pub leaky: bool,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            order: ChannelOrder::Bgr,
            fit: None,
            launch: LaunchOptions::default(),
            sync: false,
            leaky: false,
        }
    }
}

/// A decoded frame: the GStreamer sample (no copy) and what is needed to read it.
pub struct Frame {
    sample: gst::Sample,
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
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
}

impl Frame {
    /// Maps the buffer and hands a view of it to `f`.
    pub fn with_view<R>(&self, f: impl FnOnce(FrameView<'_>) -> R) -> Result<R> {
        let buffer = self.sample.buffer().ok_or_else(|| Error::source("sample without a buffer"))?;
        let map = buffer.map_readable().map_err(|_| Error::source("cannot map a video buffer for reading"))?;
        Ok(f(FrameView {
            data: map.as_slice(),
            width: self.width,
            height: self.height,
            format: self.format,
            offsets: self.offsets,
            strides: self.strides,
        }))
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
    /// Source size as (width << 32 | height), written by the caps probe.
    source_size: Arc<AtomicU64>,
    /// Layout of the current caps, recomputed only when the caps change.
    layout: Option<(gst::Caps, gst_video::VideoInfo, PixelFormat)>,
    /// End of stream was posted; the appsink may still hold frames.
    eos_seen: bool,
    frames: u64,
    describe: String,
}

/// Formats the appsink takes, best first: I420 as decoders produce it (converted exactly in the
/// preprocessor), else packed in the model's channel order, else the other one.
fn accepted_formats(order: ChannelOrder) -> [&'static str; 3] {
    let other = match order {
        ChannelOrder::Bgr => ChannelOrder::Rgb,
        ChannelOrder::Rgb => ChannelOrder::Bgr,
    };
    ["I420", format_name(order), format_name(other)]
}

/// How the preprocessor reads a frame of these caps.
fn pixel_format(info: &gst_video::VideoInfo) -> Option<PixelFormat> {
    match info.format() {
        gst_video::VideoFormat::I420 => {
            let c = info.colorimetry();
            let matrix = match c.matrix() {
                gst_video::VideoColorMatrix::Bt709 => Matrix::Bt709,
                gst_video::VideoColorMatrix::Bt2020 => Matrix::Bt2020,
                _ => Matrix::Bt601,
            };
            let full = c.range() == gst_video::VideoColorRange::Range0_255;
            // JPEG (full range, JPEG chroma siting) is converted as libjpeg does; video as swscale.
            if full && info.chroma_site() == gst_video::VideoChromaSite::JPEG {
                Some(PixelFormat::I420(YuvConversion::Jpeg))
            } else {
                Some(PixelFormat::I420(YuvConversion::Video(YuvCoefficients::new(matrix, full))))
            }
        }
        gst_video::VideoFormat::Bgr => Some(PixelFormat::Packed(ChannelOrder::Bgr)),
        gst_video::VideoFormat::Rgb => Some(PixelFormat::Packed(ChannelOrder::Rgb)),
        _ => None,
    }
}

fn pack(w: u32, h: u32) -> u64 {
    ((w as u64) << 32) | h as u64
}

/// One line out of a GStreamer error message, with a hint for the common causes.
fn explain(describe: &str, err: &gst::glib::Error, debug: Option<&str>, from: &str) -> Error {
    let msg = err.message();
    let debug = debug.unwrap_or("");
    let hint = if err.matches(gst::CoreError::MissingPlugin)
        || err.matches(gst::StreamError::CodecNotFound)
        || msg.contains("missing a plug-in")
    {
        "; a decoder is missing: install gstreamer1.0-plugins-good, -bad, -ugly and gstreamer1.0-libav"
    } else if err.matches(gst::StreamError::TypeNotFound) || err.matches(gst::StreamError::WrongType) {
        "; the file is not a video or image GStreamer can decode"
    } else if debug.contains("not-linked") {
        "; the input has no decodable video stream"
    } else if err.matches(gst::ResourceError::NotFound) || err.matches(gst::ResourceError::OpenRead) {
        "; check the path or address and that it is readable"
    } else if err.matches(gst::ResourceError::NotAuthorized) {
        "; check the user and password of the stream"
    } else {
        ""
    };
    Error::source(format!("{describe}: {msg} (from {from}){hint}"))
}

impl GstCapture {
    pub fn open(spec: &SourceSpec, opts: &CaptureOptions) -> Result<GstCapture> {
        init()?;
        let describe = spec.to_string();
        if let SourceSpec::File { path } = spec {
            let meta = std::fs::metadata(path)
                .map_err(|e| Error::source(format!("{}: {e}; check the path", path.display())))?;
            if meta.is_dir() {
                return Err(Error::source(format!("{} is a directory, not a video or image file", path.display())));
            }
        }
        let line = launch(spec, &opts.launch);
        log::debug!("pipeline for {describe}: {line}");
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
        }
        // The accurate integer IDCT, as libjpeg-based tools use by default (GStreamer's is "ifast").
        pipeline.connect_deep_element_added(|_, _, element| {
            if element.factory().is_some_and(|f| f.name() == "jpegdec") {
                element.set_property_from_str("idct-method", "islow");
            }
        });
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| Error::source("pipeline has no appsink"))?;
        sink.set_property("sync", opts.sync);
        sink.set_max_buffers(if opts.leaky { 2 } else { 1 });
        sink.set_drop(opts.leaky);
        sink.set_property("emit-signals", false);
        let source_size = Arc::new(AtomicU64::new(0));
        Self::install_fit(&pipeline, opts, Arc::clone(&source_size))?;
        let bus = pipeline.bus().ok_or_else(|| Error::source("pipeline has no bus"))?;
        let mut capture =
            GstCapture { pipeline, sink, bus, source_size, layout: None, eos_seen: false, frames: 0, describe };
        if capture.pipeline.set_state(gst::State::Playing).is_err() {
            // The reason is on the bus.
            capture.check_bus(Duration::from_millis(500))?;
            return Err(Error::source(format!("{}: the pipeline refused to start", capture.describe)));
        }
        if matches!(spec, SourceSpec::File { .. }) {
            // Files preroll: wait for it so an unreadable or non-video file fails here, at open.
            let (res, _, _) = capture.pipeline.state(gst::ClockTime::from_seconds(10));
            if res.is_err() {
                capture.check_bus(Duration::from_millis(500))?;
                return Err(Error::source(format!("{}: cannot be decoded", capture.describe)));
            }
        }
        Ok(capture)
    }

    /// Watches the caps entering the scaler: records the source size and, with `fit`, asks the
    /// scaler for the size the letterbox would produce.
    fn install_fit(pipeline: &gst::Pipeline, opts: &CaptureOptions, size: Arc<AtomicU64>) -> Result<()> {
        let scaler = pipeline
            .iterate_elements()
            .into_iter()
            .flatten()
            .find(|e| e.factory().is_some_and(|f| f.name() == "videoscale"))
            .ok_or_else(|| Error::source("pipeline has no videoscale"))?;
        let fit_filter = pipeline.by_name("fit").ok_or_else(|| Error::source("pipeline has no fit capsfilter"))?;
        let pad = scaler.static_pad("sink").ok_or_else(|| Error::source("videoscale without sink pad"))?;
        let fit = opts.fit;
        let formats = accepted_formats(opts.order);
        fit_filter
            .set_property("caps", gst::Caps::builder("video/x-raw").field("format", gst::List::new(formats)).build());
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data
                && let gst::EventView::Caps(c) = ev.view()
                && let Some(s) = c.caps().structure(0)
                && let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height"))
                && w > 0
                && h > 0
            {
                let (w, h) = (w as u32, h as u32);
                size.store(pack(w, h), Ordering::SeqCst);
                let mut caps = gst::Caps::builder("video/x-raw").field("format", gst::List::new(formats));
                if let Some(f) = fit {
                    let g = Geometry::new(w, h, f.width, f.height, f.letterbox);
                    if g.new_w < w && g.new_h <= h || g.new_h < h && g.new_w <= w {
                        caps = caps.field("width", g.new_w as i32).field("height", g.new_h as i32);
                    }
                }
                fit_filter.set_property("caps", caps.build());
            }
            gst::PadProbeReturn::Ok
        });
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
                    return Err(explain(&self.describe, &e.error(), debug.as_deref(), &from));
                }
                gst::MessageView::Warning(w) => log::warn!("{}: {}", self.describe, w.error()),
                gst::MessageView::Eos(_) => self.eos_seen = true,
                _ => {}
            }
        }
        Ok(self.eos_seen)
    }

    /// Waits up to `timeout` for the next frame.
    pub fn pull(&mut self, timeout: Duration) -> Result<Pull> {
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
        let stale = self.layout.as_ref().is_none_or(|(c, _, _)| c.as_ptr() != caps.as_ptr());
        if stale {
            let info = gst_video::VideoInfo::from_caps(caps)
                .map_err(|_| Error::source(format!("{}: unusable frame caps {caps}", self.describe)))?;
            let format = pixel_format(&info).ok_or_else(|| {
                Error::source(format!("{}: unexpected pixel format {}", self.describe, info.format()))
            })?;
            self.layout = Some((caps.to_owned(), info, format));
        }
        let Some((_, info, format)) = &self.layout else {
            return Err(Error::source(format!("{}: frame layout unknown", self.describe)));
        };
        let (w, h, format) = (info.width(), info.height(), *format);
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
        let packed = self.source_size.load(Ordering::SeqCst);
        let (sw, sh) = if packed == 0 { (w, h) } else { ((packed >> 32) as u32, packed as u32) };
        let index = self.frames;
        self.frames += 1;
        Ok(Pull::Frame(Frame {
            sample,
            width: w,
            height: h,
            format,
            offsets,
            strides,
            source_width: sw,
            source_height: sh,
            index,
            pts_ms,
            captured,
        }))
    }

    pub fn describe(&self) -> &str {
        &self.describe
    }
}

impl Drop for GstCapture {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
