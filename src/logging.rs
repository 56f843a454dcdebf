//! Logging (`log` + `env_logger`): level from the config, `RUST_LOG` overriding it; under journald
//! (JOURNAL_STREAM set) no timestamps and syslog priority prefixes (`<3>` …) so `journalctl -p
//! err` works; repeats of one call site are rate limited (a dead camera must not fill the journal).

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Messages one key may log in a burst, then one per `REFILL`.
const BURST: f64 = 5.0;
const REFILL: Duration = Duration::from_secs(10);
/// How often pending suppressed counts are looked at (they are reported once their key may log
/// again, so at most one count line per key and `REFILL`).
const SWEEP: Duration = Duration::from_secs(1);
/// Keys kept at most: past it, idle ones are forgotten, and if that is not enough an error shares
/// its call site's key instead of having its own.
const MAX_KEYS: usize = 1024;

/// Records with this target answer an operator's action (a reload: one line per SIGHUP and
/// problem) and are never rate limited: they cannot flood, and a field tech fixing a file must
/// see every answer.
pub const OPERATOR: &str = "edgesight::reload";

/// A message as the limiter sees it.
pub struct Site<'a> {
    pub level: Level,
    pub target: &'a str,
    pub file: &'a str,
    pub line: u32,
    pub text: &'a dyn fmt::Display,
}

/// What a bucket counts: a call site; for errors, a call site and the message's text, so that
/// every distinct error (each stream that gives up, each problem of a refused reload) is logged
/// at least once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    file: String,
    line: u32,
    text: Option<u64>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    suppressed: u64,
    /// When the first of the `suppressed` messages came.
    since: Option<Instant>,
    level: Level,
    target: String,
    /// The text of the latest suppressed message (its buffer reused).
    last: String,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() / REFILL.as_secs_f64();
        self.tokens = (self.tokens + refill).min(BURST);
        self.at = now;
    }

    fn take_count(&mut self, key: &Key, now: Instant) -> Suppressed {
        let since = self.since.take().unwrap_or(now);
        Suppressed {
            level: self.level,
            target: self.target.clone(),
            file: key.file.clone(),
            line: key.line,
            count: std::mem::take(&mut self.suppressed),
            over: now.saturating_duration_since(since),
            last: std::mem::take(&mut self.last),
        }
    }
}

/// A count of suppressed messages, reported on a line of its own when no later message of its key
/// carried it.
#[derive(Debug, Clone, PartialEq)]
pub struct Suppressed {
    pub level: Level,
    pub target: String,
    pub file: String,
    pub line: u32,
    pub count: u64,
    /// From the first suppressed message to the report.
    pub over: Duration,
    pub last: String,
}

impl fmt::Display for Suppressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} similar messages suppressed in the last {:.0} s; the last one: {}",
            self.count,
            self.over.as_secs_f64().max(1.0),
            self.last
        )
    }
}

/// Hashes what a `Display` writes, without building the string.
struct HashWriter<H: Hasher>(H);

impl<H: Hasher> fmt::Write for HashWriter<H> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.hash(&mut self.0);
        Ok(())
    }
}

fn text_hash(text: &dyn fmt::Display) -> u64 {
    let mut w = HashWriter(std::collections::hash_map::DefaultHasher::new());
    let _ = write!(w, "{text}");
    w.0.finish()
}

/// Token bucket per key (see `Key`). Suppressed messages are counted, and the count always comes
/// out: on the key's next message that is let through, or on a line of its own once the key may
/// log again (`due`), or at exit (`drain`).
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<Key, Bucket>>,
}

