//! `train`: one head, or several heads together over one encoder, through
//! the library's one training path ([`fit`]) with settings chosen from the
//! data size unless given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use sentence_multitask::model::heads::{read_heads, Architecture, Head, TrainingRecord};
use sentence_multitask::model::weights::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use sentence_multitask::rng::Rng;
use sentence_multitask::training::adapted::teach_adapted;
use sentence_multitask::training::contrast::{ContrastConfig, PairLoss};
use sentence_multitask::training::defaults::{self, Holdout};
use sentence_multitask::training::distil::{teacher_probabilities, Distillation};
use sentence_multitask::training::features::TopLayers;
use sentence_multitask::training::fit::{fit, Embedded, Examples, TaskTexts, Texts};
use sentence_multitask::training::lesson::LessonConfig;
use sentence_multitask::training::trainer::{
    Control, LossWeighting, Progress, Sampling, Schedule, Split, Task, TrainConfig, TrainReport,
    Trainable,
};
use sentence_multitask::{Encoder, Error, ModelFiles, Result};
use serde_json::json;

use super::cache::CacheArgs;
use super::WeightsArg;
use sentence_multitask::data::files::{label_indices, read, LabelledFile};
use sentence_multitask::training::cache::EmbeddingCache;

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
    /// Validation data of each --head (instead of holding some out).
    #[arg(long = "val", value_name = "FILE", conflicts_with = "val_fraction")]
    val: Vec<PathBuf>,
    /// Hold out this share of each class (the last ones in file order) for
    /// validation [default: chosen from the data size: 0.1 when every class
    /// has 128 examples or more, else nothing, keeping the last epoch].
    #[arg(long)]
    val_fraction: Option<f64>,
    /// Multiplier of each --head's loss (one value per head; default 1).
    #[arg(long = "loss-weight", value_name = "W")]
    loss_weights: Vec<f64>,
    /// Start from existing heads (a head file or a directory) of the same names.
    #[arg(long, value_name = "DIR_OR_FILE")]
    init: Option<PathBuf>,
    /// Keep head NAME unchanged (it must come from --init); it is still validated.
    #[arg(long = "freeze", value_name = "NAME")]
    frozen: Vec<String>,
    /// Architecture of new heads: linear, or mlp[:HIDDEN[:ACTIVATION:DROPOUT]].
    #[arg(long, default_value = "mlp")]
    arch: Architecture,
    /// What trains besides the heads: `heads` (encoder frozen, embeddings cached),
    /// `top-K` (the top K encoder layers) or `all`.
    #[arg(long, default_value = "heads")]
    trainable: Trainable,
    /// Give each trained head its own copy of the encoder's top layers,
    /// trained for that task only (`top-K`, or `all`), so the shared encoder
    /// stays as it is; a head from --init that has an adapter keeps training it.
    #[arg(long, value_name = "top-K", conflicts_with = "trainable")]
    adapter: Option<Trainable>,
    /// Batch sampling across heads: proportional, alternating, or temperature:T.
    #[arg(long, default_value = "proportional")]
    sampling: Sampling,
    /// Maximum epochs [default: chosen from the data size].
    #[arg(long)]
    epochs: Option<usize>,
    /// Examples per step [default: chosen from the data size].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate of the heads [default: chosen from the data size].
    #[arg(long)]
    lr: Option<f64>,
    /// Learning rate of trainable encoder layers.
    #[arg(long, default_value_t = TrainConfig::default().encoder_learning_rate)]
    encoder_lr: f64,
    /// How the encoder's learning rate moves: constant, or linear (a 6%
    /// warm-up, then a linear decay to 0 at the last step, as BERT's fine-tuning).
    #[arg(long, default_value = "constant")]
    encoder_schedule: Schedule,
    /// Layer-wise learning rates: each trainable layer below the top one
    /// learns at this factor of the rate of the layer above it (1: one rate).
    #[arg(long, default_value_t = 1.0)]
    layer_decay: f64,
    /// Gradual unfreezing: the first epoch moves only the top trainable
    /// layers and each later epoch adds more, all of them by the last.
    #[arg(long)]
    unfreeze: bool,
    /// How each head's loss is scaled on its steps: fixed (its --loss-weight
    /// only), or uncertainty (also divided by a running mean of that loss,
    /// Kendall et al.'s uncertainty weighting at its optimum: the tasks' loss
    /// scales even out on the layers they share)
    #[arg(long, default_value = "fixed")]
    loss_weighting: LossWeighting,
    /// Validate and keep a moving average of the trained weights, with this
    /// decay a step (for example 0.998, about the last 500 steps), instead
    /// of the last step's weights
    #[arg(long, value_name = "DECAY")]
    weight_average: Option<f64>,
    /// AdamW weight decay.
    #[arg(long, default_value_t = TrainConfig::default().weight_decay)]
    weight_decay: f64,
    /// Epochs without a better validation loss before stopping (0: never)
    /// [default: chosen from the data size].
    #[arg(long)]
    patience: Option<usize>,
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
    /// Train on a random N of each head's training rows (drawn with --seed,
    /// after validation is set apart): adapters on SST-2 validated better
    /// from 16,000 phrases than from all 67,349 (weights/README.md).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    sample: Option<u64>,
    /// Few-shot: give the head a fresh adapter (`--adapter`, default top-3),
    /// train it contrastively on pairs of the examples (SetFit-style), then
    /// train the head from scratch on its outputs: the page's few-shot lesson.
    #[arg(long, conflicts_with_all = ["trainable", "init"])]
    contrast: bool,
    /// Contrastive steps (with --contrast).
    #[arg(long, default_value_t = ContrastConfig::default().steps, requires = "contrast")]
    pair_steps: usize,
    /// Learning rate of the contrastive steps (with --contrast).
    #[arg(long, default_value_t = ContrastConfig::default().learning_rate, requires = "contrast")]
    pair_lr: f64,
    /// Contrastive loss: cosine (SetFit's) or batch:T (supervised batch
    /// contrastive at temperature T) (with --contrast).
    #[arg(long, default_value = "cosine", requires = "contrast")]
    pair_loss: PairLoss,
    /// Examples per contrastive step, every pair among them scored (with --contrast).
    #[arg(long, default_value_t = ContrastConfig::default().batch_size, requires = "contrast")]
    pair_batch: usize,
    /// Train the new layers (--trainable, --adapter or --contrast) through
    /// rank-R factors of each matrix (LoRA) instead of all their values;
    /// the result is stored and runs as the full copy.
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u64).range(1..))]
    lora: Option<u64>,
    /// Bits a new adapter stores each matrix value in: 8, or 4 (half the
    /// bytes). Not with --contrast, whose lesson stores 8 (the page's).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(4..=8), conflicts_with = "contrast")]
    adapter_bits: u8,
    /// Learn from a teacher as well as the labels: heads (a head file or a
    /// directory) of the same names as --head, for example one with an
    /// adapter over every layer, too costly for the page (knowledge distillation).
    #[arg(long, value_name = "DIR_OR_FILE", conflicts_with = "contrast")]
    teacher: Option<PathBuf>,
    /// Weight of the teacher's term in the loss, W (with --teacher): the loss
    /// is (1 - W) x the labels' cross-entropy + W x T^2 x the cross-entropy
    /// against the teacher's probabilities, both softened at T.
    #[arg(long, value_name = "W", default_value_t = 0.5, requires = "teacher")]
    distil: f64,
    /// Temperature the teacher's and the head's probabilities are softened at (with --teacher).
    #[arg(long, value_name = "T", default_value_t = 2.0, requires = "teacher")]
    distil_temperature: f64,
    #[command(flatten)]
    cache: CacheArgs,
}

