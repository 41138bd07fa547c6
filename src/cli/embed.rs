//! `embed`: sentences in, one JSON line per sentence out.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use sentence_multitask::input::{LineFormat, Sentences};
use sentence_multitask::{Encoder, Error, Result};

use super::WeightsArg;

/// Sentences read and embedded per round, so memory stays flat on large inputs.
const CHUNK: usize = 1024;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    weights: WeightsArg,
    /// Read sentences from FILE instead of stdin.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Each input line is a JSON object with a "text" field.
    #[arg(long)]
    jsonl: bool,
    /// Sentences per encoder batch (texts of similar length are batched together).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch_size: u32,
    /// Threads for the matrix products (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: Option<u32>,
}

#[derive(serde::Serialize)]
struct Line<'a> {
    text: &'a str,
    tokens: usize,
    embedding: &'a [f32],
}

pub fn run(args: Args) -> Result<()> {
    super::set_threads(args.threads);
    let format = if args.jsonl {
        LineFormat::Jsonl
    } else {
        LineFormat::Plain
    };
    let (reader, name): (Box<dyn BufRead>, String) = match &args.input {
        Some(path) => {
            let file = File::open(path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            (Box::new(BufReader::new(file)), path.display().to_string())
        }
        None => (Box::new(std::io::stdin().lock()), "<stdin>".into()),
    };
    let encoder = args.weights.load()?;
    let mut sentences = Sentences::new(reader, name, format);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    loop {
        let chunk = sentences.by_ref().take(CHUNK).collect::<Result<Vec<_>>>()?;
        if chunk.is_empty() {
            break;
        }
        if let Err(e) = write_chunk(&encoder, &chunk, args.batch_size as usize, &mut out) {
            return ignore_broken_pipe(e);
        }
    }
    out.flush().or_else(|e| ignore_broken_pipe(stdout_error(e)))
}

fn write_chunk(
    encoder: &Encoder,
    texts: &[String],
    batch_size: usize,
    out: &mut impl Write,
) -> Result<()> {
    for (text, embedding) in texts.iter().zip(encoder.embed(texts, batch_size)?) {
        let line = Line {
            text,
            tokens: embedding.tokens,
            embedding: &embedding.vector,
        };
        serde_json::to_writer(&mut *out, &line).map_err(|e| stdout_error(e.into()))?;
        out.write_all(b"\n").map_err(stdout_error)?;
    }
    Ok(())
}

fn stdout_error(source: std::io::Error) -> Error {
    Error::Io {
        path: "<stdout>".into(),
        source,
    }
}

/// A reader that went away (`| head`) is not an error worth reporting.
fn ignore_broken_pipe(e: Error) -> Result<()> {
    match &e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(e),
    }
}
