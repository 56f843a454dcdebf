//! Property tests (the URI parser's fuzz target, bounded for CI): the parser of `[[stream]] uri`
//! never panics on any text; no error message, no printed source and no address given to
//! GStreamer holds any part of a password, whatever shape the URI around it has; a
//! percent-encoded user and password come back exactly as they were.
//!
//! 3000 cases per property by default (a few seconds); `PROPTEST_CASES=1000000 cargo test
//! --release --test uri_fuzz` for a longer hunt.

use std::path::Path;

use edgesight::capture::SourceSpec;
use edgesight::capture::uri::{percent_encode, redact};
use edgesight::config::tree::SourceFile;
use edgesight::config::{Layers, from_layers, report};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000)
}

/// A password and its fragments: distinctive runs (a capital, a small letter, a digit, three letters) joined
/// by the characters a URI gives a meaning to, raw or as escapes good and bad.
fn password() -> impl Strategy<Value = (String, Vec<String>)> {
    let fragment = "[A-Z][a-z][0-9][A-Za-z]{3}";
    let sep = prop::sample::select(vec![
        "@", ":", "/", "?", "#", "%", "%4", "%zz", "%40", "%3A", "%2F", "%25", "%C3%28", "%ff", "[", "]", " ", "", "€",
        "\"", "\\",
    ]);
    prop::collection::vec((fragment, sep), 1..4).prop_map(|parts| {
        let text = parts.iter().map(|(f, s)| format!("{f}{s}")).collect::<String>();
        (text, parts.into_iter().map(|(f, _)| f).collect())
    })
}

/// `prefix user:password@rest` in the shapes a URI takes, well-formed or not, and the fragments
/// of the password that must never be printed.
fn shaped() -> impl Strategy<Value = (String, Vec<String>)> {
    let prefix = prop::sample::select(vec![
        "rtsp://",
        "rtsps://",
        "RTSP://",
        "rtsp:",
        "rtsp:/",
        "rtsp:///",
        " rtsp://",
        "file://",
        "file:",
        "test://",
        "test://ball?width=",
        "v4l2://",
        "csi://",
        "http://",
        "",
    ]);
    let user = "[a-z0-9%]{0,5}";
    let host =
        prop::sample::select(vec!["cam", "127.0.0.1", "[::1]", "", ":", "cam:554", "cam:x", "cam:", "[::1]:8554"]);
    let path = prop::sample::select(vec!["", "/", "/s", "/a@b", "/s?x=1", "?q", "#f", "@", "/%zz"]);
    let at = prop::sample::select(vec!["@", ""]);
    (prefix, user, password(), at, host, path).prop_map(|(prefix, user, (pw, fragments), at, host, path)| {
        let uri = format!("{prefix}{user}:{pw}{at}{host}{path}");
        let secret = secret(&uri, &fragments);
        (uri, secret)
    })
}

/// The fragments a reader must take for a password: those before the URI's last `@` (and not
/// after it). Without that `@` the text has no user information, by RFC 3986's grammar.
fn secret(uri: &str, fragments: &[String]) -> Vec<String> {
    let Some(at) = uri.rfind('@') else { return Vec::new() };
    fragments.iter().filter(|f| uri[..at].contains(f.as_str()) && !uri[at..].contains(f.as_str())).cloned().collect()
}

fn leaks<'a>(text: &str, fragments: &'a [String]) -> Option<&'a String> {
    fragments.iter().find(|f| text.contains(f.as_str()))
}

/// The URI as a TOML basic string.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_text_parses_or_fails_without_panicking(text in "\\PC{0,64}") {
        let _ = SourceSpec::parse(&text, Path::new("/etc/edgesight"));
        let _ = redact(&text);
    }

    #[test]
    fn uri_shaped_text_parses_or_fails_without_panicking(text in "[a-zA-Z]{0,6}:{0,2}/{0,3}[a-z0-9@:/?#%\\[\\]=&.-]{0,40}") {
        let _ = SourceSpec::parse(&text, Path::new("/etc/edgesight"));
        let _ = redact(&text);
    }

    #[test]
    fn no_message_or_printed_source_holds_the_password((uri, fragments) in shaped()) {
        match SourceSpec::parse(&uri, Path::new("/etc/edgesight")) {
            Err(e) => {
                prop_assert!(leaks(&e, &fragments).is_none(), "{uri:?}: {e}");
            }
            Ok(spec @ SourceSpec::Rtsp { .. }) => {
                let SourceSpec::Rtsp { url, .. } = &spec else { unreachable!() };
                // What reaches rtspsrc's location and what is printed.
                for shown in [url.clone(), spec.redacted(), format!("{spec:?}")] {
                    prop_assert!(leaks(&shown, &fragments).is_none(), "{uri:?}: {shown}");
                }
            }
            // A path without a scheme holds no credentials (it is a file name).
            Ok(_) => {}
        }
        prop_assert!(leaks(&redact(&uri), &fragments).is_none(), "{uri:?}: {}", redact(&uri));
    }

    #[test]
    fn the_resolved_configuration_and_its_errors_hold_no_password((uri, fragments) in shaped()) {
        let text = format!(
            "[model]\npath = \"m.onnx\"\nfamily = \"nanodet\"\n[[stream]]\nname = \"s\"\nuri = {}\n",
            toml_string(&uri)
        );
        let layers = Layers { files: vec![SourceFile { path: "fuzz.toml".into(), text }] };
        let shown = match from_layers(layers, Some(Path::new("fuzz.toml"))) {
            Ok(loaded) => report::resolved(&loaded),
            Err(e) => e.to_string(),
        };
        prop_assert!(leaks(&shown, &fragments).is_none(), "{uri:?}:\n{shown}");
    }

    #[test]
    fn encoded_credentials_come_back_as_they_were(user in "\\PC{0,12}", pw in "\\PC{0,24}") {
        let uri = format!("rtsp://{}:{}@cam:554/s", percent_encode(&user), percent_encode(&pw));
        let spec = SourceSpec::parse(&uri, Path::new("/")).map_err(TestCaseError::fail)?;
        let none_if_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        prop_assert_eq!(
            spec,
            SourceSpec::Rtsp { url: "rtsp://cam:554/s".into(), user: none_if_empty(&user), password: none_if_empty(&pw) }
        );
    }
}
