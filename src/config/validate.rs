//! Stage (a) of validation, schema: every key checked against `schema`, every problem reported
//! (unknown keys with a "did you mean", wrong types, values out of range, missing keys).

use super::schema::{Field, Kind};
use super::tree::{Node, Value};
use super::{Issue, Issues};

/// Closest candidate by edit distance, when close enough to be a plausible typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let sub = prev[j] + usize::from(ca != *cb);
                cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    candidates
        .into_iter()
        .map(|c| (dist(&name.to_lowercase(), c), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// What a kind expects, in words.
pub fn expected(kind: &Kind) -> String {
    match kind {
        Kind::Str | Kind::Secret | Kind::Uri => "a string".into(),
        Kind::Path => "a path (string)".into(),
        Kind::Bool => "true or false".into(),
        Kind::Int { min, max } => format!("a whole number in {min}..={max}"),
        Kind::Float { min, max } if *min == f64::MIN => "a number".into(),
        Kind::Float { min, max } => format!("a number in {min}..={max}"),
        Kind::Enum(values) => {
            format!("one of {}", values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", "))
        }
        Kind::List { item, len: Some(n) } => {
            format!("a list of {n} values, each {}", expected(item))
        }
        Kind::List { item, len: None } => format!("a list, each {}", expected(item)),
        Kind::Table(_) => "a table".into(),
        Kind::TableArray(_) => "[[…]] sections (an array of tables)".into(),
        Kind::Map(item) => format!("a table of name = value, each {}", expected(item)),
    }
}

/// A short rendering of a found value.
pub fn found(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("\"{s}\""),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Datetime(d) => d.clone(),
        Value::Array(a) => format!("a list of {} values", a.len()),
        Value::Table(_) => "a table".into(),
    }
}

fn check_value(path: &str, kind: &Kind, node: &Node, issues: &mut Issues) {
    let bad = |issues: &mut Issues, extra: &str| {
        // A password of the wrong type (a number, a date) is still a password: it is not quoted.
        let found = match kind {
            Kind::Secret => node.value.type_name().to_string(),
            _ => found(&node.value),
        };
        issues.push(Issue::at(&node.origin, path, format!("found {found}, expected {}{extra}", expected(kind))));
    };
    match (kind, &node.value) {
        (Kind::Str | Kind::Path | Kind::Secret | Kind::Uri, Value::Str(s)) => {
            // Values reach GStreamer, C libraries, file names and logs: a NUL would end them
            // early or panic a C-string conversion, the others could fake or hide log lines.
            // The message names the character and its place, never the value (a secret).
            if let Some((i, c)) = s.chars().enumerate().find(|(_, c)| crate::text::unsafe_char(*c)) {
                issues.push(Issue::at(
                    &node.origin,
                    path,
                    format!(
                        "contains the control or formatting character {} (character {}); remove it",
                        crate::text::describe_char(c),
                        i + 1
                    ),
                ));
            }
        }
        (Kind::Bool, Value::Bool(_)) => {}
        (Kind::Int { min, max }, Value::Int(i)) => {
            if i < min || i > max {
                bad(issues, "");
            }
        }
        (Kind::Float { min, max }, Value::Int(i)) => {
            let f = *i as f64;
            if f < *min || f > *max {
                bad(issues, "");
            }
        }
        (Kind::Float { min, max }, Value::Float(f)) => {
            if !f.is_finite() || f < min || f > max {
                bad(issues, "");
            }
        }
        (Kind::Enum(values), Value::Str(s)) => {
            if !values.contains(&s.as_str()) {
                let hint =
                    closest(s, values.iter().copied()).map(|c| format!("; did you mean \"{c}\"?")).unwrap_or_default();
                bad(issues, &hint);
            }
        }
        (Kind::List { item, len }, Value::Array(items)) => {
            if let Some(n) = len
                && items.len() != *n
            {
                bad(issues, "");
            }
            for (i, it) in items.iter().enumerate() {
                check_value(&format!("{path}[{i}]"), item, it, issues);
            }
        }
        (Kind::Table(fields), Value::Table(_)) => check_table(path, fields, node, issues),
        (Kind::TableArray(fields), Value::Array(items)) => {
            for (i, it) in items.iter().enumerate() {
                let label = match it.get("name").map(|n| &n.value) {
                    // Debug form: a name that breaks the rules is shown escaped, never raw.
                    Some(Value::Str(name)) => format!("{path} {name:?}"),
                    _ => format!("{path}[{i}]"),
                };
                match &it.value {
                    Value::Table(_) => check_table(&label, fields, it, issues),
                    _ => bad(issues, ""),
                }
            }
        }
        (Kind::Map(item), Value::Table(entries)) => {
            for e in entries {
                check_value(&format!("{path}.\"{}\"", e.key), item, &e.node, issues);
            }
        }
        _ => {
            let hint = match (kind, &node.value) {
                (Kind::TableArray(_), Value::Table(_)) => "; write [[…]] (double brackets) for each entry",
                (Kind::Table(_), _) => "; write it as a [section]",
                _ => "",
            };
            bad(issues, hint);
        }
    }
}

