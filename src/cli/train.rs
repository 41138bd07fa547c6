//! `train`: one head, or several heads together over one encoder.

use std::collections::BTreeMap;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use sentence_multitask::finetune::LayerFeatures;
use sentence_multitask::heads::{read_heads, Activation, Architecture, Head, TrainingRecord};
use sentence_multitask::train::{
    train, CachedEmbeddings, Control, Features, Progress, Sampling, Split, Task, TrainConfig,
    Trainable,
};
use sentence_multitask::weights::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use sentence_multitask::{Encoder, Error, ModelFiles, Result};
use serde_json::json;

use super::cache::CacheArgs;
use super::datasets::{label_indices, read, split_per_class};
use super::WeightsArg;

#[derive(Clone, Copy, clap::ValueEnum)]
enum ArchKind {
    Linear,
    Mlp,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    weights: WeightsArg,
    /// Name of the head to train (the task); repeat with --data to train several heads together.
    #[arg(long = "head", value_name = "NAME", required = true)]
    heads: Vec<String>,
    /// Training data of each --head, in the same order.
    #[arg(long = "data", value_name = "FILE", required = true)]
    data: Vec<PathBuf>,
    /// Format of each --data file: sst2, ag-news, jsonl or csv (guessed from the
    /// extension if absent: .tsv sst2, .jsonl, .csv); one value applies to all.
    #[arg(long = "format", value_name = "FORMAT")]
    formats: Vec<String>,
    /// Validation data of each --head (instead of --val-fraction).
    #[arg(long = "val", value_name = "FILE", conflicts_with = "val_fraction")]
    val: Vec<PathBuf>,
    /// Hold out this share of each class (the last ones in file order) for validation.
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
    /// Multiplier of each --head's loss (one value per head; default 1).
    #[arg(long = "loss-weight", value_name = "W")]
    loss_weights: Vec<f64>,
    /// Start from existing heads (a head file or a directory) of the same names.
    #[arg(long, value_name = "DIR_OR_FILE")]
    init: Option<PathBuf>,
    /// Keep head NAME unchanged (it must come from --init); it is still validated.
    #[arg(long = "freeze", value_name = "NAME")]
    frozen: Vec<String>,
    /// Head architecture for new heads.
    #[arg(long, value_enum, default_value = "mlp")]
    arch: ArchKind,
    /// Hidden width of an MLP head.
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    /// Dropout of an MLP head while training.
    #[arg(long, default_value_t = 0.1)]
    dropout: f32,
    /// What trains besides the heads: `heads` (encoder frozen, embeddings cached),
    /// `top-K` (the top K encoder layers) or `all`.
    #[arg(long, default_value = "heads", value_parser = parse_trainable)]
    trainable: Trainable,
    /// Batch sampling across heads: proportional, alternating, or temperature:T.
    #[arg(long, default_value = "proportional", value_parser = parse_sampling)]
    sampling: Sampling,
    /// Maximum epochs.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// Examples per step.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    batch_size: usize,
    /// Learning rate of the heads.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    lr: f64,
    /// Learning rate of trainable encoder layers.
    #[arg(long, default_value_t = TrainConfig::default().encoder_learning_rate)]
    encoder_lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = TrainConfig::default().weight_decay)]
    weight_decay: f64,
    /// Epochs without a better validation loss before stopping (0: never).
    #[arg(long, default_value_t = TrainConfig::default().patience)]
    patience: usize,
    /// Seed of initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Weight the loss by inverse class frequency.
    #[arg(long)]
    class_weighted: bool,
    /// Where to write NAME.json and NAME.safetensors.
    #[arg(long, default_value = "heads")]
    out: PathBuf,
    /// Skip (and count) malformed rows instead of stopping at the first.
    #[arg(long)]
    skip_malformed: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

fn parse_trainable(s: &str) -> std::result::Result<Trainable, String> {
    match s {
        "heads" | "none" => Ok(Trainable::Heads),
        "all" => Ok(Trainable::All),
        _ => s
            .strip_prefix("top-")
            .and_then(|k| k.parse::<usize>().ok())
            .filter(|&k| k > 0)
            .map(Trainable::TopLayers)
            .ok_or_else(|| format!("{s:?} is not heads, top-K (K >= 1) or all")),
    }
}

fn parse_sampling(s: &str) -> std::result::Result<Sampling, String> {
    match s {
        "proportional" => Ok(Sampling::Proportional),
        "alternating" => Ok(Sampling::Alternating),
        _ => s
            .strip_prefix("temperature:")
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(Sampling::Temperature)
            .ok_or_else(|| {
                format!("{s:?} is not proportional, alternating or temperature:T (T > 0)")
            }),
    }
}

