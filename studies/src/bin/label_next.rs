//! "Label next", measured: labelling the pool sentences a head is least sure
//! about (smallest margin between its two likeliest classes, as the page
//! suggests them) against labelling random ones, at equal counts. Every
//! lesson is the page's own (a new task, the library's defaults, `teach`),
//! scored on validation data only: AG News's last 500 of each class of
//! `train_subset20k.csv` (the pool is drawn from the rest) and SST-2 phrases
//! of 8 words or more from `train.tsv` as the pool, scored on `dev.tsv`.
//! A seed fixes the starting examples, the pool and the random picks, and
//! both strategies share it, so each count is a paired comparison.
//!
//! `make label-next` prints one JSON line per task and count, and the table.

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use clap::Parser;
use sentence_multitask::data::files::{label_indices, read};
use sentence_multitask::model::encoder::Encoder;
use sentence_multitask::model::heads::{EncoderRef, Head};
use sentence_multitask::model::weights::ModelFiles;
use sentence_multitask::rng::Rng;
use sentence_multitask::training::cache::EmbeddingCache;
use sentence_multitask::training::features::select_rows;
use sentence_multitask::training::lesson::{new_task_head, teach, LessonConfig};
use sentence_multitask::training::trainer::{predict_classes, Control};
use sentence_multitask::Result;
use sentence_multitask_studies::stats::{interval95, mean_sd};

#[derive(Parser)]
#[command(about = "Label next, measured: least sure first against random, at equal counts")]
struct Args {
    /// Directory holding config.json, tokenizer.json and model.safetensors.
    #[arg(long, default_value = "weights")]
    weights: PathBuf,
    /// Directory with ag_news/train_subset20k.csv, sst2/train.tsv and sst2/dev.tsv.
    #[arg(long, default_value = "../shared/data")]
    data_dir: PathBuf,
    /// Directory for cached embeddings.
    #[arg(long, default_value = "target/embedding-cache")]
    cache_dir: PathBuf,
    /// Seeds (each a paired run of both strategies).
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// Sentences in the unlabelled pool of each run.
    #[arg(long, default_value_t = 1000)]
    pool: usize,
}

/// One task's pool and validation set, embedded.
struct Task {
    name: &'static str,
    encoder: EncoderRef,
    labels: Vec<String>,
    pool: (Tensor, Vec<usize>),
    val: (Tensor, Vec<usize>),
}

/// `(texts, classes)` of a labelled file, and its label names.
fn labelled(path: &Path, format: &str) -> Result<(Vec<String>, Vec<usize>, Vec<String>)> {
    let file = read(path, Some(format), false)?;
    let classes = label_indices(&file.examples, &file.labels, path)?;
    let texts = file.examples.into_iter().map(|e| e.text).collect();
    Ok((texts, classes, file.labels))
}

fn embed(
    encoder: &Encoder,
    cache: &EmbeddingCache,
    texts: &[String],
    rows: &[usize],
) -> Result<Tensor> {
    let picked: Vec<String> = rows.iter().map(|&r| texts[r].clone()).collect();
    cache.embed(encoder, &picked, "label-next")
}

/// AG News (last 500 of each class validate) and SST-2 (long train phrases; dev validates).
fn tasks(args: &Args, encoder: &Encoder, cache: &EmbeddingCache) -> Result<Vec<Task>> {
    let ag = args.data_dir.join("ag_news/train_subset20k.csv");
    let (texts, classes, labels) = labelled(&ag, "ag-news")?;
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); labels.len()];
    for (i, &c) in classes.iter().enumerate() {
        by_class[c].push(i);
    }
    let val: Vec<usize> = by_class
        .iter()
        .flat_map(|m| m[m.len().saturating_sub(500)..].to_vec())
        .collect();
    let mut rest: Vec<usize> = by_class
        .iter()
        .flat_map(|m| m[..m.len().saturating_sub(500)].to_vec())
        .collect();
    Rng::new(7).shuffle(&mut rest);
    rest.truncate(2 * args.pool);
    let ag_news = Task {
        name: "AG News",
        encoder: encoder.encoder_ref(),
        labels,
        pool: (embed(encoder, cache, &texts, &rest)?, pick(&classes, &rest)),
        val: (embed(encoder, cache, &texts, &val)?, pick(&classes, &val)),
    };
    let (texts, classes, labels) = labelled(&args.data_dir.join("sst2/train.tsv"), "sst2")?;
    let mut long: Vec<usize> = (0..texts.len())
        .filter(|&i| texts[i].split_whitespace().count() >= 8)
        .collect();
    Rng::new(7).shuffle(&mut long);
    long.truncate(2 * args.pool);
    let pool = (embed(encoder, cache, &texts, &long)?, pick(&classes, &long));
    let (dev, dev_classes, _) = labelled(&args.data_dir.join("sst2/dev.tsv"), "sst2")?;
    let all: Vec<usize> = (0..dev.len()).collect();
    let sst2 = Task {
        name: "SST-2",
        encoder: encoder.encoder_ref(),
        labels,
        pool,
        val: (embed(encoder, cache, &dev, &all)?, dev_classes),
    };
    Ok(vec![ag_news, sst2])
}

fn pick(classes: &[usize], rows: &[usize]) -> Vec<usize> {
    rows.iter().map(|&r| classes[r]).collect()
}

