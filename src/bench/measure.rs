//! What `bench` records while the pipeline runs: a `Probe` that skips the warm-up, then keeps
//! every processed frame's latency and stage times, per stream and overall, and counts frames in
//! one-second windows for the FPS figures. It ends the run after the measured duration or
//! number of frames.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::metrics::stats::Histogram;
use crate::runtime::probe::{FrameSample, Poll, Probe};
use crate::status::StreamStats;

/// When the measured period ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Duration(Duration),
    /// Processed frames, all streams together.
    Frames(u64),
}

/// Frames counted in consecutive one-second windows from the start of the measured period.
#[derive(Debug, Default, Clone)]
pub struct Windows {
    counts: Vec<u32>,
}

impl Windows {
    pub fn count(&mut self, since_start: Duration) {
        let i = since_start.as_secs() as usize;
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
    }

    /// Frames per second of each complete window of a period `length` long (a last partial
    /// window is left out, unless it is the only one: then its rate is scaled to a second).
    pub fn rates(&self, length: Duration) -> Vec<f64> {
        let complete = length.as_secs() as usize;
        if complete == 0 {
            let secs = length.as_secs_f64();
            let n = self.counts.first().copied().unwrap_or(0);
            return if secs > 0.0 { vec![n as f64 / secs] } else { Vec::new() };
        }
        (0..complete).map(|i| self.counts.get(i).copied().unwrap_or(0) as f64).collect()
    }
}

/// Latency, stage times and windows of a set of frames (one stream, or all).
#[derive(Default)]
pub struct Series {
    pub frames: u64,
    pub latency: Histogram,
    pub preprocess: Histogram,
    pub inference: Histogram,
    pub decode: Histogram,
    pub tracking: Histogram,
    pub sinks: Histogram,
    pub visualise: Histogram,
    pub windows: Windows,
}

