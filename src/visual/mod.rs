//! `[visualise]`: the processed frames of chosen streams with their boxes, labels and track IDs
//! drawn, H.264-encoded to a file and/or to RTSP mounts served by edgesight itself
//! (`rtsp://<rtsp_listen>/<stream>`), for installation and demos. Off unless configured.
//!
//! The inference loop calls [`Visualiser::frame`] after a frame's detections are known. It draws
//! on a copy of the frame (the frame the engine reads is never written) and hands the copy to an
//! `appsrc`; converting, scaling, encoding and sending run on GStreamer's own threads. It never
//! waits: when an encoder still holds `QUEUE` frames, the new one is dropped and counted. A
//! stream whose RTSP mount has no client (and no file) is not drawn or encoded at all.

pub mod draw;
mod rtsp;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::capture::Frame;
use crate::config::VisualiseConfig;
use crate::detect::Detection;
use crate::detect::labels::Labels;
use crate::error::{Error, Result};
use crate::preprocess::{ChannelOrder, FrameData, RowScratch};

/// Annotated frames an encoder may hold before new ones are dropped.
pub const QUEUE: u64 = 4;

/// What became of one processed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Not visualised: stream not chosen, above the fps cap, or nobody watching.
    Skipped,
    /// Drawn and handed to at least one encoder.
    Sent,
    /// An encoder was behind: not drawn, counted.
    Dropped,
}

/// The encoding part of a launch line: from the annotated frames to H.264.
fn encode_line(cfg: &VisualiseConfig) -> String {
    // A key frame every 2 s of visualised frames: a client joining sees a picture quickly.
    let key = ((cfg.fps * 2.0).round() as u32).max(1);
    format!(
        "appsrc name=src format=time ! {}videoconvert ! videoscale ! \
         capsfilter name=scale ! videoconvert ! video/x-raw,format=I420 ! \
         x264enc tune=zerolatency speed-preset=ultrafast bitrate={} key-int-max={key} ! h264parse",
        test_delay(),
        cfg.bitrate_kbps
    )
}

/// Test builds only (feature `test-hooks`): `EDGESIGHT_TEST_VISUAL_DELAY_MS` makes the encoder
/// spend that long on every frame (a device out of CPU), so that the drop path is tested end to
/// end (tests/visualise.rs). Release builds have no such element in the line.
fn test_delay() -> String {
    #[cfg(feature = "test-hooks")]
    if let Some(ms) = std::env::var("EDGESIGHT_TEST_VISUAL_DELAY_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
        log::warn!("test hook active: the visualisation encoder takes {ms} ms per frame");
        return format!("identity sleep-time={} ! ", ms.saturating_mul(1000));
    }
    String::new()
}

/// An `appsrc` fed with annotated frames, and the capsfilter that scales them.
#[derive(Clone)]
struct Input {
    src: gst_app::AppSrc,
    scale: gst::Element,
    /// The (width, height) its caps were set for.
    size: Option<(u32, u32)>,
}

impl Input {
    fn from_bin(bin: &gst::Bin) -> Option<Input> {
        let src = bin.by_name("src")?.downcast::<gst_app::AppSrc>().ok()?;
        let scale = bin.by_name("scale")?;
        src.set_property("block", false);
        src.set_property("max-buffers", QUEUE);
        Some(Input { src, scale, size: None })
    }

    /// Sets the caps for a `w × h` BGR frame (and the scaled size) when they change.
    fn configure(&mut self, w: u32, h: u32, width: Option<u32>) {
        if self.size == Some((w, h)) {
            return;
        }
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", "BGR")
            .field("width", w as i32)
            .field("height", h as i32)
            .field("framerate", gst::Fraction::new(0, 1))
            .build();
        self.src.set_caps(Some(&caps));
        if let Some(tw) = width.filter(|&tw| tw < w) {
            let th = ((h as f64 * tw as f64 / w as f64 / 2.0).round() as i32 * 2).max(2);
            let scaled = gst::Caps::builder("video/x-raw").field("width", tw as i32).field("height", th).build();
            self.scale.set_property("caps", &scaled);
        }
        self.size = Some((w, h));
    }

    fn behind(&self) -> bool {
        self.src.property::<u64>("current-level-buffers") >= QUEUE
    }
}

/// An encoder writing a file.
struct FileOut {
    pipeline: gst::Pipeline,
    input: Input,
    path: PathBuf,
    /// The first frame's stream time, and the last timestamp given.
    first_ms: Option<u64>,
    last: Option<gst::ClockTime>,
}

