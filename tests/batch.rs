//! Batching across streams, end to end: three file streams through the dynamic-batch NanoDet with
//! `model.batch = 3` give, frame for frame, the detections `edgesight detect` gives for each file
//! with the batch-1 model, and the frames really went through the engine in batches.

mod common;

use common::*;

#[test]
fn three_streams_in_batches_of_three_give_each_frame_its_batch_1_detections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let patterns = ["ball", "smpte", "pinwheel"];
    let mut builder = ConfigBuilder::nanodet(dir.path())
        .model_file("nanodet_g_416_coco_dynbatch.onnx")
        .labels()
        .threads(2)
        // A generous fill time: every stream's decoder has its next frame ready long before it.
        .model_extra("batch = 3\nbatch_timeout_ms = 1000\nscore_threshold = 0.2\n");
    let mut clips = Vec::new();
    for name in patterns {
        let clip = dir.path().join(format!("{name}.mp4"));
        make_clip(&clip, 12, name);
        builder = builder.stream(name, &format!("file://{}", clip.display()), "");
        clips.push(clip);
    }
    let events = dir.path().join("events.jsonl");
    let cfg = builder.events(&events).write();
    let o = edgesight(&["run", "--config", p(&cfg)], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let batched = parse_lines(&std::fs::read_to_string(&events).expect("events"));
    let (frames, batches) = (stats_value(&stderr(&o), "frames"), stats_value(&stderr(&o), "batches"));
    assert_eq!(frames, 36, "every frame of the three files");
    assert!(batches * 2 < frames, "frames went through in batches: {frames} frames in {batches} runs");
    // The reference: each file alone with the batch-1 export.
    let single_cfg = ConfigBuilder::nanodet(dir.path()).labels().threads(2).model_extra("score_threshold = 0.2\n");
    let single_path = dir.path().join("single.toml");
    std::fs::write(&single_path, single_cfg.text()).expect("config");
    let mut compared = 0;
    for (name, clip) in patterns.iter().zip(&clips) {
        let o = edgesight(&["detect", "--config", p(&single_path), p(clip)], &[]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        for expected in parse_lines(&stdout(&o)) {
            let got = batched
                .iter()
                .find(|e| e["stream"] == *name && e["frame"] == expected["frame"])
                .unwrap_or_else(|| panic!("{name} frame {} missing from the batched run", expected["frame"]));
            // The tracker (on by default) adds track_id; detect runs none.
            assert_eq!(detections_untracked(got), expected["detections"], "{name} frame {}", expected["frame"]);
            compared += expected["detections"].as_array().map_or(0, Vec::len);
        }
    }
    assert!(compared > 20, "the clips must give detections to compare ({compared})");
}