/// The i-th of a repeated option given once per head, once for all, or not at all.
fn per_head<'a, T>(values: &'a [T], i: usize, heads: usize, what: &str) -> Result<Option<&'a T>> {
    match values.len() {
        0 => Ok(None),
        1 => Ok(values.first()),
        n if n == heads => Ok(values.get(i)),
        n => Err(Error::InvalidArgument {
            what: what.into(),
            reason: format!("given {n} times for {heads} heads; give it once or once per head"),
        }),
    }
}

/// One head's data, split.
struct Prepared {
    task: Task,
    train_texts: Vec<String>,
    val_texts: Vec<String>,
    record: TrainingRecord,
}

pub fn run(args: Args) -> Result<()> {
    let n = args.heads.len();
    if args.data.len() != n {
        return Err(Error::InvalidArgument {
            what: "--data".into(),
            reason: format!(
                "{} files for {n} heads; give one --data per --head",
                args.data.len()
            ),
        });
    }
    if !(0.0..1.0).contains(&args.val_fraction) {
        return Err(Error::InvalidArgument {
            what: "--val-fraction".into(),
            reason: format!("{} is not in [0, 1)", args.val_fraction),
        });
    }
    let files = args.weights.files()?;
    let mut encoder = Encoder::from_files(&files)?;
    let cache = args.cache.open(&files);
    let initial: Vec<Head> = match &args.init {
        Some(path) => read_heads(path, &encoder.encoder_ref())?,
        None => Vec::new(),
    };
    for name in &args.frozen {
        if !args.heads.contains(name) || !initial.iter().any(|h| h.name() == name) {
            return Err(Error::InvalidArgument {
                what: "--freeze".into(),
                reason: format!("{name:?} must be one of the --head names and come from --init"),
            });
        }
    }
    let mut prepared = Vec::new();
    for (i, name) in args.heads.iter().enumerate() {
        prepared.push(prepare(&args, i, name, &encoder, &initial)?);
    }
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        encoder_learning_rate: args.encoder_lr,
        weight_decay: args.weight_decay,
        seed: args.seed,
        patience: args.patience,
        class_weighted: args.class_weighted,
        sampling: args.sampling,
    };
    let trained_layers = match args.trainable {
        Trainable::Heads => None,
        Trainable::TopLayers(k) => Some(k),
        Trainable::All => Some(encoder.num_layers()),
    };
    let mut layered: Option<LayerFeatures> = None;
    let cached;
    let features: &dyn Features = match trained_layers {
        None => {
            let mut tasks = Vec::new();
            for p in &prepared {
                let name = p.task.head.name();
                let train_x =
                    cache.embed(&encoder, &p.train_texts, &format!("{name} training data"))?;
                let val_x =
                    cache.embed(&encoder, &p.val_texts, &format!("{name} validation data"))?;
                tasks.push((train_x, val_x));
            }
            cached = CachedEmbeddings { tasks };
            &cached
        }
        Some(k) => layered.insert(layer_features(&encoder, &prepared, k)?),
    };
    if trained_layers.is_none() {
        // Heads alone are tiny products: splitting them across threads costs
        // ten times what it saves (20 epochs on 1,000 embeddings: 10 s on 2
        // threads, 1.3 s on 1). Nothing else runs at this point.
        super::set_threads(Some(1));
    }
    let (mut tasks, records): (Vec<Task>, Vec<TrainingRecord>) =
        prepared.into_iter().map(|p| (p.task, p.record)).unzip();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} loss {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = train(&mut tasks, features, &config, &mut |p: &Progress| {
        match p {
            Progress::Step {
                epoch,
                step,
                steps,
                loss,
                ..
            } => {
                bar.set_length(*steps as u64);
                bar.set_prefix(epoch.to_string());
                bar.set_position(*step as u64);
                bar.set_message(format!("{loss:.4}"));
            }
            Progress::Epoch { .. } => {
                bar.suspend(|| eprintln!("{}", serde_json::to_string(p).unwrap_or_default()));
            }
        }
        Control::Continue
    })?;
    bar.finish_and_clear();
    let encoder_dir = match &layered {
        Some(layer_features) => {
            encoder.set_top_layers(&layer_features.top)?;
            let dir = args.out.join("encoder");
            write_encoder(&encoder, &files, &dir)?;
            eprintln!(
                "the encoder changed: its weights are in {}; pass --weights {0} with these heads",
                dir.display()
            );
            Some(dir)
        }
        None => None,
    };
    let command: Vec<String> = std::env::args().collect();
    let mut summary = Vec::new();
    for ((task, mut record), metrics) in tasks.into_iter().zip(records).zip(&report.validation) {
        record.metrics = metrics.as_ref().map(|m| json!({"validation": m}));
        record
            .extra
            .insert("command".into(), json!(command.join(" ")));
        record.extra.insert("config".into(), json!(config));
        record
            .extra
            .insert("trainable".into(), json!(args.trainable));
        record
            .extra
            .insert("epochs_run".into(), json!(report.epochs_run));
        record
            .extra
            .insert("best_epoch".into(), json!(report.best_epoch));
        let mut head = task.head;
        if !task.frozen {
            head.set_training(record);
        }
        let path = head.write(&args.out)?;
        summary.push(json!({
            "head": head.name(),
            "path": path,
            "frozen": task.frozen,
            "validation": metrics,
        }));
    }
    println!(
        "{}",
        json!({"heads": summary, "encoder": encoder_dir, "epochs_run": report.epochs_run, "best_epoch": report.best_epoch})
    );
    Ok(())
}

