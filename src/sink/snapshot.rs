//! `[snapshots]`: a JPEG of a processed frame with its boxes and labels drawn, when the frame has
//! a detection of the configured classes, at most one per `min_interval_s` of stream time per
//! stream, in a folder that never passes `max_total_mb` (the oldest snapshots go first).
//!
//! The inference thread decides (class filter, rate limit), picks the file name (so the frame's
//! event can name it), converts the frame to RGB and draws on that copy (about a millisecond for
//! a PAL frame); a writer thread encodes the JPEG and writes it (`.tmp`, then renamed), fed through
//! a queue of `QUEUE` pictures: when it is full the snapshot is dropped and counted, never waited
//! for. A failure to write is counted and logged (the logger rate limits repeats) and stops
//! nothing.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::stats::{SinkStats, SnapshotStats};
use crate::capture::Frame;
use crate::config::SnapshotConfig;
use crate::detect::{Detection, Labels};
use crate::error::{Error, Result};
use crate::font::glyph;
use crate::preprocess::ChannelOrder;
use crate::preprocess::frame::{FrameData, RowScratch};

/// Pictures waiting for the writer thread at most.
const QUEUE: usize = 2;

/// A packed RGB picture, drawn on before it is encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Rgb {
    pub fn new(width: u32, height: u32) -> Rgb {
        Rgb { width, height, data: vec![0; width as usize * height as usize * 3] }
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Fills the rectangle `[x0, x1) × [y0, y1)`, clipped to the picture.
    pub fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, colour: [u8; 3]) {
        let (w, h) = (self.width as i64, self.height as i64);
        let (x0, x1, y0, y1) = (x0.clamp(0, w), x1.clamp(0, w), y0.clamp(0, h), y1.clamp(0, h));
        for y in y0..y1 {
            let row = (y * w) as usize * 3;
            for px in self.data[row + x0 as usize * 3..row + x1 as usize * 3].chunks_exact_mut(3) {
                px.copy_from_slice(&colour);
            }
        }
    }

    /// The outline of a box (`[x1, y1, x2, y2]` in this picture's pixels), `thickness` pixels
    /// wide inside its edges.
    pub fn outline(&mut self, b: [f32; 4], thickness: i64, colour: [u8; 3]) {
        let [x0, y0, x1, y1] = b.map(|v| v.round() as i64);
        let t = thickness.max(1);
        self.fill(x0, y0, x1, y0 + t, colour);
        self.fill(x0, y1 - t, x1, y1, colour);
        self.fill(x0, y0, x0 + t, y1, colour);
        self.fill(x1 - t, y0, x1, y1, colour);
    }

    /// `text` in the built-in 5×7 font, `scale` pixels per font pixel, on a filled background,
    /// its top left corner at (x, y). Letters are drawn upper case.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, fg: [u8; 3], bg: [u8; 3]) {
        let s = scale.max(1);
        let (w, h) = text_size(text, s);
        self.fill(x, y, x + w, y + h, bg);
        for (i, c) in text.chars().enumerate() {
            let g = glyph(c);
            let gx = x + s + i as i64 * 6 * s;
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let (px, py) = (gx + col * s, y + s + row as i64 * s);
                        self.fill(px, py, px + s, py + s, fg);
                    }
                }
            }
        }
    }
}

/// Width and height of `text` drawn by `Rgb::text`, margin included.
pub fn text_size(text: &str, scale: i64) -> (i64, i64) {
    let n = text.chars().count() as i64;
    ((n * 6 + 1) * scale, 9 * scale)
}

/// Box colours, by class id: saturated, distinct, readable with black text.
const PALETTE: [[u8; 3]; 8] = [
    [255, 56, 56],
    [56, 255, 56],
    [56, 160, 255],
    [255, 210, 0],
    [255, 56, 255],
    [0, 255, 255],
    [255, 140, 0],
    [170, 110, 255],
];

/// The colour of the boxes of `class_id`.
pub fn class_colour(class_id: u32) -> [u8; 3] {
    PALETTE[class_id as usize % PALETTE.len()]
}

