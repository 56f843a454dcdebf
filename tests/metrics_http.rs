//! The metrics listener under hostile clients, against a real `edgesight run` on a `test://`
//! stream: a hundred idle connections, a client trickling its header a byte at a time, a header
//! line of many megabytes and more connections than the limit must not make `/metrics` or
//! `/healthz` unanswerable, nor grow the process' memory with the input.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use edgesight::metrics::listener::{MAX_CONNECTIONS, MAX_REQUEST_HEAD};

/// How long a request may wait for its answer: generous (a loaded machine), and far below what a
/// server that serves one connection at a time would need behind the clients of these tests.
const ANSWER: Duration = Duration::from_secs(30);

/// `edgesight run` on one small test pattern named `stream` (unique per test) with the metrics
/// listener; returns once `/healthz` says 200 and `/metrics` shows that stream, so that every later
/// answer is this process' listener in its steady state. A port taken between `free_port` and the
/// bind (the process exits 5; the tests' own client sockets take ports too) is replaced by another.
fn start(dir: &Path, stream: &str) -> (Proc, String) {
    for _ in 0..5 {
        let addr = format!("127.0.0.1:{}", free_port());
        let cfg = ConfigBuilder::nanodet(dir)
            .stream(stream, "test://ball?width=160&height=120&fps=5", "")
            .events(&dir.join("events.jsonl"))
            .metrics(&addr)
            .write();
        let mut child = Proc::spawn(
            Command::new(env!("CARGO_BIN_EXE_edgesight"))
                .args(["run", "--config", p(&cfg)])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let mut exited = false;
        wait_for("/healthz 200 with this stream, or an exit", Duration::from_secs(120), || {
            exited = child.try_wait().is_ok_and(|s| s.is_some());
            exited || serving(&addr, stream).is_ok()
        });
        if !exited {
            return (child, addr);
        }
    }
    panic!("edgesight did not start with a metrics listener in 5 attempts");
}

/// `GET path`, the whole response (the server closes), or the error (a timeout among them).
fn get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(ANSWER))?;
    s.set_write_timeout(Some(ANSWER))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: edgesight\r\n\r\n")?;
    read_all(&mut s)
}