/// New trainable `layers` as --lora and --adapter-bits ask.
fn new_layers(args: &Args, layers: TopLayers) -> Result<TopLayers> {
    let layers = layers.stored_in(args.adapter_bits)?;
    match args.lora {
        Some(rank) => layers.low_rank(rank as usize, args.seed),
        None => Ok(layers),
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

/// One head's data, read and labelled.
struct HeadData {
    file: LabelledFile,
    labels: Vec<String>,
    classes: Vec<usize>,
    /// A separate validation file, with its class indices.
    val: Option<(PathBuf, LabelledFile, Vec<usize>)>,
}

/// One head's examples, divided into training and validation.
struct Divided {
    train: Vec<usize>,
    val: Vec<usize>,
    texts: TaskTexts,
    /// Where they came from, for the head's record.
    sources: Vec<String>,
}

/// One head's task, ready to train.
struct Prepared {
    task: Task,
    texts: TaskTexts,
    record: TrainingRecord,
}

pub fn run(args: Args) -> Result<()> {
    check_args(&args)?;
    let files = args.weights.files()?;
    let mut encoder = Encoder::from_files(&files)?;
    let initial: Vec<Head> = match &args.init {
        Some(path) => read_heads(path, &encoder.encoder_ref())?,
        None => Vec::new(),
    };
    for head in &initial {
        encoder.check_head(head)?;
    }
    check_frozen(&args, &initial)?;
    let data = (0..args.heads.len())
        .map(|i| read_head_data(&args, i, &initial))
        .collect::<Result<Vec<_>>>()?;
    let config = settings(&args, &data);
    eprintln!("{}", json!({ "settings": config }));
    let mut prepared = Vec::new();
    for (i, head_data) in data.into_iter().enumerate() {
        prepared.push(prepare(&args, i, head_data, &encoder, &initial)?);
    }
    if args.contrast {
        return few_shot(&args, &encoder, prepared);
    }
    if let Some(path) = &args.teacher {
        teach(path, &encoder, &mut prepared)?;
    }
    let top = (encoder.trainable_layers(args.trainable)?)
        .map(|top| new_layers(&args, top))
        .transpose()?;
    let mut tasks = Vec::new();
    let (mut texts, mut records) = (Vec::new(), Vec::new());
    for p in prepared {
        tasks.push(p.task);
        texts.push(p.texts);
        records.push(p.record);
    }
    let adapted = tasks.iter().any(|t| t.head.adapter().is_some());
    let mut examples: Box<dyn Examples> = match top {
        None if !adapted => {
            let cache = args.cache.open(&files);
            let embedded = embed_all(&cache, &encoder, &tasks, &texts)?;
            // Heads alone are tiny products: splitting them across threads costs
            // ten times what it saves (20 epochs on 1,000 embeddings: 10 s on 2
            // threads, 1.3 s on 1). The encoder's work is done by now.
            sentence_multitask::model::encoder::set_threads(1);
            Box::new(embedded)
        }
        _ => Box::new(Texts {
            encoder: &encoder,
            tasks: texts,
        }),
    };
    let fitted = fit(&mut tasks, top, examples.as_mut(), &config, &mut bar())?;
    drop(examples);
    let encoder_dir = match &fitted.top {
        Some(top) => {
            encoder.set_top_layers(top)?;
            Some(write_encoder(&encoder, &files, &args.out.join("encoder"))?)
        }
        None => None,
    };
    write_heads(&args, tasks, records, &config, &fitted.report, encoder_dir)
}

fn check_args(args: &Args) -> Result<()> {
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
    if let Some(reason) = distillation(args).and_then(|d| d.problem()) {
        // Before the teacher's pass over every training text, not after it.
        return Err(Error::InvalidArgument {
            what: "--distil".into(),
            reason,
        });
    }
    match args.val_fraction {
        Some(f) if !(0.0..1.0).contains(&f) => Err(Error::InvalidArgument {
            what: "--val-fraction".into(),
            reason: format!("{f} is not in [0, 1)"),
        }),
        _ => Ok(()),
    }
}

/// The distillation settings --teacher asks for.
fn distillation(args: &Args) -> Option<Distillation> {
    args.teacher.as_ref().map(|_| Distillation {
        weight: args.distil,
        temperature: args.distil_temperature,
    })
}

fn check_frozen(args: &Args, initial: &[Head]) -> Result<()> {
    for name in &args.frozen {
        if !args.heads.contains(name) || !initial.iter().any(|h| h.name() == name) {
            return Err(Error::InvalidArgument {
                what: "--freeze".into(),
                reason: format!("{name:?} must be one of the --head names and come from --init"),
            });
        }
    }
    Ok(())
}

/// The library's settings for the largest head's data (which takes most of
/// the steps), with what the flags set instead.
fn settings(args: &Args, data: &[HeadData]) -> TrainConfig {
    let (examples, smallest) = data
        .iter()
        .map(|d| (d.classes.len(), smallest_class(&d.classes, d.labels.len())))
        .max()
        .unwrap_or_default();
    let mut c = defaults::for_data(examples, smallest).config;
    c.epochs = args.epochs.unwrap_or(c.epochs);
    c.batch_size = args.batch_size.unwrap_or(c.batch_size);
    c.learning_rate = args.lr.unwrap_or(c.learning_rate);
    c.patience = args.patience.unwrap_or(c.patience);
    c.encoder_learning_rate = args.encoder_lr;
    c.encoder_schedule = args.encoder_schedule;
    c.encoder_layer_decay = args.layer_decay;
    c.unfreeze = args.unfreeze;
    c.loss_weighting = args.loss_weighting;
    c.weight_average = args.weight_average;
    c.distillation = distillation(args);
    c.weight_decay = args.weight_decay;
    c.seed = args.seed;
    c.class_weighted = args.class_weighted;
    c.sampling = args.sampling;
    c
}

/// Examples of the smallest class.
fn smallest_class(classes: &[usize], n: usize) -> usize {
    let mut counts = vec![0; n];
    for &c in classes {
        counts[c] += 1;
    }
    counts.into_iter().min().unwrap_or(0)
}

fn read_head_data(args: &Args, i: usize, initial: &[Head]) -> Result<HeadData> {
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
    let labels = match initial.iter().find(|h| h.name() == args.heads[i]) {
        Some(h) => h.labels().to_vec(),
        None => file.labels.clone(),
    };
    let classes = label_indices(&file.examples, &labels, path)?;
    let val = match per_head(&args.val, i, n, "--val")? {
        Some(val_path) => {
            let val = read(val_path, format, args.skip_malformed)?;
            let val_classes = label_indices(&val.examples, &labels, val_path)?;
            Some((val_path.clone(), val, val_classes))
        }
        None => None,
    };
    Ok(HeadData {
        file,
        labels,
        classes,
        val,
    })
}

/// Gives each task that trains and whose head has a teacher in `path` that
/// teacher's probabilities of its training texts; a teacher for none of
/// them is an error.
fn teach(path: &Path, encoder: &Encoder, prepared: &mut [Prepared]) -> Result<()> {
    let refused = |reason: String| Error::InvalidArgument {
        what: format!("--teacher {}", path.display()),
        reason,
    };
    let teachers = read_heads(path, &encoder.encoder_ref())?;
    let mut taught = 0;
    for p in prepared.iter_mut().filter(|p| !p.task.frozen) {
        let name = p.task.head.name();
        let Some(teacher) = teachers.iter().find(|t| t.name() == name) else {
            continue;
        };
        encoder
            .check_head(teacher)
            .map_err(|e| refused(e.to_string()))?;
        eprintln!(
            "{name}: the teacher's probabilities of {} training texts",
            p.texts.train.len()
        );
        let labels = p.task.head.labels().to_vec();
        p.task.train.teacher = teacher_probabilities(encoder, teacher, &labels, &p.texts.train)
            .map_err(|e| refused(e.to_string()))?;
        p.record.data.push(format!("teacher: {}", path.display()));
        taught += 1;
    }
    if taught == 0 {
        return Err(refused(
            "it holds no head named as a --head that trains".into(),
        ));
    }
    Ok(())
}

/// Splits a head's data (unless it has a --val file) as --val-fraction or
/// the library's choice for its size says, and makes its task: the --init
/// head of that name, or a new one.
fn prepare(
    args: &Args,
    i: usize,
    data: HeadData,
    encoder: &Encoder,
    initial: &[Head],
) -> Result<Prepared> {
    let name = &args.heads[i];
    let Divided {
        train,
        val,
        texts,
        sources,
    } = split(args, i, &data);
    let mut head = match initial.iter().find(|h| h.name() == name) {
        Some(h) => h.deep_copy()?,
        None => Head::new(
            name,
            data.labels.clone(),
            args.arch,
            encoder.encoder_ref(),
            args.seed.wrapping_add(i as u64),
        )?,
    };
    let frozen = args.frozen.contains(name);
    if let Some(adapter) = args.adapter.filter(|_| !frozen && head.adapter().is_none()) {
        let k = adapter.layers(encoder.num_layers());
        head = head.with_adapter(new_layers(args, encoder.trainable_top_layers(k)?)?);
    }
    let mut per_class = BTreeMap::new();
    for &l in &train {
        *per_class.entry(data.labels[l].clone()).or_insert(0) += 1;
    }
    let loss_weight = per_head(&args.loss_weights, i, args.heads.len(), "--loss-weight")?
        .copied()
        .unwrap_or(1.0);
    Ok(Prepared {
        task: Task {
            head,
            train: Split::from_labels(train),
            val: Split::from_labels(val),
            loss_weight,
            frozen,
        },
        texts,
        record: TrainingRecord {
            data: sources,
            examples_per_class: per_class,
            metrics: None,
            seed: args.seed,
            extra: BTreeMap::new(),
        },
    })
}

/// A random `--sample` of `rows` (all of them without it, or when there are
/// no more), drawn with `--seed`, in file order.
fn sample(args: &Args, mut rows: Vec<usize>) -> Vec<usize> {
    let Some(n) = args.sample.map(|n| n as usize).filter(|&n| n < rows.len()) else {
        return rows;
    };
    Rng::new(args.seed).shuffle(&mut rows);
    rows.truncate(n);
    rows.sort_unstable();
    rows
}

/// How `--sample` narrowed the training rows, for the head's record.
fn describe_sample(args: &Args) -> String {
    args.sample
        .map(|n| format!(", a random {n} of its training rows (seed {})", args.seed))
        .unwrap_or_default()
}

/// A head's training and validation classes and texts, and where they came
/// from: its --val file, or what --val-fraction or the library's choice for
/// its size holds out.
fn split(args: &Args, i: usize, data: &HeadData) -> Divided {
    let path = &args.data[i];
    let texts_of = |file: &LabelledFile, rows: &[usize]| -> Vec<String> {
        rows.iter()
            .map(|&r| file.examples[r].text.clone())
            .collect()
    };
    if let Some((val_path, val_file, val_classes)) = &data.val {
        let all: Vec<usize> = (0..data.classes.len()).collect();
        let val_rows: Vec<usize> = (0..val_classes.len()).collect();
        let all = sample(args, all);
        let texts = TaskTexts {
            train: texts_of(&data.file, &all),
            val: texts_of(val_file, &val_rows),
        };
        let sources = vec![
            format!("train: {}{}", path.display(), describe_sample(args)),
            format!("validation: {}", val_path.display()),
        ];
        return Divided {
            train: all.iter().map(|&r| data.classes[r]).collect(),
            val: val_classes.clone(),
            texts,
            sources,
        };
    }
    let holdout = match args.val_fraction {
        Some(share) => Holdout::LastOfEachClass(share),
        None => {
            let smallest = smallest_class(&data.classes, data.labels.len());
            defaults::for_data(data.classes.len(), smallest).holdout
        }
    };
    eprintln!("{}: validation: {}", args.heads[i], describe(holdout));
    let (train_rows, val_rows) = holdout.split(&data.classes, data.labels.len());
    let train_rows = sample(args, train_rows);
    let texts = TaskTexts {
        train: texts_of(&data.file, &train_rows),
        val: texts_of(&data.file, &val_rows),
    };
    let sources = vec![format!(
        "{}{} (validation: {})",
        path.display(),
        describe_sample(args),
        describe(holdout)
    )];
    let pick = |rows: &[usize]| -> Vec<usize> { rows.iter().map(|&r| data.classes[r]).collect() };
    Divided {
        train: pick(&train_rows),
        val: pick(&val_rows),
        texts,
        sources,
    }
}

fn describe(holdout: Holdout) -> String {
    match holdout {
        Holdout::Nothing => "none held out".into(),
        Holdout::LastOfEachClass(share) => format!("the last {}% of each class", share * 100.0),
    }
}

/// Every task's frozen embeddings, through the on-disk cache.
fn embed_all(
    cache: &EmbeddingCache,
    encoder: &Encoder,
    tasks: &[Task],
    texts: &[TaskTexts],
) -> Result<Embedded> {
    let parts = tasks
        .iter()
        .zip(texts)
        .map(|(task, t)| {
            let name = task.head.name();
            Ok((
                cache.embed(encoder, &t.train, &format!("{name} training data"))?,
                cache.embed(encoder, &t.val, &format!("{name} validation data"))?,
            ))
        })
        .collect::<Result<_>>()?;
    Ok(Embedded { tasks: parts })
}

/// A progress bar over each epoch's steps; epoch reports as JSON lines on stderr.
fn bar() -> impl FnMut(&Progress) -> Control {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} loss {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    move |p: &Progress| {
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
                if step == steps {
                    bar.finish_and_clear();
                }
            }
            Progress::Pairs { step, steps, loss } => {
                bar.set_length(*steps as u64);
                bar.set_prefix("pairs");
                bar.set_position(*step as u64);
                bar.set_message(format!("{loss:.4}"));
                if step == steps {
                    bar.finish_and_clear();
                }
            }
            Progress::Epoch { .. } => {
                bar.suspend(|| eprintln!("{}", serde_json::to_string(p).unwrap_or_default()));
            }
        }
        Control::Continue
    }
}

