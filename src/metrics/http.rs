//! The metrics endpoints: `/metrics` (Prometheus text format), `/healthz` (200 or 503 with the
//! reason), `/status` (JSON), GET only, one request per connection, rendered from locked
//! snapshots. The connections themselves (limits, deadlines, one thread) are `listener.rs`.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::listener::{response, serve};
use super::stats::{Histogram, RunStats};
use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::sink::{MqttDrop, SinkDrop, SinkStats};
use crate::status::{Heartbeat, RetryReason, StreamState, StreamStatus};
use crate::zones::{RegionStats, StreamCounts};

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
    /// The event output's counters.
    pub sinks: Arc<SinkStats>,
    /// The line and zone counts of each stream.
    pub regions: Arc<RegionStats>,
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

/// What stands in a label value for a character that must not reach a scraper raw (see `esc`).
const LABEL_REPLACEMENT: char = '\u{FFFD}';

/// A label value in the Prometheus text format: backslash, double quote and newline escaped as
/// the format defines (`\\`, `\"`, `\n`); the format has no escape for any other character, so
/// each other unsafe character (`text::unsafe_char`: controls, line separators, bidi controls)
/// becomes U+FFFD. The result is always one line; a scraper reads back the name with exactly
/// those characters replaced. (Names cannot hold any of these, config/build.rs, but this does
/// not rely on it.)
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if crate::text::unsafe_char(c) => out.push(LABEL_REPLACEMENT),
            c => out.push(c),
        }
    }
    out
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
        if stats.visualise.count() > 0 {
            histogram(&mut out, "edgesight_stage_seconds", "stage=\"visualise\",", &stats.visualise);
        }
        if !stats.visual_frames.is_empty() {
            family(
                &mut out,
                "edgesight_visualise_frames_total",
                "counter",
                "Annotated frames per stream: sent to an encoder, or dropped because it was behind.",
            );
            for (n, (sent, dropped)) in &stats.visual_frames {
                let n = esc(n);
                let _ = writeln!(out, "edgesight_visualise_frames_total{{stream=\"{n}\",result=\"sent\"}} {sent}");
                let _ =
                    writeln!(out, "edgesight_visualise_frames_total{{stream=\"{n}\",result=\"dropped\"}} {dropped}");
            }
        }
        family(&mut out, "edgesight_latency_seconds", "histogram", "From the frame leaving capture to its event.");
        histogram(&mut out, "edgesight_latency_seconds", "", &stats.latency);
    }
    let k = &src.sinks;
    let m = &k.mqtt;
    let mqtt = m.enabled.load(std::sync::atomic::Ordering::Relaxed);
    // Per family: the JSON-lines value and the MQTT one (when the MQTT output is configured).
    let sink_counters = [
        (
            "edgesight_sink_events_total",
            "counter",
            "Events written to the output (MQTT: acknowledged by the broker).",
            Some(&k.written),
            Some(&m.sent),
        ),
        (
            "edgesight_sink_errors_total",
            "counter",
            "Failed writes to the output (MQTT: failed or lost connections).",
            Some(&k.errors),
            Some(&m.errors),
        ),
        ("edgesight_sink_rotations_total", "counter", "Event files rotated away by size.", Some(&k.rotations), None),
        (
            "edgesight_sink_reopens_total",
            "counter",
            "Event file opened again (removed or replaced).",
            Some(&k.reopens),
            None,
        ),
        (
            "edgesight_sink_bytes_on_disk",
            "gauge",
            "Bytes of the event file and its rotated files (MQTT: of the spool).",
            Some(&k.bytes_on_disk),
            Some(&m.spool_bytes),
        ),
        ("edgesight_sink_pending_bytes", "gauge", "Bytes of events waiting in memory.", Some(&k.pending_bytes), None),
        (
            "edgesight_sink_spooled_total",
            "counter",
            "Events stored in the spool while the broker was not connected.",
            None,
            Some(&m.spooled),
        ),
        (
            "edgesight_sink_replayed_total",
            "counter",
            "Spooled events sent after a reconnection or a restart.",
            None,
            Some(&m.replayed),
        ),
        (
            "edgesight_sink_spool_events",
            "gauge",
            "Events in the spool not yet acknowledged by the broker.",
            None,
            Some(&m.spool_events),
        ),
        (
            "edgesight_sink_connects_total",
            "counter",
            "Connections to the broker (CONNACK accepted).",
            None,
            Some(&m.connects),
        ),
        ("edgesight_sink_connected", "gauge", "1 while connected to the broker.", None, Some(&m.connected)),
    ];
    for (name, kind, help, jsonl, mq) in sink_counters {
        let mq = mq.filter(|_| mqtt);
        if jsonl.is_none() && mq.is_none() {
            continue;
        }
        family(&mut out, name, kind, help);
        if let Some(c) = jsonl {
            let _ = writeln!(out, "{name}{{sink=\"jsonl\"}} {}", SinkStats::get(c));
        }
        if let Some(c) = mq {
            let _ = writeln!(out, "{name}{{sink=\"mqtt\"}} {}", SinkStats::get(c));
        }
    }
    family(&mut out, "edgesight_sink_dropped_total", "counter", "Events that never reached the output, per reason.");
    for why in SinkDrop::ALL {
        let _ = writeln!(
            out,
            "edgesight_sink_dropped_total{{sink=\"jsonl\",reason=\"{}\"}} {}",
            why.as_str(),
            k.dropped(why)
        );
    }
    region_metrics(&mut out, &src.regions.snapshot());
    let snaps = &k.snapshots;
    if snaps.enabled.load(std::sync::atomic::Ordering::Relaxed) {
        family(
            &mut out,
            "edgesight_snapshots_total",
            "counter",
            "Snapshots per result (written, dropped_busy, failed).",
        );
        for (result, c) in
            [("written", &snaps.written), ("dropped_busy", &snaps.dropped_busy), ("failed", &snaps.failed)]
        {
            let _ = writeln!(out, "edgesight_snapshots_total{{result=\"{result}\"}} {}", SinkStats::get(c));
        }
        family(&mut out, "edgesight_snapshot_bytes_on_disk", "gauge", "Bytes of the snapshot files in snapshots.dir.");
        let _ = writeln!(out, "edgesight_snapshot_bytes_on_disk {}", SinkStats::get(&snaps.bytes_on_disk));
    }
    if mqtt {
        for why in MqttDrop::ALL {
            let _ = writeln!(
                out,
                "edgesight_sink_dropped_total{{sink=\"mqtt\",reason=\"{}\"}} {}",
                why.as_str(),
                m.dropped(why)
            );
        }
    }
    family(&mut out, "edgesight_inference_heartbeat_age_seconds", "gauge", "Time since the inference loop last moved.");
    let _ = writeln!(out, "edgesight_inference_heartbeat_age_seconds {}", src.heartbeat.age().as_secs_f64());
    out
}

