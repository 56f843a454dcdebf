//! Time, real or simulated. Everything that decides by time (supervision, the mailbox, the inference
//! loop, the watchdog, stats) reads a `Clock`, so its timing logic is tested on simulated time:
//! deterministic, instant, and independent of how loaded the test machine is.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A source of time. Shared as `Arc<dyn Clock>` between threads.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    /// Sleeps `d` unless `stop` is raised first; false when stopped.
    fn sleep(&self, d: Duration, stop: &AtomicBool) -> bool;
    /// How long to really block on a condition variable for a wait of at most `d`. A simulated
    /// clock advances by `d` and answers zero: in a test nothing else happens while the waiter
    /// waits, so the wait times out at once, `d` later in simulated time.
    fn blocking(&self, d: Duration) -> Duration;
}

pub type SharedClock = Arc<dyn Clock>;

/// The wall clock (monotonic).
#[derive(Debug, Default, Clone, Copy)]
pub struct RealClock;

impl RealClock {
    pub fn shared() -> SharedClock {
        Arc::new(RealClock)
    }
}

impl Clock for RealClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, d: Duration, stop: &AtomicBool) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if stop.load(Ordering::SeqCst) {
                return false;
            }
            // Short naps so a stop request is seen within 50 ms.
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
        }
        !stop.load(Ordering::SeqCst)
    }

    fn blocking(&self, d: Duration) -> Duration {
        d
    }
}

/// Simulated time: it moves only when told to (`advance`) or when someone sleeps or waits on it.
/// Clones share the same time.
#[derive(Debug, Clone)]
pub struct SimClock {
    t0: Instant,
    offset_ns: Arc<AtomicU64>,
}

impl Default for SimClock {
    fn default() -> Self {
        SimClock { t0: Instant::now(), offset_ns: Arc::new(AtomicU64::new(0)) }
    }
}

impl SimClock {
    pub fn new() -> SimClock {
        SimClock::default()
    }

    pub fn advance(&self, d: Duration) {
        self.offset_ns.fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::SeqCst);
    }

    /// Simulated time since the clock was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.offset_ns.load(Ordering::SeqCst))
    }

    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

impl Clock for SimClock {
    fn now(&self) -> Instant {
        self.t0 + self.elapsed()
    }

    fn sleep(&self, d: Duration, stop: &AtomicBool) -> bool {
        self.advance(d);
        !stop.load(Ordering::SeqCst)
    }

    fn blocking(&self, d: Duration) -> Duration {
        self.advance(d);
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_time_moves_only_when_told_and_clones_share_it() {
        let c = SimClock::new();
        let t = c.now();
        let other = c.clone();
        other.advance(Duration::from_millis(250));
        assert_eq!(c.now() - t, Duration::from_millis(250));
        assert!(c.sleep(Duration::from_secs(2), &AtomicBool::new(false)));
        assert_eq!(c.blocking(Duration::from_millis(50)), Duration::ZERO);
        assert_eq!(other.elapsed(), Duration::from_millis(2300));
    }
}