impl FileOut {
    fn open(cfg: &VisualiseConfig, path: &Path) -> Result<FileOut> {
        let mux = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("mp4") => "mp4mux",
            _ => "matroskamux",
        };
        let line = format!("{} ! {mux} ! filesink name=file", encode_line(cfg));
        let fail = |e: &dyn std::fmt::Display| {
            Error::output(format!("visualise.file {}: cannot start the encoder: {e}", path.display()))
        };
        let pipeline = gst::parse::launch(&line)
            .map_err(|e| fail(&e))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| fail(&"not a pipeline"))?;
        let input = Input::from_bin(pipeline.upcast_ref()).ok_or_else(|| fail(&"no appsrc"))?;
        if let Some(sink) = pipeline.by_name("file") {
            sink.set_property("location", path.to_string_lossy().to_string());
        }
        pipeline.set_state(gst::State::Playing).map_err(|e| fail(&e))?;
        Ok(FileOut { pipeline, input, path: path.to_path_buf(), first_ms: None, last: None })
    }

    /// Stream time as the file's timestamps: from 0, always increasing (a looped file restarts
    /// its stream time; its frames follow on at `fps`).
    fn stamp(&mut self, pts_ms: Option<u64>, fps: f64) -> gst::ClockTime {
        let step = gst::ClockTime::from_nseconds((1e9 / fps.max(0.1)) as u64);
        let at = match (pts_ms, self.first_ms) {
            (Some(p), Some(f)) if p >= f => Some(gst::ClockTime::from_mseconds(p - f)),
            (Some(p), None) => {
                self.first_ms = Some(p);
                Some(gst::ClockTime::ZERO)
            }
            _ => None,
        };
        let t = match (at, self.last) {
            (Some(t), Some(l)) if t > l => t,
            (Some(t), None) => t,
            (_, Some(l)) => l + step,
            (None, None) => gst::ClockTime::ZERO,
        };
        self.last = Some(t);
        t
    }

    /// Ends the file (the MP4 index is written at end of stream), waiting at most `timeout`.
    fn finish(&self, timeout: Duration) {
        let _ = self.input.src.end_of_stream();
        if let Some(bus) = self.pipeline.bus() {
            let t = gst::ClockTime::from_nseconds(timeout.as_nanos() as u64);
            match bus.timed_pop_filtered(Some(t), &[gst::MessageType::Eos, gst::MessageType::Error]) {
                Some(m) if m.type_() == gst::MessageType::Eos => {}
                Some(m) => log::warn!("visualise.file {}: {:?}", self.path.display(), m.view()),
                None => log::warn!("visualise.file {}: not finished within {timeout:?}", self.path.display()),
            }
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Per visualised stream.
struct Output {
    /// The file being written, to tell a new stream's file from the running ones.
    path: Option<PathBuf>,
    file: Option<FileOut>,
    /// The RTSP mount's input while a client is connected.
    mount: Option<Arc<Mutex<Option<Input>>>>,
    /// Stream time (ms) of the last frame shown, for the fps cap.
    last_ms: Option<u64>,
}

/// The visualisation of a run.
pub struct Visualiser {
    cfg: VisualiseConfig,
    outputs: HashMap<String, Output>,
    server: Option<rtsp::Server>,
    scratch: RowScratch,
    warned_memory: bool,
}

impl Visualiser {
    /// Opens the file outputs and the RTSP server for `streams` (the enabled streams' names):
    /// the port is bound here, so a busy one fails the start.
    pub fn start(cfg: &VisualiseConfig, streams: &[String]) -> Result<Visualiser> {
        gst::init().map_err(|e| Error::output(format!("GStreamer: {e}")))?;
        missing_elements(cfg)?;
        let shown: Vec<&String> = streams.iter().filter(|s| cfg.shows(s)).collect();
        let mut outputs = HashMap::new();
        let mut server = match cfg.rtsp_listen {
            Some(addr) => Some(rtsp::Server::start(addr)?),
            None => None,
        };
        for name in &shown {
            let path = cfg.file.as_ref().map(|p| file_for(p, name, shown.len()));
            let file = match &path {
                Some(p) => Some(FileOut::open(cfg, p)?),
                None => None,
            };
            let mount = server.as_mut().map(|s| s.mount(name, &encode_line(cfg)));
            outputs.insert((*name).clone(), Output { path, file, mount, last_ms: None });
        }
        if let (Some(s), Some(addr)) = (&server, cfg.rtsp_listen) {
            let names: Vec<&str> = shown.iter().map(|s| s.as_str()).collect();
            log::info!(
                "visualisation: rtsp://{addr}/{{{}}} (port {})",
                names.join(","),
                s.port().map_or_else(|| "?".into(), |p| p.to_string())
            );
        }
        Ok(Visualiser { cfg: cfg.clone(), outputs, server, scratch: RowScratch::default(), warned_memory: false })
    }

    /// The first half of a reload that changes the streams (`streams`: the new configuration's
    /// enabled streams' names): opens the files of the streams shown now and not before, so
    /// that a file that cannot be opened refuses the reload while nothing running has changed.
    /// Which streams are shown follows the running `[visualise]` (a changed table takes effect
    /// at a restart). A stream that goes on (even restarted by the reload) keeps its outputs.
    pub fn prepare(&self, streams: &[String]) -> Result<Restream> {
        let shown: Vec<&String> = streams.iter().filter(|s| self.cfg.shows(s)).collect();
        let close: Vec<String> = self.outputs.keys().filter(|n| !shown.iter().any(|s| s == n)).cloned().collect();
        let mut open = Vec::new();
        for name in shown.iter().filter(|s| !self.outputs.contains_key(s.as_str())) {
            let file = match &self.cfg.file {
                Some(p) => {
                    // The name a start with these streams would give, unless a running output
                    // (kept, or closing only at commit) writes that file: then `<stem>-<stream>`.
                    let mut path = file_for(p, name, shown.len());
                    if self.outputs.values().any(|o| o.path.as_ref() == Some(&path)) {
                        path = file_for(p, name, 2);
                    }
                    Some(FileOut::open(&self.cfg, &path)?)
                }
                None => None,
            };
            open.push(((*name).clone(), file));
        }
        Ok(Restream { open, close })
    }

    /// The second half: ends the outputs of the streams no longer shown (the file finished, its
    /// index written; live viewers get the end of the stream and the mount is removed) and
    /// starts those of the new ones (their files already open, their mounts added now).
    pub fn commit(&mut self, r: Restream) -> String {
        let mut summary = Vec::new();
        for name in r.close {
            if let Some(mut out) = self.outputs.remove(&name) {
                if let Some(f) = out.file.take() {
                    f.finish(Duration::from_secs(10));
                }
                if let Some(m) = out.mount.take() {
                    if let Some(input) = m.lock().unwrap_or_else(|p| p.into_inner()).take() {
                        let _ = input.src.end_of_stream();
                    }
                    if let Some(s) = self.server.as_mut() {
                        s.unmount(&name);
                    }
                }
                summary.push(format!("-{name}"));
            }
        }
        for (name, file) in r.open {
            let path = file.as_ref().map(|f| f.path.clone());
            let mount = self.server.as_mut().map(|s| s.mount(&name, &encode_line(&self.cfg)));
            summary.push(format!("+{name}"));
            self.outputs.insert(name, Output { path, file, mount, last_ms: None });
        }
        summary.join(" ")
    }

    /// Shows one processed frame of `stream` with its reported detections and their track IDs.
    pub fn frame(
        &mut self,
        stream: &str,
        frame: &Frame,
        found: &[Detection],
        ids: &[Option<u32>],
        labels: &Labels,
    ) -> Shown {
        let Some(out) = self.outputs.get_mut(stream) else { return Shown::Skipped };
        // The fps cap, in stream time (a stream time going back, a loop or reconnect, restarts it).
        if let (Some(p), Some(l)) = (frame.pts_ms, out.last_ms)
            && p >= l
            && ((p - l) as f64) < 1000.0 / self.cfg.fps - 0.5
        {
            return Shown::Skipped;
        }
        let live = out.mount.as_ref().and_then(|m| m.lock().unwrap_or_else(|p| p.into_inner()).clone());
        if out.file.is_none() && live.is_none() {
            return Shown::Skipped;
        }
        let file_behind = out.file.as_ref().is_some_and(|f| f.input.behind());
        let live_behind = live.as_ref().is_some_and(Input::behind);
        if (out.file.is_none() || file_behind) && (live.is_none() || live_behind) {
            return Shown::Dropped;
        }
        out.last_ms = frame.pts_ms;
        let Some(buffer) = annotate(frame, found, ids, labels, &mut self.scratch, &mut self.warned_memory) else {
            return Shown::Skipped;
        };
        let (w, h) = (frame.width, frame.height);
        let mut sent = false;
        if let Some(f) = out.file.as_mut().filter(|f| !f.input.behind()) {
            let mut b = buffer.copy();
            let t = f.stamp(frame.pts_ms, self.cfg.fps);
            if let Some(b) = b.get_mut() {
                b.set_pts(t);
            }
            f.input.configure(w, h, self.cfg.width);
            sent |= f.input.src.push_buffer(b).is_ok();
        }
        if let (Some(mount), Some(_)) = (&out.mount, live.filter(|l| !l.behind())) {
            let mut guard = mount.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(input) = guard.as_mut() {
                input.configure(w, h, self.cfg.width);
                sent |= input.src.push_buffer(buffer).is_ok();
            }
        }
        if sent { Shown::Sent } else { Shown::Dropped }
    }

    /// Ends the files (their index written) and stops the RTSP server.
    pub fn finish(&mut self) {
        for out in self.outputs.values_mut() {
            if let Some(f) = out.file.take() {
                f.finish(Duration::from_secs(10));
            }
        }
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

impl Drop for Visualiser {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The visualised streams a reload adds (with their files, already open) and removes.
pub struct Restream {
    open: Vec<(String, Option<FileOut>)>,
    close: Vec<String>,
}

impl Restream {
    /// Whether the reload changes any visualised stream.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.close.is_empty()
    }
}

/// Every element the encoders need is installed: checked at start, as an RTSP mount's pipeline
/// is only built when a viewer connects.
fn missing_elements(cfg: &VisualiseConfig) -> Result<()> {
    let mut need = vec![
        ("appsrc", "gstreamer1.0-plugins-base"),
        ("videoconvert", "gstreamer1.0-plugins-base"),
        ("videoscale", "gstreamer1.0-plugins-base"),
        ("x264enc", "gstreamer1.0-plugins-ugly"),
        ("h264parse", "gstreamer1.0-plugins-bad"),
    ];
    if cfg.rtsp_listen.is_some() {
        need.push(("rtph264pay", "gstreamer1.0-plugins-good"));
    }
    if let Some(f) = &cfg.file {
        let mp4 = f.extension().is_some_and(|e| e.eq_ignore_ascii_case("mp4"));
        need.push(if mp4 {
            ("mp4mux", "gstreamer1.0-plugins-good")
        } else {
            ("matroskamux", "gstreamer1.0-plugins-good")
        });
    }
    let missing: Vec<String> = need
        .iter()
        .filter(|(e, _)| gst::ElementFactory::find(e).is_none())
        .map(|(e, p)| format!("{e} (Debian: {p})"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::output(format!(
        "visualise: GStreamer element(s) missing: {}; install them, or remove [visualise]",
        missing.join(", ")
    )))
}

/// The file of `stream`: the configured path for one stream, `<stem>-<stream>.<ext>` for several.
fn file_for(path: &Path, stream: &str, streams: usize) -> PathBuf {
    if streams <= 1 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let ext = path.extension().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    path.with_file_name(format!("{stem}-{stream}.{ext}"))
}

/// A BGR copy of `frame` with the boxes drawn; None for frames not in host memory.
fn annotate(
    frame: &Frame,
    found: &[Detection],
    ids: &[Option<u32>],
    labels: &Labels,
    scratch: &mut RowScratch,
    warned: &mut bool,
) -> Option<gst::Buffer> {
    let guard = frame.map().ok()?;
    let FrameData::Host(view) = guard.data() else {
        if !*warned {
            log::warn!("visualise: frames in GPU memory (NVMM) are not drawn; use stream.memory = \"system\"");
            *warned = true;
        }
        return None;
    };
    view.check().ok()?;
    let (w, h) = (view.width as usize, view.height as usize);
    let mut buffer = gst::Buffer::with_size(w * h * 3).ok()?;
    {
        let b = buffer.get_mut()?;
        let mut map = b.map_writable().ok()?;
        let data = map.as_mut_slice();
        for y in 0..h {
            let (row, order) = view.row(y, scratch);
            let dst = &mut data[y * w * 3..(y + 1) * w * 3];
            match order {
                ChannelOrder::Bgr => dst.copy_from_slice(&row[..w * 3]),
                ChannelOrder::Rgb => {
                    for (d, s) in dst.chunks_exact_mut(3).zip(row.chunks_exact(3)) {
                        d.copy_from_slice(&[s[2], s[1], s[0]]);
                    }
                }
            }
        }
        // Boxes are in source pixels; the frame may have been scaled at capture.
        let fx = w as f32 / frame.source_width.max(1) as f32;
        let fy = h as f32 / frame.source_height.max(1) as f32;
        let mut canvas = draw::Canvas { data, width: w, height: h, stride: w * 3, order: ChannelOrder::Bgr };
        for (i, d) in found.iter().enumerate() {
            let b = [d.bbox[0] * fx, d.bbox[1] * fy, d.bbox[2] * fx, d.bbox[3] * fy];
            let colour = draw::class_colour(d.class_id);
            canvas.rect(b, colour);
            let text = match ids.get(i).copied().flatten() {
                Some(id) => format!("{} #{id} {:.2}", labels.name(d.class_id), d.score),
                None => format!("{} {:.2}", labels.name(d.class_id), d.score),
            };
            canvas.label(b[0], b[1], &text, colour);
        }
    }
    Some(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_per_stream_when_several_are_shown() {
        let p = Path::new("/tmp/demo.mkv");
        assert_eq!(file_for(p, "gate", 1), PathBuf::from("/tmp/demo.mkv"));
        assert_eq!(file_for(p, "gate", 2), PathBuf::from("/tmp/demo-gate.mkv"));
    }
}
