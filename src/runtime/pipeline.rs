//! `edgesight run`: every enabled stream captured on its own thread, newest frame handed to one
//! inference loop, events to the configured sink.
//!
//! Start-up order is model, output, sources: a config that cannot run fails before any event
//! is written, with the exit code of the part that failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, SystemTime};

use super::mailbox::{Finish, Mailbox, Take};
use super::{Detector, capture_options};
use crate::capture::gst::LaunchOptions;
use crate::capture::{CaptureOptions, GstCapture, Pull, SourceSpec};
use crate::config::{Config, EventTarget, StreamConfig};
use crate::error::{Error, Result};
use crate::metrics::{RunStats, StageTimes};
use crate::sink::{Event, JsonlSink, Sink};

/// Summary of a finished run.
pub struct RunReport {
    pub stats: RunStats,
    pub engine: &'static str,
    /// Per stream: name, frames processed, frames dropped.
    pub streams: Vec<(String, u64, u64)>,
}

pub fn open_sink(cfg: &Config) -> Result<Box<dyn Sink>> {
    Ok(match &cfg.output.jsonl {
        EventTarget::Stdout => Box::new(JsonlSink::stdout()),
        EventTarget::File(p) => Box::new(JsonlSink::file(p)?),
    })
}

fn stream_capture_options(base: &CaptureOptions, s: &StreamConfig) -> CaptureOptions {
    let live = !matches!(s.source, SourceSpec::File { .. });
    CaptureOptions {
        launch: LaunchOptions {
            transport: s.transport,
            latency_ms: s.latency_ms,
            ..base.launch.clone()
        },
        sync: !live && s.realtime,
        leaky: live || s.realtime,
        ..base.clone()
    }
}

/// Pulls frames from one capture into its mailbox slot until end of stream, error or stop.
fn capture_loop(
    index: usize,
    mut cap: GstCapture,
    wait: bool,
    mailbox: &Mailbox,
    stop: &AtomicBool,
) {
    let why = loop {
        if stop.load(Ordering::SeqCst) {
            break Finish::Stopped;
        }
        match cap.pull(Duration::from_millis(200)) {
            Ok(Pull::Frame(f)) => {
                if !mailbox.put(index, f, wait, stop) {
                    break Finish::Stopped;
                }
            }
            Ok(Pull::Timeout) => {}
            Ok(Pull::Eos) => break Finish::Eos,
            Err(e) => break Finish::Failed(e),
        }
    };
    mailbox.finish(index, why);
}

pub fn run(cfg: &Config, stop: Arc<AtomicBool>) -> Result<RunReport> {
    let streams: Vec<&StreamConfig> = cfg.streams.iter().filter(|s| s.enabled).collect();
    if streams.is_empty() {
        return Err(Error::config(format!(
            "{}: no enabled [[stream]]; add one with name and uri (see configs/x86-dev.toml)",
            cfg.origin
                .as_ref()
                .map_or("<config>".into(), |p| p.display().to_string())
        )));
    }
    let mut detector = Detector::load(&cfg.model)?;
    let mut sink = open_sink(cfg)?;
    let base = capture_options(detector.input_spec(), cfg.pipeline.resize);
    let mut captures = Vec::new();
    for s in &streams {
        let cap = GstCapture::open(&s.source, &stream_capture_options(&base, s))
            .map_err(|e| Error::source(format!("stream {:?}: {e}", s.name)))?;
        captures.push(cap);
    }
    let mailbox = Arc::new(Mailbox::new(streams.len()));
    let mut handles = Vec::new();
    for (i, cap) in captures.into_iter().enumerate() {
        let (mb, st) = (Arc::clone(&mailbox), Arc::clone(&stop));
        // A file processed frame by frame waits for the engine; everything else keeps the newest frame.
        let wait = matches!(streams[i].source, SourceSpec::File { .. }) && !streams[i].realtime;
        let h = thread::Builder::new()
            .name(format!("capture-{}", streams[i].name))
            .spawn(move || capture_loop(i, cap, wait, &mb, &st))
            .map_err(|e| Error::other(format!("cannot start a capture thread: {e}")))?;
        handles.push(h);
    }
    log::info!(
        "running {} stream(s) with engine {}",
        streams.len(),
        detector.engine_name()
    );
    let mut stats = RunStats::default();
    let mut per_stream = vec![0u64; streams.len()];
    let mut times = StageTimes::default();
    let mut cursor = 0;
    let mut failure = None;
    stats.start();
    while let Take::Frame(i, frame) = mailbox.take(&mut cursor, &stop) {
        let (dets, labels) = match detector.detect(&frame, &mut times) {
            Ok(d) => d,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let latency = frame.captured.elapsed();
        if let Err(e) = sink.emit(&Event {
            ts: SystemTime::now(),
            stream: &streams[i].name,
            frame: frame.index,
            pts_ms: frame.pts_ms,
            width: frame.source_width,
            height: frame.source_height,
            latency_ms: latency.as_secs_f64() * 1e3,
            detections: dets,
            labels,
        }) {
            failure = Some(e);
            break;
        }
        stats.record(latency, &times);
        per_stream[i] += 1;
    }
    // Stop the capture threads (they exit within one pull timeout) and collect why streams ended.
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        let _ = h.join();
    }
    sink.flush()?;
    let dropped = mailbox.dropped();
    stats.dropped = dropped.iter().sum();
    let mut first_stream_error = None;
    for (i, why) in mailbox.take_finishes().into_iter().enumerate() {
        if let Some(Finish::Failed(e)) = why {
            log::error!("stream {:?}: {e}", streams[i].name);
            first_stream_error
                .get_or_insert(Error::source(format!("stream {:?}: {e}", streams[i].name)));
        }
    }
    if let Some(e) = failure.or(first_stream_error) {
        eprintln!("{}", stats.line(detector.engine_name()));
        return Err(e);
    }
    Ok(RunReport {
        engine: detector.engine_name(),
        streams: streams
            .iter()
            .zip(per_stream)
            .zip(dropped)
            .map(|((s, n), d)| (s.name.clone(), n, d))
            .collect(),
        stats,
    })
}
