//! `eval`: a head's metrics on a labelled file.

use std::path::PathBuf;

use sentence_multitask::model::head_inputs;
use sentence_multitask::model::heads::read_heads;
use sentence_multitask::training::metrics::Metrics;
use sentence_multitask::training::trainer::predict_classes;
use sentence_multitask::{Encoder, Error, Result};

use super::cache::CacheArgs;
use super::WeightsArg;
use sentence_multitask::data::files::{label_indices, read};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    weights: WeightsArg,
    /// The head to evaluate (NAME.json or NAME.safetensors, or a directory holding one head).
    #[arg(long, value_name = "PATH")]
    head: PathBuf,
    /// Labelled data.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Format of --data: sst2, ag-news, jsonl or csv (guessed from the extension if absent).
    #[arg(long)]
    format: Option<String>,
    /// Skip (and count) malformed rows instead of stopping at the first.
    #[arg(long)]
    skip_malformed: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(args: Args) -> Result<()> {
    let files = args.weights.files()?;
    let encoder = Encoder::from_files(&files)?;
    let mut heads = read_heads(&args.head, &encoder.encoder_ref())?;
    if heads.len() != 1 {
        return Err(Error::InvalidArgument {
            what: "--head".into(),
            reason: format!(
                "{} holds {} heads; name one file",
                args.head.display(),
                heads.len()
            ),
        });
    }
    let head = heads.remove(0);
    encoder.check_head(&head)?;
    let file = read(&args.data, args.format.as_deref(), args.skip_malformed)?;
    let gold = label_indices(&file.examples, head.labels(), &args.data)?;
    let texts: Vec<String> = file.examples.into_iter().map(|e| e.text).collect();
    let cache = args.cache.open(&files);
    let x = match head.adapter() {
        Some(_) => head_inputs(&encoder, &head, &texts)?,
        None => cache.embed(&encoder, &texts, "evaluation data")?,
    };
    let predicted = predict_classes(&head, &x)?;
    let metrics = Metrics::compute(head.labels(), &gold, &predicted);
    let mut out = serde_json::to_value(&metrics).map_err(|e| Error::InvalidArgument {
        what: "metrics".into(),
        reason: e.to_string(),
    })?;
    out["head"] = head.name().into();
    out["skipped"] = file.skipped.into();
    println!("{out}");
    Ok(())
}
