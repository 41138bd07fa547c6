//! Input and output shared by `embed` and `predict`: sentences in, one JSON
//! object per sentence out, in chunks so memory stays flat.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use sentence_multitask::data::input::{LineFormat, Sentences};
use sentence_multitask::{Error, Result};

/// Sentences read and processed per round.
const CHUNK: usize = 1024;

/// Where sentences come from and how lines hold them.
#[derive(clap::Args)]
pub struct InputArgs {
    /// Read sentences from FILE instead of stdin.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Each input line is a JSON object with a "text" field.
    #[arg(long)]
    jsonl: bool,
    /// Sentences per encoder batch (texts of similar length are batched together).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch_size: u32,
}

impl InputArgs {
    fn open(&self) -> Result<Sentences<Box<dyn BufRead>>> {
        let format = if self.jsonl {
            LineFormat::Jsonl
        } else {
            LineFormat::Plain
        };
        let (reader, name): (Box<dyn BufRead>, String) = match &self.input {
            Some(path) => {
                let file = File::open(path).map_err(Error::io(path.clone()))?;
                (Box::new(BufReader::new(file)), path.display().to_string())
            }
            None => (Box::new(std::io::stdin().lock()), "<stdin>".into()),
        };
        Ok(Sentences::new(reader, name, format))
    }

    /// Calls `render` on each chunk of sentences and writes the JSON values it
    /// returns, one per line, to stdout. The input file is opened before any work.
    pub fn process(
        &self,
        mut render: impl FnMut(&[String]) -> Result<Vec<serde_json::Value>>,
    ) -> Result<()> {
        let mut sentences = self.open()?;
        let stdout = std::io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        let written = (|| {
            loop {
                let chunk = sentences.by_ref().take(CHUNK).collect::<Result<Vec<_>>>()?;
                if chunk.is_empty() {
                    break;
                }
                for value in render(&chunk)? {
                    serde_json::to_writer(&mut out, &value).map_err(|e| stdout_error(e.into()))?;
                    out.write_all(b"\n").map_err(stdout_error)?;
                }
            }
            out.flush().map_err(stdout_error)
        })();
        match written {
            // A reader that went away (`| head`) is not an error worth reporting.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
                Ok(())
            }
            other => other,
        }
    }
}

fn stdout_error(source: std::io::Error) -> Error {
    Error::Io {
        path: "<stdout>".into(),
        source,
    }
}
