//! `bench`: encoder throughput on a fixed sentence set.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use sentence_multitask::{Error, Result};

use super::WeightsArg;

const DEFAULT_SENTENCES: &str = "tests/fixtures/sentences-64.json";

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    weights: WeightsArg,
    /// JSON array of sentences to embed (default: the 64 benchmark sentences).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_SENTENCES)]
    sentences: PathBuf,
    /// Batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 32])]
    batch_sizes: Vec<u32>,
    /// Thread counts to measure; each runs in a fresh process.
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 2])]
    threads: Vec<u32>,
    /// Passes over the sentences per measurement (after one warm-up pass).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    repeats: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Measurement {
    threads: u32,
    batch_size: u32,
    sentences: usize,
    seconds: f64,
    sentences_per_second: f64,
}

pub fn run(args: Args) -> Result<()> {
    if let [threads] = args.threads[..] {
        return measure_in_process(&args, threads);
    }
    // One process per thread count: the thread pool is fixed once started.
    let exe = std::env::current_exe().map_err(Error::io("current executable"))?;
    let mut all = Vec::new();
    for &threads in &args.threads {
        let batch_sizes: Vec<String> = args.batch_sizes.iter().map(u32::to_string).collect();
        let output = Command::new(&exe)
            .arg("bench")
            .arg("--weights")
            .arg(&args.weights.weights)
            .arg("--sentences")
            .arg(&args.sentences)
            .arg("--batch-sizes")
            .arg(batch_sizes.join(","))
            .arg("--threads")
            .arg(threads.to_string())
            .arg("--repeats")
            .arg(args.repeats.to_string())
            .args(args.weights.compact.then_some("--compact"))
            .output()
            .map_err(Error::io(exe.clone()))?;
        if !output.status.success() {
            return Err(Error::InvalidArgument {
                what: format!("bench with {threads} threads"),
                reason: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Ok(m) = serde_json::from_str::<Measurement>(line) {
                println!("{line}");
                all.push(m);
            }
        }
    }
    print_summary(&all);
    Ok(())
}

fn measure_in_process(args: &Args, threads: u32) -> Result<()> {
    sentence_multitask::model::encoder::set_threads(threads);
    let bytes = std::fs::read(&args.sentences).map_err(Error::io(args.sentences.clone()))?;
    let sentences: Vec<String> = serde_json::from_slice(&bytes).map_err(|e| Error::BadInput {
        source_name: args.sentences.display().to_string(),
        line: e.line(),
        reason: format!("expected a JSON array of strings: {e}"),
    })?;
    let encoder = args.weights.load()?;
    let mut all = Vec::new();
    for &batch_size in &args.batch_sizes {
        let batch_size = batch_size.max(1);
        encoder.embed(&sentences, batch_size as usize)?;
        let start = Instant::now();
        for _ in 0..args.repeats {
            encoder.embed(&sentences, batch_size as usize)?;
        }
        let seconds = start.elapsed().as_secs_f64();
        let n = sentences.len() * args.repeats as usize;
        let m = Measurement {
            threads,
            batch_size,
            sentences: n,
            seconds,
            sentences_per_second: n as f64 / seconds,
        };
        println!("{}", serde_json::to_string(&m).unwrap_or_default());
        all.push(m);
    }
    print_summary(&all);
    Ok(())
}

/// Last line: `{"t1_b1_sps": ..., "t2_b32_sps": ...}`.
fn print_summary(all: &[Measurement]) {
    let summary: serde_json::Map<String, serde_json::Value> = all
        .iter()
        .map(|m| {
            let value = (m.sentences_per_second * 10.0).round() / 10.0;
            (
                format!("t{}_b{}_sps", m.threads, m.batch_size),
                value.into(),
            )
        })
        .collect();
    println!("{}", serde_json::Value::Object(summary));
}