/// Trainable top `k` layers with every task's texts run through the layers below.
fn layer_features(encoder: &Encoder, prepared: &[Prepared], k: usize) -> Result<LayerFeatures> {
    let top = encoder.trainable_top_layers(k)?;
    let tasks = prepared
        .iter()
        .map(|p| {
            eprintln!(
                "{}: encoding through the {} frozen layers",
                p.task.head.name(),
                top.first()
            );
            Ok((
                encoder.states_below(&p.train_texts, top.first())?,
                encoder.states_below(&p.val_texts, top.first())?,
            ))
        })
        .collect::<Result<_>>()?;
    Ok(LayerFeatures { top, tasks })
}

/// Writes a fine-tuned encoder (f32) with the original config and tokenizer.
fn write_encoder(encoder: &Encoder, files: &ModelFiles, dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let weights = encoder.weights_bytes()?;
    for (name, bytes) in [
        (WEIGHTS_FILE, weights.as_slice()),
        (CONFIG_FILE, files.config.as_slice()),
        (TOKENIZER_FILE, files.tokenizer.as_slice()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(Error::io(&path))?;
    }
    Ok(())
}

fn prepare(
    args: &Args,
    i: usize,
    name: &str,
    encoder: &Encoder,
    initial: &[Head],
) -> Result<Prepared> {
    let n = args.heads.len();
    let format = per_head(&args.formats, i, n, "--format")?.map(String::as_str);
    let path = &args.data[i];
    let file = read(path, format, args.skip_malformed)?;
    if file.skipped > 0 {
        eprintln!(
            "{}: skipped {} malformed rows",
            path.display(),
            file.skipped
        );
    }
    let start = initial.iter().find(|h| h.name() == name).cloned();
    let labels = match &start {
        Some(h) => h.labels().to_vec(),
        None => file.labels.clone(),
    };
    let all_labels = label_indices(&file.examples, &labels, path)?;
    let (train_texts, train_labels, val_texts, val_labels, sources) =
        match per_head(&args.val, i, n, "--val")? {
            Some(val_path) => {
                let val = read(val_path, format, args.skip_malformed)?;
                let val_labels = label_indices(&val.examples, &labels, val_path)?;
                let texts = |f: &super::datasets::LabelledFile| -> Vec<String> {
                    f.examples.iter().map(|e| e.text.clone()).collect()
                };
                let sources = vec![
                    format!("train: {}", path.display()),
                    format!("validation: {}", val_path.display()),
                ];
                (texts(&file), all_labels, texts(&val), val_labels, sources)
            }
            None => {
                let (train, val) = split_per_class(&all_labels, labels.len(), args.val_fraction);
                let pick = |rows: &[usize]| -> (Vec<String>, Vec<usize>) {
                    rows.iter()
                        .map(|&r| (file.examples[r].text.clone(), all_labels[r]))
                        .unzip()
                };
                let (tt, tl) = pick(&train);
                let (vt, vl) = pick(&val);
                let sources = vec![format!(
                    "{} (validation: the last {}% of each class)",
                    path.display(),
                    args.val_fraction * 100.0
                )];
                (tt, tl, vt, vl, sources)
            }
        };
    let head = match start {
        Some(h) => h,
        None => {
            let arch = match args.arch {
                ArchKind::Linear => Architecture::Linear,
                ArchKind::Mlp => Architecture::Mlp {
                    hidden: args.hidden,
                    activation: Activation::Gelu,
                    dropout: args.dropout,
                },
            };
            Head::new(
                name,
                labels.clone(),
                arch,
                encoder.encoder_ref(),
                args.seed.wrapping_add(i as u64),
            )?
        }
    };
    let mut per_class = BTreeMap::new();
    for &l in &train_labels {
        *per_class.entry(labels[l].clone()).or_insert(0) += 1;
    }
    let frozen = args.frozen.iter().any(|f| f == name);
    let loss_weight = per_head(&args.loss_weights, i, n, "--loss-weight")?
        .copied()
        .unwrap_or(1.0);
    Ok(Prepared {
        task: Task {
            head,
            train: Split::from_labels(train_labels),
            val: Split::from_labels(val_labels),
            loss_weight,
            frozen,
        },
        train_texts,
        val_texts,
        record: TrainingRecord {
            data: sources,
            examples_per_class: per_class,
            metrics: None,
            seed: args.seed,
            extra: BTreeMap::new(),
        },
    })
}
