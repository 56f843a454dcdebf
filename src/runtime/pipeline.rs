//! `edgesight run`: every enabled stream captured on its own thread, the newest frames handed to
//! one inference loop (a batch at a time), events to the configured sink; SIGHUP reloads the
//! configuration, SIGTERM and SIGINT drain and stop; systemd is told about readiness, progress
//! and shutdown.
//!
//! Start-up order is model, outputs, sources: a configuration that cannot run fails before any
//! event is written, with the exit code of the part that failed. A reload follows a plan worked
//! out from the two configurations (`plan.rs`) and is prepared completely (new model, outputs and
//! streams opened) before anything running is touched, so an invalid or unusable new
//! configuration leaves the running one as it was. All timing decisions read the `Clock`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::assemble;
use super::detector::Detector;
use super::follow::Follow;
use super::mailbox::{BatchPolicy, Mailbox, Take};
use super::notify::{Heartbeat, Notifier};
use super::plan::{self, ModelChange, ModelFiles};
use super::probe::{FrameSample, Poll, Probe};
use super::signals::Signals;
use super::streams::Runner;
use crate::capture::{CaptureOptions, Frame, GstCapture};
use crate::clock::{RealClock, SharedClock};
use crate::config::{self, Config, StreamConfig};
use crate::error::{Error, ExitKind, Result};
use crate::metrics::RunStats;
use crate::metrics::http::{MetricsServer, Sources};
use crate::sink::{Sink, SinkStats, Snapshots};
use crate::status::{StreamState, StreamStats};
use crate::track::stream::Continuity;
use crate::track::{StreamTracker, TrackerKind};
use crate::visual::{Shown, Visualiser};
use crate::zones::{RegionStats, Regions, StreamRegions};

/// Summary of a finished run.
pub struct RunReport {
    pub stats: RunStats,
    pub engine: &'static str,
    pub streams: Vec<StreamStats>,
}

/// The global `fps_limit`: the engine takes at most `fps` frames per second, all streams
/// together; the mailboxes keep only the newest frames meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    next_at: Option<Instant>,
}

impl Pacer {
    pub fn new() -> Pacer {
        Pacer { next_at: None }
    }

    /// How long to wait before the next take, if at all.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        self.next_at.filter(|&t| t > now).map(|t| t - now)
    }

    /// `frames` were taken at `now`: the next take is due `frames` periods after the previous
    /// due time, but never more than one period in the past (an idle spell earns no burst).
    pub fn taken(&mut self, now: Instant, fps: Option<f64>, frames: usize) {
        let Some(fps) = fps else {
            self.next_at = None;
            return;
        };
        let period = Duration::from_secs_f64(1.0 / fps);
        let floor = now.checked_sub(period).unwrap_or(now);
        let due = self.next_at.unwrap_or(now).max(floor);
        self.next_at = Some(due + period * frames as u32);
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new()
    }
}

struct Runtime {
    cfg: Config,
    config_path: Option<PathBuf>,
    clock: SharedClock,
    detector: Detector,
    sink: Box<dyn Sink>,
    /// The event output's counters, kept when a reload replaces the output.
    sink_stats: Arc<SinkStats>,
    base: CaptureOptions,
    batch: BatchPolicy,
    mailbox: Arc<Mailbox>,
    runners: Vec<Runner>,
    retired: Vec<Runner>,
    /// Stream name by mailbox id.
    names: Vec<String>,
    /// The tracker, zones and lines of each stream, by mailbox id.
    follows: Vec<Follow>,
    /// Every stream's line and zone counts, for the metrics endpoints.
    region_stats: Arc<RegionStats>,
    /// The next track ID of streams whose tracker was replaced or retired, by name: a stream
    /// restarted by a reload continues its numbering (IDs are never reused while the process lives).
    next_ids: HashMap<String, u32>,
    notifier: Notifier,
    stats: Arc<Mutex<RunStats>>,
    metrics: Option<MetricsServer>,
    signals: Signals,
    /// The model and labels files as the running detector read them.
    model_files: ModelFiles,
    /// `[visualise]`, when configured: annotated frames to a file or RTSP mounts.
    visualiser: Option<crate::visual::Visualiser>,
    /// Frames taken from the mailbox (reused list).
    frames: Vec<(usize, Frame)>,
    /// Frames taken from the mailbox whose events are not written yet (shutdown accounting).
    in_flight: Arc<AtomicUsize>,
    /// `[snapshots]`, when on.
    snapshots: Option<Snapshots>,
    /// `edgesight bench`'s observer, which also ends the run.
    probe: Option<Arc<dyn Probe>>,
}

