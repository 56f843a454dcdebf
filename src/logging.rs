//! Logging (`log` + `env_logger`): level from the config, `RUST_LOG` overriding it; under journald
//! (JOURNAL_STREAM set) no timestamps and syslog priority prefixes (`<3>` …) so `journalctl -p
//! err` works; repeats of one call site are rate limited (a dead camera must not fill the journal).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Messages one call site may log in a burst, then one per `REFILL`.
const BURST: f64 = 5.0;
const REFILL: Duration = Duration::from_secs(10);

struct Bucket {
    tokens: f64,
    at: Instant,
    suppressed: u64,
}

/// Token bucket per call site.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, u32), Bucket>>,
}

impl RateLimiter {
    /// Whether a message from `site` may go out now, and how many were suppressed before it.
    pub fn allow(&self, site: (&str, u32), now: Instant) -> Option<u64> {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = map.entry((site.0.to_string(), site.1)).or_insert(Bucket { tokens: BURST, at: now, suppressed: 0 });
        let refill = now.saturating_duration_since(b.at).as_secs_f64() / REFILL.as_secs_f64();
        b.tokens = (b.tokens + refill).min(BURST);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Some(std::mem::take(&mut b.suppressed))
        } else {
            b.suppressed += 1;
            None
        }
    }
}

struct Logger {
    inner: env_logger::Logger,
    limiter: RateLimiter,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.inner.matches(record) {
            return;
        }
        let site = (record.file().unwrap_or(record.target()), record.line().unwrap_or(0));
        match self.limiter.allow(site, Instant::now()) {
            None => {}
            Some(0) => self.inner.log(record),
            Some(n) => self.inner.log(
                &Record::builder()
                    .args(format_args!("{} ({n} similar messages suppressed)", record.args()))
                    .metadata(record.metadata().clone())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            ),
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// syslog priority of a level, as journald reads it from a `<N>` prefix.
pub fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

fn rust_log_set() -> bool {
    std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty())
}

/// Installs the logger once; later calls only change the level (configuration reload).
pub fn init(level: LevelFilter) {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        let mut b = env_logger::Builder::new();
        // Everything passes the inner filter unless RUST_LOG narrows it; the level of the config
        // is applied with log::set_max_level so a reload can change it.
        b.filter_level(LevelFilter::Trace);
        b.filter_module("ort", LevelFilter::Warn);
        b.parse_env("RUST_LOG");
        // Messages carry text from outside (names, paths, GStreamer's words): written with
        // control and bidi characters escaped, so a line is always one true line.
        if std::env::var_os("JOURNAL_STREAM").is_some() {
            b.format(|f, r| {
                let msg = r.args().to_string();
                writeln!(f, "<{}>{}: {}", priority(r.level()), r.target(), crate::text::printable(&msg))
            });
        } else {
            b.format(|f, r| {
                let msg = r.args().to_string();
                let ts = f.timestamp_millis();
                writeln!(f, "[{ts} {:<5} {}] {}", r.level(), r.target(), crate::text::printable(&msg))
            });
        }
        let logger = Logger { inner: b.build(), limiter: RateLimiter::default() };
        let _ = log::set_boxed_logger(Box::new(logger));
    });
    set_level(level);
}

/// Applies the configured level, unless RUST_LOG decides.
pub fn set_level(level: LevelFilter) {
    log::set_max_level(if rust_log_set() { LevelFilter::Trace } else { level });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_one_per_refill_period_with_the_suppressed_count() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        let site = ("src/capture/rtsp.rs", 42);
        for _ in 0..5 {
            assert_eq!(r.allow(site, t0), Some(0));
        }
        for _ in 0..100 {
            assert_eq!(r.allow(site, t0), None);
        }
        // Another call site is not affected.
        assert_eq!(r.allow(("other.rs", 1), t0), Some(0));
        assert_eq!(r.allow(site, t0 + REFILL), Some(100));
        assert_eq!(r.allow(site, t0 + REFILL), None);
    }

    #[test]
    fn syslog_priorities() {
        assert_eq!(priority(Level::Error), 3);
        assert_eq!(priority(Level::Warn), 4);
        assert_eq!(priority(Level::Info), 6);
        assert_eq!(priority(Level::Debug), 7);
    }
}