/// Writes every head with its training record and prints the summary.
fn write_heads(
    args: &Args,
    tasks: Vec<Task>,
    records: Vec<TrainingRecord>,
    config: &TrainConfig,
    report: &TrainReport,
    encoder_dir: Option<PathBuf>,
) -> Result<()> {
    let command: Vec<String> = std::env::args().collect();
    let mut summary = Vec::new();
    for ((task, mut record), metrics) in tasks.into_iter().zip(records).zip(&report.validation) {
        record.metrics = metrics.as_ref().map(|m| json!({"validation": m}));
        record.extra.extend([
            ("command".to_string(), json!(command.join(" "))),
            ("config".to_string(), json!(config)),
            ("trainable".to_string(), json!(args.trainable)),
            ("adapter".to_string(), json!(args.adapter)),
            ("epochs_run".to_string(), json!(report.epochs_run)),
            ("best_epoch".to_string(), json!(report.best_epoch)),
        ]);
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

/// `--contrast`: the page's few-shot lesson ([`teach_adapted`]) on each
/// head's training examples, one head after another.
fn few_shot(args: &Args, encoder: &Encoder, prepared: Vec<Prepared>) -> Result<()> {
    let adapt = ContrastConfig {
        layers: args.adapter.map_or(ContrastConfig::default().layers, |a| {
            a.layers(encoder.num_layers())
        }),
        steps: args.pair_steps,
        batch_size: args.pair_batch,
        learning_rate: args.pair_lr,
        loss: args.pair_loss,
        seed: args.seed,
        lora: args.lora.map(|r| r as usize),
        ..ContrastConfig::default()
    };
    let lesson_config = LessonConfig {
        epochs: args.epochs,
        learning_rate: args.lr,
        architecture: Some(args.arch),
        class_weighted: args.class_weighted,
        seed: args.seed,
        adapt: Some(adapt),
        ..LessonConfig::default()
    };
    let mut summary = Vec::new();
    for p in prepared {
        let labels: Vec<String> = (p.task.train.labels.iter())
            .map(|&c| p.task.head.labels()[c].clone())
            .collect();
        let start = std::time::Instant::now();
        let lesson = teach_adapted(
            encoder,
            &p.task.head,
            &p.texts.train,
            &labels,
            &lesson_config,
            &mut bar(),
        )?;
        let Some(mut head) = lesson.head else {
            continue;
        };
        let mut record = head.meta().training.clone().unwrap_or_default();
        record.data = p.record.data;
        let command: Vec<String> = std::env::args().collect();
        record
            .extra
            .insert("command".into(), json!(command.join(" ")));
        head.set_training(record);
        let path = head.write(&args.out)?;
        summary.push(json!({
            "head": head.name(),
            "path": path,
            "train_seconds": start.elapsed().as_secs_f64(),
        }));
    }
    println!("{}", json!({ "heads": summary }));
    Ok(())
}

/// Writes a fine-tuned encoder (f32) with the original config and tokenizer.
fn write_encoder(encoder: &Encoder, files: &ModelFiles, dir: &Path) -> Result<PathBuf> {
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
    eprintln!(
        "the encoder changed: its weights are in {}; pass --weights {0} with these heads",
        dir.display()
    );
    Ok(dir.to_path_buf())
}
