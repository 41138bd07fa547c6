//! The studies' results as markdown tables (for DISCUSSION.md) and SVG charts.

use super::chart::{dots, lines, Dots, LinePoints, Lines, Point};
use super::{Results, Spread, TrainableRow};

/// `mean ± std`, or the mean alone for one seed (a spread of one value is no spread).
fn pm(s: &Spread) -> String {
    if s.values.len() > 1 {
        format!("{:.3} ± {:.3}", s.mean, s.std)
    } else {
        format!("{:.3}", s.mean)
    }
}

/// [`pm`] with the sign, for changes.
fn pm_signed(s: &Spread) -> String {
    if s.values.len() > 1 {
        format!("{:+.3} ± {:.3}", s.mean, s.std)
    } else {
        format!("{:+.3}", s.mean)
    }
}

fn point(s: &Spread) -> Option<Point> {
    Some((s.mean, s.std))
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
    trainable_table(&mut doc, r);
    freeze_table(&mut doc, r);
    multitask_table(&mut doc, r);
    cost_table(&mut doc, r);
    low_data_table(&mut doc, r);
    curve_table(&mut doc, r);
    let times: Vec<String> = r
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {:.0} s", v.as_f64().unwrap_or(0.0)))
        .collect();
    doc.line(format!("Wall time: {}", times.join("; ")));
    doc.0
}

fn trainable_table(doc: &mut Doc, r: &Results) {
    doc.heading("(a) What trains: accuracy and seconds per epoch");
    doc.table(
        &strings(["task", "trainable", "accuracy", "s/epoch", "epochs run"]),
        r.trainable.iter().map(|row| {
            vec![
                row.task.clone(),
                row.trainable.clone(),
                pm(&row.accuracy),
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
            format!("{a} before"),
            format!("{a} after"),
            "change".into(),
            b.clone(),
            format!("{a}'s head bit-identical"),
        ],
        r.freeze_head.iter().map(|row| {
            vec![
                row.encoder.clone(),
                row.a_head.clone(),
                pm(&row.a_before),
                pm(&row.a_after),
                pm_signed(&row.a_change),
                pm(&row.b_accuracy),
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
            "single-task",
            "multi-task",
            "multi − single",
            "multi-task s/epoch",
        ]),
        r.multitask.iter().map(|row| {
            vec![
                row.trainable.clone(),
                row.task.clone(),
                pm(&row.single),
                pm(&row.multi),
                format!("{:+.3}", row.multi.mean - row.single.mean),
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
    doc.heading(format!("(d) {b} with few examples next to {a} with many"));
    doc.table(
        &[
            "encoder".into(),
            "remedy".into(),
            b.clone(),
            a.clone(),
            format!("{b}'s steps"),
            "seconds".into(),
        ],
        r.low_data.iter().map(|row| {
            vec![
                row.encoder.clone(),
                row.remedy.clone(),
                pm(&row.b),
                pm(&row.a),
                format!("{:.0}", row.b_steps.mean),
                seconds(&row.seconds),
            ]
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
                .map_or("".into(), |p| pm(&p.accuracy))
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
    ]);
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
        let find = |s: &str, t: &String| {
            r.trainable
                .iter()
                .find(|x| x.trainable == s && x.task == *t)
        };
        settings
            .iter()
            .map(|s| {
                let row = |t| find(s, t).and_then(|x| point(f(x)));
                (s.to_string(), r.tasks.iter().map(row).collect())
            })
            .collect()
    };
    [
        (
            "trainable-accuracy.svg".into(),
            dots(&Dots {
                title: "(a) Accuracy by what trains (mean ± std over seeds)".into(),
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
                    vec![Some((o.ms_per_sentence, 0.0)), Some((o.download_mb, 0.0))],
                )
            })
            .collect(),
        log: true,
    })
}

fn low_data_chart(r: &Results) -> String {
    let [a, b] = &r.tasks;
    dots(&Dots {
        title: format!("(d) {b} with few examples next to {a} with many"),
        axis: "accuracy on the evaluation set".into(),
        series: vec![a.clone(), b.clone()],
        groups: r
            .low_data
            .iter()
            .map(|x| {
                (
                    format!("{}: {}", x.encoder, x.remedy),
                    vec![point(&x.a), point(&x.b)],
                )
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
            .map(|p| (p.per_class as f64, p.accuracy.mean, p.accuracy.std))
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
            "(e) {}: accuracy against examples per class (mean ± std over seeds)",
            r.tasks[1]
        ),
        x_axis: "examples per class (log scale)".into(),
        y_axis: "accuracy on the evaluation set".into(),
        series,
        reference,
    })
}
