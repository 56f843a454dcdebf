//! Class names: one per line, line n (from 0) naming class id n.

use std::path::Path;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct Labels {
    names: Vec<String>,
}

impl Labels {
    pub fn load(path: &Path) -> Result<Labels> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::model(format!(
                "labels file {}: {e}; set model.labels to a text file with one class name per line",
                path.display()
            ))
        })?;
        let mut names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
        while names.last().is_some_and(|n| n.is_empty()) {
            names.pop();
        }
        if names.is_empty() {
            return Err(Error::model(format!("labels file {} holds no class names", path.display())));
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