/// Line crossings per direction and zone occupancy and traffic, per stream (streams without
/// zones or lines have none).
fn region_metrics(out: &mut String, counts: &[StreamCounts]) {
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(out, "edgesight_line_crossings_total", "counter", "Objects that crossed a line, per line and direction.");
    for c in counts {
        for (line, n) in &c.lines {
            for (dir, v) in [("a_to_b", n.a_to_b), ("b_to_a", n.b_to_a)] {
                let _ = writeln!(
                    out,
                    "edgesight_line_crossings_total{{stream=\"{}\",line=\"{}\",direction=\"{dir}\"}} {v}",
                    esc(&c.stream),
                    esc(line)
                );
            }
        }
    }
    let zone_families = [
        ("edgesight_zone_occupancy", "gauge", "Tracked objects inside a zone now."),
        ("edgesight_zone_entries_total", "counter", "Objects seen entering a zone from outside."),
        ("edgesight_zone_appeared_total", "counter", "Tracks that started inside a zone (not seen coming in)."),
        ("edgesight_zone_exits_total", "counter", "Stays in a zone that ended (left, or the track ended inside)."),
    ];
    for (i, (name, kind, help)) in zone_families.into_iter().enumerate() {
        family(out, name, kind, help);
        for c in counts {
            for (zone, n) in &c.zones {
                let v = [n.occupancy, n.entered, n.appeared, n.exited][i];
                let _ = writeln!(out, "{name}{{stream=\"{}\",zone=\"{}\"}} {v}", esc(&c.stream), esc(zone));
            }
        }
    }
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
    let regions = src.regions.snapshot();
    let streams: Vec<serde_json::Value> = src
        .streams
        .streams()
        .iter()
        .map(|s| {
            let mut v = serde_json::json!({
                "name": s.name,
                "state": s.state.name(),
                "frames": s.processed,
                "dropped": {"busy": s.dropped_busy, "fps_limit": s.dropped_fps_limit},
                "retries": RetryReason::ALL.iter().map(|r| (r.as_str().to_string(), serde_json::json!(s.retries(*r)))).collect::<serde_json::Map<_, _>>(),
                "reconnects": s.reconnects,
            });
            if let Some(c) = regions.iter().find(|c| c.stream == s.name) {
                v["lines"] = c.lines.iter().map(|(name, n)| (name.clone(), serde_json::json!(n))).collect();
                v["zones"] = c.zones.iter().map(|(name, n)| (name.clone(), serde_json::json!(n))).collect();
            }
            v
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
        "sinks": sinks_status(&src.sinks),
    })
    .to_string()
}

