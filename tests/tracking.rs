//! Tracking (issue 14): ByteTrack and OC-SORT scored with TrackEval on real ground truth, the
//! `track` command's contract, and `run`'s events with `track_id` and `track_end`.
//!
//! The scoring: `scripts/track_eval.py synth` makes detections from the ground truth of
//! TUD-Campus and TUD-Stadtmitte (inside the installed motmetrics wheel) with a seeded generator
//! (jitter, misses, clutter, low-score occlusion spells); `edgesight track` tracks them; the
//! script's `eval` scores the tracks and a greedy-IoU baseline with TrackEval (HOTA, CLEAR,
//! Identity). Gates, for each tracker: combined HOTA >= 65, IDF1 >= 80, ID switches <= 10, and
//! HOTA at least 30 above the baseline's.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

fn script(args: &[&str]) -> String {
    let o = Command::new(python())
        .arg(root().join("scripts/track_eval.py"))
        .args(args)
        .output()
        .expect("python runs; `make test-deps` makes .cache/venv");
    assert!(o.status.success(), "track_eval.py {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Tracks every synthesised sequence with `edgesight track` (extra args appended) and scores them;
/// `every` > 1: the tracker processed only every `every`-th frame (a stream's fps_limit).
fn score(dir: &Path, extra: &[&str], every: u32) -> Value {
    let sequences = script(&["synth", p(dir)]);
    let out = dir.join("trackers/edgesight/data");
    std::fs::create_dir_all(&out).expect("tracker folder");
    for line in sequences.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, w, h, fps] = f[..] else { panic!("synth printed {line:?}") };
        let det = dir.join("det").join(format!("{name}.txt"));
        let tracks = out.join(format!("{name}.txt"));
        let size = format!("{w}x{h}");
        let mut args = vec!["track", "--mot-det", p(&det), "--size", &size, "--fps", fps, "--tracks", p(&tracks)];
        args.extend_from_slice(extra);
        let o = edgesight(&args, &[]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let json = script(&["eval", p(dir), &every.to_string()]);
    serde_json::from_str(json.lines().last().unwrap_or_default()).expect("eval prints JSON")
}

fn print_figures(v: &Value) {
    for tracker in ["edgesight", "greedy-iou"] {
        for seq in ["TUD-Campus", "TUD-Stadtmitte", "combined"] {
            let r = &v[tracker][seq];
            println!(
                "{tracker:>10} {seq:<15} HOTA {:>6} IDF1 {:>6} IDSW {:>4} MOTA {:>6}",
                r["HOTA"], r["IDF1"], r["IDSW"], r["MOTA"]
            );
        }
    }
}

/// The combined figure `k` of tracker `t` ("edgesight" or "greedy-iou").
fn num(v: &Value, t: &str, k: &str) -> f64 {
    v[t]["combined"][k].as_f64().unwrap_or(f64::NAN)
}

/// The gates on one tracker's scores.
fn assert_gates(v: &Value, name: &str) {
    let (hota, idf1, idsw) = (num(v, "edgesight", "HOTA"), num(v, "edgesight", "IDF1"), num(v, "edgesight", "IDSW"));
    let baseline = num(v, "greedy-iou", "HOTA");
    assert!(hota >= 65.0, "{name}: combined HOTA {hota} < 65");
    assert!(idf1 >= 80.0, "{name}: combined IDF1 {idf1} < 80");
    assert!(idsw <= 10.0, "{name}: {idsw} ID switches > 10");
    assert!(hota - baseline >= 30.0, "{name}: HOTA {hota} is not 30 above the greedy baseline's {baseline}");
}

/// A config file in `dir` with `[tracking]` set to `tracking`.
fn tracking_config(dir: &Path, name: &str, tracking: &str) -> std::path::PathBuf {
    let cfg = ConfigBuilder::nanodet(dir).text() + "\n[tracking]\n" + tracking;
    let path = dir.join(name);
    std::fs::write(&path, cfg).expect("config");
    path
}

/// Both trackers on the same synthesised detections, each against the gates. Measured (seed 14):
/// ByteTrack HOTA 76.6, IDF1 93.0, IDSW 2, MOTA 86.7; OC-SORT HOTA 77.0, IDF1 92.2, IDSW 2,
/// MOTA 88.9; the greedy baseline HOTA 32.1.
#[test]
fn bytetrack_and_ocsort_meet_the_trackeval_gates_and_beat_the_greedy_baseline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = score(dir.path(), &[], 1);
    println!("ByteTrack:");
    print_figures(&v);
    assert_gates(&v, "ByteTrack");
    let oc = tracking_config(dir.path(), "ocsort.toml", "tracker = \"ocsort\"\n");
    let o = score(dir.path(), &["--config", p(&oc)], 1);
    println!("OC-SORT:");
    print_figures(&o);
    assert_gates(&o, "OC-SORT");
    let hota = num(&v, "edgesight", "HOTA");

    // The second association is what the low-score boxes are decoded for: without it
    // (low_score = 1, no box is low) the occlusion spells of the synthetic detections cost
    // tracked boxes. Measured: MOTA 86.7 with it, 82.8 without; HOTA 76.6 and 73.9.
    let cfg_path = tracking_config(dir.path(), "no-low.toml", "low_score = 1.0\n");
    let without = score(dir.path(), &["--config", p(&cfg_path)], 1);
    println!("without the low-score association:");
    print_figures(&without);
    let (mota_gain, hota_gain) =
        (num(&v, "edgesight", "MOTA") - num(&without, "edgesight", "MOTA"), hota - num(&without, "edgesight", "HOTA"));
    assert!(
        mota_gain >= 2.0 && hota_gain >= 1.0,
        "the low-score association gains MOTA {mota_gain:.2}, HOTA {hota_gain:.2}"
    );
}

/// Track life and motion run on stream time: with a stream's fps_limit letting one frame in three
/// through (25 FPS sequences, 8.33 FPS processed), each tracker still holds its identities.
/// Measured: ByteTrack HOTA 69.8, IDF1 85.7, IDSW 8; OC-SORT 74.8, 88.7, 6; greedy 47.5.
#[test]
fn trackers_hold_identities_at_a_third_of_the_frame_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    for tracker in ["bytetrack", "ocsort"] {
        let cfg = ConfigBuilder::nanodet(dir.path()).stream("cam", "test://", "fps_limit = 8.3333\n").text()
            + &format!("\n[tracking]\ntracker = \"{tracker}\"\n");
        let cfg_path = dir.path().join("limited.toml");
        std::fs::write(&cfg_path, cfg).expect("config");
        let v = score(dir.path(), &["--config", p(&cfg_path), "--stream", "cam"], 3);
        println!("{tracker}:");
        print_figures(&v);
        let num = |t: &str, k: &str| num(&v, t, k);
        let (hota, idf1, idsw) = (num("edgesight", "HOTA"), num("edgesight", "IDF1"), num("edgesight", "IDSW"));
        assert!(
            hota >= 60.0 && idf1 >= 75.0 && idsw <= 10.0,
            "{tracker} at 8.33 FPS: HOTA {hota}, IDF1 {idf1}, IDSW {idsw}"
        );
        assert!(
            hota - num("greedy-iou", "HOTA") >= 20.0,
            "{tracker}: HOTA {hota} vs the greedy baseline's {}",
            num("greedy-iou", "HOTA")
        );
    }
}