fn read_all(s: &mut TcpStream) -> std::io::Result<String> {
    s.set_read_timeout(Some(ANSWER))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// What arrived before the server closed or reset the connection (a reset after the answer is
/// still an answer).
fn read_answer(s: &mut TcpStream) -> String {
    let _ = s.set_read_timeout(Some(ANSWER));
    let (mut out, mut buf) = (Vec::new(), [0u8; 4096]);
    while let Ok(n) = s.read(&mut buf)
        && n > 0
    {
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `/healthz` and `/metrics` both answer 200 with their usual bodies, `stream` among the
/// labels; the answers that were not, if not.
fn serving(addr: &str, stream: &str) -> Result<(), String> {
    let health = get(addr, "/healthz").map_err(|e| format!("/healthz: {e}"))?;
    let metrics = get(addr, "/metrics").map_err(|e| format!("/metrics: {e}"))?;
    let ok = health.starts_with("HTTP/1.1 200")
        && health.contains("ok: 1/1 streams up")
        && metrics.starts_with("HTTP/1.1 200")
        && metrics.contains(&format!("edgesight_frames_total{{stream=\"{stream}\"}}"));
    if ok { Ok(()) } else { Err(format!("/healthz:\n{health}\n/metrics:\n{metrics}")) }
}

fn assert_serving(addr: &str, stream: &str) {
    if let Err(answers) = serving(addr, stream) {
        panic!("not serving: {answers}");
    }
}

/// A number field of /proc/PID/status (`VmRSS:` in KiB, `Threads:`).
fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

fn rss_kib(pid: u32) -> u64 {
    proc_status(pid, "VmRSS:")
}

#[test]
fn a_hundred_idle_connections_do_not_block_healthz_or_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = "idle";
    let (child, addr) = start(dir.path(), stream);
    let threads_before = proc_status(child.id(), "Threads:");
    let mut idle: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(&addr).expect("connect")).collect();
    assert_serving(&addr, stream);
    // Answered after the idle ones were accepted, which cost no thread each (the service runs
    // under TasksMax): the count moves only with the pipeline's own threads.
    let threads = proc_status(child.id(), "Threads:");
    assert!(threads < threads_before + 20, "{threads_before} threads, then {threads} with 100 idle connections");
    // An idle client is answered 408 and closed once its time to send a request is up.
    let timeout = read_answer(&mut idle[0]);
    assert!(timeout.starts_with("HTTP/1.1 408 Request Timeout"), "{timeout:?}");
    drop(idle);
    assert_serving(&addr, stream);
    stop(child);
}

#[test]
fn a_client_trickling_its_header_does_not_block_another_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = "trickle";
    let (child, addr) = start(dir.path(), stream);
    let mut slow = TcpStream::connect(&addr).expect("connect");
    let mut writer = slow.try_clone().expect("clone");
    let done = Arc::new(AtomicBool::new(false));
    let done2 = Arc::clone(&done);
    // One byte every 100 ms, for up to a minute or until the server closes: no read deadline per
    // byte would ever fire.
    let trickle = std::thread::spawn(move || {
        let bytes = b"GET /metrics HTTP/1.1\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')).take(600);
        for b in bytes {
            if done2.load(Ordering::SeqCst) || writer.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_serving(&addr, stream);
    let answer = read_answer(&mut slow);
    done.store(true, Ordering::SeqCst);
    let _ = trickle.join();
    assert!(answer.starts_with("HTTP/1.1 408 Request Timeout"), "the trickler gets 408: {answer:?}");
    assert_serving(&addr, stream);
    stop(child);
}

#[test]
fn a_header_of_many_megabytes_is_refused_without_growing_memory() {
    const MIB: usize = 1 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = "big-header";
    let (child, addr) = start(dir.path(), stream);
    for _ in 0..3 {
        assert_serving(&addr, stream);
    }
    let before = rss_kib(child.id());
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_write_timeout(Some(ANSWER)).expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nX-Big: ").expect("request line");
    // 64 MiB without a line end; RSS sampled while the server could still be holding it.
    let chunk = vec![b'a'; MIB];
    let mut peak = before;
    for _ in 0..64 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        peak = peak.max(rss_kib(child.id()));
    }
    peak = peak.max(rss_kib(child.id()));
    let grown = peak.saturating_sub(before);
    eprintln!("RSS {before} KiB before, {peak} KiB at most while sending: +{grown} KiB");
    assert!(grown < 16 * 1024, "RSS grew by {grown} KiB ({before} KiB before) for a 64 MiB header line");
    let answer = read_answer(&mut s);
    let status = answer.lines().next().unwrap_or_default();
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large", "over {MAX_REQUEST_HEAD} bytes");
    assert_serving(&addr, stream);
    stop(child);
}

#[test]
fn the_connection_limit_refuses_with_503_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = "limit";
    let (child, addr) = start(dir.path(), stream);
    let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS).map(|_| TcpStream::connect(&addr).expect("connect")).collect();
    // The one past the limit is refused once the server has taken in every idle one (a client
    // counts as connected while its connection still waits in the kernel's queue).
    let too_many = format!("too many connections (limit {MAX_CONNECTIONS}); try again later");
    let mut refused = String::new();
    wait_for("a 503 for the connection past the limit", ANSWER, || {
        refused = get(&addr, "/healthz").unwrap_or_default();
        refused.contains(&too_many)
    });
    assert!(refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{refused}");
    assert!(refused.contains("Retry-After: 1\r\n"), "{refused}");
    drop(idle);
    // Slots come back as the server sees the closes.
    wait_for("/healthz and /metrics after the idle clients left", ANSWER, || serving(&addr, stream).is_ok());
    stop(child);
}

#[test]
fn a_listener_that_cannot_bind_stops_start_up_with_exit_5_and_nothing_half_starts() {
    // The port is taken by another process's listener for the whole run.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("address").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("events.jsonl");
    let cfg = common::ConfigBuilder::nanodet(dir.path())
        .stream("cam", "test://ball?width=160&height=120&fps=10", "")
        .events(&events)
        .metrics(&addr)
        .write();
    // Bounded: a build that ignored the failure would run the live source forever.
    let o = Command::new("timeout")
        .args(["60", env!("CARGO_BIN_EXE_edgesight"), "run", "--config", cfg.to_str().expect("utf-8")])
        .output()
        .expect("timeout (coreutils) runs edgesight");
    common::assert_fails(
        &o,
        5,
        &[&format!("metrics.listen = \"{addr}\": cannot listen"), "choose a free address:port"],
    );
    let written = std::fs::read_to_string(&events).unwrap_or_default();
    assert!(written.is_empty(), "no event before the listener is up: {written}");
    drop(taken);
}
