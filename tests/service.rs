//! `edgesight run` as a service: SIGHUP reload (valid then invalid config), SIGTERM drain with
//! every event written, the systemd notify protocol (READY, WATCHDOG, STATUS, STOPPING) and the
//! watchdog going quiet when inference is wedged, journald-style log lines.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Events are written as they come (`flush_interval_s = 0`): these tests read them while the
/// inference loop is wedged, when nothing writes what waits in memory.
fn write_config(dir: &Path, stream: &str, extra_model: &str, events: &Path) -> PathBuf {
    let text = ConfigBuilder::nanodet(dir)
        .device("svc")
        .labels()
        .threads(1)
        .model_extra(extra_model)
        .stream(stream, "test://ball?width=160&height=120&fps=10", "")
        .events(events)
        .text();
    let cfg = dir.join("edgesight.toml");
    std::fs::write(&cfg, format!("{text}flush_interval_s = 0\n")).expect("config");
    cfg
}

fn frames_stat(lines: &[String]) -> u64 {
    let line =
        lines.iter().find(|l| l.contains("stats: frames=")).unwrap_or_else(|| panic!("no stats line in {lines:#?}"));
    line.split(' ').find_map(|kv| kv.strip_prefix("frames=")).and_then(|v| v.parse().ok()).expect("frames count")
}

#[test]
fn sighup_applies_a_valid_config_refuses_an_invalid_one_and_sigterm_flushes_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("events.jsonl");
    let cfg = write_config(dir.path(), "before", "", &ev);
    let mut child = run_service(&cfg, &[]);
    let rx = stderr_lines(&mut child);
    wait_for("events from \"before\"", Duration::from_secs(60), || events(&ev).iter().any(|e| e["stream"] == "before"));

    // Valid change: the stream is renamed (so restarted) and only persons are reported.
    write_config(dir.path(), "after", "classes = [\"person\"]\nscore_threshold = 0.5\n", &ev);
    signal(&child, "HUP");
    wait_for("events from \"after\"", Duration::from_secs(60), || events(&ev).iter().any(|e| e["stream"] == "after"));
    let count_before = events(&ev).iter().filter(|e| e["stream"] == "before").count();

    // Invalid change: refused, logged with file:line, the running configuration stays.
    let good = std::fs::read_to_string(&cfg).expect("cfg");
    std::fs::write(&cfg, good.replace("threads = 1", "threads = 1\nscore_treshold = 0.9")).expect("write");
    signal(&child, "HUP");
    let mut log = Vec::new();
    wait_for("the refusal in the log", Duration::from_secs(30), || {
        log.extend(rx.try_iter());
        log.iter()
            .any(|l| l.contains("reload refused") && l.contains("edgesight.toml:9:1") && l.contains("score_treshold"))
    });
    let n = events(&ev).iter().filter(|e| e["stream"] == "after").count();
    wait_for("more events from \"after\"", Duration::from_secs(30), || {
        events(&ev).iter().filter(|e| e["stream"] == "after").count() > n + 3
    });
    assert!(child.try_wait().expect("status").is_none(), "still running");
    assert_eq!(events(&ev).iter().filter(|e| e["stream"] == "before").count(), count_before, "old stream stopped");

    signal(&child, "TERM");
    let status = child.wait().expect("exit");
    log.extend(rx.iter());
    assert_eq!(status.code(), Some(0), "{log:#?}");
    let text = std::fs::read_to_string(&ev).expect("events");
    assert!(text.ends_with('\n'));
    let all = parse_lines(&text);
    assert_eq!(all.len() as u64, frames_stat(&log), "events in the file == frames processed");
    let after: Vec<_> = all.iter().filter(|e| e["stream"] == "after").collect();
    assert!(
        after
            .iter()
            .flat_map(|e| e["detections"].as_array().cloned().unwrap_or_default())
            .all(|d| d["label"] == "person"),
        "the reloaded allow-list applies"
    );
}

