//! Bad input gives one clear line naming the cause and the fix, and the exit code of DESIGN.md
//! (2 config, 3 model/engine, 4 source), never a panic.

mod common;

use common::*;

fn detect_with_model(model: &str, family: &str, input: &str) -> std::process::Output {
    edgesight(&["detect", "--model", model, "--family", family, input], &[])
}

fn chelsea() -> String {
    image("chelsea.png").display().to_string()
}

#[test]
fn missing_model_file() {
    let o = detect_with_model("/nonexistent/model.onnx", "nanodet", &chelsea());
    assert_fails(&o, 3, &["/nonexistent/model.onnx", "No such file", "model.path"]);
}

#[test]
fn truncated_model_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("truncated.onnx");
    let bytes = std::fs::read(model("nanodet_g_416_coco.onnx")).expect("model");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).expect("write");
    let o = detect_with_model(p(&path), "nanodet", &chelsea());
    assert_fails(&o, 3, &["truncated.onnx", "not a loadable ONNX model", "copy or export it again"]);
}

#[test]
fn non_onnx_and_empty_model_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.onnx");
    std::fs::write(&text, "this is not a model\n").expect("write");
    assert_fails(&detect_with_model(p(&text), "nanodet", &chelsea()), 3, &["notes.onnx", "not a loadable ONNX model"]);
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, "").expect("write");
    assert_fails(&detect_with_model(p(&empty), "nanodet", &chelsea()), 3, &["empty.onnx", "is empty"]);
    assert_fails(&detect_with_model(p(dir.path()), "nanodet", &chelsea()), 3, &["is a directory"]);
}

#[test]
fn model_that_does_not_match_its_family() {
    let nanodet = model("nanodet_g_416_coco.onnx").display().to_string();
    let ssd = model("ssdlite_mobilenet_v2_person.onnx").display().to_string();
    // Expected and found are both named.
    let o = detect_with_model(&nanodet, "ssd", &chelsea());
    assert_fails(
        &o,
        3,
        &["does not match family \"ssd\"", "expected outputs num_detections", "Identity:0 f32[1,2704,80]"],
    );
    let o = detect_with_model(&nanodet, "yolov8", &chelsea());
    assert_fails(&o, 3, &["does not match family \"yolov8\"", "6 outputs", "[1,4+C,N]"]);
    let o = detect_with_model(&ssd, "nanodet", &chelsea());
    assert_fails(&o, 3, &["does not match family \"nanodet\"", "detection_boxes:0 f32[?,?,?]", "n = 2704, 676, 169"]);
}

#[test]
fn missing_or_unreadable_media() {
    let nanodet = model("nanodet_g_416_coco.onnx").display().to_string();
    let o = detect_with_model(&nanodet, "nanodet", "/nonexistent/clip.mp4");
    assert_fails(&o, 4, &["/nonexistent/clip.mp4", "No such file"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("clip.mp4");
    std::fs::write(&text, "not a video at all\n".repeat(100)).expect("write");
    assert_fails(&detect_with_model(&nanodet, "nanodet", p(&text)), 4, &["clip.mp4", "not a video or image"]);
    let cut = dir.path().join("cut.mp4");
    let bytes = std::fs::read(clip()).expect("clip");
    std::fs::write(&cut, &bytes[..20_000]).expect("write");
    assert_fails(&detect_with_model(&nanodet, "nanodet", p(&cut)), 4, &["cut.mp4"]);
    assert_fails(&detect_with_model(&nanodet, "nanodet", p(dir.path())), 4, &["is a directory"]);
}

#[test]
fn missing_or_wrong_onnx_runtime_library() {
    let nanodet = model("nanodet_g_416_coco.onnx").display().to_string();
    let args = ["detect", "--model", nanodet.as_str(), "--family", "nanodet", "--labels", "/dev/null"];
    let mut args: Vec<&str> = args.to_vec();
    let c = chelsea();
    args.push(&c);
    let o = edgesight(&args, &[("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")]);
    assert_fails(
        &o,
        3,
        &["cannot load the ONNX Runtime library", "/nonexistent/libonnxruntime.so", "make onnxruntime"],
    );
    // A shared library that is not ONNX Runtime (the C library is on every machine).
    let libc = ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("a libc to load");
    let o = edgesight(&args, &[("ORT_DYLIB_PATH", libc)]);
    assert_fails(&o, 3, &["not an ONNX Runtime library", libc]);
}

#[test]
fn unknown_config_key_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("edgesight.toml");
    std::fs::write(&cfg, "[model]\npath = \"m.onnx\"\nfamily = \"nanodet\"\nscore_treshold = 0.5\n").expect("write");
    let o = edgesight(&["detect", "--config", p(&cfg), &chelsea()], &[]);
    assert_fails(&o, 2, &["edgesight.toml:4:1", "score_treshold"]);
    let o = edgesight(&["run", "--config", p(&cfg)], &[]);
    assert_fails(&o, 2, &["edgesight.toml:4:1", "score_treshold"]);
}

#[test]
fn unknown_class_name_suggests_the_right_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("edgesight.toml");
    let text = format!(
        "[model]\npath = \"{}\"\nfamily = \"nanodet\"\nlabels = \"{}\"\nclasses = [\"persn\"]\n",
        model("nanodet_g_416_coco.onnx").display(),
        model("coco80_labels.txt").display()
    );
    std::fs::write(&cfg, text).expect("write");
    let o = edgesight(&["detect", "--config", p(&cfg), &chelsea()], &[]);
    assert_fails(&o, 2, &["model.classes", "\"persn\"", "did you mean \"person\""]);
}

#[test]
fn missing_config_file() {
    let o = edgesight(&["run", "--config", "/nonexistent/edgesight.toml"], &[]);
    assert_fails(&o, 2, &["/nonexistent/edgesight.toml", "--config"]);
}

#[cfg(not(feature = "tensorrt"))]
#[test]
fn engine_build_on_a_build_without_tensorrt_says_which_build_to_use() {
    let o = common::edgesight(
        &["engine", "build", "--onnx", common::model("nanodet_g_416_coco.onnx").to_str().expect("utf-8")],
        &[],
    );
    common::assert_fails(&o, 3, &["needs a build with TensorRT", "jetson-jp6"]);
}
