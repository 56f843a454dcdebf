//! `edgesight run`: every enabled stream captured on its own thread, newest frame handed to one
//! inference loop, events to the configured sink; SIGHUP reloads the configuration, SIGTERM and
//! SIGINT drain and stop; systemd is told about readiness, progress and shutdown.
//!
//! Start-up order is model, outputs, sources: a configuration that cannot run fails before any
//! event is written, with the exit code of the part that failed. A reload is prepared completely
//! (new model, outputs and streams opened) before anything running is touched, so an invalid or
//! unusable new configuration leaves the running one as it was.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use super::mailbox::{Mailbox, StreamState, StreamStats, Take};
use super::notify::{Heartbeat, Notifier};
use super::signals::Signals;
use super::streams::{self, Runner};
use super::{Detector, capture_options};
use crate::capture::{CaptureOptions, Frame, GstCapture};
use crate::config::{self, Config, EventTarget, StreamConfig};
use crate::error::{Error, Result};
use crate::metrics::http::{MetricsServer, Sources};
use crate::metrics::{RunStats, StageTimes};
use crate::sink::{Event, JsonlSink, Sink};

/// Summary of a finished run.
pub struct RunReport {
    pub stats: RunStats,
    pub engine: &'static str,
    pub streams: Vec<StreamStats>,
}

pub fn open_sink(cfg: &Config) -> Result<Box<dyn Sink>> {
    Ok(match &cfg.output.jsonl {
        EventTarget::Stdout => Box::new(JsonlSink::stdout()),
        EventTarget::File(p) => Box::new(JsonlSink::file(p)?),
    })
}

/// Hooks for tests that need a slow or wedged engine (documented in the ops runbook):
/// `EDGESIGHT_TEST_INFERENCE_DELAY_MS` adds a delay to every inference,
/// `EDGESIGHT_TEST_STALL_AFTER_FRAMES` wedges the inference loop after that many frames.
#[derive(Debug, Default, Clone, Copy)]
struct TestHooks {
    delay: Option<Duration>,
    stall_after: Option<u64>,
}

impl TestHooks {
    fn from_env() -> TestHooks {
        let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        let hooks = TestHooks {
            delay: num("EDGESIGHT_TEST_INFERENCE_DELAY_MS").map(Duration::from_millis),
            stall_after: num("EDGESIGHT_TEST_STALL_AFTER_FRAMES"),
        };
        if hooks.delay.is_some() || hooks.stall_after.is_some() {
            log::warn!("test hooks active: {hooks:?}");
        }
        hooks
    }
}

fn enabled(cfg: &Config) -> Vec<StreamConfig> {
    cfg.streams.iter().filter(|s| s.enabled).cloned().collect()
}

fn no_streams(cfg: &Config) -> Error {
    Error::config(format!(
        "{}: no enabled [[stream]]; add one with name and uri (see configs/x86-dev.toml)",
        cfg.origin.as_ref().map_or("<config>".into(), |p| p.display().to_string())
    ))
}

/// Opens every stream or none: on the first failure the ones already opened are dropped.
fn open_all(list: &[StreamConfig], base: &CaptureOptions) -> Result<Vec<(StreamConfig, GstCapture)>> {
    list.iter().map(|s| Ok((s.clone(), streams::open(s, base)?))).collect()
}

struct Runtime {
    cfg: Config,
    config_path: Option<PathBuf>,
    detector: Detector,
    sink: Box<dyn Sink>,
    base: CaptureOptions,
    mailbox: Arc<Mailbox>,
    runners: Vec<Runner>,
    retired: Vec<Runner>,
    /// Stream name by mailbox id.
    names: Vec<String>,
    notifier: Notifier,
    stats: Arc<Mutex<RunStats>>,
    metrics: Option<MetricsServer>,
    times: StageTimes,
    hooks: TestHooks,
}

