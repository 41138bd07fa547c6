//! The studies' results as markdown tables (for DISCUSSION.md) and SVG charts.

use super::chart::{dots, lines, Dots, LinePoints, Lines, Point};
use super::low_data::ALONE;
use super::related::COARSE_NAME;
use super::stats::paired;
use super::{RemedyRow, Results, ScheduleRow, Spread, TrainableRow};

/// The mean with its 95% t-interval over seeds, or the mean alone for one
/// seed (one value has no interval).
fn ci(s: &Spread) -> String {
    if s.seeds() > 1 {
        format!(
            "{:.3} [{:.3}, {:.3}]",
            s.mean,
            s.mean - s.ci95,
            s.mean + s.ci95
        )
    } else {
        format!("{:.3}", s.mean)
    }
}

/// A paired difference: mean, 95% bootstrap interval, and in how many
/// seeds the first side was ahead; `*` marks an interval that excludes 0.
fn difference(x: &Spread, y: &Spread) -> String {
    match paired(x, y) {
        Some(p) => format!(
            "{:+.3} [{:+.3}, {:+.3}]{} ({} of {} ahead)",
            p.mean,
            p.low,
            p.high,
            if p.clear() { " *" } else { "" },
            p.x_ahead,
            p.seeds
        ),
        None => "n/a".into(),
    }
}

fn point(s: &Spread) -> Option<Point> {
    Some(Point {
        mean: s.mean,
        half: s.ci95,
        seeds: if s.seeds() > 1 {
            s.values.clone()
        } else {
            Vec::new()
        },
    })
}

fn seconds(s: &Spread) -> String {
    if s.mean >= 10.0 {
        format!("{:.0}", s.mean)
    } else if s.mean >= 0.1 {
        format!("{:.2}", s.mean)
    } else {
        format!("{:.4}", s.mean)
    }
}

fn strings<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.map(String::from).to_vec()
}

/// Markdown written line by line.
#[derive(Default)]
struct Doc(String);

impl Doc {
    fn line(&mut self, s: impl AsRef<str>) {
        self.0.push_str(s.as_ref());
        self.0.push('\n');
    }

    /// A `###` heading and the blank line under it.
    fn heading(&mut self, title: impl AsRef<str>) {
        self.line(format!("### {}", title.as_ref()));
        self.line("");
    }

    /// A table (the header row, its separator, one row per cell list) and
    /// the blank line under it.
    fn table(&mut self, header: &[String], rows: impl IntoIterator<Item = Vec<String>>) {
        self.line(format!("| {} |", header.join(" | ")));
        self.line(format!("|{}", "---|".repeat(header.len())));
        for cells in rows {
            self.line(format!("| {} |", cells.join(" | ")));
        }
        self.line("");
    }
}

/// Markdown tables of every study; `command` is the line that produced them.
pub fn markdown(r: &Results, command: &str) -> String {
    let mut doc = Doc::default();
    doc.line(format!("Produced by `{command}`."));
    doc.line("");
    doc.line(
        "Accuracies: mean over seeds with its 95% Student's t interval over seeds \
         (one seed: the value alone). Differences are paired on the same evaluation \
         set: the mean over shared seeds, a 95% interval from a bootstrap that \
         resamples seeds and then evaluation examples (2,000 resamples), `*` where \
         the interval excludes 0, and in how many seeds the first side was ahead.",
    );
    doc.line("");
    sweep_table(&mut doc, r);
    trainable_table(&mut doc, r);
    freeze_table(&mut doc, r);
    multitask_table(&mut doc, r);
    cost_table(&mut doc, r);
    low_data_table(&mut doc, r);
    curve_table(&mut doc, r);
    related_table(&mut doc, r);
    forgetting_table(&mut doc, r);
    few_shot_table(&mut doc, r);
    schedule_table(&mut doc, r);
    conflict_table(&mut doc, r);
    let times: Vec<String> = r
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {:.0} s", v.as_f64().unwrap_or(0.0)))
        .collect();
    doc.line(format!("Wall time: {}", times.join("; ")));
    doc.0
}