fn sinks_status(k: &SinkStats) -> serde_json::Value {
    let mut sinks = serde_json::json!({"jsonl": sink_status(k)});
    if k.mqtt.enabled.load(std::sync::atomic::Ordering::Relaxed) {
        sinks["mqtt"] = crate::sink::mqtt::mqtt_status(k);
    }
    let snaps = &k.snapshots;
    if snaps.enabled.load(std::sync::atomic::Ordering::Relaxed) {
        sinks["snapshots"] = serde_json::json!({
            "written": SinkStats::get(&snaps.written),
            "dropped_busy": SinkStats::get(&snaps.dropped_busy),
            "failed": SinkStats::get(&snaps.failed),
            "bytes_on_disk": SinkStats::get(&snaps.bytes_on_disk),
        });
    }
    sinks
}

fn sink_status(k: &SinkStats) -> serde_json::Value {
    serde_json::json!({
        "written": SinkStats::get(&k.written),
        "dropped": SinkDrop::ALL.iter().map(|w| (w.as_str().to_string(), serde_json::json!(k.dropped(*w)))).collect::<serde_json::Map<_, _>>(),
        "errors": SinkStats::get(&k.errors),
        "rotations": SinkStats::get(&k.rotations),
        "reopens": SinkStats::get(&k.reopens),
        "bytes_on_disk": SinkStats::get(&k.bytes_on_disk),
        "pending_bytes": SinkStats::get(&k.pending_bytes),
    })
}

