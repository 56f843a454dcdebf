//! One capture thread per stream: pulls frames from its GStreamer pipeline, applies the stream's
//! `fps_limit`, hands the rest to the mailbox and records how the stream ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::mailbox::{DropReason, Mailbox, StreamState};
use crate::capture::gst::LaunchOptions;
use crate::capture::{CaptureOptions, GstCapture, Pull, SourceSpec};
use crate::config::StreamConfig;
use crate::error::{Error, Result};

/// Admits frames at most `fps` per second of stream time (timestamps, or arrival time for
/// sources without them), spreading them evenly: a 25 FPS source limited to 10 keeps 10.
#[derive(Debug, Clone)]
pub struct FpsLimiter {
    period_ms: f64,
    next_due: Option<f64>,
}

impl FpsLimiter {
    pub fn new(fps: f64) -> FpsLimiter {
        FpsLimiter {
            period_ms: 1000.0 / fps,
            next_due: None,
        }
    }

    /// True when the frame at `t_ms` is to be processed.
    pub fn admit(&mut self, t_ms: f64) -> bool {
        // Half a millisecond of slack absorbs timestamp rounding (33.333… ms frames).
        match self.next_due {
            Some(due) if t_ms + 0.5 < due => false,
            Some(due) => {
                // Fell behind (a gap in the stream): restart the schedule from this frame.
                self.next_due = Some(if t_ms - due > self.period_ms {
                    t_ms + self.period_ms
                } else {
                    due + self.period_ms
                });
                true
            }
            None => {
                self.next_due = Some(t_ms + self.period_ms);
                true
            }
        }
    }
}

/// Capture options for one stream.
pub fn options(base: &CaptureOptions, s: &StreamConfig) -> CaptureOptions {
    let live = !matches!(s.source, SourceSpec::File { .. });
    CaptureOptions {
        launch: LaunchOptions {
            transport: s.transport,
            latency_ms: s.latency_ms,
            ..base.launch.clone()
        },
        sync: !live && s.realtime,
        leaky: live || s.realtime,
        ..base.clone()
    }
}

/// Opens a stream's pipeline (the start-up or reload step that can fail).
pub fn open(s: &StreamConfig, base: &CaptureOptions) -> Result<GstCapture> {
    GstCapture::open(&s.source, &options(base, s))
        .map_err(|e| Error::source(format!("stream \"{}\": {e}", s.name)))
}

/// A running stream.
pub struct Runner {
    pub id: usize,
    pub config: StreamConfig,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Runner {
    /// Starts the capture thread of an opened stream.
    pub fn spawn(
        id: usize,
        config: StreamConfig,
        cap: GstCapture,
        mailbox: Arc<Mailbox>,
    ) -> Result<Runner> {
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        // A file processed frame by frame waits for the engine; everything else keeps the newest frame.
        let wait = matches!(config.source, SourceSpec::File { .. }) && !config.realtime;
        let limiter = config.fps_limit.map(FpsLimiter::new);
        let thread = thread::Builder::new()
            .name(format!("capture-{}", config.name))
            .spawn(move || capture_loop(id, cap, wait, limiter, &mailbox, &st))
            .map_err(|e| Error::other(format!("cannot start a capture thread: {e}")))?;
        Ok(Runner {
            id,
            config,
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the thread to stop (it does within one pull timeout).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Waits for the thread to end, at most until `deadline`.
    pub fn join(&mut self, deadline: Instant) {
        self.stop();
        if let Some(t) = self.thread.take() {
            while !t.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                log::warn!(
                    "stream \"{}\": capture thread did not stop in time",
                    self.config.name
                );
            }
        }
    }
}

fn capture_loop(
    id: usize,
    mut cap: GstCapture,
    wait: bool,
    mut limiter: Option<FpsLimiter>,
    mailbox: &Mailbox,
    stop: &AtomicBool,
) {
    let start = Instant::now();
    let state = loop {
        if stop.load(Ordering::SeqCst) {
            break StreamState::Stopped;
        }
        match cap.pull(Duration::from_millis(200)) {
            Ok(Pull::Frame(f)) => {
                if let Some(l) = &mut limiter {
                    let t = f
                        .pts_ms
                        .map_or_else(|| start.elapsed().as_secs_f64() * 1e3, |p| p as f64);
                    if !l.admit(t) {
                        mailbox.count_drop(id, DropReason::FpsLimit);
                        continue;
                    }
                }
                if !mailbox.put(id, f, wait, stop) {
                    break StreamState::Stopped;
                }
            }
            Ok(Pull::Timeout) => {}
            Ok(Pull::Eos) => break StreamState::Ended,
            Err(e) => break StreamState::Failed(e.to_string()),
        }
    };
    if let StreamState::Failed(e) = &state {
        log::error!("{e}");
    }
    mailbox.set_state(id, state);
}

#[cfg(test)]
mod tests {
    use super::FpsLimiter;

    fn kept(source_fps: f64, limit: f64, seconds: f64) -> usize {
        let mut l = FpsLimiter::new(limit);
        let n = (source_fps * seconds) as usize;
        (0..n)
            .filter(|i| l.admit(*i as f64 * 1000.0 / source_fps))
            .count()
    }

    #[test]
    fn keeps_the_limit_from_faster_sources() {
        assert_eq!(kept(25.0, 10.0, 10.0), 100);
        assert_eq!(kept(30.0, 10.0, 10.0), 100);
        assert_eq!(kept(30.0, 15.0, 10.0), 150);
        assert_eq!(kept(10.0, 0.5, 10.0), 5);
    }

    #[test]
    fn slower_sources_pass_untouched() {
        assert_eq!(kept(5.0, 10.0, 10.0), 50);
        assert_eq!(kept(10.0, 10.0, 10.0), 100);
    }

    #[test]
    fn a_gap_restarts_the_schedule() {
        let mut l = FpsLimiter::new(10.0);
        assert!(l.admit(0.0));
        assert!(l.admit(5000.0));
        assert!(!l.admit(5050.0));
        assert!(l.admit(5100.0));
    }
}