fn sweep_table(doc: &mut Doc, r: &Results) {
    doc.heading("Choosing the encoder's learning rate (first seed, each task alone)");
    doc.table(
        &strings([
            "trainable",
            "encoder lr",
            "task",
            "selection accuracy (chooses)",
            "evaluation accuracy (not used)",
            "epochs run",
            "chosen",
        ]),
        r.lr_sweep.iter().map(|row| {
            vec![
                row.trainable.clone(),
                format!("{:e}", row.encoder_lr),
                row.task.clone(),
                format!("{:.3}", row.selection),
                format!("{:.3}", row.accuracy),
                row.epochs_run.to_string(),
                if row.chosen { "yes" } else { "" }.into(),
            ]
        }),
    );
}

fn trainable_table(doc: &mut Doc, r: &Results) {
    doc.heading("(a) What trains: accuracy and seconds per epoch");
    let heads = |task: &str| trainable_row(r, task, "heads");
    doc.table(
        &strings([
            "task",
            "trainable",
            "seeds",
            "accuracy",
            "− heads (paired)",
            "s/epoch",
            "epochs run",
        ]),
        r.trainable.iter().map(|row| {
            vec![
                row.task.clone(),
                row.trainable.clone(),
                row.accuracy.seeds().to_string(),
                ci(&row.accuracy),
                match heads(&row.task) {
                    Some(h) if row.trainable != "heads" => difference(&row.accuracy, &h.accuracy),
                    _ => String::new(),
                },
                seconds(&row.seconds_per_epoch),
                format!("{:?}", row.epochs_run),
            ]
        }),
    );
}

fn freeze_table(doc: &mut Doc, r: &Results) {
    let [a, b] = &r.tasks;
    doc.heading(format!("(b) {a}'s head while {b} trains"));
    doc.table(
        &[
            "encoder".into(),
            format!("{a}'s head"),
            "seeds".into(),
            format!("{a} before"),
            format!("{a} after"),
            "after − before (paired)".into(),
            b.clone(),
            format!("{a}'s head bit-identical"),
        ],
        r.freeze_head.iter().map(|row| {
            vec![
                row.encoder.clone(),
                row.a_head.clone(),
                row.a_after.seeds().to_string(),
                ci(&row.a_before),
                ci(&row.a_after),
                difference(&row.a_after, &row.a_before),
                ci(&row.b_accuracy),
                match row.a_head_bit_identical {
                    true => "yes".into(),
                    false => "no (trained)".into(),
                },
            ]
        }),
    );
}

fn multitask_table(doc: &mut Doc, r: &Results) {
    doc.heading("(c) One multi-task model or two single-task models: accuracy");
    doc.table(
        &strings([
            "trainable",
            "task",
            "seeds",
            "single-task",
            "multi-task",
            "multi − single (paired)",
            "multi-task s/epoch",
        ]),
        r.multitask.iter().map(|row| {
            vec![
                row.trainable.clone(),
                row.task.clone(),
                row.multi.seeds().to_string(),
                ci(&row.single),
                ci(&row.multi),
                difference(&row.multi, &row.single),
                seconds(&row.multi_seconds_per_epoch),
            ]
        }),
    );
}

