//! The metrics listener: `/metrics` (Prometheus text format), `/healthz` (200 or 503 with the
//! reason), `/status` (JSON). A small blocking HTTP/1.1 server on its own thread: one request
//! per connection, read timeouts, nothing shared but locked snapshots.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::stats::{Histogram, RunStats};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::status::{Heartbeat, RetryReason, StreamState, StreamStatus};

/// What the endpoints read: snapshots, never the runtime itself.
#[derive(Clone)]
pub struct Sources {
    pub device: String,
    pub clock: SharedClock,
    pub stats: Arc<Mutex<RunStats>>,
    pub streams: Arc<dyn StreamStatus>,
    pub heartbeat: Heartbeat,
    /// /healthz fails when no frame was processed for this long.
    pub max_frame_age: Duration,
}

pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

const BUCKETS_S: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

fn histogram(out: &mut String, name: &str, label: &str, h: &Histogram) {
    for le in BUCKETS_S {
        let _ = writeln!(out, "{name}_bucket{{{label}le=\"{le}\"}} {}", h.count_le(le * 1e3));
    }
    let _ = writeln!(out, "{name}_bucket{{{label}le=\"+Inf\"}} {}", h.count());
    let _ = writeln!(out, "{name}_sum{{{}}} {}", label.trim_end_matches(','), h.sum_ms() / 1e3);
    let _ = writeln!(out, "{name}_count{{{}}} {}", label.trim_end_matches(','), h.count());
}

/// Prometheus label value escaping.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

pub fn render_metrics(src: &Sources) -> String {
    let streams = src.streams.streams();
    let mut out = String::new();
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(&mut out, "edgesight_frames_total", "counter", "Frames processed (events emitted), per stream.");
    for s in &streams {
        let _ = writeln!(out, "edgesight_frames_total{{stream=\"{}\"}} {}", esc(&s.name), s.processed);
    }
    family(&mut out, "edgesight_frames_dropped_total", "counter", "Frames not processed, per stream and reason.");
    for s in &streams {
        let n = esc(&s.name);
        let _ = writeln!(out, "edgesight_frames_dropped_total{{stream=\"{n}\",reason=\"busy\"}} {}", s.dropped_busy);
        let _ = writeln!(
            out,
            "edgesight_frames_dropped_total{{stream=\"{n}\",reason=\"fps_limit\"}} {}",
            s.dropped_fps_limit
        );
    }
    family(&mut out, "edgesight_stream_up", "gauge", "1 while frames arrive from the stream.");
    for s in &streams {
        let up = u8::from(s.state == StreamState::Up);
        let _ = writeln!(out, "edgesight_stream_up{{stream=\"{}\"}} {up}", esc(&s.name));
    }
    family(&mut out, "edgesight_reconnects_total", "counter", "Times frames flowed again after an outage.");
    for s in &streams {
        let _ = writeln!(out, "edgesight_reconnects_total{{stream=\"{}\"}} {}", esc(&s.name), s.reconnects);
    }
    family(&mut out, "edgesight_stream_retries_total", "counter", "Source reopen attempts, per stream and reason.");
    for s in &streams {
        for r in RetryReason::ALL {
            let _ = writeln!(
                out,
                "edgesight_stream_retries_total{{stream=\"{}\",reason=\"{r}\"}} {}",
                esc(&s.name),
                s.retries(r)
            );
        }
    }
    if let Ok(stats) = src.stats.lock() {
        family(&mut out, "edgesight_batches_total", "counter", "Engine runs; frames / batches is the mean batch size.");
        let _ = writeln!(out, "edgesight_batches_total {}", stats.batches);
        family(&mut out, "edgesight_stage_seconds", "histogram", "Time per frame in each stage.");
        histogram(&mut out, "edgesight_stage_seconds", "stage=\"preprocess\",", &stats.preprocess);
        histogram(&mut out, "edgesight_stage_seconds", "stage=\"inference\",", &stats.inference);
        histogram(&mut out, "edgesight_stage_seconds", "stage=\"decode\",", &stats.decode);
        family(&mut out, "edgesight_latency_seconds", "histogram", "From the frame leaving capture to its event.");
        histogram(&mut out, "edgesight_latency_seconds", "", &stats.latency);
    }
    family(&mut out, "edgesight_inference_heartbeat_age_seconds", "gauge", "Time since the inference loop last moved.");
    let _ = writeln!(out, "edgesight_inference_heartbeat_age_seconds {}", src.heartbeat.age().as_secs_f64());
    out
}

