//! Zones and lines (issue 14): `edgesight track` running a configured stream's zones and lines
//! on MOTChallenge detections, with the exact events and counts of a scripted scene, and `run` on
//! the bundled clip with a zone and a line: tracked detections, zone and line events that agree
//! with the counts, and every stay closed when the clip ends. The geometry cases (jumps over a
//! line, hovering, gaps, ID switches, frame edges, polygon edges, class flicker) are unit tests
//! in src/zones/.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use common::*;
use serde_json::Value;

/// A 40 × 80 box standing at (x, y) in frame `f`, as a MOTChallenge detection line.
fn det(out: &mut String, f: u32, x: f32, y: f32) {
    let _ = writeln!(out, "{f},-1,{:.1},{:.1},40,80,0.9,-1,-1,-1", x - 20.0, y - 80.0);
}

const REGIONS: &str = "[[stream.line]]\nname = \"mid\"\nfrom = [0.0, 0.5]\nto = [1.0, 0.5]\n\
[[stream.zone]]\nname = \"bay\"\npolygon = [[0.5, 0.6], [0.7, 0.6], [0.7, 0.95], [0.5, 0.95]]\n";

#[test]
fn track_runs_the_streams_zones_and_lines_with_exact_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 640 × 480 at 30 FPS, 60 frames. The line is y = 240, the zone x 320..448, y 288..456.
    let mut mot = String::new();
    for f in 1..=60u32 {
        let i = (f - 1) as f32;
        // A walks down across the line at x = 100.
        det(&mut mot, f, 100.0, (100.0 + 10.0 * i).min(420.0));
        // B walks right into the zone at y = 400 and stays there.
        det(&mut mot, f, (200.0 + 10.0 * i).min(400.0), 400.0);
        // C comes up to the line at x = 560, hovers on it (its box's bottom edge flickers across
        // it), then walks on downwards.
        let y = match f {
            ..=5 => 200.0 + 6.0 * i,
            6..=30 => 240.0 + if f % 2 == 0 { 3.0 } else { -3.0 },
            _ => 240.0 + 4.0 * (f - 30) as f32,
        };
        det(&mut mot, f, 560.0, y);
    }
    let det_path = dir.path().join("det.txt");
    std::fs::write(&det_path, mot).expect("detections");
    let cfg = ConfigBuilder::nanodet(dir.path()).labels().stream("cam", "test://ball", REGIONS).text()
        + "\n[tracking]\ncounts_interval_s = 1\n";
    let cfg_path = dir.path().join("edgesight.toml");
    std::fs::write(&cfg_path, cfg).expect("config");
    let tracks = dir.path().join("tracks.txt");
    let args = ["track", "--mot-det", p(&det_path), "--size", "640x480", "--config", p(&cfg_path)];
    let o = edgesight(&[&args[..], &["--stream", "cam", "--tracks", p(&tracks)]].concat(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let events: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().expect("kind")).collect();
    assert_eq!(kinds, ["zone_enter", "line_cross", "counts", "line_cross", "zone_exit", "counts"], "{events:#?}");
    // A crosses at frame 16 (y 240 → 250), C when it walks on out of the band at frame 33.
    let (a, c) = (&events[1], &events[3]);
    assert_eq!(
        (a["line"].as_str(), a["direction"].as_str(), a["pts_ms"].as_u64()),
        (Some("mid"), Some("a_to_b"), Some(500))
    );
    assert_eq!(a["label"], "person", "MOTChallenge detections are class 0 of the model's labels");
    assert_eq!((c["direction"].as_str(), c["pts_ms"].as_u64()), (Some("a_to_b"), Some(1067)));
    assert_ne!(a["track_id"], c["track_id"]);
    // B: seen coming in (x 320 at frame 13, dated from there), stays to the end of the sequence.
    let (enter, exit) = (&events[0], &events[4]);
    assert_eq!(enter["pts_ms"], 400);
    assert_eq!((enter["zone"].as_str(), enter["appeared_inside"].as_bool()), (Some("bay"), Some(false)));
    assert_eq!((&exit["track_id"], &exit["stay_id"]), (&enter["track_id"], &enter["stay_id"]));
    assert_eq!(exit["reason"], "track_end");
    assert_eq!(
        exit["dwell_ms"].as_u64(),
        Some(exit["pts_ms"].as_u64().unwrap() - enter["pts_ms"].as_u64().unwrap()),
        "{exit}"
    );
    let last = &events[5];
    assert_eq!(last["lines"]["mid"], serde_json::json!({"a_to_b": 2, "b_to_a": 0}));
    assert_eq!(last["zones"]["bay"], serde_json::json!({"occupancy": 0, "entered": 1, "appeared": 0, "exited": 1}));
    assert_eq!(events[2]["zones"]["bay"]["occupancy"], 1, "the periodic counts while B is inside");
    assert!(std::fs::read_to_string(&tracks).expect("tracks").lines().count() > 100, "tracks still go to --tracks");
}