fn cost_table(doc: &mut Doc, r: &Results) {
    let c = &r.cost;
    doc.heading(format!(
        "(c) Serving both tasks: cost ({} sentences, batch 32, 3 repetitions)",
        c.sentences
    ));
    let top_layers: Vec<String> = c
        .top_layers_ms
        .iter()
        .map(|(k, s)| format!("{k} layer(s) {:.2} ms", s.mean))
        .collect();
    doc.line(format!(
        "Encoder pass {:.2} ± {:.2} ms per sentence; both heads {:.4} ms; top layers alone: {}. \
         Parameters: embeddings {}, one layer {}, whole encoder {}.",
        c.encoder_ms.mean,
        c.encoder_ms.std,
        c.heads_ms.mean,
        top_layers.join(", "),
        c.encoder_parameters[0],
        c.encoder_parameters[1],
        c.encoder_parameters[2]
    ));
    doc.line("");
    doc.table(
        &strings([
            "deployment",
            "encoder passes",
            "ms/sentence",
            "download MB (f16)",
            "weights in memory MB (f32)",
        ]),
        c.options.iter().map(|o| {
            vec![
                o.name.clone(),
                format!("{:.2}", o.encoder_passes),
                format!("{:.2}", o.ms_per_sentence),
                format!("{:.1}", o.download_mb),
                format!("{:.1}", o.memory_mb),
            ]
        }),
    );
}

fn low_data_table(doc: &mut Doc, r: &Results) {
    let [a, b] = &r.tasks;
    let title = format!("(d) {b} with few examples next to {a} with many");
    remedy_table(doc, &title, &r.low_data, [a, b]);
}

fn related_table(doc: &mut Doc, r: &Results) {
    let title = "(f) A related pair: topic with few examples next to a coarse topic task with many";
    remedy_table(doc, title, &r.related, related_names(r).each_ref());
}

/// Study (f)'s tasks: the coarse one (A) and the topic task (B).
fn related_names(r: &Results) -> [String; 2] {
    [COARSE_NAME.to_string(), r.tasks[0].clone()]
}

/// One row per remedy: B's accuracy, its paired difference from B alone
/// under the same encoder setting, A's accuracy, B's steps and the time.
fn remedy_table(doc: &mut Doc, title: &str, rows: &[RemedyRow], [a, b]: [&String; 2]) {
    doc.heading(title);
    doc.table(
        &[
            "encoder".into(),
            "remedy".into(),
            "seeds".into(),
            b.clone(),
            format!("{b} − {b} alone (paired)"),
            a.clone(),
            format!("{b}'s steps"),
            "seconds".into(),
        ],
        rows.iter().map(|row| {
            let alone = rows
                .iter()
                .find(|x| x.encoder == row.encoder && x.remedy == ALONE);
            vec![
                row.encoder.clone(),
                row.remedy.clone(),
                row.b.seeds().to_string(),
                ci(&row.b),
                match alone {
                    Some(x) if x.remedy != row.remedy => difference(&row.b, &x.b),
                    _ => String::new(),
                },
                row.a.as_ref().map_or(String::new(), ci),
                format!("{:.0}", row.b_steps.mean),
                seconds(&row.seconds),
            ]
        }),
    );
}

/// One row per epoch of study (g): A under each series, its paired change
/// from before B trained, and B.
fn forgetting_table(doc: &mut Doc, r: &Results) {
    let [a, b] = &r.tasks;
    doc.heading(format!(
        "(g) Forgetting: {a} epoch by epoch while {b} moves the top layers"
    ));
    let mut header = strings(["after epoch"]);
    for s in &r.forgetting {
        header.extend([
            format!("{a}, {}", s.name),
            "change from epoch 0 (paired)".into(),
            format!("{b}, {}", s.name),
        ]);
    }
    let epochs = r.forgetting.first().map_or(0, |s| s.a.len());
    doc.table(
        &header,
        (0..epochs).map(|e| {
            let mut cells = vec![e.to_string()];
            for s in &r.forgetting {
                cells.extend([
                    ci(&s.a[e]),
                    if e == 0 {
                        String::new()
                    } else {
                        difference(&s.a[e], &s.a[0])
                    },
                    ci(&s.b[e]),
                ]);
            }
            cells
        }),
    );
}

