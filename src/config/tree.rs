//! Config files as a tree of values that remember where they came from, and the merge of the
//! main file with its drop-ins (`conf.d/*.toml`, lexical order, later keys win per key).

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use crate::error::{Error, Result};

/// One file of the configuration.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// Where a value was written: file index into the layer list and byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: usize,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_origin: Origin,
    pub node: Node,
}

impl Value {
    /// Name of the TOML type, for "found …, expected …" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Table(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.node),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        match &self.value {
            Value::Table(entries) => entries,
            _ => &[],
        }
    }
}

/// A parse failure of one file (TOML syntax), with position.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub file: usize,
    pub span: Option<Range<usize>>,
    pub message: String,
}

fn convert(v: &toml::Spanned<DeValue<'_>>, file: usize) -> Node {
    let origin = Origin { file, span: v.span() };
    let value = match v.get_ref() {
        DeValue::String(s) => Value::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
            Ok(n) => Value::Int(n),
            Err(_) => Value::Str(i.as_str().to_string()),
        },
        DeValue::Float(f) => Value::Float(f.as_str().replace('_', "").parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(a) => Value::Array(a.iter().map(|e| convert(e, file)).collect()),
        DeValue::Table(t) => Value::Table(convert_table(t, file)),
    };
    Node { value, origin }
}

fn convert_table(t: &DeTable<'_>, file: usize) -> Vec<Entry> {
    t.iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_origin: Origin { file, span: k.span() },
            node: convert(v, file),
        })
        .collect()
}

/// Parses one file into a tree, collecting every syntax error TOML's parser can recover from.
pub fn parse(text: &str, file: usize) -> (Node, Vec<SyntaxError>) {
    let (doc, errors) = DeTable::parse_recoverable(text);
    let node = Node { value: Value::Table(convert_table(doc.get_ref(), file)), origin: Origin { file, span: 0..0 } };
    let errors = errors
        .into_iter()
        .map(|e| SyntaxError { file, span: e.span(), message: e.message().trim().to_string() })
        .collect();
    (node, errors)
}

/// Name of an array-of-tables element used to match drop-in entries (streams by `name`).
fn element_name(n: &Node) -> Option<&str> {
    match n.get("name").map(|v| &v.value) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

/// Merges `over` into `base`: tables merge key by key; array-of-tables elements with the same
/// `name` merge, new names are appended; anything else is replaced.
pub fn merge(base: &mut Node, over: Node) {
    match (&mut base.value, over.value) {
        (Value::Table(b), Value::Table(o)) => {
            for entry in o {
                match b.iter_mut().find(|e| e.key == entry.key) {
                    Some(existing) => merge(&mut existing.node, entry.node),
                    None => b.push(entry),
                }
            }
        }
        (Value::Array(b), Value::Array(o))
            if o.iter().all(|n| matches!(n.value, Value::Table(_)))
                && b.iter().all(|n| matches!(n.value, Value::Table(_))) =>
        {
            for el in o {
                let same = element_name(&el).and_then(|name| b.iter().position(|x| element_name(x) == Some(name)));
                match same {
                    Some(i) => merge(&mut b[i], el),
                    None => b.push(el),
                }
            }
        }
        (_, value) => {
            base.value = value;
            base.origin = over.origin;
        }
    }
}

/// Whether a file name in `conf.d/` is a drop-in: a visible `*.toml`. Hidden files (`.x.toml`,
/// Emacs' `.#x.toml` locks) and editor leftovers (`x.toml~`, `.x.toml.swp`, `x.toml.bak`,
/// `x.toml.dpkg-dist`) are not, so an editor open on a drop-in never applies half a file.
pub fn is_drop_in(name: &std::ffi::OsStr) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let name = name.as_bytes();
    !name.starts_with(b".") && name.len() > ".toml".len() && name.ends_with(b".toml")
}

/// The drop-ins of a configuration: `<dir of main>/conf.d/*.toml` by name (see `is_drop_in`).
/// Each is listed whatever it is, so that a visible `*.toml` that cannot be read (a dangling
/// link, a directory, a FIFO) is an error when it is read, never skipped. No `conf.d` is no
/// drop-ins; a `conf.d` that is not a readable directory is an error (its drop-ins would
/// silently not apply).
pub fn drop_ins(main: &Path) -> Result<Vec<PathBuf>> {
    let dir = main.parent().map_or_else(|| PathBuf::from("conf.d"), |d| d.join("conf.d"));
    let err = |e: &dyn std::fmt::Display| {
        Error::config(format!(
            "cannot list the drop-ins in {}: {e}; conf.d next to the config file must be a directory \
             edgesight can read (or absent)",
            dir.display()
        ))
    };
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(&e)),
    };
    let mut files = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| err(&e))?;
        if is_drop_in(&entry.file_name()) {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str, file: usize) -> Node {
        let (n, errors) = parse(text, file);
        assert!(errors.is_empty(), "{errors:?}");
        n
    }

    #[test]
    fn drop_in_overrides_per_key_and_merges_streams_by_name() {
        let mut base =
            tree("[model]\npath = \"a\"\nfamily = \"nanodet\"\n[[stream]]\nname = \"x\"\nuri = \"test://\"\n", 0);
        let over = tree(
            "[model]\npath = \"b\"\n[[stream]]\nname = \"x\"\nenabled = false\n[[stream]]\nname = \"y\"\nuri = \"test://\"\n",
            1,
        );
        merge(&mut base, over);
        let model = base.get("model").unwrap();
        assert_eq!(model.get("path").unwrap().value, Value::Str("b".into()));
        assert_eq!(model.get("path").unwrap().origin.file, 1);
        assert_eq!(model.get("family").unwrap().origin.file, 0);
        let Value::Array(streams) = &base.get("stream").unwrap().value else { panic!() };
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0].get("enabled").unwrap().value, Value::Bool(false));
        assert_eq!(streams[0].get("uri").unwrap().origin.file, 0);
    }

    /// Only arrays of tables (`[[stream]]`) merge by name: a drop-in's `classes = ["car"]`
    /// replaces the list; appended, a site could never narrow the classes of the main file.
    #[test]
    fn drop_in_lists_of_values_replace_the_list() {
        let mut base = tree("[model]\nclasses = [\"person\", \"car\"]\n", 0);
        merge(&mut base, tree("[model]\nclasses = [\"car\"]\n", 1));
        let classes = base.get("model").unwrap().get("classes").unwrap();
        let Value::Array(items) = &classes.value else { panic!("{classes:?}") };
        assert_eq!(items.iter().map(|n| n.value.clone()).collect::<Vec<_>>(), [Value::Str("car".into())]);
        assert_eq!(classes.origin.file, 1);
    }

    #[test]
    fn syntax_errors_are_all_collected() {
        let (_, errors) = parse("a = \nb = [1,\n[x\n", 0);
        assert!(!errors.is_empty());
        assert!(errors.iter().all(|e| e.span.is_some()));
    }

    #[test]
    fn hidden_files_and_editor_leftovers_are_not_drop_ins() {
        let yes = ["50-site.toml", "a.b.toml", "x y.toml"];
        let no = [".site.toml", ".#site.toml", "site.toml~", ".site.toml.swp", "site.toml.bak", "site.toml.dpkg-dist"];
        for n in yes {
            assert!(is_drop_in(n.as_ref()), "{n}");
        }
        for n in no.into_iter().chain([".toml", "site.TOML", "site.tom", "toml"]) {
            assert!(!is_drop_in(n.as_ref()), "{n}");
        }
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
