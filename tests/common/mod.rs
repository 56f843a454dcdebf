//! Shared helpers of the integration tests: paths, running the binary, spawned processes that
//! die with the test, one config writer, polling, the reference tolerance.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn model(name: &str) -> PathBuf {
    root().join("models").join(name)
}

pub fn image(name: &str) -> PathBuf {
    root().join("tests/data/images").join(name)
}

pub fn clip() -> PathBuf {
    root().join("media/vtest_h264.mp4")
}

/// The interpreter of `make test-deps` (`.cache/venv`: onnx and pinned NumPy, OpenCV, ONNX
/// Runtime), or `EDGESIGHT_PYTHON`.
pub fn python() -> PathBuf {
    python_and_origin().0
}

pub fn reference(name: &str) -> Vec<Value> {
    parse_lines(&std::fs::read_to_string(root().join("tests/data/reference").join(name)).expect("reference file"))
}

/// The frame events of JSON lines: `track_end` lines (a tracker's, `"kind": "track_end"`; on by
/// default since issue 14) are left out, so counts and comparisons stay one event per frame.
/// tests/tracking.rs reads those itself.
pub fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !is_track_end(l))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// An event's `detections` without their `track_id` (a tracker's, on by default): for comparing
/// `run`'s detections with `detect`'s, which runs no tracker.
pub fn detections_untracked(event: &Value) -> Value {
    let mut d = event["detections"].clone();
    for det in d.as_array_mut().into_iter().flatten() {
        det.as_object_mut().map(|o| o.remove("track_id"));
    }
    d
}

/// A `track_end` line (it starts with its `kind`).
pub fn is_track_end(line: &str) -> bool {
    line.starts_with("{\"kind\":\"track_end\"")
}

/// The Python that runs the tests' Python helpers, and where that choice came from (for error
/// messages): `EDGESIGHT_PYTHON`, else the venv of `make test-deps`, else `python3`.
fn python_and_origin() -> (PathBuf, String) {
    if let Some(p) = std::env::var_os("EDGESIGHT_PYTHON") {
        return (PathBuf::from(p), "from EDGESIGHT_PYTHON".into());
    }
    let venv = root().join(".cache/venv/bin/python3");
    if venv.exists() {
        return (venv, "the venv of `make test-deps`".into());
    }
    (PathBuf::from("python3"), "python3 on PATH; .cache/venv does not exist".into())
}

/// Runs `scripts/<script> --out <dir>`, a generator of test models. Without a Python that has
/// what it imports the test fails with the reason; it never skips.
pub fn generate_models(script: &str, dir: &Path) {
    let script = root().join("scripts").join(script);
    let (py, origin) = python_and_origin();
    let hint = "run `make test-deps` (creates .cache/venv with onnx, numpy and OpenCV) or set EDGESIGHT_PYTHON \
                to a Python that has them";
    let out = Command::new(&py).arg(&script).arg("--out").arg(dir).output().unwrap_or_else(|e| {
        panic!("cannot run Python {} ({origin}): {e}; {hint}", py.display());
    });
    assert!(
        out.status.success(),
        "{} failed with Python {} ({origin}), {}:\n{}\n{hint}",
        script.display(),
        py.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The complete frame events of a JSONL file a running service writes to (none when it does not
/// exist yet): the last line may be mid-write, so only lines ending in `}` count; `track_end`
/// lines are left out as in `parse_lines`.
pub fn events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter(|l| l.ends_with('}') && !is_track_end(l)).filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// How many complete events the file holds (as `events`, without parsing them: polled often).
pub fn events_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter(|l| l.ends_with('}') && !is_track_end(l)).count())
        .unwrap_or(0)
}

/// `/status` of the metrics listener at `addr` as JSON; Null while the listener is not up yet.
pub fn status_json(addr: &str) -> Value {
    if std::net::TcpStream::connect(addr).is_err() {
        return Value::Null;
    }
    let r = http_get(addr, "/status");
    let body = r.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Runs the edgesight binary with `args`, optional extra environment.
pub fn edgesight(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgesight"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("edgesight runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failure: exit code, a message containing every `needles`, no panic, one line.
pub fn assert_fails(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The body and headers of `GET path` from `addr` (host:port).
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("metrics listener");
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out
}

/// A spawned process that is killed (and reaped) when dropped while still running, so that a
/// failing assertion does not leave an `edgesight run` or an RTSP server behind.
pub struct Proc(Option<Child>);

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        Proc::from(cmd.spawn().expect("spawn"))
    }

    pub fn wait_with_output(mut self) -> Output {
        self.0.take().expect("a child").wait_with_output().expect("exit")
    }
}

impl From<Child> for Proc {
    fn from(child: Child) -> Proc {
        Proc(Some(child))
    }
}

impl Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("a child")
    }
}