/// `run` on the bundled clip (people walking) with a zone over the lower middle and a line across
/// the middle: detections carry track IDs, the zone and line events agree with the counts, every
/// stay ends when the clip does, and every event names a confirmed track of the frame events.
#[test]
fn run_on_the_bundled_clip_writes_zone_and_line_events_that_match_the_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let regions = "[[stream.line]]\nname = \"mid\"\nfrom = [0.0, 0.5]\nto = [1.0, 0.5]\nclasses = [\"person\"]\n\
[[stream.zone]]\nname = \"floor\"\npolygon = [[0.2, 0.4], [0.8, 0.4], [0.8, 0.95], [0.2, 0.95]]\nclasses = [\"person\"]\n";
    let cfg = ConfigBuilder::nanodet(dir.path())
        .labels()
        .threads(2)
        .stream("clip", &format!("file://{}", clip().display()), regions)
        .events(&path)
        .text()
        + "\n[tracking]\ncounts_interval_s = 2\n";
    let cfg_path = dir.path().join("edgesight.toml");
    std::fs::write(&cfg_path, cfg).expect("config");
    let o = edgesight(&["run", "--config", p(&cfg_path)], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&path).expect("events");
    let all: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let of = |k: &str| all.iter().filter(|e| e["kind"] == k).collect::<Vec<_>>();
    let (crosses, enters, exits, counts) = (of("line_cross"), of("zone_enter"), of("zone_exit"), of("counts"));
    let tracked: std::collections::BTreeSet<u64> = all
        .iter()
        .filter(|e| e.get("kind").is_none())
        .flat_map(|e| e["detections"].as_array().expect("list").iter().filter_map(|d| d["track_id"].as_u64()))
        .collect();
    assert!(!crosses.is_empty() && !enters.is_empty(), "walkers cross the middle and enter the floor");
    assert!(counts.len() >= 2, "periodic counts and the final ones: {}", counts.len());
    for e in crosses.iter().chain(&enters).chain(&exits) {
        assert!(tracked.contains(&e["track_id"].as_u64().expect("track_id")), "{e}");
        assert_eq!(e["label"], "person");
    }
    // Every stay is closed by the clip's end, once, after it began; the exit names the stay
    // (`stay_id`), whose track differs from the entering one when an ID switch handed it over.
    let mut open: BTreeMap<u64, u64> = BTreeMap::new();
    for e in all.iter().filter(|e| e["kind"] == "zone_enter" || e["kind"] == "zone_exit") {
        if e["kind"] == "zone_enter" {
            let id = e["stay_id"].as_u64().expect("stay_id");
            assert!(open.insert(id, e["pts_ms"].as_u64().expect("pts")).is_none(), "entered twice: {e}");
        } else {
            let id = e["stay_id"].as_u64().expect("stay_id");
            let since = open.remove(&id).unwrap_or_else(|| panic!("exit without entry: {e}"));
            assert_eq!(e["dwell_ms"].as_u64(), Some(e["pts_ms"].as_u64().unwrap() - since), "{e}");
        }
    }
    assert!(open.is_empty(), "stays left open: {open:?}");
    let last = counts.last().expect("counts");
    let dir_count = |d: &str| crosses.iter().filter(|e| e["direction"] == d).count() as u64;
    assert_eq!(last["lines"]["mid"]["a_to_b"].as_u64(), Some(dir_count("a_to_b")));
    assert_eq!(last["lines"]["mid"]["b_to_a"].as_u64(), Some(dir_count("b_to_a")));
    let floor = &last["zones"]["floor"];
    let appeared = enters.iter().filter(|e| e["appeared_inside"] == true).count() as u64;
    assert_eq!(floor["entered"].as_u64(), Some(enters.len() as u64 - appeared));
    assert_eq!(floor["appeared"].as_u64(), Some(appeared));
    assert_eq!(floor["exited"].as_u64(), Some(exits.len() as u64));
    assert_eq!(floor["occupancy"], 0);
    println!(
        "bundled clip: {} crossings ({} a_to_b), {} zone entries ({} appeared inside), {} tracks",
        crosses.len(),
        dir_count("a_to_b"),
        enters.len(),
        appeared,
        tracked.len()
    );
}
