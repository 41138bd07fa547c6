//! Reading labelled data files for `train` and `eval`.

use std::path::Path;

use sentence_multitask::data::{self, DataFormat, Example, AG_NEWS_LABELS, SST2_LABELS};
use sentence_multitask::{Error, Result};

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

/// Splits off the last `fraction` of each class (in file order) for validation.
/// Returns `(train positions, validation positions)`.
pub fn split_per_class(
    labels: &[usize],
    classes: usize,
    fraction: f64,
) -> (Vec<usize>, Vec<usize>) {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l].push(i);
    }
    let mut train = Vec::new();
    let mut val = Vec::new();
    for members in by_class {
        let n_val = ((members.len() as f64) * fraction).round() as usize;
        let n_val = n_val.min(members.len().saturating_sub(1));
        let (t, v) = members.split_at(members.len() - n_val);
        train.extend_from_slice(t);
        val.extend_from_slice(v);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}
