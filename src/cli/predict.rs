//! `predict`: every head's prediction for each sentence, from one encoder pass.

use std::path::PathBuf;

use sentence_multitask::model::heads::read_heads;
use sentence_multitask::model::MultiTaskModel;
use sentence_multitask::Result;
use serde_json::{json, Map, Value};

use super::lines::InputArgs;
use super::WeightsArg;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    weights: WeightsArg,
    /// A head (NAME.json or NAME.safetensors) or a directory of heads; repeatable
    /// (default: heads/ in the weights directory: topic and sentiment).
    #[arg(long = "head", value_name = "DIR_OR_FILE")]
    heads: Vec<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
    /// Also print each sentence's embedding and word-piece count.
    #[arg(long)]
    with_embedding: bool,
}

pub fn run(args: Args) -> Result<()> {
    let mut model = MultiTaskModel::new(args.weights.load()?);
    let default_heads = [args.weights.weights.join("heads")];
    let heads = if args.heads.is_empty() {
        &default_heads[..]
    } else {
        &args.heads
    };
    for path in heads {
        for head in read_heads(path, &model.encoder.encoder_ref())? {
            model.set_head(head)?;
        }
    }
    let batch_size = args.input.batch_size as usize;
    args.input.process(|texts| {
        let outputs = model.predict(texts, batch_size)?;
        Ok(outputs
            .into_iter()
            .zip(texts)
            .map(|(out, text)| {
                // Each head's answer is the shared `Prediction` shape, the
                // one the page's worker gets from wasm.
                let predictions: Map<String, Value> = out
                    .predictions
                    .into_iter()
                    .map(|(name, p)| (name, json!(p)))
                    .collect();
                let mut line = json!({"text": text, "predictions": predictions});
                if args.with_embedding {
                    line["tokens"] = json!(out.embedding.tokens);
                    line["embedding"] = json!(out.embedding.vector);
                }
                line
            })
            .collect())
    })
}