/// (healthy, reason).
pub fn health(src: &Sources) -> (bool, String) {
    let age = src.heartbeat.age();
    if age > src.max_frame_age {
        return (false, format!("inference loop stuck for {:.1} s", age.as_secs_f64()));
    }
    let streams = src.streams.streams();
    let up = streams.iter().filter(|s| s.state == StreamState::Up).count();
    if up == 0 {
        return (false, format!("no stream up (of {})", streams.len()));
    }
    if let Ok(stats) = src.stats.lock()
        && let Some(last) = stats.last_frame_age(src.clock.now())
        && last > src.max_frame_age
    {
        return (false, format!("no frame processed for {:.1} s", last.as_secs_f64()));
    }
    (true, format!("ok: {up}/{} streams up", streams.len()))
}

pub fn render_status(src: &Sources) -> String {
    let streams: Vec<serde_json::Value> = src
        .streams
        .streams()
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "state": s.state.name(),
                "frames": s.processed,
                "dropped": {"busy": s.dropped_busy, "fps_limit": s.dropped_fps_limit},
                "retries": RetryReason::ALL.iter().map(|r| (r.as_str().to_string(), serde_json::json!(s.retries(*r)))).collect::<serde_json::Map<_, _>>(),
                "reconnects": s.reconnects,
            })
        })
        .collect();
    let (healthy, reason) = health(src);
    let (frames, fps) = src.stats.lock().map(|s| (s.frames, s.recent_fps(src.clock.now()))).unwrap_or((0, 0.0));
    serde_json::json!({
        "device": src.device,
        "healthy": healthy,
        "health": reason,
        "frames": frames,
        "fps": (fps * 10.0).round() / 10.0,
        "streams": streams,
    })
    .to_string()
}

fn respond(mut conn: TcpStream, src: &Sources) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    let Ok(clone) = conn.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Drain the headers.
    let mut h = String::new();
    while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
        h.clear();
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", render_metrics(src)),
        ("GET", "/healthz") => {
            let (ok, reason) = health(src);
            (if ok { "200 OK" } else { "503 Service Unavailable" }, "text/plain", format!("{reason}\n"))
        }
        ("GET", "/status") => ("200 OK", "application/json", render_status(src)),
        ("GET", _) => ("404 Not Found", "text/plain", "endpoints: /metrics /healthz /status\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

impl MetricsServer {
    /// Binds `listen` (the start-up step that can fail) and serves on a thread.
    pub fn start(listen: &str, src: Sources) -> Result<MetricsServer> {
        let listener = TcpListener::bind(listen).map_err(|e| {
            Error::output(format!("metrics.listen = \"{listen}\": cannot listen: {e}; choose a free address:port"))
        })?;
        let addr = listener.local_addr().map_err(|e| Error::output(format!("metrics listener: {e}")))?;
        listener.set_nonblocking(true).map_err(|e| Error::output(format!("metrics listener: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                while !st.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let _ = conn.set_nonblocking(false);
                            respond(conn, &src);
                        }
                        Err(_) => thread::sleep(Duration::from_millis(50)),
                    }
                }
            })
            .map_err(|e| Error::other(format!("cannot start the metrics thread: {e}")))?;
        log::info!("metrics on http://{addr}/metrics (also /healthz, /status)");
        Ok(MetricsServer { addr, stop, thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