#[test]
fn track_reads_the_config_and_reports_bad_input_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let det = dir.path().join("det.txt");
    std::fs::write(&det, "1,-1,10,10,20,40,0.9\n2,-1,11,10,20,40,0.9\n3,-1,12,10,20,40,0.9\n").expect("det");
    let o = edgesight(&["track", "--mot-det", p(&det), "--size", "640x480"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: Vec<String> = stdout(&o).lines().map(|l| l.split(',').take(2).collect::<Vec<_>>().join(",")).collect();
    assert_eq!(rows, ["2,1", "3,1"], "confirmed on the second frame, ID 1, to stdout");
    // min_hits = 3 from the config: confirmed a frame later.
    let cfg = ConfigBuilder::nanodet(dir.path()).text() + "\n[tracking]\nmin_hits = 3\n";
    let cfg_path = dir.path().join("edgesight.toml");
    std::fs::write(&cfg_path, &cfg).expect("config");
    let o = edgesight(&["track", "--mot-det", p(&det), "--size", "640x480", "--config", p(&cfg_path)], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    std::fs::write(&cfg_path, cfg.replace("min_hits = 3", "tracker = \"none\"")).expect("config");
    let o = edgesight(&["track", "--mot-det", p(&det), "--size", "640x480", "--config", p(&cfg_path)], &[]);
    assert_fails(&o, 2, &["tracking.tracker is \"none\""]);
    std::fs::write(&cfg_path, cfg.replace("min_hits = 3", "min_hit = 3")).expect("config");
    let o = edgesight(&["track", "--mot-det", p(&det), "--size", "640x480", "--config", p(&cfg_path)], &[]);
    assert_fails(&o, 2, &["tracking.min_hit: unknown key; did you mean `min_hits`?"]);
    std::fs::write(&det, "1,-1,10,10,20,40,0.9\n1,-1,10,10,20\n").expect("det");
    let o = edgesight(&["track", "--mot-det", p(&det), "--size", "640x480"], &[]);
    assert_fails(&o, 2, &[&format!("{}:2: 5 fields", det.display())]);
    let o = edgesight(&["track", "--mot-det", p(&det), "--size", "640"], &[]);
    assert_eq!(o.status.code(), Some(2), "clap's usage error");
    assert!(stderr(&o).contains("expected WIDTHxHEIGHT"), "{}", stderr(&o));
}

/// `run` on the bundled clip, each tracker and none: the same detections in every frame (the low
/// score floor never reaches events), `track_id` only with the tracker, IDs from 1, and every
/// confirmed track ends with a `track_end` line once the clip is over.
#[test]
fn run_events_carry_track_ids_and_track_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = |tracking: &str, name: &str| -> Vec<Value> {
        let path = dir.path().join(format!("{name}.jsonl"));
        let cfg = ConfigBuilder::nanodet(dir.path())
            .labels()
            .threads(2)
            .stream("clip", &format!("file://{}", clip().display()), "")
            .events(&path)
            .text()
            + tracking;
        let cfg_path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&cfg_path, cfg).expect("config");
        let o = edgesight(&["run", "--config", p(&cfg_path)], &[]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        // Every line, track_end ones included (common's parse_lines leaves those out).
        let text = std::fs::read_to_string(&path).expect("events");
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect::<Vec<Value>>()
    };
    let plain = events("\n[tracking]\ntracker = \"none\"\n", "off");
    assert!(plain.iter().all(|e| e.get("kind").is_none()), "no track_end without a tracker");
    let strip = |d: &Value| {
        let mut d = d.clone();
        d.as_object_mut().map(|o| o.remove("track_id"));
        d
    };
    for (tracker, tracked) in
        [("bytetrack", events("", "on")), ("ocsort", events("\n[tracking]\ntracker = \"ocsort\"\n", "oc"))]
    {
        let frames: Vec<&Value> = tracked.iter().filter(|e| e.get("kind").is_none()).collect();
        let ends: Vec<&Value> = tracked.iter().filter(|e| e["kind"] == "track_end").collect();
        assert_eq!(frames.len() + ends.len(), tracked.len(), "{tracker}: frame events and track_end events only");
        assert_eq!(frames.len(), plain.len(), "{tracker}: one event per frame either way");
        let mut ids = std::collections::BTreeSet::new();
        for (a, b) in frames.iter().zip(&plain) {
            assert_eq!(a["frame"], b["frame"]);
            let (da, db) = (a["detections"].as_array().expect("list"), b["detections"].as_array().expect("list"));
            assert_eq!(
                da.iter().map(strip).collect::<Vec<_>>(),
                *db,
                "{tracker}, frame {}: the same detections",
                a["frame"]
            );
            for d in da {
                assert!(d.get("track_id").is_some(), "{tracker}: track_id key with a tracker: {d}");
                if let Some(id) = d["track_id"].as_u64() {
                    ids.insert(id);
                }
            }
            assert!(db.iter().all(|d| d.get("track_id").is_none()), "no track_id without a tracker");
        }
        assert!(ids.len() >= 2, "{tracker}: the clip's walkers get tracks: {ids:?}");
        assert_eq!(ids.iter().next(), Some(&1), "{tracker}: IDs start at 1");
        let ended: std::collections::BTreeSet<u64> = ends.iter().filter_map(|e| e["track_id"].as_u64()).collect();
        assert_eq!(ended, ids, "{tracker}: every confirmed track ends exactly once, at the latest with the clip");
        assert_eq!(ended.len(), ends.len());
        let last = tracked.last().expect("events");
        assert_eq!(last["kind"], "track_end", "{tracker}: the clip's end ends the tracks still open");
    }
}

/// A reload that changes `[tracking]` ends the running tracks (`reason: "reset"`) and the new
/// tracker continues the stream's numbering: no ID is given twice while the process lives.
#[test]
fn a_tracking_reload_ends_the_tracks_and_never_reuses_an_id() {
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let config = |extra: &str| {
        let text = ConfigBuilder::nanodet(dir.path())
            .labels()
            .threads(2)
            .stream("clip", &format!("file://{}", clip().display()), "realtime = true\n")
            .events(&path)
            .text()
            + extra;
        std::fs::write(dir.path().join("edgesight.toml"), text).expect("config");
        dir.path().join("edgesight.toml")
    };
    let all = || -> Vec<Value> {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        text.lines().filter(|l| l.ends_with('}')).filter_map(|l| serde_json::from_str(l).ok()).collect()
    };
    let max_id = |events: &[Value]| {
        events
            .iter()
            .flat_map(|e| e["detections"].as_array().cloned().unwrap_or_default())
            .filter_map(|d| d["track_id"].as_u64())
            .max()
    };
    let child = run_service(&config(""), &[]);
    wait_for("confirmed tracks", Duration::from_secs(60), || max_id(&all()).is_some_and(|m| m >= 3));
    config("\n[tracking]\nmin_hits = 3\n");
    signal(&child, "HUP");
    let resets = |events: &[Value]| events.iter().position(|e| e["reason"] == "reset");
    wait_for("the reload's track ends", Duration::from_secs(60), || resets(&all()).is_some());
    wait_for("new tracks after the reload", Duration::from_secs(60), || {
        let events = all();
        let cut = resets(&events).unwrap_or(events.len());
        max_id(&events[cut..]) > max_id(&events[..cut])
    });
    signal(&child, "TERM");
    let o = child.wait_with_output();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let events = all();
    let cut = resets(&events).expect("reset");
    let before = max_id(&events[..cut]).expect("IDs before the reload");
    let after: Vec<u64> = events[cut..]
        .iter()
        .filter(|e| e.get("kind").is_none())
        .flat_map(|e| e["detections"].as_array().cloned().unwrap_or_default())
        .filter_map(|d| d["track_id"].as_u64())
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|&id| id > before),
        "IDs after the reload reuse one: {before} then {after:?}"
    );
}
