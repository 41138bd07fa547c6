//! The studies behind DISCUSSION.md, written as results.json, tables.md and
//! SVG charts (`make experiments`; `--quick` on small subsets).

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;
use sentence_multitask::data::{AG_NEWS_LABELS, SST2_LABELS};
use sentence_multitask::model::heads::{Activation, Architecture};
use sentence_multitask::{Encoder, Error, Result};
use sentence_multitask_studies::sentences::whole_sentences;
use sentence_multitask_studies::{
    example_files, extend_few_shot, report, rerun, run_all, Host, Lab, Plan, Rerun, Results,
    TaskData,
};
use serde_json::json;

use clap::Parser;
use sentence_multitask::data::files::{label_indices, read};
use sentence_multitask::training::cache::EmbeddingCache;
use sentence_multitask::training::defaults::Holdout;
use sentence_multitask::ModelFiles;

/// Where the data lives unless `--data-dir` says otherwise.
const DEFAULT_DATA: &str = "../shared/data";

#[derive(Parser)]
#[command(
    name = "sentence-multitask-studies",
    about = "The studies behind DISCUSSION.md: what to train and freeze, multi-task \
             or single-task, few examples next to many"
)]
struct Args {
    /// Directory holding config.json, tokenizer.json and model.safetensors.
    #[arg(long, env = "SENTENCE_MULTITASK_WEIGHTS", default_value = "weights")]
    weights: PathBuf,
    /// Directory with ag_news/train_subset20k.csv, sst2/train.tsv and sst2/dev.tsv.
    #[arg(long, default_value = DEFAULT_DATA)]
    data_dir: PathBuf,
    /// Task A's data (AG News CSV) instead of the one in --data-dir; its last
    /// 10% of each class is the evaluation set.
    #[arg(long, value_name = "FILE")]
    ag_news: Option<PathBuf>,
    /// Task B's training data (SST-2 TSV) instead of the one in --data-dir; only
    /// its whole sentences (rows inside no other row) are used.
    #[arg(long, value_name = "FILE")]
    sst2_train: Option<PathBuf>,
    /// Task B's evaluation data (SST-2 TSV) instead of the one in --data-dir.
    #[arg(long, value_name = "FILE")]
    sst2_dev: Option<PathBuf>,
    /// Run every study on small subsets (minutes instead of an hour).
    #[arg(long)]
    quick: bool,
    /// Threads for encoder work (heads alone always train on one).
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Directory for results.json, tables.md and the charts.
    #[arg(long, default_value = "target/experiments")]
    out: PathBuf,
    /// Run nothing: redraw tables.md and the charts in --out from this
    /// results.json of an earlier run (after changing how they are drawn).
    #[arg(long, value_name = "FILE")]
    from_results: Option<PathBuf>,
    /// Run nothing: write the examples study (h) teaches at each size (one
    /// file per task, size and seed) and each task's evaluation set into this
    /// directory, as JSON lines for an outside trainer (the SetFit anchor).
    #[arg(long, value_name = "DIR")]
    few_shot_files: Option<PathBuf>,
    /// Run the study named by --study alone, with the plan of this
    /// results.json of an earlier run but that study's settings as they are
    /// now, and write that run's results with the study replaced into --out.
    #[arg(long, value_name = "FILE", requires = "study")]
    rerun: Option<PathBuf>,
    /// The study --rerun runs.
    #[arg(long, value_enum, requires = "rerun")]
    study: Option<Rerun>,
    /// With --rerun and --study few-shot: add (h)'s lessons with adapters of
    /// these depths (0: the head alone) to the earlier run's instead of
    /// rerunning it, at --few-shot-sizes.
    #[arg(long, value_delimiter = ',', requires_all = ["few_shot_sizes", "rerun"])]
    few_shot_layers: Vec<usize>,
    /// The sizes (examples a class) of --few-shot-layers.
    #[arg(long, value_delimiter = ',', requires = "few_shot_layers")]
    few_shot_sizes: Vec<usize>,
    /// Directory for cached embeddings.
    #[arg(long, default_value = "target/embedding-cache")]
    cache_dir: PathBuf,
}

/// The CLI's side of the studies: cached embeddings, threads, a log on stderr.
struct CliHost<'a> {
    cache: EmbeddingCache,
    encoder: &'a Encoder,
    threads: u32,
    start: Instant,
}

impl Host for CliHost<'_> {
    fn embed(&self, texts: &[String], what: &str) -> Result<Tensor> {
        self.cache.embed(self.encoder, texts, what)
    }

    fn heads_only(&self, heads_only: bool) {
        sentence_multitask::model::encoder::set_threads(if heads_only { 1 } else { self.threads });
    }

    fn log(&self, message: &str) {
        eprintln!("[{:6.0} s] {message}", self.start.elapsed().as_secs_f64());
    }
}

/// Texts and class indices of `rows` of a file's examples.
fn pick(texts: &[String], labels: &[usize], rows: &[usize]) -> (Vec<String>, Vec<usize>) {
    rows.iter().map(|&r| (texts[r].clone(), labels[r])).unzip()
}

/// Texts and class indices of a whole labelled file.
fn labelled(path: &Path, format: &str, names: &[String]) -> Result<(Vec<String>, Vec<usize>)> {
    let file = read(path, Some(format), false)?;
    let labels = label_indices(&file.examples, names, path)?;
    Ok((file.examples.into_iter().map(|e| e.text).collect(), labels))
}