/// The response to one request head: GET only, the three endpoints.
fn route(head: &[u8], src: &Sources) -> Vec<u8> {
    let line = String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or_default());
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
    response(status, ctype, "", &body)
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
            .spawn(move || serve(&listener, &st, &|head: &[u8]| route(head, &src)))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The characters that must not reach a scraper raw, written here independently of
    /// `text::unsafe_char`: C0/C1 controls other than LF (escaped by the format), the line and
    /// paragraph separators, and the bidirectional controls.
    fn unsafe_in_label(c: char) -> bool {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }
    use crate::clock::SimClock;
    use crate::status::StreamStats;
    use proptest::prelude::*;

    /// Reads one sample line of the Prometheus text format with a single label, `name{l="v"} 1`,
    /// as a scraper does: the value up to the closing quote, `\\`, `\"` and `\n` unescaped, any
    /// other escape or a raw newline an error. Returns the label value.
    fn parse_sample(line: &str) -> std::result::Result<String, String> {
        let rest = line.strip_prefix("m{l=\"").ok_or("no sample start")?;
        let mut value = String::new();
        let mut chars = rest.chars();
        loop {
            match chars.next().ok_or("unterminated label value")? {
                '"' => break,
                '\n' => return Err("raw newline in a label value".into()),
                '\\' => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("invalid escape {other:?}")),
                },
                c => value.push(c),
            }
        }
        match chars.as_str() {
            "} 1" => Ok(value),
            tail => Err(format!("trailing {tail:?}")),
        }
    }

    /// What a scraper must read back: the input with each unsafe character replaced.
    fn sanitized(s: &str) -> String {
        s.chars().map(|c| if unsafe_in_label(c) { LABEL_REPLACEMENT } else { c }).collect()
    }

    fn hostile_char() -> impl Strategy<Value = char> {
        prop_oneof![
            any::<char>(),
            prop::sample::select(vec![
                '\\', '"', '\n', '\r', '\0', '\x1b', '\t', '\x7f', '\u{85}', '\u{2028}', '\u{2029}', '\u{200E}',
                '\u{200F}', '\u{061C}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}',
                '\u{2067}', '\u{2068}', '\u{2069}', '}', '{', '=', ',', ' ', '#', 'a',
            ]),
        ]
    }

    proptest! {
        #[test]
        fn every_escaped_label_value_is_one_line_and_parses_back(
            chars in prop::collection::vec(hostile_char(), 0..48)
        ) {
            let name: String = chars.into_iter().collect();
            let line = format!("m{{l=\"{}\"}} 1", esc(&name));
            prop_assert_eq!(line.lines().count(), 1, "one line: {:?}", line);
            prop_assert!(!line.chars().any(unsafe_in_label), "no control or bidi character: {:?}", line);
            prop_assert_eq!(parse_sample(&line), Ok(sanitized(&name)), "{:?}", line);
        }
    }

    #[test]
    fn the_format_escapes_and_the_replacements() {
        assert_eq!(esc(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(esc("a\nb"), r"a\nb");
        assert_eq!(esc("cam\r\x1b[2J\0"), "cam\u{FFFD}\u{FFFD}[2J\u{FFFD}");
        assert_eq!(esc("x\u{202E}y\u{2066}z"), "x\u{FFFD}y\u{FFFD}z");
        assert_eq!(esc("Straße 3 ☂ カメラ"), "Straße 3 ☂ カメラ", "printable text is kept");
    }

    struct Fixed(Vec<StreamStats>);

    impl StreamStatus for Fixed {
        fn streams(&self) -> Vec<StreamStats> {
            self.0.clone()
        }
    }

    #[test]
    fn a_hostile_stream_name_keeps_every_metrics_line_whole() {
        let clock: SharedClock = Arc::new(SimClock::new());
        let name = "cam\"1\\\n# TYPE x counter\r\u{202E}\x1b[31m";
        let src = Sources {
            device: "dev\r\n".into(),
            clock: Arc::clone(&clock),
            stats: Arc::new(Mutex::new(RunStats::default())),
            streams: Arc::new(Fixed(vec![StreamStats::new(name)])),
            heartbeat: Heartbeat::new(clock),
            max_frame_age: Duration::from_secs(30),
            sinks: Arc::default(),
            regions: Arc::default(),
        };
        let text = render_metrics(&src);
        let escaped = format!("stream=\"{}\"", esc(name));
        for line in text.lines() {
            assert!(!line.chars().any(unsafe_in_label), "{line:?}");
            if line.starts_with('#') {
                assert!(line.starts_with("# HELP edgesight_") || line.starts_with("# TYPE edgesight_"), "{line:?}");
            } else {
                assert!(line.starts_with("edgesight_"), "a sample line: {line:?}");
                let (_, value) = line.rsplit_once(' ').expect("a value");
                assert!(value.parse::<f64>().is_ok(), "{line:?}");
                if line.contains("stream=") {
                    assert!(line.contains(&escaped), "{line:?}");
                }
            }
        }
    }

    /// Lines and zones of a stream in /metrics and under the stream in /status.
    #[test]
    fn line_and_zone_counts_reach_metrics_and_status() {
        use crate::zones::{Line, Observation, Regions, StreamRegions, Zone};
        let clock: SharedClock = Arc::new(SimClock::new());
        let regions = Regions {
            lines: vec![Line { name: "gate".into(), from: [0.0, 0.5], to: [1.0, 0.5], classes: vec![] }],
            zones: vec![Zone {
                name: "bay".into(),
                polygon: vec![[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]],
                classes: vec![],
                inertia: 1,
                loiter_ms: None,
            }],
        };
        let mut r = StreamRegions::new(regions, 1.0);
        // Down across the line into the zone (a 100 px frame).
        for (i, y) in [40.0, 70.0, 80.0].into_iter().enumerate() {
            let o = Observation { track_id: 1, class_id: 0, bbox: [40.0, y - 20.0, 60.0, y] };
            r.frame(i as u64 * 40, 100, 100, &[], &[o]);
        }
        let stats = Arc::new(crate::zones::RegionStats::default());
        stats.publish("cam", &r);
        let src = Sources {
            device: "dev".into(),
            clock: Arc::clone(&clock),
            stats: Arc::new(Mutex::new(RunStats::default())),
            streams: Arc::new(Fixed(vec![StreamStats::new("cam")])),
            heartbeat: Heartbeat::new(clock),
            max_frame_age: Duration::from_secs(30),
            sinks: Arc::default(),
            regions: stats,
        };
        let text = render_metrics(&src);
        for line in [
            "edgesight_line_crossings_total{stream=\"cam\",line=\"gate\",direction=\"a_to_b\"} 1",
            "edgesight_line_crossings_total{stream=\"cam\",line=\"gate\",direction=\"b_to_a\"} 0",
            "edgesight_zone_occupancy{stream=\"cam\",zone=\"bay\"} 1",
            "edgesight_zone_entries_total{stream=\"cam\",zone=\"bay\"} 1",
            "edgesight_zone_exits_total{stream=\"cam\",zone=\"bay\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
        let status: serde_json::Value = serde_json::from_str(&render_status(&src)).expect("json");
        let cam = &status["streams"][0];
        assert_eq!(cam["lines"]["gate"], serde_json::json!({"a_to_b": 1, "b_to_a": 0}));
        assert_eq!(cam["zones"]["bay"], serde_json::json!({"occupancy": 1, "entered": 1, "appeared": 0, "exited": 0}));
    }

    /// Every verdict of /healthz the runbook documents, on a simulated clock: healthy; no stream
    /// up (starting, reconnecting, failed, ended); no frame processed for too long; the inference
    /// loop stuck (which wins over the others).
    #[test]
    fn healthz_answers_each_documented_reason() {
        let sim = Arc::new(SimClock::new());
        let clock: SharedClock = Arc::clone(&sim) as SharedClock;
        let with = |states: &[StreamState], stats: RunStats| {
            let streams = states
                .iter()
                .enumerate()
                .map(|(i, st)| {
                    let mut s = StreamStats::new(&format!("cam{i}"));
                    s.state = st.clone();
                    s
                })
                .collect();
            Sources {
                device: "dev".into(),
                clock: Arc::clone(&clock),
                stats: Arc::new(Mutex::new(stats)),
                streams: Arc::new(Fixed(streams)),
                heartbeat: Heartbeat::new(Arc::clone(&clock)),
                max_frame_age: Duration::from_secs(30),
                sinks: Arc::default(),
                regions: Arc::default(),
            }
        };
        let fresh = || {
            let mut st = RunStats::default();
            st.start(clock.now());
            st.record(clock.now(), Duration::from_millis(5), &Default::default());
            st
        };
        let up = StreamState::Up;
        let src = with(&[up.clone(), up.clone()], fresh());
        src.heartbeat.beat();
        assert_eq!(health(&src), (true, "ok: 2/2 streams up".to_string()));
        let one = with(&[up.clone(), StreamState::Reconnecting(RetryReason::Stall)], fresh());
        one.heartbeat.beat();
        assert_eq!(health(&one), (true, "ok: 1/2 streams up".to_string()), "one stream up is healthy");
        for down in [
            StreamState::Starting,
            StreamState::Reconnecting(RetryReason::Stall),
            StreamState::Failed("gave up".into()),
            StreamState::Ended,
        ] {
            let src = with(std::slice::from_ref(&down), fresh());
            src.heartbeat.beat();
            assert_eq!(health(&src), (false, "no stream up (of 1)".to_string()), "{down:?}");
        }
        // Frames stop while the stream still says Up and the loop keeps beating.
        let stale = with(std::slice::from_ref(&up), fresh());
        sim.advance(Duration::from_secs(31));
        stale.heartbeat.beat();
        assert_eq!(health(&stale), (false, "no frame processed for 31.0 s".to_string()));
        // The inference loop itself stops beating: reported first, whatever the streams say.
        let stuck = with(&[up], fresh());
        stuck.heartbeat.beat();
        sim.advance(Duration::from_secs(45));
        assert_eq!(health(&stuck), (false, "inference loop stuck for 45.0 s".to_string()));
    }
}
