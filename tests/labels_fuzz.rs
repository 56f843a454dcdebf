//! Property tests of the labels reader (`Labels::parse`, what `model.labels` goes through): any
//! bytes (a BOM, CR, blank lines, invalid UTF-8, NUL …) give clean names or a one-line reason,
//! never a panic; names written with any line ends, a BOM and trailing blank lines come back as
//! written. Bounded for CI: 2000 cases each by default, `PROPTEST_CASES=100000 cargo test --test
//! labels_fuzz` for a longer hunt.

use edgesight::detect::Labels;
use proptest::prelude::*;

/// Pieces a labels file is made of, weighted towards the awkward ones.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z ]{1,12}".prop_map(String::into_bytes),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just("\u{feff}".as_bytes().to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\t".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"\xc3".to_vec()),
        Just("s\u{e9}ance \u{1f642}".as_bytes().to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
    ]
}

fn file() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(piece(), 0..40).prop_map(|v| v.concat()),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

/// A name as it can appear in an event: no surrounding space, no control character, no BOM.
fn clean(name: &str) -> bool {
    !name.is_empty() && name.trim() == name && !name.chars().any(|c| c.is_control() || c == '\u{feff}')
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_give_clean_names_or_one_line_of_why(bytes in file()) {
        match Labels::parse(&bytes) {
            Ok(labels) => {
                prop_assert!(!labels.is_empty());
                for n in labels.names() {
                    prop_assert!(clean(n), "{n:?} from {bytes:?}");
                }
            }
            Err(why) => prop_assert!(!why.is_empty() && !why.contains('\n'), "{why:?}"),
        }
    }

    #[test]
    fn names_come_back_whatever_the_line_ends(
        names in prop::collection::vec("[a-z]([a-z ]{0,10}[a-z])?", 1..20),
        ends in prop::collection::vec(prop::sample::select(vec!["\n", "\r\n", "\r"]), 20),
        bom in any::<bool>(),
        trailing in 0usize..4,
    ) {
        let mut text = if bom { "\u{feff}".to_string() } else { String::new() };
        for (i, n) in names.iter().enumerate() {
            text += &format!("  {n}\t{}", ends[i]);
        }
        text += &"\r\n".repeat(trailing);
        let labels = Labels::parse(text.as_bytes()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(labels.names(), &names[..]);
    }
}