/// One row per size asked for (the whole pool, `per_class` 0, last), one
/// column per curve.
fn curve_table(doc: &mut Doc, r: &Results) {
    doc.heading(format!(
        "(e) {}'s learning curve (frozen encoder)",
        r.tasks[1]
    ));
    let mut header = strings(["per class", "examples"]);
    header.extend(r.learning_curve.iter().map(|s| s.name.clone()));
    let mut sizes: Vec<(usize, usize)> = r
        .learning_curve
        .iter()
        .flat_map(|s| s.points.iter().map(|p| (p.per_class, p.examples)))
        .collect();
    sizes.sort_unstable_by_key(|s| (s.0 == 0, s.0));
    sizes.dedup_by_key(|s| s.0);
    let rows = sizes.into_iter().map(|(per_class, examples)| {
        let per_class_cell = match per_class {
            0 => "all".to_string(),
            n => n.to_string(),
        };
        let mut cells = vec![per_class_cell, examples.to_string()];
        cells.extend(r.learning_curve.iter().map(|s| {
            s.points
                .iter()
                .find(|p| p.per_class == per_class)
                .map_or("".into(), |p| ci(&p.accuracy))
        }));
        cells
    });
    doc.table(&header, rows);
}

/// The charts: `(file name, SVG)`.
pub fn charts(r: &Results) -> Vec<(String, String)> {
    let mut out = trainable_charts(r).to_vec();
    out.extend([
        ("freeze-head.svg".into(), freeze_chart(r)),
        ("multitask.svg".into(), multitask_chart(r)),
        ("cost.svg".into(), cost_chart(r)),
        ("low-data.svg".into(), low_data_chart(r)),
        ("learning-curve.svg".into(), curve_chart(r)),
        ("related.svg".into(), related_chart(r)),
        ("forgetting.svg".into(), forgetting_chart(r)),
        ("few-shot.svg".into(), few_shot_chart(r)),
    ]);
    if !r.schedules.is_empty() {
        out.push(("schedules.svg".into(), schedule_chart(r)));
    }
    out
}

/// Study (a)'s accuracy and time charts: one row per setting, one dot per task.
fn trainable_charts(r: &Results) -> [(String, String); 2] {
    let settings: Vec<&str> = r
        .trainable
        .iter()
        .filter(|x| x.task == r.tasks[0])
        .map(|x| x.trainable.as_str())
        .collect();
    let by_setting = |f: &dyn Fn(&TrainableRow) -> &Spread| {
        settings
            .iter()
            .map(|s| {
                let row = |t: &String| trainable_row(r, t, s).and_then(|x| point(f(x)));
                (s.to_string(), r.tasks.iter().map(row).collect())
            })
            .collect()
    };
    [
        (
            "trainable-accuracy.svg".into(),
            dots(&Dots {
                title: "(a) Accuracy by what trains (mean, 95% interval, each seed)".into(),
                axis: "accuracy on the evaluation set".into(),
                series: r.tasks.to_vec(),
                groups: by_setting(&|x| &x.accuracy),
                log: false,
            }),
        ),
        (
            "trainable-time.svg".into(),
            dots(&Dots {
                title: "(a) Training seconds per epoch (log scale)".into(),
                axis: "seconds per epoch".into(),
                series: r.tasks.to_vec(),
                groups: by_setting(&|x| &x.seconds_per_epoch),
                log: true,
            }),
        ),
    ]
}

fn freeze_chart(r: &Results) -> String {
    let [a, b] = &r.tasks;
    dots(&Dots {
        title: format!("(b) {a}'s accuracy after {b} trained"),
        axis: "accuracy on the evaluation set".into(),
        series: vec![format!("{a} before"), format!("{a} after"), b.clone()],
        groups: r
            .freeze_head
            .iter()
            .map(|x| {
                (
                    format!("{}, {a}'s head {}", x.encoder, x.a_head),
                    vec![point(&x.a_before), point(&x.a_after), point(&x.b_accuracy)],
                )
            })
            .collect(),
        log: false,
    })
}

