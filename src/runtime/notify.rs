//! systemd integration: READY=1 once the model is loaded and the sources are open, WATCHDOG=1
//! only while the inference loop makes progress (a wedged inference stops the pings and systemd
//! restarts the service), STATUS= lines, RELOADING=1 / STOPPING=1. Without NOTIFY_SOCKET every
//! call is a no-op.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Progress marker the inference loop refreshes on every iteration (it never waits longer than
/// a fraction of a second when healthy).
#[derive(Clone)]
pub struct Heartbeat {
    epoch: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat { epoch: Instant::now(), last_ms: Arc::new(AtomicU64::new(0)) }
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        self.last_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub fn age(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        log::debug!("sd_notify: {e}");
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
    pub fn start(heartbeat: Heartbeat) -> Notifier {
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
                // Ping at half the watchdog period, and only if the pipeline moved within it.
                let period = watchdog.map_or(Duration::from_secs(2), |w| (w / 2).max(Duration::from_millis(50)));
                let mut last_status = String::new();
                let mut last_status_at = Instant::now() - Duration::from_secs(60);
                while !sp.load(Ordering::SeqCst) {
                    if let Some(w) = watchdog
                        && rd.load(Ordering::SeqCst)
                        && hb.age() < w / 2
                    {
                        send(&[NotifyState::Watchdog]);
                    }
                    let current = st.lock().map(|s| s.clone()).unwrap_or_default();
                    if !current.is_empty()
                        && (current != last_status || last_status_at.elapsed() > Duration::from_secs(10))
                    {
                        send(&[NotifyState::Status(&current)]);
                        last_status = current;
                        last_status_at = Instant::now();
                    }
                    let until = Instant::now() + period.min(Duration::from_secs(2));
                    while Instant::now() < until && !sp.load(Ordering::SeqCst) {
                        thread::sleep(Duration::from_millis(20));
                    }
                }
            })
            .ok();
        Notifier { heartbeat, ready, status, stop, thread }
    }

    pub fn heartbeat(&self) -> &Heartbeat {
        &self.heartbeat
    }

    pub fn ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
        send(&[NotifyState::Ready]);
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
