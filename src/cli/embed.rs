//! `embed`: sentences in, one JSON line per sentence out.

use sentence_multitask::Result;
use serde_json::json;

use super::lines::InputArgs;
use super::WeightsArg;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    weights: WeightsArg,
    #[command(flatten)]
    input: InputArgs,
    /// Threads for the matrix products (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: Option<u32>,
}

pub fn run(args: Args) -> Result<()> {
    if let Some(n) = args.threads {
        sentence_multitask::model::encoder::set_threads(n);
    }
    let encoder = args.weights.load()?;
    let batch_size = args.input.batch_size as usize;
    args.input.process(|texts| {
        Ok(encoder
            .embed(texts, batch_size)?
            .into_iter()
            .zip(texts)
            .map(|(e, text)| json!({"text": text, "tokens": e.tokens, "embedding": e.vector}))
            .collect())
    })
}
