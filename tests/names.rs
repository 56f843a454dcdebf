//! What a name may contain, and no configuration string reaching an API that fails on it: a
//! `[[stream]] name` with a NUL byte used to pass `check` and then panic `run` (thread naming),
//! also when it arrived by SIGHUP; names with control, ESC or bidi characters reached logs and
//! metrics labels raw. Now names follow one rule (letters, digits, spaces, `_ - .`, at most 64
//! characters), every string value is free of control and formatting characters, both with a
//! positioned error, and whatever is printed is escaped.

mod common;

use std::time::Duration;

use common::*;
use edgesight::config::parse_str;
use proptest::prelude::*;

/// TOML basic-string form of `s` (every character escaped that TOML requires).
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn config_with_name(name: &str) -> String {
    format!(
        "[device]\nname = \"dev\"\n[model]\npath = \"m.onnx\"\nfamily = \"nanodet\"\n[[stream]]\nname = {}\nuri = \"test://\"\n",
        toml_str(name)
    )
}

/// The rule, written independently of the crate: what may appear where names end up.
fn acceptable(name: &str) -> bool {
    let bidi = |c: char| matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if name.chars().any(|c| c.is_control() || bidi(c)) {
        return false;
    }
    // Surrounding spaces are trimmed, as in every other name of the configuration.
    let name = name.trim();
    !name.is_empty()
        && name.chars().count() <= 64
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.'))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn any_name_is_accepted_by_the_rule_or_refused_with_its_position(
        name in prop_oneof![
            "\\PC{0,80}",
            "[a-zA-Z0-9 _.-]{0,70}",
            proptest::collection::vec(prop_oneof![
                Just('\0'), Just('\u{1b}'), Just('\r'), Just('\n'), Just('\u{202e}'), Just('\u{2066}'),
                Just('/'), Just('+'), Just('#'), Just('"'), Just('\\'), Just('é'), Just('a'), Just(' '),
            ], 0..20).prop_map(|v| v.into_iter().collect::<String>()),
        ]
    ) {
        match parse_str(&config_with_name(&name), None) {
            Ok(cfg) => {
                prop_assert!(acceptable(&name), "accepted {name:?}");
                prop_assert_eq!(&cfg.streams[0].name, name.trim());
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(!acceptable(&name), "refused {name:?}: {msg}");
                prop_assert!(msg.starts_with("<config>:7:8: stream") && msg.contains(".name: "), "{msg}");
                prop_assert!(!msg.chars().any(|c| c == '\0' || c == '\u{1b}' || c == '\u{202e}'), "raw in {msg:?}");
            }
        }
    }
}

#[test]
fn control_characters_are_refused_in_every_string_value() {
    for (key_line, key) in [
        ("path = \"models/x\\u0000.onnx\"", "model.path"),
        ("labels = \"l\\u001B[31m.txt\"", "model.labels"),
        ("classes = [\"person\\u202E\"]", "model.classes[0]"),
    ] {
        let text = format!(
            "[model]\n{key_line}\nfamily = \"nanodet\"\n{}",
            if key == "model.path" { "" } else { "path = \"m.onnx\"\n" }
        );
        let msg = parse_str(&text, None).expect_err("refused").to_string();
        assert!(msg.contains(&format!("{key}: contains the control or formatting character U+")), "{msg}");
    }
    let uri =
        "[model]\npath = \"m.onnx\"\nfamily = \"nanodet\"\n[[stream]]\nname = \"a\"\nuri = \"file:///x\\u0000.mp4\"\n";
    assert!(parse_str(uri, None).expect_err("refused").to_string().contains(".uri: contains the control"));
}

#[test]
fn a_nul_in_a_name_is_a_positioned_error_for_check_and_a_refused_reload_for_a_running_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("events.jsonl");
    let good =
        ConfigBuilder::nanodet(dir.path()).stream("cam", "test://ball?width=160&height=120&fps=10", "").events(&events);
    let cfg = good.write();
    let bad_text = good.text().replace("name = \"cam\"", "name = \"ca\\u0000m\\u001B[2J\"");
    // check: exit 2, file:line:col, and the character named, not printed.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, &bad_text).expect("write");
    let o = edgesight(&["check", "--config", p(&bad)], &[]);
    assert_fails(&o, 2, &["bad.toml:", ".name: contains the control or formatting character U+0000"]);
    assert!(!stderr(&o).contains('\0') && !stderr(&o).contains('\u{1b}'), "{:?}", stderr(&o));
    // A running service: the same text by SIGHUP is refused and the service keeps running.
    let mut child = run_service(&cfg, &[]);
    let count = || std::fs::read_to_string(&events).map_or(0, |t| t.lines().count());
    wait_for("events", Duration::from_secs(60), || count() >= 2);
    std::fs::write(&cfg, &bad_text).expect("write");
    signal(&child, "HUP");
    let n = count();
    wait_for("events after the refused reload", Duration::from_secs(60), || {
        assert!(child.try_wait().expect("status").is_none(), "the service died on the reload");
        count() >= n + 3
    });
    signal(&child, "TERM");
    let out = child.wait_with_output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("reload refused") && err.contains(".name: contains the control or formatting character U+0000"),
        "{err}"
    );
    assert!(!err.contains('\0') && !err.contains('\u{1b}'), "raw control characters in the log: {err:?}");
}
