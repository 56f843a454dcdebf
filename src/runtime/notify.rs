//! systemd integration: READY=1 once the model is loaded and the sources are open, WATCHDOG=1
//! only while the inference loop makes progress (a wedged inference stops the pings and systemd
//! restarts the service), STATUS= lines, RELOADING=1 / STOPPING=1. Without NOTIFY_SOCKET every
//! call is a no-op.
//!
//! What to send on each tick is decided by `Watchdog`, a pure function of the time, readiness and
//! the heartbeat's age, tested on simulated time; the thread only sends it.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

use crate::clock::SharedClock;
pub use crate::status::Heartbeat;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        log::debug!("sd_notify: {e}");
    }
}

/// An unchanged STATUS= is sent again after this long (systemd shows it; a restarted systemd
/// has lost it).
const STATUS_REPEAT: Duration = Duration::from_secs(10);

/// The notifier's decisions: ping at half the watchdog period, and only if the pipeline moved
/// within it; STATUS= when it changes and every `STATUS_REPEAT`.
#[derive(Debug)]
pub struct Watchdog {
    /// WATCHDOG_USEC, when systemd asked for pings.
    watchdog: Option<Duration>,
    last_status: String,
    last_status_at: Option<Instant>,
}

/// What one tick sends.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tick {
    pub ping: bool,
    pub status: Option<String>,
}

impl Watchdog {
    pub fn new(watchdog: Option<Duration>) -> Watchdog {
        Watchdog { watchdog, last_status: String::new(), last_status_at: None }
    }

    /// Time between ticks.
    pub fn period(&self) -> Duration {
        self.watchdog
            .map_or(Duration::from_secs(2), |w| (w / 2).max(Duration::from_millis(50)))
            .min(Duration::from_secs(2))
    }

    pub fn tick(&mut self, now: Instant, ready: bool, heartbeat_age: Duration, status: &str) -> Tick {
        let ping = self.watchdog.is_some_and(|w| ready && heartbeat_age < w / 2);
        let due = self.last_status_at.is_none_or(|t| now.saturating_duration_since(t) > STATUS_REPEAT);
        let status = (!status.is_empty() && (status != self.last_status || due)).then(|| {
            self.last_status = status.to_string();
            self.last_status_at = Some(now);
            self.last_status.clone()
        });
        Tick { ping, status }
    }
}

pub struct Notifier {
    heartbeat: Heartbeat,
    /// Watchdog pings start with READY=1.
    ready: Arc<AtomicBool>,
    status: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Notifier {
    /// Starts the thread that sends WATCHDOG=1 (when systemd asked for it) and STATUS= updates.
    pub fn start(heartbeat: Heartbeat, clock: SharedClock) -> Notifier {
        let status = Arc::new(Mutex::new(String::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let watchdog = sd_notify::watchdog_enabled();
        if let Some(w) = watchdog {
            log::info!("systemd watchdog every {:?}", w);
        }
        let ready = Arc::new(AtomicBool::new(false));
        let (hb, st, sp, rd) = (heartbeat.clone(), Arc::clone(&status), Arc::clone(&stop), Arc::clone(&ready));
        let thread = thread::Builder::new()
            .name("notify".into())
            .spawn(move || {
                let mut dog = Watchdog::new(watchdog);
                while !sp.load(Ordering::SeqCst) {
                    let current = st.lock().map(|s| s.clone()).unwrap_or_default();
                    let tick = dog.tick(clock.now(), rd.load(Ordering::SeqCst), hb.age(), &current);
                    if tick.ping {
                        send(&[NotifyState::Watchdog]);
                    }
                    if let Some(s) = &tick.status {
                        send(&[NotifyState::Status(s)]);
                    }
                    clock.sleep(dog.period(), &sp);
                }
            })
            .ok();
        Notifier { heartbeat, ready, status, stop, thread }
    }

    pub fn heartbeat(&self) -> &Heartbeat {
        &self.heartbeat
    }

    pub fn ready(&self) {
        // READY=1 first, then pings may start: a ping systemd sees before READY=1 is ignored,
        // and the order is part of the protocol tests/service.rs holds us to.
        send(&[NotifyState::Ready]);
        self.ready.store(true, Ordering::SeqCst);
    }

    pub fn reloading(&self) {
        send(&[NotifyState::Reloading]);
    }

    pub fn stopping(&self) {
        send(&[NotifyState::Stopping]);
    }

    /// Sets the STATUS= text (sent by the notifier thread when it changes, and every 10 s).
    pub fn set_status(&self, s: String) {
        if let Ok(mut g) = self.status.lock() {
            *g = s;
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SimClock};

    /// Pings over `seconds` of simulated time, with the inference loop beating until `wedged_at`.
    fn pings(watchdog: Duration, seconds: u64, wedged_at: Option<Duration>) -> Vec<Duration> {
        let clock = SimClock::new();
        let hb = Heartbeat::new(clock.shared());
        let mut dog = Watchdog::new(Some(watchdog));
        let mut out = Vec::new();
        let stop = AtomicBool::new(false);
        while clock.elapsed() < Duration::from_secs(seconds) {
            // The loop beats every 100 ms while healthy; the notifier ticks at its own period.
            if wedged_at.is_none_or(|w| clock.elapsed() < w) {
                hb.beat();
            }
            if dog.tick(clock.now(), true, hb.age(), "").ping {
                out.push(clock.elapsed());
            }
            clock.sleep(Duration::from_millis(100).min(dog.period()), &stop);
        }
        out
    }

    #[test]
    fn pings_while_the_loop_moves_and_stops_within_half_a_period_of_a_wedge() {
        let w = Duration::from_millis(400);
        let healthy = pings(w, 10, None);
        assert_eq!(healthy.len(), 100, "a tick every 100 ms (at most w/2), each one a ping");
        let wedged = pings(w, 10, Some(Duration::from_secs(5)));
        let last = *wedged.last().expect("pings before the wedge");
        assert!(last < Duration::from_secs(5) + w / 2, "last ping {last:?}, wedged at 5 s");
        assert!(last >= Duration::from_millis(4900), "pings continued up to the wedge: {last:?}");
    }

    #[test]
    fn no_ping_before_ready_or_without_a_watchdog() {
        let clock = SimClock::new();
        let now = clock.now();
        assert!(!Watchdog::new(Some(Duration::from_secs(1))).tick(now, false, Duration::ZERO, "").ping);
        assert!(!Watchdog::new(None).tick(now, true, Duration::ZERO, "").ping);
    }

    #[test]
    fn status_is_sent_on_change_and_repeated_every_ten_seconds() {
        let clock = SimClock::new();
        let mut dog = Watchdog::new(None);
        let mut sent = Vec::new();
        for (t, s) in [(0, "a"), (1, "a"), (2, "b"), (12, "b"), (13, "b"), (14, "")] {
            clock.advance(Duration::from_secs(t) - clock.elapsed());
            if let Some(x) = dog.tick(clock.now(), true, Duration::ZERO, s).status {
                sent.push((t, x));
            }
        }
        assert_eq!(sent, vec![(0, "a".to_string()), (2, "b".to_string()), (13, "b".to_string())]);
    }
}
