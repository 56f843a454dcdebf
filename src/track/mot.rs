//! `edgesight track`: the tracker over detections in the MOTChallenge text format, tracks out in
//! the same format, so that the standard evaluation tools (TrackEval) can score the tracker
//! without a model or a video.
//!
//! In: `frame,id,x,y,w,h,conf[,...]` per line, frames from 1, `id` ignored (-1 in detection
//! files), boxes in pixels with `x,y` the top-left corner. Out: `frame,id,x,y,w,h,score,-1,-1,-1`
//! for each confirmed track matched in a frame, with the box each tracker's reference code reports
//! (ByteTrack: the filter's box; OC-SORT: the matched detection's).

use std::io::Write;
use std::path::Path;

use super::{TrackEnd, Tracker, TrackerSettings};
use crate::detect::Detection;
use crate::error::{Error, Result};

/// One detection line of the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotDetection {
    pub frame: u32,
    pub det: Detection,
}

/// Parses MOTChallenge detections; `origin` names the input in messages.
pub fn parse(text: &str, origin: &Path) -> Result<Vec<MotDetection>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| {
            Error::config(format!(
                "{}:{}: {why}; expected MOTChallenge detections `frame,id,x,y,w,h,conf,...` (frames from 1)",
                origin.display(),
                n + 1
            ))
        };
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() < 7 {
            return Err(bad(&format!("{} fields", f.len())));
        }
        let num = |i: usize| f[i].parse::<f64>().ok().filter(|v| v.is_finite());
        let frame = num(0).filter(|v| *v >= 1.0 && v.fract() == 0.0 && *v <= u32::MAX as f64);
        let Some(frame) = frame else {
            return Err(bad(&format!("frame {:?} is not a whole number from 1", f[0])));
        };
        let (Some(x), Some(y), Some(w), Some(h), Some(conf)) = (num(2), num(3), num(4), num(5), num(6)) else {
            return Err(bad("x, y, w, h or conf is not a number"));
        };
        if w <= 0.0 || h <= 0.0 {
            // Empty boxes exist in some public detection files: nothing to track.
            continue;
        }
        let bbox = [x as f32, y as f32, (x + w) as f32, (y + h) as f32];
        out.push(MotDetection { frame: frame as u32, det: Detection { class_id: 0, score: conf as f32, bbox } });
    }
    Ok(out)
}

/// What `track` reports on standard error.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Summary {
    pub frames: u32,
    pub detections: usize,
    pub tracks: u32,
    pub boxes: usize,
}

/// What the tracker did in one processed frame, for `MotRun::on_frame` (zones and lines).
pub struct FrameView<'a> {
    pub t_ms: u64,
    pub size: (u32, u32),
    /// Track ID of each of `dets` (None: on no confirmed track).
    pub ids: &'a [Option<u32>],
    pub dets: &'a [Detection],
    pub ended: &'a [TrackEnd],
    /// The call after the last frame: the sequence ended and every track with it.
    pub last: bool,
}

/// What `run` needs besides the detections.
pub struct MotRun<'a> {
    /// Frame size in pixels (boxes are clipped to it, as the post-processing does).
    pub size: (u32, u32),
    /// Frames per second of the sequence: frame n is at (n - 1) / fps seconds.
    pub fps: f64,
    pub settings: &'a TrackerSettings,
    /// Detections strictly above it are the high-score ones (model.score_threshold).
    pub score_threshold: f32,
    /// Whether the frame at this stream time is processed (a stream's fps_limit); skipped
    /// frames are neither tracked nor written.
    pub admit: &'a mut dyn FnMut(f64) -> bool,
    /// Called after each processed frame and once at the end.
    pub on_frame: &'a mut dyn FnMut(FrameView<'_>) -> Result<()>,
}