impl DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("a child")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0
            && let Ok(None) = child.try_wait()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts the real RTSP test server (scripts/rtsp_server.py, gst-rtsp-server) on `port` and waits
/// for its READY line; with `credentials` (user, password) it requires basic authentication. Its
/// later lines ("media paused", …) are read and dropped, so that its prints never meet a closed pipe.
pub fn rtsp_server(port: u16, credentials: Option<(&str, &str)>) -> Proc {
    let (child, out) = rtsp_server_with_output(port, credentials);
    std::thread::spawn(move || std::io::BufRead::lines(out).map_while(Result::ok).for_each(drop));
    child
}

/// `rtsp_server`, and the server's stdout after the READY line, for tests that wait on it.
pub fn rtsp_server_with_output(
    port: u16,
    credentials: Option<(&str, &str)>,
) -> (Proc, std::io::BufReader<std::process::ChildStdout>) {
    let args = credentials.map(|(user, password)| vec!["--user", user, "--password", password]).unwrap_or_default();
    rtsp_server_with_args(port, &args)
}

/// `rtsp_server` with other options of scripts/rtsp_server.py (`--protocols udp`, `--auth digest`, …).
pub fn rtsp_server_with(port: u16, args: &[&str]) -> Proc {
    let (child, out) = rtsp_server_with_args(port, args);
    std::thread::spawn(move || std::io::BufRead::lines(out).map_while(Result::ok).for_each(drop));
    child
}

fn rtsp_server_with_args(port: u16, args: &[&str]) -> (Proc, std::io::BufReader<std::process::ChildStdout>) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(root().join("scripts/rtsp_server.py")).args(["--port", &port.to_string()]).args(args);
    let mut child: Proc = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the RTSP test server needs /usr/bin/python3 with python3-gi and gir1.2-gst-rtsp-server-1.0: run `make test-deps`")
        .into();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("server output");
    assert!(line.starts_with("READY"), "RTSP server did not start ({line:?}); run `make test-deps`");
    (child, out)
}

/// The lines of a child's pipe, each stamped when it was read: on the reader thread, so that a
/// test busy elsewhere does not make an event look later than it was.
pub struct TimedLines(std::sync::mpsc::Receiver<(Instant, String)>);

impl TimedLines {
    pub fn new(pipe: impl std::io::Read + Send + 'static) -> TimedLines {
        use std::io::{BufRead, BufReader};
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send((Instant::now(), line));
            }
        });
        TimedLines(rx)
    }

    /// The next line that contains `needle` (earlier ones are skipped), with its stamp; fails the
    /// test after `timeout`, or when the pipe closes first.
    pub fn next(&self, needle: &str, timeout: Duration) -> (Instant, String) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok((at, line)) if line.contains(needle) => return (at, line),
                Ok(_) => {}
                Err(e) => panic!("no line with {needle:?} within {timeout:?} ({e})"),
            }
        }
    }
}

