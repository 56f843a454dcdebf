//! Shared helpers of the integration tests: paths, running the binary, the reference tolerance.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

pub fn reference(name: &str) -> Vec<Value> {
    parse_lines(&std::fs::read_to_string(root().join("tests/data/reference").join(name)).expect("reference file"))
}

pub fn parse_lines(text: &str) -> Vec<Value> {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
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

/// Sends a signal (`TERM`, `HUP`, …) to a child process.
pub fn signal(child: &std::process::Child, sig: &str) {
    let ok =
        std::process::Command::new("kill").args([&format!("-{sig}"), &child.id().to_string()]).status().expect("kill");
    assert!(ok.success(), "kill -{sig}");
}

/// SIGTERM, then the clean exit a drained shutdown promises (status 0).
pub fn stop(mut child: std::process::Child) {
    signal(&child, "TERM");
    assert_eq!(child.wait().expect("exit").code(), Some(0));
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn iou(a: &[f64], b: &[f64]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

fn boxes(v: &Value) -> Vec<(u64, f64, Vec<f64>)> {
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