impl Series {
    fn record(&mut self, f: &FrameSample<'_>, since_start: Duration) {
        self.frames += 1;
        self.latency.record(f.latency);
        self.preprocess.record(f.times.preprocess);
        self.inference.record(f.times.inference);
        self.decode.record(f.times.decode);
        self.tracking.record(f.tracking);
        self.sinks.record(f.sinks);
        if let Some(v) = f.visualise {
            self.visualise.record(v);
        }
        self.windows.count(since_start);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Until `warmup` after the first processed frame.
    WarmingUp {
        first: Option<Instant>,
    },
    Measuring {
        start: Instant,
    },
    /// `end` is when the period ended; `told` whether the loop was told to stop.
    Done {
        start: Instant,
        end: Instant,
        told: bool,
    },
}

/// Everything recorded, taken once the run has ended.
pub struct Recorded {
    pub all: Series,
    pub streams: BTreeMap<String, Series>,
    /// Length of the measured period (zero when the run ended during the warm-up).
    pub measured: Duration,
    /// Frames processed during the warm-up.
    pub warmup_frames: u64,
    /// Whether the period ended by the limit (else the streams ended first).
    pub reached_limit: bool,
    /// The streams' counters at the start and the end of the measured period.
    pub at_start: Vec<StreamStats>,
    pub at_end: Option<Vec<StreamStats>>,
}

struct State {
    phase: Phase,
    all: Series,
    streams: BTreeMap<String, Series>,
    warmup_frames: u64,
    at_start: Vec<StreamStats>,
    at_end: Option<Vec<StreamStats>>,
    last_frame: Option<Instant>,
}

pub struct Recorder {
    warmup: Duration,
    limit: Limit,
    state: Mutex<State>,
}

impl Recorder {
    pub fn new(warmup: Duration, limit: Limit) -> Recorder {
        Recorder {
            warmup,
            limit,
            state: Mutex::new(State {
                phase: Phase::WarmingUp { first: None },
                all: Series::default(),
                streams: BTreeMap::new(),
                warmup_frames: 0,
                at_start: Vec::new(),
                at_end: None,
                last_frame: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the period started (the warm-up ended) and is still open.
    pub fn measuring(&self) -> bool {
        matches!(self.lock().phase, Phase::Measuring { .. })
    }

    /// The recording, once the run has returned. A period still open (the streams ended first)
    /// ends at the last frame.
    pub fn take(&self) -> Recorded {
        let mut s = self.lock();
        let (measured, reached_limit) = match s.phase {
            Phase::WarmingUp { .. } => (Duration::ZERO, false),
            Phase::Measuring { start } => {
                (s.last_frame.map_or(Duration::ZERO, |l| l.saturating_duration_since(start)), false)
            }
            Phase::Done { start, end, .. } => (end.saturating_duration_since(start), true),
        };
        Recorded {
            all: std::mem::take(&mut s.all),
            streams: std::mem::take(&mut s.streams),
            measured,
            warmup_frames: s.warmup_frames,
            reached_limit,
            at_start: std::mem::take(&mut s.at_start),
            at_end: s.at_end.take(),
        }
    }
}

impl Probe for Recorder {
    fn frame(&self, f: &FrameSample<'_>) {
        let mut s = self.lock();
        match s.phase {
            Phase::WarmingUp { first } => {
                s.warmup_frames += 1;
                if first.is_none() {
                    s.phase = Phase::WarmingUp { first: Some(f.at) };
                }
            }
            Phase::Measuring { start } => {
                let since = f.at.saturating_duration_since(start);
                s.all.record(f, since);
                s.streams.entry(f.stream.to_string()).or_default().record(f, since);
                s.last_frame = Some(f.at);
                if let Limit::Frames(n) = self.limit
                    && s.all.frames >= n
                {
                    s.phase = Phase::Done { start, end: f.at, told: false };
                }
            }
            Phase::Done { .. } => {}
        }
    }

    fn poll(&self, now: Instant) -> Poll {
        let mut s = self.lock();
        match s.phase {
            Phase::WarmingUp { first: Some(first) } if now.saturating_duration_since(first) >= self.warmup => {
                s.phase = Phase::Measuring { start: now };
                Poll::WarmedUp
            }
            Phase::Measuring { start } => match self.limit {
                Limit::Duration(d) if now.saturating_duration_since(start) >= d => {
                    s.phase = Phase::Done { start, end: start + d, told: true };
                    Poll::Stop
                }
                _ => Poll::Go,
            },
            Phase::Done { start, end, told: false } => {
                s.phase = Phase::Done { start, end, told: true };
                Poll::Stop
            }
            _ => Poll::Go,
        }
    }

    fn mark(&self, what: Poll, streams: Vec<StreamStats>) {
        let mut s = self.lock();
        match what {
            Poll::WarmedUp => s.at_start = streams,
            Poll::Stop => s.at_end = Some(streams),
            Poll::Go => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::StageTimes;

    fn sample<'a>(stream: &'a str, at: Instant, times: &'a StageTimes) -> FrameSample<'a> {
        FrameSample {
            stream,
            at,
            latency: Duration::from_millis(30),
            times,
            tracking: Duration::ZERO,
            sinks: Duration::ZERO,
            visualise: None,
        }
    }

    #[test]
    fn the_warm_up_is_left_out_and_the_duration_ends_the_period() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let times = StageTimes::default();
        let r = Recorder::new(ms(500), Limit::Duration(ms(2000)));
        assert_eq!(r.poll(t0 + ms(900)), Poll::Go, "no frame yet: the warm-up has not started");
        r.frame(&sample("a", t0 + ms(1000), &times));
        assert_eq!(r.poll(t0 + ms(1400)), Poll::Go);
        r.frame(&sample("a", t0 + ms(1450), &times));
        assert_eq!(r.poll(t0 + ms(1500)), Poll::WarmedUp);
        assert!(r.measuring());
        for i in 0..20 {
            r.frame(&sample(if i % 2 == 0 { "a" } else { "b" }, t0 + ms(1500 + 100 * i), &times));
        }
        assert_eq!(r.poll(t0 + ms(3400)), Poll::Go);
        assert_eq!(r.poll(t0 + ms(3500)), Poll::Stop);
        r.frame(&sample("a", t0 + ms(3550), &times));
        let rec = r.take();
        assert_eq!((rec.warmup_frames, rec.all.frames, rec.measured, rec.reached_limit), (2, 20, ms(2000), true));
        assert_eq!((rec.streams["a"].frames, rec.streams["b"].frames), (10, 10));
        assert_eq!(rec.all.windows.rates(rec.measured), vec![10.0, 10.0]);
        assert_eq!(rec.streams["b"].windows.rates(rec.measured), vec![5.0, 5.0]);
    }

    #[test]
    fn a_frame_limit_stops_at_the_nth_measured_frame() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let times = StageTimes::default();
        let r = Recorder::new(Duration::ZERO, Limit::Frames(3));
        r.frame(&sample("a", t0, &times));
        assert_eq!(r.poll(t0 + ms(1)), Poll::WarmedUp);
        for i in 1..=3 {
            assert_eq!(r.poll(t0 + ms(10 * i)), Poll::Go);
            r.frame(&sample("a", t0 + ms(10 * i + 5), &times));
        }
        assert_eq!(r.poll(t0 + ms(100)), Poll::Stop);
        assert_eq!(r.poll(t0 + ms(101)), Poll::Go, "told once");
        let rec = r.take();
        assert_eq!((rec.all.frames, rec.measured, rec.warmup_frames), (3, ms(34), 1));
    }

    #[test]
    fn streams_that_end_first_end_the_period_at_the_last_frame() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let times = StageTimes::default();
        let r = Recorder::new(Duration::ZERO, Limit::Duration(Duration::from_secs(60)));
        r.frame(&sample("a", t0, &times));
        assert_eq!(r.poll(t0), Poll::WarmedUp);
        r.frame(&sample("a", t0 + ms(250), &times));
        r.frame(&sample("a", t0 + ms(500), &times));
        let rec = r.take();
        assert!(!rec.reached_limit);
        assert_eq!(rec.measured, ms(500));
        assert_eq!(rec.all.windows.rates(rec.measured), vec![4.0], "one partial window, scaled to a second");
        let idle = Recorder::new(Duration::from_secs(1), Limit::Frames(5));
        idle.frame(&sample("a", t0, &times));
        assert_eq!(idle.take().measured, Duration::ZERO, "ended during the warm-up");
    }
}