#[test]
fn every_refused_reload_is_logged_however_many_come() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("events.jsonl");
    let cfg = write_config(dir.path(), "cam", "", &ev);
    let mut child = run_service(&cfg, &[]);
    let rx = stderr_lines(&mut child);
    wait_for("events", Duration::from_secs(60), || !events(&ev).is_empty());
    let good = std::fs::read_to_string(&cfg).expect("cfg");
    std::fs::write(&cfg, good.replace("threads = 1", "threads = 1\nscore_treshold = 0.9")).expect("write");
    // More refusals, in less time, than the rate limit lets one call site log: each is answered.
    let mut log = Vec::new();
    for n in 1..=8 {
        signal(&child, "HUP");
        wait_for(&format!("refusal {n} in the log"), Duration::from_secs(30), || {
            log.extend(rx.try_iter());
            log.iter().filter(|l| l.contains("reload refused") && l.contains("score_treshold")).count() >= n
        });
    }
    assert!(!log.iter().any(|l| l.contains("similar messages suppressed")), "{log:#?}");
    stop(child);
}

/// Reads notify datagrams until `done` says so or `timeout`.
fn read_until(sock: &UnixDatagram, seen: &mut Vec<String>, timeout: Duration, done: impl Fn(&[String]) -> bool) {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while !done(seen) && start.elapsed() < timeout {
        if let Ok(n) = sock.recv(&mut buf) {
            seen.extend(String::from_utf8_lossy(&buf[..n]).lines().map(str::to_string));
        }
    }
}

/// Starts `run` on a test-pattern stream as systemd would: with a notify socket (returned) and
/// a watchdog period, plus `env`.
fn start_notified(dir: &Path, watchdog_usec: &str, env: &[(&str, &str)]) -> (Proc, UnixDatagram, PathBuf) {
    let ev = dir.join("events.jsonl");
    let cfg = write_config(dir, "cam", "", &ev);
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgesight"));
    cmd.args(["run", "--config", p(&cfg)])
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", watchdog_usec)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    (Proc::spawn(&mut cmd), sock, ev)
}

#[test]
fn systemd_sees_ready_watchdog_status_and_stopping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, sock, _) = start_notified(dir.path(), "600000", &[]);
    let mut seen = Vec::new();
    read_until(&sock, &mut seen, Duration::from_secs(60), |s| {
        s.iter().filter(|l| *l == "WATCHDOG=1").count() >= 4 && s.iter().any(|l| l.starts_with("STATUS=1/1 streams up"))
    });
    // READY=1 comes before any watchdog ping: systemd ignores pings of a service not yet started.
    let ready = seen.iter().position(|l| l == "READY=1").expect("READY=1");
    let first_ping = seen.iter().position(|l| l == "WATCHDOG=1").expect("WATCHDOG=1");
    assert!(ready < first_ping, "READY=1 after a watchdog ping: {seen:?}");
    // The STATUS= line systemctl status shows, field by field.
    let status = seen.iter().rev().find(|l| l.starts_with("STATUS=1/1 streams up")).expect("a STATUS line");
    let fields: Vec<&str> = status.trim_start_matches("STATUS=").split(", ").collect();
    assert_eq!(fields.len(), 5, "{status}");
    assert_eq!(fields[0], "1/1 streams up", "{status}");
    let number = |f: &str, unit: &str| -> f64 {
        f.strip_suffix(unit).and_then(|n| n.trim().parse().ok()).unwrap_or_else(|| panic!("{unit:?} in {status}"))
    };
    assert!(number(fields[1], " fps") > 0.0, "frames flow: {status}");
    assert!(number(fields[2], " frames") >= 1.0, "{status}");
    assert_eq!(number(fields[3], " dropped"), number(fields[3], " dropped").floor(), "{status}");
    assert_eq!(number(fields[4], " reconnects"), 0.0, "{status}");
    signal(&child, "TERM");
    read_until(&sock, &mut seen, Duration::from_secs(20), |s| s.iter().any(|l| l == "STOPPING=1"));
    assert!(seen.iter().any(|l| l == "STOPPING=1"), "{seen:?}");
    assert_eq!(child.wait().expect("exit").code(), Some(0));
}

#[test]
fn a_wedged_inference_stops_the_watchdog_pings() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_test_hooks();
    let (child, sock, ev) = start_notified(dir.path(), "400000", &[("EDGESIGHT_TEST_STALL_AFTER_FRAMES", "5")]);
    let mut seen = Vec::new();
    // Pings while frames flow...
    read_until(&sock, &mut seen, Duration::from_secs(60), |s| s.iter().any(|l| l == "WATCHDOG=1"));
    assert!(seen.iter().any(|l| l == "WATCHDOG=1"), "pings before the stall: {seen:?}");
    wait_for("5 events", Duration::from_secs(60), || events(&ev).len() >= 5);
    // ...then, once the loop is wedged (and what was sent before is read), none for many
    // watchdog periods.
    std::thread::sleep(Duration::from_secs(1));
    let mut stale = Vec::new();
    read_until(&sock, &mut stale, Duration::from_millis(300), |_| false);
    let mut quiet = Vec::new();
    read_until(&sock, &mut quiet, Duration::from_secs(3), |_| false);
    assert!(!quiet.iter().any(|l| l == "WATCHDOG=1"), "pings continued while wedged: {quiet:?}");
    stop(child);
}