impl Runtime {
    fn stats(&self) -> MutexGuard<'_, RunStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn metrics_sources(&self, cfg: &Config) -> Sources {
        Sources {
            device: cfg.device.name.clone(),
            clock: Arc::clone(&self.clock),
            stats: Arc::clone(&self.stats),
            streams: Arc::clone(&self.mailbox) as _,
            heartbeat: self.notifier.heartbeat().clone(),
            sinks: Arc::clone(&self.sink_stats),
            regions: Arc::clone(&self.region_stats),
            max_frame_age: cfg.metrics.max_frame_age,
        }
    }

    /// What follows the objects of a stream: a tracker from the current settings and `regions`.
    fn follow(&self, regions: Regions) -> Follow {
        let tracker = StreamTracker::new(&self.cfg.tracking, self.cfg.model.score_threshold);
        let regions = StreamRegions::new(regions, self.cfg.tracking.lost_s);
        Follow::new(tracker, regions, self.cfg.counts_interval, Arc::clone(&self.region_stats))
    }

    /// Starts `opened`, with their zones and lines (resolved in the same order).
    fn start_streams(&mut self, opened: Vec<(StreamConfig, GstCapture)>, regions: Vec<Regions>) -> Result<()> {
        for ((sc, cap), regions) in opened.into_iter().zip(regions) {
            let id = self.mailbox.add(&sc.name);
            self.names.push(sc.name.clone());
            let mut follow = self.follow(regions);
            if let Some(&next) = self.next_ids.get(&sc.name) {
                follow.tracker.continue_ids(next);
            }
            follow.publish(&sc.name);
            self.follows.push(follow);
            self.runners.push(Runner::spawn(
                id,
                sc,
                cap,
                self.base.clone(),
                Arc::clone(&self.mailbox),
                Arc::clone(&self.clock),
            )?);
        }
        Ok(())
    }

    fn status_line(&self) -> String {
        let stats = self.mailbox.stats();
        let up = stats.iter().filter(|s| s.state == StreamState::Up).count();
        let dropped: u64 = stats.iter().map(StreamStats::dropped).sum();
        let run = self.stats();
        let reconnects: u64 = stats.iter().map(|s| s.reconnects).sum();
        format!(
            "{up}/{} streams up, {:.1} fps, {} frames, {dropped} dropped, {reconnects} reconnects",
            stats.len(),
            run.recent_fps(self.clock.now()),
            run.frames
        )
    }

    /// Runs the frames in `self.frames` through the detector as one batch and writes an event
    /// per frame.
    fn process(&mut self) -> Result<()> {
        let Runtime {
            detector,
            sink,
            stats,
            mailbox,
            names,
            follows,
            clock,
            frames,
            in_flight,
            snapshots,
            visualiser,
            probe,
            ..
        } = self;
        in_flight.store(frames.len(), Ordering::SeqCst);
        stats.lock().unwrap_or_else(|p| p.into_inner()).batches += 1;
        let result = detector.detect_batch(frames.iter().map(|(_, f)| f), |i, found, labels, times| {
            let (id, frame) = &frames[i];
            // Every processed frame of a stream passes its tracker, in order (one inference loop).
            let follow = &mut follows[*id];
            let at = Continuity { session: frame.session, width: frame.source_width, height: frame.source_height };
            let name = &names[*id];
            let t_track = Instant::now();
            follow.frame(sink.as_mut(), name, at, frame.pts_ms, frame.captured, found.all, found.reported, labels)?;
            let ids = follow.ids();
            let ids = &ids[..ids.len().min(found.reported)];
            let now = clock.now();
            let latency = now.saturating_duration_since(frame.captured);
            let t_sinks = Instant::now();
            let snapshot = snapshots.as_mut().and_then(|s| s.offer(name, frame, found.reported(), labels));
            let mut event = super::frame_event(name, frame, latency, found.reported(), ids, labels);
            event.snapshot = snapshot.as_deref();
            sink.emit(&event)?;
            let t_shown = Instant::now();
            let shown =
                visualiser.as_mut().map(|v| (v.frame(name, frame, found.reported(), ids, labels), t_shown.elapsed()));
            if let Some(p) = probe {
                p.frame(&FrameSample {
                    stream: name,
                    at: now,
                    latency,
                    times,
                    tracking: t_sinks - t_track,
                    sinks: t_shown - t_sinks,
                    visualise: shown.map(|(_, took)| took),
                });
            }
            let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
            s.record(now, latency, times);
            match shown {
                Some((Shown::Sent, took)) => {
                    s.visualise.record(took);
                    s.visual_frames.entry(name.clone()).or_default().0 += 1;
                }
                Some((Shown::Dropped, _)) => s.visual_frames.entry(name.clone()).or_default().1 += 1,
                _ => {}
            }
            drop(s);
            mailbox.count_processed(*id);
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
        frames.clear();
        result
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
        let wanted = assemble::enabled(&new);
        if wanted.is_empty() {
            return Err(assemble::no_streams(&new));
        }
        // Prepare: everything that can fail happens before anything running changes.
        // A model or labels file replaced at the same path is a new model too.
        let files = ModelFiles::of(&new.model);
        let files_changed = self.cfg.model.path == new.model.path && files != self.model_files;
        if files_changed {
            log::info!("{}: the model or labels file changed on disk; loading it again", new.model.path.display());
        }
        let change = ModelChange::between(&self.cfg.model, &new.model, files_changed);
        let new_detector = if change == ModelChange::Reload { Some(assemble::detector(&new.model)?) } else { None };
        let new_post = match change {
            ModelChange::InPlace => Some(assemble::postprocess(&new.model, self.detector.labels())?),
            _ => None,
        };
        let new_base = assemble::capture(
            new_detector.as_ref().unwrap_or(&self.detector).preprocessor(),
            &new.model,
            &new.pipeline,
        );
        let plan = plan::plan(&self.cfg, &new, &self.base, &new_base, files_changed);
        let new_sink =
            if plan.output { Some(assemble::sink(&new.output, Arc::clone(&self.sink_stats))?) } else { None };
        let names: Vec<String> = wanted.iter().map(|s| s.name.clone()).collect();
        let to_open: Vec<StreamConfig> = wanted.into_iter().filter(|s| plan.streams.start.contains(&s.name)).collect();
        let labels = new_detector.as_ref().unwrap_or(&self.detector).labels();
        let new_regions =
            to_open.iter().map(|s| assemble::regions(s, &new.model, labels)).collect::<Result<Vec<_>>>()?;
        // Running streams whose zones or lines changed get new ones without a restart.
        let mut changed_regions = Vec::new();
        for r in self.runners.iter().filter(|r| plan.streams.keep.contains(&r.config.name)) {
            if let Some(s) = new.streams.iter().find(|s| s.name == r.config.name && s.regions != r.config.regions) {
                changed_regions.push((r.id, assemble::regions(s, &new.model, labels)?));
            }
        }
        let restart_snapshots =
            new.snapshots != self.cfg.snapshots || (change == ModelChange::Reload && new.snapshots.is_some());
        if restart_snapshots && let Some(sc) = &new.snapshots {
            assemble::snapshot_classes(sc, &new.model, labels)?;
            crate::sink::snapshot::probe(&sc.dir)?;
        }
        let restream = self.visualiser.as_ref().map(|v| v.prepare(&names)).transpose()?;
        let opened = assemble::open_streams(&to_open, &new_base, self.signals.terminate_flag())?;
        // Last of the preparations: on the running listener's address it must close that one.
        let new_metrics = if plan.metrics { Some(self.prepare_metrics(&new)?) } else { None };
        for key in &plan.restart_required {
            log::warn!("{key} changed: it takes effect after a restart (systemctl restart edgesight)");
        }
        // Commit.
        let mut running = Vec::new();
        for r in std::mem::take(&mut self.runners) {
            if plan.streams.keep.contains(&r.config.name) {
                running.push(r);
            } else {
                r.stop();
                self.mailbox.retire(r.id);
                if let Some(f) = self.follows.get_mut(r.id) {
                    self.next_ids.insert(r.config.name.clone(), f.tracker.next_id());
                    f.finish(self.sink.as_mut(), &self.names[r.id], self.detector.labels())?;
                    self.region_stats.remove(&r.config.name);
                }
                self.retired.push(r);
            }
        }
        self.runners = running;
        let visualised = match (self.visualiser.as_mut(), restream) {
            (Some(v), Some(r)) if !r.is_empty() => Some(v.commit(r)),
            _ => None,
        };
        if let Some(d) = new_detector {
            self.detector = d;
            self.model_files = files;
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
        if restart_snapshots {
            // The old writer finishes its queue and stops first: two writers would share the folder.
            self.snapshots = None;
            self.snapshots = assemble::snapshots(&new, self.detector.labels(), Arc::clone(&self.sink_stats))
                .unwrap_or_else(|e| {
                    log::error!("snapshots stay off until the next reload or restart: {e}");
                    None
                });
        }
        if let Some(level) = plan.log_level {
            crate::logging::set_level(level);
        }
        self.base = new_base;
        self.batch = assemble::batch_policy(&new.model);
        let retrack = new.tracking != self.cfg.tracking
            || new.model.score_threshold != self.cfg.model.score_threshold
            || new.counts_interval != self.cfg.counts_interval;
        self.cfg = new;
        for (id, regions) in changed_regions {
            let fresh = StreamRegions::new(regions, self.cfg.tracking.lost_s);
            self.follows[id].replace_regions(fresh, self.sink.as_mut(), &self.names[id], self.detector.labels())?;
        }
        if retrack {
            // New tracker settings start from a clean slate: the running tracks end.
            for id in 0..self.follows.len() {
                let name = &self.names[id];
                self.follows[id].finish(self.sink.as_mut(), name, self.detector.labels())?;
                let next = self.follows[id].tracker.next_id();
                let regions = self.follows[id].regions.regions().clone();
                let mut f = self.follow(regions);
                f.regions.continue_counts(&self.follows[id].regions);
                f.tracker.continue_ids(next);
                self.follows[id] = f;
            }
        }
        self.detector.set_low_floor(low_floor(&self.cfg));
        self.start_streams(opened, new_regions)?;
        let mut summary = plan.summary();
        if let Some(v) = visualised {
            summary += &format!("; visualised streams {v}");
        }
        if restart_snapshots {
            summary += if self.snapshots.is_some() { "; snapshots (re)started" } else { "; snapshots off" };
        }
        Ok(summary)
    }

    /// The listener `new` asks for. One on the address the running listener holds can only bind
    /// once that one is closed: should it fail, the old one is started again, so that a refused
    /// reload leaves the listener serving as before.
    fn prepare_metrics(&mut self, new: &Config) -> Result<Option<MetricsServer>> {
        let Some(listen) = &new.metrics.listen else { return Ok(None) };
        let same_address = new.metrics.listen == self.cfg.metrics.listen;
        if same_address {
            self.metrics = None;
        }
        MetricsServer::start(listen, self.metrics_sources(new)).map(Some).inspect_err(|_| {
            if same_address {
                self.metrics = MetricsServer::start(listen, self.metrics_sources(&self.cfg)).ok();
            }
        })
    }

    /// Joins capture threads that were asked to stop.
    fn reap(&mut self) {
        self.retired.retain_mut(|r| {
            r.join(Instant::now());
            false
        });
    }
}

/// The post-processing's extra floor for the tracker's low-score association.
fn low_floor(cfg: &Config) -> Option<f32> {
    (cfg.tracking.kind != TrackerKind::None).then_some(cfg.tracking.low_score)
}

/// A stop requested during start-up ends the run cleanly, whatever the step was doing: a
/// step that failed because it was cut short is not reported as a failure.
fn started<T>(step: Result<T>, signals: &Signals) -> Result<Option<T>> {
    if signals.terminating() {
        log::info!("stop requested during start-up; exiting before any event");
        return Ok(None);
    }
    step.map(Some)
}

/// What a run that was stopped before it started reports.
fn not_started(engine: &'static str) -> RunReport {
    RunReport { stats: RunStats::default(), engine, streams: Vec::new() }
}

/// Runs `cfg` until its streams end or a stop signal; `config_path` is re-read on SIGHUP.
pub fn run(cfg: Config, config_path: Option<PathBuf>, signals: Signals) -> Result<RunReport> {
    run_probed(cfg, config_path, signals, None)
}

/// `run` watched by `probe`, which sees every processed frame and may end the run.
pub fn run_probed(
    cfg: Config,
    config_path: Option<PathBuf>,
    signals: Signals,
    probe: Option<Arc<dyn Probe>>,
) -> Result<RunReport> {
    let clock = RealClock::shared();
    let wanted = assemble::enabled(&cfg);
    if wanted.is_empty() {
        return Err(assemble::no_streams(&cfg));
    }
    let model_files = ModelFiles::of(&cfg.model);
    let Some(mut detector) = started(assemble::detector(&cfg.model), &signals)? else {
        return Ok(not_started("none"));
    };
    detector.set_low_floor(low_floor(&cfg));
    let engine = detector.engine_name();
    let sink_stats = Arc::new(SinkStats::default());
    let Some(sink) = started(assemble::sink(&cfg.output, Arc::clone(&sink_stats)), &signals)? else {
        return Ok(not_started(engine));
    };
    let regions =
        wanted.iter().map(|s| assemble::regions(s, &cfg.model, detector.labels())).collect::<Result<Vec<_>>>()?;
    let snapshots = assemble::snapshots(&cfg, detector.labels(), Arc::clone(&sink_stats))?;
    let base = assemble::capture(detector.preprocessor(), &cfg.model, &cfg.pipeline);
    let Some(opened) = started(assemble::open_streams(&wanted, &base, signals.terminate_flag()), &signals)? else {
        return Ok(not_started(engine));
    };
    let visualiser = match &cfg.visualise {
        Some(v) => {
            let names: Vec<String> = wanted.iter().map(|s| s.name.clone()).collect();
            match started(Visualiser::start(v, &names), &signals)? {
                Some(v) => Some(v),
                None => return Ok(not_started(engine)),
            }
        }
        None => None,
    };
    let heartbeat = Heartbeat::new(Arc::clone(&clock));
    heartbeat.beat();
    let mut rt = Runtime {
        batch: assemble::batch_policy(&cfg.model),
        frames: Vec::with_capacity(cfg.model.batch),
        detector,
        sink,
        sink_stats,
        base,
        mailbox: Arc::new(Mailbox::new(Arc::clone(&clock))),
        runners: Vec::new(),
        retired: Vec::new(),
        names: Vec::new(),
        follows: Vec::new(),
        region_stats: Arc::new(RegionStats::default()),
        next_ids: HashMap::new(),
        notifier: Notifier::start(heartbeat, Arc::clone(&clock)),
        stats: Arc::new(Mutex::new(RunStats::default())),
        metrics: None,
        signals: signals.clone(),
        model_files,
        in_flight: Arc::new(AtomicUsize::new(0)),
        snapshots,
        visualiser,
        probe,
        config_path,
        cfg,
        clock,
    };
    if let Some(listen) = rt.cfg.metrics.listen.clone() {
        rt.metrics = Some(MetricsServer::start(&listen, rt.metrics_sources(&rt.cfg))?);
    }
    // The MQTT output's periodic stats message is the /status document.
    let sources = rt.metrics_sources(&rt.cfg);
    rt.sink_stats.set_status(Arc::new(move || crate::metrics::http::render_status(&sources)));
    rt.start_streams(opened, regions)?;
    log::info!("running {} stream(s) with engine {}", rt.runners.len(), rt.detector.engine_name());
    rt.notifier.ready();
    let now = rt.clock.now();
    rt.stats().start(now);
    let mut cursor = 0;
    let mut pacer = Pacer::new();
    let mut last_status: Option<Instant> = None;
    let mut failure = None;
    loop {
        rt.notifier.heartbeat().beat();
        if signals.terminating() {
            break;
        }
        if signals.take_reload() {
            rt.notifier.reloading();
            match rt.reload() {
                // The answer to a SIGHUP is never rate limited: a field tech must see every one.
                Ok(summary) => log::info!(target: crate::logging::OPERATOR, "configuration reloaded: {summary}"),
                Err(e) => {
                    for line in e.to_string().lines() {
                        log::error!(
                            target: crate::logging::OPERATOR,
                            "reload refused, the running configuration stays: {line}"
                        );
                    }
                }
            }
            rt.reap();
            rt.notifier.ready();
        }
        let now = rt.clock.now();
        if last_status.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
            rt.notifier.set_status(rt.status_line());
            last_status = Some(now);
        }
        if let Some(p) = &rt.probe {
            match p.poll(now) {
                Poll::Go => {}
                what @ Poll::WarmedUp => p.mark(what, rt.mailbox.stats()),
                what @ Poll::Stop => {
                    p.mark(what, rt.mailbox.stats());
                    break;
                }
            }
        }
        if let Some(left) = pacer.wait(now) {
            rt.clock.sleep(left.min(Duration::from_millis(100)), signals.terminate_flag());
            continue;
        }
        // Events that waited their interval are written, with or without new frames.
        if let Err(e) = rt.sink.tick() {
            failure = Some(e);
            break;
        }
        match rt.mailbox.take(&mut cursor, rt.batch, Duration::from_millis(100), &mut rt.frames) {
            Take::Frames(n) => {
                if let Err(e) = rt.process() {
                    failure = Some(e);
                    break;
                }
                pacer.taken(rt.clock.now(), rt.cfg.pipeline.fps_limit, n);
            }
            Take::Idle => {}
            Take::AllFinished => break,
        }
    }
    shutdown(&mut rt, &signals, &mut cursor, failure)
}

/// Exits the process once the drain has had `timeout`: logs how many frames handed over for
/// processing were not processed, and exits with `ExitKind::ShutdownTimeout`.
fn arm_shutdown_timer(rt: &Runtime, timeout: Duration) {
    let (mailbox, in_flight, stats) = (Arc::clone(&rt.mailbox), Arc::clone(&rt.in_flight), Arc::clone(&rt.stats));
    let engine = rt.detector.engine_name();
    let _ = thread::Builder::new().name("shutdown-timer".into()).spawn(move || {
        thread::sleep(timeout + Duration::from_millis(500));
        let lost = mailbox.pending() + in_flight.load(Ordering::SeqCst);
        if let Ok(s) = stats.try_lock() {
            eprintln!("{}", s.line(engine));
        }
        log::error!(
            "shutdown took longer than {:.1} s (pipeline.shutdown_timeout_s): {lost} frame(s) handed over for \
             processing were not processed; exiting with status {}",
            timeout.as_secs_f64(),
            ExitKind::ShutdownTimeout.code()
        );
        log::logger().flush();
        std::process::exit(ExitKind::ShutdownTimeout.code().into());
    });
}

/// Stops the sources, processes the frames already handed over, flushes the sink. Bounded by
/// `pipeline.shutdown_timeout_s`: past it the process exits (see `arm_shutdown_timer`).
fn shutdown(rt: &mut Runtime, signals: &Signals, cursor: &mut usize, failure: Option<Error>) -> Result<RunReport> {
    rt.notifier.stopping();
    let timeout = rt.cfg.pipeline.shutdown_timeout;
    let deadline = Instant::now() + timeout;
    if signals.terminating() {
        log::info!("stopping: draining frames in flight (at most {:.1} s)", timeout.as_secs_f64());
        arm_shutdown_timer(rt, timeout);
    }
    for r in &rt.runners {
        r.stop();
    }
    for r in rt.runners.iter_mut().chain(rt.retired.iter_mut()) {
        r.join(deadline);
    }
    let mut failure = failure;
    // What waited in memory is written before the drain, which the shutdown timer may cut
    // short; a failure to write shows in the flush after it.
    let _ = rt.sink.flush();
    if failure.is_none() {
        while rt.mailbox.take_pending(cursor, &mut rt.frames) {
            if let Err(e) = rt.process() {
                failure = Some(e);
                break;
            }
        }
    }
    // The streams ended: their confirmed tracks end too.
    if failure.is_none() {
        for (id, f) in rt.follows.iter_mut().enumerate() {
            if let Err(e) = f.finish(rt.sink.as_mut(), &rt.names[id], rt.detector.labels()) {
                failure = Some(e);
                break;
            }
        }
    }
    let flushed = rt.sink.flush();
    if let Some(v) = rt.visualiser.as_mut() {
        v.finish();
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SimClock};

    /// Takes over `seconds` of simulated time with frames always waiting, `frames` per take.
    fn takes(fps: Option<f64>, seconds: u64, frames: usize) -> usize {
        let clock = SimClock::new();
        let mut pacer = Pacer::new();
        let mut n = 0;
        while clock.elapsed() < Duration::from_secs(seconds) {
            match pacer.wait(clock.now()) {
                Some(left) => clock.advance(left.min(Duration::from_millis(100))),
                None => {
                    n += frames;
                    // The engine takes 5 ms per frame.
                    clock.advance(Duration::from_millis(5) * frames as u32);
                    pacer.taken(clock.now(), fps, frames);
                }
            }
        }
        n
    }

    #[test]
    fn the_global_fps_limit_caps_frames_through_the_engine() {
        assert_eq!(takes(Some(10.0), 10, 1), 100);
        assert_eq!(takes(Some(2.5), 10, 1), 25);
        assert_eq!(takes(Some(10.0), 10, 4), 100, "a batch of 4 uses 4 periods");
        assert_eq!(takes(None, 1, 1), 200, "no limit: as fast as the engine");
    }

    #[test]
    fn an_idle_spell_earns_no_burst() {
        let clock = SimClock::new();
        let mut pacer = Pacer::new();
        pacer.taken(clock.now(), Some(10.0), 1);
        clock.advance(Duration::from_secs(5));
        assert_eq!(pacer.wait(clock.now()), None);
        pacer.taken(clock.now(), Some(10.0), 1);
        // At most one period of catch-up: the next frame is due now, the one after a period later.
        assert_eq!(pacer.wait(clock.now()), None);
        pacer.taken(clock.now(), Some(10.0), 1);
        assert_eq!(pacer.wait(clock.now()), Some(Duration::from_millis(100)));
    }
}