impl Runtime {
    fn stats(&self) -> MutexGuard<'_, RunStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn metrics_sources(&self, cfg: &Config) -> Sources {
        Sources {
            device: cfg.device.name.clone(),
            stats: Arc::clone(&self.stats),
            mailbox: Arc::clone(&self.mailbox),
            heartbeat: self.notifier.heartbeat().clone(),
            max_frame_age: cfg.metrics.max_frame_age,
        }
    }

    fn start_streams(&mut self, opened: Vec<(StreamConfig, GstCapture)>) -> Result<()> {
        for (sc, cap) in opened {
            let id = self.mailbox.add(&sc.name);
            self.names.push(sc.name.clone());
            self.runners.push(Runner::spawn(id, sc, cap, self.base.clone(), Arc::clone(&self.mailbox))?);
        }
        Ok(())
    }

    fn status_line(&self) -> String {
        let stats = self.mailbox.stats();
        let up = stats.iter().filter(|s| s.state == StreamState::Up).count();
        let dropped: u64 = stats.iter().map(|s| s.dropped_busy + s.dropped_fps_limit).sum();
        let run = self.stats();
        let reconnects: u64 = stats.iter().map(|s| s.reconnects).sum();
        format!(
            "{up}/{} streams up, {:.1} fps, {} frames, {dropped} dropped, {reconnects} reconnects",
            stats.len(),
            run.recent_fps(),
            run.frames
        )
    }

    /// Runs one frame through the detector and writes its event.
    fn process(&mut self, id: usize, frame: Frame) -> Result<()> {
        if let Some(d) = self.hooks.delay {
            thread::sleep(d);
        }
        let (dets, labels) = self.detector.detect(&frame, &mut self.times)?;
        let latency = frame.captured.elapsed();
        self.sink.emit(&Event {
            ts: SystemTime::now(),
            stream: &self.names[id],
            frame: frame.index,
            pts_ms: frame.pts_ms,
            width: frame.source_width,
            height: frame.source_height,
            latency_ms: latency.as_secs_f64() * 1e3,
            detections: dets,
            labels,
        })?;
        let times = self.times;
        self.stats().record(latency, &times);
        self.mailbox.count_processed(id);
        Ok(())
    }

    /// Re-reads the configuration and applies it; on any problem the running one stays.
    fn reload(&mut self) -> Result<String> {
        let Some(path) = self.config_path.clone() else {
            return Err(Error::config("this run has no configuration file to reload"));
        };
        let loaded = config::load(&path)?;
        self.apply(loaded.config.clone()).map_err(|e| loaded.locate(e))
    }

    fn apply(&mut self, new: Config) -> Result<String> {
        let wanted = enabled(&new);
        if wanted.is_empty() {
            return Err(no_streams(&new));
        }
        // Prepare: everything that can fail happens before anything running changes.
        let new_detector =
            if new.model.same_network(&self.cfg.model) { None } else { Some(Detector::load(&new.model)?) };
        let new_post = match &new_detector {
            None if new.model != self.cfg.model => Some(self.detector.postprocess_for(&new.model)?),
            _ => None,
        };
        let new_sink = if new.output != self.cfg.output { Some(open_sink(&new)?) } else { None };
        let new_metrics = if new.metrics != self.cfg.metrics {
            // Free the old address first when it is the one being reused.
            if new.metrics.listen == self.cfg.metrics.listen {
                self.metrics = None;
            }
            Some(match &new.metrics.listen {
                Some(l) => Some(MetricsServer::start(l, self.metrics_sources(&new))?),
                None => None,
            })
        } else {
            None
        };
        let spec = new_detector.as_ref().unwrap_or(&self.detector).input_spec();
        let new_base = capture_options(spec, new.pipeline.resize);
        let restart_all = new_base != self.base;
        let keep = |r: &Runner| !restart_all && wanted.contains(&r.config);
        let to_open: Vec<StreamConfig> =
            wanted.iter().filter(|w| restart_all || !self.runners.iter().any(|r| r.config == **w)).cloned().collect();
        let opened = open_all(&to_open, &new_base)?;
        // Commit.
        let (mut stopped, mut kept) = (0, 0);
        let mut running = Vec::new();
        for r in std::mem::take(&mut self.runners) {
            if keep(&r) {
                kept += 1;
                running.push(r);
            } else {
                r.stop();
                self.mailbox.retire(r.id);
                stopped += 1;
                self.retired.push(r);
            }
        }
        self.runners = running;
        let started = opened.len();
        if let Some(d) = new_detector {
            self.detector = d;
        }
        if let Some(p) = new_post {
            self.detector.set_postprocess(p);
        }
        if let Some(s) = new_sink {
            let _ = self.sink.flush();
            self.sink = s;
        }
        if let Some(m) = new_metrics {
            self.metrics = m;
        }
        self.base = new_base;
        crate::logging::set_level(new.device.log_level);
        let model_note = if new.model == self.cfg.model { "model unchanged" } else { "model settings applied" };
        self.cfg = new;
        self.start_streams(opened)?;
        Ok(format!("{kept} stream(s) kept, {stopped} stopped, {started} started; {model_note}"))
    }

    /// Joins capture threads that were asked to stop.
    fn reap(&mut self) {
        self.retired.retain_mut(|r| {
            r.join(Instant::now());
            false
        });
    }
}

