//! Property tests: any text, and any document built from the config's own vocabulary with values
//! of every TOML type, is either accepted or rejected with positioned config errors — never a panic.

use edgesight::Error;
use edgesight::config::{parse_str, schema};
use proptest::prelude::*;

fn keys() -> Vec<String> {
    let mut k: Vec<String> = schema::all_keys().iter().map(|p| p.rsplit('.').next().unwrap_or(p).to_string()).collect();
    k.extend(["scor_threshold", "nme", "ur", "x", "colour", "🙂"].map(String::from));
    k
}

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        // Boundary values, which uniform i64/f64 almost never produce: a negative duration once
        // reached `Duration::from_secs_f64` and panicked.
        prop::sample::select(vec!["-1", "0", "1", "-0.5", "0.0", "1e300", "-1e300", "65536", "4294967297"])
            .prop_map(String::from),
        any::<f64>().prop_map(|f| if f.is_finite() { format!("{f:?}") } else { "nan".into() }),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z0-9:/._?=&-]{0,24}".prop_map(|s| format!("{s:?}")),
        Just("\"rtsp://u:p@host:554/s\"".to_string()),
        Just("\"test://ball?width=32&fps=5\"".to_string()),
        Just("\"nanodet\"".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z]{1,6}", inner), 0..3).prop_map(|v| format!(
                "{{ {} }}",
                v.iter().map(|(k, x)| format!("{k} = {x}")).collect::<Vec<_>>().join(", ")
            )),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    let keys = keys();
    let headers = prop::sample::select(vec![
        "[model]",
        "[device]",
        "[pipeline]",
        "[[stream]]",
        "[output.jsonl]",
        "[output]",
        "[stream]",
        "[[model]]",
        "[modle]",
        "[metrics]",
        "[health]",
        "",
    ]);
    let line = (prop::sample::select(keys), value()).prop_map(|(k, v)| format!("{k} = {v}"));
    prop::collection::vec((headers, prop::collection::vec(line, 0..6)), 0..6).prop_map(|sections| {
        sections.iter().map(|(h, lines)| format!("{h}\n{}\n", lines.join("\n"))).collect::<String>()
    })
}

fn assert_well_formed(r: Result<edgesight::config::Config, Error>) {
    if let Err(e) = r {
        assert!(matches!(e, Error::Config(_)), "config problems are config errors: {e:?}");
        for line in e.to_string().lines() {
            assert!(line.starts_with("fuzz.toml"), "every problem names the file: {line}");
        }
    }
}

proptest! {
    // 2000 cases by default; `PROPTEST_CASES=100000 cargo test --test config_fuzz` for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        assert_well_formed(parse_str(&text, Some(std::path::Path::new("fuzz.toml"))));
    }

    #[test]
    fn config_shaped_documents_never_panic(doc in document()) {
        assert_well_formed(parse_str(&doc, Some(std::path::Path::new("fuzz.toml"))));
    }
}