/// Fails with the reason when the binary under test lacks the `test-hooks` feature: `cargo test`
/// builds it with them, a `cargo build` in between replaces it without.
pub fn assert_test_hooks() {
    let o = edgesight(&["--version"], &[]);
    assert!(
        stdout(&o).contains("test build: EDGESIGHT_TEST_"),
        "target/release/edgesight was built without the test-hooks feature (a `cargo build` ran after `cargo test` \
         built it): run the tests again with `cargo test`"
    );
}

/// Sends a signal (`TERM`, `HUP`, …) to a child process.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([&format!("-{sig}"), &child.id().to_string()]).status().expect("kill");
    assert!(ok.success(), "kill -{sig}");
}

/// SIGTERM, then the clean exit a drained shutdown promises (status 0).
pub fn stop(mut child: Proc) {
    signal(&child, "TERM");
    assert_eq!(child.wait().expect("exit").code(), Some(0));
}

/// Polls `cond` every 50 ms until it holds; fails the test after `timeout`. Returns how long it
/// took, for tests that bound a recovery time.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

/// `edgesight.toml` in a test directory: the NanoDet model of models/ (or another model and
/// family), streams, the JSONL output, optionally a device name and log level, a labels file,
/// extra model keys and the metrics listener.
pub struct ConfigBuilder {
    dir: PathBuf,
    model: PathBuf,
    family: String,
    device: Option<String>,
    log_level: Option<String>,
    threads: u32,
    labels: Option<String>,
    model_extra: String,
    streams: String,
    events: Option<PathBuf>,
    metrics: Option<String>,
}

impl ConfigBuilder {
    /// `models/nanodet_g_416_coco.onnx`, family `nanodet`, 1 thread.
    pub fn nanodet(dir: &Path) -> Self {
        ConfigBuilder {
            dir: dir.to_path_buf(),
            model: model("nanodet_g_416_coco.onnx"),
            family: "nanodet".into(),
            device: None,
            log_level: None,
            threads: 1,
            labels: None,
            model_extra: String::new(),
            streams: String::new(),
            events: None,
            metrics: None,
        }
    }

    pub fn device(mut self, name: &str) -> Self {
        self.device = Some(name.to_string());
        self
    }

    /// `device.log_level`.
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = Some(level.to_string());
        self
    }

    /// Another NanoDet export of models/ (e.g. the dynamic-batch one).
    pub fn model_file(mut self, name: &str) -> Self {
        self.model = model(name);
        self
    }

    /// A model outside models/ (a copy, a missing or damaged file).
    pub fn model_path(mut self, path: &Path) -> Self {
        self.model = path.to_path_buf();
        self
    }

    /// Another model of models/ with its family, e.g. the SSDLite person detector.
    pub fn model_of_family(mut self, name: &str, family: &str) -> Self {
        self.model = model(name);
        self.family = family.to_string();
        self
    }

    pub fn threads(mut self, n: u32) -> Self {
        self.threads = n;
        self
    }

    /// `labels = models/coco80_labels.txt`.
    pub fn labels(self) -> Self {
        self.labels_file("coco80_labels.txt")
    }

    /// `labels = models/NAME`.
    pub fn labels_file(mut self, name: &str) -> Self {
        self.labels = Some(name.to_string());
        self
    }

    /// Lines appended to `[model]` after `threads` (each ending in a newline).
    pub fn model_extra(mut self, lines: &str) -> Self {
        self.model_extra.push_str(lines);
        self
    }

    /// A `[[stream]]` with `name`, `uri` and `extra` lines (each ending in a newline).
    pub fn stream(mut self, name: &str, uri: &str, extra: &str) -> Self {
        self.streams.push_str(&format!("[[stream]]\nname = \"{name}\"\nuri = \"{uri}\"\n{extra}\n"));
        self
    }

    /// `[output.jsonl] path`.
    pub fn events(mut self, path: &Path) -> Self {
        self.events = Some(path.to_path_buf());
        self
    }

    /// `[metrics] listen` (host:port).
    pub fn metrics(mut self, addr: &str) -> Self {
        self.metrics = Some(addr.to_string());
        self
    }

    /// The TOML text. `[model]` comes first after `[device]`, then `path`, `family`, `labels`,
    /// `threads`, so that line numbers stay predictable for tests that point at one; the text
    /// ends with a newline so that a test can append a table.
    pub fn text(&self) -> String {
        let mut t = String::new();
        if self.device.is_some() || self.log_level.is_some() {
            t += "[device]\n";
            if let Some(name) = &self.device {
                t += &format!("name = \"{name}\"\n");
            }
            if let Some(level) = &self.log_level {
                t += &format!("log_level = \"{level}\"\n");
            }
            t += "\n";
        }
        t += &format!("[model]\npath = \"{}\"\nfamily = \"{}\"\n", self.model.display(), self.family);
        if let Some(name) = &self.labels {
            t += &format!("labels = \"{}\"\n", model(name).display());
        }
        t += &format!("threads = {}\n{}\n{}", self.threads, self.model_extra, self.streams);
        if let Some(path) = &self.events {
            t += &format!("[output.jsonl]\npath = \"{}\"\n", path.display());
        }
        if let Some(addr) = &self.metrics {
            t += &format!("\n[metrics]\nlisten = \"{addr}\"\n");
        }
        t
    }

    /// Writes `edgesight.toml` into the directory and returns its path.
    pub fn write(&self) -> PathBuf {
        let cfg = self.dir.join("edgesight.toml");
        std::fs::write(&cfg, self.text()).expect("config");
        cfg
    }
}