/// Task A (AG News, split as `train --val-fraction 0.1` splits it, so the
/// embedding cache is shared) and task B (the whole sentences of SST-2
/// train, scored on dev).
fn load_tasks(args: &Args) -> Result<[TaskData; 2]> {
    let names = |labels: &[&str]| labels.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let topic_labels = names(&AG_NEWS_LABELS);
    let ag = args
        .ag_news
        .clone()
        .unwrap_or_else(|| args.data_dir.join("ag_news/train_subset20k.csv"));
    let (texts, labels) = labelled(&ag, "ag-news", &topic_labels)?;
    let (train, val) = Holdout::LastOfEachClass(0.1).split(&labels, topic_labels.len());
    let (train_texts, train_labels) = pick(&texts, &labels, &train);
    let (eval_texts, eval_labels) = pick(&texts, &labels, &val);
    let topic = TaskData {
        name: "topic".into(),
        labels: topic_labels,
        architecture: Architecture::Mlp {
            hidden: 256,
            activation: Activation::Gelu,
            dropout: 0.1,
        },
        train_texts,
        train_labels,
        eval_texts,
        eval_labels,
    };
    let sentiment_labels = names(&SST2_LABELS);
    let sst_train = args
        .sst2_train
        .clone()
        .unwrap_or_else(|| args.data_dir.join("sst2/train.tsv"));
    let sst_dev = args
        .sst2_dev
        .clone()
        .unwrap_or_else(|| args.data_dir.join("sst2/dev.tsv"));
    let (texts, labels) = labelled(&sst_train, "sst2", &sentiment_labels)?;
    let (train_texts, train_labels) = pick(&texts, &labels, &whole_sentences(&texts));
    let (eval_texts, eval_labels) = labelled(&sst_dev, "sst2", &sentiment_labels)?;
    let sentiment = TaskData {
        name: "sentiment".into(),
        labels: sentiment_labels,
        architecture: Architecture::Linear,
        train_texts,
        train_labels,
        eval_texts,
        eval_labels,
    };
    Ok([topic, sentiment])
}

/// Writes tables.md and the charts of `results` into `out`; returns their paths.
fn write_report(out: &Path, results: &Results, command: &str) -> Result<Vec<PathBuf>> {
    let mut files = vec![(
        "tables.md".to_string(),
        report::markdown(results, command).into_bytes(),
    )];
    files.extend(
        report::charts(results)
            .into_iter()
            .map(|(name, svg)| (name, svg.into_bytes())),
    );
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(Error::io(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// Writes [`example_files`] at each of the plan's few-shot sizes into `dir`.
fn write_example_files(dir: &Path, lab: &Lab) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut written = Vec::new();
    for (name, rows) in example_files(lab, &lab.plan.few_shot_per_class) {
        let path = dir.join(name);
        let lines: Vec<String> = rows.iter().map(|r| r.to_string() + "\n").collect();
        std::fs::write(&path, lines.concat()).map_err(Error::io(&path))?;
        written.push(path);
    }
    println!("{}", json!({ "files": written }));
    Ok(())
}

fn json_error(e: serde_json::Error) -> Error {
    Error::InvalidArgument {
        what: "results".into(),
        reason: e.to_string(),
    }
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// An earlier run's results.json: the results and the command that made them.
fn read_results(path: &Path) -> Result<(Results, String)> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(json_error)?;
    let command = value["command"].as_str().unwrap_or_default().to_string();
    Ok((serde_json::from_value(value).map_err(json_error)?, command))
}

/// Writes results.json (with `command`), tables.md and the charts into `out`.
fn write_all(out: &Path, results: &Results, command: &str) -> Result<()> {
    let mut value = serde_json::to_value(results).map_err(json_error)?;
    value["command"] = json!(command);
    let path = out.join("results.json");
    let pretty = serde_json::to_string_pretty(&value).map_err(json_error)? + "\n";
    std::fs::write(&path, pretty).map_err(Error::io(&path))?;
    let mut written = vec![path];
    written.extend(write_report(out, results, command)?);
    println!(
        "{}",
        json!({"out": out, "files": written, "seconds": results.seconds})
    );
    Ok(())
}

fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.out).map_err(Error::io(&args.out))?;
    if let Some(path) = &args.from_results {
        let (results, command) = read_results(path)?;
        let written = write_report(&args.out, &results, &command)?;
        println!("{}", json!({"out": args.out, "files": written}));
        return Ok(());
    }
    let files = ModelFiles::read_dir(&args.weights)?;
    let encoder = Encoder::from_files(&files)?;
    let backend = CliHost {
        cache: EmbeddingCache::new(Some(args.cache_dir.clone()), &files),
        encoder: &encoder,
        threads: args.threads.max(1),
        start: Instant::now(),
    };
    backend.heads_only(false);
    let tasks = load_tasks(&args)?;
    if let (Some(path), Some(study)) = (&args.rerun, args.study) {
        let (earlier, command) = read_results(path)?;
        let results = match study {
            Rerun::FewShot if !args.few_shot_layers.is_empty() => {
                let (layers, sizes) = (&args.few_shot_layers, &args.few_shot_sizes);
                extend_few_shot(&encoder, &backend, tasks, earlier, layers, sizes)?
            }
            _ if !args.few_shot_layers.is_empty() => {
                return Err(Error::InvalidArgument {
                    what: "--few-shot-layers".into(),
                    reason: "adds points to study (h): use it with --study few-shot".into(),
                })
            }
            _ => rerun(&encoder, &backend, tasks, earlier, study)?,
        };
        return write_all(&args.out, &results, &command);
    }
    let plan = if args.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    if let Some(dir) = &args.few_shot_files {
        return write_example_files(dir, &Lab::new(&encoder, &backend, tasks, plan)?);
    }
    let results = run_all(&encoder, &backend, tasks, plan)?;
    let command = std::env::args()
        .enumerate()
        .map(|(i, a)| {
            if i == 0 {
                "sentence-multitask-studies".into()
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    write_all(&args.out, &results, &command)
}