#[test]
fn under_journald_log_lines_carry_priorities_and_no_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = dir.path().join("events.jsonl");
    let cfg = write_config(dir.path(), "cam", "", &ev);
    let mut child = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_edgesight"))
            .args(["run", "--config", p(&cfg)])
            .env("JOURNAL_STREAM", "8:12345")
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let rx = stderr_lines(&mut child);
    wait_for("events", Duration::from_secs(60), || !events(&ev).is_empty());
    stop(child);
    let log: Vec<String> = rx.iter().collect();
    let info = log.iter().find(|l| l.contains("running 1 stream")).unwrap_or_else(|| panic!("{log:#?}"));
    assert!(info.starts_with("<6>edgesight::runtime::pipeline: "), "{info}");
    assert!(!log.iter().any(|l| l.starts_with('[')), "no timestamps under journald: {log:#?}");
    // A failing start is reported with the error priority.
    let o = edgesight(&["run", "--config", "/nonexistent.toml"], &[("JOURNAL_STREAM", "8:1")]);
    assert!(stderr(&o).starts_with("<3>edgesight: config error:"), "{}", stderr(&o));
}

#[test]
fn a_reload_is_framed_by_reloading_and_ready_and_one_whose_new_stream_cannot_open_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, sock, ev) = start_notified(dir.path(), "600000", &[]);
    let mut seen = Vec::new();
    read_until(&sock, &mut seen, Duration::from_secs(60), |s| s.iter().any(|l| l == "READY=1"));
    assert!(seen.iter().any(|l| l == "READY=1"), "{seen:?}");
    wait_for("the stream to run", Duration::from_secs(60), || events(&ev).len() >= 3);
    // A new stream whose file does not exist: the whole reload is refused, the running
    // configuration (one stream) stays, and systemd sees RELOADING=1 then READY=1.
    let cfg = dir.path().join("edgesight.toml");
    let broken = ConfigBuilder::nanodet(dir.path())
        .device("svc")
        .labels()
        .threads(1)
        .stream("cam", "test://ball?width=160&height=120&fps=10", "")
        .stream("missing", "file:/nonexistent/clip.mp4", "")
        .events(&ev)
        .text();
    std::fs::write(&cfg, broken).expect("config");
    let mark = seen.len();
    signal(&child, "HUP");
    read_until(&sock, &mut seen, Duration::from_secs(60), |s| {
        s[mark..].iter().skip_while(|l| *l != "RELOADING=1").any(|l| l == "READY=1")
    });
    let after: Vec<&String> = seen[mark..].iter().collect();
    let reloading = after.iter().position(|l| *l == "RELOADING=1").unwrap_or_else(|| panic!("{after:?}"));
    let ready = after.iter().rposition(|l| *l == "READY=1").unwrap_or_else(|| panic!("{after:?}"));
    assert!(reloading < ready, "RELOADING=1 then READY=1: {after:?}");
    // Still one stream, still running: STATUS says 1/1 (never of 2) and events keep coming.
    let before = events(&ev).len();
    let mark = seen.len();
    read_until(&sock, &mut seen, Duration::from_secs(30), |s| {
        s[mark..].iter().any(|l| l.starts_with("STATUS=1/1 streams up"))
    });
    let statuses: Vec<&String> = seen[mark..].iter().filter(|l| l.starts_with("STATUS=")).collect();
    assert!(statuses.iter().any(|l| l.starts_with("STATUS=1/1 streams up")), "{statuses:?}");
    assert!(!statuses.iter().any(|l| l.contains("/2 streams")), "the refused stream was not added: {statuses:?}");
    wait_for("events after the refused reload", Duration::from_secs(60), || events(&ev).len() >= before + 5);
    signal(&child, "TERM");
    assert_eq!(child.wait().expect("exit").code(), Some(0));
}