/// Runs the tracker over `dets`, writing tracks to `out`.
pub fn run(dets: &mut [MotDetection], r: MotRun<'_>, out: &mut dyn Write) -> Result<Summary> {
    let MotRun { size, fps, settings, score_threshold, admit, on_frame } = r;
    // Per frame: high-score boxes first, each part best first, as the post-processing hands them.
    let high = |d: &Detection| d.score > score_threshold;
    dets.sort_by(|a, b| {
        a.frame.cmp(&b.frame).then(high(&b.det).cmp(&high(&a.det))).then(b.det.score.total_cmp(&a.det.score))
    });
    let (w, h) = (size.0 as f32, size.1 as f32);
    let last = dets.last().map_or(0, |d| d.frame);
    let Some(mut tracker) = Tracker::new(settings, score_threshold) else {
        return Err(Error::config("tracking.tracker is \"none\": there is no tracker to run"));
    };
    let mut frame_dets: Vec<Detection> = Vec::with_capacity(256);
    let mut s = Summary { frames: last, ..Summary::default() };
    let write_err = |e: std::io::Error| Error::output(format!("cannot write tracks: {e}; check the --tracks path"));
    let mut i = 0;
    let mut last_ms = 0;
    // Every frame up to the last, also those without detections: time passes in them too.
    for frame in 1..=last {
        frame_dets.clear();
        while i < dets.len() && dets[i].frame == frame {
            let mut d = dets[i].det;
            // The appliance's boxes lie inside the frame (post-processing clips them).
            let b = d.bbox;
            d.bbox = [b[0].clamp(0.0, w), b[1].clamp(0.0, h), b[2].clamp(0.0, w), b[3].clamp(0.0, h)];
            frame_dets.push(d);
            i += 1;
        }
        let t = (frame - 1) as f64 * 1000.0 / fps;
        if !admit(t) {
            continue;
        }
        s.detections += frame_dets.len();
        let n_high = frame_dets.iter().take_while(|d| high(d)).count();
        let t_ms = t.round() as u64;
        tracker.update(t_ms, &frame_dets, n_high);
        last_ms = t_ms;
        let ids = tracker.ids();
        on_frame(FrameView { t_ms, size, ids, dets: &frame_dets, ended: tracker.ended(), last: false })?;
        for t in tracker.active() {
            let b = t.bbox;
            writeln!(
                out,
                "{frame},{},{:.2},{:.2},{:.2},{:.2},{:.4},-1,-1,-1",
                t.track_id,
                b[0],
                b[1],
                b[2] - b[0],
                b[3] - b[1],
                t.score
            )
            .map_err(write_err)?;
            s.boxes += 1;
            s.tracks = s.tracks.max(t.track_id);
        }
    }
    out.flush().map_err(write_err)?;
    tracker.reset();
    on_frame(FrameView { t_ms: last_ms, size, ids: &[], dets: &[], ended: tracker.ended(), last: true })?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mot_lines_and_names_the_bad_one() {
        let d = parse("1,-1,10,20,30,40,0.9,-1,-1,-1\n\n2,-1,10,20,0,40,0.9\n", Path::new("d.txt")).unwrap();
        assert_eq!(d.len(), 1, "the empty box is skipped");
        assert_eq!(d[0].det.bbox, [10.0, 20.0, 40.0, 60.0]);
        let e = parse("1,-1,10,20,30,40,0.9\n0,-1,1,1,1,1,1\n", Path::new("d.txt")).unwrap_err().to_string();
        assert!(e.starts_with("d.txt:2: frame \"0\""), "{e}");
        let e = parse("1,-1,a,20,30,40,0.9\n", Path::new("d.txt")).unwrap_err().to_string();
        assert!(e.contains("d.txt:1: x, y, w, h or conf"), "{e}");
    }

    #[test]
    fn writes_confirmed_tracks_in_mot_format() {
        let mut d =
            parse("1,-1,10,20,30,40,0.9\n2,-1,11,20,30,40,0.9\n3,-1,12,20,30,40,0.9\n", Path::new("d")).unwrap();
        let mut out = Vec::new();
        let settings = TrackerSettings::default();
        let mut ends = 0;
        let mut on_frame = |v: FrameView<'_>| {
            ends += v.ended.len();
            Ok(())
        };
        let r = MotRun {
            size: (640, 480),
            fps: 30.0,
            settings: &settings,
            score_threshold: 0.5,
            admit: &mut |_| true,
            on_frame: &mut on_frame,
        };
        let s = run(&mut d, r, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.starts_with("2,1,"), "{text}");
        assert_eq!((s.frames, s.tracks, s.boxes, ends), (3, 1, 2, 1));
    }
}
