//! A config key that is not documented does not exist: every key of the schema appears in the
//! commented reference configuration and in the ops runbook.

use edgesight::config::schema;

#[test]
fn every_key_is_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let reference = std::fs::read_to_string(root.join("configs/edgesight.toml")).expect("reference config");
    let runbook = std::fs::read_to_string(root.join("docs/ops/ops_runbook.md")).expect("runbook");
    let spec = std::fs::read_to_string(root.join("docs/specs/model_interface.md")).expect("model interface");
    let mut missing = Vec::new();
    for key in schema::all_keys() {
        let leaf = key.rsplit('.').next().unwrap_or(&key);
        if !reference.contains(&format!("{leaf} =")) {
            missing.push(format!("{key}: not in configs/edgesight.toml"));
        }
        if !runbook.contains(leaf) && !spec.contains(leaf) {
            missing.push(format!("{key}: neither in the runbook nor in the model interface"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