/// Runs `cfg` until its streams end or a stop signal; `config_path` is re-read on SIGHUP.
pub fn run(cfg: Config, config_path: Option<PathBuf>, signals: Signals) -> Result<RunReport> {
    let wanted = enabled(&cfg);
    if wanted.is_empty() {
        return Err(no_streams(&cfg));
    }
    let detector = Detector::load(&cfg.model)?;
    let sink = open_sink(&cfg)?;
    let base = capture_options(detector.input_spec(), cfg.pipeline.resize);
    let opened = open_all(&wanted, &base)?;
    let heartbeat = Heartbeat::default();
    heartbeat.beat();
    let mut rt = Runtime {
        detector,
        sink,
        base,
        mailbox: Arc::new(Mailbox::default()),
        runners: Vec::new(),
        retired: Vec::new(),
        names: Vec::new(),
        notifier: Notifier::start(heartbeat),
        stats: Arc::new(Mutex::new(RunStats::default())),
        metrics: None,
        times: StageTimes::default(),
        hooks: TestHooks::from_env(),
        config_path,
        cfg,
    };
    if let Some(listen) = rt.cfg.metrics.listen.clone() {
        rt.metrics = Some(MetricsServer::start(&listen, rt.metrics_sources(&rt.cfg))?);
    }
    rt.start_streams(opened)?;
    log::info!("running {} stream(s) with engine {}", rt.runners.len(), rt.detector.engine_name());
    rt.notifier.ready();
    rt.stats().start();
    let mut cursor = 0;
    let mut next_at = Instant::now();
    let mut last_status = Instant::now();
    let mut failure = None;
    loop {
        rt.notifier.heartbeat().beat();
        if signals.terminating() {
            break;
        }
        if signals.take_reload() {
            rt.notifier.reloading();
            match rt.reload() {
                Ok(summary) => log::info!("configuration reloaded: {summary}"),
                Err(e) => {
                    for line in e.to_string().lines() {
                        log::error!("reload refused, the running configuration stays: {line}");
                    }
                }
            }
            rt.reap();
            rt.notifier.ready();
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            rt.notifier.set_status(rt.status_line());
            last_status = Instant::now();
        }
        if let Some(n) = rt.hooks.stall_after
            && rt.stats().frames >= n
        {
            // Wedged on purpose: no heartbeat until a stop signal.
            while !signals.terminating() {
                thread::sleep(Duration::from_millis(50));
            }
            break;
        }
        // Global fps_limit: the engine takes at most one frame per period, the mailboxes keep
        // only the newest meanwhile.
        let now = Instant::now();
        if now < next_at {
            thread::sleep((next_at - now).min(Duration::from_millis(100)));
            continue;
        }
        match rt.mailbox.take(&mut cursor, Duration::from_millis(100)) {
            Take::Frame(id, frame) => {
                if let Err(e) = rt.process(id, frame) {
                    failure = Some(e);
                    break;
                }
                if let Some(fps) = rt.cfg.pipeline.fps_limit {
                    let period = Duration::from_secs_f64(1.0 / fps);
                    next_at = (next_at + period).max(Instant::now() - period);
                }
            }
            Take::Idle => {}
            Take::AllFinished => break,
        }
    }
    shutdown(&mut rt, &signals, &mut cursor, failure)
}

/// Stops the sources, processes the frames already handed over, flushes the sink. Bounded by
/// `pipeline.shutdown_timeout_s`: past it the process exits with what was written.
fn shutdown(rt: &mut Runtime, signals: &Signals, cursor: &mut usize, failure: Option<Error>) -> Result<RunReport> {
    rt.notifier.stopping();
    let timeout = rt.cfg.pipeline.shutdown_timeout;
    let deadline = Instant::now() + timeout;
    if signals.terminating() {
        log::info!("stopping: draining frames in flight (at most {:.1} s)", timeout.as_secs_f64());
        let _ = thread::Builder::new().name("shutdown-timer".into()).spawn(move || {
            thread::sleep(timeout + Duration::from_millis(500));
            log::error!("shutdown took longer than {:.1} s; exiting now", timeout.as_secs_f64());
            std::process::exit(0);
        });
    }
    for r in &rt.runners {
        r.stop();
    }
    for r in rt.runners.iter_mut().chain(rt.retired.iter_mut()) {
        r.join(deadline);
    }
    let mut failure = failure;
    if failure.is_none() {
        while let Some((id, frame)) = rt.mailbox.take_pending(cursor) {
            if let Err(e) = rt.process(id, frame) {
                failure = Some(e);
                break;
            }
        }
    }
    let flushed = rt.sink.flush();
    let streams = rt.mailbox.stats();
    let engine = rt.detector.engine_name();
    let stats = std::mem::take(&mut *rt.stats());
    if let Some(e) = failure {
        eprintln!("{}", stats.line(engine));
        return Err(e);
    }
    flushed?;
    if !signals.terminating()
        && let Some(StreamStats { name, state: StreamState::Failed(e), .. }) =
            streams.iter().find(|s| matches!(s.state, StreamState::Failed(_)))
    {
        eprintln!("{}", stats.line(engine));
        return Err(Error::source(format!("stream \"{name}\": {e}")));
    }
    Ok(RunReport { stats, engine, streams })
}