/// Draws each detection's box and its label with the score (`person 0.83`) above it, or inside
/// the box's top when there is no room above. `scale` maps source-frame pixels (the event's
/// boxes) to the picture's.
pub fn draw(img: &mut Rgb, detections: &[Detection], labels: &Labels, scale: (f32, f32)) {
    let font = if img.width >= 1280 { 2 } else { 1 };
    let thickness = if img.width >= 1280 { 3 } else { 2 };
    for d in detections {
        let [x0, y0, x1, y1] = d.bbox;
        let b = [x0 * scale.0, y0 * scale.1, x1 * scale.0, y1 * scale.1];
        let colour = class_colour(d.class_id);
        img.outline(b, thickness, colour);
        let text = format!("{} {:.2}", labels.name(d.class_id), d.score);
        let (_, th) = text_size(&text, font);
        let (x, y) = (b[0].round() as i64, b[1].round() as i64);
        let ty = if y - th >= 0 { y - th } else { y };
        img.text(x, ty, &text, font, [0, 0, 0], colour);
    }
}

/// One snapshot per `interval` of stream time per stream. Time going back (a looped file, a
/// reconnected camera) starts the stream's interval again.
#[derive(Debug, Clone)]
pub struct Limiter {
    interval_ms: u64,
    last: HashMap<String, u64>,
}

impl Limiter {
    pub fn new(interval: Duration) -> Limiter {
        Limiter { interval_ms: interval.as_millis() as u64, last: HashMap::new() }
    }

    /// Whether `stream` may take a snapshot at stream time `t_ms` (not recorded yet).
    pub fn allows(&self, stream: &str, t_ms: u64) -> bool {
        match self.last.get(stream) {
            None => true,
            Some(&last) => t_ms < last || t_ms - last >= self.interval_ms,
        }
    }

    /// `stream` took a snapshot at `t_ms`.
    pub fn taken(&mut self, stream: &str, t_ms: u64) {
        self.last.insert(stream.to_string(), t_ms);
    }
}

/// The folder part of a stream's snapshots: the stream name with anything but letters, digits,
/// `-`, `_` and inner `.` replaced by `_`.
pub fn folder_name(stream: &str) -> String {
    let s: String =
        stream.chars().map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    match s.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None => s,
    }
}

/// `<stream>/<stream>-<UTC time>-f<frame>.jpg`: unique per frame and sorted by time within a stream.
pub fn file_name(stream: &str, frame: u64, at: SystemTime) -> String {
    let folder = folder_name(stream);
    let ts = humantime::format_rfc3339_millis(at).to_string().replace([':', '-'], "");
    format!("{folder}/{folder}-{ts}-f{frame:06}.jpg")
}

/// The snapshot files in a folder, oldest first, and their total size: what the writer removes
/// to stay under the cap.
#[derive(Debug, Default)]
pub struct Index {
    files: VecDeque<(PathBuf, u64)>,
    total: u64,
}

impl Index {
    /// Scans `dir/*/*.jpg` (oldest by modification time first); leftover `.tmp` files of an
    /// interrupted write are removed.
    pub fn scan(dir: &Path) -> Index {
        let mut found = Vec::new();
        for sub in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if !sub.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            for f in std::fs::read_dir(sub.path()).into_iter().flatten().flatten() {
                let path = f.path();
                let Ok(meta) = f.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                match path.extension().and_then(|e| e.to_str()) {
                    Some("jpg") => found.push((meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), path, meta.len())),
                    Some("tmp") => {
                        let _ = std::fs::remove_file(&path);
                    }
                    _ => {}
                }
            }
        }
        found.sort();
        let mut index = Index::default();
        for (_, path, len) in found {
            index.push(path, len);
        }
        index
    }

    pub fn push(&mut self, path: PathBuf, len: u64) {
        self.total += len;
        self.files.push_back((path, len));
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Removes the oldest files until `more` bytes fit under `cap`; false when they cannot
    /// (larger than the cap on their own, or a file that cannot be removed).
    pub fn make_room(&mut self, more: u64, cap: u64) -> bool {
        while self.total + more > cap {
            let Some((path, len)) = self.files.front().cloned() else { return false };
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    log::warn!("snapshots: cannot remove {} to stay under max_total_mb: {e}", path.display());
                    return false;
                }
            }
            self.files.pop_front();
            self.total -= len;
        }
        true
    }
}

/// A picture for the writer thread.
struct Job {
    /// Relative to the folder.
    name: String,
    picture: Rgb,
}

/// What the writer thread works with.
struct Writer {
    dir: PathBuf,
    quality: u8,
    cap: u64,
    index: Index,
    stats: Arc<SinkStats>,
    /// Pictures handed back to the inference thread for reuse.
    spare: SyncSender<Rgb>,
}

