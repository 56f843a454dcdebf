//! Keeping one stream up: pull frames, and on an error, an end of stream or a stall (no frame for
//! `stall_timeout`) tear the source down and open it again with exponential backoff and jitter,
//! forever unless `max_retries` says otherwise. A quiet scene is not a stall: only frames count.
//!
//! The logic is generic over the source and the clock so it is tested deterministically with
//! scripted sources and simulated time; `streams.rs` runs it with GStreamer and the real clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use crate::clock::{Clock, RealClock};
use crate::error::Result;
pub use crate::status::RetryReason;

/// What a file that stalls is told to do.
pub const FILE_STALL_HINT: &str = "the file gives no more frames and no end of stream (a decoder stuck in a loop, \
    as with looping GIF animations, or a stalled disk or mount): convert it to a video or still image format";

/// Settings of one stream's supervision (settings, not state: they come from the config).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub stall_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// 0 = retry forever.
    pub max_retries: u64,
    /// End of stream is the normal end (files) rather than an outage.
    pub eos_ends: bool,
    /// Files: start again at the end instead of ending.
    pub looped: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            stall_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            max_retries: 0,
            eos_ends: false,
            looped: false,
        }
    }
}

/// Result of one pull from a source.
pub enum Pulled<F> {
    Frame(F),
    Eos,
    Timeout,
}

/// An open source of frames.
pub trait FrameSource {
    type Frame;
    fn pull(&mut self, timeout: Duration) -> Result<Pulled<Self::Frame>>;
}

/// What the supervisor reports as it goes.
pub trait Events<F> {
    /// A frame to hand on; false stops the stream (shutdown).
    fn frame(&mut self, f: F) -> bool;
    /// The source is about to be reopened after `delay` because of `reason` (`detail` says more).
    fn retry(&mut self, reason: RetryReason, detail: &str, delay: Duration);
    /// Frames flow again after an outage.
    fn reconnected(&mut self);
}

/// How a supervised stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// End of a file (not looped).
    Finished,
    /// Stopped on request.
    Stopped,
    /// `max_retries` reached; the last problem.
    GaveUp(String),
}

/// Exponential backoff with jitter: initial·2^n, capped, then scaled by 0.75..1.0 so many
/// cameras that fail together do not retry in lockstep.
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff { initial, max, attempt: 0, seed: seed | 1 }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn next_delay(&mut self) -> Duration {
        let exp = self.initial.saturating_mul(1u32 << self.attempt.min(20));
        self.attempt += 1;
        let base = exp.min(self.max);
        // xorshift64: no need for a random crate for jitter.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let frac = 0.75 + 0.25 * ((self.seed >> 11) as f64 / (1u64 << 53) as f64);
        base.mul_f64(frac)
    }
}

/// Runs a stream until it ends, is stopped or gives up. `open` makes a new source; `first` is an
/// already opened one (the start-up open that decided whether the service starts at all).
pub fn supervise<S: FrameSource, C: Clock + ?Sized, E: Events<S::Frame>>(
    first: Option<S>,
    mut open: impl FnMut() -> Result<S>,
    policy: &Policy,
    clock: &C,
    events: &mut E,
    stop: &AtomicBool,
    seed: u64,
) -> End {
    let mut backoff = Backoff::new(policy.backoff_initial, policy.backoff_max, seed);
    let mut source = first;
    let mut retries = 0u64;
    // True after an outage until frames flow again.
    let mut recovering = false;
    let pull_timeout = (policy.stall_timeout / 4).clamp(Duration::from_millis(10), Duration::from_millis(200));
    loop {
        if stop.load(Ordering::SeqCst) {
            return End::Stopped;
        }
        let mut src = match source.take() {
            Some(s) => s,
            None => match open() {
                Ok(s) => s,
                Err(e) => {
                    recovering = true;
                    match retry(policy, &mut retries, &mut backoff, RetryReason::Error, &e.to_string(), events) {
                        Some(delay) if clock.sleep(delay, stop) => continue,
                        Some(_) => return End::Stopped,
                        None => return End::GaveUp(e.to_string()),
                    }
                }
            },
        };
        let mut last_frame = clock.now();
        let (reason, detail) = loop {
            if stop.load(Ordering::SeqCst) {
                return End::Stopped;
            }
            match src.pull(pull_timeout) {
                Ok(Pulled::Frame(f)) => {
                    last_frame = clock.now();
                    if recovering {
                        recovering = false;
                        backoff.reset();
                        retries = 0;
                        events.reconnected();
                    }
                    if !events.frame(f) {
                        return End::Stopped;
                    }
                }
                Ok(Pulled::Timeout) => {
                    let quiet = clock.now().saturating_duration_since(last_frame);
                    if quiet >= policy.stall_timeout {
                        break (RetryReason::Stall, format!("no frame for {:.1} s", quiet.as_secs_f64()));
                    }
                }
                Ok(Pulled::Eos) if policy.eos_ends && policy.looped => break (RetryReason::Eos, String::new()),
                Ok(Pulled::Eos) if policy.eos_ends => return End::Finished,
                Ok(Pulled::Eos) => break (RetryReason::Eos, "the source ended its stream".to_string()),
                Err(e) => break (RetryReason::Error, e.to_string()),
            }
        };
        drop(src);
        if policy.eos_ends && policy.looped && reason == RetryReason::Eos {
            // A looped file starts again at once; not an outage.
            continue;
        }
        if policy.eos_ends && reason == RetryReason::Stall {
            // A file that stops giving frames without ending will do so again: reopening it
            // would only burn the CPU its decoder spins on.
            return End::GaveUp(format!("{detail}; {FILE_STALL_HINT}"));
        }
        recovering = true;
        match retry(policy, &mut retries, &mut backoff, reason, &detail, events) {
            Some(delay) if clock.sleep(delay, stop) => {}
            Some(_) => return End::Stopped,
            None => return End::GaveUp(format!("{reason}: {detail}")),
        }
    }
}