impl RateLimiter {
    /// Whether a message may go out now, and how many of its key were suppressed before it.
    pub fn allow(&self, site: &Site<'_>, now: Instant) -> Option<u64> {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = Key {
            file: site.file.to_string(),
            line: site.line,
            text: (site.level == Level::Error).then(|| text_hash(site.text)),
        };
        if !map.contains_key(&key) && map.len() >= MAX_KEYS {
            map.retain(|_, b| {
                b.refill(now);
                b.suppressed > 0 || b.tokens < BURST
            });
            if map.len() >= MAX_KEYS {
                key.text = None;
            }
        }
        let b = map.entry(key).or_insert_with(|| Bucket {
            tokens: BURST,
            at: now,
            suppressed: 0,
            since: None,
            level: site.level,
            target: site.target.to_string(),
            last: String::new(),
        });
        b.refill(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.since = None;
            b.last.clear();
            Some(std::mem::take(&mut b.suppressed))
        } else {
            b.suppressed += 1;
            b.since.get_or_insert(now);
            b.last.clear();
            let _ = write!(b.last, "{}", site.text);
            None
        }
    }

    /// The suppressed counts of keys that may log again (each takes one of their tokens): what
    /// would otherwise wait for a message that may never come.
    pub fn due(&self, now: Instant) -> Vec<Suppressed> {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (key, b) in map.iter_mut().filter(|(_, b)| b.suppressed > 0) {
            b.refill(now);
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                out.push(b.take_count(key, now));
            }
        }
        out
    }

    /// Every pending count, whatever the time (at exit).
    pub fn drain(&self, now: Instant) -> Vec<Suppressed> {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        map.iter_mut().filter(|(_, b)| b.suppressed > 0).map(|(key, b)| b.take_count(key, now)).collect()
    }
}

struct Logger {
    inner: env_logger::Logger,
    limiter: RateLimiter,
}

