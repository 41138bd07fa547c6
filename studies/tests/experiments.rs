//! The studies' `--quick` form end to end on small fixtures: every study present,
//! every file written, every figure finite, accuracies in [0, 1] and clearly
//! above chance, a frozen
//! head bit-identical on a frozen encoder, the schedules doing what they say,
//! the learning-rate sweep choosing by selection accuracy, per-seed hits for
//! paired comparisons, the report redrawn identically from results.json,
//! layer-wise rates and gradual unfreezing beside one rate, the gradients of
//! both pairs measured, and study (h) rerun alone into an earlier run's results.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository's root: the studies read its weights/ and fixtures.
fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A file under the repository's tests/fixtures/.
fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// Runs the studies' binary from the repository's root.
fn run_studies(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentence-multitask-studies"))
        .args(args)
        .current_dir(root())
        .env_remove("SENTENCE_MULTITASK_WEIGHTS")
        .output()
        .unwrap()
}

const ACCURACIES: [&str; 8] = [
    "accuracy",
    "a",
    "b",
    "single",
    "multi",
    "a_before",
    "a_after",
    "b_accuracy",
];

/// Every number under `value`; fails on null (how serde writes NaN).
fn numbers(value: &Value, path: &str, out: &mut Vec<(String, f64)>) {
    match value {
        Value::Null => panic!("null (a NaN?) at {path}"),
        Value::Number(n) => out.push((path.to_string(), n.as_f64().unwrap())),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                numbers(v, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                numbers(v, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

fn values(spread: &Value) -> Vec<f64> {
    spread["values"]
        .as_array()
        .unwrap_or_else(|| panic!("not a spread: {spread}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn rows<'a>(results: &'a Value, study: &str) -> &'a [Value] {
    results[study]
        .as_array()
        .unwrap_or_else(|| panic!("{study} missing"))
}

/// Runs the quick form on the fixtures into `out`; returns its results.json.
/// The quick form's arguments on the fixtures, then `extra`.
fn quick_args(cache: &Path, extra: &[String]) -> Vec<String> {
    let data = |name: &str| fixture(&format!("data/experiments/{name}"));
    let mut args = vec![
        "--quick".to_string(),
        "--ag-news".into(),
        data("ag_news.csv").display().to_string(),
        "--sst2-train".into(),
        data("sst2_train.tsv").display().to_string(),
        "--sst2-dev".into(),
        data("sst2_dev.tsv").display().to_string(),
        "--cache-dir".into(),
        cache.display().to_string(),
    ];
    args.extend_from_slice(extra);
    args
}

/// Runs the studies with `args`, failing with their stderr if they fail.
fn run_ok(args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_studies(&args);
    assert!(
        run.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn run_quick(out: &Path) -> Value {
    let cache = tempfile::tempdir().unwrap();
    run_ok(&quick_args(
        cache.path(),
        &["--out".into(), out.display().to_string()],
    ));
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();
    serde_json::from_str(&results).unwrap()
}

/// Every study is present; every figure is finite; every accuracy is in [0, 1].
fn check_every_study(results: &Value) {
    assert_eq!(results["plan"]["quick"], true);
    assert!(results["command"].as_str().unwrap().contains("--quick"));
    for study in [
        "trainable",
        "freeze_head",
        "multitask",
        "low_data",
        "learning_curve",
        "lr_sweep",
        "related",
        "forgetting",
        "schedules",
        "conflict",
    ] {
        assert!(!rows(results, study).is_empty(), "{study} is empty");
    }
    assert!(results["cost"].is_object());
    let mut all = Vec::new();
    numbers(results, "", &mut all);
    for (path, v) in &all {
        assert!(v.is_finite(), "{path} = {v}");
        let key = path.rsplit('.').nth(1).unwrap_or("");
        if path.contains(".values[") && ACCURACIES.contains(&key) {
            assert!((0.0..=1.0).contains(v), "{path} = {v} is not an accuracy");
        }
    }
}

/// The studies learn: every frozen-encoder head and every topic run scores
/// clearly above chance on the fixtures, as a mean over seeds (topic, 4
/// classes: at least twice chance; sentiment, 2 classes: at least 0.6),
/// where a trainer that learned nothing would sit near 0.25 and 0.5.
/// Measured: 0.6875 and 0.65 (seeds 0.5 and 0.8 on 20 dev sentences).
fn check_learning(results: &Value) {
    let learned = |row: &Value, figure: &str| {
        let bar = if row["task"] == "topic" { 0.5 } else { 0.6 };
        let mean = row[figure]["mean"].as_f64().unwrap();
        assert!(mean >= bar, "{figure} did not learn: {row}");
    };
    for row in rows(results, "trainable") {
        if row["trainable"] == "heads" || row["task"] == "topic" {
            learned(row, "accuracy");
        }
    }
    for row in rows(results, "multitask") {
        if row["trainable"] == "heads" {
            learned(row, "single");
            learned(row, "multi");
        }
    }
}

/// (a) four settings per task, with times.
fn check_trainable(results: &Value) {
    let trainable = rows(results, "trainable");
    assert_eq!(trainable.len(), 8);
    for row in trainable {
        assert!(values(&row["seconds_per_epoch"]).iter().all(|&s| s > 0.0));
    }
}

/// (b) on the frozen encoder A's head, and so its accuracy, is unchanged bit for bit;
/// on a moving encoder the frozen head's weights are still bit-identical.
fn check_freeze_head(results: &Value) {
    let bits =
        |spread: &Value| -> Vec<u64> { values(spread).iter().map(|v| v.to_bits()).collect() };
    for row in rows(results, "freeze_head") {
        if row["a_head"] == "frozen" {
            assert_eq!(row["a_head_bit_identical"], true, "{row}");
        }
        if row["encoder"] == "heads" {
            assert_eq!(bits(&row["a_before"]), bits(&row["a_after"]));
        }
    }
}

/// (c) both tasks per setting, and two encoders cost twice the download of one.
fn check_multitask(results: &Value) {
    assert_eq!(rows(results, "multitask").len(), 8);
    let options = results["cost"]["options"].as_array().unwrap();
    let one = options.first().unwrap()["download_mb"].as_f64().unwrap();
    let two = options.last().unwrap()["download_mb"].as_f64().unwrap();
    assert!(two > 1.9 * one && two < 2.1 * one, "{one} MB and {two} MB");
    assert!(values(&results["cost"]["encoder_ms"])
        .iter()
        .all(|&t| t > 0.0));
}

/// (d) alternating gives B more steps than proportional sampling; a loss
/// weight does not; the moving encoder tries the loss weightings.
fn check_low_data(results: &Value) {
    let steps = |remedy: &str| {
        rows(results, "low_data")
            .iter()
            .find(|r| r["encoder"] == "heads" && r["remedy"] == remedy)
            .unwrap_or_else(|| panic!("no {remedy}"))["b_steps"]["mean"]
            .as_f64()
            .unwrap()
    };
    assert!(steps("alternating") > steps("proportional"));
    assert_eq!(steps("proportional, B's loss x10"), steps("proportional"));
    for remedy in [
        "B alone",
        "alternating, B's loss x10",
        "alternating, uncertainty weighting",
    ] {
        assert!(
            rows(results, "low_data")
                .iter()
                .any(|r| r["encoder"] == "top-1" && r["remedy"] == remedy),
            "no moving {remedy}"
        );
    }
}

/// (e) the curve grows in examples.
fn check_learning_curve(results: &Value) {
    let curve = rows(results, "learning_curve")[0]["points"]
        .as_array()
        .unwrap();
    let sizes: Vec<u64> = curve
        .iter()
        .map(|p| p["examples"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
}

/// The sweep tries every rate on both tasks and marks exactly one as chosen,
/// the one with the best mean selection accuracy.
fn check_sweep(results: &Value) {
    let sweep = rows(results, "lr_sweep");
    let rates = results["plan"]["encoder_lrs"].as_array().unwrap().len();
    assert_eq!(sweep.len(), 2 * rates);
    let chosen: Vec<&Value> = sweep.iter().filter(|r| r["chosen"] == true).collect();
    assert_eq!(chosen.len(), 2, "one rate, both tasks: {chosen:?}");
    let mean = |lr: &Value| {
        sweep
            .iter()
            .filter(|r| &r["encoder_lr"] == lr)
            .map(|r| r["selection"].as_f64().unwrap())
            .sum::<f64>()
    };
    let best = mean(&chosen[0]["encoder_lr"]);
    assert!(sweep.iter().all(|r| mean(&r["encoder_lr"]) <= best));
}

/// Every accuracy carries which examples each seed got right (for paired
/// comparisons), one per seed; (f) has B alone and (g) one point per epoch.
fn check_paired_and_new_studies(results: &Value) {
    for row in rows(results, "trainable") {
        let hits = row["accuracy"]["hits"].as_array().unwrap();
        assert_eq!(hits.len(), values(&row["accuracy"]).len());
        let count: usize = hits[0]
            .as_str()
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let evaluation = results["sizes"][if row["task"] == "topic" { 0 } else { 1 }]["evaluation"]
            .as_u64()
            .unwrap();
        assert_eq!(count as u64, evaluation);
    }
    assert!(rows(results, "related")
        .iter()
        .any(|r| r["remedy"] == "B alone"));
    let epochs = results["plan"]["forgetting_epochs"].as_u64().unwrap() as usize;
    for series in rows(results, "forgetting") {
        assert_eq!(series["a"].as_array().unwrap().len(), epochs + 1);
    }
    check_few_shot(results);
    check_schedules(results);
    check_conflict(results);
}

/// (i) per task: each layer decay of the plan (the one chosen on every
/// seed, the others on the first), then gradual unfreezing on every seed,
/// each paired with (a)'s row for the same layers.
fn check_schedules(results: &Value) {
    let plan = &results["plan"];
    let decays = plan["layer_decays"].as_array().unwrap();
    let seeds = plan["seeds"].as_array().unwrap().len();
    let schedules = rows(results, "schedules");
    assert_eq!(schedules.len(), 2 * (decays.len() + 1));
    for row in schedules {
        let n = if row["first_seed_only"] == true {
            1
        } else {
            seeds
        };
        assert_eq!(values(&row["accuracy"]).len(), n, "{row}");
        assert_eq!(row["selection"].as_array().unwrap().len(), n, "{row}");
        assert!(rows(results, "trainable")
            .iter()
            .any(|a| a["task"] == row["task"] && a["trainable"] == row["trainable"]));
    }
    let unfreezing = schedules.iter().filter(|r| r["unfreeze"] == true);
    assert!(unfreezing.map(|r| &r["layer_decay"]).all(|d| d == 1.0));
    assert_eq!(
        schedules
            .iter()
            .filter(|r| r["first_seed_only"] == false)
            .count(),
        4
    );
}

/// (j) the unrelated and the related pair, one mean per seed of (d)'s
/// moving-encoder runs; cosines in [-1, 1], shares in [0, 1].
fn check_conflict(results: &Value) {
    let conflict = rows(results, "conflict");
    assert_eq!(conflict.len(), 2);
    assert_eq!(conflict[1]["a"], "topic-2");
    for row in conflict {
        assert_eq!(values(&row["cosine"]).len(), 2, "{row}");
        assert!(values(&row["cosine"]).iter().all(|c| c.abs() <= 1.0));
        for share in ["negative", "pcgrad_change"] {
            assert!(values(&row[share]).iter().all(|s| (0.0..=1.0).contains(s)));
        }
        assert!(values(&row["norm_ratio"]).iter().all(|&r| r > 0.0));
    }
}

/// (h) both tasks are taught every way of the plan, each point scored per
/// seed on the whole evaluation set, an adapter only up to its size.
fn check_few_shot(results: &Value) {
    let plan = &results["plan"];
    let ways = plan["few_shot_layers"].as_array().unwrap();
    let series = rows(results, "few_shot");
    assert_eq!(series.len(), 2 * ways.len());
    let seeds = plan["seeds"].as_array().unwrap().len();
    for s in series {
        let way = ways.iter().find(|w| w[0] == s["layers"]).unwrap();
        let up_to = way[1].as_u64().unwrap();
        let sizes: Vec<u64> = plan["few_shot_per_class"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .filter(|&n| n <= up_to)
            .collect();
        let points = s["points"].as_array().unwrap();
        assert_eq!(points.len(), sizes.len(), "{s}");
        for p in points {
            assert_eq!(values(&p["accuracy"]).len(), seeds);
            assert_eq!(p["accuracy"]["hits"].as_array().unwrap().len(), seeds);
            assert!(values(&p["seconds"]).iter().all(|&t| t > 0.0));
        }
    }
}

const CHARTS: [&str; 11] = [
    "few-shot.svg",
    "schedules.svg",
    "related.svg",
    "forgetting.svg",
    "trainable-accuracy.svg",
    "trainable-time.svg",
    "freeze-head.svg",
    "multitask.svg",
    "cost.svg",
    "low-data.svg",
    "learning-curve.svg",
];

/// The tables and every chart are written, and redrawn from results.json
/// alone, identically.
fn check_report(out: &Path) {
    let read = |dir: &Path, name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let tables = read(out, "tables.md");
    for heading in [
        "### (a)", "### (b)", "### (c)", "### (d)", "### (e)", "### (f)", "### (g)", "### (h)",
        "### (i)", "### (j)",
    ] {
        assert!(tables.contains(heading), "tables.md lacks {heading}");
    }
    for chart in CHARTS {
        let svg = read(out, chart);
        assert!(
            svg.starts_with("<svg")
                && svg.trim_end().ends_with("</svg>")
                && svg.contains("<circle"),
            "{chart} is not a chart"
        );
    }
    let again = tempfile::tempdir().unwrap();
    let results_file = out.join("results.json").display().to_string();
    let redraw = run_studies(&[
        "--from-results",
        &results_file,
        "--out",
        &again.path().display().to_string(),
    ]);
    assert!(
        redraw.status.success(),
        "{}",
        String::from_utf8_lossy(&redraw.stderr)
    );
    for name in CHARTS.iter().chain(&["tables.md"]) {
        assert_eq!(
            read(again.path(), name),
            read(out, name),
            "{name} differs when redrawn"
        );
    }
}

#[test]
fn quick_form_runs_every_study_on_fixtures() {
    let out = tempfile::tempdir().unwrap();
    let results = run_quick(out.path());
    check_every_study(&results);
    check_learning(&results);
    check_trainable(&results);
    check_freeze_head(&results);
    check_multitask(&results);
    check_low_data(&results);
    check_learning_curve(&results);
    check_sweep(&results);
    check_paired_and_new_studies(&results);
    check_report(out.path());
    check_rerun_few_shot(out.path(), &results);
    check_extend_few_shot(out.path(), &results);
}

/// `--few-shot-layers 1 --few-shot-sizes 4` adds the one-layer lesson at 4
/// a class to (h) and keeps every other point, study and the plan's record
/// of them; with another study, or sizes that skip one (8 without 4), it is
/// refused.
fn check_extend_few_shot(out: &Path, results: &Value) {
    let (cache, again) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = |study: &str, sizes: &str| {
        let extra: Vec<String> = [
            "--rerun",
            &out.join("results.json").display().to_string(),
            "--study",
            study,
            "--few-shot-layers",
            "1",
            "--few-shot-sizes",
            sizes,
            "--out",
            &again.path().display().to_string(),
        ]
        .map(String::from)
        .to_vec();
        quick_args(cache.path(), &extra)
    };
    run_ok(&args("few-shot", "4"));
    let text = std::fs::read_to_string(again.path().join("results.json")).unwrap();
    let extended: Value = serde_json::from_str(&text).unwrap();
    let series = |r: &Value, layers: u64| -> Vec<Value> {
        let found = rows(r, "few_shot").iter().filter(|s| s["layers"] == layers);
        found.cloned().collect()
    };
    assert_eq!(series(&extended, 0), series(results, 0));
    for (new, old) in series(&extended, 1).iter().zip(series(results, 1)) {
        let points = new["points"].as_array().unwrap();
        let sizes: Vec<u64> = points
            .iter()
            .map(|p| p["per_class"].as_u64().unwrap())
            .collect();
        assert_eq!(sizes, [2, 4], "{}", new["task"]);
        assert_eq!(points[0], old["points"][0], "the earlier point stays");
    }
    assert_eq!(
        extended["plan"]["few_shot_layers"][1],
        serde_json::json!([1, 4])
    );
    assert_eq!(extended["conflict"], results["conflict"]);
    let seconds = |r: &Value| r["seconds"]["few_shot"].as_f64().unwrap();
    assert!(seconds(&extended) > seconds(results));
    for (study, sizes, says) in [
        ("conflict", "4", "--study few-shot"),
        ("few-shot", "8", "leaves out 4 a class"),
    ] {
        let args: Vec<String> = args(study, sizes);
        let refused = run_studies(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(says), "{study} {sizes}: {stderr}");
    }
}

/// `--rerun FILE --study few-shot` runs (h) again with the earlier run's
/// plan: the same accuracies (the runs are seeded), every other study kept
/// as it was.
fn check_rerun_few_shot(out: &Path, results: &Value) {
    let (cache, again) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let extra = [
        "--rerun".to_string(),
        out.join("results.json").display().to_string(),
        "--study".into(),
        "few-shot".into(),
        "--out".into(),
        again.path().display().to_string(),
    ];
    run_ok(&quick_args(cache.path(), &extra));
    let rerun: Value =
        serde_json::from_str(&std::fs::read_to_string(again.path().join("results.json")).unwrap())
            .unwrap();
    let accuracies = |r: &Value| -> Vec<Value> {
        rows(r, "few_shot")
            .iter()
            .flat_map(|s| {
                s["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["accuracy"].clone())
            })
            .collect()
    };
    assert_eq!(accuracies(&rerun), accuracies(results));
    for study in [
        "trainable",
        "low_data",
        "related",
        "forgetting",
        "schedules",
        "conflict",
        "plan",
        "command",
    ] {
        assert_eq!(rerun[study], results[study], "{study} changed");
    }
}

/// `--few-shot-files` writes, per task, one file per size and seed with that
/// many examples of every class, and the evaluation set.
#[test]
fn few_shot_files_hold_what_study_h_teaches() {
    let (cache, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let extra = [
        "--few-shot-files".to_string(),
        dir.path().display().to_string(),
    ];
    run_ok(&quick_args(cache.path(), &extra));
    let rows = |name: &str| -> Vec<Value> {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    for (task, classes) in [("topic", 4), ("sentiment", 2)] {
        let seeds: Vec<Vec<Value>> = (0..2)
            .map(|s| rows(&format!("{task}-2-seed{s}.jsonl")))
            .collect();
        assert_eq!(rows(&format!("{task}-4-seed1.jsonl")).len(), 4 * classes);
        for sample in &seeds {
            assert_eq!(sample.len(), 2 * classes, "{task}");
            let mut count = std::collections::BTreeMap::new();
            for r in sample {
                *count.entry(r["label"].as_str().unwrap()).or_insert(0) += 1;
            }
            assert_eq!(count.len(), classes, "{task}: {count:?}");
            assert!(count.values().all(|&n| n == 2), "{task}: {count:?}");
            assert!(sample
                .iter()
                .all(|r| !r["text"].as_str().unwrap().is_empty()));
        }
        assert_ne!(seeds[0], seeds[1], "{task}: seeds draw different examples");
        assert!(!rows(&format!("{task}-evaluation.jsonl")).is_empty());
    }
}