impl Writer {
    fn run(mut self, jobs: Receiver<Job>) {
        for job in jobs {
            match self.write(&job) {
                Ok(()) => SinkStats::add(&self.snaps().written, 1),
                Err(e) => {
                    SinkStats::add(&self.snaps().failed, 1);
                    log::warn!(
                        "snapshot {} not written: {e} (snapshots.dir; the pipeline goes on, edgesight_snapshots_total{{result=\"failed\"}} counts these)",
                        self.dir.join(&job.name).display()
                    );
                }
            }
            SinkStats::set(&self.snaps().bytes_on_disk, self.index.total());
            let _ = self.spare.try_send(job.picture);
        }
    }

    fn snaps(&self) -> &SnapshotStats {
        &self.stats.snapshots
    }

    fn write(&mut self, job: &Job) -> std::result::Result<(), String> {
        let started = Instant::now();
        let jpeg = encode(&job.picture, self.quality)?;
        log::debug!(
            "snapshot {}: {}x{} encoded in {:.1} ms, {} bytes",
            job.name,
            job.picture.width,
            job.picture.height,
            started.elapsed().as_secs_f64() * 1e3,
            jpeg.len()
        );
        let len = jpeg.len() as u64;
        if !self.index.make_room(len, self.cap) {
            return Err(format!(
                "{len} bytes do not fit under max_total_mb ({} bytes) after removing the oldest snapshots",
                self.cap
            ));
        }
        let path = self.dir.join(&job.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let tmp = path.with_extension("jpg.tmp");
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&jpeg))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.to_string());
        }
        self.index.push(path, len);
        Ok(())
    }
}

/// Encodes `img` as a baseline JPEG (4:2:0).
pub fn encode(img: &Rgb, quality: u8) -> std::result::Result<Vec<u8>, String> {
    let (w, h) = (u16::try_from(img.width), u16::try_from(img.height));
    let (Ok(w), Ok(h)) = (w, h) else {
        return Err(format!("{}x{} is larger than JPEG allows (65535 x 65535)", img.width, img.height));
    };
    let mut out = Vec::with_capacity(img.data.len() / 8);
    let enc = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    enc.encode(&img.data, w, h, jpeg_encoder::ColorType::Rgb).map_err(|e| format!("JPEG encoding failed: {e}"))?;
    Ok(out)
}

/// Copies a frame into `img` (resized to the frame; YUV converted as the preprocessor converts it).
pub fn frame_rgb(frame: &Frame, img: &mut Rgb, scratch: &mut RowScratch) -> Result<()> {
    let guard = frame.map()?;
    let FrameData::Host(view) = guard.data() else {
        return Err(Error::source("snapshots read frames in system memory only (this frame is on the GPU)"));
    };
    view.check().map_err(Error::source)?;
    (img.width, img.height) = (view.width, view.height);
    let row_bytes = view.width as usize * 3;
    img.data.resize(row_bytes * view.height as usize, 0);
    for (y, out) in img.data.chunks_exact_mut(row_bytes).enumerate() {
        let (row, order) = view.row(y, scratch);
        match order {
            ChannelOrder::Rgb => out.copy_from_slice(&row[..row_bytes]),
            ChannelOrder::Bgr => {
                for (d, s) in out.chunks_exact_mut(3).zip(row.chunks_exact(3)) {
                    d.copy_from_slice(&[s[2], s[1], s[0]]);
                }
            }
        }
    }
    Ok(())
}

/// Snapshots of one run: the trigger, the limiter and the writer thread.
pub struct Snapshots {
    cfg: SnapshotConfig,
    /// Triggering class ids; None = every class.
    classes: Option<Vec<u32>>,
    limiter: Limiter,
    jobs: Option<SyncSender<Job>>,
    writer: Option<JoinHandle<()>>,
    stats: Arc<SinkStats>,
    /// Stream time of frames without a timestamp: time since this start.
    start: Instant,
    /// Pictures the writer is done with, reused: a snapshot allocates only while fewer than
    /// `QUEUE + 1` pictures exist.
    spare: Receiver<Rgb>,
    scratch: RowScratch,
}

/// Makes sure snapshots can be written to `dir`: creates it and writes and removes a file.
pub fn probe(dir: &Path) -> Result<()> {
    let fix = "set snapshots.dir to a folder edgesight may write (under systemd: below /var/lib/edgesight, its StateDirectory)";
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::output(format!("snapshots.dir {}: cannot create it: {e}; {fix}", dir.display())))?;
    let probe = dir.join(".edgesight-probe.tmp");
    std::fs::write(&probe, b"probe")
        .map_err(|e| Error::output(format!("snapshots.dir {}: cannot write in it: {e}; {fix}", dir.display())))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