impl Logger {
    fn report(&self, counts: Vec<Suppressed>) {
        for s in counts {
            self.inner.log(
                &Record::builder()
                    .args(format_args!("{s}"))
                    .level(s.level)
                    .target(&s.target)
                    .file(Some(&s.file))
                    .line(Some(s.line))
                    .build(),
            );
        }
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.inner.matches(record) {
            return;
        }
        if record.target() == OPERATOR {
            self.inner.log(record);
            return;
        }
        let site = Site {
            level: record.level(),
            target: record.target(),
            file: record.file().unwrap_or(record.target()),
            line: record.line().unwrap_or(0),
            text: record.args(),
        };
        match self.limiter.allow(&site, Instant::now()) {
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

    /// Reports every pending suppressed count (called at exit).
    fn flush(&self) {
        self.report(self.limiter.drain(Instant::now()));
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
        let logger: &'static Logger = Box::leak(Box::new(Logger { inner: b.build(), limiter: RateLimiter::default() }));
        if log::set_logger(logger).is_ok() {
            // Suppressed counts come out even when their call site goes quiet.
            let _ = std::thread::Builder::new().name("log-counts".into()).spawn(move || {
                loop {
                    std::thread::sleep(SWEEP);
                    logger.report(logger.limiter.due(Instant::now()));
                }
            });
        }
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

    fn site<'a>(level: Level, file: &'a str, line: u32, text: &'a dyn fmt::Display) -> Site<'a> {
        Site { level, target: "edgesight::test", file, line, text }
    }

    #[test]
    fn bursts_then_one_per_refill_period_with_the_suppressed_count() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        let warn = site(Level::Warn, "src/capture/rtsp.rs", 42, &"camera down");
        for _ in 0..5 {
            assert_eq!(r.allow(&warn, t0), Some(0));
        }
        for _ in 0..100 {
            assert_eq!(r.allow(&warn, t0), None);
        }
        // Another call site is not affected.
        assert_eq!(r.allow(&site(Level::Warn, "other.rs", 1, &"x"), t0), Some(0));
        assert_eq!(r.allow(&warn, t0 + REFILL), Some(100));
        assert_eq!(r.allow(&warn, t0 + REFILL), None);
    }

    #[test]
    fn a_suppressed_count_comes_out_when_its_site_goes_quiet() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        for i in 0..8 {
            let text = format!("stream \"gate\": error {i}");
            r.allow(&site(Level::Warn, "src/runtime/streams.rs", 103, &text), t0 + Duration::from_millis(i));
        }
        // Not yet: the site may not log again before a token is back.
        assert_eq!(r.due(t0 + REFILL / 2), Vec::new());
        let due = r.due(t0 + REFILL);
        assert_eq!(due.len(), 1, "{due:?}");
        let s = &due[0];
        assert_eq!((s.count, s.level, s.file.as_str(), s.line), (3, Level::Warn, "src/runtime/streams.rs", 103));
        assert_eq!(s.last, "stream \"gate\": error 7");
        assert_eq!(
            s.to_string(),
            "3 similar messages suppressed in the last 10 s; the last one: stream \"gate\": error 7"
        );
        // Reported once.
        assert_eq!(r.due(t0 + 10 * REFILL), Vec::new());
        // At exit every pending count comes out, due or not.
        r.allow(&site(Level::Warn, "src/runtime/streams.rs", 103, &"again"), t0 + 10 * REFILL);
        assert_eq!(r.drain(t0 + 10 * REFILL), Vec::new(), "nothing suppressed");
        for _ in 0..10 {
            r.allow(&site(Level::Info, "a.rs", 1, &"tick"), t0);
        }
        let drained = r.drain(t0);
        assert_eq!(drained.iter().map(|s| s.count).collect::<Vec<_>>(), [5]);
    }

    #[test]
    fn every_distinct_error_is_logged_and_repeats_are_limited() {
        let r = RateLimiter::default();
        let t0 = Instant::now();
        // Ten streams give up at once at one call site: ten different errors, all logged.
        for i in 0..10 {
            let text = format!("stream \"cam{i}\": giving up after 3 retries");
            assert_eq!(r.allow(&site(Level::Error, "streams.rs", 156, &text), t0), Some(0), "{text}");
        }
        // One error repeated is limited like any line, and its count is kept.
        let same = site(Level::Error, "streams.rs", 156, &"stream \"cam0\": giving up after 3 retries");
        assert_eq!(r.allow(&same, t0), Some(0));
        for _ in 0..3 {
            r.allow(&same, t0);
        }
        assert_eq!(r.allow(&same, t0), None);
        assert_eq!(r.due(t0 + REFILL).iter().map(|s| s.count).collect::<Vec<_>>(), [1]);
    }

    /// A buffer env_logger writes into.
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn reload_answers_are_never_limited_and_counts_are_flushed_at_exit() {
        let buf = Buf::default();
        let inner = env_logger::Builder::new()
            .filter_level(LevelFilter::Trace)
            .format(|f, r| writeln!(f, "{}", r.args()))
            .target(env_logger::Target::Pipe(Box::new(buf.clone())))
            .build();
        let logger = Logger { inner, limiter: RateLimiter::default() };
        let record = |target: &'static str, args: fmt::Arguments<'_>| {
            logger.log(
                &Record::builder()
                    .args(args)
                    .level(Level::Error)
                    .target(target)
                    .file(Some("p.rs"))
                    .line(Some(9))
                    .build(),
            );
        };
        for _ in 0..20 {
            record(OPERATOR, format_args!("reload refused, the running configuration stays: x"));
        }
        for _ in 0..20 {
            record("edgesight::other", format_args!("same error"));
        }
        logger.flush();
        let text = String::from_utf8_lossy(&buf.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
        assert_eq!(text.matches("reload refused").count(), 20, "{text}");
        assert_eq!(text.lines().filter(|l| *l == "same error").count(), 5, "{text}");
        assert!(text.contains("15 similar messages suppressed in the last 1 s; the last one: same error"), "{text}");
    }

    #[test]
    fn syslog_priorities() {
        assert_eq!(priority(Level::Error), 3);
        assert_eq!(priority(Level::Warn), 4);
        assert_eq!(priority(Level::Info), 6);
        assert_eq!(priority(Level::Debug), 7);
    }
}