fn check_table(path: &str, fields: &[Field], node: &Node, issues: &mut Issues) {
    for e in node.entries() {
        let key_path = if path.is_empty() { e.key.clone() } else { format!("{path}.{}", e.key) };
        match fields.iter().find(|f| f.name == e.key) {
            Some(f) => check_value(&key_path, &f.kind, &e.node, issues),
            None => {
                let names = fields.iter().map(|f| f.name);
                let msg = match closest(&e.key, names.clone()) {
                    Some(c) => format!("unknown key; did you mean `{c}`?"),
                    None => format!(
                        "unknown key; expected one of {}",
                        names.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                    ),
                };
                issues.push(Issue::at(&e.key_origin, &key_path, msg));
            }
        }
    }
    for f in fields.iter().filter(|f| f.required) {
        if node.get(f.name).is_none() {
            let key_path = if path.is_empty() { f.name.to_string() } else { format!("{path}.{}", f.name) };
            let what = match f.kind {
                Kind::Table(_) => format!("missing [{}] section ({})", f.name, f.doc),
                _ => format!("missing; expected {} ({})", expected(&f.kind), f.doc),
            };
            let origin = if node.origin.span.is_empty() { None } else { Some(&node.origin) };
            issues.push(Issue::maybe_at(origin, &key_path, what));
        }
    }
}

/// Checks the whole tree against the schema.
pub fn check(root: &Node, fields: &[Field], issues: &mut Issues) {
    check_table("", fields, root, issues);
}

/// The node of a dotted key path, for messages of later stages. A part `key "name"` is the
/// element of the `[[key]]` array with that name (`stream "gate".zone "door".classes`).
pub fn origin_node<'a>(node: &'a Node, path: &[&str]) -> Option<&'a Node> {
    let mut n = node;
    for p in path {
        n = match p.split_once(" \"") {
            Some((key, rest)) => {
                let name = rest.strip_suffix('"')?;
                let Value::Array(items) = &n.get(key)?.value else { return None };
                items
                    .iter()
                    .find(|it| matches!(it.get("name").map(|v| &v.value), Some(Value::Str(s)) if s.trim() == name))?
            }
            None => n.get(p)?,
        };
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::{closest, origin_node};
    use crate::config::tree::parse;

    /// Later stages' errors get their file:line from this node (`Loaded::locate`).
    #[test]
    fn origin_node_follows_a_dotted_path() {
        let (root, errors) = parse("[model]\npath = \"m.onnx\"\n\n[model.input]\nmean = [1, 2, 3]\n", 0);
        assert!(errors.is_empty(), "{errors:?}");
        let mean = origin_node(&root, &["model", "input", "mean"]).expect("model.input.mean");
        let path = origin_node(&root, &["model", "path"]).expect("model.path");
        assert!(mean.origin.span.start > path.origin.span.start, "{:?} {:?}", mean.origin, path.origin);
        assert!(origin_node(&root, &["model", "nope"]).is_none());
        assert!(origin_node(&root, &["model", "path", "deeper"]).is_none());
        let text =
            "[[stream]]\nname = \"a\"\n[[stream]]\nname = \"b\"\n[[stream.zone]]\nname = \"z\"\nclasses = [\"x\"]\n";
        let (root, _) = parse(text, 0);
        let classes = origin_node(&root, &["stream \"b\"", "zone \"z\"", "classes"]).expect("by name");
        assert_eq!(&text[classes.origin.span.clone()], "[\"x\"]");
        assert!(origin_node(&root, &["stream \"c\"", "zone \"z\""]).is_none());
    }

    #[test]
    fn did_you_mean() {
        let names = ["person", "bicycle", "car", "sports ball", "score_threshold"];
        assert_eq!(closest("persn", names), Some("person"));
        assert_eq!(closest("sport ball", names), Some("sports ball"));
        assert_eq!(closest("scor_threshold", names), Some("score_threshold"));
        assert_eq!(closest("zebra", names), None);
    }
}