/// Counts a retry; the delay before it, or None when `max_retries` is used up.
fn retry<F, E: Events<F>>(
    policy: &Policy,
    retries: &mut u64,
    backoff: &mut Backoff,
    reason: RetryReason,
    detail: &str,
    events: &mut E,
) -> Option<Duration> {
    *retries += 1;
    if policy.max_retries > 0 && *retries > policy.max_retries {
        return None;
    }
    let delay = backoff.next_delay();
    events.retry(reason, detail, delay);
    Some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    use crate::clock::SimClock;

    /// What a scripted source does on each pull.
    #[derive(Clone, Debug)]
    enum Step {
        Frame,
        Silence,
        Eos,
        Fail,
    }

    struct Scripted {
        steps: VecDeque<Step>,
        clock: SimClock,
        frame_interval: Duration,
    }

    impl FrameSource for Scripted {
        type Frame = Duration;
        fn pull(&mut self, timeout: Duration) -> Result<Pulled<Duration>> {
            match self.steps.pop_front().unwrap_or(Step::Silence) {
                Step::Frame => {
                    self.clock.advance(self.frame_interval);
                    Ok(Pulled::Frame(self.clock.elapsed()))
                }
                Step::Silence => {
                    self.clock.advance(timeout);
                    Ok(Pulled::Timeout)
                }
                Step::Eos => Ok(Pulled::Eos),
                Step::Fail => Err(crate::Error::source("connection reset")),
            }
        }
    }

    #[derive(Default)]
    struct Log {
        frames: Vec<Duration>,
        retries: Vec<(RetryReason, Duration, Duration)>,
        reconnects: u32,
        stop_after_frames: Option<usize>,
        clock: Option<SimClock>,
    }

    impl Events<Duration> for Log {
        fn frame(&mut self, f: Duration) -> bool {
            self.frames.push(f);
            self.stop_after_frames.is_none_or(|n| self.frames.len() < n)
        }
        fn retry(&mut self, reason: RetryReason, _detail: &str, delay: Duration) {
            let at = self.clock.as_ref().map_or(Duration::ZERO, SimClock::elapsed);
            self.retries.push((reason, delay, at));
        }
        fn reconnected(&mut self) {
            self.reconnects += 1;
        }
    }

    fn policy() -> Policy {
        Policy { stall_timeout: Duration::from_secs(10), ..Policy::default() }
    }

    /// Runs the supervisor over a sequence of scripted connections (None = the open fails).
    fn run(connections: Vec<Option<Vec<Step>>>, policy: &Policy, stop_after_frames: usize) -> (End, Log, SimClock) {
        let clock = SimClock::new();
        let mut conns: VecDeque<Option<Vec<Step>>> = connections.into();
        let c = clock.clone();
        let open = move || match conns.pop_front() {
            Some(Some(steps)) => {
                Ok(Scripted { steps: steps.into(), clock: c.clone(), frame_interval: Duration::from_millis(100) })
            }
            _ => Err(crate::Error::source("connection refused")),
        };
        let mut log = Log { stop_after_frames: Some(stop_after_frames), clock: Some(clock.clone()), ..Log::default() };
        let stop = AtomicBool::new(false);
        let end = supervise(None, open, policy, &clock, &mut log, &stop, 42);
        (end, log, clock)
    }

    #[test]
    fn outages_are_retried_with_growing_capped_backoff_and_counted_by_reason() {
        let frames = |n| vec![Step::Frame; n];
        let mut second = frames(3);
        second.push(Step::Eos);
        let (end, log, _) = run(
            vec![
                Some([frames(5), vec![Step::Fail]].concat()),
                None,
                None,
                None,
                None,
                None,
                None,
                Some(second),
                Some(frames(10)),
            ],
            &policy(),
            18,
        );
        assert_eq!(end, End::Stopped);
        let reasons: Vec<RetryReason> = log.retries.iter().map(|r| r.0).collect();
        use RetryReason::*;
        assert_eq!(reasons, vec![Error, Error, Error, Error, Error, Error, Error, Eos]);
        // 1, 2, 4, 8, 16, 30 (cap), 30 s, each with at most 25% jitter off.
        let nominal = [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0];
        for (r, n) in log.retries.iter().zip(nominal) {
            let d = r.1.as_secs_f64();
            assert!(d <= n && d >= 0.75 * n, "delay {d} for nominal {n}");
        }
        // Frames flowed again after each outage: two reconnects, and the backoff started over.
        assert_eq!(log.reconnects, 2);
        assert!(log.retries[7].1 <= Duration::from_secs(1), "backoff reset after frames flowed");
        assert_eq!(log.frames.len(), 18);
    }

    #[test]
    fn stall_is_detected_after_stall_timeout_not_before() {
        let steps = [vec![Step::Frame; 3], vec![Step::Silence; 1000]].concat();
        let (_, log, _) = run(vec![Some(steps), Some(vec![Step::Frame; 5])], &policy(), 8);
        let (reason, _, at) = log.retries[0];
        assert_eq!(reason, RetryReason::Stall);
        // Last frame at 0.3 s; detected within one pull timeout (200 ms) after 10 s of silence.
        assert!(at >= Duration::from_millis(10_300) && at <= Duration::from_millis(10_500), "stall detected at {at:?}");
        assert_eq!(log.reconnects, 1);
    }

    #[test]
    fn a_source_that_opens_but_never_sends_is_a_stall() {
        let (_, log, _) = run(vec![Some(vec![]), Some(vec![Step::Frame])], &policy(), 1);
        assert_eq!(log.retries[0].0, RetryReason::Stall);
    }

    #[test]
    fn max_retries_gives_up_and_files_end_or_loop() {
        let p = Policy { max_retries: 2, ..policy() };
        let (end, log, _) = run(vec![None, None, None, None], &p, 100);
        assert!(matches!(end, End::GaveUp(_)), "{end:?}");
        assert_eq!(log.retries.len(), 2);
        let file = Policy { eos_ends: true, ..policy() };
        let (end, log, _) = run(vec![Some(vec![Step::Frame, Step::Frame, Step::Eos])], &file, 100);
        assert_eq!((end, log.frames.len(), log.retries.len()), (End::Finished, 2, 0));
        let looped = Policy { eos_ends: true, looped: true, ..policy() };
        let clip = vec![Step::Frame, Step::Frame, Step::Eos];
        let (_, log, clock) = run(vec![Some(clip.clone()), Some(clip.clone()), Some(clip)], &looped, 5);
        assert_eq!((log.frames.len(), log.retries.len(), log.reconnects), (5, 0, 0));
        assert!(clock.elapsed() < Duration::from_secs(1), "loops restart without backoff");
    }

    #[test]
    fn a_file_that_stalls_gives_up_instead_of_retrying() {
        let file = Policy { eos_ends: true, ..policy() };
        let steps = [vec![Step::Frame], vec![Step::Silence; 1000]].concat();
        let (end, log, _) = run(vec![Some(steps), Some(vec![Step::Frame; 5])], &file, 100);
        assert!(matches!(&end, End::GaveUp(m) if m.contains("no frame for") && m.contains("GIF")), "{end:?}");
        assert_eq!((log.frames.len(), log.retries.len()), (1, 0), "not reopened");
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 7);
        for n in 0..30 {
            let d = b.next_delay().as_secs_f64();
            let nominal = (2f64.powi(n)).min(30.0);
            assert!(d <= nominal && d >= 0.75 * nominal);
        }
    }

    #[test]
    fn a_short_stall_timeout_is_polled_a_quarter_at_a_time() {
        // The pull timeout is a quarter of stall_timeout (between 10 and 200 ms): a stall is seen
        // at most a quarter late. 120 ms → 30 ms pulls: last frame at 0.3 s, seen at 0.42 s.
        let p = Policy { stall_timeout: Duration::from_millis(120), ..Policy::default() };
        let steps = [vec![Step::Frame; 3], vec![Step::Silence; 1000]].concat();
        let (_, log, _) = run(vec![Some(steps), Some(vec![Step::Frame; 5])], &p, 8);
        let (reason, _, at) = log.retries[0];
        assert_eq!(reason, RetryReason::Stall);
        assert!(at >= Duration::from_millis(420) && at <= Duration::from_millis(450), "stall detected at {at:?}");
    }

    #[test]
    fn jitter_spreads_over_its_whole_range_and_differs_between_streams() {
        // Capped delays, so only the jitter varies: 0.75..1.0 of 30 s, spread out (not stuck at
        // one end, which would bring back the lockstep the jitter is there to break) ...
        let fractions = |seed| {
            let mut b = Backoff::new(Duration::from_secs(30), Duration::from_secs(30), seed);
            (0..200).map(|_| b.next_delay().as_secs_f64() / 30.0).collect::<Vec<f64>>()
        };
        let f = fractions(7);
        let min = f.iter().copied().fold(f64::INFINITY, f64::min);
        let max = f.iter().copied().fold(0.0, f64::max);
        assert!((0.75..0.8).contains(&min) && max > 0.95 && max <= 1.0, "jitter range {min}..{max}");
        // ... and two streams (seeds) that fail together retry at different times.
        let g = fractions(8);
        assert!(f.iter().zip(&g).filter(|(a, b)| a != b).count() > 190, "seeds 7 and 8 retry in lockstep");
    }
}