/// The page's lesson for a new task on `rows` of the pool; its head.
fn lesson(task: &Task, rows: &[usize]) -> Result<Head> {
    let labels: Vec<String> = rows
        .iter()
        .map(|&r| task.labels[task.pool.1[r]].clone())
        .collect();
    let config = LessonConfig {
        classes: Some(task.labels.clone()),
        ..LessonConfig::default()
    };
    let start = new_task_head("next", &labels, &config, task.encoder.clone())?;
    let x = select_rows(&task.pool.0, rows)?;
    let taught = teach(&start, &x, &labels, None, &config, &mut |_| {
        Control::Continue
    })?;
    Ok(taught.head.unwrap_or(start))
}

fn accuracy(head: &Head, (x, y): &(Tensor, Vec<usize>)) -> Result<f64> {
    let predicted = predict_classes(head, x)?;
    let right = predicted.iter().zip(y).filter(|(p, g)| p == g).count();
    Ok(right as f64 / y.len() as f64)
}

/// Pool rows not yet labelled, least sure first (margin of the two likeliest).
fn least_sure(head: &Head, task: &Task, candidates: &[usize]) -> Result<Vec<usize>> {
    let probs = head
        .probabilities(&select_rows(&task.pool.0, candidates)?)?
        .to_vec2::<f32>()?;
    let mut scored: Vec<(f32, usize)> = probs
        .iter()
        .zip(candidates)
        .map(|(p, &r)| {
            let mut sorted = p.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            (sorted[0] - sorted.get(1).copied().unwrap_or(0.0), r)
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(scored.into_iter().map(|(_, r)| r).collect())
}

/// Validation accuracy after each round of one strategy: 2 a class to
/// start, then rounds of one sentence a class chosen by `least` (else at
/// random), up to 16 a class.
fn run(task: &Task, seed: u64, pool: usize, least: bool) -> Result<Vec<(usize, f64)>> {
    let mut rng = Rng::new(seed);
    let mut order: Vec<usize> = (0..task.pool.1.len()).collect();
    rng.shuffle(&mut order);
    let classes = task.labels.len();
    let mut labelled: Vec<usize> = Vec::new();
    for c in 0..classes {
        labelled.extend(order.iter().filter(|&&r| task.pool.1[r] == c).take(2));
    }
    let mut unlabelled: Vec<usize> = order
        .into_iter()
        .filter(|r| !labelled.contains(r))
        .take(pool)
        .collect();
    let mut curve = Vec::new();
    loop {
        let head = lesson(task, &labelled)?;
        curve.push((labelled.len(), accuracy(&head, &task.val)?));
        if labelled.len() >= 16 * classes {
            return Ok(curve);
        }
        let next: Vec<usize> = if least {
            least_sure(&head, task, &unlabelled)?
                .into_iter()
                .take(classes)
                .collect()
        } else {
            unlabelled[..classes].to_vec()
        };
        unlabelled.retain(|r| !next.contains(r));
        labelled.extend(next);
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let files = ModelFiles::read_dir(&args.weights)?;
    let encoder = Encoder::from_files(&files)?;
    let cache = EmbeddingCache::new(Some(args.cache_dir.clone()), &files);
    println!("# Label next: least sure first against random\n");
    println!(
        "Written by `make label-next` (studies/src/bin/label_next.rs), {} paired seeds.\n\
         Validation accuracy (mean ± sd over seeds) of the page's lesson for a new task\n\
         after labelling this many sentences: 2 a class at random to start, then one a\n\
         class per round, at random or least sure first (the smallest margin between the\n\
         two likeliest classes, as the page suggests). AG News: {pool} of\n\
         `train_subset20k.csv` as the pool, the last 500 of each class validate; SST-2:\n\
         {pool} phrases of 8 words or more of `train.tsv` as the pool, `dev.tsv`\n\
         validates. The interval is Student's t over the paired differences.\n",
        args.seeds,
        pool = args.pool
    );
    println!("| task | labelled | random | least sure first | least sure − random, 95% interval |");
    println!("|---|---|---|---|---|");
    for task in tasks(&args, &encoder, &cache)? {
        let mut random = Vec::new();
        let mut least = Vec::new();
        for seed in 0..args.seeds {
            random.push(run(&task, seed, args.pool, false)?);
            least.push(run(&task, seed, args.pool, true)?);
        }
        for step in 0..random[0].len() {
            let count = random[0][step].0;
            let r: Vec<f64> = random.iter().map(|c| c[step].1).collect();
            let l: Vec<f64> = least.iter().map(|c| c[step].1).collect();
            let d: Vec<f64> = l.iter().zip(&r).map(|(a, b)| a - b).collect();
            let ((rm, rs), (lm, ls), dm) = (mean_sd(&r), mean_sd(&l), mean_sd(&d).0);
            let half = interval95(&d);
            eprintln!(
                "{}",
                serde_json::json!({"task": task.name, "labelled": count, "random": r, "least_sure": l})
            );
            println!(
                "| {} | {count} | {rm:.3} ± {rs:.3} | {lm:.3} ± {ls:.3} | {dm:+.3} [{:+.3}, {:+.3}] |",
                task.name,
                dm - half,
                dm + half
            );
        }
    }
    Ok(())
}
