//! `replay-set`: stored f16 embeddings of some of a head's training data, which
//! the page mixes into training so a default head keeps its classes when a
//! person teaches it new ones (also used to write held-out sets).

use std::path::PathBuf;

use sentence_multitask::model::head_inputs;
use sentence_multitask::model::heads::Head;
use sentence_multitask::training::features::select_rows;
use sentence_multitask::training::replay::ReplaySet;
use sentence_multitask::{Encoder, Error, Result};

use super::cache::CacheArgs;
use super::WeightsArg;
use sentence_multitask::data::files::{label_indices, read};
use sentence_multitask::training::defaults::Holdout;

/// Which part of the per-class split to draw from.
#[derive(Clone, Copy, clap::ValueEnum)]
enum PartArg {
    /// The first (1 - val-fraction) of each class: what the head trained on.
    Train,
    /// The last val-fraction of each class: held out.
    Val,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    weights: WeightsArg,
    /// Name of the head the set belongs to.
    #[arg(long)]
    head: String,
    /// Labelled data.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Format of --data: sst2, ag-news, jsonl or csv (guessed from the extension if absent).
    #[arg(long)]
    format: Option<String>,
    /// Split each class (last fraction held out, as `train --val-fraction` does); 0 uses the whole file.
    #[arg(long, default_value_t = 0.0)]
    val_fraction: f64,
    /// Part of the split to draw from.
    #[arg(long, value_enum, default_value = "train")]
    part: PartArg,
    /// Examples per class, evenly spaced through the part.
    #[arg(long, default_value_t = 128)]
    per_class: usize,
    /// The head the set is for, when it has an adapter: rows are then stored
    /// as its adapter's outputs (what the head reads), not the shared embedding.
    #[arg(long, value_name = "FILE")]
    head_file: Option<PathBuf>,
    /// Output file (.safetensors).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(args: Args) -> Result<()> {
    if args.per_class == 0 || !(0.0..1.0).contains(&args.val_fraction) {
        return Err(Error::InvalidArgument {
            what: "--per-class / --val-fraction".into(),
            reason: "need per-class >= 1 and val-fraction in [0, 1)".into(),
        });
    }
    let files = args.weights.files()?;
    let encoder = Encoder::from_files(&files)?;
    let file = read(&args.data, args.format.as_deref(), false)?;
    let classes = label_indices(&file.examples, &file.labels, &args.data)?;
    let (train, val) =
        Holdout::LastOfEachClass(args.val_fraction).split(&classes, file.labels.len());
    let part = match args.part {
        PartArg::Train => train,
        PartArg::Val => val,
    };
    // Positions within the part, evenly spaced through each class.
    let mut rows = Vec::new();
    for class in 0..file.labels.len() {
        let members: Vec<usize> = (0..part.len())
            .filter(|&k| classes[part[k]] == class)
            .collect();
        let take = args.per_class.min(members.len());
        rows.extend((0..take).map(|k| members[k * members.len() / take]));
    }
    // The part's texts in file order, as `train` embeds them, so the cache answers.
    let texts: Vec<String> = part
        .iter()
        .map(|&i| file.examples[i].text.clone())
        .collect();
    let adapted = match &args.head_file {
        Some(path) => Some(Head::read(path, &encoder.encoder_ref())?),
        None => None,
    };
    let stored = match adapted.filter(|h| h.adapter().is_some()) {
        // Through the adapter: only the rows kept.
        Some(head) => {
            encoder.check_head(&head)?;
            let kept: Vec<&String> = rows.iter().map(|&r| &texts[r]).collect();
            head_inputs(&encoder, &head, &kept)?
        }
        None => select_rows(
            &args.cache.open(&files).embed(&encoder, &texts, "data")?,
            &rows,
        )?,
    };
    let set = ReplaySet::new(
        &args.head,
        file.labels,
        stored,
        rows.iter().map(|&r| classes[part[r]]).collect(),
    )?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    let bytes = set.to_safetensors(&encoder.encoder_ref())?;
    std::fs::write(&args.out, &bytes).map_err(Error::io(&args.out))?;
    println!(
        "{}",
        serde_json::json!({"out": args.out.display().to_string(), "rows": rows.len(), "bytes": bytes.len()})
    );
    Ok(())
}
