//! One capture thread per stream: keeps the stream up (`supervise`), applies its `fps_limit`,
//! hands the frames to the mailbox and records outages, reconnects and how the stream ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::assemble;
use super::mailbox::Mailbox;
use super::supervise::{End, Events, FrameSource, Pulled, supervise};
use crate::capture::{CaptureOptions, Frame, GstCapture, Pull, SourceSpec};
use crate::clock::SharedClock;
use crate::config::StreamConfig;
use crate::error::{Error, Result};
use crate::status::{DropReason, RetryReason, StreamState};

/// Admits frames at most `fps` per second of stream time (timestamps, or arrival time for
/// sources without them), spreading them evenly: a 25 FPS source limited to 10 keeps 10.
#[derive(Debug, Clone)]
pub struct FpsLimiter {
    period_ms: f64,
    next_due: Option<f64>,
}

impl FpsLimiter {
    pub fn new(fps: f64) -> FpsLimiter {
        FpsLimiter { period_ms: 1000.0 / fps, next_due: None }
    }

    /// The same limit with the schedule started over (a new connection has new timestamps).
    pub fn restarted(&self) -> FpsLimiter {
        FpsLimiter { period_ms: self.period_ms, next_due: None }
    }

    /// True when the frame at `t_ms` is to be processed.
    pub fn admit(&mut self, t_ms: f64) -> bool {
        // Half a millisecond of slack absorbs timestamp rounding (33.333… ms frames).
        match self.next_due {
            Some(due) if t_ms + 0.5 < due => false,
            Some(due) => {
                // Fell behind (a gap in the stream): restart the schedule from this frame.
                self.next_due =
                    Some(if t_ms - due > self.period_ms { t_ms + self.period_ms } else { due + self.period_ms });
                true
            }
            None => {
                self.next_due = Some(t_ms + self.period_ms);
                true
            }
        }
    }
}

impl FrameSource for GstCapture {
    type Frame = Frame;
    fn pull(&mut self, timeout: Duration) -> Result<Pulled<Frame>> {
        Ok(match GstCapture::pull(self, timeout)? {
            Pull::Frame(f) => Pulled::Frame(f),
            Pull::Eos => Pulled::Eos,
            Pull::Timeout => Pulled::Timeout,
        })
    }
}

/// Hands frames to the mailbox (after `fps_limit`) and records retries and reconnects.
struct ToMailbox<'a> {
    id: usize,
    name: &'a str,
    mailbox: &'a Mailbox,
    wait: bool,
    limiter: Option<FpsLimiter>,
    clock: &'a SharedClock,
    start: Instant,
    /// Frame numbers keep counting across reconnects and loops.
    next_index: u64,
    /// Reopens so far (`Frame::session`).
    session: u64,
    stop: &'a AtomicBool,
}

impl Events<Frame> for ToMailbox<'_> {
    fn frame(&mut self, mut f: Frame) -> bool {
        f.index = self.next_index;
        f.session = self.session;
        self.next_index += 1;
        if let Some(l) = &mut self.limiter {
            let t = f.pts_ms.map_or_else(
                || self.clock.now().saturating_duration_since(self.start).as_secs_f64() * 1e3,
                |p| p as f64,
            );
            if !l.admit(t) {
                self.mailbox.count_drop(self.id, DropReason::FpsLimit);
                return true;
            }
        }
        self.mailbox.put(self.id, f, self.wait, self.stop)
    }

    fn retry(&mut self, reason: RetryReason, detail: &str, delay: Duration) {
        self.mailbox.count_retry(self.id, reason);
        self.session += 1;
        // The pts-based schedule of the old connection means nothing to the new one.
        if let Some(l) = &mut self.limiter {
            *l = l.restarted();
        }
        log::warn!("stream \"{}\": {reason}: {detail}; reopening in {:.1} s", self.name, delay.as_secs_f64());
    }

    fn reconnected(&mut self) {
        self.mailbox.count_reconnect(self.id);
        log::info!("stream \"{}\": frames flow again", self.name);
    }
}

/// A running stream.
pub struct Runner {
    pub id: usize,
    pub config: StreamConfig,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Runner {
    /// Starts the supervised capture thread of an opened stream.
    pub fn spawn(
        id: usize,
        config: StreamConfig,
        cap: GstCapture,
        base: CaptureOptions,
        mailbox: Arc<Mailbox>,
        clock: SharedClock,
    ) -> Result<Runner> {
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let sc = config.clone();
        let thread = thread::Builder::new()
            .name(format!("capture-{}", config.name))
            .spawn(move || {
                // A file processed frame by frame waits for the engine; everything else keeps the newest frame.
                let wait = matches!(sc.source, SourceSpec::File { .. }) && !sc.realtime;
                let mut events = ToMailbox {
                    id,
                    name: &sc.name,
                    mailbox: &mailbox,
                    wait,
                    limiter: sc.fps_limit.map(FpsLimiter::new),
                    start: clock.now(),
                    clock: &clock,
                    next_index: 0,
                    session: 0,
                    stop: &st,
                };
                // The RTSP transport that worked is tried first on every reconnect of this stream.
                let memory = cap.transport_memory().unwrap_or_default();
                let reopen = || assemble::open_stream_remembering(&sc, &base, &st, Arc::clone(&memory));
                let policy = assemble::policy(&sc);
                let end = supervise(Some(cap), reopen, &policy, clock.as_ref(), &mut events, &st, id as u64 + 0x9E37);
                let state = match end {
                    End::Finished => StreamState::Ended,
                    End::Stopped => StreamState::Stopped,
                    End::GaveUp(e) => {
                        log::error!("stream \"{}\": giving up after {} retries: {e}", sc.name, sc.max_retries);
                        StreamState::Failed(e)
                    }
                };
                mailbox.set_state(id, state);
            })
            .map_err(|e| Error::other(format!("cannot start a capture thread: {e}")))?;
        Ok(Runner { id, config, stop, thread: Some(thread) })
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
                log::warn!("stream \"{}\": capture thread did not stop in time", self.config.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FpsLimiter;

    fn kept(source_fps: f64, limit: f64, seconds: f64) -> usize {
        let mut l = FpsLimiter::new(limit);
        let n = (source_fps * seconds) as usize;
        (0..n).filter(|i| l.admit(*i as f64 * 1000.0 / source_fps)).count()
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