impl Snapshots {
    /// Starts the writer for `cfg`, its classes already resolved to ids (None = all). Fails when
    /// the folder cannot be created or written.
    pub fn start(cfg: SnapshotConfig, classes: Option<Vec<u32>>, stats: Arc<SinkStats>) -> Result<Snapshots> {
        probe(&cfg.dir)?;
        let index = Index::scan(&cfg.dir);
        stats.snapshots.enabled.store(true, Ordering::Relaxed);
        SinkStats::set(&stats.snapshots.bytes_on_disk, index.total());
        log::info!(
            "snapshots: to {} ({} files, {} bytes there), at most one per {:.1} s per stream, under {} bytes",
            cfg.dir.display(),
            index.len(),
            index.total(),
            cfg.min_interval.as_secs_f64(),
            cfg.max_total_bytes
        );
        let (tx, rx) = sync_channel(QUEUE);
        let (spare_tx, spare) = sync_channel(QUEUE + 1);
        let writer = Writer {
            spare: spare_tx,
            dir: cfg.dir.clone(),
            quality: cfg.quality,
            cap: cfg.max_total_bytes,
            index,
            stats: Arc::clone(&stats),
        };
        let handle = std::thread::Builder::new()
            .name("snapshots".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::output(format!("cannot start the snapshot writer thread: {e}")))?;
        Ok(Snapshots {
            limiter: Limiter::new(cfg.min_interval),
            cfg,
            classes,
            jobs: Some(tx),
            writer: Some(handle),
            stats,
            start: Instant::now(),
            spare,
            scratch: RowScratch::default(),
        })
    }

    pub fn config(&self) -> &SnapshotConfig {
        &self.cfg
    }

    fn triggers(&self, d: &Detection) -> bool {
        d.score >= self.cfg.min_score && self.classes.as_ref().is_none_or(|c| c.contains(&d.class_id))
    }

    /// Takes a snapshot of `frame` when one of its reported `detections` triggers and the
    /// stream's limiter allows it: the file name relative to the folder, for the frame's event.
    /// None when no snapshot was taken (not due, writer busy, frame unreadable).
    pub fn offer(&mut self, stream: &str, frame: &Frame, detections: &[Detection], labels: &Labels) -> Option<String> {
        if !detections.iter().any(|d| self.triggers(d)) {
            return None;
        }
        let t_ms =
            frame.pts_ms.unwrap_or_else(|| frame.captured.saturating_duration_since(self.start).as_millis() as u64);
        if !self.limiter.allows(stream, t_ms) {
            return None;
        }
        let snaps = &self.stats.snapshots;
        let started = Instant::now();
        let mut picture = self.spare.try_recv().unwrap_or_else(|_| Rgb::new(0, 0));
        match frame_rgb(frame, &mut picture, &mut self.scratch) {
            Ok(()) => {}
            Err(e) => {
                SinkStats::add(&snaps.failed, 1);
                log::warn!("snapshot of stream {stream:?} not taken: {e}");
                return None;
            }
        }
        let scale = (
            frame.width as f32 / frame.source_width.max(1) as f32,
            frame.height as f32 / frame.source_height.max(1) as f32,
        );
        draw(&mut picture, detections, labels, scale);
        let name = file_name(stream, frame.index, SystemTime::now());
        log::debug!("snapshot {name}: converted and drawn in {:.2} ms", started.elapsed().as_secs_f64() * 1e3);
        let jobs = self.jobs.as_ref()?;
        match jobs.try_send(Job { name: name.clone(), picture }) {
            Ok(()) => {
                self.limiter.taken(stream, t_ms);
                Some(name)
            }
            Err(TrySendError::Full(_)) => {
                SinkStats::add(&snaps.dropped_busy, 1);
                None
            }
            Err(TrySendError::Disconnected(_)) => {
                SinkStats::add(&snaps.failed, 1);
                log::warn!("snapshots: the writer thread stopped; no more snapshots are written");
                None
            }
        }
    }
}

