//! The studies' results as markdown tables (for DISCUSSION.md) and SVG charts.

use std::fmt::Write;

use super::chart::{dots, lines, Dots, Lines, Point};
use super::{Results, Spread};

fn pm(s: &Spread) -> String {
    if s.values.len() > 1 {
        format!("{:.3} ± {:.3}", s.mean, s.std)
    } else {
        format!("{:.3}", s.mean)
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

/// A markdown table: the header row, its separator, then one row per cell list.
fn table(
    line: &mut impl FnMut(String),
    header: &[String],
    rows: impl IntoIterator<Item = Vec<String>>,
) {
    line(format!("| {} |", header.join(" | ")));
    line(format!("|{}", "---|".repeat(header.len())));
    for cells in rows {
        line(format!("| {} |", cells.join(" | ")));
    }
}

/// Markdown tables of every study; `command` is the line that produced them.
pub fn markdown(r: &Results, command: &str) -> String {
    let [a, b] = &r.tasks;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("Produced by `{command}`."));
    line(String::new());
    line("### (a) What trains: accuracy and seconds per epoch".into());
    line(String::new());
    table(
        &mut line,
        &["task", "trainable", "accuracy", "s/epoch", "epochs run"].map(String::from),
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
    line(String::new());
    line(format!("### (b) {a}'s head while {b} trains"));
    line(String::new());
    table(
        &mut line,
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
                format!("{:+.3} ± {:.3}", row.a_change.mean, row.a_change.std),
                pm(&row.b_accuracy),
                match row.a_head_bit_identical {
                    true => "yes".into(),
                    false => "no (trained)".into(),
                },
            ]
        }),
    );
    line(String::new());
    line("### (c) One multi-task model or two single-task models: accuracy".into());
    line(String::new());
    table(
        &mut line,
        &[
            "trainable",
            "task",
            "single-task",
            "multi-task",
            "multi − single",
            "multi-task s/epoch",
        ]
        .map(String::from),
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
    line(String::new());
    let c = &r.cost;
    line(format!(
        "### (c) Serving both tasks: cost ({} sentences, batch 32, 3 repetitions)",
        c.sentences
    ));
    line(String::new());
    line(format!(
        "Encoder pass {:.2} ± {:.2} ms per sentence; both heads {:.4} ms; top layers alone: {}. \
         Parameters: embeddings {}, one layer {}, whole encoder {}.",
        c.encoder_ms.mean,
        c.encoder_ms.std,
        c.heads_ms.mean,
        c.top_layers_ms
            .iter()
            .map(|(k, s)| format!("{k} layer(s) {:.2} ms", s.mean))
            .collect::<Vec<_>>()
            .join(", "),
        c.encoder_parameters[0],
        c.encoder_parameters[1],
        c.encoder_parameters[2]
    ));
    line(String::new());
    table(
        &mut line,
        &[
            "deployment",
            "encoder passes",
            "ms/sentence",
            "download MB (f16)",
            "weights in memory MB (f32)",
        ]
        .map(String::from),
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
    line(String::new());
    line(format!(
        "### (d) {b} with few examples next to {a} with many"
    ));
    line(String::new());
    table(
        &mut line,
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
    line(String::new());
    line(format!("### (e) {b}'s learning curve (frozen encoder)"));
    line(String::new());
    let mut header = vec!["per class".to_string(), "examples".into()];
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
    table(&mut line, &header, rows);
    line(String::new());
    let mut times = String::new();
    for (k, v) in &r.seconds {
        let _ = write!(times, "{k} {:.0} s; ", v.as_f64().unwrap_or(0.0));
    }
    line(format!("Wall time: {}", times.trim_end_matches("; ")));
    out
}

/// The charts: `(file name, SVG)`.
pub fn charts(r: &Results) -> Vec<(String, String)> {
    let [a, b] = &r.tasks;
    let settings: Vec<String> = r
        .trainable
        .iter()
        .filter(|x| x.task == *a)
        .map(|x| x.trainable.clone())
        .collect();
    let by_setting =
        |f: &dyn Fn(&str, &str) -> Option<Point>| -> Vec<(String, Vec<Option<Point>>)> {
            settings
                .iter()
                .map(|s| (s.clone(), r.tasks.iter().map(|t| f(s, t)).collect()))
                .collect()
        };
    let find = |s: &str, t: &str| {
        r.trainable
            .iter()
            .find(|x| x.trainable == s && x.task == *t)
    };
    let mut out = vec![
        (
            "trainable-accuracy.svg".to_string(),
            dots(&Dots {
                title: "(a) Accuracy by what trains (mean ± std over seeds)".into(),
                axis: "accuracy on the evaluation set".into(),
                series: r.tasks.to_vec(),
                groups: by_setting(&|s, t| find(s, t).and_then(|x| point(&x.accuracy))),
                log: false,
            }),
        ),
        (
            "trainable-time.svg".to_string(),
            dots(&Dots {
                title: "(a) Training seconds per epoch (log scale)".into(),
                axis: "seconds per epoch".into(),
                series: r.tasks.to_vec(),
                groups: by_setting(&|s, t| find(s, t).and_then(|x| point(&x.seconds_per_epoch))),
                log: true,
            }),
        ),
    ];
    out.push((
        "freeze-head.svg".into(),
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
        }),
    ));
    out.push((
        "multitask.svg".into(),
        dots(&Dots {
            title: "(c) Two single-task models or one multi-task model".into(),
            axis: "accuracy on the evaluation set".into(),
            series: vec!["single-task".into(), "multi-task".into()],
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
        }),
    ));
    out.push((
        "cost.svg".into(),
        dots(&Dots {
            title: "(c) Serving both tasks: time per sentence and download".into(),
            axis: "milliseconds per sentence / MB (log scale)".into(),
            series: vec!["ms per sentence".into(), "download MB".into()],
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
        }),
    ));
    out.push((
        "low-data.svg".into(),
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
        }),
    ));
    let mut series = Vec::new();
    let mut reference = None;
    for s in &r.learning_curve {
        let pts: Vec<(f64, f64, f64)> = s
            .points
            .iter()
            .map(|p| (p.per_class as f64, p.accuracy.mean, p.accuracy.std))
            .collect();
        if s.points.len() == 1 {
            let p = &s.points[0];
            reference = Some((
                format!("{} examples: {:.3}", p.examples, p.accuracy.mean),
                p.accuracy.mean,
            ));
        } else if !pts.is_empty() {
            series.push((s.name.clone(), pts));
        }
    }
    out.push((
        "learning-curve.svg".into(),
        lines(&Lines {
            title: format!("(e) {b}: accuracy against examples per class (mean ± std over seeds)"),
            x_axis: "examples per class (log scale)".into(),
            y_axis: "accuracy on the evaluation set".into(),
            series,
            reference,
        }),
    ));
    out
}
