//! Text from outside (configuration values, file names, GStreamer messages, label files) on its
//! way to a terminal, the journal, a metrics label or a log file: control characters could fake
//! or hide log lines, bidirectional-formatting characters could make a name read as another.
//! The configuration refuses them in its values (`unsafe_char`); everything printed goes through
//! `printable`, which writes any that still arrive as `\u{…}` escapes.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Control characters (C0, DEL, C1, including CR and LF), the line and paragraph separators, and
/// the bidirectional-formatting characters (embeddings, overrides, isolates, marks).
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{2028}' | '\u{2029}')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `s` with every unsafe character written as a `\u{…}` escape (tabs kept).
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\t' && unsafe_char(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c != '\t' && unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// How a character is named in a message: `'x'`, or `U+001B` for one that must not be printed.
pub fn describe_char(c: char) -> String {
    if unsafe_char(c) || c.is_whitespace() { format!("U+{:04X}", c as u32) } else { format!("'{c}'") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_escaped_everything_else_kept() {
        assert_eq!(printable("cam-1 Süd"), "cam-1 Süd");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[31mred\r\nfake line"), "a\\u{1b}[31mred\\u{d}\\u{a}fake line");
        assert_eq!(printable("\u{202e}txt.exe"), "\\u{202e}txt.exe");
        assert_eq!(printable("nul\0"), "nul\\u{0}");
        assert_eq!(printable("tab\tkept"), "tab\tkept");
        assert_eq!(describe_char('\u{1b}'), "U+001B");
        assert_eq!(describe_char('/'), "'/'");
    }
}
