//! The event file on a device that runs for months: rotated by size under a total cap that is
//! never passed, opened again when removed, and a full disk that stops nothing and loses no
//! event once space returns. Each test counts events against the run's own frame counter
//! (the stats line) and checks the frame numbers of what was kept: whole lines, in order, none
//! missing.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

const PATIENCE: Duration = Duration::from_secs(120);

/// The bundled clip, looped and not in real time: every frame is processed, in order, and frame
/// numbers go on counting across loops.
fn config(dir: &Path, events: &Path, jsonl_extra: &str, metrics: &str) -> PathBuf {
    let text =
        ConfigBuilder::nanodet(dir).stream("cam", p(&clip()), "loop = true\n").events(events).metrics(metrics).text();
    // `[output.jsonl]` comes before `[metrics]` in the builder's text.
    let text = text.replacen("\n\n[metrics]", &format!("\n{jsonl_extra}\n[metrics]"), 1);
    let cfg = dir.join("edgesight.toml");
    std::fs::write(&cfg, text).expect("config");
    cfg
}

fn metric(addr: &str, name: &str) -> u64 {
    let text = http_get(addr, "/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}")) as u64
}

/// Frame numbers of the frame events of `text`, each line a whole event (`track_end` lines are
/// whole events too, without a frame).
fn frames_of(what: &str, text: &str) -> Vec<u64> {
    assert!(text.is_empty() || text.ends_with('\n'), "{what} ends in the middle of a line");
    text.lines()
        .filter_map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: not a whole event ({e}): {l:?}"));
            if v["kind"] == "track_end" {
                return None;
            }
            Some(v["frame"].as_u64().unwrap_or_else(|| panic!("{what}: no frame number: {l}")))
        })
        .collect()
}

fn assert_consecutive(what: &str, frames: &[u64]) {
    for w in frames.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{what}: events missing or out of order between frames {} and {}", w[0], w[1]);
    }
}

fn stop_and_log(es: Proc, log: &Path) -> String {
    stop(es);
    std::fs::read_to_string(log).expect("log")
}

/// Bytes of the event file and its rotated files.
fn on_disk(events: &Path) -> u64 {
    let dir = events.parent().expect("dir");
    let name = events.file_name().expect("name").to_string_lossy().into_owned();
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&name))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn rotation_never_passes_the_total_cap_and_keeps_the_newest_events_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("events.jsonl");
    let metrics = format!("127.0.0.1:{}", free_port());
    // 10 kB files, 30 kB in all: the current file and two rotated ones.
    let cfg =
        config(dir.path(), &events, "max_file_mb = 0.01\nmax_total_mb = 0.03\nflush_interval_s = 0.2\n", &metrics);
    let log = dir.path().join("stderr.log");
    let es = run_logged(&cfg, &log);
    let mut largest = 0;
    wait_for("six rotations", PATIENCE, || {
        largest = largest.max(on_disk(&events));
        std::net::TcpStream::connect(&metrics).is_ok()
            && metric(&metrics, "edgesight_sink_rotations_total{sink=\"jsonl\"}") >= 6
    });
    let err = stop_and_log(es, &log);
    largest = largest.max(on_disk(&events));
    assert!(largest <= 30_000, "the files passed max_total_mb: {largest} bytes");
    let rotated = |n: u32| PathBuf::from(format!("{}.{n}", events.display()));
    assert!(rotated(2).exists() && !rotated(3).exists(), "two rotated files kept: {:?}", std::fs::read_dir(dir.path()));
    let mut kept = Vec::new();
    for path in [rotated(2), rotated(1), events.clone()] {
        let text = std::fs::read_to_string(&path).expect("event file");
        assert!(text.len() <= 10_000, "{} is over max_file_mb: {} bytes", path.display(), text.len());
        kept.extend(frames_of(&path.display().to_string(), &text));
    }
    assert_consecutive("the rotated files, oldest first, then the current one", &kept);
    let processed = stats_value(&err, "frames");
    assert_eq!(kept.last().copied(), Some(processed - 1), "the newest event is the last frame processed:\n{err}");
    assert!(kept[0] > 0, "the oldest events were removed to stay under the cap");
}

