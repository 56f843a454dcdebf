//! Class names: one per line, line n (from 0) naming class id n.
//!
//! The file is read through `fsutil` (a regular file of at most 1 MiB) and must be UTF-8. A
//! leading byte-order mark is dropped, line ends may be `\n`, `\r\n` or `\r`, names are trimmed
//! and blank lines at the end are ignored. A blank line before the last name, or a name holding a
//! control character, is an error: either would shift or garble the names of every event.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fsutil;

#[derive(Debug, Clone, Default)]
pub struct Labels {
    names: Vec<String>,
}

impl Labels {
    pub fn load(path: &Path) -> Result<Labels> {
        let bytes = fsutil::read(path, &fsutil::LABELS)?;
        Labels::parse(&bytes)
            .map_err(|why| Error::model(format!("labels file {} {why}; {}", path.display(), fsutil::LABELS.fix)))
    }

    /// The names in a labels file's bytes, or why they are not usable (completing "labels file F …").
    pub fn parse(bytes: &[u8]) -> Result<Labels, String> {
        let text = fsutil::utf8(bytes.to_vec()).map_err(|p| p.to_string())?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let text = text.replace("\r\n", "\n");
        let mut names: Vec<String> = text.split(['\n', '\r']).map(|l| l.trim().to_string()).collect();
        while names.last().is_some_and(|n| n.is_empty()) {
            names.pop();
        }
        if names.is_empty() {
            return Err("holds no class names".into());
        }
        for (i, name) in names.iter().enumerate() {
            let line = i + 1;
            if name.is_empty() {
                return Err(format!(
                    "has a blank line {line} before its last name: every line up to the last names one class \
                     id (the first names id 0), so a blank one shifts the names after it; remove it, or write a \
                     placeholder name"
                ));
            }
            if let Some(c) = name.chars().find(|&c| c.is_control() || c == '\u{feff}') {
                return Err(format!("line {line} holds the control character U+{:04X}", u32::from(c)));
            }
        }
        Ok(Labels { names })
    }

    pub fn from_names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Labels {
        Labels { names: names.into_iter().map(Into::into).collect() }
    }

    /// Makes sure every class id below `n` has a name (`class<id>` where the file has none),
    /// so lookups on the hot path never build strings.
    pub fn cover(&mut self, n: usize) {
        while self.names.len() < n {
            let id = self.names.len();
            self.names.push(format!("class{id}"));
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Name of a class id; "unknown" for ids the model should not produce.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("unknown", String::as_str)
    }

    /// Class id of a name, if the file has it.
    pub fn id(&self, name: &str) -> Option<u32> {
        self.names.iter().position(|n| n == name).map(|i| i as u32)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(bytes: &[u8]) -> Vec<String> {
        Labels::parse(bytes).expect("labels").names
    }

    #[test]
    fn bom_crlf_cr_and_trailing_blank_lines() {
        assert_eq!(names(b"\xef\xbb\xbfperson\r\nbicycle\r\n\r\n"), ["person", "bicycle"]);
        assert_eq!(names(b"person\rbicycle\r"), ["person", "bicycle"]);
        assert_eq!(names(b"  person \n\tcar\n\n\n"), ["person", "car"]);
        assert_eq!(names(b"background\nperson\n"), ["background", "person"]);
    }

    #[test]
    fn unusable_files_say_why() {
        let err = |b: &[u8]| Labels::parse(b).expect_err("refused");
        assert!(err(b"").contains("no class names"));
        assert!(err(b"\xef\xbb\xbf\r\n\n").contains("no class names"));
        assert!(err(b"person\n\ncar\n").contains("blank line 2"));
        assert!(err(b"person\ncar\0\n").contains("line 2 holds the control character U+0000"));
        assert!(err(b"person\n\xff\xfe\n").contains("not UTF-8 text (line 2)"));
    }
}
