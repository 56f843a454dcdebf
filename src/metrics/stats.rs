//! Fixed-size latency histograms (0.05 ms buckets up to 5 s), so a run of any length costs the
//! same memory and percentiles need no sample buffer.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

const BUCKET_MS: f64 = 0.05;
const BUCKETS: usize = 100_000;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u32>,
    overflow: u64,
    n: u64,
    sum_ms: f64,
    max_ms: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS], overflow: 0, n: 0, sum_ms: 0.0, max_ms: 0.0 }
    }
}

impl Histogram {
    pub fn record_ms(&mut self, ms: f64) {
        let ms = ms.max(0.0);
        let b = (ms / BUCKET_MS) as usize;
        match self.counts.get_mut(b) {
            Some(c) => *c = c.saturating_add(1),
            None => self.overflow += 1,
        }
        self.n += 1;
        self.sum_ms += ms;
        self.max_ms = self.max_ms.max(ms);
    }

    pub fn record(&mut self, d: Duration) {
        self.record_ms(d.as_secs_f64() * 1e3);
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    pub fn mean_ms(&self) -> f64 {
        if self.n == 0 { 0.0 } else { self.sum_ms / self.n as f64 }
    }

    pub fn max_ms(&self) -> f64 {
        self.max_ms
    }

    /// Samples at or below `ms` (to the bucket resolution), for Prometheus buckets.
    pub fn count_le(&self, ms: f64) -> u64 {
        let edge = ((ms / BUCKET_MS) as usize).min(self.counts.len());
        self.counts[..edge].iter().map(|&c| c as u64).sum()
    }

    pub fn sum_ms(&self) -> f64 {
        self.sum_ms
    }

    /// Upper edge of the bucket holding the q-quantile (q in 0..=1), in ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.n as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c as u64;
            if seen >= rank {
                return ((i + 1) as f64 * BUCKET_MS).min(self.max_ms);
            }
        }
        self.max_ms
    }
}

/// Time spent in each stage for one frame.
#[derive(Debug, Default, Clone, Copy)]
pub struct StageTimes {
    pub preprocess: Duration,
    pub inference: Duration,
    pub decode: Duration,
}

/// Whole-run statistics, printed as the stats line at the end.
#[derive(Default)]
pub struct RunStats {
    started: Option<Instant>,
    last: Option<Instant>,
    pub frames: u64,
    /// Engine runs (a batch of one or more frames each).
    pub batches: u64,
    pub dropped: u64,
    pub latency: Histogram,
    pub preprocess: Histogram,
    pub inference: Histogram,
    pub decode: Histogram,
    /// Drawing a visualised frame and handing it to its encoder (`[visualise]` only).
    pub visualise: Histogram,
    /// Visualised frames per stream: (sent, dropped because an encoder was behind).
    pub visual_frames: std::collections::BTreeMap<String, (u64, u64)>,
    /// Frames and start of the current FPS window, and the rate of the last complete window.
    window: Option<(Instant, u64)>,
    last_window_fps: f64,
}

impl RunStats {
    /// Marks the start of the measured period (first frame requested).
    pub fn start(&mut self, now: Instant) {
        if self.started.is_none() {
            self.started = Some(now);
        }
    }

    /// One processed frame at `now` (times come from the caller's clock).
    pub fn record(&mut self, now: Instant, latency: Duration, t: &StageTimes) {
        self.start(now);
        self.frames += 1;
        self.last = Some(now);
        self.latency.record(latency);
        self.preprocess.record(t.preprocess);
        self.inference.record(t.inference);
        self.decode.record(t.decode);
        match &mut self.window {
            None => self.window = Some((now, 1)),
            Some((start, n)) => {
                *n += 1;
                let secs = now.saturating_duration_since(*start).as_secs_f64();
                if secs >= 5.0 {
                    self.last_window_fps = *n as f64 / secs;
                    self.window = Some((now, 0));
                }
            }
        }
    }

    /// Frames per second over the last few seconds (for status lines).
    pub fn recent_fps(&self, now: Instant) -> f64 {
        match self.window {
            Some((start, n)) if self.last_window_fps == 0.0 => {
                let secs = now.saturating_duration_since(start).as_secs_f64();
                if secs > 0.0 { n as f64 / secs } else { 0.0 }
            }
            _ => self.last_window_fps,
        }
    }

    /// Time since the last processed frame.
    pub fn last_frame_age(&self, now: Instant) -> Option<Duration> {
        self.last.map(|l| now.saturating_duration_since(l))
    }

    pub fn elapsed(&self) -> Duration {
        match (self.started, self.last) {
            (Some(s), Some(l)) => l.saturating_duration_since(s),
            _ => Duration::ZERO,
        }
    }

    pub fn fps(&self) -> f64 {
        let secs = self.elapsed().as_secs_f64();
        if secs <= 0.0 { 0.0 } else { self.frames as f64 / secs }
    }

    /// `stats: frames=… fps=… latency_ms_mean=… latency_ms_p95=… …`: one line, key=value pairs.
    pub fn line(&self, engine: &str) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "stats: frames={} batches={} dropped={} fps={:.1} latency_ms_mean={:.1} latency_ms_p95={:.1} \
             preprocess_ms_mean={:.2} inference_ms_mean={:.1} inference_ms_p95={:.1} decode_ms_mean={:.2} elapsed_s={:.1} engine={engine}",
            self.frames,
            self.batches,
            self.dropped,
            self.fps(),
            self.latency.mean_ms(),
            self.latency.quantile_ms(0.95),
            self.preprocess.mean_ms(),
            self.inference.mean_ms(),
            self.inference.quantile_ms(0.95),
            self.decode.mean_ms(),
            self.elapsed().as_secs_f64(),
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_uniform_samples() {
        let mut h = Histogram::default();
        for i in 1..=100 {
            h.record_ms(i as f64);
        }
        assert!((h.mean_ms() - 50.5).abs() < 1e-9);
        assert!((h.quantile_ms(0.95) - 95.05).abs() < 1e-6, "{}", h.quantile_ms(0.95));
        assert_eq!(h.quantile_ms(1.0), 100.0);
        assert_eq!(Histogram::default().quantile_ms(0.5), 0.0);
    }

    #[test]
    fn fps_windows_and_frame_age_follow_the_given_time() {
        use crate::clock::{Clock, SimClock};
        let clock = SimClock::new();
        let mut s = RunStats::default();
        let t = StageTimes::default();
        // 10 frames per second for 12 s: the first complete 5 s window says 10 fps.
        for _ in 0..120 {
            clock.advance(Duration::from_millis(100));
            s.record(clock.now(), Duration::from_millis(20), &t);
        }
        assert!((s.recent_fps(clock.now()) - 10.0).abs() < 0.3, "{}", s.recent_fps(clock.now()));
        assert!((s.fps() - 10.0).abs() < 0.1, "{}", s.fps());
        clock.advance(Duration::from_secs(3));
        assert_eq!(s.last_frame_age(clock.now()), Some(Duration::from_secs(3)));
    }

    #[test]
    fn overflow_is_counted_and_bounded_by_max() {
        let mut h = Histogram::default();
        h.record_ms(10_000.0);
        assert_eq!(h.count(), 1);
        assert_eq!(h.quantile_ms(0.5), 10_000.0);
    }
}
