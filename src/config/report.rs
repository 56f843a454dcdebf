//! The resolved configuration as `edgesight check` prints it: every key with its value and the
//! file and line that set it, or "default".

use std::fmt::Write as _;

use super::schema::{Field, Kind, ROOT};
use super::tree::{Node, Value};
use super::{Layers, Loaded};
use crate::capture::uri::{MASK, redact};

fn render(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("{s:?}"),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Datetime(d) => d.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(|n| render(&n.value)).collect::<Vec<_>>().join(", ")),
        Value::Table(entries) => format!(
            "{{ {} }}",
            entries.iter().map(|e| format!("{:?} = {}", e.key, render(&e.node.value))).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn line(out: &mut String, key: &str, value: &str, from: &str) {
    let left = format!("{key} = {value}");
    let _ = writeln!(out, "{left:<56} # {from}");
}

fn table(out: &mut String, fields: &[Field], node: Option<&Node>, layers: &Layers) {
    for f in fields {
        if matches!(f.kind, Kind::Table(_) | Kind::TableArray(_)) {
            continue;
        }
        let set = node.and_then(|n| n.get(f.name));
        match set {
            Some(n) => {
                // Passwords are never shown, source addresses without their credentials.
                let mut value = match (&f.kind, &n.value) {
                    (Kind::Secret, _) => format!("\"{MASK}\""),
                    (Kind::Uri, Value::Str(s)) => format!("{:?}", redact(s)),
                    _ => render(&n.value),
                };
                if matches!(f.kind, Kind::Path)
                    && let Value::Str(s) = &n.value
                {
                    let p = std::path::Path::new(s);
                    if !p.is_absolute() {
                        value = format!("{:?}", layers.dir_of(&n.origin).join(p).display().to_string());
                    }
                }
                line(out, f.name, &value, &layers.position(&n.origin));
            }
            None if f.required => line(out, f.name, "(missing)", "required"),
            None => {
                let _ = writeln!(out, "# {:<54} # default: {}", f.name, f.default);
            }
        }
    }
}

/// The whole resolved configuration, TOML-like, one key per line.
pub fn resolved(loaded: &Loaded) -> String {
    let mut out = String::new();
    let files: Vec<String> = loaded.layers.files.iter().map(|f| f.path.display().to_string()).collect();
    let _ = writeln!(out, "# resolved configuration from {}", files.join(", then "));
    for f in ROOT {
        match &f.kind {
            Kind::Table(fields) => {
                let node = loaded.tree.get(f.name);
                if f.name == "output" {
                    let _ = writeln!(out, "\n[output.jsonl]");
                    let jsonl = node.and_then(|n| n.get("jsonl"));
                    match jsonl {
                        Some(_) => table(&mut out, super::schema::JSONL, jsonl, &loaded.layers),
                        None if node.and_then(|n| n.get("mqtt")).is_some() => {
                            let _ = writeln!(out, "# {:<54} # default: none (only [output.mqtt])", "path");
                        }
                        None => {
                            let _ = writeln!(out, "# {:<54} # default: standard output", "path");
                        }
                    }
                    if let Some(mqtt) = node.and_then(|n| n.get("mqtt")) {
                        let _ = writeln!(out, "\n[output.mqtt]");
                        table(&mut out, super::schema::MQTT, Some(mqtt), &loaded.layers);
                        if let Some(tls) = mqtt.get("tls") {
                            let _ = writeln!(out, "\n[output.mqtt.tls]");
                            table(&mut out, super::schema::MQTT_TLS, Some(tls), &loaded.layers);
                        }
                    }
                    continue;
                }
                let _ = writeln!(out, "\n[{}]", f.name);
                table(&mut out, fields, node, &loaded.layers);
            }
            Kind::TableArray(fields) => {
                let items = match loaded.tree.get(f.name).map(|n| &n.value) {
                    Some(Value::Array(items)) => items.as_slice(),
                    _ => &[],
                };
                for item in items {
                    let _ = writeln!(out, "\n[[{}]]", f.name);
                    table(&mut out, fields, Some(item), &loaded.layers);
                }
            }
            _ => {}
        }
    }
    out
}
