//! `make bench`'s pieces that are cheap to check (the benchmark itself is not part of the tests):
//! scripts/bench.sh parses, and the serial Python peer (benches/peer.py) runs and finds what the
//! FP32 reference finds on the clip's first frame.

mod common;

use common::*;

#[test]
fn bench_script_parses() {
    let o = std::process::Command::new("bash").arg("-n").arg(root().join("scripts/bench.sh")).output().expect("bash");
    assert!(o.status.success(), "bash -n scripts/bench.sh: {}", stderr(&o));
}

#[test]
fn peer_detects_what_the_reference_detects_on_the_first_frame() {
    let py = python();
    let o = std::process::Command::new(&py)
        .arg(root().join("benches/peer.py"))
        .args(["--config", p(&root().join("configs/x86-dev.toml")), "--frames", "1"])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; run `make test-deps` or set EDGESIGHT_PYTHON", py.display()));
    assert!(o.status.success(), "benches/peer.py: {}", stderr(&o));
    let out: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    assert_eq!(out["frames"], 1, "{out}");
    assert_eq!(out["threads"], 2, "the config's model.threads: {out}");
    assert!(out["fps"].as_f64().is_some_and(|f| f > 0.0), "{out}");
    let frame0 = &reference("nanodet_vtest_h264_every25.jsonl")[0];
    assert_eq!(frame0["frame"], 0);
    let want = frame0["detections"].as_array().expect("detections").len();
    assert_eq!(out["detections"].as_u64(), Some(want as u64), "peer vs tests/data/reference frame 0: {out}");
}