impl Drop for Snapshots {
    /// Writes what is queued, then stops the writer.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_allows_one_snapshot_per_interval_of_stream_time_per_stream() {
        let mut l = Limiter::new(Duration::from_secs(10));
        let mut taken = Vec::new();
        for t in (0..=35_000).step_by(500) {
            if l.allows("a", t) {
                l.taken("a", t);
                taken.push(t);
            }
        }
        assert_eq!(taken, [0, 10_000, 20_000, 30_000]);
        assert!(l.allows("b", 35_000), "streams are limited separately");
        assert!(l.allows("a", 100), "time going back (a looped file) starts again");
        let mut every = Limiter::new(Duration::ZERO);
        every.taken("a", 5);
        assert!(every.allows("a", 5));
    }

    #[test]
    fn boxes_are_outlined_in_the_class_colour_and_labelled_above() {
        let mut img = Rgb::new(200, 100);
        let labels = Labels::from_names(["person", "car"]);
        let d = [Detection { class_id: 1, score: 0.87, bbox: [40.0, 30.0, 120.0, 90.0] }];
        draw(&mut img, &d, &labels, (1.0, 1.0));
        let c = class_colour(1);
        assert_eq!(img.pixel(40, 60), c, "left edge");
        assert_eq!(img.pixel(119, 60), c, "right edge");
        assert_eq!(img.pixel(80, 30), c, "top edge");
        assert_eq!(img.pixel(80, 89), c, "bottom edge");
        assert_eq!(img.pixel(80, 60), [0, 0, 0], "inside untouched");
        assert_eq!(img.pixel(39, 60), [0, 0, 0], "outside untouched");
        // The label "car 0.87" sits on a box of the class colour just above the box.
        let (tw, th) = text_size("car 0.87", 1);
        assert_eq!((tw, th), (49, 9));
        let label: Vec<[u8; 3]> =
            (40..40 + tw as u32).flat_map(|x| (21..30).map(move |y| (x, y))).map(|(x, y)| img.pixel(x, y)).collect();
        assert!(label.contains(&[0, 0, 0]), "glyph pixels");
        assert!(label.iter().filter(|p| **p == c).count() > label.len() / 2, "background");
        // Scaled boxes: a frame delivered at half the source size.
        let mut half = Rgb::new(100, 50);
        draw(&mut half, &d, &labels, (0.5, 0.5));
        assert_eq!(half.pixel(20, 30), c);
    }

    #[test]
    fn drawing_is_clipped_to_the_picture() {
        let mut img = Rgb::new(16, 8);
        let labels = Labels::from_names(["a-very-long-label"]);
        let d = [Detection { class_id: 0, score: 1.0, bbox: [-50.0, -20.0, 500.0, 300.0] }];
        draw(&mut img, &d, &labels, (1.0, 1.0));
        img.text(-100, -100, "?!", 3, [1, 2, 3], [4, 5, 6]);
        assert_eq!(img.data.len(), 16 * 8 * 3);
    }

    #[test]
    fn names_are_safe_paths_sorted_by_time() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_534_000_123);
        let n = file_name("gate 1", 42, at);
        assert_eq!(n, "gate_1/gate_1-20251130T202000.123Z-f000042.jpg");
        assert_eq!(folder_name(".."), "_.");
        assert_eq!(folder_name("a/b"), "a_b");
        assert!(file_name("x", 1, at) < file_name("x", 0, at + Duration::from_millis(1)));
    }

    #[test]
    fn the_index_removes_the_oldest_files_to_stay_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("s");
        std::fs::create_dir(&sub).unwrap();
        for (i, name) in ["a.jpg", "b.jpg", "c.jpg"].iter().enumerate() {
            std::fs::write(sub.join(name), vec![0u8; 100]).unwrap();
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1000 + i as u64);
            std::fs::File::options().write(true).open(sub.join(name)).unwrap().set_modified(t).unwrap();
        }
        std::fs::write(sub.join("d.jpg.tmp"), b"x").unwrap();
        let mut index = Index::scan(dir.path());
        assert_eq!((index.len(), index.total()), (3, 300));
        assert!(!sub.join("d.jpg.tmp").exists(), "leftovers of an interrupted write are removed");
        assert!(index.make_room(150, 400));
        assert!(!sub.join("a.jpg").exists() && sub.join("b.jpg").exists());
        assert_eq!(index.total(), 200);
        assert!(!index.make_room(500, 400), "larger than the cap on its own");
    }

    #[test]
    fn encodes_a_jpeg_of_the_picture_size() {
        let mut img = Rgb::new(64, 48);
        img.fill(0, 0, 32, 48, [255, 0, 0]);
        let jpeg = encode(&img, 85).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let h = u16::from_be_bytes([jpeg[sof + 5], jpeg[sof + 6]]);
        let w = u16::from_be_bytes([jpeg[sof + 7], jpeg[sof + 8]]);
        assert_eq!((w, h), (64, 48));
    }
}