/// Runs a GStreamer launch line to its end (encoders that write test media).
pub fn gst_run(line: &str) {
    use gstreamer as gst;
    use gstreamer::prelude::*;
    gst::init().expect("gstreamer");
    let pipeline =
        gst::parse::launch(line).unwrap_or_else(|e| panic!("pipeline {line}: {e} (needs gstreamer1.0-plugins-ugly)"));
    pipeline.set_state(gst::State::Playing).expect("playing");
    let bus = pipeline.bus().expect("bus");
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("pipeline finished");
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{line} failed: {msg:?}");
    pipeline.set_state(gst::State::Null).expect("stopped");
}

/// Encodes a short H.264 MP4 clip of `frames` frames of a test pattern with GStreamer.
pub fn make_clip(path: &Path, frames: u32, pattern: &str) {
    gst_run(&format!(
        "videotestsrc num-buffers={frames} pattern={pattern} ! video/x-raw,width=320,height=240,framerate=10/1 ! \
         x264enc ! h264parse ! mp4mux ! filesink location={}",
        path.display()
    ));
}

/// `edgesight run --config CFG` as a service would run it: stdout discarded, stderr piped (see
/// `stderr_lines`), with `env`.
pub fn run_service(cfg: &Path, env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgesight"));
    cmd.args(["run", "--config", p(cfg)]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc::spawn(&mut cmd)
}

/// RFC 3986 percent-encoding of everything but unreserved characters, with upper- or
/// lower-case hex digits (written here, not taken from the code under test).
pub fn percent_encode(s: &str, lower: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ if lower => format!("%{b:02x}"),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whole event lines of stream `stream` in the event file `path` so far.
pub fn events_of_stream(path: &Path, stream: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter(|l| l.ends_with('}') && l.contains(&format!("\"stream\":\"{stream}\""))).count()
}

/// `edgesight run --config cfg` at `RUST_LOG=info`, its standard error (the log) into the file
/// `log`, which the test reads as it goes.
pub fn run_logged(cfg: &Path, log: &Path) -> Proc {
    Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_edgesight"))
            .args(["run", "--config", p(cfg)])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file")),
    )
}

/// The child's stderr, line by line, collected on a thread.
pub fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::{BufRead, BufReader};
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().expect("stderr piped");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The value of `key` in the `stats:` line of `stderr`.
pub fn stats_value(stderr: &str, key: &str) -> u64 {
    let line = stderr.lines().find(|l| l.starts_with("stats: ")).unwrap_or_else(|| panic!("no stats line: {stderr}"));
    let prefix = format!("{key}=");
    let v =
        line.split(' ').find_map(|kv| kv.strip_prefix(prefix.as_str())).unwrap_or_else(|| panic!("no {key} in {line}"));
    v.parse().unwrap_or_else(|_| panic!("{key}={v} is not a count"))
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

pub fn iou(a: &[f64], b: &[f64]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// (class id, score, bbox) of every detection of an event or reference line.
pub fn boxes(v: &Value) -> Vec<(u64, f64, Vec<f64>)> {
    v["detections"]
        .as_array()
        .expect("detections")
        .iter()
        .map(|d| {
            (
                d["class_id"].as_u64().expect("class_id"),
                d["score"].as_f64().expect("score"),
                d["bbox"].as_array().expect("bbox").iter().map(|x| x.as_f64().expect("coord")).collect(),
            )
        })
        .collect()
}

/// The tolerance of tests/data/reference/README.md for one frame: at least 95% of the expected
/// detections matched (same class, IoU >= 0.7, score within 0.05) and at most 5% of ours unmatched.
/// Returns a description of the failure, if any.
pub fn frame_mismatch(expected: &Value, got: &Value) -> Option<String> {
    let (exp, ours) = (boxes(expected), boxes(got));
    let mut used = vec![false; ours.len()];
    let mut matched = 0;
    for (class, score, b) in &exp {
        let best = ours
            .iter()
            .enumerate()
            .filter(|(j, (c, s, _))| !used[*j] && c == class && (s - score).abs() <= 0.05)
            .map(|(j, (_, _, ob))| (j, iou(b, ob)))
            .filter(|(_, i)| *i >= 0.7)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((j, _)) = best {
            used[j] = true;
            matched += 1;
        }
    }
    let extra = ours.len() - matched;
    let ok_matched = exp.is_empty() || matched as f64 >= 0.95 * exp.len() as f64;
    let ok_extra = ours.is_empty() || extra as f64 <= 0.05 * ours.len() as f64;
    if ok_matched && ok_extra {
        None
    } else {
        Some(format!(
            "frame {}: matched {matched}/{} expected, {extra}/{} extra",
            expected["frame"],
            exp.len(),
            ours.len()
        ))
    }
}

/// Pairs events with reference lines by (source, frame) and returns every failing frame.
pub fn compare(expected: &[Value], events: &[Value]) -> Vec<String> {
    let mut failures = Vec::new();
    if expected.len() != events.len() {
        failures.push(format!("{} events for {} reference frames", events.len(), expected.len()));
    }
    for e in expected {
        let found = events.iter().find(|g| g["stream"] == e["source"] && g["frame"] == e["frame"]);
        match found {
            None => failures.push(format!("no event for {} frame {}", e["source"], e["frame"])),
            Some(g) => {
                if g["width"] != e["width"] || g["height"] != e["height"] {
                    failures.push(format!("{} frame {}: size differs", e["source"], e["frame"]));
                }
                if let Some(m) = frame_mismatch(e, g) {
                    failures.push(format!("{}: {m}", e["source"]));
                }
            }
        }
    }
    failures
}

/// Whether a real NVIDIA driver is installed here (then the missing-driver cases cannot be shown).
#[cfg(feature = "cuda")]
pub fn driver_installed() -> bool {
    // SAFETY: only loads the library by name.
    #[allow(unsafe_code)]
    unsafe {
        cudarc::driver::sys::is_culib_present()
    }
}

/// Appends a line to the report scripts/cuda-check.sh prints (target/cuda-check/report.txt).
pub fn cuda_report(line: &str) {
    use std::io::Write;
    let dir = root().join("target/cuda-check");
    std::fs::create_dir_all(&dir).expect("report dir");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("report.txt")).expect("report");
    writeln!(f, "{line}").expect("report line");
}
