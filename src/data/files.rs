//! Labelled data files read from disk, with their label lists (native).

use std::path::Path;

use crate::data::{self, DataFormat, Example, AG_NEWS_LABELS, SST2_LABELS};
use crate::error::{Error, Result};

/// A labelled file, read.
pub struct LabelledFile {
    /// Examples in file order.
    pub examples: Vec<Example>,
    /// Its labels: the format's own list, else in order of first appearance.
    pub labels: Vec<String>,
    /// Malformed rows skipped (with --skip-malformed).
    pub skipped: usize,
}

/// Reads `path` in `format` (guessed from the extension when None).
pub fn read(path: &Path, format: Option<&str>, skip_malformed: bool) -> Result<LabelledFile> {
    let name = path.display().to_string();
    let format = match format {
        Some(f) => DataFormat::parse(f).ok_or_else(|| Error::InvalidArgument {
            what: "--format".into(),
            reason: format!("{f:?} is not one of sst2, ag-news, jsonl, csv"),
        })?,
        None => DataFormat::guess(&name).ok_or_else(|| Error::InvalidArgument {
            what: "--format".into(),
            reason: format!("cannot tell the format of {name} from its extension; pass --format"),
        })?,
    };
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let set = data::read_examples(&bytes, &name, format, skip_malformed)?;
    let labels: Vec<String> = match format {
        DataFormat::Sst2 => SST2_LABELS.iter().map(|s| s.to_string()).collect(),
        DataFormat::AgNews => AG_NEWS_LABELS.iter().map(|s| s.to_string()).collect(),
        DataFormat::Jsonl | DataFormat::Csv => {
            let mut labels: Vec<String> = Vec::new();
            for e in &set.examples {
                if !labels.contains(&e.label) {
                    labels.push(e.label.clone());
                }
            }
            labels
        }
    };
    Ok(LabelledFile {
        examples: set.examples,
        labels,
        skipped: set.skipped,
    })
}

/// Class indices of `examples` under `labels`; a label the list lacks is an error.
pub fn label_indices(examples: &[Example], labels: &[String], source: &Path) -> Result<Vec<usize>> {
    examples
        .iter()
        .map(|e| {
            labels
                .iter()
                .position(|l| *l == e.label)
                .ok_or_else(|| Error::InvalidArgument {
                    what: format!("labels of {}", source.display()),
                    reason: format!("{:?} is not one of the head's labels {labels:?}", e.label),
                })
        })
        .collect()
}