#[test]
fn a_removed_event_file_is_opened_again_and_no_event_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("events.jsonl");
    let metrics = format!("127.0.0.1:{}", free_port());
    let cfg = config(dir.path(), &events, "flush_interval_s = 0.2\n", &metrics);
    let log = dir.path().join("stderr.log");
    let es = run_logged(&cfg, &log);
    wait_for("events", PATIENCE, || events_count(&events) >= 10);
    // Held open, the removed file can still be read: what was written before the removal.
    let mut old = std::fs::File::open(&events).expect("open");
    std::fs::remove_file(&events).expect("rm");
    wait_for("a new event file", PATIENCE, || events_count(&events) >= 10);
    let err = stop_and_log(es, &log);
    let mut before = String::new();
    old.read_to_string(&mut before).expect("read");
    let mut all = frames_of("the removed file", &before);
    all.extend(frames_of("the new file", &std::fs::read_to_string(&events).expect("new file")));
    assert_eq!(all.first(), Some(&0));
    assert_consecutive("the removed file, then the new one", &all);
    assert_eq!(all.len() as u64, stats_value(&err, "frames"), "every processed frame has its event:\n{err}");
    assert!(err.contains("it was removed or replaced; writing to a new one"), "{err}");
}

#[test]
fn a_full_disk_stops_nothing_and_loses_no_event_once_space_returns() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().nth(1)) != Some("0") {
        println!("SKIPPED: not root: mounting a small tmpfs in a mount namespace needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let small = dir.path().join("small");
    std::fs::create_dir(&small).expect("mount point");
    let events = small.join("events.jsonl");
    let metrics = format!("127.0.0.1:{}", free_port());
    let cfg = config(dir.path(), &events, "flush_interval_s = 0.2\n", &metrics);
    let (log, out) = (dir.path().join("stderr.log"), dir.path().join("out.jsonl"));
    // In its own mount namespace: a 64 KiB tmpfs, filled to the last block before the run.
    let script = format!(
        r#"
set -e
metric() {{ curl -s http://{metrics}/metrics | grep "^$1{{sink=\"jsonl\"}} " | cut -d' ' -f2; }}
waitfor() {{ for i in $(seq 1200); do eval "$1" && return 0; sleep 0.1; done; return 1; }}
mount -t tmpfs -o size=64k edgesight-test {small}
dd if=/dev/zero of={small}/filler bs=4k 2>/dev/null || true
{es} run --config {cfg} 2> {log} &
es=$!
set +e
waitfor '[ "$(metric edgesight_sink_errors_total)" -ge 3 ] 2>/dev/null' || echo "no write errors"
rm {small}/filler
waitfor 'grep -q "writing again" {log}' || echo "writing did not resume"
written=$(metric edgesight_sink_events_total)
waitfor '[ "$(metric edgesight_sink_events_total)" -ge $((written + 10)) ] 2>/dev/null' || echo "no events after"
kill -TERM $es; wait $es
echo "exit $?"
cp {events} {out}
umount {small}
"#,
        small = p(&small),
        es = env!("CARGO_BIN_EXE_edgesight"),
        cfg = p(&cfg),
        log = p(&log),
        out = p(&out),
        events = p(&events),
    );
    let run = |propagation: &str| {
        Command::new("unshare")
            .args(["--mount", "--propagation", propagation, "--", "bash", "-c", &script])
            .output()
            .expect("unshare")
    };
    let mut o = run("private");
    // In a chroot (make fresh-check) `/` is not a mount point and cannot be made private; the
    // tmpfs is then mounted with the propagation the chroot has, and unmounted at the end.
    if String::from_utf8_lossy(&o.stderr).contains("cannot change root filesystem propagation") {
        o = run("unchanged");
    }
    let (stdout, err) = (stdout(&o), std::fs::read_to_string(&log).unwrap_or_default());
    assert!(
        stdout.contains("exit 0")
            && !stdout.contains("no write")
            && !stdout.contains("did not")
            && !stdout.contains("no events"),
        "{stdout}\n{}\n{err}",
        stderr(&o)
    );
    assert!(err.contains("No space left on device") && err.contains("the pipeline goes on"), "{err}");
    let frames = frames_of("the event file", &std::fs::read_to_string(&out).expect("events"));
    assert_eq!(frames.first(), Some(&0));
    assert_consecutive("the events written during and after the full disk", &frames);
    assert_eq!(frames.len() as u64, stats_value(&err, "frames"), "every processed frame has its event:\n{err}");
}
