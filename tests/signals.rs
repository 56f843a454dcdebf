//! Signals at any moment: SIGTERM or SIGHUP delivered at many points of start-up (config,
//! model load, a file's first frame, the first events) and of a reload that loads a new model,
//! always end in a clean stop (exit 0, no error) or a reload — never in a failure. Before the
//! fix, a signal while a file was decoding its first frame made GStreamer's state wait report a
//! failure: exit 4, "cannot be decoded".

mod common;

use std::time::Duration;

use common::*;

/// A file stream (prerolls at start-up) and a live test pattern.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    ConfigBuilder::nanodet(dir)
        .stream("clip", &format!("file://{}", clip().display()), "")
        .stream("live", "test://ball?width=160&height=120&fps=10", "")
        .events(&dir.join("events.jsonl"))
        .write()
}

/// True once the process catches SIGHUP and SIGTERM (`SigCgt` in /proc): before that, in the
/// dynamic loader, a signal has its default effect, which no program can change.
fn handlers_installed(child: &Proc) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let caught = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let bit = |signo: u32| 1u64 << (signo - 1);
    caught & bit(1) != 0 && caught & bit(15) != 0
}

/// Starts `run` and returns once it handles signals: the delays below count from there.
fn spawn(cfg: &std::path::Path) -> Proc {
    let child = run_service(cfg, &[]);
    wait_for("signal handlers", Duration::from_secs(30), || handlers_installed(&child));
    child
}

/// Waits for the exit and checks it was a clean one.
fn assert_clean_exit(child: Proc, what: &str) {
    let out = child.wait_with_output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{what}: {err}");
    assert!(!err.contains(" error:") && !err.contains("panicked"), "{what}: {err}");
}

#[test]
fn sigterm_at_any_moment_of_start_up_is_a_clean_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    // Every 15 ms from 0 to 450 ms after the handlers: config, model load, the file's preroll
    // (a window of about 0.1 s), the first frames (start-up takes about 0.3 s here).
    for i in 0..30 {
        let delay = Duration::from_millis(i * 15);
        let child = spawn(&cfg);
        std::thread::sleep(delay);
        signal(&child, "TERM");
        assert_clean_exit(child, &format!("SIGTERM {delay:?} after start"));
    }
}

#[test]
fn sighup_at_any_moment_of_start_up_is_a_reload_not_a_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let events = dir.path().join("events.jsonl");
    for i in 0..10 {
        let delay = Duration::from_millis(i * 60);
        let _ = std::fs::remove_file(&events);
        let child = spawn(&cfg);
        std::thread::sleep(delay);
        signal(&child, "HUP");
        // The service keeps running: events arrive after the signal.
        let mut child = child;
        wait_for("events after SIGHUP", Duration::from_secs(60), || {
            assert!(child.try_wait().expect("status").is_none(), "SIGHUP {delay:?} after start ended the process");
            std::fs::read_to_string(&events).is_ok_and(|t| t.lines().count() >= 3)
        });
        signal(&child, "TERM");
        assert_clean_exit(child, &format!("SIGHUP {delay:?} after start"));
    }
}

#[test]
fn signals_during_a_reload_that_loads_a_new_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let events = dir.path().join("events.jsonl");
    let original = std::fs::read_to_string(&cfg).expect("cfg");
    // `threads` is part of the network: the reload builds a new ONNX Runtime session.
    let changed = original.replace("threads = 1", "threads = 2");
    assert_ne!(original, changed);
    for (i, sig) in ["TERM", "HUP", "TERM", "HUP", "TERM", "HUP", "TERM", "HUP"].iter().enumerate() {
        std::fs::write(&cfg, &original).expect("cfg");
        let _ = std::fs::remove_file(&events);
        let child = spawn(&cfg);
        wait_for("first events", Duration::from_secs(60), || {
            std::fs::read_to_string(&events).is_ok_and(|t| t.lines().count() >= 2)
        });
        std::fs::write(&cfg, &changed).expect("cfg");
        signal(&child, "HUP");
        std::thread::sleep(Duration::from_millis(i as u64 * 30));
        signal(&child, sig);
        if *sig == "HUP" {
            let n = std::fs::read_to_string(&events).map_or(0, |t| t.lines().count());
            wait_for("events after the second reload", Duration::from_secs(60), || {
                std::fs::read_to_string(&events).is_ok_and(|t| t.lines().count() >= n + 3)
            });
            signal(&child, "TERM");
        }
        assert_clean_exit(child, &format!("SIG{sig} {} ms into a model reload", i * 30));
    }
}