fn multitask_chart(r: &Results) -> String {
    dots(&Dots {
        title: "(c) Two single-task models or one multi-task model".into(),
        axis: "accuracy on the evaluation set".into(),
        series: strings(["single-task", "multi-task"]),
        groups: r
            .multitask
            .iter()
            .map(|x| {
                (
                    format!("{}: {}", x.trainable, x.task),
                    vec![point(&x.single), point(&x.multi)],
                )
            })
            .collect(),
        log: false,
    })
}

fn cost_chart(r: &Results) -> String {
    dots(&Dots {
        title: "(c) Serving both tasks: time per sentence and download".into(),
        axis: "milliseconds per sentence / MB (log scale)".into(),
        series: strings(["ms per sentence", "download MB"]),
        groups: r
            .cost
            .options
            .iter()
            .map(|o| {
                (
                    o.name.clone(),
                    [o.ms_per_sentence, o.download_mb]
                        .map(|v| point(&Spread::of(vec![v])))
                        .to_vec(),
                )
            })
            .collect(),
        log: true,
    })
}

fn low_data_chart(r: &Results) -> String {
    let [a, b] = &r.tasks;
    let title = format!("(d) {b} with few examples next to {a} with many");
    remedy_chart(title, &r.low_data, [a.clone(), b.clone()])
}

fn related_chart(r: &Results) -> String {
    let title = "(f) topic with few examples next to topic-2 with many".to_string();
    remedy_chart(title, &r.related, related_names(r))
}

fn remedy_chart(title: String, rows: &[RemedyRow], names: [String; 2]) -> String {
    dots(&Dots {
        title,
        axis: "accuracy on the evaluation set".into(),
        series: names.to_vec(),
        groups: rows
            .iter()
            .map(|x| {
                (
                    format!("{}: {}", x.encoder, x.remedy),
                    vec![x.a.as_ref().and_then(point), point(&x.b)],
                )
            })
            .collect(),
        log: false,
    })
}

/// Study (g): one row per epoch, one dot per series for A.
fn forgetting_chart(r: &Results) -> String {
    let [a, b] = &r.tasks;
    let epochs = r.forgetting.first().map_or(0, |s| s.a.len());
    dots(&Dots {
        title: format!("(g) {a}'s accuracy while {b} moves the top layers"),
        axis: format!("{a}'s accuracy on its evaluation set"),
        series: r.forgetting.iter().map(|s| s.name.clone()).collect(),
        groups: (0..epochs)
            .map(|e| {
                let label = format!("after {b}'s epoch {e}");
                (label, r.forgetting.iter().map(|s| point(&s.a[e])).collect())
            })
            .collect(),
        log: false,
    })
}

/// Study (e)'s curves; a one-point series (the whole pool) is drawn as the
/// reference line.
fn curve_chart(r: &Results) -> String {
    let mut series: Vec<(String, LinePoints)> = Vec::new();
    let mut reference = None;
    for s in &r.learning_curve {
        let pts: LinePoints = s
            .points
            .iter()
            .filter_map(|p| Some((p.per_class as f64, point(&p.accuracy)?)))
            .collect();
        if let [p] = s.points.as_slice() {
            reference = Some((
                format!("{} examples: {:.3}", p.examples, p.accuracy.mean),
                p.accuracy.mean,
            ));
        } else if !pts.is_empty() {
            series.push((s.name.clone(), pts));
        }
    }
    lines(&Lines {
        title: format!(
            "(e) {}: accuracy against examples per class (mean, 95% interval, each seed)",
            r.tasks[1]
        ),
        x_axis: "examples per class (log scale)".into(),
        y_axis: "accuracy on the evaluation set".into(),
        series,
        reference,
    })
}

/// A few-shot series' name: how its task was taught.
fn taught(layers: usize) -> String {
    match layers {
        0 => "head alone".into(),
        n => format!("adapter of {n} layers"),
    }
}

