//! The Yocto layer stays in step with the crate: `edgesight-crates.inc` lists exactly the crates,
//! versions and checksums of Cargo.lock (bitbake fetches nothing else, so a missing crate breaks
//! the image build offline and an extra one is dead weight); the recipe's minimum Rust is
//! Cargo.toml's `rust-version`; every file the recipe installs exists; PACKAGECONFIG features
//! exist in Cargo.toml. Parsed here independently of `scripts/gen-crates-inc.py`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn recipe_dir() -> PathBuf {
    root().join("yocto/meta-edgesight/recipes-edgesight/edgesight")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn cargo_toml() -> toml::Table {
    toml::from_str(&read(&root().join("Cargo.toml"))).expect("Cargo.toml parses")
}

fn recipe() -> String {
    read(&recipe_dir().join("edgesight_0.1.0.bb"))
}

/// (name, version) → sha256 of every crates.io package in Cargo.lock.
fn lock_crates() -> BTreeMap<(String, String), String> {
    let lock: toml::Table = toml::from_str(&read(&root().join("Cargo.lock"))).expect("Cargo.lock parses");
    let mut out = BTreeMap::new();
    for p in lock["package"].as_array().expect("[[package]]") {
        let src = p.get("source").and_then(|s| s.as_str());
        match src {
            None => continue, // the workspace's own package
            Some("registry+https://github.com/rust-lang/crates.io-index") => {}
            Some(other) => panic!("{}: source {other} cannot be fetched by the crate:// fetcher", p["name"]),
        }
        let key = (p["name"].as_str().unwrap().to_string(), p["version"].as_str().unwrap().to_string());
        out.insert(key, p["checksum"].as_str().expect("checksum").to_string());
    }
    out
}

/// The same map from the crates file: `crate://crates.io/NAME/VERSION` URIs and
/// `SRC_URI[NAME-VERSION.sha256sum]` lines.
fn inc_crates() -> BTreeMap<(String, String), String> {
    let text = read(&recipe_dir().join("edgesight-crates.inc"));
    let mut uris = Vec::new();
    let mut sums = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("crate://crates.io/") {
            let rest = rest.trim_end_matches('\\').trim();
            let (name, version) = rest.split_once('/').expect("crate://crates.io/NAME/VERSION");
            uris.push((name.to_string(), version.to_string()));
        } else if let Some(rest) = line.strip_prefix("SRC_URI[") {
            let (flag, value) = rest.split_once("] = ").expect("SRC_URI[…] = \"…\"");
            let id = flag.strip_suffix(".sha256sum").expect(".sha256sum flag");
            sums.insert(id.to_string(), value.trim_matches('"').to_string());
        }
    }
    let mut out = BTreeMap::new();
    for (name, version) in uris {
        let sum =
            sums.remove(&format!("{name}-{version}")).unwrap_or_else(|| panic!("no sha256sum for {name} {version}"));
        assert!(out.insert((name.clone(), version.clone()), sum).is_none(), "{name} {version} listed twice");
    }
    assert!(sums.is_empty(), "checksums without a crate:// URI: {:?}", sums.keys().collect::<Vec<_>>());
    out
}

#[test]
fn crates_file_matches_cargo_lock_exactly() {
    let lock = lock_crates();
    let inc = inc_crates();
    assert!(lock.len() > 50, "Cargo.lock has {} crates.io packages", lock.len());
    let missing: Vec<_> = lock.keys().filter(|k| !inc.contains_key(*k)).collect();
    let extra: Vec<_> = inc.keys().filter(|k| !lock.contains_key(*k)).collect();
    let wrong: Vec<_> = lock.iter().filter(|(k, v)| inc.get(*k).is_some_and(|s| s != *v)).map(|(k, _)| k).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && wrong.is_empty(),
        "edgesight-crates.inc is stale (run scripts/gen-crates-inc.py > \
         yocto/meta-edgesight/recipes-edgesight/edgesight/edgesight-crates.inc):\n\
         missing {missing:?}\nextra {extra:?}\nwrong checksum {wrong:?}"
    );
}

fn recipe_var(recipe: &str, name: &str) -> String {
    let prefix = format!("{name} = \"");
    let line = recipe.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{name} not set"));
    line[prefix.len()..].trim_end_matches('"').to_string()
}

#[test]
fn recipe_minimum_rust_is_cargo_rust_version() {
    let cargo = cargo_toml();
    let rust_version = cargo["package"]["rust-version"].as_str().unwrap();
    assert_eq!(recipe_var(&recipe(), "EDGESIGHT_MIN_RUST"), rust_version);
}

#[test]
fn files_the_recipe_installs_exist() {
    let recipe = recipe();
    let mut checked = 0;
    for word in recipe.split_whitespace() {
        let Some(rel) = word.strip_prefix("${S}/") else { continue };
        let matches = if let Some((dir, pattern)) = rel.rsplit_once("/*") {
            let dir = root().join(dir);
            std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(pattern))
                .count()
        } else {
            usize::from(root().join(rel).is_file())
        };
        assert!(matches > 0, "the recipe installs ${{S}}/{rel}, which is not in the repository");
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} installed paths found in the recipe");
}

#[test]
fn packageconfig_features_exist_in_cargo_toml() {
    let features = cargo_toml().get("features").and_then(|f| f.as_table()).cloned().unwrap_or_default();
    let recipe = recipe();
    let mut found = 0;
    for line in recipe.lines().filter(|l| l.starts_with("PACKAGECONFIG[")) {
        let args = line.split_once("= \"").map(|(_, v)| v).unwrap_or_default();
        let words: Vec<&str> = args.split([' ', ',']).collect();
        for f in words.windows(2).filter(|w| w[0] == "--features").map(|w| w[1]) {
            assert!(features.contains_key(f), "PACKAGECONFIG enables cargo feature `{f}`, not in Cargo.toml");
            found += 1;
        }
    }
    assert!(found >= 1, "no PACKAGECONFIG with --features in the recipe");
}