/// Study (h): per task and size, each way's accuracy, each adapter's paired
/// difference from the head alone and from the next smaller adapter, and
/// the lessons' seconds.
fn few_shot_table(doc: &mut Doc, r: &Results) {
    let Some(first) = r.few_shot.first() else {
        return;
    };
    doc.heading("(h) A new task from a few examples a class: the page's lessons");
    let ways: Vec<usize> = r
        .few_shot
        .iter()
        .filter(|s| s.task == first.task)
        .map(|s| s.layers)
        .collect();
    let mut header = strings(["task", "per class", "examples"]);
    header.extend(ways.iter().map(|&l| taught(l)));
    header.extend(
        ways[1..]
            .iter()
            .map(|&l| format!("{} − head alone", taught(l))),
    );
    // Each larger adapter against the one before it: is more depth worth it?
    header.extend(
        ways[1..]
            .windows(2)
            .map(|w| format!("{} − {}", taught(w[1]), taught(w[0]))),
    );
    header.push("seconds (each way)".into());
    let mut rows = Vec::new();
    for base in r.few_shot.iter().filter(|s| s.layers == ways[0]) {
        for p in &base.points {
            let at = |layers: usize| {
                r.few_shot
                    .iter()
                    .find(|s| s.task == base.task && s.layers == layers)
                    .and_then(|s| s.points.iter().find(|q| q.per_class == p.per_class))
            };
            let mut cells = vec![
                base.task.clone(),
                p.per_class.to_string(),
                p.examples.to_string(),
            ];
            cells.extend(
                ways.iter()
                    .map(|&l| at(l).map_or("".into(), |q| ci(&q.accuracy))),
            );
            cells.extend(
                ways[1..]
                    .iter()
                    .map(|&l| at(l).map_or("".into(), |q| difference(&q.accuracy, &p.accuracy))),
            );
            cells.extend(ways[1..].windows(2).map(|w| match (at(w[1]), at(w[0])) {
                (Some(more), Some(fewer)) => difference(&more.accuracy, &fewer.accuracy),
                _ => "".into(),
            }));
            let times: Vec<String> = ways
                .iter()
                .filter_map(|&l| at(l).map(|q| seconds(&q.seconds)))
                .collect();
            cells.push(times.join(" / "));
            rows.push(cells);
        }
    }
    doc.table(&header, rows);
}

/// Study (h)'s curves, one line per task and way.
fn few_shot_chart(r: &Results) -> String {
    let series = r
        .few_shot
        .iter()
        .map(|s| {
            let pts: LinePoints = s
                .points
                .iter()
                .filter_map(|p| Some((p.per_class as f64, point(&p.accuracy)?)))
                .collect();
            (format!("{}, {}", s.task, taught(s.layers)), pts)
        })
        .filter(|(_, pts)| !pts.is_empty())
        .collect();
    lines(&Lines {
        title:
            "(h) a new task: accuracy against examples per class (mean, 95% interval, each seed)"
                .into(),
        x_axis: "examples per class (log scale)".into(),
        y_axis: "accuracy on the evaluation set".into(),
        series,
        reference: None,
    })
}

/// How a row of study (i) trains the layers.
fn schedule_name(row: &ScheduleRow) -> String {
    match (row.unfreeze, row.layer_decay) {
        (true, 1.0) => "gradual unfreezing".into(),
        (true, d) => format!("gradual unfreezing, layer decay {d}"),
        (false, d) => format!("layer decay {d}"),
    }
}

/// (a)'s row of `task` with `trainable` (`heads`: the frozen encoder).
fn trainable_row<'r>(r: &'r Results, task: &str, trainable: &str) -> Option<&'r TrainableRow> {
    (r.trainable.iter()).find(|x| x.task == task && x.trainable == trainable)
}

/// A paired difference from (a)'s row of `task` with `trainable`, if there is one.
fn against(r: &Results, x: &Spread, task: &str, trainable: &str) -> String {
    (trainable_row(r, task, trainable)).map_or(String::new(), |a| difference(x, &a.accuracy))
}

fn schedule_table(doc: &mut Doc, r: &Results) {
    if r.schedules.is_empty() {
        return;
    }
    doc.heading(
        "(i) How the layers train: one rate (from (a)), layer-wise rates, gradual unfreezing",
    );
    let mut rows = Vec::new();
    for t in &r.tasks {
        let first = r.schedules.iter().find(|x| x.task == *t);
        if let Some(a) = first.and_then(|x| trainable_row(r, t, &x.trainable)) {
            rows.push(vec![
                a.task.clone(),
                a.trainable.clone(),
                "one rate, as in (a)".into(),
                String::new(),
                a.accuracy.seeds().to_string(),
                ci(&a.accuracy),
                String::new(),
                against(r, &a.accuracy, t, "heads"),
                seconds(&a.seconds_per_epoch),
                format!("{:?}", a.epochs_run),
            ]);
        }
        for row in r.schedules.iter().filter(|x| x.task == *t) {
            let selection: Vec<String> = row.selection.iter().map(|s| format!("{s:.3}")).collect();
            rows.push(vec![
                row.task.clone(),
                row.trainable.clone(),
                schedule_name(row),
                selection.join(", "),
                row.accuracy.seeds().to_string(),
                ci(&row.accuracy),
                against(r, &row.accuracy, t, &row.trainable),
                against(r, &row.accuracy, t, "heads"),
                seconds(&row.seconds_per_epoch),
                format!("{:?}", row.epochs_run),
            ]);
        }
    }
    let header = [
        "task",
        "trainable",
        "how the layers train",
        "selection accuracy",
        "seeds",
        "accuracy",
        "− one rate (paired)",
        "− heads (paired)",
        "s/epoch",
        "epochs run",
    ];
    doc.table(&strings(header), rows);
}

fn conflict_table(doc: &mut Doc, r: &Results) {
    if r.conflict.is_empty() {
        return;
    }
    doc.heading("(j) The two tasks' gradients on the shared layer, where (d) and (f) start");
    let header = [
        "A",
        "B",
        "trainable",
        "seeds x batch pairs",
        "cosine",
        "share negative",
        "share PCGrad would remove",
        "length B / A",
    ];
    let rows = r.conflict.iter().map(|row| {
        vec![
            row.a.clone(),
            row.b.clone(),
            row.trainable.clone(),
            format!("{} x {}", row.cosine.seeds(), row.pairs),
            ci(&row.cosine),
            ci(&row.negative),
            ci(&row.pcgrad_change),
            ci(&row.norm_ratio),
        ]
    });
    doc.table(&strings(header), rows);
}

/// Study (i)'s chart: one group per way of training the layers (chosen
/// decays and unfreezing, with (a)'s one rate first), one dot per task.
fn schedule_chart(r: &Results) -> String {
    let chosen: Vec<&ScheduleRow> = (r.schedules.iter())
        .filter(|x| x.task == r.tasks[0] && !x.first_seed_only)
        .collect();
    let find = |f: &dyn Fn(&ScheduleRow) -> bool, t: &String| {
        (r.schedules.iter()).find(|x| x.task == *t && f(x))
    };
    let mut groups: Vec<(String, Vec<Option<Point>>)> = Vec::new();
    if let Some(first) = chosen.first() {
        let a = |t: &String| trainable_row(r, t, &first.trainable).and_then(|x| point(&x.accuracy));
        groups.push((
            "one rate, as in (a)".into(),
            r.tasks.iter().map(a).collect(),
        ));
    }
    for row in chosen {
        let same = |x: &ScheduleRow| x.unfreeze == row.unfreeze && x.layer_decay == row.layer_decay;
        let points = r
            .tasks
            .iter()
            .map(|t| find(&same, t).and_then(|x| point(&x.accuracy)));
        groups.push((schedule_name(row), points.collect()));
    }
    dots(&Dots {
        title: "(i) Accuracy by how the layers train (mean, 95% interval, each seed)".into(),
        axis: "accuracy on the evaluation set".into(),
        series: r.tasks.to_vec(),
        groups,
        log: false,
    })
}
